"""ImageClient against the embedded server's Plankton (protocol.md 10)."""

from __future__ import annotations

import pytest

from pithosfs.client import PithosClient
from pithosfs.client.errors import BadRequest, NotFound
from pithosfs.client.images import ImageClient, pithos_location


@pytest.fixture
def setup(server, alice, bob, unique_name):
    store = PithosClient.from_storage_url(alice.storage_url, alice.token)
    store.create_container(unique_name)
    info = store.put_object(unique_name, "disk.img", b"\x01" * 5000)
    images = ImageClient.from_identity(server.identity_url, alice.token)
    location = pithos_location(alice.uuid, unique_name, "disk.img")
    return store, images, info, location, bob


def test_register_get_list_update_unregister(setup):
    store, images, info, location, _ = setup
    img = images.register(
        "Debian 12", location, disk_format="diskdump", properties={"OSFAMILY": "linux"}
    )
    assert img.id == info.uuid  # image id == object UUID
    assert img.name == "Debian 12" and img.size == 5000
    assert img.checksum == info.hash
    assert img.properties.get("osfamily") == "linux"
    assert images.get(img.id).name == "Debian 12"
    listed = {i.id: i for i in images.list(detail=True)}
    assert img.id in listed and listed[img.id].location == location
    updated = images.update(img.id, name="Debian 12.1", properties={"osfamily": "", "ver": "12"})
    assert updated.name == "Debian 12.1"
    assert updated.properties == {"ver": "12"}
    images.unregister(img.id)
    with pytest.raises(NotFound):
        images.get(img.id)
    assert store.head_object(location.split("/")[3], "disk.img").uuid == info.uuid  # file stays


def test_members_and_public_flag(setup):
    _, images, _, location, bob = setup
    img = images.register("shared", location)
    images.add_member(img.id, bob.uuid)
    # Registration set the read list to the owner (protocol.md 10.6 step 11); members = read list.
    assert bob.uuid in images.list_members(img.id)
    images.set_members(img.id, [])
    assert images.list_members(img.id) == []
    assert images.update(img.id, is_public=True).is_public


def test_register_of_a_missing_file_fails_clearly(setup):
    _, images, _, location, _ = setup
    with pytest.raises((NotFound, BadRequest)):
        images.register("ghost", location + "-missing")
