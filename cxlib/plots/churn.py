"""Charts for notebook 03 (churn). Each takes a tidy DataFrame and returns the Axes it drew on."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator, PercentFormatter

from cxlib.plots.style import PALETTE, money_axis


def _ax(ax: Axes | None, figsize: tuple[float, float] = (8, 4.5)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _colours(names) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def plot_reliability(
    data: pd.DataFrame,
    ax: Axes | None = None,
    title: str = "Do predicted risks match what happened?",
) -> Axes:
    """Reliability curve: mean predicted vs observed lapse rate per risk group, per model.

    ``data``: :func:`cxlib.churn.reliability_long` (``model``, ``mean_predicted``,
    ``observed_rate``, ``ci_low``, ``ci_high``).
    """
    ax = _ax(ax, (6.5, 5.5))
    models = list(dict.fromkeys(data["model"]))
    col = _colours(models)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="Perfect calibration")
    for m in models:
        d = data[data["model"] == m]
        yerr = np.clip(
            np.vstack([d["observed_rate"] - d["ci_low"], d["ci_high"] - d["observed_rate"]]),
            0,
            None,
        )
        ax.errorbar(
            d["mean_predicted"],
            d["observed_rate"],
            yerr=yerr,
            marker="o",
            ms=4,
            capsize=2,
            color=col[m],
            label=m,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("Predicted probability of leaving (group average)")
    ax.set_ylabel("Share who actually left")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=9)
    return ax


def plot_gains(
    data: pd.DataFrame,
    ax: Axes | None = None,
    title: str = "How many leavers we reach by contacting the riskiest first",
) -> Axes:
    """Cumulative gains: share of leavers found vs share of customers contacted, per model.

    ``data``: :func:`cxlib.churn.gains_long` (``model``, ``cum_share_customers``,
    ``cum_share_lapsed``).
    """
    ax = _ax(ax, (6.5, 5.5))
    models = list(dict.fromkeys(data["model"]))
    col = _colours(models)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="Random order")
    for m in models:
        d = data[data["model"] == m]
        ax.plot(
            np.r_[0, d["cum_share_customers"]],
            np.r_[0, d["cum_share_lapsed"]],
            marker="o",
            ms=3,
            color=col[m],
            label=m,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("Customers contacted (riskiest first)")
    ax.set_ylabel("Share of all leavers reached")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=9)
    return ax


def plot_odds_ratios(
    data: pd.DataFrame,
    ax: Axes | None = None,
    top_n: int = 15,
    title: str = "What goes with a higher or lower risk of leaving",
) -> Axes:
    """Forest plot of odds ratios with 95% CIs (log scale), largest effects first.

    ``data``: :meth:`cxlib.churn.LogitChurnModel.summary` or :func:`cxlib.churn.driver_table`
    (``label``, ``estimate``, ``ci_low``, ``ci_high``).
    """
    d = data.copy()
    d = d.loc[np.isfinite(d["estimate"]) & (d["estimate"] > 0)]
    d = d.assign(_size=np.abs(np.log(d["estimate"]))).sort_values("_size", ascending=False)
    d = d.head(top_n).iloc[::-1]
    ax = _ax(ax, (8, 0.4 * len(d) + 1.6))
    y = np.arange(len(d))
    colours = np.where(d["estimate"] > 1, PALETTE[3], PALETTE[2])
    lo = (d["estimate"] - d["ci_low"]).clip(lower=0).fillna(0)
    hi = (d["ci_high"] - d["estimate"]).clip(lower=0).fillna(0)
    ax.errorbar(d["estimate"], y, xerr=np.vstack([lo, hi]), fmt="none", ecolor="grey", capsize=3)
    ax.scatter(d["estimate"], y, color=colours, zorder=3)
    ax.axvline(1.0, color="black", lw=1)
    ax.set_xscale("log")
    lo_all = float(np.nanmin(np.r_[d["ci_low"].to_numpy(dtype=float), d["estimate"], 1.0]))
    hi_all = float(np.nanmax(np.r_[d["ci_high"].to_numpy(dtype=float), d["estimate"], 1.0]))
    span = hi_all / max(lo_all, 1e-9)
    if span > 30:
        grid = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000)
    elif span > 5:
        grid = (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20)
    else:
        grid = (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4)
    ticks = [t for t in grid if lo_all / 1.2 <= t <= hi_all * 1.2]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yticks(y, d["label"].astype(str))
    ax.set_xlabel("Odds ratio (log scale; right of 1 = more likely to leave)")
    ax.set_ylabel("")
    ax.set_title(title)
    return ax


def plot_importance(
    data: pd.DataFrame,
    ax: Axes | None = None,
    top_n: int = 12,
    title: str = "What the score relies on most (permutation importance)",
) -> Axes:
    """Horizontal bars of permutation importance (drop in ROC AUC) with its spread.

    ``data``: :func:`cxlib.churn.permutation_drivers` (``label``, ``importance``, ``std``).
    """
    d = data.head(top_n).iloc[::-1]
    ax = _ax(ax, (8, 0.4 * len(d) + 1.6))
    y = np.arange(len(d))
    ax.barh(y, d["importance"], xerr=d["std"], color=PALETTE[0], capsize=2)
    ax.set_yticks(y, d["label"].astype(str))
    ax.set_xlabel("Drop in ROC AUC when the feature is shuffled")
    ax.set_ylabel("")
    ax.set_title(title)
    return ax


def plot_retention(
    data: pd.DataFrame,
    ax: Axes | None = None,
    time_label: str = "Days",
    title: str = "Share of customers still buying (Kaplan-Meier)",
) -> Axes:
    """Kaplan-Meier retention curves with 95% bands, one per group.

    ``data``: :func:`cxlib.churn.kaplan_meier` curves (``group``, ``time``, ``retention``,
    ``ci_low``, ``ci_high``, ``customers``).
    """
    ax = _ax(ax, (8, 5))
    groups = list(dict.fromkeys(data["group"]))
    col = _colours(groups)
    for g in groups:
        d = data[data["group"] == g].sort_values("time")
        n = int(d["customers"].iloc[0]) if "customers" in d else None
        label = f"{g} (n={n:,})" if n is not None else str(g)
        ax.step(d["time"], d["retention"], where="post", color=col[g], label=label)
        ax.fill_between(
            d["time"], d["ci_low"], d["ci_high"], step="post", color=col[g], alpha=0.12, lw=0
        )
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(time_label)
    ax.set_ylabel("Still active")
    ax.set_title(title)
    # below the axes, so that no curve or band is hidden behind it
    ax.legend(
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=2 if len(groups) > 2 else 1,
        frameon=False,
    )
    return ax


def plot_value_at_risk(
    data: pd.DataFrame,
    ax: Axes | None = None,
    title: str = "Value at risk by segment",
    currency: str = "",
) -> Axes:
    """Horizontal bars of value at risk per segment, annotated with its share and customers;
    the axis in money with the ``currency`` prefix and thousands separators.

    ``data``: :func:`cxlib.churn.segment_risk` (``segment``, ``value_at_risk``,
    ``share_of_value_at_risk``, ``customers``).
    """
    d = data.dropna(subset=["value_at_risk"]).sort_values("value_at_risk").reset_index(drop=True)
    ax = _ax(ax, (8, 0.45 * len(d) + 1.6))
    y = np.arange(len(d))
    ax.barh(y, d["value_at_risk"], color=PALETTE[3])
    for yi, (v, p, n) in enumerate(
        zip(d["value_at_risk"], d["share_of_value_at_risk"], d["customers"], strict=True)
    ):
        ax.text(v, yi, f"  {p:.0%} of it, {int(n):,} customers", va="center", fontsize=8)
    ax.set_yticks(y, d["segment"].astype(str))
    ax.set_xlabel("Value at risk (expected loss: probability of churning × value if they stay)")
    ax.set_ylabel("")
    ax.set_xlim(0, float(d["value_at_risk"].max()) * 1.45 if len(d) else 1)
    money_axis(ax.xaxis, currency)
    ax.set_title(title)
    return ax


def plot_risk_distribution(
    data: pd.DataFrame,
    ax: Axes | None = None,
    column: str = "churn_probability",
    title: str = "How risk is spread across customers",
) -> Axes:
    """Histogram of predicted churn probabilities (``data[column]``)."""
    ax = _ax(ax)
    v = pd.to_numeric(data[column], errors="coerce").dropna()
    ax.hist(v, bins=np.linspace(0, 1, 21), color=PALETTE[0], edgecolor="white")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("Predicted probability of leaving")
    ax.set_ylabel("Customers")
    ax.set_title(title)
    return ax
