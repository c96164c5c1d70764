"""Cases a black-box test could not reach (see .coord notes): shared writes, dot names, serve users."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from tests.conftest import User

OCTET = "application/octet-stream"


def _h(user: User, **extra: str) -> dict[str, str]:
    return {"X-Auth-Token": user.token, **extra}


def test_partial_writes_need_a_write_share(alice: User, bob: User, unique_name: str) -> None:
    c = f"{alice.storage_url}/{unique_name}"
    requests.put(c, headers=_h(alice))
    for name, share in (("r", f"read={bob.uuid}"), ("w", f"write={bob.uuid}")):
        requests.put(f"{c}/{name}", data=b"orig", headers=_h(alice, **{
            "Content-Type": OCTET, "X-Object-Sharing": share}))  # fmt: skip
    append = _h(bob, **{"Content-Type": OCTET, "Content-Range": "bytes */*"})
    assert requests.post(f"{c}/r?update", data=b"!", headers=append).status_code == 403
    assert requests.post(f"{c}/w?update", data=b"!", headers=append).status_code == 204
    assert requests.get(f"{c}/w", headers=_h(bob)).content == b"orig!"
    assert requests.get(f"{c}/r", headers=_h(bob)).content == b"orig"
    assert requests.delete(f"{c}/w", headers=_h(bob)).status_code == 403


def test_dot_dot_names_are_plain_names(alice: User, unique_name: str) -> None:
    c = f"{alice.storage_url}/{unique_name}"
    requests.put(c, headers=_h(alice))
    # percent-encoded so no HTTP library resolves the dot segments first
    url = f"{c}/%2E%2E/%2E%2E/%2E%2E/tmp/escape-{unique_name}"
    assert (
        requests.put(url, data=b"in", headers=_h(alice, **{"Content-Type": OCTET})).status_code
        == 201
    )
    assert requests.get(url, headers=_h(alice)).content == b"in"
    assert not Path(f"/tmp/escape-{unique_name}").exists()
    listing = requests.get(c, headers=_h(alice)).text.splitlines()
    assert listing == [f"../../../tmp/escape-{unique_name}"]


def test_serve_creates_one_user_and_keeps_it(tmp_path: Path) -> None:
    def banner() -> list[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pithosfs", "serve", "--data-dir", str(tmp_path), "--port", "0"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        proc.terminate()
        proc.wait(timeout=20)
        return [line for line in lines if line.startswith("User ")]

    first, second = banner(), banner()
    assert len(first) == 1 and first[0].split()[1:4] == second[0].split()[1:4]
