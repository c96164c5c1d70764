"""Per-block bookkeeping of a staged file, and the container block geometry cache.

Kept apart from `writeback.StagedFile` so that the state one block carries
(and what "the server holds this block" means) is defined in one place.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from pithosfs.client.types import ObjectStore

# Block geometry per (store, container): it is backend-wide and never changes,
# so one container HEAD per process is enough. Weak keys: stores come and go in tests.
_GEOMETRY: weakref.WeakKeyDictionary[object, dict[str, tuple[int, str]]] = (
    weakref.WeakKeyDictionary()
)
_GEOMETRY_LOCK = threading.Lock()


def container_geometry(store: ObjectStore, container: str) -> tuple[int, str]:
    """(block size, hash algorithm) of a container, one container HEAD per store and container."""
    with _GEOMETRY_LOCK:
        try:
            cached = _GEOMETRY.get(store, {}).get(container)
        except TypeError:  # a store that cannot be weakly referenced
            cached = None
    if cached is not None:
        return cached
    info = store.container_info(container)
    geometry = (info.block_size, info.block_hash)
    with _GEOMETRY_LOCK:
        try:
            _GEOMETRY.setdefault(store, {})[container] = geometry
        except TypeError:
            pass
    return geometry


@dataclass
class LocalBlock:
    """A block whose bytes are in the staging file.

    Its hash and its presence on the server are remembered per (gen, length):
    any write bumps `gen`, and a truncate or extension changes the length
    that counts (the hash covers the block only up to the file's size), so a
    remembered fact silently stops applying when the block changes.
    """

    gen: int = 0  # bumped on every change of its bytes
    dirty: bool = True  # changed since the last successful commit
    hash_key: tuple[int, int] | None = None  # (gen, length) that `hash` was computed for
    hash: str = ""
    on_server: tuple[int, int] | None = None  # (gen, length) the server is known to hold
