"""Test vectors for block hashing and the Merkle root (protocol.md 7.1, 7.2)."""

from pithosfs import protocol as p


def test_empty_object_hash_is_sha256_of_nothing():
    assert p.object_hash(b"", 1024) == p.EMPTY_SHA256
    assert p.hashmap_of(b"", 1024) == [p.EMPTY_SHA256]


def test_single_block_root_is_the_block_hash():
    assert p.object_hash(b"hello", 4 * 1024 * 1024) == (
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )


def test_three_block_vector_from_the_spec():
    data = b"a" * 1024 + b"b" * 1024 + b"c" * 10
    hashes = p.hashmap_of(data, 1024)
    assert [h[:8] for h in hashes] == ["2edc9868", "0c66f2c4", "d1616b87"]
    assert [h[-4:] for h in hashes] == ["2e4a", "844d", "b310"]
    assert p.object_hash(data, 1024) == (
        "a282af1511d57e9a9703701b5fa4b333b3d85f80f487899f95e7e990a82f7652"
    )


def test_trailing_nuls_are_stripped_before_hashing():
    assert p.block_hash_hex(b"\0" * 1024) == p.EMPTY_SHA256
    assert p.block_hash_hex(b"x\0\0") == p.block_hash_hex(b"x")
    assert p.block_hash_hex(b"\0x") != p.block_hash_hex(b"x")


def test_hashmap_length_rule():
    assert p.hashmap_length_ok(0, [], 1024)
    assert p.hashmap_length_ok(0, [p.EMPTY_SHA256], 1024)
    assert p.hashmap_length_ok(1025, ["aa", "bb"], 1024)
    assert not p.hashmap_length_ok(1024, ["aa", "bb"], 1024)


def test_meta_key_normalisation():
    assert p.format_meta_key("my_KEY") == "My-Key"
    assert p.format_meta_key("os") == "Os"


def test_directory_types():
    assert p.is_directory_type("application/directory; charset=UTF-8")
    assert p.is_directory_type("application/folder")
    assert not p.is_directory_type("application/octet-stream")
    assert not p.is_directory_type(None)
