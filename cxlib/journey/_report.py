"""Presentation of the journey question: recommendation and finding sentences."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from cxlib.report import Finding, people_table

_KIND_TEXT = {
    "retry": "customers repeat the step (it fails or stalls)",
    "loop": "customers go round in circles",
    "contact": "customers contact us soon after",
}


def _worth(row: Any, currency: str, value_known: bool) -> str:
    """The opportunity of a prioritised row in conversions and (value known) money, with its
    95% interval."""
    conv = (
        f"about {row.extra_conversions:,.0f} more conversions (95% interval "
        f"{row.extra_conversions_ci_low:,.0f} to {row.extra_conversions_ci_high:,.0f})"
    )
    if not value_known:
        return conv
    return (
        f"{conv}, worth about {currency}{row.opportunity_value:,.0f} ({currency}"
        f"{row.opportunity_ci_low:,.0f} to {currency}{row.opportunity_ci_high:,.0f})"
    )


def _recommend(row: Any, currency: str = "", value_known: bool = True) -> str:
    """One plain-language recommendation for a prioritised journey type."""
    conv = f"{row.conversion_rate:.1%}"
    if not row.stands_out:
        return (
            f"Monitor: '{row.journey}' journeys convert at {conv}; no friction in them is "
            "clearly associated with lower conversion, so nothing here stands out to fix."
        )
    kind = row.main_friction_kind if isinstance(row.main_friction_kind, str) else ""
    where = row.main_friction_touchpoint if isinstance(row.main_friction_touchpoint, str) else ""
    what = _KIND_TEXT.get(kind, "customers drop out")
    sat = ""
    if pd.notna(row.satisfaction_gap) and row.satisfaction_gap > 0.3:
        sat = f" Satisfaction is {row.satisfaction_gap:.1f} points below average."
    step = f" at '{where}'" if where else f" at '{row.drop_off_step}'"
    return (
        f"Fix '{row.journey}' journeys{step}: {what}, which is associated with lower conversion. "
        f"Bringing conversion from {conv} to {row.target_conversion:.1%} would add "
        f"{_worth(row, currency, value_known)}.{sat}"
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


def built_from(params: Mapping[str, Any]) -> str:
    """How the journeys were cut (from a build's ``JourneyData.params``): from journey ids, or
    sessions with a gap set, chosen from the data, or the fallback."""
    if params["used_journey_id"]:
        return "the journey ids in the data"
    minutes = params["session_gap_minutes"]
    hours = f" (about {minutes / 60:,.0f} hours)" if minutes >= 120 else ""
    text = f"sessions with no gap longer than {minutes:,.0f} minutes{hours}"
    gap = params.get("session_gap")
    if gap is None:
        return f"{text} (as set)"
    if not gap.from_data:
        return (
            f"{text} (the usual web-session gap: the gaps between a customer's events show no "
            "clear valley between steps of a visit and separate visits)"
        )
    return (
        f"{text}, chosen from the data: {gap.share_below:.0%} of the gaps between a customer's "
        "consecutive events are shorter (steps of one visit) and the rest much longer (separate "
        "visits), with fewest gaps in between"
    )


def overview_markdown(r: Any) -> str:
    """The line above the touchpoint table: journeys, customers, how built, conversion."""
    j = r.journeys
    return (
        f"**{len(j):,} journeys** by **{r.n_customers:,} customers**, built from {r.built_from}; "
        f"{j['converted'].mean():.1%} end in a conversion. Touchpoints and their channel type"
        f"{untyped_note(r)}:"
    )


def untyped_note(r: Any) -> str:
    """The touchpoints no channel-type rule named (none: empty)."""
    t = r.touchpoint_types
    unknown = sorted(str(x) for x in t.index[t == "unknown"])
    if not unknown:
        return ""
    shown = ", ".join(f"'{x}'" for x in unknown[:12]) + (" …" if len(unknown) > 12 else "")
    return (
        f" ({len(unknown)} touchpoint(s) could not be typed digital or human and count as "
        f"digital: {shown}; set `journeys.channel_types` to type them)"
    )


def touchpoint_table(r: Any) -> pd.DataFrame:
    """Touchpoints and their channel type."""
    t = r.touchpoint_types
    return pd.DataFrame({"Touchpoint": t.index.astype(str), "Channel type": t.to_numpy()})


def paths_table(r: Any) -> pd.DataFrame:
    """The most common paths with share and conversion rate as percentages."""
    return people_table(
        r.paths,
        {
            "path": ("Path", "text"),
            "journeys": ("Journeys", "count"),
            "customers": ("Customers", "count"),
            "share": ("Share of journeys", "percent"),
            "conversions": ("Conversions", "count"),
            "conversion_rate": ("Conversion", "percent"),
        },
    )


def outcome_summary_table(r: Any) -> pd.DataFrame:
    """Converted vs abandoned journeys: steps, minutes and shares with friction, as shown."""
    o = r.outcome_summary.assign(outcome=lambda d: d["outcome"].str.capitalize())
    return people_table(
        o,
        {
            "outcome": ("Journeys that", "text"),
            "journeys": ("Journeys", "count"),
            "avg_steps": ("Steps (average)", "number"),
            "median_minutes": ("Minutes (median)", "number"),
            "loop_share": ("With a loop", "percent"),
            "retry_share": ("With a retry", "percent"),
            "repeat_contact_share": ("With a repeat contact", "percent"),
            "friction_share": ("With any friction", "percent"),
        },
    )


def attribution_shown(r: Any) -> pd.DataFrame:
    """The attribution table as shown: conversions credited by each model, the Markov
    interval, the removal effect and the value credited."""
    return people_table(
        r.attribution,
        {
            "touchpoint": ("Touchpoint", "text"),
            "first_touch": ("First touch", "number"),
            "last_touch": ("Last touch", "number"),
            "linear": ("Linear", "number"),
            "markov": ("Markov", "number"),
            "markov_ci_low": ("Markov, 95% interval from", "number"),
            "markov_ci_high": ("Markov, 95% interval to", "number"),
            "removal_effect": ("Conversions lost without it", "percent"),
            "markov_value": ("Value credited (Markov)", "money"),
        },
        currency=r.currency,
    )


def friction_shown(r: Any) -> pd.DataFrame:
    """Friction per journey type, as shown."""
    return people_table(
        r.friction,
        {
            "journey": ("Journey", "text"),
            "customers": ("Customers", "count"),
            "journeys": ("Journeys", "count"),
            "conversion_rate": ("Conversion", "percent"),
            "loop_rate": ("Loops", "percent"),
            "retry_rate": ("Retries", "percent"),
            "repeat_contact_rate": ("Repeat contacts", "percent"),
            "drop_off_step": ("Most common last step when abandoned", "text"),
            "minutes_to_complete": ("Minutes to complete (median)", "number"),
            "avg_satisfaction": ("Satisfaction (average)", "number"),
            "complaint_rate": ("Complaints", "percent"),
        },
    )


def worst_touchpoints(r: Any, n: int = 10) -> pd.DataFrame:
    """The ``n`` (journey type, touchpoint) pairs with the most lost conversions."""
    return r.friction_by_touchpoint.sort_values("lost_conversions", ascending=False).head(n)


def worst_touchpoints_shown(r: Any) -> pd.DataFrame:
    """:func:`worst_touchpoints`, as shown."""
    return people_table(
        worst_touchpoints(r),
        {
            "journey_type": ("Journey", "text"),
            "touchpoint": ("Touchpoint", "text"),
            "channel_type": ("Channel type", "text"),
            "journeys": ("Journeys", "count"),
            "drop_off_rate": ("Drop-off", "percent"),
            "retry_rate": ("Retries", "percent"),
            "loop_rate": ("Loops", "percent"),
            "contact_after_rate": ("Contact after it", "percent"),
            "friction_journeys": ("Journeys with friction here", "count"),
            "lost_conversions": ("Conversions lost", "number"),
            "avg_score": ("Satisfaction (average)", "number"),
            "complaint_rate": ("Complaints", "percent"),
        },
    )


def priorities_shown(r: Any) -> pd.DataFrame:
    """The "fix first" table, as shown."""
    return people_table(
        r.priorities,
        {
            "rank": ("Rank", "count"),
            "journey": ("Journey", "text"),
            "customers": ("Customers", "count"),
            "journeys": ("Journeys", "count"),
            "conversion_rate": ("Conversion", "percent"),
            "conversion_ci_low": ("Conversion, 95% interval from", "percent"),
            "conversion_ci_high": ("Conversion, 95% interval to", "percent"),
            "target_conversion": ("Benchmark conversion", "percent"),
            "drop_off_step": ("Most common last step when abandoned", "text"),
            "avg_satisfaction": ("Satisfaction (average)", "number"),
            "satisfaction_gap": ("Satisfaction gap", "number"),
            "effort": ("Effort score", "number"),
            "fix_effort": ("Fix effort", "text"),
            "extra_conversions": ("Extra conversions", "number"),
            "opportunity_value": ("Opportunity", "money"),
        },
        currency=r.currency,
    )


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
            "conversion."
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
                f"{n_conv:,.0f} conversions ({top['markov'] / n_conv:.1%}); without it "
                f"{top['removal_effect']:.1%} of conversions would be lost. Last-touch would give "
                f"most credit to '{last_top['touchpoint']}' ({last_top['last_touch']:,.0f}).",
                headline=True,
            )
        )
    worst = worst_touchpoints(r)
    if len(worst) and worst["lost_conversions"].iloc[0] > 0:
        w = worst.iloc[0]
        out.append(
            Finding(
                f"The friction most associated with lower conversion is at '{w['touchpoint']}' "
                f"in '{w['journey_type']}' journeys: {w['friction_journeys']:,.0f} of "
                f"{w['journeys']:,} journeys hit a problem there "
                f"({_KIND_TEXT.get(w['friction_kind'], 'customers drop out')}) and they convert "
                "less than those "
                f"that pass it smoothly, about {w['lost_conversions']:,.0f} fewer conversions.",
                headline=True,
            )
        )
    out += _fix_first_findings(r)
    return out


def _fix_first_findings(r: Any) -> list[Finding]:
    """The "fix first" headline (or that nothing stands out) and the ranked recommendations."""
    pr = r.priorities
    if not len(pr):
        return []
    first = pr.iloc[0]
    if not bool(first["stands_out"]):
        return [
            Finding(
                f"No journey type stands out: in none of the {len(pr):,} journey types shown is "
                "friction clearly associated with lower conversion, so there is no journey to "
                "fix first.",
                headline=True,
            )
        ]
    worth = _worth(first, r.currency, r.value_known)
    total = pr.loc[pr["stands_out"], "opportunity_value"].sum()
    return [
        Finding(
            f"Fix first: '{first['journey']}' journeys ({first['journeys']:,} journeys) "
            f"convert at {first['conversion_rate']:.1%} against "
            f"{first['target_conversion']:.1%} when smooth; closing the gap would add {worth}, "
            f"{first['opportunity_value'] / total:.0%} of the opportunity across the journey "
            "types that stand out.",
            headline=True,
            impact=float(first["opportunity_value"]),
        )
    ] + [Finding(f"Rank {x.rank}: {x.recommendation}") for x in pr.head(5).itertuples()]
