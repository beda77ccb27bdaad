"""The offer catalogue (actions.yml) and its rule language (cxlib.action._catalogue, _rules).

Conditions are parsed into a restricted grammar and compiled to backend expressions evaluated
over all customers at once, with missing facts never satisfying a condition; every problem in a
catalogue stops with a ContractError (exit 2 under ``cx run``) naming the file and the line.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxlib.action._catalogue import (
    eligible_offers,
    load_catalogue,
    parse_catalogue,
)
from cxlib.action._rules import FACTS, RuleError, compile_condition, parse_condition
from cxlib.cli import main
from cxlib.contract import ContractError
from cxlib.engine import Engine, fetch_frame, is_table

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "cxlib" / "synth" / "actions.yml"

CATALOGUE = textwrap.dedent(
    """\
    offers:
      - id: save_call
        kind: retention
        channel: call_centre
        cost: 6
        value_if_taken: 150
        assumed_take_rate: 0.06
        max_per_week: 10
      - id: home_email
        kind: cross_sell
        channel: email
        category: home
        cost: 0.3
        value_if_taken: 20
        assumed_take_rate: 0.03
    rules:
      - id: save_risky
        offer: save_call
        when: "churn_probability >= 0.4 and value_at_risk_band in ['high', 'medium']"
        priority: 10
      - id: save_vip
        offer: save_call
        when: |
          0.2 <= churn_probability < 0.9
          or segment == 'vip'
        priority: 20
      - id: home
        offer: home_email
        when: cross_sell_category == 'home' and cross_sell_score > 0.3
      - id: quiet
        offer: leave_alone
        when: open_complaint
        priority: 15
    """
)
# the line of each part of CATALOGUE (1-based), for the error tests
LINE = {
    "offer save_call": 2,
    "kind save_call": 3,
    "cost save_call": 5,
    "kind home_email": 10,
    "when save_risky": 19,
    "priority save_risky": 20,
    "save_vip id": 21,
    "when save_vip first": 24,
    "when save_vip second": 25,
    "offer home": 28,
    "when home": 29,
    "rule home": 27,
}


def facts_frame() -> pd.DataFrame:
    """Six customers covering the null cases."""
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e", "f"],
            "churn_probability": [0.5, 0.95, None, 0.3, 0.1, 0.45],
            "value_at_risk_band": pd.array(["high", "low", "high", None, "low", "medium"]),
            "open_complaint": pd.array([False, True, None, True, False, False], dtype="boolean"),
            "segment": pd.array(["x", "vip", "vip", None, "x", "x"]),
            "cross_sell_category": pd.array(["home", "home", "home", "toys", None, "home"]),
            "cross_sell_score": [0.5, 0.1, 0.9, 0.8, 0.9, None],
        }
    )


def evaluate(condition: str, frame: pd.DataFrame) -> list[bool]:
    """A condition evaluated by the backend over ``frame``, in row order."""
    tree = parse_condition(condition)
    with Engine() as engine:
        table = engine.table(frame)
        out = fetch_frame(table.select("cx_row_number", hit=compile_condition(tree, table)))
    return out.sort_values("cx_row_number")["hit"].astype(bool).tolist()


# ----------------------------------------------------------------------- the language


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("churn_probability >= 0.4", [True, True, False, False, False, True]),
        ("0.4 <= churn_probability", [True, True, False, False, False, True]),
        ("0.2 <= churn_probability < 0.9", [True, False, False, True, False, True]),
        ("segment == 'vip'", [False, True, True, False, False, False]),
        ("segment != 'vip'", [True, False, False, False, True, True]),  # d: missing → no
        ("value_at_risk_band in ['high', 'medium']", [True, False, True, False, False, True]),
        ("value_at_risk_band not in ['high']", [False, True, False, False, True, True]),
        ("open_complaint", [False, True, False, True, False, False]),
        ("not open_complaint", [True, False, False, False, True, True]),  # c: missing → no
        ("open_complaint == False", [True, False, False, False, True, True]),
        ("churn_probability > 0.9 or segment == 'vip'", [False, True, True, False, False, False]),
        # c: churn missing, but segment == 'x' is false, so the 'and' is false whatever it is
        (
            "not (churn_probability > 0.4 and segment == 'x')",
            [False, True, True, True, True, False],
        ),
        ("cross_sell_score > churn_probability", [False, False, False, True, True, False]),
        ("True", [True] * 6),
        ("churn_probability >= -1", [True, True, False, True, True, True]),
    ],
)
def test_conditions_evaluate_in_the_backend_with_missing_facts_never_matching(condition, expected):
    assert evaluate(condition, facts_frame()) == expected


def test_missing_fact_matches_neither_a_condition_nor_its_negation():
    frame = facts_frame()
    plain = evaluate("churn_probability >= 0.4", frame)
    negated = evaluate("not churn_probability >= 0.4", frame)
    missing = frame["churn_probability"].isna().to_numpy()
    assert not any(np.array(plain)[missing]) and not any(np.array(negated)[missing])
    assert all(p != n for p, n, m in zip(plain, negated, missing, strict=True) if not m)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (
            "churn_probabilty >= 0.4",
            "unknown fact 'churn_probabilty'; did you mean 'churn_probability'?",
        ),
        ("churn_probability is 0.4", "operator 'is' is not allowed"),
        ("churn_probability * 2 > 1", "operator '*' is not allowed"),
        ("abs(churn_probability) > 1", "function calls are not allowed"),
        ("segment.lower == 'x'", "attributes ('.lower') are not allowed"),
        ("segment[0] == 'x'", "indexing"),
        ("~open_complaint", "write 'not'"),
        ("segment > 'a'", "'>' orders numbers only"),
        ("churn_probability > 'high'", "compares number with text"),
        ("open_complaint == 1", "compares boolean with integer"),
        ("1 < 2", "compares two constants"),
        ("segment in 'vip'", "must be a list"),
        ("'vip' in segment", "the left of 'in' must be a fact"),
        ("segment in []", "empty list"),
        ("churn_probability in ['a']", "is not number like fact 'churn_probability'"),
        ("value_at_risk_band == 'hihg'", "did you mean 'high'?"),
        ("uplift_group == 'sleepingdog'", "did you mean 'sleeping_dog'?"),
        ("segment", "fact 'segment' is text, not a condition"),
        ("segment == None", "None is not a value"),
        ("churn_probability => 0.4", "write '>='"),
        ("segment = 'vip'", "compare with '=='"),
        ("churn_probability > 0.4 AND open_complaint", "write 'and' in lower case"),
        ("", "empty condition"),
        ("[churn_probability > 1]", "a list goes only on the right"),
    ],
)
def test_conditions_outside_the_grammar_are_refused_with_the_fix(condition, message):
    with pytest.raises(RuleError) as err:
        parse_condition(condition)
    assert message in str(err.value)


def test_facts_can_be_extended_by_the_caller():
    facts = {**FACTS, "tenure_days": "number"}
    parse_condition("tenure_days > 30", facts)
    with pytest.raises(RuleError, match="unknown fact 'tenure_days'"):
        parse_condition("tenure_days > 30")


# ----------------------------------------------------------------------- the catalogue


def test_catalogue_reads_offers_rules_and_lines():
    cat = parse_catalogue(CATALOGUE, "actions.yml")
    assert [o.id for o in cat.offers] == ["save_call", "home_email"]
    save = cat.offer("save_call")
    assert (save.kind, save.channel, save.cost, save.value_if_taken) == (
        "retention",
        "call_centre",
        6.0,
        150.0,
    )
    assert save.max_per_week == 10 and cat.offer("home_email").max_per_week is None
    assert cat.offer("home_email").category == "home"
    assert [r.priority for r in cat.rules] == [10, 20, 0, 15]
    assert [r.line for r in cat.rules] == [17, 21, 27, 30]
    assert cat.rules[1].when_line == LINE["when save_vip first"]


def error_of(text: str, where: str = "actions.yml") -> str:
    with pytest.raises(ContractError) as err:
        parse_catalogue(text, where)
    return str(err.value)


def edit(old: str, new: str) -> str:
    assert old in CATALOGUE
    return CATALOGUE.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        (
            "churn_probability >= 0.4",
            "churn_prob >= 0.4",
            LINE["when save_risky"],
            "rule 'save_risky': when: unknown fact 'churn_prob'; did you mean 'churn_probability'?",
        ),
        (
            "offer: home_email",
            "offer: home_emial",
            LINE["offer home"],
            "rule 'home': offer: unknown offer 'home_emial'; did you mean 'home_email'?",
        ),
        (
            "cross_sell_score > 0.3",
            "cross_sell_score >> 0.3",
            LINE["when home"],
            "rule 'home': when: operator '>>' is not allowed",
        ),
        (
            "or segment == 'vip'",
            "or segment is 'vip'",
            LINE["when save_vip second"],
            "rule 'save_vip': when: operator 'is' is not allowed",
        ),
        (
            "kind: cross_sell",
            "kind: crosssell",
            LINE["kind home_email"],
            "offer 'home_email': kind: unknown kind 'crosssell'; did you mean 'cross_sell'?",
        ),
        (
            "priority: 10",
            "priority: high",
            LINE["priority save_risky"],
            "rule 'save_risky': priority: expected integer, got text ('high').",
        ),
        (
            "    cost: 6\n",
            "    cost: 6\n    costs: 3\n",
            LINE["cost save_call"] + 1,
            "offer 'save_call': costs: unknown key; did you mean 'cost'?",
        ),
        (
            "    cost: 6\n",
            "    cost: six\n",
            LINE["cost save_call"],
            "offer 'save_call': cost: expected number, got text ('six').",
        ),
        (
            "    cost: 6\n",
            "    cost: -6\n",
            LINE["cost save_call"],
            "offer 'save_call': cost: -6.0 is negative.",
        ),
        (
            "assumed_take_rate: 0.06",
            "assumed_take_rate: 6",
            LINE["cost save_call"] + 2,
            "assumed_take_rate: 6.0 is not a share between 0 and 1.",
        ),
        (
            "- id: save_vip",
            "- id: save_risky",
            LINE["save_vip id"],
            "id 'save_risky' repeats line 17.",
        ),
        (
            "    value_if_taken: 150\n",
            "",
            LINE["offer save_call"],
            "offer 'save_call': missing key 'value_if_taken'",
        ),
        (
            "    priority: 10\n",
            "    priority: 10\n    priority: 11\n",
            LINE["priority save_risky"] + 1,
            "rule 'save_risky': priority: given twice",
        ),
        (
            "  - id: home\n",
            "  - id: home\n    whem: segment == 'x'\n",
            LINE["rule home"] + 1,
            "rule 'home': whem: unknown key; did you mean 'when'?",
        ),
        (
            "max_per_week: 10",
            "max_per_week: 2.5",
            LINE["cost save_call"] + 3,
            "max_per_week: expected integer or null, got number (2.5).",
        ),
        ("rules:", "rulez:", 17 - 1, "rulez: unknown key; did you mean 'rules'?"),
        (
            "when: cross_sell_category == 'home' and",
            "when: [cross_sell_category == 'home'] and",
            LINE["when home"],
            "not valid YAML",
        ),
    ],
)
def test_every_problem_stops_naming_the_file_and_the_line(old, new, line, message):
    text = error_of(edit(old, new))
    assert text.startswith(f"actions.yml, line {line}: "), text
    assert message in text


def test_top_level_and_empty_files_are_refused():
    assert "missing key 'rules'" in error_of(CATALOGUE.split("rules:")[0])
    assert error_of("").startswith("actions.yml, line 1: empty")
    assert "expected a mapping" in error_of("- a\n- b\n")
    assert "offers: expected a list" in error_of("offers: 3\nrules: []\n")
    assert "'leave_alone' is reserved" in error_of(edit("id: home_email", "id: leave_alone"))


def test_uplift_fact_must_be_a_known_numeric_fact():
    text = edit("    max_per_week: 10\n", "    max_per_week: 10\n    uplift_fact: upflit\n")
    assert "uplift_fact: unknown fact 'upflit'; did you mean 'uplift'?" in error_of(text)
    text = edit("    max_per_week: 10\n", "    max_per_week: 10\n    uplift_fact: segment\n")
    assert "fact 'segment' is text; an uplift is a number" in error_of(text)


def test_a_missing_file_is_a_contract_error(tmp_path):
    with pytest.raises(ContractError, match="offer catalogue not found"):
        load_catalogue(tmp_path / "actions.yml")


def test_a_catalogue_error_is_exit_2_without_traceback(tmp_path, monkeypatch, capsys):
    """The command line turns a ContractError into exit 2; the catalogue's error is one."""
    bad = tmp_path / "actions.yml"
    bad.write_text(edit("churn_probability >= 0.4", "churn_prob >= 0.4"), encoding="utf-8")

    def failing_run(args):
        load_catalogue(bad)

    monkeypatch.setattr("cxlib.cli._run", failing_run)
    assert main(["run", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}, line {LINE['when save_risky']}: rule 'save_risky'" in err
    assert "Traceback" not in err


def test_the_documented_example_loads_and_every_rule_compiles():
    cat = load_catalogue(EXAMPLE)
    assert {o.kind for o in cat.offers} == {
        "retention",
        "cross_sell",
        "up_sell",
        "win_back",
        "service_recovery",
    }
    assert any(r.offer == "leave_alone" for r in cat.rules)
    frame = pd.DataFrame({"customer_id": ["a", "b"]})
    for fact, fact_type in FACTS.items():
        dtype = {"number": "Float64", "integer": "Int64", "text": "str", "boolean": "boolean"}
        frame[fact] = pd.Series([None, None], dtype=dtype[fact_type.kind])
    with Engine() as engine:
        pairs = eligible_offers(frame, cat, engine=engine)
        assert fetch_frame(pairs).empty  # every fact missing: no rule fires


# ----------------------------------------------------------------------- evaluation


def test_eligible_offers_carry_the_highest_priority_rule_and_leave_alone_blocks():
    cat = parse_catalogue(CATALOGUE, "actions.yml")
    with Engine() as engine:
        pairs = eligible_offers(facts_frame(), cat, engine=engine)
        assert is_table(pairs)  # evaluated in the backend, not a pandas loop
        got = fetch_frame(pairs).sort_values(["customer_id", "offer_id"])
    rows = [tuple(r) for r in got[["customer_id", "offer_id", "rule_id", "priority"]].to_numpy()]
    assert rows == [
        ("a", "home_email", "home", 0),
        ("a", "save_call", "save_vip", 20),  # save_risky (10) fires too: the higher one named
        ("b", "save_call", "save_vip", 20),  # complaint: quiet (15) blocks up to 15 only
        ("c", "home_email", "home", 0),  # complaint unknown: quiet does not fire
        ("c", "save_call", "save_vip", 20),  # churn missing, but segment == 'vip' holds
        ("d", "save_call", "save_vip", 20),
        ("f", "save_call", "save_vip", 20),
    ]


def test_leave_alone_of_higher_priority_blocks_and_ties_block():
    text = edit("    priority: 15\n", "    priority: 20\n")
    cat = parse_catalogue(text, "actions.yml")
    with Engine() as engine:
        got = fetch_frame(eligible_offers(facts_frame(), cat, engine=engine))
    # b and d have an open complaint: save_vip (20) is held back by quiet (20)
    assert set(got["customer_id"]) == {"a", "c", "f"}


def test_a_rule_on_a_fact_missing_from_the_table_names_its_line():
    cat = parse_catalogue(CATALOGUE, "actions.yml")
    frame = facts_frame().drop(columns="segment")
    with Engine() as engine, pytest.raises(ContractError) as err:
        eligible_offers(frame, cat, engine=engine)
    assert str(err.value).startswith(f"actions.yml, line {LINE['when save_vip first']}: ")
    assert "fact 'segment' is not a column of the facts table" in str(err.value)


def test_a_fact_of_the_wrong_type_in_the_table_is_refused():
    cat = parse_catalogue(CATALOGUE, "actions.yml")
    frame = facts_frame().assign(churn_probability=lambda f: f["churn_probability"].astype(str))
    with Engine() as engine, pytest.raises(ContractError, match="should be number"):
        eligible_offers(frame, cat, engine=engine)
