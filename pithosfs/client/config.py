"""Where the client's URL and token come from.

Precedence, highest first (each item is taken from the first source that has it):

1. Explicit arguments (command-line flags: `url`, `token`, `cloud`).
2. Environment: `PITHOS_URL`, `PITHOS_TOKEN`, `PITHOS_CLOUD`.
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


def load_config(
    url: str | None = None,
    token: str | None = None,
    cloud: str | None = None,
    storage_url: bool | None = None,
    kamakirc: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> CloudConfig:
    """Resolve URL and token by the precedence in the module docstring."""
    env = os.environ if env is None else env
    rc_path = kamakirc or default_kamakirc(env)
    wanted_cloud = cloud or env.get("PITHOS_CLOUD") or ""
    final_url = url or env.get("PITHOS_URL") or ""
    final_token = token or env.get("PITHOS_TOKEN") or ""
    sources = []
    if url or token:
        sources.append("arguments")
    if (not url and env.get("PITHOS_URL")) or (not token and env.get("PITHOS_TOKEN")):
        sources.append("environment")
    used_cloud = ""
    if not (final_url and final_token):
        default, clouds = read_kamakirc(rc_path)
        name = wanted_cloud or default or (next(iter(clouds)) if len(clouds) == 1 else "")
        if wanted_cloud and wanted_cloud not in clouds:
            raise ConfigError(f"cloud {wanted_cloud!r} not found in {rc_path}")
        if name and name in clouds:
            used_cloud = name
            final_url = final_url or clouds[name].get("url", "")
            final_token = final_token or clouds[name].get("token", "")
            sources.append(f"{rc_path} [cloud {name!r}]")
    if not final_url or not final_token:
        raise ConfigError(
            "no Pithos URL/token: pass --url/--token, set PITHOS_URL/PITHOS_TOKEN, "
            f'or add a [cloud "name"] section to {rc_path}'
        )
    is_storage = looks_like_storage_url(final_url) if storage_url is None else storage_url
    return CloudConfig(final_url, final_token, is_storage, used_cloud, ", ".join(sources))
