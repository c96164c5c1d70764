"""GET bodies are block-file slices, each read into a reused buffer: a plain read
when the page cache holds it, one O_DIRECT read when it does not (a plain one
when the block was served often lately); either way the same bytes.

The server runs in this process, so spies on `os.sendfile` and `os.preadv` (the
real calls, only counted) show which way the bytes went.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.test import Client

from pithosfs.server.block_slices import BlockSlice, RecentBlocks
from pithosfs.server.buffers import BufferPool
from tests.conftest import ALICE
from tests.server.pithos_http import Api

BLOCK = 64 * 1024
SIZE = 3 * BLOCK + 1234


@dataclass
class Moved:
    """Bytes each call moved while the test ran."""

    sendfile: list[int] = field(default_factory=list)
    direct: list[int] = field(default_factory=list)
    buffered: list[int] = field(default_factory=list)


@pytest.fixture(scope="module")
def srv(make_server: Callable[..., Any]) -> Any:
    return make_server(block_size=BLOCK)


@pytest.fixture
def api(srv: Any) -> Api:
    return Api(srv.storage_url(ALICE[0]), ALICE[0], ALICE[1])


@pytest.fixture
def cont(api: Api, unique_name: str) -> str:
    return api.make_container(unique_name)


@pytest.fixture
def moved(monkeypatch: pytest.MonkeyPatch) -> Iterator[Moved]:
    record = Moved()
    lock = threading.Lock()
    real_sendfile, real_preadv = os.sendfile, os.preadv

    def sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        n = real_sendfile(out_fd, in_fd, offset, count)
        with lock:
            record.sendfile.append(n)
        return n

    def preadv(fd: int, buffers: Any, offset: int, *flags: int) -> int:
        n = real_preadv(fd, buffers, offset, *flags)
        direct = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT
        with lock:
            (record.direct if direct else record.buffered).append(n)
        return n

    monkeypatch.setattr(os, "sendfile", sendfile)
    monkeypatch.setattr(os, "preadv", preadv)
    yield record


def block_files(srv: Any) -> list[Path]:
    return [p for p in (Path(srv.data_dir) / "blocks").rglob("*") if p.is_file()]


def set_cache(srv: Any, state: str) -> None:
    """'cold': no block file in the page cache (as after an upload); 'warm': all of them."""
    for path in block_files(srv):
        if state == "warm":
            path.read_bytes()
            continue
        drop_from_page_cache(path)


def drop_from_page_cache(path: Path) -> None:
    """Evict the file's pages (written back first: dirty pages would stay cached)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def sent_through_a_socket(send: Callable[[socket.socket], int]) -> bytes:
    """What `send(sock)` (a slice's send, or a started slice's finish) sends; checks
    that it reports that length."""
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(10)
        length = send(a)
        a.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := b.recv(65536):
            got += chunk
    assert length == len(got)
    return got


def direct_io_works(srv: Any) -> bool:
    try:
        os.close(os.open(block_files(srv)[0], os.O_RDONLY | os.O_DIRECT))
    except OSError:
        return False
    return True


def random_object(api: Api, cont: str, name: str, size: int) -> bytes:
    data = os.urandom(size)
    api.put_object(cont, name, data)
    return data


def check_route(srv: Any, moved: Moved, cache: str, length: int) -> None:
    """Warm slices were read from the page cache; cold ones with O_DIRECT; none sendfile'd."""
    assert moved.sendfile == []
    if cache == "warm":
        assert sum(moved.buffered) >= length
        assert moved.direct == []
    elif direct_io_works(srv):
        assert sum(moved.direct) >= length
        assert moved.buffered == []


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_whole_get(srv: Any, api: Api, cont: str, moved: Moved, cache: str) -> None:
    data = random_object(api, cont, "o", SIZE)
    set_cache(srv, cache)
    assert api.read(cont, "o") == data
    check_route(srv, moved, cache, len(data))


RANGES = [
    "bytes=0-0",
    "bytes=100-199",
    f"bytes={BLOCK - 10}-{BLOCK + 9}",  # across a block boundary
    f"bytes={BLOCK}-{3 * BLOCK - 1}",  # whole blocks
    f"bytes={2 * BLOCK + 5}-",  # to the end (a short last block)
    "bytes=-1000",  # suffix
    f"bytes={3 * BLOCK}-{SIZE - 1}",  # exactly the short last block
    f"bytes={4097}-{8190}",  # inside one page-aligned span, unaligned both ends
]


