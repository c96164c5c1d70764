"""A token as logs and `pithosfs config` show it.

Shared by `pithosfs config` and `pithosfs serve`; imports nothing of pithosfs, so
the server can use it without reaching up into the command layer.
"""

from __future__ import annotations


def mask_token(token: str) -> str:
    """Enough to tell two tokens apart, never enough to use one."""
    if len(token) < 12:
        return f"**** ({len(token)} chars)"
    return f"{token[:4]}… ({len(token)} chars)"
