"""Which processes run, and which keep a path busy, read from /proc (what `fuser -vm` shows).

Shared by the mount commands (which processes hold a mount, whether a mount
process still runs) and `pithosfs serve` (which servers hold a data directory's
lock file); it imports nothing of pithosfs, so both can.

A process holds a mount with its working or root directory, an open file, or
a mapped file under it. Only /proc's links are read, never the mount itself
(a stat there could wait on the very mount being looked at). Processes of
other users are visible to root only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
SHOWN = 8  # holders named in a message; the rest are counted


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str
    how: str  # "working directory", "open file", "root directory", "program", "mapped file"

    def __str__(self) -> str:
        return f"{self.pid} ({self.command}: {self.how})"


def _under(target: str, mountpoint: str) -> bool:
    return target == mountpoint or target.startswith(mountpoint.rstrip("/") + "/")


def _link(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _how(proc: Path, mountpoint: str) -> str | None:
    for name, how in (("cwd", "working directory"), ("root", "root directory"),
                      ("exe", "program")):  # fmt: skip
        if _under(_link(proc / name), mountpoint):
            return how
    try:
        fds = list((proc / "fd").iterdir())
    except OSError:
        fds = []
    if any(_under(_link(fd), mountpoint) for fd in fds):
        return "open file"
    try:
        maps = (proc / "maps").read_text(errors="replace")
    except OSError:
        return None
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and _under(fields[5], mountpoint):
            return "mapped file"
    return None


def holders(mountpoint: Path, proc_root: Path = PROC) -> list[Holder]:
    """The processes (other than this one) that keep `mountpoint` busy."""
    where = os.path.abspath(mountpoint)
    found = []
    for proc in proc_root.iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        how = _how(proc, where)
        if how is None:
            continue
        try:
            command = (proc / "comm").read_text().strip()
        except OSError:
            command = "?"
        found.append(Holder(int(proc.name), command, how))
    return sorted(found, key=lambda h: h.pid)


def describe(found: list[Holder]) -> str:
    """`PID (command: how), ...` for a one-line message."""
    named = ", ".join(str(h) for h in found[:SHOWN])
    more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    return named + more


def pid_alive(pid: int) -> bool:
    """Whether the process runs (a zombie, exited but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: trust the signal probe
    return stat.rpartition(")")[2].split()[:1] != ["Z"]
