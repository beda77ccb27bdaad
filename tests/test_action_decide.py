"""The decision of next best action (cxlib.action._decide, _assign).

At most one action per customer, maximising expected incremental value under the budget and
the caps, solved exactly (scipy's milp) with the greedy ratio rule as the fallback; customers
without consent, suppressed, erased or at the contact-pressure limit are never selected, nor
sleeping dogs for an offer kind whose lift comes from the campaign.
"""

from __future__ import annotations

import itertools
import textwrap
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxlib.action._assign import CountCap, exact_assignment, greedy_assignment, solve_assignment
from cxlib.action._catalogue import load_catalogue, parse_catalogue
from cxlib.action._decide import PLAN_COLUMNS, REASONS, decide
from cxlib.action._rules import FACTS
from cxlib.contract import ContractError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "cxlib" / "synth" / "actions.yml"
SAMPLE_CUSTOMERS = 5163  # customers in data/sample


def synthetic_facts(n: int, seed: int = 0) -> pd.DataFrame:
    """Facts shaped like the series' (cxlib.action._facts): every fact of FACTS, nullable."""
    rng = np.random.default_rng(seed)
    churn = rng.beta(2, 4, n)
    var = churn * rng.gamma(2.0, 150.0, n)
    lo, hi = np.quantile(var, [0.5, 0.8])
    uplift = rng.normal(0.03, 0.04, n)
    scored = rng.random(n) < 0.9
    group = np.where(uplift < 0, "sleeping_dog", "persuadable")
    facts = pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(n)],
            "segment": rng.choice(["Champions", "Loyal", "At risk", "New"], n),
            "churn_probability": churn,
            "p_alive": rng.beta(4, 2, n),
            "value_at_risk": var,
            "value_at_risk_band": np.where(var >= hi, "high", np.where(var >= lo, "medium", "low")),
            "uplift": pd.array(np.where(scored, uplift, np.nan), dtype="Float64"),
            "uplift_arm": np.where(scored, rng.choice(["offer_a", "offer_b"], n), None),
            "uplift_group": np.where(scored, group, "unknown"),
            "days_since_last_purchase": rng.integers(0, 366, n),
            "preferred_channel": rng.choice(["email", "app", "web", "store"], n),
            "open_complaint": pd.array(
                rng.choice([True, False, None], n, p=[0.04, 0.94, 0.02]), dtype="boolean"
            ),
            "marketing_consent": pd.array(
                rng.choice([True, False, None], n, p=[0.8, 0.12, 0.08]), dtype="boolean"
            ),
            "contacts_this_period": rng.poisson(0.3, n),
            "cross_sell_category": rng.choice(["home", "beauty", "toys", "grocery"], n),
            "cross_sell_score": rng.beta(2, 5, n),
        }
    )
    assert set(FACTS) <= set(facts.columns)
    return facts


@pytest.fixture(scope="module")
def example():
    return load_catalogue(EXAMPLE)


@pytest.fixture(scope="module")
def sample_like():
    return synthetic_facts(SAMPLE_CUSTOMERS, seed=7)


def units(amounts) -> int:
    """Money summed exactly (as the plan's budget is checked)."""
    return int(sum(Decimal(repr(float(a))) * 10**6 for a in amounts))


def contacts(plan: pd.DataFrame) -> pd.DataFrame:
    return plan.loc[plan["action"] == "contact"]


def check_plan_within_limits(decision, catalogue, budget=None, max_contacts=None, period=7):
    plan = decision.plan
    assert list(plan.columns) == PLAN_COLUMNS
    assert plan["customer_id"].is_unique  # at most one action per customer
    sent = contacts(plan)
    cost = {o.id: o.cost for o in catalogue.offers}
    spent = sent["offer_id"].astype(str).map(cost)
    if budget is not None:
        assert units(spent) <= units([budget])
    for offer in catalogue.offers:
        if offer.max_per_week is not None:
            cap = offer.max_per_week * period // 7
            assert (sent["offer_id"] == offer.id).sum() <= cap
    if max_contacts is not None:
        assert len(sent) <= max_contacts
    assert decision.contacts_ == len(sent)
    assert decision.value_ == pytest.approx(sent["expected_value"].sum())
    assert decision.budget_used_ == pytest.approx(spent.sum())
    assert (sent["expected_value"] > 0).all()
    left = plan.loc[plan["action"] == "leave_alone"]
    assert (left["expected_value"] == 0).all() and left["offer_id"].isna().all()
    assert (sent["reason"] == "selected").all() and (left["reason"] != "selected").all()
    assert sent["rule_id"].notna().all()  # every contact carries the rule that fired


