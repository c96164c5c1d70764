"""-o uid=/gid=/umask=/ro/allow_other as pithosfs hands them to libfuse and the core."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.fs.core import Filesystem
from pithosfs.fs.options import FsOptions
from pithosfs.mount import access_options as mount_options
from pithosfs.mount.access_options import MountOptionError, apply, normalize


def test_names_become_numbers_and_masks_octal() -> None:
    root = pwd.getpwuid(0).pw_name
    got = normalize({"uid": root, "gid": "0", "umask": "22", "ro": True}, euid=0)
    assert got == {"uid": "0", "gid": "0", "umask": "022", "ro": True}


@pytest.mark.parametrize(
    ("opts", "reason"),
    [
        ({"uid": "no-such-user-h7"}, "-o uid=no-such-user-h7: no such user"),
        ({"gid": "no-such-group-h7"}, "-o gid=no-such-group-h7: no such group"),
        ({"uid": True}, "-o uid needs a value"),
        ({"umask": "0999"}, "-o umask=0999: not an octal mode mask"),
        ({"umask": "1777"}, "-o umask=1777: outside 000..777"),
        ({"ro": True, "rw": True}, "-o ro and -o rw together"),
    ],
)
def test_unusable_values_are_refused_in_one_line(opts: dict[str, object], reason: str) -> None:
    with pytest.raises(MountOptionError) as info:
        normalize(opts, euid=0)
    assert str(info.value).startswith(reason) and "\n" not in str(info.value)


def test_allow_other_for_users_needs_fuse_conf(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(mount_options, "check_device", lambda: None)
    conf = tmp_path / "fuse.conf"
    conf.write_text("# user_allow_other\nmount_max = 1000\n")
    with pytest.raises(MountOptionError, match="needs 'user_allow_other' in"):
        normalize({"allow_other": True}, euid=1000, conf=conf)
    assert normalize({"allow_other": True}, euid=0, conf=conf) == {"allow_other": True}
    conf.write_text("user_allow_other\n")
    assert normalize({"allow_other": True}, euid=1000, conf=conf) == {"allow_other": True}
    with pytest.raises(MountOptionError):  # no fuse.conf at all: not allowed either
        normalize({"allow_other": True}, euid=1000, conf=tmp_path / "absent")


def test_unusable_device_is_named(tmp_path: Path, monkeypatch) -> None:
    device = tmp_path / "fuse"
    device.write_text("")
    device.chmod(0o600)
    mount_options.check_device(device)  # usable (we own it): no refusal
    # As another user: access(2) says no (root would pass every check, hence the stub).
    monkeypatch.setattr(mount_options.os, "access", lambda path, mode: False)
    with pytest.raises(
        MountOptionError, match=r"not readable and writable by this user \(mode 600\)"
    ):
        mount_options.check_device(device)
    mount_options.check_device(tmp_path / "absent")  # no device: mount.py reports that


def test_owner_reaches_the_core() -> None:
    opts, fuse = apply(FsOptions(uid=5, gid=6), {"uid": "1234", "allow_other": True})
    assert (opts.uid, opts.gid) == (1234, 6)
    assert fuse == {"uid": "1234", "allow_other": True}
    same, _ = apply(FsOptions(uid=5, gid=6), {"ro": True})
    assert (same.uid, same.gid) == (5, 6)


def test_allow_other_without_a_umask_shows_the_owners_bits_only() -> None:
    safe, _ = apply(FsOptions(), {"allow_other": True})
    assert safe.mode_mask == 0o077
    told, fuse = apply(FsOptions(), {"allow_other": True, "umask": "022"})
    assert told.mode_mask == 0 and fuse["umask"] == "022"
    assert apply(FsOptions(), {})[0].mode_mask == 0


def test_allow_other_narrows_default_modes_only(tmp_path: Path) -> None:
    store = FakeStore(block_size=1024)
    store.create_container("c")
    store.put_object("c", "foreign", b"no mode stored")
    opts, _ = apply(FsOptions(cache_dir=tmp_path / "cache"), {"allow_other": True})
    fs = Filesystem(store, opts)
    try:
        fh = fs.files.create("/c/made", 0o640, os.O_WRONLY | os.O_CREAT)
        assert fs.getattr("/c/made", fh)["st_mode"] & 0o7777 == 0o640  # while open
        fs.files.release(fh)
        fs.chmod("/c/foreign", 0o604)
        fs.mkdir("/c/dir", 0o755)
        shown = {name: fs.getattr(f"/c/{name}")["st_mode"] & 0o7777 for name in ("made", "foreign", "dir")}
        assert shown == {"made": 0o640, "foreign": 0o604, "dir": 0o755}  # chosen modes as stored
        store.put_object("c", "other", b"default mode")
        assert fs.getattr("/c/other")["st_mode"] & 0o7777 == 0o600  # a default, narrowed
        assert fs.getattr("/c")["st_mode"] & 0o7777 == 0o700
        assert fs.getattr("/")["st_mode"] & 0o7777 == 0o700
    finally:
        fs.close()
