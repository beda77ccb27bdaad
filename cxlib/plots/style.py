"""The house style for every cxlib chart, set in one place."""

from __future__ import annotations

import matplotlib as mpl
import seaborn as sns

#: Categorical palette (colour-blind safe).
PALETTE: list[str] = sns.color_palette("colorblind").as_hex()
#: Traffic-light colours for scorecards.
TRAFFIC_LIGHT: dict[str, str] = {"green": "#2e7d32", "amber": "#f9a825", "red": "#c62828"}


def set_house_style() -> None:
    """Apply the cxlib look: white grid, readable fonts, colour-blind palette, tight figures."""
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
