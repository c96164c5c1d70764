"""Reads of one Swift `version_id` go through the client's ranged GET (VersionIdReads)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from pithosfs.client.pithos import PithosClient
from pithosfs.client.transport import RetryPolicy
from pithosfs.fs.virtual.swift_history import VersionIdReads
from tests.client.flaky_server import Action, FlakyServer

BODY = b"0123456789"
VERSION = "1700000000.00001"


def ignores_range(method: str, path: str, headers: dict[str, str], body: bytes) -> Action:
    """A server (or proxy) that answers a ranged GET with the whole object and a 200."""
    return ("reply", 200, {"Content-Type": "application/octet-stream"}, BODY)


@pytest.fixture
def server() -> Iterator[FlakyServer]:
    srv = FlakyServer(default=ignores_range)
    yield srv
    srv.stop()


def test_a_server_ignoring_range_still_gives_just_the_range(server: FlakyServer) -> None:
    client = PithosClient.from_storage_url(
        server.url + "/v1/AUTH_t", "tok", retry=RetryPolicy(attempts=1)
    )
    reads = VersionIdReads(client, VERSION)
    try:
        assert reads.read_range("c", "o", 2, 3, size=len(BODY)) == b"234"
        assert reads.read_range("c", "o", 8, 100) == b"89"  # no size known: clamped by the body
        assert reads.read_range("c", "o", 10, 5, size=len(BODY)) == b""  # at EOF: nothing asked
    finally:
        client.close()
    assert len(server.requests) == 2
    method, path, headers, _ = server.requests[0]
    url = urlsplit(path)
    assert (method, url.path, parse_qs(url.query)) == (
        "GET",
        "/v1/AUTH_t/c/o",
        {"version-id": [VERSION]},
    )
    assert headers["Range"] == "bytes=2-4"
