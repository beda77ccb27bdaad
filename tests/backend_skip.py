"""Skip a test whose backend (PostgreSQL, Spark) is missing, unless this machine requires it.

``CX_REQUIRE_BACKENDS`` (comma-separated, e.g. ``postgres,spark``; ``.ci/run`` sets it in CI)
turns such a skip into a failure, so CI cannot pass while silently not testing a backend.
"""

from __future__ import annotations

import os

import pytest


def required_backends() -> set[str]:
    """The backends named in ``CX_REQUIRE_BACKENDS``."""
    raw = os.environ.get("CX_REQUIRE_BACKENDS", "")
    return {b.strip().lower() for b in raw.split(",") if b.strip()}


def skip_or_fail(backend: str, reason: str) -> None:
    """``pytest.skip(reason)``, or ``pytest.fail`` when ``backend`` is required here."""
    if backend in required_backends():
        pytest.fail(f"{backend} is required here (CX_REQUIRE_BACKENDS) but {reason}")
    pytest.skip(reason)
