"""The core over the in-memory FakeStore: layout, lookup, listing costs, namespace ops."""

import errno
import os
import stat
import time

import pytest

from pithosfs import protocol
from pithosfs.client.fake import FakeStore
from pithosfs.fs import errors as fserr
from pithosfs.fs.core import Filesystem
from pithosfs.fs.fuse.errno_map import to_errno
from pithosfs.fs.options import FsOptions


@pytest.fixture
def store():
    s = FakeStore(block_size=1024)
    s.create_container("pithos")
    return s


@pytest.fixture
def fs(store, tmp_path):
    f = Filesystem(store, FsOptions(cache_dir=tmp_path / "cache", attr_timeout=60, dir_timeout=60))
    yield f
    f.close()


def names(fs, path):
    return [n for n, _ in fs.readdir(path)]


def fails(errno_value, fn, *args):
    with pytest.raises(Exception) as info:
        fn(*args)
    assert to_errno(info.value) == errno_value, info.value


def test_containers_at_root_objects_split_on_slash(fs, store):
    store.put_object("pithos", "a/b/c.txt", b"hello")
    store.put_object("pithos", "top", b"x")
    assert names(fs, "/") == ["pithos"]
    assert names(fs, "/pithos") == ["a", "top"]
    assert names(fs, "/pithos/a") == ["b"]
    assert stat.S_ISDIR(fs.getattr("/pithos/a")["st_mode"])  # implied directory
    st = fs.getattr("/pithos/a/b/c.txt")
    assert stat.S_ISREG(st["st_mode"]) and st["st_size"] == 5
    assert stat.S_IMODE(st["st_mode"]) == 0o644


def test_markers_and_implied_dirs_merge(fs, store):
    store.put_object("pithos", "d", b"", protocol.DIRECTORY_CONTENT_TYPE)
    store.put_object("pithos", "d/x", b"1")
    store.put_object("pithos", "e/y", b"2")
    entries = dict(fs.readdir("/pithos"))
    assert entries["d"].is_dir and entries["d"].info is not None
    assert entries["e"].is_dir and entries["e"].info is None
    assert names(fs, "/pithos/d") == ["x"]


def test_lookup_of_implied_dir_without_listing(fs, store):
    store.put_object("pithos", "p/q/r", b"1")
    assert fs.lookup("/pithos/p/q").is_dir
    fails(errno.ENOENT, fs.lookup, "/pithos/p/nope")


def test_ls_l_costs_the_listing_only(fs, store):
    for i in range(300):
        store.put_object("pithos", f"many/f{i:04d}", b"x" * i)
    before = store.stats.snapshot()
    listing = fs.readdir("/pithos/many")
    for name, _ in listing:
        fs.getattr(f"/pithos/many/{name}")
    fails(errno.ENOENT, fs.getattr, "/pithos/many/absent")  # a miss costs nothing either
    delta = store.stats.snapshot() - before
    # lookup of /pithos/many itself (HEAD + probe listing) + the directory listing
    assert delta.count("GET") <= 2 and delta.count("HEAD") <= 2, delta
    assert len(listing) == 300


def test_stored_mtime_and_mode_from_listing_meta(fs, store):
    store.put_object("pithos", "f", b"x", meta={"Pithosfs-Mtime": "1234.5", "Pithosfs-Mode": "755"})
    fs.readdir("/pithos")
    st = fs.getattr("/pithos/f")
    assert st["st_mtime"] == 1234_500_000_000
    assert stat.S_IMODE(st["st_mode"]) == 0o755


def test_mkdir_rmdir_containers_and_markers(fs, store):
    fs.mkdir("/newc", 0o755)
    assert store.container_info("newc").count == 0
    fs.mkdir("/newc/d", 0o750)
    info = store.head_object("newc", "d")
    assert info.is_directory
    assert stat.S_IMODE(fs.getattr("/newc/d")["st_mode"]) == 0o750
    fails(errno.EEXIST, fs.mkdir, "/newc/d", 0o755)
    fails(errno.ENOTEMPTY, fs.rmdir, "/newc")
    fs.rmdir("/newc/d")
    fails(errno.ENOENT, fs.getattr, "/newc/d")
    fs.rmdir("/newc")
    assert "newc" not in names(fs, "/")


def test_rmdir_not_empty(fs, store):
    store.put_object("pithos", "d/x", b"1")
    fails(errno.ENOTEMPTY, fs.rmdir, "/pithos/d")


def test_unlink_keeps_implied_parent(fs, store):
    store.put_object("pithos", "d/only", b"1")
    fs.readdir("/pithos/d")
    fs.unlink("/pithos/d/only")
    fails(errno.ENOENT, fs.getattr, "/pithos/d/only")
    assert fs.lookup("/pithos/d").is_dir
    assert store.head_object("pithos", "d").is_directory  # a marker keeps it
    fails(errno.EISDIR, fs.unlink, "/pithos/d")


