#include "tests/e2e/in_cluster_release.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace codeexec::e2e {
namespace {

constexpr char kClientLabel[] = "code-executor.dev/client";
constexpr char kTokenDir[] = "/var/run/secrets/code-executor";
constexpr char kClientDir[] = "/opt/client";

absl::Status Failed(const std::string& what, const CommandResult& result) {
  return absl::InternalError(absl::StrCat(what, " (exit ", result.exit_code,
                                          "): ", result.err,
                                          result.out.substr(0, 2000)));
}

}  // namespace

InClusterRelease::InClusterRelease(const Cluster& cluster,
                                   std::string source_dir, std::string helm,
                                   ReleasePlacement placement)
    : cluster_(cluster),
      source_dir_(std::move(source_dir)),
      helm_(std::move(helm)),
      placement_(std::move(placement)) {
  if (placement_.ns.empty()) placement_.ns = cluster_.ns();
}

absl::Status InClusterRelease::PrepareAgents() const {
  for (const std::string& name : {ns(), agent_ns()}) {
    CommandResult made = cluster_.Kubectl({"create", "namespace", name});
    if (made.exit_code != 0 && !absl::StrContains(made.err, "AlreadyExists")) {
      return Failed("create namespace", made);
    }
  }
  for (const char* account : {"adk-agent", "other-agent"}) {
    CommandResult made = cluster_.Kubectl(
        {"create", "serviceaccount", account, "-n", agent_ns()});
    if (made.exit_code != 0 && !absl::StrContains(made.err, "AlreadyExists")) {
      return Failed("create serviceaccount", made);
    }
  }
  return InstallClientOnce();
}

absl::Status InClusterRelease::InstallClientOnce() const {
  // Release tests run side by side (the rotation test beside the others)
  // while agent pods import from this directory: it is made once per
  // cluster, in a staging directory renamed into place, never rewritten.
  const std::filesystem::path site = ClientSite();
  if (std::filesystem::exists(site)) return absl::OkStatus();
  const std::string staging = absl::StrCat(site.string(), ".", getpid());
  CommandResult installed =
      RunCommand({source_dir_ + "/build/venv/bin/pip", "install", "-q",
                  "--target", staging, source_dir_ + "/clients/python"});
  if (installed.exit_code != 0) return Failed("pip install", installed);
  std::ofstream(staging + "/agent_call.py")
      << ReadWholeFile(source_dir_ + "/tests/e2e/in_cluster/agent_call.py");
  std::error_code error;
  std::filesystem::rename(staging, site, error);
  if (error) {  // another test's rename won: use that one
    std::filesystem::remove_all(staging, error);
    if (!std::filesystem::exists(site)) {
      return absl::InternalError(absl::StrCat("cannot create ", site.string()));
    }
  }
  return absl::OkStatus();
}

std::string InClusterRelease::ClientSite() const {
  return cluster_.Var("E2E_STATE_DIR") + "/client-site";
}

absl::StatusOr<absl::Duration> InClusterRelease::Install() const {
  const absl::Time start = absl::Now();
  std::vector<std::string> args = {
      helm_,          "install",
      release(),      source_dir_ + "/charts/code-executor",
      "--kubeconfig", cluster_.Var("E2E_ADMIN_KUBECONFIG"),
      "--namespace",  ns(),
      "--values",     source_dir_ + "/tests/e2e/in_cluster/values.yaml",
      "--wait",       "--timeout",
      "180s"};
  for (const std::string& entry : placement_.set) {
    args.push_back("--set");
    args.push_back(entry);
  }
  CommandResult installed = RunCommand(args);
  if (installed.exit_code != 0) return Failed("helm install", installed);
  return absl::Now() - start;
}

absl::Status InClusterRelease::Upgrade(
    const std::vector<std::string>& set) const {
  std::vector<std::string> args = {helm_,
                                   "upgrade",
                                   release(),
                                   source_dir_ + "/charts/code-executor",
                                   "--kubeconfig",
                                   cluster_.Var("E2E_ADMIN_KUBECONFIG"),
                                   "--namespace",
                                   ns(),
                                   "--reuse-values",
                                   "--wait",
                                   "--timeout",
                                   "180s"};
  for (const std::string& entry : set) {
    args.push_back("--set");
    args.push_back(entry);
  }
  CommandResult upgraded = RunCommand(args);
  if (upgraded.exit_code != 0) return Failed("helm upgrade", upgraded);
  return absl::OkStatus();
}

