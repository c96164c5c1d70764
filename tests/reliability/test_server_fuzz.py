"""Random and mutated requests against the real embedded server: no 5xx, no crash, and
bob's data untouched by anything sent with alice's token. PITHOSFS_FUZZ_SECONDS (default 20)."""

from __future__ import annotations

import http.client
import json
import os
import random
import time
from urllib.parse import quote, urlsplit

from pithosfs.client.pithos import PithosClient
from tests.conftest import ALICE, BOB

SECONDS = float(os.environ.get("PITHOSFS_FUZZ_SECONDS", "20"))
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "COPY", "MOVE", "OPTIONS", "PATCH", "FOO"]
ODD = ["", "/", "//", "..", "%2e%2e", "%00", "%ff", "é", "a b", "?", "#", "%", "x" * 1100, "\t"]
HEADERS = [
    "Range", "Content-Range", "Content-Length", "X-Object-Manifest", "X-Object-Sharing",
    "X-Object-Public", "Destination", "X-Copy-From", "If-Match", "X-Object-Meta-K",
    "X-Container-Policy-Quota", "X-Account-Group-G", "Content-Type", "Transfer-Encoding",
]  # fmt: skip
VALUES = [
    "bytes=0-", "bytes=-1", "bytes=5-2", "bytes=0-1,3-4", "bytes */*", "bytes 0-9/5", "-1",
    "99999999999999999999", "", "\u00e9", "read=" + BOB[0], "true", "/x/../../etc/passwd",
    "chunked", "application/json", "a" * 9000, "../",
]  # fmt: skip


def random_path(rng: random.Random, account: str) -> str:
    parts = [rng.choice(["fuzz", "c", rng.choice(ODD)]) for _ in range(rng.randint(0, 3))]
    base = rng.choice([f"/object-store/v1/{account}", f"/object-store/v1/{BOB[0]}", "/identity/v2.0",
                       "/image/v1/images", "/object-store/v1", ""])  # fmt: skip
    query = rng.choice(["", "?format=json", "?update", "?hashmap", "?version=-1", "?limit=-5",
                        "?marker=%ff", "?until=abc", "?format=xml&prefix=" + rng.choice(ODD)])  # fmt: skip
    return base + "/" + "/".join(parts) + query


def random_body(rng: random.Random) -> bytes:
    kind = rng.randint(0, 4)
    if kind == 0:
        return b""
    if kind == 1:
        return os.urandom(rng.randint(1, 5000))
    if kind == 2:
        return json.dumps(
            {"hashes": [rng.choice(["", "zz", "0" * 64])], "bytes": rng.choice([-1, 10**20, "x"])}
        ).encode()
    if kind == 3:
        return b'{"hashes": [' * rng.randint(1, 50)
    return json.dumps([{"name": rng.choice(ODD)}] * rng.randint(0, 3)).encode()


def test_fuzz_no_5xx_and_no_cross_account_effect(server: object) -> None:
    base = urlsplit(server.base_url)  # type: ignore[attr-defined]
    bob = PithosClient.from_storage_url(server.storage_url(BOB[0]), BOB[1])  # type: ignore[attr-defined]
    bob.create_container("fuzz-bob")
    bob_info = bob.put_object("fuzz-bob", "keep", b"bob's data")
    alice = PithosClient.from_storage_url(server.storage_url(ALICE[0]), ALICE[1])  # type: ignore[attr-defined]
    alice.create_container("fuzz")
    rng = random.Random(int(os.environ.get("PITHOSFS_SEED", time.time())))
    count = 0
    errors: list[str] = []
    image_501 = 0
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        method = rng.choice(METHODS)
        path = random_path(rng, ALICE[0])
        headers = {rng.choice(HEADERS): rng.choice(VALUES) for _ in range(rng.randint(0, 3))}
        headers["X-Auth-Token"] = rng.choice([ALICE[1], ALICE[1], "", "bad", BOB[1] + "x"])
        headers.pop("Transfer-Encoding", None)  # http.client frames the body itself
        headers.pop("Content-Length", None)
        body = random_body(rng) if method in ("PUT", "POST", "PATCH", "COPY") else None
        conn = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
        try:
            conn.putrequest(method, quote(path, safe="/?=&%"),
                            skip_accept_encoding=True)  # fmt: skip
            for k, v in headers.items():
                conn.putheader(k, v.encode("utf-8"))
            conn.putheader("Content-Length", str(len(body or b"")))
            try:
                conn.endheaders(body)
            except (BrokenPipeError, ConnectionResetError):
                # The server may answer a request it refuses and close before the
                # body is all sent (seen once in 23,577 under CI load); its answer
                # is still to be read and judged, and no answer stays an error.
                pass
            status = conn.getresponse().status
        except (http.client.HTTPException, ConnectionError) as exc:
            errors.append(f"{method} {path!r} {headers}: {exc!r}")
            status = 0
        finally:
            conn.close()
        count += 1
        if status == 501 and method in ("GET", "HEAD") and path.startswith("/image/v1/images/"):
            image_501 += 1  # deliberate: GET /image/v1/images/<id> (image download) is not offered
        elif status >= 500:
            errors.append(f"{method} {path[:200]!r} {headers}: {status}")
    after = bob.head_object("fuzz-bob", "keep")
    print(f"\nfuzz: {count} requests, {len(errors)} 5xx/transport errors, {image_501} image 501s")
    for line in errors[:40]:
        print("  ", line[:300])
    assert errors == [], errors[:10]
    assert (after.hash, after.version) == (bob_info.hash, bob_info.version)
    assert bob.read_range("fuzz-bob", "keep", 0, after.size) == b"bob's data"
    assert count > 100
