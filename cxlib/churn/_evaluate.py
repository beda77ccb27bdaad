"""Model evaluation: metrics with bootstrap intervals, reliability, gains, drivers, model choice."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxlib.churn._common import is_pattern_feature
from cxlib.churn._features import feature_label
from cxlib.churn._models import _is_categorical

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def _weighted_scores(y: np.ndarray, inv: np.ndarray, n_u: int, p: np.ndarray, w: np.ndarray):
    """ROC AUC, average precision and Brier score with case weights (ties handled exactly).

    ``inv`` maps each case to the rank of its unique score (ascending), ``n_u`` unique scores.
    """
    wp = np.bincount(inv, weights=w * y, minlength=n_u)
    wn = np.bincount(inv, weights=w * (1 - y), minlength=n_u)
    P, N = wp.sum(), wn.sum()
    if P <= 0 or N <= 0:
        return np.nan, np.nan, np.nan
    neg_below = np.cumsum(wn) - wn
    auc = float(np.sum(wp * (neg_below + 0.5 * wn)) / (P * N))
    # average precision over thresholds from the highest score down
    tp = np.cumsum(wp[::-1])
    fp = np.cumsum(wn[::-1])
    precision = tp / np.maximum(tp + fp, 1e-300)
    ap = float(np.sum(wp[::-1] / P * precision))
    brier = float(np.sum(w * (p - y) ** 2) / w.sum())
    return auc, ap, brier


def top_decile_lift(y, p, fraction: float = 0.1) -> float:
    """Lapse rate among the ``fraction`` highest scores divided by the overall rate."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    n_top = max(1, int(np.ceil(fraction * len(y))))
    order = np.lexsort((np.arange(len(p)), -p))
    base = y.mean()
    return float(y[order[:n_top]].mean() / base) if base > 0 else float("nan")


def evaluate_predictions(
    y, p, n_bootstrap: int = 200, random_state: int | None = None, ci: float = 0.95
) -> pd.DataFrame:
    """Out-of-sample quality of predicted probabilities with bootstrap percentile CIs.

    Returns one row per metric (``roc_auc``, ``pr_auc`` (average precision), ``brier``,
    ``top_decile_lift``, ``base_rate``) with ``estimate``, ``ci_low``, ``ci_high`` and ``n``.
    """
    return evaluate_models(y, {"p": p}, n_bootstrap, random_state, ci)["p"]


class _Scored:
    """One model's predictions prepared for weighted scoring (unique scores, top decile)."""

    def __init__(self, y: np.ndarray, p: np.ndarray) -> None:
        if len(y) != len(p):
            raise ValueError("y and p must have the same length")
        self.p = p
        self.uniq, self.inv = np.unique(p, return_inverse=True)
        n = len(y)
        order = np.lexsort((np.arange(n), -p))
        self.in_top = np.zeros(n, dtype=bool)
        self.in_top[order[: max(1, int(np.ceil(0.1 * n)))]] = True


