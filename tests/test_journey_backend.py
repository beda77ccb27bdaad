"""cxlib.journey's one path: a pandas frame, ``backend_table(frame)`` and a lazily loaded source
give the same journeys; edge cases checked against hand-computed journeys; the engine that keeps
the journeys' backend tables is closed with them.

(The pandas twin of every analysis, and the tests that only proved the twins agree, are gone:
every analysis runs as Ibis expressions; a pandas frame is registered on an engine first.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_journey import T0, _events

from cxlib import journey as J
from cxlib.contract import load_source
from cxlib.engine import Engine
from cxlib.sources import backend_table


@pytest.fixture(scope="module")
def sample(sample_dir):
    d = load_source(sample_dir, tables=("events", "feedback"))
    return d.tables["events"], d.tables["feedback"]


def _check_all(jd: J.JourneyData, fb: pd.DataFrame | None = None) -> None:
    """Every analysis runs, and the totals that must agree do."""
    j = jd.journeys
    n_conv = int(j["converted"].sum())
    fbl = J.link_feedback(jd, fb) if fb is not None else None
    top = J.top_paths(jd, 15)
    assert top["journeys"].is_monotonic_decreasing and top["share"].sum() <= 1.0 + 1e-12
    tm = J.transition_matrix(jd, normalize=False)
    assert tm.loc["(start)"].sum() == jd.n_journeys
    for t in j["journey_type"].astype(str).value_counts().index[:3]:
        f = J.funnel(jd, t)
        assert f["journeys"].is_monotonic_decreasing
        flow = J.flow_table(jd, max_steps=3, top_n=2, journey_type=t)
        assert flow.loc[flow["col"] == 0, "journeys"].sum() <= (j["journey_type"] == t).sum()
    co = J.compare_outcomes(jd)
    assert co["converted_share"].between(0, 1).all()
    att = J.attribution_table(jd, n_boot=5, random_state=7)
    credited = att[["first_touch", "last_touch", "linear", "markov"]].sum()
    assert np.allclose(credited, credited.iloc[0]) and credited.iloc[0] <= n_conv
    fr = J.friction_by_touchpoint(jd, fbl)
    assert fr["drop_off_rate"].between(0, 1).all()
    pr = J.prioritise(jd, fbl, min_group_size=1)
    assert pr["rank"].tolist() == list(range(1, len(pr) + 1))
    assert list(J.priorities_export(pr).columns) == J.PRIORITY_EXPORT_COLUMNS


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"collapse_repeats": False},
        {"use_journey_id": False},
        {"type_map": {"web_checkout": "buy", "app_checkout": "buy", "chat": "help"}},
    ],
    ids=["journey_ids", "no_collapse", "sessions", "type_map"],
)
def test_sample_every_analysis(sample, kw):
    ev, fb = sample
    with J.build_journeys(ev, **kw) as jd:
        assert jd.n_journeys > 1000 and jd.journeys["converted"].any()
        _check_all(jd, fb)
    assert jd.backend.engine.closed


def test_frame_backend_table_and_lazy_source_same_journeys(sample_dir, sample):
    """A frame, ``backend_table(frame)`` and ``load_source(lazy=("events",))`` give the same
    journeys (the frame is registered with the same row order)."""
    data = load_source(sample_dir, tables=("events",), lazy=("events",))
    assert data.is_lazy("events")
    a = J.build_journeys(sample[0])
    b = J.build_journeys(data.tables["events"])
    c = J.build_journeys(backend_table(sample[0]))
    pd.testing.assert_frame_equal(b.journeys, a.journeys, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(c.journeys, a.journeys, check_exact=False, rtol=1e-12)
    assert not b.backend.owns_engine or b.backend.engine.con is data.tables["events"].get_backend()


def test_engine_given_keeps_the_tables_and_closes_them():
    ev = _events([["web_home", "purchase"], ["app_home", "chat"]])
    with Engine() as engine:
        jd = J.build_journeys(ev, engine=engine)
        assert not jd.backend.owns_engine
        jd.close()  # not its engine: nothing closed
        assert int(jd.runs.count().execute()) == 4
        names = set(engine.con.list_tables())
        assert not any("cx_journey_events" in n or "cx_journey_j0" in n for n in names)
    assert engine.closed


def test_edge_cases_by_hand():
    # A: journey id J1 split at the purchase; B: no journey id (sessionised); C: a retry made
    # of an exact duplicate row, a purchase without a value; D: every event its own session
    rows = [
        ("A", 0, "web_home", "J1", np.nan),
        ("A", 1, "purchase", "J1", 10.0),
        ("A", 2, "web_home", "J1", np.nan),
        ("B", 0, "app_home", None, np.nan),
        ("B", 1, "chat", None, np.nan),
        ("C", 0, "web_home", None, np.nan),
        ("C", 1, "web_basket", None, np.nan),
        ("C", 1, "web_basket", None, np.nan),
        ("C", 2, "purchase", None, np.nan),
        ("D", 0, "web_home", None, np.nan),
        ("D", 45, "web_basket", None, np.nan),
        ("D", 90, "call_centre", None, np.nan),
    ]
    ev = pd.DataFrame(rows, columns=["customer_id", "minute", "touchpoint", "journey_id", "value"])
    ev["timestamp"] = T0 + pd.to_timedelta(ev.pop("minute"), unit="min")
    ev = ev.iloc[[5, 0, 7, 1, 2, 3, 4, 6, 8, 9, 10, 11]]  # rows out of order
    jd = J.build_journeys(ev)
    j = jd.journeys
    assert j["journey_id"].tolist() == ["J1", "J1.1", "S2", "S3", "S4", "S5", "S6"]
    assert j["customer_id"].tolist() == ["A", "A", "B", "C", "D", "D", "D"]
    assert j["converted"].tolist() == [True, False, False, True, False, False, False]
    assert j["value"].tolist() == [10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert j["n_steps"].tolist() == [1, 1, 2, 2, 1, 1, 1]
    assert not j["has_retry"].any()  # repeats collapsed: not friction
    assert pd.isna(j["friction_kind"].iloc[3])
    with J.build_journeys(ev, collapse_repeats=False) as uncollapsed:
        u = uncollapsed.journeys
        assert u["has_retry"].tolist() == [False, False, False, True, False, False, False]
        assert u["friction_kind"].astype(str).tolist()[3] == "retry"
        assert u["friction_touchpoint"].astype(str).tolist()[3] == "web_basket"
    assert j["n_repeat_contacts"].tolist()[2] == 1  # chat a minute after app_home
    assert j["journey_type"].astype(str).tolist() == [
        "web_home",
        "web_home",
        "app_home",
        "web_home",
        "web_home",
        "web_basket",
        "call_centre",
    ]
    top = J.top_paths(jd).set_index("path")
    assert top.loc["web_home", "journeys"] == 2 and top.loc["web_home", "customers"] == 2
    assert top.loc["web_home > web_basket > purchase", "conversions"] == 1
    tm = J.transition_matrix(jd, normalize=False)
    assert tm.loc["(start)", "web_home"] == 4 and tm.loc["web_home", "(end)"] == 2
    assert tm.loc["web_basket", "purchase"] == 1 and tm.loc["app_home", "chat"] == 1


def test_one_row_and_empty():
    one = pd.DataFrame({"customer_id": ["A"], "timestamp": [T0], "touchpoint": ["web_home"]})
    jd = J.build_journeys(one)
    assert jd.journeys["journey_id"].tolist() == ["S0"]
    assert jd.journeys["n_steps"].tolist() == [1] and not jd.journeys["converted"].any()
    assert J.top_paths(jd)["path"].tolist() == ["web_home"]
    tm = J.transition_matrix(jd, normalize=False)
    assert tm.loc["(start)", "web_home"] == 1 and tm.loc["web_home", "(end)"] == 1
    with pytest.raises(ValueError, match="no rows"):
        J.build_journeys(backend_table(one.iloc[:0]))


def test_events_without_row_order_numbered_once():
    """An Ibis table without the row-order column (no ties in time here) gives the journeys of
    the registered frame, with and without journey ids; the build's tables are dropped at
    close (the events numbered once and the ids' keys included)."""
    import ibis

    ev = _events([["web_home", "web_home", "purchase", "app_home"], ["app_home", "chat"]] * 3)
    ev["journey_id"] = ["J1", "J1", "J1", "J1", None, None, "J2", "J2", "J2", "J2"] + [None] * 8
    con = ibis.duckdb.connect()
    table = con.create_table("raw_events", ev, temp=True)
    assert "cx_row_number" not in table.columns
    for kw in ({}, {"use_journey_id": False}, {"collapse_repeats": False}):
        with J.build_journeys(ev, **kw) as a, J.build_journeys(table, **kw) as b:
            pd.testing.assert_frame_equal(b.journeys, a.journeys)
        assert not [n for n in con.list_tables() if n.startswith("cx_journey")]


def test_runs_carry_customer_numbers_and_the_documented_columns():
    """Runs name a customer by number (the order of the customers' ids); an Arrow table given to
    the engine becomes a backend table with its row numbers."""
    import pyarrow as pa

    ev = _events([["web_home", "purchase"], ["app_home", "chat"], ["web_home"]])
    ev["customer_id"] = ["Z", "Z", "B", "B", "M"]
    with J.build_journeys(ev) as jd:
        runs = jd.runs.order_by(["journey", "pos"]).to_pandas()
        assert runs["customer"].tolist() == [0, 0, 1, 2, 2]  # B, M, Z
        assert jd.journeys["customer_id"].tolist() == ["B", "M", "Z"]
        assert runs.loc[runs["journey"] == 0, "repeat_contact"].tolist() == [False, True]
        assert runs["n_tp"].isna().tolist() == [False, True, True, False, True]
    with Engine() as engine:
        t = engine.table(pa.table({"x": [3, 1, 2]}))
        assert t.order_by("cx_row_number").to_pandas()["x"].tolist() == [3, 1, 2]


def test_a_session_name_equal_to_a_journey_id_is_told_apart():
    """An event without a journey id is sessionised as ``S<n>``; when the data already uses that
    name, the later journey is suffixed as a split journey is."""
    ev = _events([["web_home"], ["app_home"]])
    ev["customer_id"] = ["A", "B"]
    ev["journey_id"] = [None, "S0"]
    with J.build_journeys(ev) as jd:
        assert jd.journeys["journey_id"].tolist() == ["S0", "S0.1"]
