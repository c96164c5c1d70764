"""BlockHasher: background hashing at low priority, and callers that help instead of waiting.

Unit tests with an in-memory source; the upload paths themselves run against
the embedded server in test_upload_pipeline.py.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from pithosfs import protocol
from pithosfs.client import uploads
from pithosfs.client.errors import PithosError

BS = 1000


class MemorySource:
    """A SourceReader stand-in: notes which thread read each block, at what nice value;
    reads by background hashing threads can be held back."""

    fd = None

    def __init__(self, data: bytes, delay: float = 0.0) -> None:
        self.data = data
        self.size = len(data)
        self.delay = delay
        self.background_gate = threading.Event()
        self.background_gate.set()
        self.readers: dict[int, str] = {}
        self.nice: dict[str, int] = {}
        self._lock = threading.Lock()

    def readinto(self, offset: int, view: memoryview) -> int:
        name = threading.current_thread().name
        if name.startswith("pithos-hash"):
            self.background_gate.wait()
        if self.delay:
            time.sleep(self.delay)
        chunk = self.data[offset : offset + len(view)]
        view[: len(chunk)] = chunk
        with self._lock:
            self.readers[offset // BS] = name
            if sys.platform.startswith("linux"):
                self.nice[name] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return len(chunk)


@contextmanager
def starved_hasher(source: MemorySource) -> Iterator[uploads.BlockHasher]:
    """A hasher whose background thread gets no CPU (as under load) until the test ends."""
    source.background_gate.clear()
    hasher = uploads.BlockHasher(source, BS, "sha256", parallel=1)  # type: ignore[arg-type]
    try:
        yield hasher
    finally:
        source.background_gate.set()
        hasher.close()


def expected(data: bytes) -> list[str]:
    return [protocol.block_hash(data[i : i + BS]).hex() for i in range(0, len(data), BS)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_background_hashing_runs_at_lower_priority_and_callers_do_not(monkeypatch):
    monkeypatch.setattr(uploads, "HASH_NICE", 5)
    data = os.urandom(100 * BS)
    source = MemorySource(data, delay=0.002)
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    hasher = uploads.BlockHasher(source, BS, "sha256", parallel=1)  # type: ignore[arg-type]
    try:
        assert hasher.wait(0, hasher.count) == expected(data)
    finally:
        hasher.close()
    assert source.nice["pithos-hash-0"] == min(19, own + 5)
    assert source.nice[threading.current_thread().name] == own


def test_a_waiting_caller_hashes_the_blocks_itself_when_the_background_is_starved():
    data = os.urandom(6 * BS + 123)
    source = MemorySource(data)
    with starved_hasher(source) as hasher:
        # Block 0 went to the stalled background thread; the caller hashes the others.
        assert hasher.wait(1, hasher.count) == expected(data)[1:]
        caller = threading.current_thread().name
        assert source.readers == dict.fromkeys(range(1, hasher.count), caller)
        source.background_gate.set()  # the starved thread gets its turn at last
        assert hasher.wait(0, hasher.count) == expected(data)


def test_a_wait_for_a_prefix_hashes_only_that_prefix():
    data = os.urandom(50 * BS)
    source = MemorySource(data)
    with starved_hasher(source) as hasher:
        assert hasher.wait(1, 4) == expected(data)[1:4]
        assert max(source.readers) < 4  # the probe does not wait for blocks it did not ask for


def test_the_final_wait_shares_the_rest_with_pool_helpers():
    data = os.urandom(200 * BS)
    source = MemorySource(data, delay=0.001)
    with ThreadPoolExecutor(2, thread_name_prefix="helper") as pool:
        with starved_hasher(source) as hasher:
            assert hasher.wait(1, hasher.count, pool, helpers=1) == expected(data)[1:]
        names = set(source.readers.values())
        assert threading.current_thread().name in names
        assert any(n.startswith("helper") for n in names)
        if sys.platform.startswith("linux"):  # helpers leave pool threads as they were
            own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            nices = pool.submit(
                lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            ).result()
            assert nices == own


def test_a_failure_while_a_caller_hashes_reaches_the_caller():
    class Shrinking(MemorySource):
        def readinto(self, offset: int, view: memoryview) -> int:
            if offset >= 3 * BS:
                return 0
            return super().readinto(offset, view)

    source = Shrinking(os.urandom(5 * BS))
    with starved_hasher(source) as hasher, pytest.raises(PithosError, match="shrank"):
        hasher.wait(0, hasher.count)


def test_while_a_body_sends_the_pipeline_hashes_the_blocks_already_handed_out():
    data = os.urandom(30 * BS)
    source = MemorySource(data, delay=0.001)
    body_sent = threading.Event()
    timer = threading.Timer(0.3, body_sent.set)
    timer.start()
    with starved_hasher(source) as hasher:
        uploads._wait_helping(body_sent, hasher, 10)
        assert body_sent.is_set()  # it waited for the body, not only for its own hashing
        caller = threading.current_thread().name
        assert source.readers == dict.fromkeys(range(1, 10), caller)  # 0: the stalled thread
        uploads._wait_helping(body_sent, hasher, 30)  # already sent: no hashing, no wait
        assert max(source.readers) == 9
        assert hasher.done(1, 10) == dict(enumerate(expected(data)[1:10], 1))
    timer.cancel()
