"""`pithosfs config` as a user runs it: a temp HOME with a ~/.kamakirc, the embedded server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pithosfs.token_mask import mask_token
from tests.conftest import ALICE, BOB


def run_config(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pithosfs", "config", *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def config_json(*args: str, env: dict[str, str]) -> dict[str, object]:
    done = run_config("--json", *args, env=env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A user with their own HOME and no credentials anywhere yet."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("PITHOS_", "XDG_", "KAMAKIRC"))}
    (tmp_path / "home").mkdir()
    e["HOME"] = str(tmp_path / "home")
    return e


@pytest.fixture
def kamakirc(server: object, env: dict[str, str]) -> Path:
    rc = Path(env["HOME"]) / ".kamakirc"
    identity = server.identity_url  # type: ignore[attr-defined]
    rc.write_text(
        "[global]\ndefault_cloud = lab\n\n"
        f'[cloud "lab"]\nurl = {identity}\ntoken = {ALICE[1]}\n\n'
        f'[cloud "other"]\nurl = {identity}\ntoken = {BOB[1]}\n'
    )
    return rc


def test_default_cloud_of_kamakirc(server: object, env: dict[str, str], kamakirc: Path) -> None:
    done = run_config(env=env)
    assert done.returncode == 0, done.stderr
    assert ALICE[1] not in done.stdout  # the token is masked
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines())
    assert lines["cloud"].split() == ["lab", "([global]", "default_cloud", "of", f"{kamakirc})"]
    assert lines["user"].strip() == ALICE[0]
    assert lines["object-store"].strip() == server.storage_url(ALICE[0])  # type: ignore[attr-defined]
    assert lines["images"].strip().startswith(server.image_url)  # type: ignore[attr-defined]
    assert lines["server"].strip() == "Pithos+"


def test_flag_beats_env_beats_file(server: object, env: dict[str, str], kamakirc: Path) -> None:
    picked = config_json("--cloud", "other", env=env)
    assert (picked["cloud"], picked["cloud_from"], picked["user"]) == ("other", "--cloud", BOB[0])
    assert picked["url_from"] == picked["token_from"] == f'{kamakirc} [cloud "other"]'

    by_env = config_json(env=dict(env, PITHOS_CLOUD="other"))
    assert (by_env["cloud_from"], by_env["user"]) == ("PITHOS_CLOUD", BOB[0])
    flag_wins = config_json("--cloud", "lab", env=dict(env, PITHOS_CLOUD="other"))
    assert (flag_wins["cloud_from"], flag_wins["user"]) == ("--cloud", ALICE[0])

    # the token from the environment, the URL still from the file
    token_env = config_json(env=dict(env, PITHOS_TOKEN=BOB[1]))
    assert (token_env["token_from"], token_env["user"]) == ("PITHOS_TOKEN", BOB[0])
    assert token_env["url_from"] == f'{kamakirc} [cloud "lab"]'
    assert token_env["token"] == mask_token(BOB[1])

    bad = run_config(env=dict(env, PITHOS_TOKEN="not-a-token"))
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("pithosfs: bad token") and bad.stderr.count("\n") == 1


def test_storage_url_without_identity(server: object, env: dict[str, str]) -> None:
    storage = server.storage_url(BOB[0])  # type: ignore[attr-defined]
    got = config_json("--url", storage, env=dict(env, PITHOS_TOKEN=BOB[1]))
    assert (got["user"], got["object_store"], got["images"]) == (BOB[0], storage, "-")
    assert (got["url_from"], got["token_from"]) == ("--url", "PITHOS_TOKEN")
    assert got["cloud_from"] == "none: URL and credentials given directly"


def test_refusals_are_one_line(env: dict[str, str], kamakirc: Path, tmp_path: Path) -> None:
    unknown = run_config("--cloud", "nope", env=env)
    assert unknown.returncode == 1
    assert unknown.stderr == f"pithosfs: cloud 'nope' not found in {kamakirc}\n"
    started = time.monotonic()
    gone = run_config("--url", "http://127.0.0.1:9/identity/v2.0", "--token", "t", env=env)
    assert time.monotonic() - started < 30
    assert gone.returncode == 1
    assert gone.stderr.count("\n") == 1
    assert gone.stderr.startswith("pithosfs: cannot connect to 127.0.0.1:9: connection refused")


@pytest.mark.parametrize("name", ["PITHOS_TOKEN", "PITHOS_URL"])
def test_half_a_credential_in_the_environment_is_an_error_not_the_embedded_server(
    env: dict[str, str], name: str
) -> None:
    """A user who exported only a token (or only a URL) meant their cloud: say what is missing."""
    done = run_config(env={**env, name: "x" if name == "PITHOS_TOKEN" else "http://h/identity"})
    assert done.returncode == 1
    assert done.stderr.startswith("pithosfs: ") and done.stderr.count("\n") == 1
    assert "embedded" not in done.stdout + done.stderr


def test_no_credentials_describes_the_embedded_server_without_starting_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    got = config_json(env=env)
    assert got["server"] == "embedded" and got["object_store"] == "-"
    data_home = Path(env["HOME"]) / ".local/share/pithosfs"
    assert not (data_home / "embedded.json").exists()  # config never starts a server


def test_no_credentials_with_the_embedded_server_running(
    server: object, env: dict[str, str]
) -> None:
    """The state a credential-less mount left behind: config reports that server's account."""
    data_home = Path(env["HOME"]) / ".local/share/pithosfs"
    data_home.mkdir(parents=True)
    port = server.base_url.rsplit(":", 1)[1]  # type: ignore[attr-defined]
    (data_home / "embedded.json").write_text(
        json.dumps({"port": int(port), "user": ALICE[0], "token": ALICE[1], "pid": os.getpid()})
    )
    got = config_json(env=env)
    assert got["server"] == "embedded" and got["user"] == ALICE[0]
    assert got["object_store"] == server.storage_url(ALICE[0])  # type: ignore[attr-defined]
    assert "running" in str(got["url"]) and "not running" not in str(got["url"])
    assert got["containers"] != -1 and ALICE[1] not in json.dumps(got)


