"""Saving an image's `<object>.meta` re-registers `<object>` from it (events only, no namespace).

A saved `X.meta` is an image's metafile (a sidecar) only when it is one:

1. its sibling object `X` exists, and
2. `X` is a registered image (its UUID is an image id), or the saved JSON is a
   kamaki metafile whose `location` names `X`.

Anything else named `*.meta` (game-engine and editor sidecars, a JSON file with
no sibling, a backup whose metafiles point at other objects) is an ordinary
file: stored as written, nothing registered, no error.

A sidecar save, in place (close/fsync commits it) or by rename onto it (vim,
`sed -i`, Python's atomic save), stores the new bytes first; then the image is
re-registered (an override, flow.py says key by key) and the metafile gets the
server's result as a new version, so the user's text stays as the previous one.
If the JSON, a field or the registration is wrong, the close or rename fails
with EINVAL and the reason is logged; the image keeps its registration and the
user's bytes stay stored (the older ones under `.versions/`).

Which objects are images comes from one listing of the image service (their
locations), kept for the directory timeout and dropped after a registration
through this mount, so copying a thousand `*.meta` files costs a listing, not a
request each. A `.meta` beside no image is read, to look for a `location` (from
the staged copy of the file just closed, so without a request; a GET after a
rename); only when that names `X` is `X` looked up.

Without an image service (plain Swift: docs/swift.md) a `.meta` file is an
ordinary file: saving it stores it and registers nothing, logged once per
container.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote

from pithosfs.client.errors import NotFound, PithosError
from pithosfs.client.types import ObjectInfo
from pithosfs.fs.errors import InvalidArgument, NoEntry
from pithosfs.fs.nodes import Node
from pithosfs.fs.paths import RESERVED_NAMES, Kind, Location
from pithosfs.fs.virtual.base import VirtualLayer
from pithosfs.fs.virtual.register import RegisterLayer, ServiceCheck
from pithosfs.images import metafile
from pithosfs.images.bounded_json import JsonLimitError, load_object
from pithosfs.images.flow import Registrar, RegistrationError, last_change, names_object
from pithosfs.images.metafile import SUFFIX, MetafileError, param_key

if TYPE_CHECKING:
    from pithosfs.fs.core import Filesystem

log = logging.getLogger(__name__)


def split(path: str) -> Location | None:
    """The metafile's location when `path` is an ordinary `<object>.meta`, else None."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or not parts[-1].endswith(SUFFIX) or parts[-1] == SUFFIX:
        return None
    if any(p in RESERVED_NAMES for p in parts):
        return None
    return Location(Kind.ENTRY, parts[0], "/".join(parts[1:]))


