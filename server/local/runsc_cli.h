// The runsc commands the gvisor-local backend uses, all against one private
// state root (`runsc --root`).
#ifndef CODEEXEC_SERVER_LOCAL_RUNSC_CLI_H_
#define CODEEXEC_SERVER_LOCAL_RUNSC_CLI_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace codeexec {

// The runsc every component uses unless configured otherwise: where
// scripts/setup installs the project's pinned gVisor (scripts/install-gvisor)
// and where gVisor's own installation guide puts it.
inline constexpr char kDefaultRunscPath[] = "/usr/local/bin/runsc";
// The gVisor platform (`runsc --platform`) unless configured otherwise:
// systrap, gVisor's own default, measured here as fast as ptrace to start a
// sandbox and faster on system calls (bench/run; the README's Numbers).
inline constexpr char kDefaultRunscPlatform[] = "systrap";

class RunscCli {
 public:
  // `runsc_path` is absolute; `extra_flags` are global flags added to every
  // command.
  RunscCli(std::string runsc_path, std::string root_dir, std::string platform,
           std::vector<std::string> extra_flags);

  const std::string& runsc_path() const { return runsc_path_; }
  const std::string& root_dir() const { return root_dir_; }

  // runsc --root R --network=none --platform=P [extra] run --bundle B <id>
  std::vector<std::string> RunArgv(const std::string& bundle_dir,
                                   const std::string& id) const;

  // First line of `runsc --version`; errors if runsc does not run.
  absl::StatusOr<std::string> Version() const;
  // Ids of the containers under the root (`runsc list --quiet`).
  absl::StatusOr<std::vector<std::string>> List() const;
  // `runsc kill <id> <signal>`.
  absl::Status Kill(const std::string& id,
                    const std::string& signal = "KILL") const;
  // `runsc delete --force <id>`; a container that does not exist is fine.
  absl::Status DeleteForce(const std::string& id) const;
  // Whether runsc still has state (files in the root) for `id`; cheap, no
  // process started.
  bool HasState(const std::string& id) const;
  // Removes leftover state files of `id` (after DeleteForce).
  void RemoveStateFiles(const std::string& id) const;

 private:
  std::vector<std::string> BaseArgv() const;

  std::string runsc_path_;
  std::string root_dir_;
  std::string platform_;
  std::vector<std::string> extra_flags_;
};

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LOCAL_RUNSC_CLI_H_
