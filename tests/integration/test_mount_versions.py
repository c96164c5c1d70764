"""`.versions/` on a real mount: listing, reading, hiding, deleted objects, restore, EROFS."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import ATTR_TIMEOUT, Mount


def sh(cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, shell=True, check=check, capture_output=True, text=True, timeout=240)


def write_versions(path: Path, contents: list[bytes]) -> None:
    for body in contents:
        path.write_bytes(body)


def test_versions_listed_and_read_by_id(mnt: Path, session_mount: Mount) -> None:
    bodies = [b"first\n", b"second version\n", b"third, the longest one\n"]
    (mnt / "sub").mkdir()
    write_versions(mnt / "sub" / "f", bodies)
    write_versions(mnt / "top", [b"a", b"bb"])
    expected = session_mount.client.list_versions(mnt.name, "sub/f")
    ids = [f"{v.version:012d}" for v in expected]  # ids, zero-padded: `ls` order is age
    assert sh(f"ls {mnt}/sub/.versions/f").stdout.split() == ids
    contents = [(mnt / "sub/.versions/f" / i).read_bytes() for i in ids]
    assert contents == bodies  # one version per save, none empty
    for entry, name in zip(expected, ids, strict=True):
        st = os.stat(mnt / "sub/.versions/f" / name)
        info = session_mount.client.head_object(mnt.name, "sub/f", entry.version)
        assert st.st_size == info.size
        assert abs(st.st_mtime - entry.timestamp) < 1e-3
        assert st.st_mode & 0o222 == 0  # read-only
    # The container root has its own `.versions`; each lists the files of its directory.
    assert os.listdir(mnt / ".versions") == ["top"]
    assert os.listdir(mnt / "sub/.versions") == ["f"]
    assert sh(f"ls {mnt}/.versions/top").stdout.split() != []
    assert sh(f"cd {mnt}/sub/.versions && cat f/{ids[-1]}").stdout == bodies[-1].decode()


def test_versions_hidden_from_readdir_find_du(mnt: Path) -> None:
    write_versions(mnt / "f", [b"one", b"two"])
    (mnt / "d").mkdir()
    write_versions(mnt / "d" / "g", [b"x", b"y"])
    assert ".versions" not in sh(f"ls -a {mnt}").stdout.split()
    assert ".versions" not in sh(f"ls -a {mnt}/d").stdout.split()
    found = sh(f"find {mnt}").stdout
    assert ".versions" not in found and f"{mnt}/d/g" in found
    assert ".versions" not in sh(f"du -a {mnt}").stdout
    assert os.path.isdir(mnt / ".versions") and os.path.isdir(mnt / "d/.versions")  # by name


def test_deleted_object_keeps_history(mnt: Path, session_mount: Mount) -> None:
    write_versions(mnt / "gone", [b"v1", b"v2 last"])
    ids = [v.version for v in session_mount.client.list_versions(mnt.name, "gone")]
    os.unlink(mnt / "gone")
    assert not (mnt / "gone").exists()
    names = sorted(os.listdir(mnt / ".versions/gone"))  # plain sort: oldest first
    assert [int(n) for n in names] == ids
    assert (mnt / ".versions/gone" / names[-1]).read_bytes() == b"v2 last"
    assert "gone" in os.listdir(mnt / ".versions")  # deleted through this mount: remembered


def test_deleted_elsewhere_reachable_by_name(mnt: Path, session_mount: Mount) -> None:
    client = session_mount.client
    client.put_object(mnt.name, "other", b"made elsewhere")
    client.delete_object(mnt.name, "other")
    ids = os.listdir(mnt / ".versions/other")
    assert len(ids) == 1 and (mnt / ".versions/other" / ids[0]).read_bytes() == b"made elsewhere"
    assert not (mnt / ".versions/never-existed").exists()


def test_restore_by_cp_sends_no_data(mnt: Path, session_mount: Mount, tmp_path: Path) -> None:
    size = 8 * 1024 * 1024 + 12345
    old, new = os.urandom(size), os.urandom(size)
    (mnt / "img").write_bytes(old)
    (mnt / "img").write_bytes(new)
    versions = session_mount.client.list_versions(mnt.name, "img")
    old_id = next(
        v.version
        for v in versions
        if session_mount.client.head_object(mnt.name, "img", v.version).size == size
    )
    time.sleep(0.3)  # let the status file catch up with the writes above
    before = session_mount.wire_bytes(time.time() - 0.2)
    start = time.time()
    sh(f"cp {mnt}/.versions/img/{old_id} {mnt}/img")
    time.sleep(0.3)
    spent = session_mount.wire_bytes(start) - before
    assert spent <= size // 100, spent
    info = session_mount.client.head_object(mnt.name, "img")
    assert info.version > versions[-1].version  # a new version, not a rollback
    assert session_mount.client.read_object(mnt.name, "img") == old
    time.sleep(ATTR_TIMEOUT + 0.2)
    assert (mnt / "img").read_bytes() == old
    (tmp_path / "restore-bytes.txt").write_text(f"{spent} bytes on the wire for {size}\n")
    print(f"restore of {size} bytes: {spent} bytes on the wire")


def test_writes_into_versions_are_erofs(mnt: Path, session_mount: Mount) -> None:
    write_versions(mnt / "f", [b"one", b"two"])
    vid = os.listdir(mnt / ".versions/f")[0]
    version_file = mnt / ".versions/f" / vid
    attempts = [
        lambda: open(version_file, "wb"),
        lambda: open(version_file, "ab"),
        lambda: open(mnt / ".versions/f/new", "wb"),
        lambda: os.unlink(version_file),
        lambda: os.mkdir(mnt / ".versions/x"),
        lambda: os.rename(version_file, mnt / "stolen"),
        lambda: os.rename(mnt / "f", mnt / ".versions/f/1"),
        lambda: os.truncate(version_file, 0),
        lambda: os.chmod(version_file, 0o644),
        lambda: os.setxattr(version_file, "user.x", b"1"),
    ]
    for attempt in attempts:
        with pytest.raises(OSError) as info:
            attempt()
        assert info.value.errno == errno.EROFS, attempt
    assert version_file.read_bytes() == b"one"  # the first listed is the oldest, never empty
    assert int(os.getxattr(version_file, "user.pithos.version").decode()) == int(vid)


def test_restore_by_cat_uploads_no_known_blocks(mnt: Path, session_mount: Mount) -> None:
    """Without copy_file_range (a shell redirection), the version's blocks read through the
    mount are known to be on the server, so writing them back sends no block data."""
    size = 8 * 1024 * 1024 + 999
    old = os.urandom(size)
    (mnt / "f").write_bytes(old)
    (mnt / "f").write_bytes(b"replaced")
    old_id = session_mount.client.list_versions(mnt.name, "f")[-2].version
    time.sleep(0.3)
    before = session_mount.status(time.time() - 0.2)
    start = time.time()
    sh(f"cat {mnt}/.versions/f/{old_id} > {mnt}/f")
    time.sleep(0.3)
    after = session_mount.status(start)
    sent = int(after["bytes_sent"]) - int(before["bytes_sent"])  # type: ignore[call-overload]
    assert sent <= size // 100, sent
    assert session_mount.client.read_object(mnt.name, "f") == old


def test_cp_between_files_is_a_hashmap_put(mnt: Path, session_mount: Mount) -> None:
    size = 8 * 1024 * 1024 + 1
    body = os.urandom(size)
    (mnt / "a").write_bytes(body)
    time.sleep(ATTR_TIMEOUT + 0.2)
    before = session_mount.wire_bytes(time.time() - 0.2)
    start = time.time()
    sh(f"cp {mnt}/a {mnt}/b")
    time.sleep(0.3)
    assert session_mount.wire_bytes(start) - before <= size // 100
    assert session_mount.client.read_object(mnt.name, "b") == body
    assert (mnt / "b").read_bytes() == body
