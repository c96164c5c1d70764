"""rmdir(2): removal, times, sticky directories, and the errno of each refusal."""

from __future__ import annotations

import errno
import os
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


def test_rmdir_removes_an_empty_directory(d: Path) -> None:
    os.mkdir(d / "sub")
    os.rmdir(d / "sub")
    fails(errno.ENOENT, os.lstat, d / "sub")
    assert os.listdir(d) == []


def test_rmdir_moves_the_times_of_the_parent(d: Path) -> None:
    os.mkdir(d / "sub")
    before = ctime(d)
    tick()
    os.rmdir(d / "sub")
    assert times(d)[1] > before and times(d)[2] > before


def test_enotdir_when_a_component_is_not_a_directory(d: Path) -> None:
    fails(errno.ENOTDIR, os.rmdir, not_a_dir(d) / "sub")


@pytest.mark.parametrize("kind", NON_DIRS)
def test_enotdir_for_anything_but_a_directory(d: Path, kind: str) -> None:
    make(kind, d / "f")
    fails(errno.ENOTDIR, os.rmdir, d / "f")


def test_a_symlink_to_a_directory_is_not_removed(d: Path) -> None:
    os.mkdir(d / "sub")
    os.symlink("sub", d / "l")
    fails(errno.ENOTDIR, os.rmdir, d / "l")
    assert (d / "sub").is_dir()


def test_a_name_of_255_bytes_works_and_256_is_enametoolong(d: Path) -> None:
    os.mkdir(d / name_of(255))
    os.rmdir(d / name_of(255))
    fails(errno.ENAMETOOLONG, os.rmdir, d / name_of(256))


def test_a_path_over_path_max_is_enametoolong(d: Path) -> None:
    fails_as(errno.ENAMETOOLONG, 0, 0, os.rmdir, long_path(d, 4096), cwd=d)


def test_enoent_for_a_missing_directory(d: Path) -> None:
    fails(errno.ENOENT, os.rmdir, d / "missing")
    fails(errno.ENOENT, os.rmdir, d / "missing" / "sub")


def test_eloop_for_a_symlink_loop(d: Path) -> None:
    fails(errno.ELOOP, os.rmdir, loop(d) / "sub")


@pytest.mark.parametrize("kind", ["regular", "dir", "symlink", "fifo"])
def test_a_directory_with_entries_is_not_removed(d: Path, kind: str) -> None:
    os.mkdir(d / "sub")
    make(kind, d / "sub" / "entry")
    fails_as((errno.ENOTEMPTY, errno.EEXIST), 0, 0, os.rmdir, "sub", cwd=d)
    assert (d / "sub" / "entry").exists() or os.path.islink(d / "sub" / "entry")


def test_eacces_without_search_permission(d: Path) -> None:
    sub = no_access_dir(d)
    os.mkdir(sub / "x")
    fails_as(errno.EACCES, U1, G1, os.rmdir, "locked/x", cwd=d)


def test_eacces_without_write_permission_on_the_parent(d: Path) -> None:
    os.mkdir(d / "sub")
    os.chown(d, U1, G1)
    os.chmod(d, 0o555)
    fails_as(errno.EACCES, U1, G1, os.rmdir, "sub", cwd=d)
    os.chmod(d, 0o755)
    ok_as(U1, G1, os.rmdir, "sub", cwd=d)


@pytest.mark.parametrize(
    ("dir_owner", "sub_owner", "who", "allowed"),
    [
        (U1, U2, U2, True),  # the owner of the entry
        (U1, U2, U1, True),  # the owner of the sticky directory
        (U1, U2, 0, True),  # root
        (U1, U1, U2, False),  # anyone else
        (0, U1, U2, False),
    ],
)
def test_a_sticky_directory_lets_only_owners_remove(
    d: Path, dir_owner: int, sub_owner: int, who: int, allowed: bool
) -> None:
    os.chown(d, dir_owner, G1)
    os.chmod(d, 0o1777)
    os.mkdir(d / "sub")
    os.chown(d / "sub", sub_owner, G2)
    if allowed:
        ok_as(who, G2, os.rmdir, "sub", cwd=d)
    else:
        fails_as((errno.EPERM, errno.EACCES), who, G2, os.rmdir, "sub", cwd=d)


def test_einval_for_the_current_directory(d: Path) -> None:
    os.mkdir(d / "sub")
    fails(errno.EINVAL, os.rmdir, str(d / "sub") + "/.")


def test_enotempty_for_the_parent_entry(d: Path) -> None:
    os.mkdir(d / "sub")
    fails_as((errno.ENOTEMPTY, errno.EEXIST, errno.EBUSY), 0, 0, os.rmdir, "sub/..", cwd=d)
