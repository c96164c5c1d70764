"""`pithosfs renew-token`: a `--token` mount whose token was revoked goes on with a new one,
handed over its control socket, without an unmount."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pithosfs.client.pithos import PithosClient
from tests.integration.conftest import ATTR_TIMEOUT, start_mount, stop_mount

pytestmark = pytest.mark.mount

DAVE = "da4e0000-0000-4000-8000-000000000004"


def renew(m_env: dict[str, str], mountpoint: Path, token: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pithosfs", "renew-token", str(mountpoint)],
        input=token + "\n", capture_output=True, text=True, timeout=60, env=m_env,
    )  # fmt: skip


def test_a_revoked_token_mount_resumes_after_renewal(
    fuse_ok: None, make_server: Callable[..., object], tmp_path: Path
) -> None:
    srv = make_server(users={DAVE: "dave-token-1"})
    storage = srv.storage_url(DAVE)  # type: ignore[attr-defined]
    PithosClient.from_storage_url(storage, "dave-token-1").create_container("c")
    m = start_mount(srv, (DAVE, "dave-token-1"), tmp_path / "m")
    try:
        (m.path / "c" / "before.diskdump").write_bytes(b"x" * 1000)
        subprocess.run(["bash", "-c", "echo \"'Before' before.diskdump\" > .register"],
                       cwd=m.path / "c", check=True)  # fmt: skip
        # The token is revoked on the server; its replacement is issued.
        ctx = srv.app.ctx  # type: ignore[attr-defined]
        del ctx.tokens["dave-token-1"]
        ctx.users[DAVE] = "dave-token-2"
        ctx.tokens["dave-token-2"] = DAVE
        time.sleep(ATTR_TIMEOUT * 1.5)  # past the cached listing: the next one asks the server
        with pytest.raises(OSError):
            os.listdir(m.path / "c")

        refused = renew(m.env, m.path, "not-a-token")
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1
        assert refused.stderr.startswith(f"pithosfs: {m.path}: token not taken, the old one stays")
        assert "401" in refused.stderr

        done = renew(m.env, m.path, "dave-token-2")
        assert done.returncode == 0, done.stderr
        assert sorted(os.listdir(m.path / "c")) == ["before.diskdump", "before.diskdump.meta"]
        (m.path / "c" / "after.txt").write_text("written after the renewal")
        subprocess.run(["bash", "-c", "cp before.diskdump after.diskdump && "
                        "echo \"'After' after.diskdump\" > .register"],
                       cwd=m.path / "c", check=True)  # fmt: skip
        fresh = PithosClient.from_storage_url(storage, "dave-token-2")
        assert fresh.read_range("c", "after.txt", 0, 100) == b"written after the renewal"
        assert fresh.head_object("c", "after.diskdump.meta").size > 0  # registered
        fresh.close()
        assert m.proc.poll() is None
        assert "dave-token-2" not in m.log_text()
    finally:
        stop_mount(m)


def test_renew_token_without_a_mount_says_so(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    done = renew(env, tmp_path, "whatever")
    assert done.returncode == 1
    assert done.stderr == f"pithosfs: no live pithosfs mount on {tmp_path}\n"
