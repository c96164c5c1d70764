"""Object level (protocol.md 4, 6, 7, 8, 9): HEAD, GET, PUT, COPY, MOVE, POST, DELETE."""

from __future__ import annotations

import hashlib
import json
import tempfile
import uuid as uuidlib
from collections.abc import Callable, Iterator
from typing import BinaryIO
from xml.sax.saxutils import quoteattr

from werkzeug.exceptions import HTTPException
from werkzeug.formparser import parse_form_data

from pithosfs.protocol import (
    EXT_WRITE_REPLY,
    EXTENSIONS_HEADER,
    MAX_OBJECT_NAME,
    MAX_UPLOAD_SIZE,
    is_hex_digest,
)
from pithosfs.server import json_input
from pithosfs.server.backend import Backend
from pithosfs.server.block_slices import BlockSlice
from pithosfs.server.bodies import RequestBody
from pithosfs.server.controllers.base import (
    Context,
    base_url,
    check_read_conditions,
    public_of,
    sharing_of,
    until_of,
    write_check,
)
from pithosfs.server.errors import (
    BadRequest,
    Forbidden,
    LengthRequired,
    NotFound,
    PithosFault,
    UnprocessableEntity,
)
from pithosfs.server.http_util import (
    collect_meta,
    count_meta_headers,
    decimal_ts,
    http_date,
    parse_content_range,
    parse_http_date_int,
    parse_range,
)
from pithosfs.server.models import ObjectInfo
from pithosfs.server.webio import DataBody, Req, Response, json_response, xml_response

SYSTEM_META = ("Content-Encoding", "Content-Disposition", "X-Object-Manifest")
MAX_HASHMAP_BODY = 64 * 1024 * 1024


def object_headers(info: ObjectInfo, base: str, owner: bool) -> list[tuple[str, str]]:
    headers = [
        ("ETag", info.etag),
        ("Content-Type", info.type or "application/octet-stream"),
        ("Last-Modified", http_date(info.current_mtime)),
        ("Available", "1"),
        ("X-Object-Hash", info.hash),
        ("X-Object-UUID", info.uuid),
        ("X-Object-Modified-By", info.muser),
        ("X-Object-Version", str(info.serial)),
        ("X-Object-Version-Timestamp", http_date(info.mtime)),
    ]
    for key, value in info.meta.items():
        headers.append((key, value))
    if info.sharing:
        headers.append(("X-Object-Sharing", info.sharing))
    if info.shared_by:
        headers.append(("X-Object-Shared-By", info.shared_by))
    if info.allowed_to:
        headers.append(("X-Object-Allowed-To", info.allowed_to))
    if owner and info.public_url_token:
        headers.append(("X-Object-Public", f"{base}/public/{info.public_url_token}"))
    return headers


def request_meta(req: Req) -> dict[str, str]:
    """Object user metadata of a request, keyed as stored ("X-Object-Meta-Color", "Content-Encoding")."""
    if count_meta_headers(req.headers) > 90:
        raise BadRequest("Too many headers.")
    meta = {f"X-Object-Meta-{k}": v for k, v in collect_meta(req.headers, "X-Object-Meta-").items()}
    for key in SYSTEM_META:
        value = req.header(key)
        if value is not None:
            if len(value) > 256:
                raise BadRequest("Header value too large.")
            meta[key] = value
    return meta


SWIFT_AGENTS = ("rclone/", "python-swiftclient", "swiftclient", "openstacksdk")


def is_swift_client(req: Req) -> bool:
    """Swift clients check the upload ETag against an MD5 they compute but do not send.

    For them (only: an MD5 of every upload would halve PUT throughput) the server
    computes the MD5 and reports it as the ETag, as Swift does (docs/server.md).
    """
    agent = (req.header("User-Agent") or "").lower()
    return agent.startswith(SWIFT_AGENTS)


def parse_source(value: str, what: str) -> tuple[str, str]:
    """ "/container/object" -> (container, object); 400 when malformed (protocol.md 4.3)."""
    if not value.startswith("/"):
        raise BadRequest(f"Invalid {what} header")
    parts = value.split("/", 2)
    if len(parts) < 3 or not parts[1] or not parts[2]:
        raise BadRequest(f"Invalid {what} header")
    if len(parts[2]) > MAX_OBJECT_NAME or len(parts[1]) > 256:
        raise BadRequest(f"Invalid {what} header")
    return parts[1], parts[2]


