"""Unit tests of cxlib.journey: journey building, map tables, attribution, friction, ranking."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from cxlib import journey as J

T0 = pd.Timestamp("2025-03-01 10:00")


def _events(
    paths: list[list[str]],
    *,
    gap_min: float = 1.0,
    customer_per_path: bool = True,
    value: float = 10.0,
) -> pd.DataFrame:
    """Events for a list of paths, one customer (and day) per path."""
    rows = []
    for i, path in enumerate(paths):
        t = T0 + pd.Timedelta(days=i)
        for k, tp in enumerate(path):
            rows.append(
                {
                    "customer_id": f"C{i if customer_per_path else 0:04d}",
                    "timestamp": t + pd.Timedelta(minutes=gap_min * k),
                    "touchpoint": tp,
                    "value": value if tp == "purchase" else np.nan,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- building journeys


def test_sessionise_by_gap_and_conversion():
    ev = pd.DataFrame(
        {
            "customer_id": ["A"] * 7 + ["B"] * 2,
            "timestamp": pd.to_datetime(
                [
                    "2025-01-01 10:00",
                    "2025-01-01 10:05",
                    "2025-01-01 10:06",  # A: web, web, purchase
                    "2025-01-01 10:07",  # after a purchase: new journey
                    "2025-01-01 11:00",  # gap 53 min > 30: new journey
                    "2025-01-01 11:10",
                    "2025-01-01 11:20",
                    "2025-01-01 10:00",
                    "2025-01-01 10:01",
                ]
            ),
            "touchpoint": [
                "web_browse",
                "web_browse",
                "purchase",
                "app_browse",
                "web_browse",
                "call_centre",
                "web_browse",
                "web_browse",
                "purchase",
            ],
        }
    )
    jd = J.build_journeys(ev)
    j = jd.journeys
    assert len(j) == 4
    assert j["converted"].tolist() == [True, False, False, True]
    assert j["n_steps"].tolist() == [1, 1, 3, 1]  # repeats collapsed
    assert not j["has_retry"].any()  # collapsed, a repeat is one step, not friction
    assert j.loc[2, "has_loop"]  # web_browse > call_centre > web_browse
    assert j.loc[2, "n_repeat_contacts"] == 1  # call 10 min after a digital step
    assert j["journey_type"].astype(str).tolist() == [
        "web_browse",
        "app_browse",
        "web_browse",
        "web_browse",
    ]
    # a longer gap keeps A's last three events together; a shorter one splits them
    assert len(J.build_journeys(ev, session_gap_minutes=5).journeys) == 6
    no_collapse = J.build_journeys(ev, collapse_repeats=False)
    assert no_collapse.journeys["n_steps"].tolist()[0] == 1
    assert no_collapse.journeys["has_retry"].tolist() == [True, False, False, False]
    assert int(no_collapse.steps.count().execute()) == len(ev)


def test_journey_id_used_and_split_after_conversion():
    ev = _events([["web_browse", "purchase", "web_tracking"]], gap_min=90)
    ev["journey_id"] = "J1"
    jd = J.build_journeys(ev)
    assert len(jd.journeys) == 2  # split after the conversion, not by the 90-minute gaps
    assert jd.journeys["journey_id"].tolist() == ["J1", "J1.1"]
    assert jd.params["used_journey_id"]
    plain = J.build_journeys(ev.drop(columns="journey_id"))
    assert len(plain.journeys) == 3  # sessionised: 90-minute gaps split every event


def test_channel_types_exact_names_only():
    tps = [
        "app",
        "app_checkout",
        "kappa",
        "web_browse",
        "store_visit",
        "call_centre",
        "chat",
        "purchase",
        "kiosk",
    ]
    channels = {"app_checkout": "App ", "web_browse": "web", "store_visit": "store"}
    t = J.touchpoint_channel_types(tps, channels=channels)
    assert t["app"] == t["app_checkout"] == t["web_browse"] == "digital"
    assert t["store_visit"] == t["call_centre"] == t["chat"] == "human"
    assert t["purchase"] == "conversion"
    # no substring or prefix guessing: "kappa" contains "app", "app_checkout" starts with it
    assert t["kappa"] == t["kiosk"] == "unknown"
    assert J.touchpoint_channel_types(["app_checkout"])["app_checkout"] == "unknown"
    t2 = J.touchpoint_channel_types(tps, mapping={"kiosk": "digital", "chat": "digital"})
    assert t2["kiosk"] == "digital" and t2["chat"] == "digital"
    # the user's mapping on the channel wins over the defaults on the touchpoint
    t3 = J.touchpoint_channel_types(
        ["call_centre"], channels={"call_centre": "robot"}, mapping={"robot": "digital"}
    )
    assert t3["call_centre"] == "digital"
    t4 = J.touchpoint_channel_types(["help"], channels={"help": "phone"})
    assert t4["help"] == "human"


def test_repeat_contact_whatever_the_names():
    """A human contact within the window after a digital step is a repeat contact, whatever the
    touchpoint is called; store visits (by channel) are not contacts."""
    ev = _events([["pg1", "ivr_support", "purchase"], ["pg1", "boutique", "purchase"]])
    ev["channel"] = ev["touchpoint"].map({"pg1": "web", "boutique": "store"})
    jd = J.build_journeys(ev, channel_types={"ivr_support": "human"})
    assert jd.contact_touchpoints == ["ivr_support"]
    assert jd.journeys["n_repeat_contacts"].tolist() == [1, 0]
    late = J.build_journeys(ev, channel_types={"ivr_support": "human"}, contact_window_minutes=0.5)
    assert late.journeys["n_repeat_contacts"].tolist() == [0, 0]


def test_journey_type_from_first_step_past_the_entry_pages():
    ev = _events(
        [
            ["home_page", "web_returns", "purchase"],
            ["landing", "home", "web_browse"],
            ["home_page", "purchase"],
            ["portal", "web_browse"],
        ]
    )
    jd = J.build_journeys(ev)
    assert jd.journeys["journey_type"].astype(str).tolist() == [
        "web_returns",
        "web_browse",
        "home_page",  # nothing past the entry: the entry page itself
        "portal",
    ]
    mine = J.build_journeys(ev, entry_touchpoints=["portal"])
    assert mine.journeys["journey_type"].astype(str).tolist()[3] == "web_browse"
    assert mine.journeys["journey_type"].astype(str).tolist()[0] == "home_page"


def test_contacts_exclude_store_visits():
    ev = _events([["web_product", "store_visit", "purchase"], ["app_checkout", "call_centre"]])
    jd = J.build_journeys(ev)
    assert jd.contact_touchpoints == ["call_centre"]
    assert jd.journeys["n_repeat_contacts"].tolist() == [0, 1]
    assert jd.journeys["friction_touchpoint"].astype(str).tolist()[1] == "app_checkout"


def test_type_map():
    ev = _events([["email_open", "web_returns", "purchase"], ["web_browse", "purchase"]])
    jd = J.build_journeys(ev, type_map={"web_returns": "returns"})
    assert jd.journeys["journey_type"].astype(str).tolist() == ["returns", "web_browse"]


# --------------------------------------------------------------------------------- map tables


def test_paths_transitions_funnel_and_outcomes():
    paths = (
        [["a", "b", "c", "purchase"]] * 30
        + [["a", "b"]] * 20
        + [["a"]] * 10
        + [["a", "b", "a", "b", "c"]] * 5
    )
    jd = J.build_journeys(_events(paths))
    top = J.top_paths(jd, 3)
    assert top.loc[0, "path"] == "a > b > c > purchase"
    assert top.loc[0, "journeys"] == 30 and top.loc[0, "conversion_rate"] == 1.0
    tm = J.transition_matrix(jd)
    assert tm.loc["(start)", "a"] == 1.0
    assert np.allclose(tm.sum(axis=1), 1.0)
    assert tm.loc["c", "purchase"] == pytest.approx(30 / 35)
    f = J.funnel(jd, "a")
    assert f["touchpoint"].tolist() == ["a", "b", "c", "purchase"]
    assert f["journeys"].tolist() == [65, 55, 35, 30]
    assert f["drop_off"].tolist()[:3] == [10, 20, 5]
    assert f["median_minutes"].iloc[1] == pytest.approx(1.0)
    co = J.compare_outcomes(jd)
    assert co.set_index("touchpoint").loc["c", "converted_share"] == 1.0
    flow = J.flow_table(jd, max_steps=3)
    assert flow["journeys"].sum() > 0
    assert set(flow["target"]) >= {"converted", "dropped out"}
    summ = J.outcome_summary(jd)
    assert summ["journeys"].tolist() == [30, 35]


# -------------------------------------------------------------------------------- attribution


def test_markov_closed_form_two_paths():
    """Paths a>b>conv, b>conv, a>null.

    P(conv) = 2/3 * 1/2 + 1/3 = 2/3; without a: 1/3 (removal effect 1/2); without b: 0
    (removal effect 1). Two conversions shared 1/2 : 1 -> a 2/3, b 4/3.
    """
    jd = J.build_journeys(_events([["a", "b", "purchase"], ["b", "purchase"], ["a"]]))
    m = J.MarkovAttribution(order=1).fit(jd)
    assert m.conversion_probability_ == pytest.approx(2 / 3, abs=1e-12)
    s = m.summary().set_index("touchpoint")
    assert s.loc["a", "removal_effect"] == pytest.approx(0.5, abs=1e-12)
    assert s.loc["b", "removal_effect"] == pytest.approx(1.0, abs=1e-12)
    assert s.loc["a", "estimate"] == pytest.approx(2 / 3, abs=1e-12)
    assert s.loc["b", "estimate"] == pytest.approx(4 / 3, abs=1e-12)
    t = J.attribution_table(jd).set_index("touchpoint")
    assert t.loc["a", "first_touch"] == 1 and t.loc["b", "first_touch"] == 1
    assert t.loc["b", "last_touch"] == 2
    assert t.loc["a", "linear"] == pytest.approx(0.5) and t.loc["b", "linear"] == 1.5
    assert t["markov_value"].sum() == pytest.approx(20.0)


def _power_iteration_p(paths: list[list[str]], removed: str | None, order: int) -> float:
    """Independent check: build the order-k chain with dictionaries and iterate
    x <- r + Q x to convergence (no linear solve)."""
    from collections import defaultdict

    counts: dict = defaultdict(lambda: defaultdict(float))
    for path, conv in paths:
        states = [("<s>",)]
        hist: list[str] = []
        for tp in path:
            hist.append(tp)
            states.append(tuple(reversed(hist[-order:])) + ("",) * (order - len(hist[-order:])))
        for s0, s1 in zip(states[:-1], states[1:], strict=False):
            counts[s0][s1] += 1
        counts[states[-1]]["CONV" if conv else "NULL"] += 1
    x = defaultdict(float)
    for _ in range(5000):
        new = defaultdict(float)
        for s, nxt in counts.items():
            if removed is not None and removed in s:
                continue
            tot = sum(nxt.values())
            new[s] = sum(
                w / tot * (1.0 if t == "CONV" else 0.0 if t == "NULL" else x[t])
                for t, w in nxt.items()
            )
        x = new
    return x[("<s>",)]


@pytest.mark.parametrize("order", [1, 2])
def test_markov_matches_independent_computation(order):
    rng = np.random.default_rng(3)
    tps = ["a", "b", "c", "d"]
    paths = []
    for _ in range(300):
        n = rng.integers(1, 6)
        p = list(rng.choice(tps, n))
        p = [t for k, t in enumerate(p) if k == 0 or t != p[k - 1]]  # collapsed
        conv = bool(rng.random() < 0.2 + 0.15 * ("c" in p) + 0.1 * len(p) / 5)
        paths.append((p, conv))
    ev = _events([p + (["purchase"] if c else []) for p, c in paths])
    m = J.MarkovAttribution(order=order).fit(J.build_journeys(ev))
    base = _power_iteration_p(paths, None, order)
    assert m.conversion_probability_ == pytest.approx(base, abs=1e-8)
    for tp, re_ in zip(m.touchpoints_, m.removal_effects_, strict=True):
        expect = 1 - _power_iteration_p(paths, tp, order) / base
        assert re_ == pytest.approx(expect, abs=1e-8)


def test_markov_order1_stable_across_runs_and_row_order():
    rng = np.random.default_rng(11)
    paths = [
        list(rng.choice(["x", "y", "z", "w"], rng.integers(1, 5)))
        + (["purchase"] if rng.random() < 0.4 else [])
        for _ in range(400)
    ]
    ev = _events(paths)
    a = J.attribution_table(J.build_journeys(ev)).set_index("touchpoint")
    b = J.attribution_table(J.build_journeys(ev.sample(frac=1.0, random_state=5))).set_index(
        "touchpoint"
    )
    pd.testing.assert_series_equal(a["markov"].round(4), b.loc[a.index, "markov"].round(4))
    n_conv = sum("purchase" in p for p in paths)
    for col in ("first_touch", "last_touch", "linear", "markov"):
        assert a[col].sum() == pytest.approx(n_conv)


def test_markov_bootstrap_ci_brackets_estimate():
    rng = np.random.default_rng(2)
    paths = [
        list(rng.choice(["x", "y", "z"], rng.integers(1, 4)))
        + (["purchase"] if rng.random() < 0.5 else [])
        for _ in range(300)
    ]
    s = J.MarkovAttribution(n_boot=50, random_state=0).fit(J.build_journeys(_events(paths)))
    out = s.summary()
    assert (out["ci_low"] <= out["estimate"] + 1e-9).all()
    assert (out["ci_high"] >= out["estimate"] - 1e-9).all()
    assert {"estimate", "ci_low", "ci_high", "p_value"} <= set(out.columns)


def test_markov_bootstrap_per_path_spreads_like_resampled_journeys():
    """The bootstrap draws one Poisson(n) weight per distinct path of n journeys. Oracle: the
    journeys themselves resampled (each kept Poisson(1) times), rebuilt and refitted. Few
    distinct paths with many journeys each, so that a Poisson(1) weight per path (the wrong
    unit) would give a spread several times too small."""
    rng = np.random.default_rng(7)
    menu = [["x", "y"], ["y"], ["x"], ["z", "y"], ["x", "z"]]
    paths = [
        list(menu[int(rng.integers(len(menu)))]) + (["purchase"] if rng.random() < 0.4 else [])
        for _ in range(400)
    ]
    fit = J.MarkovAttribution(n_boot=400, random_state=1).fit(J.build_journeys(_events(paths)))
    unit_sd = pd.Series(fit.boot_.std(axis=0), index=fit.touchpoints_)
    oracle = []
    for b in range(40):
        keep = np.random.default_rng(100 + b).poisson(1.0, len(paths))
        again = [p for p, k in zip(paths, keep, strict=True) for _ in range(k)]
        m = J.MarkovAttribution().fit(J.build_journeys(_events(again)))
        oracle.append(pd.Series(m.attributed_, index=m.touchpoints_))
    oracle_sd = pd.concat(oracle, axis=1).std(axis=1)
    ratio = unit_sd / oracle_sd.loc[unit_sd.index]
    assert ratio.between(0.7, 1.4).all(), ratio.to_dict()


# ------------------------------------------------------------------ friction and priorities


def _friction_world(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two journey types: 'app_start' with a failing checkout that pushes to the call centre,
    'web_start' smooth; feedback linked by journey id."""
    rng = np.random.default_rng(seed)
    paths, ids = [], []
    for i in range(n):
        if i % 2 == 0:
            fail = rng.random() < 0.4
            p = ["app_start", "app_checkout"] + (["app_checkout", "call_centre"] if fail else [])
            p += ["purchase"] if rng.random() < (0.2 if fail else 0.9) else []
        else:
            p = ["web_start", "web_checkout"] + (["purchase"] if rng.random() < 0.8 else [])
        paths.append(p)
        ids.append(f"J{i}")
    ev = _events(paths)
    ev["journey_id"] = ev["customer_id"].str.replace("C", "J").str.lstrip("J0")
    ev["journey_id"] = "J" + ev["journey_id"].replace("", "0")
    fb = pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(n)],
            "timestamp": [T0 + pd.Timedelta(days=i, hours=2) for i in range(n)],
            "score": [3.0 if "call_centre" in p else 8.0 for p in paths],
            "journey_id": [f"J{i}" for i in range(n)],
            "complaint": ["call_centre" in p for p in paths],
        }
    )
    return ev, fb


