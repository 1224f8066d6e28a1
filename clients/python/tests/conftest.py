"""Fixtures: the real code-executor server, started once per test session.

The binary is $CODE_EXECUTOR_SERVER, default build/server/code_executor_server
under the repo root. When it is missing the tests that need it are skipped,
unless $CODE_EXECUTOR_REQUIRE_SERVER is set (CI sets it): then they fail.
$CODE_EXECUTOR_SERVER_ARGS adds arguments (shell syntax) to its command line.
`start_server` starts another one with extra arguments (e.g. test_tls.py's).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

HERE = Path(__file__).resolve().parent
CLIENT_DIR = HERE.parent
REPO_ROOT = CLIENT_DIR.parent.parent
DEFAULT_SERVER = REPO_ROOT / "build" / "server" / "code_executor_server"

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


@dataclass
class Server:
    """A running server: where to reach it and how to read its metrics."""

    target: str
    metrics_url: str
    process: subprocess.Popen
    log_path: Path

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as r:
            return r.read().decode("utf-8")

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        pattern = re.compile(rf"^{re.escape(name)}(\{{(.*)\}})?\s+(\S+)")
        for line in self.metrics_text().splitlines():
            m = pattern.match(line)
            if not m:
                continue
            have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                total += float(m.group(3))
        return total

    def wait_inflight_zero(self, timeout: float = 15.0) -> float:
        """Polls codeexec_inflight until 0; returns the seconds it took."""
        start = time.monotonic()
        value = None
        while time.monotonic() - start < timeout:
            value = self.metric("codeexec_inflight")
            if value == 0:
                return time.monotonic() - start
            time.sleep(0.1)
        raise AssertionError(
            f"codeexec_inflight still {value} after {timeout}s\n" + self.log_tail()
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "server log (tail):\n" + "\n".join(text[-lines:])


def _server_binary() -> Path:
    return Path(os.environ.get("CODE_EXECUTOR_SERVER") or DEFAULT_SERVER)


def _wait_ports(proc: subprocess.Popen, ports_file: Path, log: Path) -> dict:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"server exited with {proc.returncode} before listening\n"
                + log.read_text(errors="replace")[-4000:]
            )
        try:
            ports = json.loads(ports_file.read_text())
            if ports.get("grpc") and ports.get("metrics"):
                return ports
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    pytest.fail(f"server wrote no ports file in {START_TIMEOUT_S}s")


def _wait_serving(target: str, proc: subprocess.Popen) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + START_TIMEOUT_S
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "codeexecutor.v1.CodeExecutor"):
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"server exited with {proc.returncode} while starting")
                try:
                    reply = stub.Check(
                        health_pb2.HealthCheckRequest(service=service), timeout=2
                    )
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"health of {service!r} not SERVING in time")
                time.sleep(0.1)


def server_binary_or_skip() -> Path:
    """The server binary; skips the test (fails under
    $CODE_EXECUTOR_REQUIRE_SERVER) when it is missing."""
    binary = _server_binary()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        reason = (
            f"code-executor server binary not found at {binary} (build it with "
            "cmake, or set CODE_EXECUTOR_SERVER)"
        )
        if _truthy("CODE_EXECUTOR_REQUIRE_SERVER"):
            pytest.fail(reason + "; CODE_EXECUTOR_REQUIRE_SERVER is set")
        pytest.skip(reason)
    return binary


@contextlib.contextmanager
def start_server(root: Path, extra_args: Sequence[str] = ()) -> Iterator[Server]:
    """Runs the server on free loopback ports with its files under `root`,
    until the block ends. `extra_args` come after $CODE_EXECUTOR_SERVER_ARGS
    (e.g. ``["--set", "key=value"]``). With ``server.healthAddress`` the
    readiness check asks the "health" port of the ports file (plaintext),
    else the gRPC port."""
    binary = server_binary_or_skip()
    root.mkdir(parents=True, exist_ok=True)
    state_dir = root / "state"
    state_dir.mkdir(exist_ok=True)
    ports_file = root / "ports.json"
    log_path = root / "server.log"
    cmd = [
        str(binary),
        "--listen_address", "127.0.0.1:0",
        "--metrics_address", "127.0.0.1:0",
        "--ports_file", str(ports_file),
        "--set", f"local.stateDir={state_dir}",
        *shlex.split(os.environ.get("CODE_EXECUTOR_SERVER_ARGS", "")),
        *extra_args,
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        ports = _wait_ports(proc, ports_file, log_path)
        target = f"127.0.0.1:{ports['grpc']}"
        _wait_serving(f"127.0.0.1:{ports.get('health') or ports['grpc']}", proc)
        yield Server(
            target=target,
            metrics_url=f"http://127.0.0.1:{ports['metrics']}/metrics",
            process=proc,
            log_path=log_path,
        )
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("server")) as s:
        yield s


@pytest.fixture
def client(server):
    from code_executor import CodeExecutorClient

    with CodeExecutorClient(server.target, timeout=120) as c:
        yield c


def check_session_belongs_to_its_creator(owner, other) -> None:
    """`owner` and `other` are clients of two callers (two identities the
    server tells apart). A session `owner` creates is NOT_FOUND to `other`
    (a cell and CloseSession alike), and `other`'s attempts leave it alone."""
    from code_executor import Outcome, SessionNotFoundError

    info = owner.create_session()
    try:
        assert owner.run("x = 41", session_id=info.session_id).outcome is Outcome.OK
        with pytest.raises(SessionNotFoundError):
            other.run("print(x)", session_id=info.session_id)
        with pytest.raises(SessionNotFoundError):
            other.close_session(info.session_id)
        assert owner.run("print(x + 1)", session_id=info.session_id).stdout == "42\n"
    finally:
        assert owner.close_session(info.session_id) == 2

