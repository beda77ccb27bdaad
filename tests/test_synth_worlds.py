"""Worlds beyond the BG/NBD generator (``cx synth --world seasonal|decline``): the worlds
themselves, and whether churn scores stay calibrated in them (issue 19, item 8).

Calibration is judged against the truth: ``p_lapse_90d`` is each person's true probability of
no purchase in the 90 days after the data end given their true rates and purchases up to it
(what ``churn_probability`` estimates); ``lapsed_90d`` is what happened in those days.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss

from cxlib import churn
from cxlib.synth import generate


@pytest.fixture(scope="module", params=["seasonal", "decline"])
def small_world(request, tmp_path_factory):
    world = request.param
    out = tmp_path_factory.mktemp(f"world_{world}")
    generate(600, 5, out, world=world)
    tx = pd.read_csv(out / "transactions.csv", usecols=["timestamp", "channel"])
    truth = pd.read_csv(out / "truth" / "customers.csv", dtype={"customer_id": "str"})
    return world, tx, truth


def test_worlds_name_the_app_after_the_phone(small_world):
    _, tx, truth = small_world
    channels = set(tx["channel"].str.strip().str.lower())
    assert {"ios", "android", "store", "web"} <= channels
    assert "app" not in channels and "mobile app" not in channels
    assert truth["true_value_if_alive_90d"].ge(0).all()  # and never missing


def test_world_shapes(small_world):
    """Seasonal: more purchases in the fourth quarters than in the second; decline: nobody
    drops out, and the purchase rate of the early customers falls over time."""
    world, tx, truth = small_world
    t = pd.to_datetime(tx["timestamp"], errors="coerce", format="mixed")
    t = t[(t >= "2023-07-01") & (t < "2025-07-01")]
    quarter = t.dt.quarter.value_counts()
    if world == "seasonal":
        assert quarter[4] > 1.5 * quarter[2]
        assert not truth["alive_at_end"].all()
    else:
        assert truth["alive_at_end"].all() and (truth["p_alive_at_end"] == 1).all()


def test_default_world_is_the_sample(tmp_path):
    """``world="default"`` is the generator of the committed sample (same bytes)."""
    a = generate(200, 9, tmp_path / "a")
    b = generate(200, 9, tmp_path / "b", world="default")
    for key, path in a.files.items():
        assert path.read_bytes() == b.files[key].read_bytes(), key
    with pytest.raises(ValueError, match="unknown world"):
        generate(10, 1, tmp_path / "c", world="winter")


# ---------------------------------------------------------------------------------------------
# churn scores in the worlds (about 60 s each)
# ---------------------------------------------------------------------------------------------


def _run(world: str, tmp_path_factory) -> tuple[churn.ChurnResult, pd.DataFrame]:
    from cxlib.audit import SingleCustomerView
    from cxlib.contract import load_source

    out = tmp_path_factory.mktemp(f"churn_{world}")
    generate(4000, 7, out, world=world)
    data = load_source(out, tables=("transactions", "customers", "feedback"))
    master_map = (
        SingleCustomerView(random_state=42)
        .fit(data.tables["customers"], data.as_of_date)
        .master_map_
    )
    options = dict(horizon_days=90, lookback_days=365, n_snapshots=4, n_bootstrap=50)
    res = churn.run_churn(data, options={**options, "random_state": 42}, master_map=master_map)
    truth = pd.read_csv(out / "truth" / "customers.csv", dtype={"customer_id": "str"})
    joined = res.exports()["churn_scores.csv"].merge(truth, on="customer_id", validate="1:1")
    return res, joined


def _calibration(joined: pd.DataFrame) -> tuple[float, float]:
    """(Brier of the scores / Brier of the true probabilities, largest gap in points between
    the mean score and the mean true probability over deciles of the score)."""
    y = joined["lapsed_90d"].astype(bool).astype(int)
    ratio = brier_score_loss(y, joined["churn_probability"]) / brier_score_loss(
        y, joined["p_lapse_90d"]
    )
    decile = pd.qcut(joined["churn_probability"].rank(method="first"), 10, labels=False)
    g = joined.groupby(decile)[["churn_probability", "p_lapse_90d"]].mean()
    return ratio, float(100 * (g["churn_probability"] - g["p_lapse_90d"]).abs().max())


def _says_which_model_won(res: churn.ChurnResult) -> None:
    text = churn.choice_markdown(res)
    assert res.chosen_model in text and "Brier" in text
    others = [m for m in res.metrics if m != res.chosen_model]
    assert all(m in res.choice_reason for m in others)


@pytest.fixture(scope="module")
def decline_run(tmp_path_factory):
    return _run("decline", tmp_path_factory)


@pytest.fixture(scope="module")
def seasonal_run(tmp_path_factory):
    return _run("seasonal", tmp_path_factory)


@pytest.mark.slow
def test_decline_world_scores_are_calibrated(decline_run):
    """Measured (4,000 people, seed 7): Brier 1.12x the truth's, largest decile gap 3.1
    points; gradient boosting chosen (Brier 0.1080 out of time, BG/NBD 0.1181)."""
    res, joined = decline_run
    # the truth is consistent with what happened
    assert abs(joined["p_lapse_90d"].mean() - joined["lapsed_90d"].mean()) < 0.03
    ratio, gap = _calibration(joined)
    assert ratio <= 1.15, ratio
    assert gap <= 5.0, gap
    _says_which_model_won(res)


@pytest.mark.slow
def test_seasonal_world_truth_and_model_choice(seasonal_run):
    """The truth agrees with what happened, the report says which model won and why, and value
    at risk ranks customers by their true expected loss (measured Spearman 0.934)."""
    from scipy.stats import spearmanr

    res, joined = seasonal_run
    assert abs(joined["p_lapse_90d"].mean() - joined["lapsed_90d"].mean()) < 0.03
    _says_which_model_won(res)
    true_loss = (1 - joined["p_alive_at_end"]) * joined["true_value_if_alive_90d"]
    assert spearmanr(joined["value_at_risk"], true_loss).statistic >= 0.7


@pytest.mark.slow
def test_seasonal_world_scores_are_calibrated(seasonal_run):
    """Measured (4,000 people, seed 7): Brier 1.06x the truth's, largest decile gap 2.7 points,
    with the BG/NBD on the seasonal clock (without it: 1.29 and 17.7 points; every model read
    a quiet spring as dropout)."""
    res, joined = seasonal_run
    ratio, gap = _calibration(joined)
    assert ratio <= 1.15, ratio
    assert gap <= 5.0, gap
    # the report says the cycle was found and used
    assert res.btyd.clock is not None
    assert any(
        n.startswith("Purchases follow a yearly cycle") and "December" in n for n in res.notes
    )


def test_seasonal_clock_only_where_there_is_a_cycle(tmp_path):
    """The yearly cycle is found in the seasonal world (planted peak 10 December, +50%) and not
    in the decline world or the sample, whose scores are then unchanged."""
    from cxlib.churn._labels import purchase_days
    from cxlib.churn._season import seasonal_clock
    from cxlib.contract import load_source
    from cxlib.engine import Engine, as_table

    def clock(folder):
        data = load_source(folder, tables=("transactions",))
        end = (pd.Timestamp(data.as_of_date) - pd.Timestamp("1970-01-01")).days
        with Engine() as engine:
            tx = as_table(data.tables["transactions"], engine)
            return seasonal_clock(purchase_days(tx, engine), end)

    generate(1500, 5, tmp_path / "seasonal", world="seasonal")
    generate(1500, 5, tmp_path / "decline", world="decline")
    found = clock(tmp_path / "seasonal")
    assert found is not None
    day = np.arange(366.0) + (pd.Timestamp("2024-01-01") - pd.Timestamp("1970-01-01")).days
    m = found.multiplier(day)
    peak = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(np.argmax(m)))
    assert abs((peak - pd.Timestamp("2024-12-10")).days) <= 15, peak
    assert 1.35 < m.max() < 1.7
    assert "yearly cycle" in found.describe()
    assert clock(tmp_path / "decline") is None
    assert clock(Path(__file__).parents[1] / "data" / "sample") is None


def test_calibration_measure():
    """The decile gap is in points of probability and the Brier ratio is 1 for the truth."""
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 5000)
    joined = pd.DataFrame(
        {"p_lapse_90d": p, "churn_probability": p, "lapsed_90d": rng.random(5000) < p}
    )
    assert _calibration(joined) == (1.0, 0.0)
    joined["churn_probability"] = np.clip(p + 0.1, 0, 1)
    ratio, gap = _calibration(joined)
    assert ratio > 1 and 9.0 < gap <= 10.0 + 1e-9
