"""Plankton image records and pure rules (protocol.md 10.3-10.6): keys, limits, formats,
locations, list parameters. No database and no HTTP here; `plankton.py` applies them.
"""

from __future__ import annotations

import string
import time
import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from pithosfs.server.errors import BadRequest

PLANKTON = "plankton"
PREFIX = "plankton:"
PROPERTY_PREFIX = "plankton:property:"
NAME_KEY = "plankton:name"
CREATED_KEY = "plankton:created_at"
STATUS_KEY = "plankton:status"

DISK_FORMATS = ("diskdump", "extdump", "ntfsdump")
CONTAINER_FORMATS = ("aki", "ari", "ami", "bare", "ovf")
DEFAULT_DISK_FORMAT = "diskdump"
DEFAULT_CONTAINER_FORMAT = "bare"
DEFAULT_STATUS = "AVAILABLE"

# The reference keeps plankton meta under the same limits as Pithos meta: 32 items,
# a stored key of at most 128 - len("plankton") - len("property:") characters,
# values of at most 256 characters (protocol.md 10.6).
MAX_ITEMS = 32
MAX_KEY_LENGTH = 128 - len("plankton") - len("property:")
MAX_PROPERTY_KEY = MAX_KEY_LENGTH - len(PROPERTY_PREFIX)
MAX_VALUE_LENGTH = 256

# Fields the reference parses out of X-Image-Meta-* headers; others are ignored.
KNOWN_FIELDS = frozenset(
    "name disk_format container_format size checksum location created_at updated_at"
    " deleted_at status is_public owner properties id is_snapshot description store".split()
)
REGISTER_FIELDS = frozenset(
    "name id store disk_format container_format size checksum is_public owner properties"
    " location".split()
)
UPDATE_FIELDS = frozenset(
    "name disk_format container_format is_public owner properties status".split()
)
SORT_KEYS = (
    "id",
    "name",
    "status",
    "size",
    "disk_format",
    "container_format",
    "created_at",
    "updated_at",
)
STRING_FILTERS = ("name", "container_format", "disk_format", "status", "owner")

_PUNCTUATION = str.maketrans({ch: "_" for ch in string.punctuation})


def normalise_key(key: str) -> str:
    """Header key after `X-Image-Meta-`: lower-case, every punctuation char -> `_` (protocol.md 10.5)."""
    return key.lower().translate(_PUNCTUATION)


@dataclass
class ImageFields:
    """The X-Image-Meta-* fields of one register or update request, keys normalised."""

    fields: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class Image:
    """One image as the API shows it (protocol.md 10.3)."""

    id: str
    name: str
    disk_format: str
    container_format: str
    status: str
    checksum: str
    size: int
    location: str
    owner: str
    is_public: bool
    created_at: float
    updated_at: float
    properties: dict[str, str]
    description: str | None = None
    is_snapshot: bool = False
    serial: int = 0

    def short(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "name": self.name,
            "disk_format": self.disk_format,
            "container_format": self.container_format,
            "size": self.size,
            "id": self.id,
        }

    def detail(self) -> dict[str, Any]:
        item = self.short()
        item.update(
            checksum=self.checksum,
            location=self.location,
            created_at=format_time(self.created_at),
            updated_at=format_time(self.updated_at),
            deleted_at="",
            is_public=self.is_public,
            owner=self.owner,
            properties=dict(self.properties),
            is_snapshot=self.is_snapshot,
        )
        if self.description is not None:
            item["description"] = self.description
        return item

    def sort_value(self, key: str) -> Any:
        return getattr(self, key)


def format_time(ts: float) -> str:
    """`YYYY-MM-DD HH:MM:SS` in UTC, the shape of the reference's image dates."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def pithos_location(account: str, container: str, name: str) -> str:
    return "pithos://" + "/".join(quote(part, safe="/") for part in (account, container, name))


def parse_location(value: str) -> tuple[str, str, str]:
    """`pithos://<account>/<container>/<path>` -> parts.

    The request layer has already URL-unquoted the header once (protocol.md 1.5), which
    is the one unquoting the reference applies to each part, so nothing more here.
    """
    parts = value.split("/", 4)
    if (
        len(parts) != 5
        or parts[0] != "pithos:"
        or parts[1] != ""
        or not all(parts[2:])
        or "\0" in value
    ):
        raise BadRequest(f"Invalid location '{value}'")
    return parts[2], parts[3], parts[4]


def check_image_id(image_id: str) -> str:
    try:
        return str(uuidlib.UUID(image_id))
    except ValueError:
        raise BadRequest(f"Invalid image id '{image_id}'") from None


def check_value(what: str, value: str) -> None:
    if len(value) > MAX_VALUE_LENGTH:
        raise BadRequest(f"Image {what} too long (at most {MAX_VALUE_LENGTH} characters)")


def check_formats(fields: Mapping[str, str]) -> None:
    disk = fields.get("disk_format")
    if disk is not None and disk not in DISK_FORMATS:
        raise BadRequest(f"Invalid disk format '{disk}' (one of {', '.join(DISK_FORMATS)})")
    cont = fields.get("container_format")
    if cont is not None and cont not in CONTAINER_FORMATS:
        raise BadRequest(
            f"Invalid container format '{cont}' (one of {', '.join(CONTAINER_FORMATS)})"
        )


def property_items(properties: Mapping[str, str]) -> dict[str, str]:
    """Stored keys for properties, with the key-length and value-length limits."""
    items: dict[str, str] = {}
    for key, value in properties.items():
        if not key:
            raise BadRequest("Empty image property name")
        if len(key) > MAX_PROPERTY_KEY:
            raise BadRequest(
                f"Image property name too long (at most {MAX_PROPERTY_KEY} characters): {key}"
            )
        check_value(f"property '{key}'", value)
        items[PROPERTY_PREFIX + key] = value
    return items


def check_item_count(plankton: Mapping[str, str]) -> None:
    if len(plankton) > MAX_ITEMS:
        raise BadRequest(
            f"Too many image metadata items (at most {MAX_ITEMS}, properties included)"
        )


def parse_list_params(args: Mapping[str, str]) -> tuple[dict[str, Any], str, str]:
    """(filters, sort_key, sort_dir) of a list request; 400 on bad values (protocol.md 10.3)."""
    sort_key = args.get("sort_key") or "created_at"
    if sort_key not in SORT_KEYS:
        raise BadRequest(f"Invalid sort_key '{sort_key}' (one of {', '.join(SORT_KEYS)})")
    sort_dir = (args.get("sort_dir") or "desc").lower()
    if sort_dir not in ("asc", "desc"):
        raise BadRequest("Invalid sort_dir (asc or desc)")
    filters: dict[str, Any] = {k: args[k] for k in STRING_FILTERS if k in args}
    for key in ("size_min", "size_max"):
        if key in args:
            try:
                filters[key] = int(args[key])
            except ValueError:
                raise BadRequest("Malformed request.") from None
    return filters, sort_key, sort_dir


def matches(image: Image, filters: Mapping[str, Any]) -> bool:
    for key, want in filters.items():
        if key == "size_min":
            if image.size < want:
                return False
        elif key == "size_max":
            if image.size > want:
                return False
        elif key == "status":
            if image.status.lower() != str(want).lower():
                return False
        elif getattr(image, key) not in (want, unquote(want)):
            # kamaki 0.16 percent-encodes query values twice (`name=a%2520b`);
            # the reference never noticed because it ignores filters.
            return False
    return True
