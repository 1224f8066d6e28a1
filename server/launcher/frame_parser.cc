#include "server/launcher/frame_parser.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/launcher/frame_format.h"

namespace codeexec {
namespace {

constexpr absl::string_view kPrefix = CE_FRAME_PREFIX;

// A frame's one-letter tag.
bool IsTag(absl::string_view field, char tag) {
  return field.size() == 1 && field[0] == tag;
}

// Strict standard base64 with padding: only the launcher's canonical form.
bool DecodeBase64(absl::string_view text, std::string* out) {
  if (text.size() % 4 != 0) return false;
  if (!absl::Base64Unescape(text, out)) return false;
  return absl::Base64Escape(*out) == text;
}

LauncherEvent Foreign(absl::string_view line) {
  LauncherEvent event;
  event.kind = LauncherEvent::Kind::kForeign;
  event.data = std::string(line);
  return event;
}

}  // namespace

bool IsSafeRelativePath(absl::string_view path) {
  if (path.empty() || path.front() == '/' ||
      path.find('\0') != absl::string_view::npos) {
    return false;
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

LauncherEvent FrameParser::ParseFrame(absl::string_view line) {
  if (!absl::StartsWith(line, kPrefix)) return Foreign(line);
  const std::vector<absl::string_view> fields =
      absl::StrSplit(line.substr(kPrefix.size()), ' ');
  const absl::string_view tag = fields[0];
  LauncherEvent event;
  if ((IsTag(tag, CE_FRAME_STDOUT) || IsTag(tag, CE_FRAME_STDERR)) &&
      fields.size() == 2) {
    event.kind = IsTag(tag, CE_FRAME_STDOUT) ? LauncherEvent::Kind::kStdout
                                             : LauncherEvent::Kind::kStderr;
    if (!DecodeBase64(fields[1], &event.data)) return Foreign(line);
  } else if (IsTag(tag, CE_FRAME_FILE) && fields.size() == 3) {
    event.kind = LauncherEvent::Kind::kFile;
    if (!DecodeBase64(fields[1], &event.path) ||
        !IsSafeRelativePath(event.path) ||
        !DecodeBase64(fields[2], &event.data)) {
      return Foreign(line);
    }
  } else if (IsTag(tag, CE_FRAME_TRUNCATED) && fields.size() == 1) {
    event.kind = LauncherEvent::Kind::kFilesTruncated;
  } else if (IsTag(tag, CE_FRAME_EXIT) &&
             (fields.size() == 2 ||
              (fields.size() == 3 && fields[2] == CE_FRAME_SESSION_END))) {
    event.kind = LauncherEvent::Kind::kExit;
    event.session_ended = fields.size() == 3;
    // Digits only: SimpleAtoi would also take "+3" or " 3".
    if (fields[1].empty() || fields[1].size() > 3 ||
        fields[1].find_first_not_of("0123456789") != absl::string_view::npos ||
        !absl::SimpleAtoi(fields[1], &event.exit_code) ||
        event.exit_code > 255) {
      return Foreign(line);
    }
  } else {
    return Foreign(line);
  }
  return event;
}

std::vector<LauncherEvent> FrameParser::ParseLine(absl::string_view line) {
  std::vector<LauncherEvent> events;
  events.push_back(ParseFrame(line));
  return events;
}

std::vector<LauncherEvent> FrameParser::Feed(absl::string_view chunk) {
  std::vector<LauncherEvent> events;
  while (!chunk.empty()) {
    const size_t newline = chunk.find('\n');
    const absl::string_view piece = chunk.substr(0, newline);
    if (!dropping_) {
      if (partial_.size() + piece.size() > max_line_bytes_) {
        dropping_ = true;
        partial_.clear();
        partial_.shrink_to_fit();
      } else {
        partial_.append(piece.data(), piece.size());
      }
    }
    if (newline == absl::string_view::npos) break;
    CompleteLine(events);
    chunk.remove_prefix(newline + 1);
  }
  return events;
}

std::vector<LauncherEvent> FrameParser::Finish() {
  std::vector<LauncherEvent> events;
  if (!partial_.empty() || dropping_) CompleteLine(events);
  return events;
}

void FrameParser::CompleteLine(std::vector<LauncherEvent>& events) {
  if (dropping_) {
    events.push_back(
        Foreign(absl::StrCat("[code-executor: dropped a log line longer than ",
                             max_line_bytes_, " bytes]")));
  } else {
    events.push_back(ParseFrame(partial_));
  }
  partial_.clear();
  dropping_ = false;
}

}  // namespace codeexec
