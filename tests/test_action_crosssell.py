"""Category affinity, cross-sell and up-sell (issue #23) on a planted world.

The world is generated here, independently of the models: customers own some of 24 categories
from the start and adopt the others over a year at a small daily hazard, eight times larger for
a category whose planted partner they own (four planted pairs). Each trip's basket holds each
owned category with a fixed probability, and a planted partner, when owned, joins its pair's
category in the basket most of the time. So the planted pairs have a basket lift well above 2,
the other pairs about 1, and the categories a customer buys next follow the pairs, not the
popularity of categories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxlib.action._affinity import AffinityRules, category_affinity, lift_interval, top_pairs
from cxlib.action._category_history import (
    first_purchases,
    load_histories,
    load_history,
    new_pairs,
)
from cxlib.action._crosssell import CANDIDATES, RECOMMENDATION_COLUMNS, CrossSellModel
from cxlib.action._crosssell_eval import (
    EVALUATION_COLUMNS,
    CrossSellEvaluation,
    choose_cross_sell_model,
    evaluate_cross_sell,
)
from cxlib.action._crosssell_scorers import Basis, EaseScorer, UserKnnScorer
from cxlib.action._upsell import UP_SELL_COLUMNS, cross_sell_export, up_sell_candidates
from cxlib.engine import Engine, data_end

START = pd.Timestamp("2024-01-01")
N_DAYS = 366
N_CAT = 24
PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7))
CUTOFF = START + pd.Timedelta(days=304)  # 2024-10-31
HORIZON = 61  # through 2024-12-31
SEED = 7


def _name(c: int) -> str:
    return f"cat{c:02d}"


def planted_world(seed: int = SEED, n_customers: int = 2000) -> pd.DataFrame:
    """Contract transactions of the planted world (one line per basket and category)."""
    rng = np.random.default_rng(seed)
    partner = np.full(N_CAT, -1)
    for a, b in PAIRS:
        partner[a], partner[b] = b, a
    other = np.linspace(0.7, 0.1, N_CAT - 8)  # the unpaired categories' popularity
    owned = rng.random((n_customers, N_CAT)) < np.concatenate([np.full(8, 0.25), other])
    hazard = 0.0008 * np.concatenate([np.full(8, 1.0), 0.5 + other])
    pending = np.zeros_like(owned)  # adopted, not bought yet: joins the next basket
    visit = rng.uniform(0.05, 0.2, n_customers)
    parts = []
    for d in range(N_DAYS):
        partner_owned = np.where(partner >= 0, owned[:, np.maximum(partner, 0)], False)
        adopt = ~owned & (rng.random(owned.shape) < hazard * np.where(partner_owned, 8.0, 1.0))
        owned |= adopt
        pending |= adopt
        u = np.flatnonzero(rng.random(n_customers) < visit)
        basket = owned[u] & (rng.random((len(u), N_CAT)) < 0.35)
        pull = np.zeros_like(basket)
        for a, b in PAIRS:
            pull[:, b] |= basket[:, a] & owned[u, b] & (rng.random(len(u)) < 0.8)
            pull[:, a] |= basket[:, b] & owned[u, a] & (rng.random(len(u)) < 0.8)
        basket |= pull | pending[u]
        pending[u] = False
        r, c = np.nonzero(basket)
        parts.append(np.column_stack([u[r], np.full(len(r), d), c]))
    cust, day, cat = np.concatenate(parts).T
    seconds = rng.integers(8 * 3600, 20 * 3600, n_customers)[cust]  # one shopping hour each
    return pd.DataFrame(
        {
            "customer_id": pd.Series([f"u{i:05d}" for i in cust], dtype="str"),
            "transaction_id": pd.Series(
                [f"t{i:05d}-{d:03d}" for i, d in zip(cust, day, strict=True)], dtype="str"
            ),
            "timestamp": START + pd.to_timedelta(day, "D") + pd.to_timedelta(seconds, "s"),
            "amount": np.round(rng.lognormal(1.5, 0.5, len(cust)), 2),
            "category": pd.Series([_name(c) for c in cat], dtype="str"),
        }
    )


def numpy_pair_counts(keys: np.ndarray, cats: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Baskets, baskets per category and per category pair, counted with numpy."""
    _, basket = np.unique(keys, return_inverse=True)
    codes = np.array([int(c[3:]) for c in cats])
    m = np.zeros((basket.max() + 1, N_CAT), dtype=np.int64)
    m[basket, codes] = 1
    return len(m), m.sum(axis=0), m.T @ m


