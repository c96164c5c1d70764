"""A conditional commit whose reply was lost and whose resend then fails its condition (412)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from pithosfs.client.errors import PreconditionFailed
from pithosfs.client.fake import FakeStore
from pithosfs.fs.writeback.staged_file import StagedFile
from tests.unit.staged_fixtures import BS  # the pool and store fixtures: tests/unit/conftest.py


def lose_first_reply(store: FakeStore, monkeypatch: pytest.MonkeyPatch, method: str) -> list[int]:
    """The first call of `method` is applied, then answered like its resend: 412."""
    real = getattr(store, method)
    calls: list[int] = []

    def applied_then_412(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        result = real(*args, **kwargs)
        if len(calls) == 1:
            raise PreconditionFailed("Resource ETag does not match", status=412)
        return result

    monkeypatch.setattr(store, method, applied_then_412)
    return calls


def open_file(store: FakeStore, pool: Any, tmp: Path, name: str, new: bool) -> StagedFile:
    base = None if new else store.head_object("c", name)

    def fetch(index: int) -> bytes:
        assert base is not None
        return store.read_range("c", name, index * BS, BS, version=base.version)

    return StagedFile(
        store, "c", name, base, tmp, fetch if base else None, pool, truncate=True,
        upload_group_bytes=BS,
    )  # fmt: skip


@pytest.mark.parametrize("size", [40, 10 * BS + 3], ids=["plain PUT", "hashmap PUT"])
@pytest.mark.parametrize("new", [True, False], ids=["new object", "overwrite"])
def test_own_commit_whose_reply_was_lost_is_a_success(
    store, pool, tmp_path, monkeypatch, size, new
):
    if not new:
        store.put_object("c", "f", b"old content")
    data = random.Random(size).randbytes(size)
    f = open_file(store, pool, tmp_path, "f", new)
    f.write(0, data)
    calls = lose_first_reply(store, monkeypatch, "put_object" if size <= BS else "put_hashmap")
    info = f.commit()  # not ESTALE: the server holds exactly this content
    assert calls and info is not None and info.size == size
    assert store.read_range("c", "f", 0, 1 << 20) == data
    assert f.base is not None and f.base.version == store.head_object("c", "f").version


@pytest.mark.parametrize("size", [40, 10 * BS + 3], ids=["plain PUT", "hashmap PUT"])
def test_a_real_conflict_still_fails(store, pool, tmp_path, size):
    store.put_object("c", "f", b"old content")
    f = open_file(store, pool, tmp_path, "f", new=False)
    f.write(0, random.Random(size).randbytes(size))
    store.put_object("c", "f", b"someone else's save")
    with pytest.raises(PreconditionFailed):
        f.commit()
    assert store.read_range("c", "f", 0, 100) == b"someone else's save"
