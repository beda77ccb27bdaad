"""The rule language of the offer catalogue: readable conditions over customer facts.

A rule's ``when`` is a condition such as::

    churn_probability >= 0.4 and value_at_risk_band in ['high', 'medium'] and not open_complaint

It is parsed with :mod:`ast` into a restricted grammar and compiled to one boolean expression of
the backend, evaluated over every customer at once. The grammar::

    condition  := condition 'and' condition | condition 'or' condition | 'not' condition
                | '(' condition ')' | comparison | boolean_fact | 'True' | 'False'
    comparison := operand op operand [op operand ...]     (chained: 0.2 <= p_alive < 0.6)
                | fact ['not'] 'in' '[' constant, ... ']'
    op         := '==' | '!=' | '<' | '<=' | '>' | '>='
    operand    := fact | number | 'text' | True | False

Nothing else: no calls, attributes, subscripts, arithmetic or ``is``. Each fact has a kind
(:data:`FACTS`): numbers are ordered, text and booleans are only compared for (in)equality, and a
constant must be of its fact's kind (and one of its values when the fact has a closed list, e.g.
``value_at_risk_band``).

Missing facts follow SQL's three-valued logic and an unknown outcome does not fire the rule: a
comparison with a missing fact is unknown, so neither ``open_complaint`` nor ``not
open_complaint`` holds for a customer whose complaint status is missing (the compiled
expression is wrapped in an explicit ``coalesce(…, False)``).
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce
from types import MappingProxyType
from typing import Any

from cxlib.action._facts import FACT_KINDS as _FACT_KINDS
from cxlib.engine import coalesce, literal

OFFER_KINDS: tuple[str, ...] = (
    "retention",
    "cross_sell",
    "up_sell",
    "win_back",
    "service_recovery",
)
"""The kinds of offer a catalogue may hold."""

UPLIFT_GROUPS: tuple[str, ...] = (
    "persuadable",
    "sure_thing",
    "lost_cause",
    "sleeping_dog",
    "unknown",
)
"""Values of the ``uplift_group`` fact (the campaign's response groups, or unknown)."""

FACT_TYPES: tuple[str, ...] = ("number", "integer", "text", "boolean")
"""The kinds a fact may have."""


@dataclass(frozen=True)
class Fact:
    """A customer fact rules may name: its kind (``number``, ``integer``, ``text``,
    ``boolean``) and, for text with a closed list, its values."""

    kind: str
    values: tuple[str, ...] = ()


FACT_VALUES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"value_at_risk_band": ("low", "medium", "high"), "uplift_group": UPLIFT_GROUPS}
)
"""Text facts with a closed list of values: a rule comparing them with another value stops."""


def as_facts(facts: Mapping[str, Fact | str]) -> dict[str, Fact]:
    """``facts`` as :class:`Fact` by name: a plain kind (``"number"``) becomes a fact of that
    kind with the values of :data:`FACT_VALUES`."""
    out = {}
    for name, fact in facts.items():
        if isinstance(fact, str):
            if fact not in FACT_TYPES:
                raise ValueError(f"fact {name!r}: unknown kind {fact!r} (kinds: {FACT_TYPES})")
            fact = Fact(fact, FACT_VALUES.get(name, ()))
        out[name] = fact
    return out


FACTS: Mapping[str, Fact] = MappingProxyType(as_facts(_FACT_KINDS))
"""Every fact a rule may name, with its kind: the facts of :func:`cxlib.action.customer_facts`
(``cxlib.action._facts.FACT_KINDS``, the one list; extend it there). A caller may pass
``facts={**FACTS, "name": "number"}`` to the catalogue functions."""

_OPS: dict[type, str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_ORDERED = {"<", "<=", ">", ">="}
_BINARY = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
}
_SYNTAX_HINTS = (
    (" AND ", "write 'and' in lower case"),
    (" OR ", "write 'or' in lower case"),
    ("&&", "write 'and'"),
    ("||", "write 'or'"),
    ("=>", "write '>='"),
    ("=<", "write '<='"),
    ("<>", "write '!='"),
)
ALLOWED = "==, !=, <, <=, >, >=, in, not in, and, or, not"


class RuleError(ValueError):
    """A condition outside the grammar; ``line`` is 1-based within the condition's text."""

    def __init__(self, message: str, line: int = 1, column: int = 0):
        super().__init__(message)
        self.line = line
        self.column = column


