"""Bearer tokens: the clients, the CLI and RemoteCodeExecutor with
``token_file``, against the real server with server.auth.mode=token.

The server checks a caller's token with the Kubernetes TokenReview API of the
cluster in its kubeconfig (``kubernetes.kubeconfigPath``). There is no cluster
here, so `FakeTokenReview` stands in for the API server; see its docstring for
exactly what it fakes. Test tokens are JWT-shaped (the server reads a token's
``exp`` before it asks for a review) but unsigned: only the fake judges them.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import http.server
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from code_executor import (
    AsyncCodeExecutorClient,
    CodeExecutorClient,
    Outcome,
    PermissionDeniedError,
    TokenFileError,
    UnauthenticatedError,
)
from code_executor import _channel
from conftest import check_session_belongs_to_its_creator, start_server

AUDIENCE = "code-executor"
AGENT = "system:serviceaccount:team-a:agent"
OTHER = "system:serviceaccount:team-a:other"  # allowed too: sessions stay apart
TEAM_B = "system:serviceaccount:team-b:agent"  # a valid token, not allowed
ALLOWED = [AGENT, OTHER, "system:serviceaccount:team-c:*"]
SERVER_TOKEN = "server-token"  # the server's own credential, in its kubeconfig

# A few KB of UTF-8 text with non-ASCII characters (2-, 3- and 4-byte), made
# by the same function here and in the sandbox: it must arrive exactly.
_PAYLOAD_SOURCE = (
    "def payload():\n"
    "    return ''.join(f'{i:04d} grüße ☃ 𝄞 ' + 'x' * (i % 7) + '\\n'\n"
    "                   for i in range(160)).encode('utf-8')\n"
)
PAYLOAD_CODE = _PAYLOAD_SOURCE + "import sys\nsys.stdout.buffer.write(payload())\n"
_namespace: dict = {}
exec(_PAYLOAD_SOURCE, _namespace)
PAYLOAD: bytes = _namespace["payload"]()
assert len(PAYLOAD) > 4000


def digest(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


# --- tokens -----------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint(subject: str, expires_in: float = 3600) -> str:
    """A JWT-shaped token for `subject` (header.payload.signature, base64url)
    whose payload has ``exp`` = now + `expires_in`; the signature is random
    bytes, so every token is new."""
    header = {"alg": "RS256", "kid": "test"}
    payload = {
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": subject,
        "aud": [AUDIENCE],
        "iat": int(time.time()),
        "exp": int(time.time() + expires_in),
    }
    return ".".join([
        _b64url(json.dumps(header).encode()),
        _b64url(json.dumps(payload).encode()),
        _b64url(secrets.token_bytes(64)),
    ])


class ProjectedToken:
    """A token file as the kubelet keeps a projected volume: ``token`` is a
    symlink to ``..data/token``, ``..data`` a symlink to a timestamped
    directory; `write` makes a new directory and renames a new ``..data`` link
    over the old one (atomic), as the kubelet's rotation does."""

    def __init__(self, directory: Path, token: str) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "token"
        self._versions = 0
        self.write(token)
        self.path.symlink_to(Path("..data") / "token")

    def write(self, token: str) -> None:
        self._versions += 1
        version = self.dir / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{self._versions}"
        version.mkdir()
        (version / "token").write_text(token + "\n")  # the kubelet's has none
        data, link = self.dir / "..data", self.dir / "..data_tmp"
        old = data.resolve() if data.exists() else None
        link.symlink_to(version.name)
        os.replace(link, data)
        if old is not None:
            shutil.rmtree(old)


# --- the fake Kubernetes API ------------------------------------------------


