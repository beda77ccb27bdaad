"""Customer journeys: build them from events, map them, attribute conversions, find friction,
and rank what to fix first (notebook 05).

Definitions (see ``docs/journeys.md``):

* **Journey**: the events sharing a ``journey_id`` when the events carry one; otherwise a
  session of one customer's events with no gap longer than ``session_gap_minutes`` (default: at
  the valley of the data's inter-event gaps, ``_gaps``). Either way a journey ends at a
  conversion (an event whose touchpoint is ``conversion_touchpoint``): the next non-conversion
  event starts a new journey.
* **Step**: one event, or (``collapse_repeats=True``) a run of consecutive events at the same
  touchpoint; ``repeats`` counts the events of the run. A collapsed run is never friction.
* **Journey type**: what the journey is for: with ``type_map``, the type of its first mapped
  step; otherwise its first step that is neither an ``entry_touchpoints`` page (home/landing by
  default) nor the conversion. Works on a plain clickstream.
* **Channel type**: digital / human by exact name (``channel_types``, then the built-in names),
  on the touchpoint and its usual channel; others are ``unknown`` and listed in the report.
* **Friction signals** at a step, judged by what the customer does right after it: a *retry*
  (the same touchpoint again, back to back; only with ``collapse_repeats=False``), a *loop*
  (going back to a touchpoint visited earlier in the journey) or a *repeat contact* (a human
  contact that is not a store visit, within ``contact_window_minutes`` after a digital step of
  the same journey). A journey's *friction step* is its earliest step with a signal.
* **Opportunity**: ``journeys x (target - current conversion)`` in conversions, times the value
  per conversion in money, each with a 95% interval. The default target of a journey type is its
  *smooth-step benchmark*: for each touchpoint, the journeys whose first friction is there are
  assumed to convert like the journeys that reached the same touchpoint without friction so far,
  where the friction is associated with clearly lower conversion (Benjamini-Hochberg adjusted
  tests); the conversions so recovered, divided by the type's journeys, are added to its current
  conversion rate.

Entry point: :func:`run_journeys` (load -> run -> show -> export). The building blocks are
public too; the work is done in private modules: ``_build`` (journeys from events, in the
backend), ``_gaps`` (the session gap from the data), ``_map`` (paths, transitions, flows,
funnels), ``_attribution`` (first/last touch, linear, Markov), ``_friction`` (feedback,
friction, opportunity), ``_prioritise`` (the "fix first" table), ``_exports`` (export files),
``_report`` (sentences and display tables), ``_run`` (:func:`run_journeys`,
:class:`JourneyResult`).
"""

from cxlib.journey._attribution import MarkovAttribution, attribution_table
from cxlib.journey._build import (
    DEFAULT_CHANNEL_TYPES,
    DEFAULT_ENTRY_TOUCHPOINTS,
    VISIT_CHANNELS,
    JourneyData,
    build_journeys,
    touchpoint_channel_types,
)
from cxlib.journey._exports import (
    ATTRIBUTION_EXPORT_COLUMNS,
    PRIORITY_EXPORT_COLUMNS,
    attribution_export,
    priorities_export,
)
from cxlib.journey._friction import (
    friction_by_touchpoint,
    friction_by_type,
    link_feedback,
    opportunity,
)
from cxlib.journey._map import (
    compare_outcomes,
    flow_table,
    funnel,
    funnel_steps,
    outcome_summary,
    top_paths,
    transition_matrix,
)
from cxlib.journey._prioritise import prioritise
from cxlib.journey._run import JourneyResult, run_journeys

__all__ = [
    "ATTRIBUTION_EXPORT_COLUMNS",
    "DEFAULT_CHANNEL_TYPES",
    "DEFAULT_ENTRY_TOUCHPOINTS",
    "PRIORITY_EXPORT_COLUMNS",
    "VISIT_CHANNELS",
    "JourneyData",
    "JourneyResult",
    "MarkovAttribution",
    "attribution_export",
    "attribution_table",
    "build_journeys",
    "compare_outcomes",
    "flow_table",
    "friction_by_touchpoint",
    "friction_by_type",
    "funnel",
    "funnel_steps",
    "link_feedback",
    "opportunity",
    "outcome_summary",
    "priorities_export",
    "prioritise",
    "run_journeys",
    "top_paths",
    "touchpoint_channel_types",
    "transition_matrix",
]
