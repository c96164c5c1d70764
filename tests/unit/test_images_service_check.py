"""Without an image service, `.meta` saves and `.register` share one check, logged once."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from pithosfs.client.types import ObjectInfo
from pithosfs.fs.errors import NotSupported
from pithosfs.fs.virtual.metafile import MetafileLayer
from pithosfs.fs.virtual.register import ServiceCheck


def plain_swift_fs(asked: list[str]) -> SimpleNamespace:
    def supports_pithos(container: str) -> bool:
        asked.append(container)
        return container == "pithos"

    def no_read(*args: object, **kw: object) -> bytes:
        raise AssertionError("a metafile in a plain Swift container is not read to register")

    def service_url(service: str) -> str:
        return f"http://h.invalid/{service}"  # a Pithos+ container has its image service

    return SimpleNamespace(
        store=SimpleNamespace(
            supports_pithos=supports_pithos, read_range=no_read, service_url=service_url
        )
    )


def info(name: str) -> ObjectInfo:
    return ObjectInfo(
        name=name, size=10, content_type="application/json", hash="", uuid="u", version=1,
        version_timestamp=0.0, last_modified=0.0,
    )  # fmt: skip


def test_metafiles_in_a_plain_swift_container_stay_ordinary_files(caplog):
    asked: list[str] = []
    layer = MetafileLayer(plain_swift_fs(asked))
    with caplog.at_level(logging.WARNING):
        layer.after_commit("/swift/a.img.meta", info("a.img.meta"))
        layer.after_commit("/swift/b.img.meta", info("b.img.meta"))
    assert asked == ["swift"]  # asked once per container
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "/swift/a.img.meta saved as an ordinary file, not registered: "
        "container 'swift' is plain Swift: no image service (Plankton) there"
    ]


def test_refusal_names_the_feature_once_per_container(caplog):
    asked: list[str] = []
    check = ServiceCheck(plain_swift_fs(asked), "image registration (.register)")
    with caplog.at_level(logging.WARNING):
        for path in ("swift/.register", "swift/d/.register"):
            with pytest.raises(NotSupported):
                check.refuse_if_missing(path, "swift")
        check.refuse_if_missing("pithos/.register", "pithos")  # a Pithos+ container passes
    assert asked == ["swift", "pithos"]
    assert [r.getMessage() for r in caplog.records] == [
        "image registration (.register) unavailable: container 'swift' is plain Swift: "
        "no image service (Plankton) there (swift/.register)"
    ]
