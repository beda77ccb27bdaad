"""The ranked "fix first" table of journey types."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cxlib.journey._build import JourneyData
from cxlib.journey._friction import friction_by_type, opportunity, value_known
from cxlib.journey._report import _recommend


def prioritise(
    jd: JourneyData,
    feedback: pd.DataFrame | None = None,
    *,
    target_conversion: float | Mapping[str, float] | None = None,
    value_per_conversion: float | Mapping[str, float] | None = None,
    min_group_size: int = 10,
    fix_effort: Mapping[str, str] | None = None,
    currency: str = "",
) -> pd.DataFrame:
    """Ranked "fix first" table, one row per journey type (see :func:`prioritised`)."""
    return prioritised(
        jd,
        feedback,
        target_conversion=target_conversion,
        value_per_conversion=value_per_conversion,
        min_group_size=min_group_size,
        fix_effort=fix_effort,
        currency=currency,
    )[0]


def prioritised(
    jd: JourneyData,
    feedback: pd.DataFrame | None = None,
    *,
    target_conversion: float | Mapping[str, float] | None = None,
    value_per_conversion: float | Mapping[str, float] | None = None,
    min_group_size: int = 10,
    fix_effort: Mapping[str, str] | None = None,
    currency: str = "",
) -> tuple[pd.DataFrame, int]:
    """Ranked "fix first" table, one row per journey type, and the number of journey types
    suppressed.

    Columns: rank, journey, customers, journeys, conversion_rate (with Wilson 95% CI),
    target_conversion, drop_off_step, avg_satisfaction, satisfaction_gap (overall mean score
    minus the type's; positive = less satisfied than average), effort (customer effort: steps
    plus assisted contacts per journey), fix_effort (from ``fix_effort`` when given),
    extra_conversions (journeys x conversion gap) and opportunity_value (times the value per
    conversion), each with its 95% interval, stands_out (a positive opportunity whose interval
    excludes zero), main friction and a plain-language recommendation. Journey types that stand
    out come first, each group by opportunity.
    Journey types under ``min_group_size`` customers are suppressed (their number is returned
    beside the table).
    """
    from statsmodels.stats.proportion import proportion_confint

    from cxlib.privacy import suppress_small_groups

    opp = opportunity(
        jd, target_conversion=target_conversion, value_per_conversion=value_per_conversion
    )
    fr = friction_by_type(jd, feedback).set_index("journey")
    out = opp.set_index("journey")
    lo, hi = proportion_confint(out["conversions"], out["journeys"], method="wilson")
    out["conversion_ci_low"], out["conversion_ci_high"] = lo, hi
    for c in (
        "drop_off_step",
        "avg_steps",
        "contacts_per_journey",
        "avg_satisfaction",
        "complaint_rate",
        "friction_rate",
        "repeat_contact_rate",
        "loop_rate",
        "retry_rate",
    ):
        out[c] = fr[c] if c in fr else np.nan
    if "avg_satisfaction" in fr and feedback is not None and len(feedback):
        overall = float(feedback.loc[feedback["journey_type"].notna(), "score"].mean())
        out["satisfaction_gap"] = overall - out["avg_satisfaction"]
    else:
        out["satisfaction_gap"] = np.nan
    out["effort"] = out["avg_steps"] + out["contacts_per_journey"]
    out["fix_effort"] = [(fix_effort or {}).get(k, "not assessed") for k in out.index]
    out = out.reset_index()
    shown = suppress_small_groups(out, "customers", min_group_size)
    out = shown.frame
    out = out.sort_values(
        ["stands_out", "opportunity_value", "journeys"], ascending=False, kind="stable"
    )
    out["rank"] = np.arange(1, len(out) + 1)
    known = value_known(jd, value_per_conversion)
    out["recommendation"] = [
        _recommend(row, currency, known) for row in out.itertuples(index=False)
    ]
    cols = [
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
        "complaint_rate",
        "effort",
        "fix_effort",
        "extra_conversions",
        "extra_conversions_ci_low",
        "extra_conversions_ci_high",
        "value_per_conversion",
        "opportunity_value",
        "opportunity_ci_low",
        "opportunity_ci_high",
        "stands_out",
        "main_friction_touchpoint",
        "main_friction_kind",
        "friction_rate",
        "recommendation",
    ]
    return out[cols].reset_index(drop=True), shown.hidden
