"""Virtual entries as layers.

Each virtual feature (`.versions/`, `.shared/`, `.register`, `*.meta`,
`.images/`, ...) is one module in this package and touches the core only by
being found here. How a layer registers:

1. Write `pithosfs/fs/virtual/<name>.py` with a subclass of
   `pithosfs.fs.virtual.base.VirtualLayer` and a module-level
   `LAYER = <YourClass>` (optionally `PRIORITY = <int>`, lower is consulted
   first, default 100; ties go by module name).
2. That is all: `registry.discover()` imports every module of this package that
   has a `LAYER` and instantiates it with the `Filesystem` at mount time.

What a layer gets (see base.py for the exact signatures):

* Path operations. For every operation on a path, the core asks the layers in
  order whether they `claims(path)`; the first that does receives the call.
  Every method defaults to raising `NotMine`, which sends the call on to the
  ordinary code path, so a layer overrides only what it serves. A layer that
  owns a whole hidden tree therefore answers every operation there (and
  refuses writes with `ReadOnly`); a layer that watches ordinary objects
  (e.g. `*.meta`) overrides a few methods and lets the rest fall through.
  The names a layer hides must be in `paths.RESERVED_NAMES` (so readdir never
  shows them and the ordinary path refuses them).
* File handles. `open`/`create` return any object (the layer's handle); the
  registry gives it an fh number of its own range and routes read, write,
  truncate, flush and release with that fh back to the layer.
* Events on the ordinary path, for every layer (claimed or not):
  `after_commit(path, info)` once a regular file's new content is on the
  server, `after_rename(old, new)` once a rename is done, and
  `after_unlink(path)` once an object is deleted. They must be quick and must
  not raise (errors are logged and swallowed: the user's operation succeeded).
"""
