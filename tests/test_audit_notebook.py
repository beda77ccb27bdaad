"""Notebook 01 runs headlessly on any subset of tables and writes its exports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_data_audit.ipynb"


def test_notebook_is_thin() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for name in (
        "data_dir",
        "output_dir",
        "as_of_date",
        "seed",
        "min_group_size",
        "pseudonym_key",
        "config",
        "consent_retention_months",
        "match_threshold",
    ):
        assert f"{name} = " in tagged[0].source
    for c in code:
        assert "def " not in c.source and "class " not in c.source
        # no finding sentences, date arithmetic or private modules in cells
        assert 'f"' not in c.source and "Timedelta" not in c.source and "DateOffset" not in c.source
        assert "._" not in c.source.replace("_dir", "")
    setup = "\n".join(c.source for c in code)
    assert "from cxlib.audit import run_audit" in setup
    assert "result.exports()" in setup and "findings.extend_from(result)" in setup
    assert any("nbval-check-output" in c.metadata.get("tags", []) for c in code)


@pytest.fixture(scope="module")
def small_source(tmp_path_factory) -> Path:
    from cxlib.synth import generate

    out = tmp_path_factory.mktemp("synth400")
    generate(400, 11, out)
    return out


@pytest.mark.parametrize("tables", [None, ("transactions",)], ids=["all", "transactions-only"])
def test_notebook_runs(small_source: Path, tmp_path: Path, tables) -> None:
    import papermill as pm

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for f in small_source.glob("*.csv"):
        if tables is None or f.stem in tables:
            shutil.copy(f, data_dir / f.name)
    out_dir = tmp_path / "run"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "out.ipynb"),
        parameters={"data_dir": str(data_dir), "output_dir": str(out_dir), "seed": 1},
        cwd=str(NOTEBOOK.parent),
        kernel_name="python3",
        progress_bar=False,
    )
    dq = pd.read_csv(out_dir / "exports" / "data_quality.csv")
    assert list(dq.columns) == ["table", "column", "rule", "dimension", "failed_rows", "total_rows"]
    mm = pd.read_csv(out_dir / "exports" / "customer_master_map.csv", dtype=str)
    assert list(mm.columns) == ["customer_id", "source_system", "master_id", "match_probability"]
    assert mm["customer_id"].is_unique
    head = json.loads((out_dir / "headlines" / "01_data_audit.json").read_text())
    assert 2 <= len(head["headlines"]) <= 4
    if tables is not None:
        assert set(dq["table"]) == {"transactions"}
