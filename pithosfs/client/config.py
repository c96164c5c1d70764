"""Where the client's URL and token come from.

Precedence, highest first (each item is taken from the first source that has it):

1. Explicit arguments (command-line flags: `url`, `token`, `cloud`).
2. Environment: `PITHOS_URL`, `PITHOS_TOKEN`, `PITHOS_CLOUD` (`PITHOSFS_TOKEN`, an older
   name of `PITHOS_TOKEN`, is still read, with a warning).
3. `~/.kamakirc` (or `$KAMAKIRC`): the cloud named by the flag, then by
   `PITHOS_CLOUD`, then by `[global] default_cloud`, then the only cloud if
   there is exactly one. A cloud section looks like::

       [global]
       default_cloud = okeanos

       [cloud "okeanos"]
       url = https://accounts.okeanos.grnet.gr/identity/v2.0
       token = ...

A URL is an identity URL (POST {url}/tokens) unless it looks like a storage
URL: it contains `/object-store/`, or its path ends in `/v1/<account>`
(plain Swift `X-Storage-Url`). `storage_url=True` forces the storage form.

Swift clusters (docs/swift.md) are reached with a user name and key instead of a
token: an auth URL ending in `/auth/v1.0` (tempauth/swauth), `/v3` (Keystone v3)
or `/v2.0` with a user and key but no token (Keystone v2.0 password) makes
`load_config` log in and return the storage URL and token it was given. The user
and key come from the same tiers: arguments `auth_user`/`auth_key`, environment
`PITHOS_AUTH_USER`/`PITHOS_AUTH_KEY`/`PITHOS_AUTH_PROJECT`, the cloud's `user`,
`key` (or `password`), `project` (and for Keystone v3 `user_domain`,
`project_domain`, default "Default") keys; and last, when nothing pithos-specific
names a URL, the standard Swift and OpenStack variables (`ST_AUTH`/`ST_USER`/
`ST_KEY`, `OS_AUTH_URL`/`OS_USERNAME`/`OS_PASSWORD`/`OS_PROJECT_NAME`). Calling
`load_config` again logs in again: that is how a mount renews an expired token.
"""

from __future__ import annotations

import configparser
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_CLOUD_SECTION = re.compile(r'^cloud\s+"(?P<name>[^"]+)"$')
_STORAGE_PATH = re.compile(r"/v1(\.0)?/[^/]+/?$")


class ConfigError(ValueError):
    """No usable URL/token, or an unknown cloud name."""


@dataclass(frozen=True)
class CloudConfig:
    url: str
    token: str
    is_storage_url: bool
    cloud: str = ""  # the kamakirc cloud used, "" if none
    source: str = ""  # human-readable origin, for `pithosfs status`
    auth_url: str = ""  # the login URL when the token came from a user/key login
    auth_user: str = ""
    auth_kind: str = ""  # identity.login_kind: "tempauth", "keystone-v3", "keystone-v2"


def looks_like_storage_url(url: str) -> bool:
    return "/object-store/" in url or bool(_STORAGE_PATH.search(url))


def read_kamakirc(path: Path) -> tuple[str, dict[str, dict[str, str]]]:
    """(default cloud, {cloud name: {key: value}}) from a kamakirc file; empty if absent."""
    if not path.is_file():
        return "", {}
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    default = parser.get("global", "default_cloud", fallback="").strip()
    clouds: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        match = _CLOUD_SECTION.match(section.strip())
        if match:
            clouds[match.group("name")] = {k: v.strip() for k, v in parser.items(section)}
    return default, clouds


def default_kamakirc(env: Mapping[str, str]) -> Path:
    return Path(env.get("KAMAKIRC") or Path.home() / ".kamakirc")


TOKEN_ENV = "PITHOS_TOKEN"
DEPRECATED_TOKEN_ENV = "PITHOSFS_TOKEN"  # an older name, still read with a warning
_warned: set[str] = set()


def env_token(env: Mapping[str, str]) -> str:
    """The token from the environment: PITHOS_TOKEN, else the deprecated PITHOSFS_TOKEN."""
    token = env.get(TOKEN_ENV) or ""
    old = env.get(DEPRECATED_TOKEN_ENV) or ""
    if old and not token:
        if DEPRECATED_TOKEN_ENV not in _warned:
            _warned.add(DEPRECATED_TOKEN_ENV)
            log.warning(
                "pithosfs: warning: %s is deprecated; set %s instead",
                DEPRECATED_TOKEN_ENV, TOKEN_ENV,
            )  # fmt: skip
        return old
    return token


