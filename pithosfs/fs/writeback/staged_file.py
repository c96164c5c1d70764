"""Write path: a file opened for writing, staged locally, committed as one hashmap PUT.

Model. The file's logical content is a sequence of blocks (the container's
block size). Each block is in one of three states:

* local: its bytes live in the sparse staging file (`staging.StagingFile`);
  it got there by being written, or by being materialised from the base
  because a write covered only part of it;
* base: untouched since the base version, read through `fetch_block` and
  committed by reusing the base hashmap entry, so it is never sent again;
* zero: past what is left of the base (after a truncate, a sparse write past
  EOF, or a new file) and never written; committed as the empty hash.

"What is left of the base" is `_base_extent`: the smallest size the file has
had since the base. Base bytes past it were cut by a truncate and read as
zeros even if the file grows again. This also sidesteps the server quirk of
stale bytes inside the last block (protocol.md 8): a base block is reused only when
the new file needs no more of it than the base had; otherwise it is
materialised, its tail zeroed, and hashed afresh.

Sequential writers get their completed blocks uploaded in the background
(`upload_pool`, fs/writeback/background.py), skipping blocks the server is known
to hold (the base's own hashmap, `KnownBlocks`), so close() mostly finds the
data already there and a re-copy of known content uploads nothing. `commit()`
first lets the pool send the remaining changed blocks by the same rule, then
sends one hashmap PUT, conditional on the base (If-Match: the base's reported
hash, which is what the server compares, even when its hash differs from a
fresh one after partial updates). If the server still reports blocks missing
(409), exactly those are uploaded and the PUT repeated. A file of one block or
less is committed with a single plain PUT. Dedup is therefore as good as the
hints: a changed block whose content the server holds under a name this mount
never read or wrote is sent anyway.

Locking. `_lock` guards all state and the staging file; every public method
takes it. Network calls made while holding it: materialising a base block
during write() (`fetch_block`), and commit()'s hashmap PUT, 409 uploads and
base HEAD/hashmap GET (so writes wait for them; the pool flush before them
runs without the lock). read() fetches base blocks without the lock. Background
tasks take `_lock` only briefly and give up while a commit is running, so a
commit never waits for a pool worker that waits for it. `_commit_lock`
serialises commits; lock order is `_commit_lock` -> `_lock` -> `_hashmap_lock`.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from pithosfs import protocol
from pithosfs.client.errors import MissingBlocks, PithosError, PreconditionFailed
from pithosfs.client.types import ObjectInfo, ObjectStore
from pithosfs.fs.writeback.background import DEFAULT_GROUP_BYTES, BackgroundUploads
from pithosfs.fs.writeback.block_table import LocalBlock, container_geometry
from pithosfs.fs.writeback.memory import (
    DEFAULT_MEMORY_MIN_BLOCK,
    MemoryBlock,
    MemoryWrites,
    Unsent,
)
from pithosfs.fs.writeback.staging import StagingFile
from pithosfs.fs.writeback.upload import (
    DEFAULT_BATCH_BYTES,
    KnownBlocks,
    batches,
    upload_window,
)

log = logging.getLogger(__name__)

EMPTY = protocol.EMPTY_SHA256
# Hashmap PUT -> upload missing -> PUT again; more rounds only if blocks vanish meanwhile.
MAX_COMMIT_ROUNDS = 4
# Block data commit() keeps in flight (memory bound, independent of file size).
DEFAULT_UPLOAD_BUFFER = 16 * 1024 * 1024


class StagedFile(MemoryWrites, BackgroundUploads):
    """One open-for-write object. See the module docstring for model and locking."""

    def __init__(
        self,
        store: ObjectStore,
        container: str,
        name: str,
        base: ObjectInfo | None,
        staging_dir: Path,
        fetch_block: Callable[[int], bytes] | None,
        upload_pool: concurrent.futures.Executor,
        truncate: bool = False,
        content_type: str | None = None,
        *,
        block_size: int | None = None,
        block_hash: str | None = None,
        known_blocks: KnownBlocks | None = None,
        upload_buffer_bytes: int = DEFAULT_UPLOAD_BUFFER,
        upload_group_bytes: int = DEFAULT_GROUP_BYTES,
        memory_min_block: int = DEFAULT_MEMORY_MIN_BLOCK,
    ) -> None:
        """`content_type` None keeps the base's type (octet-stream for a new file).

        `block_size`/`block_hash`: the container's, if the caller knows them
        (saves a container HEAD the first time a container is written).
        `known_blocks`: a hint set shared across files (see writeback_upload).
        `upload_buffer_bytes`: block data commit() keeps in flight at once (at
        least one batch). `upload_group_bytes`: block data one background
        task sends in one request (at least one block); a pool worker holds
        that much at a time. `memory_min_block`: the smallest block size for
        which sequential writes go through memory (fs/writeback/memory.py).
        """
        self._store = store
        self.container = container
        self.name = name
        self._base = base
        self._fetch_block = fetch_block
        self._pool = upload_pool
        self.content_type = content_type  # a rename may change it (FileTable.renamed)
        self._known = known_blocks if known_blocks is not None else KnownBlocks(4096)
        self._upload_buffer = upload_buffer_bytes
        self._group_bytes = upload_group_bytes
        self._geometry: tuple[int, str] | None = None
        if block_size is not None:
            self._geometry = (block_size, block_hash or protocol.DEFAULT_HASH_ALGORITHM)

        self._lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._hashmap_lock = threading.Lock()
        self._staging = StagingFile(staging_dir)
        self._local: dict[int, LocalBlock] = {}
        self._size = 0 if (truncate or base is None) else base.size
        self._base_extent = self._size  # base bytes past this read as zeros
        # Hashmap of the base, fetched only when a base block must be committed
        # or a background upload wants dedup hints. None = not fetched yet.
        self._base_hashes: list[str] | None = None
        self._hints_failed = False
        self._base_stale = False  # the fetched hashmap is not the base's: commit must fail
        self._dirty = base is None or (truncate and base.size > 0)
        self._closed = False
        self._committing = False
        # Sequential-write detection: a write starting where the previous one
        # ended continues the run; blocks the run has passed are complete.
        self._run_end = -1
        self._run_next_block = 0
        self._bg: dict[int, concurrent.futures.Future[None]] = {}
        self._mem: dict[int, MemoryBlock] = {}  # blocks not yet in the staging file
        self._fill: int | None = None  # the memory block a sequential run is filling
        self._memory_min_block = memory_min_block
        # Memory-path tasks and how many blocks each holds (writeback_memory.MAX_HELD_BLOCKS).
        self._mem_inflight: collections.deque[tuple[concurrent.futures.Future[None], int]] = (
            collections.deque()
        )
        self._mem_unsent: list[Unsent] = []  # staged, hashed blocks parked for a group send
        # Whether the server hashes this file's memory-path blocks; None: not decided yet
        # (writeback_memory._note_probe), after `_probed_new` unknown blocks so far.
        self._server_hashes: bool | None = None
        self._probed_new = 0
        self.bg_uploaded_bytes = 0  # statistics: bytes sent by background uploads
        self.commit_uploaded_bytes = 0  # bytes sent by commit() itself

    # -- small accessors ---------------------------------------------------
    @property
    def size(self) -> int:
        return self._size

    @property
    def dirty(self) -> bool:
        return self._dirty

    @property
    def base(self) -> ObjectInfo | None:
        """The version the next commit is conditional on (updated by every commit)."""
        return self._base

    @property
    def block_size(self) -> int:
        return self._ensure_geometry()[0]

    def staged_disk_bytes(self) -> int:
        """Disk space the staging file uses (sparse regions excluded)."""
        with self._lock:
            return self._staging.allocated_bytes()

    def pending_bytes(self) -> int:
        """Bytes changed since the last commit that the server is not known to hold yet."""
        with self._lock:
            if not self._dirty or self._closed or not self._local:
                return 0
            bs = self._ensure_geometry()[0]
            total = 0
            for index, blk in self._local.items():
                length = self._block_length(index, bs)
                if blk.dirty and length > 0 and blk.on_server != (blk.gen, length):
                    total += length
            return total

    def journal_plan(self) -> tuple[int, list[str | None]]:
        """(block size, one item per block) for a journal copy (journal.park's `plan`).

        None: its bytes must be kept (written, or a base block whose hash is not
        known); "": zeros (past the base, never written); a hash: an untouched
        base block the server holds, so the journal records it instead of its bytes.
        """
        bs = self._ensure_geometry()[0]
        with self._lock:
            self._check_open()
            hashes = self._base_hashes if not self._base_stale else None
            plan: list[str | None] = []
            for index in range(protocol.block_count(self._size, bs)):
                valid = self._base_valid(index, bs)
                if index in self._local or index in self._mem:
                    plan.append(None)
                elif valid == 0 or self._known_zero(index):
                    plan.append("")
                elif (
                    hashes is not None
                    and index < len(hashes)
                    and self._block_length(index, bs) <= valid
                ):
                    plan.append("" if hashes[index] == EMPTY else hashes[index])
                else:
                    plan.append(None)
            return bs, plan

    def _ensure_geometry(self) -> tuple[int, str]:
        if self._geometry is None:
            self._geometry = container_geometry(self._store, self.container)
        return self._geometry

    def _block_length(self, index: int, bs: int) -> int:
        return max(0, min(bs, self._size - index * bs))

    def _base_valid(self, index: int, bs: int) -> int:
        """How many leading bytes of block `index` still come from the base."""
        return max(0, min(bs, self._base_extent - index * bs))

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"staged file {self.container}/{self.name} already discarded")

    # -- base data -----------------------------------------------------------
    def _known_zero(self, index: int) -> bool:
        hashes = self._base_hashes
        return hashes is not None and index < len(hashes) and hashes[index] == EMPTY

    def _fetch_base(self, index: int, valid: int, bs: int) -> bytes:
        """The first `valid` bytes of base block `index`."""
        if self._fetch_block is not None:
            data = self._fetch_block(index)
        else:
            assert self._base is not None
            data = self._store.read_range(
                self.container, self.name, index * bs, valid, version=self._base.version or None
            )
        data = data[:valid]
        if len(data) < valid:  # stores may hand back blocks without their zero tail
            data += bytes(valid - len(data))
        return data

    def _base_hashmap(self) -> list[str]:
        """The base's hashmap (fetched once). Call without `_lock` or with it; never the reverse."""
        with self._hashmap_lock:
            if self._base_hashes is not None:
                return self._base_hashes
            base = self._base
            if base is None:
                self._base_hashes = []
                return self._base_hashes
            hm = self._store.get_hashmap(self.container, self.name)
            hashes = [h.lower() for h in hm.hashes] if hm.size else []
            bs = self._ensure_geometry()[0]
            root = protocol.merkle_root_hex(hm.hashes, hm.block_hash)
            consistent = (
                hm.block_size == bs
                and hm.size == base.size
                and len(hashes) == protocol.block_count(base.size, bs)
                # A deployment with UPDATE_MD5 reports an MD5 (shorter) hash: not comparable.
                and (len(base.hash) != len(root) or root == base.hash.lower())
            )
            if not consistent:
                # The object changed since it was opened; its blocks cannot stand
                # in for ours. The conditional PUT would fail anyway: fail early.
                log.info("base of %s/%s changed since open", self.container, self.name)
                self._base_stale = True
            self._known.add_many(hashes)
            self._base_hashes = hashes
            return hashes

    def _load_hints(self) -> None:
        """Fetch the base hashmap once for its dedup hints (a re-copy over the same name)."""
        if self._base is None or self._base_hashes is not None or self._hints_failed:
            return
        try:
            self._base_hashmap()
        except PithosError as exc:
            self._hints_failed = True  # hints are optional; commit() will need it or not
            log.debug("no dedup hints for %s/%s: %s", self.container, self.name, exc)

    def _materialise(self, index: int, bs: int, lo: int = 0, hi: int = 0) -> LocalBlock:
        """Make block `index` local, copying base bytes unless [lo, hi) will overwrite them all."""
        valid = self._base_valid(index, bs)
        if valid > 0 and (lo > 0 or hi < valid) and not self._known_zero(index):
            self._staging.write(index * bs, self._fetch_base(index, valid, bs))
        blk = LocalBlock()
        self._local[index] = blk
        return blk

    # -- reading -------------------------------------------------------------
    def read(self, offset: int, size: int) -> bytes:
        """Bytes [offset, offset+size) of the staged content, short at EOF."""
        if offset < 0 or size < 0:
            raise ValueError("negative offset or size")
        bs = self._ensure_geometry()[0]
        parts: list[bytes | tuple[int, int, int, int]] = []
        with self._lock:
            self._check_open()
            end = min(self._size, offset + size)
            pos = offset
            while pos < end:
                index = pos // bs
                stop = min(end, (index + 1) * bs)
                lo, hi = pos - index * bs, stop - index * bs
                valid = self._base_valid(index, bs)
                mem = self._mem.get(index)
                if mem is not None:
                    parts.append(mem.read(lo, hi))
                elif index in self._local:
                    parts.append(self._staging.read(pos, stop - pos))
                elif lo >= valid or self._known_zero(index):
                    parts.append(bytes(stop - pos))
                else:
                    parts.append((index, valid, lo, hi))  # fetched below, without the lock
                pos = stop
        out = []
        for part in parts:
            if isinstance(part, tuple):
                index, valid, lo, hi = part
                block = self._fetch_base(index, valid, bs)
                out.append(block[lo:hi].ljust(hi - lo, b"\0"))
            else:
                out.append(part)
        return b"".join(out)

    # -- writing -------------------------------------------------------------
    def write(self, offset: int, data: bytes | memoryview) -> int:
        """Write at `offset` (past EOF leaves a zero gap); returns len(data)."""
        if offset < 0:
            raise ValueError("negative offset")
        if not data:
            return 0
        bs = self._ensure_geometry()[0]
        end = offset + len(data)
        first, last = offset // bs, (end - 1) // bs
        while True:
            with self._lock:
                self._check_open()
                busy = self._handed_off_in(first, last)
                if busy is None:
                    wait = self._write_locked(offset, data, bs)
                    break
            busy.wait()  # a pool task is staging a block this write changes
        # Too many blocks of this file in flight: let the uploads catch up. Until
        # the count is back under the bound, not just past one task: the oldest
        # may be a quick staging task while the sends behind it stall, and one
        # wait per write let a writer run a block further ahead each time.
        while wait is not None:
            concurrent.futures.wait([wait])
            with self._lock:
                wait = self._upload_to_wait_for()
        return len(data)

    def _write_locked(
        self, offset: int, data: bytes | memoryview, bs: int
    ) -> concurrent.futures.Future[None] | None:
        """write() under `_lock`; returns an upload to wait for (memory bound) or None."""
        end = offset + len(data)
        wait = None
        self._retry_failed_staging()
        if self._mem_eligible(offset, len(data), bs):
            for index, mem in self._mem_write(offset, data, bs):
                self._hand_off(index, mem)
            wait = self._upload_to_wait_for()
            self._run_end, self._run_next_block = end, end // bs
        else:
            for index in range(offset // bs, (end - 1) // bs + 1):
                blk = self._local.get(index)
                if index in self._mem:
                    self._spill(index)  # its memory copy must not land after these bytes
                if blk is None:
                    lo = max(offset, index * bs) - index * bs
                    hi = min(end, (index + 1) * bs) - index * bs
                    blk = self._materialise(index, bs, lo, hi)
                blk.gen += 1
                blk.dirty = True
            self._staging.write(offset, data)
            self._note_sequential(offset, end, bs)
        self._size = max(self._size, end)
        self._dirty = True
        return wait

    def truncate(self, length: int) -> None:
        if length < 0:
            raise ValueError("negative length")
        bs = self._ensure_geometry()[0]
        while True:
            with self._lock:
                self._check_open()
                busy = self._spill_owned()  # the block cut or extended must be staged
                if not busy:
                    self._truncate_locked(length, bs)
                    return
            for event in busy:
                event.wait()

    def _truncate_locked(self, length: int, bs: int) -> None:
        if length == self._size:
            return
        if length < self._size:
            keep = protocol.block_count(length, bs)
            for index in [i for i in self._local if i >= keep]:
                del self._local[index]
            self._staging.shrink(length)
            self._base_extent = min(self._base_extent, length)
        edge = self._local.get(min(length, self._size) // bs)
        if edge is not None:  # the block holding the old/new EOF changed length
            edge.gen += 1
            edge.dirty = True
        self._size = length
        self._dirty = True
        self._run_end = -1

    # -- commit --------------------------------------------------------------
    def _local_hash(self, index: int, blk: LocalBlock, bs: int, algorithm: str) -> str:
        length = self._block_length(index, bs)
        key = (blk.gen, length)
        if blk.hash_key != key:
            blk.hash = protocol.block_hash_hex(self._block_bytes(index, bs, length), algorithm)
            blk.hash_key = key
        return blk.hash

    def _block_bytes(self, index: int, bs: int, length: int) -> bytes:
        """The first `length` bytes of local block `index` (memory if it could not be staged)."""
        mem = self._mem.get(index)
        if mem is not None:
            return mem.read(0, length)
        return self._staging.read(index * bs, length)

    def _hash_of(self, index: int, bs: int, algorithm: str) -> str:
        """The hashmap entry block `index` gets at commit (may materialise it)."""
        blk = self._local.get(index)
        if blk is None:
            valid = self._base_valid(index, bs)
            if valid == 0:
                return EMPTY
            base_hashes = self._base_hashmap()
            if self._base_stale:
                raise PreconditionFailed(
                    "object changed since it was opened", path=f"{self.container}/{self.name}"
                )
            base_hash = base_hashes[index]
            if self._block_length(index, bs) <= valid or base_hash == EMPTY:
                return base_hash
            # The file grew into bytes the base no longer has: zero them ourselves.
            blk = self._materialise(index, bs)
        return self._local_hash(index, blk, bs, algorithm)

    def _resolve_base(self, meta: Mapping[str, str] | None) -> Mapping[str, str] | None:
        """Fill in what a listing-derived base lacks (hash, metadata) with one HEAD."""
        base = self._base
        if base is None:
            return meta
        if base.hash and (meta is not None or base.meta is not None):
            return meta if meta is not None else base.meta
        current = self._store.head_object(self.container, self.name)
        if current.version != base.version:
            raise PreconditionFailed(
                "object changed since it was opened", path=f"{self.container}/{self.name}"
            )
        self._base = current
        return meta if meta is not None else current.meta

    def commit(self, meta: Mapping[str, str] | None = None) -> ObjectInfo | None:
        """Make the staged content the object's new version; None if nothing changed.

        `meta` replaces the user metadata; None keeps the base's. Raises
        PreconditionFailed if the object changed since the base, and any
        upload error; on failure the staged data stays for a retry.
        """
        with self._commit_lock:
            while True:
                self._flush_background()
                with self._lock:
                    self._check_open()
                    # Blocks still in memory are staged now (if the disk is full they are
                    # committed from memory); blocks a task is staging are waited for.
                    if self._spill_owned(strict=False):
                        continue
                    if not self._dirty:
                        return None
                    self._committing = True
                    try:
                        return self._commit_locked(meta)
                    finally:
                        self._committing = False

    def _commit_locked(self, meta: Mapping[str, str] | None) -> ObjectInfo:
        bs, algorithm = self._ensure_geometry()
        meta = self._resolve_base(meta)
        base = self._base
        content_type = self.content_type or (base.content_type if base else protocol.OCTET_STREAM)
        conditions = {"if_match": base.hash} if base is not None else {"if_none_match": True}
        size = self._size
        count = protocol.block_count(size, bs)
        hashes = [self._hash_of(i, bs, algorithm) for i in range(count)]
        if self._base_stale:
            raise PreconditionFailed(
                "object changed since it was opened", path=f"{self.container}/{self.name}"
            )
        first = self._local.get(0)
        if count == 0 or (
            count == 1
            and first is not None
            and first.on_server != first.hash_key
            and hashes[0] not in self._known
        ):
            # One block the server probably lacks: a plain PUT is one request, not three.
            data = self._block_bytes(0, bs, size)
            try:
                info = self._store.put_object(
                    self.container, self.name, data, content_type, meta, **conditions
                )
            except PreconditionFailed:
                ours = self._ours_already(size, hashes, algorithm)
                if ours is None:
                    raise
                info = ours
            self.commit_uploaded_bytes += len(data)
        else:
            try:
                info = self._put_hashmap(
                    size, hashes, content_type, meta, conditions, bs, algorithm
                )
            except PreconditionFailed:
                ours = self._ours_already(size, hashes, algorithm)
                if ours is None:
                    raise
                info = ours
        if not info.uuid and base is not None:  # a reference reply: an overwrite keeps it
            info = replace(info, uuid=base.uuid)
        self._install(info, hashes)
        return info

    def _ours_already(self, size: int, hashes: list[str], algorithm: str) -> ObjectInfo | None:
        """After a 412: the object's info if it already holds exactly this content, else None.

        Why: when the reply of a conditional commit is lost, the client resends
        it, and the resent request fails its own condition because the first
        one did commit. That is success, not a conflict (ESTALE at close for
        the writer's own save). A real conflict has other content (another
        hash) and still fails.
        """
        try:
            current = self._store.head_object(self.container, self.name)
        except PithosError:
            return None  # gone or unreachable: report the conflict as it came
        if current.size == size and current.hash.lower() == protocol.merkle_root_hex(
            hashes, algorithm
        ):
            log.info("%s/%s: commit found already applied", self.container, self.name)
            return current
        return None

    def _put_hashmap(
        self,
        size: int,
        hashes: list[str],
        content_type: str,
        meta: Mapping[str, str] | None,
        conditions: Mapping[str, object],
        bs: int,
        algorithm: str,
    ) -> ObjectInfo:
        missing_error: MissingBlocks | None = None
        for _ in range(MAX_COMMIT_ROUNDS):
            try:
                return self._store.put_hashmap(
                    self.container,
                    self.name,
                    size,
                    hashes,
                    content_type,
                    meta,
                    **conditions,  # type: ignore[arg-type]
                )
            except MissingBlocks as exc:
                missing_error = exc
                log.debug(
                    "%s/%s: server lacks %d blocks", self.container, self.name, len(exc.hashes)
                )
                hashes = self._upload_missing(exc.hashes, hashes, bs, algorithm)
        assert missing_error is not None
        raise missing_error

    def _upload_missing(
        self, missing: list[str], hashes: list[str], bs: int, algorithm: str
    ) -> list[str]:
        """Send the blocks behind `missing`; returns the (possibly re-derived) hash list."""
        first_index: dict[str, int] = {}
        for index, h in enumerate(hashes):
            first_index.setdefault(h, index)
        wanted = [h.lower() for h in missing if h.lower() in first_index]
        if len(wanted) != len(missing):
            raise PithosError(f"server reported {len(missing)} missing blocks we never referenced")
        # A base block the server lacks (never expected) must come from our side:
        # materialise it and re-derive its hash, then retry the PUT.
        foreign = [first_index[h] for h in wanted if first_index[h] not in self._local]
        if foreign:
            for index, h in enumerate(hashes):
                if h in wanted and index not in self._local:
                    self._materialise(index, bs)
            return [self._hash_of(i, bs, algorithm) for i in range(len(hashes))]

        def payloads() -> Iterator[tuple[str, bytes]]:
            for h in wanted:
                index = first_index[h]
                data = self._block_bytes(index, bs, self._block_length(index, bs))
                yield h, data.rstrip(b"\0")

        # Several small blocks per request (fewer round trips), but never so
        # many that the window could not hold a few requests at once.
        batch_bytes = max(bs, min(DEFAULT_BATCH_BYTES, self._upload_buffer // 4))

        def sent(done: list[str]) -> None:
            self._known.add_many(done)

        self.commit_uploaded_bytes += upload_window(
            self._store,
            self.container,
            self._pool,
            batches(payloads(), bs, batch_bytes),
            max(1, self._upload_buffer // batch_bytes),
            sent,
        )
        return hashes

    def _install(self, info: ObjectInfo, hashes: list[str]) -> None:
        """After a successful commit the new version is the base."""
        self._base = info
        self._base_hashes = list(hashes)
        self._base_extent = self._size
        self._base_stale = False
        for blk in self._local.values():
            blk.dirty = False
            blk.on_server = blk.hash_key
        self._known.add_many(hashes)
        self._dirty = False

    def discard(self) -> None:
        """Drop staged data and pending background uploads; the object is left as it is."""
        with self._lock:
            self._closed = True
            futures = list(self._bg.values())
            self._bg.clear()
            staging = [(m.future, m.staged) for m in self._mem.values() if m.handed_off]
        for fut in futures:
            fut.cancel()
        for task, staged in staging:
            if task is not None and not task.cancelled():
                staged.wait()  # that task writes the staging file without the lock
        with self._lock:
            self._mem.clear()
            for unsent in self._mem_unsent:
                unsent.mem.free()
            self._mem_unsent = []
            self._fill = None
            self._staging.close()
            self._local.clear()
