"""Sequentially written blocks kept in memory until a pool task stages and uploads them.

A mixin of `writeback.StagedFile` (like fs/writeback/background.py), for the
common case of a file written front to back (cp, tar, downloads).

Why: writing every FUSE write into the staging file from the FUSE thread
costs kernel time (page-cache allocation, filesystem bookkeeping: about 1 s
of system time per GiB measured on ext4 under load) in the one thread a
sequential writer waits on; the background upload then read each block back
from the staging file. Here a write that starts a block at its boundary, or
continues the block being filled, only copies the written bytes into the
block's buffer (the one copy of them: see MemoryBlock). A completed block is
handed to a pool task that writes it to the staging file with O_DIRECT,
hashes it (or, for a file taken for new data, leaves the hashing to the
server: `_note_probe`) and uploads it from the same memory, off the writer's
path.

Invariants (all under StagedFile._lock):

* A block in `_mem` has its authoritative bytes in `MemoryBlock.buf`;
  the staging file's copy of it is not valid yet. It is also in `_local`
  like any written block (gen, dirty, hash bookkeeping).
* The block being filled (`_fill`) is owned by the file: any write to it
  other than its continuation, a truncate or a commit first "spills" it
  (writes the chunks to the staging file and drops them from `_mem`).
* A handed-off block is owned by its task until the task has staged it: it
  leaves `_mem` and sets `staged` then. Writes and truncates that touch it
  wait for that event (without the lock); a commit waits for the tasks.
  If staging fails, the block goes back to being owned by the file, and the
  next write() stages it itself, so the error (ENOSPC) reaches the writer
  from write(); a commit that cannot stage it either sends it from memory.

Sending: a staged block the server may lack is parked until
`SEND_GROUP_BLOCKS` of them are, then one pool task sends them in one
request (commit sends what is parked then). Why: one POST per 4 MiB block
cost the client about twice and the server about 1.2 times the CPU of one
per 16 MiB, and moved 440-460 MiB/s against 610 (4 threads, 1 GiB of
blocks, embedded server, load 4.5). A block ending in a NUL is sent alone
(the server cuts a body at block boundaries, and it is sent stripped).

Memory: at most `MAX_HELD_BLOCKS` blocks per file are in memory (being
staged, parked or being sent) and the writer waits (without the lock) for
the oldest task before handing off more, so a fast writer cannot outrun the
uploads by more than a few blocks.
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pithosfs import protocol
from pithosfs.client.types import ObjectStore
from pithosfs.client.validation import stored_hashes
from pithosfs.fs.aligned_buffers import AlignedBuffers
from pithosfs.fs.writeback.background import DEFAULT_GROUP_BYTES
from pithosfs.fs.writeback.block_table import LocalBlock
from pithosfs.fs.writeback.staging import StagingFile
from pithosfs.fs.writeback.upload import PROBE_BLOCKS, KnownBlocks, send_batch

log = logging.getLogger(__name__)

# Blocks of one file held in memory until sent (staging, parked, sending); a writer ahead
# of that waits. Room for two groups in flight and the next one parking.
MAX_HELD_BLOCKS = 12
# Complete blocks the memory path sends in one request (see the module docstring).
SEND_GROUP_BLOCKS = 4
# Where blocks are gathered. Free buffers kept: as many 4 MiB blocks as a writer may
# hold (MAX_HELD_BLOCKS), since a group sent frees several at once. Measured on a
# 1 GiB cp: page faults in the mount 16-20k against 76-79k keeping 16 MiB; peak
# RSS copying 4 GiB 102-118 MiB either way.
BLOCK_BUFFERS = AlignedBuffers(max_free_bytes=MAX_HELD_BLOCKS * 4 * 1024 * 1024)
# A block's first bytes up to this are kept in a bytearray of their size (MemoryBlock).
SMALL_BLOCK_BYTES = 256 * 1024
# Below this block size the staged path is used: it groups several small blocks per
# request (fs/writeback/background.py), and per-block tasks would cost more than they save.
DEFAULT_MEMORY_MIN_BLOCK = DEFAULT_GROUP_BYTES


@dataclass
class MemoryBlock:
    """The bytes of one block not yet in the staging file, gathered in one aligned buffer.

    Why a buffer of its own, not references to the written bytes: the mount
    hands write() a view of the kernel's request buffer, valid only during the
    call (mount.py), so the bytes are copied once, straight from there into
    the block's buffer. The buffer is page aligned, so the block is staged with
    O_DIRECT as it is (staging.write_direct), and sent from it. The first
    SMALL_BLOCK_BYTES go to a bytearray instead: a small file, which may stay
    open for long, holds no more memory than its bytes.
    """

    block_size: int = 0
    # The bytes written: a bytearray while few (a small file may stay open a long time,
    # and a pooled block buffer is 4 MiB), then a BLOCK_BUFFERS view of the block size.
    # None once freed.
    buf: memoryview | bytearray | None = field(default_factory=bytearray)
    length: int = 0  # bytes from the block's start written so far
    handed_off: bool = False  # a pool task owns it until `staged` is set
    failed: bool = False  # its task could not stage it (disk full?): the next write retries
    staged: threading.Event = field(default_factory=threading.Event)
    future: concurrent.futures.Future[None] | None = None

    @property
    def chunks(self) -> list[memoryview]:
        """The written bytes, as a list of views (one; none once freed)."""
        return [] if self.buf is None else [memoryview(self.buf)[: self.length]]

    def append(self, data: memoryview) -> None:
        assert self.buf is not None
        if isinstance(self.buf, bytearray):
            if self.length + len(data) <= SMALL_BLOCK_BYTES:
                self.buf += data
                self.length += len(data)
                return
            aligned = BLOCK_BUFFERS.take(self.block_size)
            aligned[: self.length] = self.buf
            self.buf = aligned
        self.buf[self.length : self.length + len(data)] = data
        self.length += len(data)

    def free(self) -> None:
        """Drop the buffer: it goes back to the pool once senders drop their views too."""
        self.buf = None

    def read(self, lo: int, hi: int) -> bytes:
        """Bytes [lo, hi) of the block; past `length` they are zeros (never written)."""
        data = b"" if self.buf is None else bytes(self.buf[lo : max(lo, min(hi, self.length))])
        return data + bytes(hi - lo - len(data))


class ChunksBody:
    """A block's chunks as a streamed request body (no join: the socket sends each chunk)."""

    def __init__(self, chunks: list[memoryview]) -> None:
        self._chunks = [c for c in chunks if len(c)]
        self._length = sum(len(c) for c in self._chunks)
        self.rewind()

    def __len__(self) -> int:
        return self._length

    def rewind(self) -> None:
        self._next = 0

    def read(self, size: int = -1) -> memoryview | bytes:
        if self._next >= len(self._chunks):
            return b""
        self._next += 1
        return self._chunks[self._next - 1]


