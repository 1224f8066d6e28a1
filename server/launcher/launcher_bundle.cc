#include "server/launcher/launcher_bundle.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace codeexec {

using nlohmann::json;

json BuildManifest(const ExecutionSpec& spec, std::optional<RunAs> run_as) {
  json files = json::array();
  for (size_t i = 0; i < spec.input_files.size(); ++i) {
    files.push_back(
        {{"key", absl::StrCat("f", i)}, {"path", spec.input_files[i].path}});
  }
  json env = json::array();
  for (const auto& [name, value] : spec.env) {
    env.push_back(json::array({name, value}));
  }
  json manifest = {
      {"version", 1},
      {"command", spec.language.command},
      {"program", {{"key", kProgramKey}, {"path", spec.language.file_name}}},
      {"files", std::move(files)},
      {"stdin_key", spec.stdin_data.empty() ? json(nullptr) : json(kStdinKey)},
      {"env", std::move(env)},
      {"max_output_files", spec.max_output_files},
      {"max_output_file_bytes", spec.max_output_file_bytes},
      {"max_output_bytes", spec.max_output_bytes}};
  if (run_as.has_value()) {
    manifest["run_as"] = json::array({run_as->uid, run_as->gid});
  }
  return manifest;
}

std::vector<BundleEntry> BundleEntries(const ExecutionSpec& spec,
                                       absl::string_view manifest_text,
                                       absl::string_view launcher_source) {
  std::vector<BundleEntry> entries = {
      {kLauncherKey, launcher_source, true},
      {kManifestKey, manifest_text, true},
      {kProgramKey, spec.code, false},
  };
  for (size_t i = 0; i < spec.input_files.size(); ++i) {
    entries.push_back(
        {absl::StrCat("f", i), spec.input_files[i].content, false});
  }
  if (!spec.stdin_data.empty()) {
    entries.push_back({kStdinKey, spec.stdin_data, false});
  }
  return entries;
}

std::vector<std::string> LauncherCommand() {
  // -I: the image's PYTHONPATH, PYTHONHOME and user site-packages cannot
  // replace the modules the launcher imports; -S: no site import.
  return {"python3", "-I", "-S", "-u",
          absl::StrCat(kSandboxBundleDir, "/", kLauncherKey)};
}

EnvVars LauncherEnv() {
  return {{"CE_BUNDLE_DIR", kSandboxBundleDir},
          {"CE_WORKSPACE", kSandboxWorkspaceDir},
          {"HOME", kSandboxTmpDir}};
}

}  // namespace codeexec
