"""Pure helpers of the Swift support (no Swift needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pithosfs.client.pithos import PithosClient
from pithosfs.fs.virtual.swift_history import archive_prefix, swift_version_id, version_id
from pithosfs.fs.writeback import swift_segments


def test_cluster_root_of_storage_urls() -> None:
    assert swift_segments.cluster_root("http://h:8080/v1/AUTH_test") == "http://h:8080"
    assert swift_segments.cluster_root("https://h/swift/v1/AUTH_x") == "https://h/swift"


def test_archive_prefix_counts_utf8_bytes_like_swift() -> None:
    assert archive_prefix("a/b.txt") == "007a/b.txt/"
    assert archive_prefix("καλημέρα") == "010καλημέρα/"  # 16 bytes in UTF-8


def test_version_ids_round_trip_swift_timestamps() -> None:
    for stamp in ("1796395341.59453", "1700000000.00001", "1700000000.10000"):
        assert swift_version_id(version_id(stamp)) == stamp  # the `?version-id=` Swift expects
    assert version_id("1796395341.59453") < version_id("1796395341.59454")


def client_over(transport: Any) -> PithosClient:
    """The HTTP client (its Swift requests, client/swift.py) over a scripted transport."""
    client = PithosClient.from_storage_url(transport.base_url, "token")
    client.transport.close()
    client.transport = transport
    return client


class _Transport:
    def __init__(self, reply: Any) -> None:
        self.base_url = f"http://cluster-{id(self)}:8080/v1/AUTH_t"
        self.reply = reply
        self.asked: list[str] = []

    def request(self, method: str, path: str = "", **kw: Any) -> Any:
        self.asked.append(kw.get("absolute_url", path))
        if isinstance(self.reply, Exception):
            raise self.reply
        return SimpleNamespace(json=lambda: self.reply)


def test_limits_from_info_once_per_cluster_lowered_by_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(swift_segments.SEGMENT_SIZE_ENV, raising=False)
    transport = _Transport({"swift": {"max_file_size": 1000}, "slo": {"max_manifest_segments": 7}})
    store = client_over(transport)
    assert swift_segments.limits(store) == swift_segments.Limits(1000, 7)
    assert swift_segments.limits(store) == swift_segments.Limits(1000, 7)
    assert transport.asked == [transport.base_url.rsplit("/v1/", 1)[0] + "/info"]
    monkeypatch.setenv(swift_segments.SEGMENT_SIZE_ENV, "300")
    assert swift_segments.limits(store).single_put == 300
    monkeypatch.setenv(swift_segments.SEGMENT_SIZE_ENV, "5000")  # never above the cluster's
    assert swift_segments.limits(store).single_put == 1000


def test_limits_default_when_info_is_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    from pithosfs.client.errors import NotFound

    monkeypatch.delenv(swift_segments.SEGMENT_SIZE_ENV, raising=False)
    store = client_over(_Transport(NotFound("no /info", status=404)))
    got = swift_segments.limits(store)
    assert got.single_put == swift_segments.DEFAULT_MAX_FILE_SIZE
    assert got.max_segments == swift_segments.DEFAULT_MAX_SEGMENTS


class _RecordingTransport:
    """Answers segment PUTs, refuses the manifest PUT with a 409, records every call."""

    def __init__(self) -> None:
        self.base_url = f"http://refusing-{id(self)}:8080/v1/AUTH_t"
        self.calls: list[tuple[str, str]] = []

    def request(self, method: str, path: str = "", **kw: Any) -> Any:
        from pithosfs.client.errors import Conflict

        self.calls.append((method, kw.get("absolute_url", path)))
        if kw.get("absolute_url"):
            return SimpleNamespace(json=lambda: {"swift": {"max_file_size": 4}})
        if (kw.get("params") or {}).get("multipart-manifest") == "put":
            raise Conflict("manifest refused", status=409)
        return SimpleNamespace(headers={"ETag": '"abc"'})


def test_failed_manifest_put_removes_its_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    from pithosfs.client.errors import Conflict

    monkeypatch.delenv(swift_segments.SEGMENT_SIZE_ENV, raising=False)
    transport = _RecordingTransport()
    store = client_over(transport)
    with pytest.raises(Conflict):
        swift_segments.put_segmented(
            store, "c", "obj", 10, lambda off, n: b"x" * n, "text/plain", None, False
        )
    puts = [p for m, p in transport.calls if m == "PUT" and p.startswith("/c_segments/obj/slo/")]
    deletes = [p for m, p in transport.calls if m == "DELETE"]
    assert len(puts) == 3 and sorted(deletes) == sorted(puts)  # 4 + 4 + 2 bytes