def chunks_hash(chunks: list[memoryview], algorithm: str) -> str:
    """protocol.block_hash_hex of the joined chunks, without joining them unless needed."""
    if chunks and len(chunks[-1]) and chunks[-1][-1] != 0:
        h = hashlib.new(algorithm)
        for chunk in chunks:
            h.update(chunk)
        return h.hexdigest()
    return protocol.block_hash_hex(b"".join(chunks), algorithm)  # trailing NULs: rare


def ends_in_nul(chunks: list[memoryview]) -> bool:
    """Whether the joined chunks end with a NUL byte (or are empty)."""
    last = next((c for c in reversed(chunks) if len(c)), None)
    return last is None or last[-1] == 0


@dataclass
class Unsent:
    """A staged, hashed block waiting to be sent from memory."""

    index: int
    block: LocalBlock  # the bookkeeping entry it was staged for
    gen: int
    hash: str | None  # None: not hashed here; the upload's answer fills it in
    mem: MemoryBlock


class MemoryWrites:
    """Mixin: the in-memory half of StagedFile's sequential write path."""

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
    _closed: bool
    _committing: bool
    _bg: dict[int, concurrent.futures.Future[None]]
    _mem: dict[int, MemoryBlock]
    _fill: int | None
    _memory_min_block: int
    _mem_inflight: collections.deque[tuple[concurrent.futures.Future[None], int]]
    _mem_unsent: list[Unsent]
    _server_hashes: bool | None
    _probed_new: int
    bg_uploaded_bytes: int
    _ensure_geometry: Callable[[], tuple[int, str]]
    _base_valid: Callable[[int, int], int]
    _acquire_unless_committing: Callable[[], bool]
    _load_hints: Callable[[], None]

    # -- under _lock -----------------------------------------------------------
    def _mem_eligible(self, offset: int, size: int, bs: int) -> bool:
        """Whether this write can go to memory: it continues `_fill` or starts fresh blocks."""
        if bs < self._memory_min_block:
            return False
        end = offset + size
        first, last = offset // bs, (end - 1) // bs
        for index in range(first, last + 1):
            lo = max(offset, index * bs) - index * bs
            if index == self._fill and index == first:
                if self._mem[index].length != lo:
                    return False
            elif lo != 0 or index in self._local or self._base_valid(index, bs) > 0:
                return False
        return True

    def _mem_write(
        self, offset: int, data: bytes | memoryview, bs: int
    ) -> list[tuple[int, MemoryBlock]]:
        """Append to memory blocks (see _mem_eligible); returns the blocks now complete."""
        view = memoryview(data)
        end = offset + len(data)
        complete = []
        if self._fill is not None and self._fill != offset // bs:
            # An earlier partial block left behind: stage it now, before anything of this
            # write is applied (so a failure to do so leaves the write not done at all).
            self._spill(self._fill)
        for index in range(offset // bs, (end - 1) // bs + 1):
            start = max(offset, index * bs)
            stop = min(end, (index + 1) * bs)
            mem = self._mem.get(index)
            if mem is None:
                mem = self._mem[index] = MemoryBlock(bs)
                self._local[index] = LocalBlock()
            self._fill = index  # the previous one, if any, was completed by this write
            mem.append(view[start - offset : stop - offset])
            blk = self._local[index]
            blk.gen += 1
            blk.dirty = True
            if mem.length == bs:
                self._fill = None
                complete.append((index, mem))
        return complete

    def _hand_off(self, index: int, mem: MemoryBlock) -> None:
        """Give a complete block to a pool task (or stage it here if the pool is gone)."""
        self._staging.ensure_open()  # created here, under the lock, not by racing tasks
        gen = self._local[index].gen
        try:
            mem.future = self._pool.submit(self._mem_task, index, mem, gen)
        except RuntimeError:  # pool shut down (unmount): stage it now; commit() uploads it
            self._spill(index)
            return
        mem.handed_off = True
        self._bg[index] = mem.future
        self._mem_inflight.append((mem.future, 1))

    def _spill(self, index: int) -> None:
        """Write a file-owned memory block to the staging file and forget the memory."""
        mem = self._mem[index]
        assert not mem.handed_off
        bs = self._ensure_geometry()[0]
        self._staging.writev(index * bs, mem.chunks)
        del self._mem[index]
        if self._fill == index:
            self._fill = None

    def _spill_owned(self, strict: bool = True) -> list[threading.Event]:
        """Stage every file-owned memory block; returns the events of handed-off ones.

        Not `strict` (the commit): a block that cannot be staged (disk full)
        stays in memory and is committed from there (`_block_bytes`), so the
        writes write() accepted still get home; write() keeps reporting the
        error.
        """
        for index in [i for i, m in self._mem.items() if not m.handed_off]:
            try:
                self._spill(index)
            except OSError as exc:
                if strict:
                    raise
                self._mem[index].failed = True
                log.warning(
                    "%s/%s: block %d stays in memory: %s", self.container, self.name, index, exc
                )
        return [m.staged for m in self._mem.values() if m.handed_off]

    def _retry_failed_staging(self) -> None:
        """Stage blocks whose task failed to; raises that error (ENOSPC) to the writer.

        Why here: a writer learns of a full disk from write() as it would
        without the memory path, not only from close(), which many programs
        do not check.
        """
        for index in [i for i, m in self._mem.items() if m.failed]:
            self._spill(index)

    def _handed_off_in(self, first: int, last: int) -> threading.Event | None:
        for index in range(first, last + 1):
            mem = self._mem.get(index)
            if mem is not None and mem.handed_off:
                return mem.staged
        return None

    def _upload_to_wait_for(self) -> concurrent.futures.Future[None] | None:
        """The oldest task to wait for when too many blocks of this file are in memory."""
        inflight = self._mem_inflight
        while inflight and inflight[0][0].done():
            inflight.popleft()
        held = len(self._mem_unsent) + sum(n for f, n in inflight if not f.done())
        if held > MAX_HELD_BLOCKS and inflight:
            return inflight[0][0]
        return None

    def _queue_unsent(self, at_commit: bool) -> list[Unsent]:
        """Give parked blocks to a send task once a group is full (any number at commit).

        Returns the group for the caller to send itself if the pool is shut down.
        """
        if not self._mem_unsent or (len(self._mem_unsent) < SEND_GROUP_BLOCKS and not at_commit):
            return []
        group, self._mem_unsent = self._mem_unsent, []
        try:
            fut = self._pool.submit(self._send_group, group)
        except RuntimeError:  # pool shut down (unmount)
            return group
        self._mem_inflight.append((fut, len(group)))
        for unsent in group:
            self._bg[unsent.index] = fut  # commit's flush waits for it instead of resending
        return []

    # -- without _lock -----------------------------------------------------------
    def _held_by_server(self, hashes: list[str]) -> set[str]:
        """Which of `hashes` the server holds: the hints, then one probe for the rest.

        The probe (store.missing_blocks) is a hashmap PUT that cannot succeed
        and writes nothing; the 409 names exactly the blocks the server lacks
        (protocol.md 7.3), whoever uploaded the others, so content the server holds
        costs hashes, not bytes, whatever this mount's history. What it finds
        goes into the hints. A store that cannot tell (no probe, a failed one)
        holds only what the hints say.
        """
        held = {h for h in hashes if h in self._known}
        ask = [h for h in dict.fromkeys(hashes) if h not in held]
        if not ask:
            return held
        try:
            lacking = self._store.missing_blocks(self.container, self.name, ask)
        except Exception as exc:  # noqa: BLE001 - only a hint: the blocks are sent
            log.debug("block probe for %s/%s failed: %s", self.container, self.name, exc)
            return held
        if lacking is None:
            return held
        found = set(ask) - set(lacking)
        self._known.add_many(found)
        return held | found

    def _note_probe(self, known: bool) -> None:
        """Count a block hashed here towards deciding who hashes the file's next ones.

        The first PROBE_BLOCKS blocks are hashed here and, unless the hints
        know them, asked of the server (_held_by_server). If the server held
        none (a new file, not a re-copy of content it has), the file is taken
        for new data, and its later blocks are sent unhashed and committed with the
        hashes the server answers for them: sha256 was 40% of the mount's CPU
        while writing, and the server hashes every block it stores anyway.
        What that gives up: a block of the new file that the server held
        already, or that repeats within the file, is sent (zero blocks are
        still caught, see _mem_task). A file whose first blocks the server
        held is hashed in full, and each group of blocks is asked about before
        it is sent (_send_group), so a re-copy sends only what is missing.
        """
        with self._lock:
            if self._server_hashes is not None:
                return
            if known:
                self._server_hashes = False
                return
            self._probed_new += 1
            if self._probed_new >= PROBE_BLOCKS:
                self._server_hashes = True

    def _send_blocks(self, group: list[Unsent]) -> int:
        """Upload the group's blocks in one request; returns the bytes sent.

        A store that takes streamed bodies (the HTTP client) gets the chunks
        as they are, saving a join per block. A block ending in NULs travels
        alone and stripped (grouping never puts one with others).
        """
        hashes = [u.hash for u in group]
        chunks = [c for u in group for c in u.mem.chunks]
        if self._store.streams_uploads and not ends_in_nul(chunks):
            body = ChunksBody(chunks)
            stored = stored_hashes(hashes, self._store.upload_stream(self.container, body))
            sent = len(body)
        else:
            payloads = [b"".join(u.mem.chunks) for u in group]
            payloads[-1] = payloads[-1].rstrip(b"\0")
            stored = send_batch(self._store, self.container, (hashes, payloads))
            sent = sum(len(p) for p in payloads)
        for unsent, block_hash in zip(group, stored, strict=True):
            unsent.hash = block_hash
        return sent

    def _send_group(self, group: list[Unsent]) -> None:
        """Pool task: send parked blocks from memory, then note them as on the server.

        Blocks of a file taken for a re-copy (_note_probe) are first asked about:
        those the server holds are not sent.
        """
        if self._server_hashes is False and all(u.hash is not None for u in group):
            held = self._held_by_server([u.hash for u in group if u.hash is not None])
            present = [u for u in group if u.hash in held]
            if present:
                for unsent in present:
                    unsent.mem.free()
                self._note_on_server(present, 0)
                group = [u for u in group if u.hash not in held]
            if not group:
                return
        try:
            sent = self._send_blocks(group)
            self._known.add_many(u.hash for u in group if u.hash is not None)
        except Exception as exc:  # noqa: BLE001 - commit()'s hashmap PUT names what is missing
            log.debug(
                "upload of blocks %s of %s/%s failed: %s",
                [u.index for u in group], self.container, self.name, exc,
            )  # fmt: skip
            return
        finally:
            for unsent in group:
                unsent.mem.free()  # the memory is free once staged and sent
        self._note_on_server(group, sent)

    def _note_on_server(self, group: list[Unsent], sent: int) -> None:
        bs = self._ensure_geometry()[0]
        if not self._acquire_unless_committing():
            return
        try:
            self.bg_uploaded_bytes += sent
            for u in group:
                if self._local.get(u.index) is u.block and u.block.gen == u.gen:
                    assert u.hash is not None  # hashed here, or named by the upload's answer
                    key = (u.gen, bs)
                    u.block.hash_key, u.block.hash, u.block.on_server = key, u.hash, key
        finally:
            self._lock.release()

    def _mem_task(self, index: int, mem: MemoryBlock, gen: int) -> None:
        """Pool task: stage a complete block, hash it, and park it for sending unless known."""
        bs, algorithm = self._ensure_geometry()
        try:
            self._staging.write_direct(index * bs, mem.chunks)
        except Exception as exc:  # noqa: BLE001 - the file owns it again; a spill re-raises
            log.warning(
                "staging block %d of %s/%s failed: %s", index, self.container, self.name, exc
            )
            with self._lock:
                mem.handed_off = False
                mem.failed = True
                mem.staged.set()
            return
        with self._lock:
            if self._mem.get(index) is mem:
                del self._mem[index]
            mem.staged.set()
            blk = self._local.get(index)
            if self._closed or blk is None or blk.gen != gen:
                return  # changed or gone meanwhile: commit() hashes what is there then
            # A block ending in NUL may be all zeros, which the server always holds:
            # hashed here even for new data, so it is never sent.
            server_hashes = self._server_hashes is True and not ends_in_nul(mem.chunks)
        try:
            self._load_hints()  # a re-copy over the same name: the base's blocks are known
            digest = None if server_hashes else chunks_hash(mem.chunks, algorithm)
        except Exception as exc:  # noqa: BLE001 - commit() hashes and sends it from staging
            log.debug("hashing block %d of %s/%s failed: %s", index, self.container, self.name, exc)
            mem.free()
            return
        unsent = Unsent(index, blk, gen, digest, mem)
        if digest is not None:
            known = digest in self._known
            if self._server_hashes is None and index < PROBE_BLOCKS:
                if not known:  # the deciding blocks: asked of the server
                    known = digest in self._held_by_server([digest])
                self._note_probe(known)
            elif known:  # any block the server holds makes the file a re-copy
                self._note_probe(True)
            if known:
                mem.free()
                self._note_on_server([unsent], 0)
                return
        if ends_in_nul(mem.chunks):
            self._send_group([unsent])  # travels alone (see _send_blocks)
            return
        if not self._acquire_unless_committing():
            mem.free()  # the commit sends it from the staging file
            return
        try:
            self._mem_unsent.append(unsent)
            leftover = self._queue_unsent(at_commit=False)
        finally:
            self._lock.release()
        if leftover:
            self._send_group(leftover)
