"""Pithos+ policies as extended attributes (SEMANTICS.md).

* `user.pithos.versioning` on a container directory: `auto` or `none`
  (X-Container-Policy-Versioning). Set with the same words; anything else is EINVAL.
* `user.pithos.sharing` on a file or directory: `read=a,b;write=c` (users,
  groups `account:group`, `*`). Setting replaces the permissions; removing the
  attribute unshares. On a directory the permissions cover everything under it
  (Pithos+ shared directories); an implied directory first gets a marker object.
* `user.pithos.public` on a file: set `1` (also `true`/`yes`) to publish, `0`
  (`false`/`no`) to unpublish; reading gives the public URL, which serves the
  object without a token. Removing it unpublishes.
* `user.pithos.group.<name>` on the mount root: the account group `<name>`
  as a comma-separated member list (X-Account-Group-*). Setting an empty value
  or removing the attribute deletes the group.
* `user.pithos.purge` (write-only): setting it to `history` (or `1`) purges
  history for good, keeping current versions: on a file its older versions
  (`DELETE ?until`, whole seconds: versions in the same second as the current
  one, or as the newest older one when that is the current one's second, stay),
  on a container directory the history and deleted objects of the whole
  container, on the mount root those of every container. The server frees the
  blocks no version names any more. `pithosfs purge PATH` sets it.

Each method answers None/False when the name is not one of these, so the
caller (xattrs.py) carries on with ordinary metadata.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from pithosfs.client.errors import BadRequest
from pithosfs.fs.errors import InvalidArgument, NoAttribute, NotPermitted, NotSupported
from pithosfs.fs.nodes import Node
from pithosfs.fs.paths import Kind, Location

if TYPE_CHECKING:
    from pithosfs.fs.core import Filesystem

log = logging.getLogger(__name__)

VERSIONING = "user.pithos.versioning"
SHARING = "user.pithos.sharing"
PUBLIC = "user.pithos.public"
GROUP = "user.pithos.group."
PURGE = "user.pithos.purge"
POLICY_NAMES = (VERSIONING, SHARING, PUBLIC, PURGE)
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


def compact_sharing(value: str) -> str:
    """The server's `read=a,b; write=c` as `read=a,b;write=c`."""
    return ";".join(part.strip() for part in value.split(";") if part.strip())


def _mount_path(shared_by: str, own_account: str) -> str:
    """`account/container/folder` (X-Object-Shared-By) as the path it has in the mount."""
    account, _, rest = shared_by.partition("/")
    return "/" + rest if account == own_account else f"/.shared/{shared_by}"


def _text(name: str, value: bytes) -> str:
    try:
        return value.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InvalidArgument("values must be UTF-8 text", name) from None


