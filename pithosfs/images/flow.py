"""The registration flow: a request (line or metafile) -> Plankton register -> metafile.

What kamaki 0.16's `image register` does, key by key (checked against the real CLI
by tests/integration/test_images_kamaki_parity.py):

- NAME and OBJECT come from the line; a `--metafile`'s `name` and `location` are
  not read.
- From the metafile every other key is read, but the command line decides
  `checksum`, `size`, `disk-format`, `container-format` and `is-public`
  (whether or not the line gives them: a public template registers a private
  image without `--public`). Of the rest only `owner` and `store` are sent.
- Properties: the metafile's, then `-p` (same key: `-p` wins); keys upper-cased
  with '-' -> '_' (the server lower-cases them). Re-registration is an override.
- The metafile written afterwards is kamaki's (metafile.render), as
  application/octet-stream, with the image object's sharing (so a public
  image's metafile is readable by all).

A saved `<object>.meta` is the registration it describes: `kamaki image register
--name <its name> --location <object> --metafile <it> -f`, plus `--public`,
`--disk-format` and `--container-format` from its own keys (there is no other
command line to take them from).
"""

from __future__ import annotations

import errno
import itertools
import logging
import posixpath
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from pithosfs.client.errors import BadRequest, Forbidden, NotFound, PithosError, Unsupported
from pithosfs.client.identity import user_names
from pithosfs.client.images import Image, ImageClient, pithos_location
from pithosfs.client.types import ObjectStore
from pithosfs.images import local_metafile, metafile
from pithosfs.images.local_metafile import Caller, LocalFileError
from pithosfs.images.metafile import Metafile, MetafileError, flag, property_name
from pithosfs.images.request import RegisterRequest

log = logging.getLogger(__name__)

# What kamaki's ImageClient.register sends of a request's fields, when not empty.
SENT_PARAMS = ("store", "disk_format", "container_format", "size", "checksum", "is_public", "owner")
# What a metafile says that never reaches a registration: the object decides them.
_OBJECT_DECIDES = ("checksum", "size")

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
    """A registration that did not happen; the message is for the user, `errno` for
    the failed write (EINVAL unless the cause has a better one: EACCES, EFBIG)."""

    def __init__(self, message: str, errno_: int = errno.EINVAL) -> None:
        super().__init__(message)
        self.errno = errno_


def _service_url(store: ObjectStore, service: str) -> str:
    """A service endpoint next to the store (ObjectStore.service_url), or RegistrationError."""
    try:
        return store.service_url(service)
    except Unsupported as exc:
        raise RegistrationError(exc.reason) from None


def image_url_for(store: ObjectStore) -> str:
    """The Plankton endpoint (`{base}/image/v1.0` next to a plain storage URL)."""
    return _service_url(store, "image")


def account_url_for(store: ObjectStore) -> str:
    """The Astakos account endpoint (user names), `{base}/account/v1.0` by default."""
    return _service_url(store, "account")


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
    if obj.startswith("/"):  # kamaki's /CONTAINER/PATH, in this account
        cont, _, name = obj[1:].partition("/")
        if not cont or not name.strip("/"):
            raise RegistrationError(f"malformed location {obj!r} (/CONTAINER/PATH)")
        return cont, name
    joined = posixpath.normpath(posixpath.join(directory, obj)) if directory else obj
    joined = posixpath.normpath(joined)
    if joined.startswith("..") or joined in (".", ""):
        raise RegistrationError(f"{obj!r} leaves the container")
    return container, joined