_FIELDS = ("url", "token", "user", "key", "project", "user_domain", "project_domain")
_PITHOS_ENV = {
    "url": "PITHOS_URL", "token": "PITHOS_TOKEN", "user": "PITHOS_AUTH_USER",
    "key": "PITHOS_AUTH_KEY", "project": "PITHOS_AUTH_PROJECT",
}  # fmt: skip
# The variables python-swiftclient and the OpenStack CLIs read, as a last resort.
_STANDARD_ENV = (
    {"url": "ST_AUTH", "user": "ST_USER", "key": "ST_KEY"},
    {"url": "OS_AUTH_URL", "user": "OS_USERNAME", "key": "OS_PASSWORD",
     "project": "OS_PROJECT_NAME", "user_domain": "OS_USER_DOMAIN_NAME",
     "project_domain": "OS_PROJECT_DOMAIN_NAME"},
)  # fmt: skip


def needs_login(url: str, token: str, user: str, key: str) -> bool:
    """Whether `url` is a login URL to use with a user and key (rather than a token)."""
    from pithosfs.client.identity import login_kind

    kind = login_kind(url)
    if kind == "keystone-v2":  # also Astakos' identity URL: a token there means the token flow
        return bool(user and key and not token)
    return bool(kind)


def _complete(got: Mapping[str, str]) -> bool:
    url, token, user, key = got["url"], got["token"], got["user"], got["key"]
    if not url:
        return False
    return bool(user and key) if needs_login(url, token, user, key) else bool(token)


def load_config(
    url: str | None = None,
    token: str | None = None,
    cloud: str | None = None,
    storage_url: bool | None = None,
    kamakirc: Path | None = None,
    env: Mapping[str, str] | None = None,
    auth_user: str | None = None,
    auth_key: str | None = None,
    login: bool = True,
) -> CloudConfig:
    """Resolve URL and token by the precedence in the module docstring.

    With a login URL, logs in (network) unless `login=False`, which returns the
    auth URL with an empty token (for describing a configuration offline).
    """
    env = os.environ if env is None else env
    rc_path = kamakirc or default_kamakirc(env)
    wanted_cloud = cloud or env.get("PITHOS_CLOUD") or ""
    got = dict.fromkeys(_FIELDS, "")
    sources: list[str] = []

    def take(values: Mapping[str, str | None], source: str) -> None:
        used = False
        for name in _FIELDS:
            if not got[name] and values.get(name):
                got[name] = str(values[name])
                used = True
        if used:
            sources.append(source)

    take({"url": url, "token": token, "user": auth_user, "key": auth_key}, "arguments")
    take({**{k: env.get(v) for k, v in _PITHOS_ENV.items()}, "token": env_token(env)}, "environment")
    used_cloud = ""
    if not _complete(got):
        default, clouds = read_kamakirc(rc_path)
        name = wanted_cloud or default or (next(iter(clouds)) if len(clouds) == 1 else "")
        if wanted_cloud and wanted_cloud not in clouds:
            raise ConfigError(f"cloud {wanted_cloud!r} not found in {rc_path}")
        if name and name in clouds:
            used_cloud = name
            section = dict(clouds[name])
            section.setdefault("key", section.get("password", ""))
            take(section, f"{rc_path} [cloud {name!r}]")
    for names in _STANDARD_ENV:
        if _complete(got) or (got["url"] and got["url"] != env.get(names["url"])):
            break
        take({k: env.get(v) for k, v in names.items()}, "environment (" + names["url"] + ")")
    if not _complete(got):
        if got["url"] and needs_login(got["url"], got["token"], got["user"], got["key"]):
            raise ConfigError(
                f"{got['url']} is a login URL: give a user and key (PITHOS_AUTH_USER/"
                f"PITHOS_AUTH_KEY, or user/key in the kamakirc cloud {used_cloud or ''})"
            )
        raise ConfigError(
            "no Pithos URL/token: pass --url/--token, set PITHOS_URL/PITHOS_TOKEN, "
            f'or add a [cloud "name"] section to {rc_path}'
        )
    source = ", ".join(sources)
    final_url, final_token = got["url"], got["token"]
    if needs_login(final_url, final_token, got["user"], got["key"]):
        return _logged_in(got, used_cloud, source, login)
    is_storage = looks_like_storage_url(final_url) if storage_url is None else storage_url
    return CloudConfig(final_url, final_token, is_storage, used_cloud, source)


def _logged_in(got: Mapping[str, str], cloud: str, source: str, login: bool) -> CloudConfig:
    from pithosfs.client import identity

    kind = identity.login_kind(got["url"])
    auth = {"auth_url": got["url"], "auth_user": got["user"], "auth_kind": kind}
    if not login:
        return CloudConfig(got["url"], "", False, cloud, source, **auth)
    session = identity.login(
        got["url"], got["user"], got["key"], got["project"],
        user_domain=got["user_domain"] or "Default",  # Keystone's default domain, by name
        project_domain=got["project_domain"] or "Default",
    )  # fmt: skip
    log.info("logged in at %s as %s (%s)", got["url"], got["user"], kind)
    return CloudConfig(session.storage_url, session.token, True, cloud, source, **auth)
