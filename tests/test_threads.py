"""OpenMP threads of the gradient-boosting models: chosen by data size, overridable, and without
effect on any result (bit for bit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

from cxlib import threads
from cxlib.churn import BoostedChurnModel
from cxlib.threads import MIN_ROWS_PER_THREAD, model_threads, openmp_threads
from cxlib.uplift import fit_uplift_models


def test_auto_threads_follow_rows_cpus_and_the_environment(monkeypatch):
    monkeypatch.delenv("CX_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    assert model_threads(5_000) == 1
    assert model_threads(MIN_ROWS_PER_THREAD * 2 - 1) == 1
    assert model_threads(MIN_ROWS_PER_THREAD * 2) == 2
    assert model_threads(10_000_000) == 2  # never more than the CPUs
    assert model_threads(10_000_000, 1) == 1 and model_threads(10, 3) == 3
    assert model_threads(10, None) is None
    monkeypatch.setenv("CX_THREADS", "1")
    assert model_threads(10_000_000) == 1
    monkeypatch.setenv("CX_THREADS", "lots")
    assert model_threads(10_000_000) == 2  # a bad value is logged and ignored
    with pytest.raises(ValueError, match="n_threads"):
        model_threads(10, "many")


def test_openmp_threads_limits_openmp_and_keeps_blas_on_one_thread(monkeypatch):
    monkeypatch.delenv("CX_THREADS", raising=False)
    with openmp_threads(10, 2):
        info = threadpool_info()
    assert all(p["num_threads"] == 2 for p in info if p["user_api"] == "openmp")
    assert all(p["num_threads"] == 1 for p in info if p["user_api"] == "blas")


def _churn_data(n: int = 4000):
    rng = np.random.default_rng(3)
    X = pd.DataFrame(
        {"x": rng.normal(size=n), "z": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], n)}
    )
    X.loc[rng.random(n) < 0.1, "z"] = np.nan
    p = 1 / (1 + np.exp(-(X["x"] + 0.5 * X["z"].fillna(0) + (X["c"] == "b"))))
    return X, (rng.random(n) < p).astype(int)


def test_boosted_churn_model_gives_identical_probabilities_on_one_and_two_threads():
    X, y = _churn_data()
    p = {
        k: BoostedChurnModel(random_state=0, n_threads=k).fit(X, y).predict_proba(X)[:, 1]
        for k in (1, 2)
    }
    assert np.array_equal(p[1], p[2])


def test_uplift_scores_are_identical_on_one_and_two_threads():
    rng = np.random.default_rng(4)
    n = 3000
    campaign = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "group": rng.choice(["control", "offer_a", "offer_b"], n),
        }
    )
    x = rng.normal(size=n)
    campaign["converted"] = rng.random(n) < 0.2 + 0.1 * (x > 0) * (campaign["group"] != "control")
    X = pd.DataFrame({"x": x, "w": rng.normal(size=n)})
    one = fit_uplift_models(campaign, X, n_bootstrap=10, n_threads=1)
    two = fit_uplift_models(campaign, X, n_bootstrap=10, n_threads=2)
    pd.testing.assert_frame_equal(one.scores, two.scores, check_exact=True)
    pd.testing.assert_frame_equal(one.evaluation, two.evaluation, check_exact=True)
