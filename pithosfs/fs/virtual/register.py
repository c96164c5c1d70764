"""`<dir>/.register`: a hidden control file; each line written is one image registration.

A line runs inside the write() that completes it, because bash's builtin echo
ignores an error from close(): a failed line fails that write (EINVAL, or the
errno of its cause: EACCES for a local metafile the writer may not read, EFBIG
for one over the size bound), so `echo ... > .register` reports it. A local
`--metafile` is opened with the writer's rights (images/local_metafile.py). A
trailing line without a newline runs at flush (close). Reading `.register` shows the outcome of each line written in that
folder (object, image id or error), newest last.

The reported size is the length of the outcomes text (so `tail` can seek), and a
write invalidates the kernel's cached attributes, so a `cat` after an `echo` sees
the new outcome.

Without an image service (a plain OpenStack Swift account, or a storage URL with
no Plankton next to it) and in plain Swift containers (no Pithos+ hashes, which
Plankton locations need), `.register` refuses every access with ENOTSUP and one
log line per container (`image_service_missing` says why; docs/swift.md).
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pithosfs.fs import nodes
from pithosfs.fs.callers import Caller
from pithosfs.fs.errors import InvalidArgument, NoEntry, NotSupported
from pithosfs.fs.nodes import Node, NodeKind
from pithosfs.fs.paths import RESERVED_NAMES, Kind, Location
from pithosfs.fs.virtual.base import VirtualLayer
from pithosfs.images.flow import Registrar, RegistrationError, image_url_for, resolve_object
from pithosfs.images.metafile import SUFFIX
from pithosfs.images.request import MAX_LINE_BYTES, RequestError, parse_line

if TYPE_CHECKING:
    from pithosfs.fs.core import Filesystem

log = logging.getLogger(__name__)

NAME = ".register"
KEEP_OUTCOMES = 500  # per folder, newest kept
MAX_OUTCOME_CHARS = 1000


def split(path: str) -> tuple[str, str] | None:
    """(container, key prefix of the folder) for a `.register` path, else None."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[-1] != NAME:
        return None
    if any(p in RESERVED_NAMES for p in parts[:-1]):
        return None
    return parts[0], "/".join(parts[1:-1])


def image_service_missing(store: Any, container: str | None = None) -> str:
    """Why images cannot be registered on this mount (in `container`), or "" if they can."""
    if container is not None:
        if not store.supports_pithos(container):
            return f"container {container!r} is plain Swift: no image service (Plankton) there"
    try:
        image_url_for(store)
    except RegistrationError:
        return "no image service (Plankton) next to this storage URL (plain Swift?)"
    return ""


class ServiceCheck:
    """`image_service_missing`, remembered per container, logged once per container.

    `message` is the log line, a %-template over `feature`, `why` and `path`.
    """

    def __init__(
        self, fs: Filesystem, feature: str, message: str = "%(feature)s unavailable: %(why)s (%(path)s)"
    ) -> None:
        self.fs = fs
        self.feature = feature
        self.message = message
        self._lock = threading.Lock()
        self._known: dict[str | None, str] = {}  # GUARDED_BY(_lock)

    def missing(self, path: str, container: str | None) -> str:
        """Why there is no image service for `container`, or "" if there is one."""
        with self._lock:
            why = self._known.get(container)
        if why is None:
            why = image_service_missing(self.fs.store, container)
            with self._lock:
                first = container not in self._known
                self._known[container] = why
            if why and first:
                log.warning(self.message, {"feature": self.feature, "why": why, "path": path})
        return why

    def refuse_if_missing(self, path: str, container: str | None) -> None:
        """NotSupported (ENOTSUP) when there is no image service for `container`."""
        why = self.missing(path, container)
        if why:
            raise NotSupported(why, path)


@dataclass
class RegisterHandle:
    container: str
    directory: str
    path: str
    pending: bytearray = field(default_factory=bytearray)
    snapshot: bytes | None = None  # the outcomes as of the first read of this handle


