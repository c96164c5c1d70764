"""parse_mtime's fast path gives what the Decimal reading of the same text gives."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pithosfs.fs.nodes import format_mtime, parse_mtime


def by_decimal(text: str) -> int:
    return int(Decimal(text.strip()) * 10**9)


@pytest.mark.parametrize(
    "text",
    ["1700000000.123456789", "1700000000", "1700000000.", "0.000000001", "12.5",
     " 42.25 ", "1700000000.1234567899", "-5.5", "1e9", ".5", "+3.25", "0", "١٢٣"],
)  # fmt: skip
def test_same_as_decimal(text: str) -> None:
    assert parse_mtime(text) == by_decimal(text)


@pytest.mark.parametrize("text", ["", "   ", "abc", "1.2.3", "²"])
def test_not_a_time(text: str) -> None:
    assert parse_mtime(text) is None


def test_round_trip_of_what_the_mount_writes() -> None:
    for ns in (0, 1, 999_999_999, 1_700_000_000_123_456_789):
        assert parse_mtime(format_mtime(ns)) == ns
