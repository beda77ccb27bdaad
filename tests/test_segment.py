"""cxlib.segment on small hand-made data: RFM scores and grid, clusters, profiles, export."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from cxlib import segment as S
from cxlib.plots import segment as P

# --------------------------------------------------------------------------------------------
# RFM scores
# --------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=60),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_quintile_scores_deterministic_monotone_and_tie_consistent(values, seed):
    s = pd.Series(values, index=[f"c{i:03d}" for i in range(len(values))], dtype=float)
    scores = S.quintile_scores(s)
    assert scores.between(1, 5).all()
    # row order does not matter
    perm = s.sample(frac=1.0, random_state=seed)
    assert S.quintile_scores(perm).reindex(s.index).equals(scores)
    # equal values share a score; larger values never score lower
    for _v, grp in scores.groupby(s):
        assert grp.nunique() == 1
    order = s.sort_values(kind="stable").index
    assert scores[order].is_monotonic_increasing


def test_quintile_scores_equal_bins_without_ties_and_direction():
    s = pd.Series(np.arange(100, dtype=float))
    up = S.quintile_scores(s)
    assert up.value_counts().tolist() == [20] * 5
    assert up.iloc[0] == 1 and up.iloc[-1] == 5
    down = S.quintile_scores(s, higher_is_better=False)
    assert down.iloc[0] == 5 and down.iloc[-1] == 1
    with pytest.raises(ValueError):
        S.quintile_scores(pd.Series([1.0, np.nan]))


def test_grid_covers_every_cell_and_names_all_eleven_segments():
    assert RFM_GRID_SHAPE == (5, 5)
    assert set(S.RFM_GRID.to_numpy().ravel()) == set(S.RFM_SEGMENTS)
    assert len(S.RFM_SEGMENTS) == 11
    assert set(S.RFM_DESCRIPTIONS) == set(S.RFM_SEGMENTS)
    # anchors of the classic scheme
    assert S.RFM_GRID.loc[5, 5] == "Champions"
    assert S.RFM_GRID.loc[1, 1] == "Lost"
    assert S.RFM_GRID.loc[1, 5] == "Can't lose them"
    assert S.RFM_GRID.loc[5, 1] == "New"


RFM_GRID_SHAPE = S.RFM_GRID.shape


def _features(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.Index([f"CRM-A-{i:06d}" for i in range(n)], name="customer_id")
    freq = rng.poisson(4, n)
    return pd.DataFrame(
        {
            "recency_days": rng.integers(0, 700, n),
            "frequency": freq,
            "monetary": freq * rng.gamma(3, 20, n),
        },
        index=idx,
    )


def test_rfm_scores_columns_fm_rule_and_segments():
    f = _features()
    r = S.rfm_scores(f)
    assert list(r.columns) == [
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "fm_score",
        "rfm_segment",
    ]
    assert (r["fm_score"] == np.floor((r["f_score"] + r["m_score"]) / 2 + 0.5)).all()
    active = r["frequency"] > 0
    expected = [S.RFM_GRID.loc[a, b] for a, b in zip(r["r_score"], r["fm_score"], strict=True)]
    assert r["rfm_segment"].astype(str).tolist() == expected
    # customers without a purchase in the window are Lost with 1-1-1, outside the ranking
    assert (~active).any()
    assert (r.loc[~active, ["r_score", "f_score", "m_score"]] == 1).all().all()
    assert (r.loc[~active, "rfm_segment"] == "Lost").all()
    ranked = S.quintile_scores(f.loc[active, "frequency"])
    assert r.loc[active, "f_score"].equals(ranked)
    # the most recent active customer gets R = 5, the least recent R = 1
    fa = f.loc[active]
    assert r.loc[fa["recency_days"].idxmin(), "r_score"] == 5
    assert r.loc[fa["recency_days"].idxmax(), "r_score"] == 1


def test_new_customers_land_in_new():
    f = pd.DataFrame(
        {
            "recency_days": np.r_[np.zeros(20), np.arange(80) + 30],
            "frequency": np.r_[np.ones(20), np.full(80, 6)],
            "monetary": np.r_[np.full(20, 5.0), np.full(80, 300.0)],
        },
        index=[f"c{i:03d}" for i in range(100)],
    )
    r = S.rfm_scores(f)
    assert (r["rfm_segment"].iloc[:20] == "New").all()


def test_segment_summary_shares_and_suppression():
    seg = pd.Series(["A"] * 50 + ["B"] * 45 + ["C"] * 5)
    rev = pd.Series([2.0] * 50 + [1.0] * 45 + [10.0] * 5)
    out = S.segment_summary(seg, rev, order=["C", "B", "A"], min_group_size=10)
    assert out["segment"].tolist() == ["B", "A"]  # C (5 customers) suppressed
    a = out.set_index("segment").loc["A"]
    assert a["customers"] == 50
    assert a["customer_share"] == pytest.approx(0.5)
    assert a["revenue_share"] == pytest.approx(100 / 195)
    assert a["revenue_per_customer"] == pytest.approx(2.0)


def test_migration_counts_new_customers_and_suppression():
    cur = pd.DataFrame(
        {"rfm_segment": ["At risk"] * 12 + ["Champions"] * 15 + ["New"] * 11 + ["Lost"] * 3},
        index=[f"c{i}" for i in range(41)],
    )
    prev = pd.DataFrame(
        {"rfm_segment": ["Loyal"] * 12 + ["Champions"] * 15 + ["Lost"] * 3},
        index=[f"c{i}" for i in [*range(27), 38, 39, 40]],
    )
    m = S.rfm_migration(cur, prev, "2025-04-01", "2025-06-30", min_group_size=10)
    assert m.counts.loc["Loyal", "At risk"] == 12
    assert m.counts.loc[S.NOT_YET_CUSTOMER, "New"] == 11
    assert np.isnan(m.counts.loc["Lost", "Lost"])  # 3 customers: suppressed
    assert m.row_share.loc["Loyal", "At risk"] == pytest.approx(1.0)
    assert m.moved(["Loyal"], ["At risk"]) == (12, 12)
    assert "2025-04-01" in m.counts.index.name


# --------------------------------------------------------------------------------------------
# Behavioural clusters
# --------------------------------------------------------------------------------------------


def _behaviour(n_per: int = 150, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Three well-separated behaviour groups (app mornings, store weekends, web evenings)."""
    rng = np.random.default_rng(seed)
    groups = []
    specs = [  # rate, basket, (store, web, app), (morning, afternoon, evening, night), weekend
        (30, 15, (0.1, 0.1, 0.8), (0.7, 0.1, 0.1, 0.1), 0.1),
        (10, 90, (0.85, 0.1, 0.05), (0.1, 0.7, 0.15, 0.05), 0.7),
        (6, 45, (0.1, 0.8, 0.1), (0.1, 0.1, 0.7, 0.1), 0.3),
    ]
    for g, (rate, basket, ch, tod, wk) in enumerate(specs):
        ch_s = rng.dirichlet(np.array(ch) * 30, n_per)
        tod_s = rng.dirichlet(np.array(tod) * 30, n_per)
        groups.append(
            pd.DataFrame(
                {
                    "purchase_rate": rng.gamma(8, rate / 8, n_per),
                    "avg_basket": rng.lognormal(np.log(basket), 0.3, n_per),
                    "channel_share_store": ch_s[:, 0],
                    "channel_share_web": ch_s[:, 1],
                    "channel_share_app": ch_s[:, 2],
                    "tod_share_morning": tod_s[:, 0],
                    "tod_share_afternoon": tod_s[:, 1],
                    "tod_share_evening": tod_s[:, 2],
                    "tod_share_night": tod_s[:, 3],
                    "weekend_share": rng.beta(wk * 20, (1 - wk) * 20, n_per),
                    "group": g,
                }
            )
        )
    df = pd.concat(groups, ignore_index=True)
    df.index = pd.Index([f"C{i:05d}" for i in range(len(df))], name="customer_id")
    df["frequency"] = np.round(df["purchase_rate"]).astype(int)
    df["monetary"] = df["frequency"] * df["avg_basket"]
    df["recency_days"] = rng.integers(0, 300, len(df))
    truth = df.pop("group").to_numpy()
    return df, truth


