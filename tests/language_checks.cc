#include "tests/language_checks.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integrity_checks.h"
#include "tests/server_process.h"

namespace codeexec::testing {
namespace {

using ::codeexecutor::v1::CodeExecutor;
using ::codeexecutor::v1::ExecuteRequest;
using ::codeexecutor::v1::Finished;

// One program per check, in each language.
struct Programs {
  std::string whole_output;
  std::string streamed;  // prints what CheckFirstLineStreamed reads
  std::string output_file;
  std::string never_ends;
  std::string memory_bomb;
  std::string no_python;
};

const std::map<std::string, Programs>& ProgramsByLanguage() {
  static const auto* programs = new std::map<std::string, Programs>{
      {"bash",
       {
           .whole_output = "head -c 1048577 /dev/zero | tr '\\0' x\n"
                           "printf '\\xff\\xfe'\n"
                           "echo err >&2\n"
                           "exit 3\n",
           .streamed = "echo first\n"
                       "sleep 1.5\n"
                       "echo \"second at $(date +%s.%N)\"\n",
           .output_file =
               "read -r line < in.txt\n"
               "for i in $(seq 1 5000); do printf '%05d line\\n' \"$i\"; done"
               " > result.bin\n"
               "printf '\\xff\\xfe\\x00\\x01' >> result.bin\n"
               "echo \"$line\"\n",
           .never_ends = "echo started\nsleep 600\n",
           // Doubles a string until the memory limit: 2^28 bytes in 28 steps.
           .memory_bomb = "x=x\nwhile :; do x=$x$x; done\n",
           .no_python = "found=$(for d in ${PATH//:/ } /usr/bin /usr/local/bin;"
                        " do ls \"$d\"/python* 2>/dev/null; done)\n"
                        "echo \"python: ${found:-none}\"\n",
       }},
      {"javascript",
       {
           .whole_output = "process.stdout.write(Buffer.alloc(1048577, 'x'));\n"
                           "process.stdout.write(Buffer.from([0xff, 0xfe]));\n"
                           "process.stderr.write('err\\n');\n"
                           "process.exitCode = 3;\n",
           .streamed = "console.log('first');\n"
                       "setTimeout(() => console.log('second at ' +"
                       " Date.now() / 1000), 1500);\n",
           .output_file =
               "const fs = require('fs');\n"
               "const line = fs.readFileSync('in.txt', "
               "'utf8').split('\\n')[0];\n"
               "let text = '';\n"
               "for (let i = 1; i <= 5000; i++) {\n"
               "  text += String(i).padStart(5, '0') + ' line\\n';\n"
               "}\n"
               "fs.writeFileSync('result.bin', Buffer.concat(\n"
               "    [Buffer.from(text), Buffer.from([0xff, 0xfe, 0, 1])]));\n"
               "console.log(line);\n",
           .never_ends = "console.log('started');\n"
                         "setInterval(() => {}, 1000);\n",
           .memory_bomb = "const kept = [];\n"
                          "for (;;) kept.push(Buffer.alloc(1 << 20, 1));\n",
           .no_python =
               "const fs = require('fs');\n"
               "const dirs = (process.env.PATH || '').split(':')\n"
               "    .concat(['/usr/bin', '/usr/local/bin']);\n"
               "const found = [];\n"
               "for (const d of dirs) {\n"
               "  let names = [];\n"
               "  try { names = fs.readdirSync(d); } catch (e) {}\n"
               "  for (const n of names) {\n"
               "    if (n.startsWith('python')) found.push(d + '/' + n);\n"
               "  }\n"
               "}\n"
               "console.log('python: ' + (found.join(' ') || 'none'));\n",
       }},
  };
  return *programs;
}

const Programs& ProgramsOf(const std::string& language) {
  return ProgramsByLanguage().at(language);
}

std::string Describe(const ExecuteOutcome& run) {
  return absl::StrCat(
      "outcome ", Finished::Outcome_Name(run.finished.outcome()), " exit ",
      run.finished.exit_code(), " message \"", run.finished.message(),
      "\" stderr \"", run.stderr_text.substr(0, 2000), "\"");
}

}  // namespace

const std::vector<std::string>& LanguagesWithoutPython() {
  static const auto* languages =
      new std::vector<std::string>{"bash", "javascript"};
  return *languages;
}

void CheckWholeOutputAndExitCode(CodeExecutor::Stub& stub,
                                 const std::string& language) {
  ExecuteOutcome run =
      Execute(stub, MakeRequest(ProgramsOf(language).whole_output, language));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::NONZERO_EXIT) << Describe(run);
  EXPECT_EQ(run.finished.exit_code(), 3);
  EXPECT_EQ(Digest(run.stdout_text),
            Digest(std::string(1048577, 'x') + "\xff\xfe"));
  EXPECT_EQ(run.stderr_text, "err\n");
}

