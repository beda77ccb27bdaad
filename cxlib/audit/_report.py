"""The audit's finding sentences, ranked by impact, and the display tables of notebook 01."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from cxlib.audit._expr import REFUND_RULES
from cxlib.audit._formats import AGE_RANGE
from cxlib.privacy import Suppressed
from cxlib.report import Finding, format_column, format_percent

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


class _Collector:
    """Findings as they are phrased: ``text, impact, kind``."""

    def __init__(self, result: AuditResult) -> None:
        self.result = result
        self.out: list[dict[str, Any]] = []
        self._rules = result.rules

    def add(self, text: str, impact: float, kind: str) -> None:
        self.out.append({"text": text, "impact": float(impact), "kind": kind})

    def rule(self, table: str, rule_id: str) -> pd.Series | None:
        """The rule's row when it has failures."""
        r = self._rules[(self._rules["table"] == table) & (self._rules["rule_id"] == rule_id)]
        return r.iloc[0] if len(r) and r.iloc[0]["failed_rows"] > 0 else None


def _score(c: _Collector) -> None:
    scores = c.result.scores
    overall = float(scores.loc[scores["table"] == "overall", "score"].iloc[0])
    worst = scores[(scores["dimension"] == "all") & (scores["table"] != "overall")]
    worst = worst.sort_values("score").iloc[0] if len(worst) else None
    text = f"Overall data-quality score: {overall:.1f} out of 100"
    if worst is not None:
        text += f"; the weakest table is {worst.table} ({worst.score:.1f})"
    c.add(text + ".", -1.0, "score")


def _duplicates(c: _Collector) -> None:
    scv = c.result.scv
    if scv is None or scv.skipped_reason_ is not None:
        return
    dup = scv.n_records_ - scv.n_people_
    sizes = scv.master_map_.groupby("master_id").size()
    people_multi = int((sizes > 1).sum())
    text = (
        f"{_n(people_multi)} customers ({_pct(people_multi / max(scv.n_people_, 1))}) "
        f"appear more than once: the {_n(scv.n_records_)} customer records hold "
        f"{_n(scv.n_people_)} people"
        + (
            " (match weights learnt from these records)"
            if scv.weights_ == "learnt"
            else " (match weights: documented defaults, too few records to learn them)"
        )
    )
    if c.result.impact is not None:
        ch = c.result.impact.set_index("measure")["change"]
        text += (
            f"; merging them raises average spend per customer by "
            f"{_pct(ch['revenue per customer'])}"
        )
    c.add(text + ".", 2 * dup / max(scv.n_records_, 1), "duplicates")


def _unusable_rows(c: _Collector) -> None:
    """Rows set aside, orphans and duplicate rows."""
    money = c.result.revenue_at_risk
    for table, (n, nq) in c.result.checks.totals.items():
        if nq:
            c.add(
                f"{_rows(table, nq)} ({_pct(nq / (n + nq))}) could not be read (unreadable "
                "dates or numbers, missing customer ids) and are left out of every analysis.",
                nq / (n + nq),
                "quarantine",
            )
    r = c.rule("transactions", "orphan_customer_id")
    if r is not None:
        extra = ""
        if money.get("revenue"):
            extra = f", worth {_pct(money['orphan_revenue'] / money['revenue'])} of revenue,"
        c.add(
            f"{_rows('transactions', r.failed_rows)} ({_pct(r.share)}){extra} belong to "
            "customer ids missing from the customer table, so they cannot be tied to a person.",
            2 * r.share,
            "orphans",
        )
    for table in ("events", "feedback", "campaign"):
        r = c.rule(table, "orphan_customer_id")
        if r is not None:
            c.add(
                f"{_rows(table, r.failed_rows)} ({_pct(r.share)}) belong to customer ids missing "
                "from the customer table.",
                r.share,
                "orphans",
            )
    r = c.rule("transactions", "duplicate_row")
    if r is not None:
        prof = c.result.profile
        has_id = ((prof["table"] == "transactions") & (prof["column"] == "transaction_id")).any()
        if has_id:
            text = (
                f"{_rows('transactions', r.failed_rows)} ({_pct(r.share)}) are exact duplicates, "
                f"overstating revenue by {money.get('duplicate_revenue', 0):,.0f}."
            )
        else:
            text = (
                f"{_rows('transactions', r.failed_rows)} ({_pct(r.share)}) are identical to "
                "another row; without a transaction id they may be genuine repeat purchases or "
                f"double loads (worth {money.get('duplicate_revenue', 0):,.0f})."
            )
        c.add(text, 1.5 * r.share, "duplicate_rows")
    for table in ("events", "feedback", "campaign"):
        r = c.rule(table, "duplicate_row")
        if r is not None:
            c.add(
                f"{_rows(table, r.failed_rows)} ({_pct(r.share)}) are exact duplicates.",
                r.share,
                "duplicate_rows",
            )


