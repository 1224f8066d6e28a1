#include "server/kube/client/token_source.h"

#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/base/child_process.h"

extern char** environ;

namespace codeexec::kube {
namespace {

// Plugin output beyond this is dropped (an ExecCredential is a few KiB).
constexpr size_t kMaxPluginOutputBytes = size_t{4} << 20;
// How much of the plugin's stderr an error message carries.
constexpr size_t kMaxStderrInMessage = 2048;

std::string ErrnoText(int error_number) { return std::strerror(error_number); }

struct PluginRun {
  int wait_status = 0;
  std::string stdout_text;
  std::string stderr_text;
};

std::string StderrForMessage(absl::string_view stderr_text) {
  std::string text(absl::StripAsciiWhitespace(stderr_text));
  if (text.size() > kMaxStderrInMessage) {
    text = absl::StrCat(text.substr(0, kMaxStderrInMessage), "…");
  }
  return text.empty() ? "(no stderr)" : absl::StrCat("stderr: ", text);
}

std::vector<std::string> PluginEnvironment(
    const ExecCredentialOptions& options) {
  std::map<std::string, std::string> merged;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    absl::string_view text(*entry);
    const size_t equals = text.find('=');
    if (equals == absl::string_view::npos) continue;
    merged[std::string(text.substr(0, equals))] =
        std::string(text.substr(equals + 1));
  }
  for (const auto& [name, value] : options.env) merged[name] = value;
  nlohmann::json exec_info = {{"apiVersion", options.api_version},
                              {"kind", "ExecCredential"},
                              {"spec", {{"interactive", false}}}};
  if (!options.cluster_info.is_null()) {
    exec_info["spec"]["cluster"] = options.cluster_info;
  }
  merged["KUBERNETES_EXEC_INFO"] = exec_info.dump();
  std::vector<std::string> environment;
  environment.reserve(merged.size());
  for (const auto& [name, value] : merged) {
    environment.push_back(absl::StrCat(name, "=", value));
  }
  return environment;
}

// Runs the plugin with stdin = /dev/null, capturing stdout and stderr, in its
// own process group (killed as a whole on timeout).
absl::StatusOr<PluginRun> RunPlugin(const ExecCredentialOptions& options) {
  const std::string what =
      absl::StrFormat("exec plugin \"%s\"", options.command);
  // Looked up in the server's PATH, as kubectl does.
  absl::StatusOr<std::string> executable = ResolveExecutable(options.command);
  absl::StatusOr<ChildProcess> child =
      executable.ok() ? ChildProcess::Spawn(
                            [&] {
                              std::vector<std::string> argv = {*executable};
                              argv.insert(argv.end(), options.args.begin(),
                                          options.args.end());
                              return argv;
                            }(),
                            ChildProcess::Stdio::kSeparateOutput,
                            PluginEnvironment(options))
                      : absl::StatusOr<ChildProcess>(executable.status());
  if (!child.ok()) {
    std::string message =
        absl::StrCat("cannot run ", what, ": ", child.status().message());
    if (!options.install_hint.empty()) {
      absl::StrAppend(&message, "; ", options.install_hint);
    }
    return absl::FailedPreconditionError(message);
  }

  PluginRun run;
  const absl::Time deadline = absl::Now() + options.timeout;
  UniqueFd* streams[2] = {&child->stdout_fd(), &child->stderr_fd()};
  std::string* sinks[2] = {&run.stdout_text, &run.stderr_text};
  // Until both streams end and the plugin has exited, or the deadline.
  while ((streams[0]->valid() || streams[1]->valid() || !child->TryReap()) &&
         absl::Now() < deadline) {
    pollfd fds[3];
    int count = 0;
    for (UniqueFd* stream : streams) {
      fds[count++] = {stream->valid() ? stream->get() : -1, POLLIN, 0};
    }
    if (child->exit_fd() >= 0) fds[count++] = {child->exit_fd(), POLLIN, 0};
    // Without a pidfd, look for the exit every 5 ms.
    int timeout_ms = PollTimeoutMillis(deadline);
    if (child->exit_fd() < 0) timeout_ms = std::min(timeout_ms, 5);
    if (poll(fds, count, timeout_ms) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (!streams[i]->valid() || fds[i].revents == 0) continue;
      char buffer[8192];
      const ssize_t n = read(streams[i]->get(), buffer, sizeof(buffer));
      if (n > 0) {
        if (sinks[i]->size() < kMaxPluginOutputBytes) {
          sinks[i]->append(buffer, n);
        }
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        streams[i]->reset();
      }
    }
  }
  if (child->TryReap()) {
    run.wait_status = child->wait_status();
    return run;
  }
  child->KillGroup();
  child->WaitBlocking();
  return absl::DeadlineExceededError(absl::StrCat(
      what, " did not finish within ", absl::FormatDuration(options.timeout),
      "; ", StderrForMessage(run.stderr_text)));
}

}  // namespace