def evaluate_models(
    y,
    predictions: Mapping[str, Any],
    n_bootstrap: int = 200,
    random_state: int | None = None,
    ci: float = 0.95,
) -> dict[str, pd.DataFrame]:
    """:func:`evaluate_predictions` for several models' predictions of the same outcomes.

    Every model is scored on the same bootstrap resamples of the customers (drawn once per
    resample), so the intervals of the models are comparable; each model's table is the one
    :func:`evaluate_predictions` gives for it with the same ``random_state``.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    scored = {k: _Scored(y, np.asarray(p, dtype=float)) for k, p in predictions.items()}
    est: dict[str, dict[str, float]] = {}
    for k, s in scored.items():
        auc, ap, brier = _weighted_scores(y, s.inv, len(s.uniq), s.p, np.ones(n))
        est[k] = {
            "roc_auc": auc,
            "pr_auc": ap,
            "brier": brier,
            "top_decile_lift": top_decile_lift(y, s.p),
            "base_rate": float(y.mean()) if n else float("nan"),
        }
    boots = {k: {m: [] for m in est[k]} for k in scored}
    rng = np.random.default_rng(random_state)
    for _ in range(int(n_bootstrap)):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        base = np.sum(w * y) / w.sum()
        for k, s in scored.items():
            a, b, c = _weighted_scores(y, s.inv, len(s.uniq), s.p, w)
            got = boots[k]
            got["roc_auc"].append(a)
            got["pr_auc"].append(b)
            got["brier"].append(c)
            wt = w[s.in_top]
            top_rate = np.sum(wt * y[s.in_top]) / wt.sum() if wt.sum() > 0 else np.nan
            got["top_decile_lift"].append(top_rate / base if base > 0 else np.nan)
            got["base_rate"].append(base)
    alpha = (1 - ci) / 2
    out = {}
    for k in scored:
        rows = []
        for m, v in est[k].items():
            arr = np.asarray(boots[k][m], dtype=float)
            arr = arr[np.isfinite(arr)]
            lo, hi = (
                (float(np.quantile(arr, alpha)), float(np.quantile(arr, 1 - alpha)))
                if len(arr)
                else (np.nan, np.nan)
            )
            rows.append({"metric": m, "estimate": v, "ci_low": lo, "ci_high": hi, "n": n})
        out[k] = pd.DataFrame(rows)
    return out


def reliability_table(y, p, n_bins: int = 10) -> pd.DataFrame:
    """Predicted vs observed lapse rate in ``n_bins`` equal-size groups of predicted risk.

    Columns: ``bin``, ``customers``, ``mean_predicted``, ``observed_rate``, ``ci_low``,
    ``ci_high`` (Wilson 95% interval of the observed rate).
    """
    from statsmodels.stats.proportion import proportion_confint

    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    ranks = pd.Series(p).rank(method="first").to_numpy()
    bins = np.minimum((ranks - 1) * n_bins // len(p), n_bins - 1).astype(int)
    df = pd.DataFrame({"bin": bins + 1, "y": y, "p": p})
    g = df.groupby("bin")
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "mean_predicted": g["p"].mean(),
            "observed_rate": g["y"].mean(),
        }
    )
    lo, hi = proportion_confint(g["y"].sum(), out["customers"], method="wilson")
    out["ci_low"], out["ci_high"] = np.asarray(lo), np.asarray(hi)
    return out.reset_index()


def gains_table(y, p, n_bins: int = 10) -> pd.DataFrame:
    """Cumulative gains and lift by decile of predicted risk (decile 1 = highest risk).

    Columns: ``decile``, ``customers``, ``lapsed``, ``lapse_rate``, ``lift``,
    ``cum_share_customers``, ``cum_share_lapsed``.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    n = len(y)
    order = np.lexsort((np.arange(n), -p))
    dec = np.empty(n, dtype=int)
    dec[order] = np.minimum(np.arange(n) * n_bins // max(n, 1), n_bins - 1) + 1
    df = pd.DataFrame({"decile": dec, "y": y})
    g = df.groupby("decile")["y"]
    out = pd.DataFrame({"customers": g.size(), "lapsed": g.sum()})
    base = y.mean() if n else np.nan
    out["lapse_rate"] = out["lapsed"] / out["customers"]
    out["lift"] = out["lapse_rate"] / base
    out["cum_share_customers"] = out["customers"].cumsum() / n
    out["cum_share_lapsed"] = out["lapsed"].cumsum() / max(y.sum(), 1)
    return out.reset_index()


def permutation_drivers(
    model,
    X: pd.DataFrame,
    y,
    *,
    n_repeats: int = 2,
    max_rows: int = 4_000,
    random_state: int | None = None,
    recent_days: int = 90,
    low_score: float = 2.5,
) -> pd.DataFrame:
    """Permutation importance (drop in ROC AUC when a feature is shuffled) on held-out data.

    Returns ``feature``, ``label``, ``importance`` (mean AUC drop), ``std``, sorted descending.
    """
    from sklearn.inspection import permutation_importance

    y = np.asarray(y, dtype=int)
    if len(X) > max_rows:
        rng = np.random.default_rng(random_state)
        idx = np.sort(rng.choice(len(X), max_rows, replace=False))
        X, y = X.iloc[idx], y[idx]
    res = permutation_importance(
        model, X, y, scoring="roc_auc", n_repeats=n_repeats, random_state=random_state
    )
    out = pd.DataFrame(
        {
            "feature": list(X.columns),
            "importance": res.importances_mean,
            "std": res.importances_std,
        }
    )
    out["label"] = [feature_label(c, recent_days=recent_days, low_score=low_score) for c in X]
    out = out.sort_values(["importance", "feature"], ascending=[False, True], kind="stable")
    return out[["feature", "label", "importance", "std"]].reset_index(drop=True)


def relative_risks(
    X: pd.DataFrame,
    y,
    flags: list[str] | None = None,
    *,
    recent_days: int = 90,
    low_score: float = 2.5,
) -> pd.DataFrame:
    """Lapse rate with vs without each 0/1 flag, risk ratio with 95% CI (statsmodels Table2x2).

    Returns ``feature``, ``label``, ``customers_with``, ``rate_with``, ``rate_without``,
    ``risk_ratio``, ``ci_low``, ``ci_high``, ``p_value`` (chi-square test of independence).
    """
    from statsmodels.stats.contingency_tables import Table2x2

    y = np.asarray(y, dtype=bool)
    if flags is None:
        flags = [
            c
            for c in X.columns
            if not _is_categorical(X[c])
            and set(pd.to_numeric(X[c], errors="coerce").dropna().unique()) == {0.0, 1.0}
        ]
    rows = []
    for c in flags:
        f = pd.to_numeric(X[c], errors="coerce").to_numpy()
        ok = ~np.isnan(f)
        f, yy = f[ok] == 1, y[ok]
        a, b = int(np.sum(f & yy)), int(np.sum(f & ~yy))
        cc, d = int(np.sum(~f & yy)), int(np.sum(~f & ~yy))
        if min(a + b, cc + d) == 0:
            continue
        t = Table2x2(np.array([[a, b], [cc, d]]), shift_zeros=True)
        lo, hi = t.riskratio_confint()
        rows.append(
            {
                "feature": c,
                "label": feature_label(c, recent_days=recent_days, low_score=low_score),
                "customers_with": a + b,
                "rate_with": a / (a + b),
                "rate_without": cc / (cc + d),
                "risk_ratio": float(t.riskratio),
                "ci_low": float(lo),
                "ci_high": float(hi),
                "p_value": float(t.test_nominal_association().pvalue),
            }
        )
    cols = [
        "feature",
        "label",
        "customers_with",
        "rate_with",
        "rate_without",
        "risk_ratio",
        "ci_low",
        "ci_high",
        "p_value",
    ]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("risk_ratio", ascending=False, kind="stable").reset_index(drop=True)


def driver_table(
    odds_ratios: pd.DataFrame,
    fractions: pd.DataFrame | None = None,
    *,
    alpha: float = 0.05,
    controls: frozenset[str] | set[str] = frozenset(),
    as_of_today: frozenset[str] | set[str] = frozenset(),
) -> pd.DataFrame:
    """Drivers: the drivers model's terms whose Holm-adjusted p-value is below ``alpha``, ranked
    by the share of leaving they are associated with.

    Purchase-pattern features (recency, frequency, BG/NBD risk ...) and ``controls`` are
    adjustments, not levers, and are never drivers. ``p_adjusted`` is Holm's step-down adjustment
    (statsmodels ``multipletests``) over every candidate driver term. ``fractions``
    (:meth:`LogitChurnModel.attributable_fractions`) adds the population attributable fraction
    with its CI and the exposed state; drivers are ranked by ``paf`` (terms without one, e.g.
    continuous, after them by ``|log odds ratio|``). ``direction`` says whether the term raises or
    lowers the risk; ``as_of_today`` is True for terms of a column in ``as_of_today`` (a
    customer attribute without history, the same value for every snapshot).
    """
    from statsmodels.stats.multitest import multipletests

    t = odds_ratios.copy()
    base = t["term"].map(lambda x: x.split("[", 1)[0].removesuffix("_missing"))
    t = t.loc[~t["term"].map(is_pattern_feature) & ~base.isin(controls)].copy()
    t["p_adjusted"] = np.nan
    ok = t["p_value"].notna().to_numpy()
    if ok.any():
        t.loc[ok, "p_adjusted"] = multipletests(t.loc[ok, "p_value"], method="holm")[1]
    t = t.loc[t["p_adjusted"] < alpha].copy()
    keep = ["term", "column", "exposed_value", "reference_value", "exposed", "paf"]
    keep += ["paf_ci_low", "paf_ci_high"]
    if fractions is None:
        fractions = pd.DataFrame(columns=keep)
    t = t.merge(fractions[keep], on="term", how="left")
    t["column"] = t["column"].fillna(t["term"].map(lambda x: x.split("[", 1)[0]))
    t["as_of_today"] = t["column"].isin(as_of_today)
    t["abs_log_or"] = np.abs(np.log(t["estimate"]))
    t["direction"] = np.where(t["estimate"] > 1, "raises risk", "lowers risk")
    t["_no_paf"] = t["paf"].isna()
    t = t.sort_values(
        ["_no_paf", "paf", "abs_log_or", "term"],
        ascending=[True, False, False, True],
        kind="stable",
    )
    t.insert(0, "rank", np.arange(1, len(t) + 1))
    return t.drop(columns=["abs_log_or", "_no_paf"]).reset_index(drop=True)


#: Candidate models from simplest to most complex (ties in accuracy go to the simpler one).
SIMPLICITY_ORDER: tuple[str, ...] = (
    "BG/NBD by segment",
    "logistic regression",
    "gradient boosting (calibrated)",
    "average of gradient boosting and BG/NBD",
)


def choose_model(metrics: Mapping[str, pd.DataFrame], tolerance: float = 0.01) -> tuple[str, str]:
    """Pick the model whose probabilities are best out of sample (lowest Brier score).

    Among the models whose Brier score is within ``tolerance`` (relative) of the best, the
    simplest is used (:data:`SIMPLICITY_ORDER`: the BG/NBD model needs no outcome labels and
    uses all data up to the as-of date; the logistic regression is easier to explain than
    boosting). Returns ``(name, reason)``.
    """
    brier = {k: float(v.set_index("metric").loc["brier", "estimate"]) for k, v in metrics.items()}
    auc = {k: float(v.set_index("metric").loc["roc_auc", "estimate"]) for k, v in metrics.items()}
    best = min(brier, key=lambda k: (brier[k], k))
    rank = {k: (SIMPLICITY_ORDER.index(k) if k in SIMPLICITY_ORDER else 99) for k in brier}
    close = [k for k in brier if brier[k] <= brier[best] * (1 + tolerance)]
    name = min(close, key=lambda k: (rank[k], brier[k], k))
    others = [k for k in brier if k != name]
    comp = "; ".join(f"{k}: Brier {brier[k]:.4f}, ROC AUC {auc[k]:.3f}" for k in others)
    if name == best:
        reason = (
            f"the {name} gives the most accurate probabilities out of sample "
            f"(Brier score {brier[name]:.4f}, ROC AUC {auc[name]:.3f}; {comp})"
        )
    else:
        why = (
            "needs no outcome labels and uses all data up to the as-of date"
            if name == "BG/NBD by segment"
            else "is easier to explain"
        )
        reason = (
            f"the {name} is within {tolerance:.0%} of the most accurate model "
            f"(Brier {brier[name]:.4f}, ROC AUC {auc[name]:.3f}; {comp}) and is simpler: it "
            f"{why}"
        )
    return name, reason
