"""Buy-till-you-die models: BG/NBD (purchase counts, dropout) and Gamma-Gamma (spend per purchase).

Both are fitted by maximum likelihood with :func:`scipy.optimize.minimize` (L-BFGS-B with analytic
gradients) on log-parameters; standard errors come from the inverse of the observed information,
a numerical Hessian obtained by central finite differences of the analytic gradient
(:func:`statsmodels.tools.numdiff.approx_fprime`), and confidence intervals are computed on the
log scale (so they stay positive). Customers with identical ``(frequency, recency, T)`` are
collapsed into one weighted row, so large data costs little. The fits run with BLAS on one
thread (:func:`cxlib.threads.on_one_blas_thread`): the objective multiplies small vectors
thousands of times, which waking BLAS threads would make many times slower.

References
----------
Fader, Hardie & Lee (2005a), "Counting your customers the easy way: an alternative to the
Pareto/NBD model", Marketing Science 24(2). Fader, Hardie & Lee (2005b), "RFM and CLV: using
iso-value curves for customer base analysis", Journal of Marketing Research 42(4). Fader &
Hardie (2013), "The Gamma-Gamma model of monetary value" (note).

Data layout (one row per customer, time in units of ``freq``):

- ``frequency`` *x*: number of repeat purchase periods (purchase days after the first one);
- ``recency`` *t_x*: time from the first to the last purchase;
- ``T``: time from the first purchase to the end of the calibration period;
- ``monetary_value``: mean spend per repeat purchase day (0 when ``frequency`` is 0).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from cxlib.threads import on_one_blas_thread

log = logging.getLogger(__name__)

#: Length in days of the time units accepted by ``freq``.
FREQ_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.25 / 12.0, "Y": 365.25}

_Z95 = float(stats.norm.ppf(0.975))


def _as_float(values: object) -> np.ndarray:
    return np.asarray(values, dtype=float).ravel()


def _numerical_hessian(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Hessian as the central finite-difference Jacobian of an analytic gradient (symmetrised)."""
    from statsmodels.tools.numdiff import approx_fprime

    h = np.asarray(approx_fprime(np.asarray(x, dtype=float), grad, centered=True), dtype=float)
    return 0.5 * (h + h.T)


ObjectiveFn = Callable[[np.ndarray], tuple[float, np.ndarray]]


def _fit_log_params(
    objective: ObjectiveFn, x0: np.ndarray, *, maxiter: int = 2000
) -> optimize.OptimizeResult:
    """Minimise a mean negative log-likelihood over log-parameters.

    L-BFGS-B with the analytic gradient; Nelder-Mead (value only) if that fails.
    """
    res = optimize.minimize(
        objective, x0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter}
    )
    if not res.success or not np.all(np.isfinite(res.x)):
        log.info("L-BFGS-B did not converge (%s); trying Nelder-Mead", res.message)
        start = res.x if np.all(np.isfinite(res.x)) else x0
        res2 = optimize.minimize(
            lambda v: objective(v)[0],
            start,
            method="Nelder-Mead",
            options={"maxiter": maxiter * 5, "xatol": 1e-8, "fatol": 1e-10},
        )
        if res2.fun <= res.fun or not np.isfinite(res.fun):
            res = res2
    if not res.success:
        log.warning("maximum-likelihood fit may not have converged: %s", res.message)
    return res


