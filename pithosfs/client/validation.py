"""Client-side checks of names, metadata and sharing strings (protocol.md 1.1, 1.5, 9.1, 9.4),
and of the block hashes a block upload answers (protocol.md 3.3).

The HTTP client runs these before sending so that a bad name fails with a
clear BadRequest instead of a round trip; the fake store runs them to refuse
exactly what a real server refuses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pithosfs import protocol
from pithosfs.client.errors import BadRequest, PithosError

OBJECT_META_PREFIX = "X-Object-Meta-"


def check_container_name(container: str) -> None:
    if not container:
        raise BadRequest("Missing container name")
    if "/" in container:
        raise BadRequest("Container name may not contain '/'", path=container)
    if len(container) > protocol.MAX_CONTAINER_NAME:
        raise BadRequest("Container name too large", path=container)


def check_object_name(name: str) -> None:
    if not name:
        raise BadRequest("Missing object name")
    if len(name) > protocol.MAX_OBJECT_NAME:
        raise BadRequest("Object name too large.", path=name[:64] + "...")


def normalise_meta(
    meta: Mapping[str, str] | None, prefix: str = OBJECT_META_PREFIX
) -> dict[str, str]:
    """Keys normalised as the server stores them; limits checked; `~` dropped (protocol.md 1.5 quirk).

    Empty values are kept: with update semantics they mean "delete this key".
    """
    if not meta:
        return {}
    if len(meta) > protocol.MAX_META_HEADERS_PER_REQUEST:
        raise BadRequest("Too many headers.")
    out: dict[str, str] = {}
    for key, value in meta.items():
        norm = protocol.format_meta_key(key)
        if not norm or len(prefix) + len(norm) > protocol.MAX_META_KEY_LENGTH:
            raise BadRequest("Header name too large.", path=key)
        value = value.replace("~", "")
        if len(value) > protocol.MAX_META_VALUE_LENGTH:
            raise BadRequest("Header value too large.", path=key)
        out[norm] = value
    return out


def check_meta_count(meta: Mapping[str, str]) -> None:
    if len(meta) > protocol.MAX_META_ITEMS:
        raise BadRequest(f"Too many metadata items (max {protocol.MAX_META_ITEMS})")


def parse_sharing(value: str) -> tuple[list[str], list[str]]:
    """`read=a,b;write=c` -> (read, write); "" -> ([], []). BadRequest on bad syntax."""
    value = value.replace(" ", "").replace("~", "")
    if not value:
        return [], []
    read: list[str] = []
    write: list[str] = []
    for part in value.split(";"):
        if not part:
            continue
        kind, sep, members = part.partition("=")
        kind = kind.lower()
        entries = [m.lower() for m in members.split(",") if m]
        if not sep or kind not in ("read", "write") or not entries:
            raise BadRequest(f"Bad X-Object-Sharing header value: {value!r}")
        target = read if kind == "read" else write
        target.extend(e for e in entries if e not in target)
    read = [r for r in read if r not in write]
    return read, write


def format_sharing(read: list[str], write: list[str]) -> str:
    """The form HEAD reports: `read=a,b; write=c` (note the space after `;`)."""
    parts = []
    if read:
        parts.append("read=" + ",".join(read))
    if write:
        parts.append("write=" + ",".join(write))
    return "; ".join(parts)


def stored_hashes(expected: Sequence[str | None], got: Sequence[object]) -> list[str]:
    """The hashes a block upload answered, checked against those computed here.

    A None in `expected` was not computed here (new data, which the upload
    paths let the server hash), and the server's answer stands, if it is a hash.
    """
    answered = [h.lower() if isinstance(h, str) else "" for h in got]  # "": not a hash
    if len(answered) != len(expected) or any(
        not protocol.is_hex_digest(h) or (want is not None and h != want)
        for want, h in zip(expected, answered, strict=False)
    ):
        raise PithosError(
            f"block upload stored {len(got)} blocks with unexpected hashes", method="POST"
        )
    return answered