class FakeTokenReview:
    """A fake Kubernetes API server that answers only TokenReviews.

    It listens on http://127.0.0.1:<port> (plain HTTP, port 0, a thread) and:

    - answers ``POST /apis/authentication.k8s.io/v1/tokenreviews``, whose
      body is ``{"apiVersion": "authentication.k8s.io/v1", "kind":
      "TokenReview", "spec": {"token": T, "audiences": ["code-executor"]}}``,
      with HTTP 201 and, when T is a token it knows (`issue`) and the spec's
      audiences include "code-executor",
      ``{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
      "status": {"authenticated": true, "user": {"username": U, "uid": ...,
      "groups": ["system:serviceaccounts", "system:serviceaccounts:NS",
      "system:authenticated"]}, "audiences": ["code-executor"]}}``; otherwise,
      as kube-apiserver does, still 201 with ``{"status": {"authenticated":
      false, "error": "invalid bearer token"}}``;
    - counts the reviews per token (`reviews`) and keeps every review's body
      and Authorization header (`bodies`, `authorizations`); it does not
      check that header (the server sends its kubeconfig's token);
    - answers every other request with 404 and a kube Status body
      (``{"kind": "Status", "apiVersion": "v1", "status": "Failure",
      "reason": "NotFound", "code": 404}``): the server's start-up RBAC check
      POSTs selfsubjectaccessreviews and takes a 404 as "no authorization
      API, not checked".

    No signatures, expiry or pod bindings are checked: a token is valid
    exactly when `issue` registered it.
    """

    REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"

    def __init__(self) -> None:
        self.users: dict[str, str] = {}
        self.reviews: collections.Counter[str] = collections.Counter()
        self.bodies: list[dict] = []
        self.authorizations: list[str | None] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.split("?")[0] != fake.REVIEW_PATH:
                    self._not_found()
                    return
                review = json.loads(body or b"{}")
                self._send(201, fake._review(review, self.headers.get("Authorization")))

            def do_GET(self) -> None:
                self._not_found()

            def _not_found(self) -> None:
                self._send(404, {"kind": "Status", "apiVersion": "v1",
                                 "status": "Failure", "reason": "NotFound",
                                 "message": f"the server could not find {self.path}",
                                 "code": 404})

            def _send(self, code: int, obj: dict) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _review(self, review: dict, authorization: str | None) -> dict:
        spec = review.get("spec") or {}
        token = spec.get("token", "")
        with self.lock:
            self.reviews[token] += 1
            self.bodies.append(review)
            self.authorizations.append(authorization)
            user = self.users.get(token)
        if user is None or AUDIENCE not in (spec.get("audiences") or []):
            return {"status": {"authenticated": False, "error": "invalid bearer token"}}
        namespace = user.split(":")[2]
        return {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "status": {
                "authenticated": True,
                "user": {
                    "username": user,
                    "uid": hashlib.sha1(user.encode()).hexdigest(),
                    "groups": ["system:serviceaccounts",
                               f"system:serviceaccounts:{namespace}",
                               "system:authenticated"],
                },
                "audiences": [AUDIENCE],
            },
        }

    def issue(self, username: str, expires_in: float = 3600) -> str:
        """A new token that the fake reviews as `username`."""
        token = mint(username, expires_in)
        with self.lock:
            self.users[token] = username
        return token

    def count(self, token: str) -> int:
        with self.lock:
            return self.reviews[token]

    def write_kubeconfig(self, path: Path) -> Path:
        path.write_text(
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            "- name: fake\n"
            "  cluster:\n"
            f"    server: {self.url}\n"
            "contexts:\n"
            "- name: fake\n"
            "  context:\n"
            "    cluster: fake\n"
            "    user: code-executor\n"
            "current-context: fake\n"
            "users:\n"
            "- name: code-executor\n"
            "  user:\n"
            f"    token: {SERVER_TOKEN}\n"
        )
        return path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def kube():
    fake = FakeTokenReview()
    yield fake
    fake.close()


def _token_args(kubeconfig: Path, allowed: list[str]) -> list[str]:
    quoted = ", ".join(f'"{a}"' for a in allowed)
    return [
        "--set", "server.auth.mode=token",
        "--set", f"server.auth.allowedIdentities=[{quoted}]",
        "--set", f"server.auth.token.audience={AUDIENCE}",
        "--set", f"kubernetes.kubeconfigPath={kubeconfig}",
    ]


@pytest.fixture(scope="module")
def token_server(kube, tmp_path_factory):
    """Token mode on a plaintext port; ALLOWED may call."""
    root = tmp_path_factory.mktemp("token-server")
    kubeconfig = kube.write_kubeconfig(root / "kubeconfig")
    with start_server(root, _token_args(kubeconfig, ALLOWED)) as server:
        yield server


@pytest.fixture
def token_file(kube, tmp_path):
    """A fresh projected token of AGENT; returns its ProjectedToken."""
    return ProjectedToken(tmp_path / "agent-token", kube.issue(AGENT))


