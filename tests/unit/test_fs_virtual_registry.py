"""The virtual-layer plug-in point: claiming, fall-through, handles and events (FakeStore)."""

import errno
import os

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.fs import nodes
from pithosfs.fs.core import Filesystem
from pithosfs.fs.errors import ReadOnly
from pithosfs.fs.fuse.errno_map import to_errno
from pithosfs.fs.options import FsOptions
from pithosfs.fs.virtual.base import NotMine, VirtualLayer
from pithosfs.fs.virtual.registry import FIRST_HANDLE, discover

EVENTS: list[tuple] = []


class ProbeLayer(VirtualLayer):
    """Serves /c/probe (a read-only file) and /c/pdir (a dir); watches *.watch objects."""

    def claims(self, path):
        return path.endswith(("/probe", "/pdir", ".watch"))

    def getattr(self, path):
        if path.endswith(".watch"):
            raise NotMine
        if path.endswith("/pdir"):
            return nodes.implied_dir(path)
        return nodes.Node(nodes.NodeKind.FILE, 5, 0, 0o444, nodes.inode_of(path))

    def readdir(self, path):
        if not path.endswith("/pdir"):
            raise NotMine
        return [("b", self.getattr(path + "/probe")), ("a", self.getattr(path + "/probe"))]

    def open(self, path, flags):
        if path.endswith(".watch"):
            raise NotMine
        if flags & os.O_ACCMODE != os.O_RDONLY:
            raise ReadOnly("probe is read-only", path)
        return {"path": path}

    def read(self, handle, offset, size):
        return b"probe"[offset : offset + size]

    def release(self, handle):
        EVENTS.append(("release", handle["path"]))

    def getxattr(self, path, name):
        if path.endswith(".watch"):
            raise NotMine
        return b"probe-value"

    def after_commit(self, path, info):
        EVENTS.append(("commit", path, info.size))

    def after_rename(self, old, new):
        EVENTS.append(("rename", old, new))

    def after_unlink(self, path):
        EVENTS.append(("unlink", path))
        raise RuntimeError("a failing hook must not fail the unlink")


@pytest.fixture
def fs(tmp_path):
    EVENTS.clear()
    store = FakeStore(block_size=1024)
    store.create_container("c")
    f = Filesystem(store, FsOptions(cache_dir=tmp_path / "cache"), layers=[ProbeLayer])
    yield f
    f.close()


def test_claimed_paths_are_served_by_the_layer(fs):
    assert fs.getattr("/c/probe")["st_size"] == 5
    assert [n for n, _ in fs.readdir("/c/pdir")] == ["a", "b"]  # sorted by the core
    fh = fs.open("/c/probe", os.O_RDONLY)
    assert fh >= FIRST_HANDLE
    assert fs.read(fh, 1, 3) == b"rob"
    assert fs.getattr("/c/probe", fh)["st_size"] == 5
    fs.flush(fh)
    fs.release(fh)
    assert EVENTS == [("release", "/c/probe")]
    assert fs.xattrs.get("/c/probe", "user.anything") == b"probe-value"
    with pytest.raises(Exception) as info:
        fs.open("/c/probe", os.O_WRONLY)
    assert to_errno(info.value) == errno.EROFS
    with pytest.raises(Exception) as info:
        fs.release(fh)  # already released
    assert to_errno(info.value) == errno.EBADF


def test_unserved_hooks_fall_through_to_the_ordinary_path(fs):
    with pytest.raises(Exception) as info:
        fs.mkdir("/c/probe", 0o755)  # the layer does not serve mkdir: the core decides
    assert to_errno(info.value) == errno.EEXIST  # because the layer's getattr says it exists
    fh = fs.create("/c/x.watch", 0o644, os.O_WRONLY)
    assert fh < FIRST_HANDLE  # an ordinary file, although claimed
    fs.write(fh, 0, b"hello")
    fs.flush(fh)
    fs.release(fh)
    assert fs.getattr("/c/x.watch")["st_size"] == 5
    with pytest.raises(Exception) as info:
        fs.xattrs.get("/c/x.watch", "user.nothing")
    assert to_errno(info.value) == errno.ENODATA


def test_events_follow_commit_rename_and_unlink(fs):
    fh = fs.create("/c/f", 0o644, os.O_WRONLY)
    fs.write(fh, 0, b"abc")
    fs.release(fh)
    fs.rename("/c/f", "/c/g")
    fs.unlink("/c/g")  # the hook raises: logged, the unlink still succeeds
    assert EVENTS == [("commit", "/c/f", 3), ("rename", "/c/f", "/c/g"), ("unlink", "/c/g")]
    assert fs.exists("/c/g") is None


def test_discover_returns_layer_classes_in_order():
    found = discover()
    assert all(issubclass(c, VirtualLayer) for c in found)
    assert len(found) == len(set(found))
