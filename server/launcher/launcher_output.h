// What a launcher's frames amount to, the same for both backends: program
// output delivered to the sink in order under the run's output cap, output
// files under their caps, the exit record, and whatever else appeared on
// the channel (the runtime's or the launcher's own words, kept short for a
// message). The host enforces every cap itself: it does not rely on the
// launcher, which shares its sandbox with the program.
#ifndef CODEEXEC_SERVER_LAUNCHER_LAUNCHER_OUTPUT_H_
#define CODEEXEC_SERVER_LAUNCHER_LAUNCHER_OUTPUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/exec/backend.h"
#include "server/exec/execution_spec.h"
#include "server/launcher/frame_parser.h"

namespace codeexec {

class LauncherOutput {
 public:
  // Diagnostics beyond this are dropped.
  static constexpr size_t kMaxDiagnosticsBytes = 4096;

  // `spec` and `sink` must outlive this.
  LauncherOutput(const ExecutionSpec& spec, OutputSink& sink);

  // One event. Returns false once output passed spec.max_output_bytes (what
  // fits was delivered; the run must be stopped). Events after the exit
  // record are ignored.
  bool Consume(LauncherEvent& event);

  bool output_limit_reached() const { return output_limit_reached_; }
  int64_t delivered_bytes() const { return delivered_bytes_; }
  // The launcher's exit record: the program ran to its end.
  const std::optional<int>& exit_code() const { return exit_code_; }
  // Session mode: the exit record said the session ended with this cell.
  bool session_ended() const { return session_ended_; }
  // Lines that were not frames, newline-separated.
  const std::string& diagnostics() const { return diagnostics_; }

  // Moves the output files (and whether some were left out) into `result`.
  void TakeFiles(ExecutionResult& result);

 private:
  void AddFile(LauncherEvent& event);

  const ExecutionSpec& spec_;
  OutputSink& sink_;
  int64_t delivered_bytes_ = 0;
  bool output_limit_reached_ = false;
  std::optional<int> exit_code_;
  bool session_ended_ = false;
  std::string diagnostics_;
  std::vector<WorkspaceFile> files_;
  int64_t file_bytes_ = 0;
  bool files_truncated_ = false;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LAUNCHER_LAUNCHER_OUTPUT_H_
