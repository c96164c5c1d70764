"""`mount.pithosfs SOURCE MOUNTPOINT [-o OPTIONS]`: the helper mount(8) runs for fstab and systemd.

    # /etc/fstab. Type fuse.pithosfs: mount(8) runs fuse3's mount.fuse3, which runs
    # `pithosfs SOURCE MOUNTPOINT -o OPTIONS` (the CLI hands that form here). Type
    # pithosfs: link this helper as /sbin/mount.pithosfs. See docs/systemd.md.
    mycloud   /home/me/pithos  fuse.pithosfs  noauto,user,cache_size=4G      0 0
    embedded  /srv/pithos      fuse.pithosfs  _netdev,allow_other,uid=1000   0 0

SOURCE names a `[cloud "NAME"]` of ~/.kamakirc, or is `embedded`/`pithosfs` for
the default (flags, environment, kamakirc default, else the embedded server).
pithosfs options in -o: url=, cloud=, kamakirc=, token_file=, cache_dir=,
cache_size=, attr_timeout=, dir_timeout=, timeout=, log_file=, verbose. The token is best
left in the kamakirc cloud or in token_file= (read here, handed on through the
environment): a `token=` in -o is accepted but shows in mount(8)'s ps line and in
/etc/fstab, which every user can read. mount(8)'s own options (defaults, auto,
noauto, user, users, _netdev, nofail, x-systemd.*, ...) are dropped, and so are
`dev` and `suid` (the mount stays nosuid,nodev); everything else (ro,
allow_other, uid=, gid=, umask=, noexec, noatime, ...) goes to FUSE as `-o`. The
mount is daemonized as `pithosfs mount` does: the helper returns once it is
live, so mount(8) and systemd mount units see a live mount when it exits 0.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pithosfs.mount.command import TOKEN_ENV  # what `mount --token` reads without the flag

PITHOSFS_OPTIONS = {
    "url": "--url", "token": "--token", "cloud": "--cloud", "cache_dir": "--cache-dir",
    "cache_size": "--cache-size", "attr_timeout": "--attr-timeout",
    "dir_timeout": "--dir-timeout", "log_file": "--log-file", "timeout": "--timeout",
}  # fmt: skip
MOUNT_ONLY_OPTIONS = {
    "defaults", "auto", "noauto", "user", "nouser", "users", "owner", "group", "_netdev",
    "nofail", "comment", "rw", "uhelper", "helper",
    # mount(8) spells out the defaults `dev,suid` for every entry; passing them on
    # would let setuid bits and device nodes stored in the account take effect, so
    # libfuse's nosuid,nodev stay (noexec, nosuid, nodev, exec are passed on).
    "dev", "suid",
}  # fmt: skip
# Options that change the helper's environment instead of the command line.
ENV_OPTIONS = {"kamakirc": "KAMAKIRC"}
DEFAULT_SOURCES = {"", "embedded", "pithosfs", "none"}


def translate(argv: list[str]) -> list[str]:
    """mount(8) arguments -> `pithosfs mount` arguments."""
    return translate_with_env(argv)[0]


def translate_with_env(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """mount(8) arguments -> (`pithosfs mount` arguments, environment to add)."""
    positional: list[str] = []
    options: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "-o":
            options.extend(next(args, "").split(","))
        elif arg.startswith("-o"):
            options.extend(arg[2:].split(","))
        elif arg == "-t":
            next(args, None)  # the type (fuse.pithosfs) when mount(8) runs a generic helper
        elif arg.startswith("-"):
            continue  # -n, -s, -v... from mount(8): nothing for us
        else:
            positional.append(arg)
    if len(positional) != 2:
        raise SystemExit("usage: mount.pithosfs SOURCE MOUNTPOINT [-o OPTIONS]")
    source, mountpoint = positional
    out = ["mount", mountpoint]
    env: dict[str, str] = {}
    if source not in DEFAULT_SOURCES:
        out += ["--cloud", source]
    fuse_opts = []
    for opt in filter(None, options):
        key, sep, value = opt.partition("=")
        if key in PITHOSFS_OPTIONS and sep:
            out += [PITHOSFS_OPTIONS[key], value]
        elif key in ENV_OPTIONS and sep:
            env[ENV_OPTIONS[key]] = value
        elif key == "token_file" and sep:
            env[TOKEN_ENV] = _read_token(value)
        elif key == "verbose":
            out.append("-v")
        elif key in MOUNT_ONLY_OPTIONS or key.startswith(("x-", "comment=")):
            continue
        else:
            fuse_opts.append(opt)
    if fuse_opts:
        out += ["-o", ",".join(fuse_opts)]
    return out, env


def _read_token(path: str) -> str:
    try:
        token = Path(path).expanduser().read_text().strip()
    except OSError as exc:
        raise SystemExit(f"pithosfs: token_file={path}: {exc.strerror}") from None
    if not token:
        raise SystemExit(f"pithosfs: token_file={path} is empty")
    return token


def adopt(argv: list[str]) -> list[str]:
    """Translate mount(8)-style arguments for the CLI, applying their environment here."""
    args, env = translate_with_env(argv)
    if "--token" in args:
        print(
            "pithosfs: warning: token= in mount options is readable by every user (fstab, ps); "
            "use a kamakirc cloud or token_file=",
            file=sys.stderr,
        )
    os.environ.update(env)
    return args
