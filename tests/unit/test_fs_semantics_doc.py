"""SEMANTICS.md names a test for each example: every named test must exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REF = re.compile(r"(unit|mount|reliability|swift|server|client)/(test_\w+\.py)::(test_\w+)")
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
    assert not missing, missing
