"""SEMANTICS.md names a test for each example: every named test must exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REF = re.compile(r"(unit|mount|reliability|swift|server|client|posix)/(test_\w+\.py)::(test_\w+)")
MODULE = re.compile(r"\b(posix)/(test_\w+\.py)\b(?!::)")  # a whole module named as the test
FOLDER = {"mount": "integration"}  # the rest are named as their folder


def test_every_test_named_in_semantics_md_exists():
    text = (ROOT / "SEMANTICS.md").read_text()
    refs = REF.findall(text)
    assert len(refs) > 40
    missing = []
    for kind, filename, test in refs:
        folder = FOLDER.get(kind, kind)
        source = (ROOT / "tests" / folder / filename).read_text()
        if not re.search(rf"^(async )?def {test}\(", source, re.MULTILINE):
            missing.append(f"{kind}/{filename}::{test}")
    for kind, filename in MODULE.findall(text):
        if not (ROOT / "tests" / FOLDER.get(kind, kind) / filename).is_file():
            missing.append(f"{kind}/{filename}")
    assert not missing, missing
