"""Charts of the data audit (notebook 01). Each takes ``data=`` and ``ax=`` and returns the Axes."""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from cxlib.plots.style import PALETTE, TRAFFIC_LIGHT

__all__ = [
    "plot_completeness",
    "plot_consent",
    "plot_freshness",
    "plot_match_probabilities",
    "plot_scorecard",
    "plot_single_customer_view",
    "plot_top_issues",
]

_DIM_ORDER = ["completeness", "validity", "uniqueness", "consistency", "timeliness", "integrity"]


def _ax(ax: Axes | None, size: tuple[float, float] | None = None) -> Axes:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=size)
    return ax


def plot_scorecard(data: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Traffic-light grid of scores: tables (rows) × quality dimensions and the table score.

    Parameters
    ----------
    data : DataFrame
        :func:`cxlib.audit.scorecard` output (``table, dimension, score, light``).
    """
    s = data[data["table"] != "overall"]
    tables = list(dict.fromkeys(s["table"]))
    cols = [d for d in _DIM_ORDER if d in set(s["dimension"])] + ["all"]
    ax = _ax(ax, (1.3 * len(cols) + 2, 0.6 * len(tables) + 1.6))
    lookup = {(r.table, r.dimension): r for r in s.itertuples()}
    for i, t in enumerate(tables):
        for j, d in enumerate(cols):
            r = lookup.get((t, d))
            colour = TRAFFIC_LIGHT[r.light] if r is not None else "#eeeeee"
            ax.add_patch(
                plt.Rectangle((j, i), 0.95, 0.9, color=colour, alpha=0.85 if d == "all" else 0.7)
            )
            label = f"{r.score:.1f}" if r is not None else "–"
            ax.text(
                j + 0.475,
                i + 0.45,
                label,
                ha="center",
                va="center",
                fontsize=10,
                color="white" if r is not None else "#777777",
                fontweight="bold",
            )
    ax.set_xlim(0, len(cols))
    ax.set_ylim(len(tables), 0)
    ax.set_xticks(np.arange(len(cols)) + 0.475)
    ax.set_xticklabels(
        [("table score" if c == "all" else c) for c in cols], rotation=20, ha="right"
    )
    ax.set_yticks(np.arange(len(tables)) + 0.45)
    ax.set_yticklabels(tables)
    ax.grid(False)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    overall = data.loc[data["table"] == "overall", "score"]
    title = "Data-quality scorecard (0-100)"
    if len(overall):
        title += f": overall {overall.iloc[0]:.1f}"
    ax.set_title(title)
    ax.set_xlabel("Quality dimension")
    ax.set_ylabel("Table")
    ax.legend(
        handles=[Patch(color=TRAFFIC_LIGHT[k], label=k) for k in ("green", "amber", "red")],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        frameon=False,
        title="Light",
    )
    return ax


def plot_top_issues(data: pd.DataFrame, ax: Axes | None = None, n: int = 12) -> Axes:
    """Horizontal bars of the rules with the largest share of failing rows.

    Parameters
    ----------
    data : DataFrame
        Rule results (``table, rule, dimension, failed_rows, share``).
    n : int
        Number of rules shown.
    """
    r = data[data["failed_rows"] > 0].sort_values("share", ascending=False).head(n)
    ax = _ax(ax, (9, 0.4 * max(len(r), 3) + 1.2))
    if len(r) == 0:
        ax.text(0.5, 0.5, "No rule failed", ha="center", va="center", transform=ax.transAxes)
    else:
        labels = [f"{t}: {rule}" for t, rule in zip(r["table"], r["rule"], strict=True)]
        colours = {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(_DIM_ORDER)}
        ax.barh(
            np.arange(len(r)),
            100 * r["share"],
            color=[colours.get(d, "grey") for d in r["dimension"]],
        )
        ax.set_yticks(np.arange(len(r)))
        ax.set_yticklabels(labels)
        ax.invert_yaxis()
        for i, (share, k) in enumerate(zip(r["share"], r["failed_rows"], strict=True)):
            ax.text(100 * share, i, f" {k:,}", va="center", fontsize=9)
        present = list(dict.fromkeys(r["dimension"]))
        ax.legend(
            handles=[Patch(color=colours[d], label=d) for d in present if d in colours],
            loc="lower right",
            frameon=False,
            title="Dimension",
        )
    ax.set_title("Largest data-quality issues (share of rows failing)")
    ax.set_xlabel("Rows failing the rule (%)")
    ax.set_ylabel("Table: rule")
    return ax


def plot_completeness(data: pd.DataFrame, ax: Axes | None = None, max_columns: int = 20) -> Axes:
    """Completeness (share of filled values) of the columns that have gaps.

    Parameters
    ----------
    data : DataFrame
        :func:`cxlib.audit.profile_tables` output.
    max_columns : int
        At most this many columns, least complete first.
    """
    p = data[data["completeness"] < 1].sort_values("completeness").head(max_columns)
    ax = _ax(ax, (8, 0.35 * max(len(p), 3) + 1.2))
    if len(p) == 0:
        ax.text(
            0.5, 0.5, "Every column is complete", ha="center", va="center", transform=ax.transAxes
        )
    labels = [f"{t}.{c}" for t, c in zip(p["table"], p["column"], strict=True)]
    ax.barh(np.arange(len(p)), 100 * p["completeness"], color=PALETTE[0])
    for i, v in enumerate(p["completeness"]):
        ax.text(100 * v, i, f" {100 * v:.1f}%", va="center", fontsize=9)
    ax.set_yticks(np.arange(len(p)))
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 110)
    ax.set_title("Columns with missing values")
    ax.set_xlabel("Values filled in (%)")
    ax.set_ylabel("Table.column")
    return ax


def plot_freshness(data: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Dates each table (and source system) covers, earliest to latest record, against the
    as-of date, labelled with the days from the latest record to it.

    Parameters
    ----------
    data : DataFrame
        :func:`cxlib.audit.freshness` output (``table, source_system, earliest, latest,
        days_behind``).
    """
    f = data.dropna(subset=["earliest", "latest"]).reset_index(drop=True)
    ax = _ax(ax, (8, 0.4 * max(len(f), 3) + 1.2))
    labels = [
        t if s == "all" else f"{t} ({s})"
        for t, s in zip(f["table"], f["source_system"], strict=True)
    ]
    start = mdates.date2num(pd.to_datetime(f["earliest"]))
    stop = mdates.date2num(pd.to_datetime(f["latest"]))
    y = np.arange(len(f))
    ax.barh(y, stop - start, left=start, color=PALETTE[1])
    as_of = pd.to_datetime(f["latest"]) + pd.to_timedelta(f["days_behind"], unit="D")
    if len(f):
        ax.axvline(mdates.date2num(as_of.max()), color="black", linestyle="--", label="as-of date")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    for i, v in enumerate(f["days_behind"]):
        ax.text(stop[i], i, f"{int(v)} days behind ", va="center", ha="right", color="white")
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    locator = mdates.AutoDateLocator(maxticks=6)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_title("Which dates does each table cover?")
    ax.set_xlabel("Date of the records (bar: earliest to latest)")
    ax.set_ylabel("Table (source system)")
    return ax


def plot_consent(data: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Share of customers by consent status (one bar per status).

    Parameters
    ----------
    data : DataFrame
        :func:`cxlib.audit.consent_summary` output (``status, customers, share``).
    """
    d = data.reset_index(drop=True)
    ax = _ax(ax, (8, 0.6 * max(len(d), 2) + 1.4))

    def colour(status: str) -> str:
        if status == "consent given":
            return TRAFFIC_LIGHT["green"]
        if status.startswith("consent older"):
            return TRAFFIC_LIGHT["amber"]
        return TRAFFIC_LIGHT["red"] if status == "consent refused" else "#9e9e9e"

    y = np.arange(len(d))
    ax.barh(y, 100 * d["share"], color=[colour(str(x)) for x in d["status"]])
    for i, row in d.iterrows():
        ax.text(
            100 * row.share,
            i,
            f" {100 * row.share:.1f}% ({int(row.customers):,})",
            va="center",
            fontsize=9,
        )
    ax.set_yticks(y)
    ax.set_yticklabels(d["status"])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_title("Marketing consent of customers")
    ax.set_xlabel("Share of customers (%)")
    ax.set_ylabel("Consent status")
    return ax


def plot_single_customer_view(data: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Customer records per source system, split into records of people recorded once and
    records of people recorded more than once; the title gives records and people overall.

    Parameters
    ----------
    data : DataFrame
        :meth:`cxlib.audit.SingleCustomerView.summary` output.
    """
    d = data.reset_index(drop=True)
    total = d[d["source_system"] == "all"]
    parts = d[d["source_system"] != "all"] if len(d) > 1 else d
    ax = _ax(ax, (8, 4))
    x = np.arange(len(parts))
    several = parts["records_of_people_with_several"].to_numpy()
    once = parts["records"].to_numpy() - several
    ax.bar(x, once, color=PALETTE[0], label="person recorded once")
    ax.bar(x, several, bottom=once, color=PALETTE[3], label="person recorded more than once")
    for i, (a, b) in enumerate(zip(once, several, strict=True)):
        ax.text(i, a + b, f"{int(b):,} of {int(a + b):,}", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x)
    ax.set_xticklabels(["all systems" if s == "all" else s for s in parts["source_system"]])
    title = "Single customer view"
    if len(total):
        t = total.iloc[0]
        title += f": {int(t.records):,} records hold {int(t.people):,} people"
    ax.set_title(title)
    ax.set_xlabel("Source system")
    ax.set_ylabel("Customer records")
    ax.legend(frameon=False, loc="upper right")
    ax.margins(y=0.15)
    return ax


def plot_match_probabilities(
    data: pd.DataFrame, ax: Axes | None = None, threshold: float | None = None
) -> Axes:
    """Histogram of candidate record pairs by match weight (log2 of the odds that the two records
    are the same person), with the threshold; probabilities are marked on the top axis."""
    ax = _ax(ax, (8, 4))
    w = data["match_weight"].to_numpy(dtype=float)
    ax.hist(w, bins=40, color=PALETTE[0])
    ax.set_yscale("log")
    if threshold is not None:
        tw = float(np.log2(threshold / (1 - threshold)))
        ax.axvline(
            tw, color=TRAFFIC_LIGHT["red"], ls="--", label=f"threshold: probability {threshold:g}"
        )
        ax.legend(frameon=False, loc="upper left")
    ax.set_title("Candidate record pairs: how strongly do they match?")
    ax.set_xlabel("Match weight (log2 odds of being the same person; 0 = even odds)")
    ax.set_ylabel("Record pairs (log scale)")
    return ax
