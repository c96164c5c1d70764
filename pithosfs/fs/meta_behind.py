"""Mode and mtime changes of closed files and directories, merged and sent a moment later.

Why: tools set several attributes one call after the other. Archivers (`tar x`,
`cp -a`, `rsync -a`) set each directory's times and mode at the end (utimens,
chown, chmod); rsync sets a file's times and mode on its temporary copy
after closing it, then renames it into place. Each was one POST. Held for
`HOLD` seconds, the changes of one path are merged into one POST, or ride on
the MOVE of a rename that comes first (a MOVE carries metadata: protocol.md 4.4), so
rsync's file costs its PUT and its MOVE. The mount shows a change at once (its
stat cache), and whatever could observe the path's metadata on the server
from here first sends what waits for it (`flush`, `flush_children`,
`flush_tree`: a HEAD or listing, rmdir, extended attributes, an open for
writing, unmount); an unlink drops it. A POST that fails is logged, and the
path is read again from the server.

An open file with unsaved data is not held here: its changes ride on its commit.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from pithosfs.client.errors import PithosError
from pithosfs.fs.paths import Location

log = logging.getLogger(__name__)

HOLD = 0.2  # seconds a change waits for the next one of the same path
Pending = tuple[Location, dict[str, str], Any, float]  # location, updates, base, since


class MetaBehind:
    """Pending metadata updates, keyed by mount path."""

    def __init__(
        self, send: Callable[[Location, Mapping[str, str], Any], None], hold: float = HOLD
    ) -> None:
        """`send(loc, updates, base)`: the POST, and what the mount learns from it;
        `base` is what `add` was first given for that path."""
        self._send = send
        self._hold = hold
        self._cond = threading.Condition()
        # path -> (location, merged updates, base, when the first came). GUARDED_BY(_cond)
        self._pending: dict[str, Pending] = {}
        self._sending = 0  # GUARDED_BY(_cond): updates taken out and not yet sent
        # Paths whose POST is on the wire: one path's changes go in the order they were
        # made, so a later one waits for it (a flush on another thread must not pass an
        # earlier change on its way). GUARDED_BY(_cond)
        self._on_wire: set[str] = set()
        self._closed = False  # GUARDED_BY(_cond)
        self._thread: threading.Thread | None = None  # GUARDED_BY(_cond)

    def add(self, loc: Location, updates: Mapping[str, str], base: Any) -> None:
        with self._cond:
            if self._closed:
                closed = True
            else:
                closed = False
                entry = self._pending.get(loc.path) or (loc, {}, base, time.monotonic())
                entry[1].update(updates)
                self._pending[loc.path] = entry
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="pithosfs-meta-behind", daemon=True
                    )
                    self._thread.start()
                self._cond.notify_all()
        if closed:
            self._send(loc, dict(updates), base)

    def waiting(self) -> int:
        """Updates not sent yet (for the status file: tests wait for 0)."""
        with self._cond:
            return len(self._pending) + self._sending

    def flush(self, path: str) -> None:
        """Send what waits for `path` now (before something reads or changes it)."""
        self._flush_where(lambda p: p == path)

    def flush_children(self, directory: str) -> None:
        """Send what waits for the entries of `directory` (before it is listed)."""
        prefix = directory.rstrip("/") + "/"
        self._flush_where(lambda p: p.startswith(prefix) and "/" not in p[len(prefix) :])

    def flush_tree(self, path: str) -> None:
        """Send what waits for `path` and everything below it (a rename or rmdir)."""
        prefix = path.rstrip("/") + "/"
        self._flush_where(lambda p: p == path or p.startswith(prefix))

    def close(self) -> None:
        """Send everything waiting and stop (unmount)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._flush_where(lambda p: True)

    def _flush_where(self, wanted: Callable[[str], bool]) -> None:
        """Send what waits for the paths `wanted` picks, and wait for what is on the wire
        for them: when this returns the server has all of it (a HEAD after it sees it)."""
        with self._cond:
            taken = [self._pending.pop(p) for p in [p for p in self._pending if wanted(p)]]
            self._sending += len(taken)
        self._send_all(taken)
        with self._cond:
            while any(wanted(p) for p in self._on_wire):
                self._cond.wait()

    def take(self, path: str) -> dict[str, str] | None:
        """The updates waiting for `path`, now the caller's to send (None if none wait),
        once the path's POST on the wire, if any, has landed."""
        with self._cond:
            while path in self._on_wire:
                self._cond.wait()
            entry = self._pending.pop(path, None)
        return entry[1] if entry is not None else None

    def waiting_for(self, path: str) -> dict[str, str]:
        """The updates still waiting for `path` (what the mount shows beyond the server)."""
        with self._cond:
            entry = self._pending.get(path)
            return dict(entry[1]) if entry is not None else {}

    def discard(self, path: str) -> None:
        """Forget what waits for `path` (it was removed)."""
        self.take(path)

    def _send_all(self, taken: list[Pending]) -> None:
        for loc, updates, base, _ in taken:
            with self._cond:
                while loc.path in self._on_wire:
                    self._cond.wait()
                self._on_wire.add(loc.path)
            try:
                self._send(loc, updates, base)
            except (PithosError, OSError) as exc:
                log.warning("metadata of %s not stored: %s", loc.path, exc)
            except Exception:  # a bug must not stop the thread that sends the others
                log.exception("metadata of %s not stored", loc.path)
            finally:
                with self._cond:
                    self._on_wire.discard(loc.path)
                    self._sending -= 1
                    self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                now = time.monotonic()
                due = [p for p, entry in self._pending.items() if now - entry[3] >= self._hold]
                if not due:
                    first = min(entry[3] for entry in self._pending.values())
                    self._cond.wait(max(0.0, first + self._hold - now))
                    continue
                taken = [self._pending.pop(p) for p in due]
                self._sending += len(taken)
            self._send_all(taken)
