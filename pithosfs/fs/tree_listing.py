"""Small containers listed whole: one request answers every directory in them.

Why: a walk (`grep -r`, `find`, `du`, `cp -r`, `rsync`) lists each directory
it enters, one round trip each, and looks names up before that. A container
of at most `WHOLE_MAX` objects (its count is known from the container HEAD
every lookup of it makes) is listed once without a delimiter instead (a page
of that many entries), and each directory's listing is cut out of that
snapshot as a delimiter listing would have given it, for the directory
timeout. The snapshot holds the listing's items as they came: their
metadata is completed (meta_store.py) only for the directories asked for, so
a server without the listing-meta extension is asked only about those.

A snapshot is complete as of when it was requested: own changes made after
that survive it as they survive any listing (stat_cache.fill_dir). Directory
renames drop it (the names below moved). When the count was stale and the
page comes back full, the container is listed per directory from then on.
Names a delimiter listing treats specially (an empty component: `a//b`, `a/`)
make the container be listed per directory too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pithosfs.client.types import ObjectInfo, Subdir

WHOLE_MAX = 1000  # objects: at most this many, a container is listed whole
KEPT = 64  # containers whose snapshot is kept at once

Item = ObjectInfo | Subdir


@dataclass
class Snapshot:
    started: float  # when its listing was requested (the stat cache's clock)
    expires: float
    dirs: dict[str, list[Item]]  # key prefix ("" or "a/b/") -> its delimiter listing
    passed: set[str] = field(default_factory=set)  # prefixes it no longer answers for


def split_tree(items: Iterable[Item]) -> dict[str, list[Item]] | None:
    """The delimiter listing of every directory, from a listing without delimiter.

    None when a name has an empty component (a delimiter listing shows those in
    ways not worth imitating here). Directories with a marker but nothing below
    are present, empty.
    """
    dirs: dict[str, list[Item]] = {"": []}
    seen_subdirs: set[str] = set()
    for item in items:
        if not isinstance(item, ObjectInfo):
            return None  # asked without a delimiter: none should come
        parts = item.name.split("/")
        if not all(parts):
            return None
        prefix = ""
        for part in parts[:-1]:
            sub = prefix + part
            if sub not in seen_subdirs:
                seen_subdirs.add(sub)
                dirs.setdefault(prefix, []).append(Subdir(sub))
            prefix = sub + "/"
        dirs.setdefault(prefix, []).append(item)
        if item.is_directory:
            dirs.setdefault(item.name + "/", [])
    return dirs


class TreeListings:
    """Whole-container snapshots, per container, for the directory timeout."""

    def __init__(
        self,
        list_whole: Callable[[str, int], list[Item]],
        clock: Callable[[], float],
        ttl: float,
        whole_max: int = WHOLE_MAX,
    ) -> None:
        """`list_whole(container, limit)`: the container's items without a delimiter,
        at most `limit` (metadata not completed)."""
        self._list_whole = list_whole
        self._clock = clock
        self._ttl = ttl
        self.whole_max = whole_max
        self._lock = threading.Lock()
        self._snapshots: dict[str, Snapshot] = {}  # GUARDED_BY(_lock)
        self._too_big: set[str] = set()  # GUARDED_BY(_lock): listed per directory

    def directory(
        self, container: str, prefix: str, count: int | None = None
    ) -> tuple[float, list[Item]] | None:
        """(when requested, items) of the directory `prefix` from a fresh snapshot; with
        the container's object `count`, one is taken now if it has none and is small.
        None: list it per directory."""
        now = self._clock()
        with self._lock:
            snap = self._snapshots.get(container)
            if snap is not None and snap.expires <= now:
                snap = None
            if snap is None and (count is None or count > self.whole_max):
                return None
            if snap is None and container in self._too_big:
                return None
        if snap is None:
            snap = self._take(container)
            if snap is None:
                return None
        if prefix in snap.passed:
            return None
        return snap.started, list(snap.dirs.get(prefix, ()))

    def passed(self, container: str, prefix: str) -> None:
        """The directory `prefix` was listed anew or changed here since the snapshot was
        asked for: from now on it is listed on its own until the snapshot expires."""
        with self._lock:
            snap = self._snapshots.get(container)
            if snap is not None:
                snap.passed.add(prefix)

    def _take(self, container: str) -> Snapshot | None:
        started = self._clock()
        items = self._list_whole(container, self.whole_max + 1)
        dirs = split_tree(items) if len(items) <= self.whole_max else None
        with self._lock:
            if dirs is None:
                self._too_big.add(container)
                return None
            # Counted from the request, not the answer: an own change made after the
            # request outlives its stat cache entry only if the snapshot is gone by then.
            snap = Snapshot(started, started + self._ttl, dirs)
            self._snapshots[container] = snap
            while len(self._snapshots) > KEPT:
                del self._snapshots[next(iter(self._snapshots))]
        return snap

    def forget(self, container: str) -> None:
        """Drop the container's snapshot (a directory moved in it, or it was removed)."""
        with self._lock:
            self._snapshots.pop(container, None)
            self._too_big.discard(container)
