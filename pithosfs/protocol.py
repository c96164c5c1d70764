"""Facts of the Pithos+ wire protocol shared by the client and the server.

Pure functions and constants only: no I/O, no HTTP library. Both sides import
this module, so a hashing rule is written exactly once (see protocol.md 1.5,
7.1 and 7.2).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote, unquote

DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024
DEFAULT_HASH_ALGORITHM = "sha256"

# Name and metadata limits (protocol.md 0, 1.1, 9.1).
MAX_OBJECT_NAME = 1024
MAX_CONTAINER_NAME = 256
MAX_ACCOUNT_NAME = 256
MAX_META_ITEMS = 32
MAX_META_HEADERS_PER_REQUEST = 90
MAX_META_KEY_LENGTH = 128  # including the "X-Object-Meta-" style prefix
MAX_META_VALUE_LENGTH = 256
LISTING_LIMIT = 10000
MAX_UPLOAD_SIZE = 5 * 1024**3

DIRECTORY_TYPES = ("application/directory", "application/folder")
DIRECTORY_CONTENT_TYPE = "application/directory"
OCTET_STREAM = "application/octet-stream"

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# What a server offers beyond the reference protocol. The embedded server names
# its extensions in this response header on every account and container HEAD and
# GET (listings included) and on the replies that carry one; real Pithos+ (and Swift, and `pithosfs serve --strict`) never sends it, so
# its absence means "none", and a client uses an extension only once it has seen
# it named here (docs/server.md "Extensions").
EXTENSIONS_HEADER = "X-Pithosfs-Extensions"
# `GET <container>?format=json&include_meta=1` adds `"x_object_meta": {Key: value}`.
EXT_LISTING_META = "listing-meta"
LISTING_META_PARAM = "include_meta"
# An object PUT's 201 carries the new version's HEAD headers (not only ETag and
# X-Object-Version), so the writer needs no HEAD after it.
EXT_WRITE_REPLY = "write-reply"
# Listing items carry the caller's own rights: `x_object_allowed_to` is what this
# caller may do, and items under a shared folder carry it and `x_object_shared_by`
# too (the reference labels only items with permissions of their own, and says
# "write" whenever the path has any write grant).
EXT_LISTING_RIGHTS = "listing-rights"
# The owner's account HEAD/GET carries DISK_AVAILABLE_HEADER: the bytes free on the
# server's disk, so that `df` on a mount can show a full server disk as full.
EXT_DISK_AVAILABLE = "disk-available"
DISK_AVAILABLE_HEADER = "X-Pithosfs-Disk-Available"
ALL_EXTENSIONS = (EXT_LISTING_META, EXT_WRITE_REPLY, EXT_LISTING_RIGHTS, EXT_DISK_AVAILABLE)


def parse_extensions(value: str | None) -> frozenset[str]:
    """The extension names of an EXTENSIONS_HEADER value (empty when absent)."""
    return frozenset(part.strip().lower() for part in (value or "").split(",") if part.strip())


# Response headers whose values the server percent-encodes (protocol.md 1.5); these
# characters are left as they are.
QUOTED_HEADER_PREFIXES = ("x-account-", "x-container-", "x-object-", "content-")
HEADER_SAFE_CHARS = '/=,:@; "'


def block_hash(block: bytes, algorithm: str = DEFAULT_HASH_ALGORITHM) -> bytes:
    """Digest of one block: trailing NUL bytes are stripped before hashing.

    Why: Pithos stores blocks zero-padded, so an all-zero block and an empty
    one are the same block (sparse data deduplicates to the empty hash).
    """
    return hashlib.new(algorithm, block.rstrip(b"\0")).digest()


def block_hash_hex(block: bytes, algorithm: str = DEFAULT_HASH_ALGORITHM) -> str:
    return block_hash(block, algorithm).hex()


def merkle_root(digests: Sequence[bytes], algorithm: str = DEFAULT_HASH_ALGORITHM) -> bytes:
    """Merkle root over raw block digests, padded with zero digests to a power of two."""
    if not digests:
        return hashlib.new(algorithm, b"").digest()
    if len(digests) == 1:
        return digests[0]
    width = 1 << (len(digests) - 1).bit_length()
    zero = b"\0" * len(digests[0])
    level = list(digests) + [zero] * (width - len(digests))
    while len(level) > 1:
        level = [
            hashlib.new(algorithm, level[i] + level[i + 1]).digest()
            for i in range(0, len(level), 2)
        ]
    return level[0]


def merkle_root_hex(hex_digests: Iterable[str], algorithm: str = DEFAULT_HASH_ALGORITHM) -> str:
    return merkle_root([bytes.fromhex(h) for h in hex_digests], algorithm).hex()


def block_count(size: int, block_size: int) -> int:
    """Number of hashmap entries for an object of `size` bytes (0 for an empty object)."""
    return math.ceil(size / block_size) if size > 0 else 0


def hashmap_of(data: bytes, block_size: int, algorithm: str = DEFAULT_HASH_ALGORITHM) -> list[str]:
    """Hex block hashes of in-memory data, as the server would store them."""
    if not data:
        return [hashlib.new(algorithm, b"").hexdigest()]
    return [
        block_hash_hex(data[i : i + block_size], algorithm) for i in range(0, len(data), block_size)
    ]


def object_hash(data: bytes, block_size: int, algorithm: str = DEFAULT_HASH_ALGORITHM) -> str:
    """X-Object-Hash of in-memory data (the Merkle root of its hashmap)."""
    return merkle_root_hex(hashmap_of(data, block_size, algorithm), algorithm)


def hashmap_length_ok(size: int, hashes: Sequence[str], block_size: int) -> bool:
    """Whether a hashmap PUT's hash count matches its declared size (protocol.md 7.3)."""
    if size == 0:
        return len(hashes) == 0 or (len(hashes) == 1 and hashes[0] == EMPTY_SHA256)
    return len(hashes) == block_count(size, block_size)


_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")


def is_hex_digest(value: str) -> bool:
    return bool(_HEX_RE.match(value)) and len(value) % 2 == 0


def format_meta_key(key: str) -> str:
    """Normalise a metadata key as the server does: `_` -> `-`, each word Capitalised.

    `my_KEY` -> `My-Key`. Used for `X-Object-Meta-*` suffixes and xattr names.
    """
    return "-".join(
        word[:1].upper() + word[1:].lower() for word in key.replace("_", "-").split("-")
    )


def quote_header_value(value: str) -> str:
    """Percent-encode a header value the way the server sends it back (protocol.md 1.5)."""
    return quote(value, safe=HEADER_SAFE_CHARS)


def unquote_header_value(value: str) -> str:
    return unquote(value)


def is_directory_type(content_type: str | None) -> bool:
    """Directory marker objects carry application/directory (or /folder), parameters ignored."""
    if not content_type:
        return False
    return content_type.split(";")[0].strip().lower() in DIRECTORY_TYPES


def block_hash_buffer(
    buf: bytes | bytearray | memoryview, algorithm: str = DEFAULT_HASH_ALGORITHM
) -> bytes:
    """block_hash() of any buffer, without copying it when it has no trailing NUL.

    Why: the server hashes blocks straight from its receive buffers; copying
    4 MiB per block only to strip NULs that are rarely there costs throughput.
    """
    view = memoryview(buf).cast("B")
    if not len(view) or view[-1] != 0:
        return hashlib.new(algorithm, view).digest()
    return block_hash(bytes(view), algorithm)