def _summary_table(
    names: list[str],
    theta: np.ndarray,
    grad: Callable[[np.ndarray], np.ndarray] | None,
    n_log: int | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Estimates with standard errors and 95% CIs from the observed information.

    The first ``n_log`` entries of ``theta`` are log-parameters (estimate ``exp``, delta-method
    standard error, CI on the log scale); the rest are coefficients reported as ``exp(coef)``
    with CI ``exp(coef +- 1.96 se)`` and the Wald p-value of ``coef = 0``. ``grad`` is the
    gradient of the *total* negative log-likelihood; its numerical Jacobian is the information.
    """
    theta = np.asarray(theta, dtype=float)
    k = len(theta) if n_log is None else n_log
    try:
        if grad is None:
            raise ValueError("not computed")
        hess = _numerical_hessian(grad, theta)
        cov = np.linalg.inv(hess)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        if not np.all(np.isfinite(se)) or np.any(np.diag(cov) <= 0):
            raise np.linalg.LinAlgError("the information matrix is not positive definite")
    except (np.linalg.LinAlgError, ValueError) as exc:
        if grad is not None:
            log.warning("could not invert the Hessian (%s); standard errors are missing", exc)
        cov = np.full((len(names), len(names)), np.nan)
        se = np.full(len(names), np.nan)
    est = np.exp(theta)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        std_err = np.where(np.arange(len(theta)) < k, est * se, se)
        z = np.where(np.arange(len(theta)) < k, est / std_err, theta / se)
        lo = np.exp(theta - _Z95 * se)
        hi = np.exp(theta + _Z95 * se)
    table = pd.DataFrame(
        {
            "estimate": est,
            "std_err": std_err,
            "ci_low": lo,
            "ci_high": hi,
            "p_value": 2.0 * stats.norm.sf(np.abs(z)),
        },
        index=pd.Index(names, name="parameter"),
    )
    return table, cov


def _sorted_groups(stacked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``stacked`` sorted lexicographically (first column first; stable) and a mask of
    the sorted rows that start a new distinct row: ``np.unique(axis=0)``'s order without its
    slow sort of a structured view."""
    order = np.lexsort(stacked.T[::-1]) if len(stacked) else np.arange(0)
    s = stacked[order]
    start = np.ones(len(s), dtype=bool)
    if len(s) > 1:
        start[1:] = np.any(s[1:] != s[:-1], axis=1)
    return order, start


def _collapse(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Unique rows of the given columns (sorted as ``np.unique(axis=0)`` sorts them) and their
    counts (weights for the likelihood)."""
    stacked = np.column_stack(columns)
    order, start = _sorted_groups(stacked)
    uniq = stacked[order[start]]
    counts = np.diff(np.r_[np.flatnonzero(start), len(stacked)])
    return [uniq[:, j] for j in range(uniq.shape[1])], counts.astype(float)


def _special_keys(x: np.ndarray, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows with the same ``x`` and covariates (so the same ``b``): a representative row of each
    group and each row's group, or None when grouping would not save work."""
    if len(x) < 1000:
        return None
    stacked = np.column_stack([x, Z]) if Z.shape[1] else x[:, None]
    order, start = _sorted_groups(stacked)
    if start.sum() > len(x) // 4:
        return None
    inv = np.empty(len(x), dtype=np.intp)
    inv[order] = np.cumsum(start) - 1
    return order[start], inv


class BetaGeoModel:
    """BG/NBD model of repeat purchasing with dropout (Fader, Hardie & Lee 2005).

    While alive, a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)``; after each purchase
    they drop out with probability ``p ~ Beta(a, b)``.

    Optional time-invariant covariates shift the dropout distribution as in Fader & Hardie (2007,
    "Incorporating time-invariant covariates into the Pareto/NBD and BG/NBD models"):
    ``b_i = b * exp(-z_i' delta)``, so a positive ``delta_k`` raises the customer's expected dropout
    probability ``a / (a + b_i)`` (by about ``exp(delta_k)`` times when ``a`` is much smaller than
    ``b``). Covariates of the purchase rate (same paper) shift its Gamma scale:
    ``alpha_i = alpha * exp(-w_i' gamma)``, so ``exp(gamma_k)`` multiplies the expected purchase
    rate ``r / alpha_i``.

    Parameters
    ----------
    penalizer : float
        Optional L2 penalty on the log-parameters and covariate effects (0 = plain maximum
        likelihood).
    maxiter : int
        Maximum optimiser iterations.
    compute_se : bool
        Compute standard errors (the numerical Hessian); switch off for throw-away fits.

    Attributes
    ----------
    params_ : pandas.Series
        Fitted ``r, alpha, a, b`` (``b`` for customers whose covariates are all 0).
    coef_ : pandas.Series
        Covariate effects ``delta`` on the dropout (empty without covariates).
    rate_coef_ : pandas.Series
        Covariate effects ``gamma`` on the purchase rate (empty without rate covariates).
    loglik_ : float
        Maximised log-likelihood.
    n_customers_ : int
        Customers used in the fit.
    """

    param_names = ["r", "alpha", "a", "b"]

    def __init__(
        self, penalizer: float = 0.0, maxiter: int = 2000, compute_se: bool = True
    ) -> None:
        self.penalizer = penalizer
        self.maxiter = maxiter
        self.compute_se = compute_se

    # -- likelihood --------------------------------------------------------------------------
    @staticmethod
    def _loglik_grad(params, x, tx, T, keys=None) -> tuple[np.ndarray, np.ndarray]:
        """Per-customer log-likelihood and its gradient in (r, alpha, a, b); ``b`` may be a
        per-customer array.

        ``keys`` (from :func:`_special_keys`) groups rows with the same ``x`` and ``b``: the
        gamma and digamma functions are then evaluated once per group (same values).
        """
        r, alpha, a, b = params
        gl, dg = special.gammaln, special.digamma
        if keys is None:
            xk, bk = x, b

            def full(v):
                return v
        else:
            first, inv = keys
            xk = x[first]
            bk = b[first] if np.ndim(b) else b

            def full(v):
                return v[inv] if np.ndim(v) else v

        gl_rx, dg_rx = full(gl(r + xk)), full(dg(r + xk))
        gl_bx, dg_bx = full(gl(bk + xk)), full(dg(bk + xk))
        gl_abx, dg_abx = full(gl(a + bk + xk)), full(dg(a + bk + xk))
        gl_ab, dg_ab = full(gl(a + bk)), full(dg(a + bk))
        gl_b, dg_b = full(gl(bk)), full(dg(bk))
        a1 = gl_rx - gl(r) + r * np.log(alpha)
        a2 = gl_ab + gl_bx - gl_b - gl_abx
        la_T = np.log(alpha + T)
        la_tx = np.log(alpha + tx)
        a3 = -(r + x) * la_T
        pos = x > 0
        bx1 = np.where(pos, b + x - 1.0, 1.0)
        a4 = np.where(pos, np.log(a) - np.log(bx1) - (r + x) * la_tx, -np.inf)
        l34 = np.logaddexp(a3, a4)
        w3 = np.exp(a3 - l34)
        w4 = np.where(pos, np.exp(a4 - l34), 0.0)
        ll = a1 + a2 + l34
        g_r = dg_rx - dg(r) + np.log(alpha) - w3 * la_T - w4 * la_tx
        g_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + tx))
        d_ab = dg_ab - dg_abx
        g_a = d_ab + w4 / a
        g_b = d_ab + dg_bx - dg_b - w4 / bx1
        return ll, np.vstack(np.broadcast_arrays(g_r, g_alpha, g_a, g_b))

    def _objective(
        self, theta: np.ndarray, x, tx, T, w, Z=None, keys=None, R=None
    ) -> tuple[float, np.ndarray]:
        """Mean negative log-likelihood and its gradient in (log r, log alpha, log a, log b,
        delta, gamma); ``Z`` holds the dropout covariates, ``R`` those of the purchase rate."""
        lp = np.clip(theta[:4], -30.0, 30.0)
        k_d = 0 if Z is None else Z.shape[1]
        delta = np.asarray(theta[4 : 4 + k_d], dtype=float)
        gamma = np.asarray(theta[4 + k_d :], dtype=float)
        params = np.exp(lp)
        b_i = params[3] if k_d == 0 else params[3] * np.exp(-(Z @ delta))
        a_i = params[1] if not len(gamma) else params[1] * np.exp(-(R @ gamma))
        ll, g = self._loglik_grad((params[0], a_i, params[2], b_i), x, tx, T, keys)
        n = w.sum()
        value = -np.dot(w, ll) / n + self.penalizer * np.sum(theta**2)
        wb = w * g[3] * b_i
        wa = w * g[1] * a_i
        grad = np.empty(len(theta))
        grad[[0, 2]] = -(g[[0, 2]] @ w) / n * params[[0, 2]]
        grad[1] = -np.sum(wa) / n
        grad[3] = -np.sum(wb) / n
        if len(delta):
            grad[4 : 4 + k_d] = (Z.T @ wb) / n
        if len(gamma):
            grad[4 + k_d :] = (R.T @ wa) / n
        grad += 2.0 * self.penalizer * theta
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return 1e100, np.zeros_like(theta)
        return float(value), grad

    def _negll(self, theta: np.ndarray, x, tx, T, w, Z=None, R=None) -> float:
        return self._objective(theta, x, tx, T, w, Z, R=R)[0]

    # -- fitting -----------------------------------------------------------------------------
    @on_one_blas_thread
    def fit(
        self, frequency, recency, T, weights=None, covariates=None, rate_covariates=None
    ) -> BetaGeoModel:
        """Fit by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array-like
            Repeat purchase count, time of last purchase and age (see the module docstring).
        weights : array-like, optional
            Number of customers each row stands for (default 1).
        covariates : DataFrame or 2-D array, optional
            Time-invariant covariates of the dropout (one row per customer; e.g. 0/1 flags).
        rate_covariates : DataFrame or 2-D array, optional
            Time-invariant covariates of the purchase rate (one row per customer; e.g. 0/1
            indicators of a customer attribute's levels, or standardised numbers).

        Returns
        -------
        BetaGeoModel
            The fitted model (BLAS runs on one thread during the fit).
        """
        x, tx, T = _as_float(frequency), _as_float(recency), _as_float(T)
        w = np.ones_like(x) if weights is None else _as_float(weights)
        self._validate(x, tx, T)
        Z, names = self._covariate_matrix(covariates, len(x), learn=True)
        R, rate_names = self._covariate_matrix(rate_covariates, len(x), learn=True, kind="rate")
        cols = _collapse(x, tx, T, w, *Z.T, *R.T)
        (x, tx, T, w2, *zc), counts = cols
        k_d = Z.shape[1]
        Z = np.column_stack(zc[:k_d]) if k_d else np.empty((len(x), 0))
        R = np.column_stack(zc[k_d:]) if rate_names else np.empty((len(x), 0))
        w = w2 * counts
        n = float(w.sum())
        keys = _special_keys(x, Z)

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            return self._objective(theta, x, tx, T, w, Z, keys, R)

        mean_rate = max(np.sum(w * x) / max(np.sum(w * T), 1e-9), 1e-6)
        x0 = np.r_[np.log([1.0, 1.0 / mean_rate, 1.0, 3.0]), np.zeros(k_d + R.shape[1])]
        res = _fit_log_params(objective, x0, maxiter=self.maxiter)
        theta = np.asarray(res.x, dtype=float)
        self.converged_ = bool(res.success)
        self.log_params_ = theta[:4]
        self.params_ = pd.Series(np.exp(theta[:4]), index=self.param_names, name="estimate")
        self.coef_ = pd.Series(theta[4 : 4 + k_d], index=names, name="delta", dtype=float)
        self.rate_coef_ = pd.Series(theta[4 + k_d :], index=rate_names, name="gamma", dtype=float)
        self.loglik_ = float(-self._negll(theta, x, tx, T, w, Z, R) * n)
        self.n_customers_ = int(round(n))
        table, cov = _summary_table(
            self.param_names
            + [f"dropout: {c}" for c in names]
            + [f"purchase rate: {c}" for c in rate_names],
            theta,
            (lambda th: objective(th)[1] * n) if self.compute_se else None,
            n_log=4,
        )
        self.summary_, self.cov_log_params_ = table, cov
        log.info(
            "BG/NBD fitted on %d customers: %s (log-lik %.1f)",
            self.n_customers_,
            ", ".join(f"{k}={v:.3f}" for k, v in self.params_.items()),
            self.loglik_,
        )
        return self

    def _covariate_matrix(self, covariates, n: int, learn: bool = False, kind: str = "dropout"):
        """Covariate matrix and names; ``kind`` is ``"dropout"`` or ``"rate"``."""
        attr = "covariate_names_" if kind == "dropout" else "rate_covariate_names_"
        if learn:
            if covariates is None:
                setattr(self, attr, [])
            elif isinstance(covariates, pd.DataFrame):
                setattr(self, attr, [str(c) for c in covariates.columns])
            else:
                k = np.asarray(covariates).reshape(n, -1).shape[1]
                setattr(self, attr, [f"{'z' if kind == 'dropout' else 'w'}{j}" for j in range(k)])
        names = list(getattr(self, attr, []))
        if not names:
            return np.empty((n, 0)), names
        if covariates is None:
            raise ValueError(f"this model needs {kind} covariates {names}")
        if isinstance(covariates, pd.DataFrame):
            Z = covariates[names].to_numpy(dtype=float)
        else:
            Z = np.asarray(covariates, dtype=float).reshape(n, -1)
        if Z.shape != (n, len(names)) or not np.all(np.isfinite(Z)):
            raise ValueError("covariates must be finite, one row per customer and column per name")
        return Z, names

    @staticmethod
    def _validate(x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> None:
        if not (len(x) == len(tx) == len(T)):
            raise ValueError("frequency, recency and T must have the same length")
        if len(x) == 0:
            raise ValueError("no customers to fit")
        if np.any(x < 0) or np.any(tx < 0) or np.any(T < 0):
            raise ValueError("frequency, recency and T must be non-negative")
        if np.any(tx > T + 1e-9):
            raise ValueError("recency must not exceed T")
        if np.any((x == 0) & (tx > 0)):
            raise ValueError("recency must be 0 for customers with frequency 0")

    def _check_fitted(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "params_"):
            raise RuntimeError("BetaGeoModel is not fitted yet; call fit() first")
        r, alpha, a, b = (float(v) for v in self.params_.to_numpy())
        return r, alpha, a, b

    def _params_for(self, n: int, covariates, rate_covariates=None):
        """(r, alpha_i, a, b_i) for ``n`` customers with the given covariates."""
        r, alpha, a, b = self._check_fitted()
        Z, names = self._covariate_matrix(covariates, n)
        if names:
            b = b * np.exp(-(Z @ self.coef_.to_numpy()))
        R, rate_names = self._covariate_matrix(rate_covariates, n, kind="rate")
        if rate_names:
            alpha = alpha * np.exp(-(R @ self.rate_coef_.to_numpy()))
        return r, alpha, a, b

    def summary(self) -> pd.DataFrame:
        """Parameters with standard error, 95% CI and Wald p-value against zero.

        ``r, alpha, a, b`` are positive (CIs on the log scale); covariate rows
        ``dropout: <name>`` hold ``exp(delta)``, roughly the multiplier of the mean dropout
        probability, with the p-value of ``delta = 0``; rows ``purchase rate: <name>`` hold
        ``exp(gamma)``, the multiplier of the expected purchase rate.
        """
        self._check_fitted()
        return self.summary_.copy()

    # -- predictions -------------------------------------------------------------------------
    def _log_odds_dead(self, x, tx, T, covariates=None, rate_covariates=None) -> np.ndarray:
        r, alpha, a, b = self._params_for(len(x), covariates, rate_covariates)
        with np.errstate(divide="ignore", invalid="ignore"):
            term = (
                np.log(a)
                - np.log(np.maximum(b + x - 1.0, 1e-300))
                + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
            )
        return np.where(x > 0, term, -np.inf)

    def p_alive(self, frequency, recency, T, covariates=None, rate_covariates=None) -> np.ndarray:
        """Probability that each customer is still alive at the end of their observation."""
        x, tx, T = _as_float(frequency), _as_float(recency), _as_float(T)
        return special.expit(-self._log_odds_dead(x, tx, T, covariates, rate_covariates))

    def purchase_rate_if_dropped(
        self, frequency, recency, T, covariates=None, rate_covariates=None
    ) -> np.ndarray:
        """Purchases per period a customer who has dropped out would have made had they stayed:
        the mean of the purchase rate's posterior given dropout right after the last purchase,
        ``(r + x) / (alpha + t_x)`` (``Gamma(r + x, alpha + t_x)``; the pace of their purchases
        while they were buying). A customer without repeat purchases cannot have dropped out;
        their value is the posterior mean given the first purchase alone, ``r / alpha``."""
        x, tx = _as_float(frequency), _as_float(recency)
        r, alpha, _, _ = self._params_for(len(x), covariates, rate_covariates)
        return (r + x) / (alpha + tx)

    def expected_purchases(
        self, t: float, frequency, recency, T, covariates=None, rate_covariates=None
    ) -> np.ndarray:
        """Expected number of purchases in the next ``t`` periods, given each customer's history."""
        x, tx, T = _as_float(frequency), _as_float(recency), _as_float(T)
        r, alpha, a, b = self._params_for(len(x), covariates, rate_covariates)
        t = float(t)
        z = t / (alpha + T + t)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            hyp = special.hyp2f1(r + x, b + x, a + b + x - 1.0, z)
            ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
            numer = (a + b + x - 1.0) / (a - 1.0) * (1.0 - ratio * hyp)
        alive = self.p_alive(x, tx, T, covariates, rate_covariates)
        out = numer * alive
        bad = ~np.isfinite(out)
        if bad.any():
            # hyp2f1 can overflow for very frequent buyers: fall back to the alive-rate approximation
            log.debug("expected_purchases: %d non-finite values replaced", int(bad.sum()))
            approx = alive * (r + x) / (alpha + T) * t
            out = np.where(bad, approx, out)
        return np.clip(out, 0.0, None)

    def prob_no_purchase(
        self, t: float, frequency, recency, T, covariates=None, rate_covariates=None
    ) -> np.ndarray:
        """Probability of no purchase in the next ``t`` periods (dead, or alive and not buying).

        Given alive, the purchase rate's posterior is ``Gamma(r + x, alpha + T)``; a dropout can only
        happen right after a purchase, so no purchase in ``(T, T + t]`` has probability
        ``1 - P(alive) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x))``.
        """
        x, tx, T = _as_float(frequency), _as_float(recency), _as_float(T)
        r, alpha, _, _ = self._params_for(len(x), covariates, rate_covariates)
        p_buy_if_alive = -np.expm1((r + x) * (np.log(alpha + T) - np.log(alpha + T + float(t))))
        return 1.0 - self.p_alive(x, tx, T, covariates, rate_covariates) * p_buy_if_alive

    def expected_purchases_new_customer(self, t) -> np.ndarray:
        """Expected purchases in ``(0, t]`` of a randomly chosen new customer (population curve;
        covariates at 0)."""
        r, alpha, a, b = self._check_fitted()
        t = _as_float(t)
        hyp = special.hyp2f1(r, b, a + b - 1.0, t / (alpha + t))
        return (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)) ** r * hyp)


