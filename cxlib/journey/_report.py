"""Presentation of the journey question: recommendation and finding sentences."""

from __future__ import annotations

from typing import Any

import pandas as pd

from cxlib.report import Finding

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


# ---------------------------------------------------------------------------------------------
# Notebook 05: finding sentences and display tables of a JourneyResult
# ---------------------------------------------------------------------------------------------

NO_EVENTS_NOTE = "Skipped: no events table."
NO_EVENTS_REASON = (
    "the data has no events table (customer_id, timestamp, touchpoint), which every journey is "
    "built from"
)


def few_customers_note(min_group_size: int) -> str:
    """Status note of a run whose journeys belong to fewer than ``min_group_size`` customers."""
    return f"Skipped: fewer than {min_group_size} customers have journeys."


def few_customers_reason(min_group_size: int) -> str:
    """Why such a run shows nothing (for :func:`cxlib.report.skip_notice`)."""
    return (
        f"fewer than {min_group_size} customers (min_group_size) have journeys, so every table "
        "of this report would describe a handful of people"
    )


def built_from(used_journey_id: bool, session_gap_minutes: Any) -> str:
    """How the journeys were cut: from journey ids, or sessions with a gap."""
    if used_journey_id:
        return "the journey ids in the data"
    return f"sessions with no gap longer than {session_gap_minutes} minutes"


def overview_markdown(r: Any) -> str:
    """The line above the touchpoint table: journeys, customers, how built, conversion."""
    j = r.journeys
    return (
        f"**{len(j):,} journeys** by **{r.n_customers:,} customers**, built from {r.built_from}; "
        f"{j['converted'].mean():.1%} end in a purchase. Touchpoints and their channel type:"
    )


def touchpoint_table(r: Any) -> pd.DataFrame:
    """Touchpoints and their channel type."""
    return r.touchpoint_types.rename("channel type").rename_axis("touchpoint").reset_index()


def paths_table(r: Any) -> pd.DataFrame:
    """The most common paths with share and conversion rate as percentages."""
    p = r.paths
    return p.assign(
        share=p["share"].map("{:.1%}".format),
        conversion_rate=p["conversion_rate"].map("{:.1%}".format),
    )


_ATTRIBUTION_SHOWN = [
    "touchpoint",
    "first_touch",
    "last_touch",
    "linear",
    "markov",
    "markov_ci_low",
    "markov_ci_high",
    "removal_effect",
    "markov_value",
]
_FRICTION_SHOWN = [
    "journey",
    "customers",
    "journeys",
    "conversion_rate",
    "loop_rate",
    "retry_rate",
    "repeat_contact_rate",
    "drop_off_step",
    "minutes_to_complete",
    "avg_satisfaction",
    "complaint_rate",
]
_TOUCHPOINT_SHOWN = [
    "journey_type",
    "touchpoint",
    "channel_type",
    "journeys",
    "drop_off_rate",
    "retry_rate",
    "loop_rate",
    "contact_after_rate",
    "friction_journeys",
    "lost_conversions",
    "avg_score",
    "complaint_rate",
]
_PRIORITIES_SHOWN = [
    "rank",
    "journey",
    "customers",
    "journeys",
    "conversion_rate",
    "conversion_ci_low",
    "conversion_ci_high",
    "target_conversion",
    "drop_off_step",
    "avg_satisfaction",
    "satisfaction_gap",
    "effort",
    "fix_effort",
    "opportunity_value",
]


def attribution_shown(r: Any) -> pd.DataFrame:
    """The attribution table as shown (conversions and value credited, rounded)."""
    return r.attribution[[c for c in _ATTRIBUTION_SHOWN if c in r.attribution]].round(2)


def friction_shown(r: Any) -> pd.DataFrame:
    """Friction per journey type, the columns shown."""
    return r.friction[[c for c in _FRICTION_SHOWN if c in r.friction.columns]]


