"""mknod(2): fifos, sockets and device nodes with their numbers; who may; refusals."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from tests.posix.fstest import (
    G1,
    TYPES,
    U1,
    ctime,
    fails,
    fails_as,
    long_path,
    loop,
    make,
    mode_of,
    name_of,
    no_access_dir,
    not_a_dir,
    ok_as,
    owner_of,
    tick,
    times,
)

KINDS = {"fifo": stat.S_IFIFO, "char": stat.S_IFCHR, "block": stat.S_IFBLK, "socket": stat.S_IFSOCK}
DEVICES = [(1, 3), (8, 16), (4095, 1048575), (0, 0)]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("mode", [0o755, 0o151, 0o000])
def test_mknod_makes_each_kind_with_the_mode_given(d: Path, kind: str, mode: int) -> None:
    ok_as(0, 0, os.mknod, "n", mode | KINDS[kind], os.makedev(1, 2), cwd=d, umask=0)
    st = os.lstat(d / "n")
    assert stat.S_IFMT(st.st_mode) == KINDS[kind] and mode_of(d / "n") == mode


@pytest.mark.parametrize("kind", ["char", "block"])
@pytest.mark.parametrize(("major", "minor"), DEVICES)
def test_a_device_keeps_its_numbers(d: Path, kind: str, major: int, minor: int) -> None:
    os.mknod(d / "dev", 0o600 | KINDS[kind], os.makedev(major, minor))
    rdev = os.lstat(d / "dev").st_rdev
    assert (os.major(rdev), os.minor(rdev)) == (major, minor)


def test_a_regular_file_by_mknod(d: Path) -> None:
    os.mknod(d / "f", 0o640 | stat.S_IFREG)
    assert stat.S_ISREG(os.lstat(d / "f").st_mode) and mode_of(d / "f") == 0o640


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_a_node_belongs_to_its_creator(d: Path, kind: str) -> None:
    os.chown(d, U1, G1)
    ok_as(U1, G1, os.mknod, "n", 0o644 | KINDS[kind], 0, cwd=d)
    assert owner_of(d / "n") == (U1, G1)


@pytest.mark.parametrize("kind", ["char", "block"])
def test_devices_need_privilege(d: Path, kind: str) -> None:
    os.chmod(d, 0o777)
    fails_as(errno.EPERM, U1, G1, os.mknod, "n", 0o644 | KINDS[kind], os.makedev(1, 3), cwd=d)


@pytest.mark.parametrize("kind", list(KINDS))
def test_mknod_moves_the_times_of_the_node_and_its_directory(d: Path, kind: str) -> None:
    before = ctime(d)
    tick()
    os.mknod(d / "n", 0o644 | KINDS[kind], os.makedev(1, 3))
    assert min(times(d / "n")) > before
    assert times(d)[1] > before and times(d)[2] > before


def test_enotdir_when_a_component_is_not_a_directory(d: Path) -> None:
    fails(errno.ENOTDIR, os.mknod, not_a_dir(d) / "n", 0o644 | stat.S_IFIFO)


def test_a_name_of_256_bytes_is_enametoolong(d: Path) -> None:
    os.mknod(d / name_of(255), 0o644 | stat.S_IFIFO)
    fails(errno.ENAMETOOLONG, os.mknod, d / name_of(256), 0o644 | stat.S_IFIFO)


def test_a_path_over_path_max_is_enametoolong(d: Path) -> None:
    fails_as(
        errno.ENAMETOOLONG, 0, 0, os.mknod, long_path(d, 4096), 0o644 | stat.S_IFIFO, cwd=d
    )  # fmt: skip


def test_enoent_when_the_directory_is_missing(d: Path) -> None:
    fails(errno.ENOENT, os.mknod, d / "missing" / "n", 0o644 | stat.S_IFIFO)


def test_eacces_without_search_permission(d: Path) -> None:
    no_access_dir(d, 0o666)
    fails_as(errno.EACCES, U1, G1, os.mknod, "locked/n", 0o644 | stat.S_IFIFO, cwd=d)


def test_eacces_without_write_permission(d: Path) -> None:
    os.chown(d, U1, G1)
    os.chmod(d, 0o555)
    fails_as(errno.EACCES, U1, G1, os.mknod, "n", 0o644 | stat.S_IFIFO, cwd=d)


def test_eloop_for_a_symlink_loop(d: Path) -> None:
    fails(errno.ELOOP, os.mknod, loop(d) / "n", 0o644 | stat.S_IFIFO)


@pytest.mark.parametrize("kind", TYPES)
def test_eexist_when_the_name_is_taken(d: Path, kind: str) -> None:
    make(kind, d / "n")
    fails(errno.EEXIST, os.mknod, d / "n", 0o644 | stat.S_IFIFO)