def test_mask_token() -> None:
    long = "abcdefghijklmnopqrstuvwxyz0123456789"
    assert mask_token(long) == "abcd… (36 chars)" and mask_token("short") == "**** (5 chars)"


def test_origins_of_a_swift_login_and_the_standard_variables(tmp_path: Path) -> None:
    """A token from a user/key login names the login; ST_AUTH counts when nothing else set a URL."""
    from pithosfs.client.config import CloudConfig
    from pithosfs.config_cmd import origins

    login = CloudConfig(
        "http://swift/v1/AUTH_test", "tok", True, auth_url="http://swift/auth/v1.0",
        auth_user="test:tester", auth_kind="tempauth",
    )  # fmt: skip
    env = {"ST_AUTH": "http://swift/auth/v1.0", "ST_USER": "test:tester", "ST_KEY": "k"}
    cloud_from, url_from, token_from = origins(None, None, None, login, env, tmp_path / "rc")
    assert (url_from, token_from) == ("ST_AUTH", "login as 'test:tester' (tempauth)")
    assert cloud_from == "none: URL and credentials given directly"
    flagged = origins("http://swift/auth/v1.0", None, None, login, env, tmp_path / "rc")
    assert flagged[1] == "--url"


@pytest.mark.mount
def test_config_names_the_account_a_mount_uses(
    fuse_ok: None, server: object, env: dict[str, str], kamakirc: Path, tmp_path: Path
) -> None:
    """What config prints is what `pithosfs mount` then mounts (same resolution, same server)."""
    shown = config_json("--cloud", "other", env=env)
    mnt, log = tmp_path / "mnt", tmp_path / "mount.log"
    mnt.mkdir()
    env = dict(env, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    cmd = [sys.executable, "-m", "pithosfs", "mount", str(mnt), "--cloud", "other",
           "--log-file", str(log)]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env)
        assert done.returncode == 0, done.stderr
        mounted = [ln for ln in log.read_text().splitlines() if " mounting http" in ln]
        assert mounted and f"mounting {shown['object_store']} " in mounted[0], mounted
    finally:
        subprocess.run([sys.executable, "-m", "pithosfs", "umount", str(mnt)],
                       capture_output=True, timeout=90, env=env)  # fmt: skip
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True, timeout=30)


@pytest.mark.mount
def test_embedded_server_started_by_a_mount(
    fuse_ok: None, env: dict[str, str], tmp_path: Path
) -> None:
    """No credentials: before the first mount, while its server runs, and after it stopped."""
    env = dict(env, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    state = Path(env["HOME"]) / ".local/share/pithosfs/embedded.json"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    assert config_json(env=env)["object_store"] == "-"
    pithosfs = [sys.executable, "-m", "pithosfs"]
    try:
        done = subprocess.run([*pithosfs, "mount", str(mnt)], capture_output=True, text=True,
                              timeout=90, env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert os.listdir(mnt) == ["pithos"]  # a new account's container, as on the clouds
        server = json.loads(state.read_text())
        running = config_json(env=env)
        assert running["user"] == server["user"] and running["containers"] == 1
        assert f"running, pid {server['pid']}" in str(running["url"])
        assert running["token"] == mask_token(server["token"])
        # The last unmount stops the server it started.
        subprocess.run([*pithosfs, "umount", str(mnt)], capture_output=True, timeout=90, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "not running" not in str(config_json(env=env)["url"]):
            time.sleep(0.2)
        assert "not running" in str(config_json(env=env)["url"])
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True, timeout=30)
        if state.exists() and (pid := int(json.loads(state.read_text())["pid"])):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