# ----------------------------------------------------------------------- limits and exclusions


@pytest.mark.parametrize("budget", [150.0, 400.0, None])
def test_budget_and_caps_are_respected_exactly(example, sample_like, budget):
    decision = decide(sample_like, example, budget=budget, max_contacts_per_customer=2)
    check_plan_within_limits(decision, example, budget=budget)
    if budget is not None:  # the budget binds: nearly all of it is spent
        assert decision.budget_used_ > budget - max(o.cost for o in example.offers)
    else:  # nothing binds but the caps: some offer is at its cap
        table = decision.offers_.dropna(subset=["cap"])
        assert (table["contacts"] == table["cap"]).any()


def test_contact_and_channel_caps_and_a_longer_period(example, sample_like):
    decision = decide(
        sample_like,
        example,
        budget=2000.0,
        max_contacts=700,
        channel_caps={"call_centre": 50, "email": 400},
        period_days=14,
    )
    check_plan_within_limits(decision, example, budget=2000.0, max_contacts=700, period=14)
    sent = contacts(decision.plan)
    assert (sent["channel"] == "call_centre").sum() <= 50
    assert (sent["channel"] == "email").sum() <= 400
    caps = decision.offers_.set_index("offer_id")["cap"]
    assert caps["retention_call"] == 120  # 60 a week × 2 weeks


def test_no_consent_unknown_consent_suppressed_erased_and_pressure_are_never_selected(example):
    facts = synthetic_facts(3000, seed=3)
    rng = np.random.default_rng(1)
    facts["suppressed"] = pd.array(rng.random(len(facts)) < 0.05, dtype="boolean")
    facts["erased"] = pd.array(rng.random(len(facts)) < 0.02, dtype="boolean")
    # everybody else attractive: all rules fire where they can and the budget is ample
    facts["churn_probability"] = 0.6
    decision = decide(facts, example, budget=None, max_contacts_per_customer=1)
    plan = decision.plan.set_index("customer_id")
    f = facts.set_index("customer_id")
    sent = plan["action"] == "contact"
    assert sent.any()
    assert not (sent & f["marketing_consent"].isna()).any()  # unknown is never consent
    assert not (sent & (f["marketing_consent"] == False)).any()  # noqa: E712
    assert not (sent & f["suppressed"]).any()
    assert not (sent & f["erased"]).any()
    assert not (sent & (f["contacts_this_period"] >= 1)).any()
    # counted by reason, in the order checked (erased first)
    counts = decision.left_alone_.set_index("reason")["customers"]
    erased = f["erased"].to_numpy(dtype=bool)
    suppressed = f["suppressed"].to_numpy(dtype=bool) & ~erased
    consent = f["marketing_consent"]
    others = ~erased & ~suppressed
    assert counts["erased"] == erased.sum()
    assert counts["suppressed"] == suppressed.sum()
    assert counts["no consent"] == (others & (consent == False).fillna(False)).sum()  # noqa: E712
    assert counts["consent unknown"] == (others & consent.isna()).sum()
    pressured = others & (consent == True).fillna(False) & (f["contacts_this_period"] >= 1)  # noqa: E712
    assert counts["contact pressure"] == pressured.sum()
    assert counts.sum() + decision.contacts_ == len(facts)
    assert list(decision.left_alone_["reason"]) == list(REASONS[1:])
    excluded = plan.loc[plan["reason"].isin(["erased", "suppressed", "no consent"]), "rule_id"]
    assert excluded.isna().all()


