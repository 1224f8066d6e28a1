"""Command line: ``code-executor run FILE|-`` (also ``python -m code_executor``).

Streams the program's stdout and stderr live to this process's stdout and
stderr and exits with the program's exit code. Ctrl-C cancels the run (the
server kills the sandbox) and exits 130.

Exit status: the program's own exit code when it ran to completion
(OK / NONZERO_EXIT); 124 when it timed out; 130 when cancelled; for the
other outcomes (OOM_KILLED, OUTPUT_LIMIT, SANDBOX_ERROR) the exit code the
server reported, or 1 when that is 0; 125 when the service itself failed
(unreachable, request rejected, ...); 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from collections.abc import Sequence
from typing import BinaryIO

from . import __version__
from ._channel import TokenFile
from .client import CodeExecutorClient
from .errors import CodeExecutorError, TokenFileError
from .types import Finished, Outcome, Started, Stderr, Stdout

DEFAULT_TARGET = "localhost:50051"
TARGET_ENV = "CODE_EXECUTOR_TARGET"
TOKEN_FILE_ENV = "CODE_EXECUTOR_TOKEN_FILE"

EXIT_TIMEOUT = 124
EXIT_SERVICE_ERROR = 125
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="code-executor",
        description="Run code in a fresh gVisor sandbox of a code-executor service.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run a program and stream its output",
        description="Run FILE (or the program read from standard input, for '-') "
        "and stream its stdout and stderr; exit with its exit code.",
    )
    run.add_argument("file", metavar="FILE|-", help="program to run; '-' reads standard input")
    run.add_argument(
        "-s", "--session", metavar="ID",
        help="run as the next cell of this open session (`session create`); the "
        "session fixes language, env, stdin and resources",
    )
    _add_connection(run)
    req = run.add_argument_group("request")
    _add_request(req)
    req.add_argument(
        "--stdin", metavar="LOCAL", type=pathlib.Path,
        help="file fed to the program's standard input",
    )
    req.add_argument(
        "-o", "--output-dir", metavar="DIR", type=pathlib.Path,
        help="write the files the program created or changed under DIR",
    )
    req.add_argument("--request-id", help="client request id (echoed in the server's logs)")
    _add_limits(run)
    run.add_argument("-v", "--verbose", action="store_true",
                     help="report the execution id, outcome and timings on stderr")

    session = sub.add_parser(
        "session",
        help="create or close a session (one sandbox for several runs)",
        description="`session create` starts a session and prints its id; `run "
        "--session ID` runs cells in it (Python: one interpreter, its globals "
        "stay); `session close ID` deletes its sandbox.",
    )
    session_sub = session.add_subparsers(dest="session_command", required=True)
    create = session_sub.add_parser("create", help="start a session, print its id")
    _add_connection(create)
    _add_request(create.add_argument_group("session"))
    _add_limits(create)
    create.add_argument("--idle-timeout", metavar="SECONDS", type=float,
                        help="close it after this long without a cell")
    create.add_argument("--max-lifetime", metavar="SECONDS", type=float,
                        help="close it this long after its start")
    create.add_argument("-v", "--verbose", action="store_true",
                        help="report what the server applied on stderr")
    close = session_sub.add_parser("close", help="close a session, delete its sandbox")
    close.add_argument("session_id", metavar="ID")
    _add_connection(close)
    close.add_argument("-v", "--verbose", action="store_true",
                       help="report how many cells it ran on stderr")
    return parser


def _add_connection(parser: argparse.ArgumentParser) -> None:
    conn = parser.add_argument_group("connection")
    conn.add_argument(
        "--target",
        default=os.environ.get(TARGET_ENV, DEFAULT_TARGET),
        help=f"server host:port (default: ${TARGET_ENV} or {DEFAULT_TARGET})",
    )
    conn.add_argument("--secure", action="store_true", help="use TLS")
    conn.add_argument(
        "--root-certificates", metavar="PEM", type=pathlib.Path,
        help="PEM file of root certificates for TLS (implies --secure)",
    )
    conn.add_argument(
        "--cert-file", metavar="PEM", type=pathlib.Path,
        help="PEM file of the client certificate (chain) for mTLS; with "
        "--key-file (implies --secure)",
    )
    conn.add_argument(
        "--key-file", metavar="PEM", type=pathlib.Path,
        help="PEM file of the client certificate's private key; with --cert-file",
    )
    conn.add_argument(
        "--token-file", metavar="PATH", type=pathlib.Path,
        default=os.environ.get(TOKEN_FILE_ENV) or None,
        help="file of a bearer token (e.g. a Kubernetes projected service "
        "account token) sent with the call, for a server with "
        f"server.auth.mode=token (default: ${TOKEN_FILE_ENV}); use TLS "
        "outside a trusted network",
    )
    conn.add_argument(
        "--rpc-timeout", metavar="SECONDS", type=float,
        help="deadline of the whole call (default: none)",
    )


def _add_request(req: argparse._ArgumentGroup) -> None:
    req.add_argument(
        "-l", "--language",
        help="language profile (default: from FILE's suffix, .py python, .sh bash, "
        ".js javascript; else the server's default)",
    )
    req.add_argument(
        "-e", "--env", metavar="NAME=VALUE", action="append", default=[],
        type=_env_pair, help="environment variable of the program (repeatable)",
    )
    req.add_argument(
        "-f", "--file", dest="files", metavar="PATH[=LOCAL]", action="append",
        default=[], type=_file_arg,
        help="put LOCAL (default: PATH) into the workspace at PATH (repeatable)",
    )


def _limits(args: argparse.Namespace) -> dict:
    """The options _add_limits added, as the client's keyword arguments."""
    return dict(
        timeout_seconds=args.timeout,
        cpu_requested=args.cpu_requested,
        cpu_limit=args.cpu_limit,
        memory_requested=args.memory_requested,
        memory_limit=args.memory_limit,
        max_output_bytes=args.max_output_bytes,
    )


