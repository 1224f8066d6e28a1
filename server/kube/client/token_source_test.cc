#include "server/kube/client/token_source.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec::kube {
namespace {

using ::testing::HasSubstr;

constexpr char kV1[] = "client.authentication.k8s.io/v1";

// Prints an ExecCredential (token "token-<call number>-<first arg>") and
// counts its runs in $COUNT_FILE; $FAIL makes it fail, $SLEEP makes it slow,
// $EXPIRY sets expirationTimestamp; KUBERNETES_EXEC_INFO goes to $INFO_FILE.
constexpr char kPluginScript[] = R"sh(#!/bin/sh
n=$(( $(cat "$COUNT_FILE" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$COUNT_FILE"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$INFO_FILE"
if [ -n "$FAIL" ]; then echo "boom: $FAIL" >&2; exit 3; fi
if [ -n "$SLEEP" ]; then sleep "$SLEEP"; fi
extra=""
if [ -n "$EXPIRY" ]; then extra=",\"expirationTimestamp\":\"$EXPIRY\""; fi
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"token-%s-%s"%s}}\n' \
  "${API_VERSION:-client.authentication.k8s.io/v1}" "$n" "$1" "$extra"
)sh";

class TokenSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/token_source_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    Write("plugin.sh", kPluginScript);
    chmod((dir_ + "/plugin.sh").c_str(), 0755);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  std::string Read(const std::string& name) {
    std::ifstream file(dir_ + "/" + name);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }
  int Runs() { return std::atoi(Read("count").c_str()); }

  ExecCredentialOptions Plugin(
      std::vector<std::pair<std::string, std::string>> extra_env = {}) {
    ExecCredentialOptions options;
    options.command = dir_ + "/plugin.sh";
    options.args = {"arg1"};
    options.env = {{"COUNT_FILE", dir_ + "/count"},
                   {"INFO_FILE", dir_ + "/info"}};
    options.env.insert(options.env.end(), extra_env.begin(), extra_env.end());
    return options;
  }

  std::string dir_;
};

TEST_F(TokenSourceTest, FileTokenIsTrimmedAndReReadWhenRotated) {
  Write("token", "first\n");
  FileTokenSource source(dir_ + "/token");
  EXPECT_EQ(*source.Token(), "first");
  EXPECT_EQ(*source.Token(), "first");
  // The kubelet swaps the projected file atomically.
  Write("token.new", "second");
  std::rename((dir_ + "/token.new").c_str(), (dir_ + "/token").c_str());
  EXPECT_EQ(*source.Token(), "second");
  // Rewritten in place with the same size: the mtime (ns) differs.
  absl::SleepFor(absl::Milliseconds(20));
  Write("token", "third!");
  EXPECT_EQ(*source.Token(), "third!");
}

TEST_F(TokenSourceTest, FileTokenErrorsNameTheFile) {
  FileTokenSource missing(dir_ + "/absent");
  EXPECT_THAT(std::string(missing.Token().status().message()),
              HasSubstr("token file \"" + dir_ + "/absent\" unreadable"));
  Write("empty", "\n");
  FileTokenSource empty(dir_ + "/empty");
  EXPECT_THAT(std::string(empty.Token().status().message()),
              HasSubstr("is empty"));
}

TEST_F(TokenSourceTest, ParsesExecCredentials) {
  absl::StatusOr<ExecCredential> credential = ParseExecCredential(
      R"({"apiVersion":"client.authentication.k8s.io/v1beta1",
          "kind":"ExecCredential","status":{"token":"t",
          "expirationTimestamp":"2030-01-02T03:04:05Z"}})",
      "client.authentication.k8s.io/v1beta1");
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->token, "t");
  EXPECT_EQ(credential->expiration,
            absl::FromCivil(absl::CivilSecond(2030, 1, 2, 3, 4, 5),
                            absl::UTCTimeZone()));

  EXPECT_THAT(
      std::string(ParseExecCredential(
                      R"({"apiVersion":"client.authentication.k8s.io/v1beta1",
                                  "kind":"ExecCredential","status":{"token":"t"}})",
                      kV1)
                      .status()
                      .message()),
      HasSubstr("configured with"));
  EXPECT_EQ(ParseExecCredential(
                R"({"apiVersion":"client.authentication.k8s.io/v1",
                    "kind":"ExecCredential",
                    "status":{"clientCertificateData":"x","clientKeyData":"y"}})",
                kV1)
                .status()
                .code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_FALSE(ParseExecCredential("not json", kV1).ok());
  EXPECT_FALSE(ParseExecCredential(
                   R"({"apiVersion":"client.authentication.k8s.io/v1",
                       "kind":"ExecCredential","status":{"token":"t",
                       "expirationTimestamp":"tomorrow"}})",
                   kV1)
                   .ok());
}

