"""`pithosfs purge PATH...`: drop the history of files or containers on a live mount.

It sets the `user.pithos.purge` extended attribute (xattrs_policy.py), so the
mount that serves PATH does the work with its own credentials and caches; the
server then frees the blocks no version names any more.
"""

from __future__ import annotations

import errno
import os

import click

from pithosfs.fs.xattrs_policy import PURGE

_HINTS = {
    errno.ENOTSUP: "not a file, a container or a mount root of pithosfs",
    errno.EOPNOTSUPP: "not a file, a container or a mount root of pithosfs",
    errno.EACCES: "permission denied (only the account's owner may purge)",
    errno.ENOENT: "no such file or directory",
}


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=False))
def purge(paths: tuple[str, ...]) -> None:
    """Delete for good the older versions of each file, or of every file in a
    container directory (or under the mount root); current versions stay."""
    failed = False
    for path in paths:
        try:
            os.setxattr(path, PURGE, b"history")
        except OSError as exc:
            failed = True
            why = _HINTS.get(exc.errno or 0, exc.strerror or str(exc))
            click.echo(f"pithosfs: cannot purge {path}: {why}", err=True)
            continue
        click.echo(f"pithosfs: purged the history of {path}")
    if failed:
        raise SystemExit(1)