def worst_touchpoints(r: Any, n: int = 10) -> pd.DataFrame:
    """The ``n`` (journey type, touchpoint) pairs with the most lost conversions."""
    return r.friction_by_touchpoint.sort_values("lost_conversions", ascending=False).head(n)


def worst_touchpoints_shown(r: Any) -> pd.DataFrame:
    """:func:`worst_touchpoints`, the columns shown."""
    w = worst_touchpoints(r)
    return w[[c for c in _TOUCHPOINT_SHOWN if c in w.columns]]


def priorities_shown(r: Any) -> pd.DataFrame:
    """The "fix first" table, the columns shown."""
    return r.priorities[_PRIORITIES_SHOWN]


def recommendations_markdown(r: Any) -> str:
    """The recommendations, numbered by rank, and a note on the journey types not shown."""
    text = "\n".join(f"{x.rank}. {x.recommendation}" for x in r.priorities.itertuples())
    if r.suppressed_priorities:
        text += (
            f"\n\n_{r.suppressed_priorities} journey type(s) with fewer than "
            f"{r.min_group_size} customers are not shown._"
        )
    return text


def journey_findings(r: Any) -> list[Finding]:
    """The finding sentences of notebook 05, in the order the report shows them."""
    if r.skipped:
        return []
    j = r.journeys
    out = [
        Finding(
            f"{len(j):,} journeys by {r.n_customers:,} customers up to {r.as_of_date.date()} "
            f"(built from {r.built_from}); {j['converted'].mean():.1%} of journeys end in a "
            "purchase."
        )
    ]
    if len(r.outcomes):
        worse = r.outcomes.iloc[0]
        out.append(
            Finding(
                f"'{worse['touchpoint']}' appears in {worse['abandoned_share']:.1%} of abandoned "
                f"journeys but only {worse['converted_share']:.1%} of converted ones."
            )
        )
    att = r.attribution
    if len(att):
        top = att.iloc[0]
        last_top = att.sort_values("last_touch", ascending=False).iloc[0]
        n_conv = att["markov"].sum()
        out.append(
            Finding(
                f"The Markov model credits '{top['touchpoint']}' with {top['markov']:,.0f} of "
                f"{n_conv:,.0f} purchases ({top['markov'] / n_conv:.1%}); without it "
                f"{top['removal_effect']:.1%} of purchases would be lost. Last-touch would give "
                f"most credit to '{last_top['touchpoint']}' ({last_top['last_touch']:,.0f}).",
                headline=True,
            )
        )
    worst = worst_touchpoints(r)
    if len(worst) and worst["lost_conversions"].iloc[0] > 0:
        w = worst.iloc[0]
        out.append(
            Finding(
                f"The costliest friction is at '{w['touchpoint']}' in '{w['journey_type']}' "
                f"journeys: {w['friction_journeys']:,.0f} of {w['journeys']:,} journeys hit a "
                f"problem there (repeat {w['retry_rate']:.0%}, contact us "
                f"{w['contact_after_rate']:.0%}), costing about {w['lost_conversions']:,.0f} "
                "purchases.",
                headline=True,
            )
        )
    pr = r.priorities
    if len(pr):
        first = pr.iloc[0]
        total = pr["opportunity_value"].sum()
        worth = (
            f"{r.currency}{first['opportunity_value']:,.0f}"
            if r.value_known
            else f"{first['extra_conversions']:,.0f} more converting customers"
        )
        out.append(
            Finding(
                f"Fix first: '{first['journey']}' journeys ({first['customers']:,} customers) "
                f"convert at {first['conversion_rate']:.1%} against "
                f"{first['target_conversion']:.1%} when smooth; closing the gap is worth about "
                f"{worth}, {first['opportunity_value'] / total:.0%} of the opportunity across all "
                "journey types.",
                headline=True,
                impact=float(first["opportunity_value"]),
            )
        )
        out += [Finding(f"Rank {x.rank}: {x.recommendation}") for x in pr.head(5).itertuples()]
    return out
