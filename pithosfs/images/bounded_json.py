"""JSON from users (metafiles, `.register` lines) with a size and a nesting bound. Pure.

Python's parser recurses once per nesting level and gives up with RecursionError
(not ValueError) somewhere near the interpreter's recursion limit. That error is
not a "bad input" answer: it escaped as EIO from `.register` and was swallowed as
a layer failure after a `.meta` save. Every registration document is flat (an
object, at most one object inside it), so a small bound refuses hostile input
before the parser sees it, with a reason the user can act on.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32  # a metafile needs 2; room for whatever a user pastes in a property
MAX_BYTES = 1024 * 1024  # kamaki's metafiles are under 2 KiB

_BRACKETS_OUTSIDE_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|([\[\]{}])', re.DOTALL)


class JsonLimitError(ValueError):
    """Not JSON, or JSON past a bound; the message says which."""


def nesting_over(text: str, limit: int) -> bool:
    """Whether `text` nests brackets deeper than `limit` (strings skipped; stops early)."""
    if text.count("[") + text.count("{") <= limit:  # the common case: nothing to scan
        return False
    depth = 0
    for match in _BRACKETS_OUTSIDE_STRINGS.finditer(text):
        bracket = match.group(1)
        if bracket is None:
            continue
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def loads(text: str | bytes, what: str, max_bytes: int = MAX_BYTES) -> Any:
    """`json.loads` with the bounds; JsonLimitError names `what` and the reason."""
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > max_bytes:
        raise JsonLimitError(f"{what} is {size} bytes, over the limit of {max_bytes}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonLimitError(f"{what} is not UTF-8 text") from None
    if nesting_over(text, MAX_DEPTH):
        raise JsonLimitError(f"{what} nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text)
    except RecursionError:  # unreachable past the scan above; kept as a last guard
        raise JsonLimitError(f"{what} nests too deeply") from None
    except ValueError as exc:
        raise JsonLimitError(f"invalid JSON in {what}: {exc}") from None


def load_object(text: str | bytes, what: str, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """`loads`, and the document must be a JSON object."""
    doc = loads(text, what, max_bytes)
    if not isinstance(doc, dict):
        raise JsonLimitError(f"{what} must hold a JSON object")
    return doc
