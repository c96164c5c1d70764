"""Open files: the handle table, reads, and the write path's StagedFile per path.

All handles to one path share one `OpenFile`, so two processes writing the
same file through this mount see one staged copy and commit once.

Reads of a file that nobody writes go to an `ObjectReader` of the version
that was opened. The first write (or O_TRUNC, or truncate) creates the
path's `StagedFile` (fs/writeback/staged_file.py); from then on reads and writes go to it.
flush (every close), fsync and the last release commit it: one conditional
hashmap PUT on the version the file was opened at, so a concurrent change
elsewhere fails with ESTALE instead of being overwritten. Errors of the
commit surface from close() through flush, after the data is made safe:
a transient failure is journalled before close() returns, a permanent one
is the writer's errno and nothing is kept (commit_failures.py, durability.py).

One version per save: a flush of a handle that wrote nothing, by a process
that still holds the file through another descriptor, commits nothing. That
is bash's `>`: it opens (truncating), dups the descriptor and closes the
original before the command writes; committing there stored an empty
version nobody wrote. The commit comes with the flush after the write, or at
release. Any other flush commits, so after the last close() returns other
clients see the content (close-to-open), also for `: > f` and `touch f`.

Locking: `FileTable._lock` guards `_by_fh`, `_by_path`, `_next_fh` and each
OpenFile's `refs`, `closing`, `writers` and `wrote`; `OpenFile.lock` guards the rest of that
OpenFile and is held across its commit (one file's writes wait for its
upload; other files do not). Never take FileTable._lock while holding an
OpenFile.lock.

Last close: the entry stays in `_by_path`, marked `closing`, until its commit
ends, so stat shows the file as written and an open of the same path waits
for the commit and then starts from the version it made. (Taking the entry
out first let an opener race the commit: two staged copies of one path, the
later one based on the version before the commit, so ESTALE or, worse, a
closed file's write overwritten.) A handle is counted in the same critical
section that finds the entry, so a last release cannot drop an entry that an
open is about to use.
"""

from __future__ import annotations

import errno
import logging
import mimetypes
import os
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pithosfs import protocol
from pithosfs.client.errors import MissingBlocks, NotFound, PithosError
from pithosfs.client.types import ObjectInfo
from pithosfs.fs import callers, limits, nodes, paths
from pithosfs.fs.errors import (
    BadHandle,
    Exists,
    FileTooBig,
    IsADirectory,
    NoEntry,
    NotPermitted,
)
from pithosfs.fs.nodes import Node, NodeKind
from pithosfs.fs.paths import Kind, Location
from pithosfs.fs.read.reader import ObjectReader
from pithosfs.fs.writeback.commit_failures import Verdict, can_reauthenticate, classify

if TYPE_CHECKING:
    from pithosfs.fs.core import Filesystem
    from pithosfs.fs.writeback.staged_file import StagedFile

log = logging.getLogger(__name__)

JUST_COMMITTED = 2.0  # seconds after its commit a file's attribute changes are held
RECENT_COMMITS = 4096  # commits remembered for that


