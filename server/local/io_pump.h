// The poll loop between a running `runsc run` and the caller. runsc's
// stdout carries the launcher's frames (the program's output, files and exit
// record; the program itself never writes there) and goes through the
// FrameParser into LauncherOutput; runsc's stderr carries only runsc's and
// the launcher's own words, kept (bounded) for the verdict. The loop notices
// the exit, the deadline and a wake-up descriptor (cancellation), and stops
// reading while the sink has no room (backpressure: the program then blocks
// on its next write).
#ifndef CODEEXEC_SERVER_LOCAL_IO_PUMP_H_
#define CODEEXEC_SERVER_LOCAL_IO_PUMP_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "server/base/child_process.h"
#include "server/exec/backend.h"
#include "server/launcher/frame_parser.h"
#include "server/launcher/launcher_output.h"

namespace codeexec {

class IoPump {
 public:
  enum class Stop {
    kExited,       // the process was reaped and its output drained
    kExitRecord,   // session mode: the cell's exit record came
    kDeadline,     // `deadline` passed first
    kWakeup,       // `wakeup_fd` became readable
    kOutputLimit,  // more than the output cap was produced
  };

  // runsc's stderr beyond this is dropped.
  static constexpr size_t kMaxStderrBytes = 16 * 1024;

  // A run's sandbox (its stdin is closed here: the launcher has its
  // request), or one cell of a session's (stdin stays: the next cell's
  // request goes there; Run stops at the cell's exit record).
  enum class Mode { kRun, kSessionCell };

  // `child` was spawned with Stdio::kPipes and must outlive the pump, as
  // must `output` and `sink`.
  IoPump(ChildProcess& child, LauncherOutput& output, OutputSink& sink,
         Mode mode = Mode::kRun);

  // Pumps until one of the Stop reasons. May be called again after it
  // returns (e.g. to drain after killing the sandbox); kOutputLimit is
  // returned once, and after it further frames are read and dropped.
  Stop Run(absl::Time deadline, int wakeup_fd);

  // What runsc (and the launcher, outside its frames) wrote to stderr.
  const std::string& runsc_stderr() const { return stderr_; }
  // When the first byte arrived on stdout (the launcher is running).
  std::optional<absl::Time> first_output_time() const {
    return first_output_time_;
  }

 private:
  void ReadFrames();
  void ReadStderr();

  ChildProcess& child_;
  const Mode mode_;
  LauncherOutput& output_;
  OutputSink& sink_;
  FrameParser parser_;
  bool output_limit_reported_ = false;
  std::string stderr_;
  std::optional<absl::Time> first_output_time_;
  absl::Time drain_deadline_ = absl::InfiniteFuture();
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_IO_PUMP_H_
