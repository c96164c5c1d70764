"""pithosfs.server.fsck against a real data dir written by `pithosfs serve`."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from pithosfs import protocol
from pithosfs.client.pithos import PithosClient
from pithosfs.server import fsck
from tests.conftest import ALICE
from tests.server.server_process import ServerProcess

MiB = 1024 * 1024


def test_fsck_finds_and_repairs_orphans_and_reports_missing_blocks(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = ServerProcess(data_dir, ALICE, tmp_path / "server.log")
    srv.start()
    try:
        c = PithosClient.from_storage_url(srv.storage_url, ALICE[1])
        c.create_container("c")
        c.put_object("c", "big", os.urandom(9 * MiB))
        c.put_object("c", "empty", b"")
        victim = c.get_hashmap("c", "big").hashes[1]
    finally:
        srv.stop()
    blocks = data_dir / "blocks"
    assert fsck.check(data_dir, deep=True).clean  # what the server wrote is consistent

    orphan_data = os.urandom(1000)
    orphan = (
        blocks / protocol.block_hash_hex(orphan_data)[:2] / protocol.block_hash_hex(orphan_data)
    )
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(orphan_data)
    (blocks / "tmp" / "leftover.partial").write_bytes(b"half a block")
    fake = "ab" * 32
    (blocks / "ab").mkdir(exist_ok=True)
    (blocks / "ab" / fake).write_bytes(b"content that does not hash to its name")
    (blocks / victim[:2] / victim).unlink()

    report = fsck.check(data_dir, deep=True)
    assert report.unreferenced == [orphan]
    assert report.temp_files == [blocks / "tmp" / "leftover.partial"]
    assert report.corrupt == [blocks / "ab" / fake]
    assert [hashes for hashes in report.missing.values()] == [[victim]]
    assert not report.clean and report.removed == 0 and orphan.exists()  # report only

    other = os.open(data_dir / "serve.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_SH)  # another server is using the dir: report only
    srv.start()
    srv.stop()
    os.close(other)
    log = (tmp_path / "server.log").read_text()
    assert "1 versions with missing blocks, 2 unreferenced blocks, 1 temp files" in log
    assert "; 0 files removed" in log and orphan.exists()

    srv.start()  # alone in the dir: the crash leftovers go, the lost data is reported
    try:
        c = PithosClient.from_storage_url(srv.storage_url, ALICE[1])
        assert c.read_range("c", "empty", 0, 10) == b""  # serving as usual after the repair
    finally:
        srv.stop()
    log = (tmp_path / "server.log").read_text()
    assert "; 2 files removed" in log  # the orphan, the bad block (tmp/ went at the last start)
    assert not orphan.exists() and not (blocks / "ab" / fake).exists()
    after = fsck.check(data_dir, deep=True)
    assert not (after.unreferenced or after.temp_files or after.corrupt)
    assert list(after.missing.values()) == [[victim]]  # lost data is reported, never invented

    cli = subprocess.run(
        [sys.executable, "-m", "pithosfs.server.fsck", str(data_dir), "--repair", "--deep"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cli.returncode == 1  # missing blocks cannot be repaired
    assert "0 files removed" in cli.stdout


def test_a_server_starting_beside_a_running_one_repairs_nothing(tmp_path: Path) -> None:
    """The lock: only a server alone in its data dir may remove unreferenced blocks."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    fd, alone = fsck.hold_data_dir(data_dir)
    assert alone
    fsck.share(fd)
    fd2, alone2 = fsck.hold_data_dir(data_dir)  # a second server (own open file: own lock)
    assert not alone2
    os.close(fd2)
    os.close(fd)
    fd3, alone3 = fsck.hold_data_dir(data_dir)  # both gone: alone again
    assert alone3
    os.close(fd3)
