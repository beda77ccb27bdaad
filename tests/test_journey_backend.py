"""cxlib.journey on an Ibis (DuckDB) events table: the same journeys and tables as pandas.

Every public analysis of the module is run on the pandas frame and on
``backend_table(frame)`` and compared: the journey table, top paths, transitions, flows,
funnels, outcome comparison, attribution with bootstrap intervals, friction, opportunity,
priorities and the exports; on the sample data and on small edge cases.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_journey import T0, _events

from cxlib import journey as J
from cxlib.contract import load_source
from cxlib.sources import backend_table


def same(got, want, what: str) -> None:
    if isinstance(want, list):
        assert got == want, what
        return
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True),
        want.reset_index(drop=True),
        check_exact=False,
        rtol=1e-9,
        atol=1e-12,
        obj=what,
    )


def compare_all(ev: pd.DataFrame, fb: pd.DataFrame | None = None, **kw) -> J.JourneyData:
    """Run every analysis on both paths; assert equal; return the backend journeys."""
    a = J.build_journeys(ev, **kw)
    b = J.build_journeys(backend_table(ev), **kw)
    assert b.backend is not None and a.backend is None
    pd.testing.assert_frame_equal(b.journeys, a.journeys, check_exact=False, rtol=1e-12)
    assert b.touchpoint_types.equals(a.touchpoint_types)
    assert b.contact_touchpoints == a.contact_touchpoints and b.params == a.params
    runs = b.runs.order_by(["journey", "pos"]).to_pandas()
    for c in ["journey", "pos", "tp", "repeats", "is_retry", "is_revisit", "goes_back"]:
        assert (runs[c].to_numpy() == a.runs[c].to_numpy()).all(), c
    np.testing.assert_allclose(runs["minutes_to_next"], a.runs["minutes_to_next"], rtol=1e-12)
    fa = fbb = None
    if fb is not None:
        fa, fbb = J.link_feedback(a, fb), J.link_feedback(b, fb)
        same(fbb, fa, "link_feedback")
    same(J.top_paths(b, 15), J.top_paths(a, 15), "top_paths")
    types = a.journeys["journey_type"].astype(str).value_counts().index.tolist()
    same(J.transition_matrix(b, min_share=0.01), J.transition_matrix(a, min_share=0.01), "tm")
    same(J.transition_matrix(b, normalize=False), J.transition_matrix(a, normalize=False), "tm")
    same(J.flow_table(b), J.flow_table(a), "flow_table")
    for t in types[:4]:
        same(J.top_paths(b, 5, journey_type=t), J.top_paths(a, 5, journey_type=t), "top " + t)
        same(J.funnel_steps(b, t), J.funnel_steps(a, t), "funnel_steps " + t)
        same(J.funnel(b, t), J.funnel(a, t), "funnel " + t)
        same(
            J.flow_table(b, max_steps=3, top_n=2, journey_type=t),
            J.flow_table(a, max_steps=3, top_n=2, journey_type=t),
            "flow " + t,
        )
    same(J.compare_outcomes(b), J.compare_outcomes(a), "compare_outcomes")
    same(J.outcome_summary(b), J.outcome_summary(a), "outcome_summary")
    att_a = J.attribution_table(a, n_boot=25, random_state=7)
    att_b = J.attribution_table(b, n_boot=25, random_state=7)
    same(att_b, att_a, "attribution_table")
    assert att_b.attrs == pytest.approx(att_a.attrs)
    same(J.attribution_export(att_b), J.attribution_export(att_a), "attribution_export")
    same(J.attribution_table(b, markov_order=2), J.attribution_table(a, markov_order=2), "mk2")
    same(J.friction_by_type(b, fbb), J.friction_by_type(a, fa), "friction_by_type")
    same(J.friction_by_touchpoint(b, fbb), J.friction_by_touchpoint(a, fa), "by_touchpoint")
    same(J.opportunity(b), J.opportunity(a), "opportunity")
    pa, pb = J.prioritise(a, fa, min_group_size=1), J.prioritise(b, fbb, min_group_size=1)
    same(pb, pa, "prioritise")
    assert pb.attrs == pa.attrs
    same(J.priorities_export(pb), J.priorities_export(pa), "priorities_export")
    return b


@pytest.fixture(scope="module")
def sample(sample_dir):
    d = load_source(sample_dir, tables=("events", "feedback"))
    return d.tables["events"], d.tables["feedback"]


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
def test_sample_backend_equals_pandas(sample, kw):
    ev, fb = sample
    b = compare_all(ev, fb, **kw)
    assert b.n_journeys > 1000 and b.journeys["converted"].any()


def test_lazy_load_source_events(sample_dir, sample):
    """``load_source(lazy=("events",))`` gives the same journeys as the pandas frame."""
    data = load_source(sample_dir, tables=("events",), lazy=("events",))
    assert data.is_lazy("events")
    a = J.build_journeys(sample[0])
    b = J.build_journeys(data.tables["events"])
    pd.testing.assert_frame_equal(b.journeys, a.journeys, check_exact=False, rtol=1e-12)


def test_edge_cases_duplicates_nan_plain_clickstream():
    paths = [
        ["web_home", "web_home", "web_basket", "purchase"],
        ["app_home", "chat", "app_home", "call_centre", "app_basket"],
        ["web_home", "web_basket", "web_home", "purchase", "web_home"],
        ["store_visit", "purchase"],
        ["purchase"],
        ["web_home", "call_centre", "call_centre", "web_basket", "purchase"],
    ] * 3
    ev = _events(paths)
    ev.loc[ev.index[::7], "value"] = np.nan
    ev = pd.concat([ev, ev.iloc[[0, 3, 8]]], ignore_index=True)  # exact duplicates, out of order
    compare_all(ev)
    compare_all(ev[["customer_id", "timestamp", "touchpoint"]])  # no value, no journey id
    ev2 = ev.assign(journey_id=[f"J{i // 4}" for i in range(len(ev))], channel="web")
    ev2.loc[ev2.index[::5], "journey_id"] = None
    compare_all(ev2)
    compare_all(_events(paths, gap_min=45.0))  # every event its own session


def test_one_row_and_empty():
    one = pd.DataFrame({"customer_id": ["A"], "timestamp": [T0], "touchpoint": ["web_home"]})
    b = J.build_journeys(backend_table(one))
    a = J.build_journeys(one)
    pd.testing.assert_frame_equal(b.journeys, a.journeys)
    same(J.top_paths(b), J.top_paths(a), "top_paths")
    same(J.transition_matrix(b), J.transition_matrix(a), "tm")
    with pytest.raises(ValueError, match="no rows"):
        J.build_journeys(backend_table(one.iloc[:0]))