def _wrong_values(c: _Collector) -> None:
    """Negative amounts, future dates and label spellings."""
    money = c.result.revenue_at_risk
    r = c.rule("transactions", "non_refund_negative_amount")
    if r is not None:
        c.add(
            f"{_rows('transactions', r.failed_rows)} ({_pct(r.share)}) have a negative amount "
            "with nothing saying it is a refund (no negative quantity, no earlier purchase of "
            "that amount by the customer), understating revenue by "
            f"{money.get('non_refund_negative', 0):,.0f}.",
            1.5 * r.share,
            "negative",
        )
    if money.get("refund_rows"):
        rule = REFUND_RULES[c.result.refund_rule]
        if c.result.cancellation_prefix:
            rule += (
                f', or a transaction id starting "{c.result.cancellation_prefix}" (a cancellation)'
            )
        c.add(
            f"{_n(money['refund_rows'])} transactions are refunds worth "
            f"{money.get('refunds', 0):,.0f} in total (a refund is {rule}).",
            0.0,
            "refunds",
        )
    for table in ("transactions", "events", "feedback"):
        r = c.rule(table, "day_month_swap")
        if r is not None:
            c.add(
                f"{_rows(table, r.failed_rows)} ({_pct(r.share)}) are dated after the rest of "
                "the data but would fall inside it with day and month swapped: the dates are "
                "ambiguous (day first or month first) and must be corrected.",
                2 * r.share + 0.01,
                "dates",
            )
        r = c.rule(table, "future_timestamp")
        if r is not None:
            c.add(
                f"{_rows(table, r.failed_rows)} ({_pct(r.share)}) are dated after "
                f"{c.result.as_of_date:%d %b %Y}, i.e. in the future.",
                r.share,
                "future",
            )
    sp = c.result.checks.label_spellings
    for table, col in (
        ("transactions", "channel"),
        ("events", "channel"),
        ("transactions", "category"),
        ("events", "touchpoint"),
    ):
        r = c.rule(table, f"inconsistent_{col}_label")
        if r is not None:
            n_sp = len(sp[(sp["table"] == table) & (sp["column"] == col)])
            c.add(
                f"{_rows(table, r.failed_rows)} ({_pct(r.share)}) carry a {col} label spelled "
                f"in one of {n_sp} non-standard ways (case, spaces"
                + (", synonyms such as 'online' for web" if col == "channel" else "")
                + f"); reports by {col} miscount them until the labels are cleaned.",
                r.share,
                "labels",
            )


def _contacts(c: _Collector) -> None:
    """Customers that cannot be reached or whose details are not valid."""
    cust = c.result.checks.totals.get("customers")
    if cust is None:
        return
    ncust = max(cust[0], 1)
    bad_email = c.rule("customers", "invalid_email")
    miss_email = c.rule("customers", "missing_email")
    k = (0 if bad_email is None else bad_email.failed_rows) + (
        0 if miss_email is None else miss_email.failed_rows
    )
    if k:
        c.add(
            f"{_rows('customers', k)} ({_pct(k / ncust)}) cannot be reached by e-mail: the "
            "address is missing or not valid.",
            k / ncust,
            "email",
        )
    year = c.result.as_of_date.year
    for rid, what in (
        ("invalid_phone", "a phone number that is not valid"),
        ("invalid_postcode", "a postcode that is not valid"),
        (
            "implausible_birth_year",
            "an implausible birth year (before "
            f"{year - AGE_RANGE[1]} or after {year - AGE_RANGE[0]})",
        ),
    ):
        r = c.rule("customers", rid)
        if r is not None:
            c.add(
                f"{_rows('customers', r.failed_rows)} ({_pct(r.share)}) have {what}.",
                0.5 * r.share,
                rid,
            )


