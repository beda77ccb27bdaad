"""Data audit and single customer view (notebook 01).

What the audit does, in the order the notebook shows it (see ``docs/audit.md``):

1. :func:`profile_tables` and :func:`freshness` describe every table present;
2. :func:`check_rules` runs plain-named quality rules by dimension (completeness, validity,
   uniqueness, consistency, timeliness, integrity), including the rows the data contract set
   aside (quarantine), and :func:`scorecard` turns them into 0-100 scores;
3. :class:`SingleCustomerView` links records of the same person within and across source
   systems with Splink (Fellegi-Sunter model on DuckDB) and writes the master map;
4. :func:`consent_summary`, :func:`pii_inventory` and :func:`unused_columns` cover consent and
   privacy;
5. :func:`audit_findings` phrases the results for a business reader, ranked by impact.

:func:`run_audit` runs all of it and returns an :class:`AuditResult`.

No function returns personal data: example row keys are transaction ids, pseudonymised customer
ids or file row numbers; profiles of personal-data columns carry counts only.

The modules behind this face: ``_formats`` (rule settings, value format checks), ``_expr``
(building blocks of the backend expressions), ``_profile`` (profiles, freshness, personal-data
inventory, unused columns), ``_rules`` (quality rules, scorecard), ``_linkage`` (single customer
view), ``_customers`` (merge impact, revenue at risk, consent), ``_run`` (:func:`run_audit`) and
``_report`` (finding sentences).
"""

from __future__ import annotations

from cxlib.audit._customers import consent_summary, customer_totals, merge_impact
from cxlib.audit._expr import REFUND_RULES, linear_percentile, refund_flags
from cxlib.audit._formats import (
    AGE_RANGE,
    CALLING_CODES,
    COMPLETENESS_COLUMNS,
    DEFAULT_REGION,
    DIMENSIONS,
    LABEL_COLUMNS,
    PII_NAME_PATTERNS,
    POSTCODE_PATTERNS,
    TIME_COLUMNS,
    isin,
    original_row_numbers,
    phone_e164,
    postcode_pattern,
    valid_email,
    valid_phone,
    valid_postcode,
)
from cxlib.audit._linkage import DEFAULT_M, SingleCustomerView, normalise_contacts
from cxlib.audit._profile import freshness, pii_inventory, profile_tables, unused_columns
from cxlib.audit._report import add_findings, audit_findings
from cxlib.audit._rules import RuleChecks, check_rules, label_inconsistencies, scorecard
from cxlib.audit._run import AuditResult, run_audit

__all__ = [
    "AGE_RANGE",
    "CALLING_CODES",
    "COMPLETENESS_COLUMNS",
    "DEFAULT_M",
    "DEFAULT_REGION",
    "DIMENSIONS",
    "LABEL_COLUMNS",
    "PII_NAME_PATTERNS",
    "POSTCODE_PATTERNS",
    "REFUND_RULES",
    "TIME_COLUMNS",
    "AuditResult",
    "RuleChecks",
    "SingleCustomerView",
    "add_findings",
    "audit_findings",
    "check_rules",
    "consent_summary",
    "customer_totals",
    "freshness",
    "isin",
    "label_inconsistencies",
    "linear_percentile",
    "merge_impact",
    "normalise_contacts",
    "original_row_numbers",
    "phone_e164",
    "pii_inventory",
    "postcode_pattern",
    "profile_tables",
    "refund_flags",
    "run_audit",
    "scorecard",
    "unused_columns",
    "valid_email",
    "valid_phone",
    "valid_postcode",
]
