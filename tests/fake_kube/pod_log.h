// A pod's container I/O as the kubelet keeps it: what the container wrote to
// stdout and stderr, merged in arrival order for `pods/{name}/log` and kept
// apart for `pods/{name}/attach`; and, for a container with spec stdin, what
// an attach writes to its stdin.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_POD_LOG_H_
#define CODEEXEC_TESTS_FAKE_KUBE_POD_LOG_H_

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/base/unique_fd.h"

namespace codeexec::fake_kube {

// The streams as the attach channel protocol numbers them.
enum class PodStream { kStdout = 1, kStderr = 2 };

class PodLog {
 public:
  void Append(absl::string_view data, PodStream stream = PodStream::kStdout);
  // The container has ended: no more data will come.
  void Finish();

  struct Chunk {
    std::string data;
    bool finished = false;  // nothing follows `data`
  };
  // Waits until there is data after `offset`, the log is finished, or
  // `deadline`; returns the data after `offset`.
  Chunk ReadFrom(size_t offset, absl::Time deadline) const;
  std::string Contents() const;
  // The log's size now: where an attach opened now starts reading.
  size_t Size() const;

  struct Piece {
    PodStream stream;
    std::string data;
  };
  struct Pieces {
    std::vector<Piece> pieces;  // in order, from `offset`
    size_t end = 0;             // the offset after the last piece
    bool finished = false;      // nothing follows
  };
  // As ReadFrom, but each stream's data apart.
  Pieces ReadPiecesFrom(size_t offset, absl::Time deadline) const;

 private:
  struct Span {
    PodStream stream;
    size_t begin;
    size_t end;
  };
  bool ReadyAfter(size_t offset) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return data_.size() > offset || finished_;
  }

  mutable absl::Mutex mu_;
  std::string data_ ABSL_GUARDED_BY(mu_);
  std::vector<Span> spans_ ABSL_GUARDED_BY(mu_);  // consecutive, non-empty
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// The stdin of a container whose spec asks for one (`stdin: true`). Attach
// sessions write to it; with `stdinOnce` it closes for good when the first
// session that wrote ends. The container side takes the data: a runsc
// container waits on wake_fd(), an instant one is called back.
class PodStdin {
 public:
  PodStdin();

  // Data for the container; false once stdin is closed.
  bool Write(absl::string_view data);
  void Close();
  bool closed() const;

  // The container side: appends what was written since the last call to
  // `out`; true once stdin is closed (and nothing more will come).
  bool TakeInto(std::string* out);
  // An eventfd, readable after a Write or Close (the container side clears
  // it by reading).
  int wake_fd() const { return wake_fd_.get(); }
  // Called after each Write and at Close, on the writer's thread, without
  // any lock of this object held.
  void set_on_change(std::function<void()> on_change);

 private:
  void Wake();

  UniqueFd wake_fd_;
  mutable absl::Mutex mu_;
  std::string pending_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> on_change_ ABSL_GUARDED_BY(mu_);
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_POD_LOG_H_
