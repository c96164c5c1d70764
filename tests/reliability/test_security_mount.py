"""Security of the mount process: the token never shows in `ps` (any process's argv) or logs,
and the cache directory is private (0700)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ALICE
from tests.integration.test_mount_command import env, force_unmount, run  # noqa: F401 (fixture)

pytestmark = pytest.mark.mount


def _cmdlines_mentioning(text: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in argv:
            found[int(proc.name)] = argv
    return found


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and path.name != ".kamakirc":
            try:
                if needle in path.read_bytes():
                    hits.append(path)
            except OSError:
                continue
    return hits


def _check_mount_is_private(mp: Path, home: Path, cache: Path) -> None:
    procs = _cmdlines_mentioning(str(mp))
    assert procs, "the mount process was not found"
    leaked = {pid: argv for pid, argv in procs.items() if ALICE[1] in argv}
    assert not leaked, f"token visible in ps: {leaked}"
    (mp / "probe-dir").mkdir(exist_ok=True)
    (mp / "probe-dir" / "f").write_bytes(b"x")
    assert cache.stat().st_mode & 0o777 == 0o700
    logs = [p for p in _files_containing(home, ALICE[1].encode()) if p.suffix == ".log"]
    assert logs == [], f"token written to logs: {logs}"
    # At -v the log names every path touched: only the user may read it.
    opened = {p: oct(p.stat().st_mode) for p in home.rglob("*.log") if p.stat().st_mode & 0o077}
    assert opened == {}, f"logs readable by others: {opened}"


def test_daemon_mount_keeps_token_out_of_argv_and_logs(
    fuse_ok: None,
    server: object,
    tmp_path: Path,
    env: dict[str, str],  # noqa: F811
) -> None:
    mp = tmp_path / "mnt"
    mp.mkdir()
    cache = tmp_path / "cache"
    storage = server.storage_url(ALICE[0])  # type: ignore[attr-defined]
    try:
        done = run("mount", str(mp), "--url", storage, "--token", ALICE[1],
                   "--cache-dir", str(cache), "-vv", env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
        _check_mount_is_private(mp, tmp_path / "home", cache)
    finally:
        run("umount", str(mp), env=env)
        force_unmount(mp)


def test_fstab_helper_keeps_token_out_of_argv(
    fuse_ok: None,
    server: object,
    tmp_path: Path,
    env: dict[str, str],  # noqa: F811
) -> None:
    helper = Path(sys.executable).parent / "mount.pithosfs"
    if not helper.exists():
        pytest.skip("mount.pithosfs not installed (pip install -e .)")
    mp = tmp_path / "mnt"
    mp.mkdir()
    cache = tmp_path / "cache"
    storage = server.storage_url(ALICE[0])  # type: ignore[attr-defined]
    opts = f"rw,url={storage},token={ALICE[1]},cache_dir={cache}"
    try:
        done = subprocess.run([str(helper), "embedded", str(mp), "-o", opts],
                              capture_output=True, text=True, timeout=90, env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
        _check_mount_is_private(mp, tmp_path / "home", cache)
    finally:
        run("umount", str(mp), env=env)
        force_unmount(mp)


def test_embedded_server_token_stays_out_of_argv(
    fuse_ok: None,
    tmp_path: Path,
    env: dict[str, str],  # noqa: F811
) -> None:
    mp = tmp_path / "mnt"
    mp.mkdir()
    state = Path(env["HOME"]) / ".local/share/pithosfs/embedded.json"
    try:
        done = run("mount", str(mp), env=env)
        assert done.returncode == 0, done.stderr
        token = json.loads(state.read_text())["token"]
        assert (mp / "pithos").is_dir()  # the account answers with that token
        leaked = _cmdlines_mentioning(token)
        assert not leaked, f"embedded server token visible in ps: {leaked}"
        # Only the private state file may hold it; not server.log or mount.log.
        files = _files_containing(Path(env["HOME"]), token.encode())
        assert [p for p in files if p.name != "embedded.json"] == [], files
        assert state.stat().st_mode & 0o077 == 0
    finally:
        run("umount", str(mp), env=env)
        force_unmount(mp)
        if state.exists() and (pid := json.loads(state.read_text()).get("pid")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)
