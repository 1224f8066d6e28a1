// ApiHandlers' pods/{name}/attach: the WebSocket channel protocol
// (v5.channel.k8s.io or v4.channel.k8s.io, binary messages whose first byte
// is the channel) between a client and the fake kubelet's container, as
// kube-apiserver and the kubelet serve it together: channel 0 goes to the
// container's stdin, its stdout and stderr come on 1 and 2 from the moment
// of attaching, and when the container's process ends a metav1.Status
// (Success: attach does not report exit codes) comes on 3 and the server
// closes. With stdinOnce, stdin closes when the first session ends. An
// injected fault can cut the stream mid-run (FaultInjector).
//
// Not faked: SPDY (POST) attach, the v1-v3 and base64 protocols, tty and
// resize, and the initial empty "channel open" messages.
#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "tests/fake_kube/api_handlers.h"
#include "tests/fake_kube/pod_status.h"
#include "tests/fake_kube/websocket.h"

namespace codeexec::fake_kube {
namespace {

using json = nlohmann::json;

constexpr absl::Duration kAttachPoll = absl::Milliseconds(100);
// After its close frame, how long the server waits for the client's.
constexpr absl::Duration kCloseGrace = absl::Seconds(2);
// Output is sent in messages of at most this many bytes.
constexpr size_t kMaxMessageData = 32 * 1024;
constexpr char kStatusChannel = 3;
constexpr unsigned char kCloseChannel = 255;  // v5: "close this channel"

// The channel protocol to speak: the first of ours the client offers.
std::string ChooseProtocol(const std::string& offered) {
  std::vector<std::string> names;
  for (absl::string_view name : absl::StrSplit(offered, ',')) {
    names.emplace_back(absl::StripAsciiWhitespace(name));
  }
  for (const char* ours : {"v5.channel.k8s.io", "v4.channel.k8s.io"}) {
    if (std::find(names.begin(), names.end(), ours) != names.end()) {
      return ours;
    }
  }
  return "";
}

// Whether the pod's container is asked to close stdin after one session.
bool StdinOnce(const json& pod) {
  const json& containers = JsonAt(pod, {"spec", "containers"});
  return containers.is_array() && !containers.empty() &&
         containers[0].contains("stdinOnce") &&
         containers[0]["stdinOnce"] == true;
}

}  // namespace

void ApiHandlers::Attach(Call& call) {
  const HttpRequest& request = call.request;
  if (faults_.IsForbidden(
          {"create", "pods/attach", call.route.ns, call.route.name})) {
    // Since 1.31 a WebSocket GET of attach is also authorised as create.
    return ReplyForbidden(call);
  }
  const ObjectRef ref = {&kPods, call.route.ns, call.route.name, ""};
  absl::StatusOr<json> pod = store_.Get(ref);
  if (!pod.ok()) return ReplyError(call, pod.status());
  const std::string container = ContainerName(*pod);
  const std::string asked = request.Query("container");
  if (!asked.empty() && asked != container) {
    return ReplyError(call, absl::FailedPreconditionError(absl::StrCat(
                                "container ", asked, " is not valid for pod ",
                                call.route.name)));
  }
  if (absl::AsciiStrToLower(request.Header("upgrade")) != "websocket") {
    return ReplyError(
        call, absl::FailedPreconditionError("Upgrade request required"));
  }
  const std::string phase =
      JsonAt(*pod, {"status", "phase"}).is_string()
          ? JsonAt(*pod, {"status", "phase"}).get<std::string>()
          : "";
  if (phase == "Succeeded" || phase == "Failed") {
    return ReplyError(call, absl::FailedPreconditionError(absl::StrCat(
                                "cannot attach a container in a completed "
                                "pod; current phase is ",
                                phase)));
  }
  if (ContainerStateName(*pod) != "running") {
    return ReplyError(call, absl::FailedPreconditionError(absl::StrCat(
                                "container ", container, " in pod ",
                                call.route.name, " is not running")));
  }
  const std::string protocol =
      ChooseProtocol(request.Header("sec-websocket-protocol"));
  const std::string key = request.Header("sec-websocket-key");
  if (protocol.empty() || key.empty()) {
    return ReplyError(call, absl::FailedPreconditionError(
                                "the fake apiserver speaks only "
                                "v5.channel.k8s.io and v4.channel.k8s.io"));
  }
  const std::string uid = MetadataString(*pod, "uid");
  std::shared_ptr<PodLog> log = kubelet_.Log(uid);
  std::shared_ptr<PodStdin> input =
      QueryBool(request.Query("stdin")) ? kubelet_.Stdin(uid) : nullptr;
  if (log == nullptr) {
    return ReplyError(call, absl::FailedPreconditionError(absl::StrCat(
                                "pod ", call.route.name, " is not running")));
  }
  stats_.SetCode(call.record, 101);
  const int fd = call.responder.SwitchProtocols(
      {{"Upgrade", "websocket"},
       {"Connection", "Upgrade"},
       {"Sec-WebSocket-Accept", WebSocketAccept(key)},
       {"Sec-WebSocket-Protocol", protocol}});
  if (fd < 0) return;
  WebSocketConnection socket(fd);
  const std::optional<int64_t> drop_after = faults_.TakeAttachDrop();
  const bool send_stdout = QueryBool(request.Query("stdout"));
  const bool send_stderr = QueryBool(request.Query("stderr"));
  std::atomic<bool> client_done{false};
  absl::Notification reader_done;

  // The container's output, from the moment of attaching, then the status.
  std::thread forwarder([&, offset = log->Size()]() mutable {
    int64_t sent = 0;
    while (!stopping_ && !client_done) {
      PodLog::Pieces next =
          log->ReadPiecesFrom(offset, absl::Now() + kAttachPoll);
      offset = next.end;
      for (const PodLog::Piece& piece : next.pieces) {
        if (piece.stream == PodStream::kStdout ? !send_stdout : !send_stderr) {
          continue;
        }
        absl::string_view rest = piece.data;
        while (!rest.empty()) {
          size_t size = std::min(rest.size(), kMaxMessageData);
          if (drop_after.has_value()) {
            size = std::min<size_t>(size,
                                    std::max<int64_t>(*drop_after - sent, 0));
            if (size == 0) return socket.Shutdown();  // the injected drop
          }
          const std::string message =
              absl::StrCat(std::string(1, static_cast<char>(piece.stream)),
                           rest.substr(0, size));
          if (!socket.WriteBinary(message)) return;
          sent += static_cast<int64_t>(size);
          rest.remove_prefix(size);
        }
      }
      if (next.finished) {
        if (drop_after.has_value()) return socket.Shutdown();
        socket.WriteBinary(absl::StrCat(
            std::string(1, kStatusChannel),
            json({{"metadata", json::object()}, {"status", "Success"}})
                .dump()));
        socket.WriteClose(1000);
        reader_done.WaitForNotificationWithTimeout(kCloseGrace);
        return socket.Shutdown();
      }
    }
    socket.Shutdown();
  });

  // The client's messages: stdin data, and v5's close of stdin.
  while (std::optional<std::string> message = socket.ReadMessage()) {
    if (message->empty()) continue;
    const unsigned char channel = static_cast<unsigned char>((*message)[0]);
    if (channel == 0 && input != nullptr) {
      input->Write(absl::string_view(*message).substr(1));
    } else if (channel == kCloseChannel && protocol[1] == '5' &&
               message->size() == 2 && (*message)[1] == 0 && input != nullptr) {
      input->Close();
    }
  }
  reader_done.Notify();
  client_done = true;
  if (input != nullptr && StdinOnce(*pod)) input->Close();
  socket.Shutdown();
  forwarder.join();
}

}  // namespace codeexec::fake_kube
