"""`pithosfs config`: which account a mount would use, and where each setting came from.

Resolves the same precedence as `pithosfs mount` (flags, then PITHOS_* environment,
then ~/.kamakirc; see pithosfs.client.config), asks the server who the token belongs
to, and prints the cloud, user UUID and endpoints without mounting anything. With no
credentials anywhere it describes the embedded server instead (without starting it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypedDict

import click

from pithosfs.client.config import (
    DEPRECATED_TOKEN_ENV,
    TOKEN_ENV,
    CloudConfig,
    ConfigError,
    default_kamakirc,
    load_config,
    read_kamakirc,
)
from pithosfs.token_mask import mask_token

PROBE_TIMEOUT = 10.0  # seconds; `config` answers quickly or says why not


@dataclass(frozen=True)
class Resolved:
    """What a mount would use; every field is printable as is (no secrets)."""

    server: str  # "Pithos+", "plain Swift" or "embedded"
    cloud: str
    cloud_from: str
    url: str
    url_from: str
    token: str  # masked
    token_from: str
    user: str
    object_store: str
    images: str
    containers: int = -1  # -1: not asked (embedded server not running)
    bytes_used: int = -1


def _first_env(env: Mapping[str, str], *names: str) -> str:
    return next((name for name in names if env.get(name)), "")


def origins(
    url: str | None, token: str | None, cloud: str | None, cfg: CloudConfig,
    env: Mapping[str, str], rc_path: Path,
) -> tuple[str, str, str]:  # fmt: skip
    """(cloud, url, token) origins, by the precedence load_config applies."""
    in_rc = f'{rc_path} [cloud "{cfg.cloud}"]' if cfg.cloud else ""
    # Last tier: the Swift/OpenStack variables (only when nothing else named a URL).
    standard = _first_env(env, "ST_AUTH", "OS_AUTH_URL")
    url_from = "--url" if url else _first_env(env, "PITHOS_URL") or in_rc or standard
    if cfg.auth_url:  # the token came from a user/key login at that URL
        token_from = f"login as {cfg.auth_user!r} ({cfg.auth_kind})"
    else:
        token_from = "--token" if token else _first_env(env, TOKEN_ENV, DEPRECATED_TOKEN_ENV) or in_rc
    if not cfg.cloud:
        cloud_from = "none: URL and credentials given directly"
    elif cloud:
        cloud_from = "--cloud"
    elif env.get("PITHOS_CLOUD"):
        cloud_from = "PITHOS_CLOUD"
    elif read_kamakirc(rc_path)[0] == cfg.cloud:
        cloud_from = f"[global] default_cloud of {rc_path}"
    else:
        cloud_from = f"the only cloud in {rc_path}"
    return cloud_from, url_from, token_from


def _probe_account(storage_url: str, token: str) -> tuple[str, int, int]:
    """(server kind, containers, bytes used) from one HEAD on the account."""
    from pithosfs.client.errors import PithosError
    from pithosfs.client.pithos import PithosClient
    from pithosfs.client.transport import RetryPolicy

    probe = RetryPolicy(attempts=1, connect_timeout=PROBE_TIMEOUT, read_timeout=PROBE_TIMEOUT)
    client = PithosClient.from_storage_url(storage_url, token, retry=probe)
    try:
        headers = client.account_headers()
        info = client.account_info()
    except PithosError as exc:
        exc.path = storage_url  # the transport names paths relative to it
        raise
    finally:
        client.close()
    # Pithos+ reports the account's quota policy; plain Swift has no such header.
    kind = "Pithos+" if "X-Account-Policy-Quota" in headers else "plain Swift"
    return kind, info.container_count, info.bytes_used


def resolve_account(
    url: str | None, token: str | None, cloud: str | None, env: Mapping[str, str]
) -> Resolved:
    """The configured account, checked against its server; raises ConfigError/PithosError."""
    from pithosfs.client.identity import authenticate

    rc_path = default_kamakirc(env)
    cfg = load_config(url=url, token=token, cloud=cloud, env=env)
    cloud_from, url_from, token_from = origins(url, token, cloud, cfg, env, rc_path)
    if cfg.is_storage_url:
        store, images = cfg.url.rstrip("/"), ""
        user = store.rsplit("/", 1)[-1]
    else:
        eps = authenticate(cfg.url, cfg.token, timeout=PROBE_TIMEOUT)
        store, images, user = eps.storage_url, eps.image_url, eps.user_uuid
    kind, containers, used = _probe_account(store, cfg.token)
    return Resolved(
        kind, cfg.cloud or "-", cloud_from, cfg.auth_url or cfg.url, url_from, mask_token(cfg.token),
        token_from, user, store, images or "-", containers, used,
    )  # fmt: skip


class _EmbeddedSource(TypedDict):
    """The fields of Resolved that say where the embedded server's settings come from."""

    cloud: str
    cloud_from: str
    token_from: str


