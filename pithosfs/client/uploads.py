"""Whole-file hashmap upload (`PithosClient.upload_file`): dedup first when the
server has the data, a hashing/uploading pipeline when it does not.

Why two strategies: the hashmap protocol (protocol.md 7.4) wants every block hash
before the first `PUT ?hashmap`, which is what makes a re-upload cost only the
hashmap. But hashing 1 GiB takes ~0.7 s of CPU (sha256 at ~1.5 GB/s per core),
a cost a plain PUT never pays, and uploading cannot start until it is done:
hash-then-upload measured 0.65-0.70x curl. So:

1. Hash the first PROBE_BLOCKS blocks (the rest keeps hashing in the
   background, at low priority: see below) and SAMPLE_BLOCKS spread over the
   rest of the file, and ask the server which of them it lacks
   (`missing_blocks`: a hashmap PUT that cannot succeed, so nothing is
   written).
2. The server holds most of the first ones (a re-upload, the resume of an
   interrupted upload, an edited file): *dedup first*, as kamaki does. Wait
   for all hashes, PUT the hashmap, POST only the blocks it reports missing,
   PUT again. Only the hashmap crosses the wire for a file the server already
   has.
3. The server lacks them: *pipeline*. Stream the blocks in long block POST
   bodies; two bodies send at once, and a body starts as soon as a sending
   slot frees, while the server still fsyncs the previous one's blocks
   (`_BodySender`). Then PUT the hashmap and upload whatever it still reports
   missing (MAX_COMMIT_ROUNDS).
   a. New data (`_looks_new`: every sample lacking, none repeating, no holes
      in the file): the background hashing stops, and the hashmap is made of
      the hashes each block POST answers for the blocks it stored
      (`_final_hashes`). sha256 was most of the client's CPU, and client and
      server share the cores: 0.75-0.80x curl with local hashing, 1.07-1.25x
      without (scripts/bench_client_results.md, 2026-12-05 21:50).
   b. Otherwise (an edited copy of a stored file, a sparse image): hashing
      goes on, and before each body the blocks hashed by then are probed and
      those the server has or this upload already sent are left out.

Trade-offs of the pipeline: in 3b a block that hashing has not reached when
its body starts is sent without asking, so a file whose first blocks are new
but whose later ones the server already holds may send some of those again
(hashing mostly keeps pace with the upload; when it lags, more go unasked).
In 3a nothing past the samples is asked about: blocks the samples missed
(a stored file's blocks in the middle of an otherwise new one, zero blocks in
a file that is not sparse) are sent. Either way the committed object is what
the server stored from this source; where a local hash exists it wins, so a
block the server stored under another hash (a source changing under us, a
corrupted transfer) shows up as missing at the hashmap PUT and is sent
again. Without local hashes (3a) that check is the server's: like a plain
PUT, a file changed while it uploads is stored as it was read.

CPU matters as much as overlap when client and server share a machine: per
GiB, sha256 costs ~0.6 s, and each pass of copying the file through Python
~0.3 s. So hashing reads each block once into a reusable buffer (`readinto`),
and the request bodies do not read the file at all: they hand file regions to
`sendfile` (see transport.FileRegion). Memory is a few blocks whatever the
file size: one block buffer per hashing thread (the background one, the
caller helping, the pool helpers of the final wait).

Where the wall time went (2 cores, client and server on one machine; see
scripts/bench_client_results.md): per GiB curl's single PUT costs ~1.8 CPU-s
(server 1.25, curl 0.5) and leaves ~0.5 CPU-s of the two cores idle; the
upload with local hashing (3b, and all new data before 3a) costs ~2.2-2.6
(server 1.3-1.4, client 0.9-1.3: sha256 0.6, sendfile and reads 0.3); new data
(3a) costs the client 0.16-0.20 CPU-s. The waits (probe 5-30 ms, the last
body's answer 25-170 ms, the hashmap PUT ~10 ms) are small; what cost time was
CPU placement. With two hashing threads at normal priority, hashing took both
cores for the first ~0.4 s, away from the server's receive loop, the critical
path (traced under load: the first body moved at under half the speed of the
later ones); idle runs measured 0.75-0.88x curl. Now one background thread
hashes at nice +HASH_NICE, in the cycles the transfer leaves idle; a thread
that needs hashes (the probe, the commit, and the pipeline while a body sends,
for the blocks already handed out) hashes the next ones itself at normal
priority, so a starved background thread delays nothing; the final wait also
brings in a pool thread per further core. And two bodies send at once
(`_BodySender`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pithosfs import protocol
from pithosfs.client.errors import MissingBlocks, PithosError, Unsupported
from pithosfs.client.transport import FileRegion
from pithosfs.client.types import ObjectInfo
from pithosfs.client.validation import stored_hashes

if TYPE_CHECKING:
    from pithosfs.client.pithos import PithosClient

log = logging.getLogger(__name__)

MAX_COMMIT_ROUNDS = 3
STREAM_BYTES = 128 * 1024 * 1024  # bytes per streamed block POST
SENDING_BODIES = 2  # bodies sending at once (each may also await its answer)
PIECE_BYTES = 1024 * 1024  # what the body hands http.client per read (its send size)
# Blocks hashed before choosing a strategy: enough that one odd block does not
# decide, few enough that the upload starts after ~10 ms (idle 2-core machine).
PROBE_BLOCKS = 4
# Blocks spread over the rest of the file hashed for the same probe: whether any of
# the file is already on the server (see _looks_new).
SAMPLE_BLOCKS = 4
# Background hashing threads (callers waiting for hashes help; see BlockHasher).
HASH_THREADS = 1
HASH_NICE = 19  # how much lower their priority is (nice steps, Linux only; 19 = lowest)


class SourceReader:
    """Positional reads from a path or file object (pread when there is a descriptor)."""

    def __init__(self, source: str | Path | BinaryIO) -> None:
        self._owned = isinstance(source, (str, Path))
        self._file: BinaryIO = (
            open(source, "rb") if isinstance(source, (str, Path)) else source  # noqa: SIM115
        )
        self._lock = threading.Lock()
        try:
            self.fd: int | None = self._file.fileno()
            self.size = os.fstat(self.fd).st_size
        except (OSError, AttributeError, ValueError):
            self.fd = None
            self._file.seek(0, os.SEEK_END)
            self.size = self._file.tell()

    def readinto(self, offset: int, view: memoryview) -> int:
        """Fill view from offset; fewer bytes only at the end of the source."""
        got = 0
        while got < len(view):
            if self.fd is not None:
                n = os.preadv(self.fd, [view[got:]], offset + got)
            else:
                with self._lock:
                    self._file.seek(offset + got)
                    n = self._file.readinto(view[got:])  # type: ignore[attr-defined]
            if not n:
                break
            got += n
        return got

    def close(self) -> None:
        if self._owned:
            self._file.close()


class BlockHasher:
    """Hashes every block of a source in order, in the background, at low priority.

    Workers take the next block index in turn, so the hashed prefix grows from
    the start; each reads into its own reusable buffer (hashlib drops the GIL
    on large buffers, so the threads really run in parallel).

    Why low priority (nice +HASH_NICE on Linux): on a machine shared with the
    server (or anything else), hashing at full speed takes CPU from the
    transfer that is the upload's critical path; hashed only in the cycles the
    transfer leaves idle it costs no wall time. A thread that needs hashes
    (`wait`) does not just sleep but hashes the next blocks itself at its own
    priority, so the start (probe) and the end (commit) never wait on a
    starved background thread. The background threads are the hasher's own
    (a lowered priority cannot be raised back without privileges, so they must
    not return to a shared pool).
    """

    def __init__(
        self, reader: SourceReader, block_size: int, algorithm: str, parallel: int
    ) -> None:
        self._reader = reader
        self._block_size = block_size
        self._algorithm = algorithm
        self.count = protocol.block_count(reader.size, block_size)
        self._hashes: list[str | None] = [None] * self.count  # GUARDED_BY(_cond)
        self._next = 0  # GUARDED_BY(_cond)
        self._error: BaseException | None = None  # GUARDED_BY(_cond)
        self._stopped = False  # GUARDED_BY(_cond)
        self._background_stopped = False  # GUARDED_BY(_cond)
        self._helpers_stop = False  # GUARDED_BY(_cond); read unlocked between blocks
        self._helper_view: memoryview | None = None  # help()'s buffer: one caller at a time
        self._cond = threading.Condition()
        self._workers = [
            threading.Thread(target=self._background, name=f"pithos-hash-{i}", daemon=True)
            for i in range(min(parallel, self.count))
        ]
        for worker in self._workers:
            worker.start()

    def _take(self, hi: int, background: bool = False) -> int | None:
        """The next block index below hi to hash, or None (all handed out, stopped, failed)."""
        with self._cond:
            if self._stopped or self._error or self._next >= min(hi, self.count):
                return None
            if background and self._background_stopped:
                return None
            self._next += 1
            return self._next - 1

    def _hash(self, index: int, view: memoryview) -> None:
        try:
            start = index * self._block_size
            length = min(self._block_size, self._reader.size - start)
            got = self._reader.readinto(start, view[:length])
            if got != length:
                raise PithosError(f"source shrank while hashing block {index}")
            digest = protocol.block_hash_buffer(view[:got], self._algorithm).hex()
        except BaseException as exc:
            with self._cond:
                self._error = exc
                self._cond.notify_all()
            return
        with self._cond:
            self._hashes[index] = digest
            self._cond.notify_all()

    def _background(self) -> None:
        _lower_priority(HASH_NICE)
        view = memoryview(bytearray(self._block_size))
        while (index := self._take(self.count, background=True)) is not None:
            self._hash(index, view)

    def stop_background(self) -> None:
        """The background threads hash no further blocks; callers of wait() still do."""
        with self._cond:
            self._background_stopped = True

    def wait(
        self, lo: int, hi: int, executor: Executor | None = None, helpers: int = 0
    ) -> list[str]:
        """Hashes of blocks [lo, hi), hashing not yet started ones below hi meanwhile.

        `helpers` more threads of `executor` join in (at normal priority): for
        the final wait, when a loaded machine has starved the background thread.
        """
        extra = [executor.submit(self._help, hi) for _ in range(helpers)] if executor else []
        try:
            return self._wait(lo, hi)
        finally:
            with self._cond:
                self._helpers_stop = True
            for future in extra:
                if not future.cancel():  # a helper still queued behind other work: drop it
                    future.exception()
            with self._cond:
                self._helpers_stop = False

    def help(self, hi: int) -> bool:
        """Hash one not yet started block below hi here; False if there is none."""
        index = self._take(hi)
        if index is None:
            return False
        if self._helper_view is None:
            self._helper_view = memoryview(bytearray(self._block_size))
        self._hash(index, self._helper_view)
        return True

    def _help(self, hi: int) -> None:
        view = memoryview(bytearray(self._block_size))
        while not self._helpers_stop and (index := self._take(hi)) is not None:
            self._hash(index, view)

    def _wait(self, lo: int, hi: int) -> list[str]:
        view: memoryview | None = None
        while True:
            with self._cond:
                if self._error is not None:
                    raise self._error
                window = self._hashes[lo:hi]
                if all(h is not None for h in window):
                    return window  # type: ignore[return-value]
            index = self._take(hi)
            if index is not None:
                if view is None:
                    view = memoryview(bytearray(self._block_size))
                self._hash(index, view)
                continue
            with self._cond:  # the rest is being hashed by others: sleep until one finishes
                if self._error is None and any(h is None for h in self._hashes[lo:hi]):
                    self._cond.wait()

    def done(self, lo: int, hi: int) -> dict[int, str]:
        """The hashes of blocks in [lo, hi) computed so far, without waiting."""
        with self._cond:
            if self._error is not None:
                raise self._error
            return {i: h for i, h in enumerate(self._hashes[lo:hi], lo) if h is not None}

    def close(self) -> None:
        """Stop handing out blocks and wait for the running workers."""
        with self._cond:
            self._stopped = True
        for worker in self._workers:
            worker.join()


def _lower_priority(steps: int) -> None:
    """Raise the calling thread's nice value by `steps` (Linux: nice is per thread)."""
    if steps <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + steps))
    except OSError:  # not allowed here (a sandbox): hash at normal priority
        pass


