"""Caches between the filesystem and the object store: stat/listing (memory) and blocks (disk)."""
