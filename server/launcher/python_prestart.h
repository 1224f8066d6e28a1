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

// The session kernel (KERNEL, request_format.h) for `language`, if it has
// one (the same languages as StarterFor): `python3 -c <kernel>` runs each
// cell's file as code of one persistent __main__ module, so globals,
// imports and open files stay from cell to cell. A cell's uncaught
// exception is printed as the interpreter prints it (sys.excepthook,
// without the kernel's frame) and the cell's exit code is 1, the kernel
// living on; SystemExit (sys.exit()) ends the kernel, and so the session,
// with its code. SIGINT (the host's interrupt at a cell's timeout) raises
// KeyboardInterrupt in the cell; it is blocked between cells.
std::optional<Starter> KernelFor(const LanguageProfile& language);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_LAUNCHER_PYTHON_PRESTART_H_
