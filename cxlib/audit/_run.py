"""The whole audit: :func:`run_audit` and :class:`AuditResult`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cxlib.audit._customers import (
    _backend_customer_totals,
    _backend_money,
    _CustomerTotals,
    consent_summary,
    merge_impact,
)
from cxlib.audit._formats import exact_duplicates, isin
from cxlib.audit._linkage import SingleCustomerView
from cxlib.audit._profile import freshness, pii_inventory, profile_tables, unused_columns
from cxlib.audit._rules import RuleChecks, _repeated_ids, check_rules, scorecard
from cxlib.privacy import (
    resolve_pseudonym_key,
    suppress_small_groups,
)
from cxlib.sources import is_backend_table


@dataclass
class AuditResult:
    """Everything notebook 01 shows (see :func:`run_audit`)."""

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
    min_group_size: int = 10

    @property
    def rules(self) -> pd.DataFrame:
        return self.checks.results

    def duplicates_by_system(self) -> pd.DataFrame:
        """Records, people and duplicates overall and per source system, as the report shows
        them: groups of fewer than ``min_group_size`` people are suppressed (source systems with
        complementary suppression, since their records add up to the ``all`` row).

        Returns an empty frame when the single customer view was not built; the number of
        hidden rows is in ``attrs["suppressed_groups"]`` (see :func:`cxlib.privacy.suppression_note`).
        """
        cols = [
            "source_system",
            "records",
            "people",
            "records_of_people_with_several",
            "duplicate_records",
        ]
        if self.scv is None or self.scv.skipped_reason_ is not None:
            return pd.DataFrame(columns=cols)
        return _suppress_with_total(self.scv.summary(), "people", self.min_group_size)

    def consent_table(self) -> pd.DataFrame:
        """Consent status per person (per record without a single customer view), statuses of
        fewer than ``min_group_size`` people suppressed with complementary suppression (the
        statuses add up to all people). Columns ``status, customers, share``."""
        cp = self.consent_people if len(self.consent_people) else self.consent
        if not len(cp) or cp["customers"].sum() == 0:
            return cp.iloc[0:0].copy()
        return suppress_small_groups(cp, "customers", self.min_group_size, complement=True)

    def data_quality_export(self) -> pd.DataFrame:
        """``exports/data_quality.csv``: table, column, rule, dimension, failed_rows, total_rows."""
        return self.rules[
            ["table", "column", "rule", "dimension", "failed_rows", "total_rows"]
        ].copy()

    def top_issues(self, n: int = 10) -> pd.DataFrame:
        """Rules with failures, largest share first (plain names, counts, examples)."""
        r = self.rules[self.rules["failed_rows"] > 0].copy()
        r = r.sort_values(["share", "failed_rows"], ascending=False, kind="stable").head(n)
        return r[
            ["table", "rule", "dimension", "failed_rows", "total_rows", "share", "examples"]
        ].reset_index(drop=True)


def _suppress_with_total(df: pd.DataFrame, count_col: str, min_size: int) -> pd.DataFrame:
    """Suppress small groups in a table whose first row (``source_system == "all"``) is the
    total of the others: the total under ``min_size`` hides everything, and the other rows get
    complementary suppression so that none can be worked out as total minus the rest."""
    is_total = (df["source_system"] == "all").to_numpy()
    total = suppress_small_groups(df.loc[is_total], count_col, min_size)
    if len(total) == 0:
        parts = df.iloc[0:0].copy()
        parts.attrs["suppressed_groups"] = len(df)
        parts.attrs["complementary"] = False
        return parts
    rest = suppress_small_groups(df.loc[~is_total], count_col, min_size, complement=True)
    out = pd.concat([total, rest], ignore_index=True)
    out.attrs["suppressed_groups"] = rest.attrs["suppressed_groups"]
    out.attrs["complementary"] = rest.attrs["complementary"]
    return out


def _rows_removed_after_reading(data: Any) -> bool:
    sup = getattr(data, "suppressed", None)
    return sup is not None and len(sup) > 0 and float(sup["rows_removed"].sum()) > 0


def run_audit(
    data: Any,
    *,
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
    data : SourceData
        With ``tables``, ``quarantine``, ``counts``, ``as_of_date`` and ``customers()``. The
        event-level tables (transactions, events; any table but customers) may be backend
        (Ibis) tables, e.g. from ``load_source(..., lazy=("transactions", "events"))``: every
        measure on them is computed in the backend and the result equals the pandas one (up to
        floating-point summation order in revenue sums).
    pseudonym_key : str, optional
        Key for pseudonymised ids in examples.
    consent_retention_months : int
        Consent older than this counts as expired.
    match_threshold : float
        Match probability from which two records are the same person.
    seed : int
        Seed of the Splink u-estimation sample.
    config : mapping, optional
        ``audit.postcode_regex`` and ``audit.channel_synonyms`` are read when present.
    min_group_size : int
        Groups of fewer people (source systems, consent statuses) are not shown in the report
        tables (:meth:`AuditResult.duplicates_by_system`, :meth:`AuditResult.consent_table`) nor
        quoted in the findings.
    """
    cfg = dict((config or {}).get("audit", {}) or {})
    tables = dict(data.tables)
    if is_backend_table(tables.get("customers")):
        raise TypeError("run_audit: the customers table must be a pandas frame, not lazy")
    as_of = pd.Timestamp(data.as_of_date).normalize()
    key = resolve_pseudonym_key(pseudonym_key)
    scv = None
    if "customers" in tables and len(tables["customers"]):
        scv = SingleCustomerView(
            match_threshold=match_threshold,
            random_state=seed,
            postcode_regex=cfg.get("postcode_regex"),
        ).fit(tables["customers"], as_of_date=as_of)
        master_map = scv.master_map_
    else:
        cust = data.customers()
        cols = ["customer_id"] + (["source_system"] if "source_system" in cust else [])
        # no customer details to compare: every customer id is its own person
        master_map = SingleCustomerView().fit(cust[cols]).master_map_
    dup = (
        (scv.n_records_, scv.n_people_) if scv is not None and scv.skipped_reason_ is None else None
    )
    checks = check_rules(
        tables,
        as_of_date=as_of,
        quarantine=data.quarantine,
        pseudonym_key=key,
        channel_synonyms=cfg.get("channel_synonyms"),
        postcode_regex=cfg.get("postcode_regex"),
        duplicate_people=dup,
        file_row_numbers=not _rows_removed_after_reading(data),
    )
    impact = None
    tx_table = tables.get("transactions")
    totals = None
    if is_backend_table(tx_table):  # one per-customer aggregate for impact and revenue figures
        totals = _CustomerTotals(_backend_customer_totals(tx_table))
    if scv is not None and tx_table is not None:
        impact = merge_impact(master_map, totals if totals is not None else tx_table)
    customers = tables.get("customers")
    if customers is not None:
        consent = consent_summary(customers, as_of, consent_retention_months)
        consent_people = consent_summary(customers, as_of, consent_retention_months, master_map)
    else:
        consent = consent_people = pd.DataFrame(columns=["status", "customers", "share"])
    money: dict[str, float] = {}
    if "transactions" in tables and is_backend_table(tables["transactions"]):
        money = _backend_money(
            tx_table, customers, checks.backend_duplicates.get("transactions"), totals.frame
        )
    elif "transactions" in tables:
        tx = tables["transactions"]
        money["revenue"] = float(tx.loc[tx["amount"] > 0, "amount"].sum())
        if customers is not None:
            orphan = ~isin(tx["customer_id"], customers["customer_id"])
            money["orphan_revenue"] = float(tx.loc[orphan & (tx["amount"] > 0), "amount"].sum())
        if "quantity" in tx:
            bad = (tx["amount"] < 0) & ~(tx["quantity"] < 0).fillna(False)
            money["non_refund_negative"] = float(-tx.loc[bad, "amount"].sum())
        dup_mask = checks.duplicate_masks.get("transactions")
        if dup_mask is None:
            dup_mask = exact_duplicates(tx)
        money["duplicate_revenue"] = float(tx.loc[dup_mask, "amount"].sum())
    return AuditResult(
        as_of_date=as_of,
        counts=data.counts,
        profile=profile_tables(tables, repeated_values=_repeated_ids(checks)),
        freshness=freshness(tables, as_of),
        checks=checks,
        scores=scorecard(checks),
        scv=scv,
        master_map=master_map,
        impact=impact,
        consent=consent,
        consent_people=consent_people,
        pii=pii_inventory(tables),
        unused=unused_columns(tables),
        revenue_at_risk=money,
        min_group_size=int(min_group_size),
    )
