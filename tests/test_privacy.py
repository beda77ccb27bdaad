"""Pseudonyms, small-group suppression and safe, atomic exports."""

from __future__ import annotations

import pandas as pd
import pytest

from cxlib.privacy import (
    neutralise_formulas,
    pseudonymise,
    suppress_small_groups,
    suppression_note,
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


def test_complementary_suppression_protects_the_hidden_group():
    df = pd.DataFrame({"status": ["a", "b", "c", "d"], "customers": [50, 3, 12, 20]})
    plain = suppress_small_groups(df, "customers", 10)
    assert plain["status"].tolist() == ["a", "c", "d"]  # b = total - (a + c + d)
    out = suppress_small_groups(df, "customers", 10, complement=True)
    assert out["status"].tolist() == ["a", "d"]  # c (the smallest shown) hidden too
    assert out.attrs["suppressed_groups"] == 2 and out.attrs["complementary"]
    assert "cannot be worked out" in suppression_note(out, 10)
    # hidden groups that together hold min_size or more need no complement
    df2 = pd.DataFrame({"status": ["a", "b", "c", "d"], "customers": [50, 6, 5, 0]})
    out2 = suppress_small_groups(df2, "customers", 10, complement=True)
    assert out2["status"].tolist() == ["a"] and not out2.attrs["complementary"]
    # only zeros hidden: nothing to protect
    df3 = pd.DataFrame({"status": ["a", "b", "c"], "customers": [50, 40, 0]})
    out3 = suppress_small_groups(df3, "customers", 10, complement=True)
    assert out3["status"].tolist() == ["a", "b"] and not out3.attrs["complementary"]
    # one shown group beside a hidden one of 6: showing it would reveal the 6
    df4 = pd.DataFrame({"status": ["a", "b"], "customers": [50, 6]})
    assert len(suppress_small_groups(df4, "customers", 10, complement=True)) == 0


def test_suppression_note_wording():
    df = pd.DataFrame({"g": ["x", "y", "z"], "customers": [9, 2, 250]})
    out = suppress_small_groups(df, "customers", 10)
    assert suppression_note(out, 10) == (
        "2 groups are not shown: fewer than 10 customers (privacy rule)."
    )
    assert suppression_note(suppress_small_groups(df.iloc[2:], "customers", 10), 10) == ""