@pytest.fixture(scope="module")
def fitted():
    X, truth = _behaviour()
    seg = S.BehaviouralSegmenter(k_range=range(2, 6), random_state=0, n_stability=4).fit(X)
    return X, truth, seg


def test_segmenter_recovers_planted_groups(fitted):
    X, truth, seg = fitted
    assert seg.k_ == 3
    assert adjusted_rand_score(truth, seg.labels_) > 0.95
    sel = seg.selection_
    assert list(sel["k"]) == [2, 3, 4, 5]
    assert sel["chosen"].sum() == 1
    assert sel.loc[sel["chosen"], "k"].item() == seg.k_
    assert {"silhouette", "stability", "score"} <= set(sel.columns)


def test_segmenter_labels_sorted_by_size_predict_and_attributes(fitted):
    X, _, seg = fitted
    sizes = pd.Series(seg.labels_).value_counts().sort_index()
    assert list(sizes.index) == list(range(1, seg.k_ + 1))
    assert sizes.is_monotonic_decreasing
    assert (seg.predict(X) == seg.labels_).all()
    assert seg.feature_names_in_[0] == "purchase_rate"
    assert "purchase_rate" in seg.log_features_ or "avg_basket" in seg.log_features_
    assert seg.cluster_centers_.shape == (seg.k_, len(seg.feature_names_in_))


