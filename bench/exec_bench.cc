// Side-by-side latency of Execute(code) through one or more running services
// and of baseline commands (e.g. `runsc run` of a bundle prepared in advance,
// the floor of any runsc-based service), interleaved in one run: every round
// runs each side once, in an order that rotates from round to round.
//
//   exec_bench --service current=127.0.0.1:50051 --code 'print(1)'
//              --expect $'1\n' --runs 30
//              -- "floor=runsc run --bundle B floor >/dev/null" [NAME=CMD...]
//
// Services are --service NAME=HOST:PORT flags; every argument after `--` is a
// baseline NAME=COMMAND, run by /bin/sh.
//
// Prints one line per side (median, p95; for services also of the time to
// the first output byte), each service's ratio to every baseline, the
// first-byte ratios --first_byte_ratio asks for, and a JSON summary on the
// last line.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "codeexecutor/v1/code_executor.grpc.pb.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::vector<std::string>, service, {},
          "NAME=HOST:PORT of each running code-executor, comma-separated");
ABSL_FLAG(std::string, code, "print(1)", "the program every side runs");
ABSL_FLAG(std::string, expect, "1\n", "the stdout a service run must give");
ABSL_FLAG(int, runs, 30, "measured rounds (each side once per round)");
ABSL_FLAG(int, warmup, 3, "unmeasured rounds first");
ABSL_FLAG(std::vector<std::string>, first_byte_ratio, {},
          "A/B pairs of services whose first-byte medians to compare");

namespace {

using ::codeexecutor::v1::CodeExecutor;

struct Side {
  std::string name;
  bool is_service = false;
  std::string detail;  // address or command
  // Seconds to the end of the run, and (services) to the first output.
  std::function<std::pair<double, double>()> run_once;
  std::vector<double> seconds;
  std::vector<double> first_byte_seconds;
};

std::pair<double, double> ServiceOnce(CodeExecutor::Stub& stub,
                                      const std::string& name) {
  codeexecutor::v1::ExecuteRequest request;
  request.set_code(absl::GetFlag(FLAGS_code));
  grpc::ClientContext context;
  const absl::Time start = absl::Now();
  auto reader = stub.Execute(&context, request);
  codeexecutor::v1::ExecuteResponse response;
  std::string out;
  bool ok = false;
  double first_byte = -1;
  while (reader->Read(&response)) {
    if (response.has_output()) {
      if (first_byte < 0) {
        first_byte = absl::ToDoubleSeconds(absl::Now() - start);
      }
      out += response.output().data();
    }
    if (response.has_finished()) {
      ok = response.finished().outcome() == codeexecutor::v1::Finished::OK;
    }
  }
  grpc::Status status = reader->Finish();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!status.ok() || !ok || out != absl::GetFlag(FLAGS_expect)) {
    std::fprintf(stderr, "%s: run failed: %s %s\n", name.c_str(),
                 status.error_message().c_str(), out.c_str());
    std::exit(1);
  }
  return {seconds, first_byte};
}

std::pair<double, double> CommandOnce(const std::string& command,
                                      const std::string& name) {
  const absl::Time start = absl::Now();
  const int rc = std::system(command.c_str());
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (rc != 0) {
    std::fprintf(stderr, "%s: command failed (%d): %s\n", name.c_str(), rc,
                 command.c_str());
    std::exit(1);
  }
  return {seconds, -1};
}

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const size_t index = static_cast<size_t>(p * (values.size() - 1) + 0.5);
  return values[index];
}

