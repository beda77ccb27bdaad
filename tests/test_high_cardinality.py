"""The whole series on a transactions table with 4,000 distinct categories (issue #20).

Real retail data has thousands of product codes in ``category``. A share column per code made
segmentation take 5 minutes with a 6.9 MB report and left churn running after 25 minutes with a
notebook full of fragmentation warnings. Here every category of a synthetic world is split into
500 stock codes; the series must finish, and no report may exceed 3 MB. (The time against the
same table with categories folded to 10 is a benchmark figure, in ``benchmarks/RESULTS.md``.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxlib.cli import main
from cxlib.synth import generate

pytestmark = pytest.mark.slow

MAX_REPORT_BYTES = 3 * 1024 * 1024


def stock_codes(folder: Path, per_category: int = 500, seed: int = 0) -> int:
    """Replace each ``category`` of ``folder/transactions.csv`` by one of ``per_category`` stock
    codes of that category (other columns untouched); returns the number of distinct codes."""
    path = folder / "transactions.csv"
    tx = pd.read_csv(path, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    has = tx["category"] != ""
    numbers = rng.integers(0, per_category, int(has.sum()))
    tx.loc[has, "category"] = [
        f"{c[:3].upper()}-{k:04d}" for c, k in zip(tx.loc[has, "category"], numbers, strict=True)
    ]
    tx.to_csv(path, index=False)
    return int(tx.loc[has, "category"].nunique())


def test_series_with_4000_categories(tmp_path, monkeypatch):
    monkeypatch.setenv("CX_PSEUDONYM_KEY", "cx-high-cardinality")
    data = tmp_path / "data"
    generate(2_000, 7, data)
    assert stock_codes(data) >= 3_900
    assert main(["run", "--data", str(data), "--out", str(tmp_path / "out")]) == 0
    run_dir = (tmp_path / "out" / "latest").resolve()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {nb["name"]: nb["status"] for nb in manifest["notebooks"]} == {
        nb["name"]: "ok" for nb in manifest["notebooks"]
    }
    reports = sorted(run_dir.rglob("*.html"))
    assert reports
    sizes = {p.name: p.stat().st_size for p in reports}
    assert max(sizes.values()) <= MAX_REPORT_BYTES, sizes
    for p in reports:
        assert "highly fragmented" not in p.read_text(errors="replace"), p.name
    segments = pd.read_csv(run_dir / "exports" / "segments.csv")
    assert len(segments) > 0
