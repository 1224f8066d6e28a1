"""What the sync and asyncio clients share: channel setup, metadata, options."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

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