class RegisterLayer(VirtualLayer):
    def __init__(self, fs: Filesystem) -> None:
        super().__init__(fs)
        self._lock = threading.Lock()
        self._outcomes: dict[str, deque[str]] = {}  # GUARDED_BY(_lock), by folder path
        self._registrar: Registrar | None = None  # GUARDED_BY(_lock)
        self.service = ServiceCheck(fs, "image registration (.register)")

    def claims(self, path: str) -> bool:
        return path.rsplit("/", 1)[-1] == NAME and split(path) is not None

    def registrar(self) -> Registrar:
        with self._lock:
            if self._registrar is None:
                store = self.fs.store
                image_url_for(store)  # RegistrationError when there is no image service
                self._registrar = Registrar(store, store.image_client())
            return self._registrar

    def close(self) -> None:
        if self._registrar is not None:
            self._registrar.images.close()

    # -- namespace -------------------------------------------------------------
    def _where(self, path: str) -> tuple[str, str]:
        where = split(path)
        if where is None:
            raise NoEntry("no .register here", path)
        container, directory = where
        self.service.refuse_if_missing(path, container)
        try:  # the folder must exist: .register lives in every real directory
            node = self.fs.lookup(("/" + container + "/" + directory).rstrip("/"))
        except NoEntry:
            raise NoEntry("no such folder", path) from None
        if not node.is_dir:
            raise NoEntry("not a folder", path)
        return container, directory

    def getattr(self, path: str) -> Node:
        self._where(path)
        size = len(self.outcomes(path).encode())
        return Node(NodeKind.FILE, size, time.time_ns(), 0o644, nodes.inode_of(path))

    def open(self, path: str, flags: int) -> RegisterHandle:
        container, directory = self._where(path)
        return RegisterHandle(container, directory, path)

    def create(self, path: str, mode: int, flags: int) -> RegisterHandle:
        return self.open(path, flags)

    def truncate(self, path: str, length: int, handle: Any | None) -> None:
        """`>` truncates first: nothing to do, the outcomes are not file content."""

    def unlink(self, path: str) -> None:
        """`rm .register` clears the folder's outcomes."""
        with self._lock:
            self._outcomes.pop(path.rsplit("/", 1)[0], None)

    def handle_attr(self, handle: RegisterHandle) -> Node | None:
        return self.getattr(handle.path)

    # -- reading: the outcomes -----------------------------------------------------
    def outcomes(self, path: str) -> str:
        with self._lock:
            lines = list(self._outcomes.get(path.rsplit("/", 1)[0], ()))
        return "".join(line + "\n" for line in lines)

    def read(self, handle: RegisterHandle, offset: int, size: int) -> bytes:
        if handle.snapshot is None or offset == 0:
            handle.snapshot = self.outcomes(handle.path).encode()
        return handle.snapshot[offset : offset + size]

    def record(self, folder: str, text: str) -> None:
        """Add an outcome to what `cat <folder>/.register` shows (saves of metafiles too)."""
        self._record(folder.rstrip("/") + "/" + NAME, text)

    def _record(self, path: str, text: str) -> None:
        folder = path.rsplit("/", 1)[0]
        with self._lock:
            queue = self._outcomes.setdefault(folder, deque(maxlen=KEEP_OUTCOMES))
            queue.append(text.replace("\n", " ")[:MAX_OUTCOME_CHARS])

    # -- writing: one registration per line -------------------------------------------
    def write(self, handle: RegisterHandle, offset: int, data: bytes) -> int:
        handle.pending += data
        errors: list[tuple[int, str]] = []
        while b"\n" in handle.pending:
            line, _, rest = bytes(handle.pending).partition(b"\n")
            handle.pending = bytearray(rest)
            error = self._run(handle, line)
            if error:
                errors.append(error)
        if len(handle.pending) > MAX_LINE_BYTES:
            handle.pending.clear()
            reason = f"line longer than {MAX_LINE_BYTES} bytes without a newline"
            errors.append(self._fail(handle, "", reason))
        if errors:
            raise _failure(errors, handle.path)
        return len(data)

    def flush(self, handle: RegisterHandle) -> None:
        if handle.pending.strip():
            line = bytes(handle.pending)
            handle.pending.clear()
            error = self._run(handle, line)
            if error:
                raise _failure([error], handle.path)
        handle.pending.clear()

    def _caller(self) -> Caller | None:
        """Who wrote the line (the FUSE request's uid, gid, pid), or None outside FUSE."""
        current = getattr(self.fs, "caller", None)
        return current() if current is not None else None

    def _run(self, handle: RegisterHandle, raw: bytes) -> tuple[int, str] | None:
        """Run one line; (errno, message) of its failure (also logged and recorded), or None."""
        if not raw.strip():
            return None
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._fail(handle, raw.decode("utf-8", "replace"), "the line is not UTF-8")
        try:
            req = parse_line(line)
            image = self.registrar().register_line(
                req, handle.container, handle.directory, self._caller()
            )
        except RequestError as exc:
            return self._fail(handle, line, str(exc))
        except RegistrationError as exc:
            return self._fail(handle, line, str(exc), exc.errno)
        self._record(handle.path, f"ok {req.object} {image.id} {image.name}")
        if not req.no_metafile_upload:
            account = self.fs.store.account
            cont, name = resolve_object(account, handle.container, handle.directory, req.object)
            self._refresh(cont, name + SUFFIX)
        return None

    def _refresh(self, container: str, key: str) -> None:
        """Tell the core about the metafile we wrote behind its back."""
        try:
            self.fs.refresh(Location(Kind.ENTRY, container, key))
        except Exception:  # only a cache hint; the next listing finds it anyway
            log.debug("refresh of %s/%s failed", container, key, exc_info=True)

    def _fail(
        self, handle: RegisterHandle, line: str, reason: str, code: int = errno.EINVAL
    ) -> tuple[int, str]:
        shown = line.strip()[:MAX_OUTCOME_CHARS]
        log.warning("%s: registration failed: %s (line: %s)", handle.path, reason, shown)
        self._record(handle.path, f"error {reason} (line: {shown})")
        return code, reason


def _failure(errors: list[tuple[int, str]], path: str) -> Exception:
    """The write's error: the first line's errno (EINVAL: InvalidArgument), all reasons."""
    code = errors[0][0]
    text = "; ".join(reason for _, reason in errors)
    if code == errno.EINVAL:
        return InvalidArgument(text, path)
    return OSError(code, f"{path}: {text}")


LAYER = RegisterLayer
