// Test helpers for talking to the fake apiserver over HTTP with cpprestsdk's
// http_client (what the backend uses), plus builders of the objects the
// backend creates.
#ifndef CODEEXEC_TESTS_FAKE_KUBE_FAKE_KUBE_TEST_CLIENT_H_
#define CODEEXEC_TESTS_FAKE_KUBE_FAKE_KUBE_TEST_CLIENT_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fake_kube/fake_kube_apiserver.h"

namespace codeexec::fake_kube::testing {

// Collections of namespace ns1, where the fake's own tests work.
inline constexpr char kConfigMaps[] = "/api/v1/namespaces/ns1/configmaps";
inline constexpr char kJobs[] = "/apis/batch/v1/namespaces/ns1/jobs";
inline constexpr char kPods[] = "/api/v1/namespaces/ns1/pods";

struct HttpResult {
  int code = 0;         // 0 when the request failed (e.g. reset)
  std::string error;    // the client's exception text then
  std::string text;     // body
  nlohmann::json body;  // body parsed as JSON (null if it is not)
  std::map<std::string, std::string> headers;  // names as sent
};

// A streamed response (watch, log follow) read line by line on a thread.
class LineStream {
 public:
  struct Line {
    std::string text;
    absl::Time arrived;
  };
  virtual ~LineStream() = default;
  // Waits until `count` lines arrived, the stream ended, or `timeout`.
  virtual bool WaitForLines(size_t count, absl::Duration timeout) = 0;
  // Waits until the stream ends (cleanly or with an error).
  virtual bool WaitForEnd(absl::Duration timeout) = 0;
  virtual std::vector<Line> lines() const = 0;
  virtual int code() const = 0;
  virtual bool ended() const = 0;
  // Non-empty when the stream broke (connection closed mid-body, ...).
  virtual std::string error() const = 0;
  // The lines parsed as JSON.
  std::vector<nlohmann::json> JsonLines() const;
};

class TestClient {
 public:
  explicit TestClient(std::string base_url, std::string bearer_token = "");
  ~TestClient();

  HttpResult Get(const std::string& path);
  HttpResult Post(const std::string& path, const nlohmann::json& body);
  HttpResult Delete(const std::string& path,
                    const nlohmann::json& body = nullptr);
  // PATCH with `body` as `content_type` (e.g.
  // "application/strategic-merge-patch+json").
  HttpResult Patch(const std::string& path, const std::string& content_type,
                   const nlohmann::json& body);
  HttpResult Send(const std::string& method, const std::string& path,
                  const std::string& body,
                  const std::string& content_type = "application/json");
  std::unique_ptr<LineStream> Stream(const std::string& path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Polls `condition` every 10 ms until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& condition,
               absl::Duration timeout = absl::Seconds(20));

// A ConfigMap body.
nlohmann::json ConfigMapBody(const std::string& name,
                             const std::map<std::string, std::string>& labels,
                             const nlohmann::json& data,
                             const nlohmann::json& binary_data = nullptr);

struct JobSpec {
  std::string name;
  std::map<std::string, std::string> labels;
  std::vector<std::string> command;
  std::string memory_limit;         // e.g. "64Mi"; empty: none
  int active_deadline_seconds = 0;  // 0: none
  int backoff_limit = 0;
  std::string config_map;  // mounted at /code when set
  bool workspace = false;  // an emptyDir (Memory, 16Mi) at /workspace
  std::string working_dir;
  int run_as_user = 1001;
};
// A Job body shaped like the backend's (restartPolicy Never, runAsNonRoot).
nlohmann::json JobBody(const JobSpec& spec);

// A fake apiserver (started with default options in SetUp; call StartServer
// again for others) and a client talking to it.
class FakeKubeTest : public ::testing::Test {
 protected:
  void StartServer(FakeKubeOptions options = {}) {
    auto server = FakeKubeApiServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<TestClient>(server_->url());
  }
  void SetUp() override { StartServer(); }

  std::unique_ptr<FakeKubeApiServer> server_;
  std::unique_ptr<TestClient> client_;
};

// The pods of Job `job_name` (by the job-name label), via the API.
std::string JobPodsPath(const std::string& ns, const std::string& job_name);

}  // namespace codeexec::fake_kube::testing

#endif  // CODEEXEC_TESTS_FAKE_KUBE_FAKE_KUBE_TEST_CLIENT_H_
