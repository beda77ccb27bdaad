"""Campaign uplift: did the campaign work, for whom, and whom to target next (notebook 04).

Four steps, each with an honest uncertainty statement:

1. **Experiment checks** — :func:`describe_campaign` finds the arms, outcomes and pre-treatment
   covariates; :func:`srm_test` tests the arm sizes against the planned allocation (sample ratio
   mismatch, chi-square); :func:`covariate_balance` gives standardised mean differences (SMD).
2. **Readout** — :func:`campaign_readout` compares every arm with control on every outcome:
   two-proportion z-test and Wald CI for 0/1 outcomes, Welch t-test and CI for revenue, Holm
   correction across all arm × outcome tests, incremental totals and the minimum detectable
   effect (MDE) at 80% power.
3. **Uplift models** — :class:`TLearner`, :class:`XLearner` and :class:`TransformedOutcome`
   (class transformation generalised to any allocation) scored out of fold by
   :func:`fit_uplift_models` (cross-fitting). Models are judged with :func:`qini_coefficient`,
   :func:`auuc_score` (both defined once here, see their docstrings) and
   :func:`uplift_by_decile`; :func:`response_groups` sorts customers into persuadables, sure
   things, lost causes and sleeping dogs.
4. **Targeting** — :func:`profit_curve` (incremental profit by share targeted) and
   :func:`uplift_scores_export` (the marketing list, consenting customers only).

Qini definition (binary outcomes only)
--------------------------------------
Peer libraries disagree on the random baseline and on the normalisation (causalml issues #577
and #798, scikit-uplift issues #53 and #93). Here, with customers sorted by predicted uplift
(ties kept together) and, among the top *n*, ``Y_T(n)``/``Y_C(n)`` converters and
``N_T(n)``/``N_C(n)`` customers in the treated and control arm:

* Qini curve ``Q(n) = Y_T(n) - Y_C(n) * N_T(n) / N_C(n)`` — incremental conversions among the
  treated customers of the top *n* (Radcliffe 2007).
* Random baseline: the straight line from ``(0, 0)`` to ``(N, Q(N))`` (the *theoretical*
  random ordering, not a sampled one).
* Normalised Qini coefficient ``(A_model - A_random) / (A_perfect - A_random)`` where ``A`` is
  the area under a curve (trapezoids) and the perfect curve ranks treated converters first and
  control converters last (so it allows negative effects). Random targeting scores 0, the
  perfect ordering of the observed outcomes scores 1; a model worse than random is negative.
  This equals ``sklift.metrics.qini_auc_score(..., negative_effect=True)`` (scikit-uplift 0.5).
* AUUC: the same construction on the uplift curve ``U(n) = (Y_T/N_T - Y_C/N_C) * n``, with the
  perfect curve of scikit-uplift's ``uplift_auc_score``; normalised the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedKFold
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, tt_ind_solve_power
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from cxlib.privacy import PII_COLUMNS
from cxlib.threads import openmp_threads

log = logging.getLogger(__name__)

#: Outcome columns of the campaign contract, in report order.
OUTCOME_COLUMNS: tuple[str, ...] = ("visited", "converted", "revenue")
#: Outcome columns that are 0/1.
BINARY_OUTCOMES: tuple[str, ...] = ("visited", "converted")
#: Campaign columns that are not covariates.
NON_COVARIATES: frozenset[str] = frozenset(
    {"customer_id", "group", "campaign_id", "sent_at", *OUTCOME_COLUMNS}
)
#: Columns never used as model inputs: the contract's personal data plus common other names.
PERSONAL_COLUMNS: frozenset[str] = frozenset(PII_COLUMNS) | {"birth_date", "name"}
#: Column order of ``exports/uplift_readout.csv``.
READOUT_EXPORT_COLUMNS: tuple[str, ...] = (
    "arm",
    "outcome",
    "n_arm",
    "n_control",
    "control_mean",
    "arm_mean",
    "abs_lift",
    "ci_low",
    "ci_high",
    "p_value",
    "p_value_holm",
)
#: Column order of ``exports/uplift_scores.csv``.
SCORES_EXPORT_COLUMNS: tuple[str, ...] = ("customer_id", "arm", "uplift", "recommended")
RESPONSE_GROUPS: tuple[str, ...] = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")
GROUP_LABELS: dict[str, str] = {
    "persuadable": "Persuadables",
    "sure_thing": "Sure things",
    "lost_cause": "Lost causes",
    "sleeping_dog": "Sleeping dogs",
}


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
    ``min_group_size`` treated or control customers each (``attrs["n_bins"]`` says how many);
    bins that still fall short are hidden by :func:`deciles_shown`.

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
    out = pd.DataFrame(rows)
    out.attrs["n_bins"] = n_bins
    return out


# --------------------------------------------------------------------------------------------
# Uplift learners (scikit-learn style: fit(X, y, treatment), predict(X) -> uplift)
# --------------------------------------------------------------------------------------------
def _leaf_size(n_rows: int, share: float, lo: int, hi: int) -> int:
    return int(np.clip(round(share * n_rows), lo, hi))


def _default_classifier(random_state, n_rows: int = 10_000):
    """Gradient boosting with strong regularisation: uplift is a small difference of two
    noisy predictions, so leaves hold at least 2.5% of the rows (20 to 400)."""
    return HistGradientBoostingClassifier(
        max_iter=150,
        learning_rate=0.05,
        max_leaf_nodes=6,
        min_samples_leaf=_leaf_size(n_rows, 0.025, 20, 400),
        l2_regularization=1.0,
        early_stopping=False,
        random_state=random_state,
    )


def _default_regressor(random_state, n_rows: int = 10_000):
    return HistGradientBoostingRegressor(
        max_iter=100,
        learning_rate=0.05,
        max_leaf_nodes=6,
        min_samples_leaf=_leaf_size(n_rows, 0.03, 30, 600),
        l2_regularization=1.0,
        early_stopping=False,
        random_state=random_state,
    )


def _column_major(X):
    """``X`` as a column-major (Fortran-order) array when it is a numpy array.

    scikit-learn's histogram gradient boosting predicts tree by tree over all rows and reads,
    for each row, the feature of the current node: in column-major order those reads are
    consecutive in memory, which makes predictions several times faster on large data than
    on row-major rows (identical results, ``tests/test_uplift.py``)."""
    return np.asfortranarray(X) if isinstance(X, np.ndarray) else X


def _take_rows(X, rows: np.ndarray):
    """The rows ``rows`` (a boolean mask) of ``X``, column-major (:func:`_column_major`)."""
    return _column_major(X[rows])


def _proba(model, X) -> np.ndarray:
    p = model.predict_proba(_column_major(X))
    classes = list(model.classes_)
    if 1 in classes or 1.0 in classes:
        return p[:, classes.index(1)]
    return np.zeros(len(X))


def _fit_binary(estimator, X, y) -> Any:
    """Fit a classifier; a constant outcome gives a constant model."""
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return _Constant(float(y.mean()) if len(y) else 0.0)
    return estimator.fit(X, y)


class _Constant:
    classes_ = [0, 1]

    def __init__(self, p: float) -> None:
        self.p = p

    def predict_proba(self, X) -> np.ndarray:
        return np.column_stack([np.full(len(X), 1 - self.p), np.full(len(X), self.p)])


class TLearner(BaseEstimator):
    """Two-model uplift: one outcome classifier per arm, uplift = p_treated(x) − p_control(x).

    Parameters
    ----------
    estimator : classifier, optional
        Cloned for each arm (default: histogram gradient boosting).
    random_state : int, optional
    """

    def __init__(self, estimator=None, random_state: int | None = None) -> None:
        self.estimator = estimator
        self.random_state = random_state

    def fit(self, X, y, treatment) -> TLearner:
        t = np.asarray(treatment).astype(bool)
        y = np.asarray(y)
        base = (
            self.estimator if self.estimator is not None else _default_classifier(self.random_state)
        )
        self.model_control_ = _fit_binary(clone(base), _take_rows(X, ~t), y[~t])
        self.model_treated_ = _fit_binary(clone(base), _take_rows(X, t), y[t])
        self.n_features_in_ = X.shape[1]
        return self

    def predict_outcomes(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Predicted outcome probabilities ``(p_control, p_treated)``."""
        X = _column_major(X)
        return _proba(self.model_control_, X), _proba(self.model_treated_, X)

    def predict(self, X) -> np.ndarray:
        p0, p1 = self.predict_outcomes(X)
        return p1 - p0


