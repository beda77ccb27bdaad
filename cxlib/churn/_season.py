"""A seasonal purchase clock for the BG/NBD: time measured in expected seasonal volume.

When purchases follow a clear yearly cycle, a quiet season looks like dropout to a model whose
purchase rate is constant in calendar time. Measuring time in units of the seasonal volume (a
busy week counts for more than a quiet one) makes a multiplicative yearly cycle constant again,
so the BG/NBD applies unchanged on the warped times.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cxlib.threads import one_blas_thread

log = logging.getLogger(__name__)

YEAR_DAYS = 365.25
#: A yearly cycle is used only when its test against none has p below this and its peak is at
#: least this much above the average (log scale), on at least ``MIN_WEEKS`` whole weeks.
SEASON_P_VALUE = 1e-6
SEASON_MIN_AMPLITUDE = 0.15
MIN_WEEKS = 78


@dataclass(frozen=True)
class SeasonalClock:
    """``multiplier(day) = exp(c cos(2 pi day / 365.25) + s sin(...)) / mean over a year``
    (days since 1970-01-01); ``elapsed(a, b)`` = integral of the multiplier from ``a`` to ``b``,
    in days (equal to ``b - a`` on average over a year)."""

    cos: float
    sin: float
    p_value: float

    def multiplier(self, day: np.ndarray) -> np.ndarray:
        """Seasonal volume relative to the yearly average on ``day``."""
        phase = 2.0 * np.pi * np.asarray(day, dtype=float) / YEAR_DAYS
        grid = 2.0 * np.pi * np.arange(3652) / 3652
        norm = np.exp(self.cos * np.cos(grid) + self.sin * np.sin(grid)).mean()
        return np.exp(self.cos * np.cos(phase) + self.sin * np.sin(phase)) / norm

    def describe(self) -> str:
        """The cycle in words: when purchases peak and how far above and below the average."""
        day = np.arange(366.0) + (pd.Timestamp("2001-01-01") - pd.Timestamp("1970-01-01")).days
        m = self.multiplier(day)
        peak = (pd.Timestamp("2001-01-01") + pd.Timedelta(days=int(np.argmax(m)))).strftime(
            "%-d %B"
        )
        low = (pd.Timestamp("2001-01-01") + pd.Timedelta(days=int(np.argmin(m)))).strftime("%-d %B")
        return (
            f"purchases follow a yearly cycle, {m.max() - 1:.0%} above the yearly average around "
            f"{peak} and {1 - m.min():.0%} below it around {low}"
        )

    def elapsed(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Seasonal days between days ``a`` and ``b``: differences of the integrated multiplier
        on a daily grid (linear within a day)."""
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        lo = np.floor(min(a.min(), b.min()))
        days = np.arange(lo, np.ceil(max(a.max(), b.max())) + 1.0)
        cum = np.concatenate([[0.0], np.cumsum(self.multiplier(days[:-1] + 0.5))])
        return np.interp(b, days, cum) - np.interp(a, days, cum)


def seasonal_clock(daily_totals: Any, end_day: int) -> SeasonalClock | None:
    """The yearly cycle of purchase days up to ``end_day`` (days since 1970-01-01), or None.

    Weekly counts of purchase days (whole weeks only) are fitted by a Poisson regression
    (statsmodels GLM, Pearson-scaled for overdispersion) on a quadratic trend (the customer base
    grows and shrinks) and one yearly harmonic; the cycle is used when the Wald test of the
    harmonic has p < ``SEASON_P_VALUE`` and its amplitude is at least ``SEASON_MIN_AMPLITUDE``.
    """
    import statsmodels.api as sm

    d = daily_totals.filter(daily_totals._d <= end_day)
    ago = (end_day - d._d) // 7  # whole weeks ending with the end day: 0, 1, ... (non-negative)
    counts = d.group_by(_w=ago).aggregate(_n=d.count()).to_pandas()
    counts = counts.sort_values("_w")
    counts = counts.loc[counts["_w"] < counts["_w"].max()]  # the first week may be partial
    if len(counts) < MIN_WEEKS:
        return None
    w = -counts["_w"].to_numpy(dtype=float)  # weeks relative to the last one
    mid_day = end_day - 3.0 + 7.0 * w
    phase = 2.0 * np.pi * mid_day / YEAR_DAYS
    t = w / 52.0
    X = np.column_stack([np.ones_like(t), t, t**2, np.cos(phase), np.sin(phase)])
    with one_blas_thread():  # a small iterative fit: BLAS threads would only wait
        fit = sm.GLM(counts["_n"].to_numpy(dtype=float), X, family=sm.families.Poisson()).fit(
            scale="X2"
        )
        p = float(fit.wald_test(np.eye(5)[3:], scalar=True).pvalue)
    c, s = float(fit.params[3]), float(fit.params[4])
    amplitude = float(np.hypot(c, s))
    log.info("yearly cycle of purchases: amplitude %.3f (log scale), p = %.2g", amplitude, p)
    if p >= SEASON_P_VALUE or amplitude < SEASON_MIN_AMPLITUDE:
        return None
    return SeasonalClock(c, s, p)


def warp_summary(rfm: pd.DataFrame, clock: SeasonalClock, unit: float) -> pd.DataFrame:
    """``rfm`` (:func:`summary_from_transactions`) with ``recency`` and ``T`` in seasonal time."""
    epoch = pd.Timestamp("1970-01-01")
    first = ((rfm["first_purchase"] - epoch) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    out = rfm.copy()
    out["recency"] = clock.elapsed(first, first + rfm["recency"].to_numpy() * unit) / unit
    out["T"] = clock.elapsed(first, first + rfm["T"].to_numpy() * unit) / unit
    return out
