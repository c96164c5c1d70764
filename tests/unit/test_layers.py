"""The dependency rule of docs/architecture.md ("The dependency rule"), checked on the source.

Every `import` and `from ... import` under pithosfs/ counts, at module level and
inside functions alike (a function-level import is still a dependency, only a
later one). Imports under `if TYPE_CHECKING:` never run and are exempt from the
direction rule (a layer may name the `Filesystem` it serves in an annotation),
but not from the server's rule: the server does not even name client types.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# From the top down; a module may import its own layer and any layer below it.
RANKS = {
    "entry": 7,  # cli.py, __main__.py, config_cmd.py, help_text.py
    "mount": 6,  # the mount process: mount/, reasons.py
    "fs.fuse": 5,  # the FUSE boundary
    "fs.core": 4,  # fs/ top level: the Filesystem, open files, attributes
    # The parts the core assembles, side by side: one may import another only
    # along SIDEWAYS below.
    "fs.writeback": 3,
    "fs.read": 3,
    "fs.virtual": 3,
    "images": 3,
    "cache": 3,
    "fs.base": 2,  # fs/ top level: FS_BASE, the vocabulary every part of fs shares
    "client": 1,
    "server": 1,  # a stack of its own beside client: see SERVER_IMPORTERS
    "base": 0,  # BASE: import nothing of pithosfs but each other
}

# Modules of fs/ top level that the fs subpackages and images build on; they
# import only each other, client and base, so they sit below the subpackages
# (a cycle between fs core and its subpackages is thereby not one between modules).
FS_BASE = {"errors", "nodes", "paths", "callers", "limits", "options", "aligned_buffers"}

BASE = {"protocol", "memory_trim", "processes", "embedded_leases", "token_mask"}

# Imports between parts of the same rank, each with its reason.
SIDEWAYS = {
    ("fs.virtual", "images"): "`.register` and `<object>.meta` run kamaki's image registration",
    ("fs.virtual", "fs.read"): "`.versions/` and snapshots read old versions with ObjectReader",
    ("fs.virtual", "fs.writeback"): "`.shared/` keeps each shared account's upload journal",
    ("fs.read", "fs.writeback"): "reads and uploads share KnownBlocks (blocks the server holds)",
    ("fs.read", "cache"): "the reader keeps blocks in the block cache",
    ("fs.writeback", "cache"): "staging checks alignment as the block files do (is_page_aligned)",
}

# The layers that may import the server: `pithosfs serve` is a command, and a mount
# with no credentials starts (and its last unmount stops) the embedded server.
SERVER_IMPORTERS = {"entry", "mount", "server"}

# Imports that point up, each with its reason (importer, imported module).
UPWARD = {
    ("pithosfs.fs.virtual.shared", "pithosfs.fs.core"): (
        "`.shared/ACCOUNT` is a whole nested Filesystem over the other account, built "
        "inside a function (the core imports the layers)"
    ),
    ("pithosfs.fs.virtual.shared", "pithosfs.fs.meta_store"): (
        "the nested Filesystem's store completes listings as the mount's own does"
    ),
}

# Module cycles (runtime imports only), each with its reason.
CYCLES = {
    frozenset({"pithosfs.fs.fuse.mount", "pithosfs.fs.fuse.operations"}): (
        "operations.py gets mfusepy through mount.load_binding (libfuse 3 must be chosen "
        "before the first import); mount.run imports the callbacks inside the function"
    ),
    frozenset({"pithosfs.mount.command", "pithosfs.mount.token_renewal"}): (
        "`renew-token` fails through command.fail like the other commands; the mount "
        "(command.py) starts the renewer inside a function"
    ),
}

# Third-party packages and the layers that alone may import them.
THIRD_PARTY = {
    "click": {"entry", "mount", "server"},
    "mfusepy": {"fs.fuse"},
    "requests": {"client"},
    "urllib3": {"client"},
    "werkzeug": {"server"},
    "cheroot": {"server"},
}

FS_TOP_LEVEL_MAX = 16  # .py files directly in pithosfs/fs/, __init__.py included


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # a pithosfs module, or a third-party top-level name
    line: int
    type_checking: bool


def module_names(root: Path) -> dict[str, Path]:
    names = {}
    for path in (root / "pithosfs").rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(sub) for stmt in node.body for sub in ast.walk(stmt))
    return inside


def imports(root: Path) -> list[Import]:
    """Every import under root/pithosfs, resolved to the module it loads."""
    modules = module_names(root)

    def resolve(name: str) -> str:
        while name not in modules and "." in name:
            name = name.rpartition(".")[0]
        return name

    found = []
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        guarded = _type_checking_nodes(tree)
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([base] if base else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]  # fmt: skip
            else:
                continue
            for target in targets:
                name = resolve(target) if target.split(".")[0] == "pithosfs" else target
                name = name if name.startswith("pithosfs") else name.split(".")[0]
                if name != importer:
                    found.append(Import(importer, name, node.lineno, id(node) in guarded))
    return found


def layer_of(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts or parts[0] in ("cli", "__main__", "config_cmd", "help_text"):
        return "entry"
    if parts[0] in BASE:
        return "base"
    if parts[0] in ("mount", "reasons"):
        return "mount"
    if parts[0] == "fs":
        if len(parts) > 1 and parts[1] in ("fuse", "writeback", "read", "virtual"):
            return f"fs.{parts[1]}"
        return "fs.base" if len(parts) == 2 and parts[1] in FS_BASE else "fs.core"
    if parts[0] in ("images", "cache", "client", "server"):
        return parts[0]
    raise AssertionError(f"{module} belongs to no layer: add it to test_layers.py")


def violations(found: list[Import]) -> list[str]:
    """Every import that breaks the rule, as `importer:line -> imported (why)`."""
    bad = []
    for imp in found:
        where = f"{imp.importer}:{imp.line} -> {imp.imported}"
        if not imp.imported.startswith("pithosfs"):
            allowed = THIRD_PARTY.get(imp.imported)
            if allowed is not None and layer_of(imp.importer) not in allowed:
                bad.append(f"{where} (only {sorted(allowed)} import it)")
            continue
        src, dst = layer_of(imp.importer), layer_of(imp.imported)
        if src == "server" and dst not in ("server", "base"):
            bad.append(f"{where} (the server imports protocol and base modules only)")
        elif dst == "server" and src not in SERVER_IMPORTERS:
            bad.append(f"{where} (only {sorted(SERVER_IMPORTERS)} import the server)")
        elif src == "cache" and dst not in ("cache", "client", "base"):
            bad.append(f"{where} (the caches know nothing of the filesystem)")
        elif imp.type_checking or src == dst or (imp.importer, imp.imported) in UPWARD:
            continue
        elif RANKS[dst] > RANKS[src]:
            bad.append(f"{where} (points up: {src} -> {dst})")
        elif RANKS[dst] == RANKS[src] and (src, dst) not in SIDEWAYS and dst != "server":
            bad.append(f"{where} (sideways {src} -> {dst}, not in SIDEWAYS)")
    return bad


def cycles(found: list[Import]) -> list[frozenset[str]]:
    """Strongly connected groups of modules, by runtime imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in found:
        if imp.imported.startswith("pithosfs") and not imp.type_checking:
            graph[imp.importer].add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the graph is a few hundred nodes
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while not group or node not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(frozenset(group))

    for node in list(graph):
        if node not in index:
            visit(node)
    return groups


