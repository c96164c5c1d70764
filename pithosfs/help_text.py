"""The man-page part of each command's --help: examples, exit status, see also.

A command's own docstring and option help stay next to its code; these epilogs
hold what a man page adds after them, and `pithosfs.cli` attaches them. `\\b`
keeps click from rewrapping a paragraph.
"""

from __future__ import annotations

import site
import sys
from pathlib import Path

DOC_FILES = ("README.md", "SEMANTICS.md", "docs/faq.md", "docs/systemd.md")


def docs_dir() -> Path | None:
    """Where the documentation is: the source tree this package runs from (a checkout),
    else where it was installed with the package (<prefix>/share/doc/pithosfs: pyproject's
    data-files)."""
    candidates = [
        Path(__file__).resolve().parent.parent,
        Path(sys.prefix) / "share" / "doc" / "pithosfs",
        Path(site.USER_BASE or "~/.local").expanduser() / "share" / "doc" / "pithosfs",
    ]
    return next((d for d in candidates if all((d / f).is_file() for f in DOC_FILES)), None)


def see_also() -> str:
    where = docs_dir()
    if where is None:  # installed without its data files: name them, not paths that lack
        return "See also: pithosfs COMMAND --help; README.md, SEMANTICS.md and docs/ of the sources."
    return f"\b\nSee also, in {where}:\n  {', '.join(DOC_FILES)}"  # \b: never wrap a path


SEE_ALSO = see_also()

MOUNT = f"""\b
Credentials, highest first: --url/--token/--cloud; PITHOS_URL, PITHOS_TOKEN,
PITHOS_CLOUD; ~/.kamakirc (or $KAMAKIRC). With none of them, the embedded
server is started (or reused) with its data under ~/.local/share/pithosfs.
`pithosfs config` shows what would be used, without mounting.

\b
Mount options (-o, comma-separated, repeatable):
  ro                 read-only: every write fails with "Read-only file system"
  nonempty           mount over a directory that is not empty (hiding it)
  uid=N, gid=N       the owner shown for every file (user/group names too)
  umask=OOO          the permission bits shown: 0777 & ~umask on every entry
  allow_other        let other users in (non-root: needs user_allow_other
                     in /etc/fuse.conf); without umask= every mode is shown
                     with its owner's bits only (0644 as 0600): only the
                     owner shown (uid=) and root get in
  other FUSE options are handed to libfuse (see mount.fuse3(8))
The kernel checks the permission bits shown (default_permissions, always on).

\b
Examples:
  pithosfs mount ~/pithos                     # ~/.kamakirc default cloud, else embedded
  pithosfs mount ~/pithos --cloud okeanos -o ro
  PITHOS_TOKEN=... pithosfs mount /mnt/p --url https://accounts.example.org/identity/v2.0
  pithosfs mount /srv/p -o allow_other,uid=1000,gid=1000
  pithosfs mount -f ~/pithos -v               # foreground, debug log on stderr

\b
The mount point must be an existing, empty directory (as for mount(8)):
nothing is created, and a non-empty one is refused unless -o nonempty.
With -f, SIGINT (Ctrl-C), SIGTERM and SIGHUP unmount cleanly, as `umount`
does: open files are committed when closed, and the exit status is 0.

\b
Exit status:
  0  the mount is live (with -f: it ran until unmounted or stopped by a signal)
  1  refused or failed: one line on stderr starting with "pithosfs: " (mount
     point missing, not a directory, not empty or already a mount; bad URL or
     token; server unreachable; FUSE missing or refused)
  2  usage error: unknown option or missing argument

{SEE_ALSO}"""

UMOUNT = f"""\b
Runs fusermount3 -u (umount as root), then waits up to 300 s for the mount
process to commit what is left and exit, so the data is on the server when
this returns.

\b
Examples:
  pithosfs umount ~/pithos
  pithosfs umount --wait 600 ~/pithos  # let pending uploads finish first
  pithosfs umount --force ~/pithos     # pending uploads wait in the journal
  fuser -vm ~/pithos                   # who keeps it busy
  fusermount3 -u -z ~/pithos           # after a crash ("Transport endpoint is not connected")

\b
Exit status:
  0  unmounted (with --force, uploads still pending are named on stderr)
  1  not unmounted (uploads pending without --force; busy, naming the
     processes that hold it; not a mount point), or still committing after
     300 s: one line on stderr starting "pithosfs: "
  2  usage error: unknown option or missing argument

{SEE_ALSO}"""