@pytest.fixture(scope="module")
def world() -> pd.DataFrame:
    return planted_world()


@pytest.fixture(scope="module")
def engine():
    with Engine() as eng:
        yield eng


@pytest.fixture(scope="module")
def table(world, engine):
    return engine.table(world)


@pytest.fixture(scope="module")
def rules(table, engine) -> AffinityRules:
    return category_affinity(table, engine=engine)


@pytest.fixture(scope="module")
def evaluation(table, engine) -> CrossSellEvaluation:
    return evaluate_cross_sell(table, cutoff=CUTOFF, horizon_days=HORIZON, k=3, engine=engine)


# -- affinity ---------------------------------------------------------------------------------


def test_planted_pairs_top_the_lifts(world, rules):
    """Done-when (a): every planted pair with a true lift of at least 2 is among the top
    2 × (planted pairs) pairs by lift."""
    n, per_cat, both = numpy_pair_counts(world["transaction_id"].to_numpy(), world["category"])
    true_lift = {p: both[p] * n / (per_cat[p[0]] * per_cat[p[1]]) for p in PAIRS}
    strong = [p for p, lift in true_lift.items() if lift >= 2]
    assert len(strong) == len(PAIRS), true_lift  # the world plants them strongly enough
    top = top_pairs(rules.table, 2 * len(PAIRS))
    got = {tuple(sorted((a, b))) for a, b in zip(top["category_a"], top["category_b"], strict=True)}
    for a, b in strong:
        assert (_name(a), _name(b)) in got, (a, b, top)
    # the planted pairs are the top four exactly, the rest near independence
    top4 = zip(top["category_a"][:4], top["category_b"][:4], strict=True)
    assert {tuple(sorted(p)) for p in top4} == {(_name(a), _name(b)) for a, b in PAIRS}
    assert top["lift"].iloc[4] < 1.5


def test_counts_match_numpy(world, rules):
    n, per_cat, both = numpy_pair_counts(world["transaction_id"].to_numpy(), world["category"])
    assert rules.n_baskets == n
    for row in rules.table.head(40).itertuples():
        a, b = int(row.category_a[3:]), int(row.category_b[3:])
        assert (row.baskets_a, row.baskets_b, row.baskets_both) == (
            per_cat[a],
            per_cat[b],
            both[a, b],
        )
        assert row.lift == pytest.approx(both[a, b] * n / (per_cat[a] * per_cat[b]), rel=1e-12)
        assert row.confidence == pytest.approx(both[a, b] / per_cat[a], rel=1e-12)
        assert row.support == pytest.approx(both[a, b] / n, rel=1e-12)
        assert row.lift_low < row.lift < row.lift_high
    assert list(rules.table.columns) == [
        "category_a",
        "category_b",
        "baskets_a",
        "baskets_b",
        "baskets_both",
        "support",
        "confidence",
        "lift",
        "lift_low",
        "lift_high",
    ]
    assert rules.table["lift"].is_monotonic_decreasing


def test_day_baskets_and_fallback(world, engine):
    """Customer-day baskets are counted as numpy counts them; without a transaction_id the
    baskets are customer-days."""
    keys = (world["customer_id"] + "|" + world["timestamp"].dt.strftime("%Y-%m-%d")).to_numpy()
    n, per_cat, both = numpy_pair_counts(keys, world["category"])
    by_day = category_affinity(world, engine=engine, basket="day", min_baskets=1, min_lift=0)
    assert by_day.n_baskets == n and by_day.basket == "day"
    day = by_day.table
    row = day.loc[(day.category_a == "cat00") & (day.category_b == "cat01")].iloc[0]
    assert row.baskets_both == both[0, 1] and row.baskets_a == per_cat[0]
    no_ids = category_affinity(world.drop(columns="transaction_id"), min_baskets=1, min_lift=0)
    assert no_ids.basket == "day"
    pd.testing.assert_frame_equal(no_ids.table, by_day.table)


