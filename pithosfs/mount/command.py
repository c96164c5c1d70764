"""`pithosfs mount | umount | status`.

`mount` without -f re-runs itself with -f as a detached process and returns
0 only once the mountpoint is live, or 1 with the child's one-line reason
(every refusal is printed as a single line starting with "pithosfs: ").
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pithosfs.client.transport import DEFAULT_DEADLINE
from pithosfs.embedded_leases import embedded_holders
from pithosfs.fs.options import FsOptions, default_cache_dir, size_in_bytes
from pithosfs.processes import pid_alive

if TYPE_CHECKING:
    from pithosfs.client.pithos import PithosClient
    from pithosfs.fs.core import Filesystem
    from pithosfs.fs.writeback.durability import UploadGuard
    from pithosfs.mount.control import ControlServer, Monitor
    from pithosfs.mount.stop_signals import StopOnSignal

log = logging.getLogger(__name__)

MOUNT_TIMEOUT = 60.0
UMOUNT_TIMEOUT = 300.0
# The token's variable; the daemon also receives --token through it (kept out of argv).
TOKEN_ENV = "PITHOS_TOKEN"
DEPRECATED_TOKEN_ENV = ("PITHOSFS_TOKEN",)  # still read, with a warning
_CREDENTIAL_ENV = (
    "PITHOS_CLOUD", "PITHOS_URL", TOKEN_ENV, *DEPRECATED_TOKEN_ENV, "PITHOS_AUTH_USER", "ST_AUTH",
    "OS_AUTH_URL",
)  # fmt: skip


def credentials_named(url: str | None, token: str | None, cloud: str | None) -> bool:
    """True if flags or environment name credentials: then an incomplete set is an
    error, never a reason to fall back to the embedded server (mount and config agree)."""
    return bool(url or token or cloud or any(os.environ.get(n) for n in _CREDENTIAL_ENV))


def parse_size(text: str) -> int:
    """`512M`, `2G`, `1048576` -> bytes; anything else is a usage error."""
    try:
        return size_in_bytes(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def fail(reason: str) -> None:
    click.echo(f"pithosfs: {reason}", err=True)
    sys.exit(1)


def check_mountpoint(mountpoint: Path, nonempty: bool = False) -> None:
    """Refuse, as mount(8) and sshfs do, a mount point that is missing, not a directory,
    already a mount, or not empty (unless `-o nonempty`): nothing is created, and a
    mistyped path is an error rather than a new directory."""
    try:
        os.stat(mountpoint)
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            _detach_dead_mount(mountpoint)
            check_mountpoint(mountpoint, nonempty)
            return
        if exc.errno == errno.ENOENT:
            fail(f"mountpoint does not exist: {mountpoint} (create it first: mkdir {mountpoint})")
        fail(f"mountpoint not usable: {mountpoint}: {exc.strerror}")
    if os.path.ismount(mountpoint):
        if _dead_mount(mountpoint):
            _detach_dead_mount(mountpoint)
            check_mountpoint(mountpoint, nonempty)
            return
        fail(f"mountpoint busy: {mountpoint} is already a mount")
    if not mountpoint.is_dir():
        fail(f"mountpoint is not a directory: {mountpoint}")
    if nonempty:
        return
    try:
        with os.scandir(mountpoint) as entries:
            occupied = next(entries, None) is not None
    except OSError as exc:
        fail(f"mountpoint not usable: {mountpoint}: {exc.strerror}")
    if occupied:
        fail(
            f"mountpoint is not empty: {mountpoint} (the mount would hide its files; "
            "use -o nonempty to mount over them anyway)"
        )


def _dead_mount(mountpoint: Path) -> bool:
    """Whether a mount on `mountpoint` has lost its process.

    stat() of it may still succeed for a while after the process died: the kernel
    answers from its attribute cache. statfs() is never cached, so it reaches the
    (dead) FUSE connection and fails with ENOTCONN.
    """
    try:
        os.statvfs(mountpoint)
    except OSError as exc:
        return exc.errno in (errno.ENOTCONN, errno.ECONNABORTED)
    return False


def _detach_dead_mount(mountpoint: Path) -> None:
    """Detach what a killed mount process left ("Transport endpoint is not connected").

    Its journal is in the cache dir, so the new mount resumes its uploads.
    """
    done = subprocess.run(_unmount_command(mountpoint, lazy=True), capture_output=True, text=True)
    try:
        os.stat(mountpoint)
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
            fail(f"mountpoint busy: a dead mount is attached and could not be detached: {reason}")
    log.warning("detached a dead mount left on %s", mountpoint)


def open_store(
    url: str | None, token: str | None, cloud: str | None, mountpoint: Path,
    timeout: float = 0.0,
) -> tuple[PithosClient, str, bool]:
    """The account to mount, a description, and whether it is the embedded server's
    (the default with no credentials; this process is then recorded as using it).

    `timeout`: seconds one request may take with its retries (0: the client's default).
    """
    from pithosfs import reasons
    from pithosfs.client.config import ConfigError
    from pithosfs.client.errors import PithosError
    from pithosfs.client.pithos import PithosClient
    from pithosfs.client.transport import RetryPolicy
    from pithosfs.mount import launcher

    policy = {"retry": RetryPolicy.with_deadline(timeout)} if timeout > 0 else {}
    try:
        try:
            # from_config: on a 401 the client re-reads flags/env/kamakirc and logs in
            # again, so a token renewed there (or a Swift login) keeps a long mount going.
            store = PithosClient.from_config(url=url, token=token, cloud=cloud, **policy)
        except ConfigError:
            # Credentials named anywhere but incomplete: say so, never mount the embedded server.
            if credentials_named(url, token, cloud):
                raise
            account = launcher.ensure_embedded_server(os.getpid(), mountpoint)
            store = PithosClient.from_storage_url(account.storage_url, account.token, **policy)
            store.account_info()
            store.fold_write_replies = True
            return store, f"embedded server {account.storage_url}", True
        store.account_info()
        # The filesystem fills in what a reference write reply lacks: no HEAD per write.
        store.fold_write_replies = True
        return store, str(store.storage_url), False
    except ConfigError as exc:
        fail(str(exc))
    except PithosError as exc:
        fail(reasons.refusal(exc))
    except launcher.LaunchError as exc:
        fail(f"embedded server: {exc}")
    raise AssertionError("unreachable")


def _private_file(path: Path) -> None:
    """Create `path` 0600 if missing: at -v a mount log names every file the user touches."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))


def setup_logging(verbose: int, log_file: str | None) -> None:
    """INFO by default; -v adds pithosfs' own debug lines, -vv every FUSE call and urllib3's."""
    handler: logging.Handler
    if log_file:
        _private_file(Path(log_file))
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    quiet_below_vv = logging.INFO if verbose < 2 else logging.NOTSET
    for name in ("pithosfs.fs.fuse.operations", "urllib3"):  # one line per call: -vv only
        logging.getLogger(name).setLevel(quiet_below_vv)


def _without_token(args: list[str]) -> list[str]:
    """argv minus --token: /proc/<pid>/cmdline (ps) is readable by every local user."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--token":
            skip = True
        elif not arg.startswith("--token="):
            kept.append(arg)
    return kept


def _reexec_without_token(token: str) -> None:
    """Run this foreground mount again with --token moved into the environment.

    /proc/<pid>/cmdline (ps) is readable by every local user for as long as the
    mount runs; exec keeps the pid, so whoever started it still waits on it.
    """
    if sys.argv[1:2] != ["mount"]:
        log.warning("--token is visible in ps for this mount; prefer $PITHOS_TOKEN or kamakirc")
        return
    env = {**os.environ, TOKEN_ENV: token}
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, "-m", "pithosfs", *_without_token(sys.argv[1:])]
    os.execve(sys.executable, argv, env)


def _daemonize(mountpoint: Path, args: list[str], log_file: Path, token: str | None = None) -> None:
    """Start the foreground mount detached; wait until it is live or has failed.

    The token goes to the child in its environment (private to the user), not in argv.
    """
    cmd = [sys.executable, "-m", "pithosfs", "mount", "-f", *args]
    child_env = {k: v for k, v in os.environ.items() if k not in DEPRECATED_TOKEN_ENV}
    if token:
        child_env[TOKEN_ENV] = token
    child_env.pop("NOTIFY_SOCKET", None)  # only the service's main process may notify systemd
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _private_file(log_file)
    os.chmod(log_file, 0o600)  # also a log left readable by an older version
    start = log_file.stat().st_size
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            env=child_env,
        )
    deadline = time.monotonic() + MOUNT_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if os.path.ismount(mountpoint):
                return
            if proc.poll() is not None:
                fail(_reason_from_log(log_file, start) or f"mount exited with {proc.returncode}")
            time.sleep(0.05)
    except KeyboardInterrupt:
        proc.terminate()  # the mount being started stops cleanly (exit 0) on SIGTERM
        raise
    proc.terminate()
    fail(f"mount not live after {MOUNT_TIMEOUT:.0f} s; see {log_file}")


def _reason_from_log(log_file: Path, start: int) -> str:
    with open(log_file, "rb") as f:
        f.seek(start)
        lines = f.read().decode("utf-8", "replace").splitlines()
    reasons = [ln.removeprefix("pithosfs: ") for ln in lines if ln.startswith("pithosfs: ")]
    reason = reasons[-1] if reasons else (lines[-1] if lines else "")
    if re.fullmatch(r"mount failed: \d+", reason):  # libfuse's exit code: its own line says why
        said = [ln for ln in lines if ln.startswith(("fuse: ", "fusermount"))]
        if said:
            reason = f"mount failed: {said[-1]}"
    return reason


def _status_writer(
    core: Filesystem, mountpoint: Path, log_file: str | None, control: str, embedded: bool
) -> None:
    """Refresh the mount's state file every 2 s (for `status`, `umount` and request-counting tests).

    The file says where the control socket is; live figures come from there.
    """
    from pithosfs.mount import launcher

    while True:
        stats = core.store.stats
        # Stamped before the counters are read: a state newer than a moment holds every
        # request finished by then (tests count requests from it).
        taken = time.time()
        snap = stats.snapshot()
        launcher.write_state(
            mountpoint,
            pid=os.getpid(),
            log_file=log_file or "",
            control=control,
            embedded=embedded,
            cache_dir=str(core.opts.cache_dir),
            account=core.store.storage_url,  # whose journal entries
            pending_bytes=core.files.pending_bytes(),
            background=core.background_work(),
            requests=snap.requests,
            bytes_sent=snap.bytes_sent,
            bytes_received=snap.bytes_received,
            by_method={m: v.requests for m, v in snap.by_method.items()},
            cache_bytes=core.blocks.used_bytes,
            updated=taken,
        )
        time.sleep(float(os.environ.get("PITHOSFS_STATUS_INTERVAL", "2")))


def _start_control(
    core: Filesystem, mountpoint: Path
) -> tuple[UploadGuard, Monitor, ControlServer | None]:
    """Journal retrier, status monitor and control socket of a starting mount.

    Returns (guard, monitor, control server or None if the socket cannot be made).
    """
    from pithosfs.fs.writeback.durability import guard_of
    from pithosfs.mount import control, launcher, token_renewal

    guard = guard_of(core)
    guard.start()  # uploads left by an earlier mount resume now, in the background
    resume_shared = getattr(core.layers.owner("/.shared"), "resume_journals", None)
    if resume_shared is not None:  # and those it left for accounts that share with us
        resume_shared()
    monitor = control.Monitor(core, guard)
    monitor.start()
    try:
        path = control.socket_path(core.opts.cache_dir, launcher.mount_id(mountpoint))
        server = control.ControlServer(path, monitor.snapshot, token_renewal.renewer(core.store))
        server.start()
    except OSError as exc:
        log.error("no control channel (pithosfs status will not see this mount): %s", exc)
        return guard, monitor, None
    return guard, monitor, server


@click.command()
@click.argument("mountpoint", type=click.Path(path_type=Path))
@click.option("--url", help="Identity (Astakos/Keystone v2.0) URL, or a storage URL.")
@click.option("--token", envvar=TOKEN_ENV, help="The account's token (or $PITHOS_TOKEN).")
@click.option("--cloud", help='A [cloud "NAME"] of ~/.kamakirc.')
@click.option("-f", "--foreground", is_flag=True, help="Stay in the foreground.")
@click.option(
    "-o", "options", multiple=True, metavar="OPT[,OPT...]",
    help="FUSE mount options: ro, uid=, gid=, umask=, allow_other... (see below).",
)  # fmt: skip
@click.option(
    "--cache-dir", type=click.Path(file_okay=False, path_type=Path),
    help="Block cache, upload staging and journal [default: ~/.cache/pithosfs].",
)  # fmt: skip
@click.option("--cache-size", default="2G", show_default=True, help="Disk block cache bound.")
@click.option(
    "--attr-timeout", default=5.0, show_default=True, type=float,
    help="Seconds a file's attributes are trusted; changes made elsewhere show after it.",
)  # fmt: skip
@click.option(
    "--dir-timeout", default=5.0, show_default=True, type=float,
    help="Seconds a directory listing is trusted; changes made elsewhere show after it.",
)  # fmt: skip
@click.option(
    "--timeout", default=DEFAULT_DEADLINE, show_default=True, type=click.FloatRange(min=1),
    help="Seconds a request may take, retries included, before the call fails "
    "(a silent server; the journal then keeps what was being saved).",
)  # fmt: skip
@click.option(
    "-v", "--verbose", count=True,
    help="-v: debug logging (requests, commits, cache, journal); -vv: also every FUSE call.",
)  # fmt: skip
@click.option(
    "--log-file", type=click.Path(dir_okay=False),
    help="Log here instead of stderr (daemon default: one file per mount point in "
    "~/.cache/pithosfs/mounts/; `pithosfs status` names it).",
)  # fmt: skip
def mount(
    mountpoint: Path, url: str | None, token: str | None, cloud: str | None, foreground: bool,
    options: tuple[str, ...], cache_dir: Path | None, cache_size: str, attr_timeout: float,
    dir_timeout: float, timeout: float, verbose: int, log_file: str | None,
) -> None:  # fmt: skip
    """Mount a Pithos+ account (or the embedded server's) on MOUNTPOINT."""
    if foreground:
        from pithosfs.mount import stop_signals

        stop_signals.handle_before_block()  # a stop signal from here on exits 0
    try:
        _mount(
            mountpoint, url, token, cloud, foreground, options, cache_dir, cache_size,
            attr_timeout, dir_timeout, verbose, log_file, timeout,
        )  # fmt: skip
    except KeyboardInterrupt as exc:
        if not foreground:
            fail("interrupted: nothing mounted")
        log.info("stopped by %s before the mount was live: nothing mounted", exc or "SIGINT")


def _mount(
    mountpoint: Path, url: str | None, token: str | None, cloud: str | None, foreground: bool,
    options: tuple[str, ...], cache_dir: Path | None, cache_size: str, attr_timeout: float,
    dir_timeout: float, verbose: int, log_file: str | None, timeout: float = DEFAULT_DEADLINE,
) -> None:  # fmt: skip
    from pithosfs.client.config import env_token
    from pithosfs.fs.fuse.mount import parse_o

    _check_environment()
    mountpoint = mountpoint.expanduser().absolute()
    nonempty = bool(parse_o(options).get("nonempty"))
    token = token or env_token(os.environ) or None  # also the deprecated PITHOSFS_TOKEN
    if not foreground:
        check_mountpoint(mountpoint, nonempty)
        from pithosfs.mount import launcher

        logf = Path(log_file) if log_file else launcher.mount_log_path(mountpoint)
        args = _without_token([a for a in sys.argv[2:] if a not in ("-f", "--foreground")])
        if not log_file:
            args += ["--log-file", str(logf)]
        _daemonize(mountpoint, args, logf, token)
        return
    if token and any(a == "--token" or a.startswith("--token=") for a in sys.argv):
        _reexec_without_token(token)
    for name in (TOKEN_ENV, *DEPRECATED_TOKEN_ENV):
        os.environ.pop(name, None)  # read once; never inherited by children
    _mount_foreground(
        mountpoint, url, token, cloud, options, cache_dir, parse_size(cache_size),
        attr_timeout, dir_timeout, verbose, log_file, nonempty, timeout,
    )  # fmt: skip


def _check_environment() -> None:
    """Settings read from the environment, checked before anything is mounted."""
    from pithosfs.fs.writeback.swift_segments import BadSegmentSize, segment_size_override

    try:
        segment_size_override()
    except BadSegmentSize as exc:
        fail(str(exc))


def _mount_foreground(
    mountpoint: Path, url: str | None, token: str | None, cloud: str | None,
    options: tuple[str, ...], cache_dir: Path | None, cache_size: int, attr_timeout: float,
    dir_timeout: float, verbose: int, log_file: str | None, nonempty: bool,
    timeout: float = DEFAULT_DEADLINE,
) -> None:  # fmt: skip
    """Mount and serve until unmounted; SIGINT/SIGTERM/SIGHUP unmount cleanly (exit 0)."""
    from pithosfs.fs.fuse.device import mounted_device
    from pithosfs.mount import stop_signals

    setup_logging(verbose, log_file)
    stopper = stop_signals.StopOnSignal(
        mountpoint, lambda p: mounted_device(p) is not None, _unmount_command
    )
    _serve(
        stopper, mountpoint, url, token, cloud, options, cache_dir, cache_size,
        attr_timeout, dir_timeout, log_file, nonempty, timeout,
    )  # fmt: skip
    if stopper.received is not None:
        log.info("stopped by %s: %s unmounted", stopper.signal_name, mountpoint)


def _serve(
    stopper: StopOnSignal, mountpoint: Path, url: str | None, token: str | None, cloud: str | None,
    options: tuple[str, ...], cache_dir: Path | None, cache_size: int, attr_timeout: float,
    dir_timeout: float, log_file: str | None, nonempty: bool, timeout: float,
) -> None:  # fmt: skip
    from pithosfs.fs.fuse import mount as fsmount

    check_mountpoint(mountpoint, nonempty)
    try:
        fsmount.check_fuse_available()
        fsmount.load_binding()
    except fsmount.FuseUnavailable as exc:
        fail(f"FUSE missing: {exc}")
    try:
        _serve_store(
            stopper, mountpoint, url, token, cloud, options, cache_dir, cache_size,
            attr_timeout, dir_timeout, log_file, timeout,
        )  # fmt: skip
    finally:
        from pithosfs.mount import launcher

        # The last mount of the embedded server stops it; a no-op for other accounts.
        if os.getpid() in embedded_holders():
            launcher.release_embedded(os.getpid())


def _serve_store(
    stopper: StopOnSignal, mountpoint: Path, url: str | None, token: str | None, cloud: str | None,
    options: tuple[str, ...], cache_dir: Path | None, cache_size: int, attr_timeout: float,
    dir_timeout: float, log_file: str | None, timeout: float,
) -> None:  # fmt: skip
    from pithosfs.fs.core import Filesystem
    from pithosfs.fs.fuse import mount as fsmount

    store, where, embedded = open_store(url, token, cloud, mountpoint, timeout)
    opts = FsOptions(
        attr_timeout=attr_timeout, dir_timeout=dir_timeout,
        cache_dir=(cache_dir or default_cache_dir()).expanduser().absolute(), cache_size=cache_size,
    )  # fmt: skip
    from pithosfs.mount import access_options as mount_options
    from pithosfs.mount import systemd_notify as notify

    try:
        opts, fuse_opts = mount_options.apply(opts, fsmount.parse_o(options))
    except mount_options.MountOptionError as exc:
        fail(str(exc))
    stopper.block()  # before the first thread: every thread inherits the blocked signals
    core = Filesystem(store, opts)
    log.info("mounting %s on %s", where, mountpoint)
    from pithosfs import memory_trim

    memory_trim.start()  # freed heap back to the system: RSS stays flat (memory_trim.py)
    guard, monitor, control = _start_control(core, mountpoint)
    where_control = str(control.path) if control is not None else ""
    threading.Thread(
        target=_status_writer, args=(core, mountpoint, log_file, where_control, embedded),
        daemon=True,
    ).start()  # fmt: skip
    notify.notify_when_live(mountpoint)  # systemd Type=notify: READY=1 once live
    try:
        stopper.serving()
        fsmount.run(core, mountpoint, fuse_opts)
    except RuntimeError as exc:
        if stopper.received is None:
            fail(f"mount failed: {exc}")
    finally:
        notify.notify_stopping()
        from pithosfs.mount import launcher

        guard.stop()  # what is still journalled resumes at the next mount
        monitor.stop()
        if control is not None:
            control.close()
        launcher.state_path(mountpoint).unlink(missing_ok=True)


def _unmount_command(mountpoint: Path, lazy: bool = False) -> list[str]:
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    if tool:
        return [tool, "-u", *(["-z"] if lazy else []), str(mountpoint)]
    return ["umount", *(["-l"] if lazy else []), str(mountpoint)]


@click.command()
@click.argument("mountpoint", type=click.Path(path_type=Path))
@click.option(
    "--force", is_flag=True,
    help="Unmount even with uploads pending (they stay in the journal for the next mount).",
)  # fmt: skip
@click.option(
    "--wait", "wait_seconds", default=0.0, show_default=True, metavar="SECONDS",
    type=click.FloatRange(min=0),
    help="Wait up to SECONDS for pending uploads to finish before refusing (or forcing).",
)  # fmt: skip
def umount(mountpoint: Path, force: bool, wait_seconds: float) -> None:
    """Unmount once every upload is committed (the mount exits only after that).

    Refuses, naming the files, while uploads are pending: files open with
    unsaved changes, commits in flight, or closed files kept in the journal
    because the server could not take them. `--force` unmounts anyway; the
    journal keeps their data and the next mount uploads it.
    """
    from pithosfs.fs.fuse.device import mounted_device
    from pithosfs.mount import launcher
    from pithosfs.mount import status_query as mount_status

    mountpoint = mountpoint.expanduser().absolute()
    state = launcher.read_state(mountpoint) or {}
    pid = int(state.get("pid", 0))
    if mounted_device(mountpoint) is None:  # from mountinfo: never waits on a hung mount
        if pid and not pid_alive(pid):
            launcher.state_path(mountpoint).unlink(missing_ok=True)
        missing = "" if os.path.lexists(mountpoint) else " (no such directory)"
        fail(f"not a mount point: {mountpoint}{missing}")
    # A dead mount's journal waits for the next mount: nothing to wait for before detaching it.
    pending = mount_status.pending(state) if pid and pid_alive(pid) else []
    waited_until = time.monotonic() + wait_seconds
    while pending and time.monotonic() < waited_until:
        time.sleep(min(1.0, max(waited_until - time.monotonic(), 0.0)))
        pending = mount_status.pending(state)
    if pending and not force:
        fail(
            f"busy: {len(pending)} upload(s) pending: {mount_status.names(pending)}; "
            f"see `pithosfs status {mountpoint}`, or use --force to unmount and keep them "
            "in the journal for the next mount"
        )
    done = subprocess.run(_unmount_command(mountpoint), capture_output=True, text=True)
    if done.returncode != 0:
        if "busy" in done.stderr.lower():
            fail(_busy_reason(mountpoint))
        fail(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "unmount failed")
    deadline = time.monotonic() + UMOUNT_TIMEOUT
    while pid and pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # the mount process commits what is left, then exits
    if pid and pid_alive(pid):
        fail(f"unmounted, but process {pid} is still finishing uploads")
    launcher.state_path(mountpoint).unlink(missing_ok=True)  # a killed mount left it behind
    if state.get("embedded") and pid:
        launcher.release_embedded(pid)  # a killed mount could not stop the server itself
    kept = mount_status.journalled(state)
    if kept:
        click.echo(
            f"pithosfs: {len(kept)} upload(s) kept in the journal for the next mount: "
            f"{mount_status.names(kept)}",
            err=True,
        )
    refused = mount_status.failed(state)
    if refused:
        click.echo(
            f"pithosfs: {len(refused)} upload(s) the server refused are kept: "
            f"{', '.join(f['path'] for f in refused)}; see `pithosfs journal list`",
            err=True,
        )


def _busy_reason(mountpoint: Path) -> str:
    """EBUSY from the unmount, as one line naming the processes that hold the mount."""
    from pithosfs import processes

    found = processes.holders(mountpoint)
    if not found:
        return (
            f"busy: {mountpoint} is in use by processes this user cannot see "
            f"(`fuser -vm {mountpoint}` as root names them)"
        )
    return (
        f"busy: {mountpoint} is in use by PID {processes.describe(found)}; close those files "
        "or leave the directory, then unmount again"
    )


@click.command()
@click.argument("mountpoint", required=False, type=click.Path(path_type=Path))
@click.option("--watch", is_flag=True, help="Refresh until interrupted.")
@click.option(
    "--interval", default=1.0, show_default=True, type=click.FloatRange(min=0.1),
    help="Seconds between refreshes.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="The raw snapshot(s), as JSON.")
def status(mountpoint: Path | None, watch: bool, interval: float, as_json: bool) -> None:
    """Live mounts: pending uploads with progress, open files, cache, traffic, last errors.

    Figures come from each mount's control socket, asked when this runs.
    """
    from pithosfs.mount import status_query as mount_status

    wanted = str(mountpoint.expanduser().resolve()) if mountpoint is not None else None
    while True:
        text = mount_status.status_text(wanted, as_json)
        if watch:
            click.clear()
        click.echo(text)
        if not watch:
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return
