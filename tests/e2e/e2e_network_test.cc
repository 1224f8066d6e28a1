// Test traffic stays on loopback: after `scripts/e2e-cluster up`, every
// socket a process of the cluster listens on in the host's network namespace
// is bound to a loopback address, and the pod network (bridge, gateway
// address, veths) lives only in the node's own namespace.
#include <arpa/inet.h>
#include <dirent.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/cluster_access.h"

namespace codeexec::e2e {
namespace {

struct Listener {
  std::string table;    // "tcp", "tcp6", "udp", "udp6"
  std::string address;  // printable, e.g. "127.0.0.1" or "::1"
  bool loopback = false;
  int port = 0;
};

// /proc/net/<table>'s address "0100007F:1F90" (IPv4) or 32 hex digits
// (IPv6), in the kernel's byte order per 32-bit word.
Listener ParseAddress(const std::string& table, const std::string& field) {
  Listener listener;
  listener.table = table;
  const std::vector<std::string> parts = absl::StrSplit(field, ':');
  listener.port = static_cast<int>(std::stoul(parts[1], nullptr, 16));
  const std::string& hex = parts[0];
  char text[INET6_ADDRSTRLEN] = {};
  if (hex.size() == 8) {
    in_addr address;
    address.s_addr = static_cast<uint32_t>(std::stoul(hex, nullptr, 16));
    inet_ntop(AF_INET, &address, text, sizeof(text));
    listener.loopback = (ntohl(address.s_addr) >> 24) == 127;
  } else {
    in6_addr address;
    for (int word = 0; word < 4; ++word) {
      const uint32_t value = static_cast<uint32_t>(
          std::stoul(hex.substr(word * 8, 8), nullptr, 16));
      std::memcpy(&address.s6_addr[word * 4], &value, 4);
    }
    inet_ntop(AF_INET6, &address, text, sizeof(text));
    listener.loopback =
        IN6_IS_ADDR_LOOPBACK(&address) ||
        (IN6_IS_ADDR_V4MAPPED(&address) && address.s6_addr[12] == 127);
  }
  listener.address = text;
  return listener;
}

// Listening TCP sockets and bound UDP sockets of the host's namespace (this
// process's), by socket inode.
std::map<std::string, Listener> HostListeners() {
  std::map<std::string, Listener> listeners;
  for (const std::string table : {"tcp", "tcp6", "udp", "udp6"}) {
    std::ifstream in("/proc/net/" + table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid,
          timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >>
          retransmits >> uid >> timeout >> inode;
      // TCP_LISTEN is 0A; a UDP socket that receives is 07 (TCP_CLOSE).
      const bool tcp = absl::StartsWith(table, "tcp");
      if ((tcp && state != "0A") || (!tcp && state != "07")) continue;
      listeners[inode] = ParseAddress(table, local);
    }
  }
  return listeners;
}

std::string ReadLink(const std::string& path) {
  char target[4096];
  const ssize_t size = readlink(path.c_str(), target, sizeof(target) - 1);
  return size < 0 ? "" : std::string(target, size);
}

// Socket inode -> the pids that hold it.
std::map<std::string, std::set<int>> SocketOwners() {
  std::map<std::string, std::set<int>> owners;
  DIR* proc = opendir("/proc");
  while (dirent* entry = readdir(proc)) {
    int pid;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    const std::string fd_dir = absl::StrCat("/proc/", pid, "/fd");
    DIR* fds = opendir(fd_dir.c_str());
    if (fds == nullptr) continue;
    while (dirent* fd = readdir(fds)) {
      const std::string target = ReadLink(fd_dir + "/" + fd->d_name);
      if (absl::StartsWith(target, "socket:[")) {
        owners[target.substr(8, target.size() - 9)].insert(pid);
      }
    }
    closedir(fds);
  }
  closedir(proc);
  return owners;
}

// Whether `pid` is one of the cluster's processes: a binary of the cluster
// (Kubernetes, containerd and its shims, runsc), or one whose command line
// names the cluster's state directory.
// A process of the cluster: one of its binaries, or a process naming its
// state dir or its node's network namespace (the relays into it).
bool IsClusterProcess(int pid, const std::string& state_dir,
                      const std::string& node_netns) {
  static const std::set<std::string> kBinaries = {"etcd",
                                                  "kube-apiserver",
                                                  "kube-controller-manager",
                                                  "kube-scheduler",
                                                  "kubelet",
                                                  "kube-proxy",
                                                  "containerd",
                                                  "containerd-shim-runsc-v1",
                                                  "containerd-shim-runc-v2",
                                                  "runsc"};
  const std::string exe = ReadLink(absl::StrCat("/proc/", pid, "/exe"));
  const std::string name = exe.substr(exe.rfind('/') + 1);
  if (kBinaries.count(name) > 0) return true;
  const std::string cmdline =
      ReadWholeFile(absl::StrCat("/proc/", pid, "/cmdline"));
  return absl::StrContains(cmdline, state_dir) ||
         absl::StrContains(cmdline, absl::StrCat("/run/netns/", node_netns));
}

class E2eNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Cluster> cluster = Cluster::FromEnvFile();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }
  Cluster cluster_;
};

