"""JSON request bodies with bounded size and nesting; every bad body is a 400.

Python's decoder recurses once per nesting level: a body of a few hundred
kilobytes of `[` raised RecursionError, which reached the client as a 500 with
a traceback in the log. No request of the protocol nests deeper than four
levels, so MAX_DEPTH leaves ample room while keeping every consumer's walk short.
"""

from __future__ import annotations

import json
from typing import Any

from pithosfs.server.errors import BadRequest
from pithosfs.server.webio import Req

MAX_DEPTH = 32


def read_body(req: Req, limit: int) -> bytes:
    """The whole (optional) request body, or 400 if it is longer than `limit` bytes."""
    body = req.body(required=False)
    if body.length is not None and body.length > limit:
        raise BadRequest("Request body too large")
    if not (body.length or req.chunked):
        return b""
    raw = body.read(limit + 1)
    if len(raw) > limit:
        raise BadRequest("Request body too large")
    return raw


def loads(raw: bytes | str) -> Any:
    """json.loads, raising ValueError (as for any malformed JSON) past MAX_DEPTH levels."""
    text = raw.encode() if isinstance(raw, str) else bytes(raw)
    opens = text.count(b"[") + text.count(b"{")
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if opens > MAX_DEPTH:  # (brackets inside strings count too: this only skips the walk)
        _check_depth(doc)
    return doc


def _check_depth(doc: Any) -> None:
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))
