"""What the POSIX cases share: making each type of file, names of every length, times.

The cases run as root in the test process (absolute paths) and as other users in
forked children (users.run_as, relative names below `cwd`).
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.posix.users import run_as

# The file types pjdfstest's rules are checked on; "none" makes nothing.
TYPES = ("regular", "dir", "fifo", "block", "char", "socket", "symlink")
NON_DIRS = tuple(t for t in TYPES if t != "dir")
U1, G1 = 65534, 65534  # unprivileged users the cases become
U2, G2 = 65533, 65533
NAME_MAX = 255
PATH_MAX = 4096

FILE_TYPE = {
    "regular": stat.S_IFREG, "dir": stat.S_IFDIR, "fifo": stat.S_IFIFO, "block": stat.S_IFBLK,
    "char": stat.S_IFCHR, "socket": stat.S_IFSOCK, "symlink": stat.S_IFLNK,
}  # fmt: skip


def make(kind: str, path: Path, mode: int = 0o644) -> Path:
    """Create a `kind` file at `path` (as root) with permission bits `mode` (no umask)."""
    if kind == "regular":
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    elif kind == "dir":
        os.mkdir(path, mode)
    elif kind == "fifo":
        os.mkfifo(path, mode)
    elif kind == "block":
        os.mknod(path, mode | stat.S_IFBLK, os.makedev(1, 2))
    elif kind == "char":
        os.mknod(path, mode | stat.S_IFCHR, os.makedev(1, 3))
    elif kind == "socket":  # bind needs a short name: relative, from its directory
        code, _ = run_as(0, 0, _bind, path.name, cwd=path.parent)
        assert code == 0, os.strerror(code)
    elif kind == "symlink":
        os.symlink("test", path)
        return path
    else:
        raise ValueError(kind)
    os.chmod(path, mode)
    return path


def _bind(name: str) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(name)


def remove(path: Path) -> None:
    if stat.S_ISDIR(os.lstat(path).st_mode):
        os.rmdir(path)
    else:
        os.unlink(path)


def kind_of(path: Path) -> int:
    return stat.S_IFMT(os.lstat(path).st_mode)


def mode_of(path: Path, follow: bool = False) -> int:
    return stat.S_IMODE((os.stat if follow else os.lstat)(path).st_mode)


def owner_of(path: Path, follow: bool = False) -> tuple[int, int]:
    st = (os.stat if follow else os.lstat)(path)
    return st.st_uid, st.st_gid


def times(path: Path, follow: bool = False) -> tuple[int, int, int]:
    """(atime, mtime, ctime) in ns."""
    st = (os.stat if follow else os.lstat)(path)
    return st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns


def ctime(path: Path, follow: bool = False) -> int:
    return times(path, follow)[2]


def tick() -> None:
    """Let the clock move past what was just stamped (times are in ns; the kernel's
    own stamps come from a coarse clock of a few ms)."""
    time.sleep(0.02)


def fails(number: int, fn: Callable[..., Any], *args: Any) -> None:
    with pytest.raises(OSError) as info:
        fn(*args)
    assert info.value.errno == number, f"{errno.errorcode.get(info.value.errno)} {info.value}"


def fails_as(
    numbers: int | tuple[int, ...], uid: int, gid: int, fn: Callable[..., Any], *args: Any,
    cwd: Path, groups: tuple[int, ...] = (),
) -> None:  # fmt: skip
    code, _ = run_as(uid, gid, fn, *args, cwd=cwd, groups=groups)
    wanted = numbers if isinstance(numbers, tuple) else (numbers,)
    assert code in wanted, f"{errno.errorcode.get(code, code)}, wanted {wanted}"


def ok_as(
    uid: int, gid: int, fn: Callable[..., Any], *args: Any, cwd: Path,
    groups: tuple[int, ...] = (), umask: int | None = None,
) -> Any:  # fmt: skip
    code, result = run_as(uid, gid, fn, *args, cwd=cwd, groups=groups, umask=umask)
    assert code == 0, f"{errno.errorcode.get(code, code)}: {os.strerror(code)}"
    return result


def name_of(length: int, char: str = "x") -> str:
    return char * length


def long_path(base: Path, total: int) -> str:
    """A relative path of `total` bytes made of existing-looking directories (none created)."""
    part = "d" * 200 + "/"
    path = part * (total // len(part))
    return path + "x" * (total - len(path))


def not_a_dir(d: Path) -> Path:
    """A regular file to use as a path component (ENOTDIR)."""
    return make("regular", d / "notdir")


def loop(d: Path) -> Path:
    """Two symlinks pointing at each other (ELOOP)."""
    os.symlink("loop2", d / "loop1")
    os.symlink("loop1", d / "loop2")
    return d / "loop1"


def no_access_dir(d: Path, mode: int = 0o644) -> Path:
    """A directory the unprivileged users may not search (as if chmod 0644)."""
    sub = d / "locked"
    os.mkdir(sub)
    os.chmod(sub, mode)
    os.chmod(d, 0o777)
    return sub
