import os
import stat

from pithosfs import protocol
from pithosfs.cache.block_cache import BlockCache


def h(data: bytes) -> str:
    return protocol.block_hash_hex(data)


def test_private_dir_and_round_trip(tmp_path):
    cache = BlockCache(tmp_path / "blocks", max_bytes=1 << 20)
    assert stat.S_IMODE(os.stat(tmp_path / "blocks").st_mode) == 0o700
    assert cache.get(h(b"abc")) is None
    assert cache.put(h(b"abc"), b"abc")
    assert cache.get(h(b"abc")) == b"abc"


def test_trailing_nuls_share_one_entry(tmp_path):
    cache = BlockCache(tmp_path, max_bytes=1 << 20)
    assert cache.put(h(b"abc"), b"abc\0\0\0")
    assert cache.get(h(b"abc")) == b"abc"  # the reader pads to the block's length


def test_refuses_content_that_does_not_match_its_hash(tmp_path):
    cache = BlockCache(tmp_path, max_bytes=1 << 20)
    assert not cache.put(h(b"abc"), b"abd")
    assert cache.get(h(b"abc")) is None


def test_lru_bound_on_disk(tmp_path):
    cache = BlockCache(tmp_path, max_bytes=250)
    blocks = [bytes([i + 1]) * 100 for i in range(3)]
    for b in blocks[:2]:
        cache.put(h(b), b)
    cache.get(h(blocks[0]))  # block 0 becomes most recently used
    cache.put(h(blocks[2]), blocks[2])
    assert cache.used_bytes <= 250
    assert cache.get(h(blocks[1])) is None
    assert cache.get(h(blocks[0])) == blocks[0]
    files = [f for f in tmp_path.rglob("*") if f.is_file()]
    assert len(files) == 2


def test_survives_restart_and_cleans_torn_temporaries(tmp_path):
    cache = BlockCache(tmp_path, max_bytes=1 << 20)
    cache.put(h(b"keep"), b"keep")
    (tmp_path / h(b"keep")[:2] / ".torn").write_bytes(b"x")
    again = BlockCache(tmp_path, max_bytes=1 << 20)
    assert again.get(h(b"keep")) == b"keep"
    assert not (tmp_path / h(b"keep")[:2] / ".torn").exists()


def test_put_later_stores_in_background_and_drops_when_behind(tmp_path):
    cache = BlockCache(tmp_path, max_bytes=1 << 30)
    cache.max_pending = 250
    blocks = [bytes([i + 1]) * 100 for i in range(5)]
    gate = __import__("threading").Event()
    cache._writer.submit(gate.wait)  # hold the writer so puts queue up
    for b in blocks:
        cache.put_later(h(b), b)
    gate.set()
    cache.flush()
    stored = [b for b in blocks if cache.get(h(b)) == b]
    assert stored == blocks[:2]  # 2 x 100 bytes fit the 250 pending bytes, the rest dropped
    cache.put_later(h(b"x"), b"not x")  # a block that does not match its hash is not kept
    cache.flush()
    assert cache.get(h(b"x")) is None


def test_checks_a_view_into_a_larger_buffer(tmp_path):
    # The reader hands a partial last block as a view of its segment buffer, unchecked
    # (trusted=False): it is hashed as it is, not refused for being a view.
    cache = BlockCache(tmp_path, max_bytes=1 << 20)
    segment = memoryview(b"abcdef")
    assert cache.put(h(b"abc"), segment[:3])
    assert cache.get(h(b"abc")) == b"abc"
    assert not cache.put(h(b"abc"), segment[3:])
