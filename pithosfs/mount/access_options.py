"""The -o options that decide who sees what: uid=, gid=, umask=, ro, allow_other.

libfuse implements them: its high-level layer rewrites st_uid/st_gid (uid=, gid=) and
the permission bits (umask=: 0777 & ~umask, for files and directories alike) of every answer,
`ro` becomes a read-only kernel mount (every write fails with EROFS before it reaches
us), and `allow_other` lets other users in. What this module adds on top:

- user and group names are accepted (`uid=alice`, `gid=staff`) and turned into numbers;
- bad values are refused with one line instead of libfuse's usage dump;
- the filesystem core learns the owner shown, so `chown` to that owner is the no-op
  `cp -a` and `rsync -a` expect rather than EPERM;
- `allow_other` without `umask=` is safe by default: the core clears the group and
  other bits of every *default* mode it shows (0644 shows as 0600, 0755 as 0700), so
  the option lets in the owner shown (`uid=`) and root, and other users only where a
  stored mode (chmod, or the mode given at creation) or a `umask=` says so (libfuse's
  own default would show 0644/0755: every file readable by every local user). A
  stored mode is never narrowed: it is what someone chose, and POSIX tools (and the
  conformance suite, which needs `allow_other`) read back what they set;
- `allow_other` by a non-root user is checked against /etc/fuse.conf first, because
  fusermount3 refuses it there unless `user_allow_other` is set;
- a non-root user who cannot open /dev/fuse (mode 0600 on some hosts and containers;
  udev's default rules make it 0666) is told so, not "mount failed: 4".
"""

from __future__ import annotations

import dataclasses
import grp
import logging
import os
import pwd
from pathlib import Path
from typing import Any, TypedDict

from pithosfs.fs.options import FsOptions

log = logging.getLogger(__name__)

FUSE_CONF = Path("/etc/fuse.conf")
# allow_other with no umask= given: default modes keep their owner's bits only (0644
# shows as 0600, 0755 as 0700), so other local users get in only where told to.
ALLOW_OTHER_MASK = 0o077
FUSE_DEVICE = Path("/dev/fuse")
_MODE_MASKS = ("umask",)  # fmask=/dmask= are unknown to libfuse 3.14 (Debian 12)


class MountOptionError(ValueError):
    """A -o value pithosfs cannot use; the message is one line for the user."""


def _user_id(value: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        return pwd.getpwnam(value).pw_uid
    except KeyError:
        raise MountOptionError(f"-o uid={value}: no such user") from None


def _group_id(value: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        return grp.getgrnam(value).gr_gid
    except KeyError:
        raise MountOptionError(f"-o gid={value}: no such group") from None


def _mode_mask(key: str, value: str) -> str:
    try:
        mask = int(value, 8)
    except ValueError:
        raise MountOptionError(f"-o {key}={value}: not an octal mode mask") from None
    if not 0 <= mask <= 0o777:
        raise MountOptionError(f"-o {key}={value}: outside 000..777")
    return f"{mask:03o}"


def user_allow_other(conf: Path = FUSE_CONF) -> bool:
    """Whether fuse.conf lets non-root users mount with allow_other."""
    try:
        lines = conf.read_text(errors="replace").splitlines()
    except OSError:
        return False
    return any(line.strip() == "user_allow_other" for line in lines)


def normalize(
    fuse_opts: dict[str, Any], euid: int | None = None, conf: Path = FUSE_CONF
) -> dict[str, Any]:
    """The options as libfuse wants them (numbers, octal masks); MountOptionError if unusable."""
    out = dict(fuse_opts)
    for key in ("uid", "gid", *_MODE_MASKS):
        if out.get(key) is True:  # parse_o's value for a bare `-o uid`
            raise MountOptionError(f"-o {key} needs a value ({key}=...)")
    if "uid" in out:
        out["uid"] = str(_user_id(str(out["uid"])))
    if "gid" in out:
        out["gid"] = str(_group_id(str(out["gid"])))
    for key in _MODE_MASKS:
        if key in out:
            out[key] = _mode_mask(key, str(out[key]))
    if out.get("ro") and out.get("rw"):
        raise MountOptionError("-o ro and -o rw together: pick one")
    euid = os.geteuid() if euid is None else euid
    if out.get("allow_other") and euid != 0 and not user_allow_other(conf):
        raise MountOptionError(
            f"-o allow_other needs 'user_allow_other' in {conf} for non-root mounts "
            "(add that line as root, or mount without allow_other)"
        )
    if euid != 0:
        check_device()
    return out


def check_device(device: Path = FUSE_DEVICE) -> None:
    """libfuse opens the device itself before calling fusermount3: it must be usable."""
    if device.exists() and not os.access(device, os.R_OK | os.W_OK):
        raise MountOptionError(
            f"{device} is not readable and writable by this user (mode "
            f"{device.stat().st_mode & 0o777:03o}); non-root mounts need it 0666 (chmod 0666 "
            f"{device} as root, as udev's default rules do)"
        )


class _OwnerChanges(TypedDict, total=False):
    """The FsOptions fields -o uid=, gid= and allow_other change."""

    uid: int
    gid: int
    mode_mask: int


def apply(opts: FsOptions, fuse_opts: dict[str, Any]) -> tuple[FsOptions, dict[str, Any]]:
    """(core options owning files as uid=/gid= say, the -o options for libfuse)."""
    out = normalize(fuse_opts)
    changes: _OwnerChanges = {}
    if "uid" in out:
        changes["uid"] = int(out["uid"])
    if "gid" in out:
        changes["gid"] = int(out["gid"])
    if out.get("allow_other") and not any(key in out for key in _MODE_MASKS):
        changes["mode_mask"] = ALLOW_OTHER_MASK
        log.info(
            "allow_other without umask=: modes shown with group and other bits cleared "
            "(only the owner shown gets in); -o umask=022 lets every local user read"
        )
    return (dataclasses.replace(opts, **changes) if changes else opts), out
