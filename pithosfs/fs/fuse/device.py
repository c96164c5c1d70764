"""The kernel device behind a FUSE mount: found in mountinfo without touching the
mount, and its read-ahead window raised from the kernel's 128 KiB default."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KERNEL_READAHEAD_KIB = 1024


def raise_kernel_readahead(mountpoint: Path, kib: int, timeout: float = 30.0) -> None:
    """Let the kernel read ahead `kib` KiB on this mount (its default is 128 KiB).

    FUSE can only lower the window at init; the per-device knob in sysfs raises it
    (root only; silently skipped otherwise). Run on a thread: it waits for the mount.
    The fallback of `set_readahead_at_init`, which has no race with the first reader.
    """
    deadline = time.monotonic() + timeout
    while not os.path.ismount(mountpoint):
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
    dev = os.stat(mountpoint).st_dev
    _write_readahead_knob(f"{os.major(dev)}:{os.minor(dev)}", kib)


def _write_readahead_knob(bdi: str, kib: int) -> bool:
    knob = Path(f"/sys/class/bdi/{bdi}/read_ahead_kb")
    try:
        knob.write_text(str(kib))
    except OSError as exc:
        log.debug("kernel read-ahead left at its default: %s", exc)
        return False
    log.debug("kernel read-ahead of %s set to %d KiB", bdi, kib)
    return True


def mounted_device(mountpoint: Path) -> str | None:
    """The "major:minor" of the file system mounted on `mountpoint`, from mountinfo.

    Read without touching the mount: during FUSE init a stat of it would wait for
    the very init reply we are preparing.
    """
    # The parent's real path only: resolving the mount point itself would stat it.
    absolute = Path(os.path.abspath(mountpoint))
    want = os.path.join(os.path.realpath(absolute.parent), absolute.name)
    found = None
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 4 and _unescape_mountinfo(fields[4]) == want:
            found = fields[2]  # the last one: a mount stacked over others is listed last
    return found


def _unescape_mountinfo(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def set_readahead_at_init(conn: Any, mountpoint: Path, kib: int) -> None:
    """In FUSE init: a `kib` KiB kernel read-ahead from the mount's first read on.

    The kernel keeps min(device knob, init reply's max_readahead): both are raised
    here, before the reply, so no reader opens a file with the 128 KiB default (a
    file keeps the window it was opened with; a knob written after the mount went
    live lost that race under load, and whole cold reads ran in 256 KiB requests).
    """
    if conn is not None:
        conn.contents.max_readahead = kib * 1024
    bdi = mounted_device(mountpoint)
    if bdi is None or not _write_readahead_knob(bdi, kib):
        threading.Thread(target=raise_kernel_readahead, args=(mountpoint, kib), daemon=True).start()
