"""Plankton image semantics over the Pithos backend (protocol.md 10); no HTTP here.

An image is a Pithos object whose current version has `plankton:name` in the
`plankton` attribute domain; the image id is the object UUID, so it survives
overwrites and moves, and a copy is a new image. `is_public` is `*` in the
object's read list and the members are the rest of that list.

Every change of the plankton domain writes a new object version (same blocks,
same hash) through the backend's own commit, so versioning, quotas and the
carry-forward of other domains stay in one place. Every public method takes
the calling user first and checks permissions itself, like the backend.
"""

from __future__ import annotations

import builtins
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import Any

from pithosfs.server import access
from pithosfs.server.backend import Backend
from pithosfs.server.db import CLUSTER_NORMAL
from pithosfs.server.errors import BadRequest, Forbidden, NotFound
from pithosfs.server.models import ObjectInfo
from pithosfs.server.plankton_model import (
    CREATED_KEY,
    DEFAULT_CONTAINER_FORMAT,
    DEFAULT_DISK_FORMAT,
    DEFAULT_STATUS,
    NAME_KEY,
    PLANKTON,
    PREFIX,
    PROPERTY_PREFIX,
    REGISTER_FIELDS,
    STATUS_KEY,
    UPDATE_FIELDS,
    Image,
    ImageFields,
    check_formats,
    check_image_id,
    check_item_count,
    check_value,
    matches,
    parse_location,
    pithos_location,
    property_items,
)
from pithosfs.server.sharing import Sharing

log = logging.getLogger(__name__)


