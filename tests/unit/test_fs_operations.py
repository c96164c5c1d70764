"""The mfusepy adapter: errno mapping at the boundary, signatures, mount options."""

import errno
import logging
import os

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.fs.core import Filesystem
from pithosfs.fs.fuse.mount import mount_options, parse_o
from pithosfs.fs.options import FsOptions

fuse = pytest.importorskip("mfusepy")


@pytest.fixture
def ops(tmp_path):
    from pithosfs.fs.fuse.operations import Operations

    store = FakeStore(block_size=1024)
    store.create_container("c")
    core = Filesystem(store, FsOptions(cache_dir=tmp_path))
    yield Operations(core)
    core.close()


def test_errors_become_fuse_errors_never_einval(ops):
    with pytest.raises(fuse.FuseOSError) as info:
        ops.getattr("/c/missing")
    assert info.value.errno == errno.ENOENT
    with pytest.raises(fuse.FuseOSError) as info:
        ops.link("/c/a", "/c/b")
    assert info.value.errno == errno.EPERM
    with pytest.raises(fuse.FuseOSError) as info:
        ops.read("/c/x", 10, 0, 999)  # unknown handle
    assert info.value.errno == errno.EBADF
    ops.core.files.get = lambda fh: (_ for _ in ()).throw(ValueError("bug"))
    with pytest.raises(fuse.FuseOSError) as info:
        ops.read("/c/x", 10, 0, 1)
    assert info.value.errno == errno.EIO


def test_a_failure_of_the_server_is_one_log_line_naming_op_path_and_cause(ops, caplog):
    """`ls` provoking ENOENT stays quiet; a store failure says which call, which path, why."""
    from pithosfs.client.errors import ServerError

    with caplog.at_level(logging.WARNING, logger="pithosfs"):
        with pytest.raises(fuse.FuseOSError):
            ops.getattr("/c/missing")
        assert caplog.records == []
        ops.core.getattr = lambda path, fh=None: (_ for _ in ()).throw(
            ServerError("503 Service Unavailable", status=503, path=path)
        )
        with pytest.raises(fuse.FuseOSError) as info:
            ops.getattr("/c/f")
    assert info.value.errno == errno.EIO
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines
    assert "getattr('/c/f')" in lines[0] and "EIO" in lines[0] and "503" in lines[0]


def test_round_trip_through_the_adapter(ops):
    fh = ops.create("/c/f", 0o644, os.O_WRONLY | os.O_CREAT)
    assert ops.write("/c/f", b"abc", 0, fh) == 3
    ops.flush("/c/f", fh)
    ops.release("/c/f", fh)
    fh = ops.open("/c/f", os.O_RDONLY)
    assert ops.read("/c/f", 10, 0, fh) == b"abc"
    ops.release("/c/f", fh)
    names = [e if isinstance(e, str) else e[0] for e in ops.readdir("/c", 0)]
    assert names == [".", "..", "f"]
    ops.symlink("/c/l", "f")  # mfusepy order: link path, then target
    assert ops.readlink("/c/l") == "f"


def test_use_ns_and_signatures_match_the_binding(monkeypatch):
    monkeypatch.setenv("MFUSEPY_CHECK_OVERRIDES", "1")
    from pithosfs.fs.fuse.operations import Operations

    assert Operations.use_ns is True
    for name in ("getattr", "readdir", "read", "write", "create", "setxattr", "getxattr"):
        fuse.overrides(fuse.Operations)(getattr(Operations, name).__wrapped__)


def test_options_per_libfuse_major_version():
    three = mount_options(3, 5.0, {"big_writes": True, "max_write": "131072", "allow_other": True})
    assert "big_writes" not in three and "max_write" not in three
    assert three["allow_other"] is True and three["use_ino"] is True
    two = mount_options(2, 5.0, {})
    assert two["big_writes"] is True
    assert parse_o(("ro,uid=5", "allow_other")) == {"ro": True, "uid": "5", "allow_other": True}
