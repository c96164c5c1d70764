"""chown(2)/lchown(2): owners of every kind of file, who may, set-ID bits, ctime, refusals."""

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
)

FOLLOWED = [k for k in TYPES if k != "symlink"]


@pytest.mark.parametrize("kind", TYPES)
def test_root_may_give_any_owner_and_group(d: Path, kind: str) -> None:
    make(kind, d / "f")
    os.lchown(d / "f", 123, 456)
    assert owner_of(d / "f") == (123, 456)
    os.lchown(d / "f", 0, 0)
    assert owner_of(d / "f") == (0, 0)


@pytest.mark.parametrize("kind", FOLLOWED)
def test_chown_through_a_symlink_changes_its_target(d: Path, kind: str) -> None:
    make(kind, d / "f")
    os.symlink("f", d / "l")
    link_owner = owner_of(d / "l")
    os.chown(d / "l", 123, 456)
    assert owner_of(d / "f") == (123, 456) and owner_of(d / "l", follow=True) == (123, 456)
    assert owner_of(d / "l") == link_owner


@pytest.mark.parametrize("kind", TYPES)
def test_the_owner_may_give_the_file_to_one_of_its_groups(d: Path, kind: str) -> None:
    make(kind, d / "f")
    os.lchown(d / "f", U1, G1)
    ok_as(U1, G1, os.lchown, "f", -1, G2, cwd=d, groups=(G2,))
    assert owner_of(d / "f") == (U1, G2)
    ok_as(U1, G1, os.lchown, "f", U1, G1, cwd=d, groups=(G2,))
    assert owner_of(d / "f") == (U1, G1)


@pytest.mark.parametrize("kind", TYPES)
def test_minus_one_for_both_is_allowed_to_anyone(d: Path, kind: str) -> None:
    make(kind, d / "f")
    ok_as(U1, G1, os.lchown, "f", -1, -1, cwd=d)
    assert owner_of(d / "f") == (0, 0)


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize(("uid", "gid"), [(U1, -1), (-1, G1), (U1, G1)])
def test_others_may_not_change_owners(d: Path, kind: str, uid: int, gid: int) -> None:
    make(kind, d / "f")
    before = ctime(d / "f")
    tick()
    fails_as(errno.EPERM, U1, G1, os.lchown, "f", uid, gid, cwd=d)
    assert owner_of(d / "f") == (0, 0) and ctime(d / "f") == before


@pytest.mark.parametrize("kind", TYPES)
def test_the_owner_may_not_give_the_file_away(d: Path, kind: str) -> None:
    make(kind, d / "f")
    os.lchown(d / "f", U1, G1)
    fails_as(errno.EPERM, U1, G1, os.lchown, "f", U2, -1, cwd=d)
    fails_as(errno.EPERM, U1, G1, os.lchown, "f", -1, G2, cwd=d)  # not one of its groups
    assert owner_of(d / "f") == (U1, G1)


@pytest.mark.parametrize("kind", TYPES)
def test_chown_moves_ctime(d: Path, kind: str) -> None:
    make(kind, d / "f")
    before = ctime(d / "f")
    tick()
    os.lchown(d / "f", U1, G1)
    assert ctime(d / "f") > before
    before = ctime(d / "f")
    tick()
    ok_as(U1, G1, os.lchown, "f", U1, G2, cwd=d, groups=(G2,))
    assert ctime(d / "f") > before


@pytest.mark.parametrize("kind", ["regular", "fifo", "block", "char", "socket"])
def test_a_chown_by_a_non_root_owner_clears_set_id_bits(d: Path, kind: str) -> None:
    make(kind, d / "f")
    os.chown(d / "f", U1, G1)
    os.chmod(d / "f", 0o6555)
    ok_as(U1, G1, os.chown, "f", U1, G2, cwd=d, groups=(G2,))
    assert owner_of(d / "f") == (U1, G2) and mode_of(d / "f") == 0o555


@pytest.mark.parametrize("kind", ["regular", "dir", "fifo"])
def test_a_chown_by_root_keeps_or_clears_set_id_bits(d: Path, kind: str) -> None:
    make(kind, d / "f")
    os.chmod(d / "f", 0o6555)
    os.chown(d / "f", U1, G1)
    assert mode_of(d / "f") in (0o6555, 0o555) and owner_of(d / "f") == (U1, G1)


def test_fchown_on_an_open_file(d: Path) -> None:
    fd = os.open(d / "f", os.O_WRONLY | os.O_CREAT, 0o644)
    os.fchown(fd, U1, G1)
    os.write(fd, b"x")
    os.close(fd)
    assert owner_of(d / "f") == (U1, G1)


def test_owners_show_in_a_listing(d: Path) -> None:
    make("regular", d / "f")
    os.chown(d / "f", 4321, 8765)
    (entry,) = [e for e in os.scandir(d) if e.name == "f"]
    st = entry.stat(follow_symlinks=False)
    assert (st.st_uid, st.st_gid) == (4321, 8765) and stat.S_ISREG(st.st_mode)


def test_enotdir_when_a_component_is_not_a_directory(d: Path) -> None:
    fails(errno.ENOTDIR, os.chown, not_a_dir(d) / "x", U1, G1)


def test_a_name_of_256_bytes_is_enametoolong(d: Path) -> None:
    make("regular", d / name_of(255))
    os.chown(d / name_of(255), U1, G1)
    fails(errno.ENAMETOOLONG, os.chown, d / name_of(256), U1, G1)


def test_a_path_over_path_max_is_enametoolong(d: Path) -> None:
    fails_as(errno.ENAMETOOLONG, 0, 0, os.chown, long_path(d, 4096), U1, G1, cwd=d)


def test_enoent_for_a_missing_file(d: Path) -> None:
    fails(errno.ENOENT, os.chown, d / "missing", U1, G1)


def test_eacces_without_search_permission(d: Path) -> None:
    sub = no_access_dir(d)
    make("regular", sub / "f")
    os.chown(sub / "f", U1, G1)
    fails_as(errno.EACCES, U1, G1, os.chown, "locked/f", U1, G1, cwd=d)


def test_eloop_for_a_symlink_loop(d: Path) -> None:
    fails(errno.ELOOP, os.chown, loop(d), U1, G1)
