"""Fixtures for the server tests: per-user `Api` handles and fresh containers."""

from __future__ import annotations

import pytest

from tests.conftest import ALICE, BOB, User
from tests.server.pithos_http import Api


@pytest.fixture
def api(alice: User) -> Api:
    """Alice, the owner in most tests."""
    return Api(alice.storage_url, alice.uuid, alice.token)


@pytest.fixture
def bob_api(bob: User) -> Api:
    """Bob, the other user: sees Alice's data only when shared."""
    return Api(bob.storage_url, bob.uuid, bob.token)


@pytest.fixture
def anon(alice: User) -> Api:
    """No token at all, pointed at Alice's account."""
    return Api(alice.storage_url, alice.uuid, None)


@pytest.fixture
def cont(api: Api, unique_name: str) -> str:
    """A fresh container in Alice's account."""
    return api.make_container(unique_name)


@pytest.fixture
def sb_api(small_block_server: object) -> Api:
    """Alice on the 1 KiB-block server (the test vectors of protocol.md 7.2)."""
    return Api(small_block_server.storage_url(ALICE[0]), ALICE[0], ALICE[1])  # type: ignore[attr-defined]


@pytest.fixture
def sb_bob(small_block_server: object) -> Api:
    return Api(small_block_server.storage_url(BOB[0]), BOB[0], BOB[1])  # type: ignore[attr-defined]


@pytest.fixture
def sb_cont(sb_api: Api, unique_name: str) -> str:
    return sb_api.make_container(unique_name)