@pytest.mark.parametrize("cache", ["cold", "warm"])
@pytest.mark.parametrize("header", RANGES)
def test_single_ranges(
    srv: Any, api: Api, cont: str, moved: Moved, cache: str, header: str
) -> None:
    data = random_object(api, cont, "o", SIZE)
    version = api.meta(cont, "o")["X-Object-Version"]
    set_cache(srv, cache)
    resp = api.get(cont, "o", headers={"Range": header}, params={"version": version})
    assert resp.status_code == 206
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", resp.headers["Content-Range"])
    assert match is not None
    first, last, total = map(int, match.groups())
    assert total == SIZE
    assert resp.content == data[first : last + 1]
    assert int(resp.headers["Content-Length"]) == last - first + 1
    check_route(srv, moved, cache, last - first + 1)


def test_multiple_ranges_still_send_each_part(api: Api, cont: str) -> None:
    """multipart/byteranges has no Content-Length: slices go out as chunked bytes."""
    data = random_object(api, cont, "o", 3 * BLOCK)
    resp = api.get(cont, "o", headers={"Range": f"bytes=5-9,{BLOCK - 3}-{BLOCK + 2}"})
    assert resp.status_code == 206
    assert resp.headers["Content-Type"].startswith("multipart/byteranges")
    for first, last in ((5, 9), (BLOCK - 3, BLOCK + 2)):
        head = f"Content-Range: bytes {first}-{last}/{len(data)}\r\n".encode()
        at = resp.content.index(head)
        body_at = resp.content.index(b"\r\n\r\n", at) + 4
        assert resp.content[body_at : body_at + last - first + 1] == data[first : last + 1]


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_a_shorter_stored_block_is_sent_zero_padded(
    srv: Any, api: Api, cont: str, moved: Moved, cache: str
) -> None:
    """A block whose bytes end in NULs may be stored as a shorter file (same hash)."""
    head = os.urandom(100).replace(b"\0", b"x")
    api.put_object(cont, "short", head)
    data = head + bytes(BLOCK - len(head)) + os.urandom(500)
    api.put_object(cont, "padded", data)
    first_hash = api.hashmap(cont, "padded")["hashes"][0]
    stored = Path(srv.data_dir) / "blocks" / first_hash[:2] / first_hash
    assert stored.stat().st_size == len(head)  # the case under test exists
    set_cache(srv, cache)
    assert api.read(cont, "padded") == data
    resp = api.get(cont, "padded", headers={"Range": "bytes=50-149"})
    assert resp.content == data[50:150]
    if cache == "warm":  # the padding itself is not in any file
        assert sum(moved.buffered) >= len(head) + 500 + 50


def test_an_all_zero_block_has_no_file_and_reads_as_zeros(api: Api, cont: str) -> None:
    data = os.urandom(BLOCK) + bytes(BLOCK) + os.urandom(10)
    api.put_object(cont, "holey", data)
    assert api.read(cont, "holey") == data
    resp = api.get(cont, "holey", headers={"Range": f"bytes={BLOCK - 5}-{2 * BLOCK + 4}"})
    assert resp.content == data[BLOCK - 5 : 2 * BLOCK + 5]


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_a_client_leaving_mid_body_does_not_stop_the_server(
    srv: Any, api: Api, cont: str, cache: str
) -> None:
    data = random_object(api, cont, "big", 64 * BLOCK)
    host, port = srv.base_url.rsplit("/", 1)[1].split(":")
    path = api.url(cont, "big").split(srv.base_url, 1)[1]
    for _ in range(3):
        set_cache(srv, cache)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(
                f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {ALICE[1]}\r\n\r\n".encode()
            )
            assert s.recv(65536)
    assert api.read(cont, "big") == data


def test_other_wsgi_servers_get_plain_bytes(srv: Any, api: Api, cont: str) -> None:
    """The app stays a WSGI app: iterating a data body yields bytes, not slices."""
    data = random_object(api, cont, "o", 2 * BLOCK + 7)
    path = api.url(cont, "o").split(srv.base_url, 1)[1]
    resp = Client(srv.app).get(
        path, headers={"X-Auth-Token": ALICE[1], "Range": f"bytes=3-{BLOCK + 3}"}
    )
    assert resp.status_code == 206
    assert resp.get_data() == data[3 : BLOCK + 4]
    assert Client(srv.app).get(path, headers={"X-Auth-Token": ALICE[1]}).get_data() == data


