"""Charts of notebook 04 (campaign uplift): each takes ``data=`` and ``ax=``, returns the Axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from cxlib.plots.style import PALETTE, TRAFFIC_LIGHT, money_axis
from cxlib.report import name_words

GROUP_COLOURS = {
    "persuadable": TRAFFIC_LIGHT["green"],
    "sure_thing": PALETTE[0],
    "lost_cause": "#9e9e9e",
    "sleeping_dog": TRAFFIC_LIGHT["red"],
}


def _ax(ax: Axes | None, figsize=(8, 4.5)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_srm(data: pd.DataFrame, ax: Axes | None = None, *, p_value: float | None = None) -> Axes:
    """Observed against planned share of customers per arm (``srm_test(...).table``)."""
    ax = _ax(ax, (7, 3.5))
    x = np.arange(len(data))
    ax.bar(x - 0.2, data["observed_share"], width=0.4, label="observed", color=PALETTE[0])
    ax.bar(x + 0.2, data["expected_share"], width=0.4, label="planned", color=PALETTE[7])
    ax.set_xticks(x, data["arm"])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    title = "Customers per arm: observed vs planned"
    if p_value is not None:
        title += f" (chi-square p = {p_value:.3f})"
    ax.set_title(title)
    ax.set_xlabel("Arm")
    ax.set_ylabel("Share of customers")
    ax.legend(loc="lower right")
    return ax


def plot_love(data: pd.DataFrame, ax: Axes | None = None, *, threshold: float = 0.1) -> Axes:
    """Love plot: standardised mean difference of each covariate, every arm vs control."""
    covs = list(dict.fromkeys(data["covariate"]))
    ax = _ax(ax, (7, max(3.0, 0.28 * len(covs) + 1.2)))
    y = {c: i for i, c in enumerate(covs)}
    for k, (arm, d) in enumerate(data.groupby("arm", sort=True)):
        ax.scatter(
            d["smd"],
            d["covariate"].map(y),
            label=arm,
            color=PALETTE[k % len(PALETTE)],
            s=25,
            zorder=3,
        )
    for v in (-threshold, threshold):
        ax.axvline(v, color=TRAFFIC_LIGHT["red"], ls="--", lw=1)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(covs)), covs)
    ax.invert_yaxis()
    lim = max(threshold * 1.5, float(data["smd"].abs().max()) * 1.1 if len(data) else 0)
    ax.set_xlim(-lim, lim)
    ax.set_title("Covariate balance (|SMD| < 0.1 is balanced)")
    ax.set_xlabel("Standardised mean difference, arm − control")
    ax.set_ylabel("")
    ax.legend(loc="lower right", fontsize=9)
    return ax


def plot_readout(data: pd.DataFrame, ax: Axes | None = None, *, outcome: str = "converted") -> Axes:
    """Lift of each arm over control with its 95% CI for one outcome (readout summary)."""
    d = data.loc[data["outcome"] == outcome].reset_index(drop=True)
    ax = _ax(ax, (7, 0.6 * len(d) + 1.8))
    binary = outcome in ("converted", "visited")
    k = 100.0 if binary else 1.0
    yy = np.arange(len(d))
    colours = [
        TRAFFIC_LIGHT["green"] if lo > 0 else TRAFFIC_LIGHT["red"] if hi < 0 else "#757575"
        for lo, hi in zip(d["ci_low"], d["ci_high"], strict=True)
    ]
    ax.errorbar(
        d["estimate"] * k,
        yy,
        xerr=[(d["estimate"] - d["ci_low"]) * k, (d["ci_high"] - d["estimate"]) * k],
        fmt="none",
        ecolor="#424242",
        capsize=4,
        zorder=2,
    )
    ax.scatter(d["estimate"] * k, yy, color=colours, s=60, zorder=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(yy, d["arm"])
    ax.set_ylim(-0.7, len(d) - 0.3)
    ax.invert_yaxis()
    unit = "percentage points" if binary else "per customer"
    ax.set_title(f"Effect on {outcome} vs control (95% CI)")
    ax.set_xlabel(f"Lift, arm − control ({unit})")
    ax.set_ylabel("")
    return ax


def plot_qini(
    data: pd.DataFrame,
    ax: Axes | None = None,
    *,
    title: str | None = None,
    show_perfect: bool = False,
) -> Axes:
    """Qini curves (``qini_curves_frame``): incremental conversions by share targeted, with the
    random-targeting line (and the perfect curve when ``show_perfect``)."""
    ax = _ax(ax)
    k = 0
    for name, d in data.groupby("model", sort=False):
        if name == "Perfect" and not show_perfect:
            continue
        if name == "Random":
            ax.plot(d["share"], d["incremental"], color="black", ls="--", lw=1, label="Random")
        elif name == "Perfect":
            ax.plot(d["share"], d["incremental"], color="#9e9e9e", ls=":", lw=1, label="Perfect")
        else:
            ax.plot(
                d["share"], d["incremental"], color=PALETTE[k % len(PALETTE)], lw=2, label=str(name)
            )
            k += 1
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title(title or "Qini curve: extra conversions by share targeted")
    ax.set_xlabel("Share of customers targeted (highest predicted uplift first)")
    ax.set_ylabel("Incremental conversions")
    ax.legend(fontsize=9)
    return ax


def plot_uplift_by_decile(
    data: pd.DataFrame,
    ax: Axes | None = None,
    *,
    title: str | None = None,
    percent: bool = True,
) -> Axes:
    """Observed uplift (treated − control) per decile of predicted uplift, with 95% CIs."""
    ax = _ax(ax)
    k = 100.0 if percent else 1.0
    est = data["observed_uplift"].to_numpy() * k
    colours = [TRAFFIC_LIGHT["green"] if v > 0 else TRAFFIC_LIGHT["red"] for v in est]
    ax.bar(data["decile"], est, color=colours, alpha=0.85)
    ax.errorbar(
        data["decile"],
        est,
        yerr=[est - data["ci_low"].to_numpy() * k, data["ci_high"].to_numpy() * k - est],
        fmt="none",
        ecolor="#424242",
        capsize=3,
    )
    ax.plot(
        data["decile"], data["mean_predicted"] * k, "o-", color="black", ms=4, label="predicted"
    )
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(data["decile"])
    ax.set_title(title or "Observed uplift by decile of predicted uplift")
    ax.set_xlabel("Decile of predicted uplift (1 = highest)")
    ax.set_ylabel("Treated − control (points)" if percent else "Treated − control")
    ax.legend(fontsize=9)
    return ax


def plot_profit_curve(
    data: pd.DataFrame,
    ax: Axes | None = None,
    *,
    best_share: float | None = None,
    currency: str = "",
    assumed: bool = False,
) -> Axes:
    """Incremental profit by share targeted (``profit_curve``), with its bootstrap 95% band;
    ``best_share`` marks the share the targeting decision chose (``best_share``: the highest
    profit whose CI lies above zero; none when 0); the axis in money with ``currency``, and
    "(assumed economics)" when the cost and value were assumed."""
    ax = _ax(ax)
    d = pd.concat(
        [
            pd.DataFrame(
                {"share": [0.0], "profit": [0.0], "profit_ci_low": [0.0], "profit_ci_high": [0.0]}
            ),
            data,
        ],
        ignore_index=True,
    )
    ax.fill_between(
        d["share"],
        d["profit_ci_low"],
        d["profit_ci_high"],
        color=PALETTE[0],
        alpha=0.2,
        label="95% CI",
    )
    ax.plot(d["share"], d["profit"], color=PALETTE[0], lw=2, label="incremental profit")
    if best_share:
        b = d.loc[np.isclose(d["share"], best_share)]
        if len(b):
            ax.scatter(
                b["share"],
                b["profit"],
                color=TRAFFIC_LIGHT["green"],
                s=70,
                zorder=3,
                label=f"chosen: top {best_share:.0%} (profit CI above zero)",
            )
    ax.axhline(0, color="black", lw=0.8)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title("Incremental profit by share of customers contacted")
    ax.set_xlabel("Share contacted (highest predicted uplift first)")
    ax.set_ylabel("Incremental profit" + (" (assumed economics)" if assumed else ""))
    money_axis(ax.yaxis, currency)
    ax.legend(fontsize=9)
    return ax


def plot_response_groups(data: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Share of customers per response group with the observed uplift in each."""
    ax = _ax(ax, (7, 3.5))
    d = data.reset_index(drop=True)
    yy = np.arange(len(d))
    ax.barh(yy, d["share"], color=[GROUP_COLOURS.get(g, PALETTE[0]) for g in d["group"]])
    for i, r in d.iterrows():
        if np.isfinite(r["observed_uplift"]):
            ax.text(
                r["share"],
                i,
                f"  observed uplift {r['observed_uplift'] * 100:+.1f} pts",
                va="center",
                fontsize=9,
            )
    ax.set_yticks(yy, d["label"])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlim(0, max(0.1, float(d["share"].max()) * 1.8))
    ax.set_title("Who responds: the four uplift groups")
    ax.set_xlabel("Share of customers")
    ax.set_ylabel("")
    return ax