@pytest.fixture(scope="module")
def found() -> list[Import]:
    return imports(ROOT)


def test_imports_point_down_the_layers(found: list[Import]) -> None:
    assert violations(found) == []


def test_the_only_module_cycles_are_the_listed_ones(found: list[Import]) -> None:
    assert set(cycles(found)) == set(CYCLES)


def test_every_listed_exception_is_still_an_import(found: list[Import]) -> None:
    """A stale exception would let the next real one through unnoticed."""
    pairs = {(imp.importer, imp.imported) for imp in found}
    assert set(UPWARD) <= pairs
    layer_pairs = {(layer_of(a), layer_of(b)) for a, b in pairs if b.startswith("pithosfs")}
    assert set(SIDEWAYS) <= layer_pairs
    assert not any((dst, src) in SIDEWAYS for src, dst in SIDEWAYS)


def test_function_level_imports_count(found: list[Import]) -> None:
    """Imports inside functions are found too (mount.run imports the callbacks there)."""
    assert any(
        imp.importer == "pithosfs.fs.fuse.mount" and imp.imported == "pithosfs.fs.fuse.operations"
        for imp in found
    )


def test_fs_top_level_stays_small() -> None:
    modules = sorted(p.name for p in (ROOT / "pithosfs" / "fs").glob("*.py"))
    assert len(modules) <= FS_TOP_LEVEL_MAX, modules


BAD_IMPORTS = {
    "pithosfs/server/bad.py": "def f():\n    from pithosfs.client import errors\n",
    "pithosfs/fs/writeback/bad.py": "import click\n",
    "pithosfs/fs/paths.py": "from pithosfs.fs.core import Filesystem\n",
    "pithosfs/cache/bad.py": "from pithosfs.fs import errors\n",
    "pithosfs/fs/core.py": "from pithosfs.server import app\n",
    "pithosfs/images/bad.py": "from pithosfs.fs.writeback import upload\n",
}


@pytest.mark.parametrize("path", sorted(BAD_IMPORTS))
def test_the_rule_catches_a_bad_import(tmp_path: Path, path: str) -> None:
    """The checker run on a small tree holding one bad import reports it."""
    for name in ("pithosfs/__init__.py", "pithosfs/fs/__init__.py", "pithosfs/fs/core.py",
                 "pithosfs/fs/errors.py", "pithosfs/fs/paths.py",
                 "pithosfs/fs/writeback/__init__.py", "pithosfs/fs/writeback/upload.py",
                 "pithosfs/client/__init__.py", "pithosfs/client/errors.py",
                 "pithosfs/server/__init__.py", "pithosfs/server/app.py",
                 "pithosfs/cache/__init__.py", "pithosfs/images/__init__.py"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / path).write_text(BAD_IMPORTS[path])
    assert violations(imports(tmp_path)) != []


def test_a_cycle_is_found(tmp_path: Path) -> None:
    (tmp_path / "pithosfs" / "mount").mkdir(parents=True)
    (tmp_path / "pithosfs" / "mount" / "a.py").write_text("def f():\n    import pithosfs.mount.b\n")
    (tmp_path / "pithosfs" / "mount" / "b.py").write_text("from pithosfs.mount import a\n")
    assert cycles(imports(tmp_path)) == [frozenset({"pithosfs.mount.a", "pithosfs.mount.b"})]
