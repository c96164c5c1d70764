"""PITHOSFS_SWIFT_SEGMENT_SIZE is a size like --cache-size, and a bad one stops the mount."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from pithosfs.fs.writeback import swift_segments
from pithosfs.fs.writeback.swift_segments import (
    SEGMENT_SIZE_ENV,
    BadSegmentSize,
    segment_size_override,
)
from pithosfs.mount.command import mount

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("text", "size"), [("300", 300), ("4M", 4 * MiB), ("4MiB", 4 * MiB), (" 1.5k ", 1536)]
)
def test_sizes_with_units(text: str, size: int) -> None:
    assert segment_size_override({SEGMENT_SIZE_ENV: text}) == size


def test_unset_or_empty_is_no_override() -> None:
    assert segment_size_override({}) is None
    assert segment_size_override({SEGMENT_SIZE_ENV: " "}) is None


@pytest.mark.parametrize("text", ["abc", "4X", "0", "-1M", "0.1", "inf", "1e999"])
def test_bad_values_say_what_is_wrong(text: str) -> None:
    with pytest.raises(BadSegmentSize, match=rf"^{SEGMENT_SIZE_ENV}=.* is not a segment size"):
        segment_size_override({SEGMENT_SIZE_ENV: text})


class _Info:
    """A store whose cluster allows 64 MiB bodies (its `/info`)."""

    def __init__(self) -> None:
        self.storage_url = f"http://units-{id(self)}:8080/v1/AUTH_t"

    def cluster_info(self) -> Any:
        return {"swift": {"max_file_size": 64 * MiB}}


def test_limits_take_a_size_with_a_unit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SEGMENT_SIZE_ENV, "4M")  # was int("4M"): a ValueError in every write
    store: Any = _Info()
    assert swift_segments.limits(store).single_put == 4 * MiB


def test_mount_refuses_a_bad_value_before_mounting(tmp_path) -> None:
    mnt = tmp_path / "mnt"
    result = CliRunner().invoke(mount, [str(mnt)], env={SEGMENT_SIZE_ENV: "4 MB please"})
    assert result.exit_code == 1
    assert result.output == (
        f"pithosfs: {SEGMENT_SIZE_ENV}='4 MB please' is not a segment size: "
        "give a positive number of bytes, or one with K, M or G (4M)\n"
    )
    assert not mnt.exists()  # nothing was created or mounted
