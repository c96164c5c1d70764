"""rename(2): every kind of file, replacing, times, sticky directories, refusals."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.posix.fstest import (
    G1,
    G2,
    NON_DIRS,
    TYPES,
    U1,
    U2,
    ctime,
    fails,
    fails_as,
    kind_of,
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


@pytest.mark.parametrize("kind", TYPES)
def test_rename_moves_any_file_keeping_what_it_is(d: Path, kind: str) -> None:
    make(kind, d / "a", 0o640)
    before = os.lstat(d / "a")
    os.rename(d / "a", d / "b")
    after = os.lstat(d / "b")
    fails(errno.ENOENT, os.lstat, d / "a")
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)


@pytest.mark.parametrize("kind", TYPES)
def test_rename_into_another_directory(d: Path, kind: str) -> None:
    os.mkdir(d / "sub")
    make(kind, d / "a")
    os.lchown(d / "a", U1, G1)
    os.rename(d / "a", d / "sub" / "a")
    assert kind_of(d / "sub" / "a") == kind_of(d / "sub" / "a") and owner_of(d / "sub" / "a") == (
        U1,
        G1,
    )
    assert os.listdir(d) == ["sub"]


@pytest.mark.parametrize("kind", TYPES)
def test_rename_moves_the_ctime_of_what_is_renamed(d: Path, kind: str) -> None:
    make(kind, d / "a")
    before = ctime(d / "a")
    tick()
    os.rename(d / "a", d / "b")
    assert ctime(d / "b") > before


def test_rename_moves_the_times_of_both_directories(d: Path) -> None:
    os.mkdir(d / "from")
    os.mkdir(d / "to")
    make("regular", d / "from" / "f")
    before = (ctime(d / "from"), ctime(d / "to"))
    tick()
    os.rename(d / "from" / "f", d / "to" / "f")
    for where, old in zip(("from", "to"), before, strict=True):
        assert times(d / where)[1] > old and times(d / where)[2] > old, where


@pytest.mark.parametrize("kind", NON_DIRS)
@pytest.mark.parametrize("replaced", NON_DIRS)
def test_rename_over_a_file_replaces_it(d: Path, kind: str, replaced: str) -> None:
    make(kind, d / "a")
    make(replaced, d / "b")
    ino = os.lstat(d / "a").st_ino
    os.rename(d / "a", d / "b")
    assert os.lstat(d / "b").st_ino == ino and not os.path.lexists(d / "a")


def test_rename_over_a_file_keeps_the_content_of_the_source(d: Path) -> None:
    (d / "a").write_bytes(b"new")
    (d / "b").write_bytes(b"old content")
    os.rename(d / "a", d / "b")
    assert (d / "b").read_bytes() == b"new"


def test_rename_over_an_empty_directory_replaces_it(d: Path) -> None:
    os.mkdir(d / "a")
    make("regular", d / "a" / "inside")
    os.mkdir(d / "b")
    os.rename(d / "a", d / "b")
    assert os.listdir(d / "b") == ["inside"] and not (d / "a").exists()


@pytest.mark.parametrize("kind", ["regular", "dir", "symlink"])
def test_a_directory_with_entries_is_not_replaced(d: Path, kind: str) -> None:
    os.mkdir(d / "a")
    os.mkdir(d / "b")
    make(kind, d / "b" / "entry")
    fails_as((errno.ENOTEMPTY, errno.EEXIST), 0, 0, os.rename, "a", "b", cwd=d)


@pytest.mark.parametrize("kind", NON_DIRS)
def test_a_directory_over_a_file_is_enotdir(d: Path, kind: str) -> None:
    os.mkdir(d / "a")
    make(kind, d / "b")
    fails(errno.ENOTDIR, os.rename, d / "a", d / "b")


@pytest.mark.parametrize("kind", NON_DIRS)
def test_a_file_over_a_directory_is_eisdir(d: Path, kind: str) -> None:
    make(kind, d / "a")
    os.mkdir(d / "b")
    fails(errno.EISDIR, os.rename, d / "a", d / "b")


def test_a_directory_into_itself_is_einval(d: Path) -> None:
    os.mkdir(d / "a")
    os.mkdir(d / "a" / "b")
    fails(errno.EINVAL, os.rename, d / "a", d / "a" / "b" / "c")
    fails(errno.EINVAL, os.rename, d / "a", d / "a" / "c")


@pytest.mark.parametrize("kind", TYPES)
def test_rename_onto_itself_does_nothing(d: Path, kind: str) -> None:
    make(kind, d / "a")
    before = os.lstat(d / "a")
    os.rename(d / "a", d / "a")
    assert os.lstat(d / "a").st_ino == before.st_ino


def test_a_renamed_directory_has_its_new_parent(d: Path) -> None:
    os.mkdir(d / "a")
    os.mkdir(d / "to")
    make("regular", d / "a" / "f")
    os.rename(d / "a", d / "to" / "a")
    assert os.stat(d / "to" / "a" / "..").st_ino == os.stat(d / "to").st_ino
    assert os.listdir(d / "to" / "a") == ["f"]


def test_renaming_a_symlink_moves_the_link(d: Path) -> None:
    make("regular", d / "f")
    os.symlink("f", d / "l")
    os.rename(d / "l", d / "m")
    assert os.readlink(d / "m") == "f" and kind_of(d / "f") == 0o100000


def test_an_open_file_renamed_keeps_its_data_and_writes(d: Path) -> None:
    fd = os.open(d / "a", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"before ")
    os.rename(d / "a", d / "b")
    os.write(fd, b"after")
    os.close(fd)
    assert (d / "b").read_bytes() == b"before after" and not (d / "a").exists()


def test_rename_keeps_mode_and_owner(d: Path) -> None:
    make("regular", d / "a", 0o4711)
    os.chown(d / "a", U1, G1)
    os.chmod(d / "a", 0o4711)
    os.rename(d / "a", d / "b")
    assert mode_of(d / "b") == 0o4711 and owner_of(d / "b") == (U1, G1)


def test_rename_over_a_hard_link_of_itself_does_nothing(d: Path) -> None:
    make("regular", d / "a")
    os.link(d / "a", d / "b")
    os.rename(d / "a", d / "b")
    assert os.path.exists(d / "a") and os.path.exists(d / "b")


def test_enoent_for_a_missing_source(d: Path) -> None:
    fails(errno.ENOENT, os.rename, d / "missing", d / "b")
    make("regular", d / "a")
    fails(errno.ENOENT, os.rename, d / "a", d / "missing" / "b")


def test_enotdir_when_a_component_is_not_a_directory(d: Path) -> None:
    make("regular", d / "a")
    fails(errno.ENOTDIR, os.rename, not_a_dir(d) / "x", d / "b")
    fails(errno.ENOTDIR, os.rename, d / "a", d / "notdir" / "b")


def test_names_of_256_bytes_are_enametoolong(d: Path) -> None:
    make("regular", d / name_of(255))
    os.rename(d / name_of(255), d / name_of(255, "y"))
    fails(errno.ENAMETOOLONG, os.rename, d / name_of(255, "y"), d / name_of(256))
    fails(errno.ENAMETOOLONG, os.rename, d / name_of(256), d / "b")


def test_a_path_over_path_max_is_enametoolong(d: Path) -> None:
    make("regular", d / "a")
    fails_as(errno.ENAMETOOLONG, 0, 0, os.rename, "a", long_path(d, 4096), cwd=d)


def test_eloop_for_a_symlink_loop(d: Path) -> None:
    make("regular", d / "a")
    fails(errno.ELOOP, os.rename, d / "a", loop(d) / "b")
    fails(errno.ELOOP, os.rename, d / "loop1" / "x", d / "b")


def test_eacces_without_search_permission(d: Path) -> None:
    sub = no_access_dir(d)
    make("regular", sub / "a")
    fails_as(errno.EACCES, U1, G1, os.rename, "locked/a", "b", cwd=d)


@pytest.mark.parametrize("side", ["from", "to"])
def test_eacces_without_write_permission_on_either_directory(d: Path, side: str) -> None:
    for sub in ("from", "to"):
        os.mkdir(d / sub)
        os.chown(d / sub, U1, G1)
    make("regular", d / "from" / "a")
    os.chmod(d / side, 0o555)
    fails_as(errno.EACCES, U1, G1, os.rename, "from/a", "to/a", cwd=d)


def test_moving_a_directory_needs_write_permission_on_it(d: Path) -> None:
    """Its ".." entry changes: a directory moved elsewhere must be writable by the mover."""
    os.chmod(d, 0o777)
    for sub in ("from", "to"):
        os.mkdir(d / sub)
        os.chmod(d / sub, 0o777)
    os.mkdir(d / "from" / "a")
    os.chown(d / "from" / "a", U2, G2)
    os.chmod(d / "from" / "a", 0o755)
    fails_as(errno.EACCES, U1, G1, os.rename, "from/a", "to/a", cwd=d)


@pytest.mark.parametrize(
    ("owner", "who", "allowed"),
    [(U2, U2, True), (U1, U1, True), (U2, U1, True), (U2, G1 - 3, False)],
)
@pytest.mark.parametrize("kind", ["regular", "dir", "symlink"])
def test_a_sticky_directory_lets_only_owners_move_entries_out(
    d: Path, owner: int, who: int, allowed: bool, kind: str
) -> None:
    os.chown(d, U1, G1)
    os.chmod(d, 0o1777)
    os.mkdir(d / "to")
    os.chmod(d / "to", 0o777)
    make(kind, d / "a")
    os.lchown(d / "a", owner, G2)
    if kind == "dir":
        os.chmod(d / "a", 0o777)
    if allowed:
        ok_as(who, G2, os.rename, "a", "to/a", cwd=d)
    else:
        fails_as((errno.EPERM, errno.EACCES), who, G2, os.rename, "a", "to/a", cwd=d)


@pytest.mark.parametrize(
    ("owner", "who", "allowed"), [(U2, U2, True), (U2, U1, True), (U2, G1 - 3, False)]
)
def test_a_sticky_directory_lets_only_owners_replace_entries(
    d: Path, owner: int, who: int, allowed: bool
) -> None:
    os.chown(d, U1, G1)
    os.chmod(d, 0o1777)
    make("regular", d / "target")
    os.chown(d / "target", owner, G2)
    make("regular", d / "src")
    os.chown(d / "src", who, G2)
    if allowed:
        ok_as(who, G2, os.rename, "src", "target", cwd=d)
    else:
        fails_as((errno.EPERM, errno.EACCES), who, G2, os.rename, "src", "target", cwd=d)
