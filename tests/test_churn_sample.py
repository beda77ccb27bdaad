"""Churn on the bundled sample data, judged against the planted truth (``data/sample/truth``).

The analysis runs as in the report series: the single customer view of the data audit
(:class:`cxlib.audit.SingleCustomerView`, notebook 01) links records of the same person, then
:func:`cxlib.churn.run_churn` with the notebook's default parameters produces the scores that
notebook 03 exports as ``exports/churn_scores.csv`` (:func:`cxlib.churn.scores_export`).
"""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from cxlib import churn
from cxlib.contract import load_source

#: Notebook 03's default parameters.
NOTEBOOK_DEFAULTS = dict(
    horizon_days=90, lookback_days=365, n_snapshots=4, n_bootstrap=200, random_state=42
)


@pytest.fixture(scope="module")
def sample_run(sample_dir):
    from cxlib.audit import SingleCustomerView

    data = load_source(sample_dir, tables=("transactions", "customers", "feedback"))
    master_map = (
        SingleCustomerView(random_state=42)
        .fit(data.tables["customers"], data.as_of_date)
        .master_map_
    )
    res = churn.run_churn(data, options=NOTEBOOK_DEFAULTS, master_map=master_map)
    export = res.exports()["churn_scores.csv"]
    truth = pd.read_csv(sample_dir / "truth" / "customers.csv", dtype={"customer_id": "str"})
    drivers = pd.read_csv(sample_dir / "truth" / "drivers.csv")
    joined = export.merge(truth, on="customer_id", how="inner", validate="one_to_one")
    return data, res, export, joined, drivers


def test_export_covers_the_active_customers(sample_run):
    data, res, export, joined, _ = sample_run
    assert list(export.columns) == list(churn.EXPORT_COLUMNS)
    assert export["customer_id"].is_unique
    # every exported id is a real customer record (orphan transaction ids are left out)
    assert export["customer_id"].isin(data.tables["customers"]["customer_id"]).all()
    assert len(joined) == len(export) > 3000
    assert res.mode == "non_contractual"


def test_auc_at_least_95_percent_of_the_truths(sample_run):
    _, _, _, joined, _ = sample_run
    y = joined["lapsed_90d"].astype(bool).astype(int)
    auc_model = roc_auc_score(y, joined["churn_probability"])
    auc_truth = roc_auc_score(y, joined["p_lapse_90d"])
    assert auc_model >= 0.95 * auc_truth, (auc_model, auc_truth)


def test_brier_within_10_percent_of_the_truths(sample_run):
    """Measured 1.094 (bootstrap 95% interval 1.066-1.124); seeds 1, 7, 123: 1.077, 1.071,
    1.072 (docs/churn.md)."""
    _, _, _, joined, _ = sample_run
    y = joined["lapsed_90d"].astype(bool).astype(int)
    ratio = brier_score_loss(y, joined["churn_probability"]) / brier_score_loss(
        y, joined["p_lapse_90d"]
    )
    assert ratio <= 1.10, ratio


def test_brier_close_to_the_truths(sample_run):
    """Guard against regressions: a looser bound and calibration in the large (measured
    1.094)."""
    _, _, _, joined, _ = sample_run
    y = joined["lapsed_90d"].astype(bool).astype(int)
    ratio = brier_score_loss(y, joined["churn_probability"]) / brier_score_loss(
        y, joined["p_lapse_90d"]
    )
    assert ratio <= 1.12, ratio
    # calibration in the large: predicted and true expected lapse rates within 2 points
    assert abs(joined["churn_probability"].mean() - joined["p_lapse_90d"].mean()) < 0.02


def test_drivers_are_levers_adjusted_for_the_purchase_pattern(sample_run):
    """The drivers model adjusts for log(1 + purchases), recency and tenure and leaves the
    behavioural segments out; p-values are Holm-adjusted. Measured on the sample: two drivers,
    app use (the customer attribute; odds ratio 0.61, 11% of lapsing, 95% CI 6.9-15%) and
    complaints (6.1, 3.0% of lapsing); before, eleven drivers, four of them never planted (two
    regions, two loyalty tiers)."""
    _, res, _, _, truth_drivers = sample_run
    planted = set(truth_drivers["driver"])
    assert {"complaint", "no_app", "low_satisfaction"} <= planted
    d = res.drivers.set_index("term")
    # only planted drivers (app use is both a customer attribute and the app channel)
    assert set(d.index) <= {"complained", "app_user", "no_app_use", "low_satisfaction"}
    assert {"complained"} <= set(d.index) and ({"app_user", "no_app_use"} & set(d.index))
    assert d.loc["complained", "estimate"] > 1.5
    # adjusted p-values (Holm), ranked by the share of lapsing associated with each driver
    assert (d["p_adjusted"] >= d["p_value"]).all() and (d["p_adjusted"] < 0.05).all()
    assert res.drivers["paf"].is_monotonic_decreasing
    assert (d["paf_ci_low"] > 0).all()
    # the controls are adjustments, not drivers; no segment defined by the purchase pattern
    terms = res.models["drivers"].terms_
    assert {"log_purchases", "recency_days", "tenure_days"} <= set(terms)
    assert not any(t.startswith("segment") for t in terms)
    # the BG/NBD within segments finds the complaint effect on dropout (planted: +1.0 log-odds)
    seg = res.btyd.strata_table()
    assert (seg["dropout x complained"] > 1.5).all()


