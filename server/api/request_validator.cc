#include "server/api/request_validator.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/api/field_error.h"
#include "server/exec/quantity.h"

namespace codeexec {
namespace {

using ::codeexecutor::v1::ExecuteRequest;

// Time kept back from the call's deadline so that cleanup and the Finished
// event still reach the client in time.
constexpr absl::Duration kDeadlineReserve = absl::Milliseconds(500);
constexpr size_t kMaxClientRequestIdLength = 128;
// Well under PATH_MAX (4096) once below the workspace directory.
constexpr size_t kMaxPathLength = 1024;
// NAME_MAX: the longest file name (path component) filesystems take.
constexpr size_t kMaxPathComponentLength = 255;
// Longer quantities are never valid; capped so that the error quoting one
// stays short.
constexpr size_t kMaxQuantityLength = 64;
// execve's limits (Linux and gVisor alike): one "NAME=value" string is at
// most MAX_ARG_STRLEN (128 KiB) with its NUL, and all of argv and envp
// together share ARG_MAX (a quarter of the 8 MiB stack limit); the request's
// variables get half of that.
constexpr size_t kMaxEnvEntryBytes = (128 << 10) - 1;
constexpr size_t kMaxEnvTotalBytes = 1 << 20;

absl::Status CheckSize(absl::string_view field, size_t size, int64_t maximum) {
  if (static_cast<int64_t>(size) > maximum) {
    return FieldError(
        field, absl::StrCat(size, " bytes exceeds the maximum of ", maximum));
  }
  return absl::OkStatus();
}

bool IsValidEnvName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(name[0])) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

// Normalises a workspace-relative path ("a//b/./c" -> "a/b/c"); rejects
// absolute paths, "..", NUL and empty paths.
absl::StatusOr<std::string> NormaliseRelativePath(absl::string_view field,
                                                  absl::string_view path) {
  if (path.empty()) return FieldError(field, "must not be empty");
  if (path.size() > kMaxPathLength) {
    return FieldError(field, absl::StrCat(path.size(), " bytes is longer than ",
                                          kMaxPathLength));
  }
  if (path.find('\0') != absl::string_view::npos) {
    return FieldError(field, "must not contain NUL");
  }
  if (path.front() == '/') {
    return FieldError(field, absl::StrCat(QuoteForError(path),
                                          " is absolute; paths are relative "
                                          "to the workspace"));
  }
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return FieldError(field, absl::StrCat(QuoteForError(path),
                                            " escapes the workspace (..)"));
    }
    if (part.size() > kMaxPathComponentLength) {
      return FieldError(field, absl::StrCat("the name ", QuoteForError(part),
                                            " is longer "
                                            "than ",
                                            kMaxPathComponentLength, " bytes"));
    }
    parts.push_back(part);
  }
  if (parts.empty()) return FieldError(field, "names no file");
  return absl::StrJoin(parts, "/");
}

// A workspace file at `path` can be written after those in `seen`: it is
// none of them, and neither a directory of one nor below one.
absl::Status CheckNoClash(absl::string_view field, const std::string& path,
                          const std::set<std::string>& seen) {
  if (seen.count(path) > 0) {
    return FieldError(field, absl::StrCat(QuoteForError(path),
                                          " is given twice or is the "
                                          "program's own file"));
  }
  for (size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    const std::string parent = path.substr(0, slash);
    if (seen.count(parent) > 0) {
      return FieldError(
          field, absl::StrCat(QuoteForError(path), " is below ",
                              QuoteForError(parent), ", which is a file"));
    }
  }
  const std::string as_dir = path + "/";
  auto below = seen.lower_bound(as_dir);
  if (below != seen.end() && absl::StartsWith(*below, as_dir)) {
    return FieldError(field,
                      absl::StrCat(QuoteForError(path), " is a directory of ",
                                   QuoteForError(*below)));
  }
  return absl::OkStatus();
}

// Resolves one request/limit pair against defaults and maxima.
struct ResolvedPair {
  int64_t request;
  int64_t limit;
};

