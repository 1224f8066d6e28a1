// fake_kube_apiserver: the fake kube-apiserver (tests/fake_kube) as a
// process, for benchmarks and manual runs.
//
//   fake_kube_apiserver [--port 0] [--kubelet runsc|instant]
//       [--ports_file F] [--token T] [--schedule_delay_ms N]
//       [--instant_run_ms N] [--instant_log TEXT] [--instant_final_log TEXT]
//       [--bookmark_interval_ms N]
//
// Prints "fake kube-apiserver listening on http://127.0.0.1:<port>" and, with
// --ports_file, writes the port number to F. SIGTERM or SIGINT stops it
// (killing every sandbox it runs). Request counts and objects: GET
// /debug/fake/requests[?namespace=NS]; POST /debug/fake/reset zeroes the
// counts (fake_kube_apiserver.h). --instant_final_log is written when an
// instant pod ends (--instant_run_ms after it started).
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "tests/fake_kube/fake_kube_apiserver.h"

namespace {

int Usage(const char* problem) {
  std::fprintf(stderr,
               "fake_kube_apiserver: %s\nusage: fake_kube_apiserver [--port N] "
               "[--kubelet runsc|instant] [--ports_file F] [--token T] "
               "[--schedule_delay_ms N] [--instant_run_ms N] "
               "[--instant_log TEXT] [--instant_final_log TEXT] "
               "[--bookmark_interval_ms N]\n",
               problem);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using codeexec::fake_kube::FakeKubeApiServer;
  using codeexec::fake_kube::FakeKubeOptions;
  using codeexec::fake_kube::KubeletMode;
  FakeKubeOptions options;
  std::string ports_file;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return Usage(("missing value for " + flag).c_str());
    const std::string value = argv[++i];
    int number = 0;
    const bool numeric = absl::SimpleAtoi(value, &number) && number >= 0;
    if (flag == "--port" && numeric) {
      options.port = number;
    } else if (flag == "--kubelet" &&
               (value == "runsc" || value == "instant")) {
      options.kubelet.mode =
          value == "runsc" ? KubeletMode::kRunsc : KubeletMode::kInstant;
    } else if (flag == "--ports_file") {
      ports_file = value;
    } else if (flag == "--token") {
      options.required_bearer_token = value;
    } else if (flag == "--schedule_delay_ms" && numeric) {
      options.kubelet.schedule_delay = absl::Milliseconds(number);
    } else if (flag == "--instant_run_ms" && numeric) {
      options.kubelet.instant_run_time = absl::Milliseconds(number);
    } else if (flag == "--instant_log") {
      options.kubelet.instant_log = value;
    } else if (flag == "--instant_final_log") {
      options.kubelet.instant_final_log = value;
    } else if (flag == "--bookmark_interval_ms" && numeric && number > 0) {
      options.bookmark_interval = absl::Milliseconds(number);
    } else {
      return Usage(("bad flag or value: " + flag + " " + value).c_str());
    }
  }
  // Signals are taken by sigwait below, not by any thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = FakeKubeApiServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "fake_kube_apiserver: %s\n",
                 server.status().ToString().c_str());
    return 1;
  }
  std::printf("fake kube-apiserver listening on %s\n",
              (*server)->url().c_str());
  std::fflush(stdout);
  if (!ports_file.empty()) {
    std::ofstream out(ports_file + ".tmp");
    out << (*server)->port() << "\n";
    out.close();
    std::rename((ports_file + ".tmp").c_str(), ports_file.c_str());
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "fake_kube_apiserver: %s, stopping\n",
               strsignal(signal_number));
  (*server)->Stop();
  return 0;
}
