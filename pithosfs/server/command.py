"""`pithosfs serve`: run the embedded Pithos+ server in the foreground."""

from __future__ import annotations

import json
import logging
import secrets
import signal
import sys
import uuid as uuidlib
from pathlib import Path
from types import FrameType

import click

from pithosfs.protocol import DEFAULT_BLOCK_SIZE

log = logging.getLogger(__name__)

USERS_FILE = "users.json"
DEFAULT_DATA_DIR = "~/.local/share/pithosfs/server"


def _users_option(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, str]]:
    return [parse_user(v) for v in values]


def parse_user(value: str) -> tuple[str, str]:
    uuid, sep, token = value.partition("=")
    if not sep or not uuid or not token:
        raise click.BadParameter(f"expected UUID=TOKEN, got {value!r}")
    return uuid, token


def load_or_create_users(data_dir: Path) -> dict[str, str]:
    """The users kept in the data dir; creates one user + token on first start."""
    path = data_dir / USERS_FILE
    if path.exists():
        users = json.loads(path.read_text())
        if isinstance(users, dict) and users:
            return {str(k): str(v) for k, v in users.items()}
    users = {str(uuidlib.uuid4()): secrets.token_urlsafe(24)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(users, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)
    return users


@click.command()
@click.option(
    "--data-dir",
    default=DEFAULT_DATA_DIR,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where blocks, the database and users live.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="UUID=TOKEN",
    envvar="PITHOSFS_SERVE_USERS",  # whitespace-separated; keeps tokens out of argv (ps)
    callback=_users_option,
    help="A user and its token (repeatable). Without it, a stored or new user is used.",
)
@click.option(
    "--block-size",
    default=DEFAULT_BLOCK_SIZE,
    show_default=True,
    type=click.IntRange(min=512),
    help="Block size in bytes (the reference default is 4 MiB).",
)
@click.option(
    "--strict",
    is_flag=True,
    envvar="PITHOSFS_SERVE_STRICT",
    help="Answer exactly as the reference Pithos+ does: no extension offered or advertised.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log requests and debug details.")
def serve(
    data_dir: str,
    host: str,
    port: int,
    users: list[tuple[str, str]],
    block_size: int,
    strict: bool,
    verbose: bool,
) -> None:
    """Serve a Pithos+ object store (and its identity endpoint) from DATA_DIR."""
    from pithosfs.config_cmd import mask_token
    from pithosfs.server import fsck
    from pithosfs.server.embedded import EmbeddedServer

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from pithosfs.server.backend import prepare_data_dir

    root = Path(data_dir).expanduser()
    prepare_data_dir(root)  # before the users file and the lock go in: fresh or not
    table = dict(users) if users else load_or_create_users(root)
    lock_fd, alone = fsck.hold_data_dir(root)  # held (open) until the process exits
    # Alone in the dir: remove what a crash left (temp files, unreferenced blocks);
    # sharing it with a running server: report only (its uploads may be in flight).
    fsck.check(root, block_size=block_size, repair=alone)
    fsck.share(lock_fd)
    server = EmbeddedServer(
        root, host=host, port=port, users=table, block_size=block_size, strict=strict
    )
    try:
        server.start()
    except OSError as exc:
        server.stop()
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    click.echo(f"Pithos+ server listening on {server.base_url}")
    click.echo(f"Identity URL: {server.identity_url}")
    click.echo(f"Data dir:     {root}")
    click.echo(f"Block size:   {block_size}")
    if strict:
        click.echo("Strict:       answering as the reference Pithos+ (no extensions)")
    for uuid, token in table.items():
        # A token the caller handed in (--user or PITHOSFS_SERVE_USERS, as the mount's
        # launcher does) is not echoed: this output often goes to a log file.
        shown = mask_token(token) if users else token
        click.echo(f"User {uuid} token {shown}  storage {server.storage_url(uuid)}")
    sys.stdout.flush()  # whoever started us may be waiting for these lines on a pipe

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