class BlockStream:
    """The blocks at `indices` of a source, concatenated, as a streamed request body.

    From a file descriptor, each read is a FileRegion of (the rest of) one
    block, which the transport hands to sendfile: no copy through Python.
    Otherwise http.client pulls PIECE_BYTES reads, each served from one
    reusable buffer (it sends a piece before asking for the next). Either way
    memory is at most 1 MiB whatever the body's length. The server cuts bodies at block size; every
    block is full except possibly the source's last, which sorts last.
    `rewind()` lets a retry replay it (block POSTs are content-addressed, so
    repeating is safe).
    """

    def __init__(
        self,
        reader: SourceReader,
        indices: list[int],
        block_size: int,
        on_sent: Callable[[], None] | None = None,
        on_nearly_sent: Callable[[], None] | None = None,
    ) -> None:
        self._reader = reader
        self._on_sent = on_sent  # called when the last byte has been handed over
        self._on_nearly_sent = on_nearly_sent  # ... and when its last quarter starts
        self._indices = sorted(indices)
        self._last_quarter = len(self._indices) * 3 // 4
        self._block_size = block_size
        self._length = sum(self._block_len(i) for i in self._indices)
        # Only sources without a descriptor are read through this buffer.
        size = 1 if reader.fd is not None else min(PIECE_BYTES, max(1, self._length))
        self._piece = memoryview(bytearray(size))
        self.rewind()

    def _block_len(self, index: int) -> int:
        return min(self._block_size, self._reader.size - index * self._block_size)

    def __len__(self) -> int:
        return self._length

    def rewind(self) -> None:
        self._slot = 0  # position in _indices
        self._offset = 0  # within that block

    def read(self, size: int = -1) -> FileRegion | memoryview | bytes:
        while self._slot < len(self._indices):
            index = self._indices[self._slot]
            left = self._block_len(index) - self._offset
            if left > 0:
                break
            self._slot += 1
            self._offset = 0
        else:
            if self._on_sent is not None:
                self._on_sent()
            return b""
        if self._slot >= self._last_quarter and self._on_nearly_sent is not None:
            self._on_nearly_sent()
        fd = self._reader.fd
        if fd is not None:  # the rest of the block, sent by the kernel from the page cache
            self._offset += left
            return FileRegion(fd, index * self._block_size + self._offset - left, left)
        take = min(left, len(self._piece), left if size is None or size < 0 else size)
        got = self._reader.readinto(index * self._block_size + self._offset, self._piece[:take])
        if got == 0:
            raise PithosError(f"source shrank while uploading block {index}")
        self._offset += got
        return self._piece[:got]


