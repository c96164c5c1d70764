"""Listings read as they arrive: entries before the body ends, cut pages resumed, bad JSON typed.

Against the scripted server of tests/client/flaky_server.py, so that the body's
timing and its faults are exact.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from pithosfs.client import PithosClient, RetryPolicy
from pithosfs.client.errors import PithosError, TransportError
from pithosfs.client.types import Subdir
from tests.client.flaky_server import Action, FlakyServer

FAST = RetryPolicy(attempts=3, base_backoff=0.01, max_backoff=0.02, read_timeout=0.5)


def item(name: str) -> dict[str, object]:
    return {
        "name": name,
        "bytes": 1,
        "content_type": "application/octet-stream",
        "x_object_hash": "ab" * 32,
        "x_object_version": 1,
        "last_modified": "2026-12-05T18:51:12.146208+00:00",
    }


def body(*entries: dict[str, object]) -> bytes:
    return json.dumps(list(entries)).encode()


def listing(content: bytes, **headers: str) -> Action:
    return ("reply", 200, {"Content-Type": "application/json", **headers}, content)


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    srv = FlakyServer()
    yield srv
    srv.stop()


def client_of(srv: FlakyServer) -> PithosClient:
    return PithosClient.from_storage_url(srv.url + "/v1/acc", "tok", retry=FAST)


def gets(srv: FlakyServer) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(path).query) for m, path, _, _ in srv.requests if m == "GET"]


def test_entries_are_handed_out_before_the_body_ends(flaky: FlakyServer) -> None:
    gate = threading.Event()
    first, rest = b'[{"name": "a", "bytes": 1},\n', b'{"name": "b", "bytes": 2}]'
    flaky.script = [("chunked", 200, {"Content-Type": "application/json"}, [first, rest], gate)]
    entries = client_of(flaky).list_objects("c")
    try:
        assert next(entries).name == "a"
        assert flaky.sent_parts == 1  # "b" is still held back by the server
    finally:
        gate.set()
    assert [e.name for e in entries] == ["b"]


def test_a_page_cut_midway_resumes_after_the_last_whole_entry(flaky: FlakyServer) -> None:
    whole = body(item("a"), item("b"))
    cut = whole[: whole.index(b'"b"') + 10]  # "a" and half of "b"; then the server stalls
    flaky.script = [
        listing(cut, **{"Content-Length": str(len(whole))}),
        listing(body(item("b"), item("c"))),
    ]
    client = client_of(flaky)
    assert [e.name for e in client.list_objects("c")] == ["a", "b", "c"]
    markers = [q.get("marker") for q in gets(flaky)]
    assert markers == [None, ["a"]]
    assert client.stats.snapshot().retries == 1


def test_a_page_cut_every_time_is_a_transport_error(flaky: FlakyServer) -> None:
    whole = body(item("a"), item("b"))
    cut = listing(whole[:-5], **{"Content-Length": str(len(whole))})
    flaky.script = [cut, cut, cut]
    with pytest.raises(TransportError, match="listing cut 3 times"):
        list(client_of(flaky).list_objects("c"))
    assert len(gets(flaky)) == 3


def test_malformed_json_is_a_typed_error_and_not_retried(flaky: FlakyServer) -> None:
    flaky.script = [listing(b'[{"name": "a"} {"name": "b"}]')]
    with pytest.raises(PithosError, match="malformed listing"):
        list(client_of(flaky).list_objects("c"))
    assert len(gets(flaky)) == 1


@pytest.mark.parametrize("entry", [b"[1]", b'[{"bytes": 1}]', b'[{"name": 7}]', b'[["a"]]'])
def test_entries_that_are_not_objects_are_a_typed_error(flaky: FlakyServer, entry: bytes) -> None:
    flaky.script = [listing(entry)]
    with pytest.raises(PithosError, match="malformed listing entry"):
        list(client_of(flaky).list_objects("c"))


@pytest.mark.parametrize("answer", [("reply", 204, {}, b""), listing(b""), listing(b" []\n")])
def test_empty_listings(flaky: FlakyServer, answer: Action) -> None:
    flaky.script = [answer]
    assert list(client_of(flaky).list_objects("c")) == []


def test_a_full_page_asks_for_the_next_after_its_last_subdir(flaky: FlakyServer) -> None:
    flaky.script = [
        listing(body(item("a"), {"subdir": "d/"})),
        listing(body({"subdir": "d/"}, item("e"))),  # the repeated subdir of protocol.md 5.2
        listing(body()),
    ]
    client = PithosClient.from_storage_url(flaky.url + "/v1/acc", "tok", retry=FAST, page_limit=2)
    entries = list(client.list_objects("c"))
    assert [(type(e).__name__, e.name) for e in entries] == [
        ("ObjectInfo", "a"), ("Subdir", "d"), ("ObjectInfo", "e"),
    ]  # fmt: skip
    assert [q.get("marker") for q in gets(flaky)] == [None, ["d/\uffff"], ["e"]]


def test_limit_asks_the_server_for_no_more(flaky: FlakyServer) -> None:
    flaky.script = [listing(body(item("a")))]
    entries = list(client_of(flaky).list_objects("c", limit=1))
    assert [e.name for e in entries] == ["a"] and not isinstance(entries[0], Subdir)
    assert [q["limit"] for q in gets(flaky)] == [["1"]]
