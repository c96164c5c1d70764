import errno

import pytest

from pithosfs.client import errors as store
from pithosfs.fs import errors as fs
from pithosfs.fs.fuse.errno_map import to_errno


@pytest.mark.parametrize(
    "exc, expected",
    [
        (store.NotFound("x"), errno.ENOENT),
        (fs.NoEntry("x"), errno.ENOENT),
        (store.Unauthorized("x"), errno.EACCES),
        (store.Forbidden("x"), errno.EACCES),
        (store.PreconditionFailed("x"), errno.ESTALE),
        (fs.Stale("x"), errno.ESTALE),
        (fs.NotEmpty("x"), errno.ENOTEMPTY),
        (store.Conflict("x"), errno.ENOTEMPTY),
        (fs.Exists("x"), errno.EEXIST),
        (store.QuotaExceeded("x"), errno.EDQUOT),
        (store.TooLarge("x"), errno.EFBIG),
        (store.error_for_status(507)("x"), errno.ENOSPC),  # the server's disk is full
        (store.InsufficientStorage("x"), errno.ENOSPC),
        (fs.ReadOnly("x"), errno.EROFS),
        (fs.NotPermitted("x"), errno.EPERM),
        (fs.NotSupported("x"), errno.ENOTSUP),
        (fs.NoAttribute("x"), errno.ENODATA),
        (fs.NameTooLong("x"), errno.ENAMETOOLONG),
        (fs.BadHandle("x"), errno.EBADF),
        (fs.InvalidArgument("x"), errno.EINVAL),
        (fs.CrossDevice("x"), errno.EXDEV),
        (store.BadRequest("x"), errno.EINVAL),
        (store.Unsupported("x"), errno.EOPNOTSUPP),
        (store.ServerError("x"), errno.EIO),
        (store.TransportError("x"), errno.EIO),
        (store.MissingBlocks(["ab"]), errno.EIO),
        (OSError(errno.ENOSPC, "full"), errno.ENOSPC),
    ],
)
def test_table(exc, expected):
    assert to_errno(exc) == expected


def test_a_full_server_disk_is_not_a_retried_server_error():
    assert store.error_for_status(507) is store.InsufficientStorage
    assert store.error_for_status(503) is store.ServerError


def test_unexpected_is_eio_never_einval(caplog):
    assert to_errno(ValueError("bug")) == errno.EIO
    assert to_errno(OSError(-3, "negative")) == errno.EIO
    assert "unexpected error" in caplog.text
