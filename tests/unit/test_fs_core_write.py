"""Open files through the core on the FakeStore: the wiring of the StagedFile."""

import errno
import os

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.fs.core import Filesystem
from pithosfs.fs.fuse.errno_map import to_errno
from pithosfs.fs.options import FsOptions

BS = 4096


@pytest.fixture
def store():
    s = FakeStore(block_size=BS)
    s.create_container("c")
    return s


@pytest.fixture
def fs(store, tmp_path):
    f = Filesystem(store, FsOptions(cache_dir=tmp_path / "cache", attr_timeout=60, dir_timeout=60))
    yield f
    f.close()


def content(store, name):
    info = store.head_object("c", name)
    return store.read_range("c", name, 0, info.size)


def test_create_write_close_commits_once(fs, store):
    fh = fs.files.create("/c/new.txt", 0o640, os.O_WRONLY | os.O_CREAT)
    assert [n for n, _ in fs.readdir("/c")] == ["new.txt"]  # visible before commit
    fs.files.write(fh, 0, b"hello ")
    fs.files.write(fh, 6, b"world")
    assert fs.getattr("/c/new.txt")["st_size"] == 11  # own writes visible at once
    before = store.stats.snapshot()
    fs.files.flush(fh)
    fs.files.release(fh)
    delta = store.stats.snapshot() - before
    assert delta.count("PUT") == 1
    assert content(store, "new.txt") == b"hello world"
    info = store.head_object("c", "new.txt")
    assert info.meta["Pithosfs-Mode"] == "640"
    assert info.content_type == "text/plain"


def test_touch_creates_an_empty_object(fs, store):
    fh = fs.files.create("/c/empty", 0o644, os.O_WRONLY | os.O_CREAT)
    fs.files.flush(fh)
    fs.files.release(fh)
    assert store.head_object("c", "empty").size == 0


def test_edit_keeps_user_metadata_and_uuid(fs, store):
    old = store.put_object("c", "f", b"0123456789", meta={"Color": "blue"})
    fh = fs.files.open("/c/f", os.O_RDWR)
    assert fs.files.read(fh, 0, 4) == b"0123"
    fs.files.write(fh, 2, b"ab")
    assert fs.files.read(fh, 0, 10) == b"01ab456789"
    fs.files.release(fh)
    info = store.head_object("c", "f")
    assert info.meta["Color"] == "blue" and info.uuid == old.uuid
    assert content(store, "f") == b"01ab456789"


def test_o_trunc_and_truncate_without_handle(fs, store):
    store.put_object("c", "f", b"x" * 10000)
    fh = fs.files.open("/c/f", os.O_WRONLY | os.O_TRUNC)
    fs.files.write(fh, 0, b"short")
    fs.files.release(fh)
    assert content(store, "f") == b"short"
    fs.files.truncate("/c/f", 2, None)
    assert content(store, "f") == b"sh"
    assert fs.getattr("/c/f")["st_size"] == 2


def test_concurrent_change_gives_estale_at_flush(fs, store):
    store.put_object("c", "f", b"base")
    fh = fs.files.open("/c/f", os.O_RDWR)
    fs.files.write(fh, 0, b"mine")
    store.put_object("c", "f", b"theirs")
    with pytest.raises(Exception) as info:
        fs.files.flush(fh)
    assert to_errno(info.value) == errno.ESTALE
    fs.files.release(fh)
    assert content(store, "f") == b"theirs"


def test_two_handles_share_one_staged_file(fs, store):
    fh1 = fs.files.create("/c/s", 0o644, os.O_RDWR | os.O_CREAT)
    fh2 = fs.files.open("/c/s", os.O_RDONLY)
    fs.files.write(fh1, 0, b"shared")
    assert fs.files.read(fh2, 0, 100) == b"shared"
    fs.files.release(fh1)
    fs.files.release(fh2)
    assert content(store, "s") == b"shared"


def test_unlink_while_open_commits_nothing(fs, store):
    fh = fs.files.create("/c/tmp", 0o644, os.O_WRONLY | os.O_CREAT)
    fs.files.write(fh, 0, b"scratch")
    fs.unlink("/c/tmp")
    fs.files.release(fh)
    assert [o.name for o in store.list_objects("c")] == []


