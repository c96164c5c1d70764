"""The filesystem uses a store only through the contract (pithosfs/client/types.py).

What is checked, in every module of pithosfs/ outside pithosfs/client/:

1. No `getattr(X, ...)` or `hasattr(X, ...)` where X is a store: an expression
   whose last name is one of STORE_NAMES (`store`, `self.fs.store`, `self._store`,
   `self.inner`, `store_obj`), or a local name assigned from one. A store
   decorator may forward in its `__getattr__` (meta_store.py, swift_history.py):
   calls inside a method of that name are not probes.
2. No `getattr`/`hasattr` with a literal attribute name that is a member of
   ObjectStore, whatever the object (a probe under another name).
3. No `.transport` attribute: the HTTP transport is the client's own business.

And both stores, the in-memory FakeStore and the HTTP PithosClient, provide
every member ObjectStore declares, methods with the declared parameters.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

import pithosfs
from pithosfs.client.fake import FakeStore
from pithosfs.client.pithos import PithosClient
from pithosfs.client.types import ObjectStore

PACKAGE = Path(pithosfs.__file__).parent
CLIENT = PACKAGE / "client"
STORE_NAMES = frozenset({"store", "_store", "inner", "store_obj"})
PROBES = frozenset({"getattr", "hasattr"})
FORWARDING = "__getattr__"


def contract_members() -> dict[str, object]:
    """Name -> what ObjectStore declares (a function, a property, or None for an attribute)."""
    found: dict[str, object] = {}
    for name, value in vars(ObjectStore).items():
        if name.startswith("_"):
            continue
        if inspect.isfunction(value) or isinstance(value, property):
            found[name] = value
    for name in ObjectStore.__annotations__:
        found.setdefault(name, None)
    return found


MEMBERS = contract_members()


def last_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class StoreUses(ast.NodeVisitor):
    """Collects (line, what) for each use of a store outside the contract."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []
        self._functions: list[str] = []
        self._aliases: list[set[str]] = [set()]

    def _is_store(self, node: ast.expr) -> bool:
        name = last_name(node)
        if name in STORE_NAMES:
            return True
        return isinstance(node, ast.Name) and node.id in self._aliases[-1]

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._functions.append(node.name)
        self._aliases.append(set(self._aliases[-1]))
        self.generic_visit(node)
        self._aliases.pop()
        self._functions.pop()

    visit_FunctionDef = _function  # noqa: N815 - ast.NodeVisitor's naming
    visit_AsyncFunctionDef = _function  # noqa: N815

    def visit_Assign(self, node: ast.Assign) -> None:
        if self._is_store(node.value):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self._aliases[-1].add(target.id)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in PROBES and node.args:
            forwarding = bool(self._functions) and self._functions[-1] == FORWARDING
            literal = node.args[1] if len(node.args) > 1 else None
            if forwarding:
                pass
            elif self._is_store(node.args[0]):
                self.found.append((node.lineno, f"{func.id}() on a store"))
            elif isinstance(literal, ast.Constant) and literal.value in MEMBERS:
                self.found.append((node.lineno, f"{func.id}() probing {literal.value!r}"))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr == "transport":
            self.found.append((node.lineno, ".transport"))
        self.generic_visit(node)


def store_uses(source: str) -> list[tuple[int, str]]:
    visitor = StoreUses()
    visitor.visit(ast.parse(source))
    return visitor.found


def modules_outside_client() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if CLIENT not in path.parents:
            yield path


def test_no_module_outside_the_client_probes_a_store_or_its_transport() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
        for path in modules_outside_client()
        for line, what in store_uses(path.read_text())
    ]
    assert found == []


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ('getattr(store, "missing_blocks", None)', "getattr() on a store"),
        ('hasattr(self.fs.store, "renew_token")', "hasattr() on a store"),
        ('s = self.fs.store\ngetattr(s, "whatever", None)', "getattr() on a store"),
        ('getattr(client, "supports_pithos", None)', "getattr() probing 'supports_pithos'"),
        ("store.transport.request('HEAD')", ".transport"),
        ("client.transport.token", ".transport"),
    ],
)
def test_each_kind_of_probe_is_found(source: str, what: str) -> None:
    assert [w for _, w in store_uses(source)] == [what]


def test_what_is_not_a_probe() -> None:
    forwarding = (
        "class Decorator:\n"
        "    def __getattr__(self, name):\n"
        "        return getattr(self.inner, name)\n"
    )
    others = 'getattr(staged, "size", 0)\nfrom pithosfs.client.transport import RetryPolicy\n'
    assert store_uses(forwarding) == []
    assert store_uses(others) == []


def test_the_contract_declares_what_the_filesystem_asks() -> None:
    for name in (
        "supports_pithos", "has_extension", "object_meta_keys", "storage_url", "account",
        "stats", "streams_uploads", "upload_stream", "missing_blocks", "can_reauthenticate",
        "renew_token", "auth_token", "service_url", "image_client", "list_sharing_accounts",
        "cluster_info", "container_headers", "object_headers", "list_object_versions",
        "put_segment", "put_manifest", "manifest_segments", "delete_segment", "for_account",
        "read_range_query", "read_range_query_into",
    ):  # fmt: skip
        assert name in MEMBERS, name


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


@pytest.fixture(params=["FakeStore", "PithosClient"])
def store(request: pytest.FixtureRequest) -> Iterator[object]:
    if request.param == "FakeStore":
        yield FakeStore()
        return
    client = PithosClient.from_storage_url("http://h.invalid/object-store/v1/uuid", "token")
    yield client
    client.close()


def test_both_stores_provide_every_member_of_the_contract(store: object) -> None:
    missing, unlike = [], []
    for name, declared in MEMBERS.items():
        if not hasattr(store, name):
            missing.append(name)
            continue
        if inspect.isfunction(declared):
            given = getattr(store, name)
            if not callable(given) or parameters(given) != parameters(declared)[1:]:
                unlike.append(name)
        elif isinstance(declared, property) and callable(getattr(type(store), name, None)):
            unlike.append(name)  # declared a value, given a method
    assert (missing, unlike) == ([], [])


def test_the_in_memory_store_says_what_it_lacks() -> None:
    store = FakeStore()
    assert store.supports_pithos("c") and not store.streams_uploads
    assert store.object_meta_keys("c") is None
    assert store.list_sharing_accounts() == []
    assert store.storage_url == ""
    from pithosfs.client.errors import Unsupported

    for call in (
        lambda: store.upload_stream("c", b""),
        lambda: store.cluster_info(),
        lambda: store.container_headers("c"),
        lambda: store.manifest_segments("c", "o"),
        lambda: store.image_client(),
        lambda: store.renew_token("t"),
        lambda: store.for_account("other"),
        lambda: store.read_range_query("c", "o", 0, 1, {"version-id": "1.00000"}),
    ):
        with pytest.raises(Unsupported):
            call()
