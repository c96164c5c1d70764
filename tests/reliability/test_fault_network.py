"""Network faults between the mount and the server: reads give the right bytes or an error,
writes end with the right object or an error, never wrong bytes or a partial object.

A FaultProxy sits between a real mount and the embedded server. Each round arms a random
mix of faults (connection resets, 500/503 bursts, truncated answers, uploads cut off after
N body bytes, delays), then reads or writes a fresh multi-block object through the mount and
checks the outcome against the server, read directly (not through the proxy).

Rounds: PITHOSFS_FAULT_ROUNDS (default 12 reads and 12 writes). The run prints its figures.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ALICE
from tests.integration.conftest import start_mount, stop_mount
from tests.reliability.fault_harness import (
    ProxiedServer,
    conflicts,
    env_int,
    journal_records,
    wait_until,
)
from tests.reliability.fault_proxy import Fault

pytestmark = [pytest.mark.slow, pytest.mark.mount]

ROUNDS = env_int("PITHOSFS_FAULT_ROUNDS", 12)
MIB = 1024 * 1024


def _faults(rng: random.Random, methods: tuple[str, ...]) -> list[Fault]:
    """One to three faults on the given methods; some bursts outlast the client's retries."""
    menu = [
        lambda m: Fault("reset", method=m, times=rng.randint(1, 3)),
        lambda m: Fault("status", method=m, status=503, times=rng.randint(1, 4)),
        lambda m: Fault("status", method=m, status=500, times=1),
        lambda m: Fault("status", method=m, status=503, times=12),  # past the retries
        lambda m: Fault("delay", method=m, seconds=0.3, times=3),
        lambda m: Fault("truncate", method=m, after_bytes=rng.randrange(0, 3 * MIB), times=2),
        lambda m: Fault(
            "cut_upload", method=m, after_bytes=rng.randrange(0, 3 * MIB), min_body=1, times=2
        ),
    ]
    return [rng.choice(menu)(rng.choice(methods)) for _ in range(rng.randint(1, 3))]


def _server_bytes(srv: ProxiedServer, container: str, name: str) -> bytes:
    """The object's current content, read from the version its HEAD named (a journal
    upload may land between the HEAD and the GET: never mix two versions)."""
    client = srv.direct()
    try:
        info = client.head_object(container, name)
        if not info.size:
            return b""
        return client.read_range(container, name, 0, info.size, version=info.version)
    finally:
        client.close()


def test_reads_under_faults_are_right_or_an_error(
    fuse_ok: None, proxied: ProxiedServer, tmp_path: Path, unique_name: str
) -> None:
    rng = random.Random(11)
    direct = proxied.direct()
    direct.create_container(unique_name)
    m = start_mount(proxied, ALICE, tmp_path / "m")
    outcomes: Counter[str] = Counter()
    try:
        for r in range(ROUNDS):
            data = rng.randbytes(rng.choice([100, 3 * MIB + 5, 9 * MIB + 1]))
            direct.put_object(unique_name, f"r{r}", data)
            for fault in _faults(rng, ("GET", "HEAD", "")):
                proxied.proxy.add(fault)
            try:
                got = (m.path / unique_name / f"r{r}").read_bytes()
            except OSError as exc:
                outcomes[f"error {exc.strerror}"] += 1
            else:
                outcomes["ok" if got == data else "WRONG BYTES"] += 1
            proxied.proxy.clear()
            # Whatever happened, the mount reads the object right once the faults are gone.
            assert (m.path / unique_name / f"r{r}").read_bytes() == data
        print(f"\nreads under faults: {ROUNDS} rounds, {dict(outcomes)}, "
              f"injected {dict(proxied.proxy.injected)}")  # fmt: skip
        assert outcomes["WRONG BYTES"] == 0
        assert outcomes["ok"] > 0  # the faults the client rides out really are ridden out
        assert m.proc.poll() is None
    finally:
        direct.close()
        stop_mount(m)
    assert "Traceback" not in m.log_text(), m.log_text()[-4000:]


