// The kubernetes warm pool end to end: the real server (kubernetes.warmPool.
// size=2) with the executor's own token, pods/attach through the real API
// server, kubelet, containerd and gVisor's shim. Runs served by warm pods are
// exact, leave nothing for the next run, end at their timeout or memory
// limit like cold runs, cost one API request on their own path, and a
// stopped server leaves no object; without the attach rights the server
// refuses to start, naming them.
#include <signal.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/kube/permission_check.h"
#include "tests/e2e/cluster_access.h"
#include "tests/e2e/warm_pool_fixture.h"
#include "tests/integrity_checks.h"
#include "tests/server_process.h"

namespace codeexec::e2e {
namespace {

using ::codeexec::testing::Execute;
using ::codeexec::testing::ExecuteOutcome;
using ::codeexec::testing::MakeRequest;
using ::codeexec::testing::ServerProcess;
using ::codeexecutor::v1::Finished;
using ::testing::HasSubstr;

TEST_F(E2eWarmPoolTest, WarmRunIsExactAndCostsOneRequestOnItsPath) {
  StartServer();
  const double claims = Metric(*server_, Claims());
  const double deletes = Metric(*server_, Requests("jobs", "delete", "200"));
  const double configmaps =
      Metric(*server_, Requests("configmaps", "create", "201"));
  ExecuteOutcome run = Execute(
      *stub_, MakeRequest("import sys\n"
                          "unit = bytes(range(256)) + b'\\xff\\xfe\\xc3\\x28'\n"
                          "sys.stdout.buffer.write(unit * 4000)\n"
                          "sys.stderr.buffer.write(unit[::-1] * 300)\n"
                          "sys.exit(3)\n"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::NONZERO_EXIT)
      << run.finished.message();
  EXPECT_EQ(run.finished.exit_code(), 3);
  std::string unit;
  for (int i = 0; i < 256; ++i) unit.push_back(static_cast<char>(i));
  unit += "\xff\xfe\xc3\x28";
  const std::string reversed(unit.rbegin(), unit.rend());
  std::string out, err;
  for (int i = 0; i < 4000; ++i) out += unit;
  for (int i = 0; i < 300; ++i) err += reversed;
  EXPECT_EQ(codeexec::testing::Digest(run.stdout_text),
            codeexec::testing::Digest(out));
  EXPECT_EQ(codeexec::testing::Digest(run.stderr_text),
            codeexec::testing::Digest(err));
  EXPECT_EQ(Metric(*server_, Claims()) - claims, 1);
  // On the run's path: the delete of its warm Job, no ConfigMap (the attach
  // was made when the pod became ready, with the refill's Job create).
  EXPECT_EQ(Metric(*server_, Requests("jobs", "delete", "200")) - deletes, 1);
  EXPECT_EQ(Metric(*server_, Requests("configmaps", "create", "201")),
            configmaps);
  EXPECT_TRUE(WaitForIdle(kPoolSize)) << "the pool did not refill";
}

TEST_F(E2eWarmPoolTest, NothingOfOneRunReachesTheNext) {
  StartServer();
  ExecuteOutcome first = Execute(
      *stub_,
      MakeRequest(
          "import subprocess\n"
          "open('/workspace/secret', 'w').write('a')\n"
          "open('/tmp/secret', 'w').write('b')\n"
          "subprocess.Popen(['sleep', '1000'], start_new_session=True)\n"
          "print('planted')\n"));
  ASSERT_EQ(first.finished.outcome(), Finished::OK) << first.finished.message();
  ASSERT_EQ(first.stdout_text, "planted\n");
  ExecuteOutcome second = Execute(
      *stub_,
      MakeRequest("import os\n"
                  "print(os.path.exists('/workspace/secret'),\n"
                  "      os.path.exists('/tmp/secret'))\n"
                  "names = []\n"
                  "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
                  "    try:\n"
                  "        names.append(open(f'/proc/{pid}/comm').read())\n"
                  "    except OSError:\n"
                  "        pass\n"
                  "print('sleep\\n' in names)\n"));
  ASSERT_EQ(second.finished.outcome(), Finished::OK)
      << second.finished.message() << second.stderr_text;
  EXPECT_EQ(second.stdout_text, "False False\nFalse\n");
  EXPECT_EQ(Metric(*server_, Claims()), 2);
}

TEST_F(E2eWarmPoolTest, TimeoutAndMemoryLimitEndWarmRunsLikeColdOnes) {
  StartServer();
  auto spin = MakeRequest("while True:\n    pass\n");
  spin.mutable_limits()->set_timeout_seconds(2);
  ExecuteOutcome timed_out = Execute(*stub_, spin);
  ASSERT_TRUE(timed_out.status.ok()) << timed_out.status.error_message();
  EXPECT_EQ(timed_out.finished.outcome(), Finished::TIMEOUT)
      << timed_out.finished.message();
  ASSERT_TRUE(WaitForIdle(kPoolSize));
  ExecuteOutcome oom = Execute(
      *stub_, MakeRequest("b = bytearray(2 << 30)\n"
                          "for i in range(0, len(b), 4096): b[i] = 1\n"));
  ASSERT_TRUE(oom.status.ok()) << oom.status.error_message();
  EXPECT_EQ(oom.finished.outcome(), Finished::OOM_KILLED)
      << oom.finished.message();
  EXPECT_EQ(Metric(*server_, Claims()), 2);
}

TEST_F(E2eWarmPoolTest, StoppedServerLeavesNoPodJobOrConfigMap) {
  StartServer();
  absl::StatusOr<std::map<std::string, std::vector<std::string>>> objects =
      cluster_->OurObjects();
  ASSERT_TRUE(objects.ok()) << objects.status();
  EXPECT_EQ((*objects)["jobs"].size(), static_cast<size_t>(kPoolSize));
  EXPECT_THAT((*objects)["configmaps"],
              ::testing::ElementsAre(::testing::StartsWith("ce-launcher-")));
  absl::StatusOr<int> status =
      server_->SignalAndWait(SIGTERM, absl::Seconds(60));
  ASSERT_TRUE(status.ok()) << status.status();
  absl::Status none_left = cluster_->WaitNoneLeft(absl::Seconds(60));
  EXPECT_TRUE(none_left.ok()) << none_left;
}

TEST_F(E2eWarmPoolTest, WithoutAttachRightsTheServerRefusesToStart) {
  SetAttachRights(false);
  std::vector<std::string> args = cluster_->ExecutorArgs();
  args.insert(args.end(), {"--set", "kubernetes.warmPool.size=1"});
  auto server = ServerProcess::Start(args);
  ASSERT_FALSE(server.ok()) << "started without pods/attach rights";
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("get pods/attach"));
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("create pods/attach"));
}

}  // namespace
}  // namespace codeexec::e2e