def test_k_choice_sentence_says_when_the_scores_used_a_sample(fitted):
    X, _, seg = fitted
    assert seg.n_scored_ == len(X)  # below sample_size: every customer is scored
    plain = S.k_choice_sentence(seg.selection_, n_scored=seg.n_scored_, n_customers=len(X))
    assert plain.startswith("We tried 2 to 5 segments and kept 3") and "sample" not in plain
    small = S.BehaviouralSegmenter(
        k_range=[2, 3, 4], random_state=0, n_stability=2, sample_size=100
    ).fit(X)
    assert small.n_scored_ == 100
    text = S.k_choice_sentence(small.selection_, n_scored=small.n_scored_, n_customers=len(X))
    assert text.endswith(
        f"measured on a random sample of 100 of the {len(X):,} customers; every customer is "
        "given a segment."
    )
    assert len(small.labels_) == len(X)


def test_segmenter_is_deterministic_for_a_seed():
    X, _ = _behaviour(n_per=80, seed=3)
    a = S.BehaviouralSegmenter(k_range=[2, 3, 4], random_state=5, n_stability=3).fit(X)
    b = S.BehaviouralSegmenter(k_range=[2, 3, 4], random_state=5, n_stability=3).fit(X)
    assert (a.labels_ == b.labels_).all()
    pd.testing.assert_frame_equal(a.selection_, b.selection_)


def test_segmenter_handles_missing_values_and_too_few_rows():
    X, _ = _behaviour(n_per=40)
    X.iloc[:5, 0] = np.nan
    seg = S.BehaviouralSegmenter(k_range=[3], random_state=0, n_stability=2).fit(X)
    assert len(seg.labels_) == len(X)
    with pytest.raises(ValueError, match="too few"):
        S.BehaviouralSegmenter(k_range=[3]).fit(X.iloc[:5])


def test_minibatch_path_above_threshold():
    X, truth = _behaviour(n_per=100)
    seg = S.BehaviouralSegmenter(
        k_range=[3], random_state=0, minibatch_threshold=100, n_stability=2
    ).fit(X)
    assert type(seg.model_).__name__ == "MiniBatchKMeans"
    assert adjusted_rand_score(truth, seg.labels_) > 0.9