def test_prioritise_ranks_failing_journey_first_and_exports():
    ev, fb = _friction_world()
    jd = J.build_journeys(ev, collapse_repeats=False)  # a repeat may be a failure signal
    fbl = J.link_feedback(jd, fb)
    assert (fbl["linked_by"] == "journey_id").all()
    pr = J.prioritise(jd, fbl, min_group_size=10)
    assert pr.loc[0, "journey"] == "app_start" and pr.loc[0, "rank"] == 1
    assert pr.loc[0, "main_friction_touchpoint"] == "app_checkout"
    assert pr.loc[0, "opportunity_value"] > 0
    assert pr.loc[0, "satisfaction_gap"] > 0
    assert (
        pr.loc[0, "conversion_ci_low"]
        < pr.loc[0, "conversion_rate"]
        < pr.loc[0, "conversion_ci_high"]
    )
    assert "Fix 'app_start'" in pr.loc[0, "recommendation"]
    assert "associated with lower conversion" in pr.loc[0, "recommendation"]
    # one unit: journeys x conversion gap, in conversions and money, with an interval
    top = pr.loc[0]
    assert top["stands_out"] and 0 < top["extra_conversions_ci_low"] < top["extra_conversions"]
    assert top["extra_conversions"] < top["extra_conversions_ci_high"]
    assert top["extra_conversions"] == pytest.approx(
        top["journeys"] * (top["target_conversion"] - top["conversion_rate"])
    )
    assert top["opportunity_value"] == pytest.approx(
        top["extra_conversions"] * top["value_per_conversion"]
    )
    assert top["opportunity_ci_low"] == pytest.approx(
        top["extra_conversions_ci_low"] * top["value_per_conversion"]
    )
    assert f"about {top['extra_conversions']:,.0f} more conversions" in top["recommendation"]
    assert pr.loc[1, "opportunity_value"] == 0 and pr.loc[1, "recommendation"].startswith("Monitor")
    assert not pr.loc[1, "stands_out"]
    exp = J.priorities_export(pr)
    assert list(exp.columns) == J.PRIORITY_EXPORT_COLUMNS
    assert exp.loc[0, "opportunity_ci_high"] == round(top["opportunity_ci_high"], 2)
    assert exp.loc[0, "avg_satisfaction"] == round(top["avg_satisfaction"], 4)
    att = J.attribution_export(J.attribution_table(jd))
    assert list(att.columns) == J.ATTRIBUTION_EXPORT_COLUMNS
    fr = J.friction_by_touchpoint(jd, fbl)
    row = fr.set_index(["journey_type", "touchpoint"]).loc[("app_start", "app_checkout")]
    assert row["retry_rate"] > 0.3 and row["contact_after_rate"] > 0.3
    assert row["lost_conversions"] > 0
    # repeats collapsed (the default): the repeat is no friction, the contact after it still is
    with J.build_journeys(ev) as collapsed:
        fc = J.friction_by_touchpoint(collapsed).set_index(["journey_type", "touchpoint"])
        assert fc.loc[("app_start", "app_checkout"), "retry_rate"] == 0
        assert fc.loc[("app_start", "app_checkout"), "lost_conversions"] > 0
    ft = J.friction_by_type(jd, fbl).set_index("journey")
    assert ft.loc["app_start", "avg_satisfaction"] < ft.loc["web_start", "avg_satisfaction"]