def _write_through_mount(path: Path, new: bytes, old: bytes) -> tuple[str, bytes]:
    """Write `new` over `old`: (what was reported, what the server must end up holding).

    A refused open() accepted nothing: the old content stays. Once open() succeeded, the
    data was accepted, so even if write() or close() reports an error it must get home.
    """
    try:
        f = open(path, "wb")  # noqa: SIM115 (the stages are reported apart)
    except OSError as exc:
        return f"open refused: {exc.strerror}", old
    try:
        with f:
            f.write(new)
    except OSError as exc:
        return f"error {exc.strerror}", new
    return "ok", new


def test_writes_under_faults_end_right_or_reported(
    fuse_ok: None, proxied: ProxiedServer, tmp_path: Path, unique_name: str
) -> None:
    """close() says ok and the server holds the new content, or close() reports an error and
    the server holds the old or the new content (never a part); once the faults stop, the
    upload journal brings every reported failure home without a second write."""
    rng = random.Random(12)
    direct = proxied.direct()
    direct.create_container(unique_name)
    m = start_mount(proxied, ALICE, tmp_path / "m")
    outcomes: Counter[str] = Counter()
    news: dict[str, bytes] = {}
    try:
        for r in range(ROUNDS):
            old = rng.randbytes(rng.choice([0, 50, 5 * MIB]))
            new = rng.randbytes(rng.choice([70, 3 * MIB + 5, 9 * MIB + 1]))
            name = f"w{r}"
            direct.put_object(unique_name, name, old)
            for fault in _faults(rng, ("PUT", "POST", "")):
                proxied.proxy.add(fault)
            reported, expected = _write_through_mount(m.path / unique_name / name, new, old)
            on_server = _server_bytes(proxied, unique_name, name)
            proxied.proxy.clear()
            if reported == "ok":
                verdict = "ok" if on_server == new else "LOST WRITE"
            else:
                verdict = reported if on_server in (old, new) else "PARTIAL OBJECT"
            outcomes[verdict] += 1
            news[name] = expected
            assert verdict in ("ok", reported), f"round {r}: {verdict}"
        try:
            took = wait_until(
                lambda: all(_server_bytes(proxied, unique_name, n) == d for n, d in news.items()),
                deadline=90,
                step=0.5,
            )
        except AssertionError:
            behind = [n for n, d in news.items() if _server_bytes(proxied, unique_name, n) != d]
            lines = [ln for ln in m.log_text().splitlines() if any(n in ln for n in behind)]
            raise AssertionError(
                f"not on the server: {behind}; journal {journal_records(tmp_path / 'm' / 'cache')}"
                f"; conflicts {conflicts(tmp_path / 'm' / 'cache')}; log: {lines[-15:]}"
            ) from None
        wait_until(lambda: not journal_records(tmp_path / "m" / "cache"), deadline=10)
        assert conflicts(tmp_path / "m" / "cache") == []
        time.sleep(1.5)  # past the attribute timeout: the mount looks at the server again
        for name, content in news.items():
            assert (m.path / unique_name / name).read_bytes() == content, name
        print(f"\nwrites under faults: {ROUNDS} rounds, {dict(outcomes)}, "
              f"injected {dict(proxied.proxy.injected)}; all new contents on the server "
              f"{took:.1f} s after the last round")  # fmt: skip
        assert outcomes["ok"] > 0
        assert m.proc.poll() is None
    finally:
        direct.close()
        stop_mount(m)
    assert "Traceback" not in m.log_text(), m.log_text()[-4000:]


def test_writes_recover_after_a_network_cut(
    fuse_ok: None, proxied: ProxiedServer, tmp_path: Path, unique_name: str
) -> None:
    """Every connection reset mid-copy, repeatedly: the copy succeeds or reports, then works."""
    direct = proxied.direct()
    direct.create_container(unique_name)
    m = start_mount(proxied, ALICE, tmp_path / "m")
    data = os.urandom(24 * MIB)
    try:
        target = m.path / unique_name / "cut.bin"
        with open(target, "wb") as f:
            for i in range(0, len(data), MIB):
                f.write(data[i : i + MIB])
                if i % (6 * MIB) == 0:
                    proxied.proxy.drop_connections()
        assert _server_bytes(proxied, unique_name, "cut.bin") == data
        assert target.read_bytes() == data
    finally:
        direct.close()
        stop_mount(m)
    assert "Traceback" not in m.log_text(), m.log_text()[-4000:]
