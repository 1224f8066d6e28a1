"""What the sync and asyncio clients share: channel setup, metadata, options."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

from .errors import TokenFileError

Metadata = Union[Mapping[str, str], Iterable[tuple[str, str]]]

# Output files arrive in the one `finished` message, so allow more than gRPC's
# default 4 MiB; the server's own caps bound it anyway.
DEFAULT_MAX_RECEIVE_BYTES = 64 * 1024 * 1024


def channel_options(options: Sequence[tuple[str, Any]] | None) -> list[tuple[str, Any]]:
    merged = {"grpc.max_receive_message_length": DEFAULT_MAX_RECEIVE_BYTES}
    merged.update(dict(options or ()))
    return list(merged.items())


def merge_metadata(*parts: Metadata | None) -> tuple[tuple[str, str], ...] | None:
    out: list[tuple[str, str]] = []
    for part in parts:
        if not part:
            continue
        items = part.items() if isinstance(part, Mapping) else part
        out.extend((str(k).lower(), str(v)) for k, v in items)
    return tuple(out) or None


class TokenFile:
    """A bearer token kept in a file, e.g. a Kubernetes projected
    ServiceAccount token, sent as ``authorization: Bearer <token>``.

    The file is read again for every call, so a rotated token is used from
    the next call on. The kubelet rotates a projected token by writing a new
    directory and atomically swapping a symlink to it; a fresh ``open`` of
    the path always follows the current link, while a cache keyed on
    inode/mtime/size would save only one read of a small file (on a tmpfs)
    per call and could miss a rewrite within the clock's granularity.
    Surrounding whitespace is stripped.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)

    def __repr__(self) -> str:
        return f"TokenFile({os.fsdecode(self.path)!r})"

    def read(self) -> str:
        """The token; raises ``TokenFileError`` (naming the file) if it cannot
        be read, is empty, or is not printable ASCII without spaces."""
        name = os.fsdecode(self.path)
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise TokenFileError(name, e.strerror or str(e)) from None
        token = data.strip()
        if not token:
            raise TokenFileError(name, "the file is empty")
        # gRPC metadata values are printable ASCII; a JWT is base64url and dots.
        if not all(0x21 <= b <= 0x7E for b in token):
            raise TokenFileError(
                name, "not a bearer token (characters other than printable "
                "ASCII, or whitespace inside)"
            )
        return token.decode("ascii")

    def header(self) -> tuple[str, str]:
        return ("authorization", "Bearer " + self.read())


def call_metadata(
    token: TokenFile | None, *parts: Metadata | None
) -> tuple[tuple[str, str], ...] | None:
    """The metadata of one call: ``parts`` merged, plus the bearer token's
    ``authorization`` header when ``token`` is set (read now)."""
    merged = merge_metadata(*parts)
    if token is None:
        return merged
    if any(key == "authorization" for key, _ in merged or ()):
        raise ValueError(
            "token_file sends the authorization header; do not also pass one "
            "in metadata"
        )
    return (*(merged or ()), token.header())


Pem = Union[bytes, str]


def _pem(value: Pem | None) -> bytes | None:
    return value.encode("ascii") if isinstance(value, str) else value


def credentials(
    grpc_module,
    secure: bool,
    root_certificates: Pem | None,
    private_key: Pem | None = None,
    certificate_chain: Pem | None = None,
):
    """SSL credentials when secure, or when root certificates or a client
    certificate (``private_key`` + ``certificate_chain``, for mTLS) are given."""
    if (private_key is None) != (certificate_chain is None):
        raise ValueError(
            "private_key and certificate_chain come together (the client "
            "certificate's key and its PEM chain, for mTLS); got only "
            + ("private_key" if certificate_chain is None else "certificate_chain")
        )
    if not secure and root_certificates is None and private_key is None:
        return None
    return grpc_module.ssl_channel_credentials(
        root_certificates=_pem(root_certificates),
        private_key=_pem(private_key),
        certificate_chain=_pem(certificate_chain),
    )
