"""code-executor launcher: runs one program inside a sandbox.

The sandbox's first process on the kubernetes backend (a pod's container
command). It runs the program as a child with two pipes of its own and
writes framed records to its stdout, one per line
(server/launcher/python_bundle.h has the host side).
The kubernetes backend runs it until it moves to the static launcher (c/,
which gvisor-local runs); the frames are the same (frame_format.h):

  @ce1 o <b64>               a chunk of the program's stdout (<= 3072 bytes)
  @ce1 e <b64>               a chunk of the program's stderr
  @ce1 f <b64 path> <b64>    an output file (new or changed in the workspace)
  @ce1 t                     some output files were left out (caps)
  @ce1 x <code>              exit code (signal N -> 128+N); always the last

Why a relay at all: the program never writes to a host descriptor, so its
writes behave like Linux pipe writes at every size (gVisor answers a large
write to a donated host pipe with a short count that CPython's unbuffered
stdout drops), and stdout and stderr stay apart through a pod's merged log.
Program output only ever appears base64-encoded, so it cannot forge frames.

Privilege separation: with manifest "run_as": [uid, gid] the launcher runs
as root (with only the capabilities it needs) and the program as uid:gid
with none, so the program can neither signal the launcher nor reach its
descriptors through /proc. Without it (a pod under the restricted Pod
Security Standard) both share a uid; the launcher then ignores every signal
it can, but SIGKILL and SIGSTOP of the launcher stay possible (gVisor gives
a sandbox's init no protection from them): a program can end its own run
early, never change another's.

Env: CE_BUNDLE_DIR (manifest.json + keys), CE_WORKSPACE; neither reaches the
program. Stdlib only, Python 3.9+, and few modules: every import is paid on
every run inside gVisor (subprocess, selectors, base64, hashlib and ctypes
together cost ~80 ms there). Tests: launcher_test.py.
"""

import binascii
import json
import os
import select
import signal
import stat
import sys
import time

CHUNK = 3072  # raw bytes per o/e frame: log lines stay under ~4.1 KB
DRAIN_SECONDS = 1.0  # for pipes still open after the program exited
_OUT = sys.stdout.fileno()
# Signals the launcher outlives when a program sends them. Not: SIGKILL and
# SIGSTOP (cannot be caught), SIGCHLD (default), SIGTERM (forwarded to the
# program), and the faults a real crash raises (a handler would loop).
_SURVIVED = [s for s in signal.valid_signals() if s not in (
    signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGTERM,
    signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL,
    signal.SIGSYS, signal.SIGTRAP)]