def _add_limits(parser: argparse.ArgumentParser) -> None:
    lim = parser.add_argument_group("limits (default: the server's)")
    lim.add_argument("-t", "--timeout", metavar="SECONDS", type=_positive_int,
                     help="wall-clock limit of the run")
    lim.add_argument("--cpu-requested", metavar="QTY", help='e.g. "200m"')
    lim.add_argument("--cpu-limit", metavar="QTY", help='e.g. "1"')
    lim.add_argument("--memory-requested", metavar="QTY", help='e.g. "256Mi"')
    lim.add_argument("--memory-limit", metavar="QTY", help='e.g. "512Mi"')
    lim.add_argument("--max-output-bytes", metavar="N", type=_positive_int,
                     help="cap on stdout + stderr")


def _credentials(args: argparse.Namespace) -> dict:
    """The client's credential arguments: the PEM files of
    --root-certificates, --cert-file and --key-file, read, and --token-file,
    checked now (``TokenFileError``) so that a bad one is a usage error."""
    def read(path: pathlib.Path | None) -> bytes | None:
        return path.read_bytes() if path is not None else None

    if args.token_file is not None:
        TokenFile(args.token_file).read()
    return {
        "root_certificates": read(args.root_certificates),
        "certificate_chain": read(args.cert_file),
        "private_key": read(args.key_file),
        "token_file": args.token_file,
    }


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _file_arg(text: str) -> tuple[str, pathlib.Path]:
    path, sep, local = text.partition("=")
    if not path:
        raise argparse.ArgumentTypeError(f"expected PATH[=LOCAL], got {text!r}")
    return path, pathlib.Path(local if sep else path)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def exit_status(finished: Finished) -> int:
    """The exit status of this command for a run that ended as ``finished``."""
    if finished.outcome is Outcome.OK:
        return 0
    if finished.outcome is Outcome.TIMEOUT:
        return EXIT_TIMEOUT
    if finished.outcome is Outcome.CANCELLED:
        return EXIT_INTERRUPTED
    # A shell's exit status is one byte; never let a failure wrap to 0.
    return (finished.exit_code & 0xFF) or 1


def _write(out: BinaryIO, data: bytes) -> None:
    out.write(data)
    out.flush()


# The built-in profile a program file's suffix names (the server's defaults).
LANGUAGE_BY_SUFFIX = {".py": "python", ".sh": "bash", ".js": "javascript"}


def _language_of(file: str) -> str | None:
    """The language FILE's suffix names; None (the server's default) if none."""
    if file == "-":
        return None
    return LANGUAGE_BY_SUFFIX.get(pathlib.PurePath(file).suffix)


