"""Journeys from clickstreams shaped the way users' data is (issue #20): no ``journey_id``, other
names for the call centre, a home page in front of every journey, and path data where nothing
stands out. Planted truth: ``data/sample/truth/journeys.csv`` (the analysis names a journey type
by its first step past the entry pages, which the truth records as ``entry_touchpoint``)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cxlib import journey as J
from cxlib.engine import ROW_ORDER, Engine
from cxlib.journey import _gaps as gaps
from cxlib.journey._gaps import FALLBACK_GAP_MINUTES, session_gap, valley_gap
from cxlib.journey._report import built_from
from cxlib.plots import journey as jplots

VARIANTS = {
    "no journey_id": {"drop_journey_id"},
    "ivr_support": {"rename_call_centre"},
    "home_page first": {"home_page"},
    "all three": {"drop_journey_id", "rename_call_centre", "home_page"},
}


@pytest.fixture(scope="module")
def sample(sample_dir):
    from cxlib.contract import load_source

    data = load_source(sample_dir, tables=("events", "feedback"))
    truth = pd.read_csv(sample_dir / "truth" / "journeys.csv")
    events = data.tables["events"]
    return (
        events.drop(columns=[c for c in events if c == ROW_ORDER]),
        data.tables["feedback"],
        truth,
    )


def _reshape(events: pd.DataFrame, feedback: pd.DataFrame, changes: set[str]):
    """The sample's events and feedback with the ``changes`` a user's data would have."""
    ev, fb = events.copy(), feedback.copy()
    options: dict = {}
    if "home_page" in changes:  # one minute before the first step of every journey
        first = ev.sort_values("timestamp", kind="stable").drop_duplicates("journey_id")
        home = first.assign(
            touchpoint="home_page", channel="web", value=np.nan,
            timestamp=first["timestamp"] - pd.Timedelta(minutes=1),
        )  # fmt: skip
        ev = pd.concat([home, ev], ignore_index=True).sort_values("timestamp", kind="stable")
    if "rename_call_centre" in changes:  # in every column where it appears
        for frame in (ev, fb):
            for col in frame.columns:
                if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
                    frame[col] = frame[col].replace({"call_centre": "ivr_support"})
        options = {"channel_types": {"ivr_support": "human"}}
    if "drop_journey_id" in changes:
        ev, fb = ev.drop(columns="journey_id"), fb.drop(columns="journey_id")
    return ev.reset_index(drop=True), fb, options


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no warning text reaches a report
@pytest.mark.parametrize("name", list(VARIANTS))
def test_planted_ranking_survives_real_data_shapes(sample, name):
    events, feedback, truth = sample
    ev, fb, options = _reshape(events, feedback, VARIANTS[name])
    assert "call_centre" not in set(ev["touchpoint"]) or "ivr_support" not in set(ev["touchpoint"])
    r = J.run_journeys({"events": ev, "feedback": fb}, options=options, n_boot=0)
    rank = dict(zip(r.priorities["journey"], r.priorities["rank"], strict=True))
    est = truth["entry_touchpoint"].map(rank)
    table = r.priorities[["rank", "journey", "extra_conversions", "stands_out"]]
    assert est[truth["friction_rank"] == 1].iloc[0] <= 2, table
    assert (est[truth["friction_rank"] <= 3] <= 5).all(), table
    if "rename_call_centre" in VARIANTS[name]:
        assert r.touchpoint_types["ivr_support"] == "human"
        assert r.journeys["n_repeat_contacts"].sum() > 0
    if "home_page" in VARIANTS[name]:
        assert "home_page" not in set(r.journeys["journey_type"].astype(str))
    if "drop_journey_id" in VARIANTS[name]:
        # the store visits about 80 minutes after a web step stay in their journey
        assert r.built_from.startswith("sessions with no gap longer than")
        assert "chosen from the data" in r.built_from
        returns = r.priorities.set_index("journey").loc["web_returns"]
        assert returns["conversion_rate"] > 0.3


def test_session_gap_at_the_valley_of_the_gaps(monkeypatch):
    rng = np.random.default_rng(0)
    rows = []
    for c in range(300):
        t = pd.Timestamp("2025-01-01") + pd.Timedelta(hours=float(rng.uniform(0, 24)))
        for _ in range(4):  # four visits days apart, each a few steps a minute or two apart
            for _ in range(3):
                rows.append((f"C{c}", t, "web"))
                t += pd.Timedelta(minutes=float(rng.lognormal(0.4, 0.6)))
            rows.append((f"C{c}", t + pd.Timedelta(minutes=80), "store"))  # a slow step
            t += pd.Timedelta(days=float(rng.uniform(2, 9)))
    ev = pd.DataFrame(rows, columns=["customer_id", "timestamp", "touchpoint"])
    ev["timestamp"] = ev["timestamp"].dt.floor("s")
    with Engine() as e:
        gap = session_gap(e.table(ev))
    assert gap.from_data and 100 < gap.minutes < 2880  # above the 80-minute step, below days
    assert gap.share_below == pytest.approx(0.8, abs=0.02)  # 3 of 4 gaps are within visits
    # large tables: the gaps of a fixed share of the customers, the same valley
    monkeypatch.setattr(gaps, "MAX_GAP_EVENTS", len(ev) // 4)
    with Engine() as e:
        part = gaps.session_gap(e.table(ev))
        assert gaps.session_gap(e.table(ev)).histogram.equals(part.histogram)
    n_all, n_part = gap.histogram["gaps"].sum(), part.histogram["gaps"].sum()
    assert 0.1 * n_all < n_part < 0.45 * n_all
    assert part.minutes == gap.minutes
    monkeypatch.undo()
    with J.build_journeys(ev) as jd:
        assert jd.params["session_gap_minutes"] == gap.minutes
        assert len(jd.journeys) == 1200  # one journey per visit
        said = built_from(jd.params)
        assert f"no gap longer than {gap.minutes:,.0f} minutes" in said
        assert "chosen from the data: 80% of the gaps" in said
    with J.build_journeys(ev, session_gap_minutes=45) as jd:  # a set gap is honoured exactly
        assert jd.params["session_gap_minutes"] == 45 and jd.params["session_gap"] is None
        assert len(jd.journeys) == 2400  # the 80-minute step now starts a journey
        assert built_from(jd.params) == "sessions with no gap longer than 45 minutes (as set)"
    one_hump = pd.DataFrame({"bin": np.arange(10), "gaps": [5, 20, 60, 90, 100, 90, 60, 20, 5, 1]})
    assert valley_gap(one_hump) is None
    assert FALLBACK_GAP_MINUTES == 30


def _flat_paths(n: int = 3000, seed: int = 1) -> pd.DataFrame:
    """Path data where nothing stands out: 'alpha' in most paths, the same conversion (25%)
    whatever the path, repeats of a channel, no value and no journey id."""
    rng = np.random.default_rng(seed)
    channels = np.array(["alpha", "beta", "gamma", "delta"])
    rows = []
    for i in range(n):
        k = int(rng.integers(1, 5))
        path = list(rng.choice(channels, size=k, p=[0.7, 0.1, 0.1, 0.1]))
        if rng.random() < 0.25:
            path.append("conv")
        t = pd.Timestamp("2025-01-01") + pd.Timedelta(days=i % 200, hours=float(rng.uniform(0, 20)))
        for step, tp in enumerate(path):
            rows.append((f"P{i}", t + pd.Timedelta(minutes=step), tp))
    ev = pd.DataFrame(rows, columns=["customer_id", "timestamp", "touchpoint"])
    return ev.assign(timestamp=ev["timestamp"].dt.floor("s"))


def test_nothing_stands_out_says_so():
    ev = _flat_paths()
    r = J.run_journeys(
        {"events": ev}, conversion_touchpoint="conv", n_boot=0, collapse_repeats=True
    )
    assert not r.priorities["stands_out"].any(), r.priorities
    found = r.findings()
    for f in found:
        for bad in ("nan", "inf", "worth about 0"):
            assert bad not in f.text.lower().replace("infinite", ""), f.text
    heads = [f.text for f in found if f.headline]
    assert any(h.startswith("No journey type stands out") for h in heads), heads
    assert not any(h.startswith("Fix first") for h in heads)
    assert r.recommendations().count("Monitor") == len(r.priorities)
    # a repeat of the same channel is one step, not friction
    assert not r.journeys["has_retry"].any()
    # the channel types it could not name are listed
    assert "could not be typed" in r.overview() and "'alpha'" in r.overview()
    ax = jplots.plot_priorities(r.priorities)
    assert any("No journey type stands out" in t.get_text() for t in ax.texts)
    plt.close("all")
