"""The transport's session pool: short-lived threads share a few keep-alive connections."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pithosfs.client.transport import RetryPolicy, Transport
from tests.client.flaky_server import FlakyServer

FAST = RetryPolicy(attempts=3, base_backoff=0.01, max_backoff=0.02, read_timeout=2)


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    srv = FlakyServer()
    yield srv
    srv.stop()


def _waves(transport: Transport, waves: int, width: int, each: int) -> None:
    """`waves` rounds of `width` fresh threads (as libfuse starts and ends them), `each` GETs per thread."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(each):
                assert transport.request("GET", "/x").content == b"ok"
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    for _ in range(waves):
        threads = [threading.Thread(target=work) for _ in range(width)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert not errors, errors


def test_short_lived_threads_reuse_a_bounded_number_of_connections(flaky: FlakyServer):
    transport = Transport(flaky.url + "/v1/acc", "tok", retry=FAST, pool_size=8)
    _waves(transport, waves=25, width=4, each=3)
    assert flaky.count("GET") == 300
    # A session (connection) per thread would be 100 connections; at most 4 run at once.
    assert flaky.connections <= 4, flaky.connections
    assert transport._sessions.created <= 4  # noqa: SLF001
    idle, busy = transport._sessions.counts()  # noqa: SLF001
    assert busy == 0 and 1 <= idle <= 4
    transport.close()
    assert transport._sessions.counts() == (0, 0)  # noqa: SLF001


def test_sessions_beyond_the_pool_size_are_closed_not_kept(flaky: FlakyServer):
    transport = Transport(flaky.url + "/v1/acc", "tok", retry=FAST, pool_size=2)
    gate = threading.Barrier(6)
    flaky.default = lambda *a: ("sleep", 0.2, ("reply", 200, {}, b"ok"))

    def work() -> None:
        gate.wait(timeout=10)
        transport.request("GET", "/x")

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert transport._sessions.created == 6  # noqa: SLF001  six at once: six sessions
    assert transport._sessions.counts() == (2, 0)  # noqa: SLF001  only two kept
    transport.close()


def test_a_streamed_response_keeps_its_session_until_closed(flaky: FlakyServer):
    transport = Transport(flaky.url + "/v1/acc", "tok", retry=FAST)
    resp = transport.request("GET", "/x", stream=True)
    assert transport._sessions.counts() == (0, 1)  # noqa: SLF001  still reading the body
    # Another request meanwhile gets another session, not the one mid-body.
    assert transport.request("GET", "/y").content == b"ok"
    assert transport._sessions.counts() == (1, 1)  # noqa: SLF001
    assert resp.raw.read() == b"ok"
    resp.close()
    resp.close()  # twice is harmless: the session is returned once
    assert transport._sessions.counts() == (2, 0)  # noqa: SLF001
    with transport.request("GET", "/z", stream=True) as resp:
        assert transport._sessions.counts() == (1, 1)  # noqa: SLF001
    assert transport._sessions.counts() == (2, 0)  # noqa: SLF001
    transport.close()


def test_a_streamed_error_answer_returns_its_session(flaky: FlakyServer):
    transport = Transport(flaky.url + "/v1/acc", "tok", retry=FAST)
    flaky.script.append(("reply", 404, {}, b"no such object"))
    with pytest.raises(Exception, match="no such object"):
        transport.request("GET", "/x", stream=True)
    assert transport._sessions.counts() == (1, 0)  # noqa: SLF001
    assert transport.request("GET", "/x").content == b"ok"
    assert flaky.connections == 1  # the error's connection was read to its end and reused
    transport.close()


def test_a_session_in_use_at_close_is_closed_when_returned(flaky: FlakyServer):
    transport = Transport(flaky.url + "/v1/acc", "tok", retry=FAST)
    resp = transport.request("GET", "/x", stream=True)
    transport.close()
    resp.close()
    assert transport._sessions.counts() == (0, 0)  # noqa: SLF001
    assert transport.request("GET", "/x").content == b"ok"  # still usable after close
    transport.close()
