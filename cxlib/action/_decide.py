"""The decision of next best action: for each customer at most one action per period, chosen to
maximise expected incremental value under a contact budget and caps.

For every (customer, offer) pair a rule makes eligible (:func:`cxlib.action.eligible_offers`,
evaluated in the backend), the expected incremental value of a contact is::

    expected_value = lift × value_if_taken − cost − opt_out_rate × opt_out_cost

where ``lift`` is the extra probability that the customer takes the offer because of the contact:
the campaign's uplift model's estimate (the offer's ``uplift_fact``, e.g. ``uplift``) when a
comparable campaign was analysed, otherwise the catalogue's ``assumed_take_rate`` — each plan row
says which (``lift_source``: ``uplift model`` or ``assumed``) and :attr:`Decision.assumptions_`
states the assumptions for the report. ``opt_out_rate`` is the offer's, else its channel's
measured rate (``opt_out_rates``), else 0; an opt-out costs ``opt_out_cost`` (lost reach).

Who is never contacted, counted by reason before the solver: customers erased or suppressed
(an ``erased`` or ``suppressed`` column that is True: a list's members), without marketing
consent (``marketing_consent`` False) or whose consent is unknown (missing: never taken as
consent), and customers already at the contact pressure limit (``contacts_this_period`` at
least ``max_contacts_per_customer``). Sleeping dogs (``uplift_group == 'sleeping_dog'``, or a
negative uplift estimate) are never contacted with an offer of a kind whose lift comes from the
campaign. Only pairs of positive value are candidates; leaving a customer alone is worth 0.

The candidates are assigned exactly (``scipy.optimize.milp``: each customer at most one offer,
each offer at most ``max_per_week`` × weeks of the period, each channel at most its cap, at most
``max_contacts`` contacts, total cost within ``budget``), with the greedy rule (by value, by
value per cost, by value net of the caps' shadow prices) as the fallback above a size limit;
where both run the gap between them is reported (:mod:`cxlib.action._assign`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cxlib.action._assign import (
    EXACT_LIMIT,
    TIME_LIMIT_S,
    CountCap,
    solve_assignment,
    total_cost,
)
from cxlib.action._catalogue import (
    Catalogue,
    Offer,
    leave_alone_columns,
    rule_pairs,
)
from cxlib.action._rules import FACTS, OFFER_KINDS, Fact
from cxlib.contract import ContractError
from cxlib.engine import Engine, as_table, coalesce, fetch_frame, literal, row_number

log = logging.getLogger(__name__)

CONTACT = "contact"
"""``action`` of a plan row that sends an offer."""
LEAVE_ALONE = "leave_alone"
"""``action`` of a plan row that sends nothing."""
LIFT_MODEL = "uplift model"
LIFT_ASSUMED = "assumed"
EXCLUSIONS: tuple[str, ...] = (
    "erased",
    "suppressed",
    "no consent",
    "consent unknown",
    "contact pressure",
)
"""Reasons a customer is removed before the solver, in the order they are checked."""
REASONS: tuple[str, ...] = (
    "selected",
    *EXCLUSIONS,
    "no eligible offer",
    "left alone by rule",
    "sleeping dog",
    "nothing worth its cost",
    "budget or cap",
)
"""Every ``reason`` of a plan row: ``selected`` for a contact, the rest for leaving alone."""
PLAN_COLUMNS: list[str] = [
    "customer_id",
    "action",
    "offer_id",
    "kind",
    "channel",
    "expected_value",
    "lift",
    "lift_source",
    "rule_id",
    "reason",
]
_MIN_VALUE = 1e-9  # an expected value above this is positive (not float noise around 0)


@dataclass(frozen=True)
class Decision:
    """The plan and how it was chosen.

    Attributes
    ----------
    plan : DataFrame
        One row per customer (:data:`PLAN_COLUMNS`): ``action`` ``contact`` or ``leave_alone``;
        for a contact the offer, its kind and channel, the expected incremental value, the lift
        and where it comes from; ``rule_id`` the rule that made the offer eligible (for a
        customer left alone: the leave-alone rule, or the rule of the best offer not sent);
        ``reason`` one of :data:`REASONS`.
    value_ : float
        Total expected incremental value of the plan.
    budget_used_ : float
        Total cost of its contacts.
    contacts_ : int
        Customers contacted.
    solver_ : str
        ``exact`` or ``greedy``: the solver whose plan is kept.
    gap_ : float or None
        ``(exact − greedy) / exact`` where both ran, None where only the greedy rule ran.
    exact_value_, greedy_value_ : float or None
        Each solver's value (None: it did not run).
    mip_gap_ : float or None
        The exact solver's bound on its own distance from the optimum.
    left_alone_ : DataFrame
        ``reason``, ``customers``, ``share``: every reason of leaving alone, in
        :data:`REASONS` order.
    offers_ : DataFrame
        Per offer: its cap in the period, pairs eligible, candidates (positive value), contacts,
        their cost and value, and how many contacts' lift comes from the uplift model or is
        assumed.
    n_candidates_ : int
        Pairs the solver chose among.
    assumptions_ : tuple of str
        The assumptions the plan rests on, as sentences for the report.
    seconds_ : float
        Wall time of the decision.
    """

    plan: pd.DataFrame
    value_: float
    budget_used_: float
    contacts_: int
    solver_: str
    gap_: float | None
    exact_value_: float | None
    greedy_value_: float | None
    mip_gap_: float | None
    left_alone_: pd.DataFrame
    offers_: pd.DataFrame
    n_candidates_: int
    assumptions_: tuple[str, ...]
    seconds_: float


def decide(
    facts: Any,
    catalogue: Catalogue,
    *,
    engine: Engine | None = None,
    budget: float | None = None,
    max_contacts: int | None = None,
    channel_caps: Mapping[str, int] | None = None,
    period_days: int = 7,
    opt_out_rates: Mapping[str, float] | None = None,
    max_contacts_per_customer: int | None = None,
    exact_limit: int | None = None,
    time_limit: float | None = None,
    fact_kinds: Mapping[str, Fact | str] = FACTS,
) -> Decision:
    """Choose at most one action per customer for the period.

    Parameters
    ----------
    facts : ibis Table or DataFrame
        One row per customer: ``customer_id``, ``marketing_consent`` (boolean; missing is
        unknown) and the facts the rules name; optional ``suppressed``, ``erased`` (boolean),
        ``contacts_this_period`` (with ``max_contacts_per_customer``), ``uplift_group`` and the
        offers' ``uplift_fact`` columns.
    catalogue : Catalogue
        Offers and rules (:func:`cxlib.action.load_catalogue`).
    engine : Engine, optional
        The run's engine (needed to register a pandas frame; default: one of its own).
    budget : float, optional
        Most total cost of the contacts (None: no budget).
    max_contacts : int, optional
        Most customers contacted in the period.
    channel_caps : mapping, optional
        Channel → most contacts in the period.
    period_days : int, default 7
        Length of the period; an offer's cap is ``max_per_week × period_days / 7`` (rounded
        down).
    opt_out_rates : mapping, optional
        Channel → opt-outs per contact, measured (an offer's own ``opt_out_rate`` wins).
    max_contacts_per_customer : int, optional
        Contact pressure: customers with this many contacts in the period already
        (``contacts_this_period``; missing counts as none) are left alone.
    exact_limit : int, optional
        Size of the exact programme above which only the greedy rule runs (default
        :data:`~cxlib.action._assign.EXACT_LIMIT` variables: candidate pairs, less those of
        customers interchangeable with others).
    time_limit : float, optional
        Seconds the exact solver may take (default :data:`TIME_LIMIT_S`).
    fact_kinds : mapping
        The facts rules may name.

    Returns
    -------
    Decision

    Raises
    ------
    ContractError
        When the facts lack a column a rule or offer names, or hold it with another type.
    ValueError
        For a setting out of range, or a customer twice in the facts.
    """
    start = time.perf_counter()
    _check_settings(budget, max_contacts, channel_caps, period_days, max_contacts_per_customer)
    own = engine is None
    engine = Engine() if own else engine
    try:
        customers, pairs = _evaluate(
            facts, catalogue, engine, max_contacts_per_customer, fact_kinds
        )
    finally:
        if own:
            engine.close()
    p = _pair_values(customers, pairs, catalogue, opt_out_rates or {})
    cand = np.flatnonzero(p["stage"] == 0)
    caps = _caps(catalogue, p["offer"][cand], period_days, channel_caps, max_contacts)
    solved = solve_assignment(
        p["customer"][cand],
        p["value"][cand],
        p["cost"][cand],
        caps=caps,
        budget=budget,
        exact_limit=EXACT_LIMIT if exact_limit is None else exact_limit,
        time_limit=TIME_LIMIT_S if time_limit is None else time_limit,
    )
    chosen = cand[solved.selected]
    plan = _plan(customers, p, chosen, catalogue)
    decision = Decision(
        plan=plan,
        value_=float(p["value"][chosen].sum()),
        budget_used_=total_cost(p["cost"], chosen),
        contacts_=len(chosen),
        solver_=solved.solver,
        gap_=solved.gap,
        exact_value_=solved.exact_value,
        greedy_value_=solved.greedy_value,
        mip_gap_=solved.mip_gap,
        left_alone_=_left_alone(plan),
        offers_=_offers_table(catalogue, p, chosen, period_days),
        n_candidates_=len(cand),
        assumptions_=_assumptions(catalogue, p, chosen),
        seconds_=time.perf_counter() - start,
    )
    log.info(
        "decision: %d of %d customers contacted, value %.2f, cost %.2f, %s solver (gap %s), "
        "%d candidate pairs, %.1f s",
        decision.contacts_,
        len(plan),
        decision.value_,
        decision.budget_used_,
        decision.solver_,
        "n/a" if decision.gap_ is None else f"{decision.gap_:.4%}",
        decision.n_candidates_,
        decision.seconds_,
    )
    return decision


def _check_settings(
    budget: float | None,
    max_contacts: int | None,
    channel_caps: Mapping[str, int] | None,
    period_days: int,
    max_contacts_per_customer: int | None,
) -> None:
    if budget is not None and not budget >= 0:
        raise ValueError(f"budget must be 0 or more, not {budget!r}")
    if period_days is None or not period_days > 0:
        raise ValueError(f"period_days must be positive, not {period_days!r}")
    counts = {"max_contacts": max_contacts, "max_contacts_per_customer": max_contacts_per_customer}
    counts.update({f"channel_caps[{k!r}]": v for k, v in (channel_caps or {}).items()})
    for name, value in counts.items():
        if value is not None and (isinstance(value, bool) or not value >= 0):
            raise ValueError(f"{name} must be 0 or more, not {value!r}")


# ----------------------------------------------------------------------- the backend part


def _evaluate(
    facts: Any,
    catalogue: Catalogue,
    engine: Engine,
    max_pressure: int | None,
    fact_kinds: Mapping[str, Fact | str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customers (position, exclusion, leave-alone rule) and the eligible pairs of the
    contactable ones, evaluated in the backend and fetched."""
    table = as_table(facts, engine)
    _check_columns(table, catalogue, max_pressure)
    marked = engine.keep(
        table.mutate(
            _cx_i=row_number().over(order_by=table.customer_id),
            _cx_exclusion=_exclusion_code(table, max_pressure),
            **leave_alone_columns(table, catalogue, fact_kinds),
        ),
        "cx_action_facts",
    )
    customers = fetch_frame(
        marked.select(
            "customer_id", "_cx_i", "_cx_exclusion", "_cx_block_priority", "_cx_block_rule"
        ).order_by("_cx_i")
    )
    if customers["customer_id"].duplicated().any():
        twice = customers.loc[customers["customer_id"].duplicated(), "customer_id"].iloc[0]
        raise ValueError(f"customer {twice!r} is in the facts twice: one row per customer")
    campaign_kinds = {o.kind for o in catalogue.offers if o.uplift_fact}
    has_groups = "uplift_group" in table.columns

    def carried(t: Any, offer: Offer) -> dict[str, Any]:
        uplift = t[offer.uplift_fact].cast("float64") if offer.uplift_fact else None
        sleeping = None
        if offer.kind in campaign_kinds and has_groups:
            sleeping = coalesce(t.uplift_group == "sleeping_dog", False)
        return {
            "_cx_uplift": literal(None, "float64") if uplift is None else uplift,
            "_cx_sleeping": literal(False) if sleeping is None else sleeping,
        }

    contactable = marked.filter(marked._cx_exclusion == 0)
    pairs = rule_pairs(contactable, catalogue, "_cx_i", carried, fact_kinds)
    frame = pd.DataFrame()
    if pairs is not None:  # in a fixed order: the same facts give the same plan
        frame = fetch_frame(pairs.order_by(["_cx_i", "_cx_offer"]))
    for column in ("_cx_i", "_cx_offer", "_cx_rule", "_cx_priority", "_cx_uplift"):
        if column not in frame.columns:
            frame[column] = pd.Series(dtype="float64")
    if "_cx_sleeping" not in frame.columns:
        frame["_cx_sleeping"] = pd.Series(dtype="bool")
    engine.drop(marked)
    log.info("rules: %d eligible pairs over %d customers", len(frame), len(customers))
    return customers, frame


def _check_columns(table: Any, catalogue: Catalogue, max_pressure: int | None) -> None:
    schema = table.schema()
    needed = {"customer_id": None, "marketing_consent": "boolean"}
    if max_pressure is not None:
        needed["contacts_this_period"] = "numeric"
    for name in ("suppressed", "erased"):
        if name in schema:
            needed[name] = "boolean"
    for name, kind in needed.items():
        if name not in schema:
            raise ContractError(f"the facts table has no column '{name}', which the plan needs")
        ok = kind is None or getattr(schema[name], f"is_{kind}")()
        if not ok:
            raise ContractError(f"facts column '{name}' should be {kind}, not {schema[name]}")
    for offer in catalogue.offers:
        fact = offer.uplift_fact
        if fact is not None and (fact not in schema or not schema[fact].is_numeric()):
            problem = (
                "is not a column of the facts table" if fact not in schema else "is not numeric"
            )
            raise ContractError(
                f"{catalogue.source}, line {offer.line}: offer '{offer.id}': uplift_fact: "
                f"fact '{fact}' {problem}",
                file=catalogue.source,
            )


def _exclusion_code(table: Any, max_pressure: int | None) -> Any:
    """Each customer's position in :data:`EXCLUSIONS` plus one, 0 when contactable."""
    columns = table.columns
    checks = []
    if "erased" in columns:
        checks.append(coalesce(table.erased, False))
    else:
        checks.append(literal(False))
    if "suppressed" in columns:
        checks.append(coalesce(table.suppressed, False))
    else:
        checks.append(literal(False))
    checks.append(coalesce(table.marketing_consent == False, False))  # noqa: E712 - Ibis
    checks.append(table.marketing_consent.isnull())
    if max_pressure is not None:
        checks.append(coalesce(table.contacts_this_period, 0) >= max_pressure)
    else:
        checks.append(literal(False))
    code = literal(0, "int8")
    for position in range(len(checks), 0, -1):
        code = checks[position - 1].ifelse(literal(position, "int8"), code)
    return code


# ----------------------------------------------------------------------- the pairs' values


def _offer_arrays(catalogue: Catalogue, opt_out_rates: Mapping[str, float]) -> dict:
    offers = catalogue.offers
    campaign_kinds = {o.kind for o in offers if o.uplift_fact}

    def rate(o: Offer) -> float:
        return o.opt_out_rate if o.opt_out_rate is not None else opt_out_rates.get(o.channel, 0.0)

    return {
        "cost": np.array([o.cost for o in offers], dtype="float64"),
        "value": np.array([o.value_if_taken for o in offers], dtype="float64"),
        "assumed": np.array([o.assumed_take_rate for o in offers], dtype="float64"),
        "opt_out": np.array([rate(o) * o.opt_out_cost for o in offers], dtype="float64"),
        "model": np.array([o.uplift_fact is not None for o in offers]),
        "campaign": np.array([o.kind in campaign_kinds for o in offers]),
    }


def _pair_values(
    customers: pd.DataFrame,
    pairs: pd.DataFrame,
    catalogue: Catalogue,
    opt_out_rates: Mapping[str, float],
) -> dict[str, np.ndarray]:
    """Per pair: customer, offer, rule, lift and its source, expected value, cost and its
    stage (0 candidate, 1 not worth its cost, 2 sleeping dog, 3 left alone by a rule)."""
    o = _offer_arrays(catalogue, opt_out_rates)
    ci = pairs["_cx_i"].to_numpy(dtype="int64")
    oi = pairs["_cx_offer"].to_numpy(dtype="int64")
    uplift = pairs["_cx_uplift"].to_numpy(dtype="float64", na_value=np.nan)
    from_model = o["model"][oi] & ~np.isnan(uplift)
    lift = np.where(from_model, uplift, o["assumed"][oi])
    value = lift * o["value"][oi] - o["cost"][oi] - o["opt_out"][oi]
    block = customers["_cx_block_priority"].to_numpy(dtype="float64", na_value=np.nan)[ci]
    blocked = ~np.isnan(block) & (pairs["_cx_priority"].to_numpy(dtype="float64") <= block)
    with np.errstate(invalid="ignore"):
        negative = o["model"][oi] & (uplift < 0)
    sleeping = o["campaign"][oi] & (pairs["_cx_sleeping"].to_numpy(dtype="bool") | negative)
    stage = np.select([blocked, sleeping, ~(value > _MIN_VALUE)], [3, 2, 1], default=0).astype(
        "int8"
    )
    return {
        "customer": ci,
        "offer": oi,
        "rule": pairs["_cx_rule"].to_numpy(dtype="int64"),
        "lift": lift,
        "from_model": from_model,
        "value": value,
        "cost": o["cost"][oi],
        "stage": stage,
    }


def _caps(
    catalogue: Catalogue,
    offer: np.ndarray,
    period_days: int,
    channel_caps: Mapping[str, int] | None,
    max_contacts: int | None,
) -> list[CountCap]:
    """The count caps over the candidates: per offer, per channel, in all."""
    weeks = period_days / 7
    per_offer = np.array(
        [
            np.inf if o.max_per_week is None else math.floor(o.max_per_week * weeks + 1e-9)
            for o in catalogue.offers
        ],
        dtype="float64",
    )
    caps = [CountCap(offer, per_offer, "offer")]
    if channel_caps:
        channels = sorted({o.channel for o in catalogue.offers})
        unknown = sorted(set(channel_caps) - set(channels))
        if unknown:
            raise ValueError(
                f"channel_caps names channel {unknown[0]!r}, which no offer uses "
                f"(channels: {', '.join(channels)})"
            )
        of_offer = np.array([channels.index(o.channel) for o in catalogue.offers])
        limits = np.array([channel_caps.get(c, np.inf) for c in channels], dtype="float64")
        caps.append(CountCap(of_offer[offer], limits, "channel"))
    if max_contacts is not None:
        caps.append(CountCap(np.zeros(len(offer), dtype="int64"), np.array([max_contacts]), "all"))
    return caps


# ----------------------------------------------------------------------- the plan


def _plan(
    customers: pd.DataFrame, p: dict[str, np.ndarray], chosen: np.ndarray, catalogue: Catalogue
) -> pd.DataFrame:
    """One row per customer: the chosen pair, or the reason for leaving alone."""
    n = len(customers)
    pick = np.full(n, -1, dtype="int64")  # each customer's contact (a pair), −1: none
    pick[p["customer"][chosen]] = chosen
    reason = customers["_cx_exclusion"].to_numpy(dtype="int64")  # 0 or 1 + exclusion position
    reason = np.where(pick >= 0, 0, reason)
    rule = np.full(n, -1, dtype="int64")
    block_rule = customers["_cx_block_rule"].to_numpy(dtype="float64", na_value=np.nan)
    first = len(EXCLUSIONS) + 1
    todo = (pick < 0) & (reason == 0)  # contactable, not contacted: why?
    reason[todo] = first  # no eligible offer, unless a pair says more
    reference = _reference_pairs(p, n)
    has_ref = todo & (reference >= 0)
    ref = reference[has_ref]
    reason[has_ref] = first + 4 - p["stage"][ref]  # stage 3 → rule, 2 → sleeping dog …
    rule[has_ref] = p["rule"][ref]
    by_block = todo & ~np.isnan(block_rule) & ((reference < 0) | (reason == first + 1))
    reason[by_block] = first + 1
    rule[by_block] = block_rule[by_block].astype("int64")
    contact = pick >= 0
    rule[contact] = p["rule"][pick[contact]]

    def of_contact(values: np.ndarray, missing: Any) -> np.ndarray:
        out = np.full(n, missing, dtype=np.asarray(values).dtype)
        out[contact] = values[pick[contact]]
        return out

    offer = of_contact(p["offer"], -1)
    kinds = np.array([OFFER_KINDS.index(o.kind) for o in catalogue.offers] + [-1])
    channels = sorted({o.channel for o in catalogue.offers})
    channel_of = np.array([channels.index(o.channel) for o in catalogue.offers] + [-1])
    model = of_contact(np.where(p["from_model"], 0, 1), -1)
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(),
            "action": pd.Categorical.from_codes(
                np.where(contact, 0, 1), categories=[CONTACT, LEAVE_ALONE]
            ),
            "offer_id": pd.Categorical.from_codes(offer, [o.id for o in catalogue.offers]),
            "kind": pd.Categorical.from_codes(kinds[offer], OFFER_KINDS),
            "channel": pd.Categorical.from_codes(channel_of[offer], channels),
            "expected_value": of_contact(p["value"], 0.0),
            "lift": of_contact(p["lift"], np.nan),
            "lift_source": pd.Categorical.from_codes(model, [LIFT_MODEL, LIFT_ASSUMED]),
            "rule_id": pd.Categorical.from_codes(rule, [r.id for r in catalogue.rules]),
            "reason": pd.Categorical.from_codes(reason, REASONS),
        }
    )


