"""Disk full in the cache directory (an 8 MiB tmpfs): writing a larger file either succeeds
(committed, exactly) or fails with a clear ENOSPC, and then the server holds the old object or
exactly what the successful writes made the file, never other bytes; the mount keeps working
afterwards and reads of objects larger than the cache disk return the right bytes."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pithosfs.client.errors import NotFound
from pithosfs.client.pithos import PithosClient
from tests.conftest import ALICE
from tests.integration.conftest import start_mount, stop_mount
from tests.reliability.fault_harness import ProxiedServer, journal_records, wait_until
from tests.reliability.fault_proxy import Fault
from tests.tmpfs import small_tmpfs

pytestmark = [pytest.mark.slow, pytest.mark.mount]

MIB = 1024 * 1024
CACHE_FS_MIB = 8


@pytest.fixture
def small_cache(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs to serve as the mount's cache directory (needs root)."""
    with small_tmpfs(tmp_path / "smallfs", CACHE_FS_MIB) as where:
        yield where / "cache"


def _server_bytes(client: object, container: str, name: str) -> bytes | None:
    try:
        info = client.head_object(container, name)  # type: ignore[attr-defined]
    except NotFound:
        return None
    return client.read_range(container, name, 0, info.size) if info.size else b""  # type: ignore[attr-defined]


def _write_in_order(path: Path, data: bytes, reverse: bool) -> tuple[str, bytes]:
    """Write `data` over `path` in 1 MiB pieces: ("ok" | "ENOSPC", the file's content as
    the successful writes made it, which is what the server may hold after close)."""
    content = bytearray()
    offsets = list(range(0, len(data), MIB))
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        for offset in reversed(offsets) if reverse else offsets:
            try:
                written = os.pwrite(fd, data[offset : offset + MIB], offset)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return "ENOSPC", bytes(content)
            end = offset + written
            content.extend(bytes(max(0, end - len(content))))
            content[offset:end] = data[offset:end]
    finally:
        try:
            os.close(fd)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc  # the flush after a refused write
    return "ok", bytes(content)


def test_full_cache_disk_gives_enospc_and_nothing_is_corrupted(
    fuse_ok: None, server: object, small_cache: Path, tmp_path: Path, unique_name: str
) -> None:
    m = start_mount(server, ALICE, tmp_path / "m", "--cache-dir", str(small_cache))
    try:
        m.client.create_container(unique_name)  # before the mount looks: no foreign change
        old = os.urandom(MIB)
        m.client.put_object(unique_name, "big.bin", old)
        big = os.urandom(4 * CACHE_FS_MIB * MIB)
        # Sequential: completed blocks go up while the file is written, so the staging area
        # may keep up; either the whole file gets home or write() says ENOSPC.
        outcomes = []
        # Sequential: completed blocks go up while the file is written. Backwards: nothing is
        # a sequential run, so every byte waits in staging (or in memory once the disk is full).
        for name, reverse in (("big.bin", False), ("back.bin", True)):
            if name != "big.bin":
                m.client.put_object(unique_name, name, old)
                time.sleep(1.1)  # past the attribute timeout: no foreign change the mount missed
            outcome, expected = _write_in_order(m.path / unique_name / name, big, reverse)
            outcomes.append(outcome)
            on_server = _server_bytes(m.client, unique_name, name)
            if outcome == "ok":  # close() said so: it is committed
                assert on_server == expected, (name, len(on_server or b""))
            else:  # as on a local disk: the file is what the successful writes made it
                assert on_server in (old, expected), (name, len(on_server or b""))
        print(f"\nwrites of {len(big) // MIB} MiB on a {CACHE_FS_MIB} MiB cache disk: {outcomes}")
        time.sleep(1.1)  # the release finishes after close() returned

        # The mount keeps working: small writes commit, listings answer, and reads larger
        # than the cache disk return the right bytes.
        (m.path / unique_name / "small.txt").write_bytes(b"room for this")
        assert _server_bytes(m.client, unique_name, "small.txt") == b"room for this"
        assert "small.txt" in os.listdir(m.path / unique_name)
        large = os.urandom(3 * CACHE_FS_MIB * MIB)
        m.client.put_object(unique_name, "large.bin", large)
        time.sleep(1.1)  # past the directory timeout: the mount sees the new object
        assert (m.path / unique_name / "large.bin").read_bytes() == large
        assert m.proc.poll() is None
    finally:
        stop_mount(m)
    assert "Traceback" not in m.log_text(), m.log_text()[-4000:]


