"""`<dir>/.versions/`: the history of the objects of a directory (SEMANTICS.md).

Layout, for any directory `<dir>` inside a container (the container root included):

* `<dir>/.versions/` lists the files of `<dir>` plus the names of `<dir>` that
  this mount deleted or renamed away since it started (their history stays on
  the server). Any other name is reachable by name: `<dir>/.versions/<name>/`
  works for every object that ever existed at that path, deleted or not.
* `<dir>/.versions/<name>/` lists the versions of `<dir>/<name>` as read-only
  files named by version id (`?version=list`), zero-padded to VERSION_DIGITS
  digits so that a plain `ls` lists the oldest first (ids grow with time);
  mtime = the version's timestamp, size = that version's size. Any spelling of
  the id is found (`42` and `000000000042` are the same version).
* Reading `<dir>/.versions/<name>/<id>` reads that version: ranged GETs pinned
  to it, blocks cached by hash, and the block hashes recorded as known to the
  server (so writing the same content back uploads nothing). Copying it back
  with `cp` takes the copy_file_range fast path (core.copy_range): one hashmap
  PUT, no data on the wire.

On a plain Swift container the versions are those Swift keeps through
`X-Versions-Location`/`X-History-Location` (plus the current object) or
`X-Versions-Enabled` (swift_history.py); without versioning, `.versions` is empty
(the reason logged once).

Everything below `.versions` is read-only: writes, creates, renames, removals
and attribute changes fail with EROFS. `.versions` is hidden (never returned
by readdir, see paths.RESERVED_NAMES), so find/du/cp -r/rsync never walk it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pithosfs.client.errors import NotFound
from pithosfs.client.types import ObjectInfo, Subdir, VersionEntry
from pithosfs.fs import nodes
from pithosfs.fs.errors import NoAttribute, NoEntry, NotADirectory, ReadOnly
from pithosfs.fs.nodes import Node, NodeKind
from pithosfs.fs.read.reader import ObjectReader
from pithosfs.fs.virtual.base import ReadOnlyLayer
from pithosfs.fs.virtual.swift_history import SwiftHistory

if TYPE_CHECKING:
    from pithosfs.fs.core import Filesystem

log = logging.getLogger(__name__)

VERSIONS = ".versions"
MAX_INFOS = 1024  # cached version HEADs (versions never change, so only the size bounds it)
MAX_LISTS = 1024  # cached version lists (each lives the attribute timeout)
REMEMBERED_DELETIONS = 10000
# Width of listed version names: Pithos+ ids are a server-wide counter, far below
# 10**12; Swift's (timestamps in 10 us ticks, swift_history) are 15 digits, all alike.
VERSION_DIGITS = 12


def version_name(version: int) -> str:
    """The name a version is listed under: its id, zero-padded (`ls` sorts it by age)."""
    return f"{version:0{VERSION_DIGITS}d}"


@dataclass(frozen=True)
class VersionPath:
    """A path at or below `<dir>/.versions`, split (pure; see parse)."""

    container: str
    directory: str  # object prefix of <dir> without the trailing "/" ("" at the container root)
    name: str = ""  # the object's name in <dir> ("" for `.versions` itself)
    version: int | None = None  # the version id (for a version file)

    @property
    def dir_path(self) -> str:
        return "/" + self.container + ("/" + self.directory if self.directory else "")

    @property
    def key(self) -> str:
        return f"{self.directory}/{self.name}" if self.directory else self.name


def claims(path: str) -> bool:
    parts = [p for p in path.split("/") if p]
    return VERSIONS in parts[1:]


def parse(path: str) -> VersionPath:
    """Split a claimed path; NoEntry for shapes that cannot exist."""
    parts = [p for p in path.split("/") if p]
    at = parts.index(VERSIONS, 1)
    container, directory, rest = parts[0], "/".join(parts[1:at]), parts[at + 1 :]
    # `<dir>/.versions/.versions/` is the history of an object really named `.versions`
    # (shadowed in `<dir>`); in the id position the name is simply not a number.
    if len(rest) > 2:
        raise NoEntry("no such version entry", path)
    if not rest:
        return VersionPath(container, directory)
    if len(rest) == 1:
        return VersionPath(container, directory, rest[0])
    if not rest[1].isdigit():
        raise NoEntry("version ids are numbers", path)
    return VersionPath(container, directory, rest[0], int(rest[1]))


@dataclass
class VersionHandle:
    container: str  # where the version is read from (a Swift archive container, maybe)
    info: ObjectInfo
    reader: ObjectReader
    copyable: bool = True  # a Pithos+ version: copied back server-side by hashmap


class VersionsLayer(ReadOnlyLayer):
    """History of objects, read-only, under every directory's hidden `.versions`."""

    readonly_reason = "history is read-only"

    def __init__(self, fs: Filesystem) -> None:
        super().__init__(fs)
        self._lock = threading.Lock()
        # (container, key) -> (monotonic time, versions); GUARDED_BY(_lock)
        self._lists: dict[tuple[str, str], tuple[float, list[VersionEntry]]] = {}
        # (container, key, version) -> (container to read from, that version's HEAD);
        # GUARDED_BY(_lock)
        self._infos: OrderedDict[tuple[str, str, int], tuple[str, ObjectInfo]] = OrderedDict()
        self._swift: SwiftHistory | None = None  # built at the first plain Swift container
        # container -> names deleted/renamed away through this mount; GUARDED_BY(_lock)
        self._deleted: OrderedDict[tuple[str, str], None] = OrderedDict()

    def claims(self, path: str) -> bool:
        return claims(path)

    # -- what the server knows -------------------------------------------------
    def swift(self, container: str) -> SwiftHistory | None:
        """The Swift history reader when `container` is plain Swift, else None (Pithos+)."""
        if self.fs.store.supports_pithos(container):
            return None
        with self._lock:
            if self._swift is None:
                self._swift = SwiftHistory(self.fs.store, self.fs.opts.attr_timeout)
            return self._swift

    def _list_versions(self, container: str, key: str) -> list[VersionEntry]:
        swift = self.swift(container)
        if swift is not None:
            return swift.versions(container, key)
        return self.fs.store.list_versions(container, key)

    def versions(self, container: str, key: str) -> list[VersionEntry]:
        """The versions of one path (cached for the attribute timeout); NoEntry if none."""
        now = time.monotonic()
        with self._lock:
            cached = self._lists.get((container, key))
        if cached is not None and now - cached[0] < self.fs.opts.attr_timeout:
            found = cached[1]
        else:
            try:
                found = self._list_versions(container, key)
            except NotFound:
                found = []
            with self._lock:
                lists = self._lists
                lists.pop((container, key), None)  # re-inserted last: oldest first, always
                lists[(container, key)] = (now, found)
                # Expired lists go as new ones come (a soak listing ever new names kept
                # 4096 of them, each with every version of its file); then the size bound.
                ttl = self.fs.opts.attr_timeout
                while lists and (
                    len(lists) > MAX_LISTS or now - next(iter(lists.values()))[0] >= ttl
                ):
                    lists.pop(next(iter(lists)))
        if not found:
            raise NoEntry("no versions", f"/{container}/{key}")
        return found

    def version_info(self, container: str, key: str, version: int) -> ObjectInfo:
        return self.version_source(container, key, version)[1]

    def version_source(self, container: str, key: str, version: int) -> tuple[str, ObjectInfo]:
        """(container holding the version, its HEAD); NoEntry if gone."""
        with self._lock:
            source = self._infos.get((container, key, version))
        if source is None:
            swift = self.swift(container)
            try:
                if swift is not None:
                    source = swift.locate(container, key, version)
                else:
                    source = (container, self.fs.store.head_object(container, key, version))
            except NotFound:
                raise NoEntry("no such version", f"/{container}/{key}@{version}") from None
            if swift is not None and swift.is_live(container, source[0]):
                return source  # Swift moves it to the archive at the next overwrite
            with self._lock:
                self._infos[(container, key, version)] = source
                while len(self._infos) > MAX_INFOS:
                    self._infos.popitem(last=False)
        return source

    # -- nodes ---------------------------------------------------------------------
    def _dir_node(self, identity: str, mtime_ns: int) -> Node:
        return Node(NodeKind.DIR, 0, mtime_ns, 0o555, nodes.inode_of(identity))

    def _file_node(self, vp: VersionPath, info: ObjectInfo, timestamp: float) -> Node:
        """`timestamp` from the version list: HEAD reports whole seconds only."""
        ino = nodes.inode_of(f"version:{vp.container}:{info.version}")
        mtime = int(timestamp * 10**9)
        return Node(NodeKind.FILE, info.size, mtime, 0o444, ino, info)

    def _require_dir(self, vp: VersionPath, path: str) -> Node:
        parent = self.fs.lookup(vp.dir_path)
        if not parent.is_dir:
            raise NotADirectory("not a directory", path)
        return parent

    def getattr(self, path: str) -> Node:
        vp = parse(path)
        if not vp.name:
            parent = self._require_dir(vp, path)
            return self._dir_node("versions:" + vp.dir_path, parent.mtime_ns)
        found = self.versions(vp.container, vp.key)
        if vp.version is None:
            mtime = int(found[-1].timestamp * 10**9)
            return self._dir_node(f"versions:/{vp.container}/{vp.key}", mtime)
        entry = next((v for v in found if v.version == vp.version), None)
        if entry is None:
            raise NoEntry("no such version", path)
        info = self.version_info(vp.container, vp.key, entry.version)
        return self._file_node(vp, info, entry.timestamp)

    def readdir(self, path: str) -> list[tuple[str, Node]]:
        vp = parse(path)
        if vp.version is not None:
            raise NotADirectory("a version is a file", path)
        if not vp.name:
            return self._list_names(vp, path)
        found = self.versions(vp.container, vp.key)
        futures = [
            (v, self.fs.read_pool.submit(self.version_info, vp.container, vp.key, v.version))
            for v in found
        ]
        out = []
        for entry, fut in futures:
            try:
                node = self._file_node(vp, fut.result(), entry.timestamp)
                out.append((version_name(entry.version), node))
            except NoEntry:
                continue  # purged between the list and the HEAD
        return out

    def _list_names(self, vp: VersionPath, path: str) -> list[tuple[str, Node]]:
        self._require_dir(vp, path)
        swift = self.swift(vp.container)
        if swift is not None and swift.archive(vp.container) is None:
            return []  # Swift keeps no history here (swift_history logs why)
        prefix = vp.directory + "/" if vp.directory else ""
        names: dict[str, Node] = {}
        for item in self.fs.store.list_objects(vp.container, prefix, "/", with_meta=False):
            if isinstance(item, Subdir) or item.is_directory:
                continue
            name = item.name[len(prefix) :]
            if name and "/" not in name:
                mtime = int(item.last_modified * 10**9)
                names[name] = self._dir_node(f"versions:/{vp.container}/{item.name}", mtime)
        with self._lock:
            deleted = [k for c, k in self._deleted if c == vp.container]
        for key in deleted:
            name = key[len(prefix) :]
            if key.startswith(prefix) and name and "/" not in name and name not in names:
                names[name] = self._dir_node(f"versions:/{vp.container}/{key}", 0)
        return list(names.items())

    # -- reading -------------------------------------------------------------------
    def open(self, path: str, flags: int) -> VersionHandle:
        if (flags & os.O_ACCMODE) != os.O_RDONLY or flags & (os.O_TRUNC | os.O_CREAT):
            raise ReadOnly("versions are read-only", path)
        vp = parse(path)
        node = self.getattr(path)
        if vp.version is None or node.info is None:
            raise ReadOnly("not a version file", path)
        fs = self.fs
        where, info = self.version_source(vp.container, vp.key, vp.version)
        swift = self.swift(vp.container)
        store = swift.reads_for(vp.container, vp.version) if swift is not None else fs.store
        reader = ObjectReader(
            store, where, info, fs.block_size(vp.container), fs.blocks,
            fs.read_pool, fs.opts.max_readahead, fs.known_blocks, fs.receive_buffers,
        )  # fmt: skip
        return VersionHandle(where, info, reader, copyable=self.swift(vp.container) is None)

    def read(self, handle: VersionHandle, offset: int, size: int) -> bytes | memoryview:
        return handle.reader.read(offset, size)

    def release(self, handle: VersionHandle) -> None:
        handle.reader.close()

    def copy_source(self, handle: VersionHandle) -> tuple[str, ObjectInfo] | None:
        return (handle.container, handle.info) if handle.copyable else None

    def handle_attr(self, handle: VersionHandle) -> Node | None:
        return None

    def listxattr(self, path: str) -> list[str]:
        node = self.getattr(path)
        return [f"user.pithos.{n}" for n in SYSTEM_NAMES] if node.info is not None else []

    def getxattr(self, path: str, name: str) -> bytes:
        node = self.getattr(path)
        field = name.removeprefix("user.pithos.")
        if node.info is None or not name.startswith("user.pithos.") or field not in SYSTEM_NAMES:
            raise NoAttribute("no such attribute", name)
        value = getattr(node.info, field)
        return (f"{value:.6f}" if isinstance(value, float) else str(value)).encode()

    # -- remembering deleted names -----------------------------------------------------
    def _remember(self, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2:
            return
        container, key = parts[0], "/".join(parts[1:])
        with self._lock:
            self._deleted[(container, key)] = None
            self._deleted.move_to_end((container, key))
            while len(self._deleted) > REMEMBERED_DELETIONS:
                self._deleted.popitem(last=False)
            self._lists.pop((container, key), None)
        self._forget_swift(container, key)

    def _forget_swift(self, container: str, key: str) -> None:
        with self._lock:
            swift = self._swift
        if swift is not None:
            swift.forget(container, key)

    def after_unlink(self, path: str) -> None:
        self._remember(path)

    def after_rename(self, old: str, new: str) -> None:
        self._remember(old)
        parts = [p for p in new.split("/") if p]
        with self._lock:
            self._lists.pop((parts[0], "/".join(parts[1:])), None)
        self._forget_swift(parts[0], "/".join(parts[1:]))

    def after_commit(self, path: str, info: ObjectInfo) -> None:
        parts = [p for p in path.split("/") if p]
        with self._lock:  # a new version: the list is out of date
            self._lists.pop((parts[0], "/".join(parts[1:])), None)
        self._forget_swift(parts[0], "/".join(parts[1:]))


SYSTEM_NAMES = ("hash", "uuid", "version", "version_timestamp", "modified_by", "content_type")

LAYER = VersionsLayer