def upload_file(
    client: PithosClient,
    container: str,
    name: str,
    source: str | Path | BinaryIO,
    content_type: str,
    meta: Mapping[str, str] | None,
    if_match: str | None,
    if_none_match: bool,
) -> ObjectInfo:
    from pithosfs.client.transfer import executor_of

    block_size, algorithm = client.block_params(container)
    if not client.supports_pithos(container):  # fail before hashing a large file
        raise Unsupported("hashmap upload needs Pithos+; use put_object on plain Swift")
    reader = SourceReader(source)
    hasher: BlockHasher | None = None
    executor = executor_of(client, client.workers)
    bodies = _BodySender(client, container, reader, block_size, executor)
    try:
        hasher = BlockHasher(reader, block_size, algorithm, HASH_THREADS)
        if hasher.count > PROBE_BLOCKS:
            first = hasher.wait(0, PROBE_BLOCKS)
            samples = _sample_hashes(reader, hasher.count, block_size, algorithm)
            lacking = client.missing_blocks(
                container, name, [*first, *samples.values()], content_type, if_match,
                if_none_match,
            )  # fmt: skip
            if lacking is not None and 2 * len(set(lacking) & set(first)) > len(set(first)):
                new_data = _looks_new(reader, samples, set(lacking))
                log.debug("%s/%s: pipelined upload (new data: %s)", container, name, new_data)
                if new_data:
                    hasher.stop_background()  # the server's hashes stand in (_final_hashes)
                _pipeline(
                    client, container, name, hasher, bodies, content_type, set(lacking),
                    helper=None if new_data else hasher,
                )  # fmt: skip
                bodies.wait()
        hashes = _final_hashes(hasher, bodies.stored, executor)
        return _commit(
            client, container, name, reader.size, hashes, bodies,
            content_type, meta, if_match, if_none_match,
        )  # fmt: skip
    finally:
        bodies.cancel()  # no request may still read the source once it is closed
        if hasher is not None:
            hasher.close()
        reader.close()


