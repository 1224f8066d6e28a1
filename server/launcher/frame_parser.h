// Parses the framed records the launcher writes to its stdout (a pod's log,
// or runsc's stdout), one record per line (frame_format.h lists them).
// Base64 is standard with padding. Anything else, including a malformed
// frame, is a kForeign event carrying the raw line: e.g. the runtime's own
// errors written before the launcher started. The parser never fails.
#ifndef CODEEXEC_SERVER_LAUNCHER_FRAME_PARSER_H_
#define CODEEXEC_SERVER_LAUNCHER_FRAME_PARSER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace codeexec {

struct LauncherEvent {
  enum class Kind { kStdout, kStderr, kFile, kFilesTruncated, kExit, kForeign };
  Kind kind = Kind::kForeign;
  // kStdout/kStderr: the chunk; kFile: the content; kForeign: the raw line.
  std::string data;
  // kFile: relative path in the workspace (no "..", not absolute, no NUL).
  std::string path;
  // kExit: 0..255.
  int exit_code = 0;
  // kExit in session mode: the session ended with this cell.
  bool session_ended = false;
};

class FrameParser {
 public:
  // Longest line Feed() buffers (a file frame is ~4/3 of the file plus the
  // path). A longer line is dropped and reported as one kForeign event.
  static constexpr size_t kDefaultMaxLineBytes = size_t{64} << 20;

  explicit FrameParser(size_t max_line_bytes = kDefaultMaxLineBytes)
      : max_line_bytes_(max_line_bytes) {}

  // One log line (without '\n'). Stateless: always exactly one event.
  static LauncherEvent ParseFrame(absl::string_view line);

  // One log line (without '\n') -> its event (a vector of one).
  std::vector<LauncherEvent> ParseLine(absl::string_view line);

  // Raw bytes of a streamed log body, split anywhere: events of the lines
  // completed by `chunk`; a trailing partial line is kept for later.
  std::vector<LauncherEvent> Feed(absl::string_view chunk);

  // End of the stream: the event of an unterminated last line, if any.
  std::vector<LauncherEvent> Finish();

 private:
  void CompleteLine(std::vector<LauncherEvent>& events);

  const size_t max_line_bytes_;
  std::string partial_;
  bool dropping_ = false;  // the current line exceeded max_line_bytes_
};

// A workspace path as the launcher reports it: relative, no empty, "." or
// ".." component, no NUL.
bool IsSafeRelativePath(absl::string_view path);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LAUNCHER_FRAME_PARSER_H_
