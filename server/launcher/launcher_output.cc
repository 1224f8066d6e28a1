#include "server/launcher/launcher_output.h"

#include <algorithm>
#include <string_view>
#include <utility>

namespace codeexec {

using Kind = LauncherEvent::Kind;

LauncherOutput::LauncherOutput(const ExecutionSpec& spec, OutputSink& sink)
    : spec_(spec), sink_(sink) {}

bool LauncherOutput::Consume(LauncherEvent& event) {
  if (exit_code_.has_value()) return !output_limit_reached_;
  switch (event.kind) {
    case Kind::kStdout:
    case Kind::kStderr: {
      if (output_limit_reached_) return false;
      const int64_t room = spec_.max_output_bytes - delivered_bytes_;
      const bool over = static_cast<int64_t>(event.data.size()) > room;
      const size_t take = over ? static_cast<size_t>(std::max<int64_t>(0, room))
                               : event.data.size();
      if (take > 0) {
        sink_.OnOutput(event.kind == Kind::kStdout ? OutputStream::kStdout
                                                   : OutputStream::kStderr,
                       std::string_view(event.data.data(), take));
        delivered_bytes_ += static_cast<int64_t>(take);
      }
      if (over) output_limit_reached_ = true;
      return !over;
    }
    case Kind::kFile:
      AddFile(event);
      break;
    case Kind::kFilesTruncated:
      files_truncated_ = true;
      break;
    case Kind::kExit:
      exit_code_ = event.exit_code;
      session_ended_ = event.session_ended;
      break;
    case Kind::kForeign:
      if (diagnostics_.size() < kMaxDiagnosticsBytes) {
        if (!diagnostics_.empty()) diagnostics_ += '\n';
        diagnostics_.append(
            event.data, 0,
            kMaxDiagnosticsBytes -
                std::min(kMaxDiagnosticsBytes, diagnostics_.size()));
      }
      break;
  }
  return !output_limit_reached_;
}

void LauncherOutput::AddFile(LauncherEvent& event) {
  const int64_t size = static_cast<int64_t>(event.data.size());
  const bool duplicate =
      std::any_of(files_.begin(), files_.end(),
                  [&](const WorkspaceFile& f) { return f.path == event.path; });
  if (duplicate) return;
  if (static_cast<int>(files_.size()) >= spec_.max_output_files ||
      file_bytes_ + size > spec_.max_output_file_bytes) {
    files_truncated_ = true;
    return;
  }
  file_bytes_ += size;
  files_.push_back({std::move(event.path), std::move(event.data)});
}

void LauncherOutput::TakeFiles(ExecutionResult& result) {
  result.output_files = std::move(files_);
  result.output_files_truncated = files_truncated_;
  files_.clear();
}

}  // namespace codeexec
