"""The one table from exceptions to errno values.

Everything not listed is EIO and logged once with its cause, so that the FUSE
binding's catch-all (which would answer EINVAL) is never reached.
"""

from __future__ import annotations

import errno
import logging

from pithosfs.client import errors as store
from pithosfs.fs import errors as fs

log = logging.getLogger(__name__)

# Checked in order with isinstance, so subclasses come before their bases.
_TABLE: tuple[tuple[type[BaseException], int], ...] = (
    (fs.NoEntry, errno.ENOENT),
    (fs.Exists, errno.EEXIST),
    (fs.NotEmpty, errno.ENOTEMPTY),
    (fs.NotADirectory, errno.ENOTDIR),
    (fs.IsADirectory, errno.EISDIR),
    (fs.ReadOnly, errno.EROFS),
    (fs.AccessDenied, errno.EACCES),
    (fs.NotPermitted, errno.EPERM),
    (fs.NotSupported, errno.ENOTSUP),
    (fs.NoAttribute, errno.ENODATA),
    (fs.NameTooLong, errno.ENAMETOOLONG),
    (fs.FileTooBig, errno.EFBIG),
    (fs.BadHandle, errno.EBADF),
    (fs.InvalidArgument, errno.EINVAL),
    (fs.OutOfRange, errno.ERANGE),
    (fs.NoSpace, errno.ENOSPC),
    (fs.CrossDevice, errno.EXDEV),
    (fs.Stale, errno.ESTALE),
    (store.NotFound, errno.ENOENT),
    (store.Unauthorized, errno.EACCES),  # the client has already re-authenticated once
    (store.Forbidden, errno.EACCES),
    (store.PreconditionFailed, errno.ESTALE),  # base version changed under an open write
    (store.QuotaExceeded, errno.EDQUOT),
    (store.TooLarge, errno.EFBIG),
    (store.InsufficientStorage, errno.ENOSPC),  # 507: the server's disk is full
    (store.MissingBlocks, errno.EIO),  # the write path resolves these; reaching here is a bug
    (store.Conflict, errno.ENOTEMPTY),  # 409 on DELETE: a non-empty container
    (store.BadRequest, errno.EINVAL),
    (store.Unsupported, errno.EOPNOTSUPP),  # a plain Swift container: no hashmaps, no updates
    (OSError, 0),  # placeholder: an OSError keeps its own errno (see below)
)


def to_errno(exc: BaseException) -> int:
    """The errno for an exception raised by the core; EIO for anything unexpected."""
    for kind, number in _TABLE:
        if isinstance(exc, kind):
            if kind is OSError:
                code = getattr(exc, "errno", None)
                if isinstance(code, int) and code > 0:
                    return code
                break
            return number
    if isinstance(exc, store.PithosError):  # 5xx after retries, transport failures
        log.debug("store failure, answering EIO: %s", exc)  # operations logs it with the path
        return errno.EIO
    log.error("unexpected error, answering EIO: %r", exc, exc_info=exc)
    return errno.EIO
