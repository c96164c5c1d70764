"""The delimiter listing algorithm and metadata filters (spec 5.1, 5.2), pure functions."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pithosfs.protocol import format_meta_key

T = TypeVar("T")

# Sorts after every real character, so `sub + AFTER_ALL` skips a whole subtree.
AFTER_ALL = "\U0010ffff"
FETCH_BATCH = 1000


@dataclass(frozen=True)
class Subdir:
    name: str


@dataclass
class Entry(Generic[T]):
    name: str
    item: T


def group_listing(
    fetch: Callable[[str | None, int], Sequence[Entry[T]]],
    prefix: str,
    delimiter: str | None,
    virtual: bool,
    marker: str | None,
    limit: int,
) -> list[T | Subdir]:
    """Walk names in order, folding everything below a delimiter into one subdir entry.

    `fetch(after, n)` returns up to n entries whose names are > after and >= prefix,
    sorted, already filtered by the caller's other criteria.
    """
    out: list[T | Subdir] = []
    after = marker
    while len(out) < limit:
        rows = fetch(after, FETCH_BATCH)
        if not rows:
            break
        restart = False
        for row in rows:
            if not row.name.startswith(prefix):
                return out
            after = row.name
            if delimiter:
                idx = row.name.find(delimiter, len(prefix))
                if idx >= 0 and idx + len(delimiter) < len(row.name):
                    sub = row.name[: idx + len(delimiter)]
                    if virtual:
                        out.append(Subdir(sub))
                    after = sub + AFTER_ALL
                    restart = True
                    break
            out.append(row.item)
            if len(out) >= limit:
                return out
        if not restart and len(rows) < FETCH_BATCH:
            break
    return out


_FILTER_RE = re.compile(r"^(!?)([^!<>=]+?)\s*(?:(!=|<=|>=|=|<|>)(.*))?$")


@dataclass(frozen=True)
class MetaFilters:
    exists: list[tuple[bool, str]]  # (negated, key)
    compare: list[tuple[str, str, str]]  # (key, op, value)

    def match(self, meta: dict[str, str]) -> bool:
        if self.exists and not any((k in meta) != neg for neg, k in self.exists):
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
    """`meta=key,!key,key=v,key!=v,key<=v,...`: existence terms OR-ed, comparisons AND-ed."""
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