class ObjectController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # ---- reads ---------------------------------------------------------------------

    def _read_info(self, req: Req, account: str, container: str, name: str) -> ObjectInfo:
        version = req.arg("version")
        info = self.ctx.backend.object_info(req.user, account, container, name, version)
        check_read_conditions(req, info)
        return info

    def HEAD(self, req: Req, account: str, container: str, name: str) -> Response:
        info = self._read_info(req, account, container, name)
        headers = object_headers(info, base_url(req), req.user == account)
        parts = manifest_parts(self.ctx.backend, req, info)
        if parts is None:
            return Response(200, headers, [], info.size)
        return Response(200, manifest_headers(headers, parts), [], sum(p.size for p in parts))

    def GET(self, req: Req, account: str, container: str, name: str) -> Response:
        backend = self.ctx.backend
        if req.arg("version") == "list":
            versions = backend.versions(req.user, account, container, name)
            if req.wants(("json", "xml"), "json") == "xml":
                body = "".join(
                    f'<version timestamp="{decimal_ts(m)}">{s}</version>' for s, m in versions
                )
                return xml_response(200, f"<object name={quoteattr(name)}>{body}</object>")
            return json_response(200, {"versions": [[s, decimal_ts(m)] for s, m in versions]})
        info = self._read_info(req, account, container, name)
        headers = object_headers(info, base_url(req), req.user == account)
        if req.flag("hashmap"):
            hashes = backend.hashmap(info) or [backend.blocks.empty_hash]
            doc = {
                "block_size": info.block_size,
                "block_hash": backend.algorithm,
                "bytes": info.size,
                "hashes": hashes,
            }
            if req.wants(("json", "xml"), "json") == "xml":
                headers = [h for h in headers if h[0] != "Content-Type"]
                return xml_response(200, _hashmap_xml(name, doc), headers)
            if self.ctx.strict:  # [QUIRK] the reference labels it with the object's type
                return Response(200, headers, json.dumps(doc).encode())
            headers = [h for h in headers if h[0] != "Content-Type"]
            return json_response(200, doc, headers)
        return object_data(backend, req, info, headers, strict=self.ctx.strict)

    # ---- writes --------------------------------------------------------------------

    def PUT(self, req: Req, account: str, container: str, name: str) -> Response:
        copy_from, move_from = req.header("X-Copy-From"), req.header("X-Move-From")
        if copy_from is not None or move_from is not None:
            if req.content_length is None and not req.chunked:
                raise LengthRequired("Missing Content-Length header")
            move = move_from is not None
            src_cont, src_name = parse_source(move_from if move else copy_from or "", "source")  # type: ignore[arg-type]
            src_acc = req.header("X-Source-Account") or req.user
            info = self._copy(req, (src_acc, src_cont, src_name), (account, container, name), move)
            req.drain()
            return Response(201, [("X-Object-Version", self._copy_version(info, move))])
        ctype = req.header("Content-Type")
        if not ctype:
            raise LengthRequired("Missing Content-Type header")
        meta = request_meta(req)
        sharing, public, check = sharing_of(req), public_of(req), write_check(req)
        backend = self.ctx.backend
        if req.flag("hashmap"):
            size, hashes = _read_hashmap(req, len(backend.blocks.empty_hash))
            info = backend.put_hashmap(
                req.user,
                account,
                container,
                name,
                size,
                hashes,
                type=ctype,
                meta=meta,
                sharing=sharing,
                public=public,
                check=check,
            )
            return self._write_reply(req, info)
        body = req.body()
        client_md5 = (req.header("ETag") or "").strip().strip('"').lower()
        checksum_of = None
        if client_md5 or (is_swift_client(req) and not self.ctx.strict):
            md5 = hashlib.md5(usedforsecurity=False)
            body.on_data = md5.update

            def checksum_of() -> str:
                if client_md5 and md5.hexdigest() != client_md5:
                    raise UnprocessableEntity("Object ETag does not match")
                return md5.hexdigest()

        info = backend.put_object(
            req.user,
            account,
            container,
            name,
            body,
            type=ctype,
            meta=meta,
            sharing=sharing,
            public=public,
            check=check,
            checksum_of=checksum_of,
        )
        return self._write_reply(req, info)

    def _write_reply(self, req: Req, info: ObjectInfo) -> Response:
        """201 with ETag and X-Object-Version (protocol.md 4.3), plus the new version's HEAD headers.

        An extension: the reference sends only the two, so its clients HEAD after
        each write; ours builds the object's info from this reply instead (one
        request per small file). Content-Type/Length are left out: here they
        describe this empty reply. Only while the version is still current.
        """
        minimal = [("ETag", info.etag), ("X-Object-Version", str(info.serial))]
        if not self.ctx.offers(EXT_WRITE_REPLY):
            return Response(201, minimal)
        try:
            now = self.ctx.backend.object_info(req.user, info.account, info.container, info.name)
        except PithosFault:
            return Response(201, minimal)
        if now.serial != info.serial:
            return Response(201, minimal)
        full = object_headers(now, base_url(req), req.user == info.account)
        advertised = (EXTENSIONS_HEADER, EXT_WRITE_REPLY)  # this reply is the extension's
        return Response(201, [h for h in full if h[0] != "Content-Type"] + [advertised])

    def _copy(
        self, req: Req, src: tuple[str, str, str], dst: tuple[str, str, str], move: bool
    ) -> ObjectInfo:
        ctype = req.header("Content-Type")
        if req.flag("ignore_content_type"):
            ctype = None
        meta = request_meta(req)
        return self.ctx.backend.copy_object(
            req.user,
            src,
            dst,
            move=move,
            src_version=None if move else req.header("X-Source-Version"),
            type=ctype or None,
            meta=meta,
            sharing=sharing_of(req),
            public=public_of(req),
            delimiter=req.arg("delimiter") or None,
            check=write_check(req),
        )

    def _copy_verb(self, req: Req, account: str, container: str, name: str, move: bool) -> Response:
        dest = req.header("Destination")
        if not dest:
            raise BadRequest("Missing Destination header")
        if not dest.startswith("/") and not self.ctx.strict:
            dest = "/" + dest  # Swift clients (rclone) send "cont/obj"; see docs/server.md
        dst_cont, dst_name = parse_source(dest, "Destination")
        dst_acc = req.header("Destination-Account") or account
        info = self._copy(req, (account, container, name), (dst_acc, dst_cont, dst_name), move)
        req.drain()
        return Response(201, [("X-Object-Version", self._copy_version(info, move))])

    def _copy_version(self, info: ObjectInfo, move: bool) -> str:
        """The new version's serial; for a MOVE on the strict server, the reference's
        garbage (its backend returns a tuple there, protocol.md 4.4)."""
        if move and self.ctx.strict:
            return f"([{info.serial}], {info.size}, {info.size})"
        return str(info.serial)

    def COPY(self, req: Req, account: str, container: str, name: str) -> Response:
        return self._copy_verb(req, account, container, name, move=False)

    def MOVE(self, req: Req, account: str, container: str, name: str) -> Response:
        return self._copy_verb(req, account, container, name, move=True)

    def POST(self, req: Req, account: str, container: str, name: str) -> Response:
        backend = self.ctx.backend
        replace = not req.flag("update")
        meta = request_meta(req)
        sharing, public, check = sharing_of(req), public_of(req), write_check(req)
        ctype = req.header("Content-Type")
        source_hdr = req.header("X-Source-Object")
        if (ctype or "").lower().startswith("multipart/form-data"):
            return self._form_upload(req, account, container, name, meta)
        if ctype != "application/octet-stream" and source_hdr is None:
            serial = backend.update_object_meta(
                req.user,
                account,
                container,
                name,
                meta=meta,
                replace=replace,
                sharing=sharing,
                public=public,
                check=check,
            )
            req.drain()
            headers = [("X-Object-Version", str(serial))] if serial is not None else []
            return Response(202, headers)
        # The reference looks the object up (403, 404) before it validates the range.
        backend.object_info(req.user, account, container, name)
        rng = parse_content_range(req.header("Content-Range"))
        truncate = _int_header(req, "X-Object-Bytes")
        source = None
        body = None
        if source_hdr is not None:
            s_cont, s_name = parse_source(source_hdr, "X-Source-Object")
            source = (
                req.header("X-Source-Account") or req.user,
                s_cont,
                s_name,
                req.header("X-Source-Version"),
            )
        else:
            body = req.body()
        info = backend.update_object_data(
            req.user,
            account,
            container,
            name,
            rng=rng,
            body=body,
            source=source,
            truncate=truncate,
            meta=meta,
            replace=replace,
            sharing=sharing,
            public=public,
            check=check,
            chunked=req.chunked,
        )
        req.drain()
        return Response(204, [("ETag", info.etag), ("X-Object-Version", str(info.serial))])

    def _form_upload(
        self, req: Req, account: str, container: str, name: str, meta: dict[str, str]
    ) -> Response:
        """HTML form upload (protocol.md 4.6): file field X-Object-Data, stored like a PUT."""
        backend = self.ctx.backend

        def spool(*_args: object, **_kwargs: object) -> BinaryIO:
            return tempfile.TemporaryFile(dir=backend.blocks.tmp_dir)

        try:
            _stream, _form, files = parse_form_data(
                req.environ,
                stream_factory=spool,
                max_content_length=MAX_UPLOAD_SIZE,
                max_form_parts=64,
                silent=False,
            )
        except (ValueError, HTTPException):
            raise BadRequest("Invalid form data") from None
        upload = files.get("X-Object-Data")
        if upload is None:
            raise BadRequest("Missing X-Object-Data field")
        try:
            stream = upload.stream
            stream.seek(0, 2)
            size = stream.tell()
            stream.seek(0)
            info = backend.put_object(
                req.user,
                account,
                container,
                name,
                RequestBody(stream, size, MAX_UPLOAD_SIZE),
                type=upload.mimetype or "application/octet-stream",
                meta=meta,
                sharing=sharing_of(req),
                public=public_of(req),
                check=write_check(req),
            )
        finally:
            for f in files.values():
                f.close()
        headers = [("ETag", info.etag), ("X-Object-Version", str(info.serial))]
        return Response(
            201, [*headers, ("Content-Type", "text/plain; charset=UTF-8")], info.hash.encode()
        )

    def DELETE(self, req: Req, account: str, container: str, name: str) -> Response:
        self.ctx.backend.delete_object(
            req.user,
            account,
            container,
            name,
            until=until_of(req),
            delimiter=req.arg("delimiter") or None,
        )
        return Response(204)