def _reference_pairs(p: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Per customer, the pair that explains leaving them alone: the best pair of the furthest
    stage their pairs reached (a candidate, then one not worth its cost, a sleeping dog's, one
    a rule blocked); −1 without pairs."""
    out = np.full(n, -1, dtype="int64")
    if len(p["customer"]) == 0:
        return out
    order = np.lexsort((-p["value"], p["stage"], p["customer"]))
    first = np.ones(len(order), dtype=bool)
    first[1:] = p["customer"][order][1:] != p["customer"][order][:-1]
    out[p["customer"][order[first]]] = order[first]
    return out


def _left_alone(plan: pd.DataFrame) -> pd.DataFrame:
    """Customers left alone by reason (every reason, in :data:`REASONS` order)."""
    reasons = list(REASONS[1:])
    counts = plan.loc[plan["action"] == LEAVE_ALONE, "reason"].value_counts()
    customers = counts.reindex(reasons, fill_value=0).to_numpy(dtype="int64")
    return pd.DataFrame(
        {
            "reason": reasons,
            "customers": customers,
            "share": customers / len(plan) if len(plan) else np.zeros(len(reasons)),
        }
    )


def _offers_table(
    catalogue: Catalogue, p: dict[str, np.ndarray], chosen: np.ndarray, period_days: int
) -> pd.DataFrame:
    """Per offer: cap, pairs eligible (not blocked by a rule), candidates, contacts, their cost
    and value and the source of their lift."""
    k = len(catalogue.offers)
    offer = p["offer"]
    picked = offer[chosen]

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(offer[mask], minlength=k)

    weeks = period_days / 7
    return pd.DataFrame(
        {
            "offer_id": [o.id for o in catalogue.offers],
            "kind": [o.kind for o in catalogue.offers],
            "channel": [o.channel for o in catalogue.offers],
            "cap": [
                None if o.max_per_week is None else math.floor(o.max_per_week * weeks + 1e-9)
                for o in catalogue.offers
            ],
            "eligible": count(p["stage"] < 3),
            "candidates": count(p["stage"] == 0),
            "contacts": np.bincount(picked, minlength=k),
            "cost": np.bincount(picked, weights=p["cost"][chosen], minlength=k),
            "expected_value": np.bincount(picked, weights=p["value"][chosen], minlength=k),
            "lift_from_model": np.bincount(picked[p["from_model"][chosen]], minlength=k),
            "lift_assumed": np.bincount(picked[~p["from_model"][chosen]], minlength=k),
            "assumed_take_rate": [o.assumed_take_rate for o in catalogue.offers],
        }
    )


def _assumptions(
    catalogue: Catalogue, p: dict[str, np.ndarray], chosen: np.ndarray
) -> tuple[str, ...]:
    """Sentences for the report: which offers' lift is an assumption, and for how many."""
    out = []
    picked = p["offer"][chosen]
    assumed = ~p["from_model"][chosen]
    for i, o in enumerate(catalogue.offers):
        n = int((assumed & (picked == i)).sum())
        if o.uplift_fact is None:
            out.append(
                f"Offer `{o.id}`: no comparable campaign, so its lift is an assumption: "
                f"{o.assumed_take_rate:.1%} of the customers contacted take it because of the "
                f"contact ({n} contacts planned on it)."
            )
        elif n:
            out.append(
                f"Offer `{o.id}`: {n} contacts have no estimate of the campaign's uplift model "
                f"(`{o.uplift_fact}`); their lift is the assumed {o.assumed_take_rate:.1%}."
            )
    return tuple(out)