def test_thresholds(table, engine):
    all_rules = category_affinity(table, engine=engine, min_baskets=1, min_lift=0)
    every = all_rules.table
    assert len(every) == N_CAT * (N_CAT - 1)  # every pair shares some basket
    kept = category_affinity(
        table, engine=engine, min_baskets=2000, min_support=0.02, min_confidence=0.2, min_lift=1.05
    ).table
    assert 0 < len(kept) < len(every)
    assert (kept["baskets_both"] >= 2000).all() and (kept["support"] >= 0.02).all()
    assert (kept["confidence"] >= 0.2).all() and (kept["lift"] >= 1.05).all()
    dropped = every.merge(kept[["category_a", "category_b"]], how="left", indicator=True)
    dropped = dropped.loc[dropped["_merge"] == "left_only"]
    assert (
        (dropped["baskets_both"] < 2000)
        | (dropped["support"] < 0.02)
        | (dropped["confidence"] < 0.2)
        | (dropped["lift"] < 1.05)
    ).all()
    # the default minimum is 0.1% of the baskets (at least 20)
    default = category_affinity(table, engine=engine)
    assert default.min_baskets == int(np.ceil(0.001 * all_rules.n_baskets))


def test_frame_and_table_agree_and_as_of_date(world, table, engine, rules):
    pd.testing.assert_frame_equal(category_affinity(world).table, rules.table)
    early = category_affinity(table, engine=engine, as_of_date="2024-03-31")
    cut = world.loc[world["timestamp"] < data_end("2024-03-31")]
    assert early.n_baskets == cut["transaction_id"].nunique()
    assert early.n_baskets < rules.n_baskets


def test_lift_interval_coverage():
    """The log-lift interval covers the population lift about 95% of the time (multinomial
    baskets with a known lift of 0.5 / 0.18 ≈ 2.78)."""
    rng = np.random.default_rng(1)
    p_a, p_b_given_a, p_b_given_not_a = 0.2, 0.5, 0.1
    p = np.array(
        [
            p_a * p_b_given_a,
            p_a * (1 - p_b_given_a),
            (1 - p_a) * p_b_given_not_a,
            (1 - p_a) * (1 - p_b_given_not_a),
        ]
    )
    true = p_b_given_a / (p_a * p_b_given_a + (1 - p_a) * p_b_given_not_a)
    n = 400
    cells = rng.multinomial(n, p, size=4000)
    n_ab, n_a, n_b = cells[:, 0], cells[:, 0] + cells[:, 1], cells[:, 0] + cells[:, 2]
    low, high = lift_interval(n_ab, n_a, n_b, n)
    coverage = np.mean((low <= true) & (true <= high))
    assert 0.93 <= coverage <= 0.97


# -- cross-sell -------------------------------------------------------------------------------


def test_out_of_time_precision_beats_popularity(evaluation):
    """Done-when (a): the chosen model's precision@3 on the categories first bought after the
    cut-off is at least 1.3 × the popularity baseline's."""
    assert evaluation.k == 3 and evaluation.horizon_days == HORIZON
    evaluation = evaluation.table
    assert list(evaluation.columns) == list(EVALUATION_COLUMNS)
    assert list(evaluation["candidate"]) == list(CANDIDATES)
    pop = evaluation.set_index("candidate").loc["popularity", "precision"]
    chosen = evaluation.loc[evaluation["chosen"]].iloc[0]
    assert chosen["candidate"] != "popularity"
    assert chosen["precision"] >= 1.3 * pop
    assert chosen["precision"] == evaluation["precision"].max()
    assert chosen["vs_popularity_low"] > 1.0
    # every affinity-aware candidate beats popularity
    assert (evaluation["vs_popularity"].iloc[1:] > 1.1).all()
    for m in ("precision", "recall", "vs_popularity"):
        assert (evaluation[f"{m}_low"] <= evaluation[m] + 1e-12).all()
        assert (evaluation[m] <= evaluation[f"{m}_high"] + 1e-12).all()


def test_evaluated_customers_are_those_with_a_new_category(world, evaluation):
    """The evaluation's customers, counted with pandas: a purchase before the cut-off and a
    category first bought in the horizon."""
    end = data_end(CUTOFF)
    first = world.groupby(["customer_id", "category"])["timestamp"].min().reset_index()
    before = set(world.loc[world["timestamp"] < end, "customer_id"])
    in_horizon = (first["timestamp"] >= end) & (
        first["timestamp"] < end + pd.Timedelta(days=HORIZON)
    )
    new = first.loc[in_horizon]
    assert (
        evaluation.table["n_customers"].iloc[0]
        == new.loc[new["customer_id"].isin(before)]["customer_id"].nunique()
    )
    assert evaluation.n_new == len(new)


@pytest.fixture(scope="module")
def fitted(table, engine) -> CrossSellModel:
    return CrossSellModel("association").fit(table, as_of_date=CUTOFF, engine=engine)


