"""Real FUSE mounts of the embedded server, each in a subprocess.

`python -m pithosfs mount -f` runs in its own process so a hung mount cannot
wedge pytest: we poll `os.path.ismount` with a deadline (failing fast if the
process died), and tear down with `fusermount3 -u`, then `-u -z`, then
terminate/kill. A test fails if the mount's log shows a traceback.

`PITHOSFS_MOUNT_CODE=<checkout>` runs the mounts from another checkout of the
package (the tests and the server stay these), to measure old code against new tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pithosfs.client.pithos import PithosClient

MOUNT_DEADLINE = 30.0
ATTR_TIMEOUT = 1.0  # short, so foreign changes show quickly in tests

_FUSE_MISSING = (
    "/dev/fuse is missing"
    if not os.path.exists("/dev/fuse")
    else "fusermount3 is missing"
    if not shutil.which("fusermount3")
    else ""
)

pytestmark = pytest.mark.mount


@dataclass
class Mount:
    path: Path
    proc: subprocess.Popen[bytes]
    log: Path
    client: PithosClient  # the same account, for foreign modifications and checks
    env: dict[str, str]
    state_file: Path
    _log_pos: int = field(default=0)

    def log_text(self, since: int = 0) -> str:
        with open(self.log, "rb") as f:
            f.seek(since)
            return f.read().decode("utf-8", "replace")

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def status(self, after: float) -> dict[str, object]:
        """The mount's status file (client counters), as written after `after`."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                state = json.loads(self.state_file.read_text())
                if state.get("updated", 0) > after:
                    return dict(state)
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise AssertionError("mount status file not refreshed")

    def counters(self, after: float) -> dict[str, int]:
        """Request counts per method of the mount's client, as of after `after`."""
        return dict(self.status(after).get("by_method", {}))  # type: ignore[call-overload]

    def settled_counters(self, after: float) -> dict[str, int]:
        """`counters` once the mount owes the server nothing on its own (held directory
        metadata, read-ahead in flight): what an operation cost, all of it."""
        deadline = time.monotonic() + 30
        while True:
            state = self.status(after)
            if not state.get("background") or time.monotonic() > deadline:
                return dict(state.get("by_method", {}))  # type: ignore[call-overload]
            after = time.time()

    def wire_bytes(self, after: float) -> int:
        """Bytes the mount's client sent plus received, as of after `after`."""
        state = self.status(after)
        return int(state["bytes_sent"]) + int(state["bytes_received"])  # type: ignore[call-overload]


def _unmount(path: Path, proc: subprocess.Popen[bytes]) -> None:
    for args in (["-u"], ["-u", "-z"]):
        if not os.path.ismount(path):
            break
        subprocess.run(["fusermount3", *args, str(path)], capture_output=True, timeout=30)
        try:
            proc.wait(timeout=30)
            break
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_mount(
    server: object,
    user: tuple[str, str],
    root: Path,
    *extra: str,
    env_extra: dict[str, str] | None = None,
) -> Mount:
    uuid, token = user
    storage = server.storage_url(uuid)  # type: ignore[attr-defined]
    mnt = root / "mnt"
    mnt.mkdir(parents=True)
    log = root / "mount.log"
    env = dict(os.environ, XDG_CACHE_HOME=str(root / "xdg-cache"), PITHOSFS_STATUS_INTERVAL="0.1")
    code = os.environ.get("PITHOSFS_MOUNT_CODE")
    if code:  # the mount runs another checkout (measure old code against these tests)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [code, env.get("PYTHONPATH")]))
    env.update(env_extra or {})
    env.pop("PITHOS_URL", None)
    env.pop("PITHOS_TOKEN", None)
    cmd = [
        sys.executable, "-m", "pithosfs", "mount", "-f", str(mnt),
        "--url", storage, "--token", token, "--cache-dir", str(root / "cache"),
        "--attr-timeout", str(ATTR_TIMEOUT), "--dir-timeout", str(ATTR_TIMEOUT),
        "--log-file", str(log), *extra,
    ]  # fmt: skip
    out = open(root / "mount.out", "wb")
    # Elsewhere than this checkout, whose package `-m` would find first (sys.path[0] is cwd).
    cwd = root if code else None
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    deadline = time.monotonic() + MOUNT_DEADLINE
    while not os.path.ismount(mnt):
        if proc.poll() is not None:
            text = (root / "mount.out").read_text(errors="replace")
            pytest.fail(f"mount process exited with {proc.returncode}: {text[-2000:]}")
        if time.monotonic() > deadline:
            _unmount(mnt, proc)
            pytest.fail("mount not live within the deadline")
        time.sleep(0.05)
    from pithosfs.mount import launcher

    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = env["XDG_CACHE_HOME"]
    try:
        state_file = launcher.state_path(mnt)
    finally:
        if old is None:
            os.environ.pop("XDG_CACHE_HOME")
        else:
            os.environ["XDG_CACHE_HOME"] = old
    client = PithosClient.from_storage_url(storage, token)
    return Mount(mnt, proc, log, client, env, state_file)


def stop_mount(m: Mount) -> None:
    _unmount(m.path, m.proc)
    m.client.close()


@pytest.fixture(scope="session")
def fuse_ok() -> None:
    if _FUSE_MISSING:
        pytest.skip(_FUSE_MISSING)


@pytest.fixture(scope="session")
def session_mount(
    fuse_ok: None, server: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mount]:
    from tests.conftest import ALICE

    m = start_mount(server, ALICE, tmp_path_factory.mktemp("mount"))
    yield m
    stop_mount(m)


@pytest.fixture
def mnt(session_mount: Mount, unique_name: str) -> Iterator[Path]:
    """A fresh container directory on the shared mount; the test fails on a mount traceback."""
    start = session_mount.log_size()
    path = session_mount.path / unique_name
    path.mkdir()
    yield path
    assert session_mount.proc.poll() is None, "the mount process died"
    text = session_mount.log_text(start)
    assert "Traceback" not in text, text[-4000:]
    assert "kept a view of the request buffer" not in text, text[-4000:]


@pytest.fixture
def mount_factory(fuse_ok: None, server: object, tmp_path: Path) -> Iterator[Callable[..., Mount]]:
    """Start extra mounts (other options or users); all are unmounted after the test."""
    from tests.conftest import ALICE

    started: list[Mount] = []

    def _make(
        *extra: str, user: tuple[str, str] = ALICE, env: dict[str, str] | None = None
    ) -> Mount:
        m = start_mount(server, user, tmp_path / f"m{len(started)}", *extra, env_extra=env)
        started.append(m)
        return m

    yield _make
    for m in started:
        stop_mount(m)
    for m in started:
        text = m.log_text()
        assert "Traceback" not in text, text[-4000:]


@pytest.fixture
def public_root() -> Iterator[Path]:
    """A mount parent other users can reach (pytest's own tmp dirs are 0700)."""
    root = Path(tempfile.mkdtemp(prefix="pithosfs-allow-other-"))
    root.chmod(0o755)
    yield root
    mountinfo = Path("/proc/self/mountinfo").read_text()
    assert f" {root}/" not in mountinfo, f"a mount under {root} was left behind"
    shutil.rmtree(root, ignore_errors=True)  # never through a live mount (checked above)
