"""Garbage collection of block files: mark and sweep, safe against concurrent writers.

Blocks are shared by content across versions, objects and accounts, so a block
may go only when no version names it any more: after a purge (`DELETE ?until`
on an object or container), a container delete, an overwrite in a container
with `versioning=none`, or an upload that was never committed. Deleting an
object keeps its versions (history), hence its blocks.

Why it is safe:

* Every deletion of a version row records that version's block list in the
  `released_blocks` table (an SQLite trigger, in the same transaction), so the
  collector learns what may have become garbage without scanning the disk.
* Mark: the hashes every version names, read in one snapshot, plus the highest
  serial it saw. Sweep: in batches, each inside a write transaction (commits
  wait meanwhile); a candidate named by a version committed since the snapshot
  is kept, and so is a candidate a running request has pinned.
* `BlockGuard` pins: a writer pins each block it stores or names (plain PUT,
  partial update, hashmap PUT) before it checks that the block exists, and
  keeps the pin until its commit is done. The sweep takes the same lock to
  check a pin and unlink: either the writer's check sees the file gone (and
  stores it again, or answers 409 so the client sends it: the protocol's
  normal path) or the sweep sees the pin.
* Blocks uploaded by a block-upload POST are there for a hashmap PUT that has
  not come yet (the 409-then-upload-then-PUT sequence): they are kept for
  UPLOAD_GRACE seconds after their upload, or until a hashmap PUT commits them.
  Except when the disk is full (`disk_full`): then every block no version names
  and no running request pins goes at once (at most every URGENT_INTERVAL); a
  client still on its way to the hashmap PUT gets 409 and sends them again.
* One process: several servers may share a data dir (serve.lock, fsck.py);
  pins live in one process's memory, so the collector runs only while its
  process holds the data dir alone (an exclusive lock for the sweep).

What is not protected: a GET streaming a version that is purged while it is
sent may be cut short once that version's blocks are collected.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pithosfs.server.blocks import BlockStore
    from pithosfs.server.db import Database

log = logging.getLogger(__name__)

UPLOAD_GRACE = 3600.0
SWEEP_BATCH = 500
POLL_INTERVAL = 2.0
URGENT_INTERVAL = 5.0


class BlockGuard:
    """Blocks that running requests use (pins) or that were uploaded for a coming hashmap PUT."""

    def __init__(self, grace: float = UPLOAD_GRACE) -> None:
        self.grace = grace
        self._lock = threading.Lock()
        self._pins: Counter[str] = Counter()
        self._uploaded: dict[str, float] = {}

    def new_pins(self) -> PinSet:
        return PinSet(self)

    @contextmanager
    def pinning(self, outer: PinSet | None = None) -> Iterator[PinSet]:
        """A request's pins, released at the end; with `outer`, those (the caller releases)."""
        if outer is not None:
            yield outer
            return
        pins = PinSet(self)
        try:
            yield pins
        finally:
            pins.release()

    def _pin(self, hex_hash: str) -> None:
        with self._lock:
            self._pins[hex_hash] += 1

    def _unpin(self, hashes: Iterable[str]) -> None:
        with self._lock:
            for h in hashes:
                self._pins[h] -= 1
                if self._pins[h] <= 0:
                    del self._pins[h]

    def uploaded(self, hashes: Iterable[str]) -> None:
        """A block-upload POST stored these: keep them for the hashmap PUT to come."""
        until = time.monotonic() + self.grace
        with self._lock:
            for h in hashes:
                self._uploaded[h] = until

    def committed(self, hashes: Iterable[str]) -> None:
        """A version names these now: their upload needs no more protection."""
        with self._lock:
            if self._uploaded:
                for h in hashes:
                    self._uploaded.pop(h, None)

    def protected_until(self, hex_hash: str, uploads_too: bool = True) -> float | None:
        """Under `locked()`: None if the block may go, else when to look again (monotonic)."""
        if hex_hash in self._pins:
            return time.monotonic()
        until = self._uploaded.get(hex_hash) if uploads_too else None
        if until is None:
            return None
        if until <= time.monotonic():
            del self._uploaded[hex_hash]
            return None
        return until

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            yield


class PinSet:
    """The blocks one request pinned; all released when the request is done."""

    def __init__(self, guard: BlockGuard) -> None:
        self._guard = guard
        self._held: list[str] = []

    def add(self, hex_hash: str) -> None:
        self._guard._pin(hex_hash)
        self._held.append(hex_hash)

    def add_all(self, hashes: Iterable[str]) -> None:
        for h in hashes:
            self.add(h)

    def release(self) -> None:
        held, self._held = self._held, []
        self._guard._unpin(held)


@dataclass
class Collection:
    candidates: int = 0
    removed: int = 0
    freed_bytes: int = 0
    kept: int = 0  # pinned, recently uploaded, or named by a version committed meanwhile
    skipped: str = ""  # why nothing was swept (another server shares the data dir)