def write_all(fd, data):
    """Writes every byte: loops on short writes, waits out EAGAIN."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [])
        except InterruptedError:
            pass


def emit(*fields):
    write_all(_OUT, b" ".join((b"@ce1",) + fields) + b"\n")


def b64(data):
    return binascii.b2a_base64(data, newline=False)


def report(err):
    emit(b"e", b64(("launcher: %s\n" % err).encode("utf-8", "replace")))


def check_path(path):
    if (not isinstance(path, str) or not path or path.startswith("/")
            or "\0" in path
            or any(p in ("", ".", "..") for p in path.split("/"))):
        raise ValueError("bad workspace path or key %r" % (path,))
    return path


def load_manifest(bundle):
    with open(os.path.join(bundle, "manifest.json"), "rb") as f:
        m = json.load(f)
    try:
        if m["version"] != 1:
            raise ValueError("unsupported version %r" % (m["version"],))
        if not m["command"] or not all(isinstance(a, str)
                                       for a in m["command"]):
            raise ValueError("command must be a non-empty list of strings")
        for entry in [m["program"]] + m["files"]:
            check_path(entry["path"])
            check_path(entry["key"])
        if m.get("stdin_key") is not None:
            check_path(m["stdin_key"])
        for name, value in m["env"]:
            if not isinstance(name, str) or not isinstance(value, str):
                raise ValueError("env entries must be [name, value] strings")
        caps = (m["max_output_files"], m["max_output_file_bytes"],
                m.get("max_output_bytes") or 0)
        if not all(isinstance(c, int) and c >= 0 for c in caps):
            raise ValueError("max_output_* must be non-negative integers")
        run_as = m.get("run_as")
        if run_as is not None and (
                len(run_as) != 2
                or not all(isinstance(i, int) and i > 0 for i in run_as)):
            raise ValueError("run_as must be [uid, gid], both > 0")
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError("manifest.json: %s: %s" % (type(err).__name__, err))
    return m


def make_dirs(workspace, rel_dir, created):
    """Creates the directories of rel_dir below workspace; appends them to
    created."""
    path = workspace
    for part in rel_dir.split("/") if rel_dir else []:
        path = os.path.join(path, part)
        try:
            os.mkdir(path, 0o755)
            created.append(path)
        except FileExistsError:
            pass


def write_inputs(m, bundle, workspace):
    """Copies program + input files; returns {path: content}."""
    recorded, dirs = {}, [workspace]
    owner = m.get("run_as")
    for entry in [m["program"]] + m["files"]:
        with open(os.path.join(bundle, entry["key"]), "rb") as f:
            content = f.read()
        make_dirs(workspace, os.path.dirname(entry["path"]), dirs)
        fd = os.open(os.path.join(workspace, entry["path"]),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                     0o644)
        with os.fdopen(fd, "wb") as f:
            if owner:
                os.fchown(f.fileno(), *owner)
            write_all(f.fileno(), content)
        recorded[entry["path"]] = content
    if owner:  # directories last: we (root without DAC_OVERRIDE) write there
        for path in dirs:
            os.chown(path, *owner, follow_symlinks=False)
    return recorded


class Program(object):
    """The program as a child: its own session, stdout and stderr on pipes
    of ours, the manifest's user (if any), default signal dispositions."""

    def __init__(self, command, cwd, env, stdin_path, run_as):
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        fail_r, fail_w = os.pipe()  # close-on-exec: EOF means exec worked
        stdin = os.open(stdin_path or os.devnull, os.O_RDONLY)
        self.pid = os.fork()
        if self.pid == 0:  # the child: no Python-level cleanup, ever
            try:
                os.setsid()
                for signum in _SURVIVED + [signal.SIGTERM]:
                    signal.signal(signum, signal.SIG_DFL)  # SIGPIPE too
                os.dup2(stdin, 0)
                os.dup2(out_w, 1)
                os.dup2(err_w, 2)
                os.chdir(cwd)
                if run_as:
                    os.setgroups([])
                    os.setgid(run_as[1])
                    os.setuid(run_as[0])
                os.execvpe(command[0], command, env)
            except BaseException as err:
                os.write(fail_w, ("%s: %s" % (command[0], err)).encode(
                    "utf-8", "replace"))
            finally:
                os._exit(127)
        for fd in (out_w, err_w, fail_w, stdin):
            os.close(fd)
        self.stdout, self.stderr = out_r, err_r
        self.status = None
        failure = b"".join(iter(lambda: os.read(fail_r, 4096), b""))
        os.close(fail_r)
        if failure:
            self.wait()
            raise OSError(failure.decode("utf-8", "replace"))

    def poll(self):
        """The exit code (signal N -> 128 + N) once it exited, else None."""
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return None if self.status is None else self.code()

    def wait(self):
        if self.status is None:
            self.status = os.waitpid(self.pid, 0)[1]
        return self.code()

    def code(self):
        code = os.waitstatus_to_exitcode(self.status)
        return 128 - code if code < 0 else code


