"""Request counts of a real mount, from the mount process's own client counters."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.conftest import Mount

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