class Collector:
    """Mark and sweep over the block store (see the module docstring)."""

    def __init__(self, db: Database, store: BlockStore, data_dir: Path) -> None:
        self.db = db
        self.store = store
        self.guard = store.guard
        self.data_dir = data_dir
        self.lock_fd: int | None = None  # serve's lock on the data dir, if it holds one
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._urgent = False
        self._last_urgent = 0.0
        self._thread: threading.Thread | None = None
        self.totals = Collection()
        self._own_fd: int | None = None

    # ---- the background thread -------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="block-gc", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def disk_full(self) -> None:
        """A write failed for lack of space: sweep every unreferenced block soon."""
        self._urgent = True
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_INTERVAL)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                urgent = self._urgent and time.monotonic() - self._last_urgent > URGENT_INTERVAL
                if urgent:
                    self._urgent = False
                    self._last_urgent = time.monotonic()
                    self.collect(everything=True, uploads_too=False)
                elif self._released_waiting():
                    self.collect()
            except Exception:  # noqa: BLE001 - the next round tries again; serving goes on
                log.exception("block collection failed")

    def _released_waiting(self) -> bool:
        row = (
            self.db.conn()
            .execute("SELECT 1 FROM released_blocks WHERE after <= ? LIMIT 1", (time.time(),))
            .fetchone()
        )
        return row is not None

    # ---- one collection ----------------------------------------------------------------

    def collect(self, everything: bool = False, uploads_too: bool = True) -> Collection:
        """Sweep released blocks (or, with `everything`, every unreferenced block file).

        `uploads_too=False`: blocks kept for a coming hashmap PUT go as well (disk full).
        """
        with self._run_lock:
            result = Collection()
            if not self._hold_alone():
                result.skipped = "another server uses this data dir"
                log.info("block collection skipped: %s", result.skipped)
                return result
            try:
                self._collect(everything, uploads_too, result)
            finally:
                self._share()
            for field in ("candidates", "removed", "freed_bytes", "kept"):
                setattr(self.totals, field, getattr(self.totals, field) + getattr(result, field))
            if result.candidates:
                log.info(
                    "blocks collected: %d removed (%d bytes), %d kept, of %d candidates",
                    result.removed, result.freed_bytes, result.kept, result.candidates,
                )  # fmt: skip
            return result

    def _collect(self, everything: bool, uploads_too: bool, result: Collection) -> None:
        width = len(self.store.empty_hash) // 2
        with self.db.read() as conn:
            last_release = conn.execute(
                "SELECT COALESCE(MAX(id), 0) FROM released_blocks"
            ).fetchone()[0]
            released = _hashes_of(
                conn.execute(
                    "SELECT hashes FROM released_blocks WHERE id <= ? AND after <= ?",
                    (last_release, time.time()),
                ),
                width,
            )
            snapshot = conn.execute("SELECT COALESCE(MAX(serial), 0) FROM versions").fetchone()[0]
            candidates = released | (self._files() if everything else set())
            candidates.discard(self.store.empty_hash)
            if candidates:  # mark: drop what any version names (row by row: memory stays small)
                for (raw,) in conn.execute("SELECT hashes FROM versions"):
                    raw = bytes(raw)
                    candidates.difference_update(
                        raw[i : i + width].hex() for i in range(0, len(raw), width)
                    )
        result.candidates = len(candidates)
        kept: dict[str, float] = {}
        ordered = sorted(candidates)
        for start in range(0, len(ordered), SWEEP_BATCH):
            with self.db.write() as conn:
                newer = _hashes_of(
                    conn.execute("SELECT hashes FROM versions WHERE serial > ?", (snapshot,)),
                    width,
                )
                for hex_hash in ordered[start : start + SWEEP_BATCH]:
                    if hex_hash in newer:
                        result.kept += 1
                        continue
                    with self.guard.locked():
                        until = self.guard.protected_until(hex_hash, uploads_too)
                        if until is not None:
                            kept[hex_hash] = until
                            result.kept += 1
                            continue
                        result.freed_bytes += self._unlink(hex_hash, result)
        with self.db.write() as conn:
            conn.execute(
                "DELETE FROM released_blocks WHERE id <= ? AND after <= ?",
                (last_release, time.time()),
            )
            if kept:  # look at them again once their upload protection ends
                again = time.time() + max(0.0, max(kept.values()) - time.monotonic()) + 1
                conn.execute(
                    "INSERT INTO released_blocks (hashes, after) VALUES (?, ?)",
                    (bytes.fromhex("".join(kept)), again),
                )

    def _unlink(self, hex_hash: str, result: Collection) -> int:
        path = self.store.path_of(hex_hash)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        result.removed += 1
        return size

    def _files(self) -> set[str]:
        names: set[str] = set()
        width = len(self.store.empty_hash)
        for sub in self.store.root.iterdir():
            if len(sub.name) == 2 and sub.is_dir():
                names.update(p.name for p in sub.iterdir() if len(p.name) == width)
        return names

    # ---- exclusive use of the data dir ----------------------------------------------------

    def _hold_alone(self) -> bool:
        fd = self.lock_fd
        if fd is None:
            fd = os.open(self.data_dir / "serve.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._own_fd = fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            self._share()
            return False

    def _share(self) -> None:
        """Back to the lock the process held before: shared (serve) or none (in-process)."""
        own = getattr(self, "_own_fd", None)
        if own is not None:
            os.close(own)  # drops its lock
            self._own_fd = None
        elif self.lock_fd is not None:
            fcntl.flock(self.lock_fd, fcntl.LOCK_SH)


def _hashes_of(rows: sqlite3.Cursor, width: int) -> set[str]:
    found: set[str] = set()
    for (raw,) in rows:
        raw = bytes(raw)
        found.update(raw[i : i + width].hex() for i in range(0, len(raw), width))
    return found
