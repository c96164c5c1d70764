"""A null FUSE filesystem: one read-only file of zeros served from memory.

The read ceiling of any mfusepy filesystem on this machine (the benchmark's
baseline): `python scripts/null_fuse.py MOUNTPOINT SIZE_BYTES` (foreground).
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from pithosfs.fs.fuse.mount import load_binding
from pithosfs.fs.fuse.plus_fuse import plus_fuse_class

fuse = load_binding()

CHUNK = bytes(4 * 1024 * 1024)


class NullFS(fuse.Operations):
    use_ns = True

    def __init__(self, size: int) -> None:
        self.size = size

    def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
        if path == "/zeros":
            return {"st_mode": stat.S_IFREG | 0o444, "st_nlink": 1, "st_size": self.size,
                    "st_blksize": 4 * 1024 * 1024}  # fmt: skip
        raise fuse.FuseOSError(errno.ENOENT)

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", "zeros"]

    def open(self, path: str, flags: int) -> int:
        return 0

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        size = max(0, min(size, self.size - offset))
        return CHUNK[:size] if size <= len(CHUNK) else bytes(size)


if __name__ == "__main__":
    mountpoint, size = sys.argv[1], int(sys.argv[2])
    os.makedirs(mountpoint, exist_ok=True)
    # The mount's own FUSE class: the same kernel read-ahead (set at init) and read path.
    plus_fuse_class(fuse)(NullFS(size), mountpoint, foreground=True, nothreads=False)
