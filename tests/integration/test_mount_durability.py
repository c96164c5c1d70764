"""Durability of the write path on real mounts: the server goes away under an open file.

The server is an in-process EmbeddedServer that the tests stop and start again
on the same port and data dir; the mount is a real FUSE mount in a subprocess
(conftest.start_mount). What must hold: close() reports the failure within a
bounded time, the bytes are in `<cache-dir>/journal`, they reach the server by
themselves when it is back (also after the mount was killed and mounted
again), a changed object is never overwritten (the bytes go to
`<cache-dir>/conflicts/`), `umount` refuses while uploads are pending and names
them, and `status` shows them and the traffic counters.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pithosfs.client.errors import NotFound
from pithosfs.client.pithos import PithosClient
from pithosfs.server import EmbeddedServer
from tests.conftest import ALICE
from tests.integration.conftest import Mount, start_mount, stop_mount

CLOSE_BOUND = 60.0  # seconds close() may take against a dead server (client retries)
RETRY_MAX = "1"  # the mount's journal retrier backs off up to 1 s (default 30 s)


def port_outside_ephemeral_range() -> int:
    """A free port below the kernel's ephemeral range.

    The server must come back on the same port (the mount knows only that URL); a port
    from the ephemeral range could meanwhile be handed to some client socket as its own.
    Not 0 either: cheroot sets SO_REUSEADDR only for a fixed port.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port below the ephemeral range")


