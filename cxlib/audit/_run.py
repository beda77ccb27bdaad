"""The whole audit: :func:`run_audit` and :class:`AuditResult`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cxlib.audit import _report
from cxlib.audit._customers import (
    consent_summary,
    customer_totals,
    impact_table,
    revenue_at_risk,
)
from cxlib.audit._expr import engine_for
from cxlib.audit._formats import DEFAULT_REGION
from cxlib.audit._linkage import SingleCustomerView
from cxlib.audit._profile import freshness, pii_inventory, profile_tables, unused_columns
from cxlib.audit._rules import RuleChecks, _check_rules, _repeated_ids, scorecard
from cxlib.engine import Engine, analysis_day, as_table, is_table
from cxlib.privacy import Suppressed, resolve_pseudonym_key, suppress_small_groups
from cxlib.report import Finding
from cxlib.result import QuestionResult


@dataclass
class AuditResult(QuestionResult):
    """Everything notebook 01 shows (see :func:`run_audit`): the measures as attributes, the
    findings (:meth:`findings`), the export files (:meth:`exports`) and the display tables
    (``*_table`` methods, with the report's column names)."""

    as_of_date: pd.Timestamp
    counts: pd.DataFrame
    profile: pd.DataFrame
    freshness: pd.DataFrame
    checks: RuleChecks
    scores: pd.DataFrame
    scv: SingleCustomerView | None
    master_map: pd.DataFrame
    impact: pd.DataFrame | None
    consent: pd.DataFrame
    consent_people: pd.DataFrame
    pii: pd.DataFrame
    unused: pd.DataFrame
    revenue_at_risk: dict[str, float] = field(default_factory=dict)
    refund_rule: str = "evidence"
    cancellation_prefix: str | None = "C"
    min_group_size: int = 10
    consent_retention_months: int = 24
    as_of: Any = None
    """The :class:`cxlib.contract.AnalysisDate` of the run (where the as-of date comes from)."""

    @property
    def rules(self) -> pd.DataFrame:
        return self.checks.results

    def duplicates_suppressed(self) -> Suppressed:
        """Records, people and duplicates overall and per source system, as the report shows
        them: groups of fewer than ``min_group_size`` people are suppressed (source systems with
        complementary suppression, since their records add up to the ``all`` row).

        Returns
        -------
        Suppressed
            The rows shown (an empty frame when the single customer view was not built) and
            the number hidden (see :meth:`cxlib.privacy.Suppressed.note`).
        """
        cols = [
            "source_system",
            "records",
            "people",
            "records_of_people_with_several",
            "duplicate_records",
        ]
        if self.scv is None or self.scv.skipped_reason_ is not None:
            return Suppressed(pd.DataFrame(columns=cols), min_size=self.min_group_size)
        return _suppress_with_total(self.scv.summary(), "people", self.min_group_size)

    def duplicates_by_system(self) -> pd.DataFrame:
        """The rows of :meth:`duplicates_suppressed` that are shown."""
        return self.duplicates_suppressed().frame

    def consent_suppressed(self) -> Suppressed:
        """Consent status per person (per record without a single customer view), statuses of
        fewer than ``min_group_size`` people suppressed with complementary suppression (the
        statuses add up to all people).

        Returns
        -------
        Suppressed
            The rows shown (columns ``status, customers, share``; empty when there is no
            consent column) and the number hidden.
        """
        cp = self.consent_people if len(self.consent_people) else self.consent
        if not len(cp) or cp["customers"].sum() == 0:
            return Suppressed(cp.iloc[0:0].copy(), min_size=self.min_group_size)
        return suppress_small_groups(cp, "customers", self.min_group_size, complement=True)

    def consent_table(self) -> pd.DataFrame:
        """The rows of :meth:`consent_suppressed` that are shown."""
        return self.consent_suppressed().frame

    def data_quality_export(self) -> pd.DataFrame:
        """``exports/data_quality.csv``: table, column, rule, dimension, failed_rows, total_rows."""
        return self.rules[
            ["table", "column", "rule", "dimension", "failed_rows", "total_rows"]
        ].copy()

    def findings(self) -> list[Finding]:
        """The finding sentences ranked by impact, the score first (headlines marked)."""
        return _report.findings_list(self)

    def exports(self) -> dict[str, pd.DataFrame]:
        """``data_quality.csv`` (:meth:`data_quality_export`) and ``customer_master_map.csv``
        (:attr:`master_map`), as ``docs/outputs.md`` lists them."""
        return {
            "data_quality.csv": self.data_quality_export(),
            "customer_master_map.csv": self.master_map,
        }

    @property
    def linked(self) -> bool:
        """Whether the single customer view linked the customer records."""
        return self.scv is not None and self.scv.skipped_reason_ is None

    def match_pairs(self) -> pd.DataFrame:
        """The scored candidate pairs of the single customer view (empty without one)."""
        if not self.linked:
            return pd.DataFrame(columns=["customer_id_l", "customer_id_r", "match_probability"])
        return self.scv.pairs_

    # display tables and notes of the notebook (see cxlib.audit._report)
    as_of_note = _report.as_of_note
    counts_table = _report.counts_table
    top_issues_table = _report.top_issues_table
    issues_note = _report.issues_note
    completeness_note = _report.completeness_note
    linkage_notice = _report.linkage_notice
    duplicates_table = _report.duplicates_table
    duplicates_note = _report.duplicates_note
    impact_table = _report.impact_display
    consent_notice = _report.consent_notice
    consent_display = _report.consent_display
    consent_note = _report.consent_note
    pii_table = _report.pii_table
    unused_table = _report.unused_table
    freshness_table = _report.freshness_table
    profile_table = _report.profile_table
    rules_table = _report.rules_table
    spellings_table = _report.spellings_table

    def top_issues(self, n: int = 10) -> pd.DataFrame:
        """Rules with failures, largest share first (plain names, counts, examples)."""
        r = self.rules[self.rules["failed_rows"] > 0].copy()
        r = r.sort_values(["share", "failed_rows"], ascending=False, kind="stable").head(n)
        return r[
            ["table", "rule", "dimension", "failed_rows", "total_rows", "share", "examples"]
        ].reset_index(drop=True)


def _suppress_with_total(df: pd.DataFrame, count_col: str, min_size: int) -> Suppressed:
    """Suppress small groups in a table whose first row (``source_system == "all"``) is the
    total of the others: the total under ``min_size`` hides everything, and the other rows get
    complementary suppression so that none can be worked out as total minus the rest."""
    is_total = (df["source_system"] == "all").to_numpy()
    total = suppress_small_groups(df.loc[is_total], count_col, min_size)
    if len(total.frame) == 0:
        return Suppressed(df.iloc[0:0].copy(), len(df), False, min_size)
    rest = suppress_small_groups(df.loc[~is_total], count_col, min_size, complement=True)
    out = pd.concat([total.frame, rest.frame], ignore_index=True)
    return Suppressed(out, rest.hidden, rest.complementary, min_size)


def _rows_removed_after_reading(data: Any) -> bool:
    sup = getattr(data, "suppressed", None)
    return sup is not None and len(sup) > 0 and float(sup["rows_removed"].sum()) > 0


def _len(table: Any) -> int:
    return int(table.count().execute()) if is_table(table) else len(table)


def _source_data(data: Any, as_of_date: Any) -> Any:
    """``data`` as a :class:`cxlib.contract.SourceData` (a dict of tables gets one with no rows
    set aside)."""
    if not isinstance(data, Mapping):
        return data
    from cxlib.contract import SourceData, resolve_as_of_date

    tables = dict(data)
    counts = pd.DataFrame(
        [(k, "", n, n, 0) for k, n in ((k, _len(v)) for k, v in tables.items())],
        columns=["table", "file", "read_rows", "accepted_rows", "quarantined_rows"],
    )
    return SourceData(
        source=None,
        tables=tables,
        quarantine={},
        counts=counts,
        as_of_date=resolve_as_of_date(tables, as_of_date),
    )


def _link_customers(
    data: Any, cfg: Mapping[str, Any], as_of: pd.Timestamp, match_threshold: float, seed: int
) -> tuple[SingleCustomerView | None, pd.DataFrame]:
    """The single customer view of the customers table and the master map (every customer id
    its own person when there is no customers table)."""
    customers = data.tables.get("customers")
    if customers is not None and len(customers):
        scv = SingleCustomerView(
            match_threshold=match_threshold,
            random_state=seed,
            postcode_regex=cfg.get("postcode_regex"),
            default_region=cfg.get("default_region") or DEFAULT_REGION,
        ).fit(customers, as_of_date=as_of)
        return scv, scv.master_map_
    cust = data.customers()
    cols = ["customer_id"] + (["source_system"] if "source_system" in cust else [])
    # no customer details to compare: every customer id is its own person
    return None, SingleCustomerView().fit(cust[cols]).master_map_


def run_audit(
    data: Any,
    *,
    as_of_date: Any = None,
    options: Mapping[str, Any] | None = None,
    engine: Engine | None = None,
    pseudonym_key: str | None = None,
    consent_retention_months: int = 24,
    match_threshold: float = 0.99,
    seed: int = 42,
    config: Mapping[str, Any] | None = None,
    min_group_size: int = 10,
) -> AuditResult:
    """Run the whole audit on a loaded source (``cxlib.contract.load_source``).

    Parameters
    ----------
    data : SourceData or mapping of str to DataFrame or backend table
        A loaded source (``tables``, ``quarantine``, ``counts``, ``as_of_date``,
        ``customers()``), or its tables alone (nothing set aside). Every measure runs in the
        backend: the event-level tables may be backend (Ibis) tables, e.g. from
        ``load_source(..., lazy=("transactions", "events"))``, and pandas frames are registered
        on ``engine`` first. The customers table must be a pandas frame (the single customer
        view reads it).
    as_of_date : date-like, optional
        The analysis date (default: the source's).
    options : mapping, optional
        The audit's options (the ``audit`` block of the run config): ``postcode_regex``,
        ``channel_synonyms``, ``default_region``, ``refund_rule`` and
        ``cancellation_prefix``; they override ``config["audit"]``.
    engine : Engine, optional
        Where pandas frames and intermediate tables are kept (a temporary one by default,
        closed before returning).
    pseudonym_key : str, optional
        Key for pseudonymised ids in examples.
    consent_retention_months : int
        Consent older than this counts as expired.
    match_threshold : float
        Match probability from which two records are the same person.
    seed : int
        Seed of the Splink u-estimation sample.
    config : mapping, optional
        The whole run config; ``config["audit"]`` is read as ``options`` (kept for existing
        calls).
    min_group_size : int
        Groups of fewer people (source systems, consent statuses) are not shown in the report
        tables (:meth:`AuditResult.duplicates_by_system`, :meth:`AuditResult.consent_table`) nor
        quoted in the findings.
    """
    cfg = {**dict((config or {}).get("audit", {}) or {}), **dict(options or {})}
    data = _source_data(data, as_of_date)
    tables = dict(data.tables)
    if is_table(tables.get("customers")):
        raise TypeError("run_audit: the customers table must be a pandas frame, not lazy")
    as_of = analysis_day(data.as_of_date if as_of_date is None else as_of_date)
    refunds = (str(cfg.get("refund_rule") or "evidence"), cfg.get("cancellation_prefix", "C"))
    scv, master_map = _link_customers(data, cfg, as_of, match_threshold, seed)
    linked = scv is not None and scv.skipped_reason_ is None
    customers = tables.get("customers")
    with engine_for(engine) as eng:
        frames, tables = tables, {k: as_table(v, eng) for k, v in tables.items()}
        checks, duplicates = _check_rules(
            tables,
            customers=customers,
            as_of_date=as_of,
            engine=eng,
            quarantine=data.quarantine,
            pseudonym_key=resolve_pseudonym_key(pseudonym_key),
            channel_synonyms=cfg.get("channel_synonyms"),
            postcode_regex=cfg.get("postcode_regex"),
            duplicate_people=(scv.n_records_, scv.n_people_) if linked else None,
            file_row_numbers=not _rows_removed_after_reading(data),
            refund_rule=refunds[0],
            cancellation_prefix=refunds[1],
        )
        impact, money = None, {}
        if "transactions" in tables:
            tx = tables["transactions"]
            totals = customer_totals(tx)  # one per-customer aggregate for both
            if scv is not None:
                impact = impact_table(master_map, totals)
            money = revenue_at_risk(tx, customers, duplicates["transactions"], totals, *refunds)
        profile = profile_tables(tables, repeated_values=_repeated_ids(duplicates), engine=eng)
        fresh = freshness(tables, as_of, engine=eng)
        pii = pii_inventory(tables, engine=eng)
    if customers is not None:
        consent = consent_summary(customers, as_of, consent_retention_months)
        consent_people = consent_summary(customers, as_of, consent_retention_months, master_map)
    else:
        consent = consent_people = pd.DataFrame(columns=["status", "customers", "share"])
    from cxlib.contract import analysis_date

    origin = getattr(data, "as_of", None)
    if as_of_date is not None or origin is None:
        origin = analysis_date(data.tables, as_of if as_of_date is not None else None)
    return AuditResult(
        as_of=origin,
        as_of_date=as_of,
        counts=data.counts,
        profile=profile,
        freshness=fresh,
        checks=checks,
        scores=scorecard(checks),
        scv=scv,
        master_map=master_map,
        impact=impact,
        consent=consent,
        consent_people=consent_people,
        pii=pii,
        unused=unused_columns(frames),
        revenue_at_risk=money,
        refund_rule=refunds[0],
        cancellation_prefix=refunds[1],
        min_group_size=int(min_group_size),
        consent_retention_months=int(consent_retention_months),
    )
