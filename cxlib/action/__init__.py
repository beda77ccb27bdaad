"""Next best action: whom to contact this week, with what, through which channel (notebook 06).

The question joins the series' answers — segment, churn risk and value at risk, P(alive), the
campaign's uplift, category affinity and consent — into one consent-aware contact plan under a
budget (``docs/next-best-action.md``).
"""

from __future__ import annotations

from cxlib.action._touchpoints import (
    DEFAULT_TOUCHPOINT_ROLES,
    ROLES,
    TouchpointFunnel,
    campaign_funnel,
    recent_contacts,
    roles_of_touchpoints,
)

__all__ = [
    "DEFAULT_TOUCHPOINT_ROLES",
    "ROLES",
    "TouchpointFunnel",
    "campaign_funnel",
    "recent_contacts",
    "roles_of_touchpoints",
]
