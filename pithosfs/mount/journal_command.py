"""`pithosfs journal list | retry ID | save ID FILE | discard ID`: uploads the server refused.

The journal keeps what a mount could not upload yet; entries the server
refused for good (no right to write, over quota, bad request...) wait in
`<cache-dir>/failed/` and are never retried or deleted by themselves. These
commands work on the cache dir directly, with or without a mount
(journal_areas.py).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from pithosfs.fs.options import default_cache_dir

_CACHE_DIR = click.option(
    "--cache-dir", type=click.Path(file_okay=False, path_type=Path),
    help="The mount's cache dir [default: ~/.cache/pithosfs].",
)  # fmt: skip


def _root(cache_dir: Path | None) -> Path:
    return (cache_dir or default_cache_dir()).expanduser()


def _run(action: object, *args: object) -> str:
    from pithosfs.fs.writeback.journal_areas import AreaError

    try:
        return str(action(*args))  # type: ignore[operator]
    except (AreaError, OSError) as exc:
        click.echo(f"pithosfs: {exc}", err=True)
        sys.exit(1)


@click.group()
def journal() -> None:
    """Uploads the server refused for good: list them; retry, save or discard one."""


@journal.command("list")
@_CACHE_DIR
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def list_(cache_dir: Path | None, as_json: bool) -> None:
    """Pending (journalled) and refused (failed) uploads under the cache dir."""
    from pithosfs.fs.writeback import journal_areas
    from pithosfs.mount import status_view

    root = _root(cache_dir)
    pending, refused = journal_areas.journalled(root), journal_areas.failed(root)
    if as_json:
        click.echo(json.dumps({"journal": pending, "failed": refused}, indent=2))
        return
    click.echo(f"{root}: {len(pending)} upload(s) waiting in the journal")
    for u in pending:
        click.echo(status_view.upload_line(u))
    for line in status_view.failed_lines(refused):
        click.echo(line)
    for f in refused:
        click.echo(f"  {f['id']}  refused {time.ctime(f['time'])}")


@journal.command()
@click.argument("ident", metavar="ID")
@_CACHE_DIR
def retry(ident: str, cache_dir: Path | None) -> None:
    """Put a refused upload back in the journal (its mount retries it within seconds)."""
    from pithosfs.fs.writeback import journal_areas

    path = _run(journal_areas.retry, _root(cache_dir), ident)
    click.echo(f"pithosfs: {path} is back in the journal; a mount of its account uploads it")


@journal.command()
@click.argument("ident", metavar="ID")
@click.argument("dest", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@_CACHE_DIR
def save(ident: str, dest: Path, cache_dir: Path | None) -> None:
    """Copy a refused upload's content to FILE (the entry stays)."""
    from pithosfs.fs.writeback import journal_areas

    path = _run(journal_areas.save, _root(cache_dir), ident, dest)
    click.echo(f"pithosfs: {path} saved to {dest}")


@journal.command()
@click.argument("ident", metavar="ID")
@_CACHE_DIR
def discard(ident: str, cache_dir: Path | None) -> None:
    """Delete a refused upload for good."""
    from pithosfs.fs.writeback import journal_areas

    path = _run(journal_areas.discard, _root(cache_dir), ident)
    click.echo(f"pithosfs: {path} discarded")
