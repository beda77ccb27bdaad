"""The audit on real-world shapes: phone numbers of other countries, refunds with positive or
missing quantities and cancellation invoices, day/month swaps, the freshness chart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxlib import audit
from cxlib.audit._customers import revenue_at_risk
from cxlib.audit._rules import _check_rules
from cxlib.engine import Engine, as_table

AS_OF = pd.Timestamp("2025-12-31")


def test_us_numbers_differing_in_the_area_code_are_different() -> None:
    s = pd.Series(["+1 212 555 0134", "+1 312 555 0134", "(212) 555-0134", "1-212-555-0134"])
    us = audit.phone_e164(s, "US")
    assert us.tolist() == ["12125550134", "13125550134", "12125550134", "12125550134"]
    # with the UK default, numbers carrying +1 keep their own country code
    assert audit.phone_e164(s.iloc[:2], "GB").tolist() == ["12125550134", "13125550134"]


def test_uk_national_and_international_forms_agree() -> None:
    s = pd.Series(["+44 7700 900123", "07700 900123", "0044 7700 900123", "12ab", None])
    got = audit.phone_e164(s, "GB")
    assert got.iloc[:3].tolist() == ["447700900123"] * 3
    assert got.iloc[3:].isna().all()
    with pytest.raises(ValueError, match="default_region"):
        audit.phone_e164(s, "XX")


def test_matching_compares_the_full_number() -> None:
    """Two records alike but for the phone's area code are not linked by the phone."""
    cust = pd.DataFrame(
        {
            "customer_id": ["A", "B"],
            "first_name": ["Ann", "Bob"],
            "last_name": ["Lee", "Kim"],
            "phone": ["+1 212 555 0134", "+1 312 555 0134"],
            "postcode": ["10001", "60601"],
        }
    )
    norm = audit.normalise_contacts(cust, default_region="US")
    assert norm["phone"].tolist() == ["12125550134", "13125550134"]
    scv = audit.SingleCustomerView(default_region="US").fit(cust)
    assert scv.n_people_ == 2
    assert scv.weights_ == "priors"  # too few records to learn the match weights


def _tx(rows: list[tuple]) -> pd.DataFrame:
    cols = ["transaction_id", "customer_id", "timestamp", "amount", "quantity"]
    df = pd.DataFrame(rows, columns=cols)
    df["timestamp"] = pd.to_datetime(df["timestamp"]).astype("datetime64[ns]")
    df["quantity"] = df["quantity"].astype("float64")
    for c in ("transaction_id", "customer_id"):
        df[c] = df[c].astype("str")
    return df


REFUND_TX = _tx(
    [
        ("536365", "C1", "2025-03-01", 20.0, 2),
        ("C536379", "C1", "2025-03-05", -27.5, 5),  # cancellation invoice, positive quantity
        ("536400", "C2", "2025-03-02", 12.0, 1),
        ("536401", "C2", "2025-03-09", -12.0, 1),  # returns C2's purchase, positive quantity
        ("536402", "C2", "2025-03-10", -12.0, None),  # again, quantity missing
        ("536403", "C3", "2025-03-03", -8.0, -1),  # negative quantity: a refund
        ("536404", "C3", "2025-03-04", -9.0, 3),  # nothing says refund
        ("536405", "C4", "2025-03-04", -5.0, 1),  # bought for 5.0 only later
        ("536406", "C4", "2025-03-06", 5.0, 1),
    ]
)


@pytest.mark.parametrize(
    ("rule", "prefix", "flagged", "refunds"),
    [
        ("evidence", "C", 2, 4),  # flagged: -9.0 and C4's -5.0
        ("evidence", None, 3, 3),  # the cancellation is no longer recognised
        ("negative_amount", "C", 0, 6),
    ],
)
def test_refund_rules(rule: str, prefix: str | None, flagged: int, refunds: int) -> None:
    with Engine() as eng:
        tables = {"transactions": as_table(REFUND_TX, eng)}
        checks, dups = _check_rules(
            tables, as_of_date=AS_OF, engine=eng, refund_rule=rule, cancellation_prefix=prefix
        )
        totals = audit.customer_totals(tables["transactions"])
        money = revenue_at_risk(
            tables["transactions"], None, dups["transactions"], totals, rule, prefix
        )
    r = checks.results.set_index("rule_id")
    if rule == "negative_amount":
        assert "non_refund_negative_amount" not in r.index
    else:
        assert r.loc["non_refund_negative_amount", "failed_rows"] == flagged
    assert money["refund_rows"] == refunds
    assert money["non_refund_negative"] == pytest.approx({2: 14.0, 3: 41.5, 0: 0.0}[flagged])


