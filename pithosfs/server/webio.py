"""Request and response objects of the WSGI layer, kept minimal for the data path.

`Req` decodes headers once (ASCII check, '%' unquoting, protocol.md 1.5); `Response`
writes headers through the percent-encoding rule and streams iterables as is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

from pithosfs.protocol import MAX_UPLOAD_SIZE
from pithosfs.server.block_slices import BlockSlice
from pithosfs.server.bodies import RequestBody
from pithosfs.server.errors import BadRequest, LengthRequired, PithosFault
from pithosfs.server.http_util import decode_request_header, encode_response_header

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=UTF-8"
XML_TYPE = "application/xml; charset=UTF-8"
TEXT_TYPE = "text/plain; charset=UTF-8"
MAX_DRAIN = 64 * 1024 * 1024
COMMON_HEADERS = [
    ("Vary", "X-Auth-Token"),
    ("Cache-Control", "no-cache, no-store, must-revalidate, max-age=0"),
]


class Req:
    def __init__(self, environ: dict[str, Any], path: str) -> None:
        self.environ = environ
        self.method = environ["REQUEST_METHOD"].upper()
        self.path = path
        raw_qs = environ.get("QUERY_STRING", "")
        try:
            pairs = parse_qsl(raw_qs, keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("Bad query string") from None
        self.args: dict[str, str] = {}
        for k, v in pairs:
            if "\0" in v:
                raise BadRequest("Bad query string")
            self.args.setdefault(k, v)
        self.headers: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:].replace("_", "-").title()
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                name = key.replace("_", "-").title()
            else:
                continue
            if any(ord(ch) > 127 for ch in name):
                raise BadRequest("Bad character in headers.")
            if "%" in name:
                name = decode_request_header(name)
            self.headers[name.lower()] = decode_request_header(value)
        self.user = ""
        self.token = ""
        self._body: RequestBody | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def arg(self, name: str) -> str | None:
        return self.args.get(name)

    def flag(self, name: str) -> bool:
        return name in self.args

    @property
    def chunked(self) -> bool:
        return "chunked" in (self.header("Transfer-Encoding") or "").lower()

    @property
    def content_length(self) -> int | None:
        raw = self.header("Content-Length")
        if raw is None or raw == "":
            return None
        if not raw.strip().isdigit():
            raise LengthRequired("Invalid Content-Length")
        return int(raw)

    def body(self, required: bool = True) -> RequestBody:
        """The request body stream; 411 without Content-Length or chunked encoding."""
        if self._body is not None:
            return self._body
        length = self.content_length
        if length is None and not self.chunked:
            if required:
                raise LengthRequired("Missing Content-Length header")
            length = 0
        if length is not None and length > MAX_UPLOAD_SIZE:
            raise BadRequest("Maximum size is reached")
        self._body = RequestBody(self.environ["wsgi.input"], length, MAX_UPLOAD_SIZE)
        return self._body

    def drain(self) -> None:
        """Read an unread small body so keep-alive connections stay in sync.

        Large unread bodies are not drained: the connection is closed instead
        (see embedded.JsonFaultRequest.send_headers).
        """
        try:
            if self._body is None:
                length = self.content_length
                if length and length <= MAX_DRAIN:
                    self.body(required=False).drain()
            elif self._body.length is not None:
                if self._body.length - self._body.received <= MAX_DRAIN:
                    self._body.drain()
        except PithosFault:  # a bad Content-Length: nothing sensible to drain
            pass

    def wants(self, allowed: tuple[str, ...], default: str) -> str:
        """Serialization for this view (protocol.md 1.3)."""
        fmt = (self.arg("format") or "").lower()
        if fmt in allowed:
            return fmt
        for ext in ("json", "xml"):
            if self.path.endswith("." + ext) and ext in allowed:
                return ext
        accept = (self.header("Accept") or "").lower()
        if "application/json" in accept and "json" in allowed:
            return "json"
        if "application/xml" in accept and "xml" in allowed:
            return "xml"
        return default


class Response:
    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | Iterable[bytes] = b"",
        content_length: int | None = None,
    ) -> None:
        self.status = status
        self.headers = list(headers or [])
        self.body = body
        self.content_length = content_length

    def add(self, name: str, value: str | int) -> None:
        self.headers.append((name, str(value)))

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        headers = [encode_response_header(k, v) for k, v in self.headers]
        has_type = any(k.lower() == "content-type" for k, _ in headers)
        body: Iterable[bytes]
        if isinstance(self.body, bytes):
            body = [self.body] if self.body else []
            if self.status != 304:
                headers.append(("Content-Length", str(len(self.body))))
                if not has_type and self.body:
                    headers.append(("Content-Type", TEXT_TYPE))
        else:
            body = self.body
            if self.content_length is not None:
                headers.append(("Content-Length", str(self.content_length)))
        headers.extend(COMMON_HEADERS)
        status = f"{self.status} {HTTPStatus(self.status).phrase}"
        start_response(status, headers)
        if environ["REQUEST_METHOD"].upper() == "HEAD":
            if not isinstance(body, list) and hasattr(body, "close"):
                body.close()
            return []
        return body


def json_response(
    status: int, data: object, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(data).encode()
    return Response(status, [("Content-Type", JSON_TYPE), *(headers or [])], body)


def json_array_body(items: Iterable[object], first: int = 64, most: int = 256) -> Iterator[bytes]:
    """A JSON array as a stream of chunks, each holding whole elements.

    A chunk holds `first` elements, the next four times as many, up to `most`:
    the answer starts after a few elements are ready, and a long one costs
    few chunk frames (and one json.dumps per chunk: per element, the calls
    cost the 10,000-entry listing ~5% more server CPU). As each chunk is
    whole elements, an error midway leaves a body cut short, never one that
    parses as a shorter array.
    """
    head = b"["
    pending: list[object] = []
    size = first
    for item in items:
        pending.append(item)
        if len(pending) >= size:
            yield head + json.dumps(pending)[1:-1].encode()
            head, pending, size = b",", [], min(most, size * 4)
    if pending:
        yield head + json.dumps(pending)[1:-1].encode()
        head = b","
    yield b"]" if head == b"," else b"[]"


def xml_response(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Response:
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode()
    return Response(status, [("Content-Type", XML_TYPE), *(headers or [])], body)


def xml_items(root: str, attrs: dict[str, str], tag: str, items: Iterable[dict[str, Any]]) -> str:
    """Render a listing as XML: <root a="..."><tag><k>v</k>...</tag>...</root>."""
    attr_text = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    parts = [f"<{root}{attr_text}>"]
    for item in items:
        if "subdir" in item:
            parts.append(f"<subdir name={quoteattr(item['subdir'])} />")
            continue
        parts.append(f"<{tag}>")
        for k, v in item.items():
            if isinstance(v, dict):
                v = json.dumps(v)
            parts.append(f"<{k}>{escape('' if v is None else str(v))}</{k}>")
        parts.append(f"</{tag}>")
    parts.append(f"</{root}>")
    return "".join(parts)


class DataBody:
    """A response body of bytes and block slices (object data).

    Iterating yields bytes only, as WSGI wants; fastio.SliceGateway takes
    `items()` instead and hands the slices to the socket (BlockSlice.send). `close()` closes the
    underlying generator at once, so a client that disconnects mid-body stops it.
    """

    def __init__(self, items: Iterator[bytes | BlockSlice]) -> None:
        self._items = items

    def items(self) -> Iterator[bytes | BlockSlice]:
        return self._items

    def __iter__(self) -> Iterator[bytes]:
        for item in self._items:
            yield item if isinstance(item, bytes) else item.read()

    def close(self) -> None:
        close = getattr(self._items, "close", None)
        if close:
            close()
