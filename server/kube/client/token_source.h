// Bearer tokens for the Kubernetes API: a fixed token, a token file that is
// re-read when it changes (in-cluster service-account tokens rotate), and
// exec credential plugins (client.authentication.k8s.io, e.g.
// gke-gcloud-auth-plugin).
#ifndef CODEEXEC_SERVER_KUBE_CLIENT_TOKEN_SOURCE_H_
#define CODEEXEC_SERVER_KUBE_CLIENT_TOKEN_SOURCE_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace codeexec::kube {

// Source of the bearer token of every request. Thread-safe.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // The current bearer token.
  virtual absl::StatusOr<std::string> Token() = 0;
  // The server answered 401: the next Token() fetches a fresh token.
  virtual void Invalidate() = 0;
};

// A fixed token (kubeconfig users[].user.token). Invalidate() does nothing.
class StaticTokenSource : public TokenSource {
 public:
  explicit StaticTokenSource(std::string token) : token_(std::move(token)) {}
  absl::StatusOr<std::string> Token() override { return token_; }
  void Invalidate() override {}

 private:
  const std::string token_;
};

// A token read from a file: the in-cluster service-account token and
// kubeconfig users[].user.tokenFile. Bound service-account tokens rotate
// (the kubelet swaps the projected file atomically, about hourly), so
// Token() stat()s the file on EVERY call (one syscall) and re-reads it when
// its device, inode, size or modification time (ns) changed, or after
// Invalidate(). Surrounding whitespace is trimmed.
class FileTokenSource : public TokenSource {
 public:
  explicit FileTokenSource(std::string path) : path_(std::move(path)) {}
  absl::StatusOr<std::string> Token() override;
  void Invalidate() override;

 private:
  struct FileIdentity {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const FileIdentity&) const = default;
  };

  const std::string path_;
  absl::Mutex mu_;
  std::optional<FileIdentity> cached_identity_ ABSL_GUARDED_BY(mu_);
  std::string cached_token_ ABSL_GUARDED_BY(mu_);
};

// kubeconfig users[].user.exec.
struct ExecCredentialOptions {
  // "client.authentication.k8s.io/v1" or ".../v1beta1"; sent to the plugin in
  // KUBERNETES_EXEC_INFO and required back in the ExecCredential it prints.
  std::string api_version = "client.authentication.k8s.io/v1";
  // Absolute; relative with a '/' = relative to the kubeconfig's directory
  // (the resolver resolves it); without '/' = looked up in $PATH.
  std::string command;
  std::vector<std::string> args;
  // Added to (and overriding) this process's environment.
  std::vector<std::pair<std::string, std::string>> env;
  // kubeconfig exec.installHint: appended when the command cannot be run.
  std::string install_hint;
  // spec.cluster of KUBERNETES_EXEC_INFO (provideClusterInfo: true); null =
  // not sent.
  nlohmann::json cluster_info;
  // A plugin running longer is killed (with its process group) and the
  // Token() call fails.
  absl::Duration timeout = absl::Seconds(30);
};

// Runs the exec plugin and caches its token until status.expirationTimestamp
// (minus min(30 s, a quarter of the token's lifetime), so a token is never
// used in its last moments); a token without expirationTimestamp is cached
// until Invalidate(). Concurrent Token() calls share one plugin run. Plugin
// failures carry its exit status and stderr. Only bearer tokens are
// supported: a plugin that returns only clientCertificateData/
// clientKeyData gets a clear Unimplemented error.
class ExecTokenSource : public TokenSource {
 public:
  explicit ExecTokenSource(ExecCredentialOptions options)
      : options_(std::move(options)) {}
  absl::StatusOr<std::string> Token() override;
  void Invalidate() override;

 private:
  const ExecCredentialOptions options_;
  absl::Mutex mu_;
  std::string cached_token_ ABSL_GUARDED_BY(mu_);
  absl::Time refresh_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// What an exec plugin printed, parsed (exposed for tests).
struct ExecCredential {
  std::string token;
  std::optional<absl::Time> expiration;
};
absl::StatusOr<ExecCredential> ParseExecCredential(
    absl::string_view plugin_stdout, absl::string_view expected_api_version);

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_CLIENT_TOKEN_SOURCE_H_
