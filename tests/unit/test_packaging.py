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
BUILD_TIMEOUT = 300  # seconds; an isolated build fetches setuptools from the index

pytestmark = pytest.mark.slow


def project() -> dict[str, object]:
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "pithosfs", src / "pithosfs", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
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
    assert tops == {"pithosfs", f"pithosfs-{version}.dist-info"}, tops
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
    assert "mount.pithosfs = pithosfs.fs.fstab:main" in entry_points


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


def test_python_m_pithosfs_help() -> None:
    done = subprocess.run([sys.executable, "-m", "pithosfs", "--help"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: pithosfs [OPTIONS] COMMAND [ARGS]...")
    listed = re.findall(r"^  (\w+)\s", done.stdout.split("Commands:", 1)[1], re.M)
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
