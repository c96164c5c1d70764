"""The client against a misbehaving server: retries, no blind repeats, typed errors, re-auth."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pithosfs.client import PithosClient, RetryPolicy
from pithosfs.client.errors import (
    MissingBlocks,
    NotFound,
    ServerError,
    TransportError,
    Unauthorized,
)
from tests.client.flaky_server import Action, FlakyServer

FAST = RetryPolicy(attempts=3, base_backoff=0.01, max_backoff=0.02, read_timeout=0.5)
HEAD_OK: Action = (
    "reply",
    200,
    {"Content-Length": "3", "X-Object-Version": "7", "X-Object-Hash": "ab" * 32},
    b"",
)
# A Pithos container HEAD: the client checks once per container before Pithos-only writes.
PITHOS_CONTAINER: Action = (
    "reply",
    204,
    {"X-Container-Block-Size": "4194304", "X-Container-Block-Hash": "sha256"},
    b"",
)


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    srv = FlakyServer()
    yield srv
    srv.stop()


def _client(srv: FlakyServer, **kw) -> PithosClient:
    return PithosClient.from_storage_url(srv.url + "/v1/acc", "tok", retry=FAST, **kw)


def test_503_then_success_is_retried(flaky: FlakyServer):
    flaky.script = [("reply", 503, {}, b"busy"), HEAD_OK]
    client = _client(flaky)
    info = client.head_object("c", "o")
    assert info.version == 7
    assert flaky.count("HEAD") == 2
    assert client.stats.snapshot().retries == 1


def test_connection_reset_on_idempotent_request_is_retried(flaky: FlakyServer):
    flaky.script = [("reset",), ("reply", 206, {}, b"abc")]
    client = _client(flaky)
    assert client.read_range("c", "o", 0, 3) == b"abc"
    assert flaky.count("GET") == 2


def test_append_is_not_repeated_after_a_reset(flaky: FlakyServer):
    flaky.script = [PITHOS_CONTAINER, ("reset",)]
    client = _client(flaky)
    with pytest.raises(TransportError) as exc:
        client.append("c", "o", b"more")
    assert exc.value.status == 0 and exc.value.method == "POST"
    assert flaky.count("POST") == 1


WRITTEN: Action = ("reply", 204, {"X-Object-Version": "7"}, b"")
# The container HEAD answered with "Connection: close": the next request opens a fresh connection.
PITHOS_CONTAINER_CLOSE: Action = (
    PITHOS_CONTAINER[0],
    PITHOS_CONTAINER[1],
    {**PITHOS_CONTAINER[2], "Connection": "close"},
    PITHOS_CONTAINER[3],
)


def test_append_on_a_stale_keepalive_connection_is_resent_once(flaky: FlakyServer):
    # The server's idle timeout closes the kept-alive connection as the append
    # arrives, unread: the client resends it once on a fresh connection.
    flaky.script = [PITHOS_CONTAINER, ("close_unread",), WRITTEN, HEAD_OK]
    client = _client(flaky)
    info = client.append("c", "o", b"more")
    assert info.version == 7
    assert flaky.unread == 1
    assert [(m, body) for m, _, _, body in flaky.requests if m == "POST"] == [("POST", b"more")]
    assert client.stats.snapshot().retries == 1


def test_append_closed_unanswered_on_a_fresh_connection_is_not_resent(flaky: FlakyServer):
    # The server read the whole append, then closed without answering, on a new
    # connection: no idle timeout explains that, the append may have been
    # applied before the server died: report it, do not repeat it.
    flaky.script = [PITHOS_CONTAINER_CLOSE, ("close",), WRITTEN, HEAD_OK]
    client = _client(flaky)
    with pytest.raises(TransportError) as exc:
        client.append("c", "o", b"more")
    assert exc.value.method == "POST"
    assert flaky.count("POST") == 1


def test_append_cut_off_while_sending_is_resent(flaky: FlakyServer):
    # The connection dies while the body is still going out (fresh connection):
    # the server never had the complete request, so sending it again is safe.
    data = os.urandom(32 * 1024 * 1024)  # more than socket buffers hold
    flaky.script = [PITHOS_CONTAINER_CLOSE, ("close_unread",), WRITTEN, HEAD_OK]
    client = _client(flaky)
    client.append("c", "o", data)
    assert flaky.unread == 1
    posts = [body for m, _, _, body in flaky.requests if m == "POST"]
    assert posts == [data]


def test_a_refused_append_waits_with_backoff_not_a_stale_connection_resend(caplog):
    """Nothing listens: the tries are the retry policy's, not an extra instant resend."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    client = PithosClient.from_storage_url(f"http://127.0.0.1:{port}/v1/acc", "tok", retry=FAST)
    with caplog.at_level(logging.INFO, logger="pithosfs.client"):
        with pytest.raises(TransportError):
            client.transport.request("POST", "/c/o", params={"update": ""}, data=b"x")
    assert not [r for r in caplog.records if "connection closed under it" in r.getMessage()]
    assert client.transport.stats.snapshot().retries == FAST.attempts - 1


