"""Fault injection with a mount behind the fault proxy: the server refusing for good, the
server going silent, and what the writer sees in each case, where the data is, and that
nothing acknowledged is lost.

* Refusing (403, 400, 409, 413, 507 on the commit): close() fails with the errno of the
  one table (commit_failures.py) at once, nothing is journalled or retried, the server
  keeps the old object; the next write, once the server takes it, commits.
* Silent (the proxy holds requests and never answers): close() fails with EIO within the
  mount's --timeout, the file is in the journal, and it reaches the server once the
  server answers again; a read of an uncached file fails with EIO within the timeout too.

`PITHOSFS_FAULT_TRIALS` (default 2) trials per kind and size; `PITHOSFS_SILENT_TIMEOUT`
(default 6 s) is the mount's --timeout in the silent-server test. Figures are printed.
"""

from __future__ import annotations

import errno
import os
import time
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

MIB = 1024 * 1024
REFUSALS = [
    (403, errno.EACCES),
    (400, errno.EINVAL),
    (409, errno.EIO),
    (413, errno.EDQUOT),
    (507, errno.ENOSPC),
]


def test_refusals_fail_at_close_with_their_errno_and_are_never_retried(
    fuse_ok: None, proxied: ProxiedServer, tmp_path: Path, unique_name: str
) -> None:
    direct = proxied.direct()
    direct.create_container(unique_name)
    old = b"the old version"
    m = start_mount(proxied, ALICE, tmp_path / "m", env_extra={"PITHOSFS_RETRY_MAX": "1"})
    cache = tmp_path / "m" / "cache"
    trials = env_int("PITHOSFS_FAULT_TRIALS", 2)
    injected: dict[int, int] = {}
    ran = 0
    try:
        for status, number in REFUSALS:
            for size in (10_000, 5 * MIB + 7):  # one plain PUT; blocks and a hashmap PUT
                for trial in range(trials):
                    name = f"r{status}-{size}-{trial}"
                    direct.put_object(unique_name, name, old)
                    fault = proxied.proxy.add(
                        Fault("status", method="PUT", path=f"/{name}", status=status, times=-1)
                    )
                    path = m.path / unique_name / name
                    with pytest.raises(OSError) as caught:
                        with open(path, "wb") as f:
                            f.write(os.urandom(size))
                    assert caught.value.errno == number, (status, caught.value)
                    fired = fault.fired
                    time.sleep(1.5)  # a retrier would have tried again (retry max 1 s)
                    assert fault.fired == fired, f"{status}: sent again after the refusal"
                    injected[status] = injected.get(status, 0) + fault.fired
                    proxied.proxy.clear()
                    assert proxied.server_bytes(unique_name, name) == old
                    ran += 1
                    new = os.urandom(size)  # the server takes writes again: this one commits
                    path.write_bytes(new)
                    assert proxied.server_bytes(unique_name, name) == new
        assert journal_records(cache) == [] and not list(cache.glob("failed/*"))
        assert conflicts(cache) == []
        log = m.log_text()
        assert "still pending" not in log and "in the journal" not in log, log[-3000:]
    finally:
        stop_mount(m)
        direct.close()
    print(f"\nrefusals: {ran} trials, requests refused per status {injected}, "
          "acknowledged bytes lost: 0")  # fmt: skip


def test_a_silent_server_fails_close_within_the_timeout_and_the_journal_delivers(
    fuse_ok: None, proxied: ProxiedServer, tmp_path: Path, unique_name: str
) -> None:
    timeout = float(os.environ.get("PITHOSFS_SILENT_TIMEOUT") or 6)
    direct = proxied.direct()
    direct.create_container(unique_name)
    stored = os.urandom(MIB)
    direct.put_object(unique_name, "stored.bin", stored)
    m = start_mount(
        proxied, ALICE, tmp_path / "m", "--timeout", str(timeout),
        env_extra={"PITHOSFS_RETRY_MAX": "1"},
    )  # fmt: skip
    cache = tmp_path / "m" / "cache"
    data = os.urandom(3 * MIB)
    try:
        (m.path / unique_name / "warm").write_bytes(b"the container is known")
        f = open(m.path / unique_name / "silent.bin", "wb")  # noqa: SIM115 - closed below
        for method in ("PUT", "POST", "GET", "HEAD"):  # accepted, never answered
            proxied.proxy.add(Fault("delay", method=method, seconds=3600, times=-1))
        f.write(data)
        started = time.monotonic()
        with pytest.raises(OSError) as caught:
            f.close()
        close_took = time.monotonic() - started
        assert caught.value.errno == errno.EIO
        (record,) = journal_records(cache)
        assert (cache / "journal" / f"{record['id']}.data").read_bytes() == data
        started = time.monotonic()
        with pytest.raises(OSError) as caught:
            (m.path / unique_name / "stored.bin").read_bytes()
        read_took = time.monotonic() - started
        assert caught.value.errno == errno.EIO
        print(f"\nsilent server, --timeout {timeout:g} s: close() failed after "
              f"{close_took:.1f} s, an uncached read after {read_took:.1f} s")  # fmt: skip
        assert close_took < 3 * timeout and read_took < 3 * timeout
        proxied.proxy.clear()  # the server answers again
        wait_until(lambda: proxied.server_bytes(unique_name, "silent.bin") == data, 120)
        wait_until(lambda: not journal_records(cache), 30)
    finally:
        stop_mount(m)
        direct.close()
