"""The mount against a server that answers as the reference Pithos+ (no extension)
and against the default one: modes, mtimes, scripts, rsync, dedup and read-only
shares must come out the same. Each test runs against both servers.

With PITHOSFS_FIDELITY_NUMBERS=<file>, each scenario appends the requests and
bytes it cost to that file (JSON lines); scripts/bench_fidelity.py runs them so.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE, BOB
from tests.integration.conftest import Mount, start_mount, stop_mount

MiB = 1024 * 1024
FILES = 41


@pytest.fixture(scope="module", params=["default", "strict"])
def kind(request: pytest.FixtureRequest, make_server: Callable[..., object]) -> tuple[str, object]:
    return request.param, make_server(strict=request.param == "strict")


@pytest.fixture
def mounts(
    fuse_ok: None, kind: tuple[str, object], tmp_path: Path
) -> Iterator[Callable[..., Mount]]:
    """Start mounts of the module's server; each gets its own cache unless `cache` is given.

    Attributes and listings are trusted for a minute (the default is 5 s), so what a
    tool sees after a listing is what the listing said, not a later HEAD.
    """
    started: list[Mount] = []

    def _mount(user: tuple[str, str] = ALICE, cache: Path | None = None) -> Mount:
        root = tmp_path / f"m{len(started)}"
        extra = ("--attr-timeout", "60", "--dir-timeout", "60")
        if cache is not None:
            extra += ("--cache-dir", str(cache))
        m = start_mount(kind[1], user, root, *extra)
        started.append(m)
        return m

    yield _mount
    for m in started:
        if m.proc.poll() is None:
            stop_mount(m)
    for m in started:
        assert "Traceback" not in m.log_text(), m.log_text()[-4000:]


def sh(cmd: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, shell=True, check=True, capture_output=True, text=True, timeout=600, **kw
    )  # type: ignore[call-overload, no-any-return]


def record(kind: str, case: str, m: Mount, **extra: object) -> dict[str, object]:
    """The requests and bytes `m` made since it started (its status file, written after
    this call began), kept for the report."""
    state = m.status(time.time())
    numbers: dict[str, object] = {
        "server": kind,
        "case": case,
        "requests": dict(state.get("by_method", {})),  # type: ignore[call-overload]
        "bytes_sent": int(state["bytes_sent"]),  # type: ignore[call-overload]
        "bytes_received": int(state["bytes_received"]),  # type: ignore[call-overload]
        **extra,
    }
    out = os.environ.get("PITHOSFS_FIDELITY_NUMBERS")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(numbers) + "\n")
    return numbers


def counted(m: Mount, since: dict[str, object], now: dict[str, object]) -> dict[str, int]:
    before = since["requests"]  # type: ignore[index]
    return {
        k: v - before.get(k, 0)  # type: ignore[union-attr, operator]
        for k, v in now["requests"].items()  # type: ignore[union-attr]
        if v != before.get(k, 0)  # type: ignore[union-attr]
    }


def make_tree(src: Path) -> None:
    """FILES files with assorted modes and old mtimes (ns), one of them a script."""
    (src / "bin").mkdir(parents=True)
    (src / "bin" / "run.sh").write_text("#!/bin/sh\necho ran\n")
    os.chmod(src / "bin" / "run.sh", 0o755)
    for i in range(FILES - 1):
        path = src / ("docs" if i % 2 else "data") / f"f{i:02d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"file {i}\n" * (i + 1))
        os.chmod(path, (0o600, 0o640, 0o644, 0o755)[i % 4])
        os.utime(path, ns=(1_600_000_000_123_456_789 + i, 1_600_000_000_123_456_789 + i * 1000))


def modes_and_times(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(root))] = (stat.S_IMODE(st.st_mode), st.st_mtime_ns)
    return out


def test_modes_mtimes_scripts_and_rsync_survive_listings_and_fresh_mounts(
    kind: tuple[str, object], mounts: Callable[..., Mount], tmp_path: Path, unique_name: str
) -> None:
    src = tmp_path / "src"
    make_tree(src)
    first = mounts()
    tree = first.path / unique_name / "tree"
    tree.parent.mkdir()
    sh(f"cp -a {src} {tree}")
    record(kind[0], "writing mount: before", first)
    os.chmod(tree / "data" / "f00.txt", 0o755)  # a chmod 755 of a file the mount wrote
    os.chmod(src / "data" / "f00.txt", 0o755)
    record(kind[0], "writing mount: chmod 755", first)
    sh(f"ls -lR {tree}")
    record(kind[0], "writing mount: ls -lR", first)
    stop_mount(first)

    # A brand-new mount (empty cache): ls -lR, cp -a out, the script, rsync.
    fresh = mounts()
    tree = fresh.path / unique_name / "tree"
    start = record(kind[0], "fresh mount: before", fresh)
    sh(f"ls -lR {tree}")
    listed = record(kind[0], "fresh mount: ls -lR", fresh)
    out = tmp_path / "out"
    sh(f"cp -a {tree} {out}")
    copied = record(kind[0], "fresh mount: cp -a out", fresh)
    assert modes_and_times(out) == modes_and_times(src)
    assert sh(str(tree / "bin" / "run.sh")).stdout == "ran\n"
    rsync = sh(f"rsync -a --stats {src}/ {tree}/").stdout
    assert "Number of regular files transferred: 0" in rsync, rsync
    synced = record(kind[0], "fresh mount: the script, then rsync -a", fresh)
    assert counted(fresh, copied, synced).get("PUT", 0) == 0
    # Never a default for a file the listing could not describe: at most one HEAD
    # per object (a version's metadata is fetched once), none with the extension.
    heads = counted(fresh, start, listed).get("HEAD", 0)
    assert heads <= FILES + 8 if kind[0] == "strict" else heads <= 8, counted(fresh, start, listed)
    stop_mount(fresh)

    # The same cache dir again: what was seen is known, no HEAD per file.
    again = mounts(cache=fresh.path.parent / "cache")
    start = record(kind[0], "same cache again: before", again)
    sh(f"ls -lR {again.path / unique_name / 'tree'}")
    listed = record(kind[0], "same cache again: ls -lR", again)
    assert counted(again, start, listed).get("HEAD", 0) <= 8
    assert modes_and_times(again.path / unique_name / "tree") == modes_and_times(src)


def test_recopy_of_content_the_server_holds_sends_under_one_percent(
    kind: tuple[str, object], mounts: Callable[..., Mount], tmp_path: Path, unique_name: str
) -> None:
    size = 32 * MiB
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(size))
    first = mounts()
    (first.path / unique_name).mkdir()
    before = record(kind[0], "32 MiB first copy: before", first)
    sh(f"cp {local} {first.path / unique_name / 'a.bin'}")
    after = record(kind[0], "32 MiB first copy", first)
    assert int(after["bytes_sent"]) - int(before["bytes_sent"]) >= size  # type: ignore[call-overload]
    stop_mount(first)
    fresh = mounts()
    before = record(kind[0], "32 MiB re-copy, fresh mount: before", fresh)
    sh(f"cp {local} {fresh.path / unique_name / 'b.bin'}")
    after = record(kind[0], "32 MiB re-copy, fresh mount", fresh)
    sent = int(after["bytes_sent"]) - int(before["bytes_sent"])  # type: ignore[call-overload]
    assert sent < size // 100, (sent, counted(fresh, before, after))
    assert fresh.client.read_object(unique_name, "b.bin") == local.read_bytes()


def test_read_only_shared_folder(
    kind: tuple[str, object], mounts: Callable[..., Mount], unique_name: str
) -> None:
    alice = mounts()
    docs = alice.path / unique_name / "docs"
    docs.mkdir(parents=True)
    (docs / "report.txt").write_text("alice's report\n")
    (docs / "tool.sh").write_text("#!/bin/sh\n")
    os.chmod(docs / "tool.sh", 0o755)
    (docs / "sub").mkdir()
    (docs / "sub" / "deep.txt").write_text("deep\n")
    alice.client.put_object(unique_name, "docs/implied/x.txt", b"x")  # no marker above it
    os.setxattr(docs, "user.pithos.sharing", f"read={BOB[0]}".encode())
    # The folder's sharing shows on what is inside, and is changed on the folder only.
    assert os.getxattr(docs / "report.txt", "user.pithos.sharing") == f"read={BOB[0]}".encode()
    since = alice.log_size()
    for attempt in (
        lambda: os.removexattr(docs / "report.txt", "user.pithos.sharing"),
        lambda: os.setxattr(docs / "report.txt", "user.pithos.sharing", b"read=*"),
    ):
        with pytest.raises(OSError) as info:
            attempt()
        assert info.value.errno == errno.EPERM
    assert f"set on its folder /{unique_name}/docs" in alice.log_text(since)

    bob = mounts(user=BOB)
    shared = bob.path / ".shared" / ALICE[0] / unique_name / "docs"
    before = record(kind[0], "read-only share: before", bob)
    listing = sorted(os.listdir(shared))
    assert listing == ["implied", "report.txt", "sub", "tool.sh"]
    for name in ("report.txt", "tool.sh", "sub", "sub/deep.txt", ".", "implied", "implied/x.txt"):
        assert stat.S_IMODE(os.stat(shared / name).st_mode) & 0o222 == 0, name
    assert stat.S_IMODE(os.stat(shared / "tool.sh").st_mode) & 0o111  # still runnable
    assert (shared / "report.txt").read_text() == "alice's report\n"
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC, os.O_WRONLY | os.O_APPEND):
        with pytest.raises(OSError) as info:
            os.open(shared / "sub" / "deep.txt", flags)
        assert info.value.errno == errno.EACCES, flags
    for attempt in (
        lambda: (shared / "new.txt").write_text("x"),
        lambda: (shared / "implied" / "new.txt").write_text("x"),
        lambda: os.truncate(shared / "report.txt", 0),
    ):
        with pytest.raises(OSError) as info:
            attempt()
        assert info.value.errno == errno.EACCES
    record(kind[0], "read-only share: ls, stat, read, refused writes", bob)
    assert alice.client.read_object(unique_name, "docs/report.txt") == b"alice's report\n"
    assert before  # counted from the mount's start