def end_run(proc):
    """SIGKILLs what is left of the program: its process group and, when we
    are the container's init (pid 1), every other process too."""
    for pid in (-proc.pid, -1) if os.getpid() == 1 else (-proc.pid,):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def pump(proc, max_output_bytes):
    """Forwards the child's pipes as o/e frames until EOF; returns status."""
    poller = select.poll()
    tags = {proc.stdout: b"o", proc.stderr: b"e"}
    for fd in tags:
        poller.register(fd, select.POLLIN)
    budget = max_output_bytes + 1 if max_output_bytes else None
    drain_deadline = None
    while tags:
        events = poller.poll(100)
        for fd, _ in events:
            data = os.read(fd, CHUNK)
            if not data:
                poller.unregister(fd)
                os.close(fd)
                del tags[fd]
                continue
            if budget is not None:  # forward max_output_bytes + 1, no more
                data = data[:budget]
                budget -= len(data)
                if budget == 0:
                    end_run(proc)
            if data:
                emit(tags[fd], b64(data))
        if proc.poll() is not None:
            if drain_deadline is None:  # the run ends with the program
                end_run(proc)
                drain_deadline = time.monotonic() + DRAIN_SECONDS
            elif not events and time.monotonic() > drain_deadline:
                break  # an escaped process still holds a pipe open
    return proc.wait()


def read_at_most(fd, limit):
    """Reads up to limit + 1 bytes: more than limit means too big."""
    chunks, total = [], 0
    while total <= limit:
        data = os.read(fd, min(1 << 20, limit + 1 - total))
        if not data:
            break
        chunks.append(data)
        total += len(data)
    return b"".join(chunks)


def collect_outputs(m, workspace, inputs):
    """Emits f frames for new or changed regular files in path order (the
    program file excepted), within the caps; then t if any was left out."""
    paths = []
    for root, _, files in os.walk(workspace):  # never follows symlinks
        paths += [os.path.relpath(os.path.join(root, name), workspace)
                  for name in files]
    paths.sort(key=os.fsencode)
    max_files, budget = m["max_output_files"], m["max_output_file_bytes"]
    taken, truncated = 0, False
    for rel in paths:
        if rel == m["program"]["path"]:
            continue
        try:
            fd = os.open(os.path.join(workspace, rel),
                         os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # a symlink, or gone
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            original = inputs.get(rel)
            content = read_at_most(fd, max(budget, len(original))
                                   if original is not None else budget)
        finally:
            os.close(fd)
        if content == original:
            continue  # an unchanged input
        if taken >= max_files or len(content) > budget:
            truncated = True  # smaller files later on may still fit
            continue
        emit(b"f", b64(os.fsencode(rel)), b64(content))
        taken += 1
        budget -= len(content)
    if truncated:
        emit(b"t")


def ignore(signum, frame):
    pass


def harden():
    """Outlives what a program can send; the program starts with default
    dispositions again (Program resets them). Not PR_SET_DUMPABLE: gVisor
    (2022-12-19) still lets a same-uid process open /proc/<pid>/fd of a
    non-dumpable one (measured), and ctypes costs ~15-40 ms to import."""
    for signum in _SURVIVED:
        try:
            signal.signal(signum, ignore)
        except (OSError, ValueError):
            pass


def main():
    harden()
    bundle = os.environ.get("CE_BUNDLE_DIR", "/opt/code-executor")
    workspace = os.environ.get("CE_WORKSPACE", "/workspace")
    try:
        m = load_manifest(bundle)
        inputs = write_inputs(m, bundle, workspace)
        # The API server's address and our own settings are none of the
        # program's business.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KUBERNETES_", "CE_"))}
        env.update((name, value) for name, value in m["env"])
        stdin = None
        if m.get("stdin_key"):
            stdin = os.path.join(bundle, m["stdin_key"])
        proc = Program(m["command"], workspace, env, stdin, m.get("run_as"))
    except Exception as err:  # bad manifest or bundle, command not found
        report(err)
        emit(b"x", b"127")
        return 127

    def forward_sigterm(signum, frame):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, forward_sigterm)
    code = pump(proc, m.get("max_output_bytes"))
    try:
        collect_outputs(m, workspace, inputs)
    except Exception as err:
        report(err)
    emit(b"x", str(code).encode())
    return code  # the container's exit code mirrors the program's


if __name__ == "__main__":
    sys.exit(main())
