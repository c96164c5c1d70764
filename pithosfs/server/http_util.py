"""Pure helpers for the HTTP side: dates, header codecs, metadata, Range and Content-Range.

Rules come from protocol.md 1.5, 1.6, 8 and 9.7; quirks copied on purpose are
marked there and listed in docs/server.md.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import formatdate
from urllib.parse import quote, unquote

from werkzeug.http import parse_date

from pithosfs.protocol import (
    MAX_META_HEADERS_PER_REQUEST,
    MAX_META_KEY_LENGTH,
    MAX_META_VALUE_LENGTH,
    format_meta_key,
    quote_header_value,
)
from pithosfs.server.errors import BadRequest, RangeNotSatisfiable
from pithosfs.server.objects import DataRange

QUOTED_PREFIXES = ("x-account-", "x-container-", "x-object-", "content-")


def http_date(ts: float) -> str:
    return formatdate(int(ts), usegmt=True)


def iso_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="microseconds")


def decimal_ts(ts: float) -> str:
    return f"{ts:.6f}"


def parse_http_date_int(value: str | None) -> int | None:
    """An If-(Un)Modified-Since date as epoch seconds; unparseable dates are ignored."""
    if not value:
        return None
    parsed = parse_date(value)
    return int(parsed.timestamp()) if parsed else None


def parse_until(value: str | None) -> int | None:
    """[QUIRK] kept: anything but a non-negative integer is silently ignored."""
    if value is None or not value.isdigit():
        return None
    return int(value)


def parse_limit(value: str | None, default: int = 10000) -> int:
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError:
        return default
    return limit if 0 < limit <= default else default


def decode_request_header(value: str) -> str:
    """Header values arrive latin-1 decoded: reject non-ASCII, URL-unquote when '%' appears."""
    if any(ord(ch) > 127 for ch in value):
        raise BadRequest("Bad character in headers.")
    if "%" in value:
        try:
            return unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise BadRequest("Bad character in headers.") from None
    return value


def encode_response_header(name: str, value: str) -> tuple[str, str]:
    """Percent-encode values of X-Account-/X-Container-/X-Object-/Content- headers (protocol.md 1.5)."""
    if name.lower().startswith(QUOTED_PREFIXES):
        return quote(name, safe="-"), quote_header_value(value)
    return name, value


def collect_meta(headers: dict[str, str], prefix: str) -> dict[str, str]:
    """User metadata from request headers with `prefix` (e.g. "X-Object-Meta-").

    Keys come back normalised (format_meta_key), values with `~` removed; the
    limits of protocol.md 9.1 give 400.
    """
    lower = prefix.lower()
    meta: dict[str, str] = {}
    for name, value in headers.items():
        if not name.lower().startswith(lower):
            continue
        suffix = name[len(prefix) :]
        if not suffix:
            continue
        key = format_meta_key(suffix)
        if len(prefix) + len(key) > MAX_META_KEY_LENGTH:
            raise BadRequest("Header name too large.")
        value = value.replace("~", "")
        if len(value) > MAX_META_VALUE_LENGTH:
            raise BadRequest("Header value too large.")
        meta[key] = value.strip()
    if len(meta) > MAX_META_HEADERS_PER_REQUEST:
        raise BadRequest("Too many headers.")
    return meta


def count_meta_headers(headers: dict[str, str]) -> int:
    return sum(1 for n in headers if "-meta-" in n.lower())


_RANGE_SPEC = re.compile(r"^(\d*)-(\d*)$")


# More distinct ranges than this in one GET (after merging) is 416: the parts' own
# headers would outweigh the data, and a client that means it can ask in pieces.
MAX_RANGES = 100


def parse_range(header: str | None, size: int) -> list[tuple[int, int]] | None:
    """GET Range -> [(start, end_inclusive)], None for "serve the whole object" (protocol.md 9.7).

    [QUIRK] kept: no clamping. An end beyond EOF is 416, as the reference does.
    Ranges that overlap or touch are merged (`coalesce`), so a reply never holds
    more of the object than the object itself; more than MAX_RANGES remaining is 416.
    """
    if not header:
        return None
    header = header.replace(" ", "")
    if not header.startswith("bytes="):
        return None
    ranges: list[tuple[int, int]] = []
    for spec in header[len("bytes=") :].split(","):
        m = _RANGE_SPEC.match(spec)
        if not m or (not m.group(1) and not m.group(2)):
            return None
        first, last = m.group(1), m.group(2)
        if first and last and int(first) > int(last):
            return None
        if not first:
            start, end = size - int(last), size - 1
        elif not last:
            start, end = int(first), size - 1
        else:
            start, end = int(first), int(last)
        length = end - start + 1
        if length <= 0 or start < 0 or start >= size or length > size or end >= size:
            raise RangeNotSatisfiable("Requested range not satisfiable")
        ranges.append((start, end))
    ranges = coalesce(ranges)
    if len(ranges) > MAX_RANGES:
        raise RangeNotSatisfiable(f"Too many ranges (at most {MAX_RANGES})")
    return ranges


def coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge ranges that overlap or touch (RFC 9110 14.2 allows it).

    Disjoint ranges keep the order they were asked in; once any are merged the
    parts go out in ascending order (each byte at most once).
    """
    ordered = sorted(ranges)
    if all(a[1] + 1 < b[0] for a, b in zip(ordered, ordered[1:], strict=False)):
        return ranges
    merged = [ordered[0]]
    for start, end in ordered[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end + 1:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


_CONTENT_RANGE = re.compile(r"^bytes (\*|(\d+)-(\d*))/(\*|\d+)$")


def parse_content_range(header: str | None) -> DataRange:
    if header is None:
        raise BadRequest("Missing Content-Range header")
    m = _CONTENT_RANGE.match(header.strip())
    if not m:
        raise RangeNotSatisfiable("Invalid Content-Range header")
    total = None if m.group(4) == "*" else int(m.group(4))
    if m.group(1) == "*":
        return DataRange(None, None, total)
    start = int(m.group(2))
    end = int(m.group(3)) if m.group(3) else None
    if end is not None and start > end:
        raise RangeNotSatisfiable("Invalid Content-Range header")
    return DataRange(start, end, total)


def etag_matches(header: str, etag: str) -> bool:
    """If-Match / If-None-Match list membership; `*` is handled by the caller."""
    values = [v.strip().strip('"') for v in header.split(",")]
    return etag in values