def _token_of(kube, tmp_path: Path, username: str) -> Path:
    return ProjectedToken(tmp_path / username.replace(":", "_"),
                          kube.issue(username)).path


# --- no server ---------------------------------------------------------------


def test_token_file_header_strips_whitespace_and_is_read_each_time(tmp_path):
    path = tmp_path / "token"
    path.write_text("\n  abc.def.ghi \r\n")
    token = _channel.TokenFile(path)
    assert token.header() == ("authorization", "Bearer abc.def.ghi")
    path.write_text("second.token.x")
    assert token.header() == ("authorization", "Bearer second.token.x")
    assert _channel.call_metadata(token, {"X-Team": "a"}, [("trace", "1")]) == (
        ("x-team", "a"), ("trace", "1"), ("authorization", "Bearer second.token.x"))
    assert _channel.call_metadata(None, {"X-Team": "a"}) == (("x-team", "a"),)


@pytest.mark.parametrize("content, reason", [
    (None, "No such file or directory"),
    (b"", "empty"),
    (b" \n\t\n", "empty"),
    (b"abc def", "not a bearer token"),
    ("tök".encode(), "not a bearer token"),
])
def test_unusable_token_file_is_a_token_file_error(tmp_path, content, reason):
    path = tmp_path / "token"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TokenFileError) as info:
        _channel.TokenFile(path).read()
    assert info.value.path == str(path)
    assert str(path) in info.value.message and reason in info.value.message
    assert info.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert isinstance(info.value, UnauthenticatedError)


def test_token_file_and_an_authorization_header_do_not_mix(tmp_path):
    path = tmp_path / "token"
    path.write_text("a.b.c")
    with CodeExecutorClient("127.0.0.1:1", token_file=path,
                            metadata={"Authorization": "Bearer x"}) as client:
        with pytest.raises(ValueError, match="authorization"):
            client.run("print(1)")


def test_missing_or_empty_token_file_fails_before_any_call(tmp_path):
    """Nothing listens at 127.0.0.1:1: a call that went out would be
    UNAVAILABLE; the token file's error comes first."""
    missing = tmp_path / "missing"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path in (missing, empty):
        with CodeExecutorClient("127.0.0.1:1", token_file=path, timeout=5) as client:
            for call in (lambda: client.stream("print(1)"),
                         lambda: client.run("print(1)"),
                         lambda: client.create_session(),
                         lambda: client.close_session("s")):
                with pytest.raises(TokenFileError, match=re.escape(str(path))):
                    call()

        async def main():
            async with AsyncCodeExecutorClient("127.0.0.1:1", token_file=str(path),
                                               timeout=5) as client:
                for call in (lambda: client.run("print(1)"),
                             lambda: client.create_session(),
                             lambda: client.close_session("s")):
                    with pytest.raises(TokenFileError, match=re.escape(str(path))):
                        await call()
                with pytest.raises(TokenFileError):
                    client.stream("print(1)")

        asyncio.run(main())