void CheckOutputStreamed(CodeExecutor::Stub& stub,
                         const std::string& language) {
  ExecuteOutcome run =
      Execute(stub, MakeRequest(ProgramsOf(language).streamed, language));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::OK) << Describe(run);
  EXPECT_TRUE(run.stdout_text.starts_with("first\nsecond at "))
      << run.stdout_text;
  absl::Status streamed = CheckFirstLineStreamed(run);
  EXPECT_TRUE(streamed.ok()) << streamed;
}

void CheckOutputFileExact(CodeExecutor::Stub& stub,
                          const std::string& language) {
  ExecuteRequest request =
      MakeRequest(ProgramsOf(language).output_file, language);
  auto* input = request.add_files();
  input->set_path("in.txt");
  input->set_content("hello input\nsecond line\n");
  ExecuteOutcome run = Execute(stub, request);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::OK) << Describe(run);
  EXPECT_EQ(run.stdout_text, "hello input\n");
  std::string expected;
  for (int i = 1; i <= 5000; ++i) {
    absl::StrAppend(&expected, std::string(5 - std::to_string(i).size(), '0'),
                    i, " line\n");
  }
  expected.append("\xff\xfe\x00\x01", 4);
  ASSERT_EQ(expected.size(), 55004u);
  std::string returned;
  int count = 0;
  for (const auto& file : run.finished.output_files()) {
    if (file.path() != "result.bin") continue;
    returned = file.content();
    ++count;
  }
  EXPECT_EQ(count, 1) << run.finished.DebugString().substr(0, 2000);
  EXPECT_EQ(Digest(returned), Digest(expected));
}

void CheckTimeout(CodeExecutor::Stub& stub, const std::string& language) {
  ExecuteRequest request =
      MakeRequest(ProgramsOf(language).never_ends, language);
  request.mutable_limits()->set_timeout_seconds(5);
  ExecuteOutcome run = Execute(stub, request);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::TIMEOUT) << Describe(run);
  EXPECT_EQ(run.stdout_text, "started\n");
}

void CheckOutOfMemory(CodeExecutor::Stub& stub, const std::string& language) {
  ExecuteRequest request =
      MakeRequest(ProgramsOf(language).memory_bomb, language);
  request.mutable_limits()->set_memory_limit("256Mi");
  request.mutable_limits()->set_memory_requested("128Mi");
  ExecuteOutcome run = Execute(stub, request);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::OOM_KILLED) << Describe(run);
  EXPECT_EQ(run.stdout_text, "");
}

void CheckNoPythonInTheSandbox(CodeExecutor::Stub& stub,
                               const std::string& language) {
  ExecuteOutcome run =
      Execute(stub, MakeRequest(ProgramsOf(language).no_python, language));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.finished.outcome(), Finished::OK) << Describe(run);
  EXPECT_EQ(run.stdout_text, "python: none\n");
}

}  // namespace codeexec::testing
