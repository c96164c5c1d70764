"""The fault proxy itself, against the embedded server: each fault does what it says, once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import ALICE
from tests.reliability.fault_proxy import Fault, FaultProxy


@pytest.fixture
def proxy(server: object) -> Iterator[FaultProxy]:
    parts = urlsplit(server.base_url)  # type: ignore[attr-defined]
    p = FaultProxy((parts.hostname or "127.0.0.1", parts.port or 80))
    yield p
    p.stop()


@pytest.fixture
def base(proxy: FaultProxy, unique_name: str) -> str:
    url = f"{proxy.url}/object-store/v1/{ALICE[0]}/{unique_name}"
    assert requests.put(url, headers=_auth(), timeout=10).status_code in (201, 202)
    return url


def _auth() -> dict[str, str]:
    return {"X-Auth-Token": ALICE[1], "Content-Type": "application/octet-stream"}


def test_requests_pass_through_on_one_keep_alive_connection(proxy: FaultProxy, base: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    with requests.Session() as sess:
        assert sess.put(f"{base}/o", data=data, headers=_auth(), timeout=10).status_code == 201
        for _ in range(3):
            got = sess.get(f"{base}/o", headers=_auth(), timeout=10)
            assert got.status_code == 200 and got.content == data
        listing = sess.get(base, headers=_auth(), timeout=10)
    assert listing.text.split() == ["o"]
    assert proxy.requests == 6 and not proxy.injected


def test_status_fault_answers_itself_then_stops(proxy: FaultProxy, base: str) -> None:
    proxy.add(Fault("status", method="PUT", status=503, times=2))
    with requests.Session() as sess:
        codes = [sess.put(f"{base}/o", data=b"x" * 1000, headers=_auth(), timeout=10).status_code
                 for _ in range(3)]  # fmt: skip
    assert codes == [503, 503, 201]
    assert proxy.injected["status"] == 2


def test_reset_fails_the_request_and_it_never_reaches_the_server(
    proxy: FaultProxy, base: str
) -> None:
    proxy.add(Fault("reset", method="PUT"))
    with pytest.raises(requests.ConnectionError):
        requests.put(f"{base}/o", data=b"abc", headers=_auth(), timeout=10)
    assert requests.head(f"{base}/o", headers=_auth(), timeout=10).status_code == 404


def test_truncate_gives_a_short_body_the_client_notices(proxy: FaultProxy, base: str) -> None:
    data = os.urandom(1024 * 1024)
    requests.put(f"{base}/o", data=data, headers=_auth(), timeout=10)
    proxy.add(Fault("truncate", method="GET", path="/o$", after_bytes=1000))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{base}/o", headers=_auth(), timeout=10).content  # noqa: B018
    assert requests.get(f"{base}/o", headers=_auth(), timeout=10).content == data


def test_cut_upload_leaves_no_object(proxy: FaultProxy, base: str) -> None:
    proxy.add(Fault("cut_upload", method="PUT", after_bytes=100_000, min_body=1))
    with pytest.raises(requests.ConnectionError):
        requests.put(f"{base}/o", data=os.urandom(2_000_000), headers=_auth(), timeout=10)
    assert requests.head(f"{base}/o", headers=_auth(), timeout=10).status_code == 404
    assert proxy.injected["cut_upload"] == 1


def test_delay_and_retarget(proxy: FaultProxy, base: str, make_server: object) -> None:
    proxy.add(Fault("delay", method="HEAD", seconds=0.3))
    with requests.Session() as sess:
        took = sess.head(base, headers=_auth(), timeout=10).elapsed.total_seconds()
        assert took >= 0.3
        other = make_server()  # type: ignore[operator]
        proxy.retarget(("127.0.0.1", other.port))
    # The new server has no such container: the request went there.
    assert requests.head(base, headers=_auth(), timeout=10).status_code == 404
