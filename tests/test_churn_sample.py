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


#: How many of the reported drivers count as "top": the planted drivers show up as five terms
#: (complaint, low satisfaction, no app use and the two segments with the highest dropout base).
#: Measured on the sample: ranks 1 (complaint), 2-3 (segments), 4 (low satisfaction), 6 (no app
#: use; rank 5 is the Platinum loyalty tier, not planted), of 11 drivers.
TOP_DRIVERS = 6


def test_planted_drivers_among_top_drivers(sample_run):
    _, res, _, _, truth_drivers = sample_run
    planted = set(truth_drivers["driver"])
    assert {"complaint", "no_app", "low_satisfaction"} <= planted
    top = list(res.drivers["term"].head(TOP_DRIVERS))
    # complaint: the strongest driver
    assert top[0] == "complained"
    # app use: never buying in the app raises the risk
    assert "no_app_use" in top
    d = res.drivers.set_index("term")
    assert d.loc["no_app_use", "estimate"] > 1
    # segment: behavioural segments with a higher dropout base are among the top drivers
    assert any(t.startswith("segment[") for t in top)
    # the BG/NBD within segments finds the complaint effect on dropout (planted: +1.0 log-odds)
    seg = res.btyd.strata_table()
    assert (seg["dropout x complained"] > 1.5).all()


def test_planted_low_satisfaction_among_drivers(sample_run):
    """Low satisfaction (planted +0.7 on the dropout log-odds, odds ratio 2.01 for the latent
    flag) is found from the survey answers. Measured: adjusted odds ratio 1.72 (1.30-2.29),
    rank 4 of 11 drivers; below the planted 2.01 because "average score below 5" misclassifies
    some customers and a third of the truly dissatisfied gave no score. Seeds 1, 7, 123: 1.56
    (p = 0.001), 1.26 (p = 0.11, not found), 1.41 (p = 0.009); see docs/churn.md."""
    _, res, _, _, truth_drivers = sample_run
    assert "low_satisfaction" in set(truth_drivers["driver"])
    d = res.drivers.set_index("term")
    assert "low_satisfaction" in set(res.drivers["term"].head(TOP_DRIVERS))
    row = d.loc["low_satisfaction"]
    assert row["direction"] == "raises risk"
    assert 1 < row["ci_low"] and row["estimate"] < 2.5, row
    # and the report says it in words (measured: "Customers whose average feedback score is
    # below 5 are 1.3x as likely to lapse (43% vs 33%; adjusted odds ratio 1.72 ...)")
    texts = [t for t, _ in churn.churn_findings(res)]
    assert any(t.startswith("Customers whose average feedback score is below") for t in texts)


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
    assert any("complaint" in t and "as likely to lapse" in t for t in heads)


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
