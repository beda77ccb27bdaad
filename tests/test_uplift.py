"""Unit tests of cxlib.uplift: checks, readout, Qini/AUUC/deciles, learners and targeting."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from cxlib import uplift as U
from cxlib.synth.campaign import generate_campaign, make_toy_inputs
from cxlib.uplift import _evaluation, _models

# --------------------------------------------------------------------------------------------
# Qini, AUUC and deciles against hand-checked values and scikit-uplift
# --------------------------------------------------------------------------------------------
Y = np.array([1, 0, 1, 0, 1, 0])
T = np.array([1, 1, 0, 0, 1, 0])
S = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])


def test_qini_curve_hand_checked():
    # top n: Q(n) = Y_T - Y_C * N_T / N_C
    # n=1: 1-0; n=2: 1-0; n=3: 1-1*2/1=-1; n=4: 1-1*2/2=0; n=5: 2-1*3/2=0.5; n=6: 2-1*3/3=1
    x, q = U.qini_curve(Y, T, S)
    assert x.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert q == pytest.approx([0, 1, 1, -1, 0, 0.5, 1])


def test_qini_coefficient_hand_checked():
    # model area 2.0, random line area 6 * 1 / 2 = 3; perfect ordering (ties grouped):
    # points (0,0) (2,2) (5,2) (6,1): area 2 + 6 + 1.5 = 9.5 -> (2 - 3) / (9.5 - 3) = -2/13
    assert U.qini_coefficient(Y, T, S) == pytest.approx(-2 / 13)
    # the perfect ordering scores 1, a constant score (everyone tied) scores 0
    assert U.qini_coefficient(Y, T, Y * T - Y * (1 - T)) == pytest.approx(1.0)
    assert U.qini_coefficient(Y, T, np.zeros(6)) == pytest.approx(0.0)


def test_qini_binary_only():
    with pytest.raises(ValueError, match="binary"):
        U.qini_coefficient(np.array([0.0, 2.5, 1.0, 0.0]), np.array([1, 0, 1, 0]), np.arange(4))


def test_uplift_by_decile_hand_checked():
    n = 20
    score = np.arange(n, 0, -1, dtype=float)  # row 0 has the highest score
    t = np.tile([1, 0], 10)
    y = np.zeros(n)
    # bin 1 (rows 0-9): treated rows 0,2,4,6,8 -> y 1,1,1,0,0; control rows 1,3,5,7,9 -> 0,1,0,0,0
    y[[0, 2, 4, 3]] = 1
    # bin 2 (rows 10-19): treated 10..18 -> 0,0,0,0,1; control 11..19 -> 1,1,0,0,0
    y[[18, 11, 13]] = 1
    d = U.uplift_by_decile(y, t, score, n_bins=2)
    assert d["decile"].tolist() == [1, 2]
    assert d["customers"].tolist() == [10, 10]
    assert d["treated_mean"].tolist() == pytest.approx([0.6, 0.2])
    assert d["control_mean"].tolist() == pytest.approx([0.2, 0.4])
    assert d["observed_uplift"].tolist() == pytest.approx([0.4, -0.2])
    assert (d["ci_low"] < d["observed_uplift"]).all() and (
        d["ci_high"] > d["observed_uplift"]
    ).all()


def _random_case(seed, n=3000, ties=False):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    y = (rng.random(n) < 0.1 + 0.05 * t * (x > 0) - 0.03 * t * (x < -1)).astype(int)
    s = x + rng.normal(0, 0.5, n)
    if ties:
        s = np.round(s, 1)
    return y, t, s


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("ties", [False, True])
def test_agrees_with_scikit_uplift(ties):
    metrics = pytest.importorskip("sklift.metrics")
    for seed in range(3):
        y, t, s = _random_case(seed, ties=ties)
        assert U.qini_coefficient(y, t, s) == pytest.approx(
            metrics.qini_auc_score(y, s, t, negative_effect=True), rel=1e-9
        )
        assert U.auuc_score(y, t, s) == pytest.approx(metrics.uplift_auc_score(y, s, t), rel=1e-9)
        x_ours, q_ours = U.qini_curve(y, t, s)
        x_ref, q_ref = metrics.qini_curve(y, s, t)
        np.testing.assert_allclose(x_ours, x_ref)
        np.testing.assert_allclose(q_ours, q_ref)


def test_evaluate_uplift_ci_contains_point():
    y, t, s = _random_case(1)
    ev = U.evaluate_uplift(
        y,
        t,
        {"good": s, "noise": np.random.default_rng(0).random(len(y))},
        n_bootstrap=50,
        random_state=0,
    )
    good = ev.set_index("model").loc["good"]
    assert good["qini_ci_low"] <= good["qini"] <= good["qini_ci_high"]
    assert good["qini"] > ev.set_index("model").loc["noise", "qini"]
    again = U.evaluate_uplift(y, t, {"good": s}, n_bootstrap=50, random_state=0)
    assert again.loc[0, "qini_ci_low"] == good["qini_ci_low"]  # deterministic for the seed


# --------------------------------------------------------------------------------------------
# Experiment checks and readout
# --------------------------------------------------------------------------------------------
def _campaign(sizes, rates, seed=0):
    rng = np.random.default_rng(seed)
    parts = []
    for arm, n in sizes.items():
        conv = (rng.random(n) < rates[arm]).astype(int)
        parts.append(
            pd.DataFrame(
                {
                    "group": arm,
                    "converted": conv,
                    "visited": np.maximum(conv, (rng.random(n) < 0.2).astype(int)),
                    "revenue": np.where(conv == 1, rng.gamma(2.0, 20.0, n), 0.0),
                    "age": rng.integers(18, 80, n).astype(float),
                    "tier": rng.choice(["gold", "silver"], n),
                }
            )
        )
    df = pd.concat(parts, ignore_index=True)
    df.insert(0, "customer_id", [f"C{i:05d}" for i in range(len(df))])
    return df


def test_describe_campaign_and_missing_control():
    df = _campaign({"control": 50, "offer": 50}, {"control": 0.1, "offer": 0.2})
    spec = U.describe_campaign(df)
    assert spec.arms == ["offer"] and spec.outcomes == ["visited", "converted", "revenue"]
    assert spec.covariates == ["age", "tier"]
    with pytest.raises(ValueError, match="control arm 'No E-Mail' not found"):
        U.describe_campaign(df, "No E-Mail")


def test_srm_detects_mismatch_and_respects_allocation():
    ok = _campaign(
        {"control": 1000, "a": 1000, "b": 1010}, dict.fromkeys(["control", "a", "b"], 0.1)
    )
    assert not U.srm_test(ok).mismatch
    bad = _campaign(
        {"control": 1000, "a": 1000, "b": 1300}, dict.fromkeys(["control", "a", "b"], 0.1)
    )
    res = U.srm_test(bad)
    assert res.mismatch and res.p_value < 1e-6
    assert list(res.summary().columns[:5]) == ["test", "estimate", "ci_low", "ci_high", "p_value"]
    planned = U.srm_test(bad, {"control": 10, "a": 10, "b": 13})
    assert not planned.mismatch
    with pytest.raises(ValueError, match="no share"):
        U.srm_test(bad, {"control": 1, "a": 1})


def test_covariate_balance_smd():
    df = pd.DataFrame(
        {
            "customer_id": list("abcdefgh"),
            "group": ["control"] * 4 + ["offer"] * 4,
            "converted": [0] * 8,
            "x": [0.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0],
            "flag": ["y", "n", "y", "n", "y", "y", "y", "n"],
        }
    )
    bal = U.covariate_balance(df).set_index("covariate")
    # SMD = (2.5 - 1.5) / sqrt((var 1.667 + var 1.667) / 2)
    assert bal.loc["x", "smd"] == pytest.approx(1.0 / np.sqrt(5 / 3))
    assert bal.loc["flag=y", "mean_arm"] == pytest.approx(0.75)
    assert not bal.loc["x", "balanced"]


def test_readout_against_independent_computation():
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    df = _campaign({"control": 4000, "a": 4000, "b": 4000}, {"control": 0.08, "a": 0.1, "b": 0.08})
    ro = U.campaign_readout(df)
    s = ro.summary()
    assert len(s) == 6
    c = df.loc[df["group"] == "control"]
    for arm in ("a", "b"):
        a = df.loc[df["group"] == arm]
        for out in ("visited", "converted", "revenue"):
            r = ro.row(arm, out)
            diff = a[out].mean() - c[out].mean()
            assert r["estimate"] == pytest.approx(diff)
            if out == "revenue":
                w = stats.ttest_ind(a[out], c[out], equal_var=False)
                assert r["p_value"] == pytest.approx(w.pvalue)
            else:
                se = np.sqrt(a[out].var(ddof=0) / len(a) + c[out].var(ddof=0) / len(c))
                assert r["ci_low"] == pytest.approx(diff - 1.959964 * se, abs=1e-6)
            assert r["incremental"] == pytest.approx(diff * len(a))
            assert r["mde"] > 0
    assert s["p_value_holm"].tolist() == pytest.approx(
        multipletests(s["p_value"], method="holm")[1].tolist()
    )
    exp = ro.export_table()
    assert list(exp.columns) == list(U.READOUT_EXPORT_COLUMNS)


def test_mde_matches_power():
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    df = _campaign({"control": 3000, "a": 3000}, {"control": 0.08, "a": 0.08})
    r = U.campaign_readout(df).row("a", "converted")
    p0 = r["control_mean"]
    h = proportion_effectsize(p0 + r["mde"], p0)
    power = NormalIndPower().power(h, nobs1=3000, alpha=0.05, ratio=1.0)
    assert power == pytest.approx(0.8, abs=1e-3)


# --------------------------------------------------------------------------------------------
# Learners, cross-fitting, groups, targeting and the export
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(21)
    people, customers, tx = make_toy_inputs(12_000, rng)
    campaign, truth = generate_campaign(people, customers, tx, rng)
    return campaign, truth, customers


def test_learners_are_sklearn_style(toy):
    campaign, _, _ = toy
    spec = U.describe_campaign(campaign)
    X = U.covariate_matrix(campaign, spec.covariates).to_numpy()
    m = campaign["group"].isin(["control", "offer_b"]).to_numpy()
    t = (campaign.loc[m, "group"] == "offer_b").astype(int).to_numpy()
    y = campaign.loc[m, "converted"].to_numpy()
    for model in U.default_models(random_state=0).values():
        with threadpool_limits(1):
            fitted = clone(model).fit(X[m], y, t)
        assert fitted.get_params() == model.get_params()
        assert fitted.n_features_in_ == X.shape[1]
        assert any(k.endswith("_") and not k.startswith("_") for k in vars(fitted))
        pred = fitted.predict(X[:50])
        assert pred.shape == (50,) and np.isfinite(pred).all()


def test_cross_fitted_models_recover_planted_uplift(toy):
    campaign, truth, customers = toy
    spec = U.describe_campaign(campaign)
    X = U.covariate_matrix(campaign, spec.covariates)
    res = U.fit_uplift_models(campaign, X, n_folds=3, n_bootstrap=20, random_state=0)
    assert set(res.evaluation["model"]) == {"T-learner", "X-learner", "Class transformation"}
    for arm in ("offer_a", "offer_b"):
        f = res.arm_frame(arm)
        assert f["uplift"].notna().all()
        true = truth.set_index("customer_id").loc[f["customer_id"], f"true_uplift_{arm}"]
        assert np.corrcoef(f["uplift"], true)[0, 1] > 0.3
        best = res.evaluation.loc[res.evaluation["arm"] == arm, "qini"].max()
        assert best > 0
    # every customer of every arm is scored for every offer
    assert res.scores[[f"T-learner|{a}" for a in ("offer_a", "offer_b")]].notna().all().all()
    # groups, profit curve and export
    f = res.arm_frame("offer_b")
    groups = U.response_groups(f["uplift"], f["p_control"])
    summ = U.group_summary(groups, f["y"], f["treatment"], f["uplift"])
    assert summ["customers"].sum() == len(f)
    assert summ.set_index("group").loc["sleeping_dog", "observed_uplift"] < 0
    # the list is the share's customers: offer_b's top 30%, offer_a contacts nobody
    tau = U.share_threshold(f["uplift"], 0.3)
    assert (f["uplift"] >= tau).mean() == pytest.approx(0.3, abs=0.002)
    export = U.uplift_scores_export(
        res, customers=customers, thresholds={"offer_a": None, "offer_b": tau}
    )
    assert list(export.columns) == list(U.SCORES_EXPORT_COLUMNS)
    assert len(export) == len(campaign)
    consent = customers.set_index("customer_id")["marketing_consent"]
    inside = (res.uplift("offer_b") >= tau).to_numpy()
    expected = inside & consent.reindex(export["customer_id"]).fillna(False).to_numpy(bool)
    assert (export["recommended"].to_numpy() == expected).all()
    assert (export.loc[export["recommended"], "arm"] == "offer_b").all()
    assert export["recommended"].sum() > 0


def test_export_without_consent_column_and_missing_consent(toy):
    campaign, _, customers = toy
    scores = pd.DataFrame(
        {
            "customer_id": campaign["customer_id"].head(4).to_numpy(),
            "group": "control",
            "_y": 0.0,
            "M|offer_a": [0.1, 0.1, -0.1, 0.1],
            "M|offer_b": [0.0, 0.2, 0.0, 0.0],
        }
    )
    res = U.UpliftModelResult(
        scores, pd.DataFrame(), "M", ["offer_a", "offer_b"], "control", "converted", []
    )
    both = {"offer_a": 0.05, "offer_b": 0.15}
    no_consent = U.uplift_scores_export(res, customers=None, thresholds=both)
    assert no_consent["recommended"].tolist() == [True, True, False, True]
    # the second customer is inside both shares: the offer with the higher uplift
    assert no_consent["arm"].tolist() == ["offer_a", "offer_b", "offer_b", "offer_a"]
    # outside every share: not recommended, the offer with the higher uplift is shown
    only_b = U.uplift_scores_export(res, thresholds={"offer_a": None, "offer_b": 0.15})
    assert only_b["recommended"].tolist() == [False, True, False, False]
    nobody = U.uplift_scores_export(res, thresholds={"offer_a": None, "offer_b": None})
    assert not nobody["recommended"].any()
    cust = pd.DataFrame(
        {
            "customer_id": scores["customer_id"],
            "marketing_consent": pd.array([True, pd.NA, True, False], dtype="boolean"),
        }
    )
    with_consent = U.uplift_scores_export(res, customers=cust, thresholds=both)
    assert with_consent["recommended"].tolist() == [True, False, False, False]


def test_profit_curve_full_share_equals_ate():
    y, t, s = _random_case(4)
    curve = U.profit_curve(
        y, t, s, cost_per_contact=1.0, value_per_conversion=40.0, n_bootstrap=30, random_state=0
    )
    full = curve.iloc[-1]
    ate = y[t == 1].mean() - y[t == 0].mean()
    assert full["share"] == 1.0
    assert full["incremental_conversions"] == pytest.approx(ate * len(y))
    assert full["profit"] == pytest.approx(40 * ate * len(y) - len(y))
    assert (curve["profit_ci_low"] <= curve["profit"] + 1e-9).all()
    best = U.best_share(curve)
    sure = curve.loc[curve["profit_ci_low"] > 0]
    if len(sure):
        assert best["profit"] == sure["profit"].max() and best["profit_ci_low"] > 0
    else:
        assert best["share"] == 0 and best["profit"] == 0


def test_best_share_needs_a_profit_ci_above_zero():
    curve = pd.DataFrame(
        {
            "share": [0.1, 0.2, 0.3],
            "profit": [50.0, 90.0, 70.0],
            "profit_ci_low": [5.0, -1.0, 2.0],
            "profit_ci_high": [90.0, 180.0, 140.0],
        }
    )
    # 0.2 has the highest profit but its CI crosses zero: the best sure share is 0.3
    assert U.best_share(curve)["share"] == 0.3
    unsure = curve.assign(profit_ci_low=[-1.0, -2.0, 0.0])
    assert U.best_share(unsure).to_dict() == {c: 0.0 for c in curve.columns}


def test_who_responds_names_significant_differences():
    rng = np.random.default_rng(0)
    n = 6000
    seg = rng.choice(["m", "w"], n)
    group = rng.choice(["control", "mail_m", "mail_w"], n)
    p = (
        0.1
        + 0.08 * ((group == "mail_m") & (seg == "m"))
        + 0.08 * ((group == "mail_w") & (seg == "w"))
    )
    df = pd.DataFrame(
        {
            "customer_id": np.arange(n).astype(str),
            "group": group,
            "seg": seg,
            "noise": rng.choice(["x", "y"], n),
            "converted": (rng.random(n) < p).astype(int),
        }
    )
    cmp_ = U.compare_arms_by_subgroup(df, ["seg", "noise"])
    sentences = U.who_responds_sentences(cmp_)
    assert sentences[0].startswith("By seg:")
    assert "Mail M works better for seg = m" in sentences[0]
    assert "Mail W works better for seg = w" in sentences[0]
    assert not any(s.startswith("By noise") for s in sentences)


def test_personal_data_is_never_a_covariate():
    from cxlib.uplift import describe_campaign

    camp = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "group": ["control", "offer", "control", "offer"],
            "converted": [0, 1, 0, 1],
            "birth_year": [1980, 1990, 1970, 1985],
            "Email": ["a@x", "b@x", "c@x", "d@x"],
            "recency": [1.0, 2.0, 3.0, 4.0],
        }
    )
    assert describe_campaign(camp).covariates == ["recency"]


# --------------------------------------------------------------------------------------------
# Small groups: nothing about fewer than min_group_size customers is shown
# --------------------------------------------------------------------------------------------
def test_arm_of_three_customers_is_left_out_but_counted_in_srm():
    df = _campaign(
        {"control": 300, "offer": 300, "tiny": 3},
        {"control": 0.1, "offer": 0.3, "tiny": 1.0},
        seed=3,
    )
    res = U.run_uplift(
        {"campaign": df}, n_bootstrap=5, n_folds=2, random_state=0, min_group_size=10
    )
    assert res.left_out_arms == ["tiny"] and res.spec.arms == ["offer"]
    assert set(res.readout.table["arm"]) == {"offer"}
    assert set(res.readout.export_table()["arm"]) == {"offer"}
    srm = U.srm_display(res).set_index("Group")
    assert (
        srm.loc["tiny", "Customers"] == "fewer than 10" and srm.loc["tiny", "Observed share"] == ""
    )
    assert srm.loc["offer", "Customers"] == "300"
    assert np.isnan(U.srm_shown(res).set_index("arm").loc["tiny", "observed_share"])
    assert res.srm.table.set_index("arm").loc["tiny", "customers"] == 3  # the test uses all arms
    text = " ".join(t for t, _ in U.uplift_findings(res))
    assert "Tiny: fewer than 10 customers, left out" in text
    assert "100.0%" not in text  # the three converters' rate is nowhere
    # the old readout showed the 3-customer arm: 100% conversion
    old = U.campaign_readout(df.assign(group=df["group"].astype(str)))
    assert old.row("tiny", "converted")["arm_mean"] == 1.0


def test_campaign_problem_refuses_tiny_campaigns():
    small_control = _campaign({"control": 3, "offer": 50}, {"control": 0.1, "offer": 0.2})
    assert "control group has fewer than 10" in U.campaign_problem(small_control)
    small_offers = _campaign({"control": 50, "a": 4, "b": 9}, {"control": 0.1, "a": 0.2, "b": 0.2})
    assert "no offer group has 10 or more" in U.campaign_problem(small_offers)
    no_control = _campaign({"x": 50, "y": 50}, {"x": 0.1, "y": 0.2})
    assert "set the parameter control_arm" in U.campaign_problem(no_control)
    assert U.campaign_problem(small_control, min_group_size=3) is None
    with pytest.raises(ValueError, match="control group has fewer"):
        U.run_uplift({"campaign": small_control})


def test_deciles_merge_when_a_decile_would_be_too_small():
    rng = np.random.default_rng(1)
    n = 60  # 30 treated, 30 control: ten deciles of 6 customers, 3 per arm
    t = np.tile([1, 0], n // 2)
    y = (rng.random(n) < 0.3).astype(float)
    s = rng.random(n)
    ten = U.uplift_by_decile(y, t, s)
    assert len(ten) == 10 and ten["customers"].max() == 6
    merged = U.uplift_by_decile(y, t, s, min_group_size=10)
    assert len(merged) == 3
    assert merged["customers"].tolist() == [20, 20, 20]
    res = SimpleNamespace(deciles={"offer": merged}, min_group_size=10)
    shown = U.deciles_shown(res, "offer")
    assert ((shown["n_treated"] >= 10) & (shown["n_control"] >= 10)).all()
    assert "3 equal groups" in U.deciles_note(res, "offer")
    assert "Group" in U.deciles_display(res, "offer").columns


def test_deciles_with_few_control_customers_are_hidden():
    d = pd.DataFrame(
        {
            "decile": range(1, 11),
            "customers": 40,
            "n_treated": [37] + [20] * 9,
            "n_control": [3] + [20] * 9,
            "mean_predicted": [0.1] + [0.0] * 9,
            "treated_mean": [0.5] + [0.2] * 9,
            "control_mean": [1.0] + [0.1] * 9,
            "observed_uplift": [-0.5] + [0.1] * 9,
            "ci_low": [-0.9] + [0.0] * 9,
            "ci_high": [-0.1] + [0.2] * 9,
        }
    )
    res = SimpleNamespace(deciles={"offer": d}, min_group_size=10)
    table = U.deciles_display(res, "offer")
    assert table["Decile"].tolist() == list(range(2, 11))
    assert "100.0%" not in table.to_string()  # the 3 control customers' rate
    assert U.deciles_note(res, "offer") == (
        "1 group with fewer than 10 customers, contacted customers or control customers is not "
        "shown (privacy rule)."
    )
    three = SimpleNamespace(deciles={"offer": d.iloc[:3]}, min_group_size=10)
    assert "Group" in U.deciles_display(three, "offer").columns
    assert U.deciles_note(three, "offer").startswith(
        "Ten deciles would hold fewer than 10 contacted or control customers each, so customers "
        "are cut into 3 equal groups instead. 1 group"
    )


def test_response_groups_hide_small_and_thin_groups():
    y = np.r_[np.ones(3), np.zeros(97)]
    t = np.r_[np.ones(3), np.tile([1, 0], 48), [1]]
    u = np.r_[np.full(3, -0.2), np.full(5, 0.2), np.zeros(92)]  # 3 sleeping dogs, 5 persuadables
    p0 = np.r_[np.zeros(8), np.full(46, 0.5), np.full(46, 0.1)]
    groups = U.response_groups(pd.Series(u), pd.Series(p0))
    summ = U.group_summary(groups, y, t, u)
    assert summ.set_index("group").loc["sleeping_dog", "customers"] == 3
    res = SimpleNamespace(groups={"offer": summ}, min_group_size=10)
    shown = U.groups_display(res, "offer")
    assert "Sleeping dogs" not in set(shown["Group"]) and "Persuadables" not in set(shown["Group"])
    assert U.groups_note(res, "offer").startswith("2 groups are not shown: fewer than 10")
    thin = summ.assign(n_control=np.where(summ["group"] == "lost_cause", 4, summ["n_control"]))
    res2 = SimpleNamespace(groups={"offer": thin}, min_group_size=10)
    row = U.groups_display(res2, "offer").set_index("Group").loc["Lost causes"]
    assert row["Observed uplift (95% CI)"].startswith("not shown")
    assert np.isnan(U.groups_shown(res2, "offer").set_index("group").loc["lost_cause", "ci_low"])


def test_profit_and_qini_curves_skip_shares_of_few_customers():
    y, t, s = _random_case(5, n=100)
    curve = U.profit_curve(y, t, s, n_bootstrap=5, min_group_size=10)
    full = U.profit_curve(y, t, s, n_bootstrap=5)
    assert len(full) == 20 and 0 < len(curve) < 20
    order = np.argsort(-s, kind="mergesort")
    for share in curve["share"]:
        k = int(round(share * len(y)))
        assert t[order][:k].sum() >= 10 and (1 - t[order][:k]).sum() >= 10
    assert curve["share"].iloc[-1] == 1.0
    q = U.qini_curves_frame(y, t, {"m": s}, min_group_size=10)
    assert (q["share"] * len(y) >= 10).all() and q["share"].max() == 1.0


def test_training_cap_keeps_strata_and_scores_everyone():
    """A fold's training rows above ``max_train_rows`` are a seeded sample in proportion per
    arm × outcome; every customer is still scored out of fold."""
    from cxlib.uplift import fit_uplift_models
    from cxlib.uplift._models import _capped

    rng = np.random.default_rng(0)
    strata = np.repeat(np.array(["a|0", "a|1", "b|0", "b|1"]), [600, 60, 300, 40])
    rows = np.ones(len(strata), dtype=bool)
    rows[::7] = False
    got = _capped(rows, strata, 250, rng)
    assert got.sum() == pytest.approx(250, abs=4) and not (got & ~rows).any()
    for s in np.unique(strata):
        share_before = (rows & (strata == s)).sum() / rows.sum()
        share_after = (got & (strata == s)).sum() / got.sum()
        assert share_after == pytest.approx(share_before, abs=0.01)
    assert _capped(rows, strata, None, rng) is rows
    assert (_capped(rows, strata, 10_000, rng) == rows).all()

    n = 1200
    campaign = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "group": np.where(rng.random(n) < 0.5, "offer", "control"),
        }
    )
    x = rng.normal(size=n)
    campaign["converted"] = rng.random(n) < 0.2 + 0.1 * (x > 0) * (campaign["group"] == "offer")
    X = pd.DataFrame({"x": x})
    capped = fit_uplift_models(campaign, X, n_bootstrap=5, max_train_rows=300)
    full = fit_uplift_models(campaign, X, n_bootstrap=5, max_train_rows=None)
    score_cols = [c for c in capped.scores.columns if "|" in c]
    assert capped.scores[score_cols].notna().all().all()
    assert not np.allclose(capped.scores[score_cols], full.scores[score_cols])
    again = fit_uplift_models(campaign, X, n_bootstrap=5, max_train_rows=300)
    pd.testing.assert_frame_equal(capped.scores, again.scores)
    # two folds already give every model its 300 training customers: fewer folds, same cap
    assert capped.n_folds == 2 and full.n_folds == 5
    # the report says so when the cap thinned the training rows, and nothing otherwise
    assert capped.train_cap == 300 and full.train_cap is None
    res = SimpleNamespace(models=capped)
    note = U.training_note(res, requested_folds=5)
    assert "at most 300 customers" in note and "2 folds (instead of 5)" in note
    assert "did not see them" in note
    assert U.training_note(SimpleNamespace(models=full), requested_folds=5) == ""
    assert U.training_note(SimpleNamespace(models=None)) == ""


def test_cross_fitting_folds_only_drop_folds_that_change_no_model_size():
    from cxlib.uplift import cross_fitting_folds

    assert cross_fitting_folds(5, [665_000, 668_000], 100_000) == 2  # 1 M people, two offers
    assert cross_fitting_folds(5, [150_000, 400_000], 100_000) == 3  # 2/3 of 150,000
    assert cross_fitting_folds(5, [133_000], 100_000) == 5  # 4/5 of 133,000 is under the cap
    assert cross_fitting_folds(5, [3_300], 100_000) == 5  # the sample: no cap reached
    assert cross_fitting_folds(5, [10**7], None) == 5  # no cap: as asked
    assert cross_fitting_folds(3, [10**7], 100) == 2


def test_column_major_predictions_are_identical():
    """Learners predict on column-major copies (faster); the numbers are the same."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3000, 6))
    t = rng.random(3000) < 0.5
    y = (rng.random(3000) < 0.1 + 0.1 * (X[:, 0] > 0) * t).astype(int)
    X_test = rng.normal(size=(2000, 6))  # row-major, as a user would pass it
    # the scikit-learn models called directly on the row-major rows
    tl = U.TLearner(random_state=0).fit(X, y, t)
    p0, p1 = tl.predict_outcomes(X_test)
    assert np.array_equal(p0, tl.model_control_.predict_proba(X_test)[:, 1])
    assert np.array_equal(tl.predict(X_test), p1 - tl.model_control_.predict_proba(X_test)[:, 1])
    xl = U.XLearner(random_state=0).fit(X, y, t)
    g = xl.propensity_
    direct = g * xl.effect_control_.predict(X_test) + (1 - g) * xl.effect_treated_.predict(X_test)
    assert np.array_equal(xl.predict(X_test), direct)
    to = U.TransformedOutcome(random_state=0).fit(X, y, t)
    assert np.array_equal(to.predict(X_test), to.model_.predict(X_test))
    # fitting on column-major rows gives the same model
    on_rows = _models._default_classifier(0, len(X)).fit(X, y)
    on_columns = _models._default_classifier(0, len(X)).fit(np.asfortranarray(X), y)
    assert np.array_equal(on_rows.predict_proba(X_test), on_columns.predict_proba(X_test))
    assert _models._take_rows(X_test, X_test[:, 0] > 0).flags["F_CONTIGUOUS"]