@dataclass
class OpenFile:
    loc: Location
    base: ObjectInfo | None  # the version opened (None: a new file, not yet on the server)
    meta: dict[str, str]  # the full user metadata to write at commit
    content_type: str
    refs: int = 0  # GUARDED_BY(FileTable._lock)
    staged: StagedFile | None = None  # once written
    reader: ObjectReader | None = None  # GUARDED_BY(reader_lock), as is reader_base
    reader_base: ObjectInfo | None = None  # the version the reader reads
    reader_lock: threading.Lock = field(default_factory=threading.Lock)
    unlinked: bool = False  # removed while open: nothing is committed
    # Set when the last close's commit ends. GUARDED_BY(FileTable._lock)
    closing: threading.Event | None = None
    # Handles open for writing, and those that wrote or truncated. GUARDED_BY(FileTable._lock)
    writers: set[int] = field(default_factory=set)
    wrote: set[int] = field(default_factory=set)
    mtime_ns: int = field(default_factory=time.time_ns)
    ctime_ns: int = 0  # the last status change when not the mtime's (chmod, chown, utimens)
    max_size: int = 1 << 62  # the largest file its container takes (limits), once staged
    lock: threading.RLock = field(default_factory=threading.RLock)
    # Durability (durability.py), all GUARDED_BY(lock): `changes` counts writes, truncates
    # and metadata changes; `parked` is the journal entry a failed close made, with the
    # `changes` it holds; `refused_at` the `changes` a permanent refusal was reported at.
    changes: int = 0
    parked: Any = None
    parked_at: int = -1
    refused_at: int = -1
    refused_why: str = ""  # that refusal's errno name and reason, for the closes after it
    # A refusal no later write can change (no right to write, container gone): later
    # writes through this open file fail with it at once (bash's `echo x > f` hears of it
    # at its write, as its close of the dup'd descriptor is never checked).
    refusal: int = 0

    def __post_init__(self) -> None:
        self.reader_base = self.base

    @property
    def dirty(self) -> bool:
        return self.base is None or (self.staged is not None and self.staged.dirty)

    @property
    def stored_mode(self) -> int | None:
        return nodes.parse_mode(self.meta.get(nodes.MODE_KEY, ""))

    @property
    def mode(self) -> int:
        mode = self.stored_mode
        return nodes.DEFAULT_FILE_MODE if mode is None else mode  # 0 is a mode

    def changed(self) -> None:
        """The content changed now: mtime and ctime move together."""
        self.mtime_ns = time.time_ns()
        self.ctime_ns = 0
        self.changes += 1

    def commit_meta(self) -> dict[str, str]:
        """The user metadata its next version carries, times included."""
        meta = {k: v for k, v in self.meta.items() if v}  # "" marks a key removed meanwhile
        meta[nodes.MTIME_KEY] = nodes.format_mtime(self.mtime_ns)
        if self.ctime_ns and self.ctime_ns != self.mtime_ns:
            meta[nodes.CTIME_KEY] = nodes.format_mtime(self.ctime_ns)
        else:
            meta.pop(nodes.CTIME_KEY, None)
        return meta

    def node(self) -> Node:
        size = self.staged.size if self.staged is not None else (self.base.size if self.base else 0)
        uuid = self.base.uuid if self.base else ""
        # As node_from_object numbers a version whose UUID is not known yet (a new
        # file committed against a server that does not say it): the same until it is.
        ino = nodes.inode_of("uuid:" + uuid if uuid else "name:" + self.loc.key)
        uid, gid, _, atime = nodes.owner_and_times(self.meta)
        stored = self.stored_mode
        return Node(
            NodeKind.FILE, size, self.mtime_ns, nodes.DEFAULT_FILE_MODE if stored is None else stored,
            ino, self.base, uid, gid, self.ctime_ns, atime, stored is not None,
        )  # fmt: skip


