"""Qini, AUUC and deciles of predicted uplift (defined once here; see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


# --------------------------------------------------------------------------------------------
# 3. Qini, AUUC and deciles (defined once here)
# --------------------------------------------------------------------------------------------
def _check_binary(y: np.ndarray, name: str) -> None:
    vals = np.unique(y)
    if not np.isin(vals, [0, 1]).all():
        raise ValueError(
            f"{name} must be 0/1: the Qini curve and coefficient are defined for binary "
            "outcomes only (use the uplift curve / readout for revenue)"
        )


def _as_arrays(y, treatment, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    t = np.asarray(treatment, dtype=float)
    s = np.asarray(score, dtype=float)
    if not (len(y) == len(t) == len(s)):
        raise ValueError("y, treatment and score must have the same length")
    return y, t, s


def _cum_counts(y: np.ndarray, t: np.ndarray, s: np.ndarray):
    """Cumulative counts at each distinct-score threshold, best score first."""
    order = np.argsort(s, kind="mergesort")[::-1]
    y, t, s = y[order], t[order], s[order]
    idx = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    nt = np.cumsum(t)[idx]
    yt = np.cumsum(y * t)[idx]
    yc = np.cumsum(y * (1 - t))[idx]
    n = (idx + 1).astype(float)
    return n, nt, n - nt, yt, yc


def qini_curve(y, treatment, score) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve: customers targeted ``n`` and incremental conversions ``Q(n)``.

    ``Q(n) = Y_T(n) - Y_C(n) * N_T(n) / N_C(n)`` over the top ``n`` by ``score`` (ties kept
    together; ``Q = Y_T(n)`` while no control customer is in the top ``n``). Starts at (0, 0).
    Binary outcomes only.
    """
    y, t, s = _as_arrays(y, treatment, score)
    _check_binary(y, "y")
    _check_binary(t, "treatment")
    n, nt, nc, yt, yc = _cum_counts(y, t, s)
    q = yt - yc * np.divide(nt, nc, out=np.zeros_like(nt), where=nc > 0)
    return np.r_[0.0, n], np.r_[0.0, q]


def uplift_curve(y, treatment, score) -> tuple[np.ndarray, np.ndarray]:
    """Uplift curve: ``U(n) = (Y_T(n)/N_T(n) - Y_C(n)/N_C(n)) * n`` (a rate is 0 while its arm
    is empty). Starts at (0, 0)."""
    y, t, s = _as_arrays(y, treatment, score)
    n, nt, nc, yt, yc = _cum_counts(y, t, s)
    rt = np.divide(yt, nt, out=np.zeros_like(yt), where=nt > 0)
    rc = np.divide(yc, nc, out=np.zeros_like(yc), where=nc > 0)
    return np.r_[0.0, n], np.r_[0.0, (rt - rc) * n]


def _area_above_random(x: np.ndarray, v: np.ndarray) -> float:
    return float(np.trapezoid(v, x) - x[-1] * v[-1] / 2.0)


def qini_coefficient(y, treatment, score) -> float:
    """Normalised Qini coefficient: ``(A_model - A_random) / (A_perfect - A_random)``.

    ``A`` is the area under the Qini curve (:func:`qini_curve`); the random baseline is the
    straight line from (0, 0) to (N, Q(N)); the perfect curve orders the observed outcomes
    ideally (treated converters first, control converters last). Random = 0, perfect = 1,
    worse than random < 0. Same value as scikit-uplift's ``qini_auc_score`` with
    ``negative_effect=True``. Binary outcomes only.
    """
    y, t, s = _as_arrays(y, treatment, score)
    xa, qa = qini_curve(y, t, s)
    xp, qp = qini_curve(y, t, y * t - y * (1 - t))
    perfect = _area_above_random(xp, qp)
    return _area_above_random(xa, qa) / perfect if perfect else np.nan


def auuc_score(y, treatment, score) -> float:
    """Normalised area under the uplift curve, ``(A_model - A_random) / (A_perfect -
    A_random)`` on :func:`uplift_curve`, random baseline the line from (0, 0) to (N, U(N)),
    perfect curve as scikit-uplift's ``perfect_uplift_curve``. Binary outcomes only."""
    y, t, s = _as_arrays(y, treatment, score)
    _check_binary(y, "y")
    _check_binary(t, "treatment")
    xa, ua = uplift_curve(y, t, s)
    cr = np.sum((y == 1) & (t == 0))
    tn = np.sum((y == 0) & (t == 1))
    perfect_score = 2 * (y == t) + (y if cr > tn else t)
    xp, up = uplift_curve(y, t, perfect_score)
    perfect = _area_above_random(xp, up)
    return _area_above_random(xa, ua) / perfect if perfect else np.nan