def test_cached_blocks_never_starve_writes(
    fuse_ok: None, server: object, small_cache: Path, tmp_path: Path, unique_name: str
) -> None:
    """Reads larger than the cache disk do not leave it so full that writes fail."""
    m = start_mount(server, ALICE, tmp_path / "m", "--cache-dir", str(small_cache))
    try:
        m.client.create_container(unique_name)
        large = os.urandom(3 * CACHE_FS_MIB * MIB)
        m.client.put_object(unique_name, "large.bin", large)
        assert (m.path / unique_name / "large.bin").read_bytes() == large  # fills the cache
        time.sleep(0.5)  # the block cache writes in the background
        (m.path / unique_name / "small.txt").write_bytes(b"room for this")
        assert _server_bytes(m.client, unique_name, "small.txt") == b"room for this"
    finally:
        stop_mount(m)
    assert "Traceback" not in m.log_text(), m.log_text()[-4000:]


# ---- the server's disk is full ------------------------------------------------------


@pytest.fixture
def small_server_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "serverfs", 24) as where:
        yield where


def test_full_server_disk_gives_the_writer_enospc(
    fuse_ok: None, small_server_disk: Path, tmp_path: Path
) -> None:
    from pithosfs.server import EmbeddedServer

    srv = EmbeddedServer(small_server_disk / "data", port=0, users=dict([ALICE]))
    srv.start()
    m = None
    try:
        client = PithosClient.from_storage_url(srv.storage_url(ALICE[0]), ALICE[1])
        client.create_container("c")
        client.put_object("c", "before.txt", b"written before")
        client.close()
        m = start_mount(srv, ALICE, tmp_path / "m")
        target = m.path / "c" / "big.bin"
        failed_at = ""
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for _ in range(40):
                os.write(fd, os.urandom(MIB))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
            failed_at = "write"
        finally:
            try:
                os.close(fd)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                failed_at = failed_at or "close"
        print(f"\n40 MiB onto a 24 MiB server disk: ENOSPC at {failed_at or 'nowhere'}")
        assert failed_at, "the writer was never told the server's disk is full"
        # A refusal for good (commit_failures.py): nothing kept to be re-sent for ever.
        cache = m.path.parent / "cache"
        assert journal_records(cache) == [] and not list(cache.glob("failed/*"))
        assert (m.path / "c" / "before.txt").read_bytes() == b"written before"
        assert m.proc.poll() is None
    finally:
        if m is not None:
            stop_mount(m)
        srv.stop()
    assert "Traceback" not in m.log_text(), m.log_text()[-4000:]


def test_server_away_and_cache_disk_full_the_writer_hears_enospc_and_nothing_is_lost(
    fuse_ok: None, proxied: ProxiedServer, small_cache: Path, tmp_path: Path, unique_name: str
) -> None:
    """The server refuses for a while (503) and the journal's disk is an 8 MiB tmpfs. A
    small file fits the journal: close() says EIO and the journal delivers it later. A
    5 MiB file does not fit next to its own staging copy: close() says ENOSPC before a
    byte of it is journalled, the mount holds it, and delivers it too once the server
    is back. No close() ever reported success for data the server did not get."""
    direct = proxied.direct()
    direct.create_container(unique_name)
    m = start_mount(
        proxied, ALICE, tmp_path / "m", "--cache-dir", str(small_cache),
        env_extra={"PITHOSFS_RETRY_MAX": "1"},
    )  # fmt: skip
    small, large = os.urandom(100_000), os.urandom(5 * MIB)
    try:
        (m.path / unique_name / "warm").write_bytes(b"the container is known")
        for method in ("PUT", "POST"):
            proxied.proxy.add(Fault("status", method=method, status=503, times=-1))
        seen = {}
        for name, data in (("small.bin", small), ("large.bin", large)):
            with pytest.raises(OSError) as caught:
                with open(m.path / unique_name / name, "wb") as f:
                    f.write(data)
            seen[name] = errno.errorcode[caught.value.errno]
        assert seen == {"small.bin": "EIO", "large.bin": "ENOSPC"}, seen
        records = journal_records(small_cache)
        assert [r["name"] for r in records] == ["small.bin"]  # large.bin: held, not journalled

        def states() -> dict[str, str]:
            status = subprocess.run(
                [sys.executable, "-m", "pithosfs", "status", str(m.path), "--json"],
                capture_output=True, text=True, env=m.env, timeout=60,
            )  # fmt: skip
            return {u["path"]: u["state"] for u in json.loads(status.stdout)[0]["uploads"]}

        expected = {f"/{unique_name}/small.bin": "journal", f"/{unique_name}/large.bin": "held"}
        wait_until(lambda: states() == expected, 60)  # the release tries once more first
        proxied.proxy.clear()
        for name, data in (("small.bin", small), ("large.bin", large)):
            wait_until(lambda n=name, d=data: _server_bytes(direct, unique_name, n) == d, 60)
        print(f"\nfull cache disk with the server away: close() said {seen}; both delivered")
    finally:
        stop_mount(m)
        direct.close()
    assert "Traceback" not in m.log_text(), m.log_text()[-4000:]
