"""mkdir(2): modes, owners, times, and the errno of each refusal."""

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


@pytest.mark.parametrize("mode", [0o755, 0o151, 0o700, 0o000, 0o1777])
def test_a_new_directory_gets_the_mode_given(d: Path, mode: int) -> None:
    ok_as(0, 0, os.mkdir, "sub", mode, cwd=d, umask=0)
    assert stat.S_ISDIR(os.lstat(d / "sub").st_mode) and mode_of(d / "sub") == mode


@pytest.mark.parametrize(
    ("umask", "mode", "result"),
    [(0o077, 0o151, 0o100), (0o070, 0o345, 0o305), (0o501, 0o345, 0o244)],
)
def test_the_umask_is_taken_off(d: Path, umask: int, mode: int, result: int) -> None:
    ok_as(0, 0, os.mkdir, "sub", mode, cwd=d, umask=umask)
    assert mode_of(d / "sub") == result


def test_a_new_directory_belongs_to_its_creator(d: Path) -> None:
    os.chown(d, U1, G1)
    ok_as(U1, G1, os.mkdir, "sub", 0o755, cwd=d)
    assert owner_of(d / "sub") == (U1, G1)
    os.chmod(d, 0o777)
    ok_as(U2, G2, os.mkdir, "other", 0o755, cwd=d)
    assert owner_of(d / "other")[0] == U2 and owner_of(d / "other")[1] in (G1, G2)


def test_a_set_group_id_parent_gives_its_group_and_the_bit(d: Path) -> None:
    os.chown(d, U1, G1)
    os.chmod(d, 0o2777)
    ok_as(U2, G2, os.mkdir, "sub", 0o755, cwd=d)
    assert owner_of(d / "sub") == (U2, G1)
    assert os.lstat(d / "sub").st_mode & stat.S_ISGID


def test_mkdir_moves_the_times_of_the_new_directory_and_its_parent(d: Path) -> None:
    before = ctime(d)
    tick()
    os.mkdir(d / "sub", 0o755)
    assert min(times(d / "sub")) > before
    assert times(d)[1] > before and times(d)[2] > before


def test_a_new_directory_has_two_links_and_is_empty(d: Path) -> None:
    os.mkdir(d / "sub")
    assert os.lstat(d / "sub").st_nlink == 2 and os.listdir(d / "sub") == []


def test_enotdir_when_a_component_is_not_a_directory(d: Path) -> None:
    fails(errno.ENOTDIR, os.mkdir, not_a_dir(d) / "sub")


def test_a_name_of_255_bytes_works_and_256_is_enametoolong(d: Path) -> None:
    os.mkdir(d / name_of(255))
    fails(errno.ENAMETOOLONG, os.mkdir, d / name_of(256))


def test_a_path_over_path_max_is_enametoolong(d: Path) -> None:
    fails_as(errno.ENAMETOOLONG, 0, 0, os.mkdir, long_path(d, 4096), cwd=d)


def test_enoent_when_the_parent_is_missing(d: Path) -> None:
    fails(errno.ENOENT, os.mkdir, d / "missing" / "sub")


def test_eacces_without_search_permission(d: Path) -> None:
    sub = no_access_dir(d)
    os.chmod(sub, 0o666)
    fails_as(errno.EACCES, U1, G1, os.mkdir, "locked/sub", cwd=d)


def test_eacces_without_write_permission(d: Path) -> None:
    os.chown(d, U1, G1)
    os.chmod(d, 0o555)
    fails_as(errno.EACCES, U1, G1, os.mkdir, "sub", cwd=d)
    os.chmod(d, 0o755)
    ok_as(U1, G1, os.mkdir, "sub", cwd=d)


def test_eloop_for_a_symlink_loop(d: Path) -> None:
    fails(errno.ELOOP, os.mkdir, loop(d) / "sub")


@pytest.mark.parametrize("kind", TYPES)
def test_eexist_when_the_name_is_taken(d: Path, kind: str) -> None:
    make(kind, d / "f")
    fails(errno.EEXIST, os.mkdir, d / "f")


def test_a_directory_holds_entries_of_every_type(d: Path) -> None:
    os.mkdir(d / "sub")
    for kind in TYPES:
        make(kind, d / "sub" / kind)
    assert sorted(os.listdir(d / "sub")) == sorted(TYPES)
