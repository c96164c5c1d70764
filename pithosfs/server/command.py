"""`pithosfs serve`: run the embedded Pithos+ server in the foreground."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sys
import time
import uuid as uuidlib
from pathlib import Path
from types import FrameType

import click

from pithosfs.processes import pid_alive
from pithosfs.protocol import DEFAULT_BLOCK_SIZE

log = logging.getLogger(__name__)

USERS_FILE = "users.json"
USERS_ENV = "PITHOSFS_SERVE_USERS"
DEFAULT_DATA_DIR = "~/.local/share/pithosfs/server"
DEFAULT_CONTAINER = "pithos"  # what Synnefo gives each new account, and kamaki's default
STOP_TIMEOUT = 30.0  # seconds a stopping server gets to finish its requests


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


def read_users_file(path: Path) -> list[tuple[str, str]]:
    """Users from a file: a JSON object {"UUID": "TOKEN", ...}, or UUID=TOKEN lines
    (blank lines and lines starting with # are skipped)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}") from None
    if text.lstrip().startswith("{"):
        try:
            table = json.loads(text)
        except ValueError as exc:
            raise click.BadParameter(f"{path} is not a JSON object: {exc}") from None
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise click.BadParameter(f'{path}: expected {{"UUID": "TOKEN", ...}}')
        return [parse_user(f"{uuid}={token}") for uuid, token in table.items()]
    lines = (ln.strip() for ln in text.splitlines())
    return [parse_user(ln) for ln in lines if ln and not ln.startswith("#")]


def give_default_containers(backend: object, accounts: list[str], container: str) -> None:
    for account in accounts:
        if backend.give_default_container(account, container):  # type: ignore[attr-defined]
            log.info("new account %s: container %r created", account, container)


def stop_servers(data_dir: Path, timeout: float = STOP_TIMEOUT) -> list[int]:
    """SIGTERM every server running on `data_dir` (found by the lock file each holds
    open), then wait for them to exit; the pids that were stopped."""
    from pithosfs.processes import holders
    from pithosfs.server.fsck import LOCK_FILE

    lock = data_dir / LOCK_FILE
    pids = [h.pid for h in holders(lock)] if lock.exists() else []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout
    for pid in pids:
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            log.warning("server %d did not stop within %.0f s: killing it", pid, timeout)
            os.kill(pid, signal.SIGKILL)
    return pids


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
    "--users-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help='Users and their tokens: a JSON object {"UUID": "TOKEN"} or UUID=TOKEN lines.',
)
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="UUID=TOKEN",
    envvar=USERS_ENV,  # whitespace-separated; keeps tokens out of argv (ps)
    callback=_users_option,
    help=f"A user and its token (repeatable; prefer ${USERS_ENV} or --users-file: "
    "a command line is visible to every local user).",
)
@click.option(
    "--default-container",
    default=DEFAULT_CONTAINER,
    show_default=True,
    metavar="NAME",
    help='Container each new account gets, as Synnefo clouds give "pithos" ("" for none).',
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
@click.option(
    "--stop",
    is_flag=True,
    help="Stop the server(s) running on DATA_DIR (by default the embedded server that "
    "`pithosfs mount` starts), then exit.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    data_dir: str,
    host: str,
    port: int,
    users_file: Path | None,
    users: list[tuple[str, str]],
    default_container: str,
    block_size: int,
    strict: bool,
    verbose: bool,
    stop: bool,
) -> None:
    """Serve a Pithos+ object store (and its identity endpoint) from DATA_DIR."""
    from pithosfs.server import fsck
    from pithosfs.server.embedded import EmbeddedServer
    from pithosfs.token_mask import mask_token

    # A mount that started this server may have had these blocked (stop_signals.py).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    root = Path(data_dir).expanduser()
    if stop:
        _stop(root)
        return
    if users and ctx.get_parameter_source("users") is click.core.ParameterSource.COMMANDLINE:
        click.echo(
            f"pithosfs: warning: --user puts tokens in the process list (ps); use "
            f"--users-file FILE or ${USERS_ENV}",
            err=True,
        )
    handed = [*(read_users_file(users_file) if users_file else []), *users]
    from pithosfs.server.backend import prepare_data_dir

    prepare_data_dir(root)  # before the users file and the lock go in: fresh or not
    table = dict(handed) if handed else load_or_create_users(root)
    lock_fd, alone = fsck.hold_data_dir(root)  # held (open) until the process exits
    # Alone in the dir: remove what a crash left (temp files, unreferenced blocks);
    # sharing it with a running server: report only (its uploads may be in flight).
    fsck.check(root, block_size=block_size, repair=alone)
    fsck.share(lock_fd)
    from pithosfs import memory_trim

    memory_trim.start(arenas=2)  # freed heap back to the system: RSS stays flat
    server = EmbeddedServer(
        root, host=host, port=port, users=table, block_size=block_size, strict=strict
    )
    server.backend.collector.lock_fd = lock_fd  # collects only while no other server shares root
    if default_container:
        give_default_containers(server.backend, list(table), default_container)
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
        # A token the caller handed in (a file, the environment, --user) is not echoed:
        # this output often goes to a log file.
        shown = mask_token(token) if handed else token
        click.echo(f"User {uuid} token {shown}  storage {server.storage_url(uuid)}")
    sys.stdout.flush()  # whoever started us may be waiting for these lines on a pipe

    def _stop_on(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop_on)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _stop(root: Path) -> None:
    """`serve --stop`: refuses while mounts use the embedded server, else stops the servers."""
    from pithosfs import embedded_leases

    if root.resolve() == embedded_leases.embedded_data_dir().resolve():
        users = embedded_leases.embedded_users()
        if users:
            click.echo(
                f"pithosfs: the embedded server is in use by the mount(s) on "
                f"{', '.join(users)}: unmount them (`pithosfs umount`; the last one stops it)",
                err=True,
            )
            sys.exit(1)
    stopped = stop_servers(root)
    if stopped:
        click.echo(f"stopped the server on {root} (pid {', '.join(map(str, stopped))})")
    else:
        click.echo(f"no server was running on {root}")
