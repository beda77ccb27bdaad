"""Customer journeys: build them from events, map them, attribute conversions, find friction,
and rank what to fix first (notebook 05).

Definitions (see ``docs/journeys.md``):

* **Journey**: the events sharing a ``journey_id`` when the events carry one; otherwise a
  session of one customer's events with no gap longer than ``session_gap_minutes``. Either way a
  journey ends at a conversion (an event whose touchpoint is ``conversion_touchpoint``): the next
  non-conversion event starts a new journey.
* **Step**: one event, or (``collapse_repeats=True``) a run of consecutive events at the same
  touchpoint; ``repeats`` counts the events of the run.
* **Journey type**: the journey's entry touchpoint (its first step), or, with ``type_map``, the
  type of the first step whose touchpoint the map names. Works on a plain clickstream.
* **Friction signals** at a step, judged by what the customer does right after it: a *retry*
  (the same touchpoint again, back to back), a *loop* (going back to a touchpoint visited
  earlier in the journey) or a *repeat contact* (an assisted-service contact - call centre,
  chat - within ``contact_window_minutes``, after a digital step of the same journey). A
  journey's *friction step* is its earliest step with a signal.
* **Opportunity**: ``customers x (target - current conversion) x value per conversion``. The
  default target of a journey type is its *smooth-step benchmark*: for each touchpoint, the
  journeys whose first friction is there are assumed to convert like the journeys that reached
  the same touchpoint without friction so far; the conversions so recovered, divided by the
  type's journeys, are added to its current conversion rate.

Entry point: :func:`run_journeys` (load -> run -> show -> export). The building blocks are
public too; the work is done in private modules: ``_build`` (journeys from events, in the
backend), ``_map`` (paths, transitions, flows, funnels), ``_attribution`` (first/last touch,
linear, Markov), ``_friction`` (feedback, friction, opportunity), ``_prioritise`` (the "fix
first" table), ``_exports`` (export files), ``_report`` (sentences and display tables), ``_run``
(:func:`run_journeys`, :class:`JourneyResult`).
"""

from cxlib.journey._attribution import MarkovAttribution, attribution_table
from cxlib.journey._build import (
    DEFAULT_CHANNEL_TYPES,
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
    "PRIORITY_EXPORT_COLUMNS",
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