def test_rename_file_keeps_uuid_and_replaces_target(fs, store):
    a = store.put_object("pithos", "a", b"AAA")
    store.put_object("pithos", "b", b"BBBB")
    fs.readdir("/pithos")
    fs.rename("/pithos/a", "/pithos/b")
    assert store.head_object("pithos", "b").uuid == a.uuid
    assert store.read_range("pithos", "b", 0, 10) == b"AAA"
    fails(errno.ENOENT, fs.getattr, "/pithos/a")
    assert fs.getattr("/pithos/b")["st_size"] == 3
    assert names(fs, "/pithos") == ["b"]


def test_rename_marker_dir_and_implied_dir(fs, store):
    fs.mkdir("/pithos/d", 0o755)
    store.put_object("pithos", "d/x/y", b"1")
    store.put_object("pithos", "i/z", b"2")
    fs.rename("/pithos/d", "/pithos/d2")
    assert store.read_range("pithos", "d2/x/y", 0, 5) == b"1"
    fs.rename("/pithos/i", "/pithos/i2")
    assert store.read_range("pithos", "i2/z", 0, 5) == b"2"
    assert names(fs, "/pithos") == ["d2", "i2"]
    assert names(fs, "/pithos/d2/x") == ["y"]


def test_rename_errors(fs, store):
    store.put_object("pithos", "f", b"1")
    store.put_object("pithos", "d/x", b"1")
    store.put_object("pithos", "e/y", b"1")
    fails(errno.EISDIR, fs.rename, "/pithos/f", "/pithos/d")
    fails(errno.ENOTDIR, fs.rename, "/pithos/d", "/pithos/f")
    fails(errno.ENOTEMPTY, fs.rename, "/pithos/d", "/pithos/e")
    fails(errno.EXDEV, fs.rename, "/pithos", "/other")


def test_symlinks(fs, store):
    fs.symlink("/pithos/l", "../target dir/ü")
    assert fs.readlink("/pithos/l") == "../target dir/ü"
    st = fs.getattr("/pithos/l")
    assert stat.S_ISLNK(st["st_mode"])
    assert st["st_size"] == len("../target dir/ü".encode())
    fs.stats.forget("/pithos/l")
    fs.stats.forget_tree("/pithos")
    assert fs.readlink("/pithos/l") == "../target dir/ü"  # from a listing
    # Targets past a metadata value (256) live in the body alone; PATH_MAX bounds them.
    fs.symlink("/pithos/long", "x/" * 2047 + "y")
    fs.stats.forget("/pithos/long")
    assert fs.readlink("/pithos/long") == "x/" * 2047 + "y"
    assert "Pithosfs-Symlink" not in store.head_object("pithos", "long").meta
    fails(errno.ENAMETOOLONG, fs.symlink, "/pithos/longer", "x" * 4096)


def test_chmod_utimens_store_metadata_without_data_upload(fs, store):
    store.put_object("pithos", "f", b"x" * 5000)
    before = store.stats.snapshot()
    fs.chmod("/pithos/f", 0o100755)
    fs.utimens("/pithos/f", (0, 1_500_000_000_123_456_789))
    delta = store.stats.snapshot() - before
    assert delta.bytes_sent == 0
    st = fs.getattr("/pithos/f")
    assert stat.S_IMODE(st["st_mode"]) == 0o755
    assert st["st_mtime"] == 1_500_000_000_123_456_789
    meta = store.head_object("pithos", "f").meta
    assert meta["Pithosfs-Mode"] == "755"


def test_refused_by_design(fs, store):
    store.put_object("pithos", "f", b"x")
    fails(errno.EPERM, fs.link, "/pithos/g", "/pithos/f")
    fails(errno.EPERM, fs.mknod, "/fifo", stat.S_IFIFO | 0o644, 0)  # outside containers


def test_reserved_names(store, tmp_path):
    """Without layers, reserved names are absent and unwritable; their layers serve them."""
    bare = Filesystem(store, FsOptions(cache_dir=tmp_path / "bare"), layers=[])
    try:
        fails(errno.ENOENT, bare.getattr, "/pithos/.versions")
        fails(errno.EROFS, bare.mkdir, "/pithos/.images", 0o755)
    finally:
        bare.close()


def test_versions_layer_is_discovered(fs):
    assert stat.S_ISDIR(fs.getattr("/pithos/.versions")["st_mode"])
    assert ".versions" not in names(fs, "/pithos")
    fails(errno.EROFS, fs.mkdir, "/pithos/.versions/x", 0o755)


def test_inodes_stable_across_rename(fs, store):
    store.put_object("pithos", "a", b"1")
    ino = fs.getattr("/pithos/a")["st_ino"]
    fs.rename("/pithos/a", "/pithos/b")
    assert fs.getattr("/pithos/b")["st_ino"] == ino


