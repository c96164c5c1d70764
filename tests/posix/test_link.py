"""link(2): hard links are refused (EPERM); what the kernel checks first still holds.

Pithos+ gives an object one name, so a second name cannot share it; the rules of
real hard links are kept here as expected failures (expected_failures.py).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.posix.fstest import (
    G1,
    TYPES,
    U1,
    fails,
    fails_as,
    long_path,
    loop,
    make,
    name_of,
    no_access_dir,
    not_a_dir,
)

LINKABLE = [k for k in TYPES if k != "dir"]


@pytest.mark.parametrize("kind", LINKABLE)
def test_link_is_refused_with_eperm(d: Path, kind: str) -> None:
    make(kind, d / "f")
    fails(errno.EPERM, lambda: os.link(d / "f", d / "g", follow_symlinks=False))
    assert not os.path.lexists(d / "g")


@pytest.mark.parametrize("kind", LINKABLE)
def test_link_adds_a_second_name(d: Path, kind: str) -> None:
    make(kind, d / "f")
    os.link(d / "f", d / "g", follow_symlinks=False)
    assert os.lstat(d / "g").st_ino == os.lstat(d / "f").st_ino


def test_link_counts_go_up_and_down(d: Path) -> None:
    make("regular", d / "f")
    os.link(d / "f", d / "g")
    assert os.lstat(d / "f").st_nlink == 2
    os.unlink(d / "g")
    assert os.lstat(d / "f").st_nlink == 1


def test_a_directory_cannot_be_linked(d: Path) -> None:
    os.mkdir(d / "sub")
    fails(errno.EPERM, os.link, d / "sub", d / "g")


def test_enoent_for_a_missing_source(d: Path) -> None:
    fails(errno.ENOENT, os.link, d / "missing", d / "g")


@pytest.mark.parametrize("kind", TYPES)
def test_eexist_when_the_new_name_is_taken(d: Path, kind: str) -> None:
    make("regular", d / "f")
    make(kind, d / "g")
    fails(errno.EEXIST, os.link, d / "f", d / "g")


def test_enotdir_when_a_component_is_not_a_directory(d: Path) -> None:
    make("regular", d / "f")
    fails(errno.ENOTDIR, os.link, not_a_dir(d) / "x", d / "g")
    fails(errno.ENOTDIR, os.link, d / "f", d / "notdir" / "g")


def test_names_of_256_bytes_are_enametoolong(d: Path) -> None:
    make("regular", d / "f")
    fails(errno.ENAMETOOLONG, os.link, d / "f", d / name_of(256))
    fails(errno.ENAMETOOLONG, os.link, d / name_of(256), d / "g")


def test_a_path_over_path_max_is_enametoolong(d: Path) -> None:
    make("regular", d / "f")
    fails_as(errno.ENAMETOOLONG, 0, 0, os.link, "f", long_path(d, 4096), cwd=d)


def test_eacces_without_search_permission(d: Path) -> None:
    sub = no_access_dir(d)
    make("regular", sub / "f")
    fails_as(errno.EACCES, U1, G1, os.link, "locked/f", "g", cwd=d)


def test_eloop_for_a_symlink_loop(d: Path) -> None:
    make("regular", d / "f")
    fails(errno.ELOOP, os.link, d / "f", loop(d) / "g")
