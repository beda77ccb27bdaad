"""Presentation of the journey question: recommendation and finding sentences."""

from __future__ import annotations

from typing import Any

import pandas as pd

_KIND_TEXT = {
    "retry": "customers repeat the step (it fails or stalls)",
    "loop": "customers go round in circles",
    "contact": "customers give up and contact us",
}


def _recommend(row: Any, currency: str = "", value_known: bool = True) -> str:
    """One plain-language recommendation for a prioritised journey type."""
    worth = f" worth {currency}{row.opportunity_value:,.0f}" if value_known else ""
    conv = f"{row.conversion_rate:.1%}"
    tgt = f"{row.target_conversion:.1%}"
    if row.opportunity_value <= 0 or row.target_conversion - row.conversion_rate < 0.0005:
        return (
            f"Monitor: '{row.journey}' journeys convert at {conv} and show no friction that "
            f"costs conversions; keep them as they are."
        )
    kind = row.main_friction_kind if isinstance(row.main_friction_kind, str) else ""
    where = row.main_friction_touchpoint if isinstance(row.main_friction_touchpoint, str) else ""
    what = _KIND_TEXT.get(kind, "customers drop out")
    sat = ""
    if pd.notna(row.satisfaction_gap) and row.satisfaction_gap > 0.3:
        sat = f" Satisfaction is {row.satisfaction_gap:.1f} points below average."
    step = f" at '{where}'" if where else f" at '{row.drop_off_step}'"
    return (
        f"Fix '{row.journey}' journeys{step}: {what}. Bringing conversion from {conv} to {tgt} "
        f"would add about {row.extra_conversions:,.0f} converting customers{worth}.{sat}"
    )
