"""Domain errors of the filesystem core.

The core raises these (or lets `PithosError`s from the store through); only
`errno_map` turns them into numbers, at the FUSE boundary.
"""

from __future__ import annotations


class FsError(Exception):
    """A filesystem-level refusal; the subclass says which."""

    def __init__(self, reason: str = "", path: str = "") -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path else reason)


class NoEntry(FsError):
    """The name does not exist (also: negative cache hit)."""


class Exists(FsError):
    """The name exists where it must not."""


class NotEmpty(FsError):
    """rmdir/rename onto a directory that has entries."""


class NotADirectory(FsError):
    pass


class IsADirectory(FsError):
    pass


class ReadOnly(FsError):
    """Writes into reserved/virtual names."""


class AccessDenied(FsError):
    """What the caller's rights do not allow (a read-only share): EACCES, as the server's 403."""


class NotPermitted(FsError):
    """Refused by design: hard links, files outside containers."""


class NotSupported(FsError):
    """An operation this kind of entry cannot carry (e.g. xattrs on implied dirs)."""


class NoAttribute(FsError):
    """A missing extended attribute (ENODATA, never ENOSYS)."""


class NameTooLong(FsError):
    """A name over 255 bytes, an object name over 1024 or a container name over 256 characters."""


class FileTooBig(FsError):
    """A size past the largest file the mount stores (EFBIG)."""


class BadHandle(FsError):
    """Unknown file handle."""


class InvalidArgument(FsError):
    pass


class OutOfRange(FsError):
    """A value over a store limit (xattr size): ERANGE."""


class NoSpace(FsError):
    """No room left in a bounded resource (e.g. 32 metadata items): ENOSPC."""


class CrossDevice(FsError):
    """A rename the store cannot do server-side (containers): EXDEV, so `mv` copies."""


class Stale(FsError):
    """The object changed under an open file (ESTALE)."""