def nearest(name: str, names: Any) -> str:
    """``; did you mean 'x'?`` for the closest of ``names``, or the empty string."""
    close = difflib.get_close_matches(name, [str(n) for n in names], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def parse_condition(text: str, facts: Mapping[str, Fact | str] = FACTS) -> ast.expr:
    """Parse and check a rule condition.

    Parameters
    ----------
    text : str
        The condition (see the module's grammar).
    facts : mapping, default :data:`FACTS`
        The facts a condition may name.

    Returns
    -------
    ast.expr
        The checked syntax tree (compile it with :func:`compile_condition`).

    Raises
    ------
    RuleError
        At the first unknown fact, operator or construct, or constant of the wrong kind.
    """
    if not isinstance(text, str) or not text.strip():
        raise RuleError('empty condition; write e.g. "churn_probability >= 0.4"')
    facts = as_facts(facts)
    source = text.rstrip()
    try:  # in parentheses: a condition may span lines (a YAML block scalar)
        tree = ast.parse(f"({source}\n)", mode="eval").body
    except SyntaxError as exc:
        hint = next((h for token, h in _SYNTAX_HINTS if token in f" {source} "), "")
        bare = source
        for op in ("==", "!=", "<=", ">="):
            bare = bare.replace(op, "")
        if not hint and "=" in bare:
            hint = "compare with '==' (a single '=' assigns)"
        raise RuleError(
            f"not a valid condition ({exc.msg}){'; ' + hint if hint else ''}",
            exc.lineno or 1,
            max((exc.offset or 1) - 1 - (exc.lineno in (None, 1)), 0),
        ) from None
    _check_condition(tree, facts)
    return tree


def condition_facts(tree: ast.expr) -> list[str]:
    """The facts a checked condition names, in order of first use."""
    return list(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)))


# ----------------------------------------------------------------------- checking


def _fail(node: ast.AST, message: str) -> RuleError:
    line = getattr(node, "lineno", 1)
    column = getattr(node, "col_offset", 0) - (line == 1)  # the parse's opening parenthesis
    return RuleError(message, line, max(column, 0))


def _not_allowed(node: ast.AST) -> RuleError:
    """The error for a construct outside the grammar, naming it."""
    if isinstance(node, ast.Call):
        what = "function calls are not allowed"
    elif isinstance(node, ast.Attribute):
        what = f"attributes ('.{node.attr}') are not allowed"
    elif isinstance(node, ast.Subscript):
        what = "indexing ('[...]' after a name) is not allowed"
    elif isinstance(node, ast.BinOp):
        what = f"operator '{_BINARY.get(type(node.op), '?')}' is not allowed"
    elif isinstance(node, ast.UnaryOp):
        what = "operator '~' is not allowed; write 'not'"
    else:
        what = f"`{ast.unparse(node)}` is not allowed"
    return _fail(node, f"{what}; a condition uses facts, constants and {ALLOWED}")


def _check_condition(node: ast.expr, facts: Mapping[str, Fact]) -> None:
    """Check that ``node`` is a condition (something true or false)."""
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check_condition(value, facts)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check_condition(node.operand, facts)
    elif isinstance(node, ast.Compare):
        _check_compare(node, facts)
    elif isinstance(node, ast.Name):
        kind = _fact(node, facts).kind
        if kind != "boolean":
            raise _fail(node, f"fact '{node.id}' is {kind}, not a condition; compare it")
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return
    elif isinstance(node, ast.Constant):
        raise _fail(node, f"constant {node.value!r} is not a condition")
    elif isinstance(node, ast.List | ast.Tuple | ast.Set):
        raise _fail(node, "a list goes only on the right of 'in' or 'not in'")
    else:
        raise _not_allowed(node)


def _fact(node: ast.Name, facts: Mapping[str, Fact]) -> Fact:
    if node.id in ("true", "false", "null", "None", "none"):
        raise _fail(
            node, f"unknown name '{node.id}'; write True or False (a missing fact never matches)"
        )
    fact = facts.get(node.id)
    if fact is None:
        raise _fail(node, f"unknown fact '{node.id}'{nearest(node.id, facts)}")
    return fact


