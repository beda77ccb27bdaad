"""Presentation of the next-best-action question: finding sentences and display tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from cxlib.action._affinity import top_pairs
from cxlib.action._catalogue import when_text
from cxlib.action._decide import CONTACT, LIFT_ASSUMED
from cxlib.action._rules import condition_facts, parse_condition
from cxlib.action._touchpoints import ALL_CAMPAIGNS
from cxlib.report import Finding, format_money, format_percent, people_table, words
from cxlib.uplift import arm_label

if TYPE_CHECKING:
    from cxlib.action._run import ActionParts

#: Cross-sell candidate → its name in the report.
CANDIDATE_NAMES = {
    "popularity": "Popularity (the baseline)",
    "association": "Association rules",
    "item_knn": "Similar categories (item kNN)",
    "user_knn": "Similar customers (user kNN)",
    "hybrid": "Combined (hybrid)",
}

#: Fact → how a sentence names it.
FACT_NAMES = {
    "churn_probability": "churn risk",
    "p_alive": "P(alive)",
    "value_at_risk": "value at risk",
    "value_at_risk_band": "value at risk",
    "uplift": "the campaign's uplift",
    "uplift_arm": "the campaign's uplift",
    "uplift_group": "the campaign's uplift",
    "segment": "segment",
    "open_complaint": "open complaints",
    "marketing_consent": "marketing consent",
    "contacts_this_period": "recent contacts",
    "cross_sell_category": "the cross-sell",
    "cross_sell_score": "the cross-sell",
    "preferred_channel": "preferred channel",
    "days_since_last_purchase": "days since the last purchase",
}

#: Offer kind → its name in the report.
KIND_NAMES = {
    "retention": "retention",
    "cross_sell": "cross-sell",
    "up_sell": "up-sell",
    "win_back": "win-back",
    "service_recovery": "service recovery",
}

#: Most headlines on the index card.
MAX_HEADLINES = 4

#: Part of the plan → its name in sentences.
PART_NAMES = {
    "plan": "The contact plan",
    "cross_sell": "Cross-sell",
    "touchpoints": "The campaign touchpoint funnel",
}


def _money(value: float, parts: ActionParts) -> str:
    return format_money(value, parts.currency)


def plan_findings(parts: ActionParts) -> list[Finding]:
    """The plan's headline and who is left alone."""
    d = parts.decision
    if d is None:
        return []
    n = len(d.plan)
    days = int(parts.options["period_days"])
    period = "this week" if days == 7 else f"in the next {days} days"
    budget = parts.options["budget"]
    spend = f"{_money(d.budget_used_, parts)} of contact cost"
    if budget is not None:
        spend += f" (budget {_money(float(budget), parts)})"
    if d.contacts_ == 0:
        text = (
            f"No contact is worth its cost {period}: none of the {n:,} customers has an offer "
            "whose expected extra value exceeds its cost, so everyone is left alone."
        )
        return [Finding(text, headline=True, impact=1.0)]
    contacts = d.plan.loc[d.plan["action"] == CONTACT]
    assumed = int((contacts["lift_source"] == LIFT_ASSUMED).sum())
    basis = (
        "every take-up rate is measured by the campaign's uplift model"
        if assumed == 0
        else f"{assumed:,} of them rest on an assumed take-up rate (not measured: see Method)"
        if assumed < len(contacts)
        else "every take-up rate is assumed, not measured (see Method)"
    )
    text = (
        f"Contact {d.contacts_:,} of {n:,} customers {period} for an expected extra "
        f"{_money(d.value_, parts)} after costs{_range_words(parts)}, using {spend}; {basis}."
    )
    out = [Finding(text, headline=True, impact=float(d.value_))]
    out.extend(_range_doubt(parts))
    left = d.left_alone_.set_index("reason")["customers"]
    left = left.loc[left > 0].sort_values(ascending=False, kind="stable")
    if len(left):
        top = ", ".join(f"{int(v):,} {reason}" for reason, v in left.head(4).items())
        out.append(
            Finding(
                f"{int(left.sum()):,} customers are left alone {period}: {top}.",
                headline=True,
                impact=float(left.sum()),
            )
        )
    return out