def test_an_attribute_of_frequent_buyers_is_not_a_driver(sample_dir):
    """A yes/no attribute with no effect on dropout, twice as common among customers whose
    purchase rate (the generator's latent ``lam``) is above the median (40% vs 20%), goes with
    lapsing less in the raw data (frequent buyers lapse less; measured risk ratio 0.91) and is
    not reported as a driver once frequency and recency are held (measured adjusted odds ratio
    1.06, p = 0.31)."""
    import numpy as np

    data = load_source(sample_dir, tables=("transactions", "customers", "feedback"))
    customers = data.tables["customers"].copy()
    truth = pd.read_csv(sample_dir / "truth" / "customers.csv", dtype={"customer_id": "str"})
    rate = truth.set_index("customer_id")["lam"].reindex(customers["customer_id"]).to_numpy()
    frequent = rate > np.nanmedian(rate)
    rng = np.random.default_rng(3)
    share = np.where(frequent, 0.4, 0.2)
    customers["newsletter"] = (rng.random(len(customers)) < share).astype(float)
    tables = {**data.tables, "customers": customers}
    res = churn.run_churn(tables, data.as_of_date, options={**NOTEBOOK_DEFAULTS, "n_bootstrap": 20})
    assert res.risk_ratios.set_index("feature").loc["newsletter", "risk_ratio"] < 1
    assert "newsletter" in res.models["drivers"].terms_
    assert "newsletter" not in set(res.drivers["term"])
    assert not any("newsletter" in t for t, _ in churn.churn_findings(res))


def test_low_satisfaction_goes_the_planted_way(sample_run):
    """Low satisfaction (planted +0.7 on the dropout log-odds) raises the adjusted odds of
    lapsing (measured 1.33, 95% CI 1.03-1.70, p = 0.026) but is not a driver after Holm's
    correction over the 15 candidate terms (adjusted p 0.34); recency, which the drivers model
    now holds, carries part of its effect. See docs/churn.md."""
    _, res, _, _, truth_drivers = sample_run
    assert "low_satisfaction" in set(truth_drivers["driver"])
    row = res.odds_ratios.set_index("term").loc["low_satisfaction"]
    assert row["estimate"] > 1 and row["ci_low"] > 1, row


def test_low_satisfaction_is_not_reported_as_protective(sample_run):
    """Low satisfaction is compared among customers who gave a score (``score_given`` is a
    control of the drivers model); compared with customers who gave none (frequent buyers
    answer more surveys) it came out as lowering the risk (odds ratio 0.74)."""
    _, res, _, _, _ = sample_run
    assert "score_given" in res.models["drivers"].terms_
    assert "score_given" not in set(res.drivers["term"])
    o = res.odds_ratios.set_index("term").loc["low_satisfaction"]
    assert o["estimate"] > 0.9 and o["ci_high"] > 1, o


def test_findings_and_headlines(sample_run):
    _, res, _, _, _ = sample_run
    found = churn.churn_findings(res)
    assert [(f.text, f.headline) for f in res.findings()] == found
    heads = [t for t, h in found if h]
    assert 2 <= len(heads) <= 4
    # the largest driver is a headline, in the words "associated with", never "causes"
    assert any("associated with" in t and "more than with any other driver" in t for t in heads)
    assert not any(w in t for t, _ in found for w in ("causes", "drives", "driven by"))


def test_value_at_risk_is_the_expected_loss(sample_run):
    """Value at risk = P(dropped out) x value over the horizon if alive, per customer: it ranks
    customers as the true expected loss over the same 90 days does, (1 - ``p_alive_at_end``) x
    ``true_value_if_alive_90d`` (the true purchase rate and mean basket of the person behind
    the record). Measured: Spearman 0.939 (0.20 for the former lapse probability x 365-day
    value); total 332,514 against the truth's 326,236 (1.02x); of the 10% of customers with the
    most value at risk, 9.4% are truly alive (docs/churn.md)."""
    from scipy.stats import spearmanr

    _, _, export, joined, _ = sample_run
    assert (
        export["value_at_risk"] - (1 - export["p_alive"]) * export["value_if_alive"]
    ).abs().max() < 1e-9
    true_loss = (1 - joined["p_alive_at_end"]) * joined["true_value_if_alive_90d"]
    rho = spearmanr(joined["value_at_risk"], true_loss).statistic
    assert rho >= 0.7, rho
    ratio = joined["value_at_risk"].sum() / true_loss.sum()
    assert 0.9 < ratio < 1.1, ratio
    top = joined["value_at_risk"].rank(ascending=False, method="first") <= 0.1 * len(joined)
    assert joined.loc[top, "alive_at_end"].mean() < 0.2
