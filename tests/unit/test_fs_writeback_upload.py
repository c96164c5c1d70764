"""The block-sending helpers of the write path: batching, the bounded window, dedup hints."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator

import pytest

from pithosfs import protocol
from pithosfs.client.errors import PithosError, ServerError
from pithosfs.client.fake import FakeStore
from pithosfs.fs.writeback.upload import KnownBlocks, batches, send_batch, upload_window

BS = 16


def items(*payloads: bytes) -> list[tuple[str, bytes]]:
    return [(protocol.block_hash_hex(p), p) for p in payloads]


def test_short_payload_closes_its_batch():
    full, short = b"f" * BS, b"s" * 3
    got = list(batches(items(full, full, short, full, short), BS, batch_bytes=10 * BS))
    assert [len(p) for _, p in got] == [3, 2]  # [full, full, short], [full, short]
    assert [[len(b) for b in p] for _, p in got] == [[BS, BS, 3], [BS, 3]]


def test_batches_respect_the_byte_limit():
    got = list(batches(items(*[bytes([i]) * BS for i in range(1, 8)]), BS, batch_bytes=3 * BS))
    assert [len(p) for _, p in got] == [3, 3, 1]


def test_send_batch_checks_the_returned_hashes():
    class Liar(FakeStore):
        def upload_blocks(self, container: str, blocks: list[bytes]) -> list[str]:
            super().upload_blocks(container, blocks)
            return [protocol.EMPTY_SHA256] * len(blocks)

    store = Liar(block_size=BS)
    store.create_container("c")
    with pytest.raises(PithosError, match="unexpected hashes"):
        send_batch(store, "c", ([protocol.block_hash_hex(b"x")], [b"x"]))


class SlowStore(FakeStore):
    """Counts concurrent uploads; fails the upload of one chosen payload."""

    def __init__(self, fail_on: bytes | None = None) -> None:
        super().__init__(block_size=BS)
        self.create_container("c")
        self.fail_on = fail_on
        self.active = 0
        self.peak = 0
        self.calls = 0
        self.guard = threading.Lock()

    def upload_blocks(self, container: str, blocks: list[bytes]) -> list[str]:
        with self.guard:
            self.active += 1
            self.calls += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(0.01)
            if self.fail_on is not None and self.fail_on in blocks:
                raise ServerError("injected", method="POST")
            return super().upload_blocks(container, blocks)
        finally:
            with self.guard:
                self.active -= 1


@pytest.fixture
def pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(8) as p:
        yield p


def test_window_bounds_requests_in_flight(pool: concurrent.futures.Executor):
    store = SlowStore()
    payloads = [bytes([i]) * BS for i in range(1, 30)]
    produced = 0

    def work() -> Iterator[tuple[list[str], list[bytes]]]:
        nonlocal produced
        for h, p in items(*payloads):
            produced += 1
            # The generator is never more than the window ahead of finished uploads.
            assert produced - store.calls <= 3 + 1
            yield [h], [p]

    sent: list[str] = []
    total = upload_window(store, "c", pool, work(), max_inflight=3, on_sent=sent.extend)
    assert total == len(payloads) * BS
    assert store.peak <= 3
    assert sorted(sent) == sorted(protocol.block_hash_hex(p) for p in payloads)
    assert all(store.has_block(h) for h in sent)


def test_window_raises_the_failure_after_draining(pool: concurrent.futures.Executor):
    bad = bytes([5]) * BS
    store = SlowStore(fail_on=bad)
    work = ([[h], [p]] for h, p in items(*[bytes([i]) * BS for i in range(1, 40)]))
    with pytest.raises(ServerError):
        upload_window(store, "c", pool, work, max_inflight=4)  # type: ignore[arg-type]
    assert store.active == 0  # nothing still running behind the caller's back
    assert store.calls < 39  # stopped early


def test_known_blocks_is_bounded_and_knows_the_empty_block():
    known = KnownBlocks(max_entries=3)
    assert protocol.EMPTY_SHA256 in known
    known.add_many(["a", "b", "c"])
    known.add("a")  # refreshed: now the newest
    known.add("d")
    assert len(known) == 3 and "a" in known and "d" in known and "b" not in known


def test_answers_of_a_block_upload_are_checked_where_not_computed_here():
    """None: the server's hash stands, but only if it is one, and one per block."""
    from pithosfs.client.validation import stored_hashes

    h = "AB" * 32
    assert stored_hashes([None, "cd" * 32], [h, "CD" * 32]) == ["ab" * 32, "cd" * 32]
    for answer in ([h, 77], [h, "xyz"], [h], [h, h, h], [h, None]):
        with pytest.raises(PithosError, match="unexpected hashes"):
            stored_hashes([None, None], answer)