class PolicyXattrs:
    def __init__(self, fs: Filesystem) -> None:
        self.fs = fs

    def owns(self, name: str) -> bool:
        return name in POLICY_NAMES or name.startswith(GROUP)

    # -- reading ------------------------------------------------------------
    def names(self, loc: Location, node: Node) -> list[str]:
        """The policy attributes that have a value here (for listxattr)."""
        if loc.kind is Kind.ROOT:
            return sorted(GROUP + g for g in self.fs.store.account_info().groups)
        if loc.kind is Kind.CONTAINER:
            return [VERSIONING]
        if node.info is None:
            return []
        info = self.fs.xattrs.head(loc, node.version)
        return [n for n, v in ((SHARING, info.sharing), (PUBLIC, info.public_url)) if v]

    def get(self, loc: Location, node: Node, name: str) -> bytes:
        if name.startswith(GROUP):
            if loc.kind is not Kind.ROOT:
                raise NoAttribute("account groups live on the mount root", name)
            members = self.fs.store.account_info().groups.get(name[len(GROUP) :].lower())
            if not members:
                raise NoAttribute("no such group", name)
            return ",".join(members).encode()
        if name == PURGE:
            raise NoAttribute("purge is an action: set it, it keeps no value", name)
        if name == VERSIONING:
            if loc.kind is not Kind.CONTAINER:
                raise NoAttribute("versioning is a container policy", name)
            return self.fs.container_info(loc.container, refresh=True).versioning.encode()
        if loc.kind is not Kind.ENTRY or node.info is None:
            raise NoAttribute("no object here", name)
        info = self.fs.xattrs.head(loc, node.version)
        value = compact_sharing(info.sharing) if name == SHARING else info.public_url
        if not value:
            raise NoAttribute("not set", name)
        return value.encode()

    # -- writing ------------------------------------------------------------
    def set(self, loc: Location, node: Node, name: str, value: bytes) -> None:
        text = _text(name, value)
        self.fs.xattrs.forget(loc.path)  # sharing and publishing make no new version
        if name.startswith(GROUP):
            self._set_group(loc, name, [m.strip() for m in text.split(",") if m.strip()])
        elif name == VERSIONING:
            if loc.kind is not Kind.CONTAINER:
                raise NotSupported("versioning is a container policy", loc.path)
            if text not in ("auto", "none"):
                raise InvalidArgument("versioning is auto or none", name)
            self.fs.store.set_container_versioning(loc.container, text)
            self.fs.container_info(loc.container, refresh=True)
        elif name == SHARING:
            self._set_sharing(loc, node, text)
        elif name == PURGE:
            if text.lower() not in ("history", *TRUE_WORDS):
                raise InvalidArgument("set purge to 'history'", name)
            self._purge(loc, node)
        else:
            word = text.lower()
            if word not in TRUE_WORDS + FALSE_WORDS:
                raise InvalidArgument("public is 1 or 0", name)
            self._object(loc, node, name)
            self.fs.store.set_public(loc.container, loc.key, word in TRUE_WORDS)

    def remove(self, loc: Location, node: Node, name: str) -> None:
        self.fs.xattrs.forget(loc.path)
        if name.startswith(GROUP):
            self.get(loc, node, name)  # ENODATA for a group that does not exist
            self._set_group(loc, name, [])
        elif name == VERSIONING:
            raise NotSupported("a container always has a versioning policy", loc.path)
        elif name == PURGE:
            raise NoAttribute("purge is an action: set it, it keeps no value", name)
        elif name == SHARING:
            self._object(loc, node, name)
            self._refuse_inherited(loc, node)
            self.fs.store.set_sharing(loc.container, loc.key, "")
        else:
            self._object(loc, node, name)
            self.fs.store.set_public(loc.container, loc.key, False)

    def _purge(self, loc: Location, node: Node) -> None:
        """Drop history for good, never a current version (see the module docstring)."""
        store = self.fs.store
        if loc.kind in (Kind.ROOT, Kind.CONTAINER):
            until = int(time.time()) + 1  # everything not current, up to now
            containers = (
                [c.name for c in store.list_containers()]
                if loc.kind is Kind.ROOT
                else [loc.container]
            )
            for container in containers:
                store.purge_history(container, None, until)
        elif loc.kind is Kind.ENTRY and node.info is not None and not node.is_dir:
            versions = store.list_versions(loc.container, loc.key)
            if len(versions) < 2:
                return
            current, newest_old = versions[-1].timestamp, versions[-2].timestamp
            # `until` is whole seconds and purges every version at or before it.
            until = math.ceil(newest_old)
            if until >= current:
                until = math.floor(newest_old)
            if until < versions[0].timestamp:
                return  # all history is within the current version's second
            store.purge_history(loc.container, loc.key, until)
        else:
            raise NotSupported("purge history of a file, a container or the mount root", loc.path)
        self.fs.forget_usage()

    def _set_group(self, loc: Location, name: str, members: list[str]) -> None:
        if loc.kind is not Kind.ROOT:
            raise NotSupported("account groups live on the mount root", loc.path)
        group = name[len(GROUP) :]
        if not group.isalnum():
            raise InvalidArgument(
                "group names are letters and digits ('-', '_' are not allowed)", name
            )
        self.fs.store.set_account_groups({group: members})

    def _set_sharing(self, loc: Location, node: Node, text: str) -> None:
        if loc.kind is not Kind.ENTRY:
            raise NotSupported(
                "containers cannot be shared; share objects or directories", loc.path
            )
        if node.info is None:  # an implied directory needs a marker to carry permissions
            self.fs.stats.put(loc.path, self.fs._put_marker(loc, node.mode, node.mtime_ns))
        else:
            self._refuse_inherited(loc, node)
        try:
            self.fs.store.set_sharing(loc.container, loc.key, text)
        except BadRequest as exc:
            raise InvalidArgument(f"bad sharing value ({exc}): read=a,b;write=c", SHARING) from None

    def _refuse_inherited(self, loc: Location, node: Node) -> None:
        """EPERM for an object whose sharing is its folder's (X-Object-Shared-By).

        What `getfattr` shows there is the folder's list: removing or replacing it
        on the file would not do what it says (removing changes nothing; setting
        would split the file off its folder's sharing), so it is refused, and the
        log names the folder where the sharing is set.
        """
        info = self.fs.head_info(loc)
        if not info.shared_by:
            return
        folder = _mount_path(info.shared_by, self.fs.store.account)
        log.warning(
            "%s: its sharing (%s) is set on its folder %s; change it there",
            loc.path, compact_sharing(info.sharing), folder,
        )  # fmt: skip
        raise NotPermitted(f"sharing is set on the folder {folder}", loc.path)

    def _object(self, loc: Location, node: Node, name: str) -> None:
        if loc.kind is not Kind.ENTRY or node.info is None:
            raise NotSupported("only objects can be published", name)