class FileTable:
    def __init__(self, fs: Filesystem) -> None:
        self.fs = fs
        self.staging_dir = fs.opts.cache_dir / "staging"
        self.staging_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._by_fh: dict[int, OpenFile] = {}  # GUARDED_BY(_lock)
        self._by_path: dict[str, OpenFile] = {}  # GUARDED_BY(_lock)
        self._next_fh = 1  # GUARDED_BY(_lock)
        # path -> when this mount last committed it (meta_behind holds the attribute
        # changes tools make right after). GUARDED_BY(_lock)
        self._committed: OrderedDict[str, float] = OrderedDict()

    # -- open / create / release ----------------------------------------------
    def open(self, path: str, flags: int) -> int:
        writing = (flags & os.O_ACCMODE) != os.O_RDONLY or bool(flags & os.O_TRUNC)
        loc = paths.parse_for_write(path) if writing else paths.parse(path)
        if writing:  # its commit replaces the metadata: what waits must be there first
            self.fs.meta_behind.flush(loc.path)
        entry, fh = self._open_entry(loc, writing)
        try:
            if writing:
                self._prepare_for_write(entry)
                if flags & os.O_TRUNC:
                    self.truncate_entry(entry, 0)
            elif entry.base is not None and entry.staged is None:
                self.fs.prefetch.opened(loc)  # a walk through a directory: read ahead
        except BaseException:
            self.release(fh)
            raise
        return fh

    def create(self, path: str, mode: int, flags: int) -> int:
        loc = paths.parse_for_write(path)
        if loc.kind is not Kind.ENTRY:
            raise NotPermitted("files live inside containers", loc.path)
        if self.fs.exists(loc.path) is not None:
            if flags & os.O_EXCL:
                raise Exists("already exists", loc.path)
            return self.open(path, flags & ~os.O_CREAT)  # lost a race with another creator
        parent = self.fs._require_dir(loc.parent)
        owner, mode = self.fs.owner_meta(parent, mode & 0o7777, is_dir=False)
        entry = OpenFile(loc, None, {**owner, nodes.MODE_KEY: f"{mode:o}"}, guess_type(loc.name))
        with entry.lock:
            self._staged(entry)
        with self._lock:
            self._by_path[loc.path] = entry  # replaces an unlinked-but-open predecessor
            fh = self._pin(entry, writing=True)
        self.fs.dir_changed(loc.parent)
        return fh

    def release(self, fh: int) -> None:
        with self._lock:
            entry = self._by_fh.pop(fh, None)
            if entry is None:
                raise BadHandle("unknown file handle")
            entry.writers.discard(fh)
            entry.wrote.discard(fh)
            entry.refs -= 1
            if entry.refs > 0:
                return
            entry.closing = closing = threading.Event()  # openers of this path wait for it
        try:
            # The close() that mattered already reported a failure via flush; here the
            # data is made safe: committed, else journalled (durability.py), never dropped.
            droppable = _commit_or_keep(self, entry, "release")
        finally:
            with self._lock:  # by identity: a concurrent rename may have re-keyed it
                for path in [p for p, e in self._by_path.items() if e is entry]:
                    del self._by_path[path]
            closing.set()
        if droppable:
            self._drop(entry)

    def close_all(self) -> None:
        with self._lock:
            entries = list({id(e): e for e in self._by_fh.values()}.values())
            self._by_fh.clear()
            self._by_path.clear()
        for entry in entries:
            if _commit_or_keep(self, entry, "unmount"):
                self._drop(entry)

    # -- data ------------------------------------------------------------------
    def read(self, fh: int, offset: int, size: int) -> bytes | memoryview:
        entry = self.get(fh)
        with entry.lock:
            if entry.staged is not None:
                return bytes(entry.staged.read(offset, size))
            if entry.base is None:
                return b""
            reader = self._reader(entry)
        return reader.read(offset, size)

    def write(self, fh: int, offset: int, data: bytes | memoryview) -> int:
        entry = self._writing(fh)
        with entry.lock:
            _check_refusal(entry)
            staged = self._staged(entry)
            if offset + len(data) > entry.max_size:
                raise FileTooBig("past the largest file", entry.loc.path)
            written = staged.write(offset, data)
            entry.changed()
            self._clear_setid(entry)
        return int(written)

    def _writing(self, fh: int) -> OpenFile:
        """The handle's open file, noted as written through (its flush commits: see flush)."""
        with self._lock:
            entry = self._by_fh.get(fh)
            if entry is None:
                raise BadHandle("unknown file handle")
            entry.wrote.add(fh)
        return entry

    def _clear_setid(self, entry: OpenFile) -> None:
        """After a write: set-ID bits go as the kernel would have them go (callers.py).

        Call with entry.lock held. The change is part of the file's next commit.
        """
        mode = entry.mode
        if not mode & (stat.S_ISUID | stat.S_ISGID):
            return
        gid = nodes.parse_id(entry.meta.get(nodes.GID_KEY))
        gid = self.fs.opts.gid if gid < 0 else gid
        kill = callers.setid_bits_to_clear(mode, gid, self.fs.caller())
        if kill:
            entry.meta[nodes.MODE_KEY] = f"{mode & ~kill:o}"

    def truncate(self, path: str, length: int, fh: int | None) -> None:
        if fh is not None:
            self.truncate_entry(self._writing(fh), length)
            return
        writing = self._open_for_writing(path)
        if writing is not None:
            # ftruncate arrives by path (the binding drops the handle): the file's
            # writers commit it, at their flush or release; a commit here would store
            # a version nobody meant (vim truncates, then writes, then saves).
            self.truncate_entry(writing, length)
            return
        fh = self.open(path, os.O_WRONLY)
        try:
            self.truncate_entry(self._writing(fh), length)
            self.flush(fh)
        finally:
            self.release(fh)

    def _open_for_writing(self, path: str) -> OpenFile | None:
        """The path's open file if a handle has it open for writing (and no last close runs)."""
        with self._lock:
            entry = self._by_path.get(paths.parse(path).path)
            if entry is None or entry.closing is not None or not entry.writers:
                return None
            return entry

    def truncate_entry(self, entry: OpenFile, length: int) -> None:
        with entry.lock:
            _check_refusal(entry)
            self._staged(entry).truncate(length)
            entry.changed()

    def allocate(self, fh: int, end: int, keep_size: bool) -> None:
        """fallocate: the file grows to `end` (unless keep_size); EFBIG past the largest file."""
        entry = self._writing(fh)
        with entry.lock:
            staged = self._staged(entry)
            if end > entry.max_size:
                raise FileTooBig("past the largest file", entry.loc.path)
            if not keep_size and end > staged.size:
                self.truncate_entry(entry, end)

    def flush(self, fh: int, pid: int | None = None) -> None:
        """close() of a handle (by process `pid`), or fsync (no pid): commit if needed.

        A handle that wrote nothing, closed by a process still holding the file
        through another descriptor, commits nothing (see the module docstring).
        On failure the data is made safe before the error (durability.py).
        """
        entry = self.get(fh)
        if pid is not None and self._defer_flush(entry, fh, pid):
            return
        with entry.lock:
            if entry.refused_at == entry.changes and not entry.unlinked and entry.dirty:
                raise _refused(entry)  # the same content, refused for good already: not resent
        try:
            self.commit(entry)
        except Exception as exc:
            raise _after_failed_close(self, entry, exc) from exc

    def _defer_flush(self, entry: OpenFile, fh: int, pid: int) -> bool:
        with self._lock:
            if fh in entry.wrote:
                return False
        with entry.lock:
            if entry.unlinked or not entry.dirty:
                return False
            path = entry.loc.path
        mountpoint = self.fs.mountpoint
        if mountpoint is None:
            return False
        return callers.holds_open(pid, mountpoint.rstrip("/") + path)

    def commit(self, entry: OpenFile) -> None:
        """Make the file durable on the server if it changed (close, fsync, rename).

        The layers hear of the new version after the file's lock is released.
        """
        info = self._commit_locked(entry)
        if info is not None:
            self.fs.layers.after_commit(entry.loc.path, info)

    def _commit_locked(self, entry: OpenFile) -> ObjectInfo | None:
        with entry.lock:
            if entry.unlinked or not entry.dirty:
                return None
            meta = entry.commit_meta()
            info = self._staged(entry).commit(meta) if entry.staged is not None else None
            if info is None and entry.base is None:  # created, never written
                info = self.fs.store.put_object(
                    entry.loc.container, entry.loc.key, b"", entry.content_type, meta,
                    if_none_match=True,
                )  # fmt: skip
            if info is None:
                return None
            entry.base = info
            entry.meta = dict(info.meta or meta)
            self._close_reader(entry)
            self.fs.stats.put(entry.loc.path, nodes.node_from_object(info))
            self._note_committed(entry.loc.path)
            log.debug("committed %s version %s", entry.loc.path, info.version)
            if entry.parked is not None:  # a failed close's journal copy: now stale
                _guard(self).superseded(entry.parked)
                entry.parked = None
            return info

    def _note_committed(self, path: str) -> None:
        with self._lock:
            self._committed[path] = time.monotonic()
            self._committed.move_to_end(path)
            while len(self._committed) > RECENT_COMMITS:
                self._committed.popitem(last=False)

    def just_committed(self, path: str) -> bool:
        """Whether this mount committed `path` within the last JUST_COMMITTED seconds
        (rsync and `cp -p` set a file's times and mode right after closing it)."""
        with self._lock:
            when = self._committed.get(path)
        return when is not None and time.monotonic() - when < JUST_COMMITTED

    # -- server-side copies (copy_file_range) -----------------------------------
    def clean_source(self, fh: int) -> tuple[str, ObjectInfo] | None:
        """The stored version an open file reads, if it has no unsaved changes."""
        entry = self.get(fh)
        with entry.lock:
            if entry.unlinked or entry.staged is not None or entry.base is None:
                return None
            return entry.loc.container, entry.base

    def adopt(self, fh: int, container: str, source: ObjectInfo) -> bool:
        """Make the empty file `fh` hold `source`'s content by a hashmap PUT of its blocks.

        No data moves: the blocks are on the server. The PUT is conditional on the
        version the file was opened at, like any commit. False (nothing done) if the
        file is not empty, the containers' block geometry differs, or the source is gone.
        """
        entry = self.get(fh)
        with entry.lock:
            size = entry.staged.size if entry.staged is not None else (entry.base or source).size
            if entry.unlinked or size != 0 or (entry.staged is None and entry.base is not None):
                return False
            dst = entry.loc
            if self._geometry(dst.container) != self._geometry(container):
                return False
            try:
                hashmap = self.fs.store.get_hashmap(container, source.name, source.version)
            except NotFound:
                return False
            entry.changed()
            meta = entry.commit_meta()
            base = entry.base
            conditions: dict[str, Any] = (
                {"if_match": base.hash} if base is not None else {"if_none_match": True}
            )
            try:
                info = self.fs.store.put_hashmap(
                    dst.container, dst.key, hashmap.size, hashmap.hashes,
                    entry.content_type, meta, **conditions,
                )  # fmt: skip
            except MissingBlocks:
                return False
            if not info.uuid and base is not None:  # an overwrite keeps the object's UUID
                info = replace(info, uuid=base.uuid)
            if entry.staged is not None:
                entry.staged.discard()
                entry.staged = None
            entry.base = info
            entry.meta = dict(info.meta or meta)
            self._close_reader(entry)
            self.fs.stats.put(dst.path, nodes.node_from_object(info))
        self.fs.known_blocks.add_many(hashmap.hashes)
        self.fs.layers.after_commit(dst.path, info)
        return True

    def _geometry(self, container: str) -> tuple[int, str]:
        info = self.fs.container_info(container)
        return info.block_size, info.block_hash

    # -- queries from the namespace side ---------------------------------------
    def get(self, fh: int) -> OpenFile:
        with self._lock:
            entry = self._by_fh.get(fh)
        if entry is None:
            raise BadHandle("unknown file handle")
        return entry

    def node_of(self, path: str) -> Node | None:
        """The live attributes of a file open for writing here (own writes visible at once)."""
        entry = self._entry(path)
        if entry is None or entry.unlinked or (entry.staged is None and entry.base is not None):
            return None
        with entry.lock:
            return entry.node()

    def node_of_handle(self, fh: int) -> Node | None:
        with self._lock:
            entry = self._by_fh.get(fh)
        if entry is None or (entry.staged is None and entry.base is not None):
            return None
        with entry.lock:
            return entry.node()

    def committed_bytes(self, path: str, version: int, limit: int) -> bytes | None:
        """The content of version `version` of `path`, when a file still open here has
        just committed it (read from the staged copy, no request) and it is at most
        `limit` bytes; else None."""
        entry = self._entry(path)
        if entry is None:
            return None
        with entry.lock:
            staged, base = entry.staged, entry.base
            if staged is None or entry.unlinked or entry.dirty or base is None:
                return None
            if base.version != version or staged.size > limit:
                return None
            return bytes(staged.read(0, staged.size))

    def pending_children(self, directory: str) -> Iterator[tuple[str, Node]]:
        """Files created in `directory` through this mount and not yet on the server."""
        with self._lock:
            entries = list(self._by_path.values())
        for entry in entries:
            if entry.base is None and not entry.unlinked and entry.loc.parent.path == directory:
                yield entry.loc.name, entry.node()

    def pending_bytes(self) -> int:
        with self._lock:
            entries = list(self._by_path.values())
        return sum(e.staged.pending_bytes() for e in entries if e.staged is not None)

    # -- namespace changes that affect open files ------------------------------
    def unlinked(self, path: str) -> bool:
        """Mark open handles of `path` as removed; True if the object exists on the server."""
        with self._lock:
            entry = self._by_path.pop(path, None)
        if entry is None:
            return True
        with entry.lock:
            entry.unlinked = True
            if entry.parked is not None:  # removed: its journal copy must not bring it back
                _guard(self).superseded(entry.parked)
                entry.parked = None
            return entry.base is not None

    def commit_path(self, path: str) -> None:
        entry = self._entry(path)
        if entry is not None:
            self.commit(entry)

    def renamed(self, old: str, new: Location, content_type: str | None = None) -> None:
        """A file open here was moved on the server: later commits go to the new name
        (with `content_type`, if the move gave it one)."""
        with self._lock:
            entry = self._by_path.pop(old, None)
            if entry is None:
                return
            self._by_path[new.path] = entry
        with entry.lock:
            entry.loc = new
            if content_type is not None:
                entry.content_type = content_type
            if entry.staged is not None:
                entry.staged.container, entry.staged.name = new.container, new.key
                if content_type is not None:
                    entry.staged.content_type = content_type

    def commit_tree(self, directory: str) -> None:
        """Commit every open file below `directory` (before the directory is moved)."""
        below = directory.rstrip("/") + "/"
        with self._lock:
            entries = [e for p, e in self._by_path.items() if p.startswith(below)]
        for entry in entries:
            self.commit(entry)

    def renamed_tree(self, src: Location, dst: Location) -> None:
        """A directory was moved: open files below it follow (later commits use new names)."""
        below = src.path.rstrip("/") + "/"
        with self._lock:
            moved = [p for p in self._by_path if p.startswith(below)]
        for old in moved:
            rest = old[len(below) :]
            self.renamed(old, Location(Kind.ENTRY, dst.container, dst.prefix + rest))

    def update_meta(self, path: str, updates: Mapping[str, str]) -> bool:
        """Record mode/mtime for an open file; True if it has unsaved data (applied at commit)."""
        entry = self._entry(path)
        if entry is None:
            return False
        with entry.lock:
            entry.meta.update(updates)
            if nodes.MTIME_KEY in updates:
                entry.mtime_ns = nodes.parse_mtime(updates[nodes.MTIME_KEY]) or entry.mtime_ns
            if nodes.CTIME_KEY in updates:
                entry.ctime_ns = nodes.parse_mtime(updates[nodes.CTIME_KEY]) or entry.ctime_ns
            entry.changes += 1
            return entry.dirty

    def rebased(self, path: str, info: ObjectInfo | None) -> None:
        """A metadata-only change was made on the server: keep the open file's view in step."""
        entry = self._entry(path)
        if entry is None or info is None:
            return
        with entry.lock:
            # Only the metadata changed (same hash): a StagedFile's If-Match still holds.
            if entry.base is not None and not entry.dirty and entry.base.hash == info.hash:
                entry.base = info
                entry.meta = dict(info.meta or {})

    # -- helpers -----------------------------------------------------------------
    def _entry(self, path: str) -> OpenFile | None:
        with self._lock:
            return self._by_path.get(path)

    def _open_entry(self, loc: Location, writing: bool) -> tuple[OpenFile, int]:
        """The path's OpenFile with a new handle counted on it, after any last close ends."""
        fresh: OpenFile | None = None
        while True:
            with self._lock:
                entry = self._by_path.get(loc.path)
                if entry is None and fresh is not None:
                    entry = self._by_path[loc.path] = fresh
                if entry is not None and entry.closing is None:
                    return entry, self._pin(entry, writing)
                closing = entry.closing if entry is not None else None
            if closing is not None:
                closing.wait()  # the commit of the last close: then look again
                fresh = None  # the lookup below sees the version it made
                continue
            node = self.fs.lookup(loc.path)
            if node.is_dir:
                raise IsADirectory("is a directory", loc.path)
            if nodes.is_special(node):  # the kernel opens those itself; never through us
                raise NotPermitted("a special file", loc.path)
            info = node.info
            content_type = info.content_type if info else guess_type(loc.name)
            fresh = OpenFile(loc, info, dict(info.meta or {}) if info else {}, content_type)

    def _pin(self, entry: OpenFile, writing: bool = False) -> int:
        """A new handle on `entry`. Call with self._lock held."""
        fh = self._next_fh
        self._next_fh += 1
        self._by_fh[fh] = entry
        entry.refs += 1
        if writing:
            entry.writers.add(fh)
        return fh

    def _prepare_for_write(self, entry: OpenFile) -> None:
        """Writers start from the server's current version (close-to-open) with its full metadata."""
        with entry.lock:
            if entry.staged is not None or entry.base is None:
                return
            try:
                info = self.fs.head_info(entry.loc)
            except NotFound:
                raise NoEntry("removed meanwhile", entry.loc.path) from None
            if info.is_directory:
                raise IsADirectory("is a directory", entry.loc.path)
            entry.base, entry.meta = info, dict(info.meta or {})
            entry.content_type = info.content_type
            self._close_reader(entry)  # reads (and unwritten blocks) come from this version

    def _staged(self, entry: OpenFile) -> StagedFile:
        """The path's StagedFile, created on first use. Call with entry.lock held."""
        if entry.staged is None:
            from pithosfs.fs.writeback.staged_file import (
                StagedFile,  # the write path (fs/writeback/staged_file.py)
            )

            base = entry.base
            # Late binding: blocks never written are read from the opened version even
            # after later commits (they are the same at the same index in every version).
            fetch = (lambda i: self._reader(entry).block(i)) if base is not None else None
            geometry = self.fs.container_info(entry.loc.container)
            entry.max_size = limits.max_file_size(geometry.block_size)
            if not self.fs.store.supports_pithos(entry.loc.container):
                from pithosfs.fs.writeback.swift import SwiftStagedFile as StagedFile  # plain Swift
            entry.staged = StagedFile(
                self.fs.store, entry.loc.container, entry.loc.key, base, self.staging_dir,
                fetch, self.fs.upload_pool, content_type=entry.content_type,
                block_size=geometry.block_size, block_hash=geometry.block_hash,
                known_blocks=self.fs.known_blocks,
            )  # fmt: skip
        return entry.staged

    def _reader(self, entry: OpenFile) -> ObjectReader:
        """Reader of the opened version (its own lock: the write path calls back into it)."""
        with entry.reader_lock:
            if entry.reader is None:
                assert entry.reader_base is not None
                entry.reader = self.fs.prefetch.take(
                    entry.loc, entry.reader_base
                ) or self.new_reader(entry.loc, entry.reader_base, self.fs.read_pool)
            return entry.reader

    def new_reader(self, loc: Location, info: ObjectInfo, pool: Any) -> ObjectReader:
        """A reader of the version `info` of `loc`, fetching on `pool`."""
        return ObjectReader(
            self.fs.store, loc.container, info, self.fs.block_size(loc.container),
            self.fs.blocks, pool, self.fs.opts.max_readahead, self.fs.known_blocks,
            self.fs.receive_buffers, self.fs.hashmaps,
        )  # fmt: skip

    def _close_reader(self, entry: OpenFile) -> None:
        """Forget the reader when the opened version is superseded and nothing is staged."""
        with entry.reader_lock:
            if entry.staged is None:
                if entry.reader is not None:
                    entry.reader.close()
                entry.reader = None
                entry.reader_base = entry.base

    def _drop(self, entry: OpenFile) -> None:
        with entry.lock:
            if entry.staged is not None:
                entry.staged.discard()
                entry.staged = None
        with entry.reader_lock:
            if entry.reader is not None:
                entry.reader.close()
                entry.reader = None