def _hashmap_xml(name: str, doc: dict[str, object]) -> str:
    """A hashmap as the reference's XML form of `GET ?hashmap&format=xml`."""
    hashes = "".join(f"<hash>{h}</hash>" for h in doc["hashes"])  # type: ignore[attr-defined]
    return (
        f'<object name={quoteattr(name)} bytes="{doc["bytes"]}"'
        f' block_size="{doc["block_size"]}" block_hash="{doc["block_hash"]}">{hashes}</object>'
    )


def _int_header(req: Req, name: str) -> int | None:
    raw = req.header(name)
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isdigit():
        raise BadRequest(f"Invalid {name} header")
    return int(raw)


def _read_hashmap(req: Req, hex_len: int) -> tuple[int, list[str]]:
    """Parse a hashmap PUT body (protocol.md 7.3). Each entry must be a hex digest of the
    store's length: blocks are files named by hash, so nothing else is ever looked up."""
    body = req.body()
    if body.length is not None and body.length > MAX_HASHMAP_BODY:
        raise BadRequest("Hashmap too large")
    raw = body.read(MAX_HASHMAP_BODY + 1)
    if len(raw) > MAX_HASHMAP_BODY:
        raise BadRequest("Hashmap too large")
    try:
        doc = json_input.loads(raw)
        size, hashes = doc["bytes"], doc["hashes"]
    except (ValueError, KeyError, TypeError):
        raise BadRequest("Invalid data formatting") from None
    if (
        isinstance(size, bool)
        or not isinstance(size, int)
        or size < 0
        or not isinstance(hashes, list)
    ):
        raise BadRequest("Invalid data formatting")
    if not all(isinstance(h, str) and len(h) == hex_len and is_hex_digest(h) for h in hashes):
        raise BadRequest("Invalid hash in hashmap")
    return size, [h.lower() for h in hashes]


