#include "server/launcher/python_prestart.h"

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace codeexec {
namespace {

// Runs at module level of `-c`, in the original __main__'s namespace (not
// the program's): the program gets a fresh __main__. The bare `raise`
// re-raises without adding this frame again, so dropping it from the
// traceback leaves exactly the program's frames, as a script run shows.
constexpr char kPythonStarter[] = R"py(import sys
def _ce_start():
    import os
    data = b''
    while True:
        chunk = os.read(3, 65536)
        if not chunk:
            break
        data += chunk
    os.close(3)
    args = [os.fsdecode(arg) for arg in data.split(b'\0')]
    path = os.path.join(os.getcwd(), args[0])
    sys.argv[:] = args
    sys.orig_argv[:] = sys.orig_argv[:1] + args
    sys.path[0] = os.path.dirname(os.path.realpath(path))
    main = type(sys)('__main__')
    main.__file__ = path
    main.__cached__ = None
    main.__loader__ = sys.modules['_frozen_importlib_external'].SourceFileLoader('__main__', path)
    main.__builtins__ = sys.modules['builtins']
    main.__annotations__ = {}
    sys.modules['__main__'] = main
    with open(path, 'rb') as file:
        return path, file.read(), main.__dict__
_ce_path, _ce_source, _ce_globals = _ce_start()
del _ce_start
try:
    exec(compile(_ce_source, _ce_path, 'exec', dont_inherit=True), _ce_globals)
except BaseException:
    _ce_error = sys.exc_info()[1]
    _ce_error.__traceback__ = _ce_error.__traceback__.tb_next
    del _ce_error
    raise
)py";

// The session kernel: one __main__ for every cell. SIGINT stays blocked
// while it waits and reports; one still pending when a cell arrives was
// meant for an earlier cell (the host's interrupt raced its end) and is
// dropped.
constexpr char kPythonKernel[] = R"py(import sys
def _ce_kernel():
    import _signal, os, struct
    block = lambda: _signal.pthread_sigmask(_signal.SIG_BLOCK, {_signal.SIGINT})
    main = type(sys)('__main__')
    main.__builtins__ = sys.modules['builtins']
    main.__annotations__ = {}
    main.__cached__ = None
    sys.modules['__main__'] = main
    sys.path[0] = os.getcwd()
    def read_exactly(size):
        data = b''
        while len(data) < size:
            chunk = os.read(3, size - len(data))
            if not chunk:
                os._exit(0)
            data += chunk
        return data
    def flush():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
    while True:
        block()
        size = struct.unpack('<I', read_exactly(4))[0]
        args = [os.fsdecode(arg) for arg in read_exactly(size).split(b'\0')]
        path = os.path.join(os.getcwd(), args[0])
        sys.argv[:] = args
        main.__file__ = path
        if _signal.SIGINT in _signal.sigpending():
            _signal.sigwait({_signal.SIGINT})  # meant for an earlier cell
        code = 0
        try:
            _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {_signal.SIGINT})
            with open(path, 'rb') as file:
                source = file.read()
            exec(compile(source, path, 'exec', dont_inherit=True), main.__dict__)
            block()
        except SystemExit:
            block()
            flush()
            raise
        except BaseException as error:
            block()
            trace = error.__traceback__
            if trace is not None and trace.tb_frame.f_code is _ce_kernel.__code__:
                error.__traceback__ = trace.tb_next
            try:
                sys.excepthook(type(error), error, error.__traceback__)
            except BaseException:
                pass
            del error, trace
            code = 1
        flush()
        os.write(4, struct.pack('<i', code))
_ce_kernel()
)py";

// The interpreter's part of `language`'s command (argv up to its file), if
// it is a Python interpreter with only options that run nothing else.
std::optional<std::vector<std::string>> PythonInterpreter(
    const LanguageProfile& language) {
  const std::vector<std::string>& command = language.command;
  if (command.size() < 2 || command.back() != language.file_name) {
    return std::nullopt;
  }
  absl::string_view name = command.front();
  const size_t slash = name.rfind('/');
  if (slash != absl::string_view::npos) name.remove_prefix(slash + 1);
  if (!absl::ConsumePrefix(&name, "python")) return std::nullopt;
  for (char c : name) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '.') {
      return std::nullopt;
    }
  }
  // Between interpreter and file: only options that take no separate value
  // and run nothing else (-u, -B, -Wignore, ...).
  for (size_t i = 1; i + 1 < command.size(); ++i) {
    const std::string& option = command[i];
    if (option.size() < 2 || option[0] != '-' || option == "-m" ||
        option == "-c" || option == "-W" || option == "-X" || option == "--" ||
        option == "-i") {
      return std::nullopt;
    }
  }
  return std::vector<std::string>(command.begin(), command.end() - 1);
}

std::optional<Starter> PythonStarter(const LanguageProfile& language,
                                     const char* code) {
  std::optional<std::vector<std::string>> interpreter =
      PythonInterpreter(language);
  if (!interpreter.has_value()) return std::nullopt;
  Starter starter;
  starter.shared_args = static_cast<uint32_t>(interpreter->size());
  starter.argv = *std::move(interpreter);
  starter.argv.push_back("-c");
  starter.argv.push_back(code);
  return starter;
}

}  // namespace

std::optional<Starter> StarterFor(const LanguageProfile& language) {
  return PythonStarter(language, kPythonStarter);
}

std::optional<Starter> KernelFor(const LanguageProfile& language) {
  return PythonStarter(language, kPythonKernel);
}

}  // namespace codeexec
