import pytest

from pithosfs.fs import paths
from pithosfs.fs.errors import NameTooLong, NoEntry, ReadOnly
from pithosfs.fs.paths import Kind, Location


def test_root_container_entry():
    assert paths.parse("/") == paths.ROOT
    assert paths.parse("/pithos") == Location(Kind.CONTAINER, "pithos")
    loc = paths.parse("/pithos/a/b c/ü.txt")
    assert loc == Location(Kind.ENTRY, "pithos", "a/b c/ü.txt")
    assert loc.name == "ü.txt"
    assert loc.path == "/pithos/a/b c/ü.txt"


def test_parent_child_prefix():
    loc = paths.parse("/c/a/b")
    assert loc.parent == Location(Kind.ENTRY, "c", "a")
    assert loc.parent.parent == Location(Kind.CONTAINER, "c")
    assert loc.parent.parent.parent == paths.ROOT
    assert paths.ROOT.parent == paths.ROOT
    assert Location(Kind.CONTAINER, "c").prefix == ""
    assert loc.prefix == "a/b/"
    assert paths.ROOT.child("c") == Location(Kind.CONTAINER, "c")
    assert Location(Kind.CONTAINER, "c").child("x") == Location(Kind.ENTRY, "c", "x")
    assert loc.child("x").key == "a/b/x"


def test_is_within():
    a = paths.parse("/c/a")
    assert paths.parse("/c/a/b").is_within(a)
    assert a.is_within(a)
    assert not paths.parse("/c/ab").is_within(a)
    assert a.is_within(paths.ROOT)


@pytest.mark.parametrize("name", [".versions", ".register", ".images", ".shared"])
def test_reserved_names_missing_and_read_only(name):
    with pytest.raises(NoEntry):
        paths.parse(f"/c/{name}")
    with pytest.raises(ReadOnly):
        paths.parse_for_write(f"/c/d/{name}/x")
    assert not paths.is_listable_name(name)


def test_listable_names():
    assert paths.is_listable_name("a b")
    assert not paths.is_listable_name("")
    assert not paths.is_listable_name(".")
    assert not paths.is_listable_name("..")


def test_name_limits_checked_before_sending():
    paths.parse("/" + "c" * 255)
    with pytest.raises(NameTooLong):
        paths.parse("/" + "c" * 256)  # the store takes 256, NAME_MAX does not
    paths.parse("/c/" + "/".join(["x" * 200] * 5) + "/" + "y" * 19)  # 1023 chars
    with pytest.raises(NameTooLong):
        paths.parse("/c/" + "/".join(["x" * 200] * 5) + "/" + "y" * 30)


def test_names_over_255_bytes_are_too_long_for_create_and_lookup():
    paths.parse("/c/" + "n" * 255)
    paths.parse("/c/d/" + "\u00e9" * 127)  # 254 bytes in UTF-8
    for long in ("n" * 256, "\u00e9" * 128, "\u20ac" * 86):  # 256, 256, 258 bytes
        with pytest.raises(NameTooLong):
            paths.parse("/c/" + long)
        with pytest.raises(NameTooLong):
            paths.parse_for_write(f"/c/{long}/x")
    assert paths.is_listable_name("n" * 255) and not paths.is_listable_name("\u00e9" * 128)


def test_non_utf8_names_are_invalid():
    from pithosfs.fs.errors import InvalidArgument

    bad = b"/c/caf\xe9".decode("utf-8", "surrogateescape")  # Latin-1 bytes from a shell
    with pytest.raises(InvalidArgument):
        paths.parse(bad)
