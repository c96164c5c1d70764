"""Reads of one Swift `version_id` go through the client's ranged GET (VersionIdReads)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from pithosfs.client.pithos import PithosClient
from pithosfs.client.transport import RetryPolicy
from pithosfs.fs.virtual.swift_history import VersionIdReads

BODY = b"0123456789"
VERSION = "1700000000.00001"


class IgnoresRange(BaseHTTPRequestHandler):
    """A server (or proxy) that answers a ranged GET with the whole object and a 200."""

    seen: list[tuple[str, str, dict[str, list[str]], str | None]] = []

    def _answer(self, body: bytes) -> None:
        url = urlsplit(self.path)
        self.seen.append((self.command, url.path, parse_qs(url.query, True), self.headers["Range"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(BODY)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def client() -> Iterator[PithosClient]:
    IgnoresRange.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), IgnoresRange)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1/AUTH_t"
    c = PithosClient.from_storage_url(url, "tok", retry=RetryPolicy(attempts=1))
    yield c
    c.close()
    server.shutdown()
    server.server_close()


def test_a_server_ignoring_range_still_gives_just_the_range(client):
    reads = VersionIdReads(client, VERSION)
    assert reads.read_range("c", "o", 2, 3, size=len(BODY)) == b"234"
    assert reads.read_range("c", "o", 8, 100) == b"89"  # no size known: clamped by the body
    assert reads.read_range("c", "o", 10, 5, size=len(BODY)) == b""  # at EOF: nothing asked
    method, path, query, ranged = IgnoresRange.seen[0]
    assert (method, path, query, ranged) == ("GET", "/v1/AUTH_t/c/o", {"version-id": [VERSION]},
                                             "bytes=2-4")  # fmt: skip
    assert len(IgnoresRange.seen) == 2
