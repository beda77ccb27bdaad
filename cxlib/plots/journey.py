"""Charts for notebook 05: paths, transitions, flow (Sankey), funnels, attribution, friction,
priorities. Every function takes ``data=`` (a table from :mod:`cxlib.journey`) and ``ax=`` and
returns the matplotlib Axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path

from cxlib.plots.style import PALETTE, money_axis

__all__ = [
    "plot_attribution",
    "plot_friction",
    "plot_funnel",
    "plot_journey_flow",
    "plot_outcome_comparison",
    "plot_priorities",
    "plot_top_paths",
    "plot_transition_heatmap",
]

_CONVERTED = "#2e7d32"
_DROPPED = "#9e9e9e"


def _ax(ax, figsize=None):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _short(path: str, width: int = 70) -> str:
    return path if len(path) <= width else path[: width - 1] + "…"


def plot_top_paths(data: pd.DataFrame, ax=None, *, n: int = 10, title: str | None = None):
    """Horizontal bars of the most common paths (journeys), coloured by conversion rate."""
    df = data.head(n).iloc[::-1]
    ax = _ax(ax, (10, 0.45 * len(df) + 1.5))
    cmap = plt.get_cmap("RdYlGn")
    bars = ax.barh(
        [_short(p) for p in df["path"]],
        df["journeys"],
        color=[cmap(0.15 + 0.7 * r) for r in df["conversion_rate"]],
    )
    for b, r in zip(bars, df["conversion_rate"], strict=True):
        ax.text(
            b.get_width(),
            b.get_y() + b.get_height() / 2,
            f"  {r:.0%} convert",
            va="center",
            fontsize=8,
        )
    ax.set_xlabel("journeys")
    ax.set_title(title or "Most common journey paths")
    ax.margins(x=0.18)
    return ax


def plot_transition_heatmap(data: pd.DataFrame, ax=None, *, title: str | None = None):
    """Heatmap of a transition matrix (row shares) from :func:`cxlib.journey.transition_matrix`."""
    import seaborn as sns

    ax = _ax(ax, (0.5 * data.shape[1] + 3, 0.4 * data.shape[0] + 2))
    sns.heatmap(
        data,
        ax=ax,
        cmap="Blues",
        vmin=0,
        vmax=1,
        annot=data.shape[1] <= 16,
        fmt=".0%",
        annot_kws={"fontsize": 7},
        cbar_kws={"label": "share of next steps"},
        linewidths=0.3,
        linecolor="white",
    )
    ax.set_xlabel("next step")
    ax.set_ylabel("from step")
    ax.set_title(title or "Where customers go next")
    return ax


def plot_journey_flow(
    data: pd.DataFrame, ax=None, *, title: str | None = None, colors: dict[str, str] | None = None
):
    """Flow (Sankey) diagram of the main paths, from :func:`cxlib.journey.flow_table`.

    Columns are step numbers; node heights are journeys; bands are flows between steps. Terminal
    nodes "converted" and "dropped out" are coloured green and grey.
    """
    ax = _ax(ax, (12, 6))
    df = data[data["journeys"] > 0]
    if df.empty:
        ax.set_title(title or "Journey flow")
        ax.text(0.5, 0.5, "no journeys", ha="center", transform=ax.transAxes)
        return ax
    n_cols = int(df["col"].max()) + 2
    # node sizes: max of in- and outflow at each (col, label)
    outf = df.groupby(["col", "source"])["journeys"].sum()
    inf = df.groupby(["col", "target"])["journeys"].sum()
    inf.index = pd.MultiIndex.from_arrays(
        [inf.index.get_level_values(0) + 1, inf.index.get_level_values(1)]
    )
    size = pd.concat([outf, inf], axis=1).fillna(0).max(axis=1)
    total = float(size.groupby(level=0).sum().max())
    gap = 0.02 * total
    palette = list(PALETTE)
    labels = sorted({str(x) for x in size.index.get_level_values(1)})
    cmap = {
        "converted": _CONVERTED,
        "dropped out": _DROPPED,
        "other": "#b0bec5",
        "continues": "#78909c",
        **(colors or {}),
    }
    for i, lab in enumerate(x for x in labels if x not in cmap):
        cmap[lab] = palette[i % len(palette)]
    width = 0.12
    pos: dict[tuple[int, str], list[float]] = {}
    terminal = ("converted", "dropped out")
    for c in range(n_cols):
        if c not in size.index.get_level_values(0):
            continue
        s = size.loc[c]
        order = sorted(s.index, key=lambda k: (k in terminal, k == "other", -s[k]))
        y = 0.0
        for lab in order:
            h = float(s[lab])
            pos[(c, lab)] = [y, y, y]  # bottom, next out offset, next in offset
            ax.add_patch(
                Rectangle((c - width / 2, y), width, h, color=cmap.get(lab, "#607d8b"), zorder=3)
            )
            if h >= 0.03 * total:
                ax.text(
                    c + width / 2 + 0.02,
                    y + h / 2,
                    f"{lab}\n{h:,.0f}",
                    va="center",
                    fontsize=7,
                    zorder=4,
                )
            y += h + gap
    for r in df.sort_values(["col", "journeys"], ascending=[True, False]).itertuples():
        c = int(r.col)
        src, tgt = pos[(c, r.source)], pos[(c + 1, r.target)]
        h = float(r.journeys)
        y0, y1 = src[1], tgt[2]
        src[1] += h
        tgt[2] += h
        x0, x1 = c + width / 2, c + 1 - width / 2
        xm = (x0 + x1) / 2
        verts = [
            (x0, y0),
            (xm, y0),
            (xm, y1),
            (x1, y1),
            (x1, y1 + h),
            (xm, y1 + h),
            (xm, y0 + h),
            (x0, y0 + h),
            (x0, y0),
        ]
        codes = [
            Path.MOVETO,
            Path.CURVE4,
            Path.CURVE4,
            Path.CURVE4,
            Path.LINETO,
            Path.CURVE4,
            Path.CURVE4,
            Path.CURVE4,
            Path.CLOSEPOLY,
        ]
        col = cmap.get(r.target) if r.target in terminal else cmap.get(r.source, "#607d8b")
        ax.add_patch(PathPatch(Path(verts, codes), facecolor=col, alpha=0.35, lw=0, zorder=2))
    ymax = max(v[0] for v in pos.values()) + total * 0.1
    ax.set_xlim(-0.3, n_cols - 0.4)
    ax.set_ylim(max(ymax, total * 1.05), -0.02 * total)
    ax.set_xticks(range(n_cols))
    ax.set_xticklabels([f"step {c + 1}" for c in range(n_cols)])
    ax.set_yticks([])
    ax.grid(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(title or "How journeys flow, step by step")
    return ax


def plot_funnel(data: pd.DataFrame, ax=None, *, title: str | None = None):
    """Funnel bars (journeys reaching each step) with step conversion and median minutes."""
    df = data.iloc[::-1]
    ax = _ax(ax, (8, 0.55 * len(df) + 1.5))
    bars = ax.barh(
        [f"{s}. {t}" for s, t in zip(df["step"], df["touchpoint"], strict=True)],
        df["journeys"],
        color=PALETTE[0],
    )
    for b, (_, r) in zip(bars, df.iterrows(), strict=True):
        extra = "" if pd.isna(r["median_minutes"]) else f", {r['median_minutes']:.1f} min"
        ax.text(
            b.get_width(),
            b.get_y() + b.get_height() / 2,
            f"  {r['journeys']:,} ({r['step_conversion']:.0%} of previous{extra})",
            va="center",
            fontsize=8,
        )
    ax.set_xlabel("journeys reaching the step")
    ax.set_title(title or "Funnel")
    ax.margins(x=0.35)
    return ax


def plot_outcome_comparison(data: pd.DataFrame, ax=None, *, n: int = 12, title: str | None = None):
    """Share of converted vs abandoned journeys visiting each touchpoint (side by side)."""
    df = data.reindex(data["difference"].abs().sort_values(ascending=False).index).head(n)
    df = df.iloc[::-1]
    ax = _ax(ax, (8, 0.4 * len(df) + 1.5))
    y = np.arange(len(df))
    ax.barh(y + 0.2, df["converted_share"], height=0.4, color=_CONVERTED, label="converted")
    ax.barh(y - 0.2, df["abandoned_share"], height=0.4, color=_DROPPED, label="abandoned")
    ax.set_yticks(y)
    ax.set_yticklabels(df["touchpoint"])
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_xlabel("share of journeys that visit the touchpoint")
    ax.legend(loc="lower right")
    ax.set_title(title or "Converted vs abandoned journeys")
    return ax


def plot_attribution(
    data: pd.DataFrame, ax=None, *, value: bool = False, n: int = 12, title: str | None = None
):
    """Grouped bars: conversions (or value) credited to each touchpoint by each model."""
    models = ["first_touch", "last_touch", "linear", "markov"]
    cols = [m + "_value" for m in models] if value else models
    df = data.set_index("touchpoint")[cols].head(n)
    df.columns = ["first touch", "last touch", "linear", "Markov"]
    ax = _ax(ax, (10, 5))
    df.plot.bar(ax=ax, width=0.8, color=PALETTE[:4])
    if "markov_ci_low" in data.columns and not value:
        lo = data.set_index("touchpoint")["markov_ci_low"].head(n)
        hi = data.set_index("touchpoint")["markov_ci_high"].head(n)
        x = np.arange(len(df)) + 0.3
        ax.errorbar(
            x,
            df["Markov"],
            yerr=[df["Markov"] - lo, hi - df["Markov"]],
            fmt="none",
            ecolor="black",
            elinewidth=0.8,
            capsize=2,
        )
    ax.set_xlabel("")
    ax.set_ylabel("conversion value credited" if value else "conversions credited")
    ax.tick_params(axis="x", rotation=45)
    for lab in ax.get_xticklabels():
        lab.set_horizontalalignment("right")
    ax.set_title(title or "Which touchpoints get the credit, by model")
    return ax


def plot_friction(data: pd.DataFrame, ax=None, *, title: str | None = None):
    """Heatmap of friction indicators (rates) per journey type, from
    :func:`cxlib.journey.friction_by_type`."""
    import seaborn as sns

    cols = {
        "loop_rate": "loops back",
        "retry_rate": "repeats a step",
        "repeat_contact_rate": "contacts us",
        "drop_off_share": "drops at main drop-off step",
        "complaint_rate": "complains",
    }
    cols = {k: v for k, v in cols.items() if k in data.columns}
    df = data.set_index("journey")[list(cols)].rename(columns=cols).astype(float)
    ax = _ax(ax, (1.3 * len(cols) + 3, 0.5 * len(df) + 1.5))
    sns.heatmap(
        df,
        ax=ax,
        annot=True,
        fmt=".0%",
        cmap="OrRd",
        vmin=0,
        vmax=max(0.5, float(np.nanmax(df.to_numpy())) if df.size else 0.5),
        cbar_kws={"label": "share of journeys"},
        linewidths=0.3,
        linecolor="white",
    )
    ax.set_ylabel("journey type")
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=30)
    for lab in ax.get_xticklabels():
        lab.set_horizontalalignment("right")
    ax.set_title(title or "Where customers struggle")
    return ax


def plot_priorities(data: pd.DataFrame, ax=None, *, currency: str = "", title: str | None = None):
    """Opportunity value per journey type (ranked bars with their 95% interval), coloured by
    satisfaction gap; journey types that do not stand out are grey, and when none does the
    chart says so."""
    df = data.sort_values("rank", ascending=False)
    ax = _ax(ax, (9, 0.5 * len(df) + 1.5))
    gaps = df["satisfaction_gap"].fillna(0.0).to_numpy()
    cmap = plt.get_cmap("RdYlGn_r")
    norm = plt.Normalize(-1.5, 1.5)
    out = df["stands_out"].to_numpy(dtype=bool)
    val = df["opportunity_value"].to_numpy(dtype=float)
    err = np.vstack(
        [
            val - df["opportunity_ci_low"].to_numpy(dtype=float),
            df["opportunity_ci_high"].to_numpy(dtype=float) - val,
        ]
    ).clip(min=0.0)
    bars = ax.barh(
        [f"{r}. {j}" for r, j in zip(df["rank"], df["journey"], strict=True)],
        val,
        xerr=err,
        color=[cmap(norm(g)) if o else "#bbbbbb" for g, o in zip(gaps, out, strict=True)],
        error_kw={"ecolor": "#444444", "capsize": 3, "lw": 1},
    )
    for b, (_, r) in zip(bars, df.iterrows(), strict=True):
        sat = (
            ""
            if pd.isna(r["satisfaction_gap"])
            else f", satisfaction {-r['satisfaction_gap']:+.1f} vs avg"
        )
        ax.text(
            r["opportunity_ci_high"],
            b.get_y() + b.get_height() / 2,
            f"  {currency}{r['opportunity_value']:,.0f}{sat}",
            va="center",
            fontsize=8,
        )
    if not out.any():
        ax.text(
            0.5,
            0.5,
            "No journey type stands out:\nno friction is clearly associated with lower conversion",
            transform=ax.transAxes,
            ha="center",
            va="center",
        )
    ax.set_xlabel("Opportunity value per period (95% interval)")
    money_axis(ax.xaxis, currency)
    ax.set_title(title or "What to fix first")
    ax.margins(x=0.35)
    return ax
