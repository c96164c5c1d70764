"""kill -9 of the server in the middle of `cp` of a large file onto the mount, N times.

The mount reaches the server through a FaultProxy, so the server can be killed and started
again (on a new port) while the mount keeps its URL. Each trial copies a fresh random file
over the previous one, kills the server at a random moment of the copy, leaves it down for a
random while, and starts it again. Then:

* the object on the server is exactly the old content or exactly the new one, never a mix or
  a prefix (checked by hash, bypassing the proxy and the mount);
* `cp` either succeeded, and the server then holds the new content, or failed with a message;
* in both cases the mount keeps working: a repeated `cp` completes and reads back correctly.

Scale: PITHOSFS_FAULT_MIB (default 32) and PITHOSFS_FAULT_TRIALS (default 5); the issue's
figure is 256 MiB x 10. The run prints its figures.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from pithosfs.client.errors import NotFound
from tests.conftest import ALICE
from tests.integration.conftest import start_mount, stop_mount
from tests.reliability.fault_harness import KillableServer, env_int

pytestmark = [pytest.mark.slow, pytest.mark.mount]

MIB = env_int("PITHOSFS_FAULT_MIB", 32)
TRIALS = env_int("PITHOSFS_FAULT_TRIALS", 5)
# Seconds the server stays dead: odd trials within the client's retry window (a few seconds
# of backoff), even ones well past it, so both outcomes of cp are exercised.
SHORT_DOWN = (0.0, 1.0)
LONG_DOWN = (5.0, 8.0)
CP_DEADLINE = 300.0


def _server_digest(srv: KillableServer, container: str, name: str) -> str | None:
    client = srv.direct()
    try:
        info = client.head_object(container, name)
        data = client.read_range(container, name, 0, info.size) if info.size else b""
    except NotFound:
        return None
    finally:
        client.close()
    return hashlib.sha256(data).hexdigest()


def _cp(src: Path, dst: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["cp", str(src), str(dst)], stderr=subprocess.PIPE)


def _copy_until_done(src: Path, dst: Path) -> int:
    """cp again until it succeeds (a stale base after a lost reply can need a fresh lookup)."""
    for attempt in range(4):
        done = subprocess.run(["cp", str(src), str(dst)], capture_output=True, timeout=CP_DEADLINE)
        if done.returncode == 0:
            return attempt
        time.sleep(1.5)  # past the mount's attribute timeout
    raise AssertionError(f"cp still failing after the server came back: {done.stderr!r}")


def test_server_killed_during_cp_leaves_old_or_new_object(
    fuse_ok: None, killable_server: KillableServer, tmp_path: Path
) -> None:
    srv = killable_server
    direct = srv.direct()
    direct.create_container("c")
    direct.close()
    m = start_mount(srv, ALICE, tmp_path / "m")
    rng = random.Random(int(os.environ.get("PITHOSFS_FAULT_SEED", "7")))
    src = tmp_path / "src.bin"
    dst = m.path / "c" / "big.bin"
    figures = {"trials": 0, "killed_mid_copy": 0, "cp_ok": 0, "cp_error": 0,
               "server_old": 0, "server_new": 0, "mismatches": 0, "retries": 0}  # fmt: skip
    messages: set[str] = set()
    try:
        src.write_bytes(rng.randbytes(MIB * 1024 * 1024))
        started = time.monotonic()
        subprocess.run(["cp", str(src), str(dst)], check=True, timeout=CP_DEADLINE)
        copy_time = time.monotonic() - started  # calibrates where "the middle" of a copy is
        old = hashlib.sha256(src.read_bytes()).hexdigest()
        assert _server_digest(srv, "c", "big.bin") == old
        for trial in range(TRIALS):
            new_data = rng.randbytes(MIB * 1024 * 1024)
            src.write_bytes(new_data)
            new = hashlib.sha256(new_data).hexdigest()
            cp = _cp(src, dst)
            time.sleep(rng.uniform(0.05, 0.9) * copy_time)
            figures["killed_mid_copy"] += cp.poll() is None
            srv.kill()
            time.sleep(rng.uniform(*(LONG_DOWN if trial % 2 == 0 else SHORT_DOWN)))
            srv.restart()
            _, err = cp.communicate(timeout=CP_DEADLINE)
            on_server = _server_digest(srv, "c", "big.bin")
            figures["trials"] += 1
            if cp.returncode == 0:
                figures["cp_ok"] += 1
                ok = on_server == new
            else:
                figures["cp_error"] += 1
                assert err.strip(), "cp failed without a message"
                messages.add(err.decode(errors="replace").strip().split(": ")[-1])
                ok = on_server in (old, new)
            figures["server_new"] += on_server == new
            figures["server_old"] += on_server == old
            if not ok:
                figures["mismatches"] += 1
            assert ok, f"trial {trial}: cp rc {cp.returncode} {err!r}, server holds {on_server}"
            figures["retries"] += _copy_until_done(src, dst)
            assert _server_digest(srv, "c", "big.bin") == new
            assert hashlib.sha256(dst.read_bytes()).hexdigest() == new
            old = new
        print(f"\nserver kill during cp ({MIB} MiB, {copy_time:.1f} s a copy): {figures}; "
              f"cp errors: {sorted(messages)}")  # fmt: skip
        assert m.proc.poll() is None, "the mount process died"
    finally:
        stop_mount(m)
    assert "Traceback" not in m.log_text(), m.log_text()[-4000:]
