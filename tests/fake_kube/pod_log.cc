#include "tests/fake_kube/pod_log.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

namespace codeexec::fake_kube {

void PodLog::Append(absl::string_view data, PodStream stream) {
  if (data.empty()) return;
  absl::MutexLock lock(&mu_);
  const size_t begin = data_.size();
  data_.append(data.data(), data.size());
  if (!spans_.empty() && spans_.back().stream == stream) {
    spans_.back().end = data_.size();
  } else {
    spans_.push_back({stream, begin, data_.size()});
  }
}

void PodLog::Finish() {
  absl::MutexLock lock(&mu_);
  finished_ = true;
}

PodLog::Chunk PodLog::ReadFrom(size_t offset, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return ReadyAfter(offset);
  };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  Chunk chunk;
  if (data_.size() > offset) chunk.data = data_.substr(offset);
  chunk.finished = finished_;
  return chunk;
}

std::string PodLog::Contents() const {
  absl::MutexLock lock(&mu_);
  return data_;
}

size_t PodLog::Size() const {
  absl::MutexLock lock(&mu_);
  return data_.size();
}

PodLog::Pieces PodLog::ReadPiecesFrom(size_t offset,
                                      absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return ReadyAfter(offset);
  };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  Pieces result;
  result.end = std::max(offset, data_.size());
  result.finished = finished_;
  // The first span that ends after `offset`.
  auto span = std::upper_bound(
      spans_.begin(), spans_.end(), offset,
      [](size_t value, const Span& s) { return value < s.end; });
  for (; span != spans_.end(); ++span) {
    const size_t begin = std::max(span->begin, offset);
    result.pieces.push_back(
        {span->stream, data_.substr(begin, span->end - begin)});
  }
  return result;
}

PodStdin::PodStdin() : wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

void PodStdin::Wake() {
  const uint64_t one = 1;
  ssize_t ignored = write(wake_fd_.get(), &one, sizeof(one));
  (void)ignored;
}

bool PodStdin::Write(absl::string_view data) {
  std::function<void()> on_change;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    pending_.append(data.data(), data.size());
    on_change = on_change_;
  }
  Wake();
  if (on_change) on_change();
  return true;
}

void PodStdin::Close() {
  std::function<void()> on_change;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    on_change = on_change_;
  }
  Wake();
  if (on_change) on_change();
}

bool PodStdin::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

bool PodStdin::TakeInto(std::string* out) {
  uint64_t count;
  ssize_t ignored = read(wake_fd_.get(), &count, sizeof(count));
  (void)ignored;
  absl::MutexLock lock(&mu_);
  out->append(pending_);
  pending_.clear();
  return closed_;
}

void PodStdin::set_on_change(std::function<void()> on_change) {
  absl::MutexLock lock(&mu_);
  on_change_ = std::move(on_change);
}

}  // namespace codeexec::fake_kube