def test_sleeping_dogs_are_never_contacted_for_a_kind_whose_lift_comes_from_the_campaign(
    example, sample_like
):
    facts = sample_like.copy()
    facts["churn_probability"] = 0.45  # every at-risk rule fires
    decision = decide(facts, example, budget=None)
    plan = decision.plan.merge(facts[["customer_id", "uplift_group", "uplift"]], on="customer_id")
    retention = plan["kind"] == "retention"  # retention_voucher_email's lift is the model's
    dogs = (plan["uplift_group"] == "sleeping_dog") | (plan["uplift"] < 0).fillna(False)
    assert dogs.sum() > 100
    assert not (retention & dogs).any()
    assert (plan["reason"] == "sleeping dog").sum() > 0
    # sleeping dogs may still get an offer of another kind (its lift is not the campaign's)
    assert (dogs & (plan["action"] == "contact") & ~retention).any()


def test_negative_uplift_counts_as_a_sleeping_dog_whatever_the_group():
    text = ONE_OFFER.replace("    max_per_week: 2\n", "    uplift_fact: uplift\n")
    cat = parse_catalogue(text.replace("churn_probability >= 0\n", "churn_probability > 2\n"))
    facts = tiny_facts()
    facts["uplift_group"] = "persuadable"
    facts["uplift"] = pd.array([0.5, -0.2, None, 0.5], dtype="Float64")
    plan = decide(facts, cat).plan.set_index("customer_id")
    assert plan.loc["b", "reason"] == "sleeping dog"
    assert plan.loc["a", "lift_source"] == "uplift model" and plan.loc["a", "lift"] == 0.5
    # no estimate: the stated assumption, labelled as such
    assert plan.loc["c", "lift_source"] == "assumed" and plan.loc["c", "lift"] == 0.1


# ----------------------------------------------------------------------- values and reasons

ONE_OFFER = textwrap.dedent(
    """\
    offers:
      - id: call
        kind: retention
        channel: call_centre
        cost: 2
        value_if_taken: 100
        assumed_take_rate: 0.1
        max_per_week: 2
        opt_out_cost: 50
      - id: mail
        kind: cross_sell
        channel: email
        cost: 1
        value_if_taken: 10
        assumed_take_rate: 0.05
        opt_out_rate: 0.01
        opt_out_cost: 20
    rules:
      - id: risky
        offer: call
        when: churn_probability >= 0.5
        priority: 5
      - id: anyone
        offer: mail
        when: churn_probability >= 0
      - id: quiet
        offer: leave_alone
        when: open_complaint
        priority: 1
    """
)


def tiny_facts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "churn_probability": [0.9, 0.8, 0.7, 0.1],
            "open_complaint": pd.array([False, False, False, True], dtype="boolean"),
            "marketing_consent": pd.array([True, True, True, True], dtype="boolean"),
            "uplift_group": ["persuadable"] * 4,
            "uplift": pd.array([None] * 4, dtype="Float64"),
        }
    )


def test_expected_value_is_lift_times_value_less_cost_and_opt_out_cost():
    cat = parse_catalogue(ONE_OFFER)
    decision = decide(tiny_facts(), cat, opt_out_rates={"call_centre": 0.02, "email": 0.5})
    plan = decision.plan.set_index("customer_id")
    call = 0.1 * 100 - 2 - 0.02 * 50  # the channel's measured opt-out rate
    mail = 0.05 * 10 - 1 - 0.01 * 20  # the offer's own rate wins over the channel's
    assert mail < 0
    sent = plan.loc[plan["action"] == "contact"]
    assert len(sent) == 2 and set(sent.index) < {"a", "b", "c"}  # the call's cap is 2
    assert sent["expected_value"].tolist() == pytest.approx([call, call])
    assert (sent["offer_id"] == "call").all() and (sent["rule_id"] == "risky").all()
    (third,) = {"a", "b", "c"} - set(sent.index)
    assert plan.loc[third, "reason"] == "budget or cap" and plan.loc[third, "rule_id"] == "risky"
    assert plan.loc["d", "reason"] == "left alone by rule" and plan.loc["d", "rule_id"] == "quiet"
    assert decision.value_ == pytest.approx(2 * call)
    assert any("`mail`: no comparable campaign" in s for s in decision.assumptions_)