def test_recommendations_are_new_categories_with_reasons(world, fitted):
    recs = fitted.recommend(k=3)
    assert list(recs.columns) == list(RECOMMENDATION_COLUMNS)
    owned = world.loc[world["timestamp"] < data_end(CUTOFF), ["customer_id", "category"]]
    clash = recs.merge(owned.drop_duplicates(), on=["customer_id", "category"])
    assert clash.empty
    assert recs.groupby("customer_id")["rank"].apply(list).map(lambda r: r == [1, 2, 3]).all()
    assert (recs.groupby("customer_id")["score"].diff().dropna() <= 1e-12).all()
    assert recs["reason"].str.len().gt(0).all()
    assert recs["customer_id"].nunique() == owned["customer_id"].nunique()
    assert fitted.as_of_date_ == CUTOFF
    assert fitted.method_ == "association" and fitted.popularity_.between(0, 1).all()


def test_partner_is_recommended_with_its_rule(world, fitted):
    """A customer with cat00 but not cat01 is recommended cat01 first, because of cat00."""
    before = world.loc[world["timestamp"] < data_end(CUTOFF)]
    cats = before.groupby("customer_id")["category"].agg(set)
    who = [c for c, s in cats.items() if "cat00" in s and "cat01" not in s and "cat03" in s]
    assert len(who) >= 10
    recs = fitted.recommend(k=1, customers=who)
    assert (recs["category"] == "cat01").mean() >= 0.8
    first = recs.loc[recs["category"] == "cat01", "reason"].iloc[0]
    assert first.startswith("buys cat00; customers who do are ")
    assert first.endswith("× as likely to buy cat01")


@pytest.mark.parametrize("method", CANDIDATES)
def test_every_candidate_fits_and_is_deterministic(table, engine, method):
    a = CrossSellModel(method, n_reference=500).fit(table, as_of_date=CUTOFF, engine=engine)
    b = CrossSellModel(method, n_reference=500).fit(table, as_of_date=CUTOFF, engine=engine)
    ids = list(a.customers_[:200])
    ra, rb = a.recommend(k=2, customers=ids), b.recommend(k=2, customers=ids)
    pd.testing.assert_frame_equal(ra, rb)
    assert len(ra) == 2 * len(ids)
    assert set(ra["category"]) <= set(a.categories_)


def test_unknown_customers_and_bad_method(fitted):
    assert fitted.recommend(k=3, customers=["nobody"]).empty
    with pytest.raises(ValueError, match="method"):
        CrossSellModel("magic").fit_history(None)
    with pytest.raises(RuntimeError, match="not fitted"):
        CrossSellModel().recommend()


def test_choose_refits_the_chosen_model_on_all_data(table, engine, evaluation):
    as_of = CUTOFF + pd.Timedelta(days=HORIZON)
    model, ev = choose_cross_sell_model(
        table, as_of_date=as_of, horizon_days=HORIZON, k=3, engine=engine
    )
    pd.testing.assert_frame_equal(ev.table, evaluation.table)
    assert model.method_ == ev.chosen
    assert model.as_of_date_ == as_of
    history = load_history(table, data_end(as_of), engine=engine)
    assert len(model.customers_) == len(history.customers)