def test_small_groups_suppressed_and_targets():
    ev, fb = _friction_world(n=400)
    extra = _events([["z_rare", "purchase"]] * 3)
    extra["customer_id"] = extra["customer_id"] + "Z"
    extra["journey_id"] = ["JZ1", "JZ1", "JZ2", "JZ2", "JZ3", "JZ3"]
    jd = J.build_journeys(pd.concat([ev, extra], ignore_index=True))
    pr = J.prioritise(jd, None, min_group_size=10)
    assert "z_rare" not in set(pr["journey"]) and not pr.attrs
    r = J.run_journeys({"events": pd.concat([ev, extra], ignore_index=True)}, n_boot=0)
    assert r.suppressed_priorities == 1 and "z_rare" not in set(r.priorities["journey"])
    fixed = J.opportunity(jd, target_conversion=0.95, value_per_conversion=2.0)
    row = fixed.set_index("journey").loc["web_start"]
    assert row["target_conversion"] == 0.95
    assert row["opportunity_value"] == pytest.approx(
        row["journeys"] * (0.95 - row["conversion_rate"]) * 2.0
    )
    # a set target: the interval is that of the current rate
    assert row["extra_conversions_ci_low"] < row["extra_conversions"]
    assert row["extra_conversions"] < row["extra_conversions_ci_high"]


