"""Which failed commits wait in the journal and which are refused for good: one table.

A commit (close, fsync, rename of an open file, unmount) that fails is one of:

* transient: the server may take the same request later. The file's content
  goes to the upload journal (journal.py) and is retried in the background;
  close()/fsync() still fails (EIO), because the data is not on the server yet.
* permanent: the server answered and will answer the same again (no right to
  write, bad request, over quota, too large, container gone). Retrying cannot
  help and would retry for ever, so nothing is journalled: close()/fsync()
  fails with the errno below and the log says why in one line. A permanent
  failure found where nobody can be told any more (a replay, or a commit at
  the last release that the close before it did not make) moves the entry to
  `<cache-dir>/failed/` instead (journal.py), never deleting it.
* conflict: the object changed on the server since the file was opened
  (412 on the conditional PUT). close() fails with ESTALE; the content is
  journalled and the replay keeps it under `<cache-dir>/conflicts/`.

SEMANTICS.md ("Durability") has the same table with what the writer sees and
where the data is.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pithosfs.client import errors as store
from pithosfs.client.types import ObjectStore

TRANSIENT = "transient"
PERMANENT = "permanent"
CONFLICT = "conflict"


@dataclass(frozen=True)
class Verdict:
    kind: str  # TRANSIENT | PERMANENT | CONFLICT
    errno: int  # what close()/fsync() answers
    why: str  # one line for the log and for `pithosfs status`

    @property
    def permanent(self) -> bool:
        return self.kind == PERMANENT


# (exception class, kind, errno, what it means). Checked in order with isinstance, so
# subclasses come before their bases. Statuses not listed: 5xx and no status at all
# (connection refused or reset, timeouts) are transient; any other 4xx is permanent.
TABLE: tuple[tuple[type[store.PithosError], str, int, str], ...] = (
    (store.MissingBlocks, TRANSIENT, errno.EIO, "blocks vanished from the server meanwhile"),
    (store.PreconditionFailed, CONFLICT, errno.ESTALE, "the object changed on the server"),
    (store.Unauthorized, TRANSIENT, errno.EACCES, "token refused (re-authentication pending)"),
    (store.Forbidden, PERMANENT, errno.EACCES, "no right to write there"),
    (store.BadRequest, PERMANENT, errno.EINVAL, "the server refused the request as invalid"),
    (store.NotFound, PERMANENT, errno.ENOENT, "the container is gone"),
    (store.Conflict, PERMANENT, errno.EIO, "the server refused the write (409)"),
    (store.LengthRequired, PERMANENT, errno.EINVAL, "the server wants a length"),
    (store.QuotaExceeded, PERMANENT, errno.EDQUOT, "over quota"),
    (store.TooLarge, PERMANENT, errno.EFBIG, "larger than the server accepts"),
    (store.InsufficientStorage, PERMANENT, errno.ENOSPC, "the server's disk is full"),
    (store.Unsupported, PERMANENT, errno.EOPNOTSUPP, "the server lacks what this needs"),
    (store.ServerError, TRANSIENT, errno.EIO, "server error"),
    (store.TransportError, TRANSIENT, errno.EIO, "server unreachable or silent"),
)

TRANSIENT_STATUSES = frozenset({0, 408, 429})


def classify(exc: BaseException, can_reauthenticate: bool = True) -> Verdict:
    """The verdict for a commit that raised `exc`.

    A 401 is transient only while a re-authentication can still succeed (the
    store re-reads its credentials on the next try); without that it is a
    refusal like 403. Errors that are not the server's (a full staging disk,
    a bug) are transient: the journal may still be able to keep the data.
    """
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, store.PithosError):
        for kind_cls, kind, number, meaning in TABLE:
            if isinstance(exc, kind_cls):
                if kind_cls is store.Unauthorized and not can_reauthenticate:
                    kind = PERMANENT
                return Verdict(kind, number, f"{meaning}: {detail}")
        status = int(getattr(exc, "status", 0) or 0)
        if status in TRANSIENT_STATUSES or status >= 500:
            return Verdict(TRANSIENT, errno.EIO, f"server error: {detail}")
        return Verdict(PERMANENT, errno.EIO, f"refused by the server: {detail}")
    if isinstance(exc, OSError) and exc.errno in (errno.EFBIG, errno.EINVAL):
        return Verdict(PERMANENT, exc.errno, detail)  # a limit checked before sending
    return Verdict(TRANSIENT, errno.EIO, f"{type(exc).__name__}: {detail}")


def can_reauthenticate(store_obj: ObjectStore) -> bool:
    """Whether the store can fetch a new token by itself (a 401 may then pass)."""
    return bool(store_obj.can_reauthenticate())