def plot_subgroup_effects(
    data: pd.DataFrame,
    ax: Axes | None = None,
    *,
    covariate: str,
    percent: bool = True,
    outcome_label: str = "conversion",
) -> Axes:
    """Observed effect of each arm within the levels of one covariate (95% CIs)."""
    d = data.loc[data["covariate"] == covariate]
    levels = list(dict.fromkeys(d["level"]))
    ax = _ax(ax, (7, 0.5 * len(levels) + 2))
    k = 100.0 if percent else 1.0
    arms = sorted(d["arm"].unique())
    width = 0.8 / max(1, len(arms))
    for j, arm in enumerate(arms):
        a = d.loc[d["arm"] == arm].set_index("level").reindex(levels)
        yy = np.arange(len(levels)) + (j - (len(arms) - 1) / 2) * width
        ax.errorbar(
            a["estimate"] * k,
            yy,
            xerr=[(a["estimate"] - a["ci_low"]) * k, (a["ci_high"] - a["estimate"]) * k],
            fmt="o",
            color=PALETTE[j % len(PALETTE)],
            capsize=3,
            label=arm,
        )
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(levels)), [str(lv).replace("$", r"\$") for lv in levels])
    ax.set_ylim(-0.6, len(levels) - 0.4)
    ax.invert_yaxis()
    ax.set_title(f"Effect on {outcome_label} by {name_words(covariate)}")
    ax.set_xlabel("Arm − control" + (" (points)" if percent else ""))
    ax.set_ylabel(name_words(covariate).capitalize())
    ax.legend(fontsize=9)
    return ax
