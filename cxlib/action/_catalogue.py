"""The offer catalogue (``actions.yml``): offers, eligibility rules and their evaluation.

A catalogue holds ``offers`` (what may be sent: kind, channel, cost, value if taken, weekly cap,
the assumed take rate used when no campaign model gives the lift) and ``rules`` (when a customer
is eligible for an offer, with a priority). The documented example is
``data/sample/actions.yml`` (a copy of ``cxlib/synth/actions.yml``).

Loading checks everything and stops at the first problem with a
:class:`cxlib.contract.ContractError` naming the file, the line and the fix (the command line
turns it into exit 2)::

    actions.yml, line 41: rule 'retain_high_value': when: unknown fact 'churn_prob'; did you
    mean 'churn_probability'?

Rules are evaluated in the backend over all customers at once (:func:`eligible_offers`): one
filtered selection per rule, unioned, and for each (customer, offer) the rule of highest
priority kept (ties: the earlier rule in the file). A rule whose ``offer`` is ``leave_alone``
keeps its customers from every offer whose own rule has a priority lower than or equal to it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cxlib.action._rules import (
    FACTS,
    OFFER_KINDS,
    Fact,
    RuleError,
    as_facts,
    check_fact_columns,
    compile_condition,
    condition_facts,
    nearest,
    parse_condition,
)
from cxlib.contract import ContractError
from cxlib.engine import Engine, as_table, literal, row_number, window

log = logging.getLogger(__name__)

LEAVE_ALONE = "leave_alone"
"""The offer id of a rule that leaves its customers alone (no offer of lower priority)."""

_TEXT, _NUM, _INT = ("text",), ("number",), ("integer",)

#: offer key -> (kinds of value, required, meaning)
OFFER_KEYS: dict[str, tuple[tuple[str, ...], bool, str]] = {
    "id": (_TEXT, True, "unique name of the offer"),
    "kind": (_TEXT, True, " / ".join(OFFER_KINDS)),
    "channel": (_TEXT, True, "channel it is sent through (email, sms, app, call_centre …)"),
    "category": (("text", "null"), False, "product category it promotes"),
    "cost": (_NUM, True, "cost of one contact, incentive included"),
    "value_if_taken": (_NUM, True, "value of one customer taking it"),
    "max_per_week": (("integer", "null"), False, "most contacts a week (null: no cap)"),
    "assumed_take_rate": (
        _NUM,
        True,
        "extra take-up a contact causes when no comparable campaign gives it (an assumption)",
    ),
    "uplift_fact": (
        ("text", "null"),
        False,
        "fact holding the campaign model's uplift of a contact, when a comparable campaign was "
        "analysed (e.g. uplift); null: the lift is assumed_take_rate",
    ),
    "opt_out_rate": (("number", "null"), False, "opt-outs per contact (null: the channel's)"),
    "opt_out_cost": (_NUM, False, "cost of one opt-out (a customer no longer reachable)"),
    "description": (_TEXT, False, "free text"),
}
#: rule key -> (kinds of value, required, meaning)
RULE_KEYS: dict[str, tuple[tuple[str, ...], bool, str]] = {
    "id": (_TEXT, True, "unique name of the rule"),
    "offer": (_TEXT, True, f"id of an offer, or {LEAVE_ALONE}"),
    "when": (_TEXT, True, "condition over customer facts"),
    "priority": (_INT, False, "higher wins (default 0)"),
    "description": (_TEXT, False, "free text"),
}
TOP_KEYS: dict[str, tuple[tuple[str, ...], bool, str]] = {
    "offers": (("list",), True, "the offers"),
    "rules": (("list",), True, "the eligibility rules"),
    "description": (_TEXT, False, "free text"),
}


@dataclass(frozen=True)
class Offer:
    """An offer of the catalogue (see :data:`OFFER_KEYS`); ``line`` is where it starts."""

    id: str
    kind: str
    channel: str
    cost: float
    value_if_taken: float
    assumed_take_rate: float
    category: str | None = None
    max_per_week: int | None = None
    uplift_fact: str | None = None
    opt_out_rate: float | None = None
    opt_out_cost: float = 0.0
    description: str = ""
    line: int = 0


@dataclass(frozen=True)
class Rule:
    """An eligibility rule (see :data:`RULE_KEYS`); ``when_line`` is where its condition
    starts, ``block`` whether its condition is a literal block (``|``) or folded (``>``)."""

    id: str
    offer: str
    when: str
    priority: int = 0
    description: str = ""
    line: int = 0
    when_line: int = 0
    block: bool = False


@dataclass(frozen=True)
class Catalogue:
    """Offers and rules read from ``source`` (a file, or ``<string>``)."""

    offers: tuple[Offer, ...]
    rules: tuple[Rule, ...]
    source: str = "<string>"
    description: str = ""

    def offer(self, offer_id: str) -> Offer:
        """The offer with this id."""
        for offer in self.offers:
            if offer.id == offer_id:
                return offer
        raise KeyError(offer_id)

    def offers_frame(self) -> pd.DataFrame:
        """One row per offer with every key (for the report)."""
        rows = [{k: getattr(o, k) for k in OFFER_KEYS} for o in self.offers]
        return pd.DataFrame(rows, columns=list(OFFER_KEYS))

    def rules_frame(self) -> pd.DataFrame:
        """One row per rule with every key (for the report)."""
        rows = [{k: getattr(r, k) for k in RULE_KEYS} for r in self.rules]
        return pd.DataFrame(rows, columns=list(RULE_KEYS))

    def error(self, rule: Rule, problem: str, line: int | None = None) -> ContractError:
        """A problem with ``rule`` as the error of its line."""
        return _error(self.source, line or rule.line, f"rule '{rule.id}': {problem}")


# ----------------------------------------------------------------------- loading


def load_catalogue(path: str | os.PathLike, facts: Mapping[str, Fact | str] = FACTS) -> Catalogue:
    """Read and check an offer catalogue (``actions.yml``).

    Parameters
    ----------
    path : path
        The YAML file.
    facts : mapping, default :data:`cxlib.action.FACTS`
        The facts rules may name.

    Returns
    -------
    Catalogue

    Raises
    ------
    ContractError
        When the file is missing or not YAML, or at the first unknown key, fact, offer or
        operator, value of the wrong type, duplicate id or unknown kind; the message names the
        file and the line.
    """
    p = Path(path)
    if not p.is_file():
        raise ContractError(
            f"{p}: offer catalogue not found. Fix: set its path in cx.yml or create it "
            "(example: data/sample/actions.yml).",
            file=str(p),
        )
    return parse_catalogue(p.read_text(encoding="utf-8"), where=str(p), facts=facts)


def parse_catalogue(
    text: str, where: str = "<string>", facts: Mapping[str, Fact | str] = FACTS
) -> Catalogue:
    """Check an offer catalogue given as YAML text (see :func:`load_catalogue`)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise _error(where, line, f"not valid YAML ({problem}). Fix: correct the syntax.") from None
    if root is None:
        raise _error(where, 1, "empty; it needs `offers:` and `rules:`.")
    reader = _Reader(where)
    try:
        top = reader.mapping(root, "", TOP_KEYS)
        offers = _offers(reader, top["offers"], as_facts(facts))
        rules = _rules(reader, top["rules"], offers, facts)
        description = (
            reader.value(top["description"], "description") if "description" in top else ""
        )
    finally:
        reader.dispose()
    log.info("catalogue %s: %d offers, %d rules", where, len(offers), len(rules))
    return Catalogue(tuple(offers), tuple(rules), where, description)