TEST_F(E2eNetworkTest, ClusterServersListenOnlyOnLoopback) {
  const std::map<std::string, Listener> listeners = HostListeners();
  const std::map<std::string, std::set<int>> owners = SocketOwners();
  const std::string& state_dir = cluster_.Var("E2E_STATE_DIR");
  std::set<int> cluster_ports;
  for (const auto& [inode, listener] : listeners) {
    auto owner = owners.find(inode);
    if (owner == owners.end()) continue;
    for (int pid : owner->second) {
      if (!IsClusterProcess(pid, state_dir, cluster_.Var("E2E_NODE_NETNS"))) {
        continue;
      }
      const std::string exe = ReadLink(absl::StrCat("/proc/", pid, "/exe"));
      EXPECT_TRUE(listener.loopback)
          << exe << " (pid " << pid << ") listens on " << listener.table << " "
          << listener.address << ":" << listener.port;
      cluster_ports.insert(listener.port);
    }
  }
  // The check above saw the servers clients talk to: the API server (at the
  // address every kubeconfig names) and the kubelet (its relay).
  const std::string api_server = cluster_.Var("E2E_API_SERVER");
  ASSERT_TRUE(absl::StartsWith(api_server, "https://127.0.0.1:")) << api_server;
  int api_port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(api_server.substr(18), &api_port));
  EXPECT_THAT(cluster_ports, ::testing::IsSupersetOf({api_port, 10250}));
  for (const char* kubeconfig :
       {"E2E_ADMIN_KUBECONFIG", "E2E_EXECUTOR_KUBECONFIG",
        "E2E_PEER_KUBECONFIG"}) {
    EXPECT_THAT(ReadWholeFile(cluster_.Var(kubeconfig)),
                ::testing::HasSubstr("server: https://127.0.0.1:"))
        << kubeconfig;
  }
}

TEST_F(E2eNetworkTest, PodNetworkLivesInTheNodesNamespace) {
  // A gVisor pod gives the node's namespace its bridge and gateway address
  // (in the namespace without Pod Security admission: a bare probe pod).
  const std::string ns = cluster_.Var("E2E_BENCH_NAMESPACE");
  const std::string pod = "network-probe";
  CommandResult created =
      cluster_.Kubectl({"-n", ns, "run", pod, "--restart=Never",
                        "--image=docker.io/library/python:3.11-slim",
                        "--image-pull-policy=Never", "--overrides",
                        R"({"spec":{"runtimeClassName":"gvisor",)"
                        R"("automountServiceAccountToken":false}})",
                        "--command", "--", "python3", "-c", "print(1)"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  CommandResult done = cluster_.Kubectl(
      {"-n", ns, "wait", "pod/" + pod,
       "--for=jsonpath={.status.phase}=Succeeded", "--timeout=120s"});
  EXPECT_EQ(done.exit_code, 0) << done.err;
  const std::string netns = cluster_.Var("E2E_NODE_NETNS");
  const std::string gateway = cluster_.Var("E2E_POD_GATEWAY");
  CommandResult node = RunCommand({"ip", "-n", netns, "-o", "addr", "show"});
  EXPECT_THAT(node.out, ::testing::HasSubstr("inet " + gateway + "/"));
  CommandResult host = RunCommand({"ip", "-o", "addr", "show"});
  ASSERT_EQ(host.exit_code, 0) << host.err;
  EXPECT_THAT(host.out, ::testing::Not(::testing::HasSubstr(gateway)));
  EXPECT_THAT(host.out, ::testing::Not(::testing::HasSubstr("ce-e2e0")));
  cluster_.Kubectl({"-n", ns, "delete", "pod", pod, "--wait=true"});
}

}  // namespace
}  // namespace codeexec::e2e