def _range_words(parts: ActionParts) -> str:
    r = parts.value_range
    if r is None:
        return ""
    return (
        f" (range {_money(r.low, parts)} to {_money(r.high, parts)} over the 95% interval of "
        "the campaign's measured effect)"
    )


def _range_doubt(parts: ActionParts) -> list[Finding]:
    """When the campaign's measured effect is not clearly above zero, say that the model-based
    part of the plan may bring nothing."""
    r = parts.value_range
    if r is None or not r.includes_nothing:
        return []
    arms = ", ".join(
        f"{arm_label(a.arm)}: {a.abs_lift * 100:+.1f} points (95% interval {a.ci_low * 100:+.1f} to "
        f"{a.ci_high * 100:+.1f})"
        for a in r.arms.itertuples()
    )
    return [
        Finding(
            f"We cannot tell that the campaign's offers raise conversion ({arms}), so the "
            f"{_money(r.measured, parts)} expected from the contacts whose take-up comes from "
            "its uplift model may be nothing; the plan sends them because the model ranks these "
            "customers highest, not because the effect is proven.",
            headline=True,
            impact=float(r.measured),
        )
    ]


def pair_findings(parts: ActionParts) -> list[Finding]:
    """The strongest category pair, when its interval is above no affinity."""
    aff = parts.cross_sell.affinity
    if aff is None or aff.table.empty:
        return []
    top = top_pairs(aff.table, 1).iloc[0]
    if not top["lift_low"] > 1:
        return []
    unit = "basket" if aff.basket == "transaction_id" else "day's shopping"
    return [
        Finding(
            f"Customers who buy {top['category_a']} are {top['lift']:.1f}× as likely as others "
            f"to have {top['category_b']} in the same {unit} (95% interval "
            f"{top['lift_low']:.1f}–{top['lift_high']:.1f}×, {int(top['baskets_both']):,} "
            f"{unit}s with both).",
            headline=True,
            impact=float(top["lift"]),
        )
    ]


def model_findings(parts: ActionParts) -> list[Finding]:
    """How well the chosen cross-sell model predicted the categories first bought."""
    ev = parts.cross_sell.evaluation
    if ev is None:
        return []
    t = ev.table.set_index("candidate")
    chosen = t.loc[ev.chosen]
    share = format_percent(chosen["precision"])
    if ev.chosen == "popularity":
        text = (
            f"No model predicted the categories customers first bought in the last "
            f"{ev.horizon_days} days better than ranking categories by popularity (top {ev.k}: "
            f"{share} right), so recommendations are the most popular categories a customer "
            "does not buy yet."
        )
    else:
        text = (
            f"Of the top {ev.k} categories the {CANDIDATE_NAMES.get(ev.chosen, ev.chosen).lower()} "
            f"model recommended at "
            f"{ev.cutoff.date()}, {share} were bought for the first time in the next "
            f"{ev.horizon_days} days: {chosen['vs_popularity']:.2f}× the popularity ranking "
            f"(95% interval {chosen['vs_popularity_low']:.2f}–{chosen['vs_popularity_high']:.2f}×)."
        )
    return [Finding(text, impact=float(chosen["vs_popularity"]))]


def funnel_findings(parts: ActionParts) -> list[Finding]:
    """Per campaign and channel: the funnel in one sentence."""
    f = parts.funnel
    if f is None or f.empty:
        return []
    out = []
    # "all" holds the events without a campaign id: all campaigns only when no event names one
    named = (f.table["campaign_id"] != ALL_CAMPAIGNS).any()
    unnamed = "events without a campaign id" if named else "all campaigns"
    for (campaign, channel), rows in f.table.groupby(["campaign_id", "channel"], sort=True):
        base = f.base.set_index(["campaign_id", "channel"]).loc[(campaign, channel)]
        steps = rows.loc[rows["touchpoint_role"] != "sent"]
        said = "; ".join(
            f"{_role_words(r.touchpoint_role)} {format_percent(r.rate)} "
            f"({format_percent(r.ci_low)}–{format_percent(r.ci_high)})"
            for r in steps.itertuples()
        )
        name = unnamed if campaign == ALL_CAMPAIGNS else f"campaign {campaign}"
        channel = channel.replace("_", " ").capitalize()
        if base["base_role"] == "sent":
            text = f"{channel}, {name}: {int(base['base']):,} customers sent; {said}."
        else:
            text = (
                f"{channel}, {name}: the events hold no sends, so rates are shares of the "
                f"{int(base['base']):,} customers with any campaign event, not of those "
                f"contacted ({said})."
            )
        out.append(Finding(text, impact=float(base["base"]) * 1e-6))
    return out