def _error(where: str, line: int, problem: str) -> ContractError:
    return ContractError(f"{where}, line {line}: {problem}", file=where)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


class _Reader:
    """YAML nodes as values, with each problem raised at its node's line."""

    def __init__(self, where: str):
        self.where = where
        self._loader = yaml.SafeLoader("")

    def dispose(self) -> None:
        self._loader.dispose()

    def fail(self, node: yaml.Node, path: str, problem: str) -> ContractError:
        return _error(self.where, node.start_mark.line + 1, f"{path}{problem}")

    def value(self, node: yaml.Node, path: str, kinds: tuple[str, ...] = _TEXT) -> Any:
        """A scalar's value, checked against ``kinds`` (an integer is a number too)."""
        if isinstance(node, yaml.SequenceNode):
            value: Any = []
        elif isinstance(node, yaml.MappingNode):
            value = {}
        else:
            value = self._loader.construct_object(node)
        kind = _kind(value)
        if kind in kinds or (kind == "integer" and "number" in kinds):
            return float(value) if kind == "integer" and "integer" not in kinds else value
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        if kind in ("list", "mapping"):
            shown = kind
        raise self.fail(node, f"{path}: ", f"expected {' or '.join(kinds)}, got {kind} ({shown}).")

    def mapping(
        self, node: yaml.Node, path: str, keys: Mapping[str, tuple[tuple[str, ...], bool, str]]
    ) -> dict[str, yaml.Node]:
        """A mapping's value nodes by key: no unknown, repeated or missing required key."""
        label = f"{path}: " if path else ""
        if not isinstance(node, yaml.MappingNode):
            what = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
            raise self.fail(node, label, f"expected a mapping (key: value), got {what}.")
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = self._loader.construct_object(key_node)
            if not isinstance(key, str) or key not in keys:
                hint = nearest(str(key), keys) or f"; valid keys: {', '.join(keys)}"
                raise self.fail(key_node, label, f"{key}: unknown key{hint}")
            if key in out:
                raise self.fail(key_node, label, f"{key}: given twice")
            out[key] = value_node
        missing = [k for k, (_, required, _) in keys.items() if required and k not in out]
        if missing:
            raise self.fail(node, label, f"missing key '{missing[0]}' ({keys[missing[0]][2]}).")
        return out

    def items(self, node: yaml.Node, path: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{path}: ", "expected a list (lines starting with '- ').")
        return list(node.value)


def _named(node: yaml.Node, what: str, i: int) -> str:
    """``offer 'x'`` for an item whose id reads as text, else ``offers[i]``."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if getattr(key_node, "value", None) == "id" and isinstance(value_node, yaml.ScalarNode):
                return f"{what} '{value_node.value}'"
    return f"{what}s[{i}]"


def _unique(reader: _Reader, node: yaml.Node, path: str, value: str, seen: dict) -> None:
    if not value.strip():
        raise reader.fail(node, f"{path}: ", "empty id; give it a name.")
    if value in seen:
        raise reader.fail(node, f"{path}: ", f"id '{value}' repeats line {seen[value]}.")
    seen[value] = node.start_mark.line + 1


def _offers(reader: _Reader, node: yaml.Node, facts: Mapping[str, Fact]) -> list[Offer]:
    out: list[Offer] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(reader.items(node, "offers")):
        name = _named(item, "offer", i)
        fields = reader.mapping(item, name, OFFER_KEYS)
        values = {k: reader.value(n, f"{name}: {k}", OFFER_KEYS[k][0]) for k, n in fields.items()}
        _unique(reader, fields["id"], name, values["id"], seen)
        if values["id"] == LEAVE_ALONE:
            raise reader.fail(fields["id"], f"{name}: ", f"'{LEAVE_ALONE}' is reserved for rules.")
        if values["kind"] not in OFFER_KINDS:
            raise reader.fail(
                fields["kind"],
                f"{name}: kind: ",
                f"unknown kind '{values['kind']}'{nearest(values['kind'], OFFER_KINDS)} "
                f"(kinds: {', '.join(OFFER_KINDS)})",
            )
        _check_ranges(reader, fields, values, name)
        _check_uplift_fact(reader, fields, values.get("uplift_fact"), name, facts)
        out.append(Offer(**values, line=item.start_mark.line + 1))
    if not out:
        raise reader.fail(node, "offers: ", "no offers; list at least one.")
    return out


def _check_ranges(reader: _Reader, fields: dict, values: dict, name: str) -> None:
    """Money and counts are not negative; rates are shares between 0 and 1."""
    for key in ("cost", "value_if_taken", "max_per_week", "opt_out_cost"):
        if values.get(key) is not None and values[key] < 0:
            raise reader.fail(fields[key], f"{name}: {key}: ", f"{values[key]} is negative.")
    for key in ("assumed_take_rate", "opt_out_rate"):
        if values.get(key) is not None and not 0 <= values[key] <= 1:
            raise reader.fail(
                fields[key], f"{name}: {key}: ", f"{values[key]} is not a share between 0 and 1."
            )


def _check_uplift_fact(
    reader: _Reader, fields: dict, fact: str | None, name: str, facts: Mapping[str, Fact]
) -> None:
    """The uplift fact of an offer is a known fact holding numbers."""
    if fact is None:
        return
    if fact not in facts:
        raise reader.fail(
            fields["uplift_fact"],
            f"{name}: uplift_fact: ",
            f"unknown fact '{fact}'{nearest(fact, facts)}",
        )
    if facts[fact].kind not in ("number", "integer"):
        raise reader.fail(
            fields["uplift_fact"],
            f"{name}: uplift_fact: ",
            f"fact '{fact}' is {facts[fact].kind}; an uplift is a number",
        )


def _rules(
    reader: _Reader, node: yaml.Node, offers: list[Offer], facts: Mapping[str, Fact | str]
) -> list[Rule]:
    offer_ids = [o.id for o in offers]
    out: list[Rule] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(reader.items(node, "rules")):
        name = _named(item, "rule", i)
        fields = reader.mapping(item, name, RULE_KEYS)
        values = {k: reader.value(n, f"{name}: {k}", RULE_KEYS[k][0]) for k, n in fields.items()}
        _unique(reader, fields["id"], name, values["id"], seen)
        if values["offer"] not in (*offer_ids, LEAVE_ALONE):
            hint = nearest(values["offer"], (*offer_ids, LEAVE_ALONE))
            listed = ", ".join((*offer_ids, LEAVE_ALONE))
            raise reader.fail(
                fields["offer"],
                f"{name}: offer: ",
                f"unknown offer '{values['offer']}'{hint or f' (offers: {listed})'}",
            )
        when = fields["when"]
        block = isinstance(when, yaml.ScalarNode) and when.style in ("|", ">")
        when_line = when.start_mark.line + 1 + block
        try:
            parse_condition(values["when"], facts)
        except RuleError as exc:
            raise _error(reader.where, when_line + exc.line - 1, f"{name}: when: {exc}") from None
        out.append(Rule(**values, line=item.start_mark.line + 1, when_line=when_line, block=block))
    return out


# ----------------------------------------------------------------------- evaluation


def rule_pairs(
    table: Any,
    catalogue: Catalogue,
    key: str,
    extra: Callable[[Any, Offer], Mapping[str, Any]] | None = None,
    facts: Mapping[str, Fact | str] = FACTS,
) -> Any:
    """Every (customer, offer) some rule makes eligible, with the rule of highest priority.

    One filtered selection of ``table`` per rule (not ``leave_alone`` rules), unioned; for each
    (``key``, offer) the rule of highest priority is kept, ties to the earlier rule.

    Parameters
    ----------
    table : ibis Table
        One row per customer: ``key`` and the facts the rules name.
    catalogue : Catalogue
    key : str
        The customer column carried.
    extra : callable, optional
        ``extra(table, offer)`` → columns to carry for a rule of that offer (name → expression).
    facts : mapping
        The facts rules may name.

    Returns
    -------
    ibis Table
        ``key``, ``_cx_offer`` (offer's position), ``_cx_rule`` (rule's position),
        ``_cx_priority`` and the ``extra`` columns; None when no rule names an offer.
    """
    index = {o.id: i for i, o in enumerate(catalogue.offers)}
    parts = []
    for r, rule in enumerate(catalogue.rules):
        if rule.offer == LEAVE_ALONE:
            continue
        offer = catalogue.offers[index[rule.offer]]
        columns = {
            key: table[key],
            "_cx_offer": literal(index[rule.offer], "int16"),
            "_cx_rule": literal(r, "int16"),
            "_cx_priority": literal(rule.priority, "int64"),
            **(extra(table, offer) if extra is not None else {}),
        }
        parts.append(table.filter(rule_condition(table, catalogue, rule, facts)).select(**columns))
    if not parts:
        return None
    pairs = parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]
    order = window(
        group_by=[pairs[key], pairs._cx_offer],
        order_by=[pairs._cx_priority.desc(), pairs._cx_rule],
    )
    ranked = pairs.mutate(_cx_rank=row_number().over(order))
    return ranked.filter(ranked._cx_rank == 0).drop("_cx_rank")


def rule_condition(
    table: Any, catalogue: Catalogue, rule: Rule, facts: Mapping[str, Fact | str] = FACTS
) -> Any:
    """A rule's condition as a boolean expression over ``table`` (False where unknown).

    Raises
    ------
    ContractError
        When ``table`` lacks a fact the rule names, or holds it with another type; the message
        names the rule's line.
    """
    tree = parse_condition(rule.when, facts)
    problem = check_fact_columns(table, condition_facts(tree), facts)
    if problem is not None:
        raise catalogue.error(rule, f"when: {problem}", rule.when_line)
    return compile_condition(tree, table)


def leave_alone_columns(
    table: Any, catalogue: Catalogue, facts: Mapping[str, Fact | str] = FACTS
) -> dict:
    """``_cx_block_priority`` and ``_cx_block_rule``: the highest priority of a ``leave_alone``
    rule that fires for the customer and that rule's position (null when none fires)."""
    blocks = [(r, rule) for r, rule in enumerate(catalogue.rules) if rule.offer == LEAVE_ALONE]
    blocks.sort(key=lambda item: (item[1].priority, -item[0]))  # the lowest first: innermost
    priority = literal(None, "int64")
    position = literal(None, "int16")
    for r, rule in blocks:
        fires = rule_condition(table, catalogue, rule, facts)
        priority = fires.ifelse(literal(rule.priority, "int64"), priority)
        position = fires.ifelse(literal(r, "int16"), position)
    return {"_cx_block_priority": priority, "_cx_block_rule": position}


def eligible_offers(
    facts_table: Any,
    catalogue: Catalogue,
    *,
    engine: Engine | None = None,
    key: str = "customer_id",
    facts: Mapping[str, Fact | str] = FACTS,
) -> Any:
    """Which offers each customer is eligible for, and the rule that made them so.

    Evaluated in the backend over all customers at once. A pair whose rule has a priority
    lower than or equal to a firing ``leave_alone`` rule of the customer is not eligible.

    Parameters
    ----------
    facts_table : ibis Table or DataFrame
        One row per customer with ``key`` and the facts the rules name.
    catalogue : Catalogue
    engine : Engine, optional
        Needed when ``facts_table`` is a pandas frame.
    key : str, default ``customer_id``
    facts : mapping
        The facts rules may name.

    Returns
    -------
    ibis Table
        ``key``, ``offer_id``, ``rule_id``, ``priority``: one row per eligible pair.
    """
    table = as_table(facts_table, engine)
    table = table.mutate(**leave_alone_columns(table, catalogue, facts))
    pairs = rule_pairs(
        table,
        catalogue,
        key,
        lambda t, _offer: {"_cx_block_priority": t._cx_block_priority},
        facts,
    )
    if pairs is None:  # only leave_alone rules: no pair (typed, from an empty selection)
        pairs = table.filter(literal(False)).select(
            key,
            _cx_offer=literal(0, "int16"),
            _cx_rule=literal(0, "int16"),
            _cx_priority=literal(0, "int64"),
            _cx_block_priority=table._cx_block_priority,
        )
    blocked = pairs._cx_block_priority.notnull() & (pairs._cx_priority <= pairs._cx_block_priority)
    kept = pairs.filter(~blocked)
    return kept.select(
        key,
        offer_id=kept._cx_offer.substitute(
            {i: o.id for i, o in enumerate(catalogue.offers)}, else_=literal(None, "string")
        ),
        rule_id=kept._cx_rule.substitute(
            {i: r.id for i, r in enumerate(catalogue.rules)}, else_=literal(None, "string")
        ),
        priority=kept._cx_priority,
    )


def when_text(rule: Rule) -> str:
    """A rule's condition on one line (for the report)."""
    return " ".join(rule.when.split())