absl::StatusOr<ResolvedPair> ResolvePair(
    absl::string_view request_field, const std::string& request_text,
    absl::string_view limit_field, const std::string& limit_text,
    int64_t default_request, int64_t default_limit, int64_t maximum,
    absl::StatusOr<int64_t> (*parse)(std::string_view),
    std::string (*format)(int64_t)) {
  std::optional<int64_t> request, limit;
  for (auto [field, text, out] :
       {std::tuple{request_field, &request_text, &request},
        std::tuple{limit_field, &limit_text, &limit}}) {
    if (text->empty()) continue;
    if (text->size() > kMaxQuantityLength) {
      return FieldError(field, absl::StrCat(text->size(),
                                            " bytes is longer "
                                            "than any quantity"));
    }
    absl::StatusOr<int64_t> value = parse(std::string_view(*text));
    if (!value.ok()) return FieldError(field, value.status().message());
    if (*value <= 0) return FieldError(field, "must be positive");
    if (*value > maximum) {
      return FieldError(field, absl::StrCat(*text, " exceeds the maximum of ",
                                            format(maximum)));
    }
    *out = *value;
  }
  ResolvedPair resolved;
  // Like Kubernetes: an unset request follows a smaller limit, an unset limit
  // follows a larger request.
  resolved.limit = limit.value_or(std::max(default_limit, request.value_or(0)));
  resolved.limit = std::min(resolved.limit, maximum);
  resolved.request =
      request.value_or(std::min(default_request, resolved.limit));
  if (resolved.request > resolved.limit) {
    return FieldError(request_field,
                      absl::StrCat(format(resolved.request), " exceeds ",
                                   limit_field, " ", format(resolved.limit)));
  }
  return resolved;
}

}  // namespace