@on_one_blas_thread
def fit_stratified_bgnbd(
    frequency,
    recency,
    T,
    strata,
    covariates: pd.DataFrame | None = None,
    rate_covariates: pd.DataFrame | None = None,
    maxiter: int = 2000,
) -> dict[str, BetaGeoModel]:
    """BG/NBD per stratum with covariate effects shared by all strata (partial pooling).

    Each stratum (e.g. a behavioural segment) has its own ``r, alpha, a, b``; the dropout
    effects ``delta`` and purchase-rate effects ``gamma`` of the covariates (see
    :class:`BetaGeoModel`) are the same in every stratum and estimated from all customers at
    once, instead of once per stratum from a few hundred customers. The joint likelihood is the
    sum of the strata's BG/NBD likelihoods; it is maximised from the strata's own fits without
    covariates.

    Parameters
    ----------
    frequency, recency, T : array-like
        As in :meth:`BetaGeoModel.fit`, one row per customer.
    strata : array-like
        Stratum label of each row.
    covariates, rate_covariates : DataFrame, optional
        Dropout and purchase-rate covariates (row-aligned; columns used as they are).
    maxiter : int
        Maximum optimiser iterations of the joint fit.

    Returns
    -------
    dict mapping each stratum label (as text) to a fitted :class:`BetaGeoModel` whose ``coef_``
    and ``rate_coef_`` are the shared effects (no standard errors: ``summary()`` has NaN). BLAS
    runs on one thread during the fits.
    """
    x, tx, tt = _as_float(frequency), _as_float(recency), _as_float(T)
    labels = np.asarray(strata).astype(str)
    d_names = [] if covariates is None else [str(c) for c in covariates.columns]
    r_names = [] if rate_covariates is None else [str(c) for c in rate_covariates.columns]
    Z_all = (np.empty((len(x), 0)) if not d_names else np.asarray(covariates, dtype=float)).reshape(
        len(x), -1
    )
    R_all = (
        np.empty((len(x), 0)) if not r_names else np.asarray(rate_covariates, dtype=float)
    ).reshape(len(x), -1)
    k_d, k_r = len(d_names), len(r_names)
    keys = sorted(set(labels))
    parts, starts = [], []
    for key in keys:
        pos = np.flatnonzero(labels == key)
        base = BetaGeoModel(compute_se=False, maxiter=maxiter).fit(x[pos], tx[pos], tt[pos])
        starts.append(base.log_params_)
        (xs, ts, Ts, *zc), counts = _collapse(
            x[pos], tx[pos], tt[pos], *Z_all[pos].T, *R_all[pos].T
        )
        Z = np.column_stack(zc[:k_d]) if k_d else np.empty((len(xs), 0))
        R = np.column_stack(zc[k_d:]) if k_r else np.empty((len(xs), 0))
        parts.append((xs, ts, Ts, counts, Z, R, _special_keys(xs, Z)))
    n_all = float(len(x))
    n_k = len(keys)
    tool = BetaGeoModel(maxiter=maxiter)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        shared = theta[4 * n_k :]
        value, grad = 0.0, np.zeros_like(theta)
        for j, (xs, ts, Ts, w, Z, R, sk) in enumerate(parts):
            v, g = tool._objective(np.r_[theta[4 * j : 4 * j + 4], shared], xs, ts, Ts, w, Z, sk, R)
            if v >= 1e100:
                return 1e100, np.zeros_like(theta)
            share = w.sum() / n_all
            value += share * v
            grad[4 * j : 4 * j + 4] += share * g[:4]
            grad[4 * n_k :] += share * g[4:]
        return value, grad

    x0 = np.r_[np.concatenate(starts), np.zeros(k_d + k_r)]
    res = _fit_log_params(objective, x0, maxiter=maxiter)
    theta = np.asarray(res.x, dtype=float)
    shared = theta[4 * n_k :]
    out: dict[str, BetaGeoModel] = {}
    for j, key in enumerate(keys):
        m = BetaGeoModel(compute_se=False, maxiter=maxiter)
        th = np.r_[theta[4 * j : 4 * j + 4], shared]
        xs, ts, Ts, w, Z, R, sk = parts[j]
        m.converged_ = bool(res.success)
        m.log_params_ = th[:4]
        m.params_ = pd.Series(np.exp(th[:4]), index=m.param_names, name="estimate")
        m.covariate_names_, m.rate_covariate_names_ = list(d_names), list(r_names)
        m.coef_ = pd.Series(shared[:k_d], index=d_names, name="delta", dtype=float)
        m.rate_coef_ = pd.Series(shared[k_d:], index=r_names, name="gamma", dtype=float)
        m.loglik_ = float(-m._objective(th, xs, ts, Ts, w, Z, sk, R)[0] * w.sum())
        m.n_customers_ = int(round(w.sum()))
        m.summary_, m.cov_log_params_ = _summary_table(
            m.param_names
            + [f"dropout: {c}" for c in d_names]
            + [f"purchase rate: {c}" for c in r_names],
            th,
            None,
            n_log=4,
        )
        out[key] = m
    log.info(
        "stratified BG/NBD (%d strata) with shared effects: %s",
        n_k,
        ", ".join(f"{c}={v:.3f}" for c, v in zip(d_names + r_names, shared, strict=True)),
    )
    return out
