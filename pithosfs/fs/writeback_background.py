"""Background uploads of a staged file: completed blocks go up while it is being written.

A mixin of `writeback.StagedFile`, split off so each module has one job. It
uses the StagedFile's state under the StagedFile's `_lock` (see the locking
notes there); the attributes it relies on are declared below.

Rules: a write starting where the previous one ended continues a sequential
run, and each block the run has passed is complete, so it is queued on the
upload pool. The task reads the block's newest bytes when it runs, hashes
them, and uploads them unless the server is known to hold that hash (the
base's hashmap, `KnownBlocks`). At commit, `_flush_background` queues every
changed block the same way (the short tail too) and waits, so the hashmap PUT
usually finds everything present. Upload failures here are only logged:
commit()'s hashmap PUT names whatever is missing, and a failure to send it
then is raised from commit().
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable

from pithosfs import protocol
from pithosfs.client.types import ObjectStore
from pithosfs.fs.staging import StagingFile
from pithosfs.fs.writeback_blocks import LocalBlock
from pithosfs.fs.writeback_upload import KnownBlocks, send_batch

log = logging.getLogger(__name__)

# Background tasks poll for the lock this often, so they notice a commit and step aside.
_BG_LOCK_POLL = 0.05


class BackgroundUploads:
    """Mixin: the background-upload half of StagedFile."""

    # Provided by StagedFile.
    container: str
    name: str
    _store: ObjectStore
    _pool: concurrent.futures.Executor
    _lock: threading.Lock
    _staging: StagingFile
    _local: dict[int, LocalBlock]
    _known: KnownBlocks
    _size: int
    _dirty: bool
    _closed: bool
    _committing: bool
    _run_end: int
    _run_next_block: int
    _bg: dict[int, concurrent.futures.Future[None]]
    bg_uploaded_bytes: int
    commit_uploaded_bytes: int
    _ensure_geometry: Callable[[], tuple[int, str]]
    _block_length: Callable[[int, int], int]
    _load_hints: Callable[[], None]

    def _note_sequential(self, offset: int, end: int, bs: int) -> None:
        """Queue the blocks a sequential run has completed. Called with `_lock` held."""
        if offset != self._run_end:
            self._run_next_block = offset // bs
        self._run_end = end
        for index in range(self._run_next_block, end // bs):
            fut = self._bg.get(index)
            if fut is not None and not fut.running() and not fut.done():
                continue  # still queued: it will read the newest bytes when it runs
            try:
                self._bg[index] = self._pool.submit(self._bg_upload, index)
            except RuntimeError:  # pool shut down: commit() will send it
                break
        self._run_next_block = max(self._run_next_block, end // bs)

    def _acquire_unless_committing(self) -> bool:
        while not self._lock.acquire(timeout=_BG_LOCK_POLL):
            if self._committing or self._closed:
                return False
        if self._committing or self._closed:
            self._lock.release()
            return False
        return True

    def _bg_upload(self, index: int, at_commit: bool = False) -> None:
        """Pool task: send block `index` if it is still complete and the server may lack it.

        `at_commit`: queued by commit()'s flush, which also sends the short tail block.
        """
        try:
            bs, algorithm = self._ensure_geometry()
            if not self._acquire_unless_committing():
                return
            try:
                blk = self._local.get(index)
                length = self._block_length(index, bs)
                if blk is None or length == 0 or (length < bs and not at_commit):
                    return  # truncated away meanwhile; commit() decides
                key = (blk.gen, length)
                if blk.on_server == key:
                    return
                data = self._staging.read(index * bs, length)
            finally:
                self._lock.release()
            block_hash = protocol.block_hash_hex(data, algorithm)
            self._load_hints()
            skipped = block_hash in self._known
            if not skipped:
                payload = data.rstrip(b"\0")
                send_batch(self._store, self.container, ([block_hash], [payload]))
                self._known.add(block_hash)
            if not self._acquire_unless_committing():
                return
            try:
                if not skipped and at_commit:
                    self.commit_uploaded_bytes += len(payload)
                elif not skipped:
                    self.bg_uploaded_bytes += len(payload)
                if self._local.get(index) is blk and blk.gen == key[0]:
                    blk.hash_key, blk.hash, blk.on_server = key, block_hash, key
            finally:
                self._lock.release()
        except Exception as exc:  # noqa: BLE001 - commit() re-sends whatever is missing
            log.debug(
                "background upload of %s/%s block %d failed: %s",
                self.container,
                self.name,
                index,
                exc,
            )

    def _flush_background(self) -> None:
        """Send every changed block the server may lack, in parallel, and wait (no lock held).

        Run by commit() before its hashmap PUT: blocks are hashed and sent on
        the pool (not one by one under the lock), skipping those the server
        is known to hold, so the PUT usually succeeds at once instead of
        costing a 409 round trip. Failures are ignored here: the PUT then
        names what is missing and commit() sends it, or raises.
        """
        with self._lock:
            if self._closed or not self._dirty:
                return
            bs = self._ensure_geometry()[0]
            # One block or less: commit() sends it with a single plain PUT instead.
            if protocol.block_count(self._size, bs) > 1:
                for index, blk in self._local.items():
                    length = self._block_length(index, bs)
                    if length == 0 or blk.on_server == (blk.gen, length):
                        continue
                    fut = self._bg.get(index)
                    if fut is not None and not fut.done():
                        # Queued (reads the newest bytes) or sending: sending it again
                        # would only race it. If the block changed after that task
                        # read it, the PUT's 409 names it and commit() sends it.
                        continue
                    try:
                        self._bg[index] = self._pool.submit(self._bg_upload, index, True)
                    except RuntimeError:  # pool shut down: the 409 path sends it
                        break
            futures = list(self._bg.values())
            self._bg.clear()
        concurrent.futures.wait(futures)
