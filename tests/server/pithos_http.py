"""Request boilerplate for black-box tests of the embedded Pithos+ server.

Everything goes over real HTTP: `Api` wraps a `requests.Session` bound to one
account's token, and `raw_request` speaks HTTP/1.1 on a bare socket for the
inputs `requests`/urllib3 would refuse or normalise (dot segments, NUL bytes,
invalid UTF-8, lying Content-Length).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from pithosfs import protocol

log = logging.getLogger(__name__)

OCTET = protocol.OCTET_STREAM
DIRECTORY = protocol.DIRECTORY_CONTENT_TYPE
TEXT = "text/plain"

Headers = Mapping[str, str]


def q(name: str) -> str:
    """Percent-encode a container/object name for a URL path (keeps `/`)."""
    return quote(name, safe="/")


def http_date(epoch: float) -> str:
    """RFC 1123 date for If-Modified-Since and friends."""
    return formatdate(epoch, usegmt=True)


# Fault class per status (protocol.md 1.4): the top-level key of every error body.
FAULT_KEYS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "notAllowed",
    409: "conflict",
    411: "lengthRequired",
    412: "preconditionFailed",
    413: "requestEntityTooLarge",
    416: "rangeNotSatisfiable",
    422: "unprocessableEntity",
}


def fault_key(resp: requests.Response) -> str:
    """The single top-level key of a JSON fault body (protocol.md 1.4), checked for shape."""
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict) and len(body) == 1, body
    key, detail = next(iter(body.items()))
    assert detail["code"] == resp.status_code, body
    assert isinstance(detail["message"], str)
    assert key == FAULT_KEYS.get(resp.status_code, key), body
    return key


def assert_fault(resp: requests.Response, status: int) -> None:
    """Exactly `status`, and (unless HEAD) a JSON fault body as in protocol.md 1.4."""
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    if resp.request.method != "HEAD" and status not in (304,):
        fault_key(resp)


def assert_client_error(resp: requests.Response) -> None:
    """Some 4xx with a JSON fault body: for inputs docs/protocol.md gives no exact code for."""
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:300])
    if resp.request.method != "HEAD":
        fault_key(resp)


class Api:
    """One user's view of the server: `api.get("cont", "obj")` and friends."""

    def __init__(self, storage_url: str, account: str, token: str | None) -> None:
        self.account = account
        self.token = token
        self.root = storage_url.rsplit("/", 1)[0]  # .../object-store/v1
        self.base_url = self.root.split("/object-store/", 1)[0]
        self.session = requests.Session()

    def url(self, *parts: str, account: str | None = None) -> str:
        path = "/".join(q(p) for p in parts)
        acc = self.account if account is None else account
        return f"{self.root}/{acc}" + (f"/{path}" if parts else "")

    def request(
        self,
        method: str,
        *parts: str,
        account: str | None = None,
        headers: Headers | None = None,
        params: Mapping[str, Any] | str | None = None,
        data: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        hdrs = {"X-Auth-Token": self.token} if self.token else {}
        hdrs.update(headers or {})
        return self.session.request(
            method,
            self.url(*parts, account=account),
            headers=hdrs,
            params=params,
            data=data,
            timeout=60,
            **kwargs,
        )

    def head(self, *parts: str, **kw: Any) -> requests.Response:
        return self.request("HEAD", *parts, **kw)

    def get(self, *parts: str, **kw: Any) -> requests.Response:
        return self.request("GET", *parts, **kw)

    def put(self, *parts: str, **kw: Any) -> requests.Response:
        return self.request("PUT", *parts, **kw)

    def post(self, *parts: str, **kw: Any) -> requests.Response:
        return self.request("POST", *parts, **kw)

    def delete(self, *parts: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", *parts, **kw)

    # Shortcuts that assert success, for test set-up steps.

    def make_container(self, name: str, headers: Headers | None = None) -> str:
        resp = self.put(name, headers=headers)
        assert resp.status_code in (201, 202), (resp.status_code, resp.text)
        return name

    def put_object(
        self,
        cont: str,
        name: str,
        data: bytes = b"",
        ctype: str = OCTET,
        headers: Headers | None = None,
        account: str | None = None,
    ) -> requests.Response:
        hdrs = {"Content-Type": ctype, **(headers or {})}
        resp = self.put(cont, name, data=data, headers=hdrs, account=account)
        assert resp.status_code == 201, (resp.status_code, resp.text[:300])
        return resp

    def mkdir(self, cont: str, name: str) -> requests.Response:
        return self.put_object(cont, name, b"", DIRECTORY)

    def read(self, cont: str, name: str, **kw: Any) -> bytes:
        resp = self.get(cont, name, **kw)
        assert resp.status_code == 200, (resp.status_code, resp.text[:300])
        return resp.content

    def meta(self, cont: str, name: str, **kw: Any) -> requests.structures.CaseInsensitiveDict:
        resp = self.head(cont, name, **kw)
        assert resp.status_code == 200, resp.status_code
        return resp.headers

    def listing(self, cont: str, **params: Any) -> list[dict[str, Any]]:
        resp = self.get(cont, params={"format": "json", **params})
        assert resp.status_code == 200, (resp.status_code, resp.text[:300])
        return resp.json()

    def names(self, cont: str, **params: Any) -> list[str]:
        return [i.get("name", i.get("subdir")) for i in self.listing(cont, **params)]

    def post_meta(
        self,
        cont: str,
        name: str,
        headers: Headers,
        update: bool = True,
        account: str | None = None,
    ) -> requests.Response:
        params = "update" if update else None
        return self.post(cont, name, headers=headers, params=params, account=account)

    def write_at(
        self,
        cont: str,
        name: str,
        data: bytes,
        content_range: str,
        account: str | None = None,
        **extra: str,
    ) -> requests.Response:
        """Partial-update POST (protocol.md 8) with a body and ?update; `extra` are headers."""
        hdrs = {"Content-Type": OCTET, "Content-Range": content_range, **extra}
        return self.post(cont, name, params="update", headers=hdrs, data=data, account=account)

    def versions(self, cont: str, name: str) -> list[list[Any]]:
        resp = self.get(cont, name, params={"version": "list", "format": "json"})
        assert resp.status_code == 200, (resp.status_code, resp.text[:300])
        return resp.json()["versions"]

    def hashmap(self, cont: str, name: str, **params: Any) -> dict[str, Any]:
        resp = self.get(cont, name, params={"hashmap": "", "format": "json", **params})
        assert resp.status_code == 200, (resp.status_code, resp.text[:300])
        return resp.json()

    def put_hashmap(
        self, cont: str, name: str, size: int, hashes: list[str], ctype: str = OCTET, **kw: Any
    ) -> requests.Response:
        body = json.dumps({"bytes": size, "hashes": hashes})
        hdrs = {"Content-Type": ctype, **kw.pop("headers", {})}
        return self.put(
            cont, name, params={"hashmap": "", "format": "json"}, data=body, headers=hdrs, **kw
        )

    def upload_blocks(self, cont: str, data: bytes) -> requests.Response:
        """Block upload by container POST ?update (protocol.md 7.3)."""
        return self.post(
            cont,
            params={"update": "", "format": "json"},
            headers={"Content-Type": OCTET},
            data=data,
        )


def wait_for_next_second() -> float:
    """Sleep into a new whole second; returns the integer epoch just passed.

    Why: `until` and Last-Modified have whole-second resolution, so a test that
    separates "before" and "after" needs the writes in different seconds.
    """
    now = time.time()
    time.sleep(int(now) + 1.05 - now)
    return int(now)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _connect(base_url: str, timeout: float) -> socket.socket:
    parts = urlsplit(base_url)
    return socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout)


def raw_request(
    base_url: str,
    method: str,
    target: bytes,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    timeout: float = 30,
) -> RawResponse:
    """Send one request exactly as given (no URL normalisation) and read the reply.

    Content-Length is NOT added: callers state it (or lie about it) themselves.
    """
    items = headers.items() if isinstance(headers, Mapping) else headers
    head = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: localhost"]
    head += [f"{k}: {v}".encode("latin-1") for k, v in items]
    head.append(b"Connection: close")
    with _connect(base_url, timeout) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        resp = http.client.HTTPResponse(sock, method=method)
        resp.begin()
        data = resp.read()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)


def send_truncated_body(
    base_url: str,
    target: bytes,
    headers: Mapping[str, str],
    declared: int,
    sent: bytes,
    method: str = "PUT",
) -> None:
    """Declare `declared` bytes, send only `sent`, then hang up (a client disconnect)."""
    head = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: localhost"]
    head += [f"{k}: {v}".encode("latin-1") for k, v in headers.items()]
    head.append(f"Content-Length: {declared}".encode())
    with _connect(base_url, 30) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + sent)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(5)
        try:
            sock.recv(65536)  # whatever the server says (or nothing) before closing
        except OSError as exc:
            log.debug("server did not answer the truncated request: %s", exc)


def target_path(api: Api, *parts: str, account: str | None = None) -> bytes:
    """Request target (path only) of an Api URL, as bytes for raw_request."""
    url = api.url(*parts, account=account)
    return urlsplit(url).path.encode()
