"""`pithosfs renew-token MOUNTPOINT`: hand a live mount a new token, without a remount.

A mount given `--token` keeps that token: when it expires or is revoked, every
request gets 401 and re-reading the configuration finds the same token. The new
token travels over the mount's control socket (control.py: 0600, answering only
its own user), never on a command line: it is read from standard input (or
asked for, hidden, on a terminal).

The mount checks it against its own account first (a HEAD of the account with
the new token: a token the server refuses, or one for another account, is
refused and the old one stays), then sends it with every request from then on,
shared accounts and the image service included; uploads kept in the journal
while the token was refused go up at their next retry.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 10.0


def renewer(store: Any) -> Any:
    """The mount side: (token) -> the answer the control channel sends back."""

    def renew(token: str) -> dict[str, Any]:
        from pithosfs import reasons
        from pithosfs.client.errors import PithosError
        from pithosfs.client.pithos import PithosClient
        from pithosfs.client.transport import RetryPolicy

        probe_policy = RetryPolicy(
            attempts=1, connect_timeout=PROBE_TIMEOUT, read_timeout=PROBE_TIMEOUT
        )
        probe = PithosClient.from_storage_url(store.storage_url, token, retry=probe_policy)
        try:
            probe.account_info()
        except PithosError as exc:
            return {"error": f"token not taken, the old one stays: {reasons.refusal(exc)}"}
        finally:
            probe.close()
        store.renew_token(token)
        log.info("token renewed for %s", store.storage_url)
        return {"ok": True, "account": store.account}

    return renew


def _read_token() -> str:
    if sys.stdin.isatty():
        return str(click.prompt("New token", hide_input=True)).strip()
    return sys.stdin.readline().strip()


@click.command(name="renew-token")
@click.argument("mountpoint", type=click.Path(path_type=Path))
def renew_token(mountpoint: Path) -> None:
    """Hand the mount on MOUNTPOINT a new token (read from standard input).

    For a mount whose token expired or was revoked: it goes on with the new
    token, without an unmount. The token never appears on a command line.
    """
    from pithosfs.mount import control, launcher
    from pithosfs.mount.command import fail
    from pithosfs.processes import pid_alive

    mountpoint = mountpoint.expanduser().absolute()
    state = launcher.read_state(mountpoint) or {}
    pid = int(state.get("pid", 0))
    if not state.get("control") or not (pid and pid_alive(pid)):
        fail(f"no live pithosfs mount on {mountpoint}")
    token = _read_token()
    if not token:
        fail("no token on standard input")
    try:
        control.query(state["control"], "renew-token", argument=token)
    except OSError as exc:
        fail(f"{mountpoint}: {exc}")
    click.echo(f"pithosfs: {mountpoint} now uses the new token")
