"""Image registration on plain Swift: no Plankton, so `.register` and `/.images` refuse with
ENOTSUP and one log line, and `<object>.meta` files are ordinary files (saved, not registered)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from tests.integration.conftest import Mount
from tests.swift.conftest import CONTAINER


def _errno_of(call: object, *args: object) -> int:
    with pytest.raises(OSError) as info:
        call(*args)  # type: ignore[operator]
    return int(info.value.errno or 0)


def test_register_refuses_with_enotsup_and_one_log_line(swift_mount: Mount, smnt: Path) -> None:
    start = swift_mount.log_size()
    (smnt / "disk.img").write_bytes(b"\0" * 1000)
    assert _errno_of(os.stat, smnt / ".register") == errno.ENOTSUP
    assert _errno_of(open, smnt / ".register", "w") == errno.ENOTSUP
    assert _errno_of(open, smnt / ".register") == errno.ENOTSUP
    assert ".register" not in os.listdir(smnt)
    text = swift_mount.log_text(start)
    assert "Traceback" not in text
    lines = [ln for ln in text.splitlines() if "image registration (.register) unavailable" in ln]
    assert len(lines) <= 1  # once per container and mount (0 if an earlier test logged it)
    assert "image registration (.register) unavailable" in swift_mount.log_text()


def test_images_folder_refuses_with_enotsup(swift_mount: Mount) -> None:
    assert _errno_of(os.listdir, swift_mount.path / ".images") == errno.ENOTSUP
    assert _errno_of(os.stat, swift_mount.path / ".images" / "mine") == errno.ENOTSUP
    assert _errno_of(open, swift_mount.path / ".images" / "x", "w") == errno.ENOTSUP
    assert "the image list (/.images) unavailable" in swift_mount.log_text()


def test_metafile_is_an_ordinary_file_on_swift(swift_mount: Mount, smnt: Path) -> None:
    start = swift_mount.log_size()
    body = json.dumps({"name": "debian", "properties": {"OS": "linux"}}, indent=2) + "\n"
    (smnt / "disk.img").write_bytes(b"\0" * 1000)
    (smnt / "disk.img.meta").write_text(body)  # close must succeed: nothing to register
    assert (smnt / "disk.img.meta").read_text() == body
    key = f"{smnt.name}/disk.img.meta"
    assert swift_mount.client.read_object(CONTAINER, key) == body.encode()
    (smnt / "other.meta").write_text("not even JSON")
    os.rename(smnt / "other.meta", smnt / "renamed.meta")  # a rename onto *.meta: no refusal
    assert (smnt / "renamed.meta").read_text() == "not even JSON"
    text = swift_mount.log_text(start)
    assert "Traceback" not in text
    assert "saved as an ordinary file, not registered" in swift_mount.log_text()
