#include "server/exec/json_log.h"

#include <cstdio>
#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace codeexec {
namespace {

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

std::string FormatLogLine(LogLevel level, absl::string_view event,
                          nlohmann::json fields) {
  nlohmann::json line =
      fields.is_object() ? std::move(fields) : nlohmann::json::object();
  line["ts"] =
      absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone());
  line["level"] = LevelName(level);
  line["event"] = std::string(event);
  // Invalid UTF-8 (e.g. in a path) is replaced, never a reason to fail.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

void LogEvent(LogLevel level, absl::string_view event, nlohmann::json fields) {
  const std::string text = FormatLogLine(level, event, std::move(fields));
  std::fwrite(text.data(), 1, text.size(), stderr);
}

void LogWarning(absl::string_view component, absl::string_view message) {
  LogEvent(LogLevel::kWarning, "warning",
           {{"component", std::string(component)},
            {"message", std::string(message)}});
}

}  // namespace codeexec
