"""Requests the server applied but whose answer was lost (the proxy reads the answer and
resets the mount's connection): the mount asks the server what happened instead of
reporting an error for a change that was made.

* unlink/rmdir: the DELETE is repeated and finds the name gone: success, and the stat
  cache says it is gone;
* rename: a MOVE is never repeated (the source would be gone); the destination holding
  the source's UUID, and the source gone, is success, and the mount shows the new name.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ALICE
from tests.integration.conftest import start_mount, stop_mount
from tests.reliability.fault_harness import ProxiedServer, env_int
from tests.reliability.fault_proxy import Fault

pytestmark = [pytest.mark.slow, pytest.mark.mount]


def test_unlink_rmdir_and_rename_with_lost_replies_succeed(
    fuse_ok: None, proxied: ProxiedServer, tmp_path: Path, unique_name: str
) -> None:
    m = start_mount(proxied, ALICE, tmp_path / "m")
    trials = env_int("PITHOSFS_FAULT_TRIALS", 2)
    lost = {"DELETE file": 0, "DELETE dir": 0, "MOVE file": 0, "MOVE dir": 0}
    try:
        top = m.path / unique_name
        top.mkdir()
        for trial in range(trials):
            f, d = top / f"f{trial}", top / f"d{trial}"
            f.write_bytes(b"to delete")
            d.mkdir()
            os.listdir(top)  # cached listing and attributes: the cache must follow
            for path, kind in ((f, "DELETE file"), (d, "DELETE dir")):
                fault = proxied.proxy.add(
                    Fault("lose_answer", method="DELETE", path=f"/{path.name}(\\?|$)")
                )
                os.unlink(path) if path is f else os.rmdir(path)  # no ENOENT
                assert fault.fired == 1
                lost[kind] += 1
                assert not path.exists() and path.name not in os.listdir(top)
                assert proxied.server_bytes(unique_name, path.name) is None

            src, dst = top / f"src{trial}", top / f"dst{trial}"
            src.write_bytes(b"moved once")
            sdir, ddir = top / f"sdir{trial}", top / f"ddir{trial}"
            sdir.mkdir()
            (sdir / "inside").write_bytes(b"inside")
            os.listdir(top)
            for old, new, kind in ((src, dst, "MOVE file"), (sdir, ddir, "MOVE dir")):
                fault = proxied.proxy.add(
                    Fault("lose_answer", method="PUT", path=f"/{new.name}(\\?|$)")
                )
                os.rename(old, new)  # no EIO
                assert fault.fired == 1
                lost[kind] += 1
                names = os.listdir(top)
                assert new.name in names and old.name not in names and not old.exists()
                assert proxied.server_bytes(unique_name, old.name) is None
            assert dst.read_bytes() == b"moved once"
            assert (ddir / "inside").read_bytes() == b"inside"
        assert "Traceback" not in m.log_text()
    finally:
        stop_mount(m)
    print(f"\nlost replies injected: {lost}; every operation succeeded")