def _pipeline(
    client: PithosClient,
    container: str,
    name: str,
    hasher: BlockHasher,
    bodies: _BodySender,
    content_type: str,
    lacking: set[str],
    helper: BlockHasher | None,
) -> None:
    """Stream every block the server may lack, in STREAM_BYTES bodies, while hashing goes on.

    `lacking`: hashes the server was found to lack (not asked about again).
    `helper`: the hasher this thread helps while it waits for a body (None: new
    data, not hashed here).
    """
    per_body = max(1, STREAM_BYTES // bodies.block_size)
    handled: set[str] = set()  # hashes sent by this upload or found on the server
    for lo in range(0, hasher.count, per_body):
        hi = min(hasher.count, lo + per_body)
        # Decide late, so hashing has gone further, yet while the previous body
        # still sends its last quarter, so the probe's round trip costs no time.
        # Meanwhile keep the hashing up with the bodies already handed out.
        _wait_helping(bodies.slot_event(), helper, lo)
        known = hasher.done(lo, hi)
        fresh = {h for h in known.values() if h not in handled and h not in lacking}
        # Not before the first body: the strategy probe has just asked about its
        # start, and another round trip would only delay the upload's first byte
        # (35-70 ms measured on a busy server) to spare the few blocks hashed since.
        if fresh and lo > 0:
            missing = client.missing_blocks(container, name, sorted(fresh), content_type)
            if missing is not None:
                lacking |= set(missing)
                handled |= fresh - lacking
        indices = []
        for index in range(lo, hi):
            digest = known.get(index)
            if digest is None or digest not in handled:
                indices.append(index)
                if digest is not None:
                    handled.add(digest)  # a repeat later in the file is not sent twice
        if indices:
            bodies.post(indices)
    _wait_helping(bodies.sent_event(), helper, hasher.count)


def _sample_hashes(
    reader: SourceReader, count: int, block_size: int, algorithm: str
) -> dict[int, str]:
    """Hashes of SAMPLE_BLOCKS blocks spread over the file past the probe's first ones
    (the last block among them), read and hashed here."""
    span = count - 1 - PROBE_BLOCKS
    if span < 0:
        return {}
    picks = sorted(
        {PROBE_BLOCKS + span * k // max(1, SAMPLE_BLOCKS - 1) for k in range(SAMPLE_BLOCKS)}
    )
    view = memoryview(bytearray(block_size))
    out = {}
    for index in picks:
        length = min(block_size, reader.size - index * block_size)
        if reader.readinto(index * block_size, view[:length]) != length:
            raise PithosError(f"source shrank while hashing block {index}")
        out[index] = protocol.block_hash_buffer(view[:length], algorithm).hex()
    return out


def _looks_new(reader: SourceReader, samples: Mapping[int, str], lacking: set[str]) -> bool:
    """Whether the whole file looks like data the server lacks, so hashing it here can
    be skipped: every sampled block is lacking and differs from the others, and the
    file has no holes.

    Why these checks: skipping the hashing also skips the dedup of blocks the
    server has or that repeat within the file. Samples spread over the file
    catch an edited copy of a stored file (its later blocks are on the server);
    a repeat among them, or a hole (a sparse disk image), hints at runs of
    zero blocks, which hashing sends once, if at all.
    """
    hashes = list(samples.values())
    if len(set(hashes)) != len(hashes) or not set(hashes) <= lacking:
        return False
    if reader.fd is None or not hasattr(os, "SEEK_HOLE"):
        return True
    try:
        return os.lseek(reader.fd, 0, os.SEEK_HOLE) >= reader.size
    except OSError:  # no hole support here: treat as dense
        return True


def _final_hashes(hasher: BlockHasher, stored: Mapping[int, str], executor: Executor) -> list[str]:
    """The hashmap to commit: local hashes where computed, else the server's for blocks sent.

    Why the server's: each block POST answers the hashes of the blocks it
    stored, so a block sent before the (low-priority) hasher reached it need
    not be hashed here at all; that is the client's largest CPU cost (sha256,
    ~0.6 s per GiB) saved for new data. A local hash wins where there is one:
    if the server stored a block under another hash (the source changed while
    it was sent), the hashmap PUT reports the local one missing and it is
    sent again, as before. Only blocks neither hashed nor sent (none, unless a
    body failed) are hashed now, by every core.
    """
    local = hasher.done(0, hasher.count)
    todo = [i for i in range(hasher.count) if i not in local and i not in stored]
    if todo:
        rest = hasher.wait(todo[0], hasher.count, executor, (os.cpu_count() or 1) - 1)
        local.update(enumerate(rest, todo[0]))
    return [local.get(i) or stored[i] for i in range(hasher.count)]


def _wait_helping(event: threading.Event | None, hasher: BlockHasher | None, below: int) -> None:
    """Wait for `event`, hashing blocks below `below` meanwhile (at this thread's priority).

    Why: the background hasher runs at low priority and starves on a busy
    machine. Hashing then falls behind the bodies, and this otherwise idle
    thread takes over the blocks already sent, so the final wait finds little
    left. On an idle machine the background keeps up and this only waits.
    No hasher (new data, see _looks_new): just wait.
    """
    if event is None:
        return
    while hasher is not None and not event.is_set():
        if not hasher.help(below):
            break
    event.wait()


def _commit(
    client: PithosClient,
    container: str,
    name: str,
    size: int,
    hashes: list[str],
    bodies: _BodySender,
    content_type: str,
    meta: Mapping[str, str] | None,
    if_match: str | None,
    if_none_match: bool,
) -> ObjectInfo:
    """PUT the hashmap; POST the blocks it reports missing and PUT again, a few rounds."""
    first_index: dict[str, int] = {}
    for i, h in enumerate(hashes):
        first_index.setdefault(h, i)
    for _round in range(MAX_COMMIT_ROUNDS):
        try:
            return client.put_hashmap(
                container, name, size, hashes, content_type, meta, if_match, if_none_match
            )
        except MissingBlocks as exc:
            unknown = set(exc.hashes) - set(first_index)
            if unknown:
                raise PithosError(
                    f"server asked for blocks we never sent: {sorted(unknown)[:3]}"
                ) from exc
            log.debug(
                "%s/%s: uploading %d of %d blocks", container, name, len(exc.hashes), len(hashes)
            )
            bodies.post_all([first_index[h] for h in exc.hashes])
            bodies.wait()
    raise PithosError(f"{container}/{name}: blocks still missing after {MAX_COMMIT_ROUNDS} rounds")


class _BodySender:
    """Block POSTs of long streamed bodies, on pool threads, SENDING_BODIES at a time.

    Measured on the embedded server (2 cores): one streamed body moves ~1.6x
    the bytes/s of 4 parallel 16 MiB POSTs and matches curl; bodies are cut at
    STREAM_BYTES so that a retry after a failure repeats a bounded amount.
    Two bodies of 128 MiB sending at once beat one of 256 MiB (same-run A/B
    in scripts/bench_client_results.md): the server receives each request on
    its own thread, so one body's blocks are hashed and written while the
    other's arrive, and the upload keeps its share of a busy machine's CPU.
    After a body's last byte the server still hashes its tail and fsyncs its
    blocks before answering (0.05-0.2 s per 256 MiB measured under load), so
    the next body starts as soon as a sending slot frees, not on the answer:
    at most SENDING_BODIES + 1 requests in flight.
    """

    def __init__(
        self,
        client: PithosClient,
        container: str,
        reader: SourceReader,
        block_size: int,
        executor: Executor,
    ) -> None:
        self._client = client
        self._container = container
        self._reader = reader
        self.block_size = block_size
        self._executor = executor
        # (request, body sent, body's last quarter started); both events are
        # also set when the request ends, whichever way.
        self._inflight: list[tuple[Future[None], threading.Event, threading.Event]] = []
        # block index -> the hash the server answered for it (see _final_hashes)
        self.stored: dict[int, str] = {}

    def sent_event(self) -> threading.Event | None:
        """Set when the last body started is sent (or its request ended); None if none."""
        return self._inflight[-1][1] if self._inflight else None

    def _sending(self) -> list[tuple[Future[None], threading.Event, threading.Event]]:
        return [entry for entry in self._inflight if not entry[1].is_set()]

    def slot_event(self) -> threading.Event | None:
        """Set when the body whose end frees a sending slot sends its last quarter;
        None if a slot is free now."""
        sending = self._sending()
        return sending[0][2] if len(sending) >= SENDING_BODIES else None

    def post(self, indices: list[int]) -> None:
        """Start POSTing the blocks at `indices` (one body) once a sending slot is free."""
        while len(sending := self._sending()) >= SENDING_BODIES:
            sending[0][1].wait()
        for future, _sent, _nearly in self._inflight:
            if future.done():
                future.result()  # a failed body stops the upload here, not at the end
        if len(self._inflight) > SENDING_BODIES:
            self._inflight.pop(0)[0].result()
        sent, nearly = threading.Event(), threading.Event()
        future = self._executor.submit(
            _post_blocks, self._client, self._container, self._reader, self.block_size,
            indices, self.stored, sent.set, nearly.set,
        )  # fmt: skip

        def wake(_done: object) -> None:  # a failed post wakes its waiters too
            sent.set()
            nearly.set()

        future.add_done_callback(wake)
        self._inflight.append((future, sent, nearly))

    def post_all(self, indices: list[int]) -> None:
        """POST the blocks at `indices` as a few long bodies (STREAM_BYTES each)."""
        per_body = max(1, STREAM_BYTES // self.block_size)
        ordered = sorted(set(indices))
        for lo in range(0, len(ordered), per_body):
            self.post(ordered[lo : lo + per_body])

    def wait(self) -> None:
        """Wait for every body; raises the first error."""
        inflight, self._inflight = self._inflight, []
        try:
            for future, *_events in inflight:
                future.result()
        finally:
            for future, *_events in inflight:
                future.exception()  # all finished before returning, even on error

    def cancel(self) -> None:
        """Wait for the requests still running (their errors are dropped)."""
        inflight, self._inflight = self._inflight, []
        for future, *_events in inflight:
            future.cancel()
            if not future.cancelled():
                future.exception()


def _post_blocks(
    client: PithosClient,
    container: str,
    reader: SourceReader,
    block_size: int,
    indices: list[int],
    stored: dict[int, str],
    on_sent: Callable[[], None] | None = None,
    on_nearly_sent: Callable[[], None] | None = None,
) -> None:
    """POST the blocks at `indices` as one body; note in `stored` the hash of each."""
    body = BlockStream(reader, indices, block_size, on_sent, on_nearly_sent)
    got = stored_hashes([None] * len(indices), client.upload_stream(container, body))
    # One thread per body and distinct indices per body: plain dict stores suffice.
    stored.update(zip(sorted(indices), got, strict=True))
