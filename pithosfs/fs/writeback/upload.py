"""Sending blocks to the store: a bounded window of block uploads, and dedup hints.

Two jobs that `StagedFile` needs and that have nothing to do with file state:

* `upload_window` pushes a stream of blocks to `store.upload_blocks` on an
  executor with at most `max_inflight` requests (and so at most that many
  batches of block data) alive at once. The blocks come from a generator, so
  the data of a large file is read from staging only as the window advances:
  memory stays at a few blocks however large the file is.
* `KnownBlocks` is a bounded, thread-safe set of block hashes the server is
  known to hold (seen in a hashmap, or uploaded by us). Background uploads
  consult it to skip blocks the server already has, which is what makes a
  re-copy of known content send only its hashmap. It is only a hint: the
  hashmap PUT at commit reports anything really missing.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

from cachetools import LRUCache

from pithosfs import protocol
from pithosfs.client.types import ObjectStore
from pithosfs.client.validation import stored_hashes

log = logging.getLogger(__name__)

# Blocks of a file hashed (and asked of the server) before its later ones may be left to
# the server to hash (writeback_memory._note_probe).
PROBE_BLOCKS = 2
# One upload request carries at most this many bytes (several blocks when the
# block size is small, as on test servers with 1 KiB blocks).
DEFAULT_BATCH_BYTES = 4 * 1024 * 1024


class KnownBlocks:
    """Bounded LRU set of hex block hashes known to exist on the server."""

    def __init__(self, max_entries: int = 65536) -> None:
        self._lock = threading.Lock()
        # hash -> None; setting a hash makes it the most recent. GUARDED_BY(_lock)
        self._hashes: LRUCache[str, None] = LRUCache(maxsize=max_entries)

    def add_many(self, hashes: Iterable[str]) -> None:
        with self._lock:
            for h in hashes:
                self._hashes[h] = None

    def add(self, block_hash: str) -> None:
        self.add_many((block_hash,))

    def __contains__(self, block_hash: object) -> bool:
        if block_hash == protocol.EMPTY_SHA256:
            return True  # every Pithos store holds the empty block implicitly
        with self._lock:
            return block_hash in self._hashes

    def __len__(self) -> int:
        with self._lock:
            return len(self._hashes)


# (expected hex hashes, block payloads); a None hash: not computed here, the server's stands
Batch = tuple[Sequence[str | None], list[bytes]]


def batches(
    blocks: Iterable[tuple[str, bytes]], block_size: int, batch_bytes: int = DEFAULT_BATCH_BYTES
) -> Iterator[Batch]:
    """Group (hash, payload) pairs into upload requests.

    The server splits a request body at block_size boundaries, so every
    payload but the last of a request must be a full block: a short payload
    (the file's tail, or a block whose trailing zeros were stripped) closes
    its batch.
    """
    hashes: list[str | None] = []
    payloads: list[bytes] = []
    size = 0
    for block_hash, payload in blocks:
        hashes.append(block_hash)
        payloads.append(payload)
        size += len(payload)
        if len(payload) < block_size or size >= batch_bytes:
            yield hashes, payloads
            hashes, payloads, size = [], [], 0
    if payloads:
        yield hashes, payloads


def send_batch(store: ObjectStore, container: str, batch: Batch) -> list[str]:
    """Upload one batch; returns the hashes the server stored it under (see stored_hashes)."""
    expected, payloads = batch
    if len(payloads) == 1 and not payloads[0]:
        # An empty body would be no block at all; one NUL hashes as the empty block.
        payloads = [b"\0"]
    return stored_hashes(expected, store.upload_blocks(container, payloads))


def upload_window(
    store: ObjectStore,
    container: str,
    executor: concurrent.futures.Executor,
    work: Iterable[Batch],
    max_inflight: int,
    on_sent: Callable[[list[str]], None] | None = None,
) -> int:
    """Upload every batch of `work` with at most `max_inflight` in flight; returns bytes sent.

    The first failure cancels what has not started and is raised once the
    running uploads have finished (so no request outlives the call).
    """
    pending: set[concurrent.futures.Future[list[str]]] = set()
    sizes: dict[concurrent.futures.Future[list[str]], int] = {}
    sent = 0
    error: BaseException | None = None

    def reap(done: Iterable[concurrent.futures.Future[list[str]]]) -> None:
        nonlocal sent, error
        for fut in done:
            try:
                hashes = fut.result()
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after draining
                if error is None:
                    error = exc
                continue
            sent += sizes.pop(fut)
            if on_sent is not None:
                on_sent(hashes)

    for batch in work:
        while len(pending) >= max_inflight:
            done, pending = concurrent.futures.wait(
                pending, return_when=concurrent.futures.FIRST_COMPLETED
            )
            reap(done)
        if error is not None:
            break
        try:
            fut = executor.submit(send_batch, store, container, batch)
        except RuntimeError:
            # The executor is shutting down (unmount): finish the job on this thread.
            fut = concurrent.futures.Future()
            try:
                fut.set_result(send_batch(store, container, batch))
            except BaseException as exc:  # noqa: BLE001 - delivered through the future
                fut.set_exception(exc)
        sizes[fut] = sum(len(p) for p in batch[1])
        pending.add(fut)
    if error is not None:
        for fut in pending:
            fut.cancel()
    done, _ = concurrent.futures.wait(pending)
    reap(f for f in done if not f.cancelled())
    if error is not None:
        raise error
    return sent
