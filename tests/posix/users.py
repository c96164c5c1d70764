"""Running one system call as another user: a forked child with that uid, gid and groups.

What pjdfstest's `-u`/`-g` do, in Python: the kernel checks permissions on a
`default_permissions` mount, so the cases run as unprivileged users are real
system calls of a process with those credentials.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterable
from typing import Any


def run_as(
    uid: int, gid: int, fn: Callable[..., Any], *args: Any,
    groups: Iterable[int] = (), umask: int | None = None, cwd: str | os.PathLike[str] | None = None,
) -> tuple[int, Any]:  # fmt: skip
    """(0, fn(*args)) run in a child with these credentials, or (errno, None) if it failed.

    The child does nothing but switch credentials, call `fn` and report back, so
    forking the (threaded) test process is safe. `cwd` is entered before the
    switch, so relative names work below directories the user could not walk to
    (pytest's private temporary directories).
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        try:
            os.close(read_end)
            if cwd is not None:
                os.chdir(cwd)
            os.setgroups([gid, *groups])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            if umask is not None:
                os.umask(umask)
            payload = pickle.dumps((0, fn(*args)))
        except OSError as exc:
            payload = pickle.dumps((exc.errno or -1, None))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent as a failure
            payload = pickle.dumps((-1, repr(exc)))
        os.write(write_end, payload)
        os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    code, result = pickle.loads(b"".join(chunks))
    if code == -1:
        raise AssertionError(f"the child failed: {result}")
    return code, result


def errno_as(uid: int, gid: int, fn: Callable[..., Any], *args: Any, **kw: Any) -> int:
    """Only the errno (0 for success) of `fn(*args)` run as uid/gid."""
    return run_as(uid, gid, fn, *args, **kw)[0]