// "NAME=VALUE" -> {NAME, VALUE}; exits on anything else.
std::pair<std::string, std::string> SplitNamed(const std::string& flag) {
  std::pair<std::string, std::string> named =
      absl::StrSplit(flag, absl::MaxSplits('=', 1));
  if (named.first.empty() || named.second.empty()) {
    std::fprintf(stderr, "expected NAME=VALUE, got \"%s\"\n", flag.c_str());
    std::exit(2);
  }
  return named;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<char*> baselines = absl::ParseCommandLine(argc, argv);
  std::vector<std::unique_ptr<CodeExecutor::Stub>> stubs;
  std::vector<Side> sides;
  for (const std::string& flag : absl::GetFlag(FLAGS_service)) {
    auto [name, address] = SplitNamed(flag);
    stubs.push_back(CodeExecutor::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials())));
    CodeExecutor::Stub* stub = stubs.back().get();
    sides.push_back(
        {.name = name,
         .is_service = true,
         .detail = address,
         .run_once = [stub, name] { return ServiceOnce(*stub, name); },
         .seconds = {},
         .first_byte_seconds = {}});
  }
  // baselines[0] is the program's own name.
  for (size_t i = 1; i < baselines.size(); ++i) {
    auto [name, command] = SplitNamed(baselines[i]);
    sides.push_back(
        {.name = name,
         .is_service = false,
         .detail = command,
         .run_once = [command, name] { return CommandOnce(command, name); },
         .seconds = {},
         .first_byte_seconds = {}});
  }
  if (sides.empty()) {
    std::fprintf(stderr, "nothing to measure: give --service or baselines\n");
    return 2;
  }
  for (int round = 0; round < absl::GetFlag(FLAGS_warmup); ++round) {
    for (Side& side : sides) side.run_once();
  }
  for (int round = 0; round < absl::GetFlag(FLAGS_runs); ++round) {
    for (size_t i = 0; i < sides.size(); ++i) {
      Side& side = sides[(round + i) % sides.size()];
      const auto [seconds, first_byte] = side.run_once();
      side.seconds.push_back(seconds);
      if (first_byte >= 0) side.first_byte_seconds.push_back(first_byte);
    }
  }

  nlohmann::json summary = {{"runs", absl::GetFlag(FLAGS_runs)},
                            {"code", absl::GetFlag(FLAGS_code)},
                            {"sides", nlohmann::json::array()}};
  for (const Side& side : sides) {
    const double median = Percentile(side.seconds, 0.5);
    const double p95 = Percentile(side.seconds, 0.95);
    std::printf("%-8s %-28s median %.3f s  p95 %.3f s   %s\n",
                side.is_service ? "service" : "baseline", side.name.c_str(),
                median, p95, side.detail.c_str());
    nlohmann::json entry = {{"name", side.name},
                            {"service", side.is_service},
                            {"detail", side.detail},
                            {"median_s", median},
                            {"p95_s", p95}};
    if (!side.first_byte_seconds.empty()) {
      const double first_median = Percentile(side.first_byte_seconds, 0.5);
      const double first_p95 = Percentile(side.first_byte_seconds, 0.95);
      std::printf("%-8s %-28s first output byte: median %.3f s  p95 %.3f s\n",
                  "", side.name.c_str(), first_median, first_p95);
      entry["first_byte_median_s"] = first_median;
      entry["first_byte_p95_s"] = first_p95;
    }
    summary["sides"].push_back(entry);
  }
  for (const std::string& pair : absl::GetFlag(FLAGS_first_byte_ratio)) {
    std::pair<std::string, std::string> names =
        absl::StrSplit(pair, absl::MaxSplits('/', 1));
    const Side* a = nullptr;
    const Side* b = nullptr;
    for (const Side& side : sides) {
      if (side.name == names.first) a = &side;
      if (side.name == names.second) b = &side;
    }
    if (a == nullptr || b == nullptr || a->first_byte_seconds.empty() ||
        b->first_byte_seconds.empty()) {
      std::fprintf(stderr, "--first_byte_ratio %s: no such services\n",
                   pair.c_str());
      return 2;
    }
    const double ratio = Percentile(a->first_byte_seconds, 0.5) /
                         Percentile(b->first_byte_seconds, 0.5);
    std::printf("first-byte ratio %s (medians): %.2f\n", pair.c_str(), ratio);
    summary["first_byte_ratios"][pair] = ratio;
  }
  for (const Side& service : sides) {
    if (!service.is_service) continue;
    for (const Side& baseline : sides) {
      if (baseline.is_service) continue;
      const double ratio =
          Percentile(service.seconds, 0.5) / Percentile(baseline.seconds, 0.5);
      std::printf("ratio %s / %s (medians): %.2f\n", service.name.c_str(),
                  baseline.name.c_str(), ratio);
      summary["ratios"][service.name + "/" + baseline.name] = ratio;
    }
  }
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}
