"""TLS and mTLS: the clients, the CLI and RemoteCodeExecutor with a client
certificate, against the real server with server.auth.mode=mtls.

The certificates are made with the `openssl` CLI: a test CA, a server
certificate for IP 127.0.0.1, and client certificates whose URI SANs are the
identities "allowed" (in server.auth.allowedIdentities) and "other" (not).
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from code_executor import (
    AsyncCodeExecutorClient,
    CodeExecutorClient,
    Outcome,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)
from code_executor import _channel
from conftest import check_session_belongs_to_its_creator, start_server

ALLOWED = "spiffe://test.local/ns/agents/sa/allowed"
OTHER = "spiffe://test.local/ns/agents/sa/other"

# Every byte value, plus sequences that are not UTF-8: must arrive exactly.
PAYLOAD = bytes(range(256)) * 64 + b"\xff\xfe\xc3(\xed\xa0\x80tail"
BINARY_CODE = (
    "import sys\n"
    "sys.stdout.buffer.write(bytes(range(256)) * 64 + b'\\xff\\xfe\\xc3(\\xed\\xa0\\x80tail')\n"
)


def digest(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


# --- certificates -----------------------------------------------------------


class Certs:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / name

    def read(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def client(self, who: str) -> dict:
        """Keyword arguments of a client presenting `who`'s certificate."""
        return {
            "root_certificates": self.read("ca.crt"),
            "private_key": self.read(f"{who}.key"),
            "certificate_chain": self.read(f"{who}.crt"),
        }


