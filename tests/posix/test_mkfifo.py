"""mkfifo(3)/mknod(2) of a fifo: the fifo, its mode, owner, times; refusals."""

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
    mode_of,
    name_of,
    no_access_dir,
    not_a_dir,
    ok_as,
    owner_of,
    tick,
    times,
)


@pytest.mark.parametrize("mode", [0o755, 0o151, 0o000, 0o4755])
def test_a_fifo_gets_the_mode_given(d: Path, mode: int) -> None:
    ok_as(0, 0, os.mkfifo, "p", mode, cwd=d, umask=0)
    assert stat.S_ISFIFO(os.lstat(d / "p").st_mode) and mode_of(d / "p") == mode


@pytest.mark.parametrize(
    ("umask", "mode", "result"), [(0o077, 0o151, 0o100), (0o501, 0o345, 0o244)]
)
def test_the_umask_is_taken_off(d: Path, umask: int, mode: int, result: int) -> None:
    ok_as(0, 0, os.mkfifo, "p", mode, cwd=d, umask=umask)
    assert mode_of(d / "p") == result


def test_a_fifo_belongs_to_its_creator(d: Path) -> None:
    os.chown(d, U1, G1)
    ok_as(U1, G1, os.mkfifo, "p", 0o644, cwd=d)
    assert owner_of(d / "p") == (U1, G1)
    os.chmod(d, 0o777)
    ok_as(U2, G2, os.mkfifo, "q", 0o644, cwd=d)
    assert owner_of(d / "q")[0] == U2


def test_mkfifo_moves_the_times_of_the_fifo_and_its_directory(d: Path) -> None:
    before = ctime(d)
    tick()
    os.mkfifo(d / "p")
    assert min(times(d / "p")) > before
    assert times(d)[1] > before and times(d)[2] > before


def test_a_fifo_is_a_pipe(d: Path) -> None:
    os.mkfifo(d / "p")
    pid = os.fork()
    if pid == 0:
        fd = os.open(d / "p", os.O_WRONLY)
        os.write(fd, b"through")
        os.close(fd)
        os._exit(0)
    fd = os.open(d / "p", os.O_RDONLY)
    data = os.read(fd, 100)
    os.close(fd)
    os.waitpid(pid, 0)
    assert data == b"through" and os.lstat(d / "p").st_size == 0


def test_enotdir_when_a_component_is_not_a_directory(d: Path) -> None:
    fails(errno.ENOTDIR, os.mkfifo, not_a_dir(d) / "p")


def test_a_name_of_256_bytes_is_enametoolong(d: Path) -> None:
    os.mkfifo(d / name_of(255))
    fails(errno.ENAMETOOLONG, os.mkfifo, d / name_of(256))


def test_a_path_over_path_max_is_enametoolong(d: Path) -> None:
    fails_as(errno.ENAMETOOLONG, 0, 0, os.mkfifo, long_path(d, 4096), cwd=d)


def test_enoent_when_the_directory_is_missing(d: Path) -> None:
    fails(errno.ENOENT, os.mkfifo, d / "missing" / "p")


def test_eacces_without_search_permission(d: Path) -> None:
    no_access_dir(d, 0o666)
    fails_as(errno.EACCES, U1, G1, os.mkfifo, "locked/p", cwd=d)


def test_eacces_without_write_permission(d: Path) -> None:
    os.chown(d, U1, G1)
    os.chmod(d, 0o555)
    fails_as(errno.EACCES, U1, G1, os.mkfifo, "p", cwd=d)


def test_eloop_for_a_symlink_loop(d: Path) -> None:
    fails(errno.ELOOP, os.mkfifo, loop(d) / "p")


@pytest.mark.parametrize("kind", TYPES)
def test_eexist_when_the_name_is_taken(d: Path, kind: str) -> None:
    make(kind, d / "p")
    fails(errno.EEXIST, os.mkfifo, d / "p")
