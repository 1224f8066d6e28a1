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


def credentials(grpc_module, secure: bool, root_certificates: bytes | str | None):
    """SSL credentials when secure (or when root certificates are given)."""
    if not secure and root_certificates is None:
        return None
    if isinstance(root_certificates, str):
        root_certificates = root_certificates.encode("ascii")
    return grpc_module.ssl_channel_credentials(root_certificates=root_certificates)

