"""The mount's own limits on names and sizes, checked before anything is allocated or sent.

* NAME_MAX: 255 bytes per path component (UTF-8), what statfs advertises and what
  ext4 and tmpfs allow, so that everything made on the mount can be copied off it.
  Longer components fail with ENAMETOOLONG on create and lookup alike.
* The largest file: MAX_FILE_BLOCKS blocks of its container (1 TiB with the
  standard 4 MiB blocks). A commit holds one hash per block in memory and sends
  them all in one hashmap PUT, so the bound is on blocks, not bytes: past it a
  truncate, write or fallocate fails with EFBIG at once, before a block list or
  a staging file of that size is ever made.
"""

from __future__ import annotations

from pithosfs.fs.errors import FileTooBig

NAME_MAX = 255
MAX_FILE_BLOCKS = 2**18


def max_file_size(block_size: int) -> int:
    """The largest file in a container with this block size."""
    return block_size * MAX_FILE_BLOCKS


def check_size(size: int, block_size: int, path: str) -> None:
    """FileTooBig if a file of `size` bytes cannot be stored."""
    if size > max_file_size(block_size):
        raise FileTooBig(f"past the largest file, {max_file_size(block_size)} bytes", path)
