"""The filesystem over an ObjectStore, knowing nothing about FUSE.

Namespace operations live here (lookup, readdir, mkdir, rmdir, unlink,
rename, symlinks, attributes, statfs); open files are in `fs/open_files.py` and
extended attributes in `xattrs.py`. Paths are mount paths ("/c/a/b"); errors
are `pithosfs.fs.errors` or the store's `PithosError`s, mapped to errno only
by the adapter.

Locking: the stat cache, the block cache and the file table each have their
own lock; `_lock` here guards only `_containers` and `_statfs`. No lock is
held across a store request except an open file's own lock (see fs/open_files.py).
"""

from __future__ import annotations

import logging
import os
import stat as statmod
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from pithosfs import protocol
from pithosfs.cache.block_cache import BlockCache
from pithosfs.cache.meta_cache import MetaCache
from pithosfs.cache.stat_cache import MISSING, StatCache
from pithosfs.client.errors import Conflict, NotFound, PithosError, ServerError, TransportError
from pithosfs.client.types import AccountInfo, ContainerInfo, ObjectInfo, ObjectStore, Subdir
from pithosfs.fs import gc_pause, limits, nodes, paths
from pithosfs.fs.aligned_buffers import AlignedBuffers
from pithosfs.fs.callers import Caller
from pithosfs.fs.errors import (
    CrossDevice,
    Exists,
    InvalidArgument,
    IsADirectory,
    NameTooLong,
    NoEntry,
    NotADirectory,
    NotEmpty,
    NotPermitted,
    NotSupported,
)
from pithosfs.fs.meta_behind import MetaBehind
from pithosfs.fs.meta_store import ASSUMED_EMPTY, MetaCachingStore
from pithosfs.fs.nodes import Node, NodeKind
from pithosfs.fs.open_files import FileTable, guess_type
from pithosfs.fs.options import FsOptions
from pithosfs.fs.paths import Kind, Location
from pithosfs.fs.read.file_prefetch import MAX_FILES as FILES_AHEAD
from pithosfs.fs.read.file_prefetch import FilePrefetch
from pithosfs.fs.read.reader import VersionHashmaps
from pithosfs.fs.tree_listing import TreeListings
from pithosfs.fs.virtual.base import VirtualLayer
from pithosfs.fs.virtual.registry import Layers
from pithosfs.fs.writeback.upload import KnownBlocks
from pithosfs.fs.xattrs import Xattrs

log = logging.getLogger(__name__)

META_CACHE_FILE = "meta.sqlite3"  # under --cache-dir: see cache/meta_cache.py
PREFETCH_THREADS = 8  # GETs of files read ahead in flight at once
RELIST_MAX = 1000  # entries: a directory this small is listed again, not asked name by name
KNOWN_BLOCKS = 16384  # hashes of blocks the server is known to hold (writeback_upload)
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
FALLOC_FL_KEEP_SIZE = 0x01
REMEMBERED_DIR_CHANGES = 10000
PATH_MAX = 4096  # Linux's, terminating NUL included: the longest symlink target is one less
MAX_COUNTED_LISTING = 10000  # a directory's links are counted from listings up to this size


def _utime_value(value_ns: int, now: int) -> int | None:
    """A time to set from utimens: None for UTIME_OMIT, `now` for UTIME_NOW."""
    special = _utime_special(value_ns)
    if special == UTIME_OMIT:
        return None
    return now if special == UTIME_NOW else value_ns


def _utime_special(value_ns: int) -> int:
    """UTIME_NOW/UTIME_OMIT if the binding's ns value carries one, else 0.

    libfuse passes these as tv_nsec with tv_sec left unset, and the binding folds
    both into sec * 1e9 + nsec; a tv_nsec of 2**30 - 1 or - 2 (beyond 1e9) is no time.
    """
    for special in (UTIME_NOW, UTIME_OMIT):
        if value_ns == special or value_ns % 10**9 == special - 10**9:
            return special
    return 0


