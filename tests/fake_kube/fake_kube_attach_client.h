// A test's attach session to a pod of the fake apiserver, made with the
// backend's own WebSocket client (ContainerStream): what arrived, by
// channel, and how the stream ended.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_FAKE_KUBE_ATTACH_CLIENT_H_
#define CODEEXEC_TESTS_FAKE_KUBE_FAKE_KUBE_ATTACH_CLIENT_H_

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/kube/client/container_stream.h"

namespace codeexec::fake_kube::testing {

class AttachSession {
 public:
  // Attaches to `pod`'s stdin, stdout and stderr.
  static absl::StatusOr<std::unique_ptr<AttachSession>> Open(
      const std::string& server_url, const std::string& ns,
      const std::string& pod);

  // Writes `data` to the container's stdin (channel 0).
  absl::Status Send(const std::string& data);
  // Until the stream ended, or `timeout`; true if it ended.
  bool WaitClosed(absl::Duration timeout);
  // Until `channel` holds at least `bytes`, or `timeout`.
  bool WaitForBytes(int channel, size_t bytes, absl::Duration timeout);
  // Everything that came on `channel` so far.
  std::string Channel(int channel);
  // How the stream ended (Unknown before it did).
  absl::Status closed_status();

 private:
  AttachSession() = default;

  absl::Mutex mu_;
  std::map<int, std::string> received_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
  // Last: destroyed first, so no handler runs on a destroyed member.
  std::unique_ptr<kube::ContainerStream> stream_;
};

}  // namespace codeexec::fake_kube::testing

#endif  // CODEEXEC_TESTS_FAKE_KUBE_FAKE_KUBE_ATTACH_CLIENT_H_
