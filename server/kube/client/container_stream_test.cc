// The channel protocol's pure parts, and how a stream that cannot open
// fails. Streams themselves are tested against the fake API server
// (tests/fake_kube) and the real one (tests/e2e).
#include "server/kube/client/container_stream.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace codeexec::kube {
namespace {

using ::testing::HasSubstr;

TEST(ParseContainerExitTest, SuccessIsExitCodeZero) {
  absl::StatusOr<ContainerExit> exit =
      ParseContainerExit(R"({"metadata":{},"status":"Success"})");
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_EQ(exit->message, "");
}

TEST(ParseContainerExitTest, NonZeroExitCodeCarriesTheCode) {
  // What the kubelet sends for a process that exited 3.
  absl::StatusOr<ContainerExit> exit = ParseContainerExit(
      R"({"metadata":{},"status":"Failure","message":"command terminated )"
      R"(with non-zero exit code: error executing command [launcher], exit )"
      R"(code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":)"
      R"("ExitCode","message":"3"}]}})");
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 3);
  EXPECT_THAT(exit->message, HasSubstr("exit code 3"));
}

TEST(ParseContainerExitTest, OtherFailureHasNoCode) {
  absl::StatusOr<ContainerExit> exit = ParseContainerExit(
      R"({"status":"Failure","message":"container not found","reason":)"
      R"("InternalError"})");
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, std::nullopt);
  EXPECT_EQ(exit->message, "container not found");
  // A cause that is not a number is no exit code.
  exit = ParseContainerExit(
      R"({"status":"Failure","reason":"NonZeroExitCode","details":)"
      R"({"causes":[{"reason":"ExitCode","message":"three"}]}})");
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->exit_code, std::nullopt);
}

TEST(ParseContainerExitTest, NotJsonIsAnError) {
  EXPECT_FALSE(ParseContainerExit("exit 3").ok());
  EXPECT_FALSE(ParseContainerExit("[1]").ok());
}

TEST(WebSocketUrlTest, SchemesMap) {
  EXPECT_EQ(*WebSocketUrl("https://10.0.0.1:6443", "/api/v1/x?a=b"),
            "wss://10.0.0.1:6443/api/v1/x?a=b");
  EXPECT_EQ(*WebSocketUrl("http://127.0.0.1:8080", "/api"),
            "ws://127.0.0.1:8080/api");
  EXPECT_FALSE(WebSocketUrl("ftp://x", "/api").ok());
}

TEST(ContainerStreamTest, NothingListeningIsUnavailable) {
  // A port that was free a moment ago.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  ClusterConnection connection;
  connection.server =
      "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  bool closed_called = false;
  ContainerStream::Handlers handlers;
  handlers.on_closed = [&](absl::Status) { closed_called = true; };
  absl::StatusOr<std::unique_ptr<ContainerStream>> stream =
      ContainerStream::Open(connection, "/api/v1/namespaces/n/pods/p/attach",
                            std::move(handlers), absl::Seconds(10));
  ASSERT_FALSE(stream.ok());
  EXPECT_TRUE(absl::IsUnavailable(stream.status())) << stream.status();
}

}  // namespace
}  // namespace codeexec::kube
