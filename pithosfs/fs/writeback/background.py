"""Background uploads of a staged file: completed blocks go up while it is being written.

A mixin of `writeback.StagedFile`, split off so each module has one job. It
uses the StagedFile's state under the StagedFile's `_lock` (see the locking
notes there); the attributes it relies on are declared below.

Rules: a write starting where the previous one ended continues a sequential
run, and each block the run has passed is complete; once a group of them
(`upload_group_bytes`) is complete it is queued on the upload pool as one
task. The task reads the blocks' newest bytes when it runs, hashes them, and
sends those the server is not known to hold (the base's hashmap,
`KnownBlocks`) in one request. At commit, `_flush_background` queues every
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
from typing import Any

from pithosfs import protocol
from pithosfs.client.types import ObjectStore
from pithosfs.fs.writeback.block_table import LocalBlock
from pithosfs.fs.writeback.staging import StagingFile
from pithosfs.fs.writeback.upload import PROBE_BLOCKS, KnownBlocks, send_batch

log = logging.getLogger(__name__)

# Background tasks poll for the lock this often, so they notice a commit and step aside.
_BG_LOCK_POLL = 0.05
# Block data one background task reads and sends in one request: several
# small blocks per POST cost the server far less than one each. Memory in
# flight is this times the pool's worker count (times two while the client
# packs the request body); 8 MiB measured no faster than 4 MiB on the mount
# but raised its peak RSS from 59 to 105 MiB during a 2 GiB copy.
DEFAULT_GROUP_BYTES = 4 * 1024 * 1024
MAX_GROUP_BLOCKS = 1024


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
    _mem: dict[int, Any]
    _spill_owned: Callable[..., list[threading.Event]]
    _queue_unsent: Callable[[bool], list[Any]]
    _mem_unsent: list[Any]
    _mem_inflight: Any  # deque of (future, blocks held)
    _group_bytes: int
    bg_uploaded_bytes: int
    commit_uploaded_bytes: int
    _ensure_geometry: Callable[[], tuple[int, str]]
    _block_length: Callable[[int, int], int]
    _load_hints: Callable[[], None]
    _server_hashes: bool | None
    _held_by_server: Callable[[list[str]], set[str]]
    _note_probe: Callable[[bool], None]

    def _group_size(self, bs: int) -> int:
        """Blocks per background request: fewer, larger POSTs are much cheaper for the server."""
        return max(1, min(MAX_GROUP_BLOCKS, self._group_bytes // bs))

    def _queue(self, indices: list[int], at_commit: bool) -> bool:
        """Submit one task for `indices`; False if the pool is shut down. `_lock` held."""
        try:
            fut = self._pool.submit(self._bg_upload, tuple(indices), at_commit)
        except RuntimeError:  # pool shut down (unmount): commit() sends them itself
            return False
        for index in indices:
            self._bg[index] = fut
        return True

    def _queued(self, index: int) -> bool:
        """A task for this block has not started yet: it will read the newest bytes."""
        fut = self._bg.get(index)
        return fut is not None and not fut.running() and not fut.done()

    def _note_sequential(self, offset: int, end: int, bs: int) -> None:
        """Queue the blocks a sequential run has completed, a group at a time. `_lock` held."""
        if offset != self._run_end:
            self._run_next_block = offset // bs
        self._run_end = end
        group = self._group_size(bs)
        complete = end // bs  # blocks below this one are complete
        while complete - self._run_next_block >= group:
            first = self._run_next_block
            self._run_next_block += group
            todo = [i for i in range(first, first + group) if not self._queued(i)]
            if todo and not self._queue(todo, at_commit=False):
                break

    def _acquire_unless_committing(self) -> bool:
        while not self._lock.acquire(timeout=_BG_LOCK_POLL):
            if self._committing or self._closed:
                return False
        if self._committing or self._closed:
            self._lock.release()
            return False
        return True

    def _bg_upload(self, indices: tuple[int, ...], at_commit: bool = False) -> None:
        """Pool task: send those of `indices` that are complete and the server may lack.

        `at_commit`: queued by commit()'s flush, which also sends the short tail block.
        """
        try:
            bs, algorithm = self._ensure_geometry()
            if not self._acquire_unless_committing():
                return
            picked: list[tuple[int, LocalBlock, tuple[int, int], bytes]] = []
            try:
                for index in indices:
                    blk = self._local.get(index)
                    length = self._block_length(index, bs)
                    if blk is None or length == 0 or (length < bs and not at_commit):
                        continue  # truncated away meanwhile; commit() decides
                    if index in self._mem:
                        continue  # not staged yet: the memory path sends it
                    key = (blk.gen, length)
                    if blk.on_server != key:
                        picked.append((index, blk, key, self._staging.read(index * bs, length)))
            finally:
                self._lock.release()
            if not picked:
                return
            self._load_hints()
            hashes = [protocol.block_hash_hex(data, algorithm) for _, _, _, data in picked]
            send = [
                (h, data.rstrip(b"\0"))
                for h, (_, _, _, data) in zip(hashes, picked, strict=True)
                if h not in self._known
            ]
            # Asked first while writing a file not known to be new data, and at commit
            # for a re-copy; an edit's few changed blocks at commit just go (asking
            # would cost the round trip the commit's hashmap PUT makes anyway).
            undecided = self._server_hashes is None and not at_commit
            if send and (undecided or self._server_hashes is False):
                held = self._probe_group([h for h, _ in send])
                send = [(h, data) for h, data in send if h not in held]
            if send:
                send_batch(
                    self._store, self.container, ([h for h, _ in send], [p for _, p in send])
                )
                self._known.add_many(h for h, _ in send)
            sent = sum(len(p) for _, p in send)
            if not self._acquire_unless_committing():
                return
            try:
                if at_commit:
                    self.commit_uploaded_bytes += sent
                else:
                    self.bg_uploaded_bytes += sent
                for block_hash, (index, blk, key, _) in zip(hashes, picked, strict=True):
                    if self._local.get(index) is blk and blk.gen == key[0]:
                        blk.hash_key, blk.hash, blk.on_server = key, block_hash, key
            finally:
                self._lock.release()
        except Exception as exc:  # noqa: BLE001 - commit() re-sends whatever is missing
            log.debug(
                "background upload of %s/%s blocks %s failed: %s",
                self.container,
                self.name,
                indices,
                exc,
            )

    def _probe_group(self, hashes: list[str]) -> set[str]:
        """Which of a group's (unknown) blocks the server holds, asked before sending them.

        A file not yet taken for new data or a re-copy (_note_probe) first has
        its first PROBE_BLOCKS blocks asked about, which decides; a re-copy then
        has every group asked about; new data is sent without asking.
        """
        if self._server_hashes is None:
            first = hashes[:PROBE_BLOCKS]
            held = self._held_by_server(first)
            for block_hash in first:
                self._note_probe(block_hash in held)
            if self._server_hashes is not False:
                return held
            return held | self._held_by_server(hashes[PROBE_BLOCKS:])
        return self._held_by_server(hashes)

    def _flush_background(self) -> None:
        """Send every changed block the server may lack, in parallel, and wait (no lock held).

        Run by commit() before its hashmap PUT: blocks are hashed and sent on
        the pool (not one by one under the lock), skipping those the server
        is known to hold, so the PUT usually succeeds at once instead of
        costing a 409 round trip. Failures are ignored here: the PUT then
        names what is missing and commit() sends it, or raises. A second
        pass sends what memory-path tasks parked while the first one waited
        for them (a third only if a writer keeps writing meanwhile).
        """
        with self._lock:  # memory-path tasks first: the blocks they park go up together
            memory_tasks = [fut for fut, _ in self._mem_inflight]
        concurrent.futures.wait(memory_tasks)
        for _ in range(3):
            with self._lock:
                if self._closed or not self._dirty:
                    return
                futures = self._queue_changed_blocks()
            concurrent.futures.wait(futures)
            with self._lock:
                if not self._mem_unsent:
                    return

    def _queue_changed_blocks(self) -> set[concurrent.futures.Future[None]]:
        """_flush_background's queueing, under `_lock`; returns the futures to wait for."""
        self._spill_owned(strict=False)  # a partly filled memory block is staged here
        # Parked memory-path blocks go up from memory in one request (or, if the pool
        # is shut down, from the staging file below).
        for unsent in self._queue_unsent(True):
            unsent.mem.free()
        bs = self._ensure_geometry()[0]
        # One block or less: commit() sends it with a single plain PUT instead.
        if protocol.block_count(self._size, bs) > 1:
            todo: list[int] = []
            for index in sorted(self._local):
                blk = self._local[index]
                length = self._block_length(index, bs)
                if length == 0 or blk.on_server == (blk.gen, length):
                    continue
                fut = self._bg.get(index)
                if fut is not None and not fut.done():
                    # Queued (reads the newest bytes) or sending: sending it again
                    # would only race it. If the block changed after that task
                    # read it, the PUT's 409 names it and commit() sends it.
                    continue
                if index in self._mem:
                    continue  # being staged: its task parks it for the next pass
                todo.append(index)
            group = self._group_size(bs)
            for i in range(0, len(todo), group):
                if not self._queue(todo[i : i + group], at_commit=True):
                    break
        futures = set(self._bg.values())
        self._bg.clear()
        return futures