STATUS = f"""\b
Examples:
  pithosfs status                   # every mount of this user
  pithosfs status ~/pithos --watch  # progress bars, refreshed every second
  pithosfs status --json            # the raw snapshots, for scripts

\b
Exit status:
  0  printed (also "no pithosfs mounts")

{SEE_ALSO}"""

SERVE = f"""\b
Runs in the foreground until SIGINT or SIGTERM. Point kamaki or a mount at the
printed identity URL; the printed tokens are the users' tokens (tokens handed
in are shown masked). Each new account gets the container "pithos", as Synnefo
clouds give their users.

\b
The embedded server that `pithosfs mount` starts when no credentials are
configured is this command on ~/.local/share/pithosfs/server; the end of the
last mount that uses it stops it (`pithosfs umount`, or a signal to `mount -f`),
and `pithosfs serve --stop` stops it when no mount uses it.

\b
Examples:
  pithosfs serve --data-dir /srv/pithos --port 8080
  pithosfs serve --users-file /etc/pithosfs/users  # UUID=TOKEN lines, or a JSON object
  PITHOSFS_SERVE_USERS=UUID=TOKEN pithosfs serve   # the same from the environment
  pithosfs serve --strict    # no extension: test a client as against real Pithos+
  pithosfs serve --stop                            # stop the embedded server
  pithosfs mount ~/pithos --url http://127.0.0.1:8080/identity/v2.0 --token TOKEN
  kamaki config set cloud.local.url http://127.0.0.1:8080/identity/v2.0

\b
Tokens given with --user are visible to every local user in the process
list: prefer --users-file (mode 0600) or the environment.

\b
Exit status:
  0  stopped by a signal (with --stop: stopped, or none was running)
  1  could not start (port in use, unusable data directory), or --stop
     refused while mounts use the embedded server
  2  usage error: unknown option, unreadable users file

{SEE_ALSO}"""

RENEW_TOKEN = f"""\b
Examples:
  pithosfs renew-token ~/pithos < new-token.txt
  printf '%s\\n' "$NEW_TOKEN" | pithosfs renew-token ~/pithos
  pithosfs renew-token ~/pithos                # asks for it (hidden) on a terminal

\b
The mount checks the token against its account before taking it; a refused
token leaves the old one in use.

\b
Exit status:
  0  the mount uses the new token
  1  no live mount there, or the token was refused: one line on stderr
     starting with "pithosfs: "

{SEE_ALSO}"""

PURGE = f"""\b
PATH is a file, a container directory or the root of a live pithosfs mount;
the command sets the write-only attribute user.pithos.purge, as
`setfattr -n user.pithos.purge -v history PATH` does. Versions in the same
second as the current one stay (the protocol counts whole seconds). The
server frees the blocks of the purged versions within seconds; `df` on the
mount shows it.

\b
Examples:
  pithosfs purge ~/pithos/pithos/report.odt    # its older versions
  pithosfs purge ~/pithos/backups              # history and deleted files of a container

\b
Exit status:
  0  every PATH purged
  1  some PATH could not be purged (reason on stderr)

{SEE_ALSO}"""

JOURNAL = f"""\b
Uploads a mount could not make wait in <cache-dir>/journal and are retried by
the mount; those the server refused for good (no right to write, over quota,
a bad request) wait in <cache-dir>/failed and are never retried or deleted by
themselves. `pithosfs status` lists them with these commands.

\b
Examples:
  pithosfs journal list                        # waiting and refused uploads
  pithosfs journal retry 3f2a…                 # back in the journal (quota raised)
  pithosfs journal save 3f2a… ~/rescued.bin    # a copy of its content
  pithosfs journal discard 3f2a…               # delete it for good

\b
Exit status:
  0  done
  1  no such refused upload, or the copy could not be made

{SEE_ALSO}"""

EPILOGS = {
    "mount": MOUNT, "umount": UMOUNT, "status": STATUS, "serve": SERVE,
    "renew-token": RENEW_TOKEN, "journal": JOURNAL, "purge": PURGE,
}  # fmt: skip