class Registrar:
    """Registers images of one account's objects and keeps their metafiles."""

    def __init__(
        self,
        store: Any,
        images: ImageClient,
        names: Callable[[list[str]], dict[str, str]] | None = None,
    ) -> None:
        """`names`: uuid -> user name for the uuids given (default: the account service's
        user catalog, as kamaki asks it)."""
        self.store = store
        self.images = images
        self._user_names = names or self._catalog_names
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}  # GUARDED_BY(_lock): owner uuid -> user name

    # -- reading metafiles ---------------------------------------------------------
    def _read_metafile(
        self, container: str, directory: str, path: str, caller: Caller | None
    ) -> Metafile:
        if path.startswith("/"):  # a local file, as kamaki's --metafile
            try:
                data = local_metafile.read(path, caller, metafile.MAX_BYTES)
            except LocalFileError as exc:
                raise RegistrationError(exc.strerror or str(exc), exc.errno or errno.EIO) from None
        else:  # an extension: a metafile in the store, relative to the folder
            cont, name = resolve_object(self.store.account, container, directory, path)
            try:
                info = self.store.head_object(cont, name)
                if info.size > metafile.MAX_BYTES:
                    raise RegistrationError(
                        f"metafile {path} is larger than {metafile.MAX_BYTES} bytes", errno.EFBIG
                    )
                data = self.store.read_range(cont, name, 0, info.size, size=info.size)
            except NotFound:
                raise RegistrationError(f"metafile {path} does not exist") from None
        try:
            return metafile.parse(data)
        except MetafileError as exc:
            raise RegistrationError(f"{path}: {exc}") from None

    # -- the two ways in -------------------------------------------------------------
    def register_line(
        self, req: RegisterRequest, container: str, directory: str, caller: Caller | None = None
    ) -> Image:
        """Run one `.register` request for the folder (container, key prefix `directory`)."""
        cont, name = resolve_object(self.store.account, container, directory, req.object)
        meta = (
            self._read_metafile(container, directory, req.metafile, caller)
            if req.metafile
            else Metafile()
        )
        image_name = req.name or meta.name  # a metafile's name only for the JSON form
        if not image_name:
            raise RegistrationError("no image name (give NAME)")
        params: dict[str, str | None] = dict(meta.params)
        params.update(  # the command line decides these, given or not
            checksum=req.checksum,
            size=req.size,
            disk_format=req.disk_format,
            container_format=req.container_format,
            is_public="True" if req.public else None,
        )
        props = {**meta.properties, **{property_name(k): v for k, v in req.properties.items()}}
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
        image = self._register(cont, name, image_name, params, props)
        if not req.no_metafile_upload:
            self.write_metafile(cont, name, image)
        return image

    def register_from_metafile(self, container: str, meta_name: str, meta: Metafile) -> Image:
        """A saved `<object>.meta`: re-register `<object>` from it (an override)."""
        obj = meta_name[: -len(metafile.SUFFIX)]
        if not (meta.name or "").strip():
            raise RegistrationError(f"{meta_name}: the metafile has no 'name'")
        params: dict[str, str | None] = {
            k: v for k, v in meta.params.items() if k not in _OBJECT_DECIDES
        }
        try:
            public = flag(params.get("is_public"), "is-public")
        except MetafileError as exc:
            raise RegistrationError(f"{meta_name}: {exc}") from None
        params["is_public"] = "True" if public else None
        assert meta.name is not None
        return self._register(container, obj, meta.name, params, meta.properties)

    # -- the metafile -------------------------------------------------------------------
    def write_metafile(self, container: str, obj: str, image: Image) -> Any:
        """kamaki's metafile of `image` as `<obj>.meta`, shared as the image object is."""
        sharing = self.store.head_object(container, obj).sharing
        text = metafile.render(image, self.owner_name(image.owner))
        return self.store.put_object(
            container, obj + metafile.SUFFIX, text.encode("ascii"),
            content_type=metafile.CONTENT_TYPE, sharing=sharing or None,
        )  # fmt: skip

    def owner_name(self, uuid: str) -> str:
        """The owner's user name as kamaki shows it ("None" when the catalog has none)."""
        with self._lock:
            known = self._names.get(uuid)
        if known is not None:
            return known
        try:
            found = self._user_names([uuid])
        except (PithosError, RegistrationError) as exc:
            log.warning("user name of %s unknown (%s); the metafile says (None)", uuid, exc)
            return "None"
        name = found.get(uuid, "None")
        with self._lock:
            self._names[uuid] = name
        return name

    def _catalog_names(self, uuids: list[str]) -> dict[str, str]:
        return user_names(account_url_for(self.store), self.store.auth_token(), uuids)

    # -- the request ----------------------------------------------------------------------
    def _register(
        self,
        container: str,
        name: str,
        image_name: str,
        params: dict[str, str | None],
        props: dict[str, str],
    ) -> Image:
        sent = {key: params.get(key) or None for key in SENT_PARAMS}
        location = pithos_location(self.store.account, container, name)
        try:
            image = self.images.register(
                image_name,
                location,
                disk_format=sent["disk_format"],
                container_format=sent["container_format"],
                checksum=sent["checksum"],
                is_public=True if sent["is_public"] else None,
                owner=sent["owner"],
                size=sent["size"],
                store=sent["store"],
                properties=props,
            )
        except NotFound:
            raise RegistrationError(f"object {container}/{name} does not exist") from None
        except BadRequest as exc:
            raise RegistrationError(f"the image service refused: {exc}") from None
        except Forbidden as exc:
            raise RegistrationError(f"the image service refused: {exc}", errno.EACCES) from None
        except PithosError as exc:
            raise RegistrationError(f"the image service refused: {exc}", errno.EIO) from None
        note_change()
        log.info("registered %s/%s as image %s (%s)", container, name, image.id, image_name)
        return image


def names_object(location: str | None, account: str, container: str, name: str) -> bool:
    """Whether a metafile's `location` is the object `container/name` of `account`
    (kamaki writes it unquoted; the server's own form is quoted: both match)."""
    if not location or not location.startswith("pithos://"):
        return False
    want = (account, container, name)
    parts = location[len("pithos://") :].split("/", 2)
    if len(parts) != 3:
        return False
    return tuple(parts) == want or tuple(unquote(p) for p in parts) == want