TEST_F(TokenSourceTest, ExecTokenCachedUntilInvalidated) {
  ExecTokenSource source(Plugin({{"EXPIRY", "2099-01-01T00:00:00Z"}}));
  EXPECT_EQ(*source.Token(), "token-1-arg1");
  EXPECT_EQ(*source.Token(), "token-1-arg1");
  EXPECT_EQ(Runs(), 1);
  const nlohmann::json info = nlohmann::json::parse(Read("info"));
  EXPECT_EQ(info, (nlohmann::json{{"apiVersion", kV1},
                                  {"kind", "ExecCredential"},
                                  {"spec", {{"interactive", false}}}}));
  source.Invalidate();
  EXPECT_EQ(*source.Token(), "token-2-arg1");
  EXPECT_EQ(Runs(), 2);
}

TEST_F(TokenSourceTest, ExecTokenWithoutExpiryIsCached) {
  ExecTokenSource source(Plugin());
  EXPECT_EQ(*source.Token(), "token-1-arg1");
  EXPECT_EQ(*source.Token(), "token-1-arg1");
  EXPECT_EQ(Runs(), 1);
}

TEST_F(TokenSourceTest, ExpiredExecTokenIsRefreshed) {
  ExecTokenSource expired(Plugin({{"EXPIRY", "2001-01-01T00:00:00Z"}}));
  EXPECT_EQ(*expired.Token(), "token-1-arg1");
  EXPECT_EQ(*expired.Token(), "token-2-arg1");
  EXPECT_EQ(Runs(), 2);

  // Expiring in 10 s: refreshed early (10 s / 4 before expiry), not yet.
  const std::string soon = absl::FormatTime(
      absl::RFC3339_sec, absl::Now() + absl::Seconds(10), absl::UTCTimeZone());
  ExecTokenSource fresh(Plugin({{"EXPIRY", soon}}));
  EXPECT_EQ(*fresh.Token(), "token-3-arg1");
  EXPECT_EQ(*fresh.Token(), "token-3-arg1");
}

TEST_F(TokenSourceTest, V1beta1PluginsAndProvidedClusterInfo) {
  ExecCredentialOptions options =
      Plugin({{"API_VERSION", "client.authentication.k8s.io/v1beta1"}});
  options.api_version = "client.authentication.k8s.io/v1beta1";
  options.cluster_info = {{"server", "https://k"}};
  ExecTokenSource source(options);
  EXPECT_EQ(*source.Token(), "token-1-arg1");
  const nlohmann::json info = nlohmann::json::parse(Read("info"));
  EXPECT_EQ(info["apiVersion"], "client.authentication.k8s.io/v1beta1");
  EXPECT_EQ(info["spec"]["cluster"]["server"], "https://k");
}

TEST_F(TokenSourceTest, ExecFailureCarriesStderr) {
  ExecTokenSource source(Plugin({{"FAIL", "no credentials"}}));
  const absl::Status status = source.Token().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(status.message()), HasSubstr("exit status 3"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("boom: no credentials"));
}

TEST_F(TokenSourceTest, SlowPluginIsKilledAtTheTimeout) {
  ExecCredentialOptions options = Plugin({{"SLEEP", "30"}});
  options.timeout = absl::Milliseconds(300);
  ExecTokenSource source(options);
  const absl::Time start = absl::Now();
  const absl::Status status = source.Token().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(TokenSourceTest, MissingPluginNamesCommandAndHint) {
  ExecCredentialOptions options;
  options.command = "no-such-auth-plugin-xyz";
  options.install_hint = "install it with apt";
  const absl::Status status = ExecTokenSource(options).Token().status();
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("cannot run exec plugin \"no-such-auth-plugin-xyz\""));
  EXPECT_THAT(std::string(status.message()), HasSubstr("install it with apt"));
}

TEST_F(TokenSourceTest, PluginFoundThroughPath) {
  ExecCredentialOptions options;
  options.command = "sh";
  options.args = {"-c",
                  "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                  "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"p\"}}'"};
  EXPECT_EQ(*ExecTokenSource(options).Token(), "p");
}

}  // namespace
}  // namespace codeexec::kube