def test_move_is_not_repeated_after_a_503(flaky: FlakyServer):
    # move_object HEADs the container first (plain-Swift check), then sends the one PUT.
    flaky.script = [PITHOS_CONTAINER, ("reply", 503, {}, b"")]
    client = _client(flaky)
    with pytest.raises(ServerError) as exc:
        client.move_object("c", "a", "c", "b")
    assert exc.value.status == 503
    assert flaky.count("PUT") == 1


def test_explicit_range_overwrite_is_retried(flaky: FlakyServer):
    flaky.script = [PITHOS_CONTAINER, ("reply", 500, {}, b""), ("reply", 204, {}, b""), HEAD_OK]
    client = _client(flaky)
    client.update_range("c", "o", 0, b"xyz")
    assert flaky.count("POST") == 2


def test_slow_response_times_out_then_retry_succeeds(flaky: FlakyServer):
    flaky.script = [("sleep", 1.5, HEAD_OK), HEAD_OK]
    client = _client(flaky)
    assert client.head_object("c", "o").size == 3
    assert flaky.count("HEAD") == 2


def test_always_slow_gives_a_transport_error(flaky: FlakyServer):
    flaky.default = lambda *a: ("sleep", 1.0, HEAD_OK)
    client = _client(flaky)
    with pytest.raises(TransportError):
        client.head_object("c", "o")
    assert flaky.count("HEAD") == FAST.attempts


def test_4xx_is_not_retried_and_is_typed(flaky: FlakyServer):
    fault = {"itemNotFound": {"code": 404, "message": "Object does not exist", "details": ""}}
    flaky.script = [("reply", 404, {"X-Trans-Id": "tx123"}, json.dumps(fault).encode())]
    client = _client(flaky)
    with pytest.raises(NotFound) as exc:
        client.read_range("c", "dir/o b", 0, 10)
    err = exc.value
    assert (err.status, err.reason, err.trans_id) == (404, "Object does not exist", "tx123")
    assert err.path.startswith("/v1/acc/c/dir/o%20b")
    assert "tok" not in str(err)
    assert flaky.count("GET") == 1


def test_hashmap_409_becomes_missing_blocks(flaky: FlakyServer):
    flaky.script = [
        PITHOS_CONTAINER,
        ("reply", 409, {"Content-Type": "application/json"}, b'["aa", "bb"]'),
    ]
    client = _client(flaky)
    with pytest.raises(MissingBlocks) as exc:
        client.put_hashmap("c", "o", 5, ["aa"])
    assert exc.value.hashes == ["aa", "bb"]


def test_connection_refused_is_retried_even_for_post():
    with socket.socket() as s:  # find a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = PithosClient.from_storage_url(f"http://127.0.0.1:{port}/v1/acc", "tok", retry=FAST)
    with pytest.raises(TransportError):
        client.append("c", "o", b"x")
    assert client.stats.snapshot().retries == FAST.attempts - 1


def _identity_responder(srv: FlakyServer):
    def respond(method: str, path: str, headers: dict[str, str], body: bytes) -> Action:
        if path.endswith("/tokens"):
            access = {
                "access": {
                    "token": {"id": "tok", "tenant": {"id": "acc"}},
                    "user": {"id": "acc"},
                    "serviceCatalog": [
                        {"type": "object-store", "name": "pithos",
                         "endpoints": [{"publicURL": srv.url + "/object-store/v1"}]},
                        {"type": "image", "name": "plankton",
                         "endpoints": [{"publicURL": srv.url + "/image"}]},
                    ],
                }
            }  # fmt: skip
            return ("reply", 200, {"Content-Type": "application/json"}, json.dumps(access).encode())
        return HEAD_OK

    return respond


