"""The delimiter listing algorithm and metadata filters (protocol.md 5.1, 5.2), pure functions."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from pithosfs.protocol import format_meta_key

T = TypeVar("T")

# Sorts after every real character, so `sub + AFTER_ALL` skips a whole subtree.
AFTER_ALL = "\U0010ffff"
FETCH_BATCH = 1000
FIRST_BATCH = 64  # rows of the first fetch: the answer starts after these


@dataclass(frozen=True)
class Subdir:
    name: str


@dataclass
class Entry(Generic[T]):
    name: str
    item: T


@dataclass
class Batch(Generic[T]):
    """What one `fetch` read: the rows the caller may see, and how far it read.

    `last` is the name of the last row read, seen or not, so that filtered
    rows (another user's unshared objects, a meta filter) neither end the
    walk early nor get read again; `full` says the read hit its limit.
    """

    entries: list[Entry[T]]
    last: str | None
    full: bool


def iter_grouped(
    fetch: Callable[[str | None, int], Batch[T]],
    prefix: str,
    delimiter: str | None,
    virtual: bool,
    marker: str | None,
    limit: int,
) -> Iterator[T | Subdir]:
    """Walk names in order, folding everything below a delimiter into one subdir entry.

    `fetch(after, n)` reads up to n rows whose names are > after and >= prefix,
    in order, and returns those the caller may see. The first read is small
    and later ones grow to FETCH_BATCH, so that a streamed answer can start
    before the rest is read (see controllers.container).
    """
    sent = 0
    after = marker
    size = FIRST_BATCH
    while sent < limit:
        batch = fetch(after, size)
        size = min(FETCH_BATCH, size * 4)
        restart = False
        for row in batch.entries:
            if not row.name.startswith(prefix):
                return
            if delimiter:
                idx = row.name.find(delimiter, len(prefix))
                if idx >= 0 and idx + len(delimiter) < len(row.name):
                    sub = row.name[: idx + len(delimiter)]
                    if virtual:
                        yield Subdir(sub)
                        sent += 1
                    after = sub + AFTER_ALL
                    restart = True
                    break
            yield row.item
            sent += 1
            if sent >= limit:
                return
        if restart:
            continue
        if not batch.full or batch.last is None or not batch.last.startswith(prefix):
            return
        after = batch.last


_FILTER_RE = re.compile(r"^(!?)([^!<>=]+?)\s*(?:(!=|<=|>=|=|<|>)(.*))?$")


@dataclass(frozen=True)
class MetaFilters:
    exists: list[tuple[bool, str]]  # (negated, key)
    compare: list[tuple[str, str, str]]  # (key, op, value)

    def match(self, meta: dict[str, str]) -> bool:
        """`key` terms: any of those keys present; `!key` terms: none of those keys
        present; value terms: every one holds. All three groups AND-ed, as the reference."""
        wanted = [k for neg, k in self.exists if not neg]
        if wanted and not any(k in meta for k in wanted):
            return False
        if any(k in meta for neg, k in self.exists if neg):
            return False
        for key, op, value in self.compare:
            have = meta.get(key)
            if have is None:
                return False
            if not _compare(have, op, value):
                return False
        return True


def _compare(have: str, op: str, value: str) -> bool:
    return {
        "=": have == value,
        "!=": have != value,
        "<=": have <= value,
        ">=": have >= value,
        "<": have < value,
        ">": have > value,
    }[op]


def parse_meta_filters(raw: str) -> MetaFilters | None:
    """`meta=key,!key,key=v,key!=v,key<=v,...` (MetaFilters.match says how they combine)."""
    exists: list[tuple[bool, str]] = []
    compare: list[tuple[str, str, str]] = []
    for term in raw.split(","):
        term = term.strip()
        if not term:
            continue
        m = _FILTER_RE.match(term)
        if not m:
            continue
        neg, key, op, value = m.group(1), m.group(2).strip(), m.group(3), m.group(4)
        key = format_meta_key(key)
        if op is None:
            exists.append((bool(neg), key))
        else:
            compare.append((key, op, (value or "").strip()))
    if not exists and not compare:
        return None
    return MetaFilters(exists, compare)
