"""Experiment checks (arms, sample ratio, balance) and the readout of every arm against control."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, tt_ind_solve_power
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from cxlib.uplift._constants import (
    BINARY_OUTCOMES,
    NON_COVARIATES,
    OUTCOME_COLUMNS,
    PERSONAL_COLUMNS,
    READOUT_EXPORT_COLUMNS,
)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# 1. Experiment checks
# --------------------------------------------------------------------------------------------
@dataclass
class CampaignSpec:
    """What a campaign table holds: arms, outcomes and pre-treatment covariates."""

    control_arm: str
    arms: list[str]
    outcomes: list[str]
    covariates: list[str]
    n: int
    campaign_ids: list[str] = field(default_factory=list)

    @property
    def binary_outcomes(self) -> list[str]:
        return [o for o in self.outcomes if o in BINARY_OUTCOMES]

    @property
    def primary_outcome(self) -> str:
        return "converted"


def describe_campaign(campaign: pd.DataFrame, control_arm: str = "control") -> CampaignSpec:
    """Find the arms (control first), the outcome columns and the covariates of a campaign table.

    Raises
    ------
    ValueError
        When the control arm is absent or there is no other arm.
    """
    groups = campaign["group"].astype("str")
    levels = sorted(groups.dropna().unique().tolist())
    if control_arm not in levels:
        raise ValueError(
            f"control arm {control_arm!r} not found in column 'group' (arms: {levels}); "
            "set the parameter control_arm to the name of the control group"
        )
    arms = [a for a in levels if a != control_arm]
    if not arms:
        raise ValueError("the campaign has only a control arm; nothing to compare")
    outcomes = [c for c in OUTCOME_COLUMNS if c in campaign.columns]
    covariates = [
        c
        for c in campaign.columns
        if c not in NON_COVARIATES
        and c.lower() not in PERSONAL_COLUMNS
        and not pd.api.types.is_datetime64_any_dtype(campaign[c])
    ]
    ids = []
    if "campaign_id" in campaign.columns:
        ids = sorted(campaign["campaign_id"].dropna().astype("str").unique().tolist())
    return CampaignSpec(control_arm, arms, outcomes, covariates, len(campaign), ids)


@dataclass
class SRMResult:
    """Sample-ratio-mismatch test: observed arm sizes against the planned allocation."""

    table: pd.DataFrame
    statistic: float
    p_value: float
    alpha: float

    @property
    def mismatch(self) -> bool:
        """True when the arm sizes are implausible under the planned allocation."""
        return bool(self.p_value < self.alpha)

    def summary(self) -> pd.DataFrame:
        """One row: ``test, estimate`` (chi-square statistic), ``ci_low, ci_high`` (NaN),
        ``p_value``, ``dof``."""
        return pd.DataFrame(
            {
                "test": ["sample ratio mismatch (chi-square)"],
                "estimate": [self.statistic],
                "ci_low": [np.nan],
                "ci_high": [np.nan],
                "p_value": [self.p_value],
                "dof": [len(self.table) - 1],
            }
        )


def srm_test(
    campaign: pd.DataFrame,
    expected_allocation: Mapping[str, float] | None = None,
    *,
    alpha: float = 0.001,
) -> SRMResult:
    """Chi-square test of the arm sizes against ``expected_allocation`` (default: equal split).

    Parameters
    ----------
    campaign : DataFrame
        Campaign table with column ``group``.
    expected_allocation : mapping arm -> share, optional
        Planned shares (normalised to sum to 1); every observed arm must be listed.
    alpha : float
        Threshold for flagging a mismatch (0.001 is the usual SRM alarm level).
    """
    counts = campaign["group"].astype("str").value_counts().sort_index()
    arms = counts.index.tolist()
    if expected_allocation:
        missing = [a for a in arms if a not in expected_allocation]
        if missing:
            raise ValueError(f"expected_allocation has no share for arm(s) {missing}")
        share = np.array([float(expected_allocation[a]) for a in arms])
    else:
        share = np.ones(len(arms))
    share = share / share.sum()
    expected = share * counts.sum()
    stat, p = stats.chisquare(counts.to_numpy(dtype=float), expected)
    table = pd.DataFrame(
        {
            "arm": arms,
            "customers": counts.to_numpy(),
            "observed_share": counts.to_numpy() / counts.sum(),
            "expected_share": share,
            "expected_customers": expected,
        }
    )
    return SRMResult(table, float(stat), float(p), alpha)


def covariate_matrix(
    frame: pd.DataFrame, columns: Sequence[str], *, max_levels: int = 30
) -> pd.DataFrame:
    """Numeric model/balance matrix: numbers and booleans as they are, text one-hot encoded.

    Text columns with more than ``max_levels`` distinct values (ids, free text) are dropped.
    Level columns are named ``<column>=<level>``.
    """
    parts = []
    for c in columns:
        s = frame[c]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            parts.append(pd.to_numeric(s.astype("float64"), errors="coerce").rename(c))
        elif pd.api.types.is_datetime64_any_dtype(s):
            continue
        else:
            s = s.astype("str").where(s.notna(), "missing")
            levels = sorted(s.unique().tolist())
            if len(levels) > max_levels:
                log.info("covariate %s dropped: %d levels", c, len(levels))
                continue
            for lev in levels:
                parts.append((s == lev).astype("float64").rename(f"{c}={lev}"))
    if not parts:
        return pd.DataFrame(index=frame.index)
    return pd.concat(parts, axis=1)


def covariate_balance(
    campaign: pd.DataFrame,
    covariates: Sequence[str] | None = None,
    control_arm: str = "control",
) -> pd.DataFrame:
    """Standardised mean differences (SMD) of each covariate, every arm against control.

    ``SMD = (mean_arm - mean_control) / sqrt((var_arm + var_control) / 2)``; text covariates
    are compared level by level (share of customers). ``|SMD| < 0.1`` is the usual
    "balanced" rule.

    Returns
    -------
    DataFrame with ``arm, covariate, mean_arm, mean_control, smd, balanced``.
    """
    spec = describe_campaign(campaign, control_arm)
    covariates = spec.covariates if covariates is None else list(covariates)
    X = covariate_matrix(campaign, covariates)
    g = campaign["group"].astype("str")
    xc = X.loc[g == control_arm]
    rows = []
    for arm in spec.arms:
        xa = X.loc[g == arm]
        ma, mc = xa.mean(), xc.mean()
        sd = np.sqrt((xa.var() + xc.var()) / 2.0)
        smd = (ma - mc) / sd.where(sd > 0)
        rows.append(
            pd.DataFrame(
                {
                    "arm": arm,
                    "covariate": X.columns,
                    "mean_arm": ma.to_numpy(),
                    "mean_control": mc.to_numpy(),
                    "smd": smd.fillna(0.0).to_numpy(),
                }
            )
        )
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if len(out):
        out["balanced"] = out["smd"].abs() < 0.1
    return out


# --------------------------------------------------------------------------------------------
# 2. Readout
# --------------------------------------------------------------------------------------------
def _mde_proportion(p_control: float, n_arm: int, n_control: int, alpha: float, power: float):
    if not (0 < p_control < 1) or n_arm < 2 or n_control < 2:
        return np.nan
    h = NormalIndPower().solve_power(
        effect_size=None, nobs1=n_arm, alpha=alpha, power=power, ratio=n_control / n_arm
    )
    p1 = np.sin(min(np.arcsin(np.sqrt(p_control)) + h / 2.0, np.pi / 2)) ** 2
    return float(p1 - p_control)


def _mde_mean(sd: float, n_arm: int, n_control: int, alpha: float, power: float):
    if not sd > 0 or n_arm < 2 or n_control < 2:
        return np.nan
    d = tt_ind_solve_power(
        effect_size=None, nobs1=n_arm, alpha=alpha, power=power, ratio=n_control / n_arm
    )
    return float(d * sd)


@dataclass
class ReadoutResult:
    """Every arm against control on every outcome (see :func:`campaign_readout`)."""

    table: pd.DataFrame
    control_arm: str
    alpha: float
    power: float

    def summary(self) -> pd.DataFrame:
        """One row per arm × outcome: ``arm, outcome, test, n_arm, n_control, control_mean,
        arm_mean, estimate`` (absolute lift, arm − control), ``ci_low, ci_high, p_value,
        p_value_holm, rel_lift, rel_ci_low, rel_ci_high, incremental, incremental_ci_low,
        incremental_ci_high, mde``."""
        return self.table.copy()

    def export_table(self) -> pd.DataFrame:
        """The rows of ``exports/uplift_readout.csv`` (columns :data:`READOUT_EXPORT_COLUMNS`)."""
        return self.table.rename(columns={"estimate": "abs_lift"})[list(READOUT_EXPORT_COLUMNS)]

    def row(self, arm: str, outcome: str) -> pd.Series:
        t = self.table
        return t.loc[(t["arm"] == arm) & (t["outcome"] == outcome)].iloc[0]


def campaign_readout(
    campaign: pd.DataFrame,
    control_arm: str = "control",
    outcomes: Sequence[str] | None = None,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> ReadoutResult:
    """Average effect of every arm against control, for every outcome.

    0/1 outcomes: rates, difference with a Wald 95% CI
    (``statsmodels.stats.proportion.confint_proportions_2indep``), relative lift CI from the
    ratio (log method), two-sided two-proportion z-test (``proportions_ztest``, pooled) and the
    MDE from ``NormalIndPower`` (Cohen's h turned back into points). Revenue: means, Welch
    t-test and CI (``CompareMeans``, unequal variances), relative lift CI by the delta method,
    MDE from ``tt_ind_solve_power`` times the pooled standard deviation. All p-values are
    Holm-corrected together (``multipletests(method="holm")``). ``incremental`` = lift × the
    arm's size: extra conversions (or revenue) the arm produced among the customers it reached.
    """
    spec = describe_campaign(campaign, control_arm)
    outcomes = spec.outcomes if outcomes is None else list(outcomes)
    if "converted" not in outcomes and "converted" in campaign.columns:
        outcomes = ["converted", *outcomes]
    g = campaign["group"].astype("str").to_numpy()
    rows = []
    for arm in spec.arms:
        for out in outcomes:
            y = pd.to_numeric(campaign[out], errors="coerce").astype("float64")
            ya = y[g == arm].dropna().to_numpy()
            yc = y[g == control_arm].dropna().to_numpy()
            na, nc = len(ya), len(yc)
            ma, mc = float(ya.mean()), float(yc.mean())
            binary = out in BINARY_OUTCOMES
            if binary:
                ca, cc = int(ya.sum()), int(yc.sum())
                _, p = proportions_ztest([ca, cc], [na, nc])
                lo, hi = confint_proportions_2indep(
                    ca, na, cc, nc, method="wald", compare="diff", alpha=alpha
                )
                if ca > 0 and cc > 0:
                    rlo, rhi = confint_proportions_2indep(
                        ca, na, cc, nc, method="log", compare="ratio", alpha=alpha
                    )
                    rlo, rhi = rlo - 1.0, rhi - 1.0
                else:
                    rlo = rhi = np.nan
                mde = _mde_proportion(mc, na, nc, alpha, power)
                test = "two-proportion z-test"
            else:
                cm = CompareMeans(DescrStatsW(ya), DescrStatsW(yc))
                _, p, _ = cm.ttest_ind(usevar="unequal")
                lo, hi = cm.tconfint_diff(alpha=alpha, usevar="unequal")
                va, vc = ya.var(ddof=1), yc.var(ddof=1)
                if mc > 0:
                    se = np.sqrt(va / na / mc**2 + ma**2 * vc / (nc * mc**4))
                    z = stats.norm.ppf(1 - alpha / 2)
                    rlo, rhi = ma / mc - 1 - z * se, ma / mc - 1 + z * se
                else:
                    rlo = rhi = np.nan
                sd = np.sqrt(((na - 1) * va + (nc - 1) * vc) / (na + nc - 2))
                mde = _mde_mean(sd, na, nc, alpha, power)
                test = "Welch t-test"
            diff = ma - mc
            rows.append(
                {
                    "arm": arm,
                    "outcome": out,
                    "test": test,
                    "n_arm": na,
                    "n_control": nc,
                    "control_mean": mc,
                    "arm_mean": ma,
                    "estimate": diff,
                    "ci_low": float(lo),
                    "ci_high": float(hi),
                    "p_value": float(p),
                    "rel_lift": diff / mc if mc else np.nan,
                    "rel_ci_low": float(rlo),
                    "rel_ci_high": float(rhi),
                    "incremental": diff * na,
                    "incremental_ci_low": float(lo) * na,
                    "incremental_ci_high": float(hi) * na,
                    "mde": mde,
                }
            )
    table = pd.DataFrame(rows)
    if len(table):
        table.insert(
            table.columns.get_loc("p_value") + 1,
            "p_value_holm",
            multipletests(table["p_value"].to_numpy(), method="holm")[1],
        )
    return ReadoutResult(table, control_arm, alpha, power)
