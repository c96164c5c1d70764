"""The distribution: a wheel with the whole package and no tests, that installs and runs.

The wheel is built from a copy of the files that make the package (so the build
writes nothing into the working tree) and installed, without dependencies, into
a scratch venv that borrows the running interpreter's site-packages for them.
"""

from __future__ import annotations

import email
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
import tomllib

from pithosfs.cli import _COMMANDS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "SEMANTICS.md", "CHANGELOG.md", "LICENSE")  # installed with docs/*.md
BUILD_TIMEOUT = 300  # seconds; an isolated build fetches setuptools from the index

pytestmark = pytest.mark.slow


def project() -> dict[str, object]:
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "pithosfs", src / "pithosfs", ignore=ignore)
    shutil.copytree(ROOT / "docs", src / "docs")
    for name in ("pyproject.toml", *DOCS):
        shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", str(src), "-w", str(out), "--no-deps", "-q"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if done.returncode != 0 and "No matching distribution found for setuptools" in done.stderr:
        pytest.skip("no package index reachable for the isolated build's setuptools")
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = out.glob("pithosfs-*.whl")
    return built


def test_wheel_has_the_package_and_no_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {name.split("/", 1)[0] for name in names}
    version = project()["version"]
    data = f"pithosfs-{version}.data"
    assert tops == {"pithosfs", f"pithosfs-{version}.dist-info", data}, tops
    docs = {n.removeprefix(f"{data}/data/share/doc/pithosfs/") for n in names if n.startswith(data)}
    expected = {*DOCS, *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))}
    assert docs == expected, docs ^ expected
    assert f"pithosfs-{version}.dist-info/licenses/LICENSE" in names
    source = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "pithosfs").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert source <= names, f"modules missing from the wheel: {sorted(source - names)[:10]}"
    assert "pithosfs/py.typed" in names
    assert not [n for n in names if re.search(r"(^|/)(tests?|conftest)(/|\.py$)", n)]


def test_wheel_metadata_and_entry_points(wheel: Path) -> None:
    meta = project()
    with zipfile.ZipFile(wheel) as z:
        info = f"pithosfs-{meta['version']}.dist-info"
        metadata = email.message_from_bytes(z.read(f"{info}/METADATA"))
        entry_points = z.read(f"{info}/entry_points.txt").decode()
    assert metadata["Version"] == meta["version"]
    assert metadata["License-Expression"] == meta["license"]
    assert "pithosfs = pithosfs.cli:main" in entry_points
    assert "mount.pithosfs = pithosfs.cli:mount_helper" in entry_points


def test_wheel_installs_into_a_clean_venv_and_runs(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    done = subprocess.run([*pip, "install", "--no-deps", "-q", str(wheel)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # Dependencies (mfusepy, click, ...) from this interpreter, after the venv's own packages.
    purelib = Path(
        subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True).strip()
    )  # fmt: skip
    (purelib / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run = {"capture_output": True, "text": True, "timeout": 60, "cwd": tmp_path}
    where = subprocess.run([str(python), "-c", "import pithosfs; print(pithosfs.__file__)"], **run)
    assert Path(where.stdout.strip()).is_relative_to(env_dir), where
    version = subprocess.run([str(env_dir / "bin" / "pithosfs"), "--version"], **run)
    assert version.stdout.strip() == f"pithosfs, version {project()['version']}", version
    helper = subprocess.run([str(env_dir / "bin" / "mount.pithosfs")], **run)
    assert "usage: mount.pithosfs SOURCE MOUNTPOINT" in helper.stderr
    module = subprocess.run([str(python), "-m", "pithosfs", "config", "--help"], **run)
    assert module.returncode == 0 and "Usage: pithosfs config" in module.stdout
    # The help points at documentation that the installation has.
    shown = subprocess.run([str(env_dir / "bin" / "pithosfs"), "mount", "--help"], **run)
    where, files = shown.stdout.split("See also, in ", 1)[1].splitlines()[:2]
    assert Path(where.rstrip(":")) == env_dir / "share" / "doc" / "pithosfs", where
    for name in files.strip().split(", "):
        assert (env_dir / "share" / "doc" / "pithosfs" / name).is_file(), name


def test_python_m_pithosfs_help() -> None:
    done = subprocess.run([sys.executable, "-m", "pithosfs", "--help"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: pithosfs [OPTIONS] COMMAND [ARGS]...")
    listed = re.findall(r"^  ([\w-]+)\s", done.stdout.split("Commands:", 1)[1], re.M)
    assert sorted(listed) == sorted(_COMMANDS)


@pytest.mark.parametrize("command", sorted(_COMMANDS))
def test_every_command_has_man_style_help(command: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pithosfs", command, "--help"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith(f"Usage: pithosfs {command} ")
    description = text.split("\n\n", 2)[1].strip()
    assert len(description) > 20, "no description"
    for section in ("Options:", "Examples:", "Exit status:"):
        assert f"\n{section}" in text or f"\n  {section}" in text, f"{command}: no {section}"
    examples = text.split("Examples:", 1)[1].split("\n\n", 1)[0]
    assert f"pithosfs {command}" in examples


# Dependencies whose internals the package builds on, and where: each needs an upper bound.
INTERNALS_USED = {
    "mfusepy": "pithosfs/fs/fuse/plus_fuse.py",
    "urllib3": "pithosfs/client/transport.py",
    "cheroot": "pithosfs/server/fastio.py",
}


def _requirement_names() -> dict[str, str]:
    """{normalized distribution name: its requirement string} from pyproject's dependencies."""
    reqs = project()["dependencies"]
    assert isinstance(reqs, list)
    return {re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0].lower().replace("_", "-"): r for r in reqs}


def _imported_top_level_names() -> set[str]:
    import ast

    names: set[str] = set()
    for path in (ROOT / "pithosfs").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"pithosfs", "_thread"}


def test_declared_dependencies_are_exactly_the_imported_ones() -> None:
    import importlib.metadata

    by_module = importlib.metadata.packages_distributions()
    imported = set()
    for name in _imported_top_level_names():
        assert name in by_module, f"{name} is imported but no installed distribution provides it"
        imported.update(d.lower().replace("_", "-") for d in by_module[name])
    declared = set(_requirement_names())
    assert imported == declared, (
        f"imported, not declared: {sorted(imported - declared)}; "
        f"declared, never imported: {sorted(declared - imported)}"
    )


def test_dependencies_whose_internals_are_used_are_bounded() -> None:
    reqs = _requirement_names()
    for name, where in INTERNALS_USED.items():
        assert name in (ROOT / where).read_text(), f"{where} no longer uses {name}"
        assert "<" in reqs[name], f"{name} needs an upper bound ({where} uses its internals)"


def test_the_license_file_is_the_one_declared() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text
    assert project()["license"] == "GPL-3.0-or-later"
    assert project()["license-files"] == ["LICENSE"]
