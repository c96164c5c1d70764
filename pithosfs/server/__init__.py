"""Embedded Pithos+ server: `EmbeddedServer(data_dir, host, port, users, block_size)`."""

from pithosfs.server.embedded import EmbeddedServer

__all__ = ["EmbeddedServer"]
