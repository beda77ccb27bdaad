"""Pseudonyms, small-group suppression and safe, atomic exports."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pandas as pd
import pytest

from cxlib.privacy import (
    Suppressed,
    neutralise_formulas,
    pseudonymise,
    suppress_small_groups,
    write_export,
)

ROOT = Path(__file__).resolve().parents[1]


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
    assert out.frame["segment"].tolist() == ["y", "z"]
    assert out.hidden == 1
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
    assert plain.frame["status"].tolist() == ["a", "c", "d"]  # b = total - (a + c + d)
    out = suppress_small_groups(df, "customers", 10, complement=True)
    assert out.frame["status"].tolist() == ["a", "d"]  # c (the smallest shown) hidden too
    assert out.hidden == 2 and out.complementary
    assert "cannot be worked out" in out.note()
    # hidden groups that together hold min_size or more need no complement
    df2 = pd.DataFrame({"status": ["a", "b", "c", "d"], "customers": [50, 6, 5, 0]})
    out2 = suppress_small_groups(df2, "customers", 10, complement=True)
    assert out2.frame["status"].tolist() == ["a"] and not out2.complementary
    # only zeros hidden: nothing to protect
    df3 = pd.DataFrame({"status": ["a", "b", "c"], "customers": [50, 40, 0]})
    out3 = suppress_small_groups(df3, "customers", 10, complement=True)
    assert out3.frame["status"].tolist() == ["a", "b"] and not out3.complementary
    # one shown group beside a hidden one of 6: showing it would reveal the 6
    df4 = pd.DataFrame({"status": ["a", "b"], "customers": [50, 6]})
    assert len(suppress_small_groups(df4, "customers", 10, complement=True).frame) == 0


def test_suppression_note_wording():
    df = pd.DataFrame({"g": ["x", "y", "z"], "customers": [9, 2, 250]})
    out = suppress_small_groups(df, "customers", 10)
    assert out.note() == "2 groups are not shown: fewer than 10 customers (privacy rule)."
    assert suppress_small_groups(df.iloc[2:], "customers", 10).note() == ""
    one = suppress_small_groups(df, "customers", 5)
    assert one.note(what="consent status", unit="people") == (
        "1 consent status is not shown: fewer than 5 people (privacy rule)."
    )


def test_suppress_small_groups_returns_the_rows_and_the_count_beside_them():
    df = pd.DataFrame({"g": ["x", "y", "z"], "customers": [9, 2, 250]})
    df.attrs["unrelated"] = "kept as given"
    out = suppress_small_groups(df, "customers", 10)
    assert isinstance(out, Suppressed)
    assert (out.hidden, out.complementary, out.min_size) == (2, False, 10)
    assert out.frame["g"].tolist() == ["z"]
    assert out.frame.attrs == {"unrelated": "kept as given"}  # no metadata added to the frame
    assert out.frame is not df and df["g"].tolist() == ["x", "y", "z"]  # input untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.hidden = 0  # type: ignore[misc]
    nothing = suppress_small_groups(df, "customers", 1)
    assert nothing.hidden == 0 and not nothing.complementary and len(nothing.frame) == 3


#: Data-layer modules allowed to name the suppression list's source in ``attrs["source"]``
#: (the frame is read by cxlib.contract and never reaches a report; see docs/privacy.md).
ATTRS_ALLOWED = {
    "cxlib/sources/_postgres.py",
    "cxlib/sources/_spark.py",
    "cxlib/contract/_suppression.py",
}


def test_no_metadata_in_dataframe_attrs():
    """Counts travel beside tables (Suppressed, result fields), never in DataFrame.attrs."""
    pattern = re.compile(r"\.attrs\s*(\[|\.get\(|\.update\(|\.clear\(|\.setdefault\(|=[^=])")
    found = []
    for path in sorted((ROOT / "cxlib").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ATTRS_ALLOWED:
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{rel}:{i}: {line.strip()}")
    assert not found, "metadata in DataFrame.attrs:\n" + "\n".join(found)