absl::Status InClusterRelease::Uninstall() const {
  CommandResult removed =
      RunCommand({helm_, "uninstall", release(), "--kubeconfig",
                  cluster_.Var("E2E_ADMIN_KUBECONFIG"), "--namespace", ns(),
                  "--wait", "--timeout", "120s"});
  if (removed.exit_code != 0 && !absl::StrContains(removed.err, "not found")) {
    return Failed("helm uninstall", removed);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> InClusterRelease::Leftovers() const {
  std::vector<std::string> left;
  const std::string instance =
      absl::StrCat("app.kubernetes.io/instance=", release());
  CommandResult listed = cluster_.Kubectl(
      {"get",
       "deployments,replicasets,pods,services,endpointslices,configmaps,"
       "secrets,serviceaccounts,roles,rolebindings,networkpolicies,"
       "poddisruptionbudgets,horizontalpodautoscalers",
       "-n", ns(), "-l", instance, "-o", "name"});
  if (listed.exit_code != 0) return Failed("kubectl get", listed);
  CommandResult cluster_scoped =
      cluster_.Kubectl({"get", "clusterroles,clusterrolebindings", "-l",
                        instance, "-o", "name"});
  if (cluster_scoped.exit_code != 0) {
    return Failed("kubectl get", cluster_scoped);
  }
  for (const std::string& out : {listed.out, cluster_scoped.out}) {
    for (absl::string_view line :
         absl::StrSplit(out, '\n', absl::SkipEmpty())) {
      left.push_back(std::string(line));
    }
  }
  return left;
}

void InClusterRelease::RemoveAgents() const {
  std::vector<std::string> args = {"delete", "namespace", agent_ns()};
  if (ns() != cluster_.ns()) args.push_back(ns());
  for (const char* flag :
       {"--ignore-not-found", "--wait=true", "--timeout=120s"}) {
    args.push_back(flag);
  }
  cluster_.Kubectl(args);
}

absl::StatusOr<std::vector<std::string>> InClusterRelease::ReadyPods() const {
  absl::StatusOr<nlohmann::json> pods = cluster_.GetJson(
      {"pods", "-n", ns(), "-l",
       absl::StrCat("app.kubernetes.io/instance=", release())});
  if (!pods.ok()) return pods.status();
  std::vector<std::string> ready;
  for (const auto& pod : (*pods)["items"]) {
    if (pod["metadata"].contains("deletionTimestamp")) continue;
    for (const auto& condition :
         pod["status"].value("conditions", nlohmann::json::array())) {
      if (condition.value("type", "") == "Ready" &&
          condition.value("status", "") == "True") {
        ready.push_back(pod["metadata"].value("name", ""));
      }
    }
  }
  return ready;
}

absl::Status InClusterRelease::StartAgent(const AgentCall& call) const {
  CommandResult address = cluster_.Kubectl(
      {"get", "service", release(), "-n", ns(), "-o",
       "jsonpath={.spec.clusterIP}:{.spec.ports[?(@.name==\"grpc\")].port}"});
  if (address.exit_code != 0) return Failed("get service", address);
  nlohmann::json token_source = {{"expirationSeconds", 600}, {"path", "token"}};
  if (!call.audience.empty()) token_source["audience"] = call.audience;
  const nlohmann::json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", call.pod_name},
        {"namespace", agent_ns()},
        {"labels", {{kClientLabel, "true"}}}}},
      {"spec",
       {{"serviceAccountName", call.account},
        {"automountServiceAccountToken", false},
        {"restartPolicy", "Never"},
        {"containers",
         {{{"name", "agent"},
           {"image", "docker.io/library/python:3.11-slim"},
           {"imagePullPolicy", "Never"},
           {"command", {"python3", absl::StrCat(kClientDir, "/agent_call.py")}},
           {"env",
            {{{"name", "PYTHONPATH"}, {"value", kClientDir}},
             {{"name", "CODE_EXECUTOR_TARGET"}, {"value", address.out}},
             {{"name", "CODE_EXECUTOR_TOKEN_FILE"},
              {"value", absl::StrCat(kTokenDir, "/token")}},
             {{"name", "AGENT_CODE"}, {"value", call.code}},
             {{"name", "AGENT_REPEAT"}, {"value", std::to_string(call.repeat)}},
             {{"name", "AGENT_INTERVAL"},
              {"value", std::to_string(call.interval_seconds)}}}},
           {"volumeMounts",
            {{{"name", "client"},
              {"mountPath", kClientDir},
              {"readOnly", true}},
             {{"name", "token"},
              {"mountPath", kTokenDir},
              {"readOnly", true}}}}}}},
        {"volumes",
         {{{"name", "client"},
           {"hostPath", {{"path", ClientSite()}, {"type", "Directory"}}}},
          {{"name", "token"},
           {"projected",
            {{"sources", {{{"serviceAccountToken", token_source}}}}}}}}}}}};
  CommandResult applied = cluster_.Kubectl({"apply", "-f", "-"}, pod.dump());
  if (applied.exit_code != 0) return Failed("apply agent pod", applied);
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> InClusterRelease::AwaitAgent(
    const std::string& pod_name, absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  std::string phase;
  while (absl::Now() < deadline) {
    CommandResult got =
        cluster_.Kubectl({"get", "pod", pod_name, "-n", agent_ns(), "-o",
                          "jsonpath={.status.phase}"});
    phase = got.out;
    if (phase == "Succeeded" || phase == "Failed") break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  CommandResult logs = cluster_.Kubectl({"logs", pod_name, "-n", agent_ns()});
  if (phase != "Succeeded") {
    return absl::DeadlineExceededError(
        absl::StrCat("agent pod ", pod_name, " is ", phase,
                     "; its log: ", logs.out, logs.err));
  }
  const nlohmann::json report =
      nlohmann::json::parse(logs.out, nullptr, /*allow_exceptions=*/false);
  if (!report.is_object()) {
    return absl::InternalError(absl::StrCat("agent pod printed: ", logs.out));
  }
  return report;
}

std::vector<nlohmann::json> InClusterRelease::AuditEvents(
    const std::string& verb, const std::string& resource,
    absl::Time since) const {
  std::vector<nlohmann::json> events;
  std::ifstream log(cluster_.Var("E2E_AUDIT_LOG"));
  std::string line;
  while (std::getline(log, line)) {
    nlohmann::json event =
        nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!event.is_object() || event.value("verb", "") != verb ||
        event.value("stage", "") != "ResponseComplete") {
      continue;
    }
    if (event.value("/objectRef/resource"_json_pointer, std::string()) !=
        resource) {
      continue;
    }
    absl::Time received;
    std::string parse_error;
    if (!absl::ParseTime(absl::RFC3339_full,
                         event.value("requestReceivedTimestamp", ""), &received,
                         &parse_error) ||
        received < since) {
      continue;
    }
    events.push_back(std::move(event));
  }
  return events;
}

}  // namespace codeexec::e2e
