"""What happens to a closed file whose commit failed: journalled and retried, or refused.

`UploadGuard` (one per Filesystem, `guard_of(fs)`) ties the write path to the
upload journal (journal.py):

* a commit that fails is classified (commit_failures.py). A permanent
  failure is the writer's error at close()/fsync() and nothing is kept; a
  transient one is parked in the journal (`park`) by the close that saw it,
  before close() returns, so a crash of the mount right after loses nothing.
  While the file is still open its entry is *claimed*: the retrier leaves it
  alone (the open file may still change it), and a later successful commit
  of the file removes it;
* `FileTable.release`/`close_all` commit under `uploading(...)`, so `status`
  and `umount` see a commit in flight (with bytes sent so far);
* if a file cannot be parked at all (the journal's bound or the cache disk,
  or base blocks neither cached nor known by hash while the server is away),
  close() says so (ENOSPC) and the open file is held in memory and its commit
  retried; it is lost only if the mount process dies first;
* a background thread replays journal entries (and held files), each on its
  own schedule: 1 s after it failed, doubling up to `retry_max` (default 30 s,
  env `PITHOSFS_RETRY_MAX`), so one entry that keeps failing never holds back
  the others. It starts at mount time (`start()`), so a server that comes
  back gets the data without anyone asking. A conflict (the object changed
  meanwhile) goes to `<cache-dir>/conflicts/`, an entry refused for good
  during replay to `<cache-dir>/failed/`, each with a log line and a record
  for `status`.

Locking: `_lock` guards the in-flight, held, claimed, schedule, progress and
conflict records; no store request is made while holding it.
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
from typing import TYPE_CHECKING, Any

from pithosfs.client.errors import PithosError
from pithosfs.client.types import ObjectInfo, ObjectStore
from pithosfs.fs.writeback.commit_failures import can_reauthenticate, classify
from pithosfs.fs.writeback.journal import PendingUpload, ReplayConflict, UploadJournal
from pithosfs.fs.writeback.journal_areas import SHARED_DIR, mount_prefix

if TYPE_CHECKING:
    from pithosfs.fs.core import Filesystem
    from pithosfs.fs.writeback.staged_file import StagedFile

log = logging.getLogger(__name__)

DEFAULT_RETRY_MAX = 30.0
FIRST_RETRY = 1.0
MAX_CONFLICTS_SHOWN = 20
IDLE_RESCAN = 10.0  # seconds between looks at the journal when idle (`pithosfs journal retry`)


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
    due: float = field(default_factory=time.monotonic)  # its next try


@dataclass
class _InFlight:
    path: str
    staged: StagedFile | None  # the file being committed (its byte counters give the progress)
    started: float = field(default_factory=time.time)


def _mount_path(container: str, name: str) -> str:
    return f"/{container}/{name}"


def sent_by(staged: StagedFile | None) -> int:
    """Bytes a StagedFile sent so far (background and commit uploads; 0 if none)."""
    if staged is None:
        return 0
    return int(getattr(staged, "bg_uploaded_bytes", 0)) + int(
        getattr(staged, "commit_uploaded_bytes", 0)
    )


def retry_delay(attempts: int, retry_max: float) -> float:
    """Seconds before the next try of something that failed `attempts` times (>= 1)."""
    return float(min(FIRST_RETRY * 2 ** max(attempts - 1, 0), retry_max))


class UploadGuard:
    def __init__(
        self,
        store: ObjectStore,
        cache_dir: Path,
        retry_max: float | None = None,
        on_commit: Callable[[str, ObjectInfo], None] | None = None,
        max_bytes: int = 0,
    ) -> None:
        """`on_commit(path, info)`: told of each journal entry that reached the server.
        `max_bytes`: the journal's bound (the mount's --cache-size; 0: the disk's)."""
        self.store = store
        self._on_commit = on_commit
        self.prefix = mount_prefix(Path(cache_dir))  # "/.shared/<account>" for a shared one
        self.journal = UploadJournal(cache_dir, account=store.storage_url, max_bytes=max_bytes)
        env_max = os.environ.get("PITHOSFS_RETRY_MAX")
        self.retry_max = retry_max or (float(env_max) if env_max else DEFAULT_RETRY_MAX)
        self._lock = threading.Lock()
        self._in_flight: dict[int, _InFlight] = {}  # GUARDED_BY(_lock)
        self._held: list[_Held] = []  # GUARDED_BY(_lock)
        self._claimed: set[str] = set()  # entries whose file is still open; GUARDED_BY(_lock)
        self._due: dict[str, float] = {}  # entry id -> monotonic next try; GUARDED_BY(_lock)
        self._replaying: dict[str, tuple[float, int]] = {}  # id -> (started, sent); GUARDED_BY
        self.conflicts: list[dict[str, Any]] = []  # GUARDED_BY(_lock)
        self.failures: list[dict[str, Any]] = []  # moved to failed/ here; GUARDED_BY(_lock)
        self.committed = 0  # journal entries and held files committed by the retrier
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None  # GUARDED_BY(_lock)

    # -- the write path's side ---------------------------------------------------
    @contextlib.contextmanager
    def uploading(self, path: str, staged: StagedFile | None) -> Iterator[None]:
        """Mark a commit at close as in flight while the block runs."""
        key = id(staged) if staged is not None else id(path)
        with self._lock:
            self._in_flight[key] = _InFlight(path, staged)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight.pop(key, None)

    def park(
        self,
        container: str,
        name: str,
        base: ObjectInfo | None,
        size: int,
        read: Callable[[int, int], bytes],
        content_type: str,
        meta: dict[str, str],
        error: str,
        plan: list[str | None] | None = None,
        block_size: int = 0,
        claim: bool = False,
    ) -> PendingUpload:
        """Journal a file whose commit failed; raises OSError (ENOSPC...) or PithosError
        (base blocks unreadable) if it cannot. `claim`: its file is still open (see
        `unclaim`); the retrier leaves it alone until then."""
        entry = self.journal.park(
            container, name, base, size, read, content_type, meta, error=error,
            plan=plan, block_size=block_size,
        )  # fmt: skip
        with self._lock:
            if claim:
                self._claimed.add(entry.id)
            self._due[entry.id] = time.monotonic() + retry_delay(1, self.retry_max)
        self._kick()
        return entry

    def unclaim(self, entry: PendingUpload) -> None:
        """The file of a claimed entry was closed unchanged: the retrier takes it over."""
        with self._lock:
            self._claimed.discard(entry.id)
        self._kick()

    def superseded(self, entry: PendingUpload) -> None:
        """A claimed entry's file was committed (or refused) since: its journal copy goes."""
        self.journal.remove(entry)  # first: unclaimed, it must already be gone
        with self._lock:
            self._claimed.discard(entry.id)
            self._due.pop(entry.id, None)

    def refused(self, entry: PendingUpload, why: str) -> None:
        """A claimed entry's file was refused for good where nobody can be told: failed/."""
        kept_at = self.journal.fail(entry, why, self.store)  # first, as in `superseded`
        with self._lock:
            self._claimed.discard(entry.id)
            self._due.pop(entry.id, None)
        self._record_failure(entry, kept_at)

    def hold(
        self, path: str, size: int, retry: Callable[[], None], done: Callable[[], None], error: str
    ) -> None:
        """Keep retrying an open file's commit from memory (lost if the process ends)."""
        with self._lock:
            self._held.append(
                _Held(
                    path, size, retry, done, last_error=error,
                    due=time.monotonic() + retry_delay(1, self.retry_max),
                )  # fmt: skip
            )
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
        """Try everything pending at once, whatever its schedule."""
        now = time.monotonic()
        with self._lock:
            for key in self._due:
                self._due[key] = now
            for item in self._held:
                item.due = now
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
        while not self._stop.is_set():
            self._wake.clear()
            try:
                wait = self._pass()
            except Exception:  # noqa: BLE001 - the retrier must outlive any bug in one pass
                log.exception("journal retry pass failed")
                wait = FIRST_RETRY
            self._wake.wait(IDLE_RESCAN if wait is None else wait)

    def _pass(self) -> float | None:
        """Try what is due; seconds until the next thing is due (None: nothing pending)."""
        now = time.monotonic()
        entries = self.journal.entries()
        with self._lock:
            held = list(self._held)
            claimed = set(self._claimed)
            present = {e.id for e in entries}
            for gone in [k for k in self._due if k not in present]:
                del self._due[gone]
            dues = {e.id: self._due.setdefault(e.id, now) for e in entries}
        if not entries and not held:
            return None
        next_at = float("inf")
        for entry in entries:
            if entry.id in claimed:
                continue  # its file is open: the file's own close decides
            if dues[entry.id] > now:
                next_at = min(next_at, dues[entry.id])
                continue
            if self._stop.is_set():
                return 0.0
            self._replay(entry)
            with self._lock:
                if entry.id in self._due:
                    next_at = min(next_at, self._due[entry.id])
        for item in held:
            if item.due > now:
                next_at = min(next_at, item.due)
                continue
            if self._stop.is_set():
                return 0.0
            if not self._retry_held(item):
                next_at = min(next_at, item.due)
        if next_at == float("inf"):
            return IDLE_RESCAN
        return max(0.0, next_at - time.monotonic())

    def _schedule(self, entry: PendingUpload) -> None:
        with self._lock:
            self._due[entry.id] = time.monotonic() + retry_delay(entry.attempts, self.retry_max)

    def _replay(self, entry: PendingUpload) -> None:
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
            return
        except PithosError as exc:
            verdict = classify(exc, can_reauthenticate(self.store))
            if verdict.permanent:
                self._record_failure(entry, self.journal.fail(entry, verdict.why, self.store))
                return
            log.info("journal: %s/%s still pending: %s", entry.container, entry.name, exc)
            self._schedule(entry)
            return
        except OSError as exc:  # its data file is gone or unreadable: retrying cannot help
            if self.journal.has(entry):  # else removed meanwhile (its file was committed)
                self.journal.set_aside(entry, str(exc))
            return
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

    def _retry_held(self, item: _Held) -> bool:
        try:
            item.retry()
        except Exception as exc:  # noqa: BLE001 - any failure: keep it and try later
            item.attempts += 1
            item.last_error = str(exc)
            item.due = time.monotonic() + retry_delay(item.attempts, self.retry_max)
            return False
        with self._lock:
            if item in self._held:
                self._held.remove(item)
        item.done()
        self.committed += 1
        log.info("held file %s committed", item.path)
        return True

    def _record_failure(self, entry: PendingUpload, kept_at: Path) -> None:
        record = {
            "path": self.prefix + _mount_path(entry.container, entry.name),
            "kept_at": str(kept_at),
            "why": entry.last_error, "time": time.time(), "id": entry.id,
        }  # fmt: skip
        with self._lock:
            self.failures.append(record)
            del self.failures[:-MAX_CONFLICTS_SHOWN]

    def _record_conflict(self, exc: ReplayConflict) -> None:
        e = exc.entry
        record = {
            "path": self.prefix + _mount_path(e.container, e.name), "kept_at": str(exc.kept_at),
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
        shown = self.prefix
        out = [
            Upload(
                shown + f.path, "uploading", getattr(f.staged, "size", 0), sent_by(f.staged),
                f.started,
            )  # fmt: skip
            for f in flights
        ]
        out += [
            Upload(shown + h.path, "held", h.size, 0, h.started, h.attempts, h.last_error)
            for h in held
        ]
        for e in self.journal.entries():
            started, sent = replaying.get(e.id, (e.created, 0))
            out.append(
                Upload(
                    shown + _mount_path(e.container, e.name),
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


_GUARDS: weakref.WeakKeyDictionary[Filesystem, UploadGuard] = weakref.WeakKeyDictionary()
_GUARDS_LOCK = threading.Lock()


def guard_of(fs: Filesystem) -> UploadGuard:
    """The Filesystem's guard, created on first use (its journal lives in the cache dir)."""
    with _GUARDS_LOCK:
        guard = _GUARDS.get(fs)
        if guard is None:
            guard = UploadGuard(
                fs.store, fs.opts.cache_dir, on_commit=_show_in(fs), max_bytes=fs.opts.cache_size
            )
            _GUARDS[fs] = guard
        return guard


def shared_guards(fs: Filesystem) -> list[UploadGuard]:
    """The guards of the shared accounts a Filesystem wrote to (none before the first)."""
    opts = getattr(fs, "opts", None)
    if opts is None:
        return []
    shared = Path(opts.cache_dir) / SHARED_DIR
    with _GUARDS_LOCK:
        return [g for g in _GUARDS.values() if shared in g.journal.directory.parents]


def _show_in(fs: Filesystem) -> Callable[[str, ObjectInfo], None]:
    """Make a replayed upload visible in the mount at once (stat cache, virtual layers)."""

    def shown(path: str, info: ObjectInfo) -> None:
        from pithosfs.fs import nodes

        fs.stats.put(path, nodes.node_from_object(info))
        fs.layers.after_commit(path, info)

    return shown
