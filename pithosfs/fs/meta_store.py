"""An ObjectStore decorator that gives every listed object what a HEAD would tell.

The mount builds modes, mtimes and symlinks from user metadata (nodes.py) and,
under `.shared/`, write bits from the caller's rights. A server offering the
listing extensions puts both in its listings (protocol.EXT_LISTING_META,
EXT_LISTING_RIGHTS); the reference Pithos+ puts neither (its rights labels in
listings are not the caller's, protocol.md 5.3). Without them a default would be
wrong, so entries are completed here, never guessed:

1. metadata from the persistent MetaCache, keyed by (uuid, version): free;
2. when the listing reply's `X-Container-Object-Meta` names none of the mount's
   own keys (`Pithosfs-*`), the object carries none: ASSUMED_EMPTY, no request;
3. otherwise a HEAD, all of a listing's at once on a small pool (the HEAD's
   metadata then goes into the cache, so each version is fetched once ever).

Rights (a store for another account's share, `rights=True`) change without a
new version, so they are never cached here: without EXT_LISTING_RIGHTS each
listed object is HEADed (in parallel), and the stat cache keeps the answer
for the attribute timeout like any other.

Every object info this store hands out from a HEAD or a write (the full
metadata of that version) is recorded in the cache on the way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from pithosfs import protocol
from pithosfs.cache.meta_cache import MetaCache
from pithosfs.client.errors import NotFound
from pithosfs.client.types import ObjectInfo, ObjectStore, Subdir
from pithosfs.fs import nodes

log = logging.getLogger(__name__)

# Metadata of an object that carries none of the mount's own keys (`Pithosfs-*`: mode,
# times, owner, link target...; the container says so), maybe other keys: enough to
# build its node, not its full metadata (never cached, and a change of it first HEADs
# the object).
ASSUMED_EMPTY: Mapping[str, str] = MappingProxyType({})
NODE_KEY_PREFIX = nodes.INTERNAL_PREFIX.lower()
# Entries completed together (their HEADs in parallel) before the listing goes on.
BATCH = 256
HEAD_THREADS = 8


class MetaCachingStore:
    """Wraps an ObjectStore; unknown attributes are the wrapped store's."""

    def __init__(
        self,
        inner: ObjectStore,
        cache: MetaCache,
        rights: bool = False,
        threads: int = HEAD_THREADS,
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.rights = rights  # listings must carry the caller's real rights (another's share)
        self._pool = ThreadPoolExecutor(threads, "pithosfs-head")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def account(self) -> str:
        return self.inner.account

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- recording ---------------------------------------------------------------
    def remember(self, info: ObjectInfo | None, container: str = "") -> ObjectInfo | None:
        """Record a version's full metadata (from a HEAD or a write); returns `info`.

        A write whose reply named no UUID (the reference's, built by the client
        from what was sent) is recorded by path and version instead, which a
        listing also shows: so the next listing needs no HEAD for it either.
        """
        if info is not None and info.meta is not None and info.meta is not ASSUMED_EMPTY:
            if info.uuid:
                self.cache.put(info.uuid, info.version, info.meta)
            elif container:
                self.cache.put(self._path_key(container, info.name), info.version, info.meta)
        return info

    def _path_key(self, container: str, name: str) -> str:
        """The cache's key for a version known by path (versions are server-wide serials)."""
        return f"path:{self.account}/{container}/{name}"

    def head_object(self, container: str, name: str, version: int | None = None) -> ObjectInfo:
        info = self.inner.head_object(container, name, version)
        self.remember(info)
        return info

    def put_object(self, container: str, *args: Any, **kw: Any) -> ObjectInfo:
        info = self.inner.put_object(container, *args, **kw)
        return self.remember(info, container)  # type: ignore[return-value]

    def put_hashmap(self, container: str, *args: Any, **kw: Any) -> ObjectInfo:
        info = self.inner.put_hashmap(container, *args, **kw)
        return self.remember(info, container)  # type: ignore[return-value]

    def update_range(self, container: str, *args: Any, **kw: Any) -> ObjectInfo:
        info = self.inner.update_range(container, *args, **kw)
        return self.remember(info, container)  # type: ignore[return-value]

    def truncate(self, container: str, *args: Any, **kw: Any) -> ObjectInfo:
        info = self.inner.truncate(container, *args, **kw)
        return self.remember(info, container)  # type: ignore[return-value]

    # -- listings ----------------------------------------------------------------
    def list_objects(
        self,
        container: str,
        prefix: str = "",
        delimiter: str | None = "/",
        with_meta: bool = True,
        until: int | None = None,
        limit: int | None = None,
    ) -> Iterator[ObjectInfo | Subdir]:
        """The wrapped listing; with `with_meta`, every object complete (see the module doc)."""
        items = self.inner.list_objects(container, prefix, delimiter, with_meta, until, limit)
        if not with_meta or until is not None:  # a past state: no HEAD shows it
            yield from items
            return
        yield from self.complete(container, items)

    def list_uncompleted(
        self, container: str, prefix: str, delimiter: str | None, limit: int | None
    ) -> list[ObjectInfo | Subdir]:
        """The wrapped listing as it comes (with the listing-meta extension where offered),
        for `complete` to finish only the entries that are wanted."""
        return list(self.inner.list_objects(container, prefix, delimiter, True, None, limit))

    def complete(
        self, container: str, items: Iterable[ObjectInfo | Subdir]
    ) -> Iterator[ObjectInfo | Subdir]:
        """Entries of `list_uncompleted`, completed as `list_objects` completes its own."""
        batch: list[ObjectInfo | Subdir] = []
        for item in items:
            batch.append(item)
            if len(batch) >= BATCH:
                yield from self._complete(container, batch)
                batch = []
        yield from self._complete(container, batch)

    def _needs_rights(self) -> bool:
        if not self.rights:
            return False
        return not self.inner.has_extension(protocol.EXT_LISTING_RIGHTS)

    def _complete(
        self, container: str, batch: list[ObjectInfo | Subdir]
    ) -> Iterable[ObjectInfo | Subdir]:
        heads = self._needs_rights()
        # Objects without a UUID (plain Swift) have no version to key a cache on: they
        # keep the listing's Last-Modified and default modes (docs/swift.md).
        unknown = [
            i for i in batch if isinstance(i, ObjectInfo) and i.uuid and (heads or i.meta is None)
        ]
        if not unknown:
            return batch
        done: dict[str, ObjectInfo | None] = {}
        if not heads:
            known = self.cache.get_many((i.uuid, i.version) for i in unknown)
            by_path = [i for i in unknown if (i.uuid, i.version) not in known]
            if by_path:  # versions this mount wrote without learning their UUID
                paths = {(self._path_key(container, i.name), i.version): i for i in by_path}
                for key, meta in self.cache.get_many(paths).items():
                    info = paths[key]
                    known[(info.uuid, info.version)] = meta
                    self.cache.put(info.uuid, info.version, meta)
            for info in unknown:
                found = known.get((info.uuid, info.version))
                if found is not None:
                    done[info.name] = replace(info, meta=found)
            if self._container_lacks_node_keys(container):
                for info in unknown:
                    done.setdefault(info.name, replace(info, meta=ASSUMED_EMPTY))
        asked = [i for i in unknown if i.name not in done]
        fetched = self._pool.map(self._head, [(container, i) for i in asked])
        for info, fresh in zip(asked, fetched, strict=True):
            done[info.name] = fresh
        out: list[ObjectInfo | Subdir] = []
        for item in batch:
            if isinstance(item, ObjectInfo) and item.name in done:
                fresh = done[item.name]
                if fresh is None:
                    continue  # deleted since it was listed
                item = fresh
            out.append(item)
        return out

    def _head(self, job: tuple[str, ObjectInfo]) -> ObjectInfo | None:
        container, listed = job
        try:
            return self.head_object(container, listed.name)
        except NotFound:
            return None

    def _container_lacks_node_keys(self, container: str) -> bool:
        """Whether the container's last listing reply said no object carries a key of
        the mount's own (`X-Container-Object-Meta`, lower-cased by the client)."""
        keys = self.inner.object_meta_keys(container)
        if keys is None:
            return False
        return not any(k.startswith(NODE_KEY_PREFIX) for k in keys)
