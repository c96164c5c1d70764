"""One registration request: parsed from a `.register` line (kamaki's arguments,
shell-quoted) or from its JSON form (a line starting with `{`). Pure: no I/O.

The options are kamaki 0.16's `image register` options, with the same meaning;
NAME and OBJECT may also be given positionally. Formats are not checked here: the
image service knows which it accepts and says so.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass, field

from pithosfs.images.bounded_json import JsonLimitError, load_object

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024  # a registration line longer than this is refused unparsed
USAGE = (
    "usage: NAME OBJECT [-p KEY=VAL]... [--public] [--metafile FILE] [-f|--force] "
    "[--no-metafile-upload] [--disk-format F] [--container-format F] [--checksum H] "
    "[--size N] (or --name NAME --location OBJECT, as kamaki)"
)
# kamaki options that make no sense in a mount, and what to do instead.
_REFUSED = {
    "--upload-image-file": "copy the file into the mount, then register it",
    "-C": "give the object as /CONTAINER/PATH or pithos://UUID/CONTAINER/PATH",
    "--container": "give the object as /CONTAINER/PATH or pithos://UUID/CONTAINER/PATH",
    "--uuid": "only objects of your own account can be registered",
}


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
    checksum: str | None = None
    size: str | None = None


def _property(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise RequestError(f"property {text!r} is not KEY=VAL")
    return key.strip(), value


def parse_line(line: str) -> RegisterRequest:
    """Parse one line (without its newline). RequestError with a clear reason."""
    if len(line.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES:
        raise RequestError(f"line longer than {MAX_LINE_BYTES} bytes")
    text = line.strip()
    if not text:
        raise RequestError("empty line")
    return _parse_json(text) if text.startswith("{") else _parse_args(text)


_VALUED = {
    "--metafile": "metafile",
    "--disk-format": "disk_format",
    "--container-format": "container_format",
    "--checksum": "checksum",
    "--size": "size",
    "--name": "name",
    "--location": "object",
    "--owner-name": "",  # accepted and ignored, as kamaki 0.16 ignores it (no 'owner' argument)
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
        if option in _REFUSED:
            raise RequestError(f"{option} is not for a mount: {_REFUSED[option]}")
        if option in _VALUED and (eq or word == option):
            value = inline if eq else value_of(option)  # --opt=VALUE is --opt VALUE
            if _VALUED[option]:
                setattr(req, _VALUED[option], value)
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
        elif word.startswith("-") and len(word) > 1:
            raise RequestError(f"unknown option {word!r}; {USAGE}")
        else:
            positional.append(word)
    missing = [what for what, have in (("NAME", req.name), ("OBJECT", req.object)) if not have]
    if len(positional) != len(missing):
        raise RequestError(f"expected NAME and OBJECT, got {len(positional)} words; {USAGE}")
    for what, word in zip(missing, positional, strict=True):
        if what == "NAME":
            req.name = word
        else:
            req.object = word
    if not (req.name or "").strip():
        raise RequestError("the image name is empty")
    return req


_JSON_KEYS = {
    "name", "object", "properties", "public", "metafile", "force",
    "no_metafile_upload", "disk_format", "container_format", "checksum", "size",
}  # fmt: skip


def _parse_json(text: str) -> RegisterRequest:
    try:
        data = load_object(text, "the JSON form", MAX_LINE_BYTES)
    except JsonLimitError as exc:
        raise RequestError(str(exc)) from None
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
        metafile=_text_or_none(data.get("metafile"), "metafile"),
        force=bool(data.get("force", False)),
        no_metafile_upload=bool(data.get("no_metafile_upload", False)),
        disk_format=_text_or_none(data.get("disk_format"), "disk_format"),
        container_format=_text_or_none(data.get("container_format"), "container_format"),
        checksum=_text_or_none(data.get("checksum"), "checksum"),
        size=_text_or_none(data.get("size"), "size"),
    )


def _text_or_none(value: object, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise RequestError(f"{key!r} must be a string")
    return str(value)