def guess_type(name: str) -> str:
    """The content type a file called `name` gets (application/octet-stream if unknown)."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or protocol.OCTET_STREAM


# -- durability of commits that fail: see durability.py and commit_failures.py ----------
def _guard(table: FileTable) -> Any:
    from pithosfs.fs.writeback.durability import guard_of

    return guard_of(table.fs)


def _verdict(table: FileTable, exc: BaseException) -> Verdict:
    return classify(exc, can_reauthenticate(table.fs.store))


def _after_failed_close(table: FileTable, entry: OpenFile, exc: BaseException) -> BaseException:
    """What close()/fsync() raises after its commit failed, once the data is safe.

    Permanent: the writer's errno, nothing kept (an earlier close's journal copy
    is left to the retrier). Transient or conflict: the content is journalled
    now, claimed while the file stays open, and the commit's own error is
    raised; if it cannot be journalled, ENOSPC or the read error says the
    data is only in this process (release then holds it).
    """
    verdict = _verdict(table, exc)
    path = entry.loc.path
    with entry.lock:
        if entry.unlinked or not entry.dirty:
            return exc  # nothing left to save (removed, or committed meanwhile)
        if verdict.permanent:
            entry.refused_at, entry.refused_why = entry.changes, verdict.why
            entry.refusal = verdict.errno
            log.error(
                "close of %s refused for good, not kept: %s (%s)",
                path, verdict.why, errno.errorcode.get(verdict.errno, verdict.errno),
            )  # fmt: skip
            return _refused(entry)
        if entry.parked is not None and entry.parked_at == entry.changes:
            return exc  # an earlier close of this content journalled it already
        error = f"{type(exc).__name__}: {exc}"
        try:
            parked = _park(table, entry, error, claim=True)
        except OSError as park_exc:
            log.error("close of %s failed (%s) and cannot be journalled: %s; held in memory",
                      path, error, park_exc)  # fmt: skip
            return OSError(park_exc.errno or errno.ENOSPC, f"{path}: not journalled: {park_exc}")
        except PithosError as park_exc:  # base blocks neither cached nor known by hash
            log.error("close of %s failed (%s) and cannot be journalled: %s; held in memory",
                      path, error, park_exc)  # fmt: skip
            return exc
        if entry.parked is not None:
            _guard(table).superseded(entry.parked)
        entry.parked, entry.parked_at = parked, entry.changes
        log.warning("close of %s failed, journalled: %s", path, error)
        return exc


# Refusals that no later write through the same open file can change.
STICKY_REFUSALS = frozenset({errno.EACCES, errno.ENOENT})


def _check_refusal(entry: OpenFile) -> None:
    if entry.refusal in STICKY_REFUSALS:
        raise _refused(entry)


def _refused(entry: OpenFile) -> OSError:
    """The error of a refusal logged already (operations.py does not log it again)."""
    exc = OSError(entry.refusal, f"{entry.loc.path}: {entry.refused_why}")
    exc.logged = True  # type: ignore[attr-defined]
    return exc


def _park(table: FileTable, entry: OpenFile, error: str, claim: bool) -> Any:
    """Journal the file's content and commit parameters. Call with entry.lock held."""
    staged = entry.staged
    base = staged.base if staged is not None else entry.base
    meta = entry.commit_meta()
    size = staged.size if staged is not None else 0
    block_size, plan = staged.journal_plan() if staged is not None else (0, [])

    def read(offset: int, length: int) -> bytes:
        assert staged is not None  # without a staged copy the size is 0: nothing is read
        return bytes(staged.read(offset, length))

    return _guard(table).park(
        entry.loc.container, entry.loc.key, base, size, read, entry.content_type, meta,
        error, plan=plan, block_size=block_size, claim=claim,
    )  # fmt: skip