def test_rename_while_open_commits_under_the_new_name(fs, store):
    fh = fs.files.create("/c/a", 0o644, os.O_WRONLY | os.O_CREAT)
    fs.files.write(fh, 0, b"v1")
    fs.rename("/c/a", "/c/b")  # commits what was written, then moves it
    fs.files.write(fh, 2, b"+v2")
    fs.files.release(fh)
    assert content(store, "b") == b"v1+v2"
    assert [o.name for o in store.list_objects("c")] == ["b"]


def test_chmod_and_utimens_while_dirty_apply_at_commit(fs, store):
    fh = fs.files.create("/c/f", 0o644, os.O_WRONLY | os.O_CREAT)
    fs.files.write(fh, 0, b"data")
    fs.chmod("/c/f", 0o700)
    fs.utimens("/c/f", (0, 42_000_000_123))
    before = store.stats.snapshot()
    fs.files.release(fh)
    assert (store.stats.snapshot() - before).count("POST") == 0  # no separate metadata POST
    meta = store.head_object("c", "f").meta
    assert meta["Pithosfs-Mode"] == "700" and meta["Pithosfs-Mtime"] == "42.000000123"


def test_recopy_of_known_content_sends_no_blocks(fs, store):
    data = os.urandom(20 * BS)
    store.put_object("c", "orig", data)
    before = store.stats.snapshot()
    src = fs.files.open("/c/orig", os.O_RDONLY)
    dst = fs.files.create("/c/copy", 0o644, os.O_WRONLY | os.O_CREAT)
    off = 0
    while chunk := fs.files.read(src, off, 8192):
        fs.files.write(dst, off, chunk)
        off += len(chunk)
    fs.files.release(dst)
    fs.files.release(src)
    assert (store.stats.snapshot() - before).bytes_sent < BS
    assert content(store, "copy") == data


def test_quota_exceeded_is_edquot_at_close(fs, store):
    store.set_container_quota("c", 10_000)
    fh = fs.files.create("/c/big", 0o644, os.O_WRONLY | os.O_CREAT)
    fs.files.write(fh, 0, os.urandom(20_000))
    with pytest.raises(Exception) as info:
        fs.files.flush(fh)
    assert to_errno(info.value) == errno.EDQUOT
    fs.files.release(fh)
    assert [o.name for o in store.list_objects("c")] == []


def test_directory_renamed_while_a_file_inside_is_open(fs, store):
    fs.mkdir("/c/d", 0o755)
    fh = fs.files.create("/c/d/f", 0o644, os.O_WRONLY | os.O_CREAT)
    fs.files.write(fh, 0, b"before")
    fs.rename("/c/d", "/c/e")
    fs.files.write(fh, 6, b"+after")
    fs.files.release(fh)
    names = sorted(o.name for o in store.list_objects("c", "", None))
    assert names == ["e", "e/f"]
    assert content(store, "e/f") == b"before+after"


def test_committed_bytes_of_a_file_still_open(fs, store):
    """What the `.meta` layer reads right after a commit, without a request."""
    fh = fs.files.create("/c/x.meta", 0o644, os.O_WRONLY | os.O_CREAT)
    fs.files.write(fh, 0, b"fileFormatVersion: 2\n")
    fs.files.flush(fh)
    version = store.head_object("c", "x.meta").version
    gets = store.stats.snapshot().by_method.get("GET")
    assert fs.files.committed_bytes("/c/x.meta", version, 1 << 20) == b"fileFormatVersion: 2\n"
    assert store.stats.snapshot().by_method.get("GET") == gets  # no request
    assert fs.files.committed_bytes("/c/x.meta", version - 1, 1 << 20) is None  # not that one
    assert fs.files.committed_bytes("/c/x.meta", version, 4) is None  # over the limit
    fs.files.write(fh, 0, b"changed")
    assert fs.files.committed_bytes("/c/x.meta", version, 1 << 20) is None  # not committed
    fs.files.release(fh)
    assert fs.files.committed_bytes("/c/x.meta", version, 1 << 20) is None  # closed
