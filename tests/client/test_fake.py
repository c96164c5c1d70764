"""FakeStore specifics the conformance suite does not cover: stats, threads, policies."""

from __future__ import annotations

import os
import threading

import pytest

from pithosfs import protocol
from pithosfs.client.errors import QuotaExceeded
from pithosfs.client.fake import FakeStore
from pithosfs.client.types import ObjectStore


@pytest.fixture
def fake() -> FakeStore:
    s = FakeStore(account="acc", block_size=16)
    s.create_container("c")
    return s


def test_fake_satisfies_the_protocol(fake: FakeStore):
    assert isinstance(fake, ObjectStore)


def test_stats_count_payload_bytes_per_method(fake: FakeStore):
    before = fake.stats.snapshot()
    fake.put_object("c", "o", b"x" * 40)
    fake.read_range("c", "o", 0, 10)
    diff = fake.stats.snapshot() - before
    assert diff.count("PUT") == 1 and diff.by_method["PUT"].bytes_sent == 40
    assert diff.count("GET") == 1 and diff.by_method["GET"].bytes_received == 10


def test_reupload_of_known_blocks_sends_only_the_hashmap(fake: FakeStore):
    data = bytes(range(200))
    blocks = [data[i : i + 16] for i in range(0, len(data), 16)]
    fake.upload_blocks("c", blocks)
    before = fake.stats.snapshot()
    fake.put_hashmap("c", "again", len(data), protocol.hashmap_of(data, 16))
    diff = fake.stats.snapshot() - before
    assert diff.count("POST") == 0
    assert fake.read_range("c", "again", 0, 1000) == data


def test_versioning_none_drops_history(fake: FakeStore):
    fake.set_container_versioning("c", "none")
    fake.put_object("c", "o", b"1")
    fake.put_object("c", "o", b"2")
    assert len(fake.list_versions("c", "o")) == 1


def test_quota_is_enforced(fake: FakeStore):
    fake.set_container_quota("c", 10)
    fake.put_object("c", "a", b"x" * 10)
    with pytest.raises(QuotaExceeded):
        fake.put_object("c", "b", b"y")


def test_versions_are_globally_increasing_under_threads(fake: FakeStore):
    serials: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(50):
            info = fake.put_object("c", f"t{n}", bytes([i]) * 20)
            with lock:
                serials.append(info.version)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(serials)) == 200
    assert fake.container_info("c").count == 4


def test_listing_until_shows_the_past(fake: FakeStore):
    clock = iter(range(1000, 2000))
    s = FakeStore(block_size=16, clock=lambda: float(next(clock)))
    s.create_container("c")
    s.put_object("c", "early", b"1")
    cutoff = int(s.head_object("c", "early").last_modified)
    s.put_object("c", "late", b"2")
    s.delete_object("c", "early")
    assert [e.name for e in s.list_objects("c", until=cutoff)] == ["early"]
    assert [e.name for e in s.list_objects("c")] == ["late"]


def test_account_groups_merge_and_delete(fake: FakeStore):
    fake.set_account_groups({"team": ["U1", "u2"]})
    fake.set_account_groups({"other": ["u3"]})
    fake.set_account_groups({"team": []})
    assert fake.account_info().groups == {"other": ["u3"]}


def test_upload_blocks_cuts_bodies_at_block_size(fake: FakeStore):
    body = bytes(range(40))  # 16 + 16 + 8 with 16-byte blocks
    assert fake.upload_blocks("c", [body]) == protocol.hashmap_of(body, 16)


def test_runs_group_consecutive_indices():
    from pithosfs.client.transfer import runs

    assert runs([5, 0, 1, 2, 3, 4, 9, 7, 8], 4) == [(0, 4), (4, 2), (7, 3)]
    assert runs([], 4) == []


def test_streaming_upload_bounds_blocks_in_flight():
    """add_block waits while 2*workers uploads are unfinished: memory stays a few blocks."""
    import time

    from pithosfs.client.transfer import StreamingUpload

    lock = threading.Lock()

    class SlowStore(FakeStore):
        workers = 2
        completed = 0

        def block_params(self, container: str) -> tuple[int, str]:
            return self.block_size, self.block_hash

        def upload_blocks(self, container: str, blocks: list[bytes]) -> list[str]:
            time.sleep(0.005)
            try:
                return super().upload_blocks(container, blocks)
            finally:
                with lock:
                    self.completed += 1

    store = SlowStore(block_size=16)
    store.create_container("c")
    up = StreamingUpload(store, "c", "o")  # type: ignore[arg-type]
    data = os.urandom(64 * 16)  # 64 distinct blocks
    held = []
    for n, i in enumerate(range(0, len(data), 16), start=1):
        up.add_block(data[i : i + 16])
        held.append(n - store.completed)  # blocks handed over but not yet stored
    info = up.commit()
    assert info.size == len(data)
    assert store.read_range("c", "o", 0, len(data)) == data
    assert max(held) <= 2 * SlowStore.workers
    assert max(held) >= 2  # uploads really overlapped the producer
