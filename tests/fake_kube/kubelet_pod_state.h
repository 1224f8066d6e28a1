// The kubelet's record of one pod (private to kubelet*.cc).
#ifndef CODEEXEC_TESTS_FAKE_KUBE_KUBELET_POD_STATE_H_
#define CODEEXEC_TESTS_FAKE_KUBE_KUBELET_POD_STATE_H_

#include <poll.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "server/base/child_process.h"
#include "server/base/unique_fd.h"
#include "tests/fake_kube/kubelet.h"
#include "tests/fake_kube/object_store.h"
#include "tests/fake_kube/pod_log.h"

namespace codeexec::fake_kube {

struct Kubelet::PodState {
  ObjectRef ref;
  nlohmann::json pod;  // as created
  std::shared_ptr<PodLog> log = std::make_shared<PodLog>();
  // The container's stdin, if its spec asks for one (null otherwise).
  std::shared_ptr<PodStdin> input;
  UniqueFd kill_fd;  // eventfd; readable once the container must die
  // Guarded by Kubelet::mu_:
  bool active = false;    // a worker or timer task still owns the pod
  bool finished = false;  // final status recorded (or never will be)
  bool deletion_requested = false;
  bool removed = false;
  std::string kill_reason;
  std::string kill_message;

  void SignalKill() const {
    const uint64_t one = 1;
    ssize_t ignored = write(kill_fd.get(), &one, sizeof(one));
    (void)ignored;
  }
  // Waits up to `timeout` for a kill; true if one came.
  bool WaitForKill(absl::Duration timeout) const {
    pollfd fd = {kill_fd.get(), POLLIN, 0};
    return poll(&fd, 1, PollTimeoutMillis(absl::Now() + timeout)) > 0;
  }
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_KUBELET_POD_STATE_H_