# --------------------------------------------------------------------------------------------
# The control arm's outcome models are fitted once per fold for every offer
# --------------------------------------------------------------------------------------------
def _two_offer_campaign(n: int = 3000, seed: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    campaign = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "group": rng.choice(["control", "offer_a", "offer_b"], n),
        }
    )
    x = rng.normal(size=(n, 3))
    lift = 0.1 * (x[:, 0] > 0) * (campaign["group"] != "control")
    campaign["converted"] = rng.random(n) < 0.2 + lift
    return campaign, pd.DataFrame(x, columns=["a", "b", "c"])


def test_shared_control_model_gives_the_learners_own_predictions():
    """A learner handed the control model fitted on its control rows predicts exactly what it
    predicts when it fits that model itself."""
    campaign, X = _two_offer_campaign()
    x = _models._take_rows(X.to_numpy(), np.ones(len(X), bool))
    y = campaign["converted"].to_numpy(dtype=float)
    t = (campaign["group"] == "offer_a").to_numpy()
    for learner in (U.TLearner(random_state=3), U.XLearner(random_state=3)):
        rows = _models._control_leaf_rows(learner, int((~t).sum()))
        control = _models._ControlModels(_models._take_rows(x, ~t), y[~t]).model(3, rows)
        shared = clone(learner).fit(x, y, t, control_model=control)
        own = clone(learner).fit(x, y, t)
        assert np.array_equal(shared.predict(x), own.predict(x))
    assert _models._control_leaf_rows(U.TLearner(estimator=object()), 10) is None
    assert _models._control_leaf_rows(U.TransformedOutcome(), 10) is None


