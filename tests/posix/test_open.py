"""open(2): creation modes and owners, times, and the errno of each refusal."""

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


def _create(name: str, mode: int, flags: int = os.O_WRONLY) -> None:
    os.close(os.open(name, os.O_CREAT | flags, mode))


def _open(name: str, flags: int) -> None:
    os.close(os.open(name, flags))


@pytest.mark.parametrize("mode", [0o755, 0o151, 0o600, 0o000, 0o4755, 0o1777])
def test_a_new_file_gets_the_mode_given(d: Path, mode: int) -> None:
    ok_as(0, 0, _create, "f", mode, cwd=d, umask=0)
    assert mode_of(d / "f") == mode and kind_of(d / "f") == 0o100000


@pytest.mark.parametrize(
    ("umask", "mode", "result"),
    [(0o077, 0o151, 0o100), (0o070, 0o345, 0o305), (0o501, 0o345, 0o244)],
)
def test_the_umask_is_taken_off(d: Path, umask: int, mode: int, result: int) -> None:
    ok_as(0, 0, _create, "f", mode, cwd=d, umask=umask)
    assert mode_of(d / "f") == result


def test_a_new_file_belongs_to_its_creator(d: Path) -> None:
    os.chown(d, U1, G1)
    ok_as(U1, G1, _create, "f", 0o644, cwd=d)
    assert owner_of(d / "f") == (U1, G1)


def test_a_new_file_gets_the_creators_group_or_the_directorys(d: Path) -> None:
    os.chown(d, U1, G1)
    ok_as(U1, G2, _create, "f", 0o644, cwd=d)
    assert owner_of(d / "f")[0] == U1 and owner_of(d / "f")[1] in (G1, G2)
    os.chmod(d, 0o777)
    ok_as(U2, G2 - 1, _create, "g", 0o644, cwd=d)
    assert owner_of(d / "g")[0] == U2 and owner_of(d / "g")[1] in (G1, G2 - 1)


def test_a_set_group_id_directory_gives_its_group(d: Path) -> None:
    os.chown(d, U1, G1)
    os.chmod(d, 0o2777)
    ok_as(U2, G2, _create, "f", 0o644, cwd=d)
    assert owner_of(d / "f") == (U2, G1)


def test_creating_moves_the_times_of_the_file_and_its_directory(d: Path) -> None:
    before = ctime(d)
    tick()
    _create(str(d / "f"), 0o644)
    atime, mtime, changed = times(d / "f")
    assert min(atime, mtime, changed) > before
    assert times(d)[1] > before and times(d)[2] > before


def test_opening_an_existing_file_with_o_creat_leaves_the_directory_times(d: Path) -> None:
    make("regular", d / "f")
    before = times(d)
    tick()
    _open(str(d / "f"), os.O_CREAT | os.O_RDONLY)
    assert times(d)[1:] == before[1:]


def test_o_trunc_empties_and_moves_mtime_and_ctime(d: Path) -> None:
    (d / "f").write_bytes(b"test\n")
    before = times(d / "f")
    tick()
    _open(str(d / "f"), os.O_WRONLY | os.O_TRUNC)
    after = times(d / "f")
    assert os.stat(d / "f").st_size == 0
    assert after[1] > before[1] and after[2] > before[2]


def test_data_written_is_read_back(d: Path) -> None:
    fd = os.open(d / "f", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"0123456789")
    os.lseek(fd, 0, os.SEEK_SET)
    assert os.read(fd, 100) == b"0123456789"
    os.close(fd)
    fd = os.open(d / "f", os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"ab")
    os.close(fd)
    assert (d / "f").read_bytes() == b"0123456789ab"


@pytest.mark.parametrize("flags", [os.O_RDONLY, os.O_CREAT | os.O_WRONLY])
def test_enotdir_when_a_component_is_not_a_directory(d: Path, flags: int) -> None:
    fails(errno.ENOTDIR, os.open, not_a_dir(d) / "x", flags, 0o644)


def test_a_name_of_255_bytes_works_and_256_is_enametoolong(d: Path) -> None:
    _create(str(d / name_of(255)), 0o644)
    assert (d / name_of(255)).exists()
    fails(errno.ENAMETOOLONG, os.open, d / name_of(256), os.O_CREAT | os.O_WRONLY, 0o644)
    fails(errno.ENAMETOOLONG, os.open, d / name_of(128, "\u00e9"), os.O_RDONLY)


def test_a_path_over_path_max_is_enametoolong(d: Path) -> None:
    fails_as(errno.ENAMETOOLONG, 0, 0, _create, long_path(d, 4096), 0o644, cwd=d)


@pytest.mark.parametrize("flags", [os.O_RDONLY, os.O_CREAT | os.O_WRONLY])
def test_enoent_when_a_component_is_missing(d: Path, flags: int) -> None:
    fails(errno.ENOENT, os.open, d / "missing" / "x", flags, 0o644)


def test_enoent_without_o_creat(d: Path) -> None:
    fails(errno.ENOENT, os.open, d / "missing", os.O_RDONLY)


