"""The process behind a request, for the few rules the kernel leaves to the filesystem.

With `default_permissions` the kernel checks every permission itself. What it
leaves to us, and what needs to know who is calling:

* who owns what is created: the caller's fsuid and fsgid, or the parent's
  group when the parent directory is set-group-ID (`owner_meta`);
* clearing set-user-ID and set-group-ID when a caller without CAP_FSETID
  writes (`setid_bits_to_clear`). The kernel does it through a chmod for
  writes through its page cache, but for direct-I/O writes it only flags the
  request (FUSE_WRITE_KILL_SUIDGID), which the high-level libfuse API does not
  pass on;
* whether a closing process still holds the file through another descriptor
  (`holds_open`): bash's `>` opens the file, dups the descriptor and closes
  the original before anything is written (files.FileTable.flush).

Everything here reads /proc of the caller, and answers the cautious way when it
cannot (a process gone, another user's /proc): the caller lacks CAP_FSETID
unless it is root, and holds no other descriptor.
"""

from __future__ import annotations

import os
import stat as statmod
from collections.abc import Callable
from dataclasses import dataclass

CAP_FSETID = 4


@dataclass(frozen=True)
class Caller:
    uid: int
    gid: int
    pid: int


def from_context(get_context: Callable[[], tuple[int, int, int]]) -> Callable[[], Caller]:
    """A provider of the current request's caller from the binding's fuse_get_context."""

    def current() -> Caller:
        uid, gid, pid = get_context()
        return Caller(uid, gid, pid)

    return current


def _status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            return dict(line.rstrip("\n").partition(":")[::2] for line in f)
    except OSError:
        return {}


def capable_fsetid(caller: Caller) -> bool:
    """Whether the caller may keep set-ID bits (CAP_FSETID in its effective set)."""
    caps = _status(caller.pid).get("CapEff", "").strip()
    try:
        return bool(int(caps, 16) >> CAP_FSETID & 1)
    except ValueError:
        return caller.uid == 0


def in_group(caller: Caller, gid: int) -> bool:
    if caller.gid == gid:
        return True
    groups = _status(caller.pid).get("Groups", "").split()
    return str(gid) in groups


def setid_bits_to_clear(mode: int, file_gid: int, caller: Caller | None) -> int:
    """The set-ID bits a write by `caller` removes from a regular file, as Linux does.

    Set-user-ID always goes; set-group-ID goes if the group may execute, or if
    the caller is not in the file's group; nothing goes for a caller with
    CAP_FSETID. Without a caller (no FUSE request: tests, the journal) nothing.
    """
    kill = mode & statmod.S_ISUID
    if mode & statmod.S_ISGID and (
        mode & statmod.S_IXGRP or (caller is not None and not in_group(caller, file_gid))
    ):
        kill |= statmod.S_ISGID
    if not kill or caller is None or capable_fsetid(caller):
        return 0
    return kill


def holds_open(pid: int, path: str) -> bool:
    """Whether process `pid` has a descriptor open on `path` (its full path)."""
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"{fd_dir}/{fd}") == path:
                return True
        except OSError:
            continue  # closed meanwhile
    return False
