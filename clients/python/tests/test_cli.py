"""`code-executor run` / `python -m code_executor run` against the real server."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest


def console_script_path() -> str | None:
    """The `code-executor` script installed with this interpreter (venv or not)."""
    beside = pathlib.Path(sys.executable).parent / "code-executor"
    return str(beside) if beside.is_file() else shutil.which("code-executor")


def cli(server, *args, stdin=None, console_script=False, timeout=120):
    exe = [console_script_path()] if console_script else [
        sys.executable, "-m", "code_executor"]
    return subprocess.run(
        [*exe, "run", "--target", server.target, *map(str, args)],
        input=stdin, capture_output=True, timeout=timeout,
    )


def test_run_file_streams_stdout_and_stderr_apart(server, tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text("import sys\nprint('to out')\nprint('to err', file=sys.stderr)\n")
    done = cli(server, prog)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"to out\n"
    assert done.stderr == b"to err\n"


def test_exit_code_is_propagated(server, tmp_path):
    prog = tmp_path / "exit7.py"
    prog.write_text("import sys\nsys.exit(7)\n")
    assert cli(server, prog).returncode == 7


def test_console_script_and_program_from_stdin(server):
    if console_script_path() is None:
        pytest.fail("console script `code-executor` is not installed; pip install ./clients/python")
    done = cli(server, "-", "-l", "bash", stdin=b"echo from bash; exit 3\n",
               console_script=True)
    assert (done.stdout, done.returncode) == (b"from bash\n", 3)


def test_language_follows_the_file_suffix_unless_given(server, tmp_path):
    js = tmp_path / "prog.js"
    js.write_text("process.stdout.write(typeof require + '\\n'); process.exitCode = 4;\n")
    done = cli(server, js)
    assert (done.stdout, done.returncode) == (b"function\n", 4), done.stderr
    sh = tmp_path / "prog.sh"
    sh.write_text('echo "bash ${BASH_VERSINFO[0]}"\n')
    done = cli(server, sh)
    assert (done.stdout, done.returncode) == (b"bash 5\n", 0), done.stderr
    # --language wins over the suffix: this .js file is a bash program.
    odd = tmp_path / "odd.js"
    odd.write_text("echo from bash\n")
    done = cli(server, odd, "-l", "bash")
    assert (done.stdout, done.returncode) == (b"from bash\n", 0), done.stderr


def test_files_env_stdin_and_output_dir(server, tmp_path):
    (tmp_path / "local.txt").write_text("input file\n")
    (tmp_path / "feed.txt").write_text("from stdin\n")
    prog = tmp_path / "prog.py"
    prog.write_text(
        "import os, sys, pathlib\n"
        "print(pathlib.Path('in/data.txt').read_text().strip(), os.environ['X'],"
        " sys.stdin.read().strip())\n"
        "pathlib.Path('result.txt').write_text('made in the sandbox\\n')\n"
    )
    out_dir = tmp_path / "out"
    done = cli(server, prog, "-f", f"in/data.txt={tmp_path / 'local.txt'}", "-e", "X=42",
               "--stdin", tmp_path / "feed.txt", "-o", out_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"input file 42 from stdin\n"
    assert (out_dir / "result.txt").read_text() == "made in the sandbox\n"


def test_timeout_exits_124(server, tmp_path):
    prog = tmp_path / "sleep.py"
    prog.write_text("import time\ntime.sleep(60)\n")
    done = cli(server, prog, "--timeout", "2")
    assert done.returncode == 124
    assert b"TIMEOUT" in done.stderr


def test_rejected_request_exits_125(server, tmp_path):
    prog = tmp_path / "p.py"
    prog.write_text("print(1)\n")
    done = cli(server, prog, "--memory-limit", "abc")
    assert done.returncode == 125
    assert b"INVALID_ARGUMENT: limits.memory_limit" in done.stderr


def test_sigint_cancels_the_run(server, tmp_path):
    prog = tmp_path / "long.py"
    prog.write_text("import time\nprint('ready', flush=True)\ntime.sleep(60)\nprint('late')\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "code_executor", "run", "--target", server.target, str(prog)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout.readline() == b"ready\n"
        assert server.metric("codeexec_inflight") >= 1
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=10)
        assert time.monotonic() - sent < 5, "the CLI took too long to stop"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert b"cancelled" in proc.stderr.read()
    assert proc.stdout.read() == b""  # never got to 'late'
    server.wait_inflight_zero()


def test_unreachable_server_exits_125(tmp_path):
    prog = tmp_path / "p.py"
    prog.write_text("print(1)\n")
    done = subprocess.run(
        [sys.executable, "-m", "code_executor", "run", "--target", "127.0.0.1:1",
         "--rpc-timeout", "10", str(prog)],
        capture_output=True, timeout=60,
    )
    assert done.returncode == 125
    assert b"UNAVAILABLE" in done.stderr


def test_missing_file_exits_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "code_executor", "run", str(tmp_path / "nope.py")],
        capture_output=True, timeout=60,
    )
    assert done.returncode == 2
    assert b"nope.py" in done.stderr


def session_cli(server, *args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "code_executor", "session", *map(str, args),
         "--target", server.target],
        capture_output=True, timeout=timeout,
    )


def test_session_create_run_close(server, tmp_path):
    seed = tmp_path / "seed.bin"
    seed.write_bytes(bytes(range(256)))
    created = session_cli(server, "create", "-f", f"seed.bin={seed}",
                          "--idle-timeout", "60", "-v")
    assert created.returncode == 0, created.stderr
    session_id = created.stdout.decode().strip()
    assert session_id.startswith("cs-")
    assert b"python session on gvisor-local" in created.stderr
    assert b"idle timeout 60s" in created.stderr

    first = tmp_path / "first.py"
    first.write_text("import hashlib\ndigest = hashlib.sha256(open('seed.bin', 'rb').read())\n")
    second = tmp_path / "second.py"
    second.write_text("print(digest.hexdigest())\n")
    assert cli(server, "--session", session_id, first).returncode == 0
    done = cli(server, "--session", session_id, second)
    assert done.returncode == 0, done.stderr
    import hashlib
    assert done.stdout.decode() == hashlib.sha256(bytes(range(256))).hexdigest() + "\n"
    # The session fixes the language: a cell may not set it.
    refused = cli(server, "--session", session_id, "-l", "bash", second)
    assert refused.returncode == 125
    assert b"INVALID_ARGUMENT: language:" in refused.stderr

    closed = session_cli(server, "close", session_id, "-v")
    assert closed.returncode == 0, closed.stderr
    assert f"closed {session_id} after 2 cells".encode() in closed.stderr
    gone = cli(server, "--session", session_id, second)
    assert gone.returncode == 125
    assert b"NOT_FOUND" in gone.stderr
    assert session_cli(server, "close", session_id).returncode == 125
