"""Security rule 2 against a reference model: random sharing changes, checked after each.

Alice changes sharing (users, her group, `*`), the group's members, object types
(directory marker or not) and deletes/re-creates objects at random; after every
step, what bob and carol may read or write, and what their listings show, must
equal a small model of protocol.md 9.4: a path's own permissions win; without them the
closest ancestor with permissions that is a directory marker applies; write
implies read; delete clears a path's permissions. PITHOSFS_SHARING_STEPS (60)
and PITHOSFS_SEED vary the run; it prints its step and request counts.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field

from tests.conftest import ALICE, BOB
from tests.server.pithos_http import DIRECTORY, OCTET, Api
from tests.server.plankton_api import ImageApi, location
from tests.server.security_world import CAROL, World
from tests.server.security_world import world as world  # noqa: F401 (fixture)

STEPS = int(os.environ.get("PITHOSFS_SHARING_STEPS", "60"))
CONT = "model"
GROUP = f"{ALICE[0]}:team"
NAMES = ["a", "a/x", "a/b", "a/b/y", "a/b/z", "c", "c/q", "d"]
IMAGES = ["a/b/y", "c/q"]  # registered at the start; an image lives until its object is deleted
SUBJECTS = [BOB[0], CAROL[0], GROUP, "*"]


@dataclass
class Model:
    directories: set[str] = field(default_factory=set)
    existing: set[str] = field(default_factory=set)
    perms: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)  # read, write
    team: set[str] = field(default_factory=set)
    images: dict[str, str] = field(default_factory=dict)  # object name -> image id

    def subjects(self, user: str) -> set[str]:
        return {user, "*"} | ({GROUP} if user in self.team else set())

    def effective(self, name: str) -> tuple[set[str], set[str]] | None:
        if name in self.perms:
            return self.perms[name]
        parts = name.split("/")
        for i in range(len(parts) - 1, 0, -1):
            parent = "/".join(parts[:i])
            if parent in self.perms and parent in self.directories and parent in self.existing:
                return self.perms[parent]
        return None

    def level(self, user: str, name: str) -> str | None:
        eff = self.effective(name)
        if eff is None:
            return None
        mine = self.subjects(user)
        if eff[1] & mine:
            return "write"
        if eff[0] & mine:
            return "read"
        return None


def sharing_header(read: set[str], write: set[str]) -> str:
    parts = []
    if read - write:
        parts.append("read=" + ",".join(sorted(read - write)))
    if write:
        parts.append("write=" + ",".join(sorted(write)))
    return ";".join(parts)


class Driver:
    def __init__(self, world: World, rng: random.Random) -> None:
        self.alice, self.rng, self.model = world.alice, rng, Model()
        self.users = {BOB[0]: world.bob, CAROL[0]: world.carol}
        self.image_apis = {
            BOB[0]: world.bob_img,
            CAROL[0]: ImageApi(world.base_url + "/image", CAROL[1]),
        }
        self.alice_img = world.alice_img
        self.requests = 0

    def register(self, name: str) -> None:
        """Registration resets the object's sharing to read=owner (protocol.md 10.6 step 11)."""
        image = self.alice_img.register(name, location(ALICE[0], CONT, name))
        self.model.images[name] = image["id"]
        self.model.perms[name] = ({ALICE[0]}, set())

    def put(self, name: str, directory: bool) -> None:
        ctype = DIRECTORY if directory else OCTET
        self.alice.put_object(CONT, name, b"" if directory else name.encode(), ctype)
        self.model.existing.add(name)
        (self.model.directories.add if directory else self.model.directories.discard)(name)

    def step(self) -> str:
        rng, model = self.rng, self.model
        name = rng.choice(NAMES)
        action = rng.choice(["share", "share", "share", "unshare", "team", "retype", "delete"])
        if action in ("share", "unshare") and name not in model.existing:
            action = "recreate"
        if action == "share":
            read = {s for s in SUBJECTS if rng.random() < 0.3}
            write = {s for s in SUBJECTS if rng.random() < 0.15}
            if not read | write:
                read = {rng.choice(SUBJECTS)}
            resp = self.alice.post_meta(
                CONT, name, {"X-Object-Sharing": sharing_header(read, write)}
            )
            assert resp.status_code == 202, resp.text
            model.perms[name] = (read - write, write)
        elif action == "unshare":
            assert self.alice.post_meta(CONT, name, {"X-Object-Sharing": ""}).status_code == 202
            model.perms.pop(name, None)
        elif action == "team":
            model.team = {u for u in self.users if rng.random() < 0.5}
            value = ",".join(sorted(model.team))
            resp = self.alice.post(params="update", headers={"X-Account-Group-Team": value})
            assert resp.status_code == 202
        elif action == "retype":  # an overwrite keeps the path's permissions
            self.put(name, directory=name not in model.directories)
        elif action == "delete":
            if name in model.existing:
                assert self.alice.delete(CONT, name).status_code == 204
                model.existing.discard(name)
                model.images.pop(name, None)
                model.directories.discard(name)
                model.perms.pop(name, None)
        else:
            self.put(name, directory=rng.random() < 0.5)
        return f"{action} {name}"

    def check(self, what: str) -> None:
        model = self.model
        for user, api in self.users.items():
            readable = set()
            for name in NAMES:
                level = model.level(user, name) if name in model.existing else None
                resp = api.head(CONT, name, account=ALICE[0])
                self.requests += 1
                if name not in model.existing:
                    expected = {404} if model.level(user, name) else {403}
                    assert resp.status_code in expected, (what, user, name, resp.status_code)
                    continue
                if level is None:
                    assert resp.status_code == 403, (what, user, name, resp.status_code, model)
                    continue
                readable.add(name)
                assert resp.status_code == 200, (what, user, name, resp.status_code, model)
                assert resp.headers["X-Object-Allowed-To"] == level, (what, user, name)
            self.check_write(user, api, what)
            self.check_listing(user, api, readable, what)
            self.check_images(user, what)

    def check_images(self, user: str, what: str) -> None:
        """HEAD follows read access (inherited too); the list only the object's own
        permissions (protocol.md 10.3: a share through a folder does not list an image)."""
        model, images = self.model, self.image_apis[user]
        listed = set(images.ids()) & set(model.images.values())
        self.requests += 1
        expected = set()
        for name, image in model.images.items():
            status = images.head(image).status_code
            self.requests += 1
            assert status == (200 if model.level(user, name) else 403), (what, user, name, status)
            own = model.perms.get(name)
            if own and (own[0] | own[1]) & model.subjects(user):
                expected.add(image)
        assert listed == expected, (what, user, listed, expected)

    def check_write(self, user: str, api: Api, what: str) -> None:
        """One probe write per check: metadata on a random existing object."""
        existing = sorted(self.model.existing)
        if not existing:
            return
        name = self.rng.choice(existing)
        resp = api.post_meta(CONT, name, {"X-Object-Meta-Probe": "1"}, account=ALICE[0])
        self.requests += 1
        allowed = self.model.level(user, name) == "write"
        assert resp.status_code == (202 if allowed else 403), (what, user, name, resp.status_code)

    def check_listing(self, user: str, api: Api, readable: set[str], what: str) -> None:
        resp = api.get(CONT, params={"format": "json"}, account=ALICE[0])
        self.requests += 1
        if not readable:
            assert resp.status_code == 403 or resp.json() == [], (what, user, resp.status_code)
            return
        assert resp.status_code == 200, (what, user, resp.status_code)
        assert {o["name"] for o in resp.json()} == readable, (what, user)


def test_sharing_matches_the_model_after_every_random_change(world: World) -> None:
    seed = int(os.environ.get("PITHOSFS_SEED", time.time()))
    rng = random.Random(seed)
    world.alice.make_container(CONT)
    driver = Driver(world, rng)
    for name in NAMES:
        driver.put(name, directory=name in ("a", "a/b"))
    for name in IMAGES:
        driver.register(name)
    history: list[str] = []
    for _ in range(STEPS):
        history.append(driver.step())
        try:
            driver.check(history[-1])
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, after {history}: {exc}") from None
    print(f"sharing model: seed {seed}, {STEPS} steps, {driver.requests} checked requests")
