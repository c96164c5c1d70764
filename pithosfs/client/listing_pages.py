"""One page of a JSON listing, its entries handed out while the body still arrives.

Why: a 10,000-object page is about 5 MB that the server writes over ~0.2 s.
Decoding it as it comes lets the caller (the mount building its directory)
work while the server is still reading rows, instead of after it.

A body cut midway (connection reset, a server that failed after its first
rows) raises PageCut carrying nothing but the reason: the caller knows the
entries it got, and resumes the listing after the last one with `marker`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
import urllib3

from pithosfs.client.errors import PithosError
from pithosfs.client.json_stream import JsonStreamCut, JsonStreamError, iter_json_array
from pithosfs.client.transport import Transport

# The most bytes taken per read of the body (each read takes what has arrived).
READ_BYTES = 64 * 1024


class PageCut(Exception):
    """The page's body ended early; entries already handed out were whole."""


def page_items(
    transport: Transport,
    path: str,
    params: Mapping[str, str],
    on_headers: Callable[[Mapping[str, str]], object] | None = None,
) -> Iterator[Any]:
    """The entries of the JSON array a listing GET answers (none for 204 or an empty body).

    Each is a dict with a string `name` or `subdir`; anything else is a PithosError.
    `on_headers` sees the reply's headers before the first entry is handed out.
    """
    resp = transport.request("GET", path, params=params, stream=True)
    with resp:
        if on_headers is not None:
            on_headers(resp.headers)
        if resp.status_code != 200:
            return
        received = 0

        def chunks() -> Iterator[bytes]:
            nonlocal received
            try:
                # read1: what has arrived (iter_content waits for READ_BYTES of a
                # body with a length), so a body that stalls still hands out its start.
                while chunk := resp.raw.read1(READ_BYTES, decode_content=True):
                    received += len(chunk)
                    transport.stats.add_received("GET", len(chunk))
                    yield chunk
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise PageCut(f"{type(exc).__name__}: {exc}") from exc

        try:
            for item in iter_json_array(chunks()):
                if not isinstance(item, dict) or not isinstance(
                    item.get("name", item.get("subdir")), str
                ):
                    raise PithosError(f"malformed listing entry: {item!r:.80}", path=path)
                yield item
        except JsonStreamCut as exc:
            if received:
                raise PageCut(str(exc)) from None
            # An empty 200 body: some servers answer an empty listing so.
        except JsonStreamError as exc:
            raise PithosError(f"malformed listing: {exc}", path=path) from None
