#include "tests/fake_kube/fake_kube_apiserver.h"

#include <atomic>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube/api_handlers.h"
#include "tests/fake_kube/garbage_collector.h"
#include "tests/fake_kube/http_server.h"
#include "tests/fake_kube/job_controller.h"
#include "tests/fake_kube/label_selector.h"
#include "tests/fake_kube/object_store.h"
#include "tests/fake_kube/timer_queue.h"

namespace codeexec::fake_kube {

FakeKubeApiServer::FakeKubeApiServer(FakeKubeOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<FakeKubeApiServer>> FakeKubeApiServer::Start(
    FakeKubeOptions options) {
  std::unique_ptr<FakeKubeApiServer> server(
      new FakeKubeApiServer(std::move(options)));
  const FakeKubeOptions& opts = server->options_;
  server->faults_ = std::make_unique<FaultInjector>();
  server->stats_ = std::make_unique<RequestStats>();
  server->store_ = std::make_unique<ObjectStore>(opts.watch_history);
  server->timers_ = std::make_unique<TimerQueue>();
  server->gc_ =
      std::make_unique<GarbageCollector>(*server->store_, *server->timers_);
  server->store_->SetObserver(
      [gc = server->gc_.get()](
          const std::string& type, const ResourceKind& kind,
          const std::shared_ptr<const nlohmann::json>& object) {
        gc->Observe(type, kind, object);
      });
  absl::StatusOr<std::unique_ptr<Kubelet>> kubelet = Kubelet::Create(
      opts.kubelet, *server->store_, *server->faults_, *server->timers_);
  if (!kubelet.ok()) return kubelet.status();
  server->kubelet_ = *std::move(kubelet);
  server->controller_ = std::make_unique<JobController>(
      *server->store_, *server->kubelet_, *server->timers_, *server->gc_);
  server->kubelet_->set_listener(server->controller_.get());
  server->gc_->SetDeleters(
      [kubelet = server->kubelet_.get()](const ObjectRef& pod) {
        (void)kubelet->DeletePod(pod);
      },
      [controller = server->controller_.get()](const ObjectRef& job) {
        (void)controller->DeleteJob(job, "Background");
      });
  server->handlers_ = std::make_unique<ApiHandlers>(
      ApiOptions{opts.required_bearer_token, opts.user_name, opts.namespaces,
                 opts.bookmark_interval, opts.default_watch_timeout},
      *server->store_, *server->faults_, *server->stats_, *server->controller_,
      *server->kubelet_, *server->gc_);
  absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(
      opts.listen_host, opts.port,
      [handlers = server->handlers_.get()](const HttpRequest& request,
                                           HttpResponder& responder) {
        handlers->Handle(request, responder);
      });
  if (!http.ok()) return http.status();
  server->http_ = *std::move(http);
  return server;
}

FakeKubeApiServer::~FakeKubeApiServer() { Stop(); }

void FakeKubeApiServer::Stop() {
  if (handlers_ != nullptr) handlers_->Stop();
  if (http_ != nullptr) http_->Stop();
  if (kubelet_ != nullptr) kubelet_->Stop();
  if (timers_ != nullptr) timers_->Stop();
}

int FakeKubeApiServer::port() const { return http_->port(); }

std::string FakeKubeApiServer::url() const {
  return absl::StrCat("http://", options_.listen_host, ":", port());
}

void FakeKubeApiServer::FailNext(RequestMatch match, int times, int status_code,
                                 std::string message, HeaderList headers) {
  Fault fault;
  fault.status_code = status_code;
  fault.message = std::move(message);
  fault.headers = std::move(headers);
  faults_->Add(std::move(match), times, std::move(fault));
}

void FakeKubeApiServer::ThrottleNext(RequestMatch match, int times,
                                     int retry_after_seconds) {
  FailNext(std::move(match), times, 429, "",
           {{"Retry-After", absl::StrCat(retry_after_seconds)}});
}

void FakeKubeApiServer::ResetNext(RequestMatch match, int times,
                                  bool after_handling) {
  Fault fault;
  fault.action = after_handling ? Fault::Action::kResetAfterHandling
                                : Fault::Action::kReset;
  faults_->Add(std::move(match), times, std::move(fault));
}

void FakeKubeApiServer::DelayNext(RequestMatch match, int times,
                                  absl::Duration delay) {
  Fault fault;
  fault.action = Fault::Action::kDelay;
  fault.delay = delay;
  faults_->Add(std::move(match), times, std::move(fault));
}

void FakeKubeApiServer::DropWatches() { handlers_->DropWatches(); }

void FakeKubeApiServer::ExpireNextWatches(int count) {
  faults_->ExpireNextWatches(count);
}

void FakeKubeApiServer::CompactWatchHistory() { store_->CompactHistory(); }

void FakeKubeApiServer::SetLogChunkDelay(absl::Duration delay) {
  faults_->SetLogChunkDelay(delay);
}

void FakeKubeApiServer::StickPodsPending(PendingFault fault) {
  faults_->AddPendingFault(std::move(fault));
}

void FakeKubeApiServer::Forbid(std::string verb, std::string resource) {
  faults_->Forbid(std::move(verb), std::move(resource));
}

void FakeKubeApiServer::SetRequiredBearerToken(std::string token) {
  handlers_->SetRequiredBearerToken(std::move(token));
}

void FakeKubeApiServer::ClearFaults() { faults_->Clear(); }

std::string FakeKubeApiServer::MintServiceAccountToken(
    const std::string& ns, const std::string& name,
    std::vector<std::string> audiences, absl::Duration ttl) {
  static std::atomic<int64_t> serial{0};
  const std::string username =
      absl::StrCat("system:serviceaccount:", ns, ":", name);
  const absl::Time now = absl::Now();
  const absl::Time expires = now + ttl;
  const nlohmann::json header = {{"alg", "RS256"}, {"kid", "fake"}};
  const nlohmann::json claims = {
      {"aud", audiences},
      {"exp", absl::ToUnixSeconds(expires)},
      {"iat", absl::ToUnixSeconds(now)},
      {"iss", "https://kubernetes.default.svc.cluster.local"},
      {"sub", username},
      {"jti", absl::StrCat("fake-", ++serial)}};
  std::string token =
      absl::StrCat(absl::WebSafeBase64Escape(header.dump()), ".",
                   absl::WebSafeBase64Escape(claims.dump()), ".",
                   absl::WebSafeBase64Escape("unsigned"));
  handlers_->AddServiceAccountToken(
      token, ServiceAccountToken{.username = username,
                                 .audiences = std::move(audiences),
                                 .expires = expires});
  return token;
}

int64_t FakeKubeApiServer::RequestCount(const std::string& verb,
                                        const std::string& resource) const {
  return stats_->Count(verb, resource);
}

std::map<std::pair<std::string, std::string>, int64_t>
FakeKubeApiServer::RequestCounts() const {
  return stats_->Counts();
}

std::vector<RequestRecord> FakeKubeApiServer::RequestLog() const {
  return stats_->Log();
}

int64_t FakeKubeApiServer::WatchConnectionsOpened() const {
  return stats_->watches_opened();
}

int FakeKubeApiServer::OpenWatches() const { return store_->open_watches(); }

void FakeKubeApiServer::ResetCounters() { stats_->Reset(); }

std::vector<std::string> FakeKubeApiServer::ObjectNames(
    const std::string& resource, const std::string& ns,
    const std::string& label_selector) const {
  const ResourceKind* kind = FindResource(resource);
  absl::StatusOr<LabelSelector> selector = LabelSelector::Parse(label_selector);
  std::vector<std::string> names;
  if (kind == nullptr || !selector.ok()) return names;
  for (const nlohmann::json& item : store_->List(*kind, ns, *selector).items) {
    names.push_back(MetadataString(item, "name"));
  }
  return names;
}

bool FakeKubeApiServer::HoldsNoObjects(
    const std::string& ns, const std::string& label_selector) const {
  for (const char* resource : {"jobs", "pods", "configmaps"}) {
    if (!ObjectNames(resource, ns, label_selector).empty()) return false;
  }
  return true;
}

std::optional<nlohmann::json> FakeKubeApiServer::GetObject(
    const std::string& resource, const std::string& ns,
    const std::string& name) const {
  const ResourceKind* kind = FindResource(resource);
  if (kind == nullptr) return std::nullopt;
  absl::StatusOr<nlohmann::json> object = store_->Get({kind, ns, name, ""});
  if (!object.ok()) return std::nullopt;
  return *std::move(object);
}

std::optional<nlohmann::json> FakeKubeApiServer::LastCreated(
    const std::string& resource) const {
  return stats_->LastCreated(resource);
}

std::string FakeKubeApiServer::PodLogContents(
    const std::string& ns, const std::string& pod_name) const {
  std::optional<nlohmann::json> pod = GetObject("pods", ns, pod_name);
  if (!pod.has_value()) return "";
  std::shared_ptr<PodLog> log = kubelet_->Log(MetadataString(*pod, "uid"));
  return log == nullptr ? "" : log->Contents();
}

int64_t FakeKubeApiServer::GarbageCollected() const { return gc_->collected(); }

int FakeKubeApiServer::RunningContainers() const {
  return kubelet_->running_containers();
}

int64_t FakeKubeApiServer::resource_version() const {
  return store_->resource_version();
}

}  // namespace codeexec::fake_kube