def test_eacces_without_search_permission(d: Path) -> None:
    sub = no_access_dir(d)
    make("regular", sub / "f")
    fails_as(errno.EACCES, U1, G1, _open, "locked/f", os.O_RDONLY, cwd=d)
    os.chmod(sub, 0o755)
    ok_as(U1, G1, _open, "locked/f", os.O_RDONLY, cwd=d)


# (mode, who, flags, allowed): the permission bits of owner, group and others.
PERMISSIONS = [
    (0o600, "owner", os.O_RDWR, True), (0o400, "owner", os.O_WRONLY, False),
    (0o200, "owner", os.O_RDONLY, False), (0o060, "owner", os.O_RDWR, False),
    (0o060, "group", os.O_RDWR, True), (0o040, "group", os.O_WRONLY, False),
    (0o020, "group", os.O_RDONLY, False), (0o606, "group", os.O_RDWR, False),
    (0o006, "other", os.O_RDWR, True), (0o004, "other", os.O_WRONLY, False),
    (0o002, "other", os.O_RDONLY, False), (0o660, "other", os.O_RDWR, False),
]  # fmt: skip


@pytest.mark.parametrize(("mode", "who", "flags", "allowed"), PERMISSIONS)
def test_permission_bits_decide_who_opens(
    d: Path, mode: int, who: str, flags: int, allowed: bool
) -> None:
    make("regular", d / "f")
    os.chown(d / "f", U1, G1)
    os.chmod(d / "f", mode)
    uid, gid = {"owner": (U1, G2), "group": (U2, G1), "other": (U2, G2)}[who]
    if allowed:
        ok_as(uid, gid, _open, "f", flags, cwd=d)
    else:
        fails_as(errno.EACCES, uid, gid, _open, "f", flags, cwd=d)


def test_o_trunc_needs_write_permission(d: Path) -> None:
    (d / "f").write_bytes(b"keep")
    os.chown(d / "f", U1, G1)
    os.chmod(d / "f", 0o444)
    fails_as(errno.EACCES, U1, G1, _open, "f", os.O_RDONLY | os.O_TRUNC, cwd=d)
    assert (d / "f").read_bytes() == b"keep"


def test_creating_needs_write_permission_on_the_directory(d: Path) -> None:
    os.chown(d, U1, G1)
    os.chmod(d, 0o555)
    fails_as(errno.EACCES, U1, G1, _create, "f", 0o644, cwd=d)
    os.chmod(d, 0o755)
    ok_as(U1, G1, _create, "f", 0o644, cwd=d)


def test_eloop_for_a_symlink_loop(d: Path) -> None:
    link = loop(d)
    fails(errno.ELOOP, os.open, link, os.O_RDONLY)
    fails(errno.ELOOP, os.open, link / "x", os.O_CREAT | os.O_WRONLY, 0o644)


@pytest.mark.parametrize("flags", [os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC])
def test_eisdir_for_writing_a_directory(d: Path, flags: int) -> None:
    fails(errno.EISDIR, os.open, d, flags)


def test_a_directory_opens_read_only(d: Path) -> None:
    os.close(os.open(d, os.O_RDONLY | os.O_DIRECTORY))


def test_eloop_for_o_nofollow_on_a_symlink(d: Path) -> None:
    make("regular", d / "f")
    os.symlink("f", d / "l")
    fails(errno.ELOOP, os.open, d / "l", os.O_RDONLY | os.O_NOFOLLOW)


def test_enxio_for_a_fifo_without_a_reader(d: Path) -> None:
    make("fifo", d / "p")
    fails(errno.ENXIO, os.open, d / "p", os.O_WRONLY | os.O_NONBLOCK)


def test_a_fifo_opens_for_reading_without_a_writer_when_nonblocking(d: Path) -> None:
    make("fifo", d / "p")
    os.close(os.open(d / "p", os.O_RDONLY | os.O_NONBLOCK))


@pytest.mark.parametrize("kind", TYPES)
def test_eexist_for_o_creat_o_excl_on_any_file(d: Path, kind: str) -> None:
    make(kind, d / "f")
    fails(errno.EEXIST, os.open, d / "f", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)


@pytest.mark.parametrize("kind", [k for k in NON_DIRS if k not in ("fifo", "block", "char")])
def test_o_creat_without_o_excl_opens_what_exists(d: Path, kind: str) -> None:
    if kind == "socket":
        make(kind, d / "f")
        fails(errno.ENXIO, os.open, d / "f", os.O_CREAT | os.O_RDONLY, 0o644)
        return
    make("regular", d / "target")
    if kind == "symlink":
        os.symlink("target", d / "f")
    else:
        make(kind, d / "f")
    _open(str(d / "f"), os.O_CREAT | os.O_RDONLY)


def test_o_creat_through_a_dangling_symlink_creates_its_target(d: Path) -> None:
    os.symlink("target", d / "l")
    _create(str(d / "l"), 0o640)
    assert kind_of(d / "target") == 0o100000 and mode_of(d / "target") == 0o640


def test_o_excl_on_a_dangling_symlink_is_eexist(d: Path) -> None:
    os.symlink("target", d / "l")
    fails(errno.EEXIST, os.open, d / "l", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
