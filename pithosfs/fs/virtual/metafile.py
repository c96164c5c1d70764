"""Saving `<object>.meta` re-registers `<object>` from the JSON (events only, no namespace).

In place (close/fsync commits it) or by rename onto it (vim, sed -i, Python's
atomic save), the new bytes are stored first; then the image is re-registered
(an override) and the metafile gets the server's result as a new version, so the
user's text stays as the previous one. If the JSON, a field or the object is
wrong, the close or rename fails with EINVAL and the reason is logged; the image
keeps its registration and the user's bytes stay stored.

Without an image service (plain Swift: docs/swift.md) a `.meta` file is an
ordinary file: saving it stores it and registers nothing, logged once per
container (failing the save would break editors for a file that is only data).
"""

from __future__ import annotations

import logging
from typing import Any

from pithosfs.client.types import ObjectInfo
from pithosfs.fs.errors import InvalidArgument
from pithosfs.fs.paths import RESERVED_NAMES, Kind, Location
from pithosfs.fs.virtual.base import VirtualLayer
from pithosfs.fs.virtual.register import RegisterLayer, ServiceCheck
from pithosfs.images.flow import RegistrationError
from pithosfs.images.metafile import SUFFIX

log = logging.getLogger(__name__)


def split(path: str) -> Location | None:
    """The metafile's location when `path` is an ordinary `<object>.meta`, else None."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or not parts[-1].endswith(SUFFIX) or parts[-1] == SUFFIX:
        return None
    if any(p in RESERVED_NAMES for p in parts):
        return None
    return Location(Kind.ENTRY, parts[0], "/".join(parts[1:]))


class MetafileLayer(VirtualLayer):
    def __init__(self, fs: Any) -> None:
        super().__init__(fs)
        self._registrars = RegisterLayer(fs)  # only for its lazily built Registrar
        self._service = ServiceCheck(
            fs, "registration of saved .meta files",
            "%(path)s saved as an ordinary file, not registered: %(why)s",
        )  # fmt: skip

    def close(self) -> None:
        self._registrars.close()

    def after_commit(self, path: str, info: ObjectInfo) -> None:
        loc = split(path)
        if loc is not None:
            self._reregister(loc, info)

    def after_rename(self, old: str, new: str) -> None:
        loc = split(new)
        if loc is not None:
            self._reregister(loc, self.fs.store.head_object(loc.container, loc.key))

    def _reregister(self, loc: Location, info: ObjectInfo) -> None:
        if info.size == 0:  # O_TRUNC on the way to a save (or an emptied file): not a save
            return
        if self._service.missing(loc.path, loc.container):
            return  # an ordinary file there (logged at the container's first metafile)
        registrar = self._registrars.registrar()
        store = self.fs.store
        data = store.read_range(loc.container, loc.key, 0, info.size, size=info.size)
        try:
            image = registrar.register_from_metafile(loc.container, loc.key, data)
        except RegistrationError as exc:
            log.warning("%s: saved, but not registered: %s", loc.path, exc)
            raise InvalidArgument(f"saved, but not registered: {exc}", loc.path) from None
        registrar.write_metafile(loc.container, loc.key, image)
        try:
            self.fs.refresh(loc)
        except Exception:  # a cache hint only
            log.debug("refresh of %s failed", loc.path, exc_info=True)
        log.info("%s: re-registered image %s as %r", loc.path, image.id, image.name)


LAYER = MetafileLayer
