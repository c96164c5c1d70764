"""Fixtures of the client tests against the real embedded server (alice: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pithosfs.client import PithosClient


@pytest.fixture
def client(alice) -> Iterator[PithosClient]:
    c = PithosClient.from_storage_url(alice.storage_url, alice.token)
    yield c
    c.close()


@pytest.fixture
def cont(client: PithosClient, unique_name: str) -> str:
    """A fresh container of alice's."""
    client.create_container(unique_name)
    return unique_name
