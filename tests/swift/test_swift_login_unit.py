"""Logins by auth URL kind, against a scripted local HTTP server (no Swift needed):
Keystone v3 and v2.0 password logins, tempauth, refusals, and load_config's tiers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pithosfs.client import identity
from pithosfs.client.config import ConfigError, load_config
from pithosfs.client.errors import Unauthorized

STORE = "http://swift.example:8080/v1/AUTH_proj"


class Scripted(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # tempauth
        self.seen.append(("GET", self.path, {}, dict(self.headers)))
        if self.headers.get("X-Auth-Key") != "secret":
            return self._reply(401, None, {})
        self._reply(200, None, {"X-Storage-Url": STORE, "X-Auth-Token": "tk-v1"})

    def do_POST(self) -> None:  # keystone
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(("POST", self.path, body, dict(self.headers)))
        if self.path == "/v3/auth/tokens":
            password = body["auth"]["identity"]["password"]["user"]["password"]
            if password != "secret":
                return self._reply(401, {"error": {}}, {})
            catalog = [
                {"type": "identity", "endpoints": [{"interface": "public", "url": "http://k"}]},
                {"type": "object-store", "endpoints": [
                    {"interface": "internal", "url": "http://internal/v1/AUTH_proj"},
                    {"interface": "public", "url": STORE + "/"},
                ]},
            ]  # fmt: skip
            return self._reply(201, {"token": {"catalog": catalog}}, {"X-Subject-Token": "tk-v3"})
        if self.path == "/v2.0/tokens":
            creds = body["auth"]["passwordCredentials"]
            if creds["password"] != "secret":
                return self._reply(401, {"error": {}}, {})
            access = {
                "token": {"id": "tk-v2"},
                "serviceCatalog": [{"type": "object-store", "endpoints": [{"publicURL": STORE}]}],
            }
            return self._reply(200, {"access": access}, {})
        self._reply(404, None, {})


@pytest.fixture
def server() -> Iterator[str]:
    Scripted.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://h/auth/v1.0", "tempauth"),
        ("http://h/auth/v1.0/", "tempauth"),
        ("https://h:5000/v3", "keystone-v3"),
        ("https://h/identity/v2.0", "keystone-v2"),
        ("http://h/v1/AUTH_test", ""),
        ("http://h/object-store/v1/uuid", ""),
    ],
)
def test_login_kind(url: str, kind: str) -> None:
    assert identity.login_kind(url) == kind


def test_keystone_v3_scopes_to_the_project_and_takes_the_public_endpoint(server: str) -> None:
    session = identity.login(server + "/v3", "alice", "secret", project="proj")
    assert session == identity.Login(STORE, "tk-v3", "keystone-v3")
    auth = Scripted.seen[-1][2]["auth"]
    assert auth["scope"]["project"]["name"] == "proj"
    assert auth["identity"]["password"]["user"]["name"] == "alice"
    with pytest.raises(Unauthorized):
        identity.login(server + "/v3", "alice", "wrong", project="proj")


def test_keystone_v3_domains_from_the_openstack_variables(server: str, tmp_path: Path) -> None:
    env = {"OS_AUTH_URL": server + "/v3", "OS_USERNAME": "alice", "OS_PASSWORD": "secret",
           "OS_PROJECT_NAME": "proj", "OS_USER_DOMAIN_NAME": "users",
           "OS_PROJECT_DOMAIN_NAME": "projects"}  # fmt: skip
    cfg = load_config(kamakirc=tmp_path / "none", env=env)
    assert (cfg.url, cfg.token, cfg.auth_kind) == (STORE, "tk-v3", "keystone-v3")
    auth = Scripted.seen[-1][2]["auth"]
    assert auth["identity"]["password"]["user"]["domain"] == {"name": "users"}
    assert auth["scope"]["project"]["domain"] == {"name": "projects"}


def test_keystone_v2_password_login(server: str) -> None:
    session = identity.login(server + "/v2.0", "alice", "secret", project="proj")
    assert session == identity.Login(STORE, "tk-v2", "keystone-v2")
    assert Scripted.seen[-1][2]["auth"]["tenantName"] == "proj"


def test_load_config_tiers_for_logins(server: str, tmp_path: Path) -> None:
    rc = tmp_path / "kamakirc"
    rc.write_text(f'[cloud "sw"]\nurl = {server}/auth/v1.0\nuser = bob\npassword = secret\n')
    cfg = load_config(kamakirc=rc, env={})
    assert (cfg.url, cfg.token, cfg.auth_kind, cfg.auth_user) == (STORE, "tk-v1", "tempauth", "bob")
    assert Scripted.seen[-1][3]["X-Auth-User"] == "bob"
    # The environment beats the file, per field; the file's key still completes the login.
    cfg = load_config(kamakirc=rc, env={"PITHOS_AUTH_USER": "carol"})
    assert Scripted.seen[-1][3]["X-Auth-User"] == "carol" and cfg.token == "tk-v1"
    # Offline description: no request, empty token.
    before = len(Scripted.seen)
    cfg = load_config(kamakirc=rc, env={}, login=False)
    assert cfg.token == "" and cfg.auth_url.endswith("/auth/v1.0") and len(Scripted.seen) == before
    # A v2.0 URL with a token stays the token flow (Astakos): no login here.
    cfg = load_config(url=server + "/v2.0", token="t", kamakirc=rc, env={}, login=True)
    assert not cfg.is_storage_url and cfg.token == "t" and cfg.auth_kind == ""


def test_login_url_without_a_key_is_a_config_error(server: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="login URL"):
        load_config(url=server + "/auth/v1.0", kamakirc=tmp_path / "none",
                    env={"PITHOS_AUTH_USER": "bob"})  # fmt: skip


def test_standard_swift_variables_only_without_a_pithos_url(server: str, tmp_path: Path) -> None:
    st = {"ST_AUTH": server + "/auth/v1.0", "ST_USER": "dave", "ST_KEY": "secret"}
    assert load_config(kamakirc=tmp_path / "none", env=st).token == "tk-v1"
    env = {**st, "PITHOS_URL": STORE, "PITHOS_TOKEN": "mine"}
    cfg = load_config(kamakirc=tmp_path / "none", env=env)
    assert (cfg.url, cfg.token) == (STORE, "mine")
