"""ftruncate(2): sizes through a descriptor, times, and the errno of each refusal."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.posix.fstest import G1, U1, fails, fails_as, make, mode_of, ok_as, tick, times

TOO_BIG = 999_999_999_999_999


def _ftruncate(name: str, flags: int, size: int) -> None:
    fd = os.open(name, flags)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


@pytest.mark.parametrize("size", [0, 3, 1234567, 5 * 1024 * 1024 + 1])
def test_ftruncate_sets_the_size_and_pads_with_zeros(d: Path, size: int) -> None:
    (d / "f").write_bytes(b"abcdef")
    fd = os.open(d / "f", os.O_RDWR)
    os.ftruncate(fd, size)
    assert os.fstat(fd).st_size == size
    os.close(fd)
    assert (d / "f").read_bytes() == (b"abcdef" + bytes(max(0, size - 6)))[:size]


def test_ftruncate_moves_mtime_and_ctime(d: Path) -> None:
    (d / "f").write_bytes(b"abc")
    before = times(d / "f")
    tick()
    _ftruncate(str(d / "f"), os.O_RDWR, 10)
    after = times(d / "f")
    assert after[1] > before[1] and after[2] > before[2]


def test_a_descriptor_open_for_writing_truncates_whatever_the_mode_became(d: Path) -> None:
    os.chown(d, U1, G1)

    def create_chmod_truncate() -> int:
        fd = os.open("f", os.O_RDWR | os.O_CREAT, 0o644)
        os.chmod("f", 0)
        os.ftruncate(fd, 7)
        os.close(fd)
        return os.stat("f").st_size

    assert ok_as(U1, G1, create_chmod_truncate, cwd=d) == 7


@pytest.mark.parametrize("flags", [os.O_RDONLY])
def test_a_descriptor_not_open_for_writing_is_refused(d: Path, flags: int) -> None:
    (d / "f").write_bytes(b"keep")
    fails_as((errno.EINVAL, errno.EBADF), 0, 0, _ftruncate, "f", flags, 0, cwd=d)
    assert (d / "f").read_bytes() == b"keep"


def test_a_directory_descriptor_is_refused(d: Path) -> None:
    fails_as(
        (errno.EINVAL, errno.EBADF, errno.EISDIR), 0, 0, _ftruncate, ".", os.O_RDONLY, 0, cwd=d
    )


def test_einval_for_a_negative_size(d: Path) -> None:
    make("regular", d / "f")
    fails_as(errno.EINVAL, 0, 0, _ftruncate, "f", os.O_RDWR, -1, cwd=d)


def test_efbig_past_the_largest_file(d: Path) -> None:
    (d / "f").write_bytes(b"abc")
    fails_as((errno.EFBIG, errno.EINVAL), 0, 0, _ftruncate, "f", os.O_RDWR, TOO_BIG, cwd=d)
    assert (d / "f").read_bytes() == b"abc"


def test_ebadf_for_a_closed_descriptor(d: Path) -> None:
    fd = os.open(d / "f", os.O_RDWR | os.O_CREAT, 0o644)
    os.close(fd)
    fails(errno.EBADF, os.ftruncate, fd, 0)


def test_a_truncate_by_a_non_owner_clears_set_id_bits(d: Path) -> None:
    (d / "f").write_bytes(b"abc")
    os.chmod(d / "f", 0o6777)
    ok_as(U1, G1, _ftruncate, "f", os.O_WRONLY, 1, cwd=d)
    assert mode_of(d / "f") == 0o777


def test_ftruncate_then_write_is_one_save(d: Path) -> None:
    (d / "f").write_bytes(b"old content")
    fd = os.open(d / "f", os.O_WRONLY)
    os.ftruncate(fd, 0)
    os.write(fd, b"new")
    os.close(fd)
    assert (d / "f").read_bytes() == b"new"