@pytest.mark.parametrize("pool", [False, True])
@pytest.mark.parametrize(
    ("file_len", "offset", "length"),
    [(100, 0, 100), (100, 10, 50), (100, 60, 200), (0, 0, 30), (9000, 4095, 4099)],
)
def test_block_slice_send_and_read_agree(
    tmp_path: Path, pool: bool, file_len: int, offset: int, length: int
) -> None:
    content = os.urandom(file_len)
    path = tmp_path / "block"
    path.write_bytes(content)
    drop_from_page_cache(path)  # with a pool: the O_DIRECT path
    piece = BlockSlice(path, offset, length, BufferPool(16384) if pool else None)
    expected = (content[offset:] + bytes(length))[:length]
    assert sent_through_a_socket(piece.send) == expected
    assert piece.read() == expected


def test_a_block_served_often_is_left_in_the_page_cache(
    srv: Any, api: Api, cont: str, moved: Moved
) -> None:
    """Read 1: O_DIRECT (cache untouched). 2: into the page cache. 3: from it."""
    data = random_object(api, cont, "o", SIZE)
    set_cache(srv, "cold")
    if not direct_io_works(srv):
        pytest.skip("no O_DIRECT on this filesystem")
    assert api.read(cont, "o") == data
    assert sum(moved.direct) == SIZE and moved.buffered == []
    assert not any(cached_pages(p) for p in block_files_of(srv, api, cont, "o"))
    moved.direct.clear()
    for _ in range(2):
        assert api.read(cont, "o") == data
        assert moved.direct == [] and sum(moved.buffered) >= SIZE
        assert all(cached_pages(p) for p in block_files_of(srv, api, cont, "o"))
        moved.buffered.clear()
    assert moved.sendfile == []


@pytest.mark.parametrize("state", ["hot and uncached", "cached"])
def test_only_a_read_from_disk_moves_to_a_reader_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str
) -> None:
    """A hot block's cache fill waits for the disk, so it overlaps with the send
    before it (run synchronously, a 2nd GET of 1 GiB ran at 0.45x the 1st); a
    page-cache copy stays on the calling thread."""
    content = os.urandom(3 * 4096 + 17)
    path = tmp_path / "block"
    path.write_bytes(content)
    drop_from_page_cache(path)
    if state == "cached":
        path.read_bytes()
    readers: list[str] = []
    real_preadv = os.preadv

    def preadv(fd: int, buffers: Any, offset: int, *flags: int) -> int:
        readers.append(threading.current_thread().name)
        return real_preadv(fd, buffers, offset, *flags)

    monkeypatch.setattr(os, "preadv", preadv)
    piece = BlockSlice(path, 0, len(content), BufferPool(16384), cache=True)
    assert sent_through_a_socket(piece.start(ahead=True).finish) == content
    assert {name.startswith("block-reader") for name in readers} == {state != "cached"}


def block_files_of(srv: Any, api: Api, cont: str, name: str) -> list[Path]:
    hashes = api.hashmap(cont, name)["hashes"]
    return [Path(srv.data_dir) / "blocks" / h[:2] / h for h in hashes]


def cached_pages(path: Path) -> bool:
    """Whether the file is wholly in the page cache (mincore through mmap, nothing read)."""
    from pithosfs.server.block_slices import _cached

    fd = os.open(path, os.O_RDONLY)
    try:
        return _cached(fd, 0, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def test_recent_blocks_count_reads_of_a_bounded_number_of_blocks() -> None:
    recent = RecentBlocks(capacity=2, cache_after=2)
    assert [recent.hot("a") for _ in range(4)] == [False, False, True, True]
    assert recent.hot("b") is False
    assert recent.hot("c") is False  # evicts the least recently read: a
    assert [recent.hot("a") for _ in range(3)] == [False, False, True]
    default = RecentBlocks()  # the server's: a block read again is cached
    assert [default.hot("a") for _ in range(3)] == [False, True, True]


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_a_missing_block_file_cuts_the_body_short_and_the_server_goes_on(
    srv: Any, api: Api, cont: str, cache: str
) -> None:
    """Headers are out before the 3rd block is opened: the client sees a short body."""
    data = random_object(api, cont, "o", 4 * BLOCK)
    set_cache(srv, cache)
    lost = block_files_of(srv, api, cont, "o")[2]
    saved = lost.read_bytes()
    lost.unlink()
    try:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            api.get(cont, "o")
        resp = api.get(cont, "o", headers={"Range": f"bytes=0-{2 * BLOCK - 1}"})
        assert resp.content == data[: 2 * BLOCK]
    finally:
        lost.write_bytes(saved)
    assert api.read(cont, "o") == data
