"""Random image API requests (fixed seed): a client mistake is never a 5xx, and the
object under the image keeps its data and its id whatever the image calls did."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from tests.conftest import ALICE, BOB
from tests.server.pithos_http import Api
from tests.server.plankton_api import ImageApi, location

VALUES = [
    "",
    "%",
    "%zz",
    "%FF",
    "true",
    "TRUE",
    "-1",
    "1e3",
    "99999999999999999999999",
    "x" * 300,
    "pithos://",
    "diskdump",
    "bare",
    "*",
    "a,b",
    "%C3%A9",
]
KEYS = [
    "Name",
    "Location",
    "Disk-Format",
    "Container_Format",
    "Size",
    "Checksum",
    "Is-Public",
    "Owner",
    "Status",
    "Id",
    "Store",
    "Property-",
    "Property-a",
    "Property-%C3%A9",
    "Property-" + "k" * 200,
    "Created-At",
    "Properties",
    "Description",
]
BODIES = [
    None,
    b"",
    b"{",
    b"[1]",
    json.dumps({"memberships": [{"member_id": BOB[0]}]}).encode(),
    json.dumps({"memberships": "x"}).encode(),
]


def test_random_requests_never_get_a_server_error(make_server: Callable[..., object]) -> None:
    srv = make_server()
    api = Api(srv.storage_url(ALICE[0]), *ALICE)  # type: ignore[attr-defined]
    img = ImageApi(srv.image_url, ALICE[1])  # type: ignore[attr-defined]
    bob_img = ImageApi(srv.image_url, BOB[1])  # type: ignore[attr-defined]
    api.make_container("c")
    api.put_object("c", "o", b"data")
    loc = location(api.account, "c", "o")
    image_id = img.register("n", loc)["id"]
    paths = [
        "/images/",
        "/images",
        "/images/detail",
        f"/images/{image_id}",
        f"/images/{image_id}/",
        f"/images/{image_id}/members",
        f"/images/{image_id}/members/{BOB[0]}",
        f"/images/{image_id}/members/%20",
        "/shared-images/x",
        f"/shared-images/{ALICE[0]}",
        "/images/" + "a" * 3000,
        "/images/..",
    ]
    values = [*VALUES, loc, loc + "/"]
    rnd = random.Random(20261128)
    for _ in range(600):
        client = img if rnd.random() < 0.8 else bob_img
        headers = {
            "X-Image-Meta-" + rnd.choice(KEYS): rnd.choice(values) for _ in range(rnd.randint(0, 5))
        }
        params = None
        if rnd.random() < 0.3:
            key = rnd.choice(["sort_key", "sort_dir", "size_min", "size_max", "name", "status"])
            params = {key: rnd.choice(values)}
        method = rnd.choice(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"])
        path = rnd.choice(paths)
        resp = client.request(method, path, headers, params, rnd.choice(BODIES))
        assert resp.status_code < 500 or resp.status_code == 501, (
            method,
            path,
            headers,
            params,
            resp.status_code,
            resp.text[:300],
        )
    # Whatever happened, the object and its data are intact.
    assert api.read("c", "o") == b"data"
    assert api.meta("c", "o")["X-Object-UUID"] == image_id
