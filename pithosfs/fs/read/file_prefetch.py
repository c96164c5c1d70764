"""Read-ahead across files: the next small files of a directory walk, fetched in parallel.

Why: `grep -r`, `tar c`, `cp -r` and `rsync` read a directory's files one after
another, and each small file is one GET: one round trip per file, in series.
When a file is opened for reading right after the one before it in its
directory's listing order (directories, links and other entries in between
are skipped: a walker descends into them and comes back), the next small
files are fetched in parallel, before they are opened. Two orders are
followed: by name (readdir's; `grep -r`, `tar c`, `rsync`) and by inode
number (GNU `cp -r` sorts each directory so, to read faster on disks). The window doubles with
each file that keeps the pattern (2, 4, 8, ... `max_files`), and everything
held ahead is bounded across the mount (`max_files` files, `max_bytes` bytes,
files of at most `max_file` bytes: larger ones have their own read-ahead,
reader.py). An open that breaks the pattern drops what was fetched ahead in
that directory (requests not yet sent are cancelled). Nothing is fetched that
the listing does not show, and nothing twice: the open of a file fetched
ahead takes over its reader, its GET in flight or done. A walk that goes on into
the next directory (its first file opened within `MOMENTUM` seconds of a file
opened in order elsewhere) keeps its window there from the first file on.

Only the order comes from the mount's own cached listing (no request here);
a directory whose listing has expired is not read ahead.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pithosfs.client.types import ObjectInfo
from pithosfs.fs import paths
from pithosfs.fs.nodes import Node, NodeKind
from pithosfs.fs.paths import Location
from pithosfs.fs.read.reader import ObjectReader

MAX_FILES = 16  # files fetched ahead and not yet opened, across the mount
MAX_BYTES = 8 * 1024 * 1024  # their bytes
MAX_FILE = 1024 * 1024  # larger files are not fetched ahead
MAX_DIRS = 64  # directories whose walk is followed at once
SCAN = 64  # entries looked at past the last one fetched, per open
MOMENTUM = 2.0  # seconds a walk's window carries over into the next directory
BY_NAME, BY_INODE = "name", "inode"
ORDERS = (BY_NAME, BY_INODE)  # the orders walkers read a directory in


@dataclass
class _Walk:
    """A directory being read file after file."""

    names: list[str]  # the listing, in the order followed
    nodes: Mapping[str, Node]
    position: dict[str, int]
    expires: float
    last: int = -1  # index of the last file opened
    streak: int = 0  # opens in a row that kept the order
    scanned: int = 0  # entries before this index were considered for fetching
    ahead: dict[str, tuple[ObjectReader, int]] = field(default_factory=dict)


class FilePrefetch:
    def __init__(
        self,
        listed: Callable[[str], Mapping[str, Node] | None],
        make_reader: Callable[[Location, ObjectInfo], ObjectReader],
        ttl: float,
        max_files: int = MAX_FILES,
        max_bytes: int = MAX_BYTES,
        max_file: int = MAX_FILE,
    ) -> None:
        """`listed(dir_path)`: the fresh cached listing of a directory, or None.
        `make_reader(loc, info)`: a reader of that version (not fetching yet)."""
        self._listed = listed
        self._make_reader = make_reader
        self._ttl = ttl
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.max_file = max_file
        self._lock = threading.Lock()
        # (directory, order) -> walk, for each of ORDERS. GUARDED_BY(_lock)
        self._walks: OrderedDict[tuple[str, str], _Walk] = OrderedDict()
        self._held_files = 0  # GUARDED_BY(_lock): across all walks
        self._held_bytes = 0  # GUARDED_BY(_lock)
        # order -> (when, streak) of the last open that kept it. GUARDED_BY(_lock)
        self._momentum: dict[str, tuple[float, int]] = {}
        self.fetched_ahead = 0  # statistics: files fetched ahead
        self.taken = 0  # of them, opened and used

    # -- the open side ---------------------------------------------------------------
    def take(self, loc: Location, info: ObjectInfo) -> ObjectReader | None:
        """The reader fetching `info` ahead, handed over to its open (None if there is none)."""
        with self._lock:
            held = None
            for order in ORDERS:
                walk = self._walks.get((loc.parent.path, order))
                held = held or (walk.ahead.pop(loc.name, None) if walk is not None else None)
            if held is None:
                return None
            self._release_locked(held[1])
        reader = held[0]
        if not info.version or (reader.info.version, reader.info.hash) != (info.version, info.hash):
            reader.close()  # changed since it was listed (or not known: a moved file)
            return None
        self.taken += 1
        return reader

    def opened(self, loc: Location) -> None:
        """A file was opened for reading: follow the directory's walks, fetch ahead."""
        directory = loc.parent.path
        dropped: list[ObjectReader] = []
        started: list[ObjectReader] = []
        now = time.monotonic()
        with self._lock:
            kept: list[tuple[int, _Walk, int]] = []  # (streak, walk, index) of each order
            for order in ORDERS:
                walk = self._walk_locked(directory, order)
                index = walk.position.get(loc.name) if walk is not None else None
                if walk is None or index is None:
                    break
                dropped += self._follow_locked(walk, order, loc.name, index, now)
                if walk.streak >= 1:
                    kept.append((walk.streak, walk, index))
            # Fetched along the order kept longest; two kept as long are ambiguous (a
            # few files in a row by chance in both orders): nothing until one leads.
            kept.sort(key=lambda k: -k[0])
            if kept and (len(kept) == 1 or kept[0][0] > kept[1][0]):
                started = self._fetch_ahead_locked(directory, kept[0][1], kept[0][2])
        for reader in dropped:
            reader.close()
        for reader in started:
            reader.fetch_whole()

    def _follow_locked(
        self, walk: _Walk, order: str, name: str, index: int, now: float
    ) -> list[ObjectReader]:
        """Note the open of `name` (at `index`) in `walk`; returns readers to drop."""
        dropped = []
        if self._in_order_locked(walk, index):
            walk.streak += 1
        elif self._walk_goes_on_locked(walk, order, index, now):
            walk.streak = self._momentum[order][1]
        else:  # the pattern broke: what was fetched ahead here is not wanted
            walk.streak = 0
            walk.scanned = index + 1
            dropped = self._drop_ahead_locked(walk, lambda other: other != name)
        walk.last = index
        if walk.streak:
            self._momentum[order] = (now, walk.streak)
        # Files passed over (the walker skipped them) will not be opened now; this
        # one's reader waits for its open to take it.
        # (A name the renewed listing no longer shows is dropped too.)
        dropped += self._drop_ahead_locked(
            walk, lambda other: walk.position.get(other, -1) < index
        )
        return dropped

    def in_flight(self) -> int:
        """Files fetched ahead whose GET has not finished (for the status file)."""
        with self._lock:
            return sum(
                1 for w in self._walks.values() for r, _ in w.ahead.values() if not r.fetched()
            )

    def close(self) -> None:
        with self._lock:
            readers = [r for w in self._walks.values() for r, _ in w.ahead.values()]
            self._walks.clear()
            self._held_files = self._held_bytes = 0
        for reader in readers:
            reader.close()

    # -- helpers (call with _lock held) ------------------------------------------------
    def _walk_locked(self, directory: str, order: str) -> _Walk | None:
        now = time.monotonic()
        self._drop_stale_locked(now)
        key = (directory, order)
        walk = self._walks.get(key)
        if walk is not None and walk.expires > now:
            self._walks.move_to_end(key)
            return walk
        listing = self._listed(directory)
        if listing is None:
            return None
        names = sorted(listing)  # readdir's order (core.readdir sorts)
        if order == BY_INODE:
            names.sort(key=lambda n: listing[n].ino)
        fresh = _Walk(names, listing, {n: i for i, n in enumerate(names)}, now + self._ttl)
        if walk is not None:  # the listing was renewed: the walk goes on in it
            last = walk.names[walk.last] if 0 <= walk.last < len(walk.names) else None
            fresh.last = fresh.position.get(last, -1) if last is not None else -1
            fresh.streak = walk.streak if fresh.last >= 0 else 0
            fresh.scanned = fresh.last + 1
            fresh.ahead = walk.ahead
        self._walks[key] = fresh
        self._walks.move_to_end(key)
        while len(self._walks) > MAX_DIRS * len(ORDERS):
            _, old = self._walks.popitem(last=False)
            for reader, size in old.ahead.values():
                self._release_locked(size)
                reader.close()
        return fresh

    def _drop_stale_locked(self, now: float) -> None:
        """Walks left alone for a listing timeout give back what they hold (a walker that
        stopped early, `grep -l`, must not keep its files fetched ahead forever)."""
        while self._walks:
            directory, oldest = next(iter(self._walks.items()))
            if oldest.expires + self._ttl > now:
                return
            del self._walks[directory]
            for reader, size in oldest.ahead.values():
                self._release_locked(size)
                reader.close()

    def _in_order_locked(self, walk: _Walk, index: int) -> bool:
        """Whether `index` is the next file after the last one opened (other kinds skipped)."""
        if walk.last < 0 or index <= walk.last:
            return False
        between = walk.names[walk.last + 1 : index]
        return all(walk.nodes[name].kind is not NodeKind.FILE for name in between)

    def _walk_goes_on_locked(self, walk: _Walk, order: str, index: int, now: float) -> bool:
        """The first file of a directory opened just after another walk kept its order."""
        when, streak = self._momentum.get(order, (0.0, 0))
        if walk.last >= 0 or not streak or now - when > MOMENTUM:
            return False
        return all(walk.nodes[name].kind is not NodeKind.FILE for name in walk.names[:index])

    def _fetch_ahead_locked(self, directory: str, walk: _Walk, index: int) -> list[ObjectReader]:
        window = min(self.max_files, 2**walk.streak)
        started = []
        pos = max(index + 1, walk.scanned)
        stop = min(len(walk.names), pos + SCAN)
        while pos < stop and len(walk.ahead) < window:
            name = walk.names[pos]
            node = walk.nodes[name]
            info = node.info
            wanted = (
                node.kind is NodeKind.FILE
                and info is not None
                and info.version > 0  # 0: a version not known (see take)
                and 0 < info.size <= self.max_file
                and name not in walk.ahead
            )
            if wanted:
                assert info is not None
                if (
                    self._held_files + 1 > self.max_files
                    or self._held_bytes + info.size > self.max_bytes
                ):
                    break  # held ahead across the mount: full for now
                reader = self._make_reader(paths.parse(directory.rstrip("/") + "/" + name), info)
                walk.ahead[name] = (reader, info.size)
                self._held_files += 1
                self._held_bytes += info.size
                self.fetched_ahead += 1
                started.append(reader)
            pos += 1
        walk.scanned = pos
        return started

    def _drop_ahead_locked(self, walk: _Walk, which: Callable[[str], bool]) -> list[ObjectReader]:
        dropped = []
        for name in [n for n in walk.ahead if which(n)]:
            reader, size = walk.ahead.pop(name)
            self._release_locked(size)
            dropped.append(reader)
        return dropped

    def _release_locked(self, size: int) -> None:
        self._held_files -= 1
        self._held_bytes -= size
