"""Observed effects by subgroup and head-to-head comparisons of the arms."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from cxlib.uplift._constants import BINARY_OUTCOMES
from cxlib.uplift._evaluation import _diff_ci


# --------------------------------------------------------------------------------------------
# Who responds to which arm (observed, by subgroup)
# --------------------------------------------------------------------------------------------
def _subgroup_levels(s: pd.Series, max_levels: int = 12) -> pd.Series:
    """Levels of a covariate for subgroup tables: text as is, numbers with few values as
    whole numbers where possible, other numbers in quartiles ("110–327")."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype("str").where(s.notna(), "missing")
    if pd.api.types.is_numeric_dtype(s):
        v = pd.to_numeric(s, errors="coerce").astype("float64")
        if v.nunique() > max_levels:
            edges = np.unique(np.nanquantile(v, [0, 0.25, 0.5, 0.75, 1.0]))
            if len(edges) < 3:
                return v.map(lambda x: f"{x:g}").where(v.notna(), "missing")
            labels = [f"{lo:.4g}–{hi:.4g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
            cut = pd.cut(v, edges, labels=labels, include_lowest=True, duplicates="drop")
            return cut.astype("str").where(v.notna(), "missing")
        return v.map(lambda x: f"{x:g}").where(v.notna(), "missing")
    return s.astype("str").where(s.notna(), "missing")


def subgroup_levels(campaign: pd.DataFrame, by: Iterable[str]) -> dict[str, pd.Series]:
    """The level of every customer for each covariate of ``by`` (as the subgroup tables cut
    them), computed once for :func:`effects_by_subgroup` and :func:`compare_arms_by_subgroup`."""
    return {cov: _subgroup_levels(campaign[cov]) for cov in by}


def _level_order(levels: Iterable[str]) -> list[str]:
    def key(x: str):
        head = x.split("–")[0]
        try:
            return (0, float(head), x)
        except ValueError:
            return (1, 0.0, x)

    return sorted(levels, key=key)


def effects_by_subgroup(
    campaign: pd.DataFrame,
    by: Iterable[str],
    *,
    outcome: str = "converted",
    control_arm: str = "control",
    min_group_size: int = 10,
    alpha: float = 0.05,
    levels: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Observed effect of every arm against control within each level of each covariate.

    Numeric covariates with many values are cut into quartiles. Levels with fewer than
    ``min_group_size`` customers in an arm or in control are left out. CIs are Wald intervals.
    ``levels``: the covariates' levels when already computed (:func:`subgroup_levels`).

    Returns
    -------
    DataFrame with ``covariate, level, arm, n_arm, n_control, control_mean, arm_mean,
    estimate, ci_low, ci_high``.
    """
    g = campaign["group"].astype("str")
    arms = [a for a in sorted(g.unique()) if a != control_arm]
    y = pd.to_numeric(campaign[outcome], errors="coerce").astype("float64")
    rows = []
    for cov in by:
        lev = levels[cov] if levels is not None else _subgroup_levels(campaign[cov])
        for level in _level_order(lev.unique()):
            m = (lev == level).to_numpy()
            yc = y[m & (g == control_arm).to_numpy()].dropna().to_numpy()
            for arm in arms:
                ya = y[m & (g == arm).to_numpy()].dropna().to_numpy()
                if len(ya) < min_group_size or len(yc) < min_group_size:
                    continue
                d, lo, hi = _diff_ci(ya, yc, alpha)
                rows.append(
                    {
                        "covariate": cov,
                        "level": level,
                        "arm": arm,
                        "n_arm": len(ya),
                        "n_control": len(yc),
                        "control_mean": float(yc.mean()),
                        "arm_mean": float(ya.mean()),
                        "estimate": d,
                        "ci_low": lo,
                        "ci_high": hi,
                    }
                )
    cols = [
        "covariate",
        "level",
        "arm",
        "n_arm",
        "n_control",
        "control_mean",
        "arm_mean",
        "estimate",
        "ci_low",
        "ci_high",
    ]
    return pd.DataFrame(rows, columns=cols)


def compare_arms_by_subgroup(
    campaign: pd.DataFrame,
    by: Iterable[str],
    *,
    outcome: str = "converted",
    control_arm: str = "control",
    min_group_size: int = 10,
    alpha: float = 0.05,
    levels: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Which offer works better for whom: the offers compared head to head in each subgroup.

    Within each level of each covariate, the best offer (highest mean outcome) is compared
    with every other offer: difference of means (equal to the difference of their effects
    against control) with a Wald CI, a two-proportion z-test (0/1 outcomes) or Welch t-test
    (revenue), and Holm correction across all comparisons of the table. Needs two or more
    offer arms; levels under ``min_group_size`` customers per arm are left out.

    Returns
    -------
    DataFrame with ``covariate, level, better_arm, other_arm, better_effect, other_effect,
    estimate`` (better − other), ``ci_low, ci_high, p_value, p_value_holm``; the effects are
    against control (NaN when the level has too few control customers).
    """
    eff = effects_by_subgroup(
        campaign,
        by,
        outcome=outcome,
        control_arm=control_arm,
        min_group_size=min_group_size,
        alpha=alpha,
        levels=levels,
    )
    g = campaign["group"].astype("str")
    arms = [a for a in sorted(g.unique()) if a != control_arm]
    y = pd.to_numeric(campaign[outcome], errors="coerce").astype("float64")
    binary = outcome in BINARY_OUTCOMES
    rows = []
    if len(arms) < 2:
        return pd.DataFrame()
    for cov in by:
        lev = levels[cov] if levels is not None else _subgroup_levels(campaign[cov])
        for level in _level_order(lev.unique()):
            m = (lev == level).to_numpy()
            vals = {a: y[m & (g == a).to_numpy()].dropna().to_numpy() for a in arms}
            vals = {a: v for a, v in vals.items() if len(v) >= min_group_size}
            if len(vals) < 2:
                continue
            best = max(vals, key=lambda a: vals[a].mean())
            e = eff.loc[(eff["covariate"] == cov) & (eff["level"] == level)].set_index("arm")
            for other in vals:
                if other == best:
                    continue
                ya, yb = vals[best], vals[other]
                d, lo, hi = _diff_ci(ya, yb, alpha)
                if binary:
                    ca, cb = ya.sum(), yb.sum()
                    p = proportions_ztest([ca, cb], [len(ya), len(yb)])[1] if ca + cb > 0 else 1.0
                else:
                    p = stats.ttest_ind(ya, yb, equal_var=False).pvalue
                rows.append(
                    {
                        "covariate": cov,
                        "level": level,
                        "better_arm": best,
                        "other_arm": other,
                        "n_better": len(ya),
                        "n_other": len(yb),
                        "better_effect": e["estimate"].get(best, np.nan),
                        "other_effect": e["estimate"].get(other, np.nan),
                        "estimate": d,
                        "ci_low": lo,
                        "ci_high": hi,
                        "p_value": float(p) if np.isfinite(p) else 1.0,
                    }
                )
    out = pd.DataFrame(rows)
    if len(out):
        out["p_value_holm"] = multipletests(out["p_value"].to_numpy(), method="holm")[1]
    return out
