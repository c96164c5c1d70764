"""What happens to a closed file whose commit failed: it is journalled and retried, never dropped.

`UploadGuard` (one per Filesystem, `guard_of(fs)`) ties the write path to the
upload journal (journal.py):

* `FileTable.release`/`close_all` commit under `uploading(...)`, so `status`
  and `umount` see a commit in flight (with bytes sent so far);
* if that commit fails, `keep(...)` copies the file's content into the journal
  (`<cache-dir>/journal`); if even that is impossible (the unwritten blocks of
  an edited file live only on the unreachable server, or the cache disk is
  full), the open file itself is held in memory and its commit retried;
* a background thread replays journal entries (and held files) with
  exponential backoff (1 s doubling up to `retry_max`, default 30 s, env
  `PITHOSFS_RETRY_MAX`), starting at mount time (`start()`), so a server that
  comes back gets the data without anyone asking; a conflict (the object
  changed meanwhile) goes to `<cache-dir>/conflicts/` with a log line and an
  entry in `conflicts` for `status`.

Locking: `_lock` guards the in-flight, held, progress and conflict records;
no store request is made while holding it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pithosfs.client.errors import PithosError
from pithosfs.client.types import ObjectInfo, ObjectStore
from pithosfs.fs.journal import PendingUpload, ReplayConflict, UploadJournal

log = logging.getLogger(__name__)

DEFAULT_RETRY_MAX = 30.0
FIRST_RETRY = 1.0
MAX_CONFLICTS_SHOWN = 20


@dataclass
class Upload:
    """One upload that is not finished, as `status` and `umount` show it."""

    path: str
    state: str  # "open" (dirty, still open), "uploading" (commit at close), "journal", "held"
    total: int
    sent: int = 0
    started: float = field(default_factory=time.time)
    attempts: int = 0
    last_error: str = ""

    def as_dict(self, now: float, rate: float | None = None) -> dict[str, Any]:
        """`rate`: bytes/s measured by the caller; default the average since `started`."""
        if rate is None:
            elapsed = max(now - self.started, 1e-6)
            rate = self.sent / elapsed if self.sent else 0.0
        left = max(self.total - self.sent, 0)
        eta = left / rate if rate > 0 else None
        return {
            "path": self.path, "state": self.state, "total": self.total, "sent": self.sent,
            "rate": rate, "eta": eta, "attempts": self.attempts, "last_error": self.last_error,
        }  # fmt: skip


@dataclass
class _Held:
    """An open file whose content could not even be journalled: retried from memory."""

    path: str
    size: int
    retry: Callable[[], None]  # commits the file; raises while it cannot
    done: Callable[[], None]  # drops the file once committed
    attempts: int = 0
    last_error: str = ""
    started: float = field(default_factory=time.time)


@dataclass
class _InFlight:
    path: str
    staged: Any  # the StagedFile being committed (its byte counters give the progress)
    started: float = field(default_factory=time.time)


def _mount_path(container: str, name: str) -> str:
    return f"/{container}/{name}"


def sent_by(staged: Any) -> int:
    """Bytes a StagedFile sent so far (background and commit uploads; 0 if none)."""
    if staged is None:
        return 0
    return int(getattr(staged, "bg_uploaded_bytes", 0)) + int(
        getattr(staged, "commit_uploaded_bytes", 0)
    )


class UploadGuard:
    def __init__(
        self,
        store: ObjectStore,
        cache_dir: Path,
        retry_max: float | None = None,
        on_commit: Callable[[str, ObjectInfo], None] | None = None,
    ) -> None:
        """`on_commit(path, info)`: told of each journal entry that reached the server."""
        self.store = store
        self._on_commit = on_commit
        self.journal = UploadJournal(cache_dir, account=str(getattr(store, "storage_url", "")))
        env_max = os.environ.get("PITHOSFS_RETRY_MAX")
        self.retry_max = retry_max or (float(env_max) if env_max else DEFAULT_RETRY_MAX)
        self._lock = threading.Lock()
        self._in_flight: dict[int, _InFlight] = {}  # GUARDED_BY(_lock)
        self._held: list[_Held] = []  # GUARDED_BY(_lock)
        self._replaying: dict[str, tuple[float, int]] = {}  # id -> (started, sent); GUARDED_BY
        self.conflicts: list[dict[str, Any]] = []  # GUARDED_BY(_lock)
        self.committed = 0  # journal entries and held files committed by the retrier
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None  # GUARDED_BY(_lock)

    # -- the write path's side ---------------------------------------------------
    @contextlib.contextmanager
    def uploading(self, path: str, staged: Any) -> Iterator[None]:
        """Mark a commit at close as in flight while the block runs."""
        key = id(staged) if staged is not None else id(path)
        with self._lock:
            self._in_flight[key] = _InFlight(path, staged)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight.pop(key, None)

    def keep(
        self,
        container: str,
        name: str,
        base: ObjectInfo | None,
        size: int,
        read: Callable[[int, int], bytes],
        content_type: str,
        meta: dict[str, str],
        error: str,
    ) -> PendingUpload | None:
        """Journal a file whose commit failed; None if it could not be journalled."""
        try:
            entry = self.journal.park(
                container, name, base, size, read, content_type, meta, error=error
            )
        except (OSError, PithosError) as exc:
            log.error("cannot journal %s/%s (%s): kept open in memory", container, name, exc)
            return None
        self._kick()
        return entry

    def hold(
        self, path: str, size: int, retry: Callable[[], None], done: Callable[[], None], error: str
    ) -> None:
        """Keep retrying an open file's commit from memory (lost if the process ends)."""
        with self._lock:
            self._held.append(_Held(path, size, retry, done, last_error=error))
        self._kick()

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        """Replay what earlier mounts left in the journal, then keep retrying (background)."""
        left = self.journal.entries()
        if left:
            log.warning(
                "journal: %d upload(s) left by an earlier mount, resuming: %s", len(left),
                ", ".join(_mount_path(e.container, e.name) for e in left),
            )  # fmt: skip
        self._kick()

    def stop(self, timeout: float = 5.0) -> None:
        """End the retrier (journal entries wait for the next mount; held files are lost)."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            thread = self._thread
            held = [h.path for h in self._held]
        if thread is not None:
            thread.join(timeout)
        if held:
            log.error("unmounted with files that could not be saved anywhere: %s", ", ".join(held))

    def retry_now(self) -> None:
        self._wake.set()

    def _kick(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="pithosfs-journal", daemon=True
                )
                self._thread.start()
        self._wake.set()

    # -- the retrier -----------------------------------------------------------
    def _run(self) -> None:
        delay = FIRST_RETRY
        while not self._stop.is_set():
            self._wake.clear()
            try:
                outcome = self._pass()
            except Exception:  # noqa: BLE001 - the retrier must outlive any bug in one pass
                log.exception("journal retry pass failed")
                outcome = "failed"
            if outcome == "idle":
                delay = FIRST_RETRY
                self._wake.wait()
                continue
            if outcome == "progress":
                delay = FIRST_RETRY
                continue
            self._wake.wait(delay)
            delay = min(delay * 2, self.retry_max)

    def _pass(self) -> str:
        """One try of everything pending: "idle" (nothing left), "progress", or "failed"."""
        entries = self.journal.entries()
        with self._lock:
            held = list(self._held)
        if not entries and not held:
            return "idle"
        for entry in entries:
            if self._stop.is_set():
                return "failed"
            if not self._replay(entry):
                return "failed"  # the server is still unreachable: wait before the next
        for item in held:
            if self._stop.is_set() or not self._retry_held(item):
                return "failed"
        return "progress"

    def _replay(self, entry: PendingUpload) -> bool:
        with self._lock:
            self._replaying[entry.id] = (time.time(), 0)

        def sent(n: int) -> None:
            with self._lock:
                started, done = self._replaying.get(entry.id, (time.time(), 0))
                self._replaying[entry.id] = (started, done + n)

        try:
            info = self.journal.replay(self.store, entry, progress=sent)
        except ReplayConflict as exc:
            self._record_conflict(exc)
            return True
        except PithosError as exc:
            log.info("journal: %s/%s still pending: %s", entry.container, entry.name, exc)
            return False
        except OSError as exc:  # its data file is gone or unreadable: retrying cannot help
            self.journal.set_aside(entry, str(exc))
            return True
        finally:
            with self._lock:
                self._replaying.pop(entry.id, None)
        self.committed += 1
        if self._on_commit is not None:
            try:
                self._on_commit(_mount_path(entry.container, entry.name), info)
            except Exception:  # noqa: BLE001 - the upload is done; a stale cache only ages out
                log.exception("after uploading %s/%s", entry.container, entry.name)
        log.info("journal: %s/%s uploaded (%d bytes)", entry.container, entry.name, entry.size)
        return True

    def _retry_held(self, item: _Held) -> bool:
        try:
            item.retry()
        except Exception as exc:  # noqa: BLE001 - any failure: keep it and try later
            item.attempts += 1
            item.last_error = str(exc)
            return False
        with self._lock:
            if item in self._held:
                self._held.remove(item)
        item.done()
        self.committed += 1
        log.info("held file %s committed", item.path)
        return True

    def _record_conflict(self, exc: ReplayConflict) -> None:
        e = exc.entry
        record = {
            "path": _mount_path(e.container, e.name), "kept_at": str(exc.kept_at),
            "why": e.last_error, "time": time.time(),
        }  # fmt: skip
        with self._lock:
            self.conflicts.append(record)
            del self.conflicts[:-MAX_CONFLICTS_SHOWN]

    # -- reporting -------------------------------------------------------------
    def pending(self) -> list[Upload]:
        """Commits in flight at close, held files and journal entries (not open files)."""
        with self._lock:
            flights = list(self._in_flight.values())
            held = list(self._held)
            replaying = dict(self._replaying)
        out = [
            Upload(f.path, "uploading", getattr(f.staged, "size", 0), sent_by(f.staged), f.started)
            for f in flights
        ]
        out += [
            Upload(h.path, "held", h.size, 0, h.started, h.attempts, h.last_error) for h in held
        ]
        for e in self.journal.entries():
            started, sent = replaying.get(e.id, (e.created, 0))
            out.append(
                Upload(
                    _mount_path(e.container, e.name),
                    "journal",
                    e.size,
                    sent,
                    started,
                    e.attempts,
                    e.last_error,
                )  # fmt: skip
            )
        return out

    def recent_conflicts(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.conflicts)


_GUARDS: weakref.WeakKeyDictionary[Any, UploadGuard] = weakref.WeakKeyDictionary()
_GUARDS_LOCK = threading.Lock()


def guard_of(fs: Any) -> UploadGuard:
    """The Filesystem's guard, created on first use (its journal lives in the cache dir)."""
    with _GUARDS_LOCK:
        guard = _GUARDS.get(fs)
        if guard is None:
            guard = UploadGuard(fs.store, fs.opts.cache_dir, on_commit=_show_in(fs))
            _GUARDS[fs] = guard
        return guard


def _show_in(fs: Any) -> Callable[[str, ObjectInfo], None]:
    """Make a replayed upload visible in the mount at once (stat cache, virtual layers)."""

    def shown(path: str, info: ObjectInfo) -> None:
        from pithosfs.fs import nodes

        fs.stats.put(path, nodes.node_from_object(info))
        fs.layers.after_commit(path, info)

    return shown