Reader = Callable[[int, int], Iterator[bytes | BlockSlice]]


def data_response(
    req: Req,
    info: ObjectInfo,
    headers: list[tuple[str, str]],
    size: int,
    reader: Reader,
    strict: bool = False,
) -> Response:
    """200 full body, 206 single range, or 206 multipart/byteranges (protocol.md 9.7)."""
    disposition = req.arg("disposition-type")
    if disposition in ("inline", "attachment") or "Content-Disposition" not in info.meta:
        kind = disposition if disposition in ("inline", "attachment") else "inline"
        headers = [h for h in headers if h[0] != "Content-Disposition"]
        headers.append(("Content-Disposition", f'{kind}; filename="{info.name}"'))
    ranges = parse_range(req.header("Range"), size)
    if ranges is not None and not _if_range_holds(req, info, strict):
        ranges = None
    if ranges is None:
        return Response(200, headers, DataBody(reader(0, size)), size)
    if len(ranges) == 1:
        start, end = ranges[0]
        headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        return Response(206, headers, DataBody(reader(start, end - start + 1)), end - start + 1)
    boundary = uuidlib.uuid4().hex
    headers = [h for h in headers if h[0] != "Content-Type"]
    headers.append(("Content-Type", f"multipart/byteranges; boundary={boundary}"))

    def parts() -> Iterator[bytes | BlockSlice]:
        for start, end in ranges:
            yield (
                f"--{boundary}\r\nContent-Range: bytes {start}-{end}/{size}\r\n"
                "Content-Transfer-Encoding: binary\r\n\r\n"
            ).encode()
            yield from reader(start, end - start + 1)
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    return Response(206, headers, DataBody(parts()))


