"""Many images at once: a bash-loop style batch of registrations and concurrent writers.
(Timing lives in scripts/bench_plankton.py; tests assert results, never durations.)"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import ALICE, BOB
from tests.server.pithos_http import Api
from tests.server.plankton_api import ImageApi, location


def test_200_registrations_in_a_loop_are_all_listed_and_public(
    make_server: Callable[..., object],
) -> None:
    srv = make_server()
    api = Api(srv.storage_url(ALICE[0]), *ALICE)  # type: ignore[attr-defined]
    img = ImageApi(srv.image_url, ALICE[1])  # type: ignore[attr-defined]
    bob_img = ImageApi(srv.image_url, BOB[1])  # type: ignore[attr-defined]
    api.make_container("images")
    names = [f"batch/{i:03d}.diskdump" for i in range(200)]
    ids = []
    for name in names:
        api.put_object("images", name, name.encode())
        ids.append(
            img.register(name, location(api.account, "images", name), is_public="true")["id"]
        )
    assert len(set(ids)) == 200
    listed = img.list(detail=True, sort_key="name", sort_dir="asc")
    assert [i["name"] for i in listed] == names
    assert all(i["is_public"] for i in listed)
    assert sorted(bob_img.ids()) == sorted(ids)


def test_concurrent_registrations_and_updates_lose_nothing(
    make_server: Callable[..., object],
) -> None:
    srv = make_server()
    api = Api(srv.storage_url(ALICE[0]), *ALICE)  # type: ignore[attr-defined]
    api.make_container("images")
    for i in range(16):
        api.put_object("images", f"c{i}.img", b"x" * i)

    def work(i: int) -> str:
        img = ImageApi(srv.image_url, ALICE[1])  # type: ignore[attr-defined]
        loc = location(api.account, "images", f"c{i}.img")
        image_id = str(img.register(f"c{i}", loc, {"n": str(i)})["id"])
        for step in range(5):
            resp = img.update(image_id, {f"step{step}": "done"})
            assert resp.status_code == 200, resp.text
        return image_id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(work, range(16)))
    img = ImageApi(srv.image_url, ALICE[1])  # type: ignore[attr-defined]
    for i, image_id in enumerate(ids):
        props = img.info(image_id)["properties"]
        assert props == {"n": str(i), **{f"step{s}": "done" for s in range(5)}}
