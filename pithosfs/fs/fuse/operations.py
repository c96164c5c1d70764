"""The mfusepy adapter: each callback calls the core and maps its exceptions.

Nothing here decides anything. `_op` turns every exception into a FuseOSError
with the errno of `errno_map` (EIO by default), so the binding's catch-all,
which would answer EINVAL, is never reached. A failure of the server or the
disk (EIO, EDQUOT, ENOSPC, ESTALE, EACCES, ETIMEDOUT) is logged in one line
naming the operation, the path and the cause. Debug logging of each call costs
one `isEnabledFor` check when it is off, and never formats data buffers.
"""

from __future__ import annotations

import errno
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pithosfs.fs import callers
from pithosfs.fs.core import Filesystem
from pithosfs.fs.fuse.errno_map import to_errno
from pithosfs.fs.fuse.mount import load_binding
from pithosfs.fs.gc_pause import gc_paused
from pithosfs.fs.nodes import st_mode

if TYPE_CHECKING:  # the checker sees the module; at run time load_binding picks its libfuse
    import mfusepy as fuse
else:
    fuse = load_binding()  # before any mfusepy import: it picks libfuse 3 when present

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


# Failures that mean the server or the disk let the user down, as opposed to answers
# about the namespace (ENOENT, EEXIST, ENOTEMPTY...) that tools provoke all the time.
_LOGGED_ERRNOS = frozenset(
    {errno.EIO, errno.EDQUOT, errno.ENOSPC, errno.ESTALE, errno.EACCES, errno.ETIMEDOUT}
)


def _describe(args: tuple[Any, ...]) -> str:
    return ", ".join(f"<{len(a)} bytes>" if isinstance(a, bytes) else repr(a) for a in args)


def _op(method: F) -> F:
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self: Operations, *args: Any) -> Any:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s(%s)", name, _describe(args))
        try:
            return method(self, *args)
        except fuse.FuseOSError:
            raise
        except Exception as exc:
            number = to_errno(exc)
            logged = getattr(exc, "logged", False)  # said already where it was decided
            if number in _LOGGED_ERRNOS and not logged:  # the data did not get through: say why
                log.warning(
                    "%s(%s) failed with %s: %s",
                    name, _describe(args[:1]), errno.errorcode.get(number, number), exc,
                )  # fmt: skip
            raise fuse.FuseOSError(number) from None

    return wrapper  # type: ignore[return-value]


