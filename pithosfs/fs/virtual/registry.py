"""Finding the layers, routing calls and handles to them, and fanning out events.

Locking: `_lock` guards `_handles` and `_next`; layers are fixed after
construction. No lock is held while a layer runs.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from pithosfs.client.types import ObjectInfo
from pithosfs.fs.errors import BadHandle, FsError
from pithosfs.fs.virtual.base import NotMine, VirtualLayer

if TYPE_CHECKING:
    from pithosfs.fs.core import Filesystem

log = logging.getLogger(__name__)

T = TypeVar("T")

# Virtual handles live far above the FileTable's numbers, so one look at an fh says whose it is.
FIRST_HANDLE = 1 << 48


def discover() -> list[type[VirtualLayer]]:
    """Every `LAYER` class of the modules in this package, by (PRIORITY, module name)."""
    import pithosfs.fs.virtual as package

    found: list[tuple[int, str, type[VirtualLayer]]] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in ("base", "registry") or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        layer = getattr(module, "LAYER", None)
        if layer is not None:
            found.append((int(getattr(module, "PRIORITY", 100)), info.name, layer))
    return [layer for _, _, layer in sorted(found, key=lambda t: (t[0], t[1]))]


class Layers:
    """The mounted layers of one Filesystem."""

    def __init__(self, fs: Filesystem, classes: Iterable[type[VirtualLayer]] | None = None) -> None:
        self.layers: list[VirtualLayer] = [
            c(fs) for c in (discover() if classes is None else classes)
        ]
        self._lock = threading.Lock()
        self._handles: dict[int, tuple[VirtualLayer, Any]] = {}  # GUARDED_BY(_lock)
        self._next = FIRST_HANDLE  # GUARDED_BY(_lock)

    def close(self) -> None:
        for layer in self.layers:
            try:
                layer.close()
            except Exception:
                log.exception("closing layer %s", type(layer).__name__)

    # -- path operations ------------------------------------------------------
    def owner(self, path: str) -> VirtualLayer | None:
        for layer in self.layers:
            if layer.claims(path):
                return layer
        return None

    def call(self, path: str, method: str, *args: Any) -> tuple[bool, Any]:
        """(True, result) if the claiming layer served `method(path, *args)`, else (False, None)."""
        layer = self.owner(path)
        if layer is None:
            return False, None
        try:
            return True, getattr(layer, method)(path, *args)
        except NotMine:
            return False, None

    def rename(self, old: str, new: str) -> bool:
        for path in (old, new):
            layer = self.owner(path)
            if layer is not None:
                try:
                    layer.rename(old, new)
                    return True
                except NotMine:
                    continue
        return False

    # -- handles ----------------------------------------------------------------
    def open(self, path: str, method: str, *args: Any) -> int | None:
        """An fh for the layer's handle if a layer opened `path`, else None."""
        layer = self.owner(path)
        if layer is None:
            return None
        try:
            handle = getattr(layer, method)(path, *args)
        except NotMine:
            return None
        with self._lock:
            fh = self._next
            self._next += 1
            self._handles[fh] = (layer, handle)
        return fh

    def owns(self, fh: int | None) -> bool:
        return fh is not None and fh >= FIRST_HANDLE

    def handle(self, fh: int) -> tuple[VirtualLayer, Any]:
        with self._lock:
            found = self._handles.get(fh)
        if found is None:
            raise BadHandle("unknown file handle")
        return found

    def release(self, fh: int) -> None:
        with self._lock:
            found = self._handles.pop(fh, None)
        if found is None:
            raise BadHandle("unknown file handle")
        layer, handle = found
        layer.release(handle)

    # -- events -------------------------------------------------------------------
    def _emit(self, what: str, call: Callable[[VirtualLayer], None]) -> None:
        # An FsError from a layer is a deliberate refusal (e.g. a saved image metafile
        # that cannot be registered): every layer still hears the event, then the first
        # refusal fails the user's close/rename. Anything else is a layer bug: logged.
        refusal: FsError | None = None
        for layer in self.layers:
            try:
                call(layer)
            except FsError as exc:
                refusal = refusal or exc
            except Exception:
                log.exception("layer %s failed on %s", type(layer).__name__, what)
        if refusal is not None:
            raise refusal

    def after_commit(self, path: str, info: ObjectInfo) -> None:
        self._emit("after_commit", lambda layer: layer.after_commit(path, info))

    def after_rename(self, old: str, new: str) -> None:
        self._emit("after_rename", lambda layer: layer.after_rename(old, new))

    def after_unlink(self, path: str) -> None:
        self._emit("after_unlink", lambda layer: layer.after_unlink(path))
