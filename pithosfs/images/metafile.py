"""The metafile (`<object>.meta`) as kamaki 0.16 writes and reads it. Pure.

Written: the registration reply's `X-Image-Meta-*` headers as a JSON object of
strings (`"is-public": "True"`, `"size": "5000"`), dashed keys, properties under
`properties` (keys with '-' -> '_'), the owner as `"<uuid> (<user name>)"`,
indented by 2, ASCII with \\u escapes, no final newline.

Read (`image register --metafile`): every top-level value must be a scalar and
its key free of spaces; each becomes text (`true` -> "True"). Keys are compared
lower-cased with '-' -> '_'. `properties` must be an object of scalars; their
keys are upper-cased with '-' -> '_' (the server lower-cases them again), a
`null` value is sent empty (no such property). `name` and `location` are kept
apart: kamaki takes both from its command line, a `.meta` save from here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from pithosfs.client.images import Image
from pithosfs.images.bounded_json import JsonLimitError, load_object

log = logging.getLogger(__name__)

SUFFIX = ".meta"
CONTENT_TYPE = "application/octet-stream"  # kamaki's upload_from_string default
MAX_BYTES = 1024 * 1024  # a metafile larger than this is refused unread (kamaki's: ~1 KiB)

_META = "x-image-meta-"
_PROPERTY = _META + "property-"
_UNQUOTED = ("name", "location", "description")  # the headers kamaki's ImageClient unquotes


class MetafileError(ValueError):
    """A metafile whose content cannot be a registration; the message says why."""


@dataclass
class Metafile:
    """What a metafile says, in the form kamaki reads it."""

    name: str | None = None
    location: str | None = None
    params: dict[str, str] = field(default_factory=dict)  # e.g. {"owner": ..., "is_public": ...}
    properties: dict[str, str] = field(default_factory=dict)  # upper-cased keys


def kamaki_text(value: Any) -> str:
    """A JSON scalar as kamaki (Python 2's '%s') writes it: true -> "True", null -> "None"."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _property_text(value: Any) -> str:
    """A property value as kamaki sends it in a header: null -> "" (no such property)."""
    return "" if value is None else kamaki_text(value)


def param_key(key: str) -> str:
    return key.lower().replace("-", "_")


def property_name(key: str) -> str:
    return key.upper().replace("-", "_")


def parse(data: str | bytes) -> Metafile:
    """The metafile as kamaki reads it; MetafileError (with a reason) where kamaki fails."""
    try:
        doc = load_object(data, "the metafile", MAX_BYTES)
    except JsonLimitError as exc:
        raise MetafileError(str(exc)) from None
    out = Metafile()
    for key, value in doc.items():
        norm = param_key(key)
        if norm == "properties":
            if not isinstance(value, dict):
                raise MetafileError("'properties' must be a JSON object")
            for pk, pv in value.items():
                if isinstance(pv, (dict, list)):
                    raise MetafileError(f"property {pk!r} must be a string, not {_kind(pv)}")
                out.properties[property_name(pk)] = _property_text(pv)
            continue
        if isinstance(value, (dict, list)):
            raise MetafileError(f"the value of {key!r} must be a string, not {_kind(value)}")
        if " " in key:
            raise MetafileError(f"invalid key {key!r} (no spaces)")
        text = kamaki_text(value)
        if norm == "name":
            out.name = text
        elif norm == "location":
            out.location = text
        else:
            out.params[norm] = text
    return out


def _kind(value: Any) -> str:
    return "an object" if isinstance(value, dict) else "a list"


def flag(value: str | None, key: str) -> bool:
    """A metafile's boolean ("True"/"False" as kamaki writes it, any case; "" and null
    are false)."""
    text = (value or "").strip().lower()
    if text in ("true", "false", "", "none"):
        return text == "true"
    raise MetafileError(f"{key!r} must be True or False, not {value!r}")


def reply_fields(headers: Mapping[str, str]) -> dict[str, Any]:
    """kamaki's dict of a register reply: `X-Image-Meta-` stripped, properties apart."""
    doc: dict[str, Any] = {"properties": {}}
    for name, value in headers.items():
        low = name.lower()
        if low.startswith(_PROPERTY):
            doc["properties"][low[len(_PROPERTY) :].replace("-", "_")] = unquote(value)
        elif low.startswith(_META):
            key = low[len(_META) :]
            doc[key] = unquote(value) if key in _UNQUOTED else value
    return doc


def image_fields(image: Image) -> dict[str, Any]:
    """The same dict built from an Image (a listing has no headers): values as their text."""
    if image.headers:
        return reply_fields(image.headers)
    return {
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "checksum": image.checksum,
        "container-format": image.container_format,
        "disk-format": image.disk_format,
        "size": str(image.size),
        "location": image.location,
        "owner": image.owner,
        "is-public": kamaki_text(image.is_public),
        "is-snapshot": kamaki_text(image.is_snapshot),
        "description": image.description,
        "created-at": image.created_at,
        "updated-at": image.updated_at,
        "deleted-at": "",
        "properties": dict(image.properties),
    }


def render(image: Image, owner_name: str | None = None) -> str:
    """kamaki's metafile text. `owner_name`: the owner's user name, shown as
    `"<uuid> (<name>)"` as kamaki does (None: the bare uuid, as in `/.images`)."""
    doc = image_fields(image)
    if owner_name is not None:
        doc["owner"] = f"{doc.get('owner', '')} ({owner_name})"
    return json.dumps(doc, indent=2, sort_keys=True)