def missing_fact_findings(parts: ActionParts) -> list[Finding]:
    """The facts the catalogue's rules read that this run could not provide."""
    if parts.catalogue is None:
        return []
    used = {f for r in parts.catalogue.rules for f in condition_facts(parse_condition(r.when))}
    used |= {o.uplift_fact for o in parts.catalogue.offers if o.uplift_fact}
    missing = {f: fix for f, fix in parts.facts.unavailable.items() if f in used}
    if not missing:
        return []
    names = ", ".join(dict.fromkeys(FACT_NAMES.get(f, f) for f in missing))
    fixes = "; ".join(dict.fromkeys(missing.values()))
    return [
        Finding(
            f"The rules could not use {names}: not available in this run ({fixes}). Rules "
            "that need them did not fire, so the plan leaves out the customers they would "
            "have chosen.",
            headline=True,
            impact=0.5,
        )
    ]


def skipped_findings(parts: ActionParts) -> list[Finding]:
    """A sentence per part that could not run, with what to add."""
    return [
        Finding(f"{PART_NAMES.get(part, part)} was skipped because {why}.", impact=0.0)
        for part, why in parts.skipped.items()
    ]


def action_findings(parts: ActionParts) -> list[Finding]:
    """Every finding, in report order; the first :data:`MAX_HEADLINES` flagged ones are the
    index card's headlines."""
    found = [
        *plan_findings(parts),
        *missing_fact_findings(parts),
        *pair_findings(parts),
        *model_findings(parts),
        *funnel_findings(parts),
        *skipped_findings(parts),
    ]
    heads = [f for f in found if f.headline]
    for extra in heads[MAX_HEADLINES:]:
        extra.headline = False
    return found


# ----------------------------------------------------------------------- tables


def offers_table(parts: ActionParts) -> pd.DataFrame:
    """Per offer: the contacts, their cost and expected value, and where the lift comes from."""
    d = parts.decision
    if d is None:
        return pd.DataFrame()
    offers = d.offers_.assign(kind=d.offers_["kind"].map(lambda k: KIND_NAMES.get(k, k)))
    return people_table(
        offers,
        {
            "offer_id": ("Offer", "code"),
            "kind": ("Kind", "text"),
            "channel": ("Channel", "text"),
            "cap": ("Most contacts in the period", "count"),
            "eligible": ("Customers eligible", "count"),
            "candidates": ("Worth contacting", "count"),
            "contacts": ("Contacted", "count"),
            "cost": ("Cost", "money"),
            "expected_value": ("Expected extra value", "money"),
            "lift_from_model": ("Take-up measured", "count"),
            "lift_assumed": ("Take-up assumed", "count"),
        },
        currency=parts.currency,
    )


def left_alone_table(parts: ActionParts) -> pd.DataFrame:
    """Why customers are left alone, largest group first."""
    d = parts.decision
    if d is None:
        return pd.DataFrame()
    left = d.left_alone_.loc[d.left_alone_["reason"] != "selected"]
    left = left.loc[left["customers"] > 0]
    return people_table(
        left,
        {
            "reason": ("Why", "text"),
            "customers": ("Customers", "count"),
            "share": ("Share", "percent"),
        },
    )


