"""`PithosClient`: the ObjectStore contract over the Pithos+ REST API (protocol.md 2-9).

One method per operation, each a few requests at most. This module holds
construction, account, container, listing and reading; the writing half is
the `ObjectWrites` mixin in `pithosfs.client.writes`. Bulk transfers (hashmap
upload/download, the streaming uploader) live in `pithosfs.client.transfer`.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol
from urllib.parse import unquote

import urllib3

from pithosfs import protocol
from pithosfs.client import parsing as p
from pithosfs.client import validation as v
from pithosfs.client.errors import (
    BadRequest,
    PithosError,
    RangeNotSatisfiable,
    TransportError,
    Unsupported,
)
from pithosfs.client.identity import Endpoints, authenticate
from pithosfs.client.images import ImageClient
from pithosfs.client.listing_pages import PageCut, page_items
from pithosfs.client.stats import TransferStats
from pithosfs.client.swift import SwiftRequests
from pithosfs.client.transport import RetryPolicy, Transport
from pithosfs.client.types import (
    LISTING_META_PARAM,
    AccountInfo,
    ContainerInfo,
    Hashmap,
    ObjectInfo,
    Subdir,
    VersionEntry,
)
from pithosfs.client.writes import ObjectWrites

log = logging.getLogger(__name__)

OCTET = protocol.OCTET_STREAM
# Bytes per socket read into a caller's buffer (read_range_into): large enough that
# the per-call cost vanishes, small enough that a timed-out read loses little.
_INTO_PIECE = 1024 * 1024
# Bytes per read of a streamed range, each pwrite()n to the file at once. Not
# more: a read returns up to this much when the client lags, and copying 1 MiB
# pieces into the page cache cost this VM 2-4x the kernel CPU of 128 KiB ones
# (the piece no longer fits in the CPU cache between the socket copy and the
# file copy). Bench, same run, 6 rounds of 1 GiB: client CPU 0.41-0.51 s and
# 0.47-0.81 s wall with 128 KiB; 0.50-2.00 s CPU and 0.57-2.08 s with 1 MiB.
_STREAM_PIECE = 128 * 1024
# service_url: (Endpoints attribute, path next to `{base}/object-store`, its name in errors)
_SERVICES = {
    "image": ("image_url", "/image/v1.0", "image service"),
    "account": ("account_url", "/account/v1.0", "account service"),
}


class PithosClient(ObjectWrites, SwiftRequests):
    """ObjectStore over HTTP for one account. Thread-safe (a pool of Sessions, see transport)."""

    streams_uploads = True  # upload_stream sends a RewindableBody as it is

    def __init__(
        self,
        storage_url: str,
        token: str,
        *,
        endpoints: Endpoints | None = None,
        identity_url: str | None = None,
        retry: RetryPolicy | None = None,
        stats: TransferStats | None = None,
        workers: int = 4,
        page_limit: int = protocol.LISTING_LIMIT,
        extensions: frozenset[str] | None = None,
        fold_write_replies: bool = False,
    ) -> None:
        """`extensions`: what the server is known to advertise (None: ask it once).

        `fold_write_replies`: build a PUT's result from a reference reply (ETag and
        X-Object-Version) and what was sent, with an empty UUID, instead of a HEAD
        (writes.ObjectWrites._write_result); for callers that fill in the rest.
        """
        self.fold_write_replies = fold_write_replies
        self._identity_url = identity_url
        self._renewed_token = ""  # a token handed over by renew_token, preferred from then on
        self.endpoints = endpoints
        reauth = self._reauthenticate if identity_url else None
        self.transport = Transport(
            storage_url, token, retry=retry, stats=stats, reauthenticate=reauth
        )
        self.stats = self.transport.stats
        self.workers = workers
        self.page_limit = page_limit
        self._block_info: dict[str, tuple[int, str, bool]] = {}  # GUARDED_BY(_block_info_lock)
        self._block_info_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None  # GUARDED_BY(_block_info_lock)
        # What the server advertises beyond the reference protocol (protocol.EXTENSIONS_HEADER);
        # None until an account or container reply has said. GUARDED_BY(_block_info_lock)
        self._extensions: frozenset[str] | None = extensions
        self._meta_keys: dict[str, frozenset[str]] = {}  # GUARDED_BY(_block_info_lock)

    # -- construction ----------------------------------------------------------
    @classmethod
    def from_storage_url(cls, storage_url: str, token: str, **kw: Any) -> PithosClient:
        """Plain Swift style: `{endpoint}/v1/{account}` plus a token."""
        return cls(storage_url, token, **kw)

    @classmethod
    def from_identity(cls, identity_url: str, token: str, **kw: Any) -> PithosClient:
        """Keystone/Astakos: resolve the account and endpoints from the token."""
        eps = authenticate(identity_url, token)
        return cls(eps.storage_url, token, endpoints=eps, identity_url=identity_url, **kw)

    @classmethod
    def from_config(cls, **kw: Any) -> PithosClient:
        """From flags/env/~/.kamakirc; see pithosfs.client.config for the precedence."""
        from pithosfs.client.config import load_config

        cfg_args = {
            k: kw.pop(k) for k in ("url", "token", "cloud", "storage_url", "kamakirc") if k in kw
        }
        cfg = load_config(**cfg_args)
        if cfg.is_storage_url:
            client = cls.from_storage_url(cfg.url, cfg.token, **kw)
        else:
            client = cls.from_identity(cfg.url, cfg.token, **kw)

        def reload_and_authenticate() -> tuple[str, str | None]:
            # The user may have renewed the token in ~/.kamakirc or the environment, or
            # handed it to the mount (renew_token), which then stands for the --token given.
            renewed = client._renewed_token
            fresh = load_config(**({**cfg_args, "token": renewed} if renewed else cfg_args))
            if fresh.is_storage_url:
                return fresh.token, None
            eps = authenticate(fresh.url, fresh.token)
            client.endpoints = eps
            return eps.token, eps.storage_url

        client.transport.set_reauthenticator(reload_and_authenticate)
        return client

    def _reauthenticate(self) -> tuple[str, str | None]:
        assert self._identity_url
        eps = authenticate(self._identity_url, self.transport.token)
        self.endpoints = eps
        return eps.token, eps.storage_url

    def executor(self) -> ThreadPoolExecutor:
        """The pool bulk transfers run on: `workers` threads, created once, reused."""
        with self._block_info_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix="pithos-xfer"
                )
            return self._executor

    def close(self) -> None:
        with self._block_info_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        self.transport.close()

    def renew_token(self, token: str) -> None:
        """Use `token` from now on: for every request, and as the token a later 401
        re-authenticates with (a user handed a live mount a new token)."""
        self._renewed_token = token
        self.transport.replace_token(token)

    def for_account(self, account: str) -> PithosClient:
        """A client for another account with the same token (to reach what it shares with us).

        On a 401 it takes this client's current token: renewed or re-authenticated here,
        the token reaches the shares too."""
        base = self.transport.base_url.rsplit("/", 1)[0]
        other = PithosClient(
            f"{base}/{p.quote_name(account)}",
            self.transport.token,
            retry=self.transport.retry,
            stats=self.stats,
            workers=self.workers,
            page_limit=self.page_limit,
            extensions=self.extensions(),  # the same server
            fold_write_replies=self.fold_write_replies,
        )
        other.transport.set_reauthenticator(lambda: (self.transport.token, None))
        return other

    # -- extensions ---------------------------------------------------------------
    def extensions(self) -> frozenset[str]:
        """The extensions the server advertises; empty for real Pithos+ and Swift.

        Learnt from the latest account or container HEAD/GET reply (listings
        included), or from one account HEAD here if none was seen yet. Nothing
        beyond the reference protocol is used before the server has named it
        (protocol.EXTENSIONS_HEADER).
        """
        with self._block_info_lock:
            known = self._extensions
        if known is None:
            self._note_extensions(self._req("HEAD").headers)
            with self._block_info_lock:
                known = self._extensions or frozenset()
        return known

    def has_extension(self, name: str) -> bool:
        return name in self.extensions()

    def object_meta_keys(self, container: str) -> frozenset[str] | None:
        """The user-metadata keys (lower case, without `X-Object-Meta-`) that the
        container's objects carry, as its last HEAD or listing reply said
        (`X-Container-Object-Meta`, protocol.md 3.1); None when no reply said."""
        with self._block_info_lock:
            return self._meta_keys.get(container)

    def _note_object_meta_keys(self, container: str, headers: Mapping[str, str]) -> None:
        value = headers.get("X-Container-Object-Meta")
        if value is None:
            return
        keys = frozenset(
            protocol.format_meta_key(unquote(k.strip())).lower()
            for k in value.split(",")
            if k.strip()
        )
        with self._block_info_lock:
            self._meta_keys[container] = keys

    def _note_extensions(self, headers: Mapping[str, str]) -> frozenset[str]:
        """Remember what an account or container reply advertises; returns it."""
        found = protocol.parse_extensions(headers.get(protocol.EXTENSIONS_HEADER))
        with self._block_info_lock:
            self._extensions = found
        return found

    def list_sharing_accounts(self) -> list[str]:
        """Accounts that share something with us (GET /v1/, protocol.md 2.1), without our own."""
        top = self.transport.base_url.rsplit("/", 1)[0] + "/"
        resp = self.transport.request("GET", absolute_url=top, params={"format": "json"})
        items = resp.json() if resp.status_code == 200 and resp.content else []
        return [str(i["name"]) for i in items if i.get("name") != self.account]

    @property
    def account(self) -> str:
        return unquote(self.transport.base_url.rsplit("/", 1)[-1])

    @property
    def storage_url(self) -> str:
        return self.transport.base_url

    def can_reauthenticate(self) -> bool:
        """Whether a refused token (401) can be replaced without the user (commit_failures)."""
        return self.transport.can_reauthenticate()

    def auth_token(self) -> str:
        return str(self.transport.token)

    def service_url(self, service: str) -> str:
        """The identity catalog's endpoint of `service` ("image", "account"), or one
        derived from a storage URL `{base}/object-store/v1/{uuid}` -> `{base}{path}`
        (the embedded server's and Synnefo's layout) when the mount was given a plain
        storage URL; Unsupported when neither tells."""
        attribute, path, what = _SERVICES[service]
        listed = getattr(self.endpoints, attribute, "") if self.endpoints is not None else ""
        if listed:
            return str(listed)
        storage = str(self.transport.base_url)
        match = re.match(r"^(.*?)/object-store/v1/[^/]+/?$", storage)
        if not match:
            raise Unsupported(f"cannot tell the {what} URL from {storage!r}")
        return match.group(1) + path

    def image_client(self) -> ImageClient:
        """A Plankton client counted with this one's requests; on a 401 it takes this
        client's current token (renewed or re-authenticated here)."""
        images = ImageClient(self.service_url("image"), self.transport.token, stats=self.stats)
        images.transport.set_reauthenticator(lambda: (self.transport.token, None))
        return images

    # -- low-level helpers -------------------------------------------------------
    def _path(self, container: str, name: str | None = None) -> str:
        v.check_container_name(container)
        if name is None:
            return "/" + p.quote_name(container)
        v.check_object_name(name)
        return "/" + p.quote_name(container) + "/" + p.quote_name(name)

    def _req(self, method: str, path: str = "", **kw: Any) -> Any:
        return self.transport.request(method, path, **kw)

    def _container_kind(self, container: str) -> tuple[int, str, bool]:
        with self._block_info_lock:
            cached = self._block_info.get(container)
        if cached:
            return cached
        resp = self._req("HEAD", self._path(container))
        self._note_extensions(resp.headers)
        return self._note_container_kind(container, resp.headers)

    def _note_container_kind(
        self, container: str, headers: Mapping[str, str]
    ) -> tuple[int, str, bool]:
        """Remember a container's block layout from any HEAD of it (one HEAD serves both)."""
        info = p.container_from_headers(container, headers)
        # Pithos+ reports its block layout; plain Swift has no such header.
        kind = (info.block_size, info.block_hash, "X-Container-Block-Size" in headers)
        with self._block_info_lock:
            self._block_info[container] = kind
        return kind

    def block_params(self, container: str) -> tuple[int, str]:
        """(block size, hash algorithm) of a container, cached (protocol.md 7.4 step 1)."""
        block_size, algorithm, _ = self._container_kind(container)
        return block_size, algorithm

    def supports_pithos(self, container: str) -> bool:
        """Whether the server speaks the Pithos+ extensions (hashmaps, partial updates) here."""
        return self._container_kind(container)[2]

    def _require_pithos(self, container: str, what: str) -> None:
        # Swift would misread these requests: a PUT ?hashmap stores the JSON as
        # the object's data, and a POST replaces all metadata. Refuse instead.
        if not self.supports_pithos(container):
            raise Unsupported(
                f"{what} needs Pithos+; this server looks like plain Swift", path=container
            )

    # -- account ------------------------------------------------------------------
    def account_info(self) -> AccountInfo:
        resp = self._req("HEAD")
        self._note_extensions(resp.headers)
        return p.account_from_headers(self.account, resp.headers)

    def list_containers(self) -> list[ContainerInfo]:
        out: list[ContainerInfo] = []
        marker = ""
        while True:
            params = {"format": "json", "limit": str(self.page_limit)}
            if marker:
                params["marker"] = marker
            resp = self._req("GET", params=params)
            items = resp.json() if resp.status_code == 200 and resp.content else []
            out.extend(p.container_from_json(i) for i in items)
            if len(items) < self.page_limit:
                return out
            marker = items[-1]["name"]

    def set_account_groups(self, groups: Mapping[str, list[str]]) -> None:
        """Merge groups (POST ?update); an empty member list deletes the group."""
        headers = {
            "X-Account-Group-" + name: p.encode_header_value(",".join(members))
            for name, members in groups.items()
        }
        self._req("POST", params={"update": ""}, headers=headers)

    def set_account_meta(self, meta: Mapping[str, str]) -> None:
        self._req("POST", params={"update": ""}, headers=p.meta_headers("X-Account-Meta-", meta))

    # -- containers -------------------------------------------------------------------
    def container_info(self, container: str) -> ContainerInfo:
        resp = self._req("HEAD", self._path(container))
        self._note_extensions(resp.headers)
        self._note_object_meta_keys(container, resp.headers)
        self._note_container_kind(container, resp.headers)
        return p.container_from_headers(container, resp.headers)

    def create_container(self, container: str, versioning: str | None = None) -> None:
        headers = {"X-Container-Policy-Versioning": versioning} if versioning else {}
        self._req("PUT", self._path(container), headers=headers)

    def delete_container(self, container: str) -> None:
        self._req("DELETE", self._path(container), ok_after_retry=(404,))
        with self._block_info_lock:
            self._block_info.pop(container, None)

    def set_container_versioning(self, container: str, versioning: str) -> None:
        self._req(
            "POST",
            self._path(container),
            params={"update": ""},
            headers={"X-Container-Policy-Versioning": versioning},
        )

    def set_container_quota(self, container: str, quota: int) -> None:
        self._req(
            "POST",
            self._path(container),
            params={"update": ""},
            headers={"X-Container-Policy-Quota": str(quota)},
        )

    def set_container_meta(self, container: str, meta: Mapping[str, str]) -> None:
        headers = p.meta_headers("X-Container-Meta-", meta)
        self._req("POST", self._path(container), params={"update": ""}, headers=headers)

    # -- listing ------------------------------------------------------------------------
    def list_objects(
        self,
        container: str,
        prefix: str = "",
        delimiter: str | None = "/",
        with_meta: bool = True,
        until: int | None = None,
        limit: int | None = None,
    ) -> Iterator[ObjectInfo | Subdir]:
        """Entries in name order, page after page, each handed out as its bytes arrive.

        `with_meta` asks for the listing extension only from a server that
        advertises it; elsewhere items carry `meta=None` (not known).

        `limit` (additive to the contract) stops after that many entries and asks
        the server for no more. A page cut midway resumes after the last entry
        handed out, up to the retry policy's attempts.
        """
        path = self._path(container)
        # Asked for without knowing the server (real Pithos+ and Swift ignore unknown
        # parameters); the items' metadata is believed only from a reply that names the
        # extension (see _listing_offers).
        offered: set[str] = set()

        def note(headers: Mapping[str, str]) -> None:
            offered.clear()
            offered.update(self._note_extensions(headers))
            self._note_object_meta_keys(container, headers)
            self._note_container_kind(container, headers)

        marker = ""
        last_subdir = None
        left = limit
        cuts = 0
        while left is None or left > 0:
            size = self.page_limit if left is None else min(left, self.page_limit)
            params = {"format": "json", "limit": str(size)}
            if prefix:
                params["prefix"] = prefix
            if delimiter:
                params["delimiter"] = delimiter
            if with_meta:
                params[LISTING_META_PARAM] = "1"
            if until is not None:
                params["until"] = str(int(until))
            if marker:
                params["marker"] = marker
            count = 0
            try:
                for item in page_items(self.transport, path, params, note):
                    count += 1
                    # Past a subdir, skip its whole subtree: all below sorts before U+FFFF.
                    marker = item["subdir"] + "\uffff" if "subdir" in item else item["name"]
                    entry = p.entry_from_json(
                        item, with_meta and protocol.EXT_LISTING_META in offered
                    )
                    if isinstance(entry, Subdir):
                        # A page may end on a subdir that the next page repeats (protocol.md 5.2).
                        if entry.name == last_subdir:
                            continue
                        last_subdir = entry.name
                    if left is not None:
                        left -= 1
                    yield entry
            except PageCut as exc:
                cuts += 1
                if cuts >= self.transport.retry.attempts:
                    raise TransportError(
                        f"listing cut {cuts} times ({exc})", method="GET", path=path
                    ) from None
                log.warning("%s: listing cut after %d entries (%s); resuming", path, count, exc)
                self.stats.record_retry()
                continue
            if count < size:
                return

    # -- reading --------------------------------------------------------------------------
    def head_object(self, container: str, name: str, version: int | None = None) -> ObjectInfo:
        params = {"version": str(version)} if version is not None else None
        resp = self._req("HEAD", self._path(container, name), params=params)
        return p.object_from_headers(name, resp.headers)

    def read_range(
        self,
        container: str,
        name: str,
        offset: int,
        length: int,
        version: int | None = None,
        size: int | None = None,
    ) -> bytes:
        """Bytes [offset, offset+length) clamped to the size; b"" past EOF.

        `size` (additive to the contract) is the caller's known object size: it
        clamps the Range up front. Without it, the range is sent as asked and
        a 416 (end past EOF, or an empty object) costs one HEAD and a retry.
        """
        params = {"version": str(version)} if version is not None else None
        return self.read_range_query(container, name, offset, length, params, size)

    def read_range_query(
        self,
        container: str,
        name: str,
        offset: int,
        length: int,
        params: dict[str, str] | None,
        size: int | None = None,
    ) -> bytes:
        """`read_range` with the query that picks the version given as is (see
        read_range_query_into): the same GET, received into a bytearray."""
        if length < 0:
            raise BadRequest("negative length")
        if size is not None:
            length = max(0, min(length, size - offset))
        buf = bytearray(length)
        count = self.read_range_query_into(container, name, offset, buf, params, size)
        return bytes(memoryview(buf)[:count])

    def read_range_into(
        self,
        container: str,
        name: str,
        offset: int,
        buf: memoryview | bytearray,
        version: int | None = None,
        size: int | None = None,
    ) -> int:
        """`read_range` of len(buf) bytes received straight into `buf`; returns the count.

        For callers that keep the bytes in memory they own (the mount's reader
        reuses page-aligned buffers): the body goes from the socket into `buf`
        with no intermediate bytes object, whose fresh pages cost a page fault
        each. A body cut short is resumed after the last whole piece received
        (_INTO_PIECE), like `stream_range_to_fd`.
        """
        params = {"version": str(version)} if version is not None else None
        return self.read_range_query_into(container, name, offset, buf, params, size)

    def read_range_query_into(
        self,
        container: str,
        name: str,
        offset: int,
        buf: memoryview | bytearray,
        params: dict[str, str] | None,
        size: int | None = None,
    ) -> int:
        """`read_range_into` with the query that picks the version given as is: Pithos+
        `{"version": "7"}`, or Swift object versioning's `{"version-id": ...}`."""
        view = memoryview(buf).cast("B")
        length = len(view)
        if offset < 0:
            raise BadRequest("negative offset")
        if size is not None:
            length = max(0, min(length, size - offset))
        if length == 0:
            return 0
        path = self._path(container, name)
        try:
            return self._ranged_body(path, params, offset, length, _Into(view))
        except RangeNotSatisfiable:
            head = self._req("HEAD", path, params=params)
            real = p.object_from_headers(name, head.headers).size
            if offset >= real:
                return 0
            return self._ranged_body(path, params, offset, min(length, real - offset), _Into(view))

    def stream_range_to_fd(
        self,
        container: str,
        name: str,
        offset: int,
        length: int,
        fd: int,
        version: int | None = None,
    ) -> None:
        """GET bytes [offset, offset+length) and pwrite them to `fd` at the same offsets.

        Streams pieces of up to _STREAM_PIECE (128 KiB), each written as it
        arrives, so a long range costs no memory. A connection lost mid-body
        resumes from the last byte written, up to the retry policy's attempts;
        local write errors (disk full) propagate at once.
        """
        path = self._path(container, name)
        params = {"version": str(version)} if version is not None else None
        self._ranged_body(path, params, offset, length, _ToFd(fd, offset), whole=False)

    def _ranged_body(
        self,
        path: str,
        params: dict[str, str] | None,
        offset: int,
        length: int,
        sink: _BodySink,
        whole: bool = True,
    ) -> int:
        """GET [offset, offset+length) into `sink`, resuming a cut body; returns the bytes.

        `whole`: a server that ignores Range (200, the full object) is served
        from that body; otherwise anything but 206 is an error.
        """
        done = failures = 0
        while done < length:
            start = offset + done
            headers = {"Range": f"bytes={start}-{offset + length - 1}"}
            resp = self._req("GET", path, params=params, headers=headers, stream=True)
            try:
                if resp.status_code == 200 and whole and done == 0:
                    full = resp.raw.read(decode_content=False)  # stored bytes, as _read_body
                    body = memoryview(full)[offset : offset + length]
                    sink.receive_bytes(0, body)
                    self.stats.add_received("GET", len(body))
                    _consumed(resp)
                    return len(body)
                if resp.status_code != 206:
                    raise PithosError(
                        f"expected 206 for a range, got {resp.status_code}", path=path
                    )
                while done < length:
                    try:
                        got = sink.receive(resp, done, length - done)
                    except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
                        log.warning("%s: body interrupted at +%d (%s)", path, done, exc)
                        break
                    if not got:
                        break
                    done += got
                    self.stats.add_received("GET", got)
                if done == length:
                    _consumed(resp)
            finally:
                resp.close()
            if done < length:
                failures += 1
                if failures >= self.transport.retry.attempts:
                    raise TransportError(
                        f"range body cut {failures} times", method="GET", path=path
                    )
                self.stats.record_retry()
        return done

    def read_object(self, container: str, name: str, version: int | None = None) -> bytes:
        """The whole object in one GET (no Range, so empty objects are fine)."""
        params = {"version": str(version)} if version is not None else None
        return self._req("GET", self._path(container, name), params=params).content

    def get_hashmap(self, container: str, name: str, version: int | None = None) -> Hashmap:
        # Plain Swift answers ?format=json on an object with its data, not a hashmap.
        self._require_pithos(container, "a hashmap GET")
        params = {"hashmap": "True", "format": "json"}
        if version is not None:
            params["version"] = str(version)
        body = json.loads(self._req("GET", self._path(container, name), params=params).content)
        size = int(body["bytes"])
        hashes = list(body.get("hashes") or [])
        if size == 0 and not hashes:
            hashes = [protocol.EMPTY_SHA256]
        return Hashmap(int(body["block_size"]), str(body["block_hash"]), size, hashes)

    def list_versions(self, container: str, name: str) -> list[VersionEntry]:
        params = {"version": "list", "format": "json"}
        body = json.loads(self._req("GET", self._path(container, name), params=params).content)
        return [VersionEntry(int(s), float(ts)) for s, ts in body.get("versions", [])]


