"""The `store` fixture: one conformance suite, every ObjectStore implementation.

Parameters:
- `fake`: the in-memory FakeStore (1 KiB blocks).
- `embedded`: PithosClient over HTTP against the embedded server with 1 KiB
  blocks (`small_block_server`), so multi-block cases stay small.
- `real`: PithosClient against a real service when PITHOSFS_TEST_URL and
  PITHOSFS_TEST_TOKEN are set (an identity URL, or a storage URL with
  PITHOSFS_TEST_STORAGE=1); skipped otherwise.

Each test gets a fresh container (`container`) that is emptied and deleted
afterwards, so the suite can run against a real account without leaving litter.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.client.types import ObjectStore
from tests.conftest import ALICE

STORES = ["fake", "embedded", "real"]


def _embedded_store(request: pytest.FixtureRequest) -> ObjectStore:
    try:
        import pithosfs.server  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"embedded server not available yet: {exc}")
    from pithosfs.client import PithosClient

    srv = request.getfixturevalue("small_block_server")
    return PithosClient.from_storage_url(srv.storage_url(ALICE[0]), ALICE[1])


def _real_store() -> ObjectStore:
    url = os.environ.get("PITHOSFS_TEST_URL")
    token = os.environ.get("PITHOSFS_TEST_TOKEN")
    if not url or not token:
        pytest.skip("set PITHOSFS_TEST_URL and PITHOSFS_TEST_TOKEN to run against a real service")
    from pithosfs.client import PithosClient

    if os.environ.get("PITHOSFS_TEST_STORAGE"):
        return PithosClient.from_storage_url(url, token)
    return PithosClient.from_identity(url, token)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> ObjectStore:
    if request.param == "fake":
        return FakeStore(account=ALICE[0], block_size=1024)
    if request.param == "embedded":
        return _embedded_store(request)
    return _real_store()


@pytest.fixture
def container(store: ObjectStore) -> Iterator[str]:
    name = "conf-" + uuid.uuid4().hex[:10]
    store.create_container(name)
    yield name
    try:
        for entry in store.list_objects(name, delimiter=None, with_meta=False):
            store.delete_object(name, entry.name)
        store.delete_container(name)
    except Exception:  # noqa: BLE001 - cleanup must not mask the test's own failure
        pass


@pytest.fixture
def bs(store: ObjectStore, container: str) -> int:
    """The container's block size (1 KiB on fake/embedded, 4 MiB on a real service)."""
    return store.container_info(container).block_size
