"""SHA-256 of every file below a folder: the tests' check that inputs are never modified and
that two runs write the same bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: The pseudonymisation key of the safety net's runs (tests/test_safety_net.py).
SAFETY_NET_KEY = "cx-safety-net"


def digests(folder: Path) -> dict[str, str]:
    """``{relative path: SHA-256}`` of every file below ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def catalogue_config(folder: Path, catalogue: Path) -> Path:
    """A ``cx.yml`` in ``folder`` naming ``catalogue`` as the offer catalogue: a database or
    Spark source has no data folder to hold ``actions.yml``, so its runs name the sample's."""
    path = folder / "cx.yml"
    path.write_text(f"action:\n  actions_file: {catalogue.resolve()}\n", encoding="utf-8")
    return path
