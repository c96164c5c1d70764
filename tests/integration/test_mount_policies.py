"""Versioning policy, sharing, publishing and account groups as xattrs on a real mount."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BOB
from tests.integration.conftest import Mount


def sh(cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, shell=True, check=check, capture_output=True, text=True, timeout=120)


def test_versioning_policy_xattr(mnt: Path, session_mount: Mount) -> None:
    out = sh(f"getfattr --only-values -n user.pithos.versioning {mnt}").stdout
    assert out == "auto"
    sh(f"setfattr -n user.pithos.versioning -v none {mnt}")
    assert session_mount.client.container_info(mnt.name).versioning == "none"
    assert os.getxattr(mnt, "user.pithos.versioning") == b"none"
    assert "user.pithos.versioning" in os.listxattr(mnt)
    with pytest.raises(OSError) as info:
        os.setxattr(mnt, "user.pithos.versioning", b"sometimes")
    assert info.value.errno == errno.EINVAL
    (mnt / "f").write_text("x")
    with pytest.raises(OSError) as info:
        os.getxattr(mnt / "f", "user.pithos.versioning")  # a container policy only
    assert info.value.errno == errno.ENODATA
    os.setxattr(mnt, "user.pithos.versioning", b"auto")
    assert session_mount.client.container_info(mnt.name).versioning == "auto"


def test_policy_none_keeps_no_history(mnt: Path, session_mount: Mount) -> None:
    os.setxattr(mnt, "user.pithos.versioning", b"none")
    for body in (b"one", b"two", b"three"):
        (mnt / "f").write_bytes(body)
    assert len(session_mount.client.list_versions(mnt.name, "f")) == 1
    (only,) = os.listdir(mnt / ".versions/f")
    assert (mnt / ".versions/f" / only).read_bytes() == b"three"
    os.setxattr(mnt, "user.pithos.versioning", b"auto")
    for body in (b"four", b"five"):
        (mnt / "g").write_bytes(body)
    assert len(os.listdir(mnt / ".versions/g")) >= 2


def test_sharing_xattr_set_read_remove(mnt: Path, session_mount: Mount) -> None:
    (mnt / "f").write_text("shared\n")
    bob = BOB[0]
    sh(f"setfattr -n user.pithos.sharing -v 'read={bob};write={bob}:friends' {mnt}/f")
    value = os.getxattr(mnt / "f", "user.pithos.sharing").decode()
    assert value == f"read={bob};write={bob}:friends"
    assert "user.pithos.sharing" in os.listxattr(mnt / "f")
    assert session_mount.client.head_object(mnt.name, "f").sharing.replace(" ", "") == value
    os.removexattr(mnt / "f", "user.pithos.sharing")
    assert session_mount.client.head_object(mnt.name, "f").sharing == ""
    with pytest.raises(OSError) as info:
        os.getxattr(mnt / "f", "user.pithos.sharing")
    assert info.value.errno == errno.ENODATA
    with pytest.raises(OSError) as info:
        os.setxattr(mnt / "f", "user.pithos.sharing", b"readers=everyone")
    assert info.value.errno == errno.EINVAL
    (mnt / "d" / "e").mkdir(parents=True)
    os.setxattr(mnt / "d", "user.pithos.sharing", b"read=*")
    assert os.getxattr(mnt / "d", "user.pithos.sharing") == b"read=*"


def test_public_xattr_and_curl_without_token(mnt: Path, session_mount: Mount) -> None:
    (mnt / "pub.txt").write_text("for everyone\n")
    sh(f"setfattr -n user.pithos.public -v 1 {mnt}/pub.txt")
    url = sh(f"getfattr --only-values -n user.pithos.public {mnt}/pub.txt").stdout
    assert url.startswith("http") and "/public/" in url
    assert sh(f"curl -sf '{url}'").stdout == "for everyone\n"
    os.setxattr(mnt / "pub.txt", "user.pithos.public", b"0")
    assert sh(f"curl -s -o /dev/null -w '%{{http_code}}' '{url}'").stdout == "404"
    with pytest.raises(OSError) as info:
        os.getxattr(mnt / "pub.txt", "user.pithos.public")
    assert info.value.errno == errno.ENODATA
    with pytest.raises(OSError) as info:
        os.setxattr(mnt / "pub.txt", "user.pithos.public", b"maybe")
    assert info.value.errno == errno.EINVAL


def test_account_groups_on_mount_root(session_mount: Mount, unique_name: str) -> None:
    root = session_mount.path
    group = "g" + unique_name.replace("-", "")
    name = f"user.pithos.group.{group}"
    sh(f"setfattr -n {name} -v '{BOB[0]},someone' {root}")
    assert os.getxattr(root, name).decode().split(",") == [BOB[0], "someone"]
    assert name in os.listxattr(root)
    assert session_mount.client.account_info().groups[group] == [BOB[0], "someone"]
    os.removexattr(root, name)
    assert group not in session_mount.client.account_info().groups
    with pytest.raises(OSError) as info:
        os.getxattr(root, name)
    assert info.value.errno == errno.ENODATA
    with pytest.raises(OSError) as info:
        os.setxattr(root, "user.pithos.group.bad-name", b"x")
    assert info.value.errno == errno.EINVAL