def test_cli_reports_an_unusable_token_file_as_a_usage_error(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-token"
    for args, env in ((["--token-file", str(missing)], {}),
                      ([], {"CODE_EXECUTOR_TOKEN_FILE": str(missing)})):
        done = subprocess.run(
            [sys.executable, "-m", "code_executor", "run", "--target", "127.0.0.1:1",
             *args, "-"],
            input=b"print(1)\n", capture_output=True, timeout=60,
            env={**os.environ, **env},
        )
        assert done.returncode == 2, done.stderr
        assert str(missing).encode() in done.stderr
        assert b"bearer token file" in done.stderr


def test_remote_code_executor_passes_the_token_file(monkeypatch, tmp_path):
    pytest.importorskip("google.adk")
    import code_executor.adk as adk

    made = []

    class Recorder:
        def __init__(self, target, **kwargs):
            made.append(kwargs)

        def close(self):
            pass

    monkeypatch.setattr(adk, "CodeExecutorClient", Recorder)
    ex = adk.RemoteCodeExecutor(target="127.0.0.1:1", token_file=str(tmp_path / "t"))
    assert ex.token_file == tmp_path / "t"
    assert adk.RemoteCodeExecutor().token_file is None
    ex._client()
    ex.close()
    assert made[0]["token_file"] == tmp_path / "t"


# --- against a token server --------------------------------------------------


def test_allowed_token_runs_code_exactly(token_server, kube, token_file):
    token = token_file.path.read_text().strip()
    with CodeExecutorClient(token_server.target, timeout=120,
                            token_file=token_file.path) as client:
        result = client.run(PAYLOAD_CODE)
    assert result.outcome is Outcome.OK, result.stderr
    assert digest(result.stdout_bytes) == digest(PAYLOAD)
    assert kube.count(token) == 1
    # The server reviewed it for its audience, with its own credential.
    review = next(b for b in kube.bodies if b["spec"]["token"] == token)
    assert review["apiVersion"] == "authentication.k8s.io/v1"
    assert review["kind"] == "TokenReview"
    assert review["spec"]["audiences"] == [AUDIENCE]
    assert set(kube.authorizations) == {f"Bearer {SERVER_TOKEN}"}
    # The server logs who called, and never the token.
    deadline = time.monotonic() + 10
    while f'"caller":"{AGENT}"' not in token_server.log_tail(400):
        assert time.monotonic() < deadline, token_server.log_tail()
        time.sleep(0.1)
    assert token not in token_server.log_path.read_text(errors="replace")


def test_allowed_token_runs_code_with_asyncio(token_server, kube, token_file):
    async def main():
        async with AsyncCodeExecutorClient(token_server.target, timeout=120,
                                           token_file=token_file.path) as client:
            return await client.run(PAYLOAD_CODE)

    result = asyncio.run(main())
    assert result.outcome is Outcome.OK, result.stderr
    assert digest(result.stdout_bytes) == digest(PAYLOAD)


def test_sessions_with_a_token_sync_and_asyncio(token_server, token_file):
    with CodeExecutorClient(token_server.target, timeout=120,
                            token_file=token_file.path) as client:
        with client.session() as session:
            session.run("x = 'grüße'")
            assert session.run("print(x * 2)").stdout == "grüßegrüße\n"

    async def main():
        async with AsyncCodeExecutorClient(token_server.target, timeout=120,
                                           token_file=token_file.path) as client:
            async with client.session() as session:
                await session.run("x = 20")
                out = (await session.run("print(x + 1)")).stdout
                info = await client.create_session()
                return out, await client.close_session(info.session_id)

    assert asyncio.run(main()) == ("21\n", 0)


def test_no_token_is_unauthenticated(token_server):
    before = token_server.metric("codeexec_executions_total")
    with CodeExecutorClient(token_server.target, timeout=60) as client:
        with pytest.raises(UnauthenticatedError) as info:
            client.run("print(1)")
        assert info.value.code is grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(UnauthenticatedError):
            client.create_session()
        with pytest.raises(UnauthenticatedError):
            client.close_session("no-such-session")

    async def main():
        async with AsyncCodeExecutorClient(token_server.target, timeout=60) as c:
            await c.run("print(1)")

    with pytest.raises(UnauthenticatedError):
        asyncio.run(main())
    assert token_server.metric("codeexec_executions_total") == before


def test_health_and_reflection_need_no_token(token_server):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(token_server.target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="codeexecutor.v1.CodeExecutor"),
            timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        # ServerReflectionRequest{list_services: ""}, by hand (field 7).
        call = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=None, response_deserializer=None)
        replies = list(call(iter([b"\x3a\x00"]), timeout=10))
    assert b"codeexecutor.v1.CodeExecutor" in replies[0]


def test_unknown_token_is_unauthenticated(token_server, kube, tmp_path):
    stranger = mint(AGENT)  # well formed, but the API server does not know it
    path = ProjectedToken(tmp_path / "t", stranger).path
    with CodeExecutorClient(token_server.target, timeout=60, token_file=path) as client:
        with pytest.raises(UnauthenticatedError) as info:
            client.run("print(1)")
    assert not isinstance(info.value, TokenFileError)
    assert info.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert kube.count(stranger) == 1
    assert stranger not in info.value.message


def test_malformed_token_is_unauthenticated_without_a_review(token_server, kube, tmp_path):
    path = tmp_path / "token"
    path.write_text("not-a-jwt")
    with CodeExecutorClient(token_server.target, timeout=60, token_file=path) as client:
        with pytest.raises(UnauthenticatedError):
            client.run("print(1)")
    assert kube.count("not-a-jwt") == 0


