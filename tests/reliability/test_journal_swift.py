"""Journal replay into a plain Swift container: one streamed whole-object PUT, no block uploads."""

from __future__ import annotations

import os
from pathlib import Path

from pithosfs.client.fake import FakeStore
from pithosfs.fs.writeback.journal import UploadJournal

BS = 4096


class PlainSwiftStore(FakeStore):
    """A FakeStore that answers like a Swift container: no hashmaps, bodies may be streamed."""

    def supports_pithos(self, container: str) -> bool:
        return False

    def upload_blocks(self, container, blocks):  # noqa: ANN001, ANN201
        raise AssertionError("Swift has no block uploads")

    def put_hashmap(self, *a, **k):  # noqa: ANN002, ANN003, ANN201
        raise AssertionError("Swift has no hashmaps")

    def put_object(self, container, name, data, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN201
        if hasattr(data, "read"):
            assert len(data) > 0
            pieces = []
            while piece := data.read(1000):
                pieces.append(piece)
            data = b"".join(pieces)
        return super().put_object(container, name, data, *a, **k)


def test_multi_block_entry_goes_up_as_one_streamed_put(tmp_path: Path) -> None:
    store = PlainSwiftStore(block_size=BS)
    store.create_container("c")
    data = os.urandom(5 * BS + 3)
    journal = UploadJournal(tmp_path)
    journal.park("c", "f", None, len(data), lambda o, n: data[o : o + n], error="down")
    sent: list[int] = []
    info = journal.replay(store, journal.entries()[0], progress=sent.append)
    assert info.size == len(data)
    assert store.read_range("c", "f", 0, len(data)) == data
    assert sum(sent) == len(data) and len(sent) > 1  # progress heard piece by piece
    assert journal.entries() == []
