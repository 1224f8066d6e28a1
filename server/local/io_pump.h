// The poll loop between a running `runsc run` and the caller: feeds stdin,
// streams stdout/stderr to the OutputSink as it is read, enforces the output
// cap, and notices exit, deadlines and a wake-up descriptor (cancellation).
#ifndef CODEEXEC_SERVER_LOCAL_IO_PUMP_H_
#define CODEEXEC_SERVER_LOCAL_IO_PUMP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/exec/backend.h"
#include "server/local/runsc_process.h"

namespace codeexec {

// True if `text` starts like an error runsc itself prints before (or
// instead of) running the program, e.g. "running container: starting
// container: ... error finding executable ...".
bool LooksLikeRunscError(absl::string_view text);

class IoPump {
 public:
  enum class Stop {
    kExited,       // the process was reaped and its output drained
    kDeadline,     // `deadline` passed first
    kWakeup,       // `wakeup_fd` became readable
    kOutputLimit,  // more than output_limit bytes were produced
  };

  // `child` was spawned with Stdio::kPipes and must outlive the pump.
  IoPump(ChildProcess& child, std::string_view stdin_data, int64_t output_limit,
         OutputSink& sink);

  // Pumps until one of the Stop reasons. May be called again after it
  // returns (e.g. to drain after killing the sandbox); kOutputLimit is
  // returned once, and after it further output is read and dropped.
  Stop Run(absl::Time deadline, int wakeup_fd);

  // Stops feeding stdin (closes the program's stdin).
  void CloseStdin();

  bool output_limit_reached() const { return output_limit_reached_; }
  int64_t delivered_bytes() const { return delivered_bytes_; }
  // When the first byte of output was read (the program is running).
  std::optional<absl::Time> first_output_time() const {
    return first_output_time_;
  }

  // stderr held back because it started like a runsc error and nothing
  // showed the program running yet. The caller decides after exit: report it
  // as a sandbox error, or ReleaseHeldStderr() to deliver it as output.
  const std::string& held_stderr() const { return held_stderr_; }
  void ReleaseHeldStderr();

 private:
  void Deliver(OutputStream stream, std::string_view data);
  void OnStderr(std::string_view data);
  void OnStdout(std::string_view data);
  // Reads what is available on `fd`; closes it at EOF or on error.
  void ReadFrom(UniqueFd& fd, OutputStream stream);
  void WriteStdin();

  ChildProcess& child_;
  std::string_view stdin_pending_;
  const int64_t output_limit_;
  OutputSink& sink_;
  int64_t delivered_bytes_ = 0;
  bool output_limit_reached_ = false;
  bool output_limit_reported_ = false;
  std::optional<absl::Time> first_output_time_;
  // Until the program is known to run, stderr that could be runsc's own
  // error is held here.
  bool stderr_gate_open_ = false;
  std::string held_stderr_;
  absl::Time drain_deadline_ = absl::InfiniteFuture();
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_IO_PUMP_H_
