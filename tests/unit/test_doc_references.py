"""Every document the code, tests, scripts and docs cite is in the repository.

* A Markdown file named anywhere in pithosfs/, tests/, scripts/, docs/, README.md or
  SEMANTICS.md exists: a name with a folder is taken from the repository root or
  from the citing file's folder; a bare name from the citing file's folder, docs/
  or the root.
* A citation of the protocol reference, written `protocol.md 4.4` (several numbers:
  `protocol.md 1.5, 1.6, 8 and 9.7`, ranges: `protocol.md 4.3-4.7`), names
  sections that are headings of docs/protocol.md.
* Section citations use that one form only (never "spec" and a number).
* A module path named in docs/*.md, README.md or SEMANTICS.md (`pithosfs/fs/core.py`,
  or `fs/core.py` as they shorten it) is a file of the package, and README.md's layout
  table has a row for each package.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "docs" / "protocol.md"
SCANNED = ("pithosfs", "tests", "scripts", "docs", "README.md", "SEMANTICS.md")
TEXT_SUFFIXES = (".py", ".md", ".sh", ".txt", ".toml", ".cfg", ".service")

MD_NAME = re.compile(r"(?<![\w./*<>{}-])([\w.-][\w./-]*\.md)\b")
NUMBER = r"\d+(?:\.\d+)?"
CITATION = re.compile(
    rf"protocol\.md\s+(?P<numbers>{NUMBER}(?:-{NUMBER})?"
    rf"(?:(?:,\s*|\s+and\s+|,\s*and\s+){NUMBER}(?:-{NUMBER})?)*)"
)
HEADING = re.compile(rf"^#{{2,3}} ({NUMBER})\.?\s", re.MULTILINE)
BARE_SPEC = re.compile(r"\bspec(?:\s+sections?)?\s+\d", re.IGNORECASE)


def scanned_files() -> list[Path]:
    """The tracked text files of SCANNED (untracked scratch files do not count)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", *SCANNED], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    names = [n for n in out.split("\0") if n.endswith(TEXT_SUFFIXES)]
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def joined(text: str) -> str:
    """Text with line breaks (and a comment's `#`) folded into one space, so a
    citation broken across lines of a comment or docstring reads as one."""
    return re.sub(r"\s*\n\s*(?:#\s*)?", " ", text)


def md_exists(name: str, cited_in: Path) -> bool:
    candidates = [cited_in.parent / name]
    if "/" in name:
        candidates.append(ROOT / name)
    else:
        candidates += [ROOT / "docs" / name, ROOT / name]
    return any(c.is_file() for c in candidates)


def section_numbers(spec: str) -> list[str]:
    """'1.5, 1.6, 8 and 9.7' -> the four numbers; '4.3-4.7' -> both ends."""
    return re.findall(NUMBER, spec)


def protocol_sections() -> set[str]:
    return set(HEADING.findall(PROTOCOL.read_text(encoding="utf-8")))


def test_protocol_has_the_numbered_sections() -> None:
    sections = protocol_sections()
    # The top-level sections 0-15 and a sample of the subsections the code cites.
    assert {str(n) for n in range(16)} <= sections
    assert {"1.5", "4.4", "7.3", "10.3", "15.1"} <= sections


def test_every_markdown_file_named_exists() -> None:
    files = scanned_files()
    assert len(files) > 100
    named = 0
    problems = []
    for path in files:
        for name in MD_NAME.findall(path.read_text(encoding="utf-8", errors="replace")):
            named += 1
            if not md_exists(name, path):
                problems.append(f"{path.relative_to(ROOT)}: {name}")
    assert named > 100
    assert not problems, problems


def test_every_protocol_citation_names_a_heading() -> None:
    sections = protocol_sections()
    cited = 0
    problems = []
    for path in scanned_files():
        text = joined(path.read_text(encoding="utf-8", errors="replace"))
        for match in CITATION.finditer(text):
            for number in section_numbers(match.group("numbers")):
                cited += 1
                if number not in sections:
                    problems.append(f"{path.relative_to(ROOT)}: protocol.md {number}")
    assert cited > 150
    assert not problems, problems


def test_sections_are_cited_in_one_form() -> None:
    problems = []
    for path in scanned_files():
        text = joined(path.read_text(encoding="utf-8", errors="replace"))
        problems += [f"{path.relative_to(ROOT)}: {m.group(0)!r}" for m in BARE_SPEC.finditer(text)]
    assert not problems, problems


PY_PATH = re.compile(r"(?<![\w./-])(pithosfs/[\w/]+\.py)\b")
# A test file is named from its folder under tests/ (SEMANTICS.md: `mount/test_x.py::test_y`).
SHORT_PY_PATH = re.compile(
    r"(?<![\w./-])((?:fs|mount|server|client|cache|images)/(?:\w+/)*(?!test_)\w+\.py)\b"
)


def test_every_module_path_named_in_the_docs_exists() -> None:
    """`pithosfs/fs/core.py`, or `fs/core.py` as the docs shorten it, names a real module."""
    docs = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "SEMANTICS.md"]
    named = 0
    problems = []
    for path in docs:
        text = path.read_text(encoding="utf-8")
        for name in PY_PATH.findall(text):
            named += 1
            if not (ROOT / name).is_file():
                problems.append(f"{path.relative_to(ROOT)}: {name}")
        for name in SHORT_PY_PATH.findall(text):
            named += 1
            if not (ROOT / "pithosfs" / name).is_file():
                problems.append(f"{path.relative_to(ROOT)}: {name}")
    assert named > 100
    assert not problems, problems


def test_the_readme_layout_names_every_package() -> None:
    """README.md's layout table keeps up with the tree: each package of pithosfs/ and of
    pithosfs/fs/ has a row."""
    layout = (ROOT / "README.md").read_text(encoding="utf-8").split("## Layout", 1)[1]
    layout = layout.split("\n## ", 1)[0]
    packages = [p.parent for p in (ROOT / "pithosfs").glob("*/__init__.py")]
    packages += [p.parent for p in (ROOT / "pithosfs" / "fs").glob("*/__init__.py")]
    assert len(packages) >= 10
    missing = [f"{p.relative_to(ROOT)}/" for p in packages
               if f"`{p.relative_to(ROOT)}/`" not in layout]  # fmt: skip
    assert not missing, missing
