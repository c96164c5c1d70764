"""Command line: `pithosfs serve|mount|umount|status|renew-token|journal|config|purge`.

Only wiring lives here; each command is defined next to the code it drives
(`pithosfs.server.command`, `pithosfs.mount.command`) so that this module never
grows logic of its own.
"""

from __future__ import annotations

import importlib
import sys

import click

from pithosfs.help_text import EPILOGS

# (module, attribute) of every subcommand; imported lazily so that `pithosfs serve`
# does not pay for loading the FUSE binding and vice versa.
_COMMANDS = {
    "serve": ("pithosfs.server.command", "serve"),
    "mount": ("pithosfs.mount.command", "mount"),
    "umount": ("pithosfs.mount.command", "umount"),
    "status": ("pithosfs.mount.command", "status"),
    "renew-token": ("pithosfs.mount.token_renewal", "renew_token"),
    "journal": ("pithosfs.mount.journal_command", "journal"),
    "config": ("pithosfs.config_cmd", "config"),
    "purge": ("pithosfs.mount.purge_command", "purge"),
}


class _LazyGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # `pithosfs SOURCE MOUNTPOINT -o OPTS` is how mount.fuse3 runs a `fuse.pithosfs`
        # fstab entry: hand it to the mount.pithosfs translation.
        # mount(8) always passes -o (at least rw/ro), so a mistyped command is not a mount.
        mount_form = any(a.startswith("-o") for a in args[2:])
        if mount_form and args[0] not in _COMMANDS and not args[0].startswith("-"):
            from pithosfs.mount import fstab

            translated = fstab.adopt(args)
            if sys.argv[1:] == args:  # `mount` re-runs itself from sys.argv when daemonizing
                sys.argv[1:] = translated
            args = translated
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module = importlib.import_module(target[0])
        command = getattr(module, target[1], None)
        if isinstance(command, click.Command) and not command.epilog:
            command.epilog = EPILOGS.get(cmd_name)  # examples, exit status (man-page style)
        return command if isinstance(command, click.Command) else None


@click.group(cls=_LazyGroup)
@click.version_option(package_name="pithosfs")
def main() -> None:
    """Mount a Pithos+ account as a filesystem, or serve an embedded Pithos+ account."""


def mount_helper() -> None:
    """`mount.pithosfs SOURCE MOUNTPOINT -o OPTS`: mount(8)'s form, translated, then the CLI."""
    from pithosfs.mount import fstab

    sys.argv = ["pithosfs", *fstab.adopt(sys.argv[1:])]
    main()


if __name__ == "__main__":
    main()
