"""The mount's control channel: a Unix socket that answers `pithosfs status` and `umount`.

The socket is `<cache-dir>/control-<mount id>.sock` (the cache dir is 0700, the socket
0600), or, when that path is too long for a socket address (108 bytes),
`$XDG_RUNTIME_DIR/pithosfs-<mount id>.sock` (else a private
`/tmp/pithosfs-<uid>/`). The mount's state file (launcher.py) records where.
A client connects, sends one line (`status`, or `renew-token` and then the new
token on a second line), and reads one JSON document until the mount closes the
connection. Only the mount's own user (or root)
is answered (SO_PEERCRED): file names are private.

The document is a snapshot taken in memory (`Monitor`): pending uploads with
bytes sent/total, a rate measured over the last seconds and the ETA it implies
(durability.py and the open files' byte counters, sampled every second; a file
still open for writing shows bytes written and bytes uploaded, with no ETA), open
files, block cache size and hit rate, requests and bytes per HTTP method since
the mount started (the client's TransferStats), the last warnings and errors
(`ErrorLog`, a logging handler), recent journal conflicts, and the uploads the
server refused for good (`<cache-dir>/failed/`, journal_areas.py). Uploads and
conflicts include those of shared accounts written through `.shared/` (their
journals live under `<cache-dir>/shared/<account>/`). Nothing is read from log files.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import struct
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pithosfs.fs.core import Filesystem
    from pithosfs.fs.writeback.durability import UploadGuard

log = logging.getLogger(__name__)

MAX_SOCKET_PATH = 100  # sun_path is 108 bytes including the NUL; keep a margin
CLIENT_TIMEOUT = 10.0
ERRORS_KEPT = 10
SAMPLE_INTERVAL = 1.0  # seconds between progress samples (for rates)
RATE_WINDOW = 5.0  # seconds of samples a rate is measured over
MIN_RATE_SPAN = 0.5  # a rate needs samples at least this far apart


def socket_path(cache_dir: Path, mount_id: str) -> Path:
    """Where the control socket of this mount lives.

    Named by mount id: mounts without --cache-dir share the default cache dir, and
    one socket name there let a second mount unlink and take over the first's
    (status and umount of the first then spoke to the second).
    """
    preferred = Path(cache_dir) / f"control-{mount_id}.sock"
    if len(os.fsencode(preferred)) <= MAX_SOCKET_PATH:
        return preferred
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = (
        Path(runtime)
        if runtime and os.path.isdir(runtime)
        else Path(f"/tmp/pithosfs-{os.getuid()}")
    )
    base.mkdir(mode=0o700, exist_ok=True)
    if base.stat().st_uid != os.getuid():
        raise OSError(f"{base} belongs to another user: not putting the control socket there")
    return base / f"pithosfs-{mount_id}.sock"


class ErrorLog(logging.Handler):
    """The last warnings and errors of this process, kept in memory for `status`."""

    def __init__(self, kept: int = ERRORS_KEPT) -> None:
        super().__init__(logging.WARNING)
        self._records: collections.deque[dict[str, Any]] = collections.deque(maxlen=kept)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad log call must not break logging
            message = str(record.msg)
        self._records.append(
            {"time": record.created, "level": record.levelname, "message": message}
        )

    def recent(self) -> list[dict[str, Any]]:
        return list(self._records)


class RateMeter:
    """Bytes per second of each upload over the last `window` seconds, from repeated samples."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._samples: dict[str, collections.deque[tuple[float, int]]] = {}  # GUARDED_BY(_lock)

    def observe(self, key: str, sent: int, now: float) -> float:
        with self._lock:
            samples = self._samples.setdefault(key, collections.deque())
            if samples and sent < samples[-1][1]:
                samples.clear()  # a new upload under the same name
            samples.append((now, sent))
            while len(samples) > 2 and now - samples[1][0] >= self.window:
                samples.popleft()
            first_time, first_sent = samples[0]
        span = now - first_time
        return (sent - first_sent) / span if span >= MIN_RATE_SPAN else 0.0

    def keep_only(self, keys: set[str]) -> None:
        with self._lock:
            for gone in set(self._samples) - keys:
                del self._samples[gone]


