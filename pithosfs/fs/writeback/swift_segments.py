"""Objects above Swift's single-PUT limit: Static Large Objects (SLO).

Swift refuses a PUT body above its `max_file_size` (5 GiB by default; the
cluster reports it at `/info`). Such an object is stored as segments of at most
that size in `<container>_segments` (the name python-swiftclient and rclone use),
named `<object>/slo/<unix time>/<size>/<segment size>/<index:08>`, and then a
manifest PUT `?multipart-manifest=put` that lists them; Swift serves GETs and
ranged GETs of the manifest as the concatenated content.

`PITHOSFS_SWIFT_SEGMENT_SIZE` (bytes, or with K/M/G) lowers the limit below the cluster's, for
tests and for clusters behind proxies with a smaller body limit. When a manifest
is replaced, its old segments are deleted once the new manifest is in place,
unless the container keeps history (Swift's archived versions still use them).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pithosfs.client.errors import NotFound, PithosError, Unsupported
from pithosfs.client.swift import cluster_root
from pithosfs.client.types import ObjectStore
from pithosfs.fs.options import size_in_bytes

log = logging.getLogger(__name__)

SEGMENT_SIZE_ENV = "PITHOSFS_SWIFT_SEGMENT_SIZE"
DEFAULT_MAX_FILE_SIZE = 5 * 1024**3 + 2  # Swift's default max_file_size
DEFAULT_MAX_SEGMENTS = 1000  # Swift's default slo max_manifest_segments
PARALLEL_SEGMENTS = 3  # segment PUTs in flight at once
HISTORY_HEADERS = ("X-Versions-Location", "X-History-Location", "X-Versions-Enabled")


class BadSegmentSize(ValueError):
    """The segment size setting is not a positive size (the message names the variable)."""


@dataclass(frozen=True)
class Limits:
    single_put: int  # the largest body one PUT may carry
    max_segments: int  # segments one manifest may list


_limits: dict[str, Limits] = {}  # GUARDED_BY(_limits_lock): by cluster root URL
_limits_lock = threading.Lock()


def limits(store: ObjectStore) -> Limits:
    """The cluster's limits from `/info` (asked once per cluster), lowered by the env knob."""
    root = cluster_root(store.storage_url)
    with _limits_lock:
        found = _limits.get(root)
    if found is None:
        max_file, max_segments = DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_SEGMENTS
        try:
            info = store.cluster_info()
            max_file = int(info.get("swift", {}).get("max_file_size", max_file))
            max_segments = int(info.get("slo", {}).get("max_manifest_segments", max_segments))
        except (PithosError, ValueError, TypeError, AttributeError) as exc:
            log.info("%s/info unreadable (%s): assuming Swift's default limits", root, exc)
        found = Limits(max_file, max_segments)
        with _limits_lock:
            _limits[root] = found
    override = segment_size_override()
    if override is not None:
        return Limits(min(found.single_put, override), found.max_segments)
    return found


def segment_size_override(env: Mapping[str, str] | None = None) -> int | None:
    """`PITHOSFS_SWIFT_SEGMENT_SIZE` in bytes (`4194304`, `4M`), None when unset.

    BadSegmentSize, naming the variable, for anything but a positive size: `mount`
    checks it at start, so a typo fails the mount instead of every large write.
    """
    text = (os.environ if env is None else env).get(SEGMENT_SIZE_ENV, "").strip()
    if not text:
        return None
    try:
        size = size_in_bytes(text)
    except ValueError:
        size = 0
    if size <= 0:
        raise BadSegmentSize(
            f"{SEGMENT_SIZE_ENV}={text!r} is not a segment size: "
            "give a positive number of bytes, or one with K, M or G (4M)"
        )
    return size


def segments_container(container: str) -> str:
    return container + "_segments"


# A body for bytes [offset, offset + length) of the staged file: (offset, length) -> body.
BodyFactory = Callable[[int, int], Any]


def put_segmented(
    store: ObjectStore,
    container: str,
    name: str,
    size: int,
    body: BodyFactory,
    content_type: str,
    meta: Mapping[str, str] | None,
    create_only: bool,
) -> None:
    """Upload `size` bytes as segments, then the manifest that makes them one object."""
    lim = limits(store)
    if size > lim.single_put * lim.max_segments:
        raise Unsupported(
            f"{name}: {size} bytes need more than {lim.max_segments} segments", path=container
        )
    seg_container = segments_container(container)
    store.create_segments_container(seg_container)
    prefix = f"{name}/slo/{time.time():.6f}/{size}/{lim.single_put}/"
    offsets = range(0, size, lim.single_put)
    paths = [f"/{seg_container}/{prefix}{index:08d}" for index in range(len(offsets))]

    def put_segment(index: int) -> dict[str, Any]:
        offset = offsets[index]
        length = min(lim.single_put, size - offset)
        seg_name = paths[index].split("/", 2)[2]
        etag = store.put_segment(seg_container, seg_name, body(offset, length))
        return {"path": paths[index], "etag": etag, "size_bytes": length}

    try:
        # A few segments in flight at once: each streams from the staged file, so memory
        # stays small, and Swift spreads them over its disks.
        with ThreadPoolExecutor(PARALLEL_SEGMENTS, thread_name_prefix="swift-seg") as pool:
            manifest = list(pool.map(put_segment, range(len(offsets))))
        store.put_manifest(container, name, manifest, content_type, meta, create_only)
    except PithosError:
        # No manifest names these segments: remove them (a retry writes new ones).
        _delete_paths(store, paths)
        raise
    log.info("%s/%s: %d bytes stored as %d segments", container, name, size, len(paths))


def manifest_segments(store: ObjectStore, container: str, name: str) -> list[str]:
    """Segment paths (`/container/object`) of `name` if it is an SLO manifest, else []."""
    try:
        return store.manifest_segments(container, name)
    except NotFound:
        return []


def delete_segments(store: ObjectStore, container: str, segments: list[str]) -> None:
    """Delete a replaced manifest's segments, unless the container archives versions.

    Best effort: the user's write succeeded; a segment left behind is only space."""
    if not segments:
        return
    try:
        headers = store.container_headers(container)
        if any(headers.get(h) for h in HISTORY_HEADERS):
            return  # archived versions of the manifest still read these segments
    except PithosError as exc:
        log.warning("%s: old segments kept (container HEAD failed: %s)", container, exc)
        return
    _delete_paths(store, segments)


def _delete_paths(store: ObjectStore, segments: list[str]) -> None:
    """DELETE each `/container/object`; best effort (a segment left behind is only space)."""
    try:
        for seg in segments:
            seg_container, _, seg_name = seg.lstrip("/").partition("/")
            store.delete_segment(seg_container, seg_name)
    except PithosError as exc:
        log.warning("segments not all deleted: %s", exc)