def test_histories_of_one_query_match_pandas(world, table, engine):
    """The histories before several ends, fetched in one query, hold what pandas counts per
    end; the pairs first bought in a window are those of first_purchases."""
    end = data_end(CUTOFF)
    ends = [end - pd.Timedelta(days=HORIZON), end, end + pd.Timedelta(days=HORIZON)]
    histories = load_histories(table, ends, engine=engine)
    assert sorted(histories) == ends
    for e in ends:
        h = histories[e]
        lines = world.loc[world["timestamp"] < e]
        lines = lines.assign(day=lines["timestamp"].dt.normalize())
        want = lines.groupby(["customer_id", "category"]).agg(
            n_days=("day", "nunique"), first=("timestamp", "min"), spend=("amount", "sum")
        )
        assert list(h.customers) == sorted(lines["customer_id"].unique())
        assert list(h.categories) == sorted(lines["category"].unique())
        got = pd.DataFrame(
            {"n_days": h.n_days, "first_day": h.first_day, "spend": h.spend},
            index=pd.MultiIndex.from_arrays(
                [h.customers[h.rows], h.categories[h.cols]], names=["customer_id", "category"]
            ),
        ).sort_index()
        assert len(got) == len(want)
        np.testing.assert_array_equal(got["n_days"], want["n_days"])
        first = want["first"].to_numpy("datetime64[ns]").astype("datetime64[D]").astype("int64")
        np.testing.assert_array_equal(got["first_day"], first)
        np.testing.assert_allclose(got["spend"], want["spend"], rtol=1e-12)
    new = new_pairs(histories[ends[2]], end).sort_values(["customer_id", "category"])
    old = first_purchases(table, end, ends[2], engine=engine)
    pd.testing.assert_frame_equal(
        new.reset_index(drop=True),
        old.sort_values(["customer_id", "category"]).reset_index(drop=True),
    )
    assert load_histories(table, [end], engine=engine, with_spend=False)[end].spend is None


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@pytest.mark.parametrize("n_reference", [500, 5000])
def test_user_knn_is_scikit_learns_brute_neighbours(
    table, engine, monkeypatch, layout, n_reference
):
    """user_knn's blocked search gives the scores of scikit-learn's brute cosine
    NearestNeighbors (k + 1 neighbours, the customer's own row dropped, else the last), for
    customers in and out of the reference sample; with vectors compared or not (few or many
    categories) and the reference dense or sparse."""
    from sklearn.neighbors import NearestNeighbors

    from cxlib.action import _crosssell_scorers

    if layout == "sparse":
        monkeypatch.setattr(_crosssell_scorers, "DENSE_CATEGORIES", 0)
        monkeypatch.setattr(_crosssell_scorers, "DENSE_REFERENCE_CELLS", 0)
    monkeypatch.setattr(_crosssell_scorers, "SIMILARITY_CELLS", 50_000)  # many blocks
    basis = Basis.of(load_history(table, data_end(CUTOFF), engine=engine))
    knn = UserKnnScorer(n_neighbors=100, n_reference=n_reference, seed=3).fit(basis)
    rows = np.arange(basis.history.shape[0])
    got = knn.scores(rows)
    ref = knn.reference
    nn = NearestNeighbors(n_neighbors=knn.k + 1, metric="cosine", algorithm="brute")
    dist, ind = nn.fit(basis.weights[ref]).kneighbors(basis.weights[rows])
    order = np.argsort(ref[ind] == rows[:, None], axis=1, kind="stable")[:, : knn.k]
    ind = np.take_along_axis(ind, order, axis=1)
    sim = np.clip(1.0 - np.take_along_axis(dist, order, axis=1), 0.0, None)
    owned = basis.owned[ref].toarray()[ind]
    want = np.einsum("ij,ijc->ic", sim, owned) / sim.sum(axis=1)[:, None]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(knn.scores(rows[::7]), got[::7], rtol=0, atol=1e-12)


def test_ease_is_a_ridge_regression_on_the_other_categories(table, engine):
    """The hybrid's linear item model: each category's column of weights is the ridge
    regression (no intercept) of its buyers on the other categories' buyers; the planted
    partner is the category that explains cat01 most, and a customer's scores are its owned
    categories' weights summed."""
    from sklearn.linear_model import Ridge

    basis = Basis.of(load_history(table, data_end(CUTOFF), engine=engine))
    ease = EaseScorer().fit(basis)
    x = basis.owned.toarray()
    penalty = ease.regularization * x.shape[0]
    names = list(basis.categories)
    for c in (names.index("cat01"), names.index("cat05")):
        others = np.delete(np.arange(x.shape[1]), c)
        ridge = Ridge(alpha=penalty, fit_intercept=False).fit(x[:, others], x[:, c])
        np.testing.assert_allclose(ease.weights[others, c], ridge.coef_, rtol=1e-8, atol=1e-10)
        assert ease.weights[c, c] == 0.0
    assert names[int(np.argmax(ease.weights[:, names.index("cat01")]))] == "cat00"
    rows = np.arange(0, x.shape[0], 5)
    np.testing.assert_allclose(ease.scores(rows), x[rows] @ ease.weights, atol=1e-12)


def test_user_knn_reasons_format_as_before(fitted):
    """The reasons' percentages are Python's ``{:.0%}`` of the score (halves to even)."""
    knn = UserKnnScorer(n_reference=500).fit(fitted.basis_)
    values = np.array([[0.125, 0.005, 0.285], [0.995, 1.0, np.nan], [0.0, 0.015, 0.7251]])
    picks = np.array([[0, 1, 2], [3, 4, -1], [5, 6, 7]])
    got = knn.reasons(np.arange(3), picks, values)
    share = fitted.basis_.share
    for i, j in np.ndindex(picks.shape):
        if picks[i, j] < 0:
            assert got[i, j] is None
            continue
        want = (
            f"bought by {values[i, j]:.0%} of the {knn.k} most similar customers "
            f"(vs {share[picks[i, j]]:.0%} of all)"
        )
        assert got[i, j] == want