def _constant(node: ast.expr) -> Any:
    """The value of a constant operand (a signed number allowed), or raise."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = node.operand
        if isinstance(inner, ast.Constant) and _kind_of(inner.value) in ("integer", "number"):
            return -inner.value if isinstance(node.op, ast.USub) else inner.value
    if isinstance(node, ast.Constant) and node.value is None:
        raise _fail(node, "None is not a value; a missing fact never matches a condition")
    if isinstance(node, ast.Constant) and _kind_of(node.value) is not None:
        return node.value
    raise _not_allowed(node)


def _kind_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "text"
    return None


def _operand_kind(node: ast.expr, facts: Mapping[str, Fact]) -> tuple[str, Fact | None]:
    """The kind of an operand and its fact (None for a constant)."""
    if isinstance(node, ast.Name):
        fact = _fact(node, facts)
        return fact.kind, fact
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        raise _fail(node, "a list goes only on the right of 'in' or 'not in'")
    return _kind_of(_constant(node)) or "", None


def _compatible(a: str, b: str) -> bool:
    numeric = ("integer", "number")
    return a == b or (a in numeric and b in numeric)


def _check_compare(node: ast.Compare, facts: Mapping[str, Fact]) -> None:
    left = node.left
    for op, right in zip(node.ops, node.comparators, strict=True):
        symbol = _OPS.get(type(op))
        if symbol is None:
            name = "is not" if isinstance(op, ast.IsNot) else "is"
            raise _fail(node, f"operator '{name}' is not allowed; use == or != ({ALLOWED})")
        if symbol in ("in", "not in"):
            _check_membership(left, symbol, right, facts)
        else:
            _check_pair(node, left, symbol, right, facts)
        left = right


def _check_pair(
    node: ast.Compare, left: ast.expr, symbol: str, right: ast.expr, facts: Mapping[str, Fact]
) -> None:
    lkind, lfact = _operand_kind(left, facts)
    rkind, rfact = _operand_kind(right, facts)
    if lfact is None and rfact is None:
        raise _fail(node, f"`{ast.unparse(node)}` compares two constants; name a fact")
    if not _compatible(lkind, rkind):
        fact_node = left if lfact is not None else right
        raise _fail(
            node,
            f"`{ast.unparse(node)}` compares {lkind} with {rkind}; fact "
            f"'{ast.unparse(fact_node)}' is {lkind if lfact is not None else rkind}",
        )
    if symbol in _ORDERED and lkind not in ("integer", "number"):
        raise _fail(node, f"'{symbol}' orders numbers only; {lkind} takes == or != or 'in'")
    for fact, other in ((lfact, right), (rfact, left)):
        if fact is not None and fact.values and isinstance(other, ast.Constant):
            _check_value(other, other.value, fact)


def _check_value(node: ast.AST, value: Any, fact: Fact) -> None:
    if fact.values and value not in fact.values:
        raise _fail(
            node,
            f"{value!r} is not a value of this fact ({', '.join(fact.values)})"
            f"{nearest(str(value), fact.values)}",
        )


def _check_membership(
    left: ast.expr, symbol: str, right: ast.expr, facts: Mapping[str, Fact]
) -> None:
    if not isinstance(left, ast.Name):
        raise _fail(left, f"the left of '{symbol}' must be a fact")
    fact = _fact(left, facts)
    if not isinstance(right, ast.List | ast.Tuple):
        raise _fail(right, f"the right of '{symbol}' must be a list, e.g. ['a', 'b']")
    if not right.elts:
        raise _fail(right, f"an empty list after '{symbol}'")
    for elt in right.elts:
        value = _constant(elt)
        if not _compatible(fact.kind, _kind_of(value) or ""):
            raise _fail(elt, f"{value!r} is not {fact.kind} like fact '{left.id}'")
        _check_value(elt, value, fact)


# ----------------------------------------------------------------------- compiling


def compile_condition(tree: ast.expr, table: Any) -> Any:
    """A checked condition as a boolean expression over ``table`` (one row per customer).

    Parameters
    ----------
    tree : ast.expr
        From :func:`parse_condition`.
    table : ibis Table
        Holds a column for every fact the condition names.

    Returns
    -------
    ibis BooleanColumn
        True where the condition holds; False where it does not or is unknown (a missing fact).
    """
    return coalesce(_compile(tree, table), False)


def _compile(node: ast.expr, table: Any) -> Any:
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, table) for v in node.values]
        if isinstance(node.op, ast.And):
            return reduce(lambda a, b: a & b, parts)
        return reduce(lambda a, b: a | b, parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ~_compile(node.operand, table)
    if isinstance(node, ast.Name):
        return table[node.id]
    if isinstance(node, ast.Constant):
        return literal(bool(node.value))
    assert isinstance(node, ast.Compare)
    parts = []
    left = node.left
    for op, right in zip(node.ops, node.comparators, strict=True):
        parts.append(_compare(_OPS[type(op)], left, right, table))
        left = right
    return reduce(lambda a, b: a & b, parts)


def _value(node: ast.expr, table: Any) -> Any:
    return table[node.id] if isinstance(node, ast.Name) else _constant(node)


def _compare(symbol: str, left: ast.expr, right: ast.expr, table: Any) -> Any:
    a = _value(left, table)
    if symbol in ("in", "not in"):
        values = [_constant(e) for e in right.elts]  # type: ignore[attr-defined]
        return a.isin(values) if symbol == "in" else a.notin(values)
    b = _value(right, table)
    if not isinstance(left, ast.Name):  # a constant on the left: the column leads
        a, b = b, a
        symbol = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(symbol, symbol)
    ops = {
        "==": lambda x, y: x == y,
        "!=": lambda x, y: x != y,
        "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y,
        ">": lambda x, y: x > y,
        ">=": lambda x, y: x >= y,
    }
    return ops[symbol](a, b)


def check_fact_columns(table: Any, names: list[str], facts: Mapping[str, Fact | str]) -> str | None:
    """The first problem with the facts table's columns for ``names`` (missing, or of a type
    unlike the fact's kind), or None."""
    facts = as_facts(facts)
    schema = table.schema()
    for name in names:
        if name not in schema:
            return f"fact '{name}' is not a column of the facts table"
        dtype, kind = schema[name], facts[name].kind
        ok = {
            "number": dtype.is_numeric(),
            "integer": dtype.is_numeric(),
            "text": dtype.is_string(),
            "boolean": dtype.is_boolean(),
        }.get(kind, False)
        if not ok:
            return f"fact '{name}' should be {kind} but the facts table holds {dtype}"
    return None
