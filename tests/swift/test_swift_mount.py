"""Core mounted operations against a real plain OpenStack Swift (no Pithos+ extensions)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.integration.conftest import Mount
from tests.swift.conftest import CONTAINER

SIZE = 9 * 1024 * 1024 + 123  # several Pithos-sized blocks: the commit must not need hashmaps


def _stored(m: Mount, path: Path) -> bytes:
    """The object's bytes as Swift serves them (not through the mount)."""
    key = str(path.relative_to(m.path / CONTAINER))
    return m.client.read_object(CONTAINER, key)


def test_cp_then_cmp_and_the_object_on_swift(
    swift_mount: Mount, smnt: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.write_bytes(os.urandom(SIZE))
    subprocess.run(["cp", str(src), str(smnt / "big")], check=True)
    subprocess.run(["cmp", str(src), str(smnt / "big")], check=True)
    assert _stored(swift_mount, smnt / "big") == src.read_bytes()


def test_append_and_truncate(swift_mount: Mount, smnt: Path) -> None:
    data = os.urandom(SIZE)
    (smnt / "f").write_bytes(data)
    with open(smnt / "f", "ab") as f:
        f.write(b"tail")
    assert _stored(swift_mount, smnt / "f") == data + b"tail"
    os.truncate(smnt / "f", 10)
    assert (smnt / "f").read_bytes() == data[:10]
    assert _stored(swift_mount, smnt / "f") == data[:10]


def test_mv_file_and_directory_then_rm_r(swift_mount: Mount, smnt: Path) -> None:
    data = os.urandom(SIZE)
    (smnt / "d").mkdir()
    (smnt / "d" / "a").write_bytes(data)
    os.rename(smnt / "d" / "a", smnt / "d" / "b")
    assert not (smnt / "d" / "a").exists()
    os.rename(smnt / "d", smnt / "e")
    assert (smnt / "e" / "b").read_bytes() == data
    assert _stored(swift_mount, smnt / "e" / "b") == data
    shutil.rmtree(smnt / "e")
    assert os.listdir(smnt) == []


def test_rename_over_and_sed_in_place(smnt: Path) -> None:
    (smnt / "t").write_text("hello\nworld\n")
    subprocess.run(["sed", "-i", "s/world/swift/", str(smnt / "t")], check=True)
    assert (smnt / "t").read_text() == "hello\nswift\n"
    (smnt / "u").write_text("new")
    os.rename(smnt / "u", smnt / "t")
    assert (smnt / "t").read_text() == "new"
    out = subprocess.run(["ls", "-l", str(smnt)], check=True, capture_output=True, text=True)
    assert " t\n" in out.stdout and "-rw-" in out.stdout


def test_rsync_tree(smnt: Path, tmp_path: Path) -> None:
    if shutil.which("rsync") is None:
        import pytest

        pytest.skip("rsync not installed")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a").write_bytes(os.urandom(5000))
    (tree / "sub" / "b").write_bytes(os.urandom(SIZE))
    subprocess.run(["rsync", "-r", f"{tree}/", str(smnt / "copy")], check=True)
    subprocess.run(["diff", "-r", str(tree), str(smnt / "copy")], check=True)
