"""Token expiry in the middle of a long copy: the mount re-authenticates from the configured
credentials and the user sees no failure.

The mount is configured as a user would: a `~/.kamakirc` cloud with the identity URL and a
token (`--cloud`). Mid-copy, the token is renewed: the new one is written to the kamakirc
(as `kamaki config set` or a renewal script would), then the old one stops being accepted
by the server. The mount's next request gets 401; it must reload its configuration,
authenticate again, repeat the request, and `cp` must succeed with the right bytes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pithosfs.client.pithos import PithosClient
from tests.integration.conftest import MOUNT_DEADLINE, Mount, stop_mount

pytestmark = [pytest.mark.slow, pytest.mark.mount]

CAROL = "ca201000-0000-4000-8000-000000000003"
MIB = 1024 * 1024
SIZE = 48 * MIB


def _kamakirc(path: Path, url: str, token: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        f'[global]\ndefault_cloud = lab\n\n[cloud "lab"]\nurl = {url}\ntoken = {token}\n'
    )
    tmp.replace(path)  # atomic, as an editor saving the file


def _cloud_mount(root: Path, kamakirc: Path, storage_url: str, token: str) -> Mount:
    """A mount configured only by a kamakirc cloud (no --url/--token on its command line)."""
    mnt = root / "mnt"
    mnt.mkdir(parents=True)
    log = root / "mount.log"
    env = dict(os.environ, XDG_CACHE_HOME=str(root / "xdg-cache"), KAMAKIRC=str(kamakirc))
    for name in ("PITHOS_URL", "PITHOS_TOKEN", "PITHOS_CLOUD"):
        env.pop(name, None)
    cmd = [
        sys.executable, "-m", "pithosfs", "mount", "-f", str(mnt), "--cloud", "lab",
        "--cache-dir", str(root / "cache"), "--attr-timeout", "1", "--dir-timeout", "1",
        "--log-file", str(log),
    ]  # fmt: skip
    with open(root / "mount.out", "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + MOUNT_DEADLINE
    while not os.path.ismount(mnt):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"mount not live: {(root / 'mount.out').read_text(errors='replace')}")
        time.sleep(0.05)
    client = PithosClient.from_storage_url(storage_url, token)
    return Mount(mnt, proc, log, client, env, root / "no-state")


def _written(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/io") as f:
            return next(int(ln.split()[1]) for ln in f if ln.startswith("wchar:"))
    except (OSError, StopIteration):
        return 0


def test_long_copy_survives_a_token_renewal(
    fuse_ok: None, make_server: Callable[..., object], tmp_path: Path
) -> None:
    srv = make_server(users={CAROL: "carol-token-1"})
    kamakirc = tmp_path / "kamakirc"
    _kamakirc(kamakirc, srv.identity_url, "carol-token-1")  # type: ignore[attr-defined]
    storage = srv.storage_url(CAROL)  # type: ignore[attr-defined]
    direct = PithosClient.from_storage_url(storage, "carol-token-1")
    direct.create_container("c")
    m = _cloud_mount(tmp_path / "m", kamakirc, storage, "carol-token-1")
    src = tmp_path / "src.bin"
    data = os.urandom(SIZE)
    src.write_bytes(data)
    try:
        cp = subprocess.Popen(
            ["cp", str(src), str(m.path / "c" / "big.bin")], stderr=subprocess.PIPE
        )
        while cp.poll() is None and _written(cp.pid) < SIZE // 3:
            time.sleep(0.001)
        assert cp.poll() is None, "the copy ended before the renewal: nothing was tested"
        # Renewal: the new token is configured, then the old one expires on the server.
        _kamakirc(kamakirc, srv.identity_url, "carol-token-2")  # type: ignore[attr-defined]
        ctx = srv.app.ctx  # type: ignore[attr-defined]
        ctx.users[CAROL] = "carol-token-2"
        ctx.tokens["carol-token-2"] = CAROL
        del ctx.tokens["carol-token-1"]
        _, err = cp.communicate(timeout=300)
        assert cp.returncode == 0, err
        fresh = PithosClient.from_storage_url(storage, "carol-token-2")
        info = fresh.head_object("c", "big.bin")
        got = fresh.read_range("c", "big.bin", 0, info.size)
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        (m.path / "c" / "after.txt").write_bytes(b"still authorised")  # and it keeps working
        assert fresh.read_range("c", "after.txt", 0, 16) == b"still authorised"
        fresh.close()
    finally:
        direct.close()
        stop_mount(m)
    assert "Traceback" not in m.log_text(), m.log_text()[-4000:]