def test_cancellations_are_refunds_in_the_report() -> None:
    res = audit.run_audit({"transactions": REFUND_TX}, as_of_date=AS_OF, pseudonym_key="k")
    texts = [f.text for f in res.findings()]
    assert any(
        "4 transactions are refunds" in t and 'starting "C" (a cancellation)' in t for t in texts
    )
    bad = res.rules.set_index("rule_id").loc["non_refund_negative_amount", "failed_rows"]
    assert bad == 2
    with pytest.raises(ValueError, match="refund_rule"):
        audit.run_audit({"transactions": REFUND_TX}, options={"refund_rule": "quantity"})


def test_ordinary_ids_starting_with_c_are_not_refunds() -> None:
    """A system whose ordinary transaction ids start with C and a digit: its positive amounts
    stay purchases; only negative amounts can be cancellations."""
    tx = REFUND_TX.assign(transaction_id="C" + REFUND_TX["transaction_id"].str.lstrip("C"))
    with Engine() as eng:
        t = as_table(tx, eng)
        refund, unmatched = audit.refund_flags(t, "evidence", "C")
        flags = t.select(t.amount, refund=refund, unmatched=unmatched).to_pandas()
    assert flags["refund"].sum() == (tx["amount"] < 0).sum()  # every negative amount
    assert not flags.loc[flags["amount"] > 0, "refund"].any()


def _daily(start: str, end: str, seed: int = 0) -> pd.DataFrame:
    days = pd.date_range(start, end, freq="D")
    rng = np.random.default_rng(seed)
    ts = np.repeat(days, 5) + pd.to_timedelta(rng.integers(8, 20, 5 * len(days)), unit="h")
    n = len(ts)
    return pd.DataFrame(
        {
            "transaction_id": pd.Series([f"T{i}" for i in range(n)], dtype="str"),
            "customer_id": pd.Series([f"C{i % 50}" for i in range(n)], dtype="str"),
            "timestamp": pd.Series(ts).astype("datetime64[ns]"),
            "amount": rng.uniform(5, 50, n),
        }
    )


def test_day_month_swap_is_named_and_does_not_move_the_date() -> None:
    tx = _daily("2025-01-01", "2025-06-30")
    late = _tx(
        [
            ("S1", "C1", "2025-11-02 10:00", 10.0, 1),  # 11 Feb written month first
            ("S2", "C2", "2025-12-03 10:00", 11.0, 1),  # 12 Mar
            ("S3", "C3", "2025-10-05 10:00", 12.0, 1),  # 10 May
            ("S4", "C4", "2025-12-20 10:00", 13.0, 1),  # day 20: no swap, a stray late date
        ]
    ).drop(columns="quantity")
    tx = pd.concat([tx, late], ignore_index=True)
    res = audit.run_audit({"transactions": tx}, pseudonym_key="k")
    # the analysis date is the last day before the jump, not the stray rows' ...
    assert res.as_of_date == pd.Timestamp("2025-06-30")
    assert res.as_of.origin == "latest data before a gap" and res.as_of.late_rows == 4
    r = res.rules.set_index("rule_id")
    assert r.loc["day_month_swap", "failed_rows"] == 3
    assert r.loc["dated_after_gap", "failed_rows"] == 1
    assert r.loc["day_month_swap", "dimension"] == "timeliness"
    assert r.loc["future_timestamp", "failed_rows"] == 0  # counted once, as late rows
    # ... and the report says so, with where the data really ends
    note = res.as_of_note()
    assert note.startswith(
        "**As-of date:** 30 June 2025, the last day of the transactions before a gap"
    )
    assert "4 later row(s), up to 20 December 2025" in note
    assert "ends on 30 June 2025" in note and "3 look like day and month swapped" in note
    texts = [f.text for f in res.findings()]
    assert any("day and month swapped" in t for t in texts)


def test_no_jump_no_swap_rows() -> None:
    tx = _daily("2025-01-01", "2025-06-30")
    res = audit.run_audit({"transactions": tx}, pseudonym_key="k")
    r = res.rules.set_index("rule_id")
    assert r.loc["day_month_swap", "failed_rows"] == 0
    assert r.loc["dated_after_gap", "failed_rows"] == 0
    assert res.as_of_note() == (
        "**As-of date:** 30 June 2025, the day of the latest transactions record."
    )
    set_date = audit.run_audit({"transactions": tx}, as_of_date="2025-07-31", pseudonym_key="k")
    assert set_date.as_of_note() == "**As-of date:** 31 July 2025, set for this run."


def test_freshness_chart_draws_date_spans() -> None:
    """Data ending on the as-of date (every table 0 days behind) still gives a chart: each
    table's date span, not bars of length zero."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cxlib.plots import audit as ap

    tx = _daily("2025-01-01", "2025-06-30")
    fresh = audit.freshness({"transactions": tx}, "2025-06-30")
    assert (fresh["days_behind"] == 0).all()
    ax = ap.plot_freshness(data=fresh)
    widths = [p.get_width() for p in ax.patches]
    assert widths == [pytest.approx(180, abs=1)]  # 1 January to 30 June
    assert ax.get_title() and ax.get_xlabel()
    plt.close("all")
