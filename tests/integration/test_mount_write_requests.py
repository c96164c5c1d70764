"""Request counts of small-file writes through a real mount (the mount's own client counters)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import Mount

FILES = 20
# Longer than the copy can take on a loaded machine: what the mount knows about the new
# directory (empty, created here) must not expire halfway, or lookups reach the server.
TRUSTED_SECONDS = "600"


def test_cp_of_small_new_files_costs_one_put_each(
    mount_factory: Callable[..., Mount], tmp_path: Path, unique_name: str
) -> None:
    session_mount = mount_factory(
        "--attr-timeout", TRUSTED_SECONDS, "--dir-timeout", TRUSTED_SECONDS
    )
    mnt = session_mount.path / unique_name
    mnt.mkdir()
    sources = []
    for i in range(FILES):
        src = tmp_path / f"f{i:02d}"
        src.write_bytes(b"small file %d\n" % i)
        sources.append(str(src))
    (mnt / "d").mkdir()  # a directory the mount knows is empty: no lookup goes to the server
    # A first write reads the container's block layout once (cached per container).
    subprocess.run(["cp", sources[0], str(mnt / "warm-up")], check=True, timeout=60)
    before = session_mount.counters(after=time.time())
    subprocess.run(["cp", *sources, str(mnt / "d")], check=True, timeout=120)
    after = session_mount.counters(after=time.time())
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    # The PUT's reply carries what a HEAD would (the write-reply extension), or, from the
    # reference, ETag and X-Object-Version, which with what was sent make the new version's
    # attributes: nothing else per file either way.
    assert delta == {"PUT": FILES}, delta
    for i in range(FILES):
        got = session_mount.client.read_object(mnt.name, f"d/f{i:02d}")
        assert got == b"small file %d\n" % i
    assert (mnt / "d" / "f07").read_bytes() == b"small file 7\n"