def test_identity_resolves_account_and_endpoints(flaky: FlakyServer):
    flaky.default = _identity_responder(flaky)
    client = PithosClient.from_identity(flaky.url + "/identity/v2.0", "tok", retry=FAST)
    assert client.account == "acc"
    assert client.storage_url == flaky.url + "/object-store/v1/acc"
    assert client.endpoints is not None
    assert client.endpoints.image_url == flaky.url + "/image/v1.0"


def test_401_then_success_after_one_reauthentication(flaky: FlakyServer):
    flaky.default = _identity_responder(flaky)
    client = PithosClient.from_identity(flaky.url + "/identity/v2.0", "tok", retry=FAST)
    flaky.script = [("reply", 401, {}, b"")]
    assert client.head_object("c", "o").version == 7
    assert flaky.count("POST", "/tokens") == 2
    assert client.stats.snapshot().reauths == 1


def test_401_twice_is_unauthorized(flaky: FlakyServer):
    flaky.default = _identity_responder(flaky)
    client = PithosClient.from_identity(flaky.url + "/identity/v2.0", "tok", retry=FAST)
    flaky.script = [("reply", 401, {}, b""), ("default",), ("reply", 401, {}, b"")]
    with pytest.raises(Unauthorized):
        client.head_object("c", "o")
    assert flaky.count("HEAD") == 2
    assert flaky.count("POST", "/tokens") == 2  # one re-authentication, not a loop


def test_range_past_eof_falls_back_to_head_and_clamps(flaky: FlakyServer):
    flaky.script = [("reply", 416, {}, b""), HEAD_OK, ("reply", 206, {}, b"bc")]
    client = _client(flaky)
    assert client.read_range("c", "o", 1, 100) == b"bc"
    ranges = [h.get("Range") for m, _, h, _ in flaky.requests if m == "GET"]
    assert ranges == ["bytes=1-100", "bytes=1-2"]


def test_known_empty_size_sends_no_request(flaky: FlakyServer):
    client = _client(flaky)
    assert client.read_range("c", "o", 0, 100, size=0) == b""
    assert flaky.requests == []


def test_stats_count_bytes_per_method(flaky: FlakyServer):
    flaky.script = [("reply", 206, {}, b"x" * 50)]
    client = _client(flaky)
    client.read_range("c", "o", 0, 50)
    snap = client.stats.snapshot()
    assert snap.by_method["GET"].bytes_received == 50 and snap.count("GET") == 1


def test_truncated_body_is_retried_for_reads(flaky: FlakyServer):
    flaky.script = [
        ("reply", 206, {"Content-Length": "10"}, b"short"),
        ("reply", 206, {}, b"0123456789"),
    ]
    client = _client(flaky)
    assert client.read_range("c", "o", 0, 10) == b"0123456789"
    assert flaky.count("GET") == 2


def test_from_config_reloads_a_renewed_token_on_401(flaky: FlakyServer, tmp_path):
    rc = tmp_path / "kamakirc"
    rc.write_text(f'[cloud "t"]\nurl = {flaky.url}/v1/acc\ntoken = old\n')
    client = PithosClient.from_config(kamakirc=rc, retry=FAST)
    rc.write_text(f'[cloud "t"]\nurl = {flaky.url}/v1/acc\ntoken = new\n')
    flaky.script = [("reply", 401, {}, b""), HEAD_OK]
    assert client.head_object("c", "o").version == 7
    tokens = [h.get("X-Auth-Token") for _, _, h, _ in flaky.requests]
    assert tokens == ["old", "new"]


def test_plain_swift_refuses_pithos_only_writes_before_sending(flaky: FlakyServer):
    from pithosfs.client.errors import Unsupported

    flaky.default = lambda *a: ("reply", 204, {"X-Container-Object-Count": "0"}, b"")
    client = _client(flaky)
    assert not client.supports_pithos("c")
    with pytest.raises(Unsupported):
        client.put_hashmap("c", "o", 5, ["ab" * 32])
    with pytest.raises(Unsupported):
        client.update_range("c", "o", 0, b"x")
    with pytest.raises(Unsupported):
        client.upload_blocks("c", [b"x"])
    assert [m for m, _, _, _ in flaky.requests] == ["HEAD"]  # one container HEAD, cached


def test_write_result_is_our_version_even_if_another_writer_got_in(flaky: FlakyServer):
    theirs = ("reply", 200, {"Content-Length": "9", "X-Object-Version": "8"}, b"")
    ours = ("reply", 200, {"Content-Length": "3", "X-Object-Version": "7"}, b"")
    flaky.script = [("reply", 201, {"X-Object-Version": "7"}, b""), theirs, ours]
    info = _client(flaky).put_object("c", "o", b"abc")
    assert (info.version, info.size) == (7, 3)
    assert flaky.requests[-1][1].endswith("/c/o?version=7")