def test_expired_token_is_unauthenticated_without_a_review(token_server, kube, tmp_path):
    expired = kube.issue(AGENT, expires_in=-60)  # the fake would accept it
    path = ProjectedToken(tmp_path / "t", expired).path
    with CodeExecutorClient(token_server.target, timeout=60, token_file=path) as client:
        with pytest.raises(UnauthenticatedError) as info:
            client.run("print(1)")
    assert info.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert kube.count(expired) == 0


def test_other_service_account_is_permission_denied(token_server, kube, tmp_path):
    before = token_server.metric("codeexec_executions_total")
    path = _token_of(kube, tmp_path, TEAM_B)
    with CodeExecutorClient(token_server.target, timeout=60, token_file=path) as client:
        with pytest.raises(PermissionDeniedError) as info:
            client.run("print(1)")
        assert info.value.code is grpc.StatusCode.PERMISSION_DENIED
        assert TEAM_B in info.value.message
        with pytest.raises(PermissionDeniedError):
            client.create_session()

    async def main():
        async with AsyncCodeExecutorClient(token_server.target, timeout=60,
                                           token_file=path) as client:
            await client.run("print(1)")

    with pytest.raises(PermissionDeniedError):
        asyncio.run(main())
    assert token_server.metric("codeexec_executions_total") == before


def test_namespace_wildcard_allows_every_account_of_the_namespace(
        token_server, kube, tmp_path):
    with CodeExecutorClient(token_server.target, timeout=60, token_file=_token_of(
            kube, tmp_path, "system:serviceaccount:team-c:anyone")) as client:
        assert client.run("print('c')").stdout == "c\n"
    # "team-c:*" is not a prefix of namespace "team-cd".
    with CodeExecutorClient(token_server.target, timeout=60, token_file=_token_of(
            kube, tmp_path, "system:serviceaccount:team-cd:agent")) as client:
        with pytest.raises(PermissionDeniedError):
            client.run("print('cd')")


def test_rotated_token_is_used_from_the_next_call(token_server, kube, token_file):
    first = token_file.path.read_text().strip()
    with CodeExecutorClient(token_server.target, timeout=60,
                            token_file=token_file.path) as client:
        assert client.run("print(1)").stdout == "1\n"
        second = kube.issue(AGENT)
        token_file.write(second)  # as the kubelet: a new ..data symlink
        assert client.run("print(2)").stdout == "2\n"
        # Rotated to a token that is not allowed: the next call says so.
        token_file.write(kube.issue(TEAM_B))
        with pytest.raises(PermissionDeniedError):
            client.run("print(3)")
    assert (kube.count(first), kube.count(second)) == (1, 1)


def test_a_token_is_reviewed_once_for_many_calls(token_server, kube, token_file):
    token = token_file.path.read_text().strip()
    with CodeExecutorClient(token_server.target, timeout=60,
                            token_file=token_file.path) as client:
        for i in range(5):
            assert client.run(f"print({i})").stdout == f"{i}\n"
    assert kube.count(token) == 1


def test_a_session_is_found_only_by_the_account_that_created_it(
        token_server, kube, tmp_path, token_file):
    target = token_server.target
    with CodeExecutorClient(target, timeout=120, token_file=token_file.path) as owner, \
            CodeExecutorClient(target, timeout=120,
                               token_file=_token_of(kube, tmp_path, OTHER)) as other:
        assert other.run("print('other runs')").stdout == "other runs\n"
        check_session_belongs_to_its_creator(owner, other)


def test_cli_with_a_token_file(token_server, kube, tmp_path, token_file):
    prog = tmp_path / "payload.py"
    prog.write_text(PAYLOAD_CODE, encoding="utf-8")

    def cli(*args: str, env: dict | None = None):
        return subprocess.run(
            [sys.executable, "-m", "code_executor", "run",
             "--target", token_server.target, *args, str(prog)],
            capture_output=True, timeout=120,
            env={k: v for k, v in {**os.environ, **(env or {})}.items()
                 if v is not None},
        )

    done = cli("--token-file", str(token_file.path))
    assert done.returncode == 0, done.stderr
    assert digest(done.stdout) == digest(PAYLOAD)

    from_env = cli(env={"CODE_EXECUTOR_TOKEN_FILE": str(token_file.path)})
    assert from_env.returncode == 0, from_env.stderr
    assert digest(from_env.stdout) == digest(PAYLOAD)

    denied = cli("--token-file", str(_token_of(kube, tmp_path, TEAM_B)))
    assert denied.returncode == 125
    assert b"PERMISSION_DENIED" in denied.stderr

    anonymous = cli(env={"CODE_EXECUTOR_TOKEN_FILE": None})
    assert anonymous.returncode == 125
    assert b"UNAUTHENTICATED" in anonymous.stderr

    session = subprocess.run(
        [sys.executable, "-m", "code_executor", "session", "create",
         "--target", token_server.target, "--token-file", str(token_file.path)],
        capture_output=True, timeout=120)
    assert session.returncode == 0, session.stderr
    session_id = session.stdout.decode().strip()
    closed = subprocess.run(
        [sys.executable, "-m", "code_executor", "session", "close", session_id,
         "--target", token_server.target, "--token-file", str(token_file.path)],
        capture_output=True, timeout=120)
    assert closed.returncode == 0, closed.stderr


