"""upload_file's two strategies against the embedded server, bytes on the wire counted.

The strategy switch and the body size are scaled down (PROBE_BLOCKS=2, bodies
of 3 blocks) so that files of a few 4 MiB blocks take every path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pithosfs import protocol
from pithosfs.client import PithosClient, uploads
from pithosfs.client.errors import NotFound

MiB = 1024 * 1024
BS = 4 * MiB


@pytest.fixture
def small_batches(monkeypatch) -> None:
    monkeypatch.setattr(uploads, "PROBE_BLOCKS", 2)
    monkeypatch.setattr(uploads, "STREAM_BYTES", 3 * BS)


@pytest.fixture
def hashing_ahead(monkeypatch) -> None:
    """Make the pipeline see every hash of a body before it starts (hashing ahead of the upload)."""
    monkeypatch.setattr(
        uploads.BlockHasher, "done", lambda self, lo, hi: dict(enumerate(self.wait(lo, hi), lo))
    )


def _write(path: Path, data: bytes) -> bytes:
    path.write_bytes(data)
    return data


def test_missing_blocks_probe_reports_and_writes_nothing(client, cont):
    stored = client.upload_blocks(cont, [os.urandom(BS)])[0]
    unknown = protocol.block_hash_hex(os.urandom(100))
    before = client.stats.snapshot()
    assert client.missing_blocks(cont, "probed", [stored, unknown]) == [unknown]
    assert (client.stats.snapshot() - before).count("PUT") == 1
    with pytest.raises(NotFound):
        client.head_object(cont, "probed")


def test_new_file_is_pipelined_and_each_block_sent_once(client, cont, tmp_path, small_batches):
    data = _write(tmp_path / "f", os.urandom(7 * BS + 12345))
    before = client.stats.snapshot()
    info = client.upload_file(cont, "new", tmp_path / "f", meta={"k": "v"})
    diff = client.stats.snapshot() - before
    assert info.size == len(data) and info.hash == protocol.object_hash(data, BS)
    # 8 blocks in bodies of 3 blocks: 3 POSTs, every byte exactly once.
    assert diff.count("POST") == 3
    assert diff.by_method["POST"].bytes_sent == len(data)
    assert client.read_range(cont, "new", 0, len(data)) == data
    assert client.head_object(cont, "new").meta == {"K": "v"}


def test_reupload_of_a_large_file_sends_only_hashmaps(client, cont, tmp_path, small_batches):
    data = _write(tmp_path / "f", os.urandom(7 * BS + 1))
    client.upload_file(cont, "first", tmp_path / "f")
    before = client.stats.snapshot()
    client.upload_file(cont, "again", tmp_path / "f")
    diff = client.stats.snapshot() - before
    assert diff.count("POST") == 0
    assert diff.bytes_sent <= 0.01 * len(data)
    assert client.read_range(cont, "again", 0, len(data)) == data


def test_resume_of_a_large_file_sends_only_the_missing_half(client, cont, tmp_path, small_batches):
    data = _write(tmp_path / "f", os.urandom(8 * BS))
    client.upload_blocks(cont, [data[: 4 * BS]])  # an interrupted upload stored the first half
    before = client.stats.snapshot()
    client.upload_file(cont, "resumed", tmp_path / "f")
    diff = client.stats.snapshot() - before
    assert diff.by_method["POST"].bytes_sent == 4 * BS
    assert client.read_range(cont, "resumed", 0, len(data)) == data


def test_pipeline_leaves_out_blocks_the_server_has_and_repeats(
    client, cont, tmp_path, small_batches, hashing_ahead
):
    new = [os.urandom(BS) for _ in range(3)]
    old = [os.urandom(BS) for _ in range(3)]
    client.upload_blocks(cont, old)  # the server holds blocks 3-5 already
    # Blocks 0-2 new, 3-5 stored, 6 repeats block 0, 7 new: bodies [0-2] [3-5] [6-7].
    tail = os.urandom(100)  # random: the server's block store outlives each test
    data = _write(tmp_path / "f", b"".join([*new, *old, new[0], tail]))
    before = client.stats.snapshot()
    client.upload_file(cont, "mixed", tmp_path / "f")
    diff = client.stats.snapshot() - before
    assert diff.count("POST") == 2  # the middle body had nothing to send
    assert diff.by_method["POST"].bytes_sent == 3 * BS + len(tail)
    assert client.read_range(cont, "mixed", 0, len(data)) == data


def test_new_data_is_hashed_by_the_server_not_here(
    client, cont, tmp_path, small_batches, monkeypatch
):
    """Only the probe's blocks are hashed locally; the hashmap is made of the POSTs' answers."""
    monkeypatch.setattr(uploads, "HASH_THREADS", 0)  # no background hashing: a count that holds
    hashed: list[int] = []
    real_hash = protocol.block_hash_buffer

    def counting(view, algorithm):
        hashed.append(len(view))
        return real_hash(view, algorithm)

    monkeypatch.setattr(protocol, "block_hash_buffer", counting)
    data = _write(tmp_path / "f", os.urandom(11 * BS + 99))
    before = client.stats.snapshot()
    info = client.upload_file(cont, "new", tmp_path / "f")
    diff = client.stats.snapshot() - before
    assert info.hash == protocol.object_hash(data, BS)
    # 2 probe blocks + 4 samples (blocks 2, 5, 8, 11) of 12, each sent exactly once.
    assert len(hashed) == 2 + 4
    assert diff.by_method["POST"].bytes_sent == len(data)
    assert client.read_range(cont, "new", 0, len(data)) == data


def test_an_edited_copy_of_a_stored_file_is_not_taken_for_new_data(
    client, cont, tmp_path, small_batches, hashing_ahead, monkeypatch
):
    """New first blocks, but a sample later in the file is on the server: hash and dedup."""
    data = _write(tmp_path / "f", os.urandom(10 * BS))
    client.upload_file(cont, "original", tmp_path / "f")
    edited = _write(tmp_path / "f", os.urandom(3 * BS) + data[3 * BS :])
    verdicts: list[bool] = []
    real_looks_new = uploads._looks_new
    monkeypatch.setattr(
        uploads, "_looks_new", lambda *a: verdicts.append(real_looks_new(*a)) or verdicts[-1]
    )
    before = client.stats.snapshot()
    client.upload_file(cont, "edited", tmp_path / "f")
    diff = client.stats.snapshot() - before
    assert verdicts == [False]
    assert diff.by_method["POST"].bytes_sent == 3 * BS  # the first body; the rest was found stored
    assert client.read_range(cont, "edited", 0, len(edited)) == edited


def test_samples_that_repeat_or_a_sparse_file_are_not_taken_for_new_data(tmp_path):
    """Both hint at runs of zero blocks, which hashing sends at most once."""
    blocks = [os.urandom(1000) for _ in range(8)]
    (tmp_path / "dense").write_bytes(b"".join(blocks))
    with (tmp_path / "sparse").open("wb") as f:
        f.write(b"".join(blocks[:2]))
        f.seek(1024 * 1024)  # a hole of whole filesystem blocks
        f.write(b"".join(blocks[2:]))
    samples = {4: "aa", 6: "bb"}
    for name, looks_new in [("dense", True), ("sparse", False)]:
        reader = uploads.SourceReader(tmp_path / name)
        try:
            assert uploads._looks_new(reader, samples, {"aa", "bb", "cc"}) is looks_new
            assert uploads._looks_new(reader, {4: "aa", 6: "aa"}, {"aa"}) is False  # a repeat
            assert uploads._looks_new(reader, samples, {"aa"}) is False  # "bb" is stored
        finally:
            reader.close()


def test_pipeline_retries_blocks_the_hashmap_put_still_misses(
    client, cont, tmp_path, small_batches, monkeypatch
):
    """A block lost between upload and commit (or stored under another hash) is sent again."""
    data = _write(tmp_path / "f", os.urandom(5 * BS))
    real_post = uploads._post_blocks
    dropped: list[int] = []

    def lose_block_one(client, container, reader, block_size, indices, *rest):
        if 1 in indices and not dropped:
            dropped.append(1)
            indices = [i for i in indices if i != 1]
        real_post(client, container, reader, block_size, indices, *rest)

    monkeypatch.setattr(uploads, "_post_blocks", lose_block_one)
    before = client.stats.snapshot()
    client.upload_file(cont, "healed", tmp_path / "f")
    diff = client.stats.snapshot() - before
    assert dropped == [1]
    assert diff.by_method["POST"].bytes_sent == 5 * BS  # block 1 once, in the repair round
    assert client.read_range(cont, "healed", 0, len(data)) == data


def test_upload_from_a_file_object_without_descriptor(client, cont, small_batches):
    import io

    data = os.urandom(4 * BS + 7)
    info = client.upload_file(cont, "from-bytesio", io.BytesIO(data))
    assert info.hash == protocol.object_hash(data, BS)
    assert client.read_range(cont, "from-bytesio", 0, len(data)) == data


def test_block_stream_body_reaches_any_http_sender_intact(tmp_path):
    """Pieces are FileRegions (sendfile through our connections); plain http.client iterates them."""
    import http.client

    from tests.client.flaky_server import FlakyServer

    data = os.urandom(3 * 1000 + 17)
    (tmp_path / "f").write_bytes(data)
    reader = uploads.SourceReader(tmp_path / "f")
    srv = FlakyServer()
    try:
        body = uploads.BlockStream(reader, [3, 0, 2], 1000)  # the short last block sorts last
        assert len(body) == 2 * 1000 + 17
        conn = http.client.HTTPConnection("127.0.0.1", srv.port)
        conn.request("POST", "/x", body=body, headers={"Content-Length": str(len(body))})
        assert conn.getresponse().status == 200
        conn.close()
        assert srv.requests[-1][3] == data[:1000] + data[2000:]
    finally:
        srv.stop()
        reader.close()


def test_file_region_of_a_shrunk_file_fails_instead_of_sending_short(tmp_path):
    from pithosfs.client.transport import FileRegion

    (tmp_path / "f").write_bytes(b"0123456789")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        assert b"".join(FileRegion(fd, 3, 5)) == b"34567"
        os.truncate(tmp_path / "f", 6)
        with pytest.raises(OSError, match="shrank"):
            b"".join(FileRegion(fd, 3, 5))
    finally:
        os.close(fd)


def test_next_body_goes_out_while_the_previous_one_awaits_its_answer(tmp_path):
    """The server answers a block POST only after fsyncing its blocks: the next body does not wait."""
    import time

    from tests.client.flaky_server import FlakyServer
    from tests.client.test_failures import PITHOS_CONTAINER

    (tmp_path / "f").write_bytes(os.urandom(2 * BS))
    srv = FlakyServer()
    slow = ("sleep", 3.0, ("reply", 202, {}, b'["' + b"a" * 64 + b'"]'))
    srv.script = [PITHOS_CONTAINER, slow, ("reply", 202, {}, b'["' + b"b" * 64 + b'"]')]
    client = PithosClient.from_storage_url(srv.url + "/v1/acc", "tok")
    reader = uploads.SourceReader(tmp_path / "f")
    sender = uploads._BodySender(client, "c", reader, BS, client.executor())
    try:
        assert client.supports_pithos("c")  # as upload_file does first: the kind is cached
        start = time.monotonic()
        sender.post([0])
        sender.post([1])  # returns once body 0 is sent, not answered
        while srv.count("POST") < 2 and time.monotonic() - start < 2.5:
            time.sleep(0.01)
        assert srv.count("POST") == 2, "the second body waited for the first answer"
        sender.wait()
        assert [len(body) for m, _, _, body in srv.requests if m == "POST"] == [BS, BS]
    finally:
        sender.cancel()
        reader.close()
        client.close()
        srv.stop()


def test_failed_block_body_stops_the_upload(client, cont, tmp_path, small_batches, monkeypatch):
    from pithosfs.client.errors import PithosError

    _write(tmp_path / "f", os.urandom(12 * BS))  # 4 bodies of 3 blocks
    calls: list[list[int]] = []

    def fail_first(client, container, reader, block_size, indices, *signals):
        calls.append(indices)
        if len(calls) == 1:
            raise PithosError("lost the connection for good")
        for signal in signals:
            signal()

    monkeypatch.setattr(uploads, "_post_blocks", fail_first)
    with pytest.raises(PithosError, match="for good"):
        client.upload_file(cont, "doomed", tmp_path / "f")
    # Only the bodies already sending when it failed went out; the next one saw the failure.
    assert len(calls) <= uploads.SENDING_BODIES < 4
    with pytest.raises(NotFound):
        client.head_object(cont, "doomed")


def test_first_body_goes_out_without_a_second_probe(
    client, cont, tmp_path, small_batches, hashing_ahead
):
    """The strategy probe has just asked about the file's start: the first body follows at once."""
    data = _write(tmp_path / "f", os.urandom(8 * BS))  # bodies [0-2] [3-5] [6-7]
    before = client.stats.snapshot()
    client.upload_file(cont, "prompt", tmp_path / "f")
    diff = client.stats.snapshot() - before
    # PUTs: the strategy probe, one probe before each later body, the commit.
    assert diff.count("PUT") == 4
    assert diff.by_method["POST"].bytes_sent == len(data)