def _commit_or_keep(table: FileTable, entry: OpenFile, when: str) -> bool:
    """Commit a file nobody has open any more, or keep its content; True if it may be dropped.

    Content a failed close journalled already is left to the journal; content
    refused for good at close is not sent again. A transient failure here is
    journalled; a permanent one (nobody left to tell) goes to failed/. If even
    the journal cannot take it, the guard holds the open file and retries its
    commit; it drops the file itself once done (False).
    """
    guard = _guard(table)
    with entry.lock:
        if not entry.unlinked and entry.dirty:
            if entry.parked is not None and entry.parked_at == entry.changes:
                guard.unclaim(entry.parked)  # the retrier takes it from here
                entry.parked = None
                return True
            if entry.refused_at == entry.changes:
                return True  # the writer heard why at close; sending it again cannot help
    with guard.uploading(entry.loc.path, entry.staged):
        try:
            table.commit(entry)
            return True
        except PithosError as exc:  # server down, network gone, quota, changed meanwhile
            failure: BaseException = exc
            log.warning("commit at %s of %s failed: %s", when, entry.loc.path, exc)
        except Exception as exc:  # a bug, or the staging disk: the data must survive it too
            failure = exc
            log.exception("commit at %s of %s failed", when, entry.loc.path)
    error = f"{type(failure).__name__}: {failure}"
    verdict = _verdict(table, failure)
    if _journal(table, entry, error, refused=verdict if verdict.permanent else None):
        return True
    guard.hold(
        entry.loc.path, entry.staged.size if entry.staged is not None else 0,
        lambda: _retry_held(table, entry), lambda: table._drop(entry), error,
    )  # fmt: skip
    return False


