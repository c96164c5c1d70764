"""Concurrency soak: threads read and write private and shared files on one mount for a
bounded time; every file's final content checks out, through the mount and on the server.

* Private files: each of PRIVATE_THREADS threads edits its own file with random writes,
  appends, truncates and fsyncs (some under one long-lived handle), keeping a local model;
  every read must equal the model, and so must the final content.
* Shared files: WRITERS threads write 4 KiB slots of the shared files (each slot belongs to
  one writer; each write opens, writes one slot, closes: one commit each), so the final
  content is determined (each slot holds its owner's last generation). In one test each
  file has one writer (readers run against it); in the other all writers write all files
  at once. All handles of a path share one staged copy (SEMANTICS.md), so close() should
  succeed; an ESTALE (the documented conflict answer) is counted and the slot written again.
* Readers read the shared files all along: every slot must be zeros (not written yet) or
  a complete generation of its owner, or, when the read raced that slot's write, pieces of
  its owner's generations (Linux's page cache allows that on every filesystem: see
  `_torn_pieces`); never foreign, misplaced or corrupt bytes.

Duration: PITHOSFS_SOAK_SECONDS (default 10 per test). The run prints its figures.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Mount

pytestmark = [pytest.mark.slow, pytest.mark.mount]

SECONDS = float(os.environ.get("PITHOSFS_SOAK_SECONDS") or 10)
PRIVATE_THREADS = 3
WRITERS = 3
READERS = 2
SHARED_FILES = 3  # = WRITERS: with one writer per file, writer w has shared-w
SLOT = 4096
SLOTS_PER_WRITER = 24
PRIVATE_MAX = 2 * 1024 * 1024


def _slot_bytes(writer: int, slot: int, gen: int) -> bytes:
    head = f"w{writer}s{slot}g{gen}|".encode()
    seed = hashlib.sha256(head).digest()
    return (head + seed * (SLOT // len(seed) + 1))[:SLOT]


def _slot_owner(index: int) -> tuple[int, int]:
    """Slots are interleaved between writers, so neighbouring slots have different owners."""
    return index % WRITERS, index // WRITERS


def _check_slot(data: bytes, index: int) -> bool:
    """Whether a slot holds zeros or one complete generation of its owner."""
    if data == bytes(len(data)):
        return True
    writer, slot = _slot_owner(index)
    head = data.split(b"|", 1)[0].decode("ascii", "replace")
    prefix = f"w{writer}s{slot}g"
    if not head.startswith(prefix) or not head[len(prefix) :].isdigit():
        return False
    return data == _slot_bytes(writer, slot, int(head[len(prefix) :]))


def _torn_pieces(data: bytes, index: int, max_gen: int) -> int:
    """How many pieces a slot is made of, each from zeros or one of its owner's generations
    up to `max_gen`; 0 if some byte comes from nowhere (foreign, misplaced or corrupt).

    Why a torn slot can be right: a read racing a write of the same bytes may copy the
    page while the write is copying into it. Linux filesystems do not serialise them:
    this very reader/writer loop sees such reads on ext4 and on tmpfs within 20 s (see
    SEMANTICS.md), and a FUSE mount shares that page cache. So a slot may switch from
    one generation of its owner to another mid-slot, but never to anyone else's bytes.
    """
    writer, slot = _slot_owner(index)
    candidates = [bytes(SLOT)] + [_slot_bytes(writer, slot, g) for g in range(1, max_gen + 1)]
    pieces, pos = 0, 0
    while pos < len(data):
        best = max(_common_run(data, cand, pos) for cand in candidates)
        if best == 0:
            return 0
        pieces, pos = pieces + 1, pos + best
    return pieces


def _common_run(a: bytes, b: bytes, pos: int) -> int:
    """Length of the run of equal bytes of `a` and `b` from `pos` (64-byte steps, then bytes)."""
    run = pos
    while run + 64 <= len(a) and a[run : run + 64] == b[run : run + 64]:
        run += 64
    while run < len(a) and a[run] == b[run]:
        run += 1
    return run - pos


class Soak:
    def __init__(self, root: Path, seed: int, writers_share: bool) -> None:
        self.root = root
        self.writers_share = writers_share  # else writer w writes only shared-(w % files)
        self.deadline = time.monotonic() + SECONDS
        self.rng = random.Random(seed)
        self.failures: list[str] = []
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.last_gen: dict[tuple[int, int, int], int] = {}  # (file, writer, slot) -> gen
        self.models: dict[int, bytearray] = {}
        self.max_gen = 0  # highest generation any writer has begun: a torn read's bound

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)

    def running(self) -> bool:
        return time.monotonic() < self.deadline and not self.failures

    # -- private files ---------------------------------------------------------
    def private(self, t: int) -> None:
        rng = random.Random(self.rng.random())
        path = self.root / f"private-{t}.bin"
        model = bytearray()
        path.write_bytes(b"")
        while self.running():
            op = rng.choice(["write", "write", "append", "truncate", "read", "session"])
            if op == "write":
                off, data = rng.randrange(0, PRIVATE_MAX), rng.randbytes(rng.randrange(1, 200_000))
                with open(path, "r+b") as f:
                    f.seek(off)
                    f.write(data)
                _model_write(model, off, data)
            elif op == "append":
                data = rng.randbytes(rng.randrange(1, 70_000))
                with open(path, "ab") as f:
                    f.write(data)
                model.extend(data)
            elif op == "truncate":
                size = rng.randrange(0, PRIVATE_MAX)
                os.truncate(path, size)
                _model_truncate(model, size)
            elif op == "read":
                if path.read_bytes() != model:
                    self.fail(f"private-{t}: read differs from the model")
            else:  # several writes under one handle, fsync, read back through it, close
                with open(path, "r+b") as f:
                    for _ in range(rng.randint(2, 5)):
                        off = rng.randrange(0, PRIVATE_MAX)
                        data = rng.randbytes(rng.randrange(1, 100_000))
                        f.seek(off)
                        f.write(data)
                        _model_write(model, off, data)
                    f.flush()
                    os.fsync(f.fileno())
                    f.seek(0)
                    if f.read() != model:
                        self.fail(f"private-{t}: read after fsync differs from the model")
            self.count(f"private {op}")
        self.models[t] = model

    # -- shared files ------------------------------------------------------------
    def writer(self, w: int) -> None:
        rng = random.Random(self.rng.random())
        gens: Counter[tuple[int, int]] = Counter()
        while self.running():
            file = rng.randrange(SHARED_FILES) if self.writers_share else w % SHARED_FILES
            slot = rng.randrange(SLOTS_PER_WRITER)
            gens[(file, slot)] += 1
            gen = gens[(file, slot)]
            with self.lock:
                self.max_gen = max(self.max_gen, gen)
            data = _slot_bytes(w, slot, gen)
            for _attempt in range(5):
                try:
                    with open(self.root / f"shared-{file}.bin", "r+b") as f:
                        f.seek((slot * WRITERS + w) * SLOT)
                        f.write(data)
                    break
                except OSError as exc:
                    if exc.errno != errno.ESTALE:
                        raise
                    self.count("shared ESTALE (written again)")
                    time.sleep(0.05)
            else:
                self.fail(f"writer {w}: ESTALE five times in a row")
                return
            with self.lock:
                self.last_gen[(file, w, slot)] = gen
            self.count("shared slot write")

    def reader(self, r: int) -> None:
        rng = random.Random(self.rng.random())
        while self.running():
            file = rng.randrange(SHARED_FILES)
            data = (self.root / f"shared-{file}.bin").read_bytes()
            for index in range(len(data) // SLOT):
                piece = data[index * SLOT : (index + 1) * SLOT]
                if _check_slot(piece, index):
                    continue
                if _torn_pieces(piece, index, self.max_gen + 2) > 1:
                    self.count("shared slot read racing its write (pieces of two generations)")
                else:
                    self.fail(
                        f"reader {r}: slot {index} of shared-{file} (of {len(data)} bytes) is "
                        f"torn or foreign: {_describe_slot(piece, index)}"
                    )
                    return
            self.count("shared read")

    def expected_shared(self, file: int) -> bytes:
        size = SLOTS_PER_WRITER * WRITERS * SLOT
        out = bytearray(size)
        for (f, w, slot), gen in self.last_gen.items():
            if f == file:
                start = (slot * WRITERS + w) * SLOT
                out[start : start + SLOT] = _slot_bytes(w, slot, gen)
        return bytes(out)


def _describe_slot(data: bytes, index: int) -> str:
    """What a bad slot holds, so that a failure says which write tore or misplaced it."""
    writer, slot = _slot_owner(index)
    head = data.split(b"|", 1)[0][:16]
    pieces = []
    for at in range(0, len(data), 512):  # where the content changes, in 512-byte steps
        piece = data[at : at + 512]
        pieces.append("0" if piece == bytes(len(piece)) else "x")
    text = f"owner w{writer}s{slot}, head {head!r}, 512-byte pieces (0 = zeros) {''.join(pieces)}"
    try:
        w, rest = head.decode()[1:].split("s")
        s, g = rest.split("g")
        whole = _slot_bytes(int(w), int(s), int(g))
    except ValueError:
        return text
    differ = next((i for i in range(len(data)) if data[i] != whole[i]), None)
    return f"{text}; first byte differing from that generation: {differ}"


def _stale_slots(seen: bytes, expected: bytes) -> list[str]:
    out = []
    for index in range(len(expected) // SLOT):
        a, b = seen[index * SLOT : index * SLOT + 12], expected[index * SLOT : index * SLOT + 12]
        if a != b:
            out.append(
                f"{a.split(b'|')[0].decode(errors='replace')} (want {b.split(b'|')[0].decode(errors='replace')})"
            )
    return out


def _model_write(model: bytearray, off: int, data: bytes) -> None:
    if off > len(model):
        model.extend(bytes(off - len(model)))
    model[off : off + len(data)] = data


def _model_truncate(model: bytearray, size: int) -> None:
    if size < len(model):
        del model[size:]
    else:
        model.extend(bytes(size - len(model)))


def _run(target: object, soak: Soak, *args: int) -> threading.Thread:
    def body() -> None:
        try:
            target(*args)  # type: ignore[operator]
        except Exception as exc:  # a thread's failure must fail the test, not vanish
            soak.fail(f"{getattr(target, '__name__', target)}{args}: {exc!r}")

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def _soak(
    mount_factory: Callable[..., Mount], alice: object, unique_name: str, writers_share: bool
) -> None:
    from pithosfs.client.pithos import PithosClient

    m = mount_factory()
    mnt = m.path / unique_name
    mnt.mkdir()
    seed = int(os.environ.get("PITHOSFS_SOAK_SEED", "21"))
    soak = Soak(mnt, seed, writers_share)
    size = SLOTS_PER_WRITER * WRITERS * SLOT
    for file in range(SHARED_FILES):
        (mnt / f"shared-{file}.bin").write_bytes(bytes(size))
    threads = [_run(soak.private, soak, t) for t in range(PRIVATE_THREADS)]
    threads += [_run(soak.writer, soak, w) for w in range(WRITERS)]
    threads += [_run(soak.reader, soak, r) for r in range(READERS)]
    for thread in threads:
        thread.join(timeout=SECONDS + 120)
        assert not thread.is_alive(), "a soak thread hangs"
    assert not soak.failures, soak.failures
    container = mnt.name
    client = PithosClient.from_storage_url(alice.storage_url, alice.token)  # type: ignore[attr-defined]
    try:
        for t, model in soak.models.items():
            assert (mnt / f"private-{t}.bin").read_bytes() == model, f"private-{t}"
            info = client.head_object(container, f"private-{t}.bin")
            on_server = client.read_range(container, f"private-{t}.bin", 0, info.size)
            assert on_server == model if info.size else model == b"", f"private-{t} on the server"
        for file in range(SHARED_FILES):
            expected = soak.expected_shared(file)
            seen = (mnt / f"shared-{file}.bin").read_bytes()
            assert seen == expected, (
                f"shared-{file}: slots holding an older generation than the last one whose "
                f"close() succeeded: {_stale_slots(seen, expected)}; {dict(soak.counts)}"
            )
            on_server = client.read_range(container, f"shared-{file}.bin", 0, size)
            assert on_server == expected, f"shared-{file} on the server"
    finally:
        client.close()
    sharing = "writers share files" if writers_share else "one writer per file"
    print(f"\nsoak {SECONDS:.0f} s ({sharing}): {dict(sorted(soak.counts.items()))}; 0 mismatches")
    assert soak.counts["shared slot write"] > 0 and soak.counts["shared read"] > 0
    assert m.proc.poll() is None, "the mount process died"


def test_private_files_and_readers_of_files_being_written(
    mount_factory: Callable[..., Mount], alice: object, unique_name: str
) -> None:
    """Private editors, one slot writer per shared file, readers of the shared files."""
    _soak(mount_factory, alice, unique_name, writers_share=False)


def test_writers_sharing_files_with_readers(
    mount_factory: Callable[..., Mount], alice: object, unique_name: str
) -> None:
    _soak(mount_factory, alice, unique_name, writers_share=True)


def test_core_writers_sharing_a_path_lose_no_acknowledged_write(
    server: object, alice: object, tmp_path: Path, unique_name: str
) -> None:
    """The shared-writers case without FUSE: Filesystem calls from threads, as libfuse makes.

    Each writer opens the path, writes its own 4 KiB slot, flushes (the close() answer) and
    releases; a write whose flush succeeded must be on the server at the end."""
    from pithosfs.client.pithos import PithosClient
    from pithosfs.fs.core import Filesystem
    from pithosfs.fs.options import FsOptions

    client = PithosClient.from_storage_url(alice.storage_url, alice.token)  # type: ignore[attr-defined]
    client.create_container(unique_name)
    fs = Filesystem(client, FsOptions(cache_dir=tmp_path / "cache", attr_timeout=1, dir_timeout=1))
    path = f"/{unique_name}/s.bin"
    fh = fs.create(path, 0o644, os.O_WRONLY | os.O_CREAT)
    fs.write(fh, 0, bytes(SLOTS_PER_WRITER * WRITERS * SLOT))
    fs.flush(fh)
    fs.release(fh)
    stop = time.monotonic() + 5
    acknowledged: dict[tuple[int, int], int] = {}
    refused: Counter[str] = Counter()

    def writer(w: int) -> None:
        gen = 0
        while time.monotonic() < stop:
            gen += 1
            slot = gen % SLOTS_PER_WRITER
            handle = fs.open(path, os.O_RDWR)
            try:
                fs.write(handle, (slot * WRITERS + w) * SLOT, _slot_bytes(w, slot, gen))
                fs.flush(handle)
            except Exception as exc:  # the conflict answer; the slot is simply not acknowledged
                refused[type(exc).__name__] += 1
                continue
            finally:
                fs.release(handle)
            acknowledged[(w, slot)] = gen

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    time.sleep(1.5)  # background retries of refused commits settle (they must not win)
    info = client.head_object(unique_name, "s.bin")
    data = client.read_range(unique_name, "s.bin", 0, info.size)
    lost = [
        (w, slot, gen)
        for (w, slot), gen in acknowledged.items()
        if data[(slot * WRITERS + w) * SLOT :][:SLOT] != _slot_bytes(w, slot, gen)
    ]
    fs.close()  # commits what is pending, stops the worker threads
    client.close()
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged writes lost; {refused}"
    assert not refused, f"one mount's own writers refused each other: {dict(refused)}"
