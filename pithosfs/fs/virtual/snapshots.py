"""`<container>/.snapshots/<time>/`: a read-only view of a container as it was.

`<time>` is an ISO 8601 date or time (`2026-11-28`, `2026-11-28T16:05:00`,
`2026-11-28T16:05:00Z`, `...+02:00`; without a zone it is UTC) or `@<epoch
seconds>`. Below it, the container's tree as the server lists it with
`until=<time>` (whole seconds): files read the version that was current then
(ranged GETs pinned to it, cached by block hash), and `cp` of such a file back
into the container is the same no-data hashmap PUT as a restore from
`.versions`. `.snapshots/` itself lists nothing (any time is valid). All of it
is read-only (EROFS). Only the owner may use `until`, so there are no snapshots
below `.shared`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pithosfs.client.types import ObjectInfo, Subdir
from pithosfs.fs import nodes
from pithosfs.fs.errors import IsADirectory, NoEntry, ReadOnly
from pithosfs.fs.nodes import Node, NodeKind
from pithosfs.fs.read.reader import ObjectReader
from pithosfs.fs.virtual.base import ReadOnlyLayer

if TYPE_CHECKING:
    from pithosfs.fs.core import Filesystem

log = logging.getLogger(__name__)

SNAPSHOTS = ".snapshots"
MAX_LISTINGS = 256  # past listings never change: kept until evicted


def parse_time(text: str) -> int:
    """`@1700000000` or ISO 8601 (UTC unless a zone is given) -> epoch seconds; NoEntry if not."""
    if text.startswith("@") and text[1:].isdigit():
        return int(text[1:])
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise NoEntry("not a time (ISO 8601 or @epoch)", text) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp())


@dataclass(frozen=True)
class SnapshotPath:
    container: str
    until: int | None = None  # None: `.snapshots` itself
    key: str = ""  # the object or directory inside the container ("" for its root)


def claims(path: str) -> bool:
    parts = [p for p in path.split("/") if p]
    return len(parts) >= 2 and parts[1] == SNAPSHOTS


def parse(path: str) -> SnapshotPath:
    parts = [p for p in path.split("/") if p]
    if len(parts) == 2:
        return SnapshotPath(parts[0])
    return SnapshotPath(parts[0], parse_time(parts[2]), "/".join(parts[3:]))


@dataclass
class SnapshotHandle:
    container: str
    info: ObjectInfo
    reader: ObjectReader


class SnapshotsLayer(ReadOnlyLayer):
    readonly_reason = "snapshots are read-only"

    def __init__(self, fs: Filesystem) -> None:
        super().__init__(fs)
        self._lock = threading.Lock()
        # (container, prefix, until) -> {name: Node}; GUARDED_BY(_lock)
        self._listings: OrderedDict[tuple[str, str, int], dict[str, Node]] = OrderedDict()

    def claims(self, path: str) -> bool:
        return claims(path)

    def _listing(self, container: str, prefix: str, until: int) -> dict[str, Node]:
        with self._lock:
            cached = self._listings.get((container, prefix, until))
        if cached is not None:
            return cached
        children: dict[str, Node] = {}
        for item in self.fs.store.list_objects(container, prefix, "/", True, until=until):
            name = item.name[len(prefix) :].rstrip("/")
            if not name or "/" in name:
                continue
            path = f"/{container}/{SNAPSHOTS}/@{until}/{prefix}{name}"
            if isinstance(item, Subdir):
                children.setdefault(name, nodes.implied_dir(path, until * 10**9))
                continue
            if not item.last_modified:  # `until` listings omit it
                item = replace(item, last_modified=item.version_timestamp)
            node = nodes.node_from_object(item)
            ino = nodes.inode_of(f"snapshot:{container}:{item.version}:{item.name}")
            children[name] = replace(node, mode=node.mode & ~0o222, ino=ino)
        with self._lock:
            self._listings[(container, prefix, until)] = children
            while len(self._listings) > MAX_LISTINGS:
                self._listings.popitem(last=False)
        return children

    def getattr(self, path: str) -> Node:
        sp = parse(path)
        container = self.fs.lookup("/" + sp.container)
        if sp.until is None or not sp.key:
            ident = f"snapshots:{sp.container}:{sp.until}"
            return Node(NodeKind.DIR, 0, container.mtime_ns, 0o555, nodes.inode_of(ident))
        parent, _, name = sp.key.rpartition("/")
        prefix = parent + "/" if parent else ""
        node = self._listing(sp.container, prefix, sp.until).get(name)
        if node is None:
            raise NoEntry("did not exist then", path)
        return node

    def readdir(self, path: str) -> list[tuple[str, Node]]:
        sp = parse(path)
        if sp.until is None:
            self.getattr(path)
            return []  # any time is valid: nothing to enumerate
        if not self.getattr(path).is_dir:
            raise NoEntry("not a directory", path)
        prefix = sp.key + "/" if sp.key else ""
        return list(self._listing(sp.container, prefix, sp.until).items())

    def open(self, path: str, flags: int) -> SnapshotHandle:
        if (flags & os.O_ACCMODE) != os.O_RDONLY or flags & (os.O_TRUNC | os.O_CREAT):
            raise ReadOnly("snapshots are read-only", path)
        sp = parse(path)
        node = self.getattr(path)
        if node.is_dir or node.info is None:
            raise IsADirectory("is a directory", path)
        fs = self.fs
        reader = ObjectReader(
            fs.store, sp.container, node.info, fs.block_size(sp.container), fs.blocks,
            fs.read_pool, fs.opts.max_readahead, fs.known_blocks, fs.receive_buffers,
        )  # fmt: skip
        return SnapshotHandle(sp.container, node.info, reader)

    def read(self, handle: SnapshotHandle, offset: int, size: int) -> bytes | memoryview:
        return handle.reader.read(offset, size)

    def release(self, handle: SnapshotHandle) -> None:
        handle.reader.close()

    def copy_source(self, handle: SnapshotHandle) -> tuple[str, ObjectInfo] | None:
        return handle.container, handle.info

    def readlink(self, path: str) -> str:
        node = self.getattr(path)
        target = (node.info.meta or {}).get(nodes.SYMLINK_KEY) if node.info else None
        if target is None:
            raise NoEntry("not a symlink stored by pithosfs", path)
        return target

    def listxattr(self, path: str) -> list[str]:
        self.getattr(path)
        return []

    def getxattr(self, path: str, name: str) -> bytes:
        from pithosfs.fs.errors import NoAttribute

        self.getattr(path)
        raise NoAttribute("no attributes in snapshots", name)


LAYER = SnapshotsLayer