def _if_range_holds(req: Req, info: ObjectInfo, strict: bool = False) -> bool:
    """RFC 7233 If-Range: an ETag must equal ours, a date must not predate the mtime.

    Deliberate deviation from the reference, whose If-Range practically never
    matches (docs/server.md); the strict server copies the reference: a date is
    compared exactly with the decimal mtime (never equal), anything else with the
    stored MD5 (empty unless the upload sent one).
    """
    value = req.header("If-Range")
    if value is None:
        return True
    value = value.strip()
    if strict:
        return bool(info.checksum) and value.strip('"') == info.checksum
    if value.startswith(("W/", '"')) or is_hex_digest(value):
        return info.etag_matches(value)
    since = parse_http_date_int(value)
    return since is not None and int(info.current_mtime) <= since


def object_data(
    backend: Backend,
    req: Req,
    info: ObjectInfo,
    headers: list[tuple[str, str]],
    public: bool = False,
    strict: bool = False,
) -> Response:
    """The data response of an object, or of the parts its X-Object-Manifest names."""
    parts = manifest_parts(backend, req, info, public)
    if parts is None:
        return data_response(
            req, info, headers, info.size, lambda o, n: backend.iter_slices(info, o, n), strict
        )
    headers = manifest_headers(headers, parts)
    total = sum(p.size for p in parts)

    def reader(offset: int, length: int) -> Iterator[bytes | BlockSlice]:
        pos = 0
        end = offset + length
        for part in parts:
            lo, hi = max(offset, pos), min(end, pos + part.size)
            if lo < hi:
                yield from backend.iter_slices(part, lo - pos, hi - lo)
            pos += part.size

    return data_response(req, info, headers, total, reader, strict)


def manifest_parts(
    backend: Backend, req: Req, info: ObjectInfo, public: bool = False
) -> list[ObjectInfo] | None:
    """The parts a manifest concatenates for this caller; None if `info` is no manifest.

    `public` (a public link): parts nobody anonymous may read make the link 404,
    as the reference's public view does, rather than serve an empty body.
    """
    value = info.meta.get("X-Object-Manifest")
    if not value:
        return None
    container, _, prefix = value.lstrip("/").partition("/")
    if not container:
        return None
    try:
        parts = backend.manifest_parts(req.user, info.account, container, prefix)
    except (NotFound, Forbidden):
        if public:
            raise NotFound("Object does not exist") from None
        return []
    if public and not parts:
        try:
            hidden = backend.manifest_parts(info.account, info.account, container, prefix)
        except NotFound:
            hidden = []
        if hidden:
            raise NotFound("Object does not exist")
    return parts


def manifest_headers(
    headers: list[tuple[str, str]], parts: list[ObjectInfo]
) -> list[tuple[str, str]]:
    """Content-Length is the sum of the parts; ETag the MD5 of their concatenated ETags."""
    etag = hashlib.md5("".join(p.hash for p in parts).encode(), usedforsecurity=False).hexdigest()
    return [h for h in headers if h[0] != "ETag"] + [("ETag", etag)]
