"""The metafile (`<object>.meta`): kamaki's JSON keys, rendered and parsed. Pure."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from pithosfs.client.images import Image

log = logging.getLogger(__name__)

SUFFIX = ".meta"


class MetafileError(ValueError):
    """A metafile whose content cannot be a registration; the message says why."""


@dataclass
class MetafileFields:
    """What a metafile contributes to a registration (None: not given)."""

    name: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    is_public: bool | None = None
    disk_format: str | None = None
    container_format: str | None = None


def render(image: Image) -> str:
    """kamaki's metafile: hyphenated keys, properties as an object."""
    doc: dict[str, Any] = {
        "name": image.name,
        "id": image.id,
        "checksum": image.checksum,
        "container-format": image.container_format,
        "disk-format": image.disk_format,
        "is-public": image.is_public,
        "location": image.location,
        "owner": image.owner,
        "properties": dict(image.properties),
        "size": image.size,
        "status": image.status,
        "created-at": image.created_at,
        "updated-at": image.updated_at,
        "deleted-at": "",
    }
    return json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


def parse(text: str | bytes) -> MetafileFields:
    """The registration fields of a metafile. Keys may use '-' or '_'; read-only keys
    (id, size, checksum, status, dates, owner, location) are accepted and ignored,
    since the object decides them."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise MetafileError("the metafile is not UTF-8 text") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise MetafileError(f"invalid JSON in metafile: {exc}") from None
    if not isinstance(doc, dict):
        raise MetafileError("the metafile must hold a JSON object")
    doc = {str(k).replace("_", "-").lower(): v for k, v in doc.items()}
    out = MetafileFields()
    name = doc.get("name")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise MetafileError("'name' must be a non-empty string")
        out.name = name
    props = doc.get("properties")
    props = {} if props is None else props
    if not isinstance(props, dict):
        raise MetafileError("'properties' must be a JSON object")
    for k, v in props.items():
        if isinstance(v, (dict, list)):
            raise MetafileError(f"property {k!r} must be a string, not {type(v).__name__}")
        out.properties[str(k)] = "" if v is None else str(v)
    public = doc.get("is-public")
    if public is not None:
        if isinstance(public, str) and public.lower() in ("true", "false"):
            public = public.lower() == "true"
        if not isinstance(public, bool):
            raise MetafileError("'is-public' must be true or false")
        out.is_public = public
    for key in ("disk-format", "container-format"):
        value = doc.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise MetafileError(f"{key!r} must be a string")
        setattr(out, key.replace("-", "_"), value)
    return out