def test_bootstrap_stability_summary(fitted):
    X, _, seg = fitted
    res = S.bootstrap_stability(seg, X, n_bootstrap=5, random_state=1)
    summ = res.summary()
    assert list(summ.columns[:4]) == ["estimate", "ci_low", "ci_high", "p_value"]
    assert 0.9 < summ["estimate"].item() <= 1.0
    assert summ["ci_low"].item() <= summ["estimate"].item() <= summ["ci_high"].item()
    assert len(res.ari) == 5


def test_profiles_names_and_descriptions(fitted):
    X, _, seg = fitted
    prof = S.profile_clusters(X, seg.labels_)
    names = prof.names
    assert len(set(names.values())) == seg.k_
    joined = " | ".join(names.values()).lower()
    assert "app" in joined and "in-store" in joined and "online" in joined
    assert "morning" in joined and "weekend" in joined
    assert prof.summary["customer_share"].sum() == pytest.approx(1.0)
    assert prof.summary["revenue_share"].sum() == pytest.approx(1.0)
    assert all("customers" in d and "%" in d for d in prof.summary["description"])
    assert prof.std_diff.shape[0] == seg.k_
    assert list(prof.channel_mix.index)[-1] == "All customers"
    assert prof.channel_mix.loc["All customers"].sum() == pytest.approx(1.0)


def test_profiles_suppress_small_clusters():
    X, _ = _behaviour(n_per=30)
    labels = np.r_[np.ones(85, int), np.full(5, 2)]
    prof = S.profile_clusters(X, labels, min_group_size=10)
    assert prof.summary["cluster"].tolist() == [1]
    assert 2 not in prof.std_diff.index


# --------------------------------------------------------------------------------------------
# People and export
# --------------------------------------------------------------------------------------------


