// The server's log: one JSON object per line on stderr, so that a log
// collector can parse every line. Each line has "ts" (RFC 3339, UTC),
// "level" ("info", "warning" or "error") and "event" (what happened, e.g.
// "execution_finished"), then the event's own fields. Never program code or
// output: those belong to the client.
#ifndef CODEEXEC_SERVER_EXEC_JSON_LOG_H_
#define CODEEXEC_SERVER_EXEC_JSON_LOG_H_

#include <string>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace codeexec {

enum class LogLevel { kInfo, kWarning, kError };

// The line LogEvent writes (with its newline), for tests.
std::string FormatLogLine(LogLevel level, absl::string_view event,
                          nlohmann::json fields);

// Writes one line; `fields` must be a JSON object (or null). Thread-safe:
// each line is written with one call.
void LogEvent(LogLevel level, absl::string_view event, nlohmann::json fields);

// A warning of `component` ("gvisor-local", "kubernetes", ...):
// {"level": "warning", "event": "warning", "component": ..., "message": ...}.
void LogWarning(absl::string_view component, absl::string_view message);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_EXEC_JSON_LOG_H_
