"""The journey exports (``exports/attribution.csv``, ``exports/journey_priorities.csv``; see
``docs/outputs.md``)."""

from __future__ import annotations

import pandas as pd

#: Columns of ``exports/attribution.csv`` (conversions credited per model; see docs/outputs.md).
ATTRIBUTION_EXPORT_COLUMNS = [
    "touchpoint",
    "first_touch",
    "last_touch",
    "linear",
    "markov",
    "removal_effect",
]


#: Columns of ``exports/journey_priorities.csv`` (see docs/outputs.md).
PRIORITY_EXPORT_COLUMNS = [
    "journey",
    "customers",
    "journeys",
    "conversion_rate",
    "drop_off_step",
    "avg_satisfaction",
    "extra_conversions",
    "extra_conversions_ci_low",
    "extra_conversions_ci_high",
    "opportunity_value",
    "opportunity_ci_low",
    "opportunity_ci_high",
    "rank",
]


def attribution_export(table: pd.DataFrame) -> pd.DataFrame:
    """The attribution table in export form (:data:`ATTRIBUTION_EXPORT_COLUMNS`, rounded)."""
    out = table[ATTRIBUTION_EXPORT_COLUMNS].copy()
    out["removal_effect"] = out["removal_effect"].round(6)
    for c in ("first_touch", "last_touch", "linear", "markov"):
        out[c] = out[c].round(4)
    return out.reset_index(drop=True)


def priorities_export(priorities: pd.DataFrame) -> pd.DataFrame:
    """The prioritisation table in export form (:data:`PRIORITY_EXPORT_COLUMNS`, rounded)."""
    out = priorities[PRIORITY_EXPORT_COLUMNS].copy()
    for c in ("conversion_rate", "avg_satisfaction"):
        out[c] = out[c].astype(float).round(4)
    for c in PRIORITY_EXPORT_COLUMNS:  # conversions and money with their intervals
        if c.startswith(("extra_conversions", "opportunity_")):
            out[c] = out[c].astype(float).round(2)
    return out.reset_index(drop=True)