def qini_curves_frame(
    y, treatment, scores: Mapping[str, Any], *, n_points: int = 101, min_group_size: int = 0
) -> pd.DataFrame:
    """Qini curves of several models plus the random and perfect curves, for plotting.

    Points describing the top ``share`` of fewer than ``min_group_size`` customers are left
    out (a curve starts at the first share that covers enough customers).

    Returns
    -------
    Long DataFrame ``model, share, incremental`` (incremental conversions, :func:`qini_curve`,
    interpolated at ``n_points`` shares of customers targeted). ``model`` includes
    ``"Random"`` (the straight line) and ``"Perfect"`` (ideal ordering of observed outcomes).
    """
    y = np.asarray(y, dtype=float)
    t = np.asarray(treatment, dtype=float)
    grid = np.linspace(0.0, 1.0, n_points)
    frames = []
    curves = {k: qini_curve(y, t, v) for k, v in scores.items()}
    curves["Perfect"] = qini_curve(y, t, y * t - y * (1 - t))
    for name, (x, q) in curves.items():
        frames.append(
            pd.DataFrame(
                {"model": name, "share": grid, "incremental": np.interp(grid, x / x[-1], q)}
            )
        )
    x, q = next(iter(curves.values()))
    frames.append(pd.DataFrame({"model": "Random", "share": grid, "incremental": grid * q[-1]}))
    out = pd.concat(frames, ignore_index=True)
    if min_group_size > 0:
        out = out.loc[out["share"] * len(y) >= min_group_size].reset_index(drop=True)
    return out


def _bootstrap_indices(t: np.ndarray, n_boot: int, rng: np.random.Generator):
    """Resample treated and control rows separately (keeps the arm sizes)."""
    ti, ci = np.flatnonzero(t == 1), np.flatnonzero(t == 0)
    for _ in range(n_boot):
        yield np.r_[rng.choice(ti, len(ti)), rng.choice(ci, len(ci))]


def _bootstrap_weights(t: np.ndarray, n_boot: int, rng: np.random.Generator):
    """The resamples of :func:`_bootstrap_indices` (same random draws) as counts per row: how
    many times each row is drawn. A statistic of the resample that depends on the rows in
    score order is then a weighted sum over one sort of the original rows (no re-sort)."""
    for idx in _bootstrap_indices(t, n_boot, rng):
        yield np.bincount(idx, minlength=len(t)).astype(float)


class _ScoreOrder:
    """One sort of the rows by a score (best first, ties kept together), reused for every
    bootstrap resample: the curve counts at each distinct-score threshold of a resample are
    cumulative sums of the rows' resample counts in this order."""

    def __init__(self, y: np.ndarray, t: np.ndarray, s: np.ndarray) -> None:
        order = np.argsort(s, kind="mergesort")[::-1]
        s_sorted = s[order]
        self.order = order
        self.ends = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s) - 1]
        # distinct scores only (the usual case for a model): every row ends a threshold
        self.all_rows = len(self.ends) == len(s)
        self.t = t[order]
        self.yt = (y * t)[order]
        self.yc = (y * (1 - t))[order]

    def counts(self, w: np.ndarray | None = None):
        """``n, nt, nc, yt, yc`` at each threshold, as :func:`_cum_counts`, for row counts ``w``
        (None = every row once). Thresholds without a drawn row repeat the previous point."""
        if w is None:
            ws = np.ones(len(self.order))
        else:
            ws = w[self.order]
        n, nt = np.cumsum(ws), np.cumsum(ws * self.t)
        yt, yc = np.cumsum(ws * self.yt), np.cumsum(ws * self.yc)
        if not self.all_rows:
            e = self.ends
            n, nt, yt, yc = n[e], nt[e], yt[e], yc[e]
        return n, nt, n - nt, yt, yc


