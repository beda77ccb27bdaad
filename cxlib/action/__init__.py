"""Next best action: whom to contact this week, with what, through which channel (notebook 06).

The question joins the series' answers — segment, churn risk and value at risk, P(alive), the
campaign's uplift, category affinity and consent — into one consent-aware contact plan under a
budget (``docs/next-best-action.md``). Private modules:

- ``_facts`` — the customer facts the rules read, each from the analysis that answers it;
- ``_categories`` — the category of every purchase (its own, or its product's);
- ``_affinity`` — categories bought together (association rules on baskets);
- ``_category_history``, ``_crosssell``, ``_crosssell_scorers``, ``_crosssell_eval`` — the
  next-category recommenders and their out-of-time evaluation; ``_upsell`` — up-sell;
- ``_touchpoints`` — the campaign touchpoint funnel and contact pressure;
- ``_rules``, ``_catalogue`` — the offer catalogue (``actions.yml``) and its rule language;
- ``_decide``, ``_assign`` — the decision: an assignment with capacities, exact or greedy;
- ``_run`` — :func:`run_action` and :class:`ActionResult`; ``_report`` — sentences and tables.
"""

from __future__ import annotations

from cxlib.action._affinity import AffinityRules, category_affinity, top_pairs
from cxlib.action._catalogue import Catalogue, load_catalogue, parse_catalogue
from cxlib.action._categories import CategorisedPurchases, categorised_purchases
from cxlib.action._crosssell import CANDIDATES, CrossSellModel
from cxlib.action._crosssell_eval import (
    CrossSellEvaluation,
    choose_cross_sell_model,
    evaluate_cross_sell,
)
from cxlib.action._decide import Decision, decide
from cxlib.action._facts import FACT_KINDS, CustomerFacts, customer_facts
from cxlib.action._rules import FACTS
from cxlib.action._run import (
    ActionResult,
    action_options,
    catalogue_path,
    check_catalogue,
    run_action,
)
from cxlib.action._touchpoints import (
    DEFAULT_TOUCHPOINT_ROLES,
    ROLES,
    TouchpointFunnel,
    campaign_funnel,
    recent_contacts,
    roles_of_touchpoints,
)
from cxlib.action._upsell import cross_sell_export, up_sell_candidates

__all__ = [
    "CANDIDATES",
    "DEFAULT_TOUCHPOINT_ROLES",
    "FACTS",
    "FACT_KINDS",
    "ROLES",
    "ActionResult",
    "AffinityRules",
    "Catalogue",
    "CategorisedPurchases",
    "CrossSellEvaluation",
    "CrossSellModel",
    "CustomerFacts",
    "Decision",
    "TouchpointFunnel",
    "action_options",
    "campaign_funnel",
    "catalogue_path",
    "categorised_purchases",
    "category_affinity",
    "check_catalogue",
    "choose_cross_sell_model",
    "cross_sell_export",
    "customer_facts",
    "decide",
    "evaluate_cross_sell",
    "load_catalogue",
    "parse_catalogue",
    "recent_contacts",
    "roles_of_touchpoints",
    "run_action",
    "top_pairs",
    "up_sell_candidates",
]