def test_streamed_range_resumes_after_a_cut_body(flaky: FlakyServer, tmp_path):
    flaky.script = [
        ("reply", 206, {"Content-Length": "10"}, b"01234"),  # then stalls: read timeout
        ("reply", 206, {}, b"56789"),
    ]
    client = _client(flaky)
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    try:
        client.stream_range_to_fd("c", "o", 0, 10, fd)
    finally:
        os.close(fd)
    assert (tmp_path / "out").read_bytes() == b"0123456789"
    ranges = [h.get("Range") for m, _, h, _ in flaky.requests if m == "GET"]
    assert ranges == ["bytes=0-9", "bytes=5-9"]
    assert client.stats.snapshot().by_method["GET"].bytes_received == 10


def test_plain_swift_download_is_one_streamed_get(flaky: FlakyServer, tmp_path):
    from pithosfs.client.errors import Unsupported

    swift_container = ("reply", 204, {"X-Container-Object-Count": "1"}, b"")
    swift_head = ("reply", 200, {"Content-Length": "6", "ETag": "abc"}, b"")
    flaky.script = [swift_container, swift_head, ("reply", 206, {}, b"abcdef")]
    client = _client(flaky)
    result = client.download_file("c", "o", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"abcdef" and result.hashmap.size == 6
    assert "hashmap" not in "".join(p for _, p, _, _ in flaky.requests)
    with pytest.raises(Unsupported):
        client.upload_file("c", "o", tmp_path / "out")


def test_range_into_a_buffer_resumes_after_a_cut_body(flaky: FlakyServer):
    """The cut comes inside the first piece read (1 MiB): the range is asked again whole."""
    flaky.script = [
        ("reply", 206, {"Content-Length": "10"}, b"01234"),  # then stalls: read timeout
        ("reply", 206, {}, b"0123456789"),
    ]
    client = _client(flaky)
    buf = bytearray(b"." * 12)
    assert client.read_range_into("c", "o", 0, memoryview(buf)[:10]) == 10
    assert bytes(buf) == b"0123456789.."
    ranges = [h.get("Range") for m, _, h, _ in flaky.requests if m == "GET"]
    assert ranges == ["bytes=0-9", "bytes=0-9"]
    assert client.stats.snapshot().by_method["GET"].bytes_received == 10


def test_range_into_a_buffer_resumes_after_the_last_whole_piece(flaky: FlakyServer):
    piece = 1024 * 1024
    head = bytes(range(256)) * (piece // 256)
    flaky.script = [
        ("reply", 206, {"Content-Length": str(piece + 10)}, head + b"01"),  # then stalls
        ("reply", 206, {}, b"0123456789"),
    ]
    client = _client(flaky)
    buf = bytearray(piece + 10)
    assert client.read_range_into("c", "o", 0, buf) == piece + 10
    assert buf == head + b"0123456789"
    ranges = [h.get("Range") for m, _, h, _ in flaky.requests if m == "GET"]
    assert ranges == [f"bytes=0-{piece + 9}", f"bytes={piece}-{piece + 9}"]


def test_range_into_a_buffer_clamps_at_the_end_of_the_object(flaky: FlakyServer):
    flaky.script = [("reply", 416, {}, b""), HEAD_OK, ("reply", 206, {}, b"bc")]
    client = _client(flaky)
    buf = bytearray(100)
    assert client.read_range_into("c", "o", 1, buf) == 2
    assert buf[:3] == b"bc\0"
    ranges = [h.get("Range") for m, _, h, _ in flaky.requests if m == "GET"]
    assert ranges == ["bytes=1-100", "bytes=1-2"]
    assert client.read_range_into("c", "o", 5, buf, size=3) == 0  # known past EOF: no request
    assert flaky.count("GET") == 2


def test_range_into_a_buffer_from_a_server_that_ignores_range(flaky: FlakyServer):
    flaky.script = [("reply", 200, {}, b"0123456789")]
    buf = bytearray(4)
    assert _client(flaky).read_range_into("c", "o", 3, buf) == 4
    assert buf == b"3456"


def test_range_into_a_buffer_keeps_the_connection(flaky: FlakyServer):
    """A body read to its end leaves the connection open for the next request."""
    flaky.script = [("reply", 206, {}, b"abc"), ("reply", 206, {}, b"def")]
    client = _client(flaky)
    buf = bytearray(3)
    client.read_range_into("c", "o", 0, buf)
    client.read_range_into("c", "o", 3, buf)
    assert buf == b"def"
    assert flaky.connections == 1


def test_a_range_read_whole_from_a_chunked_body_does_not_hand_on_its_connection(
    flaky: FlakyServer,
):
    """The bytes wanted arrive before the body's end (here: the last-chunk marker):
    the connection is closed, not given to the next request, which would read the
    rest of this response as its answer (an append then failed, applied but
    reported as a transport error)."""
    gate = threading.Event()
    gate.set()
    flaky.script = [
        ("chunked", 206, {}, [b"abc", b"def"], gate),
        PITHOS_CONTAINER,
        WRITTEN,
        HEAD_OK,
    ]
    client = _client(flaky)
    buf = bytearray(6)
    assert client.read_range_into("c", "o", 0, buf) == 6 and buf == b"abcdef"
    assert client.append("c", "o", b"more").version == 7
    assert flaky.count("POST") == 1


def test_a_silent_server_fails_the_call_by_its_deadline_not_after_every_try(
    flaky: FlakyServer,
):
    """A server that accepts and never answers: the call ends once its deadline passed
    (no further try starts, none waits past it), not after attempts x read_timeout."""
    flaky.default = lambda *a: ("sleep", 30.0, HEAD_OK)
    policy = RetryPolicy(
        attempts=20, base_backoff=0.01, max_backoff=0.02, read_timeout=0.6, deadline=2.0
    )
    client = PithosClient.from_storage_url(flaky.url + "/v1/acc", "tok", retry=policy)
    started = time.monotonic()
    with pytest.raises(TransportError):
        client.head_object("c", "o")
    took = time.monotonic() - started
    assert flaky.count("HEAD") < policy.attempts  # stopped by the deadline, not by tries
    assert took < 2 * policy.deadline, took


def test_with_deadline_scales_the_waits_of_one_try():
    policy = RetryPolicy.with_deadline(6)
    assert policy.deadline == 6 and policy.read_timeout <= 3 and policy.connect_timeout <= 3


def test_delete_repeated_after_a_lost_reply_into_404_is_success(flaky: FlakyServer):
    # The first DELETE is read and applied, its answer never comes (connection closed):
    # the repeat finds the object gone. That is the first one's success, not ENOENT.
    flaky.script = [PITHOS_CONTAINER, ("close",), ("reply", 404, {}, b"")]
    client = _client(flaky)
    client.delete_object("c", "o")
    assert flaky.count("DELETE") == 2


def test_delete_of_a_missing_object_is_still_not_found(flaky: FlakyServer):
    flaky.script = [PITHOS_CONTAINER, ("reply", 404, {}, b"")]
    client = _client(flaky)
    with pytest.raises(NotFound):
        client.delete_object("c", "o")
    assert flaky.count("DELETE") == 1


def test_413_is_quota_unless_it_speaks_of_size():
    from pithosfs.client.errors import QuotaExceeded, TooLarge, error_for_status

    assert error_for_status(413, "Quota error: account quota exceeded") is QuotaExceeded
    assert error_for_status(413, "Request Entity Too Large") is TooLarge
    assert error_for_status(413, "") is QuotaExceeded
    assert error_for_status(507).__name__ == "InsufficientStorage"


def test_a_server_found_silent_gets_a_short_deadline_until_it_answers(
    flaky: FlakyServer, monkeypatch: pytest.MonkeyPatch
):
    """An open then a read of a file each met the full deadline of a silent server (twice
    the wait); once a call timed out, the next fail within SILENT_DEADLINE, until the
    server answers again."""
    from pithosfs.client import transport

    monkeypatch.setattr(transport, "SILENT_DEADLINE", 1.0)
    flaky.default = lambda *a: ("sleep", 30.0, HEAD_OK)
    policy = RetryPolicy(
        attempts=20, base_backoff=0.01, max_backoff=0.02, read_timeout=1.5, deadline=4.0
    )
    client = PithosClient.from_storage_url(flaky.url + "/v1/acc", "tok", retry=policy)
    took = []
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(TransportError):
            client.head_object("c", "o")
        took.append(time.monotonic() - started)
    assert took[0] >= policy.deadline - 0.5 and took[1] < took[0] / 2, took
    flaky.default = lambda *a: HEAD_OK  # it answers again: full deadlines from here on
    assert client.head_object("c", "o").version == 7
    assert client.transport._silent_until == 0.0
