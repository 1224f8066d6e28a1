// The starter of a Python interpreter that a warm sandbox runs ahead of its
// request (PRESTART, request_format.h), so a claimed run does not pay the
// interpreter's start-up: `python3 -c <starter>` starts, then blocks reading
// its script's arguments on fd 3; it then sets up what `python3 main.py`
// would have (sys.argv, sys.orig_argv, sys.path[0], a fresh __main__ module
// with __file__, __loader__, __builtins__, __annotations__) and runs the
// file's code as __main__, the traceback of an uncaught exception without
// the starter's frame. The launcher hands it over only a request whose
// command, env, workspace and user match the prestart's; any other runs a
// fresh interpreter.
//
// Known difference from a fresh `python3 main.py`: code that walks its own
// call stack (inspect.stack(), traceback.print_stack(), sys._getframe(1),
// warnings with a stacklevel past the module) sees one frame ("<string>",
// the starter's) below its module.
#ifndef CODEEXEC_SERVER_LAUNCHER_PYTHON_PRESTART_H_
#define CODEEXEC_SERVER_LAUNCHER_PYTHON_PRESTART_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/exec/execution_spec.h"

namespace codeexec {

struct Starter {
  // The starter's argv.
  std::vector<std::string> argv;
  // How many leading arguments of the language's command it replaces (the
  // next one is the file to run).
  uint32_t shared_args = 0;
};

// The starter for `language`, if it has one: a command of a Python
// interpreter (python, python3, python3.11, ...; options allowed) ending in
// the language's file.
std::optional<Starter> StarterFor(const LanguageProfile& language);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LAUNCHER_PYTHON_PRESTART_H_
