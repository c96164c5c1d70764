"""`mount.pithosfs SOURCE MOUNTPOINT [-o OPTIONS]`: the helper mount(8) runs for fstab and systemd.

    # /etc/fstab (with /sbin/mount.pithosfs linked to this helper)
    mycloud   /home/me/pithos  pithosfs  noauto,user,cache_size=4G  0 0
    embedded  /srv/pithos      pithosfs  _netdev                    0 0

SOURCE names a `[cloud "NAME"]` of ~/.kamakirc, or is `embedded`/`pithosfs` for
the default (flags, environment, kamakirc default, else the embedded server).
pithosfs options in -o: url=, token=, cloud=, cache_dir=, cache_size=,
attr_timeout=, dir_timeout=, log_file=, verbose. mount(8)'s own options
(defaults, auto/noauto, user/nouser, _netdev, nofail, x-systemd.*, ...) are
dropped; everything else goes to FUSE as `-o`. The mount is daemonized as
`pithosfs mount` does: the helper returns once it is live.
"""

from __future__ import annotations

import sys

PITHOSFS_OPTIONS = {
    "url": "--url", "token": "--token", "cloud": "--cloud", "cache_dir": "--cache-dir",
    "cache_size": "--cache-size", "attr_timeout": "--attr-timeout",
    "dir_timeout": "--dir-timeout", "log_file": "--log-file",
}  # fmt: skip
MOUNT_ONLY_OPTIONS = {
    "defaults", "auto", "noauto", "user", "nouser", "users", "owner", "group", "_netdev",
    "nofail", "comment", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev",
}  # fmt: skip
DEFAULT_SOURCES = {"", "embedded", "pithosfs", "none"}


def translate(argv: list[str]) -> list[str]:
    """mount(8) arguments -> `pithosfs mount` arguments."""
    positional: list[str] = []
    options: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "-o":
            options.extend(next(args, "").split(","))
        elif arg.startswith("-o"):
            options.extend(arg[2:].split(","))
        elif arg.startswith("-"):
            continue  # -n, -s, -v... from mount(8): nothing for us
        else:
            positional.append(arg)
    if len(positional) != 2:
        raise SystemExit("usage: mount.pithosfs SOURCE MOUNTPOINT [-o OPTIONS]")
    source, mountpoint = positional
    out = ["mount", mountpoint]
    if source not in DEFAULT_SOURCES:
        out += ["--cloud", source]
    fuse_opts = []
    for opt in filter(None, options):
        key, sep, value = opt.partition("=")
        if key in PITHOSFS_OPTIONS and sep:
            out += [PITHOSFS_OPTIONS[key], value]
        elif key == "verbose":
            out.append("-v")
        elif key in MOUNT_ONLY_OPTIONS or key.startswith(("x-", "comment=")):
            continue
        else:
            fuse_opts.append(opt)
    if fuse_opts:
        out += ["-o", ",".join(fuse_opts)]
    return out


def main() -> None:
    from pithosfs.cli import main as cli

    sys.argv = ["pithosfs", *translate(sys.argv[1:])]
    cli()