def test_nothing_worth_its_cost_and_no_eligible_offer():
    cat = parse_catalogue(ONE_OFFER.replace("churn_probability >= 0\n", "churn_probability > 2\n"))
    facts = tiny_facts()
    facts.loc[0, "churn_probability"] = 0.3  # eligible for nothing
    plan = decide(facts, cat, opt_out_rates={"call_centre": 1.0}).plan.set_index("customer_id")
    assert plan.loc["a", "reason"] == "no eligible offer" and pd.isna(plan.loc["a", "rule_id"])
    # with every contact opting out the call costs 2 + 50 for 10 of value
    assert plan.loc["b", "reason"] == "nothing worth its cost"
    assert plan.loc["b", "rule_id"] == "risky"


def test_decision_is_deterministic(example, sample_like):
    one = decide(sample_like, example, budget=300.0)
    two = decide(sample_like.sample(frac=1.0, random_state=3), example, budget=300.0)
    pd.testing.assert_frame_equal(one.plan, two.plan)


def test_facts_without_consent_column_are_refused(example, sample_like):
    with pytest.raises(ContractError, match="no column 'marketing_consent'"):
        decide(sample_like.drop(columns="marketing_consent"), example)
    with pytest.raises(ValueError, match="twice"):
        decide(pd.concat([sample_like.head(3), sample_like.head(1)]), example)
    with pytest.raises(ValueError, match="channel_caps names channel 'fax'"):
        decide(sample_like.head(50), example, channel_caps={"fax": 3})
    with pytest.raises(ValueError, match="budget"):
        decide(sample_like.head(50), example, budget=-1.0)


# ----------------------------------------------------------------------- the solvers


def brute_force(customer, value, cost, caps, budget):
    """The best selection by enumerating every choice of each customer (one pair or none)."""
    customers = sorted(set(customer.tolist()))
    options = [[None, *np.flatnonzero(customer == c).tolist()] for c in customers]
    best = 0.0
    for choice in itertools.product(*options):
        picked = [j for j in choice if j is not None]
        if budget is not None and cost[picked].sum() > budget + 1e-9:
            continue
        counts = [np.bincount(cap.group[picked], minlength=len(cap.caps)) for cap in caps]
        if any((n > cap.caps).any() for n, cap in zip(counts, caps, strict=True)):
            continue
        best = max(best, float(value[picked].sum()))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_exact_solution_is_optimal_on_tiny_instances(seed):
    rng = np.random.default_rng(seed)
    n_customers, n_offers = 6, 3
    pairs = [(c, o) for c in range(n_customers) for o in range(n_offers) if rng.random() < 0.7]
    customer = np.array([c for c, _ in pairs])
    offer = np.array([o for _, o in pairs])
    value = rng.uniform(0.5, 10, len(pairs)).round(2)
    cost = rng.uniform(0.5, 4, len(pairs)).round(2)
    caps = [CountCap(offer, np.array([2.0, 3.0, np.inf]))]
    budget = float(cost.sum() / 4)
    chosen, _ = exact_assignment(customer, value, cost, caps=caps, budget=budget)
    best = brute_force(customer, value, cost, caps, budget)
    assert value[chosen].sum() == pytest.approx(best, rel=1e-4)
    assert cost[chosen].sum() <= budget
    greedy = greedy_assignment(customer, value, cost, caps=caps, budget=budget)
    assert value[greedy].sum() <= best + 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_exact_solution_is_optimal_with_interchangeable_customers(seed):
    """Pairs of equal value and cost (assumed take rates): customers of the same pairs are
    counted per type in the programme, and the plan is still optimal."""
    rng = np.random.default_rng(100 + seed)
    pairs = [(c, o) for c in range(7) for o in range(3) if rng.random() < 0.6]
    customer = np.array([c for c, _ in pairs])
    offer = np.array([o for _, o in pairs])
    value = np.array([5.0, 3.0, 2.0])[offer]
    cost = np.array([3.0, 1.5, 1.0])[offer]
    caps = [CountCap(offer, np.array([2.0, 2.0, np.inf]))]
    budget = 7.5
    chosen, _ = exact_assignment(customer, value, cost, caps=caps, budget=budget)
    assert value[chosen].sum() == pytest.approx(brute_force(customer, value, cost, caps, budget))
    assert np.bincount(customer[chosen]).max(initial=0) <= 1
    assert cost[chosen].sum() <= budget
    assert (np.bincount(offer[chosen], minlength=3) <= caps[0].caps).all()