def _openssl(root: Path, *args: str) -> None:
    done = subprocess.run(["openssl", *args], cwd=root, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")


def _make_certs(root: Path) -> Certs:
    def key(name: str) -> None:
        _openssl(root, "genpkey", "-algorithm", "EC",
                 "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key")

    def cert(name: str, san: str) -> None:
        key(name)
        _openssl(root, "req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}",
                 "-out", f"{name}.csr")
        (root / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        _openssl(root, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt",
                 "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
                 "-extfile", f"{name}.ext", "-out", f"{name}.crt")

    key("ca")
    _openssl(root, "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=test-ca",
             "-days", "1", "-out", "ca.crt")
    cert("server", "IP:127.0.0.1")
    cert("allowed", f"URI:{ALLOWED}")
    cert("other", f"URI:{OTHER}")
    return Certs(root)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is needed to make the test certificates")
    return _make_certs(tmp_path_factory.mktemp("certs"))


def _mtls_args(certs: Certs, allowed: list[str] | None) -> list[str]:
    args = [
        "--set", f"server.tls.certFile={certs.path('server.crt')}",
        "--set", f"server.tls.keyFile={certs.path('server.key')}",
        "--set", f"server.tls.clientCaFile={certs.path('ca.crt')}",
        "--set", "server.auth.mode=mtls",
        "--set", "server.healthAddress=127.0.0.1:0",
    ]
    if allowed is not None:
        quoted = ", ".join(f'"{a}"' for a in allowed)
        args += ["--set", f"server.auth.allowedIdentities=[{quoted}]"]
    return args


@pytest.fixture(scope="module")
def mtls_server(certs, tmp_path_factory):
    """mTLS with an allow-list: only ALLOWED may call."""
    with start_server(tmp_path_factory.mktemp("mtls-server"),
                      _mtls_args(certs, [ALLOWED])) as server:
        yield server


@pytest.fixture(scope="module")
def open_mtls_server(certs, tmp_path_factory):
    """mTLS without an allow-list: every verified caller may call, and owns
    its sessions."""
    with start_server(tmp_path_factory.mktemp("open-mtls-server"),
                      _mtls_args(certs, None)) as server:
        yield server


# --- credentials, no server -------------------------------------------------


class FakeGrpc:
    def __init__(self) -> None:
        self.calls = []

    def ssl_channel_credentials(self, **kwargs):
        self.calls.append(kwargs)
        return "creds"


def test_credentials_pass_the_client_certificate_and_imply_tls():
    fake = FakeGrpc()
    assert _channel.credentials(fake, False, None, "KEY", b"CHAIN") == "creds"
    assert fake.calls == [{"root_certificates": None, "private_key": b"KEY",
                           "certificate_chain": b"CHAIN"}]
    assert _channel.credentials(fake, False, None) is None
    assert _channel.credentials(fake, False, None, None, None) is None


@pytest.mark.parametrize("given", ["private_key", "certificate_chain"])
def test_half_a_client_certificate_is_a_value_error(given):
    with pytest.raises(ValueError, match="private_key and certificate_chain"):
        CodeExecutorClient("127.0.0.1:1", **{given: b"PEM"})
    with pytest.raises(ValueError, match="private_key and certificate_chain"):
        AsyncCodeExecutorClient("127.0.0.1:1", **{given: "PEM"})


def test_remote_code_executor_hides_the_key_and_passes_it_on(monkeypatch):
    pytest.importorskip("google.adk")
    import code_executor.adk as adk

    made = []

    class Recorder:
        def __init__(self, target, **kwargs):
            made.append((target, kwargs))

        def close(self):
            pass

    monkeypatch.setattr(adk, "CodeExecutorClient", Recorder)
    ex = adk.RemoteCodeExecutor(target="127.0.0.1:1", private_key="SECRET-KEY",
                                certificate_chain=b"CHAIN", root_certificates=b"ROOTS")
    assert ex.private_key == b"SECRET-KEY"  # str PEM is taken as bytes
    assert "SECRET" not in repr(ex) and "CHAIN" not in repr(ex)
    ex._client()
    ex.close()
    ((target, kwargs),) = made
    assert target == "127.0.0.1:1"
    assert (kwargs["root_certificates"], kwargs["private_key"],
            kwargs["certificate_chain"]) == (b"ROOTS", b"SECRET-KEY", b"CHAIN")


def test_cli_needs_both_cert_and_key_file(tmp_path):
    (tmp_path / "c.pem").write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "code_executor", "run", "--target", "127.0.0.1:1",
         "--cert-file", str(tmp_path / "c.pem"), "-"],
        input=b"print(1)\n", capture_output=True, timeout=60,
    )
    assert done.returncode == 2
    assert b"--cert-file and --key-file" in done.stderr


# --- against an mTLS server -------------------------------------------------


def test_allowed_certificate_runs_code_exactly(mtls_server, certs):
    with CodeExecutorClient(mtls_server.target, timeout=120,
                            **certs.client("allowed")) as client:
        result = client.run(BINARY_CODE)
    assert result.outcome is Outcome.OK, result.stderr
    assert digest(result.stdout_bytes) == digest(PAYLOAD)
    # The server logs who called.
    deadline = time.monotonic() + 10
    while f'"caller":"{ALLOWED}"' not in mtls_server.log_tail(400):
        assert time.monotonic() < deadline, mtls_server.log_tail()
        time.sleep(0.1)


def test_allowed_certificate_runs_code_with_asyncio(mtls_server, certs):
    async def main():
        # str PEM works as well as bytes.
        kwargs = {k: v.decode() for k, v in certs.client("allowed").items()}
        async with AsyncCodeExecutorClient(mtls_server.target, timeout=120,
                                           **kwargs) as client:
            return await client.run(BINARY_CODE)

    result = asyncio.run(main())
    assert result.outcome is Outcome.OK, result.stderr
    assert digest(result.stdout_bytes) == digest(PAYLOAD)


