"""Request counts of a real mount, from the mount process's own client counters."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.conftest import ATTR_TIMEOUT, Mount

N = 10_000


@pytest.mark.slow
def test_ls_l_of_10000_objects_costs_two_listings_and_no_request_per_file(
    mount_factory: Callable[..., Mount], unique_name: str
) -> None:
    m = mount_factory("--attr-timeout", "60", "--dir-timeout", "60")
    m.client.create_container(unique_name)
    m.client.put_object(unique_name, "big", b"", "application/directory")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: m.client.put_object(unique_name, f"big/f{i:05d}", b"x"), range(N)))
    (m.path / unique_name).stat()  # the container's own lookup is not what we measure
    before = m.counters(after=time.time())
    started = time.monotonic()
    out = subprocess.run(
        ["ls", "-l", str(m.path / unique_name / "big")],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    after = m.counters(after=time.time())
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert out.stdout.count("\n") == N + 1  # "total" line + one per file
    assert delta.get("GET", 0) <= 2, delta  # the listing (a 10,000-entry page + its end)
    assert delta.get("HEAD", 0) <= 1, delta  # the directory's own lookup, not per file
    assert sum(delta.values()) <= 3, delta
    print(f"ls -l of {N} objects: {elapsed:.2f} s, requests {delta}")


MiB = 1024 * 1024
BIG = 256 * MiB
BLOCK = 4 * MiB
HASHMAP_ALLOWANCE = 64 * 1024  # the JSON hashmaps exchanged around the data blocks


@pytest.mark.slow
def test_recopy_and_one_byte_edit_of_256_mib_on_the_wire(
    mnt: Path, tmp_path: Path, session_mount: Mount
) -> None:
    src = tmp_path / "big"
    subprocess.run(f"head -c {BIG} /dev/urandom > {src}", shell=True, check=True, timeout=120)
    started = time.monotonic()
    subprocess.run(["cp", str(src), str(mnt / "a")], check=True, timeout=240)
    first_copy = time.monotonic() - started
    before = session_mount.wire_bytes(after=time.time())
    started = time.monotonic()
    subprocess.run(["cp", str(src), str(mnt / "b")], check=True, timeout=240)
    second_copy = time.monotonic() - started
    recopy = session_mount.wire_bytes(after=time.time()) - before
    assert recopy <= BIG // 100, f"re-copy moved {recopy} bytes"
    before = session_mount.wire_bytes(after=time.time())
    subprocess.run(
        f"printf Z | dd of={mnt}/b bs=1 seek={BIG // 2 + 12345} conv=notrunc status=none",
        shell=True, check=True, timeout=120,
    )  # fmt: skip
    edit = session_mount.wire_bytes(after=time.time()) - before
    assert edit <= 2 * BLOCK + HASHMAP_ALLOWANCE, f"1-byte edit moved {edit} bytes"
    info = session_mount.client.head_object(mnt.name, "b")
    assert info.size == BIG
    assert session_mount.client.read_range(mnt.name, "b", BIG // 2 + 12340, 10)[5:6] == b"Z"
    print(
        f"256 MiB: first cp {first_copy:.1f} s ({BIG / MiB / first_copy:.0f} MiB/s), "
        f"identical re-copy {second_copy:.1f} s with {recopy} B on the wire, "
        f"1-byte dd {edit} B on the wire"
    )


def test_ls_l_shows_stored_modes_and_mtimes_from_the_listing(
    mnt: Path, session_mount: Mount
) -> None:
    for i in range(20):
        f = mnt / f"f{i}"
        f.write_text("x")
        os.chmod(f, 0o751)
        os.utime(f, ns=(0, 981_173_106_000_000_000 + i))  # 2001-02-03
    time.sleep(2 * ATTR_TIMEOUT + 0.5)  # forget everything: the next answers come from the store
    before = session_mount.counters(after=time.time())
    out = subprocess.run(
        ["ls", "-l", "--time-style=+%Y", str(mnt)], check=True, capture_output=True, text=True
    ).stdout.splitlines()[1:]
    delta = {k: v - before.get(k, 0) for k, v in session_mount.counters(after=time.time()).items()}
    assert len(out) == 20
    assert all(line.startswith("-rwxr-x--x") and " 2001 " in line for line in out), out
    assert delta.get("HEAD", 0) <= 1 and delta.get("GET", 0) <= 1, delta


def test_readdirplus_answers_ls_l_without_a_lookup_per_entry(
    mount_factory: Callable[..., Mount], unique_name: str
) -> None:
    m = mount_factory("-vv")
    m.client.create_container(unique_name)
    for i in range(50):
        m.client.put_object(unique_name, f"f{i:02d}", b"x")
    start = m.log_size()
    out = subprocess.run(["ls", "-l", str(m.path / unique_name)], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    assert out.count("\n") == 51
    log = m.log_text(start)
    per_entry = [ln for ln in log.splitlines() if f"getattr('/{unique_name}/f" in ln]
    assert "readdir_plus(" in log
    assert per_entry == [], per_entry[:5]
