#include "tests/e2e/cluster_access.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace codeexec::e2e {
std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::string& input) {
  char dir_template[] = "/tmp/codeexec-e2e-cmd-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string in_path = dir + "/in", out_path = dir + "/out",
                    err_path = dir + "/err";
  std::ofstream(in_path) << input;
  CommandResult result;
  const pid_t pid = fork();
  if (pid == 0) {
    const int in = open(in_path.c_str(), O_RDONLY);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> args;
    for (const std::string& arg : argv) {
      args.push_back(const_cast<char*>(arg.c_str()));
    }
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  result.out = ReadWholeFile(out_path);
  result.err = ReadWholeFile(err_path);
  std::system(("rm -rf " + dir).c_str());
  return result;
}

absl::StatusOr<Cluster> Cluster::FromEnvFile() {
  const char* state = std::getenv("E2E_STATE_DIR");
  const std::string path = absl::StrCat(
      state != nullptr ? state : "/var/tmp/code-executor-e2e", "/env");
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no e2e cluster: ", path,
        " is missing (ctest starts one with `scripts/e2e-cluster up`)"));
  }
  Cluster cluster;
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest(line);
    if (!absl::ConsumePrefix(&rest, "export ")) continue;
    const size_t eq = rest.find('=');
    if (eq == absl::string_view::npos) continue;
    cluster.vars_[std::string(rest.substr(0, eq))] =
        std::string(rest.substr(eq + 1));
  }
  for (const char* required : {"E2E_KUBECTL", "E2E_ADMIN_KUBECONFIG",
                               "E2E_EXECUTOR_KUBECONFIG", "E2E_NAMESPACE"}) {
    if (!cluster.vars_.contains(required)) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " lacks ", required));
    }
  }
  return cluster;
}

const std::string& Cluster::Var(const std::string& name) const {
  static const std::string* const kEmpty = new std::string;
  auto it = vars_.find(name);
  return it == vars_.end() ? *kEmpty : it->second;
}

CommandResult Cluster::Kubectl(const std::vector<std::string>& args,
                               const std::string& input) const {
  return KubectlAs(Var("E2E_ADMIN_KUBECONFIG"), args, input);
}

CommandResult Cluster::KubectlAs(const std::string& kubeconfig,
                                 const std::vector<std::string>& args,
                                 const std::string& input) const {
  std::vector<std::string> argv = {Var("E2E_KUBECTL"), "--kubeconfig",
                                   kubeconfig};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, input);
}

absl::StatusOr<nlohmann::json> Cluster::GetJson(
    const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"get"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"-o", "json"});
  CommandResult got = Kubectl(argv);
  if (got.exit_code != 0) {
    return absl::UnavailableError(
        absl::StrCat("kubectl ", absl::StrJoin(argv, " "), ": ", got.err));
  }
  nlohmann::json parsed = nlohmann::json::parse(got.out, nullptr, false);
  if (parsed.is_discarded()) {
    return absl::InternalError("kubectl printed no JSON: " + got.out);
  }
  return parsed;
}

absl::StatusOr<std::map<std::string, std::vector<std::string>>>
Cluster::OurObjects(const std::string& selector) const {
  absl::StatusOr<nlohmann::json> list =
      GetJson({"-n", ns(), "jobs.batch,pods,configmaps", "-l", selector});
  if (!list.ok()) return list.status();
  std::map<std::string, std::vector<std::string>> names = {
      {"jobs", {}}, {"pods", {}}, {"configmaps", {}}};
  for (const auto& item : (*list)["items"]) {
    const std::string kind = item["kind"];
    const std::string key = kind == "Job"   ? "jobs"
                            : kind == "Pod" ? "pods"
                                            : "configmaps";
    names[key].push_back(item["metadata"]["name"]);
  }
  return names;
}

absl::Status Cluster::WaitNoneLeft(absl::Duration timeout,
                                   const std::string& selector) const {
  const absl::Time deadline = absl::Now() + timeout;
  std::string left;
  while (true) {
    auto objects = OurObjects(selector);
    if (!objects.ok()) return objects.status();
    left.clear();
    for (const auto& [kind, names] : *objects) {
      if (!names.empty()) {
        absl::StrAppend(&left, " ", kind, ": ", absl::StrJoin(names, ","));
      }
    }
    if (left.empty()) return absl::OkStatus();
    if (absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(250));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "still in ", ns(), " after ", absl::FormatDuration(timeout), ":", left));
}

std::vector<std::string> Cluster::ExecutorArgs() const {
  return {"--backend=kubernetes", "--set",
          absl::StrCat("kubernetes.kubeconfigPath=", executor_kubeconfig()),
          "--set", absl::StrCat("kubernetes.namespace=", ns())};
}

absl::StatusOr<std::string> HelmPath(const std::string& source_dir) {
  CommandResult helm = RunCommand({source_dir + "/scripts/install-helm"});
  if (helm.exit_code != 0) {
    return absl::FailedPreconditionError("scripts/install-helm: " + helm.err);
  }
  return std::string(absl::StripTrailingAsciiWhitespace(helm.out));
}

}  // namespace codeexec::e2e
