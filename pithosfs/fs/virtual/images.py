"""`/.images/`: the images you can see, as read-only JSON files named by image id.

    /.images/<id>        every image visible to you (own, public, shared with you)
    /.images/mine/<id>   only those you own
    rm /.images/<id>     unregisters it (EACCES for another user's image: the server's 403)

The content is the image in kamaki's metafile form. Listings come from one
`GET /images/detail`, kept for the mount's directory timeout, so `ls -l` does
not cost a request per image.

Without an image service (plain Swift: docs/swift.md) every access to `/.images`
fails with ENOTSUP, logged once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pithosfs.client.errors import BadRequest, NotFound
from pithosfs.client.images import Image
from pithosfs.fs import nodes
from pithosfs.fs.errors import NoEntry, ReadOnly
from pithosfs.fs.nodes import Node, NodeKind
from pithosfs.fs.virtual.base import NotMine, VirtualLayer
from pithosfs.fs.virtual.register import RegisterLayer, ServiceCheck
from pithosfs.images.flow import last_change
from pithosfs.images.metafile import render

if TYPE_CHECKING:
    from pithosfs.fs.core import Filesystem

log = logging.getLogger(__name__)

ROOT = "/.images"
MINE = "mine"


@dataclass
class ImageHandle:
    data: bytes
    node: Node


class ImagesLayer(VirtualLayer):
    def __init__(self, fs: Filesystem) -> None:
        super().__init__(fs)
        self._registrars = RegisterLayer(fs)  # for its lazily built Registrar/ImageClient
        self._lock = threading.Lock()
        # GUARDED_BY(_lock): (when, registration counter then, images by id)
        self._listing: tuple[float, int, dict[str, Image]] | None = None
        self._service = ServiceCheck(fs, "the image list (/.images)")

    def claims(self, path: str) -> bool:
        return path == ROOT or path.startswith(ROOT + "/")

    def close(self) -> None:
        self._registrars.close()

    # -- the model -----------------------------------------------------------------
    def _images(self) -> dict[str, Image]:
        now, change = time.monotonic(), last_change()
        with self._lock:
            cached = self._listing
            if cached and now - cached[0] < self.fs.opts.dir_timeout and cached[1] == change:
                return cached[2]
        client = self._registrars.registrar().images
        found = {img.id: img for img in client.list(detail=True)}
        with self._lock:
            self._listing = (now, change, found)
        return found

    def _forget(self) -> None:
        with self._lock:
            self._listing = None

    def _parse(self, path: str) -> tuple[bool, str | None]:
        """(mine?, image id or None for the folder itself); ENOTSUP with no image service."""
        self._service.refuse_if_missing(path, None)
        parts = path[len(ROOT) :].strip("/").split("/") if path != ROOT else []
        parts = [p for p in parts if p]
        mine = bool(parts) and parts[0] == MINE
        rest = parts[1:] if mine else parts
        if len(rest) > 1:
            raise NoEntry("no such image", path)
        return mine, (rest[0] if rest else None)

    def _image(self, path: str) -> Image:
        mine, image_id = self._parse(path)
        assert image_id is not None
        image = self._images().get(image_id)
        if image is None:
            try:  # not listed yet (just registered): ask for it
                image = self._registrars.registrar().images.get(image_id)
            except (NotFound, BadRequest):  # 400: not even an image id
                raise NoEntry("no such image", path) from None
        if mine and image.owner != self.fs.store.account:
            raise NoEntry("not your image", path)
        return image

    def _file(self, path: str, image: Image) -> tuple[bytes, Node]:
        data = render(image).encode()
        return data, Node(NodeKind.FILE, len(data), _mtime(image), 0o444, nodes.inode_of(path))

    def _dir(self, path: str) -> Node:
        return Node(NodeKind.DIR, 0, time.time_ns(), 0o555, nodes.inode_of(path))

    # -- namespace -----------------------------------------------------------------
    def getattr(self, path: str) -> Node:
        _, image_id = self._parse(path)
        if image_id is None:
            return self._dir(path)
        return self._file(path, self._image(path))[1]

    def readdir(self, path: str) -> list[tuple[str, Node]]:
        mine, image_id = self._parse(path)
        if image_id is not None:
            raise NotMine
        account = self.fs.store.account
        base = ROOT + "/" + MINE if mine else ROOT
        out: list[tuple[str, Node]] = [] if mine else [(MINE, self._dir(base + "/" + MINE))]
        for image in self._images().values():
            if mine and image.owner != account:
                continue
            child = base + "/" + image.id
            out.append((image.id, self._file(child, image)[1]))
        return out

    def open(self, path: str, flags: int) -> ImageHandle:
        if flags & 3:  # O_WRONLY / O_RDWR
            raise ReadOnly("images are read-only; register through .register", path)
        data, node = self._file(path, self._image(path))
        return ImageHandle(data, node)

    def read(self, handle: ImageHandle, offset: int, size: int) -> bytes:
        return handle.data[offset : offset + size]

    def handle_attr(self, handle: ImageHandle) -> Node | None:
        return handle.node

    def unlink(self, path: str) -> None:
        image = self._image(path)
        self._registrars.registrar().images.unregister(image.id)  # Forbidden -> EACCES
        self._forget()
        log.info("unregistered image %s (%s)", image.id, image.name)

    def _refuse(self, path: str, *_: Any) -> None:
        raise ReadOnly("the image list is read-only (rm unregisters)", path)

    create = mkdir = rmdir = symlink = chmod = utimens = _refuse  # type: ignore[assignment]

    def truncate(self, path: str, length: int, handle: Any | None) -> None:
        self._refuse(path)

    def write(self, handle: Any, offset: int, data: bytes) -> int:
        raise ReadOnly("images are read-only")

    def rename(self, old: str, new: str) -> None:
        self._refuse(old)


def _mtime(image: Image) -> int:
    for text in (image.updated_at, image.created_at):
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
            try:
                return int(time.mktime(time.strptime(text[:19], fmt))) * 10**9
            except ValueError:
                continue
    return 0


LAYER = ImagesLayer
