"""xattrs <-> object metadata on the FakeStore."""

import errno

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.fs.core import Filesystem
from pithosfs.fs.fuse.errno_map import to_errno
from pithosfs.fs.options import FsOptions
from pithosfs.fs.xattrs import XATTR_CREATE, XATTR_REPLACE


@pytest.fixture
def store():
    s = FakeStore(account="acct-uuid", block_size=1024)
    s.create_container("c")
    s.put_object("c", "f", b"x", meta={"Pithosfs-Mode": "600"})
    return s


@pytest.fixture
def fs(store, tmp_path):
    f = Filesystem(store, FsOptions(cache_dir=tmp_path))
    yield f
    f.close()


def fails(code, fn, *args):
    with pytest.raises(Exception) as info:
        fn(*args)
    assert to_errno(info.value) == code, info.value


def test_user_keys_are_normalised_object_meta(fs, store):
    fs.xattrs.set("/c/f", "user.my_key", b"v1", 0)
    assert store.head_object("c", "f").meta["My-Key"] == "v1"
    assert fs.xattrs.get("/c/f", "user.MY-KEY") == b"v1"
    assert "user.My-Key" in fs.xattrs.list("/c/f")
    fs.xattrs.remove("/c/f", "user.my-key")
    assert "My-Key" not in store.head_object("c", "f").meta
    fails(errno.ENODATA, fs.xattrs.get, "/c/f", "user.my-key")
    fails(errno.ENODATA, fs.xattrs.remove, "/c/f", "user.my-key")


def test_internal_keys_hidden_and_refused(fs):
    assert not [n for n in fs.xattrs.list("/c/f") if "ithosfs" in n]
    fails(errno.EPERM, fs.xattrs.set, "/c/f", "user.pithosfs-mode", b"777", 0)


def test_system_values_read_only(fs, store):
    info = store.head_object("c", "f")
    assert fs.xattrs.get("/c/f", "user.pithos.hash") == info.hash.encode()
    assert fs.xattrs.get("/c/f", "user.pithos.uuid") == info.uuid.encode()
    assert fs.xattrs.get("/c/f", "user.pithos.version") == str(info.version).encode()
    assert fs.xattrs.get("/c/f", "user.pithos.content_type") == info.content_type.encode()
    assert fs.xattrs.get("/", "user.pithos.account") == b"acct-uuid"
    fails(errno.EPERM, fs.xattrs.set, "/c/f", "user.pithos.hash", b"x", 0)
    fails(errno.ENODATA, fs.xattrs.get, "/c/f", "user.pithos.nothing")


def test_create_replace_flags_and_limits(fs):
    fs.xattrs.set("/c/f", "user.a", b"1", XATTR_CREATE)
    fails(errno.EEXIST, fs.xattrs.set, "/c/f", "user.a", b"2", XATTR_CREATE)
    fails(errno.ENODATA, fs.xattrs.set, "/c/f", "user.b", b"2", XATTR_REPLACE)
    fails(errno.ERANGE, fs.xattrs.set, "/c/f", "user.a", b"v" * 257, 0)
    fails(errno.EINVAL, fs.xattrs.set, "/c/f", "user.a", b"\xff", 0)
    fails(errno.ENOTSUP, fs.xattrs.set, "/c/f", "trusted.a", b"1", 0)
    for i in range(30):  # 1 internal + "A" + 30 = 32 items
        fs.xattrs.set("/c/f", f"user.k{i}", b"v", 0)
    fails(errno.ENOSPC, fs.xattrs.set, "/c/f", "user.one-more", b"v", 0)


def test_implied_dirs_and_containers_have_no_user_xattrs(fs, store):
    store.put_object("c", "d/x", b"1")
    assert fs.xattrs.list("/c/d") == []
    fails(errno.ENODATA, fs.xattrs.get, "/c/d", "user.a")
    fails(errno.ENOTSUP, fs.xattrs.set, "/c/d", "user.a", b"1", 0)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("times", "left"),
    [
        ((100.2, 100.9, 102.3), [102.3]),  # every older version is in an earlier second
        ((100.2, 101.5, 101.7), [101.5, 101.7]),  # 101.5 shares the current one's second
        ((101.2, 101.5, 101.7), [101.2, 101.5, 101.7]),  # nothing can be told apart
    ],
)
def test_purge_xattr_drops_older_versions_in_whole_seconds(tmp_path, times, left):
    clock = Clock(times[0])
    store = FakeStore(account="acct-uuid", block_size=1024, clock=clock)
    store.create_container("c")
    for t in times:
        clock.now = t
        store.put_object("c", "f", str(t).encode())
    fs = Filesystem(store, FsOptions(cache_dir=tmp_path))
    try:
        fs.xattrs.set("/c/f", "user.pithos.purge", b"history", 0)
    finally:
        fs.close()
    assert [v.timestamp for v in store.list_versions("c", "f")] == pytest.approx(left)
    data = str(times[-1]).encode()
    assert store.read_range("c", "f", 0, len(data)) == data


def test_purge_xattr_on_a_container_keeps_current_versions(fs, store):
    store.put_object("c", "f", b"second")
    store.put_object("c", "gone", b"g")
    store.delete_object("c", "gone")
    fs.xattrs.set("/c", "user.pithos.purge", b"1", 0)
    assert [v.version for v in store.list_versions("c", "f")] == [
        store.head_object("c", "f").version
    ]
    fails(errno.ENOENT, store.list_versions, "c", "gone")
    fails(errno.ENODATA, fs.xattrs.get, "/c", "user.pithos.purge")
    fails(errno.EINVAL, fs.xattrs.set, "/c", "user.pithos.purge", b"all of it", 0)
