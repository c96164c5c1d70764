"""The registration flow: a request (line or metafile) -> Plankton register -> metafile.

Precedence as in kamaki and the seed: an explicit NAME beats the metafile's name,
`-p` beats the metafile's properties, and re-registration is an override (the
server drops every property not sent again).
"""

from __future__ import annotations

import itertools
import logging
import posixpath
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pithosfs.client.errors import NotFound, PithosError
from pithosfs.client.images import Image, ImageClient, pithos_location
from pithosfs.images import metafile
from pithosfs.images.request import RegisterRequest

log = logging.getLogger(__name__)

DEFAULT_DISK_FORMAT = "diskdump"
DEFAULT_CONTAINER_FORMAT = "bare"


_changes = itertools.count(1)
_last_change = 0  # bumped by every registration made by this process


def last_change() -> int:
    """A number that grows with each registration here (views of the image list use it
    to drop a cached listing that predates a registration through this mount)."""
    return _last_change


def note_change() -> None:
    global _last_change
    _last_change = next(_changes)


class RegistrationError(Exception):
    """A registration that did not happen; the message is for the user."""


def image_url_for(store: Any) -> str:
    """The Plankton endpoint next to the store: the identity catalog's, or derived from a
    storage URL `{base}/object-store/v1/{uuid}` -> `{base}/image/v1.0` (the embedded
    server's and Synnefo's layout) when the mount was given a plain storage URL."""
    endpoints = getattr(store, "endpoints", None)
    if endpoints is not None and getattr(endpoints, "image_url", ""):
        return str(endpoints.image_url)
    storage = str(store.transport.base_url)
    match = re.match(r"^(.*?)/object-store/v1/[^/]+/?$", storage)
    if not match:
        raise RegistrationError(f"cannot tell the image service URL from {storage!r}")
    return match.group(1) + "/image/v1.0"


def resolve_object(account: str, container: str, directory: str, obj: str) -> tuple[str, str]:
    """(container, object name) of OBJECT: a pithos:// location of this account, or a
    path relative to `directory` (the key prefix of the `.register`'s folder, '' at top)."""
    if obj.startswith("pithos://"):
        parts = obj[len("pithos://") :].split("/", 2)
        if len(parts) != 3 or not all(parts):
            raise RegistrationError(f"malformed location {obj!r} (pithos://uuid/container/path)")
        owner, cont, name = (unquote(p) for p in parts)
        if owner != account:
            raise RegistrationError(f"{obj}: only objects of your own account ({account})")
        return cont, name
    if obj.startswith("/"):
        raise RegistrationError(f"{obj!r}: OBJECT is relative to the folder or pithos://...")
    joined = posixpath.normpath(posixpath.join(directory, obj)) if directory else obj
    joined = posixpath.normpath(joined)
    if joined.startswith("..") or joined in (".", ""):
        raise RegistrationError(f"{obj!r} leaves the container")
    return container, joined


class Registrar:
    """Registers images of one account's objects and keeps their metafiles."""

    def __init__(self, store: Any, images: ImageClient) -> None:
        self.store = store
        self.images = images

    def _read_metafile(self, container: str, directory: str, path: str) -> metafile.MetafileFields:
        if path.startswith("/"):  # a local file, as kamaki's --metafile
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise RegistrationError(f"cannot read metafile {path}: {exc.strerror}") from None
        else:
            cont, name = resolve_object(self.store.account, container, directory, path)
            try:
                info = self.store.head_object(cont, name)
                data = self.store.read_range(cont, name, 0, info.size, size=info.size)
            except NotFound:
                raise RegistrationError(f"metafile {path} does not exist") from None
        try:
            return metafile.parse(data)
        except metafile.MetafileError as exc:
            raise RegistrationError(f"{path}: {exc}") from None

    def register_line(self, req: RegisterRequest, container: str, directory: str) -> Image:
        """Run one `.register` request for the folder (container, key prefix `directory`)."""
        cont, name = resolve_object(self.store.account, container, directory, req.object)
        fields = (
            self._read_metafile(container, directory, req.metafile)
            if req.metafile
            else metafile.MetafileFields()
        )
        image_name = req.name or fields.name
        if not image_name:
            raise RegistrationError("no image name (give NAME or a metafile with one)")
        props = {**fields.properties, **req.properties}  # -p beats the metafile
        public = req.public or bool(fields.is_public)
        meta_name = name + metafile.SUFFIX
        if not req.no_metafile_upload and not req.force:
            try:
                self.store.head_object(cont, meta_name)
            except NotFound:
                pass
            else:
                raise RegistrationError(
                    f"metafile already exists: {meta_name} (use -f to overwrite it)"
                )
        image = self._register(
            cont,
            name,
            image_name,
            props,
            public,
            req.disk_format or fields.disk_format,
            req.container_format or fields.container_format,
        )
        if not req.no_metafile_upload:
            self.write_metafile(cont, meta_name, image)
        return image

    def register_from_metafile(self, container: str, meta_name: str, data: bytes) -> Image:
        """A saved `<object>.meta`: re-register `<object>` from the JSON (an override)."""
        try:
            fields = metafile.parse(data)
        except metafile.MetafileError as exc:
            raise RegistrationError(f"{meta_name}: {exc}") from None
        obj = meta_name[: -len(metafile.SUFFIX)]
        if not fields.name:
            raise RegistrationError(f"{meta_name}: the metafile has no 'name'")
        return self._register(
            container,
            obj,
            fields.name,
            fields.properties,
            bool(fields.is_public),
            fields.disk_format,
            fields.container_format,
        )

    def write_metafile(self, container: str, meta_name: str, image: Image) -> None:
        self.store.put_object(
            container, meta_name, metafile.render(image).encode(), content_type="application/json"
        )

    def _register(
        self,
        container: str,
        name: str,
        image_name: str,
        props: dict[str, str],
        public: bool,
        disk_format: str | None,
        container_format: str | None,
    ) -> Image:
        try:
            self.store.head_object(container, name)
        except NotFound:
            raise RegistrationError(f"object {container}/{name} does not exist") from None
        location = pithos_location(self.store.account, container, name)
        try:
            image = self.images.register(
                image_name,
                location,
                disk_format=disk_format or DEFAULT_DISK_FORMAT,
                container_format=container_format or DEFAULT_CONTAINER_FORMAT,
                is_public=public,
                properties=props,
            )
        except PithosError as exc:
            raise RegistrationError(f"the image service refused: {exc}") from None
        note_change()
        log.info("registered %s/%s as image %s (%s)", container, name, image.id, image_name)
        return image