@pytest.mark.parametrize("method", CANDIDATES)
def test_recommendations_do_not_depend_on_blocks_or_subsets(table, engine, monkeypatch, method):
    """Scoring each distinct purchase-day vector once, in blocks of any size, recommends what
    scoring every customer does: the same for a subset as for everyone, customers with the
    same vector alike (except user_knn's reference customers, not their own neighbours)."""
    from cxlib.action import _crosssell

    model = CrossSellModel(method, n_reference=500).fit(table, as_of_date=CUTOFF, engine=engine)
    full = model.recommend(k=3)
    monkeypatch.setattr(_crosssell, "BLOCK_CELLS", 24 * 97)
    pd.testing.assert_frame_equal(model.recommend(k=3), full)
    ids = list(model.customers_[::5])
    part = full.loc[full["customer_id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(model.recommend(k=3, customers=ids), part)
    rows = np.arange(len(model.customers_))
    picks, values = model.top_categories(rows, 3)
    one_by_one = [model._top(np.array([r]), 3) for r in rows[::37]]
    np.testing.assert_array_equal(np.vstack([p for p, _ in one_by_one]), picks[::37])
    np.testing.assert_allclose(np.vstack([v for _, v in one_by_one]), values[::37], atol=1e-12)


# -- up-sell and export -----------------------------------------------------------------------


def _spend_world() -> tuple[pd.DataFrame, pd.Series]:
    """40 customers of segment A spend 100 + i on wine; one spends 10. Segment B has 5 wine
    buyers only (too few peers)."""
    rows = [(f"a{i:02d}", "wine", 100.0 + i, "A") for i in range(40)]
    rows += [("a99", "wine", 10.0, "A")]
    rows += [(f"b{i}", "wine", 1.0 + i, "B") for i in range(5)]
    frame = pd.DataFrame(rows, columns=["customer_id", "category", "amount", "segment"])
    frame["timestamp"] = pd.Timestamp("2024-06-01 12:00")
    segments = frame.drop_duplicates("customer_id").set_index("customer_id")["segment"]
    return frame.drop(columns="segment"), segments


def test_up_sell_candidates_below_their_peers():
    frame, segments = _spend_world()
    got = up_sell_candidates(frame, segments, as_of_date="2024-06-30", min_peers=30)
    assert list(got.columns) == list(UP_SELL_COLUMNS)
    spend_a = frame.loc[frame["customer_id"].str.startswith("a"), "amount"]
    q25 = spend_a.quantile(0.25)
    expected = frame.loc[frame["customer_id"].str.startswith("a") & (frame["amount"] < q25)]
    assert set(got["customer_id"]) == set(expected["customer_id"])  # segment B is not judged
    low = got.set_index("customer_id").loc["a99"]
    assert low["gap"] == pytest.approx(spend_a.median() - 10.0)
    assert low["n_peers"] == 41 and low["peer_threshold"] == pytest.approx(q25)
    assert got["customer_id"].iloc[0] == "a99"  # largest gap first
    # the look-back window: nothing in the 30 days before 2024-05-30
    assert up_sell_candidates(frame, segments, as_of_date="2024-05-30", lookback_days=30).empty


def test_export_has_exactly_the_columns(fitted):
    recs = fitted.recommend(k=2, customers=list(fitted.customers_[:3]))
    ids = list(recs["customer_id"].unique())
    up = pd.DataFrame(
        {
            "customer_id": [ids[0], ids[0]],
            "segment": ["A", "A"],
            "category": ["cat20", "cat21"],
            "spend": [5.0, 8.0],
            "peer_threshold": [20.0, 20.0],
            "peer_median": [40.0, 30.0],
            "n_peers": [50, 50],
            "gap": [35.0, 22.0],
        }
    )
    out = cross_sell_export(recs, up)
    assert list(out.columns) == ["customer_id", "category", "score", "rank", "reason"]
    assert len(out) == len(recs) + 1  # one up-sell row per customer by default
    extra = out.loc[out["reason"].str.startswith("up-sell:")].iloc[0]
    assert (extra["customer_id"], extra["category"], extra["rank"]) == (ids[0], "cat20", 3)
    assert extra["score"] == pytest.approx(35.0 / 40.0)
    assert "25th percentile" in extra["reason"]
    pd.testing.assert_frame_equal(cross_sell_export(recs), recs.reset_index(drop=True))