absl::StatusOr<ExecutionSpec> BuildExecutionSpec(
    const ExecuteRequest& request, const ValidatorOptions& options,
    std::optional<absl::Duration> time_to_deadline) {
  const LimitsOptions& limits = options.limits;
  ExecutionSpec spec;

  if (request.code().empty()) return FieldError("code", "must not be empty");
  if (auto s = CheckSize("code", request.code().size(), limits.max_code_bytes);
      !s.ok()) {
    return s;
  }
  spec.code = request.code();

  spec.language_name = request.language().empty() ? options.default_language
                                                  : request.language();
  auto language = options.languages.find(spec.language_name);
  if (language == options.languages.end()) {
    std::vector<std::string> known;
    for (const auto& [name, profile] : options.languages) known.push_back(name);
    return FieldError(
        "language",
        absl::StrCat("unknown language ", QuoteForError(spec.language_name),
                     "; known: ", absl::StrJoin(known, ", ")));
  }
  spec.language = language->second;

  if (auto s =
          CheckSize("stdin", request.stdin().size(), limits.max_stdin_bytes);
      !s.ok()) {
    return s;
  }
  spec.stdin_data = request.stdin();

  if (request.env_size() > limits.max_env_vars) {
    return FieldError("env", absl::StrCat(request.env_size(),
                                          " variables exceed the maximum of ",
                                          limits.max_env_vars));
  }
  spec.env = spec.language.env;
  // Sorted, so that runs of the same request are identical.
  std::map<std::string, std::string> sorted_env(request.env().begin(),
                                                request.env().end());
  size_t env_bytes = 0;
  for (const auto& [name, value] : sorted_env) {
    const std::string field = absl::StrCat("env[", QuoteForError(name), "]");
    if (!IsValidEnvName(name)) {
      return FieldError(field,
                        "invalid name; names match [A-Za-z_][A-Za-z0-9_]*");
    }
    if (value.find('\0') != std::string::npos) {
      return FieldError(field, "value must not contain NUL");
    }
    const size_t entry_bytes = name.size() + 1 + value.size();  // NAME=value
    if (entry_bytes > kMaxEnvEntryBytes) {
      return FieldError(
          field, absl::StrCat("NAME=value is ", entry_bytes,
                              " bytes; the maximum is ", kMaxEnvEntryBytes));
    }
    env_bytes += entry_bytes + 1;
    if (env_bytes > kMaxEnvTotalBytes) {
      return FieldError("env",
                        absl::StrCat("the variables exceed ", kMaxEnvTotalBytes,
                                     " bytes in all"));
    }
    spec.env.emplace_back(name, value);
  }

  if (request.files_size() > limits.max_input_files) {
    return FieldError("files", absl::StrCat(request.files_size(),
                                            " files exceed the maximum of ",
                                            limits.max_input_files));
  }
  std::set<std::string> seen_paths = {spec.language.file_name};
  int64_t total_file_bytes = 0;
  for (int i = 0; i < request.files_size(); ++i) {
    const std::string field = absl::StrCat("files[", i, "].path");
    absl::StatusOr<std::string> path =
        NormaliseRelativePath(field, request.files(i).path());
    if (!path.ok()) return path.status();
    if (auto s = CheckNoClash(field, *path, seen_paths); !s.ok()) return s;
    seen_paths.insert(*path);
    total_file_bytes += request.files(i).content().size();
    spec.input_files.push_back({*path, request.files(i).content()});
  }
  if (total_file_bytes > limits.max_input_file_bytes) {
    return FieldError("files", absl::StrCat(total_file_bytes,
                                            " bytes in all exceed the maximum "
                                            "of ",
                                            limits.max_input_file_bytes));
  }

  const auto& req_limits = request.limits();
  spec.timeout = limits.default_timeout;
  if (req_limits.timeout_seconds() > 0) {
    spec.timeout = absl::Seconds(req_limits.timeout_seconds());
    if (spec.timeout > limits.max_timeout) {
      return FieldError(
          "limits.timeout_seconds",
          absl::StrCat(req_limits.timeout_seconds(), " exceeds the maximum of ",
                       absl::ToInt64Seconds(limits.max_timeout)));
    }
  }
  if (time_to_deadline.has_value()) {
    const absl::Duration usable = *time_to_deadline - kDeadlineReserve;
    if (usable < absl::Milliseconds(100)) {
      return absl::DeadlineExceededError(
          "the call's deadline leaves no time to run the program");
    }
    spec.timeout = std::min(spec.timeout, usable);
  }

  absl::StatusOr<ResolvedPair> cpu = ResolvePair(
      "limits.cpu_requested", req_limits.cpu_requested(), "limits.cpu_limit",
      req_limits.cpu_limit(), limits.default_resources.cpu_request_millis,
      limits.default_resources.cpu_limit_millis, limits.max_cpu_millis,
      &ParseCpuMillis, &FormatCpuMillis);
  if (!cpu.ok()) return cpu.status();
  absl::StatusOr<ResolvedPair> memory =
      ResolvePair("limits.memory_requested", req_limits.memory_requested(),
                  "limits.memory_limit", req_limits.memory_limit(),
                  limits.default_resources.memory_request_bytes,
                  limits.default_resources.memory_limit_bytes,
                  limits.max_memory_bytes, &ParseBytes, &FormatBytes);
  if (!memory.ok()) return memory.status();
  spec.resources = {cpu->request, cpu->limit, memory->request, memory->limit};

  spec.max_output_bytes = limits.default_max_output_bytes;
  if (req_limits.max_output_bytes() > 0) {
    if (req_limits.max_output_bytes() >
        static_cast<uint64_t>(limits.max_output_bytes)) {
      return FieldError(
          "limits.max_output_bytes",
          absl::StrCat(req_limits.max_output_bytes(),
                       " exceeds the maximum of ", limits.max_output_bytes));
    }
    spec.max_output_bytes = static_cast<int64_t>(req_limits.max_output_bytes());
  }
  spec.max_output_files = limits.max_output_files;
  spec.max_output_file_bytes = limits.max_output_file_bytes;

  const std::string& id = request.client_request_id();
  if (id.size() > kMaxClientRequestIdLength ||
      !std::all_of(id.begin(), id.end(),
                   [](char c) { return c >= 0x20 && c < 0x7f; })) {
    return FieldError(
        "client_request_id",
        absl::StrCat("must be at most ", kMaxClientRequestIdLength,
                     " printable ASCII characters"));
  }
  spec.client_request_id = id;
  return spec;
}

}  // namespace codeexec
