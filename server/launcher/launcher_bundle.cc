#include "server/launcher/launcher_bundle.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/launcher/frame_parser.h"
#include "server/launcher/request_format.h"

namespace codeexec {
namespace {

void AppendU32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(value >> 8 * i));
}

void AppendU64(std::string& out, uint64_t value) {
  AppendU32(out, static_cast<uint32_t>(value));
  AppendU32(out, static_cast<uint32_t>(value >> 32));
}

class RequestWriter {
 public:
  void Record(ce_req_tag tag, absl::string_view value) {
    AppendU32(body_, tag);
    AppendU32(body_, static_cast<uint32_t>(value.size()));
    body_.append(value.data(), value.size());
  }
  void Number(ce_req_tag tag, int64_t value) {
    std::string bytes;
    AppendU64(bytes, value < 0 ? 0 : static_cast<uint64_t>(value));
    Record(tag, bytes);
  }
  absl::Status Text(ce_req_tag tag, absl::string_view what,
                    absl::string_view value) {
    if (value.find('\0') != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " contains a NUL byte"));
    }
    Record(tag, value);
    return absl::OkStatus();
  }
  absl::Status File(ce_req_tag tag, absl::string_view path,
                    absl::string_view content) {
    if (!IsSafeRelativePath(path) || path.size() > CE_REQ_MAX_PATH_BYTES) {
      return absl::InvalidArgumentError(
          absl::StrCat("workspace path \"", path, "\" is not a safe relative ",
                       "path of at most ", CE_REQ_MAX_PATH_BYTES, " bytes"));
    }
    std::string value;
    AppendU32(value, kWorkspaceFileMode);
    AppendU32(value, static_cast<uint32_t>(path.size()));
    absl::StrAppend(&value, path, content);
    Record(tag, value);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> Finish() {
    if (body_.size() > CE_REQ_MAX_BODY_BYTES) {
      return absl::InvalidArgumentError(
          absl::StrCat("the launcher request would be ", body_.size(),
                       " bytes; at most ", CE_REQ_MAX_BODY_BYTES));
    }
    std::string request(CE_REQ_MAGIC, CE_REQ_MAGIC_BYTES);
    AppendU32(request, CE_REQ_VERSION);
    AppendU32(request, static_cast<uint32_t>(body_.size()));
    request.append(body_);
    return request;
  }

 private:
  std::string body_;
};

