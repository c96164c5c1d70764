"""Extended attributes <-> object metadata.

`user.<key>` is the object's `X-Object-Meta-<Key>`. Pithos+ normalises keys
(`protocol.format_meta_key`: `_` becomes `-`, each `-`-separated word is
capitalised, so `user.my_key` is stored and listed as `user.My-Key`); any
spelling that normalises to the same key names the same attribute. Values are
UTF-8 text of at most 256 characters, keys at most 114 characters, 32 items
per object (the store's limits).

Read-only system values under `user.pithos.`: hash, uuid, version,
version_timestamp, modified_by, content_type (from a fresh HEAD), and on the
mount root `user.pithos.account` (the user UUID). Missing names are ENODATA.

One HEAD answers every attribute of a file: `getfattr -d` lists the names and
then asks for each value, and the answers come from the HEAD the listing made
(kept for the attribute timeout while the file's version is the one it
showed; a change of sharing or publishing through the mount drops it).
Policies (versioning, sharing, public, account groups) are in xattrs_policy.py.
The filesystem's own keys (`Pithosfs-*`: mtime, mode, symlink target) are
neither listed nor writable here.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from pithosfs import protocol
from pithosfs.client.types import ObjectInfo
from pithosfs.fs import nodes, paths
from pithosfs.fs.errors import (
    Exists,
    InvalidArgument,
    NoAttribute,
    NoSpace,
    NotPermitted,
    NotSupported,
    OutOfRange,
)
from pithosfs.fs.paths import Kind
from pithosfs.fs.xattrs_policy import PolicyXattrs

if TYPE_CHECKING:
    from pithosfs.fs.core import Filesystem

log = logging.getLogger(__name__)

USER = "user."
SYSTEM = "user.pithos."
SYSTEM_NAMES = ("hash", "uuid", "version", "version_timestamp", "modified_by", "content_type")
MAX_KEY = protocol.MAX_META_KEY_LENGTH - len("X-Object-Meta-")
XATTR_CREATE = getattr(os, "XATTR_CREATE", 1)
XATTR_REPLACE = getattr(os, "XATTR_REPLACE", 2)
KEPT_HEADS = 256  # the HEADs kept for the attribute reads that follow them


def meta_key(name: str) -> str:
    """`user.my_key` -> `My-Key`; refuses namespaces other than user. and internal keys."""
    if not name.startswith(USER) or len(name) == len(USER):
        raise NotSupported("only the user. namespace is stored", name)
    key = protocol.format_meta_key(name[len(USER) :])
    if key.startswith(nodes.INTERNAL_PREFIX):
        raise NotPermitted("reserved for pithosfs itself", name)
    return key


def _system_value(info: ObjectInfo, field: str) -> str:
    value = getattr(info, field)
    return f"{value:.6f}" if isinstance(value, float) else str(value)


class Xattrs:
    def __init__(self, fs: Filesystem) -> None:
        self.fs = fs
        self.policy = PolicyXattrs(fs)  # versioning, sharing, public, account groups
        self._lock = threading.Lock()
        # path -> (when, HEAD result). GUARDED_BY(_lock)
        self._heads: OrderedDict[str, tuple[float, ObjectInfo]] = OrderedDict()

    def _object(self, path: str) -> tuple[paths.Location, ObjectInfo]:
        """The object behind `path`, fresh from the store (metadata is per version)."""
        loc = paths.parse(path)
        node = self.fs.lookup(loc.path)
        if loc.kind is not Kind.ENTRY or node.info is None:
            raise NotSupported("no object behind this directory", loc.path)
        return loc, self.head(loc, node.version)

    def head(self, loc: paths.Location, version: int) -> ObjectInfo:
        """The object's HEAD, taken at most `attr_timeout` ago while the file still shows
        `version` (the node's; 0 asks again), else a new one."""
        now = time.monotonic()
        with self._lock:
            kept = self._heads.get(loc.path)
            if (
                kept is not None
                and version
                and kept[1].version == version
                and now - kept[0] < self.fs.opts.attr_timeout
            ):
                return kept[1]
        self.fs.meta_behind.flush(loc.path)  # what waits to be sent must show in the HEAD
        info = self.fs.head_info(loc)
        with self._lock:
            self._heads[loc.path] = (now, info)
            self._heads.move_to_end(loc.path)
            while len(self._heads) > KEPT_HEADS:
                self._heads.popitem(last=False)
        return info

    def forget(self, path: str) -> None:
        """A change that makes no new version (sharing, publishing): HEAD again."""
        with self._lock:
            self._heads.pop(path, None)

    def list(self, path: str) -> list[str]:
        served, names = self.fs.layers.call(path, "listxattr")
        if served:
            return list(names)
        loc = paths.parse(path)
        node = self.fs.lookup(loc.path)
        policy = self.policy.names(loc, node)
        if loc.kind is Kind.ROOT:
            return [SYSTEM + "account", *policy]
        if loc.kind is not Kind.ENTRY or node.info is None:
            return policy
        _, info = self._object(path)
        user = [USER + k for k in (info.meta or {}) if not k.startswith(nodes.INTERNAL_PREFIX)]
        return sorted(user) + [SYSTEM + n for n in SYSTEM_NAMES] + policy

    def get(self, path: str, name: str) -> bytes:
        served, value = self.fs.layers.call(path, "getxattr", name)
        if served:
            return bytes(value)
        loc = paths.parse(path)
        if loc.kind is Kind.ROOT and name == SYSTEM + "account":
            return self.fs.store.account.encode()
        if self.policy.owns(name):
            return self.policy.get(loc, self.fs.lookup(loc.path), name)
        if name.startswith(SYSTEM):
            field = name[len(SYSTEM) :]
            if field not in SYSTEM_NAMES:
                raise NoAttribute("no such attribute", name)
            _, info = self._object(path)
            return _system_value(info, field).encode()
        if not name.startswith(USER):
            raise NoAttribute("no such attribute", name)
        key = meta_key(name)
        self.fs.lookup(loc.path)
        if loc.kind is not Kind.ENTRY:
            raise NoAttribute("no such attribute", name)
        try:
            _, info = self._object(path)
        except NotSupported:
            raise NoAttribute("no such attribute", name) from None
        value = (info.meta or {}).get(key)
        if value is None:
            raise NoAttribute("no such attribute", name)
        return value.encode()

    def set(self, path: str, name: str, value: bytes, flags: int) -> None:
        if self.fs.layers.call(path, "setxattr", name, value, flags)[0]:
            return
        if self.policy.owns(name):
            loc = paths.parse(path)
            self.policy.set(loc, self.fs.lookup(loc.path), name, value)
            return
        if name.startswith(SYSTEM):
            raise NotPermitted("read-only system attribute", name)
        key = meta_key(name)
        text = self._check_value(name, key, value)
        loc, info = self._object(path)
        meta = info.meta or {}
        if flags & XATTR_CREATE and key in meta:
            raise Exists("attribute exists", name)
        if flags & XATTR_REPLACE and key not in meta:
            raise NoAttribute("no such attribute", name)
        if key not in meta and len(meta) >= protocol.MAX_META_ITEMS:
            raise NoSpace(f"at most {protocol.MAX_META_ITEMS} metadata items per object", name)
        self._apply(loc, {key: text})

    def remove(self, path: str, name: str) -> None:
        if self.fs.layers.call(path, "removexattr", name)[0]:
            return
        if self.policy.owns(name):
            loc = paths.parse(path)
            self.policy.remove(loc, self.fs.lookup(loc.path), name)
            return
        if name.startswith(SYSTEM):
            raise NotPermitted("read-only system attribute", name)
        key = meta_key(name)
        loc, info = self._object(path)
        if key not in (info.meta or {}):
            raise NoAttribute("no such attribute", name)
        self._apply(loc, {key: ""})  # an empty value deletes the key

    def _apply(self, loc: paths.Location, updates: dict[str, str]) -> None:
        self.forget(loc.path)
        self.fs.set_meta(loc, updates)

    @staticmethod
    def _check_value(name: str, key: str, value: bytes) -> str:
        if len(key) > MAX_KEY:
            raise OutOfRange(f"attribute name over {MAX_KEY} characters", name)
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument("values must be UTF-8 text", name) from None
        if len(text) > protocol.MAX_META_VALUE_LENGTH:
            raise OutOfRange(f"value over {protocol.MAX_META_VALUE_LENGTH} characters", name)
        if "~" in text:
            raise InvalidArgument("Pithos+ silently drops '~' from values", name)
        return text