class Operations(fuse.Operations):
    use_ns = True  # times in integer nanoseconds (utimens, stat)

    def __init__(self, core: Filesystem) -> None:
        self.core = core
        core.caller = callers.from_context(fuse.fuse_get_context)  # owners, set-ID bits

    # -- lifecycle ---------------------------------------------------------
    def destroy(self, path: str) -> None:
        self.core.close()

    # -- namespace ---------------------------------------------------------
    @_op
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        return self.core.getattr(path, fh)

    def opendir(self, path: str) -> int:
        """Defined so that the binding asks libfuse for opendir/releasedir at all: the
        FUSE class gives each open directory a handle of its own (plus_fuse.PlusFUSE)."""
        return 0

    def releasedir(self, path: str, fh: int) -> int:
        return 0

    @_op
    def readdir(self, path: str, fh: int) -> fuse.ReadDirResult:
        entries = self.core.readdir(path)
        return [".", "..", *((n, {"st_mode": st_mode(x), "st_ino": x.ino}, 0) for n, x in entries)]

    @_op
    def readdir_plus(self, path: str) -> list[tuple[str, dict[str, Any]]]:
        """Entries with full attributes, for libfuse 3's READDIRPLUS (see plus_fuse.PlusFUSE)."""
        with gc_paused():  # one lasting dict per entry: see gc_pause
            stat_of = self.core.stat_of
            below = path.rstrip("/") + "/"
            return [
                (n, stat_of(node, 0, below + n) if node.is_dir else stat_of(node))
                for n, node in self.core.readdir(path)
            ]

    @_op
    def mkdir(self, path: str, mode: int) -> int:
        self.core.mkdir(path, mode)
        return 0

    @_op
    def rmdir(self, path: str) -> int:
        self.core.rmdir(path)
        return 0

    @_op
    def unlink(self, path: str) -> int:
        self.core.unlink(path)
        return 0

    @_op
    def rename(self, old: str, new: str) -> int:
        self.core.rename(old, new)
        return 0

    @_op
    def symlink(self, target: str, source: str) -> int:
        # mfusepy: `target` is the new link's path, `source` what it points to.
        self.core.symlink(target, source)
        return 0

    @_op
    def readlink(self, path: str) -> str:
        return self.core.readlink(path)

    @_op
    def link(self, target: str, source: str) -> int:
        self.core.link(target, source)
        return 0

    @_op
    def mknod(self, path: str, mode: int, dev: int) -> int:
        self.core.mknod(path, mode, dev)
        return 0

    # -- attributes --------------------------------------------------------
    @_op
    def chmod(self, path: str, mode: int) -> int:
        self.core.chmod(path, mode)
        return 0

    @_op
    def chown(self, path: str, uid: int, gid: int) -> int:
        self.core.chown(path, uid, gid)
        return 0

    @_op
    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        self.core.utimens(path, times)
        return 0

    @_op
    def statfs(self, path: str) -> dict[str, int]:
        return self.core.statfs()

    # -- files -------------------------------------------------------------
    @_op
    def open(self, path: str, flags: int) -> int:
        return self.core.open(path, flags)

    @_op
    def create(self, path: str, mode: int, flags: int) -> int:
        return self.core.create(path, mode, flags)

    @_op
    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        # Often a memoryview into a fetched segment, which plus_fuse.PlusFUSE.read copies
        # without a detour through bytes; the annotation stays the binding's.
        return self.core.read(fh, offset, size)  # type: ignore[return-value]

    @_op
    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        return self.core.write(fh, offset, data)

    @_op
    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        self.core.truncate(path, length, fh)
        return 0

    @_op
    def copy_file_range(
        self, path_in: str, fh_in: int, off_in: int, path_out: str, fh_out: int, off_out: int,
        size: int, flags: int,
    ) -> int:  # fmt: skip
        return self.core.copy_range(fh_in, off_in, fh_out, off_out, size)

    @_op
    def fallocate(self, path: str, mode: int, offset: int, size: int, fh: int) -> int:
        self.core.fallocate(fh, mode, offset, size)
        return 0

    @_op
    def flush(self, path: str, fh: int) -> int:
        self.core.flush(fh, fuse.fuse_get_context()[2])  # the closing process
        return 0

    @_op
    def fsync(self, path: str, datasync: int, fh: int) -> int:
        self.core.fsync(fh)
        return 0

    @_op
    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        # Directory changes are synchronous requests to the server: nothing to flush.
        self.core.lookup(path)
        return 0

    @_op
    def release(self, path: str, fh: int) -> int:
        self.core.release(fh)
        return 0

    # -- extended attributes -------------------------------------------------
    @_op
    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        if not name.startswith("user."):
            # Only user. is stored (setting others is ENOTSUP too). ls -l asks for the
            # SELinux label and POSIX ACL of every file; ENOTSUP, unlike ENODATA, makes
            # it stop asking for the rest of the device: 2 upcalls instead of 2 per file.
            raise fuse.FuseOSError(errno.ENOTSUP)
        return self.core.xattrs.get(path, name)

    @_op
    def listxattr(self, path: str) -> list[str]:
        return self.core.xattrs.list(path)

    @_op
    def setxattr(self, path: str, name: str, value: bytes, options: int, position: int = 0) -> int:
        self.core.xattrs.set(path, name, value, options)
        return 0

    @_op
    def removexattr(self, path: str, name: str) -> int:
        self.core.xattrs.remove(path, name)
        return 0