def test_remote_code_executor_with_a_token_file(token_server, kube, tmp_path, token_file):
    pytest.importorskip("google.adk")
    from google.adk.code_executors.code_execution_utils import CodeExecutionInput

    from code_executor.adk import RemoteCodeExecutor

    ex = RemoteCodeExecutor(target=token_server.target, timeout_seconds=60,
                            token_file=token_file.path)
    try:
        out = ex.execute_code(None, CodeExecutionInput(code=PAYLOAD_CODE))
    finally:
        ex.close()
    assert (digest(out.stdout.encode()), out.stderr) == (digest(PAYLOAD), "")

    stateful = RemoteCodeExecutor(target=token_server.target, timeout_seconds=60,
                                  token_file=token_file.path, stateful=True)
    try:
        stateful.execute_code(None, CodeExecutionInput(code="n = 6", execution_id="s1"))
        out = stateful.execute_code(None, CodeExecutionInput(code="print(n * 7)",
                                                             execution_id="s1"))
    finally:
        stateful.close()
    assert (out.stdout, out.stderr) == ("42\n", "")

    denied = RemoteCodeExecutor(target=token_server.target,
                                token_file=_token_of(kube, tmp_path, TEAM_B))
    try:
        out = denied.execute_code(None, CodeExecutionInput(code="print(1)"))
    finally:
        denied.close()
    assert out.stdout == ""
    assert out.stderr.startswith("Code executor service error (PERMISSION_DENIED): ")

    missing = RemoteCodeExecutor(target=token_server.target,
                                 token_file=tmp_path / "missing")
    try:
        out = missing.execute_code(None, CodeExecutionInput(code="print(1)"))
    finally:
        missing.close()
    assert out.stderr.startswith("Code executor service error (UNAUTHENTICATED): ")
    assert str(tmp_path / "missing") in out.stderr


# --- TLS and a token ---------------------------------------------------------


@pytest.fixture(scope="module")
def tls_token_server(kube, tmp_path_factory):
    """Token mode behind TLS (server certificate only, no client certificate)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is needed to make the test certificates")
    from test_tls import _make_certs

    root = tmp_path_factory.mktemp("tls-token-server")
    certs = _make_certs(tmp_path_factory.mktemp("tls-token-certs"))
    kubeconfig = kube.write_kubeconfig(root / "kubeconfig")
    args = _token_args(kubeconfig, ALLOWED) + [
        "--set", f"server.tls.certFile={certs.path('server.crt')}",
        "--set", f"server.tls.keyFile={certs.path('server.key')}",
        "--set", "server.healthAddress=127.0.0.1:0",
    ]
    with start_server(root, args) as server:
        yield server, certs.read("ca.crt")


def test_token_over_tls(tls_token_server, token_file):
    server, ca = tls_token_server
    with CodeExecutorClient(server.target, timeout=120, root_certificates=ca,
                            token_file=token_file.path) as client:
        result = client.run(PAYLOAD_CODE)
    assert digest(result.stdout_bytes) == digest(PAYLOAD)

    async def main():
        async with AsyncCodeExecutorClient(server.target, timeout=120,
                                           root_certificates=ca,
                                           token_file=token_file.path) as client:
            return await client.run("print('async over tls')")

    assert asyncio.run(main()).stdout == "async over tls\n"

    with CodeExecutorClient(server.target, timeout=60, root_certificates=ca) as client:
        with pytest.raises(UnauthenticatedError):
            client.run("print(1)")