def test_master_map_people_and_export(tmp_path):
    (tmp_path / "exports").mkdir()
    pd.DataFrame(
        {
            "customer_id": ["CRM-A-1", "CRM-B-9", "CRM-A-2"],
            "source_system": ["CRM-A", "CRM-B", "CRM-A"],
            "master_id": ["P1", "P1", "P2"],
            "match_probability": [1.0, 0.99, 1.0],
        }
    ).to_csv(tmp_path / "exports" / "customer_master_map.csv", index=False)
    mm = S.load_master_map(tmp_path)
    assert mm is not None and list(mm.columns) == ["customer_id", "master_id"]
    assert S.load_master_map(tmp_path / "nowhere") is None
    # a map made from other data (stale file) is ignored
    assert S.load_master_map(tmp_path, ids=pd.Series(["X-1", "X-2", "CRM-A-1"])) is None
    assert S.load_master_map(tmp_path, ids=pd.Series(["CRM-A-1", "CRM-B-9", "X"])) is not None

    tx = pd.DataFrame(
        {
            "customer_id": ["CRM-A-1", "CRM-B-9", "CRM-A-2", "CRM-A-3"],
            "timestamp": pd.to_datetime(["2025-01-01"] * 4),
            "amount": [1.0, 2.0, 3.0, 4.0],
        }
    )
    people = S.to_people(tx, mm)
    assert people["customer_id"].tolist() == ["P1", "P1", "P2", "CRM-A-3"]
    assert people["source_customer_id"].tolist() == tx["customer_id"].tolist()

    rfm = pd.DataFrame(
        {
            "recency_days": [1, 2, 3],
            "frequency": [2, 1, 1],
            "monetary": [3.0, 3.0, 4.0],
            "r_score": [5, 3, 1],
            "f_score": [5, 3, 3],
            "m_score": [3, 3, 5],
            "rfm_segment": pd.Categorical(["Champions", "Need attention", "At risk"]),
        },
        index=pd.Index(["P1", "P2", "CRM-A-3"], name="customer_id"),
    )
    clusters = pd.Series([1, 2, 1], index=rfm.index)
    names = {1: "=cmd() app regulars", 2: "Evening online shoppers"}
    ex = S.segments_export(rfm, clusters, names, master_map=mm)
    assert list(ex.columns) == [*S.EXPORT_COLUMNS, "master_id"]
    assert ex["customer_id"].tolist() == ["CRM-A-1", "CRM-A-2", "CRM-A-3", "CRM-B-9"]
    assert ex.set_index("customer_id").loc["CRM-B-9", "rfm_segment"] == "Champions"

    customers = pd.DataFrame(
        {
            "customer_id": ["CRM-A-1", "CRM-B-9", "CRM-A-2", "CRM-A-3"],
            "marketing_consent": pd.array([True, False, pd.NA, True], dtype="boolean"),
        }
    )
    ex2 = S.segments_export(rfm, clusters, names, customers=customers, master_map=mm)
    assert ex2["customer_id"].tolist() == ["CRM-A-1", "CRM-A-3"]  # no consent / unknown: out

    recs = S.segments_export(
        rfm.rename(index={"P1": "CRM-A-1", "P2": "CRM-A-2"}),
        clusters.rename(index={"P1": "CRM-A-1", "P2": "CRM-A-2"}),
        names,
    )
    assert list(recs.columns) == list(S.EXPORT_COLUMNS)
    assert len(recs) == 3


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def test_plots_return_titled_labelled_axes(fitted):
    import matplotlib.pyplot as plt

    X, _, seg = fitted
    r = S.rfm_scores(X)
    summ = S.segment_summary(
        r["rfm_segment"], r["monetary"], order=list(S.RFM_SEGMENTS), min_group_size=1
    )
    prof = S.profile_clusters(X, seg.labels_)
    m = S.rfm_migration(r, r, "2025-04-01", "2025-06-30", min_group_size=1)
    st_res = S.bootstrap_stability(seg, X, n_bootstrap=3, random_state=0)
    axes = [
        P.plot_segment_sizes(data=summ),
        P.plot_segment_treemap(data=summ),
        P.plot_rfm_grid(data=r),
        P.plot_k_selection(data=seg.selection_),
        P.plot_cluster_differences(data=prof.std_diff, names=prof.names),
        P.plot_mix(data=prof.channel_mix),
        P.plot_migration(data=m.row_share),
        P.plot_stability(data=st_res.ari),
    ]
    for ax in axes:
        assert ax.get_title()
        if ax.axison:
            assert ax.get_xlabel() and ax.get_ylabel() is not None
    ax = P.plot_mix(data=prof.channel_mix, what="channel")
    assert ax.get_title() == "Purchases by channel in each segment"
    assert ax.get_xlabel() == "Share of purchases by channel (%)"
    plt.close("all")


# --------------------------------------------------------------------------------------------
# run_segmentation: the skips and the options
# --------------------------------------------------------------------------------------------


def test_run_segmentation_skips_without_transactions_or_customers():
    r = S.run_segmentation({}, as_of_date="2025-06-30")
    assert r.skipped and r.status_note == "Skipped: no transactions table."
    assert r.findings() == [] and r.exports() == {}
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "timestamp": pd.to_datetime(["2025-06-01", "2025-06-02", "2025-06-03"]),
            "amount": [1.0, 2.0, 3.0],
        }
    )
    r = S.run_segmentation({"transactions": tx}, as_of_date="2025-06-30", options={"k_max": 4})
    assert r.skipped and r.status_note == "Skipped: fewer than 10 customers with purchases."
    assert r.skip_reason == (
        "fewer than 10 customers bought anything up to 2025-06-30: too few to form up to 4 "
        "segments of at least 10 customers (min_group_size)"
    )
    # explicit arguments win over the options block; unknown keys are ignored
    r = S.run_segmentation(
        {"transactions": tx}, as_of_date="2025-06-30", options={"k_max": 4, "other": 1}, k_max=9
    )
    assert r.options["k_max"] == 9 and "other" not in r.options
    assert r.status_note == "Skipped: fewer than 19 customers with purchases."