class XLearner(BaseEstimator):
    """X-learner (Künzel et al. 2019) for a 0/1 outcome.

    Stage 1 fits outcome classifiers per arm; stage 2 regresses the imputed effects
    ``y − p_control(x)`` (treated) and ``p_treated(x) − y`` (control); the two effect models are
    combined with the treated share ``g``: ``tau(x) = g * tau_control(x) + (1 - g) *
    tau_treated(x)`` (a randomised campaign has a constant propensity).
    """

    def __init__(
        self, outcome_estimator=None, effect_estimator=None, random_state: int | None = None
    ) -> None:
        self.outcome_estimator = outcome_estimator
        self.effect_estimator = effect_estimator
        self.random_state = random_state

    def fit(self, X, y, treatment) -> XLearner:
        t = np.asarray(treatment).astype(bool)
        y = np.asarray(y, dtype=float)

        def oe(n_rows):
            if self.outcome_estimator is not None:
                return clone(self.outcome_estimator)
            return _default_classifier(self.random_state, n_rows)

        def ee(n_rows):
            if self.effect_estimator is not None:
                return clone(self.effect_estimator)
            return _default_regressor(self.random_state, n_rows)

        n1, n0 = int(t.sum()), int((~t).sum())
        x1, x0 = _take_rows(X, t), _take_rows(X, ~t)
        m0 = _fit_binary(oe(n0), x0, y[~t])
        m1 = _fit_binary(oe(n1), x1, y[t])
        d1 = y[t] - _proba(m0, x1)
        d0 = _proba(m1, x0) - y[~t]
        self.effect_treated_ = ee(n1).fit(x1, d1)
        self.effect_control_ = ee(n0).fit(x0, d0)
        self.propensity_ = float(t.mean())
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        g = self.propensity_
        X = _column_major(X)
        return g * self.effect_control_.predict(X) + (1 - g) * self.effect_treated_.predict(X)


class TransformedOutcome(BaseEstimator):
    """Class transformation generalised to any allocation (transformed-outcome regression).

    With treated share ``p``, ``z = y * (t - p) / (p * (1 - p))`` has expectation equal to the
    uplift given x; a regressor of ``z`` on x predicts uplift. For ``p = 0.5`` this is the
    classic class-transformation approach (Jaskowski & Jaroszewicz 2012) rescaled.
    """

    def __init__(self, estimator=None, random_state: int | None = None) -> None:
        self.estimator = estimator
        self.random_state = random_state

    def fit(self, X, y, treatment) -> TransformedOutcome:
        t = np.asarray(treatment, dtype=float)
        y = np.asarray(y, dtype=float)
        p = float(t.mean())
        z = y * (t - p) / (p * (1 - p))
        if self.estimator is not None:
            est = clone(self.estimator)
        else:
            est = _default_regressor(self.random_state, len(z))
        self.model_ = est.fit(X, z)
        self.propensity_ = p
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        return self.model_.predict(_column_major(X))


def default_models(random_state: int | None = 0) -> dict[str, BaseEstimator]:
    """The models compared in notebook 04."""
    return {
        "T-learner": TLearner(random_state=random_state),
        "X-learner": XLearner(random_state=random_state),
        "Class transformation": TransformedOutcome(random_state=random_state),
    }


@dataclass
class UpliftModelResult:
    """Out-of-fold uplift predictions of several models for every offer arm.

    Attributes
    ----------
    scores : DataFrame
        One row per campaign customer (campaign row order): ``customer_id, group``, then
        ``<model>|<arm>`` predicted uplift and ``p_control|<arm>`` (T-learner control
        probability), each predicted by a model that did not see that customer.
    evaluation : DataFrame
        ``arm, model, qini, qini_ci_low, qini_ci_high, auuc, auuc_ci_low, auuc_ci_high``,
        each on that arm and the control customers.
    best_model : str
        Model with the highest mean Qini over the arms.
    """

    scores: pd.DataFrame
    evaluation: pd.DataFrame
    best_model: str
    arms: list[str]
    control_arm: str
    outcome: str
    features: list[str]
    n_folds: int = 0
    """Cross-fitting folds used (see :func:`cross_fitting_folds`; 0 = not recorded)."""
    train_cap: int | None = None
    """The training-row cap when it thinned a fold's training customers (None: it did not)."""

    def uplift(self, arm: str, model: str | None = None) -> pd.Series:
        return self.scores[f"{model or self.best_model}|{arm}"]

    def arm_frame(self, arm: str, model: str | None = None) -> pd.DataFrame:
        """Rows of ``arm`` and control with ``y``, ``treatment``, ``uplift``, ``p_control``."""
        s = self.scores
        m = s["group"].isin([arm, self.control_arm])
        return pd.DataFrame(
            {
                "customer_id": s.loc[m, "customer_id"],
                "y": s.loc[m, "_y"],
                "treatment": (s.loc[m, "group"] == arm).astype(int),
                "uplift": s.loc[m, f"{model or self.best_model}|{arm}"],
                "p_control": s.loc[m, f"p_control|{arm}"],
            }
        )


MAX_TRAIN_ROWS = 100_000
"""Default cap on the rows one fold's uplift model is fitted on (see :func:`fit_uplift_models`)."""


def cross_fitting_folds(
    n_folds: int, pair_sizes: Iterable[int], max_train_rows: int | None = MAX_TRAIN_ROWS
) -> int:
    """Number of cross-fitting folds: ``n_folds``, or fewer when that changes no model's size.

    A fold's model is fitted on the other folds' customers of an offer arm and control, capped
    at ``max_train_rows``. When even two folds leave every pair (arm + control) with at least
    ``max_train_rows`` training customers, more folds only fit more models of the same size:
    the fewest folds ``k >= 2`` with ``(k - 1) / k * smallest pair >= max_train_rows`` are
    used. Every customer is still scored by a model that did not see them. Small campaigns
    (no cap reached) keep ``n_folds``.
    """
    sizes = list(pair_sizes)
    if max_train_rows is None or not sizes:
        return n_folds
    smallest = min(sizes)
    for k in range(2, n_folds):
        if smallest * (k - 1) / k >= max_train_rows:
            return k
    return n_folds


def fit_uplift_models(
    campaign: pd.DataFrame,
    X: pd.DataFrame,
    *,
    outcome: str = "converted",
    control_arm: str = "control",
    models: Mapping[str, BaseEstimator] | None = None,
    n_folds: int = 5,
    n_bootstrap: int = 200,
    random_state: int | None = 0,
    n_threads: int | str | None = "auto",
    max_train_rows: int | None = MAX_TRAIN_ROWS,
) -> UpliftModelResult:
    """Cross-fitted uplift predictions for every offer arm against control, and their Qini.

    The campaign customers are split into ``n_folds`` folds (stratified by arm and outcome).
    For each fold, each model is fitted on the other folds' customers of the arm and control,
    and predicts the uplift of every customer in the held-out fold, so every customer (of any
    arm) gets, for every offer arm, a prediction from a model that did not see them.

    Parameters
    ----------
    campaign : DataFrame
        Campaign table (``customer_id``, ``group``, ``outcome``).
    X : DataFrame
        Numeric pre-treatment features aligned row by row with ``campaign``
        (see :func:`covariate_matrix`).
    n_threads : int, "auto" or None
        OpenMP threads of the gradient-boosting fits and predictions (results do not depend on
        it). "auto": one thread for small campaigns, every CPU from about 100,000 customers, or
        ``CX_THREADS`` when set (see :mod:`cxlib.threads`); None = library default.
    max_train_rows : int or None
        Largest training set of one fold's model (arm + control customers of the other folds):
        a bigger one is a seeded random sample of it, stratified by arm and outcome. Every
        customer is still scored by a model that did not see them; only large campaigns
        (hundreds of thousands of customers) are affected. When even fewer folds would give
        every model ``max_train_rows`` customers, fewer folds are used
        (:func:`cross_fitting_folds`; the result's ``n_folds``). None = no cap.
    """
    with openmp_threads(len(campaign), n_threads):
        return _fit_uplift_models(
            campaign,
            X,
            outcome=outcome,
            control_arm=control_arm,
            models=models,
            n_folds=n_folds,
            n_bootstrap=n_bootstrap,
            random_state=random_state,
            max_train_rows=max_train_rows,
        )


