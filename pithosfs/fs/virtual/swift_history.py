"""Object history on a plain OpenStack Swift container, for `.versions` (versions.py).

Swift keeps older versions only when the container names an archive container:
`X-Versions-Location` (each overwrite copies the old version there) or
`X-History-Location` (overwrites and deletes; a delete also leaves a marker). The
archived copy of `<name>` is `<archive>/<%03x len(name in UTF-8)><name>/<timestamp>`,
where the timestamp is the archived version's `X-Timestamp` (Swift's legacy
versioned_writes). Version ids here are that timestamp in units of 10 us (Swift's
own precision), so they are plain integers like Pithos+ version ids and sort by age;
the current object gets the id of its own `X-Timestamp`.

Swift's newer object versioning (`X-Versions-Enabled: true`) keeps versions in a
reserved container: they are listed with `GET <container>?versions&prefix=<name>`
(newest first, each with a `version_id` that is its timestamp) and read with
`?version-id=`; `VersionIdReads` gives the block reader such reads. Containers with
no versioning at all show an empty `.versions`; the reason is logged once.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from pithosfs.client.errors import NotFound, Unsupported
from pithosfs.client.parsing import object_from_headers
from pithosfs.client.types import ObjectInfo, ObjectStore, Subdir, VersionEntry

log = logging.getLogger(__name__)

DELETE_MARKER = "application/x-deleted;swift_versions_deleted=1"
TICKS = 100_000  # version id units per second (Swift timestamps have 5 decimals)
ENABLED = "X-Versions-Enabled"
MAX_LISTED = 10_000  # versions of one object listed (one page of `?versions`)
MAX_REMEMBERED = 4096  # recent listings/HEADs kept


@dataclass(frozen=True)
class Archive:
    container: str  # where Swift keeps the older versions ("" with X-Versions-Enabled)
    header: str  # X-Versions-Location, X-History-Location or X-Versions-Enabled

    @property
    def by_version_id(self) -> bool:
        return self.header == ENABLED


def version_id(timestamp: float | str) -> int:
    return round(float(timestamp) * TICKS)


def swift_version_id(version: int) -> str:
    """Our integer id back to Swift's `version_id` (its timestamp, 5 decimals)."""
    return f"{version // TICKS}.{version % TICKS:05d}"


def archive_prefix(key: str) -> str:
    return f"{len(key.encode('utf-8')):03x}{key}/"


