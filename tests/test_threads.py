"""Thread counts from cxlib.threads: OpenMP threads of the gradient-boosting models (chosen by
data size, overridable, and without effect on any result, bit for bit), DuckDB's threads, and
BLAS on one thread inside the maximum-likelihood optimisers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from cxlib import threads
from cxlib.churn import BetaGeoModel, BoostedChurnModel, GammaGammaModel, fit_stratified_bgnbd
from cxlib.engine import duckdb_connection
from cxlib.threads import (
    MIN_ROWS_PER_THREAD,
    duckdb_threads,
    model_threads,
    native_threads,
    one_blas_thread,
    openmp_threads,
)
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


def _blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_duckdb_threads_are_every_cpu_unless_cx_threads_says_otherwise(monkeypatch):
    monkeypatch.delenv("CX_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: 3)
    assert duckdb_threads() == 3
    monkeypatch.setenv("CX_THREADS", "lots")
    assert duckdb_threads() == 3  # a bad value is logged and ignored
    monkeypatch.setenv("CX_THREADS", "1")
    assert duckdb_threads() == 1
    con = duckdb_connection()  # read when the connection is made
    try:
        assert con.raw_sql("SELECT current_setting('threads')").fetchone()[0] == 1
    finally:
        con.disconnect()


def test_native_threads_and_one_blas_thread_set_their_pools_and_restore_them():
    with threadpool_limits(limits=2):
        outer = threadpool_info()
        with native_threads(1):
            assert all(p["num_threads"] == 1 for p in threadpool_info())
        with native_threads(None):
            assert threadpool_info() == outer
        with one_blas_thread():
            inner = threadpool_info()
        assert threadpool_info() == outer
    assert all(p["num_threads"] == 1 for p in inner if p["user_api"] == "blas")
    openmp = {p["filepath"]: p["num_threads"] for p in outer if p["user_api"] != "blas"}
    assert {p["filepath"]: p["num_threads"] for p in inner if p["user_api"] != "blas"} == openmp


def _btyd_data(n: int, seed: int = 5):
    rng = np.random.default_rng(seed)
    T = rng.integers(30, 500, n).astype(float)
    x = rng.poisson(rng.gamma(0.3, 1 / 40, n) * T).astype(float)
    tx = np.where(x > 0, np.floor(rng.random(n) * T), 0.0)
    spend = np.where(x > 0, rng.gamma(5.0, 5.0, n), 0.0)
    flag = pd.DataFrame({"flag": (rng.random(n) < 0.3).astype(float)})
    return x, tx, T, spend, flag


def test_the_btyd_optimisers_see_one_blas_thread_whatever_the_callers(monkeypatch):
    """Every objective evaluation of the BG/NBD fits (plain, with covariates, stratified) and of
    Gamma-Gamma runs with BLAS on one thread, inside a caller that allows two; the caller's
    setting is back afterwards."""
    seen: list[list[int]] = []

    def spy(cls):
        original = cls._objective

        def objective(self, *args, **kwargs):
            seen.append(_blas_threads())
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "_objective", objective)

    def blas_during(fit) -> list[int]:
        """BLAS threads of every library at every objective evaluation of ``fit()``."""
        seen.clear()
        fit()
        assert seen
        return sorted({n for call in seen for n in call})

    spy(BetaGeoModel)
    spy(GammaGammaModel)
    x, tx, T, spend, flag = _btyd_data(3000)
    strata = np.where(np.arange(len(x)) % 2, "a", "b")
    with threadpool_limits(limits=2, user_api="blas"):
        outer = _blas_threads()
        assert blas_during(lambda: BetaGeoModel().fit(x, tx, T)) == [1]
        cov = {"covariates": flag, "rate_covariates": flag}
        assert blas_during(lambda: BetaGeoModel(compute_se=False).fit(x, tx, T, **cov)) == [1]
        assert blas_during(lambda: fit_stratified_bgnbd(x, tx, T, strata, **cov)) == [1]
        assert blas_during(lambda: GammaGammaModel().fit(x, spend)) == [1]
        assert _blas_threads() == outer
    with one_blas_thread():
        GammaGammaModel().fit(x, spend)  # nested in an outer guard: fine
        assert _blas_threads() == [1] * len(outer)


def test_gamma_gamma_is_the_same_bit_for_bit_on_one_and_two_blas_threads():
    """With 25,000 repeat buyers OpenBLAS splits the likelihood's sums over its threads when it
    may (without the guard the parameters differed by 4e-13 here); the fit keeps one."""
    x, _, _, spend, _ = _btyd_data(60_000)
    params = {}
    for k in (1, 2):
        with threadpool_limits(limits=k, user_api="blas"):
            params[k] = GammaGammaModel().fit(x, spend).params_.to_numpy()
    assert np.array_equal(params[1], params[2])


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