class _CellOrder:
    """A score that is a function of the outcome cell ``(y, t)`` (the perfect orderings): its
    threshold counts for any row counts are cumulative sums of four cell totals, the same
    numbers as :class:`_ScoreOrder` gives (whole-number sums are exact) without a pass over the
    rows per resample."""

    def __init__(self, cell_score: Mapping[tuple[int, int], float], present: np.ndarray) -> None:
        # one threshold per distinct score among the cells present in the data, best first
        scores = sorted({cell_score[c] for c in _CELLS if present[_CELLS.index(c)]}, reverse=True)
        self.levels = np.array(
            [[cell_score[c] == v for c in _CELLS] for v in scores], dtype=float
        ).reshape(len(scores), len(_CELLS))

    def counts(self, cells: np.ndarray):
        """``n, nt, nc, yt, yc`` at each threshold from the weighted cell totals ``cells``
        (order :data:`_CELLS`)."""
        per_level = self.levels * cells  # (levels, cells): weight of each cell in each level
        n = np.cumsum(per_level.sum(axis=1))
        nt = np.cumsum(per_level[:, 2] + per_level[:, 3])
        yt = np.cumsum(per_level[:, 3])
        yc = np.cumsum(per_level[:, 1])
        return n, nt, n - nt, yt, yc


#: The outcome cells ``(y, t)`` in the order of :meth:`_UpliftScorer.cells`: control
#: non-converters, control converters, treated non-converters, treated converters.
_CELLS: list[tuple[int, int]] = [(0, 0), (1, 0), (0, 1), (1, 1)]


def _qini_area(counts) -> float:
    n, nt, nc, yt, yc = counts
    q = yt - yc * np.divide(nt, nc, out=np.zeros_like(nt), where=nc > 0)
    return _area_above_random(np.r_[0.0, n], np.r_[0.0, q])


def _uplift_area(counts) -> float:
    n, nt, nc, yt, yc = counts
    rt = np.divide(yt, nt, out=np.zeros_like(yt), where=nt > 0)
    rc = np.divide(yc, nc, out=np.zeros_like(yc), where=nc > 0)
    return _area_above_random(np.r_[0.0, n], np.r_[0.0, (rt - rc) * n])


class _UpliftScorer:
    """Qini coefficient and AUUC of score vectors on fixed ``y``/``treatment``, for the full
    data and for bootstrap resamples given as row counts (:func:`_bootstrap_weights`); equal
    to :func:`qini_coefficient` and :func:`auuc_score` of the resampled rows.

    The perfect curves (the normalisers) depend only on the four outcome cells' totals, so
    :meth:`perfect` is computed once per resample and shared by every score vector."""

    def __init__(self, y: np.ndarray, t: np.ndarray) -> None:
        _check_binary(y, "y")
        _check_binary(t, "treatment")
        self.y, self.t = y, t
        self.cell = (y + 2 * t).astype(np.intp)  # index into _CELLS
        present = np.bincount(self.cell, minlength=4) > 0
        self.qini_perfect = _CellOrder({(0, 0): 0, (1, 0): -1, (0, 1): 0, (1, 1): 1}, present)
        # auuc's perfect order depends on which is larger in the resample: control converters
        # or treated non-converters (score 2 * (y == t) + y, or + t)
        self.auuc_perfect = {
            big_cr: _CellOrder(
                {(yy, tt): 2 * (yy == tt) + (yy if big_cr else tt) for yy, tt in _CELLS}, present
            )
            for big_cr in (True, False)
        }

    def cells(self, w: np.ndarray | None = None) -> np.ndarray:
        """Weighted totals of the four outcome cells (:data:`_CELLS`) for row counts ``w``."""
        return np.bincount(self.cell, weights=w, minlength=4).astype(float)

    def perfect(self, w: np.ndarray | None = None) -> tuple[float, float]:
        """Areas above random of the perfect Qini and uplift curves for row counts ``w``."""
        cells = self.cells(w)
        qini = _qini_area(self.qini_perfect.counts(cells))
        big_cr = bool(cells[1] > cells[2])  # control converters > treated non-converters
        return qini, _uplift_area(self.auuc_perfect[big_cr].counts(cells))

    def scores(
        self,
        order: _ScoreOrder,
        w: np.ndarray | None = None,
        perfect: tuple[float, float] | None = None,
    ) -> tuple[float, float]:
        """Qini coefficient and AUUC of one score order for row counts ``w`` (None = the data);
        ``perfect`` is :meth:`perfect` of the same ``w`` when already computed."""
        model = order.counts(w)
        qini_p, auuc_p = self.perfect(w) if perfect is None else perfect
        qini = _qini_area(model) / qini_p if qini_p else np.nan
        auuc = _uplift_area(model) / auuc_p if auuc_p else np.nan
        return qini, auuc


