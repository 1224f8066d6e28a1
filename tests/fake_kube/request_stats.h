// What the fake apiserver was asked: requests per (verb, resource), watch
// connections, the last objects created. Thread-safe.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_REQUEST_STATS_H_
#define CODEEXEC_TESTS_FAKE_KUBE_REQUEST_STATS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

namespace codeexec::fake_kube {

struct RequestRecord {
  std::string verb;      // create, get, list, watch, delete, deletecollection
  std::string resource;  // configmaps, jobs, pods, pods/log, or the path
  std::string ns;
  std::string name;
  int code = 0;  // HTTP status; 0 when the connection was reset
  std::string content_type = "";  // of PATCH bodies
};

class RequestStats {
 public:
  // Records a request (before it is answered); returns its index for
  // SetCode.
  size_t Record(RequestRecord record) {
    absl::MutexLock lock(&mu_);
    ++counts_[{record.verb, record.resource}];
    if (record.verb == "watch") ++watches_opened_;
    log_.push_back(std::move(record));
    return log_.size() - 1;
  }
  void SetCode(size_t index, int code) {
    absl::MutexLock lock(&mu_);
    if (index < log_.size()) log_[index].code = code;
  }
  void SetContentType(size_t index, std::string content_type) {
    absl::MutexLock lock(&mu_);
    if (index < log_.size()) log_[index].content_type = std::move(content_type);
  }
  void RememberCreated(const std::string& resource, nlohmann::json object) {
    absl::MutexLock lock(&mu_);
    last_created_[resource] = std::move(object);
  }

  int64_t Count(const std::string& verb, const std::string& resource) const {
    absl::MutexLock lock(&mu_);
    auto it = counts_.find({verb, resource});
    return it == counts_.end() ? 0 : it->second;
  }
  std::map<std::pair<std::string, std::string>, int64_t> Counts() const {
    absl::MutexLock lock(&mu_);
    return counts_;
  }
  std::vector<RequestRecord> Log() const {
    absl::MutexLock lock(&mu_);
    return log_;
  }
  int64_t watches_opened() const {
    absl::MutexLock lock(&mu_);
    return watches_opened_;
  }
  std::optional<nlohmann::json> LastCreated(const std::string& resource) const {
    absl::MutexLock lock(&mu_);
    auto it = last_created_.find(resource);
    if (it == last_created_.end()) return std::nullopt;
    return it->second;
  }
  void Reset() {
    absl::MutexLock lock(&mu_);
    counts_.clear();
    log_.clear();
    watches_opened_ = 0;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, int64_t> counts_
      ABSL_GUARDED_BY(mu_);
  std::vector<RequestRecord> log_ ABSL_GUARDED_BY(mu_);
  int64_t watches_opened_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, nlohmann::json> last_created_ ABSL_GUARDED_BY(mu_);
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_REQUEST_STATS_H_
