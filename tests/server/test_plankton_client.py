"""The project's own ImageClient (pithosfs/client/images.py) against the embedded server:
the client and the server must agree on every Plankton call the filesystem will make."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pithosfs.client.errors import PithosError
from pithosfs.client.images import ImageClient, pithos_location
from tests.conftest import BOB, User
from tests.server.pithos_http import Api


@pytest.fixture
def client(server: object, alice: User) -> Iterator[ImageClient]:
    c = ImageClient.from_identity(server.identity_url, alice.token)  # type: ignore[attr-defined]
    yield c
    c.close()


@pytest.fixture
def bob_client(server: object, bob: User) -> Iterator[ImageClient]:
    c = ImageClient.from_identity(server.identity_url, bob.token)  # type: ignore[attr-defined]
    yield c
    c.close()


def test_image_client_full_cycle(
    api: Api, client: ImageClient, bob_client: ImageClient, cont: str
) -> None:
    api.put_object(cont, "debian_base3.diskdump", b"debian" * 1000)
    meta = api.meta(cont, "debian_base3.diskdump")
    loc = pithos_location(api.account, cont, "debian_base3.diskdump")
    image = client.register(
        "Debian Base Ω 100%",
        loc,
        disk_format="diskdump",
        container_format="bare",
        checksum=meta["X-Object-Hash"],
        properties={"OS": "debian", "USERS": "root user"},
    )
    assert image.id == meta["X-Object-UUID"]
    assert image.name == "Debian Base Ω 100%"
    assert image.size == 6000 and image.checksum == meta["X-Object-Hash"]
    assert image.properties == {"os": "debian", "users": "root user"}
    assert image.is_public is False and image.owner == api.account

    got = client.get(image.id)
    assert (got.name, got.properties, got.size) == (image.name, image.properties, 6000)
    listed = [
        i for i in client.list(detail=True, sort_key="name", sort_dir="asc") if i.id == image.id
    ]
    assert listed and listed[0].properties == image.properties
    assert image.id in [i.id for i in client.list(filters={"name": "Debian Base Ω 100%"})]

    updated = client.update(image.id, name="Renamed", is_public=True, properties={"USERS": ""})
    assert updated.name == "Renamed" and updated.is_public is True
    assert updated.properties == {"os": "debian"}
    assert image.id in [i.id for i in bob_client.list()]

    client.add_member(image.id, BOB[0])
    assert client.list_members(image.id) == [api.account, BOB[0]]
    client.set_members(image.id, [BOB[0]])
    assert client.list_members(image.id) == [BOB[0]]
    client.update(image.id, is_public=False)
    assert image.id in bob_client.shared_images(api.account)
    client.remove_member(image.id, BOB[0])
    assert image.id not in bob_client.shared_images(api.account)

    with pytest.raises(PithosError) as err:
        bob_client.unregister(image.id)
    assert err.value.status == 403
    client.unregister(image.id)
    with pytest.raises(PithosError) as err:
        client.get(image.id)
    assert err.value.status == 404


def test_image_client_registers_an_object_whose_name_needs_quoting(
    api: Api, client: ImageClient, cont: str
) -> None:
    api.put_object(cont, "a b%c.img", b"data")
    image = client.register("quoted", pithos_location(api.account, cont, "a b%c.img"))
    assert image.id == api.meta(cont, "a b%c.img")["X-Object-UUID"]
