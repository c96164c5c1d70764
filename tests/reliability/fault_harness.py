"""Fault-injection harness: a FaultProxy between a mount and a server (in-process or killable)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pithosfs.client.errors import NotFound
from pithosfs.client.pithos import PithosClient
from pithosfs.client.transport import RetryPolicy
from tests.conftest import ALICE
from tests.reliability.fault_proxy import FaultProxy
from tests.server.server_process import ServerProcess


def env_int(name: str, default: int) -> int:
    """A size/count a test scales with an environment variable (CI default otherwise)."""
    return int(os.environ.get(name) or default)


class ProxiedServer:
    """What start_mount needs of a server (storage_url), with the proxy's address in it.

    `direct` is a client that bypasses the proxy: the tests' own view of what the server holds.
    """

    def __init__(self, proxy: FaultProxy, direct_base: str) -> None:
        self.proxy = proxy
        self.direct_base = direct_base

    def storage_url(self, uuid: str) -> str:
        return f"{self.proxy.url}/object-store/v1/{uuid}"

    @property
    def identity_url(self) -> str:
        return f"{self.proxy.url}/identity/v2.0"

    def direct(self, user: tuple[str, str] = ALICE) -> PithosClient:
        quick = RetryPolicy(attempts=3, connect_timeout=5, read_timeout=30)
        url = f"{self.direct_base}/object-store/v1/{user[0]}"
        return PithosClient.from_storage_url(url, user[1], retry=quick)

    def server_bytes(self, container: str, name: str) -> bytes | None:
        """What the server holds under a name (None: nothing), asked past the proxy."""
        client = self.direct()
        try:
            info = client.head_object(container, name)
            return client.read_range(container, name, 0, info.size) if info.size else b""
        except NotFound:
            return None
        finally:
            client.close()


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


@pytest.fixture
def proxied(server: object) -> Iterator[ProxiedServer]:
    """The session's in-process server behind a fresh FaultProxy."""
    base = server.base_url  # type: ignore[attr-defined]
    proxy = FaultProxy(_address(base))
    yield ProxiedServer(proxy, base)
    proxy.stop()


class KillableServer(ProxiedServer):
    """`pithosfs serve` in a child process behind the proxy: kill -9 it, start it again."""

    def __init__(self, proc: ServerProcess, proxy: FaultProxy) -> None:
        super().__init__(proxy, proc.base_url)
        self.proc = proc

    def kill(self) -> None:
        self.proc.kill()
        self.proxy.drop_connections()

    def restart(self) -> None:
        self.proc.start()  # a new port: the proxy is what keeps the mount's URL stable
        self.direct_base = self.proc.base_url
        self.proxy.retarget(_address(self.proc.base_url))


@pytest.fixture
def killable_server(tmp_path: Path) -> Iterator[KillableServer]:
    proc = ServerProcess(tmp_path / "server-data", ALICE, tmp_path / "server.log")
    proc.start()
    proxy = FaultProxy(_address(proc.base_url))
    yield KillableServer(proc, proxy)
    proxy.stop()
    proc.stop()


def journal_records(cache_dir: Path) -> list[dict[str, object]]:
    """The mount's upload journal entries (`<cache-dir>/journal/<id>.json`)."""
    import json

    out = []
    for record in sorted((cache_dir / "journal").glob("*.json")):
        try:
            out.append(json.loads(record.read_bytes()))
        except (OSError, ValueError):
            continue  # replaced or removed while we looked
    return out


def conflicts(cache_dir: Path) -> list[Path]:
    """Files the journal kept as conflicts (the ESTALE case)."""
    root = cache_dir / "conflicts"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def wait_until(check: Callable[[], bool], deadline: float, step: float = 0.2) -> float:
    """Poll `check` until true; the seconds it took, or AssertionError after `deadline`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > deadline:
            raise AssertionError(f"still not so after {deadline:.0f} s")
        time.sleep(step)
    return time.monotonic() - start
