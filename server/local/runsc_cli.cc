#include "server/local/runsc_cli.h"

#include <dirent.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "server/base/child_process.h"

namespace codeexec {
namespace {

// runsc commands other than `run` finish in tens of milliseconds; these only
// guard against a wedged runsc.
constexpr absl::Duration kCommandTimeout = absl::Seconds(10);

absl::Status CommandError(const std::vector<std::string>& argv,
                          const CommandResult& result) {
  std::string command = absl::StrJoin(argv, " ");
  if (result.timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat("`", command, "` did not finish within ",
                     absl::FormatDuration(kCommandTimeout)));
  }
  return absl::InternalError(
      absl::StrCat("`", command, "` failed with exit code ", result.exit_code,
                   ": ", absl::StripAsciiWhitespace(result.output)));
}

// State files runsc keeps per container: "<sandbox>_sandbox:<id>.state" and
// ".lock".
bool IsStateFileOf(absl::string_view file_name, absl::string_view id) {
  return absl::StartsWith(file_name, absl::StrCat(id, "_")) ||
         absl::StrContains(file_name, absl::StrCat(":", id, "."));
}

}  // namespace

RunscCli::RunscCli(std::string runsc_path, std::string root_dir,
                   std::string platform, std::vector<std::string> extra_flags)
    : runsc_path_(std::move(runsc_path)),
      root_dir_(std::move(root_dir)),
      platform_(std::move(platform)),
      extra_flags_(std::move(extra_flags)) {}

std::vector<std::string> RunscCli::BaseArgv() const {
  std::vector<std::string> argv = {runsc_path_, "--root", root_dir_};
  argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
  return argv;
}

std::vector<std::string> RunscCli::RunArgv(const std::string& bundle_dir,
                                           const std::string& id) const {
  std::vector<std::string> argv = {runsc_path_, "--root", root_dir_,
                                   "--network=none",
                                   absl::StrCat("--platform=", platform_)};
  argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
  argv.insert(argv.end(), {"run", "--bundle", bundle_dir, id});
  return argv;
}

absl::StatusOr<std::string> RunscCli::Version() const {
  std::vector<std::string> argv = {runsc_path_, "--version"};
  absl::StatusOr<CommandResult> result = RunCommand(argv, kCommandTimeout);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) return CommandError(argv, *result);
  std::pair<absl::string_view, absl::string_view> first_line =
      absl::StrSplit(result->output, absl::MaxSplits('\n', 1));
  return std::string(absl::StripAsciiWhitespace(first_line.first));
}

absl::StatusOr<std::vector<std::string>> RunscCli::List() const {
  std::vector<std::string> argv = BaseArgv();
  argv.insert(argv.end(), {"list", "--quiet"});
  absl::StatusOr<CommandResult> result = RunCommand(argv, kCommandTimeout);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) return CommandError(argv, *result);
  std::vector<std::string> ids;
  for (absl::string_view line : absl::StrSplit(result->output, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) ids.emplace_back(line);
  }
  return ids;
}

absl::Status RunscCli::Kill(const std::string& id,
                            const std::string& signal) const {
  std::vector<std::string> argv = BaseArgv();
  argv.insert(argv.end(), {"kill", id, signal});
  absl::StatusOr<CommandResult> result = RunCommand(argv, kCommandTimeout);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) return CommandError(argv, *result);
  return absl::OkStatus();
}

absl::Status RunscCli::DeleteForce(const std::string& id) const {
  std::vector<std::string> argv = BaseArgv();
  argv.insert(argv.end(), {"delete", "--force", id});
  absl::StatusOr<CommandResult> result = RunCommand(argv, kCommandTimeout);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0 &&
      !absl::StrContains(result->output, "does not exist")) {
    return CommandError(argv, *result);
  }
  return absl::OkStatus();
}

bool RunscCli::HasState(const std::string& id) const {
  bool found = false;
  if (DIR* dir = opendir(root_dir_.c_str())) {
    while (struct dirent* entry = readdir(dir)) {
      if (IsStateFileOf(entry->d_name, id)) {
        found = true;
        break;
      }
    }
    closedir(dir);
  }
  return found;
}

void RunscCli::RemoveStateFiles(const std::string& id) const {
  std::vector<std::string> doomed;
  if (DIR* dir = opendir(root_dir_.c_str())) {
    while (struct dirent* entry = readdir(dir)) {
      if (IsStateFileOf(entry->d_name, id)) {
        doomed.push_back(absl::StrCat(root_dir_, "/", entry->d_name));
      }
    }
    closedir(dir);
  }
  for (const std::string& path : doomed) unlink(path.c_str());
}

}  // namespace codeexec
