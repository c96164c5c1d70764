"""The one table of failed commits: transient (journalled), permanent (the writer's errno),
conflict (ESTALE, kept under conflicts/)."""

from __future__ import annotations

import errno

import pytest

from pithosfs.client import errors as store
from pithosfs.fs.writeback.commit_failures import CONFLICT, PERMANENT, TRANSIENT, classify


@pytest.mark.parametrize(
    "exc, kind, number",
    [
        (store.TransportError("connection refused"), TRANSIENT, errno.EIO),
        (store.TransportError("read timed out"), TRANSIENT, errno.EIO),
        (store.ServerError("boom", status=503), TRANSIENT, errno.EIO),
        (store.PithosError("slow down", status=429), TRANSIENT, errno.EIO),
        (store.PithosError("request timeout", status=408), TRANSIENT, errno.EIO),
        (store.Unauthorized("token expired"), TRANSIENT, errno.EACCES),
        (store.MissingBlocks(["ab"]), TRANSIENT, errno.EIO),
        (store.Forbidden("Not allowed"), PERMANENT, errno.EACCES),
        (store.BadRequest("Hashmap too large"), PERMANENT, errno.EINVAL),
        (store.NotFound("Container does not exist"), PERMANENT, errno.ENOENT),
        (store.Conflict("Object is a directory"), PERMANENT, errno.EIO),
        (store.QuotaExceeded("Quota error"), PERMANENT, errno.EDQUOT),
        (store.TooLarge("Request Entity Too Large"), PERMANENT, errno.EFBIG),
        (store.InsufficientStorage("disk full"), PERMANENT, errno.ENOSPC),
        (store.PithosError("unprocessable", status=422), PERMANENT, errno.EIO),
        (store.PreconditionFailed("changed"), CONFLICT, errno.ESTALE),
        (OSError(errno.ENOSPC, "staging disk full"), TRANSIENT, errno.EIO),
        (OSError(errno.EFBIG, "over the object size limit"), PERMANENT, errno.EFBIG),
        (ValueError("a bug"), TRANSIENT, errno.EIO),
    ],
)
def test_table(exc: BaseException, kind: str, number: int) -> None:
    verdict = classify(exc)
    assert (verdict.kind, verdict.errno) == (kind, number)
    assert verdict.why and "\n" not in verdict.why  # one line for the log


def test_401_is_permanent_when_no_new_token_can_come() -> None:
    assert classify(store.Unauthorized("revoked"), can_reauthenticate=False).permanent
    assert not classify(store.Unauthorized("revoked"), can_reauthenticate=True).permanent