class Filesystem:
    """A Pithos+ account as a tree of directories and files."""

    def __init__(
        self,
        store: ObjectStore,
        options: FsOptions | None = None,
        layers: Iterable[type[VirtualLayer]] | None = None,
    ) -> None:
        """`layers`: the virtual layer classes (default: all found in pithosfs.fs.virtual).

        `store` is wrapped in a MetaCachingStore (listings completed with the
        metadata a HEAD would give, see meta_store.py) unless it is one already.
        """
        self.opts = options or FsOptions()
        self._own_meta_cache = not isinstance(store, MetaCachingStore)
        if not isinstance(store, MetaCachingStore):
            self.opts.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            store = MetaCachingStore(store, MetaCache(self.opts.cache_dir / META_CACHE_FILE))
        self.store: MetaCachingStore = store
        self.stats: StatCache[Node] = StatCache(
            self.opts.attr_timeout, self.opts.dir_timeout, self.opts.max_cached_entries
        )
        self.opts.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # the user's data
        self.blocks = BlockCache(self.opts.cache_dir / "blocks", self.opts.cache_size)
        self.read_pool = ThreadPoolExecutor(self.opts.read_threads, "pithosfs-read")
        self.receive_buffers = AlignedBuffers()  # what readers receive GETs into
        self.hashmaps = VersionHashmaps()  # block hashes per version, fetched once
        self.upload_pool = ThreadPoolExecutor(self.opts.upload_threads, "pithosfs-upload")
        # Block hashes the server holds (dedup hints): 16384 cover 64 GiB of 4 MiB blocks in
        # about 3 MiB; 65536 took 13 MiB, filled in the first 10 minutes of a soak.
        self.known_blocks = KnownBlocks(KNOWN_BLOCKS)
        self.mount_time_ns = time.time_ns()
        self._lock = threading.Lock()
        self._containers: dict[str, ContainerInfo] = {}  # GUARDED_BY(_lock)
        self._statfs: tuple[float, AccountInfo] | None = None  # GUARDED_BY(_lock)
        self._closed = False  # GUARDED_BY(_lock)
        # Directory path -> when this mount last added or removed one of its entries:
        # shown as its mtime and ctime (kept here, not sent: see dir_changed). GUARDED_BY(_lock)
        self._dir_times: OrderedDict[str, int] = OrderedDict()
        # Who is calling (owners of new files, set-ID clearing); the FUSE adapter sets it.
        self.caller: Callable[[], Caller | None] = lambda: None
        self.mountpoint: str | None = None  # where the kernel mounted us, once known
        self.files = FileTable(self)
        self.xattrs = Xattrs(self)
        # Small files of a directory walk, fetched ahead on their own threads (file_prefetch.py).
        self.prefetch_pool = ThreadPoolExecutor(PREFETCH_THREADS, "pithosfs-prefetch")
        self.prefetch = FilePrefetch(
            self.stats.listed_children,
            lambda loc, info: self.files.new_reader(loc, info, self.prefetch_pool),
            self.opts.dir_timeout,
            # 0 turns it off (scripts/bench_wan.py measures what it brings so).
            max_files=int(os.environ.get("PITHOSFS_FILES_AHEAD", str(FILES_AHEAD))),
        )
        self.meta_behind = MetaBehind(self._post_held_meta)  # mode/mtime changes, merged
        # Small containers listed whole, once per directory timeout (tree_listing.py).
        self.trees = TreeListings(
            lambda c, limit: self.store.list_uncompleted(c, "", None, limit),
            self.stats.now,
            # Never outliving what the stat cache keeps of own changes made after it.
            min(self.opts.dir_timeout, self.opts.attr_timeout),
        )
        self.layers = Layers(self, layers)  # consulted before the ordinary path

    def close(self) -> None:
        """Commit what is pending and stop the worker threads (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.meta_behind.close()
        self.prefetch.close()
        self.files.close_all()
        self.layers.close()
        self.read_pool.shutdown(wait=False, cancel_futures=True)
        self.prefetch_pool.shutdown(wait=False, cancel_futures=True)
        self.upload_pool.shutdown(wait=True)
        self.blocks.close()
        self.store.close()
        if self._own_meta_cache:
            self.store.cache.close()

    def background_work(self) -> int:
        """Requests this mount still owes the server or makes on its own (held directory
        metadata, files fetched ahead): the status file shows it, so tests can count
        requests once it is 0."""
        return self.meta_behind.waiting() + self.prefetch.in_flight()

    # -- lookup ------------------------------------------------------------
    def lookup(self, path: str) -> Node:
        served, node = self.layers.call(path, "getattr")
        if served:
            return node
        loc = paths.parse(path)
        open_node = self.files.node_of(loc.path)
        if open_node is not None:
            return open_node
        cached = self.stats.get(loc.path)
        if cached is MISSING:
            raise NoEntry("no such entry (cached)", loc.path)
        if isinstance(cached, Node):
            return cached
        return self._fetch_node(loc)

    def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
        if fh is not None and self.layers.owns(fh):
            layer, handle = self.layers.handle(fh)
            return self.stat_of(layer.handle_attr(handle) or self.lookup(path))
        node = self.files.node_of_handle(fh) if fh is not None else None
        node = node or self.lookup(path)
        if not node.is_dir:
            return self.stat_of(node)
        return self.stat_of(node, self._dir_links(path), path)

    def stat_of(self, node: Node, nlink: int = 0, path: str | None = None) -> dict[str, int]:
        """`path`: where a directory node is, for the times of its entries' changes."""
        stat = nodes.to_stat(node, self.opts.uid, self.opts.gid, self.blksize, nlink)
        if path is not None and node.kind is NodeKind.DIR:
            with self._lock:
                changed = self._dir_times.get(path) if self._dir_times else None
            if changed is not None:
                stat["st_mtime"] = max(stat["st_mtime"], changed)
                stat["st_ctime"] = max(stat["st_ctime"], changed)
        if self.opts.mode_mask and not node.mode_stored:  # allow_other without umask=
            stat["st_mode"] &= ~self.opts.mode_mask  # narrows defaults only (mount/access_options.py)
        return stat

    def _shown_mode(self, node: Node) -> int:
        """The permission bits `stat_of` shows for `node`."""
        return node.mode if node.mode_stored else node.mode & ~self.opts.mode_mask

    def _dir_links(self, path: str) -> int:
        """2 + the subdirectories of a directory whose listing is cached, else 0 (unknown)."""
        try:
            children = self.stats.listed_children(paths.parse(path).path)
        except (NoEntry, NameTooLong, InvalidArgument):
            return 0
        if children is None or len(children) > MAX_COUNTED_LISTING:
            return 0
        return 2 + sum(1 for child in children.values() if child.is_dir)

    def dir_changed(self, loc: Location) -> None:
        """An entry of directory `loc` was added or removed: its mtime and ctime move.

        Kept in this mount's memory only, by path: storing it would cost one more
        request per create or unlink, and a directory marker's stored times are its
        own (chmod, touch). Other mounts show the stored times.
        """
        now = time.time_ns()
        with self._lock:
            self._dir_times[loc.path] = now
            self._dir_times.move_to_end(loc.path)
            while len(self._dir_times) > REMEMBERED_DIR_CHANGES:
                self._dir_times.popitem(last=False)

    def owner_meta(self, parent: Node, mode: int, is_dir: bool) -> tuple[dict[str, str], int]:
        """(owner metadata, mode) of an entry created now in `parent`, as Linux decides them.

        The owner is the caller's fsuid; the group its fsgid, or the parent's group
        when the parent is set-group-ID (a new directory then inherits the bit). Only
        what differs from the mount's owner is stored (no keys: the mount's owner).
        """
        caller = self.caller()
        uid = caller.uid if caller is not None else self.opts.uid
        gid = caller.gid if caller is not None else self.opts.gid
        if parent.mode & statmod.S_ISGID:
            gid = parent.gid if parent.gid >= 0 else self.opts.gid
            if is_dir:
                mode |= statmod.S_ISGID
        meta = {}
        if uid != self.opts.uid:
            meta[nodes.UID_KEY] = str(uid)
        if gid != self.opts.gid:
            meta[nodes.GID_KEY] = str(gid)
        return meta, mode

    @property
    def blksize(self) -> int:
        # Large, so that cp/cat use big buffers; the store's natural unit.
        return protocol.DEFAULT_BLOCK_SIZE

    def _fetch_node(self, loc: Location) -> Node:
        if loc.kind is Kind.ROOT:
            return nodes.Node(NodeKind.DIR, 0, self.mount_time_ns, 0o755, nodes.ROOT_INO, None)
        if loc.kind is Kind.CONTAINER:
            try:
                node = nodes.container_node(self.container_info(loc.container, refresh=True))
            except NotFound:
                self.stats.put_missing(loc.path)
                raise NoEntry("no such container", loc.path) from None
        else:
            node = self._fetch_entry(loc)
        self.stats.put(loc.path, node)
        return node

    def _fetch_entry(self, loc: Location) -> Node:
        """HEAD the object; if absent, a directory is implied by any name below it.

        In a small container, its whole listing answers instead (tree_listing.py):
        one request for this name and every other one in the container."""
        self.meta_behind.flush(loc.path)  # the HEAD must show what this mount changed
        tree = self._tree_directory(loc.parent)
        if tree is not None:
            created, removed = self.stats.own_changes(loc.parent.path, tree[0])
            if created or removed:  # the directory changed here since: not from it again
                self.trees.passed(loc.container, loc.parent.prefix)
            if loc.name in removed:
                self.stats.put_missing(loc.path)
                raise NoEntry("no such object", loc.path)
            found = None if loc.name in created else self._tree_entry(loc, tree[1])
            if found is not None:
                return found
            # Not in the snapshot: asked for below. A snapshot answers for what it shows;
            # a name absent from it (maybe created elsewhere since) is missing only by a
            # listing of its own directory, as without snapshots.
        relisted = self._from_listing_again(loc)
        if relisted is not None:
            return relisted
        try:
            return nodes.node_from_object(self.store.head_object(loc.container, loc.key))
        except NotFound:
            pass
        try:
            below = self.store.list_objects(
                loc.container, loc.prefix, "/", with_meta=False, limit=1
            )
            if next(iter(below), None) is not None:
                return nodes.implied_dir(loc.path, self.mount_time_ns)
        except NotFound:
            pass  # the container itself is gone
        self.stats.put_missing(loc.path)
        raise NoEntry("no such object", loc.path)

    def _from_listing_again(self, loc: Location) -> Node | None:
        """`loc` from a new listing of its directory, if that was listed before and small.

        Why: a directory this mount is filling (`rsync`, `tar x`) or walking was listed
        (or made, known empty); once that listing expires, each name looked up in it
        cost a HEAD, and a new name a HEAD and a one-entry listing. Listing it again
        costs one request and answers the names after it too, for the directory
        timeout. None: ask for the name alone (never listed, or a big directory)."""
        parent = loc.parent
        size = self.stats.last_listing_size(parent.path) if parent.kind is not Kind.ROOT else None
        if size is None or size > RELIST_MAX:
            return None
        try:
            self._list_dir(parent)
        except NotFound:
            return None
        found = self.stats.get(loc.path)
        if found is MISSING:
            raise NoEntry("no such object", loc.path)
        return found if isinstance(found, Node) else None

    def _tree_entry(self, loc: Location, items: list[ObjectInfo | Subdir]) -> Node | None:
        """`loc` from its directory's items in a container snapshot (None if absent)."""
        implied = False
        for item in items:
            if item.name != loc.key:
                continue
            if isinstance(item, Subdir):
                implied = True
                continue
            for done in self.store.complete(loc.container, [item]):  # its metadata, if unknown
                if isinstance(done, ObjectInfo):
                    return nodes.node_from_object(done)
        if implied:
            return nodes.implied_dir(loc.path, self.mount_time_ns)
        return None

    def _tree_directory(self, loc: Location) -> tuple[float, list[ObjectInfo | Subdir]] | None:
        """(when listed, items) of directory `loc` from its container's snapshot, taken
        now if the container is small and has none; None: ask the server per directory."""
        if loc.kind is Kind.ROOT:
            return None
        with self._lock:
            info = self._containers.get(loc.container)
        return self.trees.directory(loc.container, loc.prefix, info.count if info else None)

    def exists(self, path: str) -> Node | None:
        try:
            return self.lookup(path)
        except NoEntry:
            return None

    def container_info(self, container: str, refresh: bool = False) -> ContainerInfo:
        with self._lock:
            info = self._containers.get(container)
        if info is None or refresh:
            info = self.store.container_info(container)
            with self._lock:
                self._containers[container] = info
        return info

    def block_size(self, container: str) -> int:
        return self.container_info(container).block_size

    # -- directories -------------------------------------------------------
    def readdir(self, path: str) -> list[tuple[str, Node]]:
        served, listing = self.layers.call(path, "readdir")
        if served:
            return sorted(listing)
        loc = paths.parse(path)
        if not self.lookup(loc.path).is_dir:
            raise NotADirectory("not a directory", loc.path)
        entries = self._cached_listing(loc)
        if entries is None:
            entries = self._list_dir(loc)
        for name, node in self.files.pending_children(loc.path):
            entries[name] = node
        return sorted(entries.items())

    def _cached_listing(self, loc: Location) -> dict[str, Node] | None:
        """The children of a fresh cached listing, or None (evicted or expired: list again)."""
        return self.stats.listed_children(loc.path)

    def _list_dir(self, loc: Location) -> dict[str, Node]:
        self.meta_behind.flush_children(loc.path)  # the listing must show what this mount changed
        begun = self.stats.begin_listing()
        started = begun
        try:
            with gc_pause.gc_paused():  # a few lasting objects per entry: see gc_pause
                if loc.kind is Kind.ROOT:
                    children = self._list_containers()
                else:
                    tree = self._tree_directory(loc)
                    if tree is not None and any(self.stats.own_changes(loc.path, tree[0])):
                        # Changed here since the snapshot was asked for: it no longer
                        # shows this directory as it is (a version it names may be older
                        # than this mount's own), so the directory is listed again.
                        tree = None
                    if tree is None:
                        self.trees.passed(loc.container, loc.prefix)  # newer than the snapshot
                    if tree is not None:  # cut out of the container's whole listing
                        started = tree[0]
                        items: Iterable[ObjectInfo | Subdir] = self.store.complete(
                            loc.container, tree[1]
                        )
                    else:
                        items = self.store.list_objects(
                            loc.container, loc.prefix, "/", with_meta=True
                        )
                    children = self._list_objects(loc, items)
                self.stats.fill_dir(loc.path, children, started)
        finally:
            self.stats.end_listing(begun)
        return children

    def _list_containers(self) -> dict[str, Node]:
        infos = self.store.list_containers()
        with self._lock:
            self._containers = {c.name: c for c in infos}
        return {c.name: nodes.container_node(c) for c in infos if paths.is_listable_name(c.name)}

    def _list_objects(
        self, loc: Location, items: Iterable[ObjectInfo | Subdir]
    ) -> dict[str, Node]:
        """One delimiter listing: objects, markers and implied subdirectories merged."""
        prefix = loc.prefix
        cut = len(prefix)
        children: dict[str, Node] = {}
        node_from_object = nodes.node_from_object  # the loop runs once per entry
        listable = paths.is_listable_name
        for count, item in enumerate(items, 1):
            if count % gc_pause.YOUNG_EVERY == 0:
                gc_pause.collect_young()  # a huge directory: see gc_pause
            full = item.name
            name = full[cut:] if full.startswith(prefix) else ""
            if isinstance(item, Subdir):
                name = name.rstrip("/")
                if listable(name) and "/" not in name and name not in children:
                    children[name] = nodes.implied_dir(loc.child(name).path, self.mount_time_ns)
                continue
            if "/" in name or not listable(name):
                continue  # names with "//", a trailing "/" or reserved names cannot be shown
            old = children.get(name)
            if old is None or old.info is None:  # a file or marker wins over an implied dir
                children[name] = node_from_object(item)
        return children

    def mkdir(self, path: str, mode: int) -> None:
        if self.layers.call(path, "mkdir", mode)[0]:
            return
        loc = paths.parse_for_write(path)
        if self.exists(loc.path) is not None:
            raise Exists("already exists", loc.path)
        if loc.kind is Kind.CONTAINER:
            self.store.create_container(loc.container)
            node = nodes.container_node(self.container_info(loc.container, refresh=True))
        elif loc.kind is Kind.ENTRY:
            parent = self._require_dir(loc.parent)
            owner, mode = self.owner_meta(parent, mode & 0o7777, is_dir=True)
            node = self._put_marker(loc, mode, extra=owner)
        else:
            raise Exists("the root exists", loc.path)
        self.stats.put(loc.path, node)
        started = self.stats.begin_listing()
        self.stats.fill_dir(loc.path, {}, started)  # known empty
        self.stats.end_listing(started)
        self.dir_changed(loc.parent)

    def _put_marker(
        self,
        loc: Location,
        mode: int,
        mtime_ns: int | None = None,
        extra: Mapping[str, str] | None = None,
        updates: Mapping[str, str] | None = None,
    ) -> Node:
        """PUT a directory marker: `extra` keys too, `updates` over its mode and mtime
        (an implied directory's first change: one request)."""
        meta = {
            **(extra or {}),
            nodes.MODE_KEY: f"{mode:o}",
            nodes.MTIME_KEY: nodes.format_mtime(mtime_ns or time.time_ns()),
            **(updates or {}),
        }
        info = self.store.put_object(
            loc.container, loc.key, b"", protocol.DIRECTORY_CONTENT_TYPE, meta
        )
        return nodes.node_from_object(info)

    def _require_dir(self, loc: Location) -> Node:
        node = self.lookup(loc.path)
        if not node.is_dir:
            raise NotADirectory("not a directory", loc.path)
        return node

    def rmdir(self, path: str) -> None:
        if self.layers.call(path, "rmdir")[0]:
            return
        loc = paths.parse_for_write(path)
        node = self._require_dir(loc)
        if loc.kind is Kind.ROOT:
            raise InvalidArgument("cannot remove the root", loc.path)
        self.meta_behind.flush_tree(loc.path)
        if self._has_children(loc):
            raise NotEmpty("directory not empty", loc.path)
        if loc.kind is Kind.CONTAINER:
            try:
                self.store.delete_container(loc.container)
            except Conflict:
                raise NotEmpty("container not empty", loc.path) from None
            self.trees.forget(loc.container)
        elif node.info is not None:
            self.store.delete_object(loc.container, loc.key)
        # An implied directory with no children is already gone: nothing to delete.
        self.stats.forget_listing(loc.path)
        self.stats.put_missing(loc.path)
        self._keep_parent(loc.parent)
        self.dir_changed(loc.parent)

    def _has_children(self, loc: Location) -> bool:
        """From the directory's listing, cached or fetched (and then cached).

        `rm -r` of a big directory thus costs one listing, not one per entry. A name
        added elsewhere within the cache timeout is missed; removing a directory then
        deletes only its marker (the data stays, under an implied directory), and a
        container's DELETE is refused by the server (ENOTEMPTY) anyway.
        """
        if any(True for _ in self.files.pending_children(loc.path)):
            return True
        entries = self._cached_listing(loc)
        if entries is None:
            entries = self._list_dir(loc)
        return bool(entries)

    def _keep_parent(self, parent: Location) -> None:
        """Give an implied directory a marker when its last entry goes, so it does not vanish."""
        if parent.kind is not Kind.ENTRY:
            return
        node = self.stats.get(parent.path)
        if not isinstance(node, Node) or not node.is_dir or node.info is not None:
            return
        if not self._has_children(parent):
            self.stats.put(parent.path, self._put_marker(parent, node.mode, node.mtime_ns))

    # -- files and links -----------------------------------------------------
    def unlink(self, path: str) -> None:
        if self.layers.call(path, "unlink")[0]:
            return
        loc = paths.parse_for_write(path)
        node = self.lookup(loc.path)
        if node.is_dir:
            raise IsADirectory("is a directory", loc.path)
        on_server = self.files.unlinked(loc.path)
        self.meta_behind.discard(loc.path)
        if on_server:
            self.store.delete_object(loc.container, loc.key)
        self.stats.put_missing(loc.path)
        self._keep_parent(loc.parent)
        self.dir_changed(loc.parent)
        self.layers.after_unlink(loc.path)

    def symlink(self, path: str, target: str) -> None:
        if self.layers.call(path, "symlink", target)[0]:
            return
        loc = paths.parse_for_write(path)
        if loc.kind is not Kind.ENTRY:
            raise NotPermitted("symlinks live inside containers", loc.path)
        body = target.encode("utf-8", "surrogateescape")
        if len(body) >= PATH_MAX:
            raise NameTooLong(f"symlink target of {PATH_MAX} bytes or more", loc.path)
        if self.exists(loc.path) is not None:
            raise Exists("already exists", loc.path)
        owner, _ = self.owner_meta(self._require_dir(loc.parent), 0o777, is_dir=False)
        meta = {**owner, nodes.MTIME_KEY: nodes.format_mtime(time.time_ns())}
        if len(target) <= protocol.MAX_META_VALUE_LENGTH:  # longer ones: the body alone
            meta[nodes.SYMLINK_KEY] = target
        info = self.store.put_object(loc.container, loc.key, body, nodes.SYMLINK_CONTENT_TYPE, meta)
        self.stats.put(loc.path, nodes.node_from_object(info))
        self.dir_changed(loc.parent)

    def readlink(self, path: str) -> str:
        served, target = self.layers.call(path, "readlink")
        if served:
            return str(target)
        loc = paths.parse(path)
        node = self.lookup(loc.path)
        if node.kind is not NodeKind.LINK or node.info is None:
            raise InvalidArgument("not a symlink", loc.path)
        meta = node.info.meta
        if meta is None:
            meta = self.store.head_object(loc.container, loc.key).meta or {}
        target = meta.get(nodes.SYMLINK_KEY)
        if target is None:  # created by another client: the body holds the target
            body = self.store.read_range(loc.container, loc.key, 0, node.size)
            target = body.decode("utf-8", "surrogateescape")
        return target

    def link(self, path: str, target: str) -> None:
        raise NotPermitted("hard links are not supported on object storage", path)

    def mknod(self, path: str, mode: int, dev: int) -> None:
        """A regular file, or a fifo, socket or device node stored as an empty object
        whose content type names its kind (the kernel opens those itself)."""
        kind = nodes.SPECIAL_KINDS.get(statmod.S_IFMT(mode))
        if kind is None:
            if not statmod.S_ISREG(mode):
                raise InvalidArgument("unknown file type", path)
            fh = self.create(path, mode & 0o7777, os.O_WRONLY)
            self.release(fh)
            return
        if self.layers.call(path, "mknod", mode, dev)[0]:
            return
        loc = paths.parse_for_write(path)
        if loc.kind is not Kind.ENTRY:
            raise NotPermitted("special files live inside containers", loc.path)
        if self.exists(loc.path) is not None:
            raise Exists("already exists", loc.path)
        owner, perms = self.owner_meta(self._require_dir(loc.parent), mode & 0o7777, False)
        meta = {
            **owner, nodes.MODE_KEY: f"{perms:o}",
            nodes.MTIME_KEY: nodes.format_mtime(time.time_ns()),
        }  # fmt: skip
        if kind in (NodeKind.CHAR, NodeKind.BLOCK):
            meta[nodes.RDEV_KEY] = nodes.format_rdev(dev)
        info = self.store.put_object(
            loc.container, loc.key, b"", nodes.special_content_type(kind), meta,
            if_none_match=True,
        )  # fmt: skip
        self.stats.put(loc.path, nodes.node_from_object(info))
        self.dir_changed(loc.parent)

    # -- rename --------------------------------------------------------------
    def rename(self, old: str, new: str) -> None:
        if self.layers.rename(old, new):
            return
        src, dst = paths.parse_for_write(old), paths.parse_for_write(new)
        if src.path == dst.path:
            return
        if src.kind is not Kind.ENTRY or dst.kind is not Kind.ENTRY:
            raise CrossDevice("containers cannot be renamed on Pithos+", src.path)
        if dst.is_within(src):
            raise InvalidArgument("cannot move a directory into itself", src.path)
        node = self.lookup(src.path)
        existing = self._clear_destination(node, dst)
        held = None if node.is_dir else self.meta_behind.take(src.path)
        self.meta_behind.flush_tree(src.path)
        if node.is_dir:
            self.meta_behind.flush_tree(dst.path)
        else:
            self.meta_behind.discard(dst.path)  # the file there is replaced
        self.files.commit_path(src.path)
        if node.is_dir:
            self._rename_dir(node, src, dst)
            self.dir_changed(dst)  # its ".." changed: its ctime moves
        else:
            # What was just committed is what moves: its node (no request) describes the
            # destination, not the one looked up before the commit.
            node = self.lookup(src.path)
            content_type = self._type_after_rename(node, src, dst, existing)
            # Changes held for the file ride on its MOVE (metadata merged: protocol.md 4.4).
            changed = {**(held or {}), nodes.CTIME_KEY: nodes.format_mtime(time.time_ns())}
            version = self._move(node, src, dst, content_type=content_type, meta=changed)
            self.files.renamed(src.path, dst, content_type)
            self.stats.forget(dst.path)  # the replaced file's entry must not outrank this one
            self.stats.put(dst.path, self._moved(node, dst, version, content_type, changed))
        self.stats.put_missing(src.path)
        self._keep_parent(src.parent)
        self.dir_changed(src.parent)
        if dst.parent.path != src.parent.path:
            self.dir_changed(dst.parent)
        self.layers.after_rename(src.path, dst.path)

    def _type_after_rename(
        self, node: Node, src: Location, dst: Location, replaced: Node | None
    ) -> str | None:
        """The content type a file renamed to `dst` gets, or None to keep its own.

        Types follow the final name: a file saved over another through a temporary
        name (editors, sed -i, rsync, atomic saves) keeps the replaced object's type;
        a new name gets the type guessed from it, unless the file carries a type
        someone chose (one its old name does not explain), which stays.
        """
        if node.kind is not NodeKind.FILE:
            return None  # a symlink's or special file's type is what it is
        current = node.info.content_type if node.info is not None else None
        if replaced is not None and replaced.info is not None and replaced.kind is NodeKind.FILE:
            wanted = replaced.info.content_type
        elif current is None or current in (protocol.OCTET_STREAM, guess_type(src.name)):
            wanted = guess_type(dst.name)
        else:
            return None
        return wanted if wanted != current else None

    def _clear_destination(self, node: Node, dst: Location) -> Node | None:
        """POSIX rename over an existing entry: a file is replaced, an empty directory removed.

        Returns the entry replaced (None if the name was free)."""
        existing = self.exists(dst.path)
        if existing is None:
            self._require_dir(dst.parent)
            return None
        if node.is_dir and not existing.is_dir:
            raise NotADirectory("destination is not a directory", dst.path)
        if not node.is_dir and existing.is_dir:
            raise IsADirectory("destination is a directory", dst.path)
        if existing.is_dir:
            self.rmdir(dst.path)  # NotEmpty if it has entries
        else:
            self.files.unlinked(dst.path)  # open handles there no longer commit
        return existing

    def _rename_dir(self, node: Node, src: Location, dst: Location) -> None:
        self.files.commit_tree(src.path)  # open files below are moved with what they hold
        if node.info is not None:
            # The marker exists: one recursive server-side MOVE of the prefix (protocol.md 4.5).
            self._move(node, src, dst, recursive=True)
        else:
            for item in list(self.store.list_objects(src.container, src.prefix, None, False)):
                rest = item.name[len(src.prefix) :]
                self.store.move_object(src.container, item.name, dst.container, dst.prefix + rest)
        self.files.renamed_tree(src, dst)
        self.trees.forget(src.container)  # the names below moved: snapshots no longer hold
        self.trees.forget(dst.container)
        self.stats.forget_tree(src.path)
        self.stats.forget_tree(dst.path)
        self.stats.put(dst.path, node if node.info is None else self._head(dst))

    def _moved(
        self,
        node: Node,
        dst: Location,
        version: int | None,
        content_type: str | None,
        updates: Mapping[str, str],
    ) -> Node:
        """The node of a file just moved to `dst` with `updates` merged, without a HEAD.

        A MOVE keeps the object's UUID, content and metadata, merging what it sent
        (protocol.md 4.4): the name, the version, the type if given and those keys change.
        Sharing and public link are not moved. Where the reply garbles the version
        (the reference's quirk) it stays 0, "not known": a reader then asks the
        server for the current one (reader.py). Metadata not fully known (a listing
        that could not say): a HEAD, as before.
        """
        info = node.info
        if info is None or info.meta is None or info.meta is ASSUMED_EMPTY:
            return self._head(dst)
        now = time.time()
        meta = {k: v for k, v in {**info.meta, **updates}.items() if v}
        info = replace(
            info, name=dst.key, version=version or 0, version_timestamp=now,
            last_modified=now, sharing="", public_url="", shared_by="", meta=meta,
            content_type=content_type or info.content_type,
        )  # fmt: skip
        if version:
            self.store.remember(info, dst.container)
        return nodes.node_from_object(info)

    def _move(self, node: Node, src: Location, dst: Location, **how: Any) -> int | None:
        """One server-side MOVE (`how`: move_object's options); the new version where the
        reply said it. A MOVE is not repeated after a lost reply (the source would be
        gone), so a lost reply is resolved by asking the server: the destination holding
        the source's UUID, and the source gone, is success (its version then not known)."""
        try:
            return self.store.move_object(src.container, src.key, dst.container, dst.key, **how)
        except (TransportError, ServerError) as exc:
            if not self._moved_anyway(node, src, dst):
                raise
            log.info("rename %s -> %s: reply lost (%s), but the server moved it",
                     src.path, dst.path, exc)  # fmt: skip
            return None

    def _moved_anyway(self, node: Node, src: Location, dst: Location) -> bool:
        uuid = node.info.uuid if node.info is not None else ""
        if not uuid:
            return False  # nothing to recognise it by (plain Swift has no UUIDs)
        try:
            if self.store.head_object(dst.container, dst.key).uuid != uuid:
                return False
        except PithosError:
            return False
        try:
            return self.store.head_object(src.container, src.key).uuid != uuid
        except NotFound:
            return True
        except PithosError:
            return False

    def _head(self, loc: Location) -> Node:
        return nodes.node_from_object(self.store.head_object(loc.container, loc.key))

    # -- open files: a layer's handles, else the FileTable ---------------------
    def open(self, path: str, flags: int) -> int:
        fh = self.layers.open(path, "open", flags)
        return self.files.open(path, flags) if fh is None else fh

    def create(self, path: str, mode: int, flags: int) -> int:
        fh = self.layers.open(path, "create", mode, flags)
        return self.files.create(path, mode, flags) if fh is None else fh

    def read(self, fh: int, offset: int, size: int) -> bytes | memoryview:
        if self.layers.owns(fh):
            layer, handle = self.layers.handle(fh)
            return layer.read(handle, offset, size)
        return self.files.read(fh, offset, size)

    def write(self, fh: int, offset: int, data: bytes | memoryview) -> int:
        """Write `data` at `offset`. `data` may be a view of the kernel's request buffer,
        valid during this call only: nothing below keeps it without copying it."""
        if self.layers.owns(fh):
            layer, handle = self.layers.handle(fh)
            return layer.write(handle, offset, bytes(data))  # small files: a copy is nothing
        return self.files.write(fh, offset, data)

    def truncate(self, path: str, length: int, fh: int | None = None) -> None:
        if fh is not None and self.layers.owns(fh):
            layer, handle = self.layers.handle(fh)
            layer.truncate(path, length, handle)
        elif fh is not None or not self.layers.call(path, "truncate", length, None)[0]:
            loc = paths.parse_for_write(path)
            if loc.kind is Kind.ENTRY:  # before anything is allocated for that size
                limits.check_size(length, self.block_size(loc.container), loc.path)
            self.files.truncate(path, length, fh)

    def fallocate(self, fh: int, mode: int, offset: int, length: int) -> None:
        """Reserve [offset, offset + length): the file grows to cover it (with zeros,
        stored sparse) unless FALLOC_FL_KEEP_SIZE; hole punching and the other modes
        are not supported."""
        if self.layers.owns(fh) or mode & ~FALLOC_FL_KEEP_SIZE:
            raise NotSupported("only plain allocation is supported")
        if offset < 0 or length <= 0:
            raise InvalidArgument("bad range")
        self.files.allocate(fh, offset + length, keep_size=bool(mode & FALLOC_FL_KEEP_SIZE))

    def flush(self, fh: int, pid: int | None = None) -> None:
        """A close() of `fh` (by process `pid`, when known). See FileTable.flush."""
        if self.layers.owns(fh):
            layer, handle = self.layers.handle(fh)
            layer.flush(handle)
        else:
            self.files.flush(fh, pid)

    def fsync(self, fh: int) -> None:
        """fsync: commit whatever the file holds, written through this handle or not."""
        if self.layers.owns(fh):
            layer, handle = self.layers.handle(fh)
            layer.flush(handle)
        else:
            self.files.flush(fh)

    def release(self, fh: int) -> None:
        if self.layers.owns(fh):
            self.layers.release(fh)
        else:
            self.files.release(fh)

    def copy_range(self, fh_in: int, off_in: int, fh_out: int, off_out: int, size: int) -> int:
        """copy_file_range: a whole stored version copied into an empty file costs one
        hashmap PUT (no data is read or sent). Anything else is NotSupported, on which
        the kernel copies by reading and writing (so any range still works)."""
        if self.layers.owns(fh_in):
            layer, handle = self.layers.handle(fh_in)
            source = layer.copy_source(handle)
        else:
            source = self.files.clean_source(fh_in)
        if source is None or self.layers.owns(fh_out):
            raise NotSupported("not a stored version: copied by reads and writes")
        container, info = source
        if off_in >= info.size:
            return 0
        if off_in != 0 or off_out != 0 or size < info.size:
            raise NotSupported("partial copy: done by reads and writes")
        if not self.files.adopt(fh_out, container, info):
            raise NotSupported("destination not empty or geometry differs")
        return info.size

    # -- attributes ----------------------------------------------------------
    def chmod(self, path: str, mode: int) -> None:
        if self.layers.call(path, "chmod", mode)[0]:
            return
        node = self.lookup(paths.parse_for_write(path).path)
        if node.kind is not NodeKind.LINK and self._shown_mode(node) == mode & 0o7777:
            return  # the mode it shows (vim's fchmod after a save): nothing to store, no version
        self._set_attr_meta(
            path,
            {
                nodes.MODE_KEY: f"{mode & 0o7777:o}",
                nodes.CTIME_KEY: nodes.format_mtime(time.time_ns()),
            },
        )

    def utimens(self, path: str, times: tuple[int, int] | None) -> None:
        if self.layers.call(path, "utimens", times)[0]:
            return
        now = time.time_ns()
        atime, mtime = (now, now) if times is None else (
            _utime_value(times[0], now), _utime_value(times[1], now)
        )  # fmt: skip
        if atime is None and mtime is None:
            return
        node = self.lookup(path)
        updates = {nodes.CTIME_KEY: nodes.format_mtime(now)}
        if mtime is not None:
            updates[nodes.MTIME_KEY] = nodes.format_mtime(mtime)
        if atime is None:  # keep the access time it shows, which defaulted to the old mtime
            atime = node.mtime_ns if node.atime_ns is None else node.atime_ns
        # Stored only where it differs from the mtime (an empty value deletes the key).
        shown_mtime = node.mtime_ns if mtime is None else mtime
        updates[nodes.ATIME_KEY] = nodes.format_mtime(atime) if atime != shown_mtime else ""
        self._set_attr_meta(path, updates)
        if mtime is not None and node.is_dir:
            # The time set is the directory's mtime now, also when older than the last
            # entry change remembered here (rsync -a sets it after filling it; while
            # that showed instead, every rsync set it again).
            with self._lock:
                self._dir_times.pop(paths.parse(path).path, None)

    def chown(self, path: str, uid: int, gid: int) -> None:
        """Owner and group stored in metadata. Who may change them the kernel decides
        (default_permissions: root, or the owner giving the file to one of its groups)."""
        if self.layers.call(path, "chown", uid, gid)[0]:
            return
        node = self.lookup(paths.parse_for_write(path).path)
        updates = {}
        if uid != -1 and uid != (self.opts.uid if node.uid < 0 else node.uid):
            updates[nodes.UID_KEY] = str(uid)
        if gid != -1 and gid != (self.opts.gid if node.gid < 0 else node.gid):
            updates[nodes.GID_KEY] = str(gid)
        if not updates:
            return  # the owner it has (cp -a, rsync -a, tar as its owner): no version
        updates[nodes.CTIME_KEY] = nodes.format_mtime(time.time_ns())
        self._set_attr_meta(path, updates)

    def _set_attr_meta(self, path: str, updates: Mapping[str, str]) -> None:
        """Store mode/owner/times in object metadata: one POST, no data re-upload."""
        loc = paths.parse_for_write(path)
        if loc.kind is not Kind.ENTRY:
            self.lookup(loc.path)
            return  # root and containers have no object to carry a mode or mtime
        self.set_meta(loc, updates, hold=True)

    def set_meta(self, loc: Location, updates: Mapping[str, str], hold: bool = False) -> None:
        """Merge `updates` into an object's user metadata: one POST (none for a file open
        with unsaved data: its commit carries them), and no HEAD where the metadata
        it had is known. `hold`: the change is shown at once and sent merged with those
        that follow it within meta_behind.HOLD, or with a rename (meta_behind.py)."""
        node = self.lookup(loc.path)
        if self.files.update_meta(loc.path, updates):
            return  # an open file with unsaved data: applied at its commit
        if node.info is None:  # an implied directory: a marker that carries the change
            self.stats.put(loc.path, self._put_marker(loc, node.mode, node.mtime_ns, updates=updates))
            return
        info = node.info
        known = info.meta is not None and info.meta is not ASSUMED_EMPTY
        # An owner change is sent at once (it decides who may do what elsewhere).
        owners = nodes.UID_KEY in updates or nodes.GID_KEY in updates
        if hold and known and not owners and (node.is_dir or self.files.just_committed(loc.path)):
            assert info.meta is not None
            merged = {k: v for k, v in {**info.meta, **updates}.items() if v}
            self.stats.put(loc.path, nodes.node_from_object(replace(info, meta=merged)))
            self.meta_behind.add(loc, updates, info)
            return
        self._post_meta(loc, updates, info)

    def _post_held_meta(self, loc: Location, updates: Mapping[str, str], info: ObjectInfo) -> None:
        # The object may have a newer version by now (a handle open since before the
        # change committed more): the POST merges onto that one, so its node is the base.
        current = self.stats.get(loc.path)
        if isinstance(current, Node) and current.info is not None:
            if current.info.version >= info.version:
                info = current.info
        try:
            # Changes made since this one was taken still show until they are sent too.
            self._post_meta(loc, updates, info, self.meta_behind.waiting_for(loc.path))
        except BaseException:
            self.stats.forget(loc.path)  # it shows what the server has, not what was lost
            raise

    def _post_meta(
        self,
        loc: Location,
        updates: Mapping[str, str],
        info: ObjectInfo,
        shown: Mapping[str, str] | None = None,
    ) -> None:
        """The POST of `updates` onto the object `info` describes, and its result
        (shown with `shown` over it: changes held for later)."""
        version = self.store.update_meta(loc.container, loc.key, updates)
        if info.meta is None or info.meta is ASSUMED_EMPTY:
            self.refresh(loc)
            return
        # The POST merged `updates` into metadata we know: no HEAD needed. The reply
        # names the version it made (the reference's does); without it the number
        # stays the previous one (same content, readers cope: see reader.py).
        merged = {k: v for k, v in {**info.meta, **updates}.items() if v}
        changed = replace(info, meta=merged, version=version or info.version)
        if version:
            self.store.remember(changed, loc.container)
        new = nodes.node_from_object(changed)
        self.files.rebased(loc.path, new.info)
        if shown:
            merged = {k: v for k, v in {**merged, **shown}.items() if v}
            new = nodes.node_from_object(replace(changed, meta=merged))
        self.stats.put(loc.path, new)

    def refresh(self, loc: Location) -> Node:
        """Re-read one object after a change made through this mount."""
        node = self._head(loc)
        self.stats.put(loc.path, node)
        self.files.rebased(loc.path, node.info)
        return node

    def head_info(self, loc: Location) -> ObjectInfo:
        return self.store.head_object(loc.container, loc.key)

    # -- statfs ----------------------------------------------------------------
    def forget_usage(self) -> None:
        """After a purge: the next statfs asks the server again."""
        with self._lock:
            self._statfs = None

    def statfs(self) -> dict[str, int]:
        """Account quota and usage; unlimited accounts report usage plus 1 PiB free.

        A server that reports its free disk space (an extension, see
        AccountInfo.disk_available) caps what is free: a full server disk shows as
        a full filesystem, even when the quota has room.
        """
        now = time.monotonic()
        with self._lock:
            cached = self._statfs
        if cached is None or now - cached[0] > self.opts.attr_timeout:
            cached = (now, self.store.account_info())
            with self._lock:
                self._statfs = cached
        info = cached[1]
        frsize = 4096
        free = (info.quota - info.bytes_used) if info.quota else 2**50
        if info.disk_available is not None:
            free = min(free, info.disk_available)
        free = max(0, free)
        total = info.bytes_used + free
        return {
            "f_bsize": self.blksize,
            "f_frsize": frsize,
            "f_blocks": total // frsize,
            "f_bfree": free // frsize,
            "f_bavail": free // frsize,
            "f_files": 2**32,
            "f_ffree": 2**32,
            "f_favail": 2**32,
            "f_namemax": 255,
        }