class Monitor:
    """What `status` shows, built in memory; samples uploads every second so rates are current.

    Rates are measured over the last few seconds (RateMeter), so a one-shot
    `status` shows the current speed, and an upload that stalled shows none.
    """

    def __init__(self, core: Filesystem, guard: UploadGuard) -> None:
        self.core = core
        self.guard = guard
        self.started = time.time()
        self.errors = ErrorLog()
        self._meter = RateMeter()
        self._stop = threading.Event()

    def start(self) -> None:
        logging.getLogger().addHandler(self.errors)
        threading.Thread(target=self._sample, name="pithosfs-status", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        logging.getLogger().removeHandler(self.errors)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL):
            try:
                self.uploads()
            except Exception:  # noqa: BLE001 - sampling must never take the mount down
                log.debug("status sampling failed", exc_info=True)

    def uploads(self) -> list[dict[str, Any]]:
        """Every unfinished upload with its current rate and ETA."""
        from pithosfs.fs.open_files import open_files
        from pithosfs.fs.writeback.durability import Upload, sent_by, shared_guards

        now = time.time()
        found = list(self.guard.pending())
        found += [u for guard in shared_guards(self.core) for u in guard.pending()]
        for path, dirty, staged in open_files(self.core.files):
            if dirty:
                size = int(getattr(staged, "size", 0)) if staged is not None else 0
                found.append(Upload(path, "open", size, min(sent_by(staged), size), self.started))
        keys = set()
        out = []
        for upload in found:
            key = f"{upload.state}:{upload.path}"
            keys.add(key)
            shown = upload.as_dict(now, self._meter.observe(key, upload.sent, now))
            if upload.state == "open":
                # Still being written: `total` is what was written so far, not the final
                # size, so no fraction of it is a progress and no ETA follows from it.
                shown["eta"] = None
                shown["growing"] = True
            out.append(shown)
        self._meter.keep_only(keys)
        return out

    def snapshot(self) -> dict[str, Any]:
        """Everything `pithosfs status` shows, as plain JSON-able data."""
        from pithosfs.fs.open_files import open_files
        from pithosfs.fs.writeback import journal_areas
        from pithosfs.fs.writeback.durability import shared_guards

        core, guard = self.core, self.guard
        guards = [guard, *shared_guards(core)]
        uploads = self.uploads()
        opened = [{"path": p, "dirty": d} for p, d, _ in open_files(core.files)]
        snap = core.store.stats.snapshot()
        blocks = core.blocks
        looked = blocks.hits + blocks.misses
        return {
            "pid": os.getpid(),
            "since": self.started,
            "now": time.time(),
            "uploads": uploads,
            "open_files": opened,
            "cache": {
                "bytes": blocks.used_bytes,
                "max_bytes": blocks.max_bytes,
                "hits": blocks.hits,
                "misses": blocks.misses,
                "hit_rate": blocks.hits / looked if looked else None,
            },  # fmt: skip
            "requests": {
                m: {"requests": v.requests, "sent": v.bytes_sent, "received": v.bytes_received}
                for m, v in sorted(snap.by_method.items())
            },
            "retries": snap.retries,
            "reauths": snap.reauths,
            "errors": self.errors.recent(),
            "conflicts": [c for g in guards for c in g.recent_conflicts()],
            "failed": journal_areas.failed(core.opts.cache_dir),
            "journal_dir": str(guard.journal.directory),
            "conflicts_dir": str(guard.journal.conflicts),
        }


MAX_TOKEN = 8192  # bytes of a token handed over by `renew-token`


class ControlServer:
    """Serves `snapshot()` on the control socket from a daemon thread, and hands a new
    token to `renew` (`pithosfs renew-token`)."""

    def __init__(self, path: Path, build: Any, renew: Any = None) -> None:
        self.path = path
        self._build = build  # () -> dict
        self._renew = renew  # (token) -> dict, or None: renewal not offered
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path.unlink(missing_ok=True)  # a leftover of a crashed mount
        old = os.umask(0o177)
        try:
            self._sock.bind(str(path))
        finally:
            os.umask(old)
        self._sock.listen(8)
        self._thread = threading.Thread(target=self._serve, name="pithosfs-control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        try:
            self._sock.close()
        finally:
            self.path.unlink(missing_ok=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed at unmount
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(CLIENT_TIMEOUT)
                if not _same_user(conn):
                    conn.sendall(b'{"error": "not your mount"}')
                    return
                reader = conn.makefile("rb")
                command = reader.readline(64).strip()
                if command == b"status":
                    conn.sendall(json.dumps(self._build()).encode())
                elif command == b"renew-token" and self._renew is not None:
                    token = reader.readline(MAX_TOKEN + 1).strip().decode("utf-8", "replace")
                    answer = (
                        {"error": "no token (or longer than 8 KiB)"}
                        if not token or len(token) > MAX_TOKEN
                        else self._renew(token)
                    )
                    conn.sendall(json.dumps(answer).encode())
                else:
                    conn.sendall(json.dumps({"error": f"unknown command {command!r}"}).encode())
            except Exception:  # noqa: BLE001 - one bad client must not stop the channel
                log.exception("control channel request failed")


def _same_user(conn: socket.socket) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid in (os.getuid(), 0)


def query(
    path: Path | str, command: str = "status", timeout: float = CLIENT_TIMEOUT,
    argument: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Ask a mount over its control socket (`argument`: a second line, e.g. a token);
    raises OSError if it does not answer, or answers with an error."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        extra = b"" if argument is None else argument.encode() + b"\n"
        sock.sendall(command.encode() + b"\n" + extra)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    try:
        answer = json.loads(b"".join(chunks))
    except ValueError as exc:
        raise OSError(f"bad answer from {path}: {exc}") from None
    if not isinstance(answer, dict):
        raise OSError(f"bad answer from {path}")
    if "error" in answer:
        raise OSError(str(answer["error"]))
    return answer
