"""README.md's walkthrough, run as written, after `bash scripts/mount.sh` with a fresh HOME.

The block is taken from README.md itself (the first ```console block under the
"walkthrough" heading), so the README and this test cannot drift apart. Lines
starting with `$ ` are commands, run one after another in one bash shell (so `cd`
and variables carry over, as when they are pasted); the lines after a command are
the output the README shows for it, matched in order against what it printed, with
`…` standing for any text. A command must succeed, unless the README shows the
error it prints (then that text must be in its stderr).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pithosfs.client.pithos import PithosClient

pytestmark = [pytest.mark.mount, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
WALKTHROUGH_TIMEOUT = 600  # seconds for the whole block
PROMPT = "$ "


@dataclass
class Step:
    command: str
    shown: list[str] = field(default_factory=list)  # output lines the README shows


def walkthrough_block(readme: str) -> list[str]:
    """The lines of the first ```console block after a heading that names the walkthrough."""
    lines = readme.splitlines()
    heading = next(
        i for i, line in enumerate(lines)
        if line.startswith("#") and "walkthrough" in line.lower()
    )  # fmt: skip
    start = next(i for i in range(heading, len(lines)) if lines[i].strip() == "```console")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == "```")
    return lines[start + 1 : end]


def steps_of(block: list[str]) -> list[Step]:
    steps: list[Step] = []
    continued = False
    for line in block:
        if continued:  # a command ending in a backslash goes on, as in a shell
            steps[-1].command += "\n" + line
        elif line.startswith(PROMPT):
            steps.append(Step(line[len(PROMPT) :]))
        elif line.strip():
            assert steps, f"output before any command: {line!r}"
            steps[-1].shown.append(line)
        continued = bool(steps) and steps[-1].command.endswith("\\") and not steps[-1].shown
    return steps


def shown_pattern(line: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in line.rstrip().split("…")))


def normalized(text: str) -> list[str]:
    """Output lines, with bash's `line N:` (it says that when not interactive) removed."""
    return [re.sub(r"^bash: line \d+: ", "bash: ", ln.rstrip()) for ln in text.splitlines()]


def unmatched(shown: list[str], printed: list[str]) -> list[str]:
    """The README's lines not found, in order, in what was printed."""
    rest = iter(printed)
    return [ln for ln in shown if not any(shown_pattern(ln).fullmatch(p) for p in rest)]


def test_the_walkthrough_block_is_found_and_parsed() -> None:
    steps = steps_of(walkthrough_block((ROOT / "README.md").read_text()))
    assert len(steps) >= 10
    assert steps[0].command.startswith("cd ")
    assert all(not s.command.startswith(PROMPT) for s in steps)


def test_patterns_and_bash_messages() -> None:
    assert shown_pattern("ok f … Debian").fullmatch("ok f 1b7c-e4 Debian")
    assert not shown_pattern("ok f … Debian").fullmatch("ok g 1 Debian")
    assert normalized("bash: line 12: echo: write error: Invalid argument") == [
        "bash: echo: write error: Invalid argument"
    ]
    assert unmatched(["a", "c"], ["a", "b", "c"]) == []
    assert unmatched(["c", "a"], ["a", "b", "c"]) == ["a"]


@pytest.fixture
def fresh_home(tmp_path: Path) -> dict[str, str]:
    """A new user's environment: own HOME, no credentials, no XDG directories."""
    home = tmp_path / "home"
    home.mkdir()
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("PITHOS", "XDG_", "KAMAKI", "ST_", "OS_"))}  # fmt: skip
    return {**keep, "HOME": str(home)}


def test_the_readme_walkthrough_runs_verbatim_after_mount_sh(
    fuse_ok: None, fresh_home: dict[str, str], tmp_path: Path
) -> None:
    if not (ROOT / ".venv" / "bin" / "pithosfs").exists():
        pytest.skip("no .venv: scripts/mount.sh would create it (scripts/test.sh does first)")
    home = Path(fresh_home["HOME"])
    steps = steps_of(walkthrough_block((ROOT / "README.md").read_text()))
    mounted = subprocess.run(["bash", str(ROOT / "scripts" / "mount.sh")], env=fresh_home,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    mountpoint = home / "pithos"
    try:
        assert mounted.returncode == 0, mounted.stdout + mounted.stderr
        assert mounted.stdout.splitlines()[-1].startswith(f"mounted: {mountpoint} "), mounted.stdout
        out = tmp_path / "steps"
        out.mkdir()
        script = "".join(
            f'{{ {step.command}\n}} >"{out}/{i}.out" 2>"{out}/{i}.err" </dev/null; '
            f'echo $? >"{out}/{i}.rc"\n'
            for i, step in enumerate(steps)
        )
        subprocess.run(["bash", "-c", script], cwd=home, env=fresh_home,
                       timeout=WALKTHROUGH_TIMEOUT, check=False)  # fmt: skip
        for i, step in enumerate(steps):
            rc = int((out / f"{i}.rc").read_text())
            stdout = normalized((out / f"{i}.out").read_text())
            stderr = normalized((out / f"{i}.err").read_text())
            where = f"README step {i + 1}: $ {step.command}\nstdout: {stdout}\nstderr: {stderr}"
            missing = unmatched(step.shown, stdout + stderr if rc == 0 else stderr)
            assert not missing, f"{where}\nnot printed: {missing}"
            assert rc == 0 or step.shown, f"{where}\nfailed ({rc}) though the README shows no error"
        state = json.loads((home / ".local/share/pithosfs/embedded.json").read_text())
        client = PithosClient.from_storage_url(
            f"http://127.0.0.1:{state['port']}/object-store/v1/{state['user']}", state["token"]
        )
        names = {o.name for o in client.list_objects("pithos", "", None, False)}
        client.close()
        assert {"debian_base3.diskdump", "debian_base3.diskdump.meta"} <= names, names
        assert any(n.startswith("images/") for n in names), names
    finally:
        done = subprocess.run([str(ROOT / ".venv" / "bin" / "pithosfs"), "umount", str(mountpoint)],
                              env=fresh_home, capture_output=True, text=True, timeout=300)  # fmt: skip
        if os.path.ismount(mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], timeout=30, check=False)
        assert done.returncode == 0, done.stderr