def resolve_embedded() -> Resolved:
    """The embedded server a credential-less mount uses (read from its state, not started)."""
    from pithosfs.client.errors import PithosError
    from pithosfs.mount import launcher

    home = launcher.data_home()
    why = "no --url/--token/--cloud, PITHOS_* or kamakirc cloud"
    account = launcher.recorded_embedded()
    common = _EmbeddedSource(
        cloud="-", cloud_from=why, token_from=str(launcher.embedded_state_path())
    )
    if account is None:
        return Resolved(
            "embedded", url=f"(not started; a mount starts it with its data in {home})",
            url_from=why, token="-", user="(created at the first mount)", object_store="-",
            images="-", **common,
        )  # fmt: skip
    try:
        containers, used = _probe_account(account.storage_url, account.token)[1:]
        running = f"running, pid {account.pid or '?'}"
    except PithosError:
        running, containers, used = "not running; a mount restarts it", -1, -1
    return Resolved(
        "embedded", url=f"{account.identity_url} ({running})", url_from=why,
        token=mask_token(account.token), user=account.user, object_store=account.storage_url,
        images=account.image_url, containers=containers, bytes_used=used, **common,
    )  # fmt: skip


def render(r: Resolved) -> str:
    rows = [
        ("cloud", f"{r.cloud}  ({r.cloud_from})"),
        ("url", f"{r.url}  ({r.url_from})"),
        ("token", f"{r.token}  ({r.token_from})"),
        ("server", r.server),
        ("user", r.user),
        ("object-store", r.object_store),
        ("images", r.images),
    ]
    if r.containers >= 0:
        rows.append(("account", f"containers {r.containers}, bytes used {r.bytes_used}"))
    return "\n".join(f"{key + ':':<14}{value}" for key, value in rows)


HELP = """Show the account a mount would use, without mounting.

\b
Resolves the cloud, URL and token exactly as `pithosfs mount` does (flags,
then PITHOS_URL/PITHOS_TOKEN/PITHOS_CLOUD, then ~/.kamakirc or $KAMAKIRC),
asks the server who the token belongs to, and prints where each setting came
from, the user UUID, and the object-store and image endpoints. The token is
shown masked. With no credentials anywhere it describes the embedded server
(without starting it).

\b
Examples:
  pithosfs config                      # the default cloud of ~/.kamakirc
  pithosfs config --cloud okeanos      # one [cloud "okeanos"] of ~/.kamakirc
  PITHOS_TOKEN=... pithosfs config --url https://accounts.example.org/identity/v2.0
  pithosfs config --json | jq -r .user

\b
Exit status:
  0  resolved and the server accepted the token
  1  no usable configuration, unknown cloud, bad token, or server unreachable
     (one line on stderr starting with "pithosfs: ")
"""


@click.command(help=HELP)
@click.option("--cloud", help='A [cloud "NAME"] of ~/.kamakirc (or $PITHOS_CLOUD).')
@click.option("--url", help="Identity (Astakos/Keystone v2.0) URL, or a storage URL.")
@click.option("--token", help="The token (prefer $PITHOS_TOKEN: argv is visible to ps).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of lines.")
def config(cloud: str | None, url: str | None, token: str | None, as_json: bool) -> None:
    from pithosfs import reasons
    from pithosfs.client.errors import PithosError
    from pithosfs.mount.command import credentials_named, fail

    env = dict(os.environ)
    try:
        try:
            resolved = resolve_account(url, token, cloud, env)
        except ConfigError:
            if credentials_named(url, token, cloud):
                raise
            resolved = resolve_embedded()
    except ConfigError as exc:
        fail(str(exc))
    except PithosError as exc:
        fail(reasons.refusal(exc))
    click.echo(json.dumps(asdict(resolved), indent=2) if as_json else render(resolved))
