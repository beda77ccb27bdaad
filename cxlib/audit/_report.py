"""The audit's finding sentences, ranked by impact."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from cxlib.audit._formats import AGE_RANGE

if TYPE_CHECKING:
    from cxlib.audit._run import AuditResult


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _n(x: float) -> str:
    return f"{int(round(x)):,}"


_ROW_NAMES = {
    "transactions": ("transaction", "transactions"),
    "events": ("event", "events"),
    "feedback": ("feedback answer", "feedback answers"),
    "campaign": ("campaign row", "campaign rows"),
    "customers": ("customer record", "customer records"),
}


def _rows(table: str, k: int) -> str:
    one, many = _ROW_NAMES.get(table, ("row", "rows"))
    return f"{_n(k)} {one if k == 1 else many}"


def audit_findings(result: AuditResult, *, retention_months: int = 24) -> list[dict[str, Any]]:
    """Findings for a business reader, ranked by impact.

    The impact of a finding is the share of customers, rows or revenue it affects (duplicated
    customers and unattributable revenue count double: they distort every per-customer figure).
    The overall score and the single-customer-view result are always headlines, plus the
    highest-impact other finding.

    Returns
    -------
    list of dict ``text, impact, headline, kind``: the score first, then by descending impact.
    """
    out: list[dict[str, Any]] = []
    rules = result.rules
    money = result.revenue_at_risk

    def rule(table: str, rule_id: str) -> pd.Series | None:
        r = rules[(rules["table"] == table) & (rules["rule_id"] == rule_id)]
        return r.iloc[0] if len(r) and r.iloc[0]["failed_rows"] > 0 else None

    def add(text: str, impact: float, kind: str) -> None:
        out.append({"text": text, "impact": float(impact), "kind": kind})

    scores = result.scores
    overall = float(scores.loc[scores["table"] == "overall", "score"].iloc[0])
    worst = scores[(scores["dimension"] == "all") & (scores["table"] != "overall")]
    worst = worst.sort_values("score").iloc[0] if len(worst) else None
    text = f"Overall data-quality score: {overall:.1f} out of 100"
    if worst is not None:
        text += f"; the weakest table is {worst.table} ({worst.score:.1f})"
    add(text + ".", -1.0, "score")

    scv = result.scv
    if scv is not None and scv.skipped_reason_ is None:
        dup = scv.n_records_ - scv.n_people_
        sizes = scv.master_map_.groupby("master_id").size()
        people_multi = int((sizes > 1).sum())
        text = (
            f"{_n(people_multi)} customers ({_pct(people_multi / max(scv.n_people_, 1))}) "
            f"appear more than once: the {_n(scv.n_records_)} customer records hold "
            f"{_n(scv.n_people_)} people"
        )
        if result.impact is not None:
            ch = result.impact.set_index("measure")["change"]
            text += (
                f"; merging them raises average spend per customer by "
                f"{_pct(ch['revenue per customer'])}"
            )
        add(text + ".", 2 * dup / max(scv.n_records_, 1), "duplicates")
    for table, (n, nq) in result.checks.totals.items():
        if nq:
            add(
                f"{_rows(table, nq)} ({_pct(nq / (n + nq))}) could not be read (unreadable "
                "dates or numbers, missing customer ids) and are left out of every analysis.",
                nq / (n + nq),
                "quarantine",
            )
    r = rule("transactions", "orphan_customer_id")
    if r is not None:
        extra = ""
        if money.get("revenue"):
            extra = f", worth {_pct(money['orphan_revenue'] / money['revenue'])} of revenue,"
        add(
            f"{_rows('transactions', r.failed_rows)} ({_pct(r.share)}){extra} belong to "
            "customer ids missing from the customer table, so they cannot be tied to a person.",
            2 * r.share,
            "orphans",
        )
    for table in ("events", "feedback", "campaign"):
        r = rule(table, "orphan_customer_id")
        if r is not None:
            add(
                f"{_rows(table, r.failed_rows)} ({_pct(r.share)}) belong to customer ids missing "
                "from the customer table.",
                r.share,
                "orphans",
            )
    r = rule("transactions", "duplicate_row")
    if r is not None:
        prof = result.profile
        has_id = ((prof["table"] == "transactions") & (prof["column"] == "transaction_id")).any()
        if has_id:
            text = (
                f"{_rows('transactions', r.failed_rows)} ({_pct(r.share)}) are exact duplicates, "
                f"overstating revenue by {money.get('duplicate_revenue', 0):,.0f}."
            )
        else:
            text = (
                f"{_rows('transactions', r.failed_rows)} ({_pct(r.share)}) are identical to another "
                "row; without a transaction id they may be genuine repeat purchases or double "
                f"loads (worth {money.get('duplicate_revenue', 0):,.0f})."
            )
        add(text, 1.5 * r.share, "duplicate_rows")
    for table in ("events", "feedback", "campaign"):
        r = rule(table, "duplicate_row")
        if r is not None:
            add(
                f"{_rows(table, r.failed_rows)} ({_pct(r.share)}) are exact duplicates.",
                r.share,
                "duplicate_rows",
            )
    r = rule("transactions", "non_refund_negative_amount")
    if r is not None:
        add(
            f"{_rows('transactions', r.failed_rows)} ({_pct(r.share)}) have a negative amount "
            "but a positive quantity (not a refund), understating revenue by "
            f"{money.get('non_refund_negative', 0):,.0f}.",
            1.5 * r.share,
            "negative",
        )
    for table in ("transactions", "events", "feedback"):
        r = rule(table, "future_timestamp")
        if r is not None:
            add(
                f"{_rows(table, r.failed_rows)} ({_pct(r.share)}) are dated after "
                f"{result.as_of_date:%d %b %Y}, i.e. in the future.",
                r.share,
                "future",
            )
    sp = result.checks.label_spellings
    for table, col in (
        ("transactions", "channel"),
        ("events", "channel"),
        ("transactions", "category"),
        ("events", "touchpoint"),
    ):
        r = rule(table, f"inconsistent_{col}_label")
        if r is not None:
            n_sp = len(sp[(sp["table"] == table) & (sp["column"] == col)])
            add(
                f"{_rows(table, r.failed_rows)} ({_pct(r.share)}) carry a {col} label spelled "
                f"in one of {n_sp} non-standard ways (case, spaces"
                + (", synonyms such as 'online' for web" if col == "channel" else "")
                + f"); reports by {col} miscount them until the labels are cleaned.",
                r.share,
                "labels",
            )
    cust = result.checks.totals.get("customers")
    if cust is not None:
        ncust = max(cust[0], 1)
        bad_email = rule("customers", "invalid_email")
        miss_email = rule("customers", "missing_email")
        k = (0 if bad_email is None else bad_email.failed_rows) + (
            0 if miss_email is None else miss_email.failed_rows
        )
        if k:
            add(
                f"{_rows('customers', k)} ({_pct(k / ncust)}) cannot be reached by e-mail: the "
                "address is missing or not valid.",
                k / ncust,
                "email",
            )
        for rid, what in (
            ("invalid_phone", "a phone number that is not valid"),
            ("invalid_postcode", "a postcode that is not valid"),
            (
                "implausible_birth_year",
                "an implausible birth year (before "
                f"{result.as_of_date.year - AGE_RANGE[1]} or after "
                f"{result.as_of_date.year - AGE_RANGE[0]})",
            ),
        ):
            r = rule("customers", rid)
            if r is not None:
                add(
                    f"{_rows('customers', r.failed_rows)} ({_pct(r.share)}) have {what}.",
                    0.5 * r.share,
                    rid,
                )
    cp = result.consent_people if len(result.consent_people) else result.consent
    if len(cp) and cp["customers"].sum() > 0:
        full = cp.set_index("status")["share"]
        shown = result.consent_table().set_index("status")
        s, c = shown["share"], shown["customers"]
        old = f"consent older than {retention_months} months"
        min_size = result.min_group_size
        few = f"fewer than {min_size}"
        if "consent given" in s:
            text = (
                f"Only {_pct(s['consent given'])} of customers ({_n(c['consent given'])}) may "
                "receive marketing"
            )
        elif int(cp.set_index("status")["customers"].get("consent given", 0)) < min_size:
            text = f"{few.capitalize()} customers may receive marketing"
        else:
            text = (
                "How many customers may receive marketing is not shown (it would reveal a "
                f"group of {few} people)"
            )
        parts = []
        if "no consent record" in s:
            parts.append(f"{_pct(s['no consent record'])} have no consent record")
        if old in s:
            parts.append(f"{_pct(s[old])} gave consent more than {retention_months} months ago")
        text += (": " + " and ".join(parts)) if parts else ""
        add(
            text + ".",
            float(full.get("no consent record", 0.0) + full.get(old, 0.0)),
            "consent",
        )
    fr = result.freshness
    if len(fr):
        stale = fr[(fr["source_system"] == "all") & (fr["days_behind"] > 7)]
        for row in stale.itertuples():
            add(
                f"The {row.table} data ends {int(row.days_behind)} days before the as-of date "
                f"(last record {row.latest:%d %b %Y}).",
                min(row.days_behind / 365, 1.0),
                "freshness",
            )
    head, rest = out[0], sorted(out[1:], key=lambda d: -d["impact"])
    head["headline"] = True
    first_other = True
    for d in rest:
        d["headline"] = d["kind"] == "duplicates"
        if d["kind"] != "duplicates" and first_other:
            d["headline"], first_other = True, False
    return [head, *rest]


def add_findings(findings: Any, result: AuditResult, *, retention_months: int = 24) -> Any:
    """Add :func:`audit_findings` to a :class:`cxlib.report.Findings` collector; returns it."""
    for item in audit_findings(result, retention_months=retention_months):
        findings.add(item["text"], headline=item["headline"], impact=item["impact"])
    return findings
