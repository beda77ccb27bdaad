"""Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005b; Fader & Hardie 2013)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import special

from cxlib.churn._bgnbd import BetaGeoModel, _as_float, _fit_log_params, _summary_table
from cxlib.threads import on_one_blas_thread

log = logging.getLogger(__name__)


class GammaGammaModel:
    """Gamma-Gamma model of the average spend per transaction (Fader, Hardie & Lee 2005b).

    Spend per transaction ~ ``Gamma(p, nu)`` with ``nu ~ Gamma(q, gamma)`` across customers; it
    assumes spend is independent of purchase frequency. Fit on customers with ``frequency > 0``.

    Attributes
    ----------
    params_ : pandas.Series
        Fitted ``p, q, gamma``.
    """

    param_names = ["p", "q", "gamma"]

    def __init__(self, penalizer: float = 0.0, maxiter: int = 2000) -> None:
        self.penalizer = penalizer
        self.maxiter = maxiter

    @staticmethod
    def _loglik_grad(params: np.ndarray, x, m) -> tuple[np.ndarray, np.ndarray]:
        """Per-customer log-likelihood and its gradient in (p, q, gamma)."""
        p, q, g = params
        dg = special.digamma
        px = p * x
        lgm = np.log(g + m * x)
        ll = (
            special.gammaln(px + q)
            - special.gammaln(px)
            - special.gammaln(q)
            + q * np.log(g)
            + (px - 1.0) * np.log(m)
            + px * np.log(x)
            - (px + q) * lgm
        )
        g_p = x * (dg(px + q) - dg(px) + np.log(m) + np.log(x) - lgm)
        g_q = dg(px + q) - dg(q) + np.log(g) - lgm
        g_g = q / g - (px + q) / (g + m * x)
        return ll, np.vstack([g_p, g_q, g_g])

    def _objective(self, log_params: np.ndarray, x, m, w) -> tuple[float, np.ndarray]:
        lp = np.clip(log_params, -30.0, 30.0)
        params = np.exp(lp)
        ll, g = self._loglik_grad(params, x, m)
        n = w.sum()
        value = -np.dot(w, ll) / n + self.penalizer * np.sum(lp**2)
        grad = -(g @ w) / n * params + 2.0 * self.penalizer * lp
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return 1e100, np.zeros_like(lp)
        return float(value), grad

    def _negll(self, log_params: np.ndarray, x, m, w) -> float:
        return self._objective(log_params, x, m, w)[0]

    @on_one_blas_thread
    def fit(self, frequency, monetary_value, weights=None) -> GammaGammaModel:
        """Fit on customers with at least one repeat purchase and positive mean spend (with BLAS
        on one thread, :func:`cxlib.threads.on_one_blas_thread`)."""
        x, m = _as_float(frequency), _as_float(monetary_value)
        w = np.ones_like(x) if weights is None else _as_float(weights)
        if len(x) != len(m):
            raise ValueError("frequency and monetary_value must have the same length")
        keep = (x > 0) & (m > 0) & np.isfinite(m)
        if keep.sum() < 3:
            raise ValueError("Gamma-Gamma needs at least 3 customers with repeat purchases")
        x, m, w = x[keep], m[keep], w[keep]
        n = float(w.sum())

        def objective(lp: np.ndarray) -> tuple[float, np.ndarray]:
            return self._objective(lp, x, m, w)

        mean_m = float(np.average(m, weights=w))
        x0 = np.log(np.array([2.0, 3.0, max(mean_m, 1e-3)]))
        res = _fit_log_params(objective, x0, maxiter=self.maxiter)
        self.converged_ = bool(res.success)
        self.log_params_ = np.asarray(res.x, dtype=float)
        self.params_ = pd.Series(np.exp(self.log_params_), index=self.param_names, name="estimate")
        self.loglik_ = float(-self._negll(self.log_params_, x, m, w) * n)
        self.n_customers_ = int(round(n))
        self.summary_, self.cov_log_params_ = _summary_table(
            self.param_names, self.log_params_, lambda lp: objective(lp)[1] * n
        )
        log.info(
            "Gamma-Gamma fitted on %d customers: %s",
            self.n_customers_,
            ", ".join(f"{k}={v:.3f}" for k, v in self.params_.items()),
        )
        return self

    def _check_fitted(self) -> tuple[float, float, float]:
        if not hasattr(self, "params_"):
            raise RuntimeError("GammaGammaModel is not fitted yet; call fit() first")
        p, q, g = (float(v) for v in self.params_.to_numpy())
        return p, q, g

    def summary(self) -> pd.DataFrame:
        """Parameters with standard error, 95% CI (log scale) and Wald p-value against zero."""
        self._check_fitted()
        return self.summary_.copy()

    def expected_average_value(self, frequency, monetary_value) -> np.ndarray:
        """Posterior mean spend per transaction; customers without repeats get the population mean."""
        p, q, g = self._check_fitted()
        x = _as_float(frequency)
        m = np.nan_to_num(_as_float(monetary_value), nan=0.0)
        m = np.where(x > 0, m, 0.0)
        return p * (g + m * x) / (p * x + q - 1.0)

    def population_mean_value(self) -> float:
        """Mean spend per transaction across customers (needs ``q > 1``)."""
        p, q, g = self._check_fitted()
        return p * g / (q - 1.0) if q > 1 else float("nan")


def expected_value(
    bgnbd: BetaGeoModel,
    gamma_gamma: GammaGammaModel,
    t: float,
    frequency,
    recency,
    T,
    monetary_value,
) -> np.ndarray:
    """Expected spend in the next ``t`` periods = expected purchases x expected spend per purchase."""
    purchases = bgnbd.expected_purchases(t, frequency, recency, T)
    return purchases * gamma_gamma.expected_average_value(frequency, monetary_value)