def evaluate_uplift(
    y,
    treatment,
    scores: Mapping[str, Any],
    *,
    n_bootstrap: int = 200,
    alpha: float = 0.05,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Qini coefficient and AUUC of several score vectors on the same outcomes, with bootstrap
    percentile CIs (stratified by arm, the same resamples for every model).

    Each resample is a vector of row counts over one sort per score vector, so a resample costs
    a few cumulative sums instead of a sort (same statistics as re-sorting the resampled rows).

    Returns
    -------
    DataFrame with ``model, qini, qini_ci_low, qini_ci_high, auuc, auuc_ci_low,
    auuc_ci_high`` (random targeting = 0, perfect = 1; see :func:`qini_coefficient`).
    """
    y = np.asarray(y, dtype=float)
    t = np.asarray(treatment, dtype=float)
    rng = np.random.default_rng(random_state)
    names = list(scores)
    scorer = _UpliftScorer(y, t)
    orders = {k: _ScoreOrder(y, t, np.asarray(scores[k], dtype=float)) for k in names}
    point = {k: scorer.scores(orders[k]) for k in names}
    boot = {k: [] for k in names}
    for w in _bootstrap_weights(t, n_bootstrap, rng):
        perfect = scorer.perfect(w)  # the same for every model
        for k in names:
            boot[k].append(scorer.scores(orders[k], w, perfect))
    rows = []
    for k in names:
        if boot[k]:
            lo, hi = np.nanquantile(np.asarray(boot[k]), [alpha / 2, 1 - alpha / 2], axis=0)
        else:
            lo = hi = np.full(2, np.nan)
        rows.append(
            {
                "model": k,
                "qini": point[k][0],
                "qini_ci_low": lo[0],
                "qini_ci_high": hi[0],
                "auuc": point[k][1],
                "auuc_ci_low": lo[1],
                "auuc_ci_high": hi[1],
            }
        )
    return pd.DataFrame(rows)


def _diff_ci(yt: np.ndarray, yc: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """Difference of means with a Wald CI (binary or continuous)."""
    if len(yt) == 0 or len(yc) == 0:
        return np.nan, np.nan, np.nan
    d = yt.mean() - yc.mean()
    se = np.sqrt(
        (yt.var(ddof=1) / len(yt) if len(yt) > 1 else 0.0)
        + (yc.var(ddof=1) / len(yc) if len(yc) > 1 else 0.0)
    )
    z = stats.norm.ppf(1 - alpha / 2)
    return float(d), float(d - z * se), float(d + z * se)


def uplift_by_decile(
    y, treatment, score, *, n_bins: int = 10, alpha: float = 0.05, min_group_size: int = 0
) -> pd.DataFrame:
    """Observed uplift (treated − control mean) per bin of predicted uplift.

    Customers (treated and control together) are ranked by ``score`` (ties by position) and cut
    into ``n_bins`` equal-count bins; bin 1 holds the highest predicted uplift. Works for any
    outcome (rates for 0/1 outcomes). CIs are Wald intervals of the difference of means.
    With ``min_group_size``, fewer bins are used when ``n_bins`` bins would hold fewer than
    ``min_group_size`` treated or control customers each (one row per bin used); bins that
    still fall short are hidden by :func:`deciles_shown`.

    Returns
    -------
    DataFrame with ``decile, customers, n_treated, n_control, mean_predicted, treated_mean,
    control_mean, observed_uplift, ci_low, ci_high``.
    """
    y, t, s = _as_arrays(y, treatment, score)
    if min_group_size > 0:
        smaller_arm = int(min((t == 1).sum(), (t == 0).sum()))
        n_bins = int(np.clip(smaller_arm // min_group_size, 1, n_bins))
    rank = pd.Series(-s).rank(method="first").to_numpy()
    b = np.ceil(rank * n_bins / max(len(s), 1)).astype(int).clip(1, n_bins)
    rows = []
    for k in range(1, n_bins + 1):
        m = b == k
        yt, yc = y[m & (t == 1)], y[m & (t == 0)]
        d, lo, hi = _diff_ci(yt, yc, alpha)
        rows.append(
            {
                "decile": k,
                "customers": int(m.sum()),
                "n_treated": len(yt),
                "n_control": len(yc),
                "mean_predicted": float(s[m].mean()) if m.any() else np.nan,
                "treated_mean": float(yt.mean()) if len(yt) else np.nan,
                "control_mean": float(yc.mean()) if len(yc) else np.nan,
                "observed_uplift": d,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    return pd.DataFrame(rows)
