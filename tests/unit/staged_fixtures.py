"""Fixtures shared by the StagedFile tests: a fake store with tiny blocks and an upload pool."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.client.types import ObjectInfo

BS = 64  # tiny blocks so that block arithmetic is exercised on every few bytes


@pytest.fixture
def pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(4) as p:
        yield p


@pytest.fixture
def store() -> FakeStore:
    s = FakeStore(account="acc", block_size=BS)
    s.create_container("c")
    return s


def stored_object(size: int, block_size: int) -> tuple[FakeStore, bytes, ObjectInfo]:
    """A fake store holding `size` random bytes as c/big: (store, the bytes, its info)."""
    import os

    store = FakeStore(block_size=block_size)
    store.create_container("c")
    data = os.urandom(size)
    store.put_object("c", "big", data)
    return store, data, store.head_object("c", "big")
