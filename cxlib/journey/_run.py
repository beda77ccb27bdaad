"""The journey question end to end: :func:`run_journeys` and its :class:`JourneyResult`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cxlib.engine import Engine, analysis_day, data_end, is_table
from cxlib.journey import _report
from cxlib.journey._attribution import attribution_table
from cxlib.journey._build import build_journeys
from cxlib.journey._exports import attribution_export, priorities_export
from cxlib.journey._friction import (
    friction_by_touchpoint,
    friction_by_type,
    link_feedback,
    value_known,
)
from cxlib.journey._map import (
    compare_outcomes,
    flow_table,
    funnel,
    outcome_summary,
    top_paths,
    transition_matrix,
)
from cxlib.journey._prioritise import prioritised
from cxlib.privacy import suppress_small_groups
from cxlib.report import Finding
from cxlib.result import QuestionResult

log = logging.getLogger(__name__)

#: Options of cx.yml's ``journeys:`` block read by :func:`run_journeys` (the block's notebook
#: parameters arrive as keyword arguments), plus the top-level ``currency``.
OPTION_KEYS = (
    "channel_types",
    "contact_touchpoints",
    "contact_window_minutes",
    "type_map",
    "entry_touchpoints",
    "fix_effort",
    "currency",
)
_PARAM_KEYS = (
    "conversion_touchpoint",
    "session_gap_minutes",
    "collapse_repeats",
    "markov_order",
    "target_conversion",
    "value_per_conversion",
)


@dataclass
class JourneyResult(QuestionResult):
    """The journeys of a run: the tables notebook 05 shows, its findings and its exports.

    Every table is a pandas frame (computed before the engine closed). Tables of groups are
    already suppressed below ``min_group_size`` customers where notebook 05 suppresses them
    (paths, attribution, friction per type and per touchpoint, priorities); the number of
    groups hidden is ``suppressed_priorities`` for the priorities and ``suppressed_groups``
    (table name -> count) for the others.
    """

    as_of_date: pd.Timestamp | None = None
    min_group_size: int = 10
    currency: str = ""
    status_note: str | None = None
    skip_reason: str | None = None
    journeys: pd.DataFrame | None = None
    touchpoint_types: pd.Series | None = None
    built_from: str = ""
    n_customers: int = 0
    paths: pd.DataFrame | None = None
    transitions: pd.DataFrame | None = None
    flow: pd.DataFrame | None = None
    funnels: dict[str, pd.DataFrame] = field(default_factory=dict)
    outcome_summary: pd.DataFrame | None = None
    outcomes: pd.DataFrame | None = None
    attribution: pd.DataFrame | None = None
    friction: pd.DataFrame | None = None
    friction_by_touchpoint: pd.DataFrame | None = None
    priorities: pd.DataFrame | None = None
    suppressed_priorities: int = 0
    suppressed_groups: dict[str, int] = field(default_factory=dict)
    value_known: bool = True

    @property
    def skipped(self) -> bool:
        """True when there is nothing to show (no events, or too few customers)."""
        return self.status_note is not None

    # -- the question's shape -----------------------------------------------------------------
    def findings(self) -> list[Finding]:
        """The finding sentences (three headlines: attribution, friction, fix first)."""
        return _report.journey_findings(self)

    def exports(self) -> dict[str, pd.DataFrame]:
        """``attribution.csv`` and ``journey_priorities.csv`` (see docs/outputs.md)."""
        if self.skipped:
            return {}
        return {
            "attribution.csv": attribution_export(self.attribution),
            "journey_priorities.csv": priorities_export(self.priorities),
        }

    # -- display tables -----------------------------------------------------------------------
    def overview(self) -> str:
        """Markdown line: journeys, customers, how they were built, conversion."""
        return _report.overview_markdown(self)

    def touchpoint_table(self) -> pd.DataFrame:
        """Touchpoints and their channel type."""
        return _report.touchpoint_table(self)

    def paths_table(self) -> pd.DataFrame:
        """The most common paths, shares as percentages."""
        return _report.paths_table(self)

    def outcome_table(self) -> pd.DataFrame:
        """Converted vs abandoned journeys, as shown."""
        return _report.outcome_summary_table(self)

    def attribution_shown(self) -> pd.DataFrame:
        """Credit per touchpoint and model, rounded."""
        return _report.attribution_shown(self)

    def friction_shown(self) -> pd.DataFrame:
        """Friction per journey type, the columns shown."""
        return _report.friction_shown(self)

    def worst_touchpoints(self) -> pd.DataFrame:
        """The ten (journey type, touchpoint) pairs with the most lost conversions."""
        return _report.worst_touchpoints_shown(self)

    def priorities_shown(self) -> pd.DataFrame:
        """The "fix first" table, the columns shown."""
        return _report.priorities_shown(self)

    def recommendations(self) -> str:
        """Markdown: the recommendations by rank (and the journey types not shown)."""
        return _report.recommendations_markdown(self)


def _tables(data: Any) -> Mapping[str, Any]:
    return data.tables if hasattr(data, "tables") else dict(data)


def _has(data: Any, name: str) -> bool:
    if hasattr(data, "has"):
        return bool(data.has(name))
    t = _tables(data).get(name)
    return t is not None and (is_table(t) or len(t) > 0)


def _options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(OPTION_KEYS) - set(_PARAM_KEYS))
    if unknown:
        log.warning("run_journeys: options not used: %s", ", ".join(unknown))
    return opts


def run_journeys(
    data: Any,
    *,
    as_of_date: Any = None,
    options: Mapping[str, Any] | None = None,
    conversion_touchpoint: str = "purchase",
    session_gap_minutes: float | None = None,
    collapse_repeats: bool = True,
    markov_order: int = 1,
    target_conversion: float | Mapping[str, float] | None = None,
    value_per_conversion: float | Mapping[str, float] | None = None,
    min_group_size: int = 10,
    seed: int | None = 42,
    n_boot: int = 200,
    engine: Engine | None = None,
) -> JourneyResult:
    """Journeys, their map, attribution, friction and the "fix first" ranking (notebook 05).

    Parameters
    ----------
    data : SourceData or mapping
        The tables (``events``; optional ``feedback``), e.g. from
        :func:`cxlib.contract.load_source` with ``lazy=("events",)``.
    as_of_date : date-like, optional
        Analysis date: only events before the end of that day count. Default: the data's
        ``as_of_date`` (none: every event).
    options : mapping, optional
        cx.yml's ``journeys:`` block and the top-level ``currency``: ``channel_types``,
        ``contact_touchpoints``, ``contact_window_minutes``, ``type_map``,
        ``entry_touchpoints``, ``fix_effort``,
        ``currency`` (see docs/journeys.md). The block's notebook parameters are the keyword
        arguments below.
    conversion_touchpoint, session_gap_minutes, collapse_repeats : see :func:`build_journeys`
    markov_order : int
        Order of the Markov attribution.
    target_conversion, value_per_conversion : see :func:`opportunity`
    min_group_size : int
        Groups (paths, touchpoints, journey types) of fewer customers are not shown; with fewer
        customers in all, the run is skipped.
    seed : int
        Seed of the attribution bootstrap.
    n_boot : int
        Bootstrap resamples of the Markov attribution.
    engine : Engine, optional
        Engine to build the journeys on (default: one for this call, closed before returning).

    Returns
    -------
    JourneyResult
    """
    opts = _options(options)
    if as_of_date is None:
        as_of_date = getattr(data, "as_of_date", None)
    if as_of_date is not None:
        as_of_date = analysis_day(as_of_date)
    currency = str(opts.get("currency") or "")
    base = {"as_of_date": as_of_date, "min_group_size": min_group_size, "currency": currency}
    if not _has(data, "events"):
        return JourneyResult(
            **base, status_note=_report.NO_EVENTS_NOTE, skip_reason=_report.NO_EVENTS_REASON
        )
    tables = _tables(data)
    events = tables["events"]
    feedback = tables.get("feedback") if _has(data, "feedback") else None
    if feedback is not None and is_table(feedback):
        feedback = feedback.to_pandas()
    own = engine is None
    if engine is None:
        engine = Engine(events.get_backend()) if is_table(events) else Engine()
    try:
        ev = engine.table(events)
        if as_of_date is not None:
            ev = ev.filter(ev["timestamp"] < data_end(as_of_date))
        return _run(
            ev,
            feedback,
            engine,
            base,
            opts,
            conversion_touchpoint=conversion_touchpoint,
            session_gap_minutes=session_gap_minutes,
            collapse_repeats=collapse_repeats,
            markov_order=markov_order,
            target_conversion=target_conversion,
            value_per_conversion=value_per_conversion,
            seed=seed,
            n_boot=n_boot,
        )
    finally:
        if own:
            engine.close()


def _run(
    ev: Any,
    feedback: pd.DataFrame | None,
    engine: Engine,
    base: dict[str, Any],
    opts: Mapping[str, Any],
    **kw: Any,
) -> JourneyResult:
    """:func:`run_journeys` once the events are a backend table cut at the analysis date."""
    mgs = base["min_group_size"]
    skipped = JourneyResult(
        **base,
        status_note=_report.few_customers_note(mgs),
        skip_reason=_report.few_customers_reason(mgs),
    )
    try:
        jd = build_journeys(
            ev,
            conversion_touchpoint=kw["conversion_touchpoint"],
            session_gap_minutes=kw["session_gap_minutes"],
            collapse_repeats=kw["collapse_repeats"],
            channel_types=opts.get("channel_types"),
            contact_touchpoints=opts.get("contact_touchpoints"),
            contact_window_minutes=opts.get("contact_window_minutes", 60),
            type_map=opts.get("type_map"),
            entry_touchpoints=opts.get("entry_touchpoints"),
            engine=engine,
        )
    except ValueError as exc:  # no event up to the analysis date
        if "no rows" not in str(exc):
            raise
        return skipped
    j = jd.journeys
    n_customers = int(j["customer_id"].nunique())
    if n_customers < mgs:
        return skipped
    if base["as_of_date"] is None:
        base = {**base, "as_of_date": analysis_day(j["end"].max())}
    fb = link_feedback(jd, feedback) if feedback is not None else None
    attribution = attribution_table(
        jd, markov_order=kw["markov_order"], n_boot=kw["n_boot"], random_state=kw["seed"]
    )
    priorities, suppressed = prioritised(
        jd,
        fb,
        target_conversion=kw["target_conversion"],
        value_per_conversion=kw["value_per_conversion"],
        min_group_size=mgs,
        fix_effort=opts.get("fix_effort"),
        currency=base["currency"],
    )
    main_types = j["journey_type"].astype(str).value_counts().head(3).index.tolist()
    shown = {
        "paths": suppress_small_groups(top_paths(jd, 15), "customers", mgs),
        "attribution": suppress_small_groups(attribution, "customers", mgs),
        "friction": suppress_small_groups(friction_by_type(jd, fb), "customers", mgs),
        "friction_by_touchpoint": suppress_small_groups(
            friction_by_touchpoint(jd, fb), "customers", mgs
        ),
    }
    return JourneyResult(
        **base,
        journeys=j,
        touchpoint_types=jd.touchpoint_types,
        built_from=_report.built_from(jd.params),
        n_customers=n_customers,
        paths=shown["paths"].frame,
        transitions=transition_matrix(jd, min_share=0.01),
        flow=flow_table(jd, max_steps=4, top_n=5),
        funnels={t: funnel(jd, t) for t in main_types},
        outcome_summary=outcome_summary(jd),
        outcomes=compare_outcomes(jd, min_journeys=mgs),
        attribution=shown["attribution"].frame,
        friction=shown["friction"].frame,
        friction_by_touchpoint=shown["friction_by_touchpoint"].frame,
        suppressed_groups={name: s.hidden for name, s in shown.items()},
        priorities=priorities,
        suppressed_priorities=suppressed,
        value_known=value_known(jd, kw["value_per_conversion"]),
    )