def test_caller_outside_the_allow_list_is_permission_denied(mtls_server, certs):
    before = mtls_server.metric("codeexec_executions_total")
    with CodeExecutorClient(mtls_server.target, timeout=60,
                            **certs.client("other")) as client:
        with pytest.raises(PermissionDeniedError) as info:
            client.run("print(1)")
        assert info.value.code is grpc.StatusCode.PERMISSION_DENIED
        assert OTHER in info.value.message
        with pytest.raises(PermissionDeniedError):
            client.create_session()

    async def main():
        async with AsyncCodeExecutorClient(mtls_server.target, timeout=60,
                                           **certs.client("other")) as client:
            await client.run("print(1)")

    with pytest.raises(PermissionDeniedError):
        asyncio.run(main())
    assert mtls_server.metric("codeexec_executions_total") == before


def test_no_client_certificate_is_unauthenticated(mtls_server, certs):
    with CodeExecutorClient(mtls_server.target, timeout=60,
                            root_certificates=certs.read("ca.crt")) as client:
        with pytest.raises(UnauthenticatedError) as info:
            client.run("print(1)")
    assert info.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert "client certificate" in info.value.message

    async def main():
        async with AsyncCodeExecutorClient(mtls_server.target, timeout=60,
                                           root_certificates=certs.read("ca.crt")) as c:
            await c.run("print(1)")

    with pytest.raises(UnauthenticatedError):
        asyncio.run(main())


def test_plaintext_client_cannot_reach_the_tls_port(mtls_server):
    with CodeExecutorClient(mtls_server.target, timeout=30) as client:
        with pytest.raises(UnavailableError):
            client.run("print(1)")


def test_cli_with_client_certificate(mtls_server, certs, tmp_path):
    prog = tmp_path / "binary.py"
    prog.write_text(BINARY_CODE)

    def cli(*tls: str):
        return subprocess.run(
            [sys.executable, "-m", "code_executor", "run", "--target", mtls_server.target,
             "--root-certificates", str(certs.path("ca.crt")), *tls, str(prog)],
            capture_output=True, timeout=120,
        )

    done = cli("--cert-file", str(certs.path("allowed.crt")),
               "--key-file", str(certs.path("allowed.key")))
    assert done.returncode == 0, done.stderr
    assert digest(done.stdout) == digest(PAYLOAD)

    denied = cli("--cert-file", str(certs.path("other.crt")),
                 "--key-file", str(certs.path("other.key")))
    assert denied.returncode == 125
    assert b"PERMISSION_DENIED" in denied.stderr

    anonymous = cli()
    assert anonymous.returncode == 125
    assert b"UNAUTHENTICATED" in anonymous.stderr


def test_remote_code_executor_with_client_certificate(mtls_server, certs):
    pytest.importorskip("google.adk")
    from google.adk.code_executors.code_execution_utils import CodeExecutionInput

    from code_executor.adk import RemoteCodeExecutor

    code = "import hashlib, sys\nprint(sys.version_info[0], hashlib.sha256(b'mtls').hexdigest())"
    ex = RemoteCodeExecutor(target=mtls_server.target, timeout_seconds=60,
                            **certs.client("allowed"))
    try:
        out = ex.execute_code(None, CodeExecutionInput(code=code))
    finally:
        ex.close()
    assert (out.stdout, out.stderr) == (f"3 {hashlib.sha256(b'mtls').hexdigest()}\n", "")

    other = RemoteCodeExecutor(target=mtls_server.target, **certs.client("other"))
    try:
        out = other.execute_code(None, CodeExecutionInput(code=code))
    finally:
        other.close()
    assert out.stdout == ""
    assert out.stderr.startswith("Code executor service error (PERMISSION_DENIED): ")


def test_a_session_is_found_only_by_its_creator(open_mtls_server, certs):
    target = open_mtls_server.target
    with CodeExecutorClient(target, timeout=120, **certs.client("allowed")) as owner, \
            CodeExecutorClient(target, timeout=120, **certs.client("other")) as other:
        # Without an allow-list any verified caller may run code.
        assert other.run("print('other runs')").stdout == "other runs\n"

        check_session_belongs_to_its_creator(owner, other)
