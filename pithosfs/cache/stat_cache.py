"""Stat and listing cache: one listing answers every getattr of its entries.

`ls -l` makes one readdir and then one getattr per entry; the kernel asks for
each, so the getattr answers must come from what the listing brought (a HEAD
per entry is what made rclone take 45 minutes on Swift). This cache keeps,
per mount path:

* an attribute entry (any value with a `version: int`), filled by listings,
  lookups and the filesystem's own writes;
* a negative entry for names known to be missing;
* the child names of a listed directory, so a name absent from a fresh
  listing is known missing without a request.

Rules: entries live `attr_ttl`/`dir_ttl` seconds (foreign changes show after
that); the filesystem's own writes replace entries at once; a value never
replaces a cached one with a higher version (a listing that started before
our write must not bring the old version back); a listing does not erase
names written after it started. Memory is bounded: least recently used
entries go first once there are `max_entries` (paths) or `max_dirs`
(listings), and entries and listings expired for longer than their TTL are
dropped as new ones arrive, so a mount that keeps creating new names (a build,
a log rotation, a soak) holds only the last few seconds' worth, not
`max_entries` of long-dead paths (that was 36 -> 150 MB of RSS in 5 minutes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=Versioned)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()  # what `get` returns for a name known not to exist


class _Entry(Generic[V]):
    """One cached path. A plain slotted class: listings create one per entry."""

    __slots__ = ("value", "expires", "stamp")

    def __init__(self, value: V | None, expires: float, stamp: float) -> None:
        self.value = value  # None = negative entry
        self.expires = expires
        self.stamp = stamp  # when it was written (to protect own writes from older listings)


@dataclass
class _Listing:
    names: set[str]
    expires: float


# Own writes are remembered per directory for listings still in flight: a note older
# than every listing in flight can never be consulted, and goes when notes are swept
# (every SWEEP_NOTES notes, or when a directory has RECENT_PER_DIR); a listing made
# without begin_listing() is covered for RECENT_HORIZON seconds.
RECENT_PER_DIR = 10_000
RECENT_HORIZON = 300.0
SWEEP_NOTES = 4096
SIZES_PER_DIR_BOUND = 10  # listing sizes remembered per listing kept: a path and an int each


def _join(directory: str, name: str) -> str:
    return directory.rstrip("/") + "/" + name


def _split(path: str) -> tuple[str, str]:
    parent, _, name = path.rstrip("/").rpartition("/")
    return parent or "/", name


class StatCache(Generic[V]):
    """Thread-safe TTL cache of attributes, negative entries and directory listings."""

    def __init__(
        self,
        attr_ttl: float = 5.0,
        dir_ttl: float = 5.0,
        max_entries: int = 200_000,
        max_dirs: int = 2_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attr_ttl = attr_ttl
        self.dir_ttl = dir_ttl
        self.max_entries = max_entries
        self.max_dirs = max_dirs
        self._clock = clock
        self._lock = threading.Lock()
        # GUARDED_BY(_lock); INVARIANT: len(_entries) <= max_entries, len(_dirs) <= max_dirs
        self._entries: OrderedDict[str, _Entry[V]] = OrderedDict()
        self._dirs: OrderedDict[str, _Listing] = OrderedDict()
        # GUARDED_BY(_lock): how many names each directory's last listing held, kept
        # after the listing itself is trimmed away (a long-expired one goes within a TTL)
        # for last_listing_size: a small directory is listed again rather than asked name
        # by name. Least recently listed first; at most SIZES_PER_DIR_BOUND * max_dirs.
        self._sizes: OrderedDict[str, int] = OrderedDict()
        # GUARDED_BY(_lock): directory -> {name: (when, present)} of recent own writes and
        # lookups, so a listing requested before them cannot undo them (see fill_dir).
        self._recent: dict[str, dict[str, tuple[float, bool]]] = {}
        self._notes = 0  # GUARDED_BY(_lock): own writes noted, to sweep _recent now and then
        # GUARDED_BY(_lock): start times of listings in flight (begin_listing/end_listing)
        self._listings: Counter[float] = Counter()
        self._untracked = False  # GUARDED_BY(_lock): a fill_dir came without begin_listing

    # -- queries -----------------------------------------------------------
    def get(self, path: str) -> V | _Missing | None:
        """The cached value, MISSING when known absent, None when unknown or expired."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(path)
            if entry is not None and entry.expires > now:
                self._entries.move_to_end(path)
                return MISSING if entry.value is None else entry.value
            parent, name = _split(path)
            listing = self._dirs.get(parent) if name else None  # the root has no parent
            if listing is not None and listing.expires > now and name not in listing.names:
                return MISSING
            return None

    def last_listing_size(self, directory: str) -> int | None:
        """How many names the directory's last listing held, fresh or expired (None:
        none is remembered)."""
        with self._lock:
            listing = self._dirs.get(directory)
            return len(listing.names) if listing is not None else self._sizes.get(directory)

    def listing(self, directory: str) -> list[str] | None:
        """Child names of a freshly listed directory, or None."""
        now = self._clock()
        with self._lock:
            listing = self._dirs.get(directory)
            if listing is None or listing.expires <= now:
                return None
            self._dirs.move_to_end(directory)
            return sorted(listing.names)

    def listed_children(self, directory: str) -> dict[str, V] | None:
        """Every child of a freshly listed directory with its value, under one lock.

        None when the listing is unknown or expired, or when any child's entry is
        gone, expired or negative (the caller lists again). What `listing` and a
        `get` per name give, without a lock and a path split per entry.
        """
        now = self._clock()
        with self._lock:
            listing = self._dirs.get(directory)
            if listing is None or listing.expires <= now:
                return None
            prefix = _join(directory, "")
            entries = self._entries
            out: dict[str, V] = {}
            for name in listing.names:
                entry = entries.get(prefix + name)
                if entry is None or entry.value is None or entry.expires <= now:
                    return None
                out[name] = entry.value
            self._dirs.move_to_end(directory)
            move_to_end = entries.move_to_end
            for name in out:
                move_to_end(prefix + name)
            return out

    def own_changes(self, directory: str, since: float) -> tuple[set[str], set[str]]:
        """Names of `directory` this mount created and removed after `since` (a listing
        requested then does not show them)."""
        with self._lock:
            created = set(self._recent_children_locked(directory, since, True))
            removed = set(self._recent_children_locked(directory, since, False))
        return created, removed

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # -- updates -----------------------------------------------------------
    def put(self, path: str, value: V) -> None:
        """Cache a fresh value (from a lookup or an own write)."""
        now = self._clock()
        with self._lock:
            self._put_locked(path, value, now)
            self._note_child_locked(path, present=True)

    def put_missing(self, path: str) -> None:
        now = self._clock()
        with self._lock:
            self._entries[path] = _Entry(None, now + self.attr_ttl, now)
            self._entries.move_to_end(path)
            self._note_child_locked(path, present=False)
            self._trim_locked()

    def forget(self, path: str) -> None:
        """Drop what is known about `path` (the next lookup asks the store)."""
        with self._lock:
            self._entries.pop(path, None)

    def forget_listing(self, path: str) -> None:
        """Drop the listing of `path` (an emptied directory); O(1), unlike forget_tree."""
        with self._lock:
            self._dirs.pop(path, None)
            self._sizes.pop(path, None)

    def forget_tree(self, path: str) -> None:
        """Drop `path`, everything below it and its listings (after a directory rename)."""
        below = path.rstrip("/") + "/"
        with self._lock:
            for key in [k for k in self._entries if k == path or k.startswith(below)]:
                del self._entries[key]
            for key in [k for k in self._dirs if k == path or k.startswith(below)]:
                del self._dirs[key]
            for key in [k for k in self._sizes if k == path or k.startswith(below)]:
                del self._sizes[key]

    def fill_dir(self, directory: str, children: Mapping[str, V], started: float) -> None:
        """Record a complete listing of `directory` that was requested at `started`.

        Names cached by own writes after `started` survive even if absent here.
        """
        now = self._clock()
        prefix = _join(directory, "")
        entries = self._entries
        expires = now + self.attr_ttl
        with self._lock:
            if started not in self._listings:
                self._untracked = True  # a caller without begin_listing: keep the horizon
            names = set(children) - set(self._recent_children_locked(directory, started, False))
            names |= set(self._recent_children_locked(directory, started, True))
            # _put_locked inlined: this runs once per entry of every listing.
            for name, value in children.items():
                path = prefix + name
                old = entries.get(path)
                if old is not None:
                    if old.value is None:
                        if old.stamp > started:
                            continue  # deleted by us after the listing was requested
                    elif old.value.version > value.version or (
                        old.value.version == 0 and old.stamp > started
                    ):
                        # Never go back to an older version; an own change whose version
                        # the server did not name (0) is newer than a listing begun before.
                        value = old.value
                    entries.move_to_end(path)
                entries[path] = _Entry(value, expires, now)  # a new key goes last already
            self._trim_locked()
            self._dirs[directory] = _Listing(names, now + self.dir_ttl)
            # Own writes older than this listing's start are in it (or superseded by it).
            self._prune_recent_locked(directory, started)
            self._dirs.move_to_end(directory)
            self._trim_dirs_locked()
            self._sizes[directory] = len(names)
            self._sizes.move_to_end(directory)
            while len(self._sizes) > SIZES_PER_DIR_BOUND * self.max_dirs:
                self._sizes.popitem(last=False)

    def now(self) -> float:
        """The cache's clock, for the `started` argument of fill_dir."""
        return self._clock()

    def begin_listing(self) -> float:
        """A listing is requested: its start (for fill_dir); end_listing(start) after it."""
        started = self._clock()
        with self._lock:
            self._listings[started] += 1
        return started

    def end_listing(self, started: float) -> None:
        with self._lock:
            self._listings[started] -= 1
            if self._listings[started] <= 0:
                del self._listings[started]

    # -- helpers (call with _lock held) ------------------------------------
    def _put_locked(
        self, path: str, value: V, now: float, from_listing_at: float | None = None
    ) -> None:
        old = self._entries.get(path)
        if old is not None and old.value is not None and old.value.version > value.version:
            value = old.value  # never go back to an older version
        elif (
            old is not None
            and old.value is None
            and from_listing_at is not None
            and old.stamp > from_listing_at
        ):
            return  # deleted by us after the listing was requested
        self._entries[path] = _Entry(value, now + self.attr_ttl, now)
        self._entries.move_to_end(path)
        self._trim_locked()

    def _note_child_locked(self, path: str, present: bool) -> None:
        parent, name = _split(path)
        if not name:
            return
        recent = self._recent.setdefault(parent, {})
        recent[name] = (self._clock(), present)
        if len(recent) > RECENT_PER_DIR:
            self._prune_recent_locked(parent, self._needed_since_locked())
        self._notes += 1
        if self._notes % SWEEP_NOTES == 0:  # and the directories never listed again
            before = self._needed_since_locked()
            for directory in list(self._recent):
                self._prune_recent_locked(directory, before)
        listing = self._dirs.get(parent)
        if listing is None:
            return
        if present:
            listing.names.add(name)
        else:
            listing.names.discard(name)

    def _needed_since_locked(self) -> float:
        """Notes at or before this time are of no use to any listing in flight."""
        now = self._clock()
        if self._untracked:
            return now - RECENT_HORIZON
        return min(self._listings, default=now)

    def _recent_children_locked(
        self, directory: str, started: float, present: bool
    ) -> Iterable[str]:
        """Children created (present=True) or deleted (False) by own writes after `started`."""
        for name, (stamp, was_present) in self._recent.get(directory, {}).items():
            if stamp > started and was_present == present:
                yield name

    def _prune_recent_locked(self, directory: str, before: float) -> None:
        recent = self._recent.get(directory)
        if recent is None:
            return
        for name in [n for n, (stamp, _) in recent.items() if stamp <= before]:
            del recent[name]
        if not recent:
            del self._recent[directory]

    def _trim_locked(self) -> None:
        # A TTL of grace keeps what a listing still in flight may be checked against
        # (fill_dir's version rule).
        _trim(self._entries, self.max_entries, self._clock() - self.attr_ttl)

    def _trim_dirs_locked(self) -> None:
        _trim(self._dirs, self.max_dirs, self._clock() - self.dir_ttl)


def _trim(items: OrderedDict[str, Any], bound: int, cutoff: float) -> None:
    """Keep at most `bound` items, and none that expired before `cutoff`.

    Least recently used first, and an expired item is never moved to the end: the
    front is where the long-expired ones gather, so this stops at the first live one.
    """
    while len(items) > bound:
        items.popitem(last=False)
    while items and next(iter(items.values())).expires <= cutoff:
        items.popitem(last=False)
