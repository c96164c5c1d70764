"""The elements of a JSON array, decoded while its bytes still arrive.

A 10,000-object listing is about 5 MB of JSON. Decoding it only once the
last byte is in makes the client wait for the whole of the server's work and
then do its own; decoding each element as it arrives lets the two overlap.

Works on any valid JSON array, however it is spaced or cut into chunks: an
element is taken only once the `,` or `]` after it is in, so that a number or
literal cut at a chunk's end is never read short.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_SPACE = re.compile(r"[ \t\n\r]*")
# Undecodable text kept waiting for the rest of an element: past this, it is just bad.
MAX_ELEMENT_CHARS = 16 * 1024 * 1024
# Where the parser is: before `[`, after `[`, after a `,` (a value must follow), after `]`.
_NUMBER_TAIL = 4  # the most a cut number leaves after what decodes ("e-1" of "2e-1"), plus one
_START, _FIRST, _NEXT, _DONE = "start", "first", "next", "done"


class JsonStreamError(ValueError):
    """The bytes are not one complete JSON array."""


class JsonStreamCut(JsonStreamError):
    """The bytes end before the array does (a body cut short)."""


def iter_json_array(chunks: Iterable[bytes]) -> Iterator[Any]:
    """Yield each element of the JSON array the chunks spell, as soon as it is whole.

    Raises JsonStreamError for anything but a single complete array (also
    when the chunks end before its `]`: a body cut short).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    decode_value = json.JSONDecoder().raw_decode
    # _SPACE matches the empty string, so its match is never None.
    skip: Callable[[str, int], re.Match[str]] = _SPACE.match  # type: ignore[assignment]
    source = iter(chunks)
    text = ""
    pos = 0
    more = True
    state = _START

    def refill() -> bool:
        """Append the next text to what is left of `text`; False once the chunks are spent."""
        nonlocal text, pos
        for chunk in source:
            try:
                piece = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise JsonStreamError(f"the JSON array is not UTF-8: {exc}") from None
            if piece:
                text, pos = text[pos:] + piece, 0
                return True
        return False

    while True:
        pos = skip(text, pos).end()
        if pos == len(text):  # nothing left to look at: more text, or the end
            if more and (more := refill()):
                continue
            if state is _DONE:
                return
            raise JsonStreamCut("the JSON array ends early (body cut short?)")
        char = text[pos]
        if state is _DONE:
            raise JsonStreamError(f"data after the JSON array: {text[pos : pos + 20]!r}")
        if state is _START:
            if char != "[":
                raise JsonStreamError(f"not a JSON array: {text[pos : pos + 20]!r}")
            pos, state = pos + 1, _FIRST
            continue
        if state is _FIRST and char == "]":
            pos, state = pos + 1, _DONE
            continue
        try:
            value, end = decode_value(text, pos)
        except json.JSONDecodeError as exc:
            if len(text) - pos > MAX_ELEMENT_CHARS:  # no element is that long: malformed
                raise JsonStreamError(f"bad JSON in the array: {exc}") from None
            if more and (more := refill()):  # probably cut at the chunk's end
                continue
            if _ran_out(text, exc):
                raise JsonStreamCut(f"the JSON array ends early, in an element: {exc}") from None
            raise JsonStreamError(f"bad JSON in the array: {exc}") from None
        after = skip(text, end).end()
        # Its `,` or `]` is not in yet, or a number was cut short ("2." of "2.5",
        # "1e" of "1e-9"): decide again with more text.
        if len(text) - after < _NUMBER_TAIL and more and text[after : after + 1] not in (",", "]"):
            if more := refill():
                continue
        if after == len(text):
            raise JsonStreamCut("the JSON array ends early (body cut short?)")
        if text[after] == ",":
            pos, state = after + 1, _NEXT
        elif text[after] == "]":
            pos, state = after + 1, _DONE
        else:
            raise JsonStreamError(
                f"expected , or ] in the JSON array: {text[after : after + 20]!r}"
            )
        yield value


def _ran_out(text: str, exc: json.JSONDecodeError) -> bool:
    """Whether the decoder failed only for want of more text (a cut, not bad JSON)."""
    if exc.msg.startswith("Unterminated string"):
        return True
    rest = text[exc.pos :]
    return rest == "" or rest == "-" or any(word.startswith(rest) for word in _LITERALS)


_LITERALS = ("true", "false", "null")
