"""truncate(2): sizes, contents, times, set-ID bits, and the errno of each refusal."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from tests.posix.fstest import (
    G1,
    G2,
    U1,
    U2,
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
    tick,
    times,
)

TOO_BIG = 999_999_999_999_999


@pytest.mark.parametrize("size", [0, 3, 1234567, 5 * 1024 * 1024 + 1])
def test_truncate_sets_the_size_and_pads_with_zeros(d: Path, size: int) -> None:
    (d / "f").write_bytes(b"abcdef")
    os.truncate(d / "f", size)
    assert os.stat(d / "f").st_size == size
    data = (d / "f").read_bytes()
    assert data == (b"abcdef" + bytes(max(0, size - 6)))[:size]


def test_truncate_moves_mtime_and_ctime(d: Path) -> None:
    (d / "f").write_bytes(b"abc")
    before = times(d / "f")
    tick()
    os.truncate(d / "f", 123)
    after = times(d / "f")
    assert after[1] > before[1] and after[2] > before[2]


def test_a_writer_who_is_not_the_owner_may_truncate(d: Path) -> None:
    (d / "f").write_bytes(b"abc")
    os.chmod(d / "f", 0o666)
    ok_as(U1, G1, os.truncate, "f", 1, cwd=d)
    assert (d / "f").read_bytes() == b"a"


def test_a_truncate_by_a_non_owner_clears_set_id_bits(d: Path) -> None:
    (d / "f").write_bytes(b"abc")
    os.chmod(d / "f", 0o6777)
    ok_as(U1, G1, os.truncate, "f", 1, cwd=d)
    assert mode_of(d / "f") == 0o777


def test_enotdir_when_a_component_is_not_a_directory(d: Path) -> None:
    fails(errno.ENOTDIR, os.truncate, not_a_dir(d) / "x", 0)


def test_a_name_of_256_bytes_is_enametoolong(d: Path) -> None:
    make("regular", d / name_of(255))
    os.truncate(d / name_of(255), 10)
    fails(errno.ENAMETOOLONG, os.truncate, d / name_of(256), 0)


def test_a_path_over_path_max_is_enametoolong(d: Path) -> None:
    fails_as(errno.ENAMETOOLONG, 0, 0, os.truncate, long_path(d, 4096), 0, cwd=d)


def test_enoent_for_a_missing_file(d: Path) -> None:
    fails(errno.ENOENT, os.truncate, d / "missing", 0)


def test_eacces_without_search_permission(d: Path) -> None:
    sub = no_access_dir(d)
    make("regular", sub / "f", 0o666)
    fails_as(errno.EACCES, U1, G1, os.truncate, "locked/f", 0, cwd=d)


@pytest.mark.parametrize(
    ("mode", "uid", "gid"), [(0o444, U1, G1), (0o646, U2, G1), (0o664, U2, G2)]
)
def test_eacces_without_write_permission(d: Path, mode: int, uid: int, gid: int) -> None:
    (d / "f").write_bytes(b"keep")
    os.chown(d / "f", U1, G1)
    os.chmod(d / "f", mode)
    fails_as(errno.EACCES, uid, gid, os.truncate, "f", 0, cwd=d)
    assert (d / "f").read_bytes() == b"keep"


def test_eloop_for_a_symlink_loop(d: Path) -> None:
    fails(errno.ELOOP, os.truncate, loop(d), 0)


def test_eisdir_for_a_directory(d: Path) -> None:
    fails(errno.EISDIR, os.truncate, d, 0)


def test_einval_for_a_negative_size(d: Path) -> None:
    make("regular", d / "f")
    fails(errno.EINVAL, os.truncate, d / "f", -1)


def test_efbig_past_the_largest_file(d: Path) -> None:
    (d / "f").write_bytes(b"abc")
    fails_as((errno.EFBIG, errno.EINVAL), 0, 0, os.truncate, "f", TOO_BIG, cwd=d)
    assert (d / "f").read_bytes() == b"abc"


def test_truncate_through_a_symlink_truncates_its_target(d: Path) -> None:
    (d / "f").write_bytes(b"abcdef")
    os.symlink("f", d / "l")
    os.truncate(d / "l", 2)
    assert (d / "f").read_bytes() == b"ab" and stat.S_ISLNK(os.lstat(d / "l").st_mode)
