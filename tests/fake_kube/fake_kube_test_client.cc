#include "tests/fake_kube/fake_kube_test_client.h"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>

#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace codeexec::fake_kube::testing {
namespace {

using json = nlohmann::json;
namespace http = web::http;

http::method Method(const std::string& name) {
  if (name == "GET") return http::methods::GET;
  if (name == "POST") return http::methods::POST;
  if (name == "DELETE") return http::methods::DEL;
  if (name == "PUT") return http::methods::PUT;
  return http::methods::PATCH;
}

class CpprestLineStream : public LineStream {
 public:
  CpprestLineStream(http::client::http_client& client,
                    http::http_request request)
      : thread_([this, &client, request]() mutable { Read(client, request); }) {
  }
  ~CpprestLineStream() override {
    cancel_.cancel();
    thread_.join();
  }

  bool WaitForLines(size_t count, absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return lines_.size() >= count || ended_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    return lines_.size() >= count;
  }
  bool WaitForEnd(absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&ended_), timeout);
    return ended_;
  }
  std::vector<Line> lines() const override {
    absl::MutexLock lock(&mu_);
    return lines_;
  }
  int code() const override {
    absl::MutexLock lock(&mu_);
    return code_;
  }
  bool ended() const override {
    absl::MutexLock lock(&mu_);
    return ended_;
  }
  std::string error() const override {
    absl::MutexLock lock(&mu_);
    return error_;
  }

 private:
  void Read(http::client::http_client& client, http::http_request request) {
    try {
      http::http_response response =
          client.request(request, cancel_.get_token()).get();
      {
        absl::MutexLock lock(&mu_);
        code_ = response.status_code();
      }
      concurrency::streams::istream body = response.body();
      while (true) {
        concurrency::streams::container_buffer<std::string> line;
        const size_t size = body.read_line(line).get();
        if (size == 0 && body.is_eof()) break;
        absl::MutexLock lock(&mu_);
        lines_.push_back({std::move(line.collection()), absl::Now()});
      }
      // A body cut before its final chunk must not look like a clean end.
      response.content_ready().get();
    } catch (const std::exception& e) {
      absl::MutexLock lock(&mu_);
      error_ = e.what();
      if (error_.empty()) error_ = "exception";
    }
    absl::MutexLock lock(&mu_);
    ended_ = true;
  }

  mutable absl::Mutex mu_;
  std::vector<Line> lines_ ABSL_GUARDED_BY(mu_);
  int code_ ABSL_GUARDED_BY(mu_) = 0;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  std::string error_ ABSL_GUARDED_BY(mu_);
  pplx::cancellation_token_source cancel_;
  std::thread thread_;
};

}  // namespace

std::vector<json> LineStream::JsonLines() const {
  std::vector<json> parsed;
  for (const Line& line : lines()) {
    parsed.push_back(json::parse(line.text, nullptr, false));
  }
  return parsed;
}

struct TestClient::Impl {
  Impl(const std::string& base_url, std::string token)
      : client(base_url, Config()), bearer_token(std::move(token)) {}
  static http::client::http_client_config Config() {
    http::client::http_client_config config;
    config.set_timeout(std::chrono::seconds(60));
    return config;
  }
  http::http_request Request(
      const std::string& method, const std::string& path,
      const std::string& body,
      const std::string& content_type = "application/json") {
    http::http_request request(Method(method));
    request.set_request_uri(path);
    if (!bearer_token.empty()) {
      request.headers().add("Authorization", "Bearer " + bearer_token);
    }
    if (!body.empty()) request.set_body(body, content_type);
    return request;
  }

  http::client::http_client client;
  std::string bearer_token;
};

TestClient::TestClient(std::string base_url, std::string bearer_token)
    : impl_(std::make_unique<Impl>(base_url, std::move(bearer_token))) {}

TestClient::~TestClient() = default;