class _BodySink(Protocol):
    """Where `_ranged_body` puts a response body, piece by piece."""

    def receive(self, resp: Any, done: int, want: int) -> int:
        """Read the next piece (at most `want` bytes, the body's byte `done` on) and
        store it; returns its length, 0 at the end of the body."""
        ...

    def receive_bytes(self, done: int, data: memoryview) -> None:
        """Store bytes that were read already (a server that ignored Range)."""
        ...


class _ToFd:
    """pwrite each piece to a file at the offsets it has in the object."""

    def __init__(self, fd: int, offset: int) -> None:
        self.fd, self.offset = fd, offset

    def receive(self, resp: Any, done: int, want: int) -> int:
        # read1: whatever has arrived, so a stall loses nothing received.
        chunk = resp.raw.read1(min(_STREAM_PIECE, want), decode_content=False)
        # Written as it comes: gathering pieces first copied every byte once more.
        self.receive_bytes(done, memoryview(chunk))
        return len(chunk)

    def receive_bytes(self, done: int, data: memoryview) -> None:
        at = self.offset + done
        while data:
            written = os.pwrite(self.fd, data, at)
            data, at = data[written:], at + written


class _Into:
    """Receive the body into a caller's buffer, from the socket with no copy in between."""

    def __init__(self, view: memoryview) -> None:
        self.view = view

    def receive(self, resp: Any, done: int, want: int) -> int:
        # urllib3's own readinto reads into a new bytes object and copies that: the
        # http.client response under it reads from the socket into the buffer given.
        # At most _INTO_PIECE per call: a read that times out loses what it received
        # (the buffered reader raises without a count), so a cut body is resumed from
        # the last whole piece.
        raw = resp.raw
        readinto = getattr(getattr(raw, "_fp", None), "readinto", None)
        target = self.view[done : done + min(want, _INTO_PIECE)]
        if readinto is None:
            chunk = raw.read1(len(target), decode_content=False)
            target[: len(chunk)] = chunk
            return len(chunk)
        try:
            return int(readinto(target))
        except (OSError, http.client.HTTPException) as exc:
            # Not through urllib3, so not translated by it: an SSL error or a chunked
            # body cut short is a connection problem like any other, and resumable.
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc

    def receive_bytes(self, done: int, data: memoryview) -> None:
        self.view[done : done + len(data)] = data


def _consumed(resp: Any) -> None:
    """After all the bytes wanted are read: keep the connection if the response is over.

    requests closes the connection of a response it thinks unread; urllib3
    gives a connection back to its pool once the body under it is exhausted.
    Only once it is: a chunked body's last chunk marker, or a body longer than
    the range asked, would be read as the start of the next response on the
    connection. Then the connection is closed instead (closing `resp` does).
    """
    original = getattr(resp.raw, "_original_response", None)
    if original is None or not original.isclosed():
        return
    resp._content_consumed = True  # noqa: SLF001
    release = getattr(resp.raw, "release_conn", None)
    if release is not None:
        release()
