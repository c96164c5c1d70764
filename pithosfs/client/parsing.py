"""Turning Pithos+ responses into the contract's dataclasses, and names into URLs.

Pure functions over headers and JSON, so they are tested without a server.
Response header values under X-Account-/X-Container-/X-Object-/Content- are
percent-encoded and metadata header names are URL-quoted (protocol.md 1.5); both are
decoded here. Times: RFC 1123 in headers, ISO 8601 or decimal strings in JSON
(protocol.md 1.6).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote

from pithosfs import protocol
from pithosfs.client.types import AccountInfo, ContainerInfo, ObjectInfo, Subdir, listed_object

log = logging.getLogger(__name__)


def quote_name(name: str) -> str:
    """Percent-encode a container or object name for the URL path ('/' kept).

    "." and ".." segments are legal in object names; they are sent as %2E so
    that no URL normalisation on the way can resolve them (see transport).
    """
    segments = quote(name, safe="/").split("/")
    return "/".join(s.replace(".", "%2E") if s in (".", "..") else s for s in segments)


def encode_header_value(value: str) -> str:
    """Header values must be ASCII; the server URL-unquotes any value containing '%'."""
    return quote(value, safe=protocol.HEADER_SAFE_CHARS + "!$&'()*+[]^`{|}")


def meta_headers(prefix: str, meta: Mapping[str, str] | None) -> dict[str, str]:
    """`{"my_key": "v"}` -> `{"X-Object-Meta-My-Key": "v"}`, names and values encoded."""
    out: dict[str, str] = {}
    for key, value in (meta or {}).items():
        name = quote(protocol.format_meta_key(key), safe="-")
        out[prefix + name] = encode_header_value(value)
    return out


def _header_meta(headers: Mapping[str, str], prefix: str) -> dict[str, str]:
    plen = len(prefix)
    out = {}
    for name, value in headers.items():
        if name.lower().startswith(prefix.lower()):
            key = protocol.format_meta_key(unquote(name[plen:]))
            out[key] = unquote(value)
    return out


def parse_http_date(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return 0.0


def parse_iso_date(value: str | None) -> float:
    if not value:
        return 0.0
    if value[-1] == "Z":  # Python < 3.11 refuses the Z suffix
        value = value[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return 0.0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _optional_int(value: Any) -> int | None:
    """A non-negative integer header, None when absent or garbage."""
    number = _int(value, -1)
    return number if number >= 0 else None


def _h(headers: Mapping[str, str], name: str, default: str = "") -> str:
    value = headers.get(name)
    return unquote(value) if value is not None else default


def object_from_headers(name: str, headers: Mapping[str, str]) -> ObjectInfo:
    """ObjectInfo from a HEAD/GET response (protocol.md 4.1); tolerant of plain Swift."""
    etag = headers.get("ETag", "").strip('"')
    last_modified = parse_http_date(headers.get("Last-Modified"))
    version_ts = parse_http_date(headers.get("X-Object-Version-Timestamp")) or last_modified
    return ObjectInfo(
        name=name,
        size=_int(headers.get("Content-Length")),
        content_type=_h(headers, "Content-Type", protocol.OCTET_STREAM),
        hash=headers.get("X-Object-Hash") or etag,
        uuid=headers.get("X-Object-UUID", ""),
        version=_int(headers.get("X-Object-Version")),
        version_timestamp=version_ts,
        last_modified=last_modified,
        modified_by=_h(headers, "X-Object-Modified-By"),
        meta=_header_meta(headers, "X-Object-Meta-"),
        sharing=_h(headers, "X-Object-Sharing"),
        public_url=_h(headers, "X-Object-Public"),
        allowed_to=_h(headers, "X-Object-Allowed-To"),
        shared_by=_h(headers, "X-Object-Shared-By"),
    )


# What a write reply must carry besides ETag/X-Object-Version to stand in for a HEAD.
WRITE_REPLY_NEEDS = (
    "X-Object-Hash",
    "X-Object-UUID",
    "X-Object-Modified-By",
    "X-Object-Version-Timestamp",
)


def object_from_write_reply(
    name: str, headers: Mapping[str, str], size: int, content_type: str
) -> ObjectInfo | None:
    """The written version's info from a PUT reply, or None when a HEAD is needed.

    Pithos+ answers a PUT with only ETag and X-Object-Version (protocol.md 4.3); the
    embedded server adds the new version's HEAD headers (its size and type are
    what we sent: here Content-Length/Type describe the empty reply). Such a
    server sends X-Object-Sharing/-Public when set, as in a HEAD, so their
    absence means none. Last-Modified of a reply may be the reply's time
    (protocol.md 1.3): the version timestamp is the mtime of the version just written.
    """
    if any(not headers.get(h) for h in WRITE_REPLY_NEEDS):
        return None
    version = _int(headers.get("X-Object-Version"), -1)
    stamp = parse_http_date(headers.get("X-Object-Version-Timestamp"))
    if version < 0 or not stamp:
        return None
    info = object_from_headers(name, headers)
    return dataclasses.replace(
        info, size=size, content_type=content_type, version=version, last_modified=stamp
    )


def object_from_reference_write_reply(
    name: str,
    headers: Mapping[str, str],
    size: int,
    content_type: str,
    meta: Mapping[str, str] | None,
    now: float,
) -> ObjectInfo | None:
    """The written version's info from a reference PUT reply plus what the writer sent.

    The reference answers only ETag (the Merkle hash) and X-Object-Version (protocol.md
    4.3); a PUT replaces all user metadata with exactly the headers sent, so the
    version holds `meta` (keys normalised, empty values dropped, as the server
    stores them). Unknown here, left empty: the UUID (the caller may know it: an
    overwrite keeps the object's), who committed it, sharing and public link
    (a path's, unchanged by a PUT). `now`: the writer's clock, standing in for
    the version's timestamp. The server drops `~` from values (protocol.md 1.5): so here. None when the reply does not name a version.
    """
    version = _int(headers.get("X-Object-Version"), -1)
    etag = headers.get("ETag", "").strip('"')
    if version < 0 or not etag:
        return None
    stored = {
        protocol.format_meta_key(k): v.replace("~", "") for k, v in (meta or {}).items() if v
    }
    return listed_object(
        name, size, content_type, etag, "", version, now, now, "", stored, "", "", ""
    )


def entry_from_json(item: Mapping[str, Any], with_meta: bool) -> ObjectInfo | Subdir:
    """One JSON listing item (protocol.md 5.3) or a `{"subdir": "a/"}` entry.

    Runs once per listed object (10,000 per `ls -l` of a big directory), hence the
    local lookups and the direct construction: same result as the plain version.
    """
    get = item.get
    name = get("name")
    if name is None or "subdir" in item:
        return Subdir(str(item["subdir"]).rstrip("/"))
    meta: dict[str, str] | None = None
    if with_meta:
        raw_meta = get("x_object_meta")
        if isinstance(raw_meta, dict):
            meta = (
                {_listing_meta_key(str(k)): str(v) for k, v in raw_meta.items()} if raw_meta else {}
            )
    last_modified = parse_iso_date(get("last_modified"))
    stamp = get("x_object_version_timestamp")
    return listed_object(
        str(name),
        _int(get("bytes")),
        str(get("content_type") or _OCTET_STREAM),
        str(get("x_object_hash") or get("hash") or ""),
        str(get("x_object_uuid") or ""),
        _int(get("x_object_version")),
        (_float(stamp) if stamp is not None else 0.0) or last_modified,
        last_modified,
        str(get("x_object_modified_by") or ""),
        meta,
        str(get("x_object_sharing") or ""),
        str(get("x_object_public") or ""),
        str(get("x_object_allowed_to") or ""),
        str(get("x_object_shared_by") or ""),
    )


_OCTET_STREAM = protocol.OCTET_STREAM
# Raw listing key -> normalised key. A listing repeats the same few keys (this
# filesystem's mtime and mode on every file), and normalising one costs a microsecond.
_META_KEYS: dict[str, str] = {}
_META_KEYS_MAX = 4096


def _listing_meta_key(raw: str) -> str:
    key = _META_KEYS.get(raw)
    if key is None:
        key = protocol.format_meta_key(unquote(raw))
        if len(_META_KEYS) >= _META_KEYS_MAX:  # many distinct keys: start over, stay bounded
            _META_KEYS.clear()
        _META_KEYS[raw] = key
    return key


def container_from_headers(name: str, headers: Mapping[str, str]) -> ContainerInfo:
    return ContainerInfo(
        name=name,
        count=_int(headers.get("X-Container-Object-Count")),
        bytes=_int(headers.get("X-Container-Bytes-Used")),
        last_modified=parse_http_date(headers.get("Last-Modified")),
        versioning=_h(headers, "X-Container-Policy-Versioning", "auto"),
        quota=_int(headers.get("X-Container-Policy-Quota")),
        block_size=_int(headers.get("X-Container-Block-Size"), protocol.DEFAULT_BLOCK_SIZE),
        block_hash=_h(headers, "X-Container-Block-Hash", protocol.DEFAULT_HASH_ALGORITHM),
        meta=_header_meta(headers, "X-Container-Meta-"),
    )


def container_from_json(item: Mapping[str, Any]) -> ContainerInfo:
    policy = item.get("x_container_policy") or {}
    return ContainerInfo(
        name=str(item["name"]),
        count=_int(item.get("count")),
        bytes=_int(item.get("bytes")),
        last_modified=parse_iso_date(item.get("last_modified")),
        versioning=str(policy.get("versioning") or "auto"),
        quota=_int(policy.get("quota")),
    )


def account_from_headers(name: str, headers: Mapping[str, str]) -> AccountInfo:
    groups = {
        key.lower(): [m for m in value.split(",") if m]
        for key, value in _header_meta(headers, "X-Account-Group-").items()
    }
    return AccountInfo(
        name=name,
        container_count=_int(headers.get("X-Account-Container-Count")),
        bytes_used=_int(headers.get("X-Account-Bytes-Used")),
        quota=_int(headers.get("X-Account-Policy-Quota")),
        last_modified=parse_http_date(headers.get("Last-Modified")),
        meta=_header_meta(headers, "X-Account-Meta-"),
        groups=groups,
        disk_available=_optional_int(headers.get(protocol.DISK_AVAILABLE_HEADER))
        if protocol.EXT_DISK_AVAILABLE
        in protocol.parse_extensions(headers.get(protocol.EXTENSIONS_HEADER))
        else None,
    )
