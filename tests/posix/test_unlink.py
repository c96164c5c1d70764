"""unlink(2): removal of every non-directory, times, sticky directories, refusals."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from tests.posix.fstest import (
    G1,
    G2,
    NON_DIRS,
    U1,
    U2,
    ctime,
    fails,
    fails_as,
    kind_of,
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


@pytest.mark.parametrize("kind", NON_DIRS)
def test_unlink_removes_every_kind_of_file(d: Path, kind: str) -> None:
    make(kind, d / "f")
    os.unlink(d / "f")
    fails(errno.ENOENT, os.lstat, d / "f")


@pytest.mark.parametrize("kind", NON_DIRS)
def test_unlink_moves_the_times_of_the_directory(d: Path, kind: str) -> None:
    make(kind, d / "f")
    before = ctime(d)
    tick()
    os.unlink(d / "f")
    assert times(d)[1] > before and times(d)[2] > before


def test_unlink_of_a_symlink_removes_the_link_only(d: Path) -> None:
    make("regular", d / "target")
    os.symlink("target", d / "l")
    os.unlink(d / "l")
    assert kind_of(d / "target") == 0o100000


def test_an_unlinked_open_file_stays_readable(d: Path) -> None:
    (d / "f").write_bytes(b"still here")
    fd = os.open(d / "f", os.O_RDONLY)
    try:
        os.unlink(d / "f")
        assert not (d / "f").exists()
        assert os.pread(fd, 100, 0) == b"still here"
        assert os.fstat(fd).st_size == 10
    finally:
        os.close(fd)


def test_an_unlinked_file_open_for_writing_takes_writes(d: Path) -> None:
    fd = os.open(d / "f", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"abc")
        os.unlink(d / "f")
        os.write(fd, b"def")
        assert os.pread(fd, 100, 0) == b"abcdef"
    finally:
        os.close(fd)
    # The kernel keeps an unlinked open file under a `.fuse_hidden*` name and sends
    # its release after close() has returned, so the name goes away shortly after.
    deadline = time.monotonic() + 10
    while os.listdir(d) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.listdir(d) == []


def test_a_hard_linked_file_loses_one_link(d: Path) -> None:
    make("regular", d / "f")
    os.link(d / "f", d / "g")
    os.unlink(d / "f")
    assert os.lstat(d / "g").st_nlink == 1


def test_enotdir_when_a_component_is_not_a_directory(d: Path) -> None:
    fails(errno.ENOTDIR, os.unlink, not_a_dir(d) / "x")


def test_a_name_of_255_bytes_works_and_256_is_enametoolong(d: Path) -> None:
    make("regular", d / name_of(255))
    os.unlink(d / name_of(255))
    fails(errno.ENAMETOOLONG, os.unlink, d / name_of(256))


def test_a_path_over_path_max_is_enametoolong(d: Path) -> None:
    fails_as(errno.ENAMETOOLONG, 0, 0, os.unlink, long_path(d, 4096), cwd=d)


def test_enoent_for_a_missing_name(d: Path) -> None:
    fails(errno.ENOENT, os.unlink, d / "missing")
    fails(errno.ENOENT, os.unlink, d / "missing" / "x")


def test_eloop_for_a_symlink_loop(d: Path) -> None:
    fails(errno.ELOOP, os.unlink, loop(d) / "x")


def test_eacces_without_search_permission(d: Path) -> None:
    sub = no_access_dir(d)
    make("regular", sub / "f")
    fails_as(errno.EACCES, U1, G1, os.unlink, "locked/f", cwd=d)


def test_eacces_without_write_permission_on_the_directory(d: Path) -> None:
    make("regular", d / "f")
    os.chown(d, U1, G1)
    os.chmod(d, 0o555)
    fails_as(errno.EACCES, U1, G1, os.unlink, "f", cwd=d)
    os.chmod(d, 0o755)
    ok_as(U1, G1, os.unlink, "f", cwd=d)


def test_a_directory_is_not_unlinked(d: Path) -> None:
    os.mkdir(d / "sub")
    fails_as((errno.EISDIR, errno.EPERM), 0, 0, os.unlink, "sub", cwd=d)


@pytest.mark.parametrize("kind", NON_DIRS)
@pytest.mark.parametrize(
    ("dir_owner", "file_owner", "who", "allowed"),
    [(U1, U2, U2, True), (U1, U2, U1, True), (U1, U2, 0, True), (U1, U1, U2, False)],
)
def test_a_sticky_directory_lets_only_owners_unlink(
    d: Path, kind: str, dir_owner: int, file_owner: int, who: int, allowed: bool
) -> None:
    os.chown(d, dir_owner, G1)
    os.chmod(d, 0o1777)
    make(kind, d / "f")
    os.lchown(d / "f", file_owner, G2)
    if allowed:
        ok_as(who, G2, os.unlink, "f", cwd=d)
    else:
        fails_as((errno.EPERM, errno.EACCES), who, G2, os.unlink, "f", cwd=d)
