"""One registration request: parsed from a `.register` line (kamaki's arguments,
shell-quoted) or from its JSON form (a line starting with `{`). Pure: no I/O."""

from __future__ import annotations

import json
import logging
import shlex
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

DISK_FORMATS = ("diskdump", "extdump", "ntfsdump", "raw", "qcow2", "vmdk", "vdi", "iso", "ami")
CONTAINER_FORMATS = ("bare", "ovf", "aki", "ari", "ami")
USAGE = (
    "usage: NAME OBJECT [-p KEY=VAL]... [--public] [--metafile FILE] [-f|--force] "
    "[--no-metafile-upload] [--disk-format F] [--container-format F]"
)


class RequestError(ValueError):
    """A line that is not a valid registration; the message says why."""


@dataclass
class RegisterRequest:
    name: str | None
    object: str
    properties: dict[str, str] = field(default_factory=dict)
    public: bool = False
    metafile: str | None = None
    force: bool = False
    no_metafile_upload: bool = False
    disk_format: str | None = None
    container_format: str | None = None


def _check_format(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    if value is not None and value not in allowed:
        raise RequestError(f"unknown {what} {value!r} (one of {', '.join(allowed)})")


def _property(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise RequestError(f"property {text!r} is not KEY=VAL")
    return key.strip(), value


def parse_line(line: str) -> RegisterRequest:
    """Parse one line (without its newline). RequestError with a clear reason."""
    text = line.strip()
    if not text:
        raise RequestError("empty line")
    req = _parse_json(text) if text.startswith("{") else _parse_args(text)
    _check_format(req.disk_format, DISK_FORMATS, "disk format")
    _check_format(req.container_format, CONTAINER_FORMATS, "container format")
    return req


_VALUED = {
    "--metafile": "metafile",
    "--disk-format": "disk_format",
    "--container-format": "container_format",
}


def _parse_args(text: str) -> RegisterRequest:
    try:
        words = shlex.split(text)
    except ValueError as exc:  # unbalanced quotes
        raise RequestError(f"cannot split the line: {exc}") from None
    positional: list[str] = []
    req = RegisterRequest(name=None, object="")
    it = iter(words)

    def value_of(option: str) -> str:
        try:
            return next(it)
        except StopIteration:
            raise RequestError(f"{option} needs a value") from None

    for word in it:
        option, eq, inline = word.partition("=")
        if eq and option in _VALUED:  # --metafile=FILE is the same as --metafile FILE
            setattr(req, _VALUED[option], inline)
        elif word in ("-p", "--property"):
            k, v = _property(value_of(word))
            req.properties[k] = v
        elif eq and option == "--property":
            k, v = _property(inline)
            req.properties[k] = v
        elif word == "--public":
            req.public = True
        elif word in ("-f", "--force"):
            req.force = True
        elif word == "--no-metafile-upload":
            req.no_metafile_upload = True
        elif word == "--metafile":
            req.metafile = value_of(word)
        elif word == "--disk-format":
            req.disk_format = value_of(word)
        elif word == "--container-format":
            req.container_format = value_of(word)
        elif word.startswith("-") and len(word) > 1:
            raise RequestError(f"unknown option {word!r}; {USAGE}")
        else:
            positional.append(word)
    if len(positional) != 2:
        raise RequestError(f"expected NAME and OBJECT, got {len(positional)} words; {USAGE}")
    req.name, req.object = positional
    if not req.name.strip():
        raise RequestError("the image name is empty")
    return req


_JSON_KEYS = {
    "name", "object", "properties", "public", "metafile", "force",
    "no_metafile_upload", "disk_format", "container_format",
}  # fmt: skip


def _parse_json(text: str) -> RegisterRequest:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RequestError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError("the JSON form must be an object")
    data = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = set(data) - _JSON_KEYS
    if unknown:
        raise RequestError(f"unknown keys {sorted(unknown)} (known: {sorted(_JSON_KEYS)})")
    obj = data.get("object")
    if not isinstance(obj, str) or not obj:
        raise RequestError("'object' (a path or pithos:// location) is required")
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise RequestError("'name' must be a non-empty string")
    props = data.get("properties")
    props = {} if props is None else props
    if not isinstance(props, dict):
        raise RequestError("'properties' must be an object")
    return RegisterRequest(
        name=name,
        object=obj,
        properties={str(k): str(v) for k, v in props.items()},
        public=bool(data.get("public", False)),
        metafile=data.get("metafile"),
        force=bool(data.get("force", False)),
        no_metafile_upload=bool(data.get("no_metafile_upload", False)),
        disk_format=data.get("disk_format"),
        container_format=data.get("container_format"),
    )
