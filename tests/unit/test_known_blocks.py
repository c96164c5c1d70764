"""KnownBlocks: a bounded set of the block hashes the server has, the least recent evicted."""

from __future__ import annotations

from pithosfs import protocol
from pithosfs.fs.writeback.upload import KnownBlocks


def test_the_least_recently_added_hash_is_evicted_first() -> None:
    known = KnownBlocks(max_entries=2)
    known.add_many(["a", "b"])
    known.add("a")  # again: now the most recent
    known.add("c")
    assert "a" in known and "c" in known and "b" not in known
    assert protocol.EMPTY_SHA256 in known  # every store has the empty block
