"""Fixtures shared by the StagedFile tests: a fake store with tiny blocks and an upload pool."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import pytest

from pithosfs.client.fake import FakeStore

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
