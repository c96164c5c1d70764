"""Identity: token -> user UUID and service endpoints (Keystone v2.0 / Astakos, protocol.md 15.1).

`authenticate(identity_url, token)` POSTs `{identity_url}/tokens` and reads the
service catalog. Plain Swift users skip this and hand the client a storage URL
(`{endpoint}/v1/{account}`) directly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests

from pithosfs.client.errors import PithosError, TransportError, error_for_status

log = logging.getLogger(__name__)

OBJECT_STORE_TYPE = "object-store"
IMAGE_TYPE = "image"
ACCOUNT_TYPE = "account"  # Astakos' account service: user catalogs (uuid <-> user name)


@dataclass(frozen=True)
class Endpoints:
    user_uuid: str
    storage_url: str  # {object-store}/v1/{uuid}
    image_url: str  # {image}/v1.0, "" when the catalog has no image service
    token: str
    account_url: str = ""  # Astakos {account}/v1.0, "" when the catalog has none


def _public_url(catalog: list[dict[str, Any]], service_type: str) -> str:
    for service in catalog:
        if service.get("type") == service_type:
            for endpoint in service.get("endpoints") or []:
                url = endpoint.get("publicURL")
                if url:
                    return str(url).rstrip("/")
    return ""


def endpoints_from_access(access: dict[str, Any], token: str) -> Endpoints:
    """Build Endpoints from the `access` object of a tokens reply."""
    user = (access.get("user") or {}).get("id") or (
        ((access.get("token") or {}).get("tenant") or {}).get("id")
    )
    if not user:
        raise PithosError("identity reply has no user id", status=0)
    catalog = access.get("serviceCatalog") or []
    store = _public_url(catalog, OBJECT_STORE_TYPE)
    if not store:
        raise PithosError("identity catalog has no object-store endpoint", status=0)
    # kamaki appends the version when the catalog omits it (protocol.md 15.1).
    if not store.endswith("/v1"):
        store += "/v1"
    image = _public_url(catalog, IMAGE_TYPE)
    if image and not (image.endswith("/v1.0") or image.endswith("/v1")):
        image += "/v1.0"
    account = _public_url(catalog, ACCOUNT_TYPE)
    return Endpoints(str(user), f"{store}/{user}", image, token, account)


def authenticate(identity_url: str, token: str, timeout: float = 30.0) -> Endpoints:
    """POST {identity_url}/tokens; raises Unauthorized for a bad token."""
    url = identity_url.rstrip("/") + "/tokens"
    body = {"auth": {"token": {"id": token}}}
    try:
        resp = requests.post(
            url,
            json=body,
            headers={"X-Auth-Token": token, "Accept": "application/json"},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise TransportError(f"identity: {exc}", method="POST", path=url) from exc
    if resp.status_code >= 300:
        cls = error_for_status(resp.status_code)
        raise cls(
            f"identity refused the token: {resp.reason}",
            status=resp.status_code,
            method="POST",
            path=url,
        )
    try:
        access = resp.json()["access"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PithosError(
            f"identity reply is not a tokens document: {exc}", status=resp.status_code
        ) from exc
    eps = endpoints_from_access(access, token)
    log.debug("identity %s: user %s, storage %s", identity_url, eps.user_uuid, eps.storage_url)
    return eps


def user_names(
    account_url: str, token: str, uuids: list[str], timeout: float = 30.0
) -> dict[str, str]:
    """Astakos `POST {account}/user_catalogs`: uuid -> user name, for the uuids it knows
    (kamaki shows an owner as "<uuid> (<user name>)")."""
    url = account_url.rstrip("/") + "/user_catalogs"
    resp = _send(
        "POST", url, timeout, json={"uuids": uuids},
        headers={"X-Auth-Token": token, "Accept": "application/json"},
    )  # fmt: skip
    if resp.status_code >= 300:
        cls = error_for_status(resp.status_code)
        raise cls(f"user catalog: {resp.reason}", status=resp.status_code, method="POST", path=url)
    catalog = _json(resp, url).get("uuid_catalog") or {}
    if not isinstance(catalog, dict):
        return {}
    return {str(k): str(v) for k, v in catalog.items() if isinstance(v, str) and v}


# -- logging in with a user name and key (plain Swift clusters) -------------------
@dataclass(frozen=True)
class Login:
    """A session obtained with a user name and key: where to send requests, and the token."""

    storage_url: str
    token: str
    kind: str  # "tempauth" (Swift v1 auth), "keystone-v2" or "keystone-v3"


def login_kind(auth_url: str) -> str:
    """Which login an auth URL speaks, by its path: `/auth/v1.0` (tempauth, swauth and other
    Swift v1 auth), `/v3` (Keystone v3) or `/v2.0` (Keystone v2.0 passwordCredentials)."""
    path = auth_url.split("?", 1)[0].rstrip("/")
    if path.endswith(("/v1.0", "/v1")) and "/auth" in path:
        return "tempauth"
    if path.endswith("/v3"):
        return "keystone-v3"
    if path.endswith("/v2.0"):
        return "keystone-v2"
    return ""


def _refused(resp: requests.Response, url: str, what: str) -> PithosError:
    cls = error_for_status(resp.status_code)
    return cls(f"{what} refused the login: {resp.reason}", status=resp.status_code,
               method=resp.request.method or "", path=url)  # fmt: skip


def _send(method: str, url: str, timeout: float, **kw: Any) -> requests.Response:
    try:
        return requests.request(method, url, timeout=timeout, **kw)
    except requests.RequestException as exc:
        raise TransportError(f"auth: {exc}", method=method, path=url) from exc


def tempauth_login(auth_url: str, user: str, key: str, timeout: float = 30.0) -> Login:
    """Swift v1 auth: GET with X-Auth-User/X-Auth-Key -> X-Storage-Url and X-Auth-Token."""
    resp = _send("GET", auth_url, timeout, headers={"X-Auth-User": user, "X-Auth-Key": key})
    if resp.status_code >= 300:
        raise _refused(resp, auth_url, "Swift auth")
    url, token = resp.headers.get("X-Storage-Url"), resp.headers.get("X-Auth-Token")
    if not url or not token:
        raise PithosError("Swift auth reply has no X-Storage-Url/X-Auth-Token", status=0)
    log.debug("tempauth %s: user %s, storage %s", auth_url, user, url)
    return Login(url.rstrip("/"), token, "tempauth")


def _catalog_url(catalog: list[dict[str, Any]], v3: bool) -> str:
    """The public object-store URL of a Keystone catalog (used as is: it names the account)."""
    for service in catalog:
        if service.get("type") != OBJECT_STORE_TYPE:
            continue
        for endpoint in service.get("endpoints") or []:
            if v3 and endpoint.get("interface") == "public" and endpoint.get("url"):
                return str(endpoint["url"]).rstrip("/")
            if not v3 and endpoint.get("publicURL"):
                return str(endpoint["publicURL"]).rstrip("/")
    raise PithosError("identity catalog has no public object-store endpoint", status=0)


def keystone_login(
    auth_url: str,
    user: str,
    key: str,
    project: str = "",
    user_domain: str = "Default",
    project_domain: str = "Default",
    timeout: float = 30.0,
) -> Login:
    """Keystone password login (v3 `/auth/tokens`, or v2.0 `/tokens`), scoped to `project`."""
    base = auth_url.rstrip("/")
    if login_kind(auth_url) == "keystone-v3":
        auth: dict[str, Any] = {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"name": user_domain}, "password": key}
                },
            }
        }
        if project:
            auth["scope"] = {"project": {"name": project, "domain": {"name": project_domain}}}
        url = base + "/auth/tokens"
        resp = _send("POST", url, timeout, json={"auth": auth})
        if resp.status_code >= 300:
            raise _refused(resp, url, "Keystone")
        token = resp.headers.get("X-Subject-Token", "")
        catalog = ((_json(resp, url).get("token") or {}).get("catalog")) or []
        return Login(_catalog_url(catalog, v3=True), token, "keystone-v3")
    body: dict[str, Any] = {"passwordCredentials": {"username": user, "password": key}}
    if project:
        body["tenantName"] = project
    url = base + "/tokens"
    resp = _send("POST", url, timeout, json={"auth": body})
    if resp.status_code >= 300:
        raise _refused(resp, url, "Keystone")
    access = _json(resp, url).get("access") or {}
    token = str((access.get("token") or {}).get("id") or "")
    return Login(_catalog_url(access.get("serviceCatalog") or [], v3=False), token, "keystone-v2")


def _json(resp: requests.Response, url: str) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError as exc:
        raise PithosError(f"{url}: the reply is not JSON", status=resp.status_code) from exc
    return body if isinstance(body, dict) else {}


def login(
    auth_url: str,
    user: str,
    key: str,
    project: str = "",
    timeout: float = 30.0,
    user_domain: str = "Default",
    project_domain: str = "Default",
) -> Login:
    """Log in by the kind of `auth_url` (see login_kind); the token is checked non-empty."""
    kind = login_kind(auth_url)
    if kind == "tempauth":
        session = tempauth_login(auth_url, user, key, timeout)
    elif kind:
        session = keystone_login(
            auth_url, user, key, project, user_domain, project_domain, timeout=timeout
        )
    else:
        raise PithosError(f"{auth_url}: not an auth URL (/auth/v1.0, /v2.0 or /v3)", status=0)
    if not session.token:
        raise PithosError(f"{auth_url}: the login reply carries no token", status=0)
    return session
