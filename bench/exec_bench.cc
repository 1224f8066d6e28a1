// Side-by-side latency of Execute(print(1)) through the service against the
// raw sandbox command it is measured against, alternating A B A B in one run.
//
//   exec_bench --target 127.0.0.1:50051 --runs 30 [--warmup 3]
//              [--raw "runsc --network=none do python3 -c 'print(1)'"]
//
// Prints one line per sample set and a JSON summary on the last line.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "codeexecutor/v1/code_executor.grpc.pb.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "code-executor address");
ABSL_FLAG(int, runs, 30, "measured runs of each side");
ABSL_FLAG(int, warmup, 3, "unmeasured runs of each side first");
ABSL_FLAG(std::string, raw,
          "runsc --network=none do python3 -c 'print(1)' >/dev/null",
          "the raw command (run by /bin/sh) the service is compared with");
ABSL_FLAG(std::string, floor, "",
          "optional second baseline (run by /bin/sh), e.g. `runsc run` of a "
          "prepared bundle: the least any runsc-based service can take");

namespace {

using ::codeexecutor::v1::CodeExecutor;

double ServiceOnce(CodeExecutor::Stub& stub) {
  codeexecutor::v1::ExecuteRequest request;
  request.set_code("print(1)");
  grpc::ClientContext context;
  const absl::Time start = absl::Now();
  auto reader = stub.Execute(&context, request);
  codeexecutor::v1::ExecuteResponse response;
  std::string out;
  bool ok = false;
  while (reader->Read(&response)) {
    if (response.has_output()) out += response.output().data();
    if (response.has_finished()) {
      ok = response.finished().outcome() == codeexecutor::v1::Finished::OK;
    }
  }
  grpc::Status status = reader->Finish();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!status.ok() || !ok || out != "1\n") {
    std::fprintf(stderr, "service run failed: %s %s\n",
                 status.error_message().c_str(), out.c_str());
    std::exit(1);
  }
  return seconds;
}

double RawOnce(const std::string& command) {
  const absl::Time start = absl::Now();
  const int rc = std::system(command.c_str());
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (rc != 0) {
    std::fprintf(stderr, "raw command failed (%d): %s\n", rc, command.c_str());
    std::exit(1);
  }
  return seconds;
}

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const size_t index = static_cast<size_t>(p * (values.size() - 1) + 0.5);
  return values[index];
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto stub = CodeExecutor::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()));
  const std::string raw = absl::GetFlag(FLAGS_raw);
  for (int i = 0; i < absl::GetFlag(FLAGS_warmup); ++i) {
    RawOnce(raw);
    ServiceOnce(*stub);
  }
  const std::string floor = absl::GetFlag(FLAGS_floor);
  std::vector<double> raw_seconds, service_seconds, floor_seconds;
  for (int i = 0; i < absl::GetFlag(FLAGS_runs); ++i) {
    raw_seconds.push_back(RawOnce(raw));                          // A
    service_seconds.push_back(ServiceOnce(*stub));                // B
    if (!floor.empty()) floor_seconds.push_back(RawOnce(floor));  // C
  }
  const double raw_median = Percentile(raw_seconds, 0.5);
  const double service_median = Percentile(service_seconds, 0.5);
  std::printf("raw     %-60s median %.3f s  p95 %.3f s\n", raw.c_str(),
              raw_median, Percentile(raw_seconds, 0.95));
  std::printf(
      "service Execute(print(1)) via gRPC%27s median %.3f s  p95 %.3f s\n", "",
      service_median, Percentile(service_seconds, 0.95));
  std::printf("ratio service/raw (medians): %.2f  (goal <= 1.10)\n",
              service_median / raw_median);
  if (!floor.empty()) {
    const double floor_median = Percentile(floor_seconds, 0.5);
    std::printf("floor   %-60s median %.3f s  p95 %.3f s\n", floor.c_str(),
                floor_median, Percentile(floor_seconds, 0.95));
    std::printf("ratio service/floor (medians): %.2f\n",
                service_median / floor_median);
  }
  nlohmann::json summary = {
      {"runs", raw_seconds.size()},
      {"raw_command", raw},
      {"raw_median_s", raw_median},
      {"raw_p95_s", Percentile(raw_seconds, 0.95)},
      {"service_median_s", service_median},
      {"service_p95_s", Percentile(service_seconds, 0.95)},
      {"ratio", service_median / raw_median}};
  if (!floor.empty()) {
    summary["floor_command"] = floor;
    summary["floor_median_s"] = Percentile(floor_seconds, 0.5);
    summary["floor_p95_s"] = Percentile(floor_seconds, 0.95);
    summary["ratio_to_floor"] = service_median / Percentile(floor_seconds, 0.5);
  }
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}
