"""Charts for notebook 02 (segmentation). Each returns the matplotlib Axes it drew on."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from cxlib.plots.style import PALETTE

FEATURE_LABELS: dict[str, str] = {
    "purchase_rate": "purchases per year",
    "avg_basket": "average basket",
    "weekend_share": "weekend share",
    "frequency": "purchases (window)",
    "monetary": "spend (window)",
    "recency_days": "days since last purchase",
    "tenure_days": "days since first purchase",
    "interval_cv": "irregularity",
    "trend_90d": "trend (90 days)",
}
_PREFIX_LABELS = {
    "channel_share_": "channel: ",
    "category_share_": "category: ",
    "tod_share_": "time: ",
}


def feature_label(col: str) -> str:
    """Readable label of a feature column (``tod_share_morning`` -> ``time: morning``)."""
    if col in FEATURE_LABELS:
        return FEATURE_LABELS[col]
    for prefix, lab in _PREFIX_LABELS.items():
        if col.startswith(prefix):
            return lab + col[len(prefix) :].replace("_", " ")
    return col.replace("_", " ")


def _ax(ax: Axes | None, figsize: tuple[float, float] = (9, 5)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_segment_sizes(
    data: pd.DataFrame,
    ax: Axes | None = None,
    label_col: str = "segment",
    title: str = "Share of customers and of revenue by segment",
) -> Axes:
    """Horizontal paired bars: share of customers vs share of revenue per segment.

    ``data`` is a :func:`cxlib.segment.segment_summary` table (``customer_share``,
    ``revenue_share``).
    """
    ax = _ax(ax, (9, 0.45 * len(data) + 1.5))
    y = np.arange(len(data))
    h = 0.4
    ax.barh(
        y - h / 2,
        data["customer_share"] * 100,
        height=h,
        color=PALETTE[0],
        label="Share of customers",
    )
    ax.barh(
        y + h / 2, data["revenue_share"] * 100, height=h, color=PALETTE[1], label="Share of revenue"
    )
    for yi, (c, r) in enumerate(zip(data["customer_share"], data["revenue_share"], strict=True)):
        ax.text(c * 100, yi - h / 2, f" {c:.0%}", va="center", fontsize=8)
        ax.text(r * 100, yi + h / 2, f" {r:.0%}", va="center", fontsize=8)
    ax.set_yticks(y, data[label_col].astype(str))
    ax.invert_yaxis()
    ax.set_xlabel("Percent")
    ax.set_ylabel("")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return ax


def plot_segment_treemap(
    data: pd.DataFrame,
    ax: Axes | None = None,
    label_col: str = "segment",
    title: str = "Segments sized by customers, coloured by share of revenue",
) -> Axes:
    """Treemap: tile area = customers, colour = revenue share, label = name and both shares."""
    import squarify
    from matplotlib.patches import Rectangle

    ax = _ax(ax, (10, 6))
    d = data[data["customers"] > 0].sort_values("customers", ascending=False)
    width, height = 100.0, 60.0
    sizes = squarify.normalize_sizes(d["customers"].to_numpy(dtype=float), width, height)
    rects = squarify.squarify(sizes, 0.0, 0.0, width, height)
    cmap = plt.get_cmap("Blues")
    rs = d["revenue_share"].to_numpy(dtype=float)
    top = max(float(rs.max()), 1e-9) if len(rs) else 1.0
    for r, (_, row), v in zip(rects, d.iterrows(), rs, strict=True):
        level = 0.12 + 0.78 * v / top
        ax.add_patch(
            Rectangle(
                (r["x"], r["y"]),
                r["dx"],
                r["dy"],
                facecolor=cmap(level),
                edgecolor="white",
                linewidth=2,
            )
        )
        label = (
            f"{row[label_col]}\n{row['customer_share']:.0%} of customers\n"
            f"{row['revenue_share']:.0%} of revenue"
        )
        small = r["dx"] < 12 or r["dy"] < 8
        ax.text(
            r["x"] + r["dx"] / 2,
            r["y"] + r["dy"] / 2,
            str(row[label_col]) if small else label,
            ha="center",
            va="center",
            fontsize=7 if small else 9,
            color="white" if level > 0.55 else "#222222",
        )
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    ax.set_title(title)
    return ax


def plot_rfm_grid(
    data: pd.DataFrame,
    ax: Axes | None = None,
    title: str = "Customers by recency score and frequency-spend score",
) -> Axes:
    """Heatmap of customer counts on the R x FM score grid, each cell labelled by segment.

    ``data`` is the :func:`cxlib.segment.rfm_scores` output.
    """
    from cxlib.segment import RFM_GRID

    ax = _ax(ax, (8, 5.5))
    counts = (
        data.groupby(["r_score", "fm_score"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=RFM_GRID.index, columns=RFM_GRID.columns, fill_value=0)
    )
    annot = RFM_GRID.copy().astype(str)
    for r in RFM_GRID.index:
        for f in RFM_GRID.columns:
            annot.loc[r, f] = f"{RFM_GRID.loc[r, f]}\n{counts.loc[r, f]:,}"
    sns.heatmap(
        counts,
        annot=annot.to_numpy(),
        fmt="",
        cmap="Blues",
        cbar_kws={"label": "Customers"},
        ax=ax,
        annot_kws={"fontsize": 7},
        linewidths=0.5,
    )
    ax.grid(False)
    ax.set_xlabel("Frequency-spend score (FM, 5 = most)")
    ax.set_ylabel("Recency score (R, 5 = most recent)")
    ax.set_title(title)
    return ax


def plot_k_selection(
    data: pd.DataFrame,
    ax: Axes | None = None,
    title: str = "Choosing the number of clusters",
) -> Axes:
    """Silhouette (left axis) and bootstrap stability (right axis) by k, both higher-is-better;
    the chosen k (best silhouette x stability) is marked, and the silhouette of the same columns
    shuffled at random (``null_silhouette``, the null reference) is drawn when present. ``data``
    is ``BehaviouralSegmenter.selection_``."""
    ax = _ax(ax, (8, 4.5))
    ax.plot(data["k"], data["silhouette"], marker="o", color=PALETTE[0], label="Silhouette")
    if "null_silhouette" in data:
        ax.plot(
            data["k"],
            data["null_silhouette"],
            marker="o",
            linestyle=":",
            color="grey",
            label="Silhouette of shuffled data (no real groups)",
        )
    ax.set_xlabel("Number of clusters (k)")
    ax.set_ylabel("Silhouette (separation)", color=PALETTE[0])
    ax2 = ax.twinx()
    ax2.plot(
        data["k"],
        data["stability"],
        marker="s",
        linestyle="--",
        color=PALETTE[1],
        label="Stability (mean ARI over resamples)",
    )
    if "stability_sd" in data:
        ax2.fill_between(
            data["k"],
            data["stability"] - data["stability_sd"],
            (data["stability"] + data["stability_sd"]).clip(upper=1),
            color=PALETTE[1],
            alpha=0.15,
        )
    ax2.set_ylabel("Stability (1 = same clusters every time)", color=PALETTE[1])
    ax2.set_ylim(min(0.5, float(data["stability"].min()) - 0.05), 1.02)
    ax2.grid(False)
    chosen = data.loc[data["chosen"], "k"]
    if len(chosen):
        k = int(chosen.iloc[0])
        ax.axvline(k, color="grey", linestyle=":", linewidth=1.5)
        ax.annotate(
            f"chosen k = {k}",
            xy=(k, float(data["silhouette"].max())),
            xytext=(5, -12),
            textcoords="offset points",
            fontsize=9,
        )
    ax.set_xticks(data["k"])
    lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    lines += ax2.get_lines()[:1]
    ax.legend(lines, [ln.get_label() for ln in lines], loc="lower left")
    ax.set_title(title)
    return ax


def plot_cluster_differences(
    data: pd.DataFrame,
    ax: Axes | None = None,
    names: dict | None = None,
    title: str = "How each cluster differs from the average customer",
) -> Axes:
    """Heatmap of standardised differences (clusters x features; 0 = average, ±1 = one SD).

    ``data`` is ``ClusterProfile.std_diff``; ``names`` maps cluster -> name for row labels.
    """
    d = data.copy()
    if names:
        d.index = [f"{c}: {names.get(c, c)}" for c in d.index]
    d.columns = [feature_label(c) for c in d.columns]
    ax = _ax(ax, (max(8, 0.55 * d.shape[1] + 3), 0.6 * d.shape[0] + 2.5))
    lim = float(np.nanmax(np.abs(d.to_numpy()))) if d.size else 1.0
    sns.heatmap(
        d,
        cmap="RdBu_r",
        center=0,
        vmin=-lim,
        vmax=lim,
        annot=True,
        fmt=".1f",
        annot_kws={"fontsize": 7},
        cbar_kws={"label": "Standardised difference (SD)"},
        ax=ax,
        linewidths=0.5,
    )
    ax.grid(False)
    ax.set_xlabel("Feature")
    ax.set_ylabel("Cluster")
    ax.set_title(title)
    return ax


def plot_mix(
    data: pd.DataFrame,
    ax: Axes | None = None,
    title: str = "Purchase mix by cluster",
    xlabel: str = "Share of purchases",
    *,
    what: str | None = None,
) -> Axes:
    """Stacked horizontal bars of mean purchase shares (rows = clusters, columns = parts).

    ``data`` is e.g. ``ClusterProfile.channel_mix`` (row index may be replaced by names).
    ``what`` (e.g. ``"channel"``, a key of ``SegmentationResult.mixes()``) sets the report's
    title and axis label ("Purchases by <what> in each segment").
    """
    if what is not None:
        title = f"Purchases by {what} in each segment"
        xlabel = f"Share of purchases by {what}"
    ax = _ax(ax, (9, 0.5 * len(data) + 1.8))
    d = data.div(data.sum(axis=1).replace(0, np.nan), axis=0).fillna(0) * 100
    left = np.zeros(len(d))
    colors = sns.color_palette("colorblind", n_colors=max(d.shape[1], 1))
    labels = [str(i) for i in d.index]
    for j, col in enumerate(d.columns):
        vals = d[col].to_numpy()
        ax.barh(labels, vals, left=left, color=colors[j], label=str(col))
        for i, v in enumerate(vals):
            if v >= 8:
                ax.text(left[i] + v / 2, i, f"{v:.0f}%", ha="center", va="center", fontsize=7)
        left += vals
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"{xlabel} (%)")
    ax.set_ylabel("")
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.18),
        ncol=min(d.shape[1], 6),
        fontsize=8,
        frameon=False,
    )
    ax.set_title(title)
    return ax


def plot_migration(
    data: pd.DataFrame,
    ax: Axes | None = None,
    title: str = "Where customers moved: RFM segment then (rows) and now (columns)",
) -> Axes:
    """Heatmap of row shares from :class:`cxlib.segment.MigrationResult` (``row_share``).

    Blank cells are suppressed groups (under the minimum group size) or empty.
    """
    ax = _ax(ax, (11, 7))
    d = (data * 100).dropna(how="all").dropna(axis=1, how="all")
    sns.heatmap(
        d,
        cmap="Blues",
        annot=True,
        fmt=".0f",
        vmin=0,
        vmax=100,
        ax=ax,
        annot_kws={"fontsize": 7},
        linewidths=0.5,
        cbar_kws={"label": "% of the row's customers"},
    )
    ax.grid(False)
    ax.set_xlabel(str(data.columns.name or "Segment now").capitalize() + " (now)")
    ax.set_ylabel(str(data.index.name or "Segment before").capitalize() + " (then)")
    ax.set_title(title)
    return ax


def plot_stability(
    data: np.ndarray | pd.Series,
    ax: Axes | None = None,
    title: str = "Cluster stability over bootstrap resamples",
) -> Axes:
    """Histogram of adjusted Rand indices (1 = the same clusters every time)."""
    ax = _ax(ax, (7, 4))
    a = np.asarray(data, dtype=float)
    ax.hist(a, bins=min(20, max(5, len(a) // 2)), color=PALETTE[0], edgecolor="white")
    ax.axvline(a.mean(), color=PALETTE[3], linestyle="--", label=f"mean {a.mean():.3f}")
    ax.set_xlabel("Adjusted Rand index vs the reported clusters")
    ax.set_ylabel("Resamples")
    ax.legend()
    ax.set_title(title)
    return ax
