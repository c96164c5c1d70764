"""chmod(2): modes of every kind of file, ctime, who may, set-ID rules, refusals."""

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
    tick,
)

MODES_OF = [k for k in TYPES if k != "symlink"]


@pytest.mark.parametrize("kind", MODES_OF)
@pytest.mark.parametrize("mode", [0o111, 0o640, 0o4755, 0o2755, 0o1755, 0o7777, 0o000])
def test_chmod_sets_the_mode_of_any_file(d: Path, kind: str, mode: int) -> None:
    make(kind, d / "f")
    os.chmod(d / "f", mode)
    assert mode_of(d / "f") == mode


@pytest.mark.parametrize("kind", MODES_OF)
def test_chmod_through_a_symlink_changes_its_target(d: Path, kind: str) -> None:
    make(kind, d / "f")
    os.symlink("f", d / "l")
    os.chmod(d / "l", 0o604)
    assert mode_of(d / "f") == 0o604 and stat.S_ISLNK(os.lstat(d / "l").st_mode)


@pytest.mark.parametrize("kind", MODES_OF)
def test_chmod_moves_ctime(d: Path, kind: str) -> None:
    make(kind, d / "f")
    before = ctime(d / "f")
    tick()
    os.chmod(d / "f", 0o111)
    assert ctime(d / "f") > before


@pytest.mark.parametrize("kind", MODES_OF)
def test_a_refused_chmod_leaves_ctime(d: Path, kind: str) -> None:
    make(kind, d / "f")
    before = ctime(d / "f")
    tick()
    fails_as(errno.EPERM, U1, G1, os.chmod, "f", 0o111, cwd=d)
    assert ctime(d / "f") == before


@pytest.mark.parametrize("kind", MODES_OF)
def test_only_the_owner_or_root_may_chmod(d: Path, kind: str) -> None:
    make(kind, d / "f")
    os.chown(d / "f", U1, G1)
    ok_as(U1, G1, os.chmod, "f", 0o642, cwd=d)
    assert mode_of(d / "f") == 0o642
    fails_as(errno.EPERM, U2, G1, os.chmod, "f", 0o777, cwd=d)
    os.chmod(d / "f", 0o600)
    assert mode_of(d / "f") == 0o600


def test_a_sticky_bit_on_a_file_by_its_owner_is_kept(d: Path) -> None:
    make("regular", d / "f")
    os.chown(d / "f", U1, G1)
    ok_as(U1, G1, os.chmod, "f", 0o1644, cwd=d)
    assert mode_of(d / "f") == 0o1644


def test_set_group_id_outside_the_owners_groups_is_dropped(d: Path) -> None:
    make("regular", d / "f")
    os.chown(d / "f", U1, G2)
    ok_as(U1, G1, os.chmod, "f", 0o2755, cwd=d)
    assert mode_of(d / "f") == 0o755
    ok_as(U1, G2, os.chmod, "f", 0o2755, cwd=d)
    assert mode_of(d / "f") == 0o2755


@pytest.mark.parametrize(("mode", "left"), [(0o4777, 0o777), (0o2777, 0o777), (0o6777, 0o777)])
@pytest.mark.parametrize("flags", [os.O_WRONLY, os.O_RDWR])
def test_a_write_by_a_non_owner_clears_set_id_bits(
    d: Path, mode: int, left: int, flags: int
) -> None:
    (d / "f").write_bytes(b"x")
    os.chmod(d / "f", mode)

    def write() -> None:
        fd = os.open("f", flags)
        os.write(fd, b"y")
        os.close(fd)

    ok_as(U1, G1, write, cwd=d)
    assert mode_of(d / "f") == left


def test_a_write_by_the_owner_without_cap_fsetid_clears_set_user_id(d: Path) -> None:
    (d / "f").write_bytes(b"x")
    os.chown(d / "f", U1, G1)
    os.chmod(d / "f", 0o4755)
    ok_as(U1, G1, lambda: open("f", "ab").write(b"y"), cwd=d)
    assert mode_of(d / "f") == 0o755


def test_enotdir_when_a_component_is_not_a_directory(d: Path) -> None:
    fails(errno.ENOTDIR, os.chmod, not_a_dir(d) / "x", 0o644)


def test_a_name_of_256_bytes_is_enametoolong(d: Path) -> None:
    make("regular", d / name_of(255))
    os.chmod(d / name_of(255), 0o620)
    fails(errno.ENAMETOOLONG, os.chmod, d / name_of(256), 0o620)


def test_a_path_over_path_max_is_enametoolong(d: Path) -> None:
    fails_as(errno.ENAMETOOLONG, 0, 0, os.chmod, long_path(d, 4096), 0o644, cwd=d)


def test_enoent_for_a_missing_file(d: Path) -> None:
    fails(errno.ENOENT, os.chmod, d / "missing", 0o644)


def test_eacces_without_search_permission(d: Path) -> None:
    sub = no_access_dir(d)
    make("regular", sub / "f")
    os.chown(sub / "f", U1, G1)
    fails_as(errno.EACCES, U1, G1, os.chmod, "locked/f", 0o600, cwd=d)


def test_eloop_for_a_symlink_loop(d: Path) -> None:
    fails(errno.ELOOP, os.chmod, loop(d), 0o644)


def test_the_mode_survives_a_write(d: Path) -> None:
    (d / "f").write_bytes(b"x")
    os.chmod(d / "f", 0o751)
    with open(d / "f", "ab") as f:
        f.write(b"y")
    assert mode_of(d / "f") == 0o751


def test_fchmod_on_an_open_file(d: Path) -> None:
    fd = os.open(d / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o640)
    os.write(fd, b"x")
    assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o640
    os.close(fd)
    assert mode_of(d / "f") == 0o640