HttpResult TestClient::Send(const std::string& method, const std::string& path,
                            const std::string& body,
                            const std::string& content_type) {
  HttpResult result;
  try {
    http::http_response response =
        impl_->client.request(impl_->Request(method, path, body, content_type))
            .get();
    result.code = response.status_code();
    result.text = response.extract_utf8string(true).get();
    for (const auto& [name, value] : response.headers()) {
      result.headers[name] = value;
    }
    result.body = json::parse(result.text, nullptr, false);
    if (result.body.is_discarded()) result.body = nullptr;
  } catch (const std::exception& e) {
    result.code = 0;
    result.error = e.what();
  }
  return result;
}

HttpResult TestClient::Get(const std::string& path) {
  return Send("GET", path, "");
}

HttpResult TestClient::Post(const std::string& path, const json& body) {
  return Send("POST", path, body.dump());
}

HttpResult TestClient::Patch(const std::string& path,
                             const std::string& content_type,
                             const json& body) {
  return Send("PATCH", path, body.dump(), content_type);
}

HttpResult TestClient::Delete(const std::string& path, const json& body) {
  return Send("DELETE", path, body.is_null() ? "" : body.dump());
}

std::unique_ptr<LineStream> TestClient::Stream(const std::string& path) {
  return std::make_unique<CpprestLineStream>(impl_->client,
                                             impl_->Request("GET", path, ""));
}

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= end) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

json ConfigMapBody(const std::string& name,
                   const std::map<std::string, std::string>& labels,
                   const json& data, const json& binary_data) {
  json body = {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata", {{"name", name}, {"labels", labels}}}};
  if (!data.is_null()) body["data"] = data;
  if (!binary_data.is_null()) body["binaryData"] = binary_data;
  return body;
}

json JobBody(const JobSpec& spec) {
  json container = {{"name", "main"},
                    {"image", "python:3.11-slim"},
                    {"command", spec.command},
                    {"securityContext",
                     {{"allowPrivilegeEscalation", false},
                      {"readOnlyRootFilesystem", true},
                      {"capabilities", {{"drop", {"ALL"}}}}}}};
  json volumes = json::array();
  json mounts = json::array();
  if (!spec.config_map.empty()) {
    volumes.push_back(
        {{"name", "code"}, {"configMap", {{"name", spec.config_map}}}});
    mounts.push_back(
        {{"name", "code"}, {"mountPath", "/code"}, {"readOnly", true}});
  }
  if (spec.workspace) {
    volumes.push_back(
        {{"name", "workspace"},
         {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "16Mi"}}}});
    mounts.push_back({{"name", "workspace"}, {"mountPath", "/workspace"}});
  }
  container["volumeMounts"] = mounts;
  if (!spec.working_dir.empty()) container["workingDir"] = spec.working_dir;
  if (!spec.memory_limit.empty()) {
    container["resources"] = {
        {"limits", {{"memory", spec.memory_limit}, {"cpu", "1"}}}};
  }
  json pod_spec = {{"restartPolicy", "Never"},
                   {"runtimeClassName", "gvisor"},
                   {"automountServiceAccountToken", false},
                   {"enableServiceLinks", false},
                   {"securityContext",
                    {{"runAsNonRoot", true},
                     {"runAsUser", spec.run_as_user},
                     {"runAsGroup", spec.run_as_user}}},
                   {"containers", {container}},
                   {"volumes", volumes}};
  json job_spec = {
      {"backoffLimit", spec.backoff_limit},
      {"completions", 1},
      {"ttlSecondsAfterFinished", 300},
      {"template",
       {{"metadata", {{"labels", spec.labels}}}, {"spec", pod_spec}}}};
  if (spec.active_deadline_seconds > 0) {
    job_spec["activeDeadlineSeconds"] = spec.active_deadline_seconds;
  }
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata", {{"name", spec.name}, {"labels", spec.labels}}},
          {"spec", job_spec}};
}

std::string JobPodsPath(const std::string& ns, const std::string& job_name) {
  return "/api/v1/namespaces/" + ns + "/pods?labelSelector=job-name%3D" +
         job_name;
}

}  // namespace codeexec::fake_kube::testing
