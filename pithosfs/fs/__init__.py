"""The filesystem: a FUSE-free core (`core.py`) under a thin mfusepy adapter (`operations.py`)."""
