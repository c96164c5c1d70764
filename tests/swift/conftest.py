"""A mount against a real OpenStack Swift (scripts/swift/start.sh), reusing the integration harness.

Skipped unless PITHOSFS_SWIFT_STORAGE_URL + PITHOSFS_SWIFT_TOKEN, or PITHOSFS_SWIFT_AUTH
(tempauth /auth/v1.0) + PITHOSFS_SWIFT_USER + PITHOSFS_SWIFT_KEY are set.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Mount, fuse_ok, start_mount, stop_mount  # noqa: F401

CONTAINER = "pithosfs-swift-tests"


def _credentials() -> tuple[str, str]:
    url, token = (
        os.environ.get("PITHOSFS_SWIFT_STORAGE_URL"),
        os.environ.get("PITHOSFS_SWIFT_TOKEN"),
    )
    auth = os.environ.get("PITHOSFS_SWIFT_AUTH")
    if auth:  # a fresh token: a Swift restart invalidates old ones
        req = urllib.request.Request(auth, headers={
            "X-Auth-User": os.environ.get("PITHOSFS_SWIFT_USER", "test:tester"),
            "X-Auth-Key": os.environ.get("PITHOSFS_SWIFT_KEY", "testing"),
        })  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as resp:
            url, token = resp.headers["X-Storage-Url"], resp.headers["X-Auth-Token"]
    if not url or not token:
        pytest.skip("no Swift: run scripts/swift/start.sh and export its PITHOSFS_SWIFT_* lines")
    return url, token


class _SwiftAccount:
    """What start_mount needs from a server: the storage URL."""

    def __init__(self, url: str) -> None:
        self.url = url

    def storage_url(self, uuid: str) -> str:
        return self.url


@pytest.fixture(scope="session")
def swift_mount(fuse_ok: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:  # noqa: F811
    url, token = _credentials()
    req = urllib.request.Request(
        f"{url}/{CONTAINER}", method="PUT", headers={"X-Auth-Token": token}
    )
    urllib.request.urlopen(req, timeout=10).close()
    m = start_mount(_SwiftAccount(url), ("swift", token), tmp_path_factory.mktemp("swift"))
    yield m
    stop_mount(m)


@pytest.fixture
def smnt(swift_mount: Mount, unique_name: str) -> Path:
    d = swift_mount.path / CONTAINER / unique_name
    d.mkdir()
    return d