absl::StatusOr<std::string> FileTokenSource::Token() {
  struct stat file_status;
  if (stat(path_.c_str(), &file_status) != 0) {
    return absl::UnavailableError(absl::StrFormat(
        "token file \"%s\" unreadable: %s", path_, ErrnoText(errno)));
  }
  const FileIdentity identity{file_status.st_dev, file_status.st_ino,
                              file_status.st_size,
                              int64_t{file_status.st_mtim.tv_sec} * 1000000000 +
                                  file_status.st_mtim.tv_nsec};
  absl::MutexLock lock(&mu_);
  if (cached_identity_ == identity) return cached_token_;
  std::ifstream file(path_, std::ios::binary);
  std::stringstream contents;
  contents << file.rdbuf();
  if (!file) {
    return absl::UnavailableError(absl::StrFormat(
        "token file \"%s\" unreadable: %s", path_, ErrnoText(errno)));
  }
  std::string token(absl::StripAsciiWhitespace(contents.str()));
  if (token.empty()) {
    return absl::UnavailableError(
        absl::StrFormat("token file \"%s\" is empty", path_));
  }
  cached_identity_ = identity;
  cached_token_ = std::move(token);
  return cached_token_;
}

void FileTokenSource::Invalidate() {
  absl::MutexLock lock(&mu_);
  cached_identity_.reset();
}

absl::StatusOr<ExecCredential> ParseExecCredential(
    absl::string_view plugin_stdout, absl::string_view expected_api_version) {
  const nlohmann::json credential =
      nlohmann::json::parse(plugin_stdout.begin(), plugin_stdout.end(), nullptr,
                            /*allow_exceptions=*/false);
  if (credential.is_discarded() || !credential.is_object()) {
    return absl::InvalidArgumentError(
        "output is not an ExecCredential JSON object");
  }
  const auto text_field = [](const nlohmann::json& object,
                             const char* key) -> std::string {
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>()
                                                 : std::string();
  };
  if (text_field(credential, "kind") != "ExecCredential") {
    return absl::InvalidArgumentError(
        absl::StrCat("output has kind \"", text_field(credential, "kind"),
                     "\", want \"ExecCredential\""));
  }
  const std::string api_version = text_field(credential, "apiVersion");
  if (api_version != expected_api_version) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin returned apiVersion \"", api_version,
        "\" but is configured with \"", expected_api_version, "\""));
  }
  const auto status = credential.find("status");
  if (status == credential.end() || !status->is_object()) {
    return absl::InvalidArgumentError("output has no status object");
  }
  ExecCredential result;
  result.token = text_field(*status, "token");
  if (result.token.empty()) {
    if (!text_field(*status, "clientCertificateData").empty()) {
      return absl::UnimplementedError(
          "plugin returned a client certificate instead of a token; only "
          "token credentials from exec plugins are supported");
    }
    return absl::InvalidArgumentError("output has no status.token");
  }
  const std::string expiration = text_field(*status, "expirationTimestamp");
  if (!expiration.empty()) {
    absl::Time parsed;
    std::string parse_error;
    if (!absl::ParseTime(absl::RFC3339_full, expiration, &parsed,
                         &parse_error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("status.expirationTimestamp \"", expiration,
                       "\" is not RFC 3339: ", parse_error));
    }
    result.expiration = parsed;
  }
  return result;
}

absl::StatusOr<std::string> ExecTokenSource::Token() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (!cached_token_.empty() && now < refresh_at_) return cached_token_;
  absl::StatusOr<PluginRun> run = RunPlugin(options_);
  if (!run.ok()) return run.status();
  const std::string what =
      absl::StrFormat("exec plugin \"%s\"", options_.command);
  if (!WIFEXITED(run->wait_status) || WEXITSTATUS(run->wait_status) != 0) {
    const std::string how =
        WIFEXITED(run->wait_status)
            ? absl::StrCat("exit status ", WEXITSTATUS(run->wait_status))
            : absl::StrCat("signal ", WTERMSIG(run->wait_status));
    return absl::UnauthenticatedError(absl::StrCat(
        what, " failed (", how, "); ", StderrForMessage(run->stderr_text)));
  }
  absl::StatusOr<ExecCredential> credential =
      ParseExecCredential(run->stdout_text, options_.api_version);
  if (!credential.ok()) {
    return absl::Status(credential.status().code(),
                        absl::StrCat(what, ": ", credential.status().message(),
                                     "; ", StderrForMessage(run->stderr_text)));
  }
  cached_token_ = std::move(credential->token);
  if (credential->expiration.has_value()) {
    const absl::Duration lifetime = *credential->expiration - now;
    refresh_at_ = *credential->expiration -
                  std::min(absl::Seconds(30),
                           std::max(absl::ZeroDuration(), lifetime / 4));
  } else {
    refresh_at_ = absl::InfiniteFuture();
  }
  return cached_token_;
}

void ExecTokenSource::Invalidate() {
  absl::MutexLock lock(&mu_);
  refresh_at_ = absl::InfinitePast();
}

}  // namespace codeexec::kube
