// The fake apiserver's REST front: routes kube-apiserver paths to the store,
// the Job controller and the kubelet; applies authentication, the RBAC deny
// list and injected faults; counts requests; streams watches and logs.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_API_HANDLERS_H_
#define CODEEXEC_TESTS_FAKE_KUBE_API_HANDLERS_H_

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube/fault_injector.h"
#include "tests/fake_kube/field_selector.h"
#include "tests/fake_kube/garbage_collector.h"
#include "tests/fake_kube/http_server.h"
#include "tests/fake_kube/job_controller.h"
#include "tests/fake_kube/kube_json.h"
#include "tests/fake_kube/kubelet.h"
#include "tests/fake_kube/label_selector.h"
#include "tests/fake_kube/object_store.h"
#include "tests/fake_kube/request_stats.h"

namespace codeexec::fake_kube {

// A token TokenReview answers for, as kube-apiserver's ServiceAccount
// authenticator would.
struct ServiceAccountToken {
  std::string username;  // "system:serviceaccount:<ns>:<name>"
  std::vector<std::string> audiences;
  absl::Time expires;
};

struct ApiOptions {
  std::string required_bearer_token;
  std::string user_name;
  std::vector<std::string> namespaces;
  absl::Duration bookmark_interval;
  absl::Duration default_watch_timeout;
};

class ApiHandlers {
 public:
  ApiHandlers(ApiOptions options, ObjectStore& store, FaultInjector& faults,
              RequestStats& stats, JobController& controller, Kubelet& kubelet,
              GarbageCollector& gc)
      : options_(std::move(options)),
        store_(store),
        faults_(faults),
        stats_(stats),
        controller_(controller),
        kubelet_(kubelet),
        gc_(gc) {}

  void Handle(const HttpRequest& request, HttpResponder& responder);

  void SetRequiredBearerToken(std::string token);
  // api_token_review.cc: a ServiceAccount token TokenReview will know.
  void AddServiceAccountToken(std::string token, ServiceAccountToken account);
  // Cuts every open watch stream now (no final chunk).
  void DropWatches() { store_.EndAllWatches(WatchEnd::kDropped); }
  // Ends every watch and log stream; later streams end at once.
  void Stop();

 private:
  // One request in RBAC terms.
  struct Route {
    const ResourceKind* kind = nullptr;  // null for non-resource paths
    std::string ns;
    std::string name;
    std::string verb;
    std::string resource;  // "pods/log", "pods/attach" for those
  };
  // Answers a request as `record`ed in the stats.
  struct Call {
    const HttpRequest& request;
    HttpResponder& responder;
    Route route;
    size_t record;
  };

  void Dispatch(const HttpRequest& request, HttpResponder& responder);
  // false (and answered) when the path is not served.
  bool ParseRoute(const HttpRequest& request, HttpResponder& responder,
                  Route* route);
  void Reply(Call& call, int code, const nlohmann::json& body,
             const HeaderList& headers = {});
  void ReplyError(Call& call, const absl::Status& status);
  void ReplyForbidden(Call& call);
  // Applies an injected fault; true if the request is answered (or reset).
  bool ApplyFault(Call& call, const Fault& fault);

  void HandleNonResource(const HttpRequest& request, HttpResponder& responder);
  // api_token_review.cc: POST /apis/authentication.k8s.io/v1/tokenreviews.
  void HandleTokenReview(const HttpRequest& request, HttpResponder& responder);
  // The request's bearer token is the required one (or none is required).
  bool BearerTokenAccepted(const HttpRequest& request) const;
  // api_debug.cc: GET /debug/fake/requests, POST /debug/fake/reset.
  void HandleDebug(const HttpRequest& request, HttpResponder& responder);
  void Create(Call& call);
  void Get(Call& call);
  // api_list.cc:
  void List(Call& call);
  // ?labelSelector= and ?fieldSelector= (FailedPrecondition -> 400).
  absl::Status ParseSelectors(const Call& call, LabelSelector* labels,
                              FieldSelector* fields) const;
  // api_patch.cc:
  void Patch(Call& call);
  void Delete(Call& call);
  void DeleteCollection(Call& call);
  // DELETE of one object with `propagation` (Orphan/Background/Foreground).
  absl::StatusOr<nlohmann::json> DeleteObject(const ObjectRef& ref,
                                              const std::string& propagation);
  // The propagation policy of a DELETE (query or DeleteOptions body).
  absl::StatusOr<std::string> Propagation(const Call& call) const;
  // api_streams.cc:
  void Watch(Call& call);
  void StreamLog(Call& call);
  // api_attach.cc:
  void Attach(Call& call);
  bool WriteWatchEvent(Call& call, const std::string& type,
                       const nlohmann::json& object);

  const ApiOptions options_;
  ObjectStore& store_;
  FaultInjector& faults_;
  RequestStats& stats_;
  JobController& controller_;
  Kubelet& kubelet_;
  GarbageCollector& gc_;
  std::atomic<bool> stopping_{false};
  mutable absl::Mutex token_mu_;
  std::string token_override_ ABSL_GUARDED_BY(token_mu_);
  bool token_overridden_ ABSL_GUARDED_BY(token_mu_) = false;
  std::map<std::string, ServiceAccountToken> account_tokens_
      ABSL_GUARDED_BY(token_mu_);
};

}  // namespace codeexec::fake_kube

#endif  // CODEEXEC_TESTS_FAKE_KUBE_API_HANDLERS_H_
