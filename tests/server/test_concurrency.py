"""16 threads on the same and on different objects: no 5xx, no lost updates."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tests.server.pithos_http import OCTET, Api

THREADS = 16
ROUNDS = 12


def run_threads(work: Callable[[int], list[int]]) -> list[int]:
    """Run `work(thread_no)` on THREADS threads; returns every status code seen."""
    with ThreadPoolExecutor(THREADS) as pool:
        return [code for codes in pool.map(work, range(THREADS)) for code in codes]


def fresh_api(api: Api) -> Api:
    """Each thread gets its own session (requests.Session is not thread-safe)."""
    return Api(api.url(), api.account, api.token)


def test_parallel_writers_and_readers_same_object(api: Api, cont: str) -> None:
    payloads = {i: os.urandom(20_000 + i) for i in range(THREADS)}
    api.put_object(cont, "hot", payloads[0])

    def work(n: int) -> list[int]:
        me = fresh_api(api)
        codes = []
        for _ in range(ROUNDS):
            if n % 2:
                resp = me.put(cont, "hot", data=payloads[n], headers={"Content-Type": OCTET})
            else:
                resp = me.get(cont, "hot")
                if resp.status_code == 200:
                    # a reader sees one whole version, never a mix
                    assert resp.content in payloads.values()
            codes.append(resp.status_code)
        return codes

    codes = run_threads(work)
    assert set(codes) <= {200, 201}, sorted(set(codes))
    assert api.read(cont, "hot") in payloads.values()
    assert len(api.versions(cont, "hot")) == 1 + ROUNDS * THREADS // 2


def test_parallel_appends_lose_nothing(api: Api, cont: str) -> None:
    api.put_object(cont, "log", b"")

    def work(n: int) -> list[int]:
        me = fresh_api(api)
        record = bytes([65 + n]) * 100
        return [me.write_at(cont, "log", record, "bytes */*").status_code for _ in range(ROUNDS)]

    codes = run_threads(work)
    assert set(codes) == {204}, sorted(set(codes))
    data = api.read(cont, "log")
    assert len(data) == THREADS * ROUNDS * 100
    records = [data[i : i + 100] for i in range(0, len(data), 100)]
    assert all(len(set(r)) == 1 for r in records), "an append was torn"
    for n in range(THREADS):
        assert records.count(bytes([65 + n]) * 100) == ROUNDS


def test_parallel_different_objects_and_listings(api: Api, cont: str) -> None:
    def work(n: int) -> list[int]:
        me = fresh_api(api)
        codes = []
        for r in range(ROUNDS):
            name = f"t{n:02d}/o{r:02d}"
            codes.append(
                me.put(cont, name, data=name.encode(), headers={"Content-Type": OCTET}).status_code
            )
            codes.append(me.post_meta(cont, name, {"X-Object-Meta-R": str(r)}).status_code)
            codes.append(
                me.get(cont, params={"format": "json", "prefix": f"t{n:02d}/"}).status_code
            )
            if r % 3 == 0:
                codes.append(me.delete(cont, name).status_code)
        return codes

    codes = run_threads(work)
    assert set(codes) <= {200, 201, 202, 204}, sorted(set(codes))
    names = api.names(cont)
    expected = sorted(f"t{n:02d}/o{r:02d}" for n in range(THREADS) for r in range(ROUNDS) if r % 3)
    assert names == expected
    assert api.head(cont).headers["X-Container-Object-Count"] == str(len(expected))


def test_parallel_container_churn(api: Api, unique_name: str) -> None:
    def work(n: int) -> list[int]:
        me = fresh_api(api)
        codes = []
        for r in range(4):
            name = f"{unique_name}-{n}-{r}"
            codes.append(me.put(name).status_code)
            codes.append(me.put(name, "o", data=b"x", headers={"Content-Type": OCTET}).status_code)
            codes.append(me.delete(name, params={"delimiter": "/"}).status_code)
            codes.append(me.delete(name).status_code)
        return codes

    assert set(run_threads(work)) <= {201, 204}