def test_a_large_plan_of_assumed_lifts_is_solved_exactly():
    """200,000 pairs of few distinct kinds of customer: the exact programme is small."""
    rng = np.random.default_rng(5)
    customer = np.repeat(np.arange(100_000), 2)
    offer = np.tile([0, 1], 100_000)
    offer[rng.random(len(offer)) < 0.3] = 2
    value = np.array([4.0, 2.5, 1.0])[offer]
    cost = np.array([2.0, 1.0, 0.2])[offer]
    caps = [CountCap(offer, np.array([5000.0, 20000.0, np.inf]))]
    solved = solve_assignment(customer, value, cost, caps=caps, budget=15_000.0)
    assert solved.solver == "exact" and 0 <= solved.gap < 0.01
    chosen = solved.selected
    assert np.bincount(customer[chosen]).max() <= 1
    assert (np.bincount(offer[chosen], minlength=3) <= caps[0].caps).all()
    assert units(cost[chosen]) <= units([15_000.0])


def test_exact_and_greedy_agree_within_one_percent_on_the_sample(example, sample_like):
    """On facts shaped like the sample (5,163 customers) with the example catalogue, the budget
    and the caps binding: the exact plan is at least as good as the greedy one, within 1%."""
    decision = decide(
        sample_like, example, budget=250.0, max_contacts=80, max_contacts_per_customer=2
    )
    assert decision.solver_ == "exact"
    assert decision.n_candidates_ > 1000
    assert decision.exact_value_ >= decision.greedy_value_ * (1 - 1e-4)  # HiGHS's own gap
    assert 0 <= decision.gap_ < 0.01
    assert decision.value_ == pytest.approx(max(decision.exact_value_, decision.greedy_value_))
    check_plan_within_limits(decision, example, budget=250.0, max_contacts=80)


def test_greedy_fallback_above_the_size_limit(example, sample_like):
    decision = decide(sample_like, example, budget=250.0, exact_limit=0)
    assert decision.solver_ == "greedy" and decision.gap_ is None
    assert decision.exact_value_ is None
    check_plan_within_limits(decision, example, budget=250.0)


def test_solver_respects_every_cap_on_a_random_instance():
    rng = np.random.default_rng(11)
    n = 4000
    customer = rng.integers(0, 1500, n)
    offer = rng.integers(0, 5, n)
    channel = np.array([0, 0, 1, 1, 2])[offer]
    value = rng.gamma(2.0, 3.0, n)
    cost = rng.choice([0.1, 0.3, 0.7, 1.1], n)
    caps = [
        CountCap(offer, np.array([80, 120, 60, np.inf, 200.0])),
        CountCap(channel, np.array([150, np.inf, 90.0])),
        CountCap(np.zeros(n, dtype=int), np.array([400.0])),
    ]
    budget = 123.4
    for exact_limit in (0, n):
        solved = solve_assignment(
            customer, value, cost, caps=caps, budget=budget, exact_limit=exact_limit
        )
        chosen = solved.selected
        assert np.bincount(customer[chosen]).max() <= 1
        for cap in caps:
            assert (np.bincount(cap.group[chosen], minlength=len(cap.caps)) <= cap.caps).all()
        assert units(cost[chosen]) <= units([budget])
    assert solved.solver == "exact" and 0 <= solved.gap < 0.01
