"""The house style for every cxlib chart, set in one place."""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import seaborn as sns

#: Categorical palette (colour-blind safe).
PALETTE: list[str] = sns.color_palette("colorblind").as_hex()
#: Traffic-light colours for scorecards.
TRAFFIC_LIGHT: dict[str, str] = {"green": "#2e7d32", "amber": "#f9a825", "red": "#c62828"}


def chart_alt_text(fig: Any) -> str:
    """A text alternative for a chart, from what it says of itself: its title, each panel's
    title and axis labels, and its legend entries ("Chart: Choosing the number of clusters;
    x: Number of clusters (k); y: Silhouette (separation); series: Silhouette, Stability")."""
    parts: list[str] = []
    title = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    if title:
        parts.append(title)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        panel = [ax.get_title()] if ax.get_title() else []
        if ax.axison and ax.get_xlabel():
            panel.append(f"x: {ax.get_xlabel()}")
        if ax.axison and ax.get_ylabel():
            panel.append(f"y: {ax.get_ylabel()}")
        legend = ax.get_legend()
        if legend is not None:
            names = [t.get_text() for t in legend.get_texts() if t.get_text()]
            if names:
                panel.append("series: " + ", ".join(names))
        if panel:
            parts.append("; ".join(panel))
    text = " | ".join(p.replace("\n", " ") for p in parts)
    return f"Chart: {text}" if text else "Chart"


def _show_charts_with_alt_text() -> None:
    """In a notebook, display every figure as PNG with :func:`chart_alt_text` as its ``alt``
    (IPython output metadata, which nbconvert writes into the report's ``<img>``), so no chart
    of a report is without a text alternative. Outside IPython it does nothing."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    # a notebook shows its charts with the inline backend even when the environment names
    # another (MPLBACKEND=Agg on a headless server or in CI made every report chartless)
    if "matplotlib_inline" not in mpl.get_backend():
        plt.switch_backend("module://matplotlib_inline.backend_inline")
    # the inline backend registers its own PNG formatter when pyplot first makes a figure; make
    # that happen now, so that the formatter below is the one that stays
    plt.close(plt.figure())

    def png_with_alt(fig: Figure) -> tuple[bytes, dict[str, str]] | None:
        data = print_figure(fig, "png", bbox_inches="tight")
        return None if data is None else (data, {"alt": chart_alt_text(fig)})

    shell.display_formatter.formatters["image/png"].for_type(Figure, png_with_alt)


def set_house_style() -> None:
    """Apply the cxlib look: white grid, readable fonts, colour-blind palette, tight figures;
    in a notebook, charts are shown with a text alternative (:func:`chart_alt_text`)."""
    _show_charts_with_alt_text()
    sns.set_theme(style="whitegrid", context="notebook", palette=PALETTE)
    mpl.rcParams.update(
        {
            "figure.figsize": (8, 4.5),
            "figure.dpi": 100,
            "savefig.bbox": "tight",
            "axes.titlesize": 13,
            "axes.titleweight": "bold",
            "axes.labelsize": 11,
            "figure.autolayout": True,
            "svg.hashsalt": "cxlib",
        }
    )


def traffic_light(score: float, *, green: float = 90.0, amber: float = 75.0) -> str:
    """Name the traffic-light colour of a 0-100 score (``green`` ≥ 90, ``amber`` ≥ 75, else red)."""
    if score >= green:
        return "green"
    if score >= amber:
        return "amber"
    return "red"


def money_axis(axis: Any, currency: str = "", nbins: int = 5) -> None:
    """Label a matplotlib axis in money: at most ``nbins`` ticks, thousands separators and the
    ``currency`` prefix ("£125,000"), so that tick labels never run together."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from cxlib.report import format_money

    axis.set_major_locator(MaxNLocator(nbins=nbins))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: format_money(v, currency)))