def test_plain_clickstream_without_value_or_feedback():
    ev, _ = _friction_world()
    plain = ev[["customer_id", "timestamp", "touchpoint"]]
    jd = J.build_journeys(plain)
    assert not jd.params["used_journey_id"]
    pr = J.prioritise(jd, None)
    assert pr.loc[0, "journey"] == "app_start"
    assert pr["value_per_conversion"].eq(1.0).all()  # no value: opportunity in conversions
    assert "worth" not in pr.loc[0, "recommendation"]
    assert pr["avg_satisfaction"].isna().all()
    att = J.attribution_table(jd)
    assert att["markov"].sum() == pytest.approx(jd.journeys["converted"].sum())


def test_feedback_linked_by_time_without_journey_id():
    ev, fb = _friction_world(n=40)
    jd = J.build_journeys(ev.drop(columns="journey_id"))
    fbl = J.link_feedback(jd, fb.drop(columns="journey_id"))
    assert (fbl["linked_by"] == "time").all()
    assert fbl["touchpoint"].notna().all()
    late = fb.drop(columns="journey_id").assign(timestamp=fb["timestamp"] + pd.Timedelta(days=30))
    assert (J.link_feedback(jd, late)["linked_by"] == "none").sum() > 0


def test_empty_events():
    ev = pd.DataFrame(
        {
            "customer_id": pd.Series(dtype="str"),
            "timestamp": pd.Series(dtype="datetime64[ns]"),
            "touchpoint": pd.Series(dtype="str"),
        }
    )
    with pytest.raises(ValueError, match="no rows"):
        J.build_journeys(ev)


