"""SIGINT, SIGTERM and SIGHUP of a foreground mount: unmount cleanly, exit 0.

Left to libfuse, a signal ends the FUSE loop at once, detaches the mount lazily
and makes fuse_main return 8, which the binding raises as an error: Ctrl-C on
`pithosfs mount -f` looked like a failed mount. Here, once the mount's threads
are about to start, the three signals are blocked in the main thread (every
thread started later inherits the mask, libfuse's workers included) and one
thread takes them with sigwait:

- before the FUSE loop runs, the main thread is interrupted (KeyboardInterrupt)
  and the command exits 0 with nothing mounted;
- once the mount is live it is unmounted as `umount` does it (fusermount3 -u):
  the loop ends normally, open files are committed, fuse_main returns 0. A busy
  mount (a shell's working directory, an open file) is detached lazily instead:
  it leaves the namespace at once, and the process exits after the last open
  file is closed and committed.

Before `block()` Python's own handling applies: SIGINT raises KeyboardInterrupt,
and `handle_before_block()` makes SIGTERM and SIGHUP do the same.
"""

from __future__ import annotations

import _thread
import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
LIVE_POLL = 0.05  # seconds between checks that the mount is live, after a signal


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def handle_before_block() -> None:
    """SIGTERM and SIGHUP interrupt the main thread as SIGINT does, until `block()`."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)


class StopOnSignal:
    """Turns a stop signal into a clean unmount (see the module docstring)."""

    def __init__(
        self,
        mountpoint: Path,
        is_live: Callable[[Path], bool],
        unmount_command: Callable[[Path, bool], list[str]],
    ) -> None:
        self.mountpoint = mountpoint
        self._is_live = is_live  # must not touch the mount itself (it may be initialising)
        self._unmount_command = unmount_command  # (mountpoint, lazy) -> argv
        self._lock = threading.Lock()
        self.received: int | None = None  # GUARDED_BY(_lock); the first stop signal
        self._serving = False  # GUARDED_BY(_lock); the main thread entered the FUSE loop

    def block(self) -> None:
        """From now on the stop signals reach only this object's thread."""
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        threading.Thread(target=self._wait, name="pithosfs-signals", daemon=True).start()

    def serving(self) -> None:
        """Called by the main thread right before the FUSE loop; raises KeyboardInterrupt
        if a stop signal came first (then nothing gets mounted)."""
        with self._lock:
            if self.received is not None:
                raise KeyboardInterrupt(signal.Signals(self.received).name)
            self._serving = True

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""

    def _wait(self) -> None:
        while True:
            signum = signal.sigwait(STOP_SIGNALS)
            with self._lock:
                first = self.received is None
                if first:
                    self.received = signum
                serving = self._serving
                if not serving:
                    _thread.interrupt_main()  # the main thread is still setting up
                    return
            if first:
                log.info("%s: unmounting %s", signal.Signals(signum).name, self.mountpoint)
                threading.Thread(target=self._unmount, name="pithosfs-stop", daemon=True).start()
            else:
                log.warning(
                    "%s: already stopping; open files on %s are committed as they are "
                    "closed (kill -9 abandons them: closed files are in the journal)",
                    signal.Signals(signum).name, self.mountpoint,
                )  # fmt: skip

    def _unmount(self) -> None:
        while not self._is_live(self.mountpoint):  # the FUSE loop may still be starting
            time.sleep(LIVE_POLL)
        done = self._run(lazy=False)
        if done.returncode == 0:
            return
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "busy"
        log.warning(
            "%s is in use (%s): detached now; this process exits once the last open file "
            "on it is closed", self.mountpoint, reason,
        )  # fmt: skip
        lazy = self._run(lazy=True)
        if lazy.returncode != 0:
            log.error("could not unmount %s: %s", self.mountpoint, lazy.stderr.strip())

    def _run(self, lazy: bool) -> subprocess.CompletedProcess[str]:
        command = self._unmount_command(self.mountpoint, lazy)
        return subprocess.run(command, capture_output=True, text=True, check=False)
