// Test-only: a RestClient for tests against a local test server, with short
// retry backoffs so that retried requests do not slow the tests down.
#ifndef CODEEXEC_SERVER_KUBE_CLIENT_REST_CLIENT_TEST_UTIL_H_
#define CODEEXEC_SERVER_KUBE_CLIENT_REST_CLIENT_TEST_UTIL_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/kube/client/cluster_connection.h"
#include "server/kube/client/rest_client.h"

namespace codeexec::kube::testing {

// Default options, but retries after 10 ms, backing off to at most 50 ms.
inline RestClientOptions FastOptions() {
  RestClientOptions options;
  options.initial_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(50);
  return options;
}

// A client of `server` (a URL); fails the test if it cannot be made.
inline std::unique_ptr<RestClient> MakeClient(
    const std::string& server, RestClientOptions options = FastOptions(),
    std::shared_ptr<TokenSource> tokens = nullptr,
    std::shared_ptr<prometheus::Registry> registry = nullptr) {
  ClusterConnection connection;
  connection.server = server;
  connection.description = "test";
  connection.token_source = std::move(tokens);
  auto client = RestClient::Create(connection, options, std::move(registry));
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

}  // namespace codeexec::kube::testing

#endif  // CODEEXEC_SERVER_KUBE_CLIENT_REST_CLIENT_TEST_UTIL_H_