def _capped(rows: np.ndarray, strata: np.ndarray, cap: int | None, rng) -> np.ndarray:
    """``rows`` (a boolean mask) thinned to at most ``cap`` rows, in proportion per stratum."""
    idx = np.flatnonzero(rows)
    if cap is None or len(idx) <= cap:
        return rows
    keep = []
    for s in np.unique(strata[idx]):
        part = idx[strata[idx] == s]
        k = max(1, int(round(cap * len(part) / len(idx))))
        keep.append(rng.choice(part, min(k, len(part)), replace=False))
    out = np.zeros(len(rows), dtype=bool)
    out[np.concatenate(keep)] = True
    return out


def _fit_uplift_models(
    campaign,
    X,
    *,
    outcome,
    control_arm,
    models,
    n_folds,
    n_bootstrap,
    random_state,
    max_train_rows=MAX_TRAIN_ROWS,
) -> UpliftModelResult:
    spec = describe_campaign(campaign, control_arm)
    models = dict(models) if models is not None else default_models(random_state)
    y = pd.to_numeric(campaign[outcome], errors="coerce").fillna(0).to_numpy(dtype=float)
    g = campaign["group"].astype("str").to_numpy()
    Xv = X.to_numpy(dtype=float)
    n = len(campaign)
    strat = pd.Series(g).astype("str") + "|" + pd.Series(y.astype(int)).astype("str")
    counts = strat.value_counts()
    pairs = [int(np.isin(g, [arm, control_arm]).sum()) for arm in spec.arms]
    k_max = cross_fitting_folds(n_folds, pairs, max_train_rows)
    if k_max < n_folds:
        log.info(
            "uplift: %d cross-fitting folds instead of %d (every fold's model still has %d "
            "training customers)",
            k_max,
            n_folds,
            max_train_rows,
        )
    k = int(max(2, min(k_max, counts.min()))) if len(counts) else 2
    folds = np.zeros(n, dtype=int)
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state)
    for i, (_, test) in enumerate(skf.split(np.zeros(n), strat)):
        folds[test] = i
    out = pd.DataFrame(
        {"customer_id": campaign["customer_id"].to_numpy(), "group": g, "_y": y},
        index=campaign.index,
    )
    capped = False
    for arm in spec.arms:
        in_pair = np.isin(g, [arm, control_arm])
        preds = {name: np.full(n, np.nan) for name in models}
        p_ctrl = np.full(n, np.nan)
        cap_rng = np.random.default_rng(random_state)
        for f in range(k):
            full = in_pair & (folds != f)
            train = _capped(full, strat.to_numpy(), max_train_rows, cap_rng)
            capped = capped or int(train.sum()) < int(full.sum())
            test = folds == f
            t_train = (g[train] == arm).astype(int)
            x_train, y_train = _take_rows(Xv, train), y[train]  # once per fold, column-major
            x_test = _take_rows(Xv, test)
            for name, model in models.items():
                m = clone(model).fit(x_train, y_train, t_train)
                if isinstance(m, TLearner):  # one pass gives the uplift and the control rate
                    p0, p1 = m.predict_outcomes(x_test)
                    preds[name][test] = p1 - p0
                    if np.isnan(p_ctrl[test]).all():
                        p_ctrl[test] = p0
                else:
                    preds[name][test] = m.predict(x_test)
            if np.isnan(p_ctrl[test]).all():
                m = TLearner(random_state=random_state).fit(x_train, y_train, t_train)
                p_ctrl[test] = m.predict_outcomes(x_test)[0]
        for name in models:
            out[f"{name}|{arm}"] = preds[name]
        out[f"p_control|{arm}"] = p_ctrl
        log.info("uplift models fitted for %s (%d folds)", arm, k)
    evals = []
    binary = set(np.unique(y)) <= {0.0, 1.0}
    for arm in spec.arms:
        m = np.isin(g, [arm, control_arm])
        t = (g[m] == arm).astype(int)
        if binary:
            ev = evaluate_uplift(
                y[m],
                t,
                {name: out.loc[m, f"{name}|{arm}"].to_numpy() for name in models},
                n_bootstrap=n_bootstrap,
                random_state=random_state,
            )
        else:
            ev = pd.DataFrame({"model": list(models)})
        ev.insert(0, "arm", arm)
        evals.append(ev)
    evaluation = pd.concat(evals, ignore_index=True)
    if binary:
        best = evaluation.groupby("model", sort=False)["qini"].mean().idxmax()
    else:
        best = next(iter(models))
    return UpliftModelResult(
        out,
        evaluation,
        str(best),
        spec.arms,
        control_arm,
        outcome,
        list(X.columns),
        k,
        max_train_rows if capped else None,
    )


# --------------------------------------------------------------------------------------------
# The four groups
# --------------------------------------------------------------------------------------------
def response_groups(
    uplift, p_control, *, min_uplift: float = 0.01, sure_thing_rate: float | None = None
) -> pd.Series:
    """Sort customers into the four classic uplift groups from predicted uplift.

    * sleeping dogs: predicted uplift ≤ −``min_uplift`` (contact makes them less likely to buy);
    * persuadables: predicted uplift ≥ ``min_uplift``;
    * sure things: |uplift| < ``min_uplift`` and predicted control rate ≥ ``sure_thing_rate``
      (default: the mean predicted control rate) — they buy anyway;
    * lost causes: the rest — unlikely to buy either way.
    """
    u = np.asarray(uplift, dtype=float)
    p = np.asarray(p_control, dtype=float)
    thr = float(np.nanmean(p)) if sure_thing_rate is None else float(sure_thing_rate)
    grp = np.where(
        u <= -min_uplift,
        "sleeping_dog",
        np.where(u >= min_uplift, "persuadable", np.where(p >= thr, "sure_thing", "lost_cause")),
    )
    index = uplift.index if isinstance(uplift, pd.Series) else None
    return pd.Series(pd.Categorical(grp, categories=list(RESPONSE_GROUPS)), index=index)