class Plankton:
    """Image registry of one backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # ---- register / update / unregister ------------------------------------------

    def register(self, user: str, req: ImageFields) -> Image:
        fields = req.fields
        invalid = sorted(set(fields) - REGISTER_FIELDS)
        if invalid:
            raise BadRequest(f"Invalid parameters: {', '.join(invalid)}")
        if "id" in fields:
            raise BadRequest("Setting the image ID is not supported")
        if "name" not in fields:
            raise BadRequest("Image 'name' parameter is required")
        name = fields["name"]
        if not name.strip():
            raise BadRequest("Invalid image name")
        check_value("name", name)
        if "location" not in fields:
            raise BadRequest("'location' parameter is required")
        account, container, path = parse_location(fields["location"])
        if fields.get("store", "pithos") != "pithos":
            raise BadRequest("Invalid store type (only 'pithos')")
        check_formats(fields)
        size: int | None = None
        if "size" in fields:
            try:
                size = int(fields["size"].strip())
            except ValueError:
                raise BadRequest("Invalid 'size' field (not a number)") from None
        plankton = {
            NAME_KEY: name,
            PREFIX + "disk_format": fields.get("disk_format", DEFAULT_DISK_FORMAT),
            PREFIX + "container_format": fields.get("container_format", DEFAULT_CONTAINER_FORMAT),
            CREATED_KEY: repr(time.time()),
        }
        if "owner" in fields:
            check_value("owner", fields["owner"])
            plankton[PREFIX + "owner"] = fields["owner"]
        # An empty value means "no such property", as it does on update.
        plankton.update(property_items({k: v for k, v in req.properties.items() if v}))
        check_item_count(plankton)
        public = fields.get("is_public", "").strip().lower() == "true"
        with self.backend.db.write() as conn:
            info = self.backend.object_info(user, account, container, path)
            if user != account:
                raise Forbidden("Only the owner of an object may register it as an image")
            if size is not None and size != info.size:
                raise BadRequest(f"Invalid 'size' field: the object has {info.size} bytes")
            checksum = fields.get("checksum")
            if checksum is not None and checksum.strip().lower() != info.hash:
                raise BadRequest("Invalid checksum field: not the object's hash")
            # As the reference: read = owner (+ '*'); earlier shares are dropped.
            read = [user] + (["*"] if public else [])
            access.store_sharing(conn, info.path, Sharing(read=read))
            new = self._write_plankton(conn, user, info, plankton)
            log.info("registered image %s (%s) at %s", new.uuid, name, info.path)
            return self._image(conn, new, plankton)

    def update(self, user: str, image_id: str, req: ImageFields) -> Image:
        fields = req.fields
        if "id" in fields:
            raise BadRequest("Setting the image ID is not supported")
        invalid = sorted(set(fields) - UPDATE_FIELDS)
        if invalid:
            raise BadRequest(f"Invalid metadata: {', '.join(invalid)}")
        if "name" in fields and not fields["name"].strip():
            raise BadRequest("Invalid image name")
        check_formats(fields)
        for key in ("name", "owner", "status"):
            if key in fields:
                check_value(key, fields[key])
        with self.backend.db.write() as conn:
            info, plankton = self._lookup(conn, user, image_id)
            self._require_write(conn, user, info)
            if "is_public" in fields:
                self._require_owner(user, info)
                self._toggle_public(conn, info.path, fields["is_public"].strip().lower() == "true")
            changes = {
                PREFIX + k: v for k, v in fields.items() if k not in ("is_public", "properties")
            }
            changes.update(property_items({k: v for k, v in req.properties.items() if v}))
            removed = {PROPERTY_PREFIX + k for k, v in req.properties.items() if not v}
            if not changes and not removed:
                return self._image(conn, info, plankton)
            merged = {k: v for k, v in plankton.items() if k not in removed}
            for key, value in changes.items():
                if value == "" and key in (PREFIX + "status", PREFIX + "owner"):
                    merged.pop(key, None)  # an empty value clears the override
                else:
                    merged[key] = value
            check_item_count(merged)
            new = self._write_plankton(conn, user, info, merged)
            return self._image(conn, new, merged)

    def unregister(self, user: str, image_id: str) -> None:
        """Empty the plankton domain (new version); data, meta and permissions stay."""
        with self.backend.db.write() as conn:
            info, _ = self._lookup(conn, user, image_id)
            self._require_write(conn, user, info)
            self._write_plankton(conn, user, info, {})
            log.info("unregistered image %s at %s", info.uuid, info.path)

    # ---- reading ------------------------------------------------------------------

    def get(self, user: str, image_id: str) -> Image:
        with self.backend.db.read() as conn:
            info, plankton = self._lookup(conn, user, image_id)
            return self._image(conn, info, plankton)

    def list(
        self, user: str, filters: Mapping[str, Any], sort_key: str, sort_dir: str
    ) -> list[Image]:
        """Own images, and images whose object explicitly grants the caller access."""
        with self.backend.db.read() as conn:
            images = [
                self._image(conn, info, plankton)
                for info, plankton in self._visible(conn, user, owner=None)
            ]
        images = [img for img in images if matches(img, filters)]
        images.sort(key=lambda img: img.id)  # a stable order among equal keys
        images.sort(key=lambda img: img.sort_value(sort_key), reverse=sort_dir == "desc")
        return images

    def shared_images(self, user: str, owner: str) -> builtins.list[str]:
        """Ids of `owner`'s images visible to the caller that are not public (protocol.md 10.1)."""
        with self.backend.db.read() as conn:
            ids = []
            for info, _ in self._visible(conn, user, owner=owner):
                own = access.own_sharing(conn, info.path)
                if own is None or "*" not in own.read:
                    ids.append(info.uuid)
            return ids

    # ---- members --------------------------------------------------------------------

    def members(self, user: str, image_id: str) -> builtins.list[str]:
        with self.backend.db.read() as conn:
            info, _ = self._lookup(conn, user, image_id)
            own = access.own_sharing(conn, info.path)
            return [m for m in (own.read if own else []) if m != "*"]

    def add_member(self, user: str, image_id: str, member: str) -> None:
        member = member.lower()
        self._change_read(user, image_id, lambda read: read + ([member] * (member not in read)))

    def remove_member(self, user: str, image_id: str, member: str) -> None:
        member = member.lower()
        self._change_read(user, image_id, lambda read: [m for m in read if m != member])

    def replace_members(self, user: str, image_id: str, members: builtins.list[str]) -> None:
        wanted = list(dict.fromkeys(m.lower() for m in members if m != "*"))
        self._change_read(user, image_id, lambda read: wanted + ["*"] * ("*" in read))

    def _change_read(
        self, user: str, image_id: str, change: Callable[[builtins.list[str]], builtins.list[str]]
    ) -> None:
        with self.backend.db.write() as conn:
            info, _ = self._lookup(conn, user, image_id)
            self._require_owner(user, info)
            own = access.own_sharing(conn, info.path) or Sharing()
            own.read = change(list(own.read))
            access.store_sharing(conn, info.path, None if own.empty() else own)

    def _toggle_public(self, conn: sqlite3.Connection, path: str, public: bool) -> None:
        own = access.own_sharing(conn, path) or Sharing()
        read = [m for m in own.read if m != "*"]
        own.read = read + (["*"] if public else [])
        access.store_sharing(conn, path, None if own.empty() else own)

    # ---- internals ------------------------------------------------------------------

    def _lookup(
        self, conn: sqlite3.Connection, user: str, image_id: str
    ) -> tuple[ObjectInfo, dict[str, str]]:
        """The current version behind an image id; 404 unknown, 403 not readable."""
        image_id = check_image_id(image_id)
        row = conn.execute(
            "SELECT n.path FROM versions v JOIN nodes n ON v.node = n.node"
            " WHERE v.uuid = ? AND v.cluster = ?",
            (image_id, CLUSTER_NORMAL),
        ).fetchone()
        if row is None:
            raise NotFound("Image not found")
        account, container, name = row["path"].split("/", 2)
        info = self.backend.object_info(user, account, container, name)
        plankton = self.backend._meta_of(conn, info.serial, PLANKTON)
        if NAME_KEY not in plankton:
            raise NotFound("Image not found")
        return info, plankton

    def _require_owner(self, user: str, info: ObjectInfo) -> None:
        if user != info.account:
            raise Forbidden("Only the image owner may change its sharing")

    def _require_write(self, conn: sqlite3.Connection, user: str, info: ObjectInfo) -> None:
        """Writing image metadata needs write access to the object, as in the reference."""
        try:
            self.backend._read_access(
                conn, user, info.account, info.container, info.name, need="write"
            )
        except Forbidden:
            raise Forbidden("Not allowed to modify this image") from None

    def _write_plankton(
        self, conn: sqlite3.Connection, user: str, info: ObjectInfo, plankton: Mapping[str, str]
    ) -> ObjectInfo:
        """A new version with the same blocks and Pithos meta, plankton domain replaced."""
        backend = self.backend
        new = backend._commit(
            conn,
            user,
            info.account,
            info.container,
            info.name,
            size=info.size,
            hashes=backend._hashes_in(conn, info.serial),
            type=info.type,
            checksum=info.checksum,
            meta=info.meta,
        )
        conn.execute(
            "DELETE FROM attributes WHERE serial = ? AND domain = ?", (new.serial, PLANKTON)
        )
        conn.executemany(
            "INSERT INTO attributes (serial, domain, key, value) VALUES (?, ?, ?, ?)",
            [(new.serial, PLANKTON, k, v) for k, v in plankton.items()],
        )
        return new

    def _visible(
        self, conn: sqlite3.Connection, user: str, owner: str | None
    ) -> builtins.list[tuple[ObjectInfo, dict[str, str]]]:
        """(object, plankton meta) of every image listed for `user`, optionally of one owner.

        Own images come from the caller's account; others only where the object's
        own path grants the caller (user, group or `*`) access, as the reference
        lists them (a share inherited from a directory does not list an image).
        """
        paths: list[str] = []
        if owner is None or owner == user:
            paths += [
                r["path"]
                for r in conn.execute(
                    "SELECT n.path FROM nodes n JOIN versions v"
                    " ON v.node = n.node AND v.cluster = ?"
                    " JOIN attributes a ON a.serial = v.serial AND a.domain = ? AND a.key = ?"
                    " WHERE n.path >= ? AND n.path < ?",
                    (CLUSTER_NORMAL, PLANKTON, NAME_KEY, user + "/", user + "0"),
                )
            ]
        subjects = access.subjects_of(conn, user)
        marks = ",".join("?" * len(subjects))
        shared = conn.execute(
            f"SELECT DISTINCT path FROM permissions WHERE subject IN ({marks})", tuple(subjects)
        ).fetchall()
        for r in shared:
            acc = r["path"].split("/", 1)[0]
            if acc != user and (owner is None or acc == owner):
                paths.append(r["path"])
        found = []
        for path in paths:
            current = self.backend._current_row(conn, path)
            if current is None:
                continue
            plankton = self.backend._meta_of(conn, int(current["serial"]), PLANKTON)
            if NAME_KEY not in plankton:
                continue
            account, container, name = path.split("/", 2)
            found.append((self.backend._info(conn, account, container, name, current), plankton))
        return found

    def _image(self, conn: sqlite3.Connection, info: ObjectInfo, plankton: dict[str, str]) -> Image:
        own = access.own_sharing(conn, info.path)
        try:
            created = float(plankton.get(CREATED_KEY, ""))
        except ValueError:
            created = info.mtime
        properties = {
            k[len(PROPERTY_PREFIX) :]: v
            for k, v in plankton.items()
            if k.startswith(PROPERTY_PREFIX)
        }
        return Image(
            id=info.uuid,
            name=plankton.get(NAME_KEY, ""),
            disk_format=plankton.get(PREFIX + "disk_format", DEFAULT_DISK_FORMAT),
            container_format=plankton.get(PREFIX + "container_format", DEFAULT_CONTAINER_FORMAT),
            status=plankton.get(STATUS_KEY) or DEFAULT_STATUS,
            checksum=info.hash,
            size=info.size,
            location=pithos_location(info.account, info.container, info.name),
            owner=info.account,
            is_public=own is not None and "*" in own.read,
            created_at=created,
            updated_at=info.mtime,
            properties=properties,
            description=plankton.get(PREFIX + "description"),
            is_snapshot=plankton.get(PREFIX + "is_snapshot", "").lower() == "true",
            serial=info.serial,
        )
