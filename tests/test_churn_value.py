"""Value at risk as an expected loss: the worked example of docs/churn.md, the formula used by
:func:`cxlib.churn.fit_btyd`, and the at-risk list's treatment of occasional buyers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxlib import churn
from cxlib.churn import BetaGeoModel, GammaGammaModel

HORIZON_WEEKS = 90 / 7  # the 90-day horizon in the models' unit (weeks)


def _cdnow_models() -> tuple[BetaGeoModel, GammaGammaModel]:
    """The published CDNOW parameters (Fader, Hardie & Lee 2005a, 2005b)."""
    bg, gg = BetaGeoModel(), GammaGammaModel()
    bg.params_ = pd.Series([0.243, 4.414, 0.793, 2.426], index=bg.param_names)
    gg.params_ = pd.Series([6.25, 3.74, 15.44], index=gg.param_names)
    return bg, gg


def test_worked_example_of_the_docs():
    """docs/churn.md, "Value at risk": A bought every 19 days and has been quiet for 20 weeks;
    B buys every 140 days and has been quiet for 12 weeks. Both are likely to make no purchase
    in the next 90 days (93% and 74%), but only A has probably stopped buying: A's value at risk
    is 121, B's 15."""
    bg, gg = _cdnow_models()
    x, tx, T = np.array([12.0, 2.0]), np.array([32.0, 40.0]), np.array([52.0, 52.0])
    spend = np.array([30.0, 90.0])
    p_alive = bg.p_alive(x, tx, T)
    p_lapse = bg.prob_no_purchase(HORIZON_WEEKS, x, tx, T)
    purchases = bg.purchase_rate_if_dropped(x, tx, T) * HORIZON_WEEKS
    per_purchase = gg.expected_average_value(x, spend)
    value_if_alive = purchases * per_purchase
    value_at_risk = (1 - p_alive) * value_if_alive
    # the figures printed in the docs (rounded as there)
    np.testing.assert_allclose(p_alive, [0.074, 0.716], atol=5e-4)
    np.testing.assert_allclose(p_lapse, [0.932, 0.736], atol=5e-4)
    np.testing.assert_allclose(purchases, [4.32, 0.65], atol=5e-3)
    np.testing.assert_allclose(per_purchase, [30.18, 80.15], atol=5e-3)
    np.testing.assert_allclose(value_if_alive, [130.48, 52.04], atol=5e-3)
    np.testing.assert_allclose(value_at_risk, [120.86, 14.76], atol=5e-3)
    assert value_at_risk.sum() == pytest.approx(135.61, abs=0.01)
    # by hand: (r + x) / (alpha + t_x) purchases per week, times the horizon and the spend
    assert purchases[0] == pytest.approx((0.243 + 12) / (4.414 + 32) * 90 / 7)


@pytest.fixture(scope="module")
def sample_btyd(sample_dir):
    from cxlib.contract import load_source

    data = load_source(sample_dir, tables=("transactions",))
    tx = data.tables["transactions"]
    return churn.fit_btyd(tx, data.as_of_date, horizon_days=90, value_horizon_days=365)


def test_fit_btyd_value_if_alive_is_the_documented_formula(sample_btyd):
    bt = sample_btyd
    r = bt.rfm
    expected = (
        bt.bgnbd.purchase_rate_if_dropped(r["frequency"], r["recency"], r["T"])
        * HORIZON_WEEKS
        * bt.gamma_gamma.expected_average_value(r["frequency"], r["monetary_value"])
    )
    np.testing.assert_allclose(bt.predictions["value_if_alive"], expected, rtol=1e-12)
    gap = bt.predictions["purchase_interval_days"]
    one = r["frequency"] == 0
    assert gap[one].isna().all()
    np.testing.assert_allclose(gap[~one], 7 * r["recency"][~one] / r["frequency"][~one])


def test_occasional_buyer_quiet_for_a_quarter_is_not_on_the_at_risk_list(sample_btyd):
    """Customers likely to make no purchase in 90 days who have probably not dropped out (the
    occasional buyers between purchases) are left off the at-risk list, which ranks by value at
    risk."""
    from types import SimpleNamespace

    p = sample_btyd.predictions
    scores = pd.DataFrame(
        {
            "churn_probability": p["bgnbd_p_lapse"],
            "p_alive": p["p_alive"],
            "purchase_interval_days": p["purchase_interval_days"],
            "value_if_alive": p["value_if_alive"],
            "value_at_risk": (1 - p["p_alive"]) * p["value_if_alive"],
            "segment": "all",
            "marketing_consent": True,
        }
    )
    # what action_list reads of a ChurnResult
    res = SimpleNamespace(
        scores=scores,
        mode="non_contractual",
        recent_days=30,
        low_score=2.5,
        drivers=pd.DataFrame(
            columns=["term", "estimate", "column", "exposed_value", "reference_value", "paf"]
            + ["paf_ci_low", "paf_ci_high"]
        ),
    )
    actions = churn.action_list(res, "k", top_n=len(scores))
    assert (actions["p_alive"] <= 0.5).all()
    assert actions["value_at_risk"].is_monotonic_decreasing
    quiet_occasional = (scores["churn_probability"] >= 0.5) & (scores["p_alive"] > 0.5)
    assert quiet_occasional.sum() > 100  # there are such customers, and none is listed
    assert len(actions) == int((scores["p_alive"] <= 0.5).sum())