// ARG, ENV, WORKSPACE and RUN_AS: how the program of `spec` starts.
absl::Status WriteStart(RequestWriter& writer, const ExecutionSpec& spec,
                        std::optional<RunAs> run_as,
                        absl::string_view workspace) {
  const std::vector<std::string>& command = spec.language.command;
  if (command.empty() || command.size() > CE_REQ_MAX_ARGS) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the command must have 1 to ", CE_REQ_MAX_ARGS, " arguments"));
  }
  if (spec.env.size() > CE_REQ_MAX_ENV ||
      spec.input_files.size() > CE_REQ_MAX_FILES) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", CE_REQ_MAX_ENV, " env entries and ",
                     CE_REQ_MAX_FILES, " input files"));
  }
  absl::Status status;
  for (const std::string& arg : command) {
    if (status.ok())
      status = writer.Text(CE_TAG_ARG, "a command argument", arg);
  }
  for (const auto& [name, value] : spec.env) {
    if (name.empty() || name.find('=') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "env name \"", name, "\" must be non-empty and hold no '='"));
    }
    if (status.ok()) {
      status = writer.Text(CE_TAG_ENV, absl::StrCat("env ", name),
                           absl::StrCat(name, "=", value));
    }
  }
  if (status.ok())
    status = writer.Text(CE_TAG_WORKSPACE, "the workspace", workspace);
  if (!status.ok()) return status;
  if (run_as.has_value()) {
    std::string ids;
    AppendU32(ids, run_as->uid);
    AppendU32(ids, run_as->gid);
    writer.Record(CE_TAG_RUN_AS, ids);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> BuildRequest(const ExecutionSpec& spec,
                                         std::optional<RunAs> run_as,
                                         absl::string_view workspace) {
  RequestWriter writer;
  absl::Status status = WriteStart(writer, spec, run_as, workspace);
  if (!status.ok()) return status;
  writer.Number(CE_TAG_MAX_OUTPUT_BYTES, spec.max_output_bytes);
  writer.Number(CE_TAG_MAX_OUTPUT_FILES, spec.max_output_files);
  writer.Number(CE_TAG_MAX_OUTPUT_FILE_BYTES, spec.max_output_file_bytes);
  status = writer.File(CE_TAG_PROGRAM, spec.language.file_name, spec.code);
  for (const WorkspaceFile& file : spec.input_files) {
    if (status.ok()) status = writer.File(CE_TAG_FILE, file.path, file.content);
  }
  if (!status.ok()) return status;
  if (!spec.stdin_data.empty()) writer.Record(CE_TAG_STDIN, spec.stdin_data);
  return writer.Finish();
}

namespace {

// PRESTART and KERNEL: u32 k, then the argv, each entry NUL-terminated.
absl::StatusOr<std::string> StarterValue(const Starter& starter) {
  std::string value;
  AppendU32(value, starter.shared_args);
  for (const std::string& arg : starter.argv) {
    if (arg.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError("a starter argument holds a NUL byte");
    }
    value.append(arg);
    value.push_back('\0');
  }
  return value;
}

}  // namespace

absl::StatusOr<std::string> BuildPrestartRequest(const ExecutionSpec& shape,
                                                 const Starter& starter,
                                                 std::optional<RunAs> run_as,
                                                 absl::string_view workspace) {
  RequestWriter writer;
  absl::Status status = WriteStart(writer, shape, run_as, workspace);
  if (!status.ok()) return status;
  absl::StatusOr<std::string> value = StarterValue(starter);
  if (!value.ok()) return value.status();
  writer.Record(CE_TAG_PRESTART, *value);
  return writer.Finish();
}

absl::StatusOr<std::string> BuildCellRequest(
    const ExecutionSpec& spec, const std::optional<Starter>& kernel,
    std::optional<RunAs> run_as, absl::string_view workspace) {
  absl::StatusOr<std::string> request = BuildRequest(spec, run_as, workspace);
  if (!request.ok()) return request;
  // More records at the end of the body: the header's length grows.
  std::string record;
  AppendU32(record, CE_TAG_SESSION);
  AppendU32(record, 0);
  if (kernel.has_value()) {
    absl::StatusOr<std::string> value = StarterValue(*kernel);
    if (!value.ok()) return value.status();
    AppendU32(record, CE_TAG_KERNEL);
    AppendU32(record, static_cast<uint32_t>(value->size()));
    record.append(*value);
  }
  const uint64_t body = request->size() - CE_REQ_HEADER_BYTES + record.size();
  if (body > CE_REQ_MAX_BODY_BYTES) {
    return absl::InvalidArgumentError(
        absl::StrCat("the launcher request would be ", body, " bytes; at most ",
                     CE_REQ_MAX_BODY_BYTES));
  }
  std::string length;
  AppendU32(length, static_cast<uint32_t>(body));
  request->replace(CE_REQ_MAGIC_BYTES + 4, 4, length);
  request->append(record);
  return request;
}

std::vector<BundleEntry> BundleEntries(absl::string_view request,
                                       absl::string_view launcher) {
  return {{kLauncherKey, launcher, true}, {kRequestKey, request, false}};
}

std::vector<std::string> LauncherCommand() {
  return {absl::StrCat(kSandboxBundleDir, "/", kLauncherKey),
          absl::StrCat(kSandboxBundleDir, "/", kRequestKey)};
}

std::vector<std::string> LauncherWaitCommand() {
  return {absl::StrCat(kSandboxBundleDir, "/", kLauncherKey), "--wait"};
}

std::vector<std::string> LauncherSessionCommand() {
  return {absl::StrCat(kSandboxBundleDir, "/", kLauncherKey), "--session"};
}

EnvVars LauncherEnv() { return {{"HOME", kSandboxTmpDir}}; }

}  // namespace codeexec
