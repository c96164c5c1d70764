"""The real kamaki 0.16 CLI's `file`, `container` and `quota` commands against the embedded server.

Skipped where kamaki is absent (see tests/server/test_plankton_kamaki.py for installing it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import User
from tests.server.test_plankton_kamaki import KAMAKI, Kamaki

pytestmark = pytest.mark.skipif(not KAMAKI.exists(), reason=f"kamaki not installed at {KAMAKI}")


def test_kamaki_file_round_trip(
    server: object, alice: User, tmp_path: Path, unique_name: str
) -> None:
    k = Kamaki(tmp_path / "home", server.identity_url, alice.token)  # type: ignore[attr-defined]
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(9 * 1024 * 1024 + 17))  # three blocks, the last one partial
    c = unique_name
    k.run("container", "create", c)
    k.run("file", "upload", str(src), f"/{c}/f.bin")
    assert "f.bin" in k.run("file", "list", f"/{c}").stdout
    k.run("file", "download", f"/{c}/f.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    k.run("file", "mkdir", f"/{c}/dir")
    k.run("file", "copy", f"/{c}/f.bin", f"/{c}/dir/g.bin")
    k.run("file", "move", f"/{c}/dir/g.bin", f"/{c}/h.bin")
    k.run("file", "append", str(src), f"/{c}/h.bin")
    k.run("file", "download", f"/{c}/h.bin", str(tmp_path / "h.bin"))
    assert (tmp_path / "h.bin").read_bytes() == src.read_bytes() * 2
    assert "/public/" in k.run("file", "publish", f"/{c}/f.bin").stdout
    k.run("file", "delete", f"/{c}/h.bin", "--yes")
    assert "h.bin" not in k.run("file", "list", f"/{c}").stdout
    assert "pithos.diskspace" in k.run("quota", "list").stdout