# -------------------------------------------------------------------------------------- plots


def test_plots_return_axes():
    from cxlib.plots import journey as P

    ev, fb = _friction_world()
    jd = J.build_journeys(ev)
    fbl = J.link_feedback(jd, fb)
    pr = J.prioritise(jd, fbl)
    axes = [
        P.plot_top_paths(J.top_paths(jd)),
        P.plot_transition_heatmap(J.transition_matrix(jd)),
        P.plot_journey_flow(J.flow_table(jd)),
        P.plot_funnel(J.funnel(jd, "app_start")),
        P.plot_outcome_comparison(J.compare_outcomes(jd)),
        P.plot_attribution(J.attribution_table(jd, n_boot=10)),
        P.plot_friction(J.friction_by_type(jd, fbl)),
        P.plot_priorities(pr),
    ]
    import matplotlib.pyplot as plt

    for ax in axes:
        assert ax.get_title()
    plt.close("all")


# ------------------------------------------------------------------------------- run_journeys


def test_run_journeys_shape_options_and_cutoff():
    ev, fb = _friction_world(n=200)
    data = {"events": ev, "feedback": fb}
    as_of = ev["timestamp"].iloc[len(ev) // 2].normalize()
    r = J.run_journeys(
        data,
        as_of_date=as_of,
        options={
            "fix_effort": {"app_start": "low"},
            "currency": "£",
            "type_map": {"web_checkout": "web buy"},
            "channel_types": {"app_start": "human"},
        },
        min_group_size=5,
        n_boot=10,
    )
    assert isinstance(r, J.JourneyResult) and not r.skipped
    # the cut-off: events after the end of the analysis day do not count
    kept = ev[ev["timestamp"] < as_of + pd.Timedelta(days=1)]
    assert r.journeys["end"].max() < as_of + pd.Timedelta(days=1)
    assert r.n_customers == kept["customer_id"].nunique()
    # the options arrive
    assert r.touchpoint_types["app_start"] == "human"
    assert "web buy" in set(r.journeys["journey_type"].astype(str))
    pr = r.priorities.set_index("journey")
    assert pr.loc["app_start", "fix_effort"] == "low"
    assert r.currency == "£" and "£" in pr.loc["app_start", "recommendation"]
    # shape: findings, exports, display tables
    found = r.findings()
    assert found[0].text.startswith(f"{len(r.journeys):,} journeys by {r.n_customers:,} customers")
    assert sum(f.headline for f in found) == 3
    fix_first = next(f for f in found if f.text.startswith("Fix first"))
    assert fix_first.impact == pytest.approx(r.priorities["opportunity_value"].iloc[0])
    assert "£" in fix_first.text
    ex = r.exports()
    assert list(ex) == ["attribution.csv", "journey_priorities.csv"]
    assert list(ex["attribution.csv"].columns) == J.ATTRIBUTION_EXPORT_COLUMNS
    assert list(ex["journey_priorities.csv"].columns) == J.PRIORITY_EXPORT_COLUMNS
    for shown in (
        r.touchpoint_table(),
        r.paths_table(),
        r.attribution_shown(),
        r.friction_shown(),
        r.worst_touchpoints(),
        r.priorities_shown(),
        r.outcome_table(),
    ):
        assert isinstance(shown, pd.DataFrame) and len(shown)
    assert r.overview().startswith(f"**{len(r.journeys):,} journeys**")
    assert r.recommendations().startswith("1. ")
    assert set(r.funnels) <= set(r.journeys["journey_type"].astype(str))


def test_run_journeys_skips():
    ev, _ = _friction_world(n=20)
    r = J.run_journeys({"events": None})
    assert r.skipped and r.status_note == "Skipped: no events table." and r.findings() == []
    assert r.exports() == {}
    few = J.run_journeys({"events": ev}, min_group_size=50)
    assert few.status_note == "Skipped: fewer than 50 customers have journeys."
    assert "fewer than 50 customers (min_group_size)" in few.skip_reason
    early = J.run_journeys({"events": ev}, as_of_date=T0 - pd.Timedelta(days=1))
    assert early.skipped and early.exports() == {}