def rules_table(parts: ActionParts, n: int = 10) -> pd.DataFrame:
    """The rules behind the most value: contacts and expected value per rule."""
    d = parts.decision
    if d is None or parts.catalogue is None:
        return pd.DataFrame()
    contacts = d.plan.loc[d.plan["action"] == CONTACT]
    by_rule = (
        contacts.groupby("rule_id", sort=False)
        .agg(contacts=("customer_id", "size"), value=("expected_value", "sum"))
        .sort_values(["value", "contacts"], ascending=False)
        .head(n)
        .reset_index()
    )
    rules = {r.id: r for r in parts.catalogue.rules}
    by_rule["offer"] = by_rule["rule_id"].map(lambda r: rules[r].offer if r in rules else "")
    by_rule["when"] = by_rule["rule_id"].map(lambda r: when_text(rules[r]) if r in rules else "")
    return people_table(
        by_rule,
        {
            "rule_id": ("Rule", "code"),
            "offer": ("Offer", "code"),
            "when": ("When", "code"),
            "contacts": ("Contacts", "count"),
            "value": ("Expected extra value", "money"),
        },
        currency=parts.currency,
    )


def pairs_table(parts: ActionParts, n: int = 15) -> pd.DataFrame:
    """The category pairs of highest lift, with their intervals."""
    aff = parts.cross_sell.affinity
    if aff is None or aff.table.empty:
        return pd.DataFrame()
    top = top_pairs(aff.table, n)
    return people_table(
        top,
        {
            "category_a": ("Customers who buy", "code"),
            "category_b": ("… also buy", "code"),
            "lift": ("Times as likely", "number"),
            "lift_low": ("95% interval from", "number"),
            "lift_high": ("to", "number"),
            "confidence": ("Share of baskets", "percent"),
            "baskets_both": ("Baskets with both", "count"),
        },
    )


def evaluation_table(parts: ActionParts) -> pd.DataFrame:
    """The cross-sell candidates judged out of time."""
    ev = parts.cross_sell.evaluation
    if ev is None:
        return pd.DataFrame()
    t = ev.table.copy()
    t["candidate"] = t["candidate"].map(lambda c: CANDIDATE_NAMES.get(c, words(c)))
    t["chosen"] = t["chosen"].map({True: "chosen", False: ""})
    return people_table(
        t,
        {
            "candidate": ("Model", "text"),
            "precision": (f"Right among the top {ev.k}", "percent"),
            "precision_low": ("95% interval from", "percent"),
            "precision_high": ("to", "percent"),
            "recall": ("New categories found", "percent"),
            "vs_popularity": ("Times popularity", "number"),
            "chosen": ("", "text"),
        },
    )


def up_sell_table(parts: ActionParts, n: int = 10) -> pd.DataFrame:
    """Per segment and category: customers spending well below their peers."""
    up = parts.cross_sell.up_sell
    if up is None or up.empty:
        return pd.DataFrame()
    groups = (
        up.groupby(["segment", "category"], sort=False)
        .agg(customers=("customer_id", "size"), gap=("gap", "median"), peers=("n_peers", "max"))
        .reset_index()
    )
    groups = groups.loc[groups["customers"] >= parts.min_group_size]
    groups = groups.sort_values(["customers", "gap"], ascending=False).head(n)
    return people_table(
        groups,
        {
            "segment": ("Segment", "text"),
            "category": ("Category", "code"),
            "customers": ("Customers below their peers", "count"),
            "gap": ("Typical gap to the peers' median (a year)", "money"),
            "peers": ("Buyers in the segment", "count"),
        },
        currency=parts.currency,
    )


def _role_words(role: str) -> str:
    """A funnel step in words ("opted_out" → "opted out")."""
    return str(role).replace("_", " ")


def funnel_table(parts: ActionParts) -> pd.DataFrame:
    """The touchpoint funnel per campaign and channel."""
    f = parts.funnel
    if f is None or f.empty:
        return pd.DataFrame()
    frame = f.table.assign(touchpoint_role=f.table["touchpoint_role"].map(_role_words))
    return people_table(
        frame,
        {
            "campaign_id": ("Campaign", "code"),
            "channel": ("Channel", "text"),
            "touchpoint_role": ("Step", "text"),
            "customers": ("Customers", "count"),
            "rate": ("Rate", "percent"),
            "ci_low": ("95% interval from", "percent"),
            "ci_high": ("to", "percent"),
        },
    )


