"""Folders full of `*.meta` files that are not image metafiles, as real projects have them.

Used by tests/integration/test_images_metafile.py and scripts/bench_meta_copy.py.
"""

from __future__ import annotations

import json
from pathlib import Path

UNITY_META = (
    "fileFormatVersion: 2\nguid: {guid}\nTextureImporter:\n  serializedVersion: 12\n"
    "  mipmaps:\n    mipMapMode: 0\n  userData: \n  assetBundleName: \n"
)


def build_tree(root: Path, metas: int = 1000, account: str = "someone") -> dict[str, int]:
    """`metas` non-image `.meta` files under `root`, in three kinds, 40/30/30:

    - `assets/`: a Unity-style YAML `X.meta` beside each asset `X`;
    - `settings/`: JSON `.meta` files with no sibling;
    - `backup/`: images with kamaki metafiles whose `location` names the objects
      they were copied from (another container), as a backup of a registered folder.

    Returns how many files of each kind (siblings included) were written.
    """
    unity, lone = metas * 4 // 10, metas * 3 // 10
    backups = metas - unity - lone
    for sub in ("assets", "settings", "backup"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(unity):
        (root / "assets" / f"tex{i}.png").write_bytes(b"\x89PNG" + i.to_bytes(4, "big"))
        (root / "assets" / f"tex{i}.png.meta").write_text(UNITY_META.format(guid=f"{i:032x}"))
    for i in range(lone):
        doc = {"name": f"preset {i}", "version": 3, "values": [i, i + 1]}
        (root / "settings" / f"preset{i}.meta").write_text(json.dumps(doc))
    for i in range(backups):
        (root / "backup" / f"disk{i}.img").write_bytes(b"disk" + i.to_bytes(4, "big"))
        doc = {
            "name": f"Disk {i}", "id": f"{i:08x}-0000-4000-8000-000000000000",
            "location": f"pithos://{account}/images/disk{i}.img", "is-public": "False",
            "owner": f"{account} ({account})", "properties": {"os": "linux"},
        }  # fmt: skip
        (root / "backup" / f"disk{i}.img.meta").write_text(json.dumps(doc, indent=2))
    return {"unity": 2 * unity, "lone": lone, "backup": 2 * backups}
