"""The writing half of `PithosClient`: PUT, hashmap PUT, block POST, partial updates,
copy/move, delete, metadata, sharing, publishing and the bulk-transfer entry points.

A mixin so that `pithos.py` stays readable; it relies on the request helpers
of PithosClient, declared below for type checkers only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pithosfs import protocol
from pithosfs.client import parsing as p
from pithosfs.client import validation as v
from pithosfs.client.errors import BadRequest, NotFound, PithosError
from pithosfs.client.types import ObjectInfo, Subdir

if TYPE_CHECKING:
    from pithosfs.client.transfer import DownloadResult, StreamingUpload

log = logging.getLogger(__name__)

OCTET = protocol.OCTET_STREAM
# Past this, a zero-extension of a truncate() is sent in several POSTs.
_MAX_ZERO_CHUNK = 64 * 1024 * 1024
UPLOAD_REQUEST_BYTES = 16 * 1024 * 1024


def _version_of(resp: Any) -> int | None:
    """X-Object-Version of a write reply, None when absent or garbage (MOVE's quirk, protocol.md 4.4)."""
    value = resp.headers.get("X-Object-Version") if resp is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _pack_bodies(blocks: list[bytes], block_size: int) -> list[bytes]:
    """Join elements into request bodies; a body ends after an element not ending on a block boundary."""
    bodies: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for element in blocks:
        element = element or b"\0"  # an empty body stores nothing; one NUL is the empty block
        if current and size + len(element) > UPLOAD_REQUEST_BYTES:
            bodies.append(b"".join(current))
            current, size = [], 0
        current.append(element)
        size += len(element)
        if len(element) % block_size:
            bodies.append(b"".join(current))
            current, size = [], 0
    if current:
        bodies.append(b"".join(current))
    return bodies


class ObjectWrites:
    """Object writes over HTTP; mixed into PithosClient."""

    if TYPE_CHECKING:
        workers: int
        fold_write_replies: bool

        def _req(self, method: str, path: str = "", **kw: Any) -> Any: ...
        def _path(self, container: str, name: str | None = None) -> str: ...
        def _require_pithos(self, container: str, what: str) -> None: ...
        def supports_pithos(self, container: str) -> bool: ...
        list_objects: Callable[..., Iterator[ObjectInfo | Subdir]]  # PithosClient's
        def block_params(self, container: str) -> tuple[int, str]: ...
        def head_object(
            self, container: str, name: str, version: int | None = None
        ) -> ObjectInfo: ...

    # -- writing ----------------------------------------------------------------------------
    @staticmethod
    def _conditions(if_match: str | None, if_none_match: bool) -> dict[str, str]:
        headers = {}
        if if_match is not None:
            headers["If-Match"] = if_match
        if if_none_match:
            headers["If-None-Match"] = "*"
        return headers

    def _write_result(
        self,
        container: str,
        name: str,
        resp: Any = None,
        size: int | None = None,
        content_type: str | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """Full info of the version this write created.

        From the reply when it names the write-reply extension (the embedded
        server's, given the `size` and `content_type` we sent). Pithos+ write
        replies carry only ETag and X-Object-Version: with `fold_write_replies`
        (the mount's client) a PUT's result is built from them and what was sent
        (`meta`), its UUID left empty (parsing.object_from_reference_write_reply);
        else by HEAD. If another writer got in between, the HEAD shows their
        version; then ask for ours by number, so a caller using the result as its
        next If-Match base never silently adopts someone else's write.
        """
        if resp is not None and size is not None and content_type is not None:
            if protocol.EXT_WRITE_REPLY in protocol.parse_extensions(
                resp.headers.get(protocol.EXTENSIONS_HEADER)
            ):
                built = p.object_from_write_reply(name, resp.headers, size, content_type)
                if built is not None:
                    return built
            if self.fold_write_replies:  # Swift names no version: HEAD below
                built = p.object_from_reference_write_reply(
                    name, resp.headers, size, content_type, meta, time.time()
                )
                if built is not None:
                    return built
        info = self.head_object(container, name)
        written = _version_of(resp)
        if written is not None and info.version != written:
            return self.head_object(container, name, version=written)
        return info

    def put_object(
        self,
        container: str,
        name: str,
        data: bytes,
        content_type: str = OCTET,
        meta: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
        sharing: str | None = None,
    ) -> ObjectInfo:
        headers = {"Content-Type": content_type, **p.meta_headers("X-Object-Meta-", meta)}
        headers.update(self._conditions(if_match, if_none_match))
        if sharing is not None:
            v.parse_sharing(sharing)  # refuse bad syntax before sending
            headers["X-Object-Sharing"] = p.encode_header_value(sharing)
        resp = self._req("PUT", self._path(container, name), headers=headers, data=data)
        return self._write_result(container, name, resp, len(data), content_type, meta)

    def upload_blocks(self, container: str, blocks: list[bytes]) -> list[str]:
        """Store blocks with as few POSTs as possible; returns the hashes of all blocks stored.

        Consecutive elements share one request body (up to UPLOAD_REQUEST_BYTES)
        while each ends on a block boundary; the server cuts bodies at block
        size. An element may itself hold several blocks. Content-addressed, so
        a repeat after a lost reply is harmless.
        """
        self._require_pithos(container, "a block upload")
        block_size = self.block_params(container)[0]
        hashes: list[str] = []
        for body in _pack_bodies(blocks, block_size):
            resp = self._req(
                "POST",
                self._path(container),
                params={"update": "", "format": "json"},
                headers={"Content-Type": OCTET},
                data=body,
                idempotent=True,
            )
            hashes.extend(str(h) for h in resp.json())
        return hashes

    def upload_stream(self, container: str, body: Any) -> list[str]:
        """POST one streamed body of consecutive blocks (a RewindableBody); returns their hashes."""
        self._require_pithos(container, "a block upload")
        resp = self._req(
            "POST",
            self._path(container),
            params={"update": "", "format": "json"},
            headers={"Content-Type": OCTET},
            data=body,
            idempotent=True,
        )
        return [str(h) for h in resp.json()]

    def put_hashmap(
        self,
        container: str,
        name: str,
        size: int,
        hashes: list[str],
        content_type: str = OCTET,
        meta: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectInfo:
        self._require_pithos(container, "a hashmap PUT")
        headers = {"Content-Type": content_type, **p.meta_headers("X-Object-Meta-", meta)}
        headers.update(self._conditions(if_match, if_none_match))
        body = json.dumps({"bytes": size, "hashes": hashes}).encode()
        resp = self._req(
            "PUT",
            self._path(container, name),
            params={"hashmap": "True", "format": "json"},
            headers=headers,
            data=body,
        )
        return self._write_result(container, name, resp, size, content_type, meta)

    def missing_blocks(
        self,
        container: str,
        name: str,
        hashes: list[str],
        content_type: str = OCTET,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> list[str] | None:
        """Which of `hashes` the server lacks, asked without writing anything; None if it cannot tell.

        Pithos has no block query, but a hashmap PUT with a missing block gets
        409 and the list of missing hashes, and "nothing is created" (protocol.md
        7.3). So the probe is a hashmap PUT of `hashes` plus the hash of fresh
        random bytes, which no server holds: it always fails, and reports
        which of ours are missing too. It goes to the object being uploaded,
        with the upload's preconditions, so a server that checks those first
        refuses the upload here rather than after the data was sent.
        """
        self._require_pithos(container, "a block probe")
        block_size, algorithm = self.block_params(container)
        sentinel = hashlib.new(algorithm, b"pithosfs probe " + os.urandom(32)).hexdigest()
        headers = {"Content-Type": content_type, **self._conditions(if_match, if_none_match)}
        body = json.dumps({"bytes": (len(hashes) + 1) * block_size, "hashes": [*hashes, sentinel]})
        resp = self._req(
            "PUT",
            self._path(container, name),
            params={"hashmap": "True", "format": "json"},
            headers=headers,
            data=body.encode(),
            ok=(409,),
        )
        try:
            lacking = json.loads(resp.content or b"null") if resp.status_code == 409 else None
        except ValueError:
            lacking = None
        if not isinstance(lacking, list) or sentinel not in lacking:
            log.warning("%s/%s: block probe got HTTP %d", container, name, resp.status_code)
            return None
        return [str(h) for h in lacking if h != sentinel]

    def _post_update(
        self,
        container: str,
        name: str,
        content_range: str,
        data: bytes = b"",
        extra: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> Any:
        self._require_pithos(container, "a partial update")
        headers = {"Content-Type": OCTET, "Content-Range": content_range, **(extra or {})}
        return self._req(
            "POST",
            self._path(container, name),
            params={"update": ""},
            headers=headers,
            data=data,
            idempotent=idempotent,
        )

    def update_range(self, container: str, name: str, offset: int, data: bytes) -> ObjectInfo:
        """Overwrite/append at `offset` (<= size). An explicit range is safe to repeat."""
        if offset < 0:
            raise BadRequest("negative offset")
        if data:
            rng = f"bytes {offset}-{offset + len(data) - 1}/*"
            return self._write_result(
                container, name, self._post_update(container, name, rng, data)
            )
        return self._write_result(container, name)

    def append(self, container: str, name: str, data: bytes) -> ObjectInfo:
        """Append at the server's current end (`bytes */*`): never retried blindly."""
        if data:
            resp = self._post_update(container, name, "bytes */*", data, idempotent=False)
            return self._write_result(container, name, resp)
        return self._write_result(container, name)

    def truncate(self, container: str, name: str, size: int) -> ObjectInfo:
        if size < 0:
            raise BadRequest("negative size")
        current = self.head_object(container, name).size
        resp = None
        if size < current:
            extra = {"X-Object-Bytes": str(size)}
            resp = self._post_update(container, name, "bytes 0-/*", extra=extra)
        offset = current
        while offset < size:  # the server cannot extend: write zeros (protocol.md 8)
            chunk = min(size - offset, _MAX_ZERO_CHUNK)
            rng = f"bytes {offset}-{offset + chunk - 1}/*"
            resp = self._post_update(container, name, rng, b"\0" * chunk)
            offset += chunk
        return self._write_result(container, name, resp)

    def splice(
        self,
        container: str,
        name: str,
        offset: int,
        src_container: str,
        src_name: str,
        length: int | None = None,
        src_version: int | None = None,
    ) -> ObjectInfo:
        """Write the source object's bytes [0, length) at `offset` (X-Source-Object)."""
        headers = {
            "X-Source-Object": "/" + p.quote_name(src_container) + "/" + p.quote_name(src_name)
        }
        if src_version is not None:
            headers["X-Source-Version"] = str(src_version)
        rng = f"bytes {offset}-{offset + length - 1}/*" if length else f"bytes {offset}-/*"
        resp = self._post_update(container, name, rng, extra=headers)
        return self._write_result(container, name, resp)

    def restore_version(self, container: str, name: str, version: int) -> ObjectInfo:
        """Make an old version current again without re-uploading (copy onto itself)."""
        resp = self._transfer(
            "X-Copy-From", container, name, container, name, version, None, None, False, True
        )
        return self._write_result(container, name, resp)

    def _transfer(
        self,
        header: str,
        src_container: str,
        src_name: str,
        dst_container: str,
        dst_name: str,
        src_version: int | None,
        content_type: str | None,
        meta: Mapping[str, str] | None,
        recursive: bool,
        idempotent: bool,
        manifest_copy: bool = False,
    ) -> Any:
        headers = {header: "/" + p.quote_name(src_container) + "/" + p.quote_name(src_name)}
        self._path(src_container, src_name)  # validates the source names
        if src_version is not None:
            headers["X-Source-Version"] = str(src_version)
        headers.update(p.meta_headers("X-Object-Meta-", meta))
        params = {"delimiter": "/"} if recursive else {}
        if content_type:
            headers["Content-Type"] = content_type
        else:
            # Keep the source's type whatever a WSGI server in front makes of a
            # missing Content-Type (some turn it into text/plain): protocol.md 4.4.
            params["ignore_content_type"] = ""
        if manifest_copy:  # Swift: copy a segmented object's manifest, sharing its segments
            params["multipart-manifest"] = "get"
        return self._req(
            "PUT",
            self._path(dst_container, dst_name),
            params=params,
            headers=headers,
            data=b"",
            idempotent=idempotent,
        )

    def copy_object(
        self,
        src_container: str,
        src_name: str,
        dst_container: str,
        dst_name: str,
        src_version: int | None = None,
        content_type: str | None = None,
        meta: Mapping[str, str] | None = None,
        recursive: bool = False,
    ) -> None:
        self._transfer(
            "X-Copy-From", src_container, src_name, dst_container, dst_name,
            src_version, content_type, meta, recursive, idempotent=True,
        )  # fmt: skip

    def move_object(
        self,
        src_container: str,
        src_name: str,
        dst_container: str,
        dst_name: str,
        content_type: str | None = None,
        recursive: bool = False,
        meta: Mapping[str, str] | None = None,
    ) -> int | None:
        if not self.supports_pithos(dst_container):
            # Plain Swift ignores X-Move-From (it would store an empty object): COPY + DELETE.
            self._swift_move(
                src_container, src_name, dst_container, dst_name, recursive, content_type, meta
            )
            return None
        # Not repeated after a lost reply: the source would be gone (404).
        resp = self._transfer(
            "X-Move-From", src_container, src_name, dst_container, dst_name,
            None, content_type, meta, recursive, idempotent=False,
        )  # fmt: skip
        return _version_of(resp)

    def _swift_move(
        self, src_container: str, src_name: str, dst_container: str, dst_name: str,
        recursive: bool, content_type: str | None = None, meta: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        """MOVE for plain Swift: server-side copy of each object, then delete the source.

        `content_type` and `meta` apply to the object itself, not to what lies under it."""
        pairs = [(src_name, dst_name)]
        if recursive:  # a directory: its marker (if any) and everything under it
            prefix = src_name.rstrip("/") + "/"
            for obj in self.list_objects(
                src_container, prefix=prefix, delimiter=None, with_meta=False
            ):
                pairs.append((obj.name, dst_name.rstrip("/") + "/" + obj.name[len(prefix) :]))
        for src, dst in pairs:
            try:
                # multipart-manifest=get: a segmented object moves as its manifest (a copy
                # of the content is refused above max_file_size); Swift ignores it otherwise.
                own = src == src_name
                self._transfer(
                    "X-Copy-From", src_container, src, dst_container, dst, None,
                    content_type if own else None, meta if own else None, False,
                    idempotent=True, manifest_copy=True,
                )  # fmt: skip
            except NotFound:
                if src == src_name and recursive:
                    continue  # a directory without a marker object
                raise
        for src, _ in reversed(pairs):
            try:
                self._req("DELETE", self._path(src_container, src))
            except NotFound:
                pass

    def delete_object(self, container: str, name: str, recursive: bool = False) -> None:
        if not recursive and not self.supports_pithos(container):
            self._swift_delete(container, name)
            return
        params = {"delimiter": "/"} if recursive else None
        # A repeat that finds it gone: the first try deleted it and its reply was lost.
        self._req("DELETE", self._path(container, name), params=params, ok_after_retry=(404,))

    def purge_history(self, container: str, name: str | None, until: int) -> None:
        self._require_pithos(container, "purging history")
        path = self._path(container) if name is None else self._path(container, name)
        self._req("DELETE", path, params={"until": str(int(until))})

    def _swift_delete(self, container: str, name: str) -> None:
        """Plain Swift: a segmented object (SLO manifest) is deleted with its segments."""
        path = self._path(container, name)
        head = self._req("HEAD", path)
        if head.headers.get("X-Static-Large-Object", "").lower() != "true":
            self._req("DELETE", path, ok_after_retry=(404,))
            return
        resp = self._req(
            "DELETE", path, params={"multipart-manifest": "delete"},
            headers={"Accept": "application/json"},
        )  # fmt: skip
        try:
            report = resp.json() if resp.content else {}
        except ValueError:
            report = {}
        status = str(report.get("Response Status", "200"))
        if report.get("Errors") or not status.startswith("200"):
            raise PithosError(
                f"segmented object not fully deleted: {status} {report.get('Errors')}",
                status=int(status.split()[0]) if status[:3].isdigit() else 500,
                method="DELETE", path=f"{container}/{name}",
            )  # fmt: skip

    def update_meta(self, container: str, name: str, meta: Mapping[str, str]) -> int | None:
        """Merge user metadata; returns the version the change made (None if not told)."""
        headers = p.meta_headers("X-Object-Meta-", meta)
        resp = self._req(
            "POST",
            self._path(container, name),
            params={"update": ""},
            headers=headers,
            idempotent=True,
        )
        return _version_of(resp)

    def set_sharing(self, container: str, name: str, sharing: str) -> None:
        v.parse_sharing(sharing)  # refuse bad syntax before sending
        headers = {"X-Object-Sharing": p.encode_header_value(sharing)}
        self._req(
            "POST",
            self._path(container, name),
            params={"update": ""},
            headers=headers,
            idempotent=True,
        )

    def set_public(self, container: str, name: str, public: bool) -> str:
        headers = {"X-Object-Public": "true" if public else "false"}
        self._req(
            "POST",
            self._path(container, name),
            params={"update": ""},
            headers=headers,
            idempotent=True,
        )
        return self.head_object(container, name).public_url if public else ""

    # -- bulk transfers (pithosfs.client.transfer) --------------------------------------------
    def upload_file(
        self,
        container: str,
        name: str,
        source: str | Path | BinaryIO,
        content_type: str = OCTET,
        meta: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectInfo:
        """Hashmap upload: only missing blocks are sent (see pithosfs.client.uploads)."""
        from pithosfs.client.uploads import upload_file

        return upload_file(
            self,  # type: ignore[arg-type]  # this mixin is always a PithosClient
            container, name, source, content_type, meta, if_match, if_none_match,
        )  # fmt: skip

    def download_file(
        self,
        container: str,
        name: str,
        dest: str | Path,
        version: int | None = None,
        resume: bool = True,
    ) -> DownloadResult:
        """Hashmap download by parallel ranged GETs; blocks already in `dest` are skipped."""
        from pithosfs.client.transfer import download_file

        return download_file(
            self,  # type: ignore[arg-type]
            container,
            name,
            Path(dest),
            version,
            resume,
        )

    def streaming_upload(
        self,
        container: str,
        name: str,
        content_type: str = OCTET,
        meta: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> StreamingUpload:
        """An uploader that takes blocks as they are produced and commits with one hashmap PUT."""
        from pithosfs.client.transfer import StreamingUpload

        return StreamingUpload(
            self,  # type: ignore[arg-type]
            container,
            name,
            content_type,
            meta,
            if_match,
            if_none_match,
        )