def facts_table(parts: ActionParts) -> pd.DataFrame:
    """Every fact the rules may use: where it comes from, or what would provide it."""
    rows = [
        {"fact": fact, "source": source, "available": "yes"}
        for fact, source in parts.facts.sources.items()
    ] + [
        {"fact": fact, "source": f"not available: {fix}", "available": "no"}
        for fact, fix in parts.facts.unavailable.items()
    ]
    frame = pd.DataFrame(rows, columns=["fact", "source", "available"])
    return people_table(
        frame,
        {"fact": ("Fact", "code"), "source": ("Where it comes from", "text")},
    )


def catalogue_tables(parts: ActionParts) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The offers and the rules of the catalogue, as read."""
    c = parts.catalogue
    if c is None:
        return pd.DataFrame(), pd.DataFrame()
    frame = c.offers_frame()
    frame["kind"] = frame["kind"].map(lambda k: KIND_NAMES.get(k, k))
    offers = people_table(
        frame,
        {
            "id": ("Offer", "code"),
            "kind": ("Kind", "text"),
            "channel": ("Channel", "text"),
            "cost": ("Cost", "money"),
            "value_if_taken": ("Value if taken", "money"),
            "assumed_take_rate": ("Assumed extra take-up", "percent"),
            "uplift_fact": ("Measured take-up from", "code"),
            "max_per_week": ("Most a week", "count"),
        },
        currency=parts.currency,
    )
    rules = c.rules_frame()
    rules["when"] = [when_text(r) for r in c.rules]
    rules = people_table(
        rules,
        {
            "id": ("Rule", "code"),
            "offer": ("Offer", "code"),
            "priority": ("Priority", "count"),
            "when": ("When", "code"),
        },
    )
    return offers, rules


def method_markdown(parts: ActionParts) -> str:
    """How the plan was made, for the report's last section."""
    lines = []
    purchases = parts.cross_sell.purchases
    if purchases.available:
        lines.append(
            f"- Categories come from {purchases.source}; "
            f"{purchases.without_category:,} of {purchases.rows:,} purchases have none and are "
            "left out of the cross-sell."
        )
        if len(purchases.spellings):
            lines.append(
                f"- {len(purchases.spellings):,} spellings of category names that differ only "
                "in case, spaces or punctuation were read as one category (the most frequent "
                "spelling names it)."
            )
    aff = parts.cross_sell.affinity
    if aff is not None:
        unit = "one transaction" if aff.basket == "transaction_id" else "a customer's day"
        lines.append(
            f"- A basket is {unit}: {aff.n_baskets:,} baskets; a pair is listed when at least "
            f"{aff.min_baskets:,} baskets hold both categories."
        )
    f = parts.funnel
    if f is not None and not f.empty:
        if f.defaults_applied:
            named = ", ".join(
                f"`{tp}` → {_role_words(role)}" for tp, role in f.defaults_applied.items()
            )
            lines.append(f"- Touchpoint roles from the built-in names: {named}.")
        if len(f.unclassified):
            names = ", ".join(f"`{tp}`" for tp in f.unclassified["touchpoint"].head(10))
            lines.append(
                f"- Campaign touchpoints no name classified ({len(f.unclassified):,}): {names}; "
                "name them in `action.touchpoint_roles` to count them."
            )
    d = parts.decision
    if d is not None:
        solver = (
            "solved exactly (an integer programme with the budget and the offers' caps)"
            if d.solver_ == "exact"
            else "chosen by the greedy value-per-cost rule (too many candidates for the exact "
            "solver)"
        )
        lines.append(
            f"- The plan was {solver} among {d.n_candidates_:,} customer–offer pairs worth more "
            "than their cost."
        )
        if d.gap_ is not None:
            lines.append(
                f"- The greedy rule reaches {format_percent(1 - d.gap_, 2)} of the exact plan's "
                "value on the same candidates."
            )
        lines.extend(f"- {a}" for a in d.assumptions_)
    return "\n".join(lines)