class RestartableServer:
    """An embedded server that can be stopped and started again on the same port and data."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = port_outside_ephemeral_range()
        self.srv: EmbeddedServer | None = None

    def start(self, attempts: int = 50) -> None:
        for attempt in range(attempts):
            srv = EmbeddedServer(self.data_dir, host="127.0.0.1", port=self.port,
                                 users=dict([ALICE]))  # fmt: skip
            try:
                srv.start()
            except OSError:  # the port is still held by a closing socket: a moment more
                srv.backend.close()
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2)
                continue
            self.srv = srv
            return

    def stop(self) -> None:
        if self.srv is not None:
            self.srv.stop()
            self.srv = None

    def storage_url(self, uuid: str) -> str:
        return f"http://127.0.0.1:{self.port}/object-store/v1/{uuid}"


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[RestartableServer]:
    s = RestartableServer(tmp_path / "data")
    s.start()
    yield s
    s.stop()


@pytest.fixture
def mounts(fuse_ok: None, srv: RestartableServer, tmp_path: Path) -> Iterator[Callable[..., Mount]]:
    """Mounts of `srv` sharing one cache dir (so a remount finds the journal)."""
    started: list[Mount] = []

    def _make() -> Mount:
        m = start_mount(
            srv, ALICE, tmp_path / f"m{len(started)}", "--cache-dir", str(tmp_path / "cache"),
            env_extra={"PITHOSFS_RETRY_MAX": RETRY_MAX},
        )  # fmt: skip
        started.append(m)
        return m

    yield _make
    for m in started:
        stop_mount(m)


def cli(m: Mount, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pithosfs", *args], capture_output=True,
                          text=True, timeout=120, env=m.env)  # fmt: skip


def journal_records(cache: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((cache / "journal").glob("*.json"))]


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not reached in {timeout} s: {what}"
        time.sleep(0.1)


def server_bytes(client: PithosClient, container: str, name: str) -> bytes | None:
    try:
        info = client.head_object(container, name)
    except NotFound:
        return None
    return client.read_range(container, name, 0, info.size) if info.size else b""


def write_through_outage(m: Mount, srv: RestartableServer, path: Path, data: bytes) -> float:
    """Write half, lose the server, write the rest; close() must fail. Returns its duration."""
    f = open(path, "wb")  # noqa: SIM115 - closed below, where the error is the point
    f.write(data[: len(data) // 2])
    f.flush()
    srv.stop()
    f.write(data[len(data) // 2 :])
    started = time.monotonic()
    with pytest.raises(OSError) as caught:
        f.close()
    assert caught.value.errno == errno.EIO, caught.value
    return time.monotonic() - started


def test_failed_close_is_journalled_and_uploaded_when_the_server_returns(
    mounts: Callable[..., Mount], srv: RestartableServer, tmp_path: Path, unique_name: str
) -> None:
    m = mounts()
    (m.path / unique_name).mkdir()
    data = os.urandom(6 * 1024 * 1024 + 123)
    took = write_through_outage(m, srv, m.path / unique_name / "f.bin", data)
    assert took < CLOSE_BOUND
    print(f"close() against the stopped server failed with EIO after {took:.1f} s")
    cache = tmp_path / "cache"
    wait_for(lambda: journal_records(cache), 60, "the release journals the file")
    (record,) = journal_records(cache)
    assert (record["container"], record["name"], record["size"]) == (
        unique_name,
        "f.bin",
        len(data),
    )
    assert (cache / "journal" / f"{record['id']}.data").read_bytes() == data

    shown = cli(m, "status", str(m.path))
    assert shown.returncode == 0, shown.stderr
    assert f"/{unique_name}/f.bin" in shown.stdout and "journal" in shown.stdout, shown.stdout
    watch = subprocess.Popen(
        [sys.executable, "-m", "pithosfs", "status", str(m.path), "--watch", "--interval", "0.3"],
        stdout=subprocess.PIPE, text=True, env=m.env,
    )  # fmt: skip
    time.sleep(3)
    watch.terminate()
    watched, _ = watch.communicate(timeout=30)
    assert watched.count(f"/{unique_name}/f.bin") >= 2, watched  # refreshed, not printed once
    refused = cli(m, "umount", str(m.path))
    assert refused.returncode == 1 and f"/{unique_name}/f.bin" in refused.stderr, refused.stderr
    assert "busy" in refused.stderr and os.path.ismount(m.path)

    srv.start()  # the same port and data: the retrier gets through by itself
    wait_for(lambda: server_bytes(m.client, unique_name, "f.bin") == data, 60, "uploaded")
    wait_for(lambda: not journal_records(cache), 10, "journal emptied")
    assert list((cache / "journal").iterdir()) == []
    assert (m.path / unique_name / "f.bin").read_bytes() == data
    snap = json.loads(cli(m, "status", str(m.path), "--json").stdout)[0]
    assert snap["uploads"] == []
    assert snap["requests"]["PUT"]["requests"] >= 1 and snap["requests"]["PUT"]["sent"] > 0
    assert any("f.bin" in e["message"] for e in snap["errors"])  # the failed commit, logged
    done = cli(m, "umount", str(m.path))
    assert done.returncode == 0, done.stderr
    assert not os.path.ismount(m.path)


def disk_bytes(root: Path) -> int:
    """Bytes the files below `root` take on disk (holes excluded)."""
    return sum(p.stat().st_blocks * 512 for p in root.rglob("*") if p.is_file())


def test_close_over_quota_is_edquot_nothing_is_kept_and_the_next_write_commits_at_once(
    mounts: Callable[..., Mount], srv: RestartableServer, tmp_path: Path, unique_name: str
) -> None:
    """Over quota is a refusal for good: the writer gets EDQUOT at close, nothing goes to
    the journal or is retried, and a sparse 1 TiB file costs the cache dir nothing."""
    m = mounts()
    (m.path / unique_name).mkdir()
    (m.path / unique_name / "small").write_bytes(b"fits")
    assert srv.srv is not None
    srv.srv.backend.account_quota = m.client.account_info().bytes_used + 10_000
    cache = tmp_path / "cache"
    before = disk_bytes(cache)
    with pytest.raises(OSError) as caught:
        with open(m.path / unique_name / "large", "wb") as f:
            f.write(os.urandom(200_000))
    assert caught.value.errno == errno.EDQUOT
    sparse = subprocess.run(
        ["truncate", "-s", "1T", str(m.path / unique_name / "huge")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert sparse.returncode != 0 and "quota" in sparse.stderr.lower(), sparse
    started = time.monotonic()
    (m.path / unique_name / "after").write_bytes(b"a later write")  # close() succeeded
    print(f"\nthe next write committed in {time.monotonic() - started:.2f} s")
    assert server_bytes(m.client, unique_name, "after") == b"a later write"
    time.sleep(2.5)  # a retrier would have tried again by now (RETRY_MAX 1 s)
    grown = disk_bytes(cache) - before
    print(f"cache dir grew by {grown} bytes")
    assert grown < 10 * 1024 * 1024
    assert journal_records(cache) == [] and not list(cache.glob("failed/*"))
    assert server_bytes(m.client, unique_name, "large") is None
    assert server_bytes(m.client, unique_name, "huge") is None
    log = m.log_text()
    assert "still pending" not in log and "in the journal" not in log, log[-3000:]
    assert "over quota" in log


def test_killed_mount_replays_its_journal_at_the_next_mount(
    mounts: Callable[..., Mount], srv: RestartableServer, tmp_path: Path, unique_name: str
) -> None:
    m = mounts()
    (m.path / unique_name).mkdir()
    data = os.urandom(300_000)
    write_through_outage(m, srv, m.path / unique_name / "kept", data)
    wait_for(lambda: journal_records(tmp_path / "cache"), 60, "journalled")
    os.kill(m.proc.pid, signal.SIGKILL)
    m.proc.wait(10)
    shown = cli(m, "status", str(m.path))
    assert "gone" in shown.stdout and f"/{unique_name}/kept" in shown.stdout, shown.stdout
    detached = cli(m, "umount", str(m.path))  # a dead mount: nothing to wait for
    assert detached.returncode == 0, detached.stderr
    assert f"/{unique_name}/kept" in detached.stderr and "next mount" in detached.stderr
    assert not os.path.ismount(m.path)
    assert "no pithosfs mount" in cli(m, "status", str(m.path)).stdout
    srv.start()
    again = mounts()
    client = again.client
    wait_for(lambda: server_bytes(client, unique_name, "kept") == data, 60, "replayed")
    assert journal_records(tmp_path / "cache") == []
    assert "left by an earlier mount" in again.log_text()


def test_object_changed_meanwhile_is_kept_under_conflicts(
    mounts: Callable[..., Mount], srv: RestartableServer, tmp_path: Path, unique_name: str
) -> None:
    m = mounts()
    (m.path / unique_name).mkdir()
    (m.path / unique_name / "doc").write_bytes(b"version 1")
    write_through_outage(m, srv, m.path / unique_name / "doc", b"mine, written in the outage")
    wait_for(lambda: journal_records(tmp_path / "cache"), 60, "journalled")
    stop_mount(m)  # the journal stays for the next mount
    srv.start()
    other = PithosClient.from_storage_url(srv.storage_url(ALICE[0]), ALICE[1])
    other.put_object(unique_name, "doc", b"theirs, written meanwhile")
    again = mounts()
    kept = tmp_path / "cache" / "conflicts" / unique_name / "doc"
    # The bytes move first, then the record goes: wait for both.
    wait_for(lambda: kept.exists() and not journal_records(tmp_path / "cache"), 60, "kept")
    assert kept.read_bytes() == b"mine, written in the outage"
    assert server_bytes(other, unique_name, "doc") == b"theirs, written meanwhile"
    assert "conflict" in again.log_text()
    snap = json.loads(cli(again, "status", str(again.path), "--json").stdout)[0]
    assert [c["path"] for c in snap["conflicts"]] == [f"/{unique_name}/doc"]
    other.close()


def test_umount_force_leaves_pending_uploads_in_the_journal(
    mounts: Callable[..., Mount], srv: RestartableServer, tmp_path: Path, unique_name: str
) -> None:
    m = mounts()
    (m.path / unique_name).mkdir()
    write_through_outage(m, srv, m.path / unique_name / "late", b"x" * 5000)
    wait_for(lambda: journal_records(tmp_path / "cache"), 60, "journalled")
    forced = cli(m, "umount", "--force", str(m.path))
    assert forced.returncode == 0, forced.stderr
    assert f"/{unique_name}/late" in forced.stderr and "journal" in forced.stderr
    assert not os.path.ismount(m.path)
    assert [r["name"] for r in journal_records(tmp_path / "cache")] == ["late"]


def test_umount_wait_returns_once_the_journal_is_through(
    mounts: Callable[..., Mount], srv: RestartableServer, tmp_path: Path, unique_name: str
) -> None:
    m = mounts()
    (m.path / unique_name).mkdir()
    data = os.urandom(100_000)
    write_through_outage(m, srv, m.path / unique_name / "waited", data)
    assert journal_records(tmp_path / "cache")  # journalled before close() returned
    srv.start()
    done = cli(m, "umount", "--wait", "60", str(m.path))  # returns once the retrier is through
    assert done.returncode == 0, done.stderr
    assert not os.path.ismount(m.path)
    assert server_bytes(m.client, unique_name, "waited") == data
    assert journal_records(tmp_path / "cache") == []


def test_status_shows_an_open_file_with_unsaved_changes_and_its_progress(
    mounts: Callable[..., Mount], unique_name: str
) -> None:
    m = mounts()
    (m.path / unique_name).mkdir()
    target = m.path / unique_name / "big"
    size = 24 * 1024 * 1024
    # The writer is its own process: a child forked from this one would inherit the open
    # file and close it at exec, which is a FUSE flush (a commit). It writes about 4 MiB/s,
    # so full blocks go up in the background while status watches.
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target), str(size), str(1024 * 1024), "0.25"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip

    def shown() -> dict:  # type: ignore[type-arg]
        return json.loads(cli(m, "status", str(m.path), "--json").stdout)[0]

    def moving() -> bool:
        uploads = shown()["uploads"]
        return bool(uploads) and uploads[0]["sent"] > 0 and uploads[0]["rate"] > 0

    try:
        wait_for(moving, 30, "a measured upload rate while the file is written")
        (upload,) = shown()["uploads"]
        assert upload["path"] == f"/{unique_name}/big" and upload["state"] == "open"
        assert 0 < upload["sent"] <= upload["total"] <= size
        assert writer.stdout is not None and writer.stdout.readline().strip() == "written"
        assert shown()["open_files"] == [{"path": f"/{unique_name}/big", "dirty": True}]
        text = cli(m, "status", str(m.path)).stdout
        # Still being written: bytes written and uploaded so far, no bar (no final size).
        assert f"/{unique_name}/big" in text and "unsaved changes" in text, text
        assert "written " in text and ", uploaded " in text and "[#" not in text, text
        refused = cli(m, "umount", str(m.path))
        assert refused.returncode == 1 and f"/{unique_name}/big (open)" in refused.stderr
    finally:
        assert writer.stdin is not None
        writer.stdin.write("close\n")
        writer.stdin.flush()
        assert writer.wait(60) == 0
    wait_for(lambda: shown()["uploads"] == [], 30, "committed at close")
    assert target.stat().st_size == size


# Writes SIZE random bytes to PATH in CHUNKs with PAUSE seconds between them, says so,
# and keeps the file open until told to close.
WRITER = """
import os, sys, time
path, size, chunk, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
f = open(path, "wb")
for _ in range(size // chunk):
    f.write(os.urandom(chunk))
    f.flush()
    time.sleep(pause)
print("written", flush=True)
sys.stdin.readline()
f.close()
"""
