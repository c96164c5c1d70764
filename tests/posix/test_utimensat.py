"""utimensat(2): setting times on every kind of file, UTIME_NOW/OMIT, who may, refusals."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

import pytest

from tests.posix.fstest import (
    G1,
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
    tick,
    times,
)

UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
_libc = ctypes.CDLL(None, use_errno=True)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def utimensat(
    path: str | os.PathLike[str], atime: tuple[int, int] | None, mtime: tuple[int, int] | None,
    flags: int = 0,
) -> None:  # fmt: skip
    """The system call itself: (seconds, nanoseconds) pairs, UTIME_NOW/OMIT as nanoseconds."""
    if atime is None and mtime is None:
        spec = None
    else:
        pair = (_Timespec * 2)(_Timespec(*atime), _Timespec(*mtime))  # type: ignore[misc]
        spec = pair
    if _libc.utimensat(AT_FDCWD, os.fsencode(path), spec, flags) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number), str(path))


NOW = (0, UTIME_NOW)
OMIT = (0, UTIME_OMIT)
SETTABLE = [k for k in TYPES if k != "symlink"]


@pytest.mark.parametrize("kind", SETTABLE)
def test_explicit_times_are_set_to_the_nanosecond(d: Path, kind: str) -> None:
    make(kind, d / "f")
    utimensat(d / "f", (1900000000, 123456789), (1950000000, 987654321))
    assert times(d / "f")[:2] == (1900000000_123456789, 1950000000_987654321)


@pytest.mark.parametrize("kind", SETTABLE)
def test_utime_now_sets_both_to_now(d: Path, kind: str) -> None:
    make(kind, d / "f")
    utimensat(d / "f", (1000, 0), (1000, 0))
    tick()
    utimensat(d / "f", NOW, NOW)
    atime, mtime, _ = times(d / "f")
    assert atime > 1000 * 10**9 and mtime > 1000 * 10**9 and abs(atime - mtime) < 10**9


@pytest.mark.parametrize("kind", SETTABLE)
def test_utime_omit_leaves_that_time(d: Path, kind: str) -> None:
    make(kind, d / "f")
    utimensat(d / "f", (1000, 1), (2000, 2))
    utimensat(d / "f", OMIT, (3000, 3))
    assert times(d / "f")[:2] == (1000_000000001, 3000_000000003)
    utimensat(d / "f", (4000, 4), OMIT)
    assert times(d / "f")[:2] == (4000_000000004, 3000_000000003)


def test_both_omitted_changes_nothing(d: Path) -> None:
    make("regular", d / "f")
    utimensat(d / "f", (1000, 1), (2000, 2))
    utimensat(d / "f", OMIT, OMIT)
    assert times(d / "f")[:2] == (1000_000000001, 2000_000000002)


def test_a_null_times_means_now(d: Path) -> None:
    make("regular", d / "f")
    utimensat(d / "f", (1000, 0), (1000, 0))
    utimensat(d / "f", None, None)
    assert min(times(d / "f")[:2]) > 1000 * 10**9


def test_nofollow_sets_the_times_of_the_symlink_itself(d: Path) -> None:
    make("regular", d / "f")
    os.symlink("f", d / "l")
    target = times(d / "f")
    utimensat(d / "l", (1200000000, 5), (1300000000, 6), AT_SYMLINK_NOFOLLOW)
    assert times(d / "l")[:2] == (1200000000_000000005, 1300000000_000000006)
    assert times(d / "f") == target


def test_through_a_symlink_the_target_gets_the_times(d: Path) -> None:
    make("regular", d / "f")
    os.symlink("f", d / "l")
    utimensat(d / "l", (1200000000, 0), (1300000000, 0))
    assert times(d / "f")[:2] == (1200000000 * 10**9, 1300000000 * 10**9)


@pytest.mark.parametrize("kind", SETTABLE)
def test_setting_times_moves_ctime(d: Path, kind: str) -> None:
    make(kind, d / "f")
    before = ctime(d / "f")
    tick()
    utimensat(d / "f", (1000, 0), (1000, 0))
    assert ctime(d / "f") > before


def test_mtime_may_be_before_atime_and_times_may_be_far_away(d: Path) -> None:
    make("regular", d / "f")
    utimensat(d / "f", (2000000000, 0), (1000000000, 0))
    assert times(d / "f")[:2] == (2000000000 * 10**9, 1000000000 * 10**9)
    utimensat(d / "f", (2**33, 0), (2**34 + 1, 999999999))  # past 2038, and 2514
    assert times(d / "f")[:2] == (2**33 * 10**9, (2**34 + 1) * 10**9 + 999999999)
    utimensat(d / "f", (0, 0), (-1000, 500))  # the epoch, and before it
    assert times(d / "f")[:2] == (0, -1000 * 10**9 + 500)


def test_now_needs_ownership_or_write_permission(d: Path) -> None:
    make("regular", d / "f")
    os.chown(d / "f", U1, G1)
    os.chmod(d / "f", 0o644)
    fails_as(errno.EACCES, U2, G1, utimensat, "f", NOW, NOW, cwd=d)
    fails_as(errno.EACCES, U2, G1, utimensat, "f", None, None, cwd=d)
    os.chmod(d / "f", 0o666)
    ok_as(U2, G1, utimensat, "f", NOW, NOW, cwd=d)
    os.chmod(d / "f", 0o000)
    ok_as(U1, G1, utimensat, "f", NOW, NOW, cwd=d)  # the owner, even without permissions


def test_explicit_times_need_ownership(d: Path) -> None:
    make("regular", d / "f")
    os.chown(d / "f", U1, G1)
    os.chmod(d / "f", 0o666)
    before = times(d / "f")
    fails_as(errno.EPERM, U2, G1, utimensat, "f", (1000, 0), (1000, 0), cwd=d)
    assert times(d / "f") == before
    ok_as(U1, G1, utimensat, "f", (1000, 0), (1000, 0), cwd=d)
    assert times(d / "f")[:2] == (1000 * 10**9, 1000 * 10**9)


def test_omit_for_both_needs_no_permission(d: Path) -> None:
    make("regular", d / "f")
    os.chmod(d / "f", 0o600)
    ok_as(U1, G1, utimensat, "f", OMIT, OMIT, cwd=d)


def test_enotdir_when_a_component_is_not_a_directory(d: Path) -> None:
    fails(errno.ENOTDIR, utimensat, not_a_dir(d) / "x", NOW, NOW)


def test_a_name_of_256_bytes_is_enametoolong(d: Path) -> None:
    make("regular", d / name_of(255))
    utimensat(d / name_of(255), NOW, NOW)
    fails(errno.ENAMETOOLONG, utimensat, d / name_of(256), NOW, NOW)


def test_a_path_over_path_max_is_enametoolong(d: Path) -> None:
    fails_as(errno.ENAMETOOLONG, 0, 0, utimensat, long_path(d, 4096), NOW, NOW, cwd=d)


def test_enoent_for_a_missing_file(d: Path) -> None:
    fails(errno.ENOENT, utimensat, d / "missing", NOW, NOW)


def test_eacces_without_search_permission(d: Path) -> None:
    sub = no_access_dir(d)
    make("regular", sub / "f", 0o666)
    fails_as(errno.EACCES, U1, G1, utimensat, "locked/f", NOW, NOW, cwd=d)


def test_eloop_for_a_symlink_loop(d: Path) -> None:
    fails(errno.ELOOP, utimensat, loop(d), NOW, NOW)


def test_times_of_an_open_file_with_unsaved_data(d: Path) -> None:
    fd = os.open(d / "f", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"data")
    os.utime(fd, ns=(1500000000_000000001, 1600000000_000000002))
    os.close(fd)
    assert times(d / "f")[:2] == (1500000000_000000001, 1600000000_000000002)
