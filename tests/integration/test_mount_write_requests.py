"""Request counts of small-file writes through a real mount (the mount's own client counters)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from pithosfs import protocol
from tests.integration.conftest import Mount

FILES = 20


def test_cp_of_small_new_files_costs_one_put_each(
    mnt: Path, session_mount: Mount, tmp_path: Path
) -> None:
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
    if session_mount.client.has_extension(protocol.EXT_WRITE_REPLY):
        # The PUT's reply carries what a HEAD would (embedded server): nothing else per file.
        assert delta == {"PUT": FILES}, delta
    else:  # the reference's reply has only ETag and X-Object-Version: a HEAD for the rest
        assert delta == {"PUT": FILES, "HEAD": FILES}, delta
    for i in range(FILES):
        got = session_mount.client.read_object(mnt.name, f"d/f{i:02d}")
        assert got == b"small file %d\n" % i
    assert (mnt / "d" / "f07").read_bytes() == b"small file 7\n"
