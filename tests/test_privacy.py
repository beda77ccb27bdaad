"""Pseudonyms, small-group suppression and safe, atomic exports."""

from __future__ import annotations

import pandas as pd
import pytest

from cxlib.privacy import (
    neutralise_formulas,
    pseudonymise,
    suppress_small_groups,
    write_export,
)


def test_pseudonyms_are_keyed_stable_and_unlinkable():
    ids = pd.Series(["a", "b", "a", None])
    p1 = pseudonymise(ids, "k1")
    assert p1[0] == p1[2] and p1[0] != p1[1]
    assert p1[0].startswith("C-") and len(p1[0]) == 12
    assert pd.isna(p1[3])
    assert pseudonymise(ids, "k2")[0] != p1[0]
    assert "a" not in set(p1.dropna())


def test_suppress_small_groups_counts_what_it_hides():
    df = pd.DataFrame({"segment": ["x", "y", "z"], "customers": [9, 10, 250]})
    out = suppress_small_groups(df, "customers", 10)
    assert out["segment"].tolist() == ["y", "z"]
    assert out.attrs["suppressed_groups"] == 1
    with pytest.raises(KeyError):
        suppress_small_groups(df, "n")


def test_formula_cells_are_neutralised_numbers_left_alone():
    df = pd.DataFrame(
        {"t": ["=1+1", "+x", "-y", "@SUM(A1)", "\tz", "\rq", "safe"], "n": [-1, 2, 3, 4, 5, 6, 7]}
    )
    out = neutralise_formulas(df)
    assert out["t"].tolist()[:6] == ["'=1+1", "'+x", "'-y", "'@SUM(A1)", "'\tz", "'\rq"]
    assert out["t"].iloc[6] == "safe"
    assert out["n"].tolist() == df["n"].tolist()


def test_write_export_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "exports" / "x.csv"
    write_export(pd.DataFrame({"a": [1]}), path)
    assert path.read_text() == "a\n1\n"

    class Boom(pd.DataFrame):
        def to_csv(self, *a, **k):
            raise RuntimeError("disk full")

    monkeypatch.setattr("cxlib.privacy.neutralise_formulas", lambda df: Boom(df))
    with pytest.raises(RuntimeError):
        write_export(pd.DataFrame({"a": [2]}), path)
    assert path.read_text() == "a\n1\n"  # old file intact
    assert [p.name for p in path.parent.iterdir()] == ["x.csv"]  # no temp file left