class SwiftHistory:
    """The versions of objects in plain Swift containers (read-only, cached briefly)."""

    def __init__(self, store: ObjectStore, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self._lock = threading.Lock()
        # container -> (monotonic time, archive or None); GUARDED_BY(_lock)
        self._archives: dict[str, tuple[float, Archive | None]] = {}
        self._explained: set[str] = set()  # GUARDED_BY(_lock): containers logged about
        # (what, container, key) -> (monotonic time, answer): one listing and one HEAD per
        # object serve all its versions while `ttl` lasts; GUARDED_BY(_lock)
        self._recent: dict[tuple[str, str, str], tuple[float, Any]] = {}

    def forget(self, container: str, key: str) -> None:
        """`key` changed through this mount: ask Swift again next time."""
        with self._lock:
            for what in ("listed", "current"):
                self._recent.pop((what, container, key), None)
            archive = self._archives.get(container)
            if archive is not None and archive[1] is not None:
                self._recent.pop(("archived", archive[1].container, key), None)

    def _remembered(self, what: str, container: str, key: str, ask: Any) -> Any:
        now = time.monotonic()
        with self._lock:
            cached = self._recent.get((what, container, key))
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        answer = ask()
        with self._lock:
            self._recent[(what, container, key)] = (now, answer)
            if len(self._recent) > MAX_REMEMBERED:
                self._recent.pop(next(iter(self._recent)))
        return answer

    def archive(self, container: str) -> Archive | None:
        """The container's archive, or None (logged once) when Swift keeps no history."""
        now = time.monotonic()
        with self._lock:
            cached = self._archives.get(container)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        headers = self.store.container_headers(container)
        found = None
        for header in ("X-History-Location", "X-Versions-Location"):
            if headers.get(header):
                found = Archive(unquote(headers[header]), header)
                break
        if found is None and headers.get(ENABLED, "").lower() == "true":
            found = Archive("", ENABLED)
        with self._lock:
            self._archives[container] = (now, found)
            first = container not in self._explained
            self._explained.add(container)
        if found is None and first:
            log.info(
                "%s/.versions is empty: plain Swift container without versioning "
                "(no X-Versions-Location, X-History-Location or X-Versions-Enabled)",
                container,
            )
        return found

    def versions(self, container: str, key: str) -> list[VersionEntry]:
        """Archived versions (oldest first) plus the current object, if any."""
        archive = self.archive(container)
        if archive is None:
            return []
        if archive.by_version_id:
            return [VersionEntry(version_id(v), float(v)) for v in self._listed(container, key)]
        found = [VersionEntry(version_id(ts), float(ts)) for ts, _ in self._archived(archive, key)]
        current = self._current(container, key)
        if current is not None:
            found.append(current)
        return found

    def locate(self, container: str, key: str, version: int) -> tuple[str, ObjectInfo]:
        """(container, info) to read version `version` of `key` from; NotFound if none."""
        archive = self.archive(container)
        if archive is not None and archive.by_version_id:
            return container, self._head_version(container, key, version)
        current = self._current(container, key)
        if current is not None and current.version == version:
            where, name = container, key
        elif archive is not None:
            match = [n for ts, n in self._archived(archive, key) if version_id(ts) == version]
            if not match:
                raise NotFound("no such version", status=404, path=f"{container}/{key}")
            where, name = archive.container, match[0]
        else:
            raise NotFound("no such version", status=404, path=f"{container}/{key}")
        info = self.store.head_object(where, name)
        # The id in `version` names this version (inodes, xattrs); Swift ignores `?version=`.
        return where, dataclasses.replace(info, version=version)

    def is_live(self, container: str, source_container: str) -> bool:
        """Whether a version found in `source_container` is the live object, which an
        overwrite moves to the archive (archived copies and version-id reads never change)."""
        archive = self.archive(container)
        return source_container == container and not (archive and archive.by_version_id)

    def reads_for(self, container: str, version: int) -> Any:
        """The store a reader of `version` in `container` should use."""
        archive = self.archive(container)
        if archive is not None and archive.by_version_id:
            return VersionIdReads(self.store, swift_version_id(version))
        return self.store

    def _listed(self, container: str, key: str) -> list[str]:
        return list(
            self._remembered("listed", container, key, lambda: self._ask_listed(container, key))
        )

    def _ask_listed(self, container: str, key: str) -> list[str]:
        """Swift version ids of `key` (delete markers left out), oldest first."""
        items = self.store.list_object_versions(container, key, MAX_LISTED)
        ids = [
            str(i["version_id"])
            for i in items
            if i.get("name") == key
            and i.get("version_id") not in (None, "null")
            and not str(i.get("content_type", "")).startswith(DELETE_MARKER)
        ]
        return sorted(ids, key=float)

    def _head_version(self, container: str, key: str, version: int) -> ObjectInfo:
        params = {"version-id": swift_version_id(version)}
        headers = self.store.object_headers(container, key, params)
        if headers.get("Content-Type", "").startswith(DELETE_MARKER):
            raise NotFound("a delete marker", status=404, path=f"{container}/{key}")
        return dataclasses.replace(object_from_headers(key, headers), version=version)

    def _archived(self, archive: Archive, key: str) -> list[tuple[str, str]]:
        ask = lambda: self._ask_archived(archive, key)  # noqa: E731
        return list(self._remembered("archived", archive.container, key, ask))

    def _ask_archived(self, archive: Archive, key: str) -> list[tuple[str, str]]:
        """(timestamp text, archived object name) of each archived version, oldest first."""
        prefix = archive_prefix(key)
        out = []
        try:
            items = list(self.store.list_objects(archive.container, prefix, None, with_meta=False))
        except NotFound:  # the archive container does not exist yet
            return []
        for item in items:
            if isinstance(item, Subdir) or item.content_type.startswith(DELETE_MARKER):
                continue
            stamp = item.name[len(prefix) :]
            try:
                float(stamp)
            except ValueError:
                continue  # not written by versioned_writes
            out.append((stamp, item.name))
        return out

    def _current(self, container: str, key: str) -> VersionEntry | None:
        ask = lambda: self._ask_current(container, key)  # noqa: E731
        return self._remembered("current", container, key, ask)

    def _ask_current(self, container: str, key: str) -> VersionEntry | None:
        try:
            headers = self.store.object_headers(container, key)
        except NotFound:
            return None
        stamp = headers.get("X-Timestamp")
        return VersionEntry(version_id(stamp), float(stamp)) if stamp else None


class VersionIdReads:
    """A store whose reads of objects name one Swift `version_id` (the block reader's view).

    Only what ObjectReader calls is overridden; anything else goes to the real store."""

    def __init__(self, store: Any, swift_version: str) -> None:
        self._store = store
        self._version = swift_version

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def get_hashmap(self, container: str, name: str, version: int | None = None) -> Any:
        raise Unsupported("no hashmaps on plain Swift", path=container)

    def read_range(
        self,
        container: str,
        name: str,
        offset: int,
        length: int,
        version: int | None = None,
        size: int | None = None,
    ) -> bytes:
        # The client's ranged GET: it also copes with a server that ignores Range.
        params = {"version-id": self._version}
        return self._store.read_range_query(container, name, offset, length, params, size)

    def read_range_into(
        self,
        container: str,
        name: str,
        offset: int,
        buf: memoryview | bytearray,
        version: int | None = None,
        size: int | None = None,
    ) -> int:
        params = {"version-id": self._version}
        return self._store.read_range_query_into(container, name, offset, buf, params, size)
