"""A mount against a real OpenStack Swift (scripts/swift/start.sh), reusing the integration harness.

Skipped unless PITHOSFS_SWIFT_STORAGE_URL + PITHOSFS_SWIFT_TOKEN, or PITHOSFS_SWIFT_AUTH
(tempauth /auth/v1.0) + PITHOSFS_SWIFT_USER + PITHOSFS_SWIFT_KEY are set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pithosfs.client.pithos import PithosClient
from tests.integration.conftest import (  # noqa: F401
    ATTR_TIMEOUT,
    MOUNT_DEADLINE,
    Mount,
    _unmount,
    fuse_ok,
    start_mount,
    stop_mount,
)

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


def auth_settings() -> tuple[str, str, str]:
    """(tempauth URL, user, key); skips the test without them."""
    auth = os.environ.get("PITHOSFS_SWIFT_AUTH")
    if not auth:
        pytest.skip("no Swift auth URL: run scripts/swift/start.sh and export its lines")
    user = os.environ.get("PITHOSFS_SWIFT_USER", "test:tester")
    return auth, user, os.environ.get("PITHOSFS_SWIFT_KEY", "testing")


# The node's second tempauth account (scripts/swift/start.sh): tests that expire tokens use
# it, so the session mount of the first account keeps its token.
SECOND_USER = ("test2:tester2", "testing2")


def fresh_client(user: tuple[str, str] | None = None) -> PithosClient:
    """A client with a fresh token (for checks behind the mount's back); the test account
    unless `user` = (name, key) is given."""
    if user is None:
        url, token = _credentials()
        return PithosClient.from_storage_url(url, token)
    from pithosfs.client.identity import tempauth_login

    session = tempauth_login(auth_settings()[0], *user)
    return PithosClient.from_storage_url(session.storage_url, session.token)


def memcached_address() -> tuple[str, int]:
    """Where the Swift node keeps its tokens (scripts/swift/start.sh prints its port)."""
    auth = urllib.parse.urlsplit(auth_settings()[0])
    port = int(os.environ.get("PITHOSFS_SWIFT_MEMCACHED_PORT") or (auth.port or 80) + 4)
    return auth.hostname or "127.0.0.1", port


def start_auth_mount(
    root: Path,
    *extra: str,
    user: tuple[str, str] = SECOND_USER,
    env_extra: dict[str, str] | None = None,
    wait: bool = True,
    source: tuple[str, ...] = (),
) -> Mount | subprocess.Popen[bytes]:
    """`pithosfs mount -f --url <auth URL>` with the user and key in the environment only
    (`source` replaces `--url <auth URL>`, e.g. by `--cloud NAME`).

    With wait=False, returns the process as soon as it is started (for refusals)."""
    auth = auth_settings()[0]
    user, key = user
    mnt = root / "mnt"
    mnt.mkdir(parents=True)
    log = root / "mount.log"
    env = dict(os.environ, XDG_CACHE_HOME=str(root / "xdg-cache"), PITHOSFS_STATUS_INTERVAL="0.1")
    for name in ("PITHOS_URL", "PITHOS_TOKEN", "PITHOS_CLOUD", "ST_AUTH", "OS_AUTH_URL"):
        env.pop(name, None)
    env.update(PITHOS_AUTH_USER=user, PITHOS_AUTH_KEY=key, KAMAKIRC=str(root / "no-kamakirc"))
    env.update(env_extra or {})
    cmd = [
        sys.executable, "-m", "pithosfs", "mount", "-f", str(mnt), *(source or ("--url", auth)),
        "--cache-dir", str(root / "cache"), "--attr-timeout", str(ATTR_TIMEOUT),
        "--dir-timeout", str(ATTR_TIMEOUT), "--log-file", str(log), *extra,
    ]  # fmt: skip
    out = open(root / "mount.out", "wb")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if not wait:
        return proc
    deadline = time.monotonic() + MOUNT_DEADLINE
    while not os.path.ismount(mnt):
        if proc.poll() is not None:
            text = (root / "mount.out").read_text(errors="replace")
            pytest.fail(f"mount exited with {proc.returncode}: {text[-2000:]} {log.read_text()}")
        if time.monotonic() > deadline:
            _unmount(mnt, proc)
            pytest.fail("mount not live within the deadline")
        time.sleep(0.05)
    return Mount(mnt, proc, log, fresh_client((user, key)), env, root / "no-state")


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
