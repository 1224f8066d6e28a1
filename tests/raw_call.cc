#include "tests/raw_call.h"

#include <grpcpp/generic/generic_stub.h>

#include "absl/synchronization/mutex.h"

namespace codeexec::testing {
namespace {

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

class Reactor final
    : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit Reactor(const std::vector<std::string>& requests) {
    for (const std::string& request : requests) {
      grpc::Slice slice(request);
      outgoing_.emplace_back(&slice, 1);
    }
  }

  void Start() {
    StartRead(&incoming_);
    WriteNext();
    StartCall();
  }

  RawCallResult Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    return result_;
  }

  void OnWriteDone(bool ok) override {
    if (ok) {
      WriteNext();
    } else {
      StartWritesDone();
    }
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      absl::MutexLock lock(&mu_);
      result_.responses.push_back(ToString(incoming_));
    }
    StartRead(&incoming_);
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    result_.status = status;
    done_ = true;
  }

 private:
  void WriteNext() {
    if (next_ < outgoing_.size()) {
      StartWrite(&outgoing_[next_++]);
    } else {
      StartWritesDone();
    }
  }

  std::vector<grpc::ByteBuffer> outgoing_;
  size_t next_ = 0;
  grpc::ByteBuffer incoming_;
  absl::Mutex mu_;
  RawCallResult result_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

void AppendVarint(uint64_t value, std::string& out) {
  for (; value >= 0x80; value >>= 7) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
  }
  out.push_back(static_cast<char>(value));
}

}  // namespace

RawCallResult RawCall(const std::string& target, const std::string& method,
                      const std::vector<std::string>& requests,
                      absl::Duration timeout) {
  grpc::GenericStub stub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  Reactor reactor(requests);
  stub.PrepareBidiStreamingCall(&context, method, grpc::StubOptions(),
                                &reactor);
  reactor.Start();
  return reactor.Wait();
}

std::string Varint(uint32_t number, uint64_t value) {
  std::string out;
  AppendVarint(uint64_t{number} << 3, out);  // wire type 0
  AppendVarint(value, out);
  return out;
}

std::string LengthDelimited(uint32_t number, std::string_view bytes) {
  std::string out;
  AppendVarint((uint64_t{number} << 3) | 2, out);  // wire type 2
  AppendVarint(bytes.size(), out);
  out.append(bytes);
  return out;
}

}  // namespace codeexec::testing