def _journal(table: FileTable, entry: OpenFile, error: str, refused: Verdict | None = None) -> bool:
    """Journal the file's content (to failed/ if `refused`); False if impossible."""
    guard = _guard(table)
    with entry.lock:
        if entry.unlinked or not entry.dirty:
            return True  # nothing left to save (removed, or committed meanwhile)
        try:
            kept = _park(table, entry, error, claim=refused is not None)
        except (OSError, PithosError) as exc:
            log.error("cannot journal %s (%s): kept open in memory", entry.loc.path, exc)
            return False
        earlier, entry.parked = entry.parked, None
        if earlier is not None:  # an older close's copy of older content: superseded
            guard.superseded(earlier)
        if refused is not None:
            guard.refused(kept, refused.why)
        return True


def _retry_held(table: FileTable, entry: OpenFile) -> None:
    """One retry of a held file: its commit. On ESTALE its content goes to the journal
    (kept there as a conflict, the server's newer version is not overwritten); refused
    for good, to failed/ if the journal can take it now."""
    from pithosfs.client.errors import PreconditionFailed

    try:
        table.commit(entry)
    except PreconditionFailed as exc:
        if not _journal(table, entry, f"PreconditionFailed: {exc}"):
            raise
    except PithosError as exc:
        verdict = _verdict(table, exc)
        if not verdict.permanent:
            raise
        if not _journal(table, entry, f"{type(exc).__name__}: {exc}", refused=verdict):
            log.error("held file %s refused for good and cannot be kept: %s", entry.loc.path, exc)


def open_files(table: FileTable) -> list[tuple[str, bool, Any]]:
    """(path, has unsaved changes, StagedFile or None) of every open file, for `status`.

    Read without the files' own locks (a commit may hold one for minutes):
    the answer is a moment's view, not a consistent one.
    """
    with table._lock:
        entries = list({id(e): e for e in table._by_fh.values()}.values())
    return [(e.loc.path, not e.unlinked and e.dirty, e.staged) for e in entries]
