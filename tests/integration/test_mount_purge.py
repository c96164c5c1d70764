"""Purging history from a mount (`pithosfs purge`, `user.pithos.purge`) frees the server's
disk, and `df` on the mount tells the truth about that disk.

The server's data dir is a 96 MiB tmpfs, so its free space is measured exactly.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pithosfs.client.pithos import PithosClient
from pithosfs.server import EmbeddedServer
from tests.conftest import ALICE
from tests.integration.conftest import Mount, start_mount, stop_mount
from tests.server.pithos_http import wait_for_next_second
from tests.server.test_block_gc import block_bytes, random_bytes, wait_until
from tests.tmpfs import small_tmpfs

MIB = 1024 * 1024


@pytest.fixture
def world(fuse_ok: None, tmp_path: Path) -> Iterator[tuple[EmbeddedServer, Mount, Path]]:
    with small_tmpfs(tmp_path / "serverfs", 96) as disk:
        srv = EmbeddedServer(disk / "data", port=0, users=dict([ALICE]), block_size=MIB)
        srv.start()
        m = None
        try:
            client = PithosClient.from_storage_url(srv.storage_url(ALICE[0]), ALICE[1])
            client.create_container("c")
            client.close()
            m = start_mount(srv, ALICE, tmp_path / "m")
            yield srv, m, disk
        finally:
            if m is not None:
                stop_mount(m)
            srv.stop()
    assert "Traceback" not in m.log_text(), m.log_text()[-4000:]


def df_available(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def versions(m: Mount, name: str) -> list[str]:
    return sorted(os.listdir(m.path / "c" / ".versions" / name))


def test_purging_a_file_frees_its_old_versions_on_the_server(
    world: tuple[EmbeddedServer, Mount, Path],
) -> None:
    srv, m, _disk = world
    path = m.path / "c" / "f.bin"
    contents = [random_bytes(8 * MIB) for _ in range(3)]
    for data in contents:
        path.write_bytes(data)
        wait_for_next_second()  # `until` counts whole seconds
    wait_until(lambda: len(versions(m, "f.bin")) == 3)
    before = block_bytes(srv)
    assert before >= 24 * MIB
    done = subprocess.run(
        [sys.executable, "-m", "pithosfs", "purge", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    wait_until(lambda: block_bytes(srv) <= before - 16 * MIB)
    print(f"\nblocks on the server: {before} bytes before the purge, {block_bytes(srv)} after")
    assert path.read_bytes() == contents[-1]
    wait_until(lambda: len(versions(m, "f.bin")) == 1)  # after the attribute timeout


def test_purging_a_container_drops_deleted_files_and_df_shows_the_room(
    world: tuple[EmbeddedServer, Mount, Path],
) -> None:
    srv, m, disk = world
    kept = os.urandom(4 * MIB)
    (m.path / "c" / "kept.bin").write_bytes(kept)
    (m.path / "c" / "gone.bin").write_bytes(os.urandom(32 * MIB))
    os.unlink(m.path / "c" / "gone.bin")  # deleted: still in the history, still on disk
    time.sleep(1.1)  # past the attribute timeout: df asks the server again
    full = df_available(m.path)
    # df tells the server disk's free space (the quota would allow 50 GiB).
    assert abs(full - df_available(disk)) < 4 * MIB, (full, df_available(disk))
    os.setxattr(m.path / "c", "user.pithos.purge", b"history")
    wait_until(lambda: df_available(m.path) >= full + 30 * MIB)
    print(f"\ndf on the mount: {full} bytes free before the purge, {df_available(m.path)} after")
    assert (m.path / "c" / "kept.bin").read_bytes() == kept
    with pytest.raises(OSError) as caught:
        os.getxattr(m.path / "c", "user.pithos.purge")
    assert caught.value.errno == errno.ENODATA  # an action, not a value


def test_purge_refuses_what_it_cannot_purge(world: tuple[EmbeddedServer, Mount, Path]) -> None:
    _srv, m, _disk = world
    (m.path / "c" / "dir").mkdir()
    (m.path / "c" / "dir" / "x").write_bytes(b"x")
    done = subprocess.run(
        [sys.executable, "-m", "pithosfs", "purge", str(m.path / "c" / "dir")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "not a file, a container or a mount root" in done.stderr
    with pytest.raises(OSError) as caught:
        os.setxattr(m.path / "c" / "dir" / "x", "user.pithos.purge", b"everything")
    assert caught.value.errno == errno.EINVAL
