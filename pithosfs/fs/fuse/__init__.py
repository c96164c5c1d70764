"""The FUSE boundary: the binding loader and mount loop, the callbacks that call the
core, the one errno table, and which handles bypass the page cache."""