def group_summary(groups, y, treatment, uplift, *, alpha: float = 0.05) -> pd.DataFrame:
    """Size (all, treated, control), mean predicted uplift and observed uplift (treated −
    control, Wald CI) per group."""
    groups = pd.Series(pd.Categorical(np.asarray(groups), categories=list(RESPONSE_GROUPS)))
    y = np.asarray(y, dtype=float)
    t = np.asarray(treatment, dtype=float)
    u = np.asarray(uplift, dtype=float)
    rows = []
    for grp in RESPONSE_GROUPS:
        m = (groups == grp).to_numpy()
        d, lo, hi = _diff_ci(y[m & (t == 1)], y[m & (t == 0)], alpha)
        rows.append(
            {
                "group": grp,
                "label": GROUP_LABELS[grp],
                "customers": int(m.sum()),
                "n_treated": int((m & (t == 1)).sum()),
                "n_control": int((m & (t == 0)).sum()),
                "share": float(m.mean()) if len(m) else np.nan,
                "mean_predicted_uplift": float(u[m].mean()) if m.any() else np.nan,
                "observed_uplift": d,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# 4. Targeting
# --------------------------------------------------------------------------------------------
def profit_curve(
    y,
    treatment,
    score,
    *,
    cost_per_contact: float = 1.0,
    value_per_conversion: float = 40.0,
    shares: Sequence[float] | None = None,
    base_size: int | None = None,
    n_bootstrap: int = 200,
    alpha: float = 0.05,
    random_state: int | None = 0,
    min_group_size: int = 0,
) -> pd.DataFrame:
    """Incremental profit of contacting the top share of customers by predicted uplift.

    For share ``s``, the observed uplift among the top ``s`` (treated rate − control rate,
    :func:`uplift_curve`) times the number contacted gives incremental conversions; profit =
    ``value_per_conversion`` × incremental conversions − ``cost_per_contact`` × contacted,
    scaled to ``base_size`` customers (default: the rows given). Bootstrap percentile CIs
    (stratified by arm). Share 0 (contact nobody) has profit 0. Shares whose top customers
    include fewer than ``min_group_size`` treated or control customers are left out (their
    profit would describe a handful of people).

    Returns
    -------
    DataFrame with ``share, contacted, incremental_conversions, incremental_ci_low,
    incremental_ci_high, cost, profit, profit_ci_low, profit_ci_high, gain_share``
    (incremental conversions as a share of contacting everyone).
    """
    y, t, s = _as_arrays(y, treatment, score)
    n = len(y)
    base = n if base_size is None else int(base_size)
    shares = np.round(np.arange(0.05, 1.0001, 0.05), 2) if shares is None else np.asarray(shares)
    order = np.argsort(-s, kind="mergesort")

    def incremental(yy, tt, oo):
        yo, to = yy[oo], tt[oo]
        cnt_t = np.cumsum(to)
        cnt_c = np.cumsum(1 - to)
        sum_t = np.cumsum(yo * to)
        sum_c = np.cumsum(yo * (1 - to))
        k = np.clip(np.round(shares * len(yo)).astype(int), 1, len(yo)) - 1
        rt = np.divide(sum_t[k], cnt_t[k], out=np.zeros(len(k)), where=cnt_t[k] > 0)
        rc = np.divide(sum_c[k], cnt_c[k], out=np.zeros(len(k)), where=cnt_c[k] > 0)
        return (rt - rc) * shares  # incremental conversions per customer in the base

    point = incremental(y, t, order)
    # a resample as row counts over the one sort of the rows: the top k of the resampled rows
    # are the rows in score order until their counts reach k (ties in row order)
    t_o, yt_o, yc_o = t[order], (y * t)[order], (y * (1 - t))[order]
    k_pos = np.clip(np.round(shares * n).astype(int), 1, max(n, 1))

    def incremental_weighted(w):
        ws = w[order]
        cw = np.cumsum(ws)
        j = np.minimum(np.searchsorted(cw, k_pos), n - 1)  # the row holding the k-th draw
        before = np.where(j > 0, cw[j - 1], 0.0)
        m = k_pos - before  # draws of row j inside the top k

        def top(v):
            c = np.cumsum(ws * v)
            return np.where(j > 0, c[j - 1], 0.0) + m * v[j]

        cnt_t = top(t_o)
        cnt_c = k_pos - cnt_t
        rt = np.divide(top(yt_o), cnt_t, out=np.zeros(len(k_pos)), where=cnt_t > 0)
        rc = np.divide(top(yc_o), cnt_c, out=np.zeros(len(k_pos)), where=cnt_c > 0)
        return (rt - rc) * shares

    rng = np.random.default_rng(random_state)
    boots = [incremental_weighted(w) for w in _bootstrap_weights(t, n_bootstrap, rng)]
    boots = np.asarray(boots) if boots else np.full((1, len(shares)), np.nan)
    if n_bootstrap > 0:
        lo, hi = np.nanquantile(boots, [alpha / 2, 1 - alpha / 2], axis=0)
    else:
        lo = hi = np.full(len(shares), np.nan)
    contacted = shares * base
    cost = cost_per_contact * contacted
    inc = point * base
    full = inc[-1] if len(inc) and shares[-1] == 1 else np.nan
    plo = value_per_conversion * lo * base - cost
    phi = value_per_conversion * hi * base - cost
    k = np.clip(np.round(shares * n).astype(int), 1, max(n, 1))
    top_t = np.cumsum(t[order])[k - 1] if n else np.zeros(len(k))
    enough = (top_t >= min_group_size) & (k - top_t >= min_group_size)
    out = pd.DataFrame(
        {
            "share": shares,
            "contacted": contacted,
            "incremental_conversions": inc,
            "incremental_ci_low": lo * base,
            "incremental_ci_high": hi * base,
            "cost": cost,
            "profit": value_per_conversion * inc - cost,
            "profit_ci_low": plo,
            "profit_ci_high": phi,
            "gain_share": inc / full if full else np.nan,
        }
    )
    return out.loc[enough].reset_index(drop=True)


def best_share(curve: pd.DataFrame) -> pd.Series:
    """The row of :func:`profit_curve` with the highest profit (ties: the smaller share); a
    row of zeros at share 0 when no share is profitable."""
    if curve.empty:
        return pd.Series({c: 0.0 for c in curve.columns})
    i = curve["profit"].to_numpy().argmax()
    if curve["profit"].iloc[i] <= 0:
        return pd.Series({c: 0.0 for c in curve.columns})
    return curve.iloc[i]


def expected_profit(uplift, *, cost_per_contact: float, value_per_conversion: float) -> np.ndarray:
    """Expected incremental profit of contacting one customer: uplift × value − cost."""
    return np.asarray(uplift, dtype=float) * value_per_conversion - cost_per_contact


def uplift_scores_export(
    result: UpliftModelResult,
    *,
    customers: pd.DataFrame | None = None,
    cost_per_contact: float = 1.0,
    value_per_conversion: float = 40.0,
    model: str | None = None,
) -> pd.DataFrame:
    """The marketing list: one row per campaign customer with their best offer.

    ``arm`` is the offer with the highest predicted uplift for that customer (model
    ``model``, default the best by Qini), ``uplift`` its predicted uplift (cross-fitted), and
    ``recommended`` is True only when the expected profit (uplift × value − cost) is positive
    and — when ``customers`` has ``marketing_consent`` — the customer has consented (missing
    consent counts as no consent).
    """
    model = model or result.best_model
    cols = [f"{model}|{a}" for a in result.arms]
    u = result.scores[cols].to_numpy(dtype=float)
    best = np.nanargmax(np.where(np.isnan(u), -np.inf, u), axis=1)
    uplift = u[np.arange(len(u)), best]
    arm = np.asarray(result.arms, dtype=object)[best]
    out = pd.DataFrame(
        {
            "customer_id": result.scores["customer_id"].astype("str").to_numpy(),
            "arm": pd.array(arm, dtype="str"),
            "uplift": np.round(uplift, 6),
        }
    )
    ok = (
        expected_profit(
            uplift, cost_per_contact=cost_per_contact, value_per_conversion=value_per_conversion
        )
        > 0
    )
    if customers is not None and "marketing_consent" in customers.columns:
        consent = customers.drop_duplicates("customer_id").set_index(
            customers.drop_duplicates("customer_id")["customer_id"].astype("str")
        )["marketing_consent"]
        c = consent.reindex(out["customer_id"]).astype("boolean").fillna(False).to_numpy(bool)
        ok &= c
    out["recommended"] = ok
    return out[list(SCORES_EXPORT_COLUMNS)]


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


def who_responds_sentences(
    comparison: pd.DataFrame,
    *,
    outcome_label: str = "conversion",
    percent: bool = True,
    alpha: float = 0.05,
    max_sentences: int = 3,
) -> list[str]:
    """Plain sentences naming which offer works better for whom.

    Uses :func:`compare_arms_by_subgroup`: only differences significant after Holm correction
    are named, covariates with the largest significant difference first. When none is
    significant, one sentence says so.
    """
    if comparison is None or comparison.empty:
        return []
    sig = comparison.loc[comparison["p_value_holm"] < alpha]
    k, unit = (100.0, " points") if percent else (1.0, "")

    def eff(v: float) -> str:
        return f"{v * k:+.1f}{unit}" if np.isfinite(v) else "n/a"

    if sig.empty:
        return [
            f"No customer group in which one offer clearly beats another on {outcome_label} "
            f"(all {len(comparison)} head-to-head comparisons have Holm-adjusted p ≥ {alpha})."
        ]
    order = sig.groupby("covariate")["estimate"].max().sort_values(ascending=False).index
    out = []
    for cov in order[:max_sentences]:
        d = sig.loc[sig["covariate"] == cov].sort_values("estimate", ascending=False)
        parts = []
        shown = d.drop_duplicates("level")
        for _, r in shown.head(3).iterrows():
            parts.append(
                f"{_arm_label(r['better_arm'])} works better for {cov} = {r['level']} "
                f"({outcome_label} {eff(r['better_effect'])} vs {eff(r['other_effect'])} with "
                f"{_arm_label(r['other_arm'])}; difference {eff(r['estimate'])}, 95% CI "
                f"{r['ci_low'] * k:+.1f} to {r['ci_high'] * k:+.1f})"
            )
        if len(shown) > 3:
            parts.append(f"and {len(shown) - 3} more level(s) of {cov}")
        levels = _level_order(comparison.loc[comparison["covariate"] == cov, "level"].unique())
        rest = [lv for lv in levels if lv not in set(d["level"])]
        more = f" and {len(rest) - 4} more" if len(rest) > 4 else ""
        tail = f"; no clear difference for {cov} = {', '.join(rest[:4])}{more}" if rest else ""
        out.append(f"By {cov}: " + "; ".join(parts) + tail + ".")
    return out


# --------------------------------------------------------------------------------------------
# Findings text
# --------------------------------------------------------------------------------------------
def _arm_label(arm: str) -> str:
    """``"offer_a"`` → ``"Offer A"``; names with capitals are kept as they are."""
    if not arm.islower():
        return arm
    words = arm.replace("_", " ").split()
    return " ".join(w.upper() if len(w) == 1 else w.capitalize() for w in words)


OUTCOME_WORDS: dict[str, str] = {
    "converted": "conversion",
    "visited": "visits",
    "revenue": "revenue per customer",
}


def readout_sentence(row: Mapping[str, Any], *, currency: str = "") -> str:
    """One sentence for one readout row, e.g. "Offer a raised conversion by 1.9 points (95% CI
    1.2 to 2.6; Holm-adjusted p < 0.001)"."""
    arm = _arm_label(str(row["arm"]))
    what = OUTCOME_WORDS.get(str(row["outcome"]), str(row["outcome"]))
    est, lo, hi = float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"])
    p = float(row.get("p_value_holm", row["p_value"]))
    ptxt = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    if row["outcome"] in BINARY_OUTCOMES:
        verb = "raised" if est >= 0 else "lowered"
        body = (
            f"{verb} {what} by {abs(est) * 100:.1f} points "
            f"({float(row['control_mean']) * 100:.1f}% → {float(row['arm_mean']) * 100:.1f}%; "
            f"95% CI {lo * 100:+.1f} to {hi * 100:+.1f} points"
        )
    else:
        verb = "raised" if est >= 0 else "lowered"
        body = (
            f"{verb} {what} by {currency}{abs(est):.2f} "
            f"({currency}{float(row['control_mean']):.2f} → "
            f"{currency}{float(row['arm_mean']):.2f}; "
            f"95% CI {lo:+.2f} to {hi:+.2f}"
        )
    sig = "" if p < 0.05 else " — not distinguishable from no effect"
    return f"{arm} {body}; Holm-adjusted {ptxt}){sig}."


# --------------------------------------------------------------------------------------------
# The whole analysis of notebook 04
# --------------------------------------------------------------------------------------------
#: Fewest converters per arm (and in control) needed to fit uplift models.
MIN_CONVERTERS_FOR_MODELS = 20


@dataclass
class UpliftAnalysis:
    """Everything notebook 04 shows (see :func:`run_uplift`)."""

    spec: CampaignSpec
    campaign: pd.DataFrame
    srm: SRMResult
    balance: pd.DataFrame
    readout: ReadoutResult
    features: pd.DataFrame
    feature_note: str
    models: UpliftModelResult | None
    model_note: str
    qini_curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    deciles: dict[str, pd.DataFrame] = field(default_factory=dict)
    groups: dict[str, pd.DataFrame] = field(default_factory=dict)
    profit: dict[str, pd.DataFrame] = field(default_factory=dict)
    best: dict[str, pd.Series] = field(default_factory=dict)
    scores: pd.DataFrame | None = None
    subgroups: dict[str, pd.DataFrame] = field(default_factory=dict)
    comparisons: dict[str, pd.DataFrame] = field(default_factory=dict)
    consent_known: bool = False
    cost_per_contact: float = 1.0
    value_per_conversion: float = 40.0
    min_group_size: int = 10
    duplicates_removed: int = 0
    left_out_arms: list[str] = field(default_factory=list)


def _no_rows(transactions: pd.DataFrame | Any | None) -> bool:
    """True when there is no transactions table or it has no row (a backend table is asked for
    one row, not counted)."""
    from cxlib.sources import is_backend_table

    if transactions is None:
        return True
    if is_backend_table(transactions):
        return int(transactions.limit(1).count().execute()) == 0
    return len(transactions) == 0


def _campaign_transactions(transactions: pd.DataFrame | Any, ids: Iterable[str]) -> Any:
    """The transactions of the customers ``ids``: a pandas filter, or for an Ibis table a
    semi-join in its backend with the ids as an in-memory table (its columns and row order
    column are kept)."""
    from cxlib.sources import is_backend_table

    ids = pd.unique(pd.Series(list(ids), dtype="str"))
    if is_backend_table(transactions):
        import ibis

        known = ibis.memtable(pd.DataFrame({"_cx_id": ids}))
        t = transactions
        return t.semi_join(known, t["customer_id"].cast("string") == known["_cx_id"])
    return transactions.loc[transactions["customer_id"].astype("str").isin(set(ids))]


def history_features(
    campaign: pd.DataFrame, transactions: pd.DataFrame | Any | None, sent_at: Any = None
) -> tuple[pd.DataFrame, str]:
    """Purchase-history features (and RFM segment) of the campaign customers before the send.

    Uses :func:`cxlib.features.customer_features` with data through the day before
    ``sent_at`` (default: the earliest ``sent_at`` of the campaign), so nothing the campaign
    could have caused leaks in. Columns are prefixed ``hist_``; rows align with ``campaign``.
    Returns an empty frame and the reason when there are no transactions or no send date.

    ``transactions`` may be a pandas frame or an Ibis table (``load_source(...,
    lazy=("transactions",))``): then the campaign customers' transactions are selected and
    aggregated in the backend (a semi-join with the campaign's ids) and only their
    customer-level features come into memory; the result is the same.
    """
    empty = pd.DataFrame(index=campaign.index)
    if _no_rows(transactions):
        return empty, "no transactions: models use the campaign's own covariates only"
    if sent_at is None and "sent_at" in campaign.columns and campaign["sent_at"].notna().any():
        sent_at = campaign["sent_at"].min()
    if sent_at is None or pd.isna(sent_at):
        return empty, (
            "the campaign has no send date (sent_at), so purchase history cannot be cut "
            "safely before the send: models use the campaign's own covariates only"
        )
    from cxlib.features import backend_customer_features, customer_features
    from cxlib.sources import ROW_ORDER, is_backend_table

    cutoff = pd.Timestamp(sent_at).normalize() - pd.Timedelta(days=1)
    tx = _campaign_transactions(transactions, campaign["customer_id"].dropna().astype("str"))
    if is_backend_table(tx) and ROW_ORDER in tx.columns:
        # one date only: combine the transactions up to the cut-off in the same query as the
        # aggregation instead of keeping all of them in temporary tables first (the cached
        # path pays off only for several dates of one table); the same features
        feats = backend_customer_features(tx, cutoff, row_order=ROW_ORDER)
    else:
        feats = customer_features(tx, cutoff)
    if feats.empty:
        return empty, "no purchase before the send for the campaign customers"
    try:
        from cxlib.segment import rfm_scores

        feats["rfm_segment"] = rfm_scores(feats)["rfm_segment"].astype("str")
    except Exception as exc:  # pragma: no cover - segment module optional
        log.info("RFM segment not added: %s", exc)
    feats = feats.add_prefix("hist_")
    out = feats.reindex(campaign["customer_id"].astype("str").to_numpy())
    out.index = campaign.index
    note = (
        f"{feats.shape[1]} purchase-history features (including the RFM segment) computed from "
        f"transactions up to {cutoff.date()}, the day before the send"
    )
    return out, note


def _first_row_per_customer(campaign: pd.DataFrame) -> pd.DataFrame:
    out = campaign.drop_duplicates("customer_id", keep="first").reset_index(drop=True)
    return out.assign(group=out["group"].astype("str"))


def campaign_problem(
    campaign: pd.DataFrame, control_arm: str = "control", min_group_size: int = 10
) -> str | None:
    """Why the campaign cannot be analysed without failing or showing a handful of people
    (None when it can): no control arm, a control arm of fewer than ``min_group_size``
    customers, or no offer arm of at least ``min_group_size`` customers. Offer arms under
    ``min_group_size`` are left out by :func:`run_uplift` (the others are analysed)."""
    camp = _first_row_per_customer(campaign)
    sizes = camp["group"].dropna().value_counts()
    if control_arm not in sizes.index:
        return (
            f"the campaign has no control group {control_arm!r} in column 'group' (groups: "
            f"{', '.join(sorted(map(str, sizes.index))) or 'none'}); set the parameter "
            "control_arm to the name of the control group"
        )
    if sizes[control_arm] < min_group_size:
        return (
            f"the control group has fewer than {min_group_size} customers (min_group_size), too "
            "few to measure an effect without showing the results of a handful of people"
        )
    offers = sizes.drop(control_arm)
    if not (offers >= min_group_size).any():
        return (
            f"no offer group has {min_group_size} or more customers (min_group_size), too few to "
            "measure an effect without showing the results of a handful of people"
        )
    return None


def run_uplift(
    tables: Mapping[str, pd.DataFrame],
    *,
    control_arm: str = "control",
    expected_allocation: Mapping[str, float] | None = None,
    cost_per_contact: float = 1.0,
    value_per_conversion: float = 40.0,
    n_bootstrap: int = 200,
    n_folds: int = 5,
    random_state: int | None = 0,
    min_group_size: int = 10,
    models: Mapping[str, BaseEstimator] | None = None,
) -> UpliftAnalysis:
    """Run the whole campaign analysis of notebook 04 on contract tables.

    ``tables`` needs ``campaign``; ``transactions`` adds purchase-history features (cut the day
    before the send) and ``customers`` adds marketing consent for the export. The sample-ratio
    test uses every arm; offer arms of fewer than ``min_group_size`` customers are left out of
    everything else (``left_out_arms``).

    Raises
    ------
    ValueError
        With the reason of :func:`campaign_problem` when the campaign cannot be analysed.
    """
    raw = tables["campaign"]
    problem = campaign_problem(raw, control_arm, min_group_size)
    if problem:
        raise ValueError(problem)
    campaign = _first_row_per_customer(raw)
    duplicates = len(raw) - len(campaign)
    if duplicates:
        log.warning("campaign: %d repeated customer rows dropped (first kept)", duplicates)
    srm = srm_test(campaign, expected_allocation)
    sizes = campaign["group"].value_counts()
    left_out = sorted(a for a in sizes.index if a != control_arm and sizes[a] < min_group_size)
    if left_out:
        log.warning("campaign arms under %d customers left out: %s", min_group_size, left_out)
        campaign = campaign.loc[~campaign["group"].isin(left_out)].reset_index(drop=True)
    spec = describe_campaign(campaign, control_arm)
    balance = covariate_balance(campaign, spec.covariates, control_arm)
    readout = campaign_readout(campaign, control_arm, spec.outcomes)
    feats, feature_note = history_features(campaign, tables.get("transactions"))
    X = pd.concat(
        [covariate_matrix(campaign, spec.covariates), covariate_matrix(feats, list(feats.columns))],
        axis=1,
    )
    customers = tables.get("customers")
    consent_known = customers is not None and "marketing_consent" in customers.columns
    res = UpliftAnalysis(
        spec,
        campaign,
        srm,
        balance,
        readout,
        feats,
        feature_note,
        None,
        "",
        consent_known=consent_known,
        cost_per_contact=cost_per_contact,
        value_per_conversion=value_per_conversion,
        min_group_size=min_group_size,
        duplicates_removed=duplicates,
        left_out_arms=left_out,
    )
    cov = [c for c in spec.covariates if c in campaign.columns]
    levels = subgroup_levels(campaign, cov) if spec.binary_outcomes else None
    for out in spec.binary_outcomes:
        kw = {"control_arm": control_arm, "min_group_size": min_group_size, "levels": levels}
        res.subgroups[out] = effects_by_subgroup(campaign, cov, outcome=out, **kw)
        res.comparisons[out] = compare_arms_by_subgroup(campaign, cov, outcome=out, **kw)
    y = campaign["converted"].astype("float64")
    g = campaign["group"]
    conv = [int(y[g == a].sum()) for a in [control_arm, *spec.arms]]
    if X.shape[1] == 0:
        res.model_note = "there are no pre-treatment covariates to model who responds"
        return res
    if min(conv) < MIN_CONVERTERS_FOR_MODELS:
        res.model_note = (
            f"an arm has fewer than {MIN_CONVERTERS_FOR_MODELS} conversions, too few to model "
            "who responds"
        )
        return res
    mres = fit_uplift_models(
        campaign,
        X,
        outcome="converted",
        control_arm=control_arm,
        models=models,
        n_folds=n_folds,
        n_bootstrap=n_bootstrap,
        random_state=random_state,
    )
    res.models = mres
    base = len(campaign)
    for arm in spec.arms:
        f = mres.arm_frame(arm)
        res.qini_curves[arm] = qini_curves_frame(
            f["y"],
            f["treatment"],
            {m: mres.scores.loc[f.index, f"{m}|{arm}"] for m in _model_names(mres)},
            min_group_size=min_group_size,
        )
        res.deciles[arm] = uplift_by_decile(
            f["y"], f["treatment"], f["uplift"], min_group_size=min_group_size
        )
        grp = response_groups(f["uplift"], f["p_control"])
        res.groups[arm] = group_summary(grp, f["y"], f["treatment"], f["uplift"])
        res.profit[arm] = profit_curve(
            f["y"],
            f["treatment"],
            f["uplift"],
            cost_per_contact=cost_per_contact,
            value_per_conversion=value_per_conversion,
            base_size=base,
            n_bootstrap=n_bootstrap,
            random_state=random_state,
            min_group_size=min_group_size,
        )
        res.best[arm] = best_share(res.profit[arm])
    res.scores = uplift_scores_export(
        mres,
        customers=customers,
        cost_per_contact=cost_per_contact,
        value_per_conversion=value_per_conversion,
    )
    return res


def _model_names(mres: UpliftModelResult) -> list[str]:
    return list(dict.fromkeys(mres.evaluation["model"]))


# --------------------------------------------------------------------------------------------
# Display tables and findings for the report
# --------------------------------------------------------------------------------------------
def _pts(v: float) -> str:
    return f"{v * 100:+.1f}"


def readout_display(res: UpliftAnalysis) -> pd.DataFrame:
    """Readout table for managers: rates in %, lifts in points, revenue in money units."""
    rows = []
    for _, r in res.readout.summary().iterrows():
        binary = r["outcome"] in BINARY_OUTCOMES
        fmt = (lambda v: f"{v * 100:.2f}%") if binary else (lambda v: f"{v:,.2f}")
        dfmt = (lambda v: f"{v * 100:+.2f} pts") if binary else (lambda v: f"{v:+,.2f}")
        rows.append(
            {
                "Offer": r["arm"],
                "Outcome": OUTCOME_WORDS.get(r["outcome"], r["outcome"]),
                "Customers (arm / control)": f"{r['n_arm']:,} / {r['n_control']:,}",
                "Control": fmt(r["control_mean"]),
                "With offer": fmt(r["arm_mean"]),
                "Lift (95% CI)": f"{dfmt(r['estimate'])} ({dfmt(r['ci_low'])} to "
                f"{dfmt(r['ci_high'])})",
                "Relative lift": f"{r['rel_lift'] * 100:+.0f}%"
                if np.isfinite(r["rel_lift"])
                else "",
                "p (Holm)": "< 0.001" if r["p_value_holm"] < 0.001 else f"{r['p_value_holm']:.3f}",
                "Extra in total (95% CI)": (
                    f"{r['incremental']:,.0f} ({r['incremental_ci_low']:,.0f} to "
                    f"{r['incremental_ci_high']:,.0f})"
                ),
                "Smallest detectable lift": dfmt(r["mde"]).lstrip("+")
                if np.isfinite(r["mde"])
                else "",
            }
        )
    return pd.DataFrame(rows)


def training_note(res: UpliftAnalysis, requested_folds: int | None = None) -> str:
    """A sentence on how a large campaign's models were trained ('' when nothing was capped).

    Says how many cross-fitting folds were used (when fewer than ``requested_folds``) and the
    size of the random sample each fold's models were trained on.
    """
    m = res.models
    if m is None or m.train_cap is None:
        return ""
    folds = f"{m.n_folds} folds" + (
        f" (instead of {requested_folds})"
        if requested_folds and m.n_folds and m.n_folds < requested_folds
        else ""
    )
    return (
        f"The campaign is large, so each model was trained on a random sample of at most "
        f"{m.train_cap:,} customers of its training part, in {folds}; every customer is still "
        "scored by a model that did not see them."
    )


def models_display(res: UpliftAnalysis) -> pd.DataFrame:
    """Qini coefficient and AUUC of each model per arm with bootstrap 95% CIs."""
    if res.models is None:
        return pd.DataFrame()
    e = res.models.evaluation
    return pd.DataFrame(
        {
            "Offer": e["arm"],
            "Model": e["model"],
            "Qini coefficient (95% CI)": [
                f"{q:.3f} ({lo:.3f} to {hi:.3f})"
                for q, lo, hi in zip(e["qini"], e["qini_ci_low"], e["qini_ci_high"], strict=True)
            ],
            "AUUC (95% CI)": [
                f"{q:.3f} ({lo:.3f} to {hi:.3f})"
                for q, lo, hi in zip(e["auuc"], e["auuc_ci_low"], e["auuc_ci_high"], strict=True)
            ],
            "Chosen": np.where(e["model"] == res.models.best_model, "✓", ""),
        }
    )


def srm_shown(res: UpliftAnalysis) -> pd.DataFrame:
    """The sample-ratio table as the report shows it: the size and observed share of an arm of
    fewer than ``min_group_size`` customers are blanked (NaN); the planned figures stay."""
    t = res.srm.table.copy()
    small = t["customers"] < res.min_group_size
    t["customers"] = t["customers"].astype("float64").mask(small)
    t["observed_share"] = t["observed_share"].mask(small)
    t.attrs["suppressed_groups"] = int(small.sum())
    return t


def srm_display(res: UpliftAnalysis) -> pd.DataFrame:
    """:func:`srm_shown` formatted for managers ("fewer than 10" for blanked sizes)."""
    t = srm_shown(res)
    few = f"fewer than {res.min_group_size}"
    return pd.DataFrame(
        {
            "Group": t["arm"],
            "Customers": [few if pd.isna(v) else f"{int(v):,}" for v in t["customers"]],
            "Observed share": ["" if pd.isna(v) else f"{v:.1%}" for v in t["observed_share"]],
            "Planned share": t["expected_share"].map("{:.1%}".format),
            "Planned customers": t["expected_customers"].map("{:,.0f}".format),
        }
    )


def _enough(row: Mapping[str, Any], min_size: int) -> bool:
    """A group's figures may be shown: enough customers in all, treated and control."""
    return bool(
        row["customers"] >= min_size
        and row.get("n_treated", min_size) >= min_size
        and row.get("n_control", min_size) >= min_size
    )


def groups_shown(res: UpliftAnalysis, arm: str) -> pd.DataFrame:
    """The four groups of one arm that have at least ``min_group_size`` customers (the
    number hidden in ``attrs["suppressed_groups"]``); the observed uplift and its CI are NaN
    where a group has fewer than ``min_group_size`` treated or control customers."""
    from cxlib.privacy import suppress_small_groups

    m = res.min_group_size
    g = suppress_small_groups(res.groups[arm], count_col="customers", min_size=m)
    thin = (g["n_treated"] < m) | (g["n_control"] < m)
    for c in ("observed_uplift", "ci_low", "ci_high"):
        g[c] = g[c].mask(thin)
    return g


def groups_display(res: UpliftAnalysis, arm: str) -> pd.DataFrame:
    """The four groups for one arm, groups under ``min_group_size`` suppressed; the observed
    uplift is not shown when the group has fewer than ``min_group_size`` treated or control
    customers."""
    g = groups_shown(res, arm)
    m = res.min_group_size
    out = pd.DataFrame(
        {
            "Group": g["label"],
            "Customers": g["customers"].map("{:,}".format),
            "Share": g["share"].map("{:.1%}".format),
            "Predicted uplift": g["mean_predicted_uplift"].map(lambda v: f"{v * 100:+.1f} pts"),
            "Observed uplift (95% CI)": [
                (
                    f"not shown (fewer than {m} contacted or control customers)"
                    if not _enough(r, m)
                    else f"{_pts(r['observed_uplift'])} pts ({_pts(r['ci_low'])} to "
                    f"{_pts(r['ci_high'])})"
                    if np.isfinite(r["observed_uplift"])
                    else "n/a"
                )
                for _, r in g.iterrows()
            ],
        }
    )
    out.attrs.update(g.attrs)
    return out


def deciles_shown(res: UpliftAnalysis, arm: str) -> pd.DataFrame:
    """The bins of :func:`uplift_by_decile` that the report shows (table and chart): bins with
    fewer than ``min_group_size`` customers, treated customers or control customers are
    hidden (their number in ``attrs["suppressed_groups"]``; ``attrs["n_bins"]`` kept)."""
    d = res.deciles[arm]
    m = res.min_group_size
    keep = (d["customers"] >= m) & (d["n_treated"] >= m) & (d["n_control"] >= m)
    out = d.loc[keep].reset_index(drop=True)
    out.attrs["suppressed_groups"] = int((~keep).sum())
    out.attrs["n_bins"] = d.attrs.get("n_bins", len(d))
    return out


def deciles_note(res: UpliftAnalysis, arm: str) -> str:
    """What the decile table does not show and why (empty when it shows ten full deciles)."""
    d = deciles_shown(res, arm)
    m = res.min_group_size
    parts = []
    if d.attrs["n_bins"] < 10:
        parts.append(
            f"Ten deciles would hold fewer than {m} contacted or control customers each, so "
            f"customers are cut into {d.attrs['n_bins']} equal groups instead."
        )
    k = d.attrs["suppressed_groups"]
    if k:
        parts.append(
            f"{k} group{'s' if k > 1 else ''} with fewer than {m} customers, contacted "
            f"customers or control customers {'are' if k > 1 else 'is'} not shown (privacy rule)."
        )
    return " ".join(parts)


def deciles_display(res: UpliftAnalysis, arm: str) -> pd.DataFrame:
    """Uplift by decile of predicted uplift as :func:`deciles_shown` (small bins suppressed)."""
    d = deciles_shown(res, arm)
    return pd.DataFrame(
        {
            ("Decile" if d.attrs["n_bins"] == 10 else "Group"): d["decile"],
            "Customers": d["customers"].map("{:,}".format),
            "Predicted uplift": d["mean_predicted"].map(lambda v: f"{v * 100:+.1f} pts"),
            "Treated rate": d["treated_mean"].map("{:.1%}".format),
            "Control rate": d["control_mean"].map("{:.1%}".format),
            "Observed uplift (95% CI)": [
                f"{_pts(v)} pts ({_pts(lo)} to {_pts(hi)})"
                for v, lo, hi in zip(d["observed_uplift"], d["ci_low"], d["ci_high"], strict=True)
            ],
        }
    )


def targeting_sentence(res: UpliftAnalysis, arm: str) -> str:
    """What contacting the best share by predicted uplift gains, in words."""
    c, b = res.profit[arm], res.best[arm]
    label = _arm_label(arm)
    full = c.iloc[-1]
    if float(b["share"]) == 0:
        return (
            f"With {label}, no share of customers is profitable to contact at a cost of "
            f"{res.cost_per_contact:g} per contact and a value of {res.value_per_conversion:g} "
            f"per extra conversion (contacting everyone: {full['profit']:,.0f})."
        )
    return (
        f"With {label}, contacting the top {b['share']:.0%} by predicted uplift "
        f"({b['contacted']:,.0f} customers) brings {b['gain_share']:.0%} of the extra conversions "
        f"that contacting everyone brings, at {b['share']:.0%} of the cost, for an incremental "
        f"profit of "
        f"{b['profit']:,.0f} (95% CI {b['profit_ci_low']:,.0f} to {b['profit_ci_high']:,.0f}) "
        f"against {full['profit']:,.0f} for contacting everyone."
    )


def sleeping_dog_finding(res: UpliftAnalysis) -> tuple[str, bool]:
    """The sleeping-dog sentence: a headline only when the observed uplift among the customers
    predicted to be harmed is significantly negative."""
    cand = []
    for arm in res.spec.arms:
        gs = res.groups[arm].set_index("group").loc["sleeping_dog"]
        if _enough(gs, res.min_group_size) and np.isfinite(gs["observed_uplift"]):
            cand.append((arm, gs))
    if not cand:
        return ("The models predict no group of customers whom an offer harms.", False)
    arm, gs = min(cand, key=lambda c: c[1]["observed_uplift"])
    label = _arm_label(arm)
    obs = (
        f"{_pts(gs['observed_uplift'])} points, 95% CI {_pts(gs['ci_low'])} to "
        f"{_pts(gs['ci_high'])}"
    )
    if gs["ci_high"] < 0:
        return (
            f"{gs['share']:.0%} of customers respond worse when contacted with {label} "
            f"(sleeping dogs: contacting them changed their conversion by {obs}): leave them "
            "out.",
            True,
        )
    if gs["observed_uplift"] < 0:
        return (
            f"The model flags {gs['share']:.0%} of customers as possible sleeping dogs for "
            f"{label} (observed uplift among them {obs}): the harm is not confirmed by the data.",
            False,
        )
    return (
        f"No harmed group is confirmed: the {gs['share']:.0%} of customers the model flags as "
        f"sleeping dogs for {label} show an observed uplift of {obs}.",
        False,
    )


def recommended_display(res: UpliftAnalysis, key: str, *, top_n: int = 10) -> pd.DataFrame:
    """The top recommended customers by expected profit, ids pseudonymised with ``key``."""
    from cxlib.privacy import pseudonymise

    if res.scores is None:
        return pd.DataFrame()
    rec = res.scores.loc[res.scores["recommended"]].copy()
    rec["profit"] = expected_profit(
        rec["uplift"],
        cost_per_contact=res.cost_per_contact,
        value_per_conversion=res.value_per_conversion,
    )
    rec = rec.sort_values(["profit", "customer_id"], ascending=[False, True]).head(top_n)
    return pd.DataFrame(
        {
            "Customer (pseudonym)": pseudonymise(rec["customer_id"], key).to_numpy(),
            "Best offer": rec["arm"].map(_arm_label).to_numpy(),
            "Predicted uplift": rec["uplift"].map(lambda v: f"{v * 100:+.1f} pts").to_numpy(),
            "Expected extra profit": rec["profit"].map("{:,.2f}".format).to_numpy(),
        }
    )


def uplift_findings(res: UpliftAnalysis) -> list[tuple[str, bool]]:
    """The notebook's findings as ``(sentence, headline)`` pairs (2-4 headlines)."""
    out: list[tuple[str, bool]] = []
    spec = res.spec
    ro = res.readout.summary()
    conv = ro.loc[ro["outcome"] == "converted"]
    best_arm = conv.sort_values("estimate", ascending=False)["arm"].iloc[0]
    parts = [readout_sentence(r) for _, r in conv.iterrows()]
    out.append((" ".join(parts), True))
    for _, r in ro.loc[ro["outcome"] != "converted"].iterrows():
        out.append((readout_sentence(r), False))
    if res.left_out_arms:
        names = ", ".join(_arm_label(a) for a in res.left_out_arms)
        out.append(
            (
                f"{names}: fewer than {res.min_group_size} customers, left out of the comparison "
                "(too few to show results for).",
                False,
            )
        )
    if res.duplicates_removed:
        out.append(
            (
                f"{res.duplicates_removed:,} repeated campaign rows for the same customer were "
                "left "
                "out (the first row of each customer is used).",
                False,
            )
        )
    if res.srm.mismatch:
        out.append(
            (
                f"Warning: the arm sizes do not match the planned split (chi-square p = "
                f"{res.srm.p_value:.2g}); the randomisation may be broken, so treat every result "
                "below with caution.",
                True,
            )
        )
    else:
        out.append(
            (
                f"The arm sizes match the planned split (chi-square p = {res.srm.p_value:.2f}).",
                False,
            )
        )
    if len(res.balance):
        bad = res.balance.loc[~res.balance["balanced"]]
        out.append(
            (
                f"{len(bad)} of {len(res.balance)} covariate comparisons have a standardised mean "
                "difference of 0.1 or more"
                + (" (arms look comparable)." if len(bad) == 0 else "."),
                False,
            )
        )
    mde = conv.iloc[0]["mde"]
    if np.isfinite(mde):
        out.append(
            (
                f"With {int(conv.iloc[0]['n_arm']):,} customers per arm, the test could detect a "
                f"conversion lift of {mde * 100:.1f} points with 80% power.",
                False,
            )
        )
    if res.models is not None:
        ev = res.models.evaluation
        e = ev.loc[(ev["model"] == res.models.best_model) & (ev["arm"] == best_arm)].iloc[0]
        out.append(
            (
                f"The {res.models.best_model} ranks customers best (Qini coefficient "
                f"{e['qini']:.2f} for {_arm_label(best_arm)}, 95% CI {e['qini_ci_low']:.2f} to "
                f"{e['qini_ci_high']:.2f}; 0 = random targeting, 1 = perfect).",
                False,
            )
        )
        out.append((targeting_sentence(res, best_arm), True))
        for arm in spec.arms:
            if arm != best_arm:
                out.append((targeting_sentence(res, arm), False))
        out.append(sleeping_dog_finding(res))
        for arm in spec.arms:
            gtab = res.groups[arm].set_index("group")
            p = gtab.loc["persuadable"]
            if _enough(p, res.min_group_size) and np.isfinite(p["observed_uplift"]):
                out.append(
                    (
                        f"{_arm_label(arm)}: {p['share']:.0%} of customers are persuadables "
                        f"(observed uplift {_pts(p['observed_uplift'])} points, 95% CI "
                        f"{_pts(p['ci_low'])} to {_pts(p['ci_high'])}).",
                        False,
                    )
                )
        if res.scores is not None:
            rec = res.scores.loc[res.scores["recommended"]]
            consent = (
                "consenting customers"
                if res.consent_known
                else "customers (marketing consent unknown: check it before any contact)"
            )
            mix = rec["arm"].value_counts()
            mix_txt = ", ".join(f"{_arm_label(a)} {n:,}" for a, n in mix.items())
            out.append(
                (
                    f"{len(rec):,} {consent} have a positive expected profit and are recommended "
                    f"for the next campaign" + (f" ({mix_txt})." if len(rec) else "."),
                    False,
                )
            )
    else:
        out.append((f"No uplift model: {res.model_note}.", False))
    n_head = sum(h for _, h in out)
    for outcome in ("converted", "visited"):
        cmp_ = res.comparisons.get(outcome)
        if cmp_ is None or cmp_.empty:
            continue
        sents = who_responds_sentences(cmp_, outcome_label=OUTCOME_WORDS[outcome], max_sentences=2)
        for i, sentence in enumerate(sents):
            significant = not sentence.startswith("No customer group")
            headline = significant and i == 0 and n_head < 4
            n_head += headline
            out.append((sentence, headline))
    return out
