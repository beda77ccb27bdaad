"""Tests of the BG/NBD and Gamma-Gamma models (cxlib.churn: BetaGeoModel, GammaGammaModel)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxlib.churn import (
    BetaGeoModel,
    GammaGammaModel,
    expected_value,
    summary_from_transactions,
)


def _purchase_histories(lam, p, T, rng):
    """BG/NBD purchase histories for given purchase rates ``lam``, dropout probabilities ``p``
    and observation lengths ``T``: frequency, recency and the alive flag."""
    n = len(T)
    x, tx, t = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, dtype=bool)
    active = np.ones(n, dtype=bool)  # still simulating (alive and within T)
    while active.any():
        idx = np.flatnonzero(active)
        t[idx] += rng.exponential(1.0 / lam[idx])
        in_window = t[idx] <= T[idx]
        bought = idx[in_window]
        x[bought] += 1
        tx[bought] = t[bought]
        active[idx[~in_window]] = False
        drop = bought[rng.random(len(bought)) < p[bought]]
        alive[drop] = False
        active[drop] = False
    return x, tx, alive


def simulate_bgnbd(n: int, params: tuple[float, float, float, float], seed: int = 0):
    """Simulate BG/NBD histories: returns frequency, recency, T and the alive flag."""
    r, alpha, a, b = params
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(20.0, 52.0, n)
    x, tx, alive = _purchase_histories(lam, p, T, rng)
    return x, tx, T, alive


# ---------------------------------------------------------------------------------------------
# Real data: CDNOW (Fader, Hardie & Lee 2005)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    root = os.environ.get("CX_REALDATA")
    if not root:
        pytest.skip("CX_REALDATA is not set")
    path = Path(root) / "cdnow_sample" / "transactions.csv"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    tx = pd.read_csv(path, parse_dates=["timestamp"], dtype={"customer_id": str})
    return summary_from_transactions(tx, "1997-09-30", "1998-06-30", freq="W")


@pytest.mark.realdata
def test_cdnow_summary_counts(cdnow_summary):
    assert len(cdnow_summary) == 2357
    assert cdnow_summary["frequency"].sum() == 2457
    assert cdnow_summary["frequency_holdout"].sum() == 1882
    assert cdnow_summary["duration_holdout"].iloc[0] == pytest.approx(39.0)


@pytest.mark.realdata
def test_cdnow_bgnbd_matches_published(cdnow_summary):
    s = cdnow_summary
    model = BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert model.params_[name] == pytest.approx(value, rel=0.02), name
    assert model.loglik_ == pytest.approx(-9582.4, abs=1.0)
    table = model.summary()
    assert list(table.columns) == ["estimate", "std_err", "ci_low", "ci_high", "p_value"]
    assert (table["ci_low"] < table["estimate"]).all()
    assert (table["estimate"] < table["ci_high"]).all()
    assert (table["std_err"] > 0).all()


@pytest.mark.realdata
def test_cdnow_gamma_gamma_matches_published(cdnow_summary):
    s = cdnow_summary[cdnow_summary["frequency"] > 0]
    model = GammaGammaModel().fit(s["frequency"], s["monetary_value"])
    published = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    for name, value in published.items():
        assert model.params_[name] == pytest.approx(value, rel=0.02), name


@pytest.mark.realdata
def test_cdnow_holdout_forecast_is_reasonable(cdnow_summary):
    s = cdnow_summary
    model = BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])
    pred = model.expected_purchases(39.0, s["frequency"], s["recency"], s["T"])
    # the conditional forecast tracks the holdout (1,882 repeat purchase days) within 20%
    assert pred.sum() == pytest.approx(s["frequency_holdout"].sum(), rel=0.2)
    # and ranks customers: the top-forecast decile buys far more in the holdout than the rest
    top = pred >= np.quantile(pred, 0.9)
    assert s["frequency_holdout"][top].mean() > 4 * s["frequency_holdout"][~top].mean()


# ---------------------------------------------------------------------------------------------
# Synthetic BG/NBD data
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated():
    params = (0.6, 6.0, 0.9, 3.0)
    x, tx, T, alive = simulate_bgnbd(8000, params, seed=1)
    return params, x, tx, T, alive


def test_bgnbd_recovers_simulated_parameters(simulated):
    params, x, tx, T, _ = simulated
    model = BetaGeoModel().fit(x, tx, T)
    table = model.summary()
    for name, true in zip(BetaGeoModel.param_names, params, strict=True):
        est = model.params_[name]
        assert est == pytest.approx(true, rel=0.35), name
        # the true value lies within a generous band of the 95% CI
        assert table.loc[name, "ci_low"] * 0.8 <= true <= table.loc[name, "ci_high"] * 1.25, name
    assert model.converged_
    assert model.n_customers_ == len(x)


def test_p_alive_is_calibrated_on_simulated_data(simulated):
    params, x, tx, T, alive = simulated
    model = BetaGeoModel().fit(x, tx, T)
    p = model.p_alive(x, tx, T)
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(p[x == 0] == 1.0)
    # calibration among customers with repeat purchases (others are alive by construction)
    rep = x > 0
    assert abs(p[rep].mean() - alive[rep].mean()) < 0.03
    # ranking: dead customers have lower P(alive)
    assert p[rep & ~alive].mean() < p[rep & alive].mean() - 0.2


def test_prob_no_purchase_consistent_with_expected_purchases(simulated):
    _, x, tx, T, _ = simulated
    model = BetaGeoModel().fit(x, tx, T)
    p0 = model.prob_no_purchase(13.0, x, tx, T)
    e = model.expected_purchases(13.0, x, tx, T)
    assert np.all((p0 >= 0) & (p0 <= 1))
    assert np.all(p0 >= 1 - model.p_alive(x, tx, T) - 1e-12)
    # more expected purchases <=> lower probability of none (rank correlation strongly negative)
    corr = pd.Series(p0).corr(pd.Series(e), method="spearman")
    assert corr < -0.9
    # the population forecast is increasing in t
    pop = model.expected_purchases_new_customer([1.0, 10.0, 50.0])
    assert np.all(np.diff(pop) > 0)


def test_gamma_gamma_recovers_simulated_parameters():
    rng = np.random.default_rng(3)
    p, q, g = 5.0, 4.0, 20.0
    n = 6000
    nu = rng.gamma(q, 1.0 / g, n)
    x = rng.integers(1, 8, n)
    spends = [rng.gamma(p, 1.0 / nu[i], x[i]).mean() for i in range(n)]
    model = GammaGammaModel().fit(x, np.array(spends))
    assert model.params_["p"] == pytest.approx(p, rel=0.25)
    assert model.params_["q"] == pytest.approx(q, rel=0.25)
    assert model.params_["gamma"] == pytest.approx(g, rel=0.35)
    ev = model.expected_average_value(x, spends)
    # shrinkage: each estimate lies between the customer's own mean and the population mean
    pop = model.population_mean_value()
    lo = np.minimum(spends, pop) - 1e-9
    hi = np.maximum(spends, pop) + 1e-9
    assert np.all((ev >= lo) & (ev <= hi))
    # customers without repeats get the population mean
    assert model.expected_average_value([0], [0.0])[0] == pytest.approx(pop)


def test_expected_value_is_product(simulated):
    _, x, tx, T, _ = simulated
    bg = BetaGeoModel().fit(x, tx, T)
    m = np.where(x > 0, 30.0 + x, 0.0)
    gg = GammaGammaModel().fit(x, m + np.random.default_rng(0).normal(0, 3, len(x)).clip(-20, 20))
    ev = expected_value(bg, gg, 10.0, x, tx, T, m)
    assert np.allclose(ev, bg.expected_purchases(10.0, x, tx, T) * gg.expected_average_value(x, m))


def test_unfitted_models_raise():
    with pytest.raises(RuntimeError):
        BetaGeoModel().p_alive([1], [1], [2])
    with pytest.raises(RuntimeError):
        GammaGammaModel().summary()


def test_fit_validates_inputs():
    with pytest.raises(ValueError):
        BetaGeoModel().fit([1, 2], [3, 1], [2, 2])  # recency > T
    with pytest.raises(ValueError):
        BetaGeoModel().fit([0], [1], [2])  # recency without repeats
    with pytest.raises(ValueError):
        GammaGammaModel().fit([0, 0], [0.0, 0.0])


# ---------------------------------------------------------------------------------------------
# summary_from_transactions
# ---------------------------------------------------------------------------------------------


def test_summary_from_transactions_small_frame():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c", "c"],
            "timestamp": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 17:00",  # same day: one purchase, amounts summed
                    "2024-01-15 00:00",
                    "2024-02-12 00:00",  # holdout
                    "2024-01-29 00:00",
                    "2024-02-05 00:00",  # first purchase after calibration: excluded
                    "2024-02-06 00:00",
                ]
            ),
            "amount": [10.0, 5.0, 30.0, 8.0, 12.0, 1.0, 1.0],
        }
    )
    s = summary_from_transactions(tx, "2024-01-29", "2024-02-26", freq="W")
    assert list(s.index) == ["a", "b"]
    a = s.loc["a"]
    assert a["frequency"] == 1
    assert a["recency"] == pytest.approx(2.0)
    assert a["T"] == pytest.approx(4.0)
    assert a["monetary_value"] == pytest.approx(30.0)  # repeat purchases only
    assert a["frequency_holdout"] == 1
    assert a["monetary_value_holdout"] == pytest.approx(8.0)
    assert a["duration_holdout"] == pytest.approx(4.0)
    b = s.loc["b"]
    assert (b["frequency"], b["recency"], b["T"], b["monetary_value"]) == (0, 0, 0, 0)
    d = summary_from_transactions(tx, "2024-01-29", freq="D")
    assert d.loc["a", "T"] == 28
    assert "frequency_holdout" not in d.columns


def test_analytic_gradients_match_finite_differences(simulated):
    from scipy.optimize import check_grad

    _, x, tx, T, _ = simulated
    w = np.ones_like(x)
    bg = BetaGeoModel()
    for lp in (np.log([0.6, 6.0, 0.9, 3.0]), np.log([1.3, 2.0, 2.5, 0.7])):
        err = check_grad(
            lambda v: bg._objective(v, x, tx, T, w)[0],
            lambda v: bg._objective(v, x, tx, T, w)[1],
            lp,
        )
        assert err < 1e-5
    gg = GammaGammaModel()
    rng = np.random.default_rng(0)
    xs = rng.integers(1, 6, 500).astype(float)
    ms = rng.gamma(4.0, 5.0, 500)
    for lp in (np.log([5.0, 4.0, 20.0]), np.log([1.0, 2.0, 3.0])):
        err = check_grad(
            lambda v: gg._objective(v, xs, ms, np.ones(500))[0],
            lambda v: gg._objective(v, xs, ms, np.ones(500))[1],
            lp,
        )
        assert err < 1e-5


def test_dropout_covariates_are_recovered():
    """b_i = b * exp(-delta * z): a risk flag with delta = 1 roughly raises the dropout odds 2.7x."""
    rng = np.random.default_rng(5)
    n = 12000
    r, alpha, a, b, delta = 0.8, 5.0, 1.0, 6.0, 1.0
    z = (rng.random(n) < 0.4).astype(float)
    x, tx, T = _simulate_with_covariates(n, r, alpha, a, b, delta, 0.0, z, np.zeros(n), rng)
    cov = pd.DataFrame({"risk_flag": z})
    m = BetaGeoModel().fit(x, tx, T, covariates=cov)
    assert m.coef_["risk_flag"] == pytest.approx(delta, abs=0.35)
    row = m.summary().loc["dropout: risk_flag"]
    assert row["ci_low"] < np.exp(delta) < row["ci_high"] and row["p_value"] < 0.001
    # flagged customers look less alive than unflagged ones with the same history
    hist = ([3.0, 3.0], [10.0, 10.0], [40.0, 40.0])
    pa = m.p_alive(*hist, covariates=pd.DataFrame({"risk_flag": [0.0, 1.0]}))
    assert pa[1] < pa[0]
    with pytest.raises(ValueError):
        m.p_alive(*hist)  # the covariates are required
    # the analytic gradient with covariates matches finite differences
    from scipy.optimize import check_grad

    w = np.ones(n)
    Z = z[:, None]
    theta = np.r_[np.log([r, alpha, a, b]), 0.5]
    err = check_grad(
        lambda th: m._objective(th, x, tx, T, w, Z)[0],
        lambda th: m._objective(th, x, tx, T, w, Z)[1],
        theta,
    )
    assert err < 1e-5


def test_purchase_rate_covariates_are_recovered():
    """alpha_i = alpha * exp(-gamma * w): a flag with gamma = log 2 doubles the expected purchase
    rate; the dropout is unaffected and the analytic gradient matches finite differences."""
    rng = np.random.default_rng(11)
    n = 12000
    r, alpha, a, b, gamma = 1.5, 6.0, 1.0, 5.0, np.log(2.0)
    w = (rng.random(n) < 0.4).astype(float)
    x, tx, T = _simulate_with_covariates(n, r, alpha, a, b, 0.0, gamma, np.zeros(n), w, rng)
    m = BetaGeoModel().fit(x, tx, T, rate_covariates=pd.DataFrame({"tier": w}))
    assert m.rate_coef_["tier"] == pytest.approx(gamma, abs=0.2)
    assert m.coef_.empty
    row = m.summary().loc["purchase rate: tier"]
    assert row["ci_low"] < 2.0 < row["ci_high"] and row["p_value"] < 0.001
    assert m.params_["alpha"] == pytest.approx(alpha, rel=0.35)
    # same history: the flagged customer was expected to buy more, so a long silence makes them
    # less likely to be alive and more likely to buy when alive; new customers (x = 0) with the
    # flag are more likely to buy in the next period
    hist = ([3.0, 3.0, 0.0, 0.0], [10.0, 10.0, 0.0, 0.0], [40.0, 40.0, 40.0, 40.0])
    flags = pd.DataFrame({"tier": [0.0, 1.0, 0.0, 1.0]})
    pa = m.p_alive(*hist, rate_covariates=flags)
    assert pa[1] < pa[0] and pa[2] == pa[3] == 1.0
    pn = m.prob_no_purchase(10.0, *hist, rate_covariates=flags)
    assert pn[3] < pn[2]
    e = m.expected_purchases(10.0, *hist, rate_covariates=flags)
    assert e[3] > e[2]
    with pytest.raises(ValueError):
        m.p_alive(*hist)  # the rate covariates are required
    # without covariates the model is the plain BG/NBD (same likelihood as before)
    plain = BetaGeoModel().fit(x, tx, T)
    assert m.loglik_ > plain.loglik_ + 10
    # the analytic gradient with dropout and rate covariates matches finite differences
    from scipy.optimize import check_grad

    ones = np.ones(n)
    Z = (rng.random(n) < 0.3).astype(float)[:, None]
    R = np.column_stack([w, rng.normal(size=n)])
    theta = np.r_[np.log([r, alpha, a, b]), 0.3, 0.5, -0.2]
    err = check_grad(
        lambda th: m._objective(th, x, tx, T, ones, Z, None, R)[0],
        lambda th: m._objective(th, x, tx, T, ones, Z, None, R)[1],
        theta,
    )
    assert err < 1e-5


def _simulate_with_covariates(n, r, alpha, a, b, delta, gamma, z, w, rng):
    """BG/NBD histories with b_i = b exp(-delta z) and alpha_i = alpha exp(-gamma w)."""
    lam = rng.gamma(r, 1.0 / (alpha * np.exp(-gamma * w)))
    p = rng.beta(a, b * np.exp(-delta * z))
    T = rng.uniform(30.0, 60.0, n)
    x, tx, _ = _purchase_histories(lam, p, T, rng)
    return x, tx, T


def test_stratified_bgnbd_shares_the_covariate_effects():
    """Two strata with their own r, alpha, a, b and common effects: the joint fit recovers the
    effects, keeps each stratum's base parameters, and with one stratum equals the plain fit."""
    from cxlib.churn import fit_stratified_bgnbd

    rng = np.random.default_rng(3)
    n = 6000
    parts = []
    for label, (r, alpha, a, b) in {
        "s1": (2.0, 4.0, 1.0, 8.0),
        "s2": (1.0, 10.0, 1.5, 3.0),
    }.items():
        z = (rng.random(n) < 0.4).astype(float)
        w = (rng.random(n) < 0.5).astype(float)
        x, tx, T = _simulate_with_covariates(n, r, alpha, a, b, 1.0, np.log(2.0), z, w, rng)
        parts.append(pd.DataFrame({"s": label, "x": x, "tx": tx, "T": T, "z": z, "w": w}))
    d = pd.concat(parts, ignore_index=True)
    models = fit_stratified_bgnbd(
        d["x"], d["tx"], d["T"], d["s"], covariates=d[["z"]], rate_covariates=d[["w"]]
    )
    assert set(models) == {"s1", "s2"}
    m1, m2 = models["s1"], models["s2"]
    for m in models.values():
        assert m.coef_["z"] == pytest.approx(1.0, abs=0.35)
        assert m.rate_coef_["w"] == pytest.approx(np.log(2.0), abs=0.2)
        assert m.n_customers_ == n
    assert m1.coef_.equals(m2.coef_) and m1.rate_coef_.equals(m2.rate_coef_)
    # each stratum keeps its own purchase rate (r / alpha: 0.5 vs 0.1)
    assert m1.params_["r"] / m1.params_["alpha"] == pytest.approx(0.5, rel=0.25)
    assert m2.params_["r"] / m2.params_["alpha"] == pytest.approx(0.1, rel=0.25)
    # predictions work as for any fitted model
    pn = m1.prob_no_purchase(
        10.0, [3.0, 3.0], [10.0, 10.0], [40.0, 40.0], d[["z"]].iloc[:2], d[["w"]].iloc[:2]
    )
    assert np.all((pn > 0) & (pn < 1))
    # with one stratum the joint fit is the ordinary fit with covariates
    one = d.loc[d["s"] == "s1"]
    joint = fit_stratified_bgnbd(
        one["x"], one["tx"], one["T"], one["s"], covariates=one[["z"]], rate_covariates=one[["w"]]
    )["s1"]
    plain = BetaGeoModel().fit(
        one["x"], one["tx"], one["T"], covariates=one[["z"]], rate_covariates=one[["w"]]
    )
    assert joint.loglik_ == pytest.approx(plain.loglik_, abs=0.05)
    assert joint.coef_["z"] == pytest.approx(plain.coef_["z"], abs=0.02)
    assert joint.rate_coef_["w"] == pytest.approx(plain.rate_coef_["w"], abs=0.02)