def test_control_models_fitted_once_per_fold_for_all_offers(monkeypatch):
    """Two offers, k folds: 2 shared control fits + 2 treated-arm fits per offer (T-learner,
    X-learner) per fold, i.e. 6k classifier fits instead of 8k."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    campaign, X = _two_offer_campaign()
    fits = []
    real_fit = HistGradientBoostingClassifier.fit

    def counting_fit(self, *args, **kwargs):
        fits.append(len(args[1]))
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(HistGradientBoostingClassifier, "fit", counting_fit)
    res = U.fit_uplift_models(campaign, X, n_folds=3, n_bootstrap=0, max_train_rows=None)
    assert res.n_folds == 3
    assert len(fits) == 3 * (2 + 2 * 2)


def test_capped_folds_share_the_control_customers():
    """Above the cap, one control sample per fold serves every offer; each pair stays within
    the cap (to rounding) and keeps its outcome shares."""
    rng = np.random.default_rng(1)
    g = rng.choice(["control", "offer_a", "offer_b"], 9000, p=[0.4, 0.4, 0.2])
    y = (rng.random(9000) < np.where(g == "control", 0.1, 0.2)).astype(int)
    strata = np.char.add(np.char.add(g.astype(str), "|"), y.astype(str))
    pool = rng.random(9000) < 0.5
    ctrl, own, thinned = _models._fold_training_rows(
        g, strata, pool, ["offer_a", "offer_b"], "control", 1000, np.random.default_rng(0)
    )
    assert thinned and not (ctrl & ~pool).any() and (g[ctrl] == "control").all()
    for arm, rows in own.items():
        assert not (rows & ~pool).any() and (g[rows] == arm).all()
        assert ctrl.sum() + rows.sum() <= 1000 + 4
    # the control share is that of the largest pair (offer_a), so offer_a keeps its share
    full_a = pool & (g == "offer_a")
    full_c = pool & (g == "control")
    assert ctrl.sum() / 1000 == pytest.approx(full_c.sum() / (full_c.sum() + full_a.sum()), 0.01)
    assert y[ctrl].mean() == pytest.approx(y[full_c].mean(), abs=0.01)
    free = _models._fold_training_rows(g, strata, pool, ["offer_a"], "control", None, rng)
    assert (free[0] == full_c).all() and not free[2]


# --------------------------------------------------------------------------------------------
# Bootstrap resamples as row counts over one sort equal re-sorting the resampled rows
# --------------------------------------------------------------------------------------------
def _resorted_statistics(y, t, s, n_boot, seed):
    """The straightforward bootstrap: resample the rows, then sort them again."""
    out = []
    for idx in _evaluation._bootstrap_indices(t, n_boot, np.random.default_rng(seed)):
        out.append(
            (U.qini_coefficient(y[idx], t[idx], s[idx]), U.auuc_score(y[idx], t[idx], s[idx]))
        )
    return np.asarray(out)


@pytest.mark.parametrize("rounded", [False, True])  # True: many tied scores
def test_weighted_bootstrap_equals_resorted_resamples(rounded):
    y, t, s = _random_case(11)
    s = np.round(s, 1) if rounded else s
    scorer = _evaluation._UpliftScorer(y.astype(float), t.astype(float))
    order = _evaluation._ScoreOrder(y.astype(float), t.astype(float), s.astype(float))
    got = np.asarray(
        [
            scorer.scores(order, w)
            for w in _evaluation._bootstrap_weights(t, 25, np.random.default_rng(5))
        ]
    )
    np.testing.assert_allclose(got, _resorted_statistics(y, t, s, 25, 5), rtol=1e-12, atol=1e-12)
    assert scorer.scores(order) == pytest.approx(
        (U.qini_coefficient(y, t, s), U.auuc_score(y, t, s)), rel=1e-12
    )
    ev = U.evaluate_uplift(y, t, {"m": s}, n_bootstrap=25, random_state=5).iloc[0]
    lo, hi = np.nanquantile(_resorted_statistics(y, t, s, 25, 5), [0.025, 0.975], axis=0)
    assert (ev["qini_ci_low"], ev["qini_ci_high"]) == pytest.approx((lo[0], hi[0]), rel=1e-9)
    assert (ev["auuc_ci_low"], ev["auuc_ci_high"]) == pytest.approx((lo[1], hi[1]), rel=1e-9)


def test_profit_bootstrap_equals_resorted_resamples():
    """With distinct scores, the profit CIs from row counts equal those of re-sorted
    resamples (with ties, rows of one score are taken in row order instead of draw order)."""
    y, t, s = _random_case(12)
    shares = np.round(np.arange(0.05, 1.0001, 0.05), 2)
    boots = []
    for idx in _evaluation._bootstrap_indices(t, 30, np.random.default_rng(2)):
        yy, tt = y[idx].astype(float), t[idx].astype(float)
        o = np.argsort(-s[idx], kind="mergesort")
        yo, to = yy[o], tt[o]
        k = np.clip(np.round(shares * len(yo)).astype(int), 1, len(yo)) - 1
        rt = np.cumsum(yo * to)[k] / np.cumsum(to)[k]
        rc = np.cumsum(yo * (1 - to))[k] / np.cumsum(1 - to)[k]
        boots.append((rt - rc) * shares * len(y))
    lo, hi = np.nanquantile(np.asarray(boots), [0.025, 0.975], axis=0)
    curve = U.profit_curve(y, t, s, n_bootstrap=30, random_state=2)
    keep = np.isin(shares, curve["share"].to_numpy())
    np.testing.assert_allclose(curve["incremental_ci_low"], lo[keep], rtol=1e-9)
    np.testing.assert_allclose(curve["incremental_ci_high"], hi[keep], rtol=1e-9)


def test_subgroup_levels_computed_once_give_the_same_tables():
    df = _campaign({"control": 300, "a": 300, "b": 300}, {"control": 0.1, "a": 0.2, "b": 0.15})
    levels = U.subgroup_levels(df, ["age", "tier"])
    for fn in (U.effects_by_subgroup, U.compare_arms_by_subgroup):
        pd.testing.assert_frame_equal(
            fn(df, ["age", "tier"], levels=levels), fn(df, ["age", "tier"]), check_exact=True
        )


def test_run_uplift_shape_options_and_skip():
    """run_uplift(data, options=...) -> UpliftResult: findings(), exports(), display methods."""
    from cxlib.report import Finding
    from cxlib.result import QuestionResult

    rng = np.random.default_rng(4)
    people, customers, tx = make_toy_inputs(3_000, rng)
    campaign, _ = generate_campaign(people, customers, tx, rng)
    data = {"campaign": campaign, "transactions": tx, "customers": customers}
    assert U.skip_reason(data) is None
    options = {"n_bootstrap": 5, "n_folds": 2, "cost_per_contact": 2.0, "unknown": None}
    res = U.run_uplift(data, options=options, cost_per_contact=1.5)
    assert isinstance(res, QuestionResult) and U.UpliftAnalysis is U.UpliftResult
    assert res.cost_per_contact == 1.5 and res.value_per_conversion == 40.0  # keyword wins
    assert res.economics == "assumed"  # the value per conversion is not set
    assert res.requested_folds == 2 and res.models is not None
    found = res.findings()
    assert all(isinstance(f, Finding) for f in found)
    assert [(f.text, f.headline) for f in found] == U.uplift_findings(res)
    assert 2 <= sum(f.headline for f in found) <= 4
    ex = res.exports()
    assert list(ex) == [
        "uplift_readout.csv",
        "uplift_scores.csv",
        "uplift_targeting.csv",
        "uplift_covariates.csv",
    ]
    cov = ex["uplift_covariates.csv"]
    assert list(cov.columns) == ["column", "used", "reason"]
    assert cov.loc[cov["used"], "column"].tolist() == res.spec.covariates
    assert list(ex["uplift_targeting.csv"].columns) == list(U.TARGETING_EXPORT_COLUMNS)
    assert set(ex["uplift_targeting.csv"]["economics"]) == {"assumed"}
    pd.testing.assert_frame_equal(ex["uplift_readout.csv"], res.readout.export_table())
    assert list(ex["uplift_scores.csv"].columns) == list(U.SCORES_EXPORT_COLUMNS)
    # the notebook's sentences, worded as they were in its cells
    assert res.description().startswith(f"**{len(campaign):,} customers** in the campaign")
    assert res.srm_sentence().endswith(f"p = {res.srm.p_value:.3f})")
    assert res.targeting_intro().startswith(
        "Cost per contact: **1.5 (assumed)**; value per extra conversion: **40 (assumed)**."
    )
    configured = U.run_uplift(
        data, options={**options, "value_per_conversion": 30, "currency": "£"}
    )
    assert configured.economics == "configured"
    assert configured.targeting_intro() == (
        "Cost per contact: **£2**; value per extra conversion: **£30**."
    )
    assert "assumed" not in " ".join(f.text for f in configured.findings())
    n_rec = int(res.scores["recommended"].sum())
    assert f"**{n_rec:,} recommended** (consent taken from the customer table)" in (
        res.scores_note()
    )
    for outcome in res.compared_outcomes():
        assert res.who_responds_text(outcome).startswith("- ")
    # why the notebook skips
    empty = {"campaign": campaign.iloc[:0]}
    assert U.skip_reason(empty) == U.Skip(
        "skipped: no campaign table",
        "the data has no `campaign` table (one row per customer of a randomised campaign "
        "with its group and outcome)",
        fix="add campaign.csv (customer_id, group, converted …) to the data folder",
        configuration=True,
    )
    skip = U.skip_reason(data, control_arm="nobody")
    assert skip.configuration and "'nobody' is not a group" in skip.fix
    assert skip.status_note == f"skipped: {skip.notice}" and "no control group" in skip.notice


def test_targeting_decision_is_the_marketing_list():
    """One decision: the share the profit curve chose (profit CI above zero), the consenting
    customers inside it on the list, uplift_targeting.csv counting that list; a money figure in
    the headline only with configured economics."""
    rng = np.random.default_rng(0)
    people, customers, tx = make_toy_inputs(12_000, rng)
    campaign, _ = generate_campaign(people, customers, tx, rng)
    data = {"campaign": campaign, "customers": customers}
    base = {"n_bootstrap": 100, "n_folds": 3}
    assumed = U.run_uplift(data, options=base, random_state=0)
    configured = U.run_uplift(
        data,
        options={**base, "cost_per_contact": 0.2, "value_per_conversion": 40, "currency": "£"},
        random_state=0,
    )
    consent = customers.set_index("customer_id")["marketing_consent"].astype("boolean")
    for res in (assumed, configured):
        target = res.exports()["uplift_targeting.csv"].set_index("arm")
        scores = res.scores
        assert (target["share_contacted"] > 0).any()
        for arm, row in target.iterrows():
            rec = scores["recommended"] & (scores["arm"] == arm)
            assert row["customers_recommended"] == rec.sum()
            if row["share_contacted"] == 0:
                assert row["customers_recommended"] == 0
                continue
            assert row["profit_ci_low"] > 0
            curve = res.profit[arm]
            sure = curve.loc[curve["profit_ci_low"] > 0]
            assert row["expected_profit"] == sure["profit"].max()
            # the recommended customers are consenting and inside the chosen share
            f = res.models.arm_frame(arm)
            tau = U.share_threshold(f["uplift"], row["share_contacted"])
            ids = scores.loc[rec, "customer_id"]
            assert consent.reindex(ids).fillna(False).all()
            assert (res.models.uplift(arm).to_numpy()[rec.to_numpy()] >= tau).all()
    head = [f.text for f in assumed.findings() if f.headline]
    target_head = next(t for t in head if t.startswith("Target the next campaign"))
    assert "assumed economics" in target_head and "(assumed)" not in target_head
    assert "profit of" not in target_head
    assert set(assumed.targeting["economics"]) == {"assumed"}
    money = [t for t in (f.text for f in configured.findings() if f.headline) if "£" in t]
    assert money and not any("assumed" in t for t in money)
    assert set(configured.targeting["economics"]) == {"configured"}


def test_control_arm_recognised_only_by_an_exact_usual_name():
    camp = pd.DataFrame({"customer_id": list("abcdef"), "group": ["Holdout", "A", "B"] * 2})
    assert U.resolve_control_arm(camp, None) == ("Holdout", True)
    assert U.resolve_control_arm(camp, "A") == ("A", False)  # a configured name wins
    for groups in (["controls", "A", "B"], ["none", "Control", "B"], ["x", "A", "B"]):
        camp = camp.assign(group=groups * 2)
        assert U.resolve_control_arm(camp, None) == (None, False), groups
    skip = U.skip_reason({"campaign": camp})
    assert skip.configuration and skip.fix.startswith('uplift: {control_arm: "')
    assert "'A', 'B', 'x'" in skip.notice
    assert U.skip_reason({}).configuration  # no campaign table: add one
