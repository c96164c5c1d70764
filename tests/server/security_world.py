"""A real `pithosfs serve` child process with three users, for the security tests.

Each security test module gets its own server and data dir (module scope), so
the tests can look at the data dir afterwards: nothing may appear next to it,
and the block store may hold only content-named blocks. `fingerprint` records
everything a user can observe of their own account, to prove that a refused
request changed nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ALICE, BOB
from tests.server.pithos_http import Api
from tests.server.plankton_api import ImageApi
from tests.server.server_process import ServerProcess

CAROL = ("ca401000-0000-4000-8000-000000000003", "carol-token")
BLOCK_SIZE = 1024  # small blocks: multi-block objects stay cheap

# Token header values that must never authenticate (protocol.md 1.2: 401).
BAD_TOKENS = {
    "wrong": "not-a-token",
    "other-case": ALICE[1].upper(),
    "bearer": "Bearer " + ALICE[1],
    "prefix": ALICE[1][:-1],
    "suffix": ALICE[1] + "x",
    "list": f"{ALICE[1]},{ALICE[1]}",
    "quoted": f'"{ALICE[1]}"',
}


@dataclass
class World:
    proc: ServerProcess
    root: Path  # holds only data_dir: anything else is a write outside it
    data_dir: Path
    alice: Api
    bob: Api
    carol: Api
    anon: Api  # no token, pointed at alice's account
    alice_img: ImageApi
    bob_img: ImageApi
    anon_img: ImageApi

    @property
    def base_url(self) -> str:
        return self.proc.base_url

    def api(self, user: tuple[str, str], token: str | None) -> Api:
        return Api(f"{self.base_url}/object-store/v1/{user[0]}", user[0], token)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("security")
    data_dir = root / "data"
    log_path = tmp_path_factory.mktemp("security-log") / "serve.log"
    proc = ServerProcess(
        data_dir, ALICE, log_path, ("--block-size", str(BLOCK_SIZE)), more_users=(BOB, CAROL)
    )
    proc.start()
    base = proc.base_url

    def api(user: tuple[str, str], token: str | None) -> Api:
        return Api(f"{base}/object-store/v1/{user[0]}", user[0], token)

    try:
        yield World(
            proc,
            root,
            data_dir,
            api(ALICE, ALICE[1]),
            api(BOB, BOB[1]),
            api(CAROL, CAROL[1]),
            api(ALICE, None),
            ImageApi(base + "/image", ALICE[1]),
            ImageApi(base + "/image", BOB[1]),
            ImageApi(base + "/image", None),
        )
    finally:
        proc.stop()


def fingerprint(owner: Api, images: ImageApi | None = None) -> dict[str, Any]:
    """All an owner can observe of their account: meta, groups, containers, every
    object's current state and version list, and (optionally) their images."""
    head = owner.head()
    assert head.status_code == 204, head.status_code
    state: dict[str, Any] = {
        "account": sorted(
            (k, v) for k, v in head.headers.items() if k.lower().startswith("x-account-")
        ),
        "containers": {},
    }
    resp = owner.get(params={"format": "json"})
    assert resp.status_code == 200, resp.status_code
    for cont in resp.json():
        chead = owner.head(cont["name"]).headers
        objects = owner.listing(cont["name"], include_meta="1")
        versions = {o["name"]: owner.versions(cont["name"], o["name"]) for o in objects}
        state["containers"][cont["name"]] = {
            "item": cont,
            "head": sorted((k, v) for k, v in chead.items() if k.lower().startswith("x-container")),
            "objects": objects,
            "versions": versions,
        }
    if images is not None:
        state["images"] = sorted(images.list(detail=True), key=lambda i: i["id"])
    return state


def block_files(data_dir: Path) -> set[str]:
    """Names (relative) of everything in the block store."""
    blocks = data_dir / "blocks"
    return {str(p.relative_to(blocks)) for p in blocks.rglob("*") if p.is_file()}
