"""White-box tests of Backend object semantics, without HTTP."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from pithosfs import protocol
from pithosfs.server.backend import Backend
from pithosfs.server.bodies import RequestBody
from pithosfs.server.errors import Forbidden, NotFound, PreconditionFailed
from pithosfs.server.objects import DataRange

A = "alice"
BS = 1024


def body(data: bytes) -> RequestBody:
    return RequestBody(io.BytesIO(data), len(data), 1 << 30)


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    b = Backend(tmp_path / "data", BS)
    b.put_container(A, A, "c", {}, {})
    yield b
    b.close()


def put(b: Backend, name: str, data: bytes, **kw: object) -> object:
    return b.put_object(A, A, "c", name, body(data), type="x/y", meta={}, **kw)  # type: ignore[arg-type]


def read(b: Backend, name: str) -> bytes:
    info = b.object_info(A, A, "c", name)
    return b"".join(b.iter_data(info, 0, info.size))


def write_at(b: Backend, name: str, data: bytes, start: int | None, truncate: int | None = None):
    end = None if start is None else start + len(data) - 1
    return b.update_object_data(
        A,
        A,
        "c",
        name,
        rng=DataRange(start, end if data else None, None),
        body=body(data),
        source=None,
        truncate=truncate,
        meta={},
        replace=False,
    )


def test_partial_writes_keep_hash_equal_to_content_hash(backend: Backend) -> None:
    """Fidelity choice: no stale bytes, X-Object-Hash always matches the bytes."""
    data = bytearray(b"a" * 2500)
    put(backend, "o", bytes(data))
    write_at(backend, "o", b"XYZ", 1022)
    data[1022:1025] = b"XYZ"
    info = write_at(backend, "o", b"tail", None)
    data += b"tail"
    assert read(backend, "o") == bytes(data)
    assert info.hash == protocol.object_hash(bytes(data), BS)
    info = write_at(backend, "o", b"", 0, truncate=1500)
    assert read(backend, "o") == bytes(data[:1500])
    assert info.hash == protocol.object_hash(bytes(data[:1500]), BS)


def test_versioning_none_keeps_no_history(backend: Backend) -> None:
    backend.put_container(A, A, "n", {"versioning": "none"}, {})
    for v in (b"1", b"2", b"3"):
        backend.put_object(A, A, "n", "o", body(v), type="x/y", meta={})
    assert len(backend.versions(A, A, "n", "o")) == 1


def test_history_survives_delete_and_uuid_changes_on_recreate(backend: Backend) -> None:
    first = put(backend, "o", b"1")
    put(backend, "o", b"2")
    backend.delete_object(A, A, "c", "o")
    with pytest.raises(NotFound):
        backend.object_info(A, A, "c", "o")
    again = put(backend, "o", b"3")
    assert again.uuid != first.uuid  # type: ignore[attr-defined]
    assert len(backend.versions(A, A, "c", "o")) == 3
    old = backend.object_info(A, A, "c", "o", str(first.serial))  # type: ignore[attr-defined]
    assert b"".join(backend.iter_data(old, 0, old.size)) == b"1"


def test_if_match_checked_inside_the_write(backend: Backend) -> None:
    info = put(backend, "o", b"1")

    def expect(etag: str):
        def check(current: object) -> None:
            if current is None or current.hash != etag:  # type: ignore[attr-defined]
                raise PreconditionFailed("changed")

        return check

    put(backend, "o", b"2", check=expect(info.hash))  # type: ignore[attr-defined]
    with pytest.raises(PreconditionFailed):
        put(backend, "o", b"3", check=expect(info.hash))  # type: ignore[attr-defined]
    assert read(backend, "o") == b"2"


def test_concurrent_appends_lose_nothing(backend: Backend) -> None:
    put(backend, "log", b"")
    pieces = [bytes([65 + i]) * 300 for i in range(12)]
    threads = [threading.Thread(target=write_at, args=(backend, "log", p, None)) for p in pieces]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    content = read(backend, "log")
    assert len(content) == 300 * 12
    assert sorted(content[i : i + 300] for i in range(0, len(content), 300)) == pieces


def test_move_keeps_uuid_and_plankton_domain(backend: Backend) -> None:
    info = put(backend, "img", b"disk")
    with backend.db.write() as conn:
        conn.execute(
            "INSERT INTO attributes (serial, domain, key, value) VALUES (?, 'plankton', 'k', 'v')",
            (info.serial,),  # type: ignore[attr-defined]
        )
    moved = backend.copy_object(A, (A, "c", "img"), (A, "c", "img2"), move=True)
    assert moved.uuid == info.uuid  # type: ignore[attr-defined]
    with backend.db.read() as conn:
        assert backend._meta_of(conn, moved.serial, "plankton") == {"k": "v"}
    with pytest.raises(NotFound):
        backend.object_info(A, A, "c", "img")


def test_non_owner_cannot_read_delete_or_move(backend: Backend) -> None:
    put(backend, "o", b"secret")
    with pytest.raises(Forbidden):
        backend.object_info("bob", A, "c", "o")
    with pytest.raises(Forbidden):
        backend.delete_object("bob", A, "c", "o")
    with pytest.raises(Forbidden):
        backend.copy_object("bob", (A, "c", "o"), (A, "c", "p"), move=True)


def test_usage_counters_match_a_recount(backend: Backend) -> None:
    """Quota checks read incremental counters; they must equal a full recount."""
    backend.put_container(A, A, "n", {"versioning": "none"}, {})
    put(backend, "a", b"1" * 10)
    put(backend, "a", b"2" * 30)
    put(backend, "b", b"3" * 5)
    backend.put_object(A, A, "n", "x", body(b"4" * 7), type="x/y", meta={})
    backend.put_object(A, A, "n", "x", body(b"5" * 9), type="x/y", meta={})
    write_at(backend, "b", b"more", None)
    backend.copy_object(A, (A, "c", "a"), (A, "n", "a2"), move=True)
    backend.delete_object(A, A, "c", "b")
    put(backend, "gone", b"zz")
    backend.delete_object(A, A, "c", "gone", until=2**40)

    def counters() -> dict[str, tuple[int, int]]:
        return {
            c: (backend.container_info(A, A, c).count, backend.container_info(A, A, c).bytes)
            for c in ("c", "n")
        }

    before = counters()
    assert before == {"c": (0, 0), "n": (2, 39)}
    backend._rebuild_usage()
    assert counters() == before
    assert backend.account_info(A, A).bytes == 39
