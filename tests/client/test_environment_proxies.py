"""Proxy settings from the environment still apply, though the transport reads them
once per origin instead of once per request (Transport._environment_settings)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pithosfs.client.transport import RetryPolicy, Transport
from tests.client.flaky_server import FlakyServer

FAST = RetryPolicy(attempts=1, read_timeout=5)
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
              "ALL_PROXY", "no_proxy", "NO_PROXY")  # fmt: skip


@pytest.fixture
def servers() -> Iterator[tuple[FlakyServer, FlakyServer]]:
    origin, proxy = FlakyServer(), FlakyServer()
    yield origin, proxy
    origin.stop()
    proxy.stop()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_requests_go_through_the_environment_proxy_every_time(servers, clean_env):
    origin, proxy = servers
    clean_env.setenv("http_proxy", proxy.url)
    transport = Transport(origin.url + "/v1/acc", "tok", retry=FAST)
    for _ in range(3):  # the first computes the settings, the others reuse them
        assert transport.request("GET", "/c/o").content == b"ok"
    assert proxy.count("GET") == 3 and origin.count() == 0
    # A proxy is sent the absolute URL: it is the proxy that was asked for this origin.
    assert all(path.startswith(origin.url + "/v1/acc/c/o") for _, path, _, _ in proxy.requests)
    transport.close()


def test_no_proxy_hosts_are_reached_directly(servers, clean_env):
    origin, proxy = servers
    clean_env.setenv("http_proxy", proxy.url)
    clean_env.setenv("no_proxy", "127.0.0.1")
    transport = Transport(origin.url + "/v1/acc", "tok", retry=FAST)
    for _ in range(2):
        assert transport.request("GET", "/c/o").content == b"ok"
    assert origin.count("GET") == 2 and proxy.count() == 0
    transport.close()


def test_settings_are_kept_per_origin(servers, clean_env):
    """Another host of the same transport (an absolute URL: the image service, a
    redirect target) gets its own answer, not the first origin's."""
    origin, proxy = servers
    clean_env.setenv("http_proxy", proxy.url)
    clean_env.setenv("no_proxy", "127.0.0.1")
    transport = Transport(origin.url + "/v1/acc", "tok", retry=FAST)
    assert transport.request("GET", "/c/o").content == b"ok"  # direct: no_proxy
    other = origin.url.replace("127.0.0.1", "localhost")  # not in no_proxy: proxied
    assert transport.request("GET", absolute_url=other + "/v1/acc/c/o").content == b"ok"
    assert origin.count("GET") == 1 and proxy.count("GET") == 1
    transport.close()


def test_the_environment_is_read_once_per_origin(servers, clean_env):
    """requests scans the whole environment on each read (171 us of CPU measured here):
    a mount making thousands of small requests must not pay that every time."""
    import requests

    origin, _proxy = servers
    calls: list[str] = []
    merge = requests.Session.merge_environment_settings

    def counting(self, url, *args):  # type: ignore[no-untyped-def]
        calls.append(url)
        return merge(self, url, *args)

    clean_env.setattr(requests.Session, "merge_environment_settings", counting)
    transport = Transport(origin.url + "/v1/acc", "tok", retry=FAST)
    for i in range(5):
        transport.request("GET", f"/c/o{i}")
    assert origin.count("GET") == 5 and len(calls) == 1
    transport.close()
