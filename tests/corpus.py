"""The bad-input corpus (``tests/bad_inputs``): its folder and the cases a load accepts."""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "bad_inputs"


def cases_with_exit(code: int) -> list[str]:
    """Names of the corpus cases whose ``expected.json`` gives exit code ``code``."""
    return sorted(
        p.name
        for p in CORPUS.iterdir()
        if (p / "expected.json").exists()
        and json.loads((p / "expected.json").read_text())["exit"] == code
    )


READABLE = cases_with_exit(0)