class ImageLocations:
    """Where the images the account sees are (their objects), from one listing kept for
    `ttl` seconds and dropped when this mount registers something (flow.last_change)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[float, int, frozenset[str]] | None = None  # GUARDED_BY(_lock)

    def contains(self, registrar: Registrar, location: str, ttl: float) -> bool:
        """Whether `location` (pithos://account/container/path, unquoted) is an image's."""
        now, change = time.monotonic(), last_change()
        with self._lock:
            cached = self._cached
        if cached is None or now - cached[0] >= ttl or cached[1] != change:
            found = frozenset(unquote(i.location) for i in registrar.images.list(detail=True))
            cached = (now, change, found)
            with self._lock:
                self._cached = cached
        return location in cached[2]


def _location_of(data: bytes) -> str | None:
    """The `location` of a JSON object, if the bytes are one (anything else: None)."""
    try:
        doc = load_object(data, "the metafile", metafile.MAX_BYTES)
    except JsonLimitError:
        return None
    for key, value in doc.items():
        if param_key(str(key)) == "location" and isinstance(value, str):
            return value
    return None


class MetafileLayer(VirtualLayer):
    def __init__(self, fs: Filesystem) -> None:
        super().__init__(fs)
        self._registrars = RegisterLayer(fs)  # only for its lazily built Registrar
        self._service = ServiceCheck(
            fs, "registration of saved .meta files",
            "%(path)s saved as an ordinary file, not registered: %(why)s",
        )  # fmt: skip
        self._images = ImageLocations()

    def close(self) -> None:
        self._registrars.close()

    def after_commit(self, path: str, info: ObjectInfo) -> None:
        loc = split(path)
        if loc is not None:
            self._saved(loc, info)

    def after_rename(self, old: str, new: str) -> None:
        loc = split(new)
        if loc is None:
            return
        try:
            info = self.fs.store.head_object(loc.container, loc.key)
        except NotFound:  # a folder named *.meta, or moved away again
            return
        except PithosError as exc:  # the server is gone: the rename stands, say so
            log.warning("%s: renamed; not checked for an image to re-register: %s", new, exc)
            return
        self._saved(loc, info)

    # -- is it a sidecar? ------------------------------------------------------------
    def _sibling(self, loc: Location) -> Node | None:
        """The object `X` of `X.meta`, or None (missing, or a folder)."""
        try:
            node = self.fs.lookup(loc.path[: -len(SUFFIX)])
        except NoEntry:
            return None
        return None if node.is_dir else node

    def _sidecar(self, loc: Location, info: ObjectInfo) -> tuple[bool, bytes | None]:
        """(is it an image's metafile?, its bytes if they were read to decide)."""
        obj = loc.key[: -len(SUFFIX)]
        account = self.fs.store.account
        registrar = self._registrars.registrar()
        where = f"pithos://{account}/{loc.container}/{obj}"
        if self._images.contains(registrar, where, self.fs.opts.dir_timeout):
            return True, None  # X is a registered image
        if info.size > metafile.MAX_BYTES:  # far larger than any metafile: not one
            return False, None
        data = self._read(loc, info)
        if not names_object(_location_of(data), account, loc.container, obj):
            return False, data
        return self._sibling(loc) is not None, data  # a kamaki metafile naming X, if X exists

    def _read(self, loc: Location, info: ObjectInfo) -> bytes:
        """The saved bytes: from the file just closed here if it is still open, else a GET."""
        local = self.fs.files.committed_bytes(loc.path, info.version, metafile.MAX_BYTES)
        if local is not None and len(local) == info.size:
            return local
        return self.fs.store.read_range(
            loc.container, loc.key, 0, info.size, size=info.size, version=info.version
        )

    def _outcome(self, loc: Location, text: str) -> None:
        """Shown by `cat .register` in the metafile's folder, as a line written there is."""
        for layer in self.fs.layers.layers:
            if isinstance(layer, RegisterLayer):
                layer.record(loc.parent.path, text)
                return

    # -- a save -----------------------------------------------------------------------
    def _saved(self, loc: Location, info: ObjectInfo) -> None:
        if info.size == 0:  # O_TRUNC on the way to a save (or an emptied file): not a save
            return
        if self._service.missing(loc.path, loc.container):
            return  # an ordinary file there (logged at the container's first metafile)
        try:
            sidecar, data = self._sidecar(loc, info)
        except PithosError as exc:  # cannot tell: leave the stored file alone, say so
            log.warning("%s: saved; not checked for an image to re-register: %s", loc.path, exc)
            return
        if not sidecar:
            log.debug("%s: an ordinary file (no image of its own to register)", loc.path)
            return
        self._reregister(loc, info, data)

    def _reregister(self, loc: Location, info: ObjectInfo, data: bytes | None) -> None:
        registrar = self._registrars.registrar()
        try:
            if info.size > metafile.MAX_BYTES:
                raise MetafileError(f"the metafile is over {metafile.MAX_BYTES} bytes")
            parsed = metafile.parse(data if data is not None else self._read(loc, info))
            image = registrar.register_from_metafile(loc.container, loc.key, parsed)
        except (MetafileError, RegistrationError) as exc:
            log.warning("%s: saved, but not registered: %s", loc.path, exc)
            self._outcome(loc, f"error {loc.name}: saved, but not registered: {exc}")
            raise InvalidArgument(f"saved, but not registered: {exc}", loc.path) from None
        self._outcome(
            loc, f"ok {loc.name[: -len(SUFFIX)]} {image.id} {image.name} (saved {loc.name})"
        )
        registrar.write_metafile(loc.container, loc.key[: -len(SUFFIX)], image)
        try:
            self.fs.refresh(loc)
        except Exception:  # a cache hint only
            log.debug("refresh of %s failed", loc.path, exc_info=True)
        log.info("%s: re-registered image %s as %r", loc.path, image.id, image.name)


LAYER = MetafileLayer
