// What a pod's container wrote to stdout and stderr, merged in arrival
// order, as the kubelet keeps it for `pods/{name}/log`.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_POD_LOG_H_
#define CODEEXEC_TESTS_FAKE_KUBE_POD_LOG_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace codeexec::fake_kube {

class PodLog {
 public:
  void Append(absl::string_view data) {
    absl::MutexLock lock(&mu_);
    data_.append(data.data(), data.size());
  }
  // The container has ended: no more data will come.
  void Finish() {
    absl::MutexLock lock(&mu_);
    finished_ = true;
  }

  struct Chunk {
    std::string data;
    bool finished = false;  // nothing follows `data`
  };
  // Waits until there is data after `offset`, the log is finished, or
  // `deadline`; returns the data after `offset`.
  Chunk ReadFrom(size_t offset, absl::Time deadline) const {
    absl::MutexLock lock(&mu_);
    auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return data_.size() > offset || finished_;
    };
    mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
    Chunk chunk;
    if (data_.size() > offset) chunk.data = data_.substr(offset);
    chunk.finished = finished_;
    return chunk;
  }
  std::string Contents() const {
    absl::MutexLock lock(&mu_);
    return data_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string data_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_POD_LOG_H_
