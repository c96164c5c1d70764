"""Reading a `--metafile` named by a local path with the rights of the user who asked.

The mount daemon often runs as root (a system mount with `allow_other`). A
`.register` line written by another local user must not read what that user
could not. So the file is opened with the caller's filesystem identity: the
FUSE request's uid and gid and the caller's supplementary groups, set for this
thread only with the setfsuid/setfsgid/setgroups system calls around the open()
(Linux keeps credentials per thread; glibc's setgroups() would change every
thread of the daemon, so the raw system call is made). The kernel then decides
exactly as it would for the caller, with no check-then-open race, and the error
is the one the caller would get from opening the path itself. A daemon that
cannot take another identity (not root, or an architecture whose system call
number is not known here) refuses local paths for every caller but its own user
and root. Nothing but the open() runs under the caller's identity: a thread started
meanwhile would inherit it.

The open is non-blocking and followed by fstat: only a regular file is read (a
FIFO or a device never blocks the writer), and only up to a bound (a larger file
is refused unread).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import platform
import stat

from pithosfs.fs.callers import Caller  # who asked: the FUSE request's uid, gid, pid

log = logging.getLogger(__name__)

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NO_ID = 0xFFFFFFFF  # (uid_t)-1: setfsuid/setfsgid only report the current value
# setgroups with 32-bit gids, per architecture (asm/unistd.h).
_SETGROUPS = {
    "x86_64": 116, "aarch64": 159, "arm64": 159, "riscv64": 159, "loongarch64": 159,
    "ppc64le": 81, "ppc64": 81, "s390x": 206, "i386": 206, "i686": 206,
    "armv7l": 206, "armv6l": 206,
}  # fmt: skip


class LocalFileError(OSError):
    """The metafile was not read; errno and a message fit for the caller."""


def read(path: str, caller: Caller | None, limit: int) -> bytes:
    """The bytes of the regular file `path`, opened with `caller`'s rights (None: the
    daemon's own, for callers outside FUSE). LocalFileError says why not."""
    if caller is None or caller.uid in (0, os.geteuid()):
        fd = _open(path)  # the daemon's rights are the caller's, or less than root's
    else:
        fd = _open_as(path, caller)
    try:
        return _read_regular(fd, path, limit)
    finally:
        os.close(fd)


def _open(path: str) -> int:
    try:
        return os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise LocalFileError(exc.errno, f"cannot read metafile {path}: {exc.strerror}") from None


def _read_regular(fd: int, path: str, limit: int) -> bytes:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise LocalFileError(errno.EINVAL, f"metafile {path} is not a regular file")
    if st.st_size > limit:
        raise LocalFileError(errno.EFBIG, f"metafile {path} is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        piece = os.read(fd, limit + 1 - size)
        if not piece:
            break
        chunks.append(piece)
        size += len(piece)
    if size > limit:  # it grew after the fstat
        raise LocalFileError(errno.EFBIG, f"metafile {path} is larger than {limit} bytes")
    return b"".join(chunks)


def caller_groups(caller: Caller) -> list[int]:
    """The caller's supplementary groups, from /proc/<pid>/status when that process
    still has the request's uid and gid; else none (fewer rights, never more)."""
    try:
        with open(f"/proc/{caller.pid}/status", encoding="ascii", errors="replace") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        uids = [int(x) for x in fields["Uid"].split()]
        gids = [int(x) for x in fields["Gid"].split()]
        if uids[-1] != caller.uid or gids[-1] != caller.gid:  # the fs ids FUSE reports
            return []
        return [int(x) for x in fields.get("Groups", "").split()]
    except (OSError, KeyError, ValueError, IndexError):
        return []


class _ThreadCredentials:
    """setfsuid/setfsgid/setgroups of the calling thread (Linux)."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.setgroups_nr = _SETGROUPS.get(platform.machine())

    def usable(self) -> bool:
        return os.geteuid() == 0 and self.setgroups_nr is not None

    def fsuid(self, uid: int) -> int:
        return int(self.libc.setfsuid(ctypes.c_uint(uid)))

    def fsgid(self, gid: int) -> int:
        return int(self.libc.setfsgid(ctypes.c_uint(gid)))

    def setgroups(self, groups: list[int]) -> None:
        array = (ctypes.c_uint * max(1, len(groups)))(*groups)
        nr = self.setgroups_nr
        if nr is None or self.libc.syscall(ctypes.c_long(nr), ctypes.c_size_t(len(groups)), array):
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))


_credentials: _ThreadCredentials | None = None


def _thread_credentials() -> _ThreadCredentials:
    global _credentials
    if _credentials is None:
        _credentials = _ThreadCredentials()
    return _credentials


def _open_as(path: str, caller: Caller) -> int:
    creds = _thread_credentials()
    if not creds.usable():
        raise LocalFileError(
            errno.EACCES,
            "a local --metafile path is read with your rights, which this mount cannot take "
            "(it does not run as root): put the metafile in the mount and name it relative "
            "to the folder",
        )
    groups = caller_groups(caller)
    saved_groups = os.getgroups()  # this thread's (the getgroups system call)
    saved_gid = creds.fsgid(_NO_ID)
    saved_uid = creds.fsuid(_NO_ID)
    try:
        creds.setgroups(groups)
        creds.fsgid(caller.gid)
        creds.fsuid(caller.uid)
        if creds.fsuid(_NO_ID) != caller.uid or creds.fsgid(_NO_ID) != caller.gid:
            raise LocalFileError(errno.EACCES, "cannot take your rights to read the metafile")
        return _open(path)
    finally:
        creds.fsuid(saved_uid)  # first: back to root's fs rights (and capabilities)
        creds.fsgid(saved_gid)
        creds.setgroups(saved_groups)
        if creds.fsuid(_NO_ID) != saved_uid or creds.fsgid(_NO_ID) != saved_gid:
            log.critical("could not restore this thread's file-system identity")
            raise RuntimeError("could not restore this thread's file-system identity")