def _consent(c: _Collector, retention_months: int) -> None:
    result = c.result
    cp = result.consent_people if len(result.consent_people) else result.consent
    if not len(cp) or cp["customers"].sum() <= 0:
        return
    full = cp.set_index("status")["share"]
    shown = result.consent_table().set_index("status")
    s, n = shown["share"], shown["customers"]
    old = f"consent older than {retention_months} months"
    min_size = result.min_group_size
    few = f"fewer than {min_size}"
    if "consent given" in s:
        text = (
            f"Only {_pct(s['consent given'])} of customers ({_n(n['consent given'])}) may "
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
    c.add(text + ".", float(full.get("no consent record", 0.0) + full.get(old, 0.0)), "consent")


def _freshness(c: _Collector) -> None:
    fr = c.result.freshness
    if not len(fr):
        return
    stale = fr[(fr["source_system"] == "all") & (fr["days_behind"] > 7)]
    for row in stale.itertuples():
        c.add(
            f"The {row.table} data ends {int(row.days_behind)} days before the as-of date "
            f"(last record {row.latest:%d %b %Y}).",
            min(row.days_behind / 365, 1.0),
            "freshness",
        )


def audit_findings(
    result: AuditResult, *, retention_months: int | None = None
) -> list[dict[str, Any]]:
    """Findings for a business reader, ranked by impact.

    The impact of a finding is the share of customers, rows or revenue it affects (duplicated
    customers and unattributable revenue count double: they distort every per-customer figure).
    The overall score and the single-customer-view result are always headlines, plus the
    highest-impact other finding. ``retention_months`` defaults to the run's
    (``result.consent_retention_months``).

    Returns
    -------
    list of dict ``text, impact, headline, kind``: the score first, then by descending impact.
    """
    if retention_months is None:
        retention_months = result.consent_retention_months
    c = _Collector(result)
    _score(c)
    _duplicates(c)
    _unusable_rows(c)
    _wrong_values(c)
    _contacts(c)
    _consent(c, int(retention_months))
    _freshness(c)
    head, rest = c.out[0], sorted(c.out[1:], key=lambda d: -d["impact"])
    head["headline"] = True
    first_other = True
    for d in rest:
        d["headline"] = d["kind"] == "duplicates"
        if d["kind"] not in ("duplicates", "refunds") and first_other:
            d["headline"], first_other = True, False
    return [head, *rest]


def add_findings(findings: Any, result: AuditResult, *, retention_months: int | None = None) -> Any:
    """Add :func:`audit_findings` to a :class:`cxlib.report.Findings` collector; returns it."""
    for item in audit_findings(result, retention_months=retention_months):
        findings.add(item["text"], headline=item["headline"], impact=item["impact"])
    return findings


def findings_list(result: AuditResult) -> list[Finding]:
    """:func:`audit_findings` as :class:`cxlib.report.Finding` items, in the same order."""
    return [
        Finding(item["text"], item["headline"], item["impact"]) for item in audit_findings(result)
    ]


# ---------------------------------------------------------------------------------------------
# display tables: the report's column names and units (percentages), suppression notes
# ---------------------------------------------------------------------------------------------


def as_of_note(result: AuditResult) -> str:
    """The as-of date line of the report (Markdown): the date and where it comes from
    (:class:`cxlib.contract.AnalysisDate`), and the rows dated after a jump at the end of the
    data (day/month swaps among them), which do not move it."""
    text = f"**As-of date:** {result.as_of.note}"
    spans = result.checks.date_spans
    rules = result.rules.set_index(["table", "rule_id"])["failed_rows"]
    for row in spans.itertuples():
        late = sum(
            int(rules.get((row.table, rid), 0)) for rid in ("day_month_swap", "dated_after_gap")
        )
        if not late:
            continue
        swaps = int(rules.get((row.table, "day_month_swap"), 0))
        text += (
            f" The {row.table} data ends on {row.data_end:%d %B %Y}: {_rows(row.table, late)} "
            f"are dated after a gap ({_n(swaps)} look like day and month swapped); correct "
            "them at the source."
        )
    return text


def _coded(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``column`` cells marked as names from the user's data (shown in code
    type, as they are spelt in the files)."""
    if "column" not in frame.columns:
        return frame
    return frame.assign(column=format_column(frame["column"], "code"))


def counts_table(result: AuditResult) -> pd.DataFrame:
    """Rows read, used and set aside per table."""
    return result.counts.rename(
        columns={
            "read_rows": "rows read",
            "accepted_rows": "rows used",
            "quarantined_rows": "rows set aside",
        }
    )


def issues_note(result: AuditResult) -> str | None:
    """The sentence shown instead of the issues chart and table when no rule failed (an empty
    chart is not drawn); None when some rule failed."""
    if (result.rules["failed_rows"] > 0).any():
        return None
    return f"No data-quality rule failed: all {len(result.rules):,} rules passed on every row."


def completeness_note(result: AuditResult) -> str | None:
    """The sentence shown instead of the completeness chart when every column is filled in on
    every row; None when some value is missing."""
    if (result.profile["completeness"] < 1).any():
        return None
    return f"Every column is filled in on every row ({len(result.profile):,} columns)."


def top_issues_table(result: AuditResult, n: int = 15) -> pd.DataFrame:
    """The ``n`` rules failing on the largest share of rows, shares in percent."""
    return _coded(
        result.top_issues(n)
        .assign(share=lambda d: d["share"].map(lambda v: format_percent(v, 2)))
        .rename(
            columns={
                "failed_rows": "rows failing",
                "total_rows": "rows checked",
                "share": "share failing",
            }
        )
    )


def _note(shown: Suppressed, what: str) -> str | None:
    note = shown.note(what=what, unit="people")
    return f"_{note}_" if note else None


def linkage_notice(result: AuditResult) -> str | None:
    """Why there is no single customer view (None when records were linked)."""
    if result.scv is None:
        return (
            "there is no customers table, so records cannot be compared; every "
            "customer id counts as one person in the master map"
        )
    return result.scv.skipped_reason_


def duplicates_table(result: AuditResult) -> pd.DataFrame:
    """:meth:`AuditResult.duplicates_by_system` with the report's column names."""
    return result.duplicates_by_system().rename(
        columns={
            "source_system": "source system",
            "records_of_people_with_several": "records of people recorded more than once",
            "duplicate_records": "duplicate records",
        }
    )


def duplicates_note(result: AuditResult) -> str | None:
    """The note on source systems hidden from the duplicates table (Markdown), if any."""
    return _note(result.duplicates_suppressed(), "row")


def impact_display(result: AuditResult) -> pd.DataFrame | None:
    """:attr:`AuditResult.impact` with the report's column names (None without it)."""
    if result.impact is None:
        return None
    return result.impact.rename(
        columns={
            "per_record": "counting records",
            "per_person": "counting people",
            "change": "change (share)",
        }
    )


def consent_notice(result: AuditResult) -> str | None:
    """Why there is no consent table (None when there is one, even if fully suppressed)."""
    ct = result.consent_suppressed()
    if len(ct.frame) or ct.hidden:
        return None
    return "the data holds no marketing consent column"


def consent_display(result: AuditResult) -> pd.DataFrame:
    """:meth:`AuditResult.consent_table` in people and percent."""
    return (
        result.consent_table()
        .assign(share=lambda d: d["share"].map(format_percent))
        .rename(columns={"customers": "people", "share": "share of people"})
    )


def consent_note(result: AuditResult) -> str | None:
    """The note on consent statuses hidden from the consent table (Markdown), if any."""
    return _note(result.consent_suppressed(), "consent status")


def pii_table(result: AuditResult) -> pd.DataFrame:
    return _coded(result.pii.rename(columns={"found_by": "found by"}))


def unused_table(result: AuditResult) -> pd.DataFrame:
    return _coded(result.unused.rename(columns={"used_by": "used by"}))


def freshness_table(result: AuditResult) -> pd.DataFrame:
    return result.freshness.rename(
        columns={
            "source_system": "source system",
            "days_behind": "days behind",
            "future_rows": "rows dated in the future",
        }
    )


def profile_table(result: AuditResult) -> pd.DataFrame:
    return _coded(
        result.profile.assign(completeness=lambda d: d["completeness"].map(format_percent)).rename(
            columns={"non_missing": "filled", "completeness": "share filled"}
        )
    )


def rules_table(result: AuditResult) -> pd.DataFrame:
    """Every rule (without ids and examples), shares in percent."""
    return _coded(
        result.rules.drop(columns=["rule_id", "examples"])
        .assign(share=lambda d: d["share"].map(lambda v: format_percent(v, 2)))
        .rename(
            columns={
                "failed_rows": "rows failing",
                "total_rows": "rows checked",
                "share": "share failing",
            }
        )
    )


def spellings_table(result: AuditResult) -> pd.DataFrame:
    return _coded(result.checks.label_spellings.rename(columns={"usual": "usual spelling"}))