def test_foreign_change_seen_after_ttl(store, tmp_path):
    clock = [1000.0]
    fs = Filesystem(store, FsOptions(cache_dir=tmp_path, attr_timeout=5, dir_timeout=5))
    fs.stats._clock = lambda: clock[0]
    store.put_object("pithos", "f", b"1")
    assert fs.getattr("/pithos/f")["st_size"] == 1
    store.put_object("pithos", "f", b"1234")
    assert fs.getattr("/pithos/f")["st_size"] == 1
    clock[0] += 6
    assert fs.getattr("/pithos/f")["st_size"] == 4
    fs.close()


def test_statfs_quota_and_usage(fs, store):
    store.put_object("pithos", "f", b"x" * 8192)
    st = fs.statfs()
    assert (st["f_blocks"] - st["f_bfree"]) * st["f_frsize"] == 8192


def test_errors_are_typed():
    assert issubclass(fserr.NoEntry, fserr.FsError)


def test_file_and_directory_of_the_same_name_show_the_file(fs, store):
    store.put_object("pithos", "both", b"file")
    store.put_object("pithos", "both/child", b"c")
    entries = dict(fs.readdir("/pithos"))
    assert not entries["both"].is_dir
    assert not fs.lookup("/pithos/both").is_dir


def test_names_that_cannot_be_shown_are_skipped(fs, store):
    for name in ("ok", "a//b", "trail/", ".versions", "x/./y"):
        store.put_object("pithos", name, b"1")
    assert names(fs, "/pithos") == ["a", "ok", "x"]  # "trail/" ends in a slash: hidden
    assert names(fs, "/pithos/a") == []  # "a//b" has an empty component
    assert names(fs, "/pithos/x") == []  # "." cannot be a name


def test_implied_directory_mtime_is_the_mount_time(fs, store):
    store.put_object("pithos", "d/x", b"1")
    assert fs.getattr("/pithos/d")["st_mtime"] == fs.mount_time_ns


def test_chmod_of_implied_dir_makes_a_marker_containers_accept(fs, store):
    store.put_object("pithos", "imp/x", b"1")
    fs.chmod("/pithos/imp", 0o700)
    assert store.head_object("pithos", "imp").is_directory
    assert stat.S_IMODE(fs.getattr("/pithos/imp")["st_mode"]) == 0o700
    fs.chmod("/pithos", 0o700)  # accepted, not stored
    fs.utimens("/", None)
    assert stat.S_IMODE(fs.getattr("/pithos")["st_mode"]) == 0o755


def test_chmod_is_one_post_and_reads_still_work_without_history(fs, store):
    store.create_container("nohist", versioning="none")  # old versions are purged
    store.put_object("nohist", "f", b"content", meta={})
    fs.readdir("/nohist")
    before = store.stats.snapshot()
    fs.chmod("/nohist/f", 0o600)
    delta = store.stats.snapshot() - before
    assert delta.count("POST") == 1 and delta.requests == 1
    fh = fs.files.open("/nohist/f", os.O_RDONLY)
    assert fs.files.read(fh, 0, 100) == b"content"  # the cached version number was purged
    fs.files.release(fh)
    assert stat.S_IMODE(fs.getattr("/nohist/f")["st_mode"]) == 0o600


def test_rm_r_of_an_implied_directory_costs_one_listing(fs, store):
    for i in range(200):
        store.put_object("pithos", f"imp/f{i:03d}", b"x")
    fs.readdir("/pithos/imp")
    before = store.stats.snapshot()
    for name, _ in fs.readdir("/pithos/imp"):
        fs.unlink(f"/pithos/imp/{name}")
    fs.rmdir("/pithos/imp")
    delta = store.stats.snapshot() - before
    assert delta.count("GET") == 0, delta  # every emptiness check came from the listing
    assert delta.count("DELETE") == 201  # 200 files and the marker the last unlink left
    assert [o.name for o in store.list_objects("pithos", "", None)] == []


def test_utime_now_and_omit_even_with_garbage_seconds(fs, store):
    from pithosfs.fs.core import UTIME_NOW, UTIME_OMIT

    store.put_object("pithos", "f", b"x", meta={"Pithosfs-Mtime": "100"})
    fs.utimens("/pithos/f", (0, 7 * 10**9 + UTIME_OMIT))  # tv_sec 7 left by libfuse
    assert fs.getattr("/pithos/f")["st_mtime"] == 100 * 10**9
    fs.utimens("/pithos/f", (0, 5 * 10**9 + UTIME_NOW))
    assert abs(fs.getattr("/pithos/f")["st_mtime"] - time.time_ns()) < 60 * 10**9


def test_statfs_free_space_is_capped_by_the_server_disk(fs, store, monkeypatch):
    """A server that reports its free disk (the embedded one does) shows it in df."""
    import dataclasses

    store.put_object("pithos", "f", b"x" * 8192)
    real = store.account_info

    def with_disk(*args, **kwargs):
        return dataclasses.replace(real(*args, **kwargs), disk_available=40960)

    monkeypatch.setattr(store, "account_info", with_disk)
    st = fs.statfs()
    assert st["f_bavail"] * st["f_frsize"] == 40960
    assert (st["f_blocks"] - st["f_bfree"]) * st["f_frsize"] == 8192
