"""Identity: token -> user UUID and service endpoints (Keystone v2.0 / Astakos, spec 15.1).

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


@dataclass(frozen=True)
class Endpoints:
    user_uuid: str
    storage_url: str  # {object-store}/v1/{uuid}
    image_url: str  # {image}/v1.0, "" when the catalog has no image service
    token: str


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
    # kamaki appends the version when the catalog omits it (spec 15.1).
    if not store.endswith("/v1"):
        store += "/v1"
    image = _public_url(catalog, IMAGE_TYPE)
    if image and not (image.endswith("/v1.0") or image.endswith("/v1")):
        image += "/v1.0"
    return Endpoints(str(user), f"{store}/{user}", image, token)


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