def _run(args: argparse.Namespace, stdout: BinaryIO, stderr: BinaryIO) -> int:
    def say(text: str) -> None:
        _write(stderr, f"code-executor: {text}\n".encode())

    try:
        if args.file == "-":
            code = sys.stdin.buffer.read().decode("utf-8")
        else:
            code = pathlib.Path(args.file).read_text(encoding="utf-8")
        files = [(path, local.read_bytes()) for path, local in args.files]
        stdin_data = args.stdin.read_bytes() if args.stdin else None
        credentials = _credentials(args)
    except (OSError, UnicodeDecodeError, TokenFileError) as e:
        say(f"error: {e.message if isinstance(e, TokenFileError) else e}")
        return 2

    client = CodeExecutorClient(
        args.target, secure=args.secure, timeout=args.rpc_timeout, **credentials
    )
    stream = None
    try:
        language = args.language
        if language is None and args.session is None:
            language = _language_of(args.file)
        stream = client.stream(
            code,
            session_id=args.session,
            language=language,
            stdin=stdin_data,
            env=dict(args.env),
            files=files,
            **_limits(args),
            client_request_id=args.request_id,
        )
        finished = None
        for event in stream:
            if isinstance(event, Stdout):
                _write(stdout, event.data)
            elif isinstance(event, Stderr):
                _write(stderr, event.data)
            elif isinstance(event, Started) and args.verbose:
                say(f"started {event.execution_id} on {event.backend} ({event.sandbox_name})")
            elif isinstance(event, Finished):
                finished = event
    except KeyboardInterrupt:
        if stream is not None:
            stream.cancel()
        say("interrupted; run cancelled")
        return EXIT_INTERRUPTED
    except CodeExecutorError as e:
        say(f"service error: {e.code.name}: {e.message}")
        return EXIT_SERVICE_ERROR
    finally:
        client.close()

    assert finished is not None  # the stream raises otherwise
    if finished.outcome not in (Outcome.OK, Outcome.NONZERO_EXIT):
        say(f"{finished.outcome.value}: {finished.message}" if finished.message
            else finished.outcome.value)
    if finished.truncated:
        say("output was truncated at the output limit")
    if args.output_dir is not None:
        _save_files(args.output_dir, finished, say)
    if args.verbose:
        t = finished.timings
        say(f"{finished.outcome.value}, exit code {finished.exit_code}, "
            f"total {t.total if t.total is not None else '?'}s")
    return exit_status(finished)


def _save_files(root: pathlib.Path, finished: Finished, say) -> None:
    base = root.resolve()
    for f in finished.output_files:
        dest = (base / f.fs_path).resolve()  # the exact name, even if not UTF-8
        if base != dest and base not in dest.parents:
            say(f"skipping output file outside the output dir: {f.path}")
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.content)
    if finished.output_files_truncated:
        say("some output files were left out (server's output-file caps)")


def _session(args: argparse.Namespace, stdout: BinaryIO, stderr: BinaryIO) -> int:
    def say(text: str) -> None:
        _write(stderr, f"code-executor: {text}\n".encode())

    try:
        credentials = _credentials(args)
        files = [(path, local.read_bytes()) for path, local in getattr(args, "files", [])]
    except (OSError, TokenFileError) as e:
        say(f"error: {e.message if isinstance(e, TokenFileError) else e}")
        return 2
    client = CodeExecutorClient(
        args.target, secure=args.secure, timeout=args.rpc_timeout, **credentials
    )
    try:
        if args.session_command == "close":
            cells = client.close_session(args.session_id)
            if args.verbose:
                say(f"closed {args.session_id} after {cells} cells")
            return 0
        info = client.create_session(
            language=args.language,
            env=dict(args.env),
            files=files,
            **_limits(args),
            idle_timeout=args.idle_timeout,
            max_lifetime=args.max_lifetime,
        )
        _write(stdout, f"{info.session_id}\n".encode())
        if args.verbose:
            say(f"{info.language} session on {info.backend} ({info.sandbox_name}), "
                f"memory {info.memory_limit}, cpu {info.cpu_limit}, idle timeout "
                f"{info.idle_timeout:g}s, max lifetime {info.max_lifetime:g}s")
        return 0
    except CodeExecutorError as e:
        say(f"service error: {e.code.name}: {e.message}")
        return EXIT_SERVICE_ERROR
    finally:
        client.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (getattr(args, "cert_file", None) is None) != (getattr(args, "key_file", None) is None):
        parser.error("--cert-file and --key-file come together (mTLS client certificate)")
    try:
        if args.command == "run":
            return _run(args, sys.stdout.buffer, sys.stderr.buffer)
        if args.command == "session":
            return _session(args, sys.stdout.buffer, sys.stderr.buffer)
    except KeyboardInterrupt:  # before the call started
        return EXIT_INTERRUPTED
    return 2


if __name__ == "__main__":
    sys.exit(main())
