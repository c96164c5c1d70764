"""Ordinary tools on a real mount: copying, layout, names, attributes, links, xattrs, df."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import ATTR_TIMEOUT, Mount


def sh(cmd: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, shell=True, cwd=cwd, check=check, capture_output=True, text=True, timeout=240
    )


@pytest.mark.parametrize("size", [0, 1, 1024 * 1024 + 7, 5 * 1024 * 1024 + 3])
def test_cp_cat_cmp_random_files(mnt: Path, tmp_path: Path, size: int) -> None:
    src = tmp_path / "src"
    src.write_bytes(os.urandom(size))
    sh(f"cp {src} {mnt}/copy")
    sh(f"cmp {src} {mnt}/copy")
    assert (mnt / "copy").stat().st_size == size
    sh(f"cat {mnt}/copy > {tmp_path}/back")
    sh(f"cmp {src} {tmp_path}/back")


@pytest.mark.slow
def test_large_file_round_trip(mnt: Path, tmp_path: Path, session_mount: Mount) -> None:
    src = tmp_path / "big"
    sh(f"head -c {64 * 1024 * 1024} /dev/urandom > {src}")
    sh(f"cp {src} {mnt}/big")
    info = session_mount.client.head_object(mnt.name, "big")
    assert info.size == 64 * 1024 * 1024
    sh(f"cmp {src} {mnt}/big")


def test_mkdir_p_mv_rm_r_ls_l(mnt: Path, session_mount: Mount) -> None:
    sh(f"mkdir -p {mnt}/a/b/c")
    sh(f"echo one > {mnt}/a/b/c/f1 && echo two > {mnt}/a/b/f2")
    assert session_mount.client.head_object(mnt.name, "a/b").is_directory  # a marker object
    sh(f"mv {mnt}/a/b/f2 {mnt}/a/f2moved")
    sh(f"mv {mnt}/a/b {mnt}/a/bb")
    listing = sh(f"ls -l {mnt}/a").stdout
    assert "bb" in listing and "f2moved" in listing and " b\n" not in listing
    assert (mnt / "a/bb/c/f1").read_text() == "one\n"
    with pytest.raises(OSError) as info:
        os.rmdir(mnt / "a")
    assert info.value.errno == errno.ENOTEMPTY
    sh(f"rm -r {mnt}/a")
    assert os.listdir(mnt) == []
    names = [o.name for o in session_mount.client.list_objects(mnt.name, "", None, False)]
    assert names == []


def test_rename_over_existing_file_replaces_it(mnt: Path) -> None:
    (mnt / "a").write_text("new")
    (mnt / "b").write_text("old contents")
    os.rename(mnt / "a", mnt / "b")
    assert (mnt / "b").read_text() == "new"
    assert sorted(os.listdir(mnt)) == ["b"]


def test_names_with_spaces_and_unicode(mnt: Path, session_mount: Mount) -> None:
    name = "my file ü 日本 (1).txt"
    (mnt / "dir with space").mkdir()
    (mnt / "dir with space" / name).write_text("x")
    assert os.listdir(mnt / "dir with space") == [name]
    info = session_mount.client.head_object(mnt.name, f"dir with space/{name}")
    assert info.size == 1


def test_chmod_touch_stat(mnt: Path, session_mount: Mount) -> None:
    f = mnt / "f"
    f.write_text("data")
    os.chmod(f, 0o751)
    sh(f"touch -m -d '2001-02-03 04:05:06.789' {f}")
    st = f.stat()
    assert stat.S_IMODE(st.st_mode) == 0o751
    assert time.gmtime(st.st_mtime)[:3] == (2001, 2, 3)
    assert st.st_mtime_ns % 10**9 == 789_000_000
    assert st.st_blksize >= 1024 * 1024
    meta = session_mount.client.head_object(mnt.name, "f").meta or {}
    assert meta.get("Pithosfs-Mode") == "751"
    time.sleep(ATTR_TIMEOUT + 0.5)  # from the store again, not the cache
    assert stat.S_IMODE(f.stat().st_mode) == 0o751


def test_symlinks(mnt: Path) -> None:
    (mnt / "target").write_text("pointed at")
    os.symlink("target", mnt / "link")
    os.symlink("../elsewhere/ü", mnt / "dangling")
    assert os.readlink(mnt / "link") == "target"
    assert (mnt / "link").read_text() == "pointed at"
    assert os.readlink(mnt / "dangling") == "../elsewhere/ü"
    assert stat.S_ISLNK(os.lstat(mnt / "link").st_mode)


def test_hard_links_refused_fifos_and_owners_stored(mnt: Path, session_mount: Mount) -> None:
    (mnt / "f").write_text("x")
    with pytest.raises(OSError) as info:
        os.link(mnt / "f", mnt / "hard")
    assert info.value.errno == errno.EPERM
    os.mkfifo(mnt / "fifo", 0o640)
    assert stat.S_ISFIFO(os.lstat(mnt / "fifo").st_mode)
    os.chown(mnt / "f", 4242, 4343)
    assert (os.stat(mnt / "f").st_uid, os.stat(mnt / "f").st_gid) == (4242, 4343)
    meta = session_mount.client.head_object(mnt.name, "f").meta
    assert (meta["Pithosfs-Uid"], meta["Pithosfs-Gid"]) == ("4242", "4343")


def test_xattrs(mnt: Path, session_mount: Mount) -> None:
    f = mnt / "f"
    f.write_text("x")
    sh(f"setfattr -n user.my_key -v 'some value' {f}")
    assert session_mount.client.head_object(mnt.name, "f").meta["My-Key"] == "some value"
    out = sh(f"getfattr -n user.my-key --only-values {f}").stdout
    assert out == "some value"
    names = sh(f"getfattr -d -m - {f}").stdout
    assert "user.My-Key" in names and "Pithosfs" not in names
    info = session_mount.client.head_object(mnt.name, "f")
    assert sh(f"getfattr -n user.pithos.hash --only-values {f}").stdout == info.hash
    assert sh(f"getfattr -n user.pithos.uuid --only-values {f}").stdout == info.uuid
    missing = sh(f"getfattr -n user.nothing {f}", check=False)
    assert missing.returncode != 0 and "No such attribute" in missing.stderr
    refused = sh(f"setfattr -n user.pithos.hash -v x {f}", check=False)
    assert refused.returncode != 0
    sh(f"setfattr -x user.my_key {f}")
    assert "My-Key" not in (session_mount.client.head_object(mnt.name, "f").meta or {})


def test_foreign_modification_seen_after_ttl(mnt: Path, session_mount: Mount) -> None:
    (mnt / "f").write_text("mine")
    assert (mnt / "f").read_text() == "mine"
    session_mount.client.put_object(mnt.name, "f", b"theirs, longer")
    session_mount.client.put_object(mnt.name, "new", b"n")
    time.sleep(2 * ATTR_TIMEOUT + 0.5)  # kernel cache + our cache
    assert (mnt / "f").read_text() == "theirs, longer"
    assert sorted(os.listdir(mnt)) == ["f", "new"]
    session_mount.client.delete_object(mnt.name, "new")
    time.sleep(2 * ATTR_TIMEOUT + 0.5)
    assert not (mnt / "new").exists()


def test_df_shows_usage(mnt: Path, session_mount: Mount) -> None:
    out = sh(f"df -B1 --output=used,size {session_mount.path}").stdout.split()
    used, size = int(out[-2]), int(out[-1])
    assert size > 0 and 0 <= used <= size
    account = session_mount.client.account_info()
    assert abs(used - account.bytes_used) < 10 * 1024 * 1024


def test_libfuse2_fallback(
    mount_factory: Callable[..., Mount], tmp_path: Path, unique_name: str
) -> None:
    m = mount_factory(env={"FUSE_LIBRARY_NAME": "fuse"})
    assert "with libfuse 2" in m.log_text()
    src = tmp_path / "src"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    (m.path / unique_name).mkdir()
    sh(f"cp {src} {m.path}/{unique_name}/f")
    sh(f"cmp {src} {m.path}/{unique_name}/f")
    assert m.client.head_object(unique_name, "f").size == src.stat().st_size


def test_non_utf8_name_is_refused_cleanly(mnt: Path) -> None:
    with pytest.raises(OSError) as info:
        open(os.path.join(os.fsencode(mnt), b"caf\xe9"), "wb").close()
    assert info.value.errno == errno.EINVAL


def test_parallel_writers_and_readers(mnt: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    blobs = {f"p{i}": os.urandom(300_000 + i * 77_777) for i in range(8)}

    def work(name: str) -> bool:
        path = mnt / name
        for _ in range(3):
            path.write_bytes(blobs[name])
            if path.read_bytes() != blobs[name]:
                return False
        return True

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, blobs))
    assert sorted(os.listdir(mnt)) == sorted(blobs)


def test_touch_now_and_atime_only(mnt: Path) -> None:
    f = mnt / "f"
    f.write_text("x")
    os.utime(f, ns=(0, 10**18))  # 2001-09-09
    sh(f"touch -a {f}")  # atime only: mtime is UTIME_OMIT
    assert f.stat().st_mtime_ns == 10**18
    sh(f"touch -m {f}")  # mtime UTIME_NOW
    assert abs(f.stat().st_mtime - time.time()) < 60
