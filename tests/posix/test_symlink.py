"""symlink(2): links, their targets and owners, times, and the errno of each refusal."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from tests.posix.fstest import (
    G1,
    G2,
    TYPES,
    U1,
    U2,
    ctime,
    fails,
    fails_as,
    long_path,
    loop,
    make,
    name_of,
    no_access_dir,
    not_a_dir,
    ok_as,
    owner_of,
    tick,
    times,
)


@pytest.mark.parametrize(
    "target", ["f", "../elsewhere", "/absolute/path", "sp ace/\u00fc", "x" * 255]
)
def test_a_symlink_holds_its_target(d: Path, target: str) -> None:
    os.symlink(target, d / "l")
    assert os.readlink(d / "l") == target
    st = os.lstat(d / "l")
    assert stat.S_ISLNK(st.st_mode) and st.st_size == len(target.encode())


def test_a_target_up_to_path_max_is_kept(d: Path) -> None:
    target = "a/" * 2047 + "b"  # 4095 bytes
    os.symlink(target, d / "l")
    assert os.readlink(d / "l") == target


def test_a_symlink_is_followed(d: Path) -> None:
    (d / "f").write_bytes(b"data")
    os.symlink("f", d / "l")
    assert (d / "l").read_bytes() == b"data"
    assert os.stat(d / "l").st_ino == os.stat(d / "f").st_ino


def test_a_symlink_belongs_to_its_creator(d: Path) -> None:
    os.chown(d, U1, G1)
    ok_as(U1, G1, os.symlink, "target", "l", cwd=d)
    assert owner_of(d / "l") == (U1, G1)
    os.chmod(d, 0o777)
    ok_as(U2, G2, os.symlink, "target", "m", cwd=d)
    assert owner_of(d / "m")[0] == U2


def test_symlink_moves_the_times_of_the_link_and_its_directory(d: Path) -> None:
    before = ctime(d)
    tick()
    os.symlink("target", d / "l")
    assert min(times(d / "l")) > before
    assert times(d)[1] > before and times(d)[2] > before


def test_enotdir_when_a_component_is_not_a_directory(d: Path) -> None:
    fails(errno.ENOTDIR, os.symlink, "target", not_a_dir(d) / "l")


def test_a_name_of_256_bytes_is_enametoolong(d: Path) -> None:
    os.symlink("target", d / name_of(255))
    fails(errno.ENAMETOOLONG, os.symlink, "target", d / name_of(256))


def test_a_target_of_path_max_bytes_is_enametoolong(d: Path) -> None:
    fails(errno.ENAMETOOLONG, os.symlink, "x" * 4096, d / "l")


def test_a_path_over_path_max_is_enametoolong(d: Path) -> None:
    fails_as(errno.ENAMETOOLONG, 0, 0, os.symlink, "target", long_path(d, 4096), cwd=d)


def test_enoent_when_the_directory_is_missing(d: Path) -> None:
    fails(errno.ENOENT, os.symlink, "target", d / "missing" / "l")


def test_eacces_without_search_permission(d: Path) -> None:
    sub = no_access_dir(d, 0o666)
    fails_as(errno.EACCES, U1, G1, os.symlink, "target", "locked/l", cwd=d)
    assert not os.path.lexists(sub / "l")


def test_eacces_without_write_permission(d: Path) -> None:
    os.chown(d, U1, G1)
    os.chmod(d, 0o555)
    fails_as(errno.EACCES, U1, G1, os.symlink, "target", "l", cwd=d)


def test_eloop_for_a_symlink_loop(d: Path) -> None:
    fails(errno.ELOOP, os.symlink, "target", loop(d) / "l")


@pytest.mark.parametrize("kind", TYPES)
def test_eexist_when_the_name_is_taken(d: Path, kind: str) -> None:
    make(kind, d / "l")
    fails(errno.EEXIST, os.symlink, "target", d / "l")


def test_a_dangling_symlink_is_listed_and_removed(d: Path) -> None:
    os.symlink("nowhere", d / "l")
    assert os.listdir(d) == ["l"] and not (d / "l").exists()
    os.unlink(d / "l")
    assert os.listdir(d) == []
