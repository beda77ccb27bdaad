"""The quality rules by dimension and the scorecard.

Every rule is a boolean expression over a backend table (a pandas frame is registered on the
run's :class:`~cxlib.engine.Engine` first): one query counts every rule of a table and the rows
failing any rule of each dimension, one small query per failing rule gives its first examples in
row order. The format checks of the customers' contact details (:func:`valid_email`,
:func:`valid_phone`, :func:`valid_postcode`, shared with the single customer view) run on the
customers frame, whose failing rows the rules then look up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cxlib.audit._dates import date_jump
from cxlib.audit._expr import (
    _columns,
    _count_true,
    _flag,
    _int,
    _n_rows,
    _no_row,
    _present,
    _ts_literal,
    engine_for,
    refund_flags,
)
from cxlib.audit._formats import (
    AGE_RANGE,
    COMPLETENESS_COLUMNS,
    DIMENSIONS,
    LABEL_COLUMNS,
    TIME_COLUMNS,
    original_row_numbers,
    valid_email,
    valid_phone,
    valid_postcode,
)
from cxlib.engine import (
    ROW_ORDER,
    Engine,
    as_table,
    data_end,
    fetch_frame,
    in_memory_table,
    is_table,
    literal,
    row_count,
    row_number,
    window,
)
from cxlib.features import CHANNEL_SYNONYMS, label_key
from cxlib.privacy import pseudonymise, resolve_pseudonym_key
from cxlib.report import name_words

RULE_COLUMNS = [
    "table",
    "column",
    "rule_id",
    "rule",
    "dimension",
    "failed_rows",
    "total_rows",
    "examples",
]


@dataclass
class _KeyMaker:
    """Row keys for examples: transaction ids, pseudonymised customer ids or file row numbers."""

    pseudonym_key: str
    row_numbers: dict[str, np.ndarray] = field(default_factory=dict)

    def customer_keys(self, ids: pd.Series) -> str:
        """Pseudonymised customer ids of example customer records."""
        return "; ".join(pseudonymise(ids, self.pseudonym_key))

    def keys_at(
        self, table: str, n_rows: int, positions: np.ndarray, tids: pd.Series | None = None
    ) -> str:
        """Keys of the rows at ``positions`` (0-based among the accepted rows; the table's
        :data:`~cxlib.engine.ROW_ORDER`), with their transaction ids when known."""
        if len(positions) == 0:
            return ""
        if tids is not None and tids.notna().all():
            return "; ".join(tids.astype("str"))
        rows = self.row_numbers.get(table)
        if rows is None or len(rows) != n_rows:
            return ""  # row numbers unknown (rows removed after reading)
        return "; ".join(f"row {int(r)}" for r in rows[np.asarray(positions, dtype="int64")])


@dataclass
class RuleChecks:
    """Results of :func:`check_rules`.

    Attributes
    ----------
    results : DataFrame
        One row per rule: ``table, column, rule_id, rule, dimension, failed_rows, total_rows,
        share, examples``.
    totals : dict
        ``{table: (accepted_rows, quarantined_rows)}``.
    label_spellings : DataFrame
        Inconsistent label spellings found (``table, column, label, usual, rows``).
    failing_rows : dict
        ``{(table, dimension): int}``: number of rows failing any rule of the dimension, used by
        :func:`scorecard`.
    date_spans : DataFrame
        Per event-level table: ``table, column, first_day, data_end`` (the day the data ends
        before a jump of the dates, :func:`cxlib.contract.data_span`).
    """

    results: pd.DataFrame
    totals: dict[str, tuple[int, int]]
    label_spellings: pd.DataFrame
    failing_rows: dict[tuple[str, str], int] = field(default_factory=dict)
    date_spans: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["table", "column", "first_day", "data_end"])
    )

    def failed(self, table: str, dimension: str) -> int:
        """Rows of ``table`` (accepted ones) failing any rule of ``dimension``."""
        return int(self.failing_rows.get((table, dimension), 0))


def _duplicates(table: str, t: Any, engine: Engine) -> Any:
    """Temporary table (kept by ``engine``) of the rows that copy an earlier row in every
    column (``_cx_exact``; the first copy is not flagged) or reuse an earlier row's transaction
    id (``_cx_reused``), by :data:`ROW_ORDER`; "earlier" is row order. Missing values compare
    equal."""
    cols = _columns(t)
    has_id = table == "transactions" and "transaction_id" in cols
    cand = t
    if has_id:  # identical rows share their id: only ids seen twice (or missing) can repeat
        counts = t.group_by("transaction_id").aggregate(_cx_n=row_count())
        rep = counts.filter(counts._cx_n > 1).select("transaction_id")
        cand = t.filter(
            t.transaction_id.isnull() | _flag(t.transaction_id.isin(rep.transaction_id))
        )
    whole = window(group_by=[cand[c] for c in cols], order_by=cand[ROW_ORDER])
    exact = row_number().over(whole) > 0
    if has_id:
        same_id = window(group_by=cand.transaction_id, order_by=cand[ROW_ORDER])
        id_repeat = cand.transaction_id.notnull() & (row_number().over(same_id) > 0)
        reused = id_repeat & ~exact
    else:
        id_repeat = reused = literal(False)
    flags = cand.select(ROW_ORDER, _cx_exact=exact, _cx_reused=reused, _cx_id_repeat=id_repeat)
    return engine.keep(flags.filter(flags._cx_exact | flags._cx_reused), "cx_audit_dups")


def _repeated_ids(duplicates: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """Transaction ids equal to an earlier row's (non-missing), from the duplicate flags of the
    transactions: the profile's distinct ids are the filled ones minus these, so the biggest
    distinct count need not be computed twice."""
    dups = duplicates.get("transactions")
    if dups is None or "_cx_id_repeat" not in dups.columns:
        return {}
    n = _int(_count_true(dups._cx_id_repeat).execute())
    return {("transactions", "transaction_id"): n}


def _label_spellings(vc: pd.Series, synonyms: Mapping[str, str] | None) -> pd.DataFrame:
    """``label, usual, rows`` of the inconsistent spellings among label counts ``vc``."""
    syn = dict(synonyms or {})
    if len(vc) == 0:
        return pd.DataFrame(columns=["label", "usual", "rows"])
    labels = pd.Series(vc.index.astype("str"), dtype=object)
    keys = labels.map(label_key).map(lambda k: syn.get(k, k))
    tab = pd.DataFrame({"label": labels, "key": keys, "rows": vc.to_numpy()})
    tab = tab.sort_values(["key", "rows", "label"], ascending=[True, False, True])
    usual = tab.groupby("key", sort=False)["label"].first()
    tab["usual"] = tab["key"].map(usual)
    return tab.loc[tab["label"] != tab["usual"], ["label", "usual", "rows"]].reset_index(drop=True)


_QUARANTINE_WHAT = [
    (r"^missing (?P<col>.+)$", "Required value missing: {col} (row set aside)"),
    (r"^unparseable date/time in (?P<col>.+)$", "Date/time cannot be read: {col} (row set aside)"),
    (r"^not a finite number in (?P<col>.+)$", "Not a number: {col} (row set aside)"),
    (r"^not a whole number in (?P<col>.+)$", "Not a whole number: {col} (row set aside)"),
    (r"^not 0/1 in (?P<col>.+)$", "Not 0 or 1: {col} (row set aside)"),
    (r"^not true/false in (?P<col>.+)$", "Not yes/no: {col} (row set aside)"),
    (r"^duplicate (?P<col>.+?) \(first row kept\)$", "Duplicate {col} (row set aside)"),
]


def _quarantine_rules(table: str, q: pd.DataFrame, total: int, keys: _KeyMaker) -> list[dict]:
    """One validity rule per quarantine reason (a row can carry several reasons)."""
    if q is None or len(q) == 0 or "reason" not in q.columns:
        return []
    parts = q["reason"].astype("str").str.split(";").explode().str.strip()
    parts = parts[parts != ""]
    out = []
    for reason, idx in parts.groupby(parts, sort=True).groups.items():
        col, name = "", f"Row set aside: {reason}"
        for rx, template in _QUARANTINE_WHAT:
            m = re.match(rx, reason)
            if m:
                col, name = m.group("col"), template.format(col=name_words(m.group("col")))
                break
        rows = q.loc[sorted(set(idx))]
        if (
            table == "transactions"
            and "transaction_id" in rows
            and rows["transaction_id"].notna().all()
        ):
            ex = "; ".join(rows["transaction_id"].astype("str").iloc[:3])
        else:
            ex = "; ".join(f"row {int(r)}" for r in rows["row_number"].iloc[:3])
        out.append(
            {
                "table": table,
                "column": col,
                "rule_id": f"quarantine:{col or reason}",
                "rule": name,
                "dimension": "validity",
                "failed_rows": len(rows),
                "total_rows": total,
                "examples": ex,
            }
        )
    return out


def _known_ids_table(ids: pd.Index) -> Any:
    """The customers table's ids (as text, column ``customer_id``) as an in-memory table that
    every table's rule joins with in its own backend."""
    return in_memory_table(pd.DataFrame({"customer_id": pd.Series(ids, dtype="str")}))


def _product_ids(products: Any) -> Any:
    """The products table's ids as an in-memory table (column ``product_id``), or None."""
    if products is None:
        return None
    frame = fetch_frame(products.select("product_id")) if is_table(products) else products
    ids = frame["product_id"].dropna().astype("str").unique()
    return in_memory_table(pd.DataFrame({"product_id": pd.Series(ids, dtype="str")}))


@dataclass
class _Settings:
    """What the rules of every table need besides the table itself."""

    keys: _KeyMaker
    synonyms: dict[str, str]
    end: pd.Timestamp
    as_of_year: int
    known: Any  # a table of the customers' ids (integrity rules), or None
    postcode_regex: str | None
    duplicate_people: tuple[int, int] | None
    engine: Engine
    refund_rule: str = "evidence"
    cancellation_prefix: str | None = "C"
    products: Any = None  # the products table (its ``product_id``), or None


class _TableRules:
    """The rules of one table in report order: rows counted already (dicts) or ``(column,
    rule_id, rule, dimension, expression)``, the expression True on the failing rows."""

    def __init__(self, table: str, t: Any, settings: _Settings) -> None:
        self.table, self.t, self.s = table, t, settings
        self.cols = _columns(t)
        self.entries: list[Any] = []
        self.spellings: list[pd.DataFrame] = []
        self.jumps: list[dict[str, Any]] = []
        self.duplicates: Any = None

    def add(self, col: str, rule_id: str, rule: str, dim: str, expr: Any) -> None:
        self.entries.append((col, rule_id, rule, dim, _flag(expr)))

    def build(
        self, q: pd.DataFrame | None, n: int, total: int, customers: pd.DataFrame | None
    ) -> None:
        """Every rule of the table, dimension by dimension (``customers``: the customers
        frame, whose contact details are checked)."""
        for col in COMPLETENESS_COLUMNS.get(self.table, ()):
            if col in self.cols:
                label = f"Missing {col.replace('_', ' ')}"
                self.add(col, f"missing_{col}", label, "completeness", ~_present(self.t, col))
        self.validity(q, total, customers)
        self.uniqueness(total)
        self.consistency(n)
        self.timeliness()
        if self.table != "customers" and self.s.known is not None and "customer_id" in self.cols:
            t = self.t
            self.add(
                "customer_id",
                "orphan_customer_id",
                "Customer id not in the customers table",
                "integrity",
                t.customer_id.notnull() & ~_flag(t.customer_id.isin(self.s.known.customer_id)),
            )
        if self.table != "products" and self.s.products is not None and "product_id" in self.cols:
            t = self.t
            self.add(
                "product_id",
                "orphan_product_id",
                "Product id not in the products table",
                "integrity",
                t.product_id.notnull() & ~_flag(t.product_id.isin(self.s.products.product_id)),
            )

    def validity(self, q: pd.DataFrame | None, total: int, customers: Any) -> None:
        t = self.t
        self.entries.extend(_quarantine_rules(self.table, q, total, self.s.keys))
        if self.table == "customers":
            self.contact_formats(customers)
            if "birth_year" in self.cols:
                lo, hi = AGE_RANGE
                age = self.s.as_of_year - t.birth_year.cast("float64")
                self.add(
                    "birth_year",
                    "implausible_birth_year",
                    f"Birth year implausible (age under {lo} or over {hi})",
                    "validity",
                    (age < lo) | (age > hi),
                )
        if self.table == "feedback" and "score" in self.cols:
            self.add("score", "negative_score", "Score is negative", "validity", t.score < 0)

    def contact_formats(self, frame: pd.DataFrame) -> None:
        """E-mail, phone and postcode formats: checked on the customers frame (the checks the
        single customer view normalises with), its failing rows looked up by row order."""
        checks = {
            ("email", "invalid_email", "E-mail address is not valid"): valid_email,
            ("phone", "invalid_phone", "Phone number is not valid"): valid_phone,
            ("postcode", "invalid_postcode", "Postcode is not valid"): lambda v: valid_postcode(
                v, self.s.postcode_regex
            ),
        }
        found = {k: f(frame[k[0]]) for k, f in checks.items() if k[0] in frame.columns}
        if not found:
            return
        bad = [ok.eq(False).to_numpy(dtype=bool, na_value=False) for ok in found.values()]
        hit = np.logical_or.reduce(bad)
        flags = self.s.engine.table(
            pd.DataFrame(
                {
                    ROW_ORDER: np.flatnonzero(hit).astype("int64"),
                    **{f"_cx_{i}": b[hit] for i, b in enumerate(bad)},
                }
            )
        )
        for i, (col, rule_id, rule) in enumerate(found):
            rows = flags.filter(flags[f"_cx_{i}"])[ROW_ORDER]
            self.add(col, rule_id, rule, "validity", self.t[ROW_ORDER].isin(rows))

    def uniqueness(self, total: int) -> None:
        t = self.t
        self.duplicates = dups = _duplicates(self.table, t, self.s.engine)
        exact = t[ROW_ORDER].isin(dups.filter(dups._cx_exact)[ROW_ORDER])
        self.add("(all)", "duplicate_row", "Exact duplicate row", "uniqueness", exact)
        if self.table == "transactions" and "transaction_id" in self.cols:
            self.add(
                "transaction_id",
                "reused_transaction_id",
                "Transaction id reused on a different row",
                "uniqueness",
                t[ROW_ORDER].isin(dups.filter(dups._cx_reused)[ROW_ORDER]),
            )
        if self.table == "customers" and self.s.duplicate_people is not None:
            n_rec, n_people = self.s.duplicate_people
            self.entries.append(
                {
                    "table": "customers",
                    "column": "(person)",
                    "rule_id": "duplicate_person",
                    "rule": "Same person recorded more than once (single customer view)",
                    "dimension": "uniqueness",
                    "failed_rows": int(n_rec - n_people),
                    "total_rows": total,
                    "examples": "",
                }
            )

    def consistency(self, n: int) -> None:
        self.labels(n)
        t = self.t
        if self.table == "transactions" and self.s.refund_rule == "evidence":
            _, unmatched = refund_flags(t, "evidence", self.s.cancellation_prefix)
            self.add(
                "amount",
                "non_refund_negative_amount",
                "Negative amount with no sign of a refund (quantity, earlier purchase, prefix)",
                "consistency",
                unmatched,
            )
        if self.table == "customers" and {"signup_date", "consent_date"} <= set(self.cols):
            self.add(
                "consent_date",
                "consent_before_signup",
                "Consent dated before sign-up",
                "consistency",
                t.consent_date < t.signup_date.truncate("D"),
            )

    def labels(self, n: int) -> None:
        """Label columns spelled inconsistently (case, spaces, synonyms for channels)."""
        t, sch = self.t, self.t.schema()
        label_cols = [c for c in LABEL_COLUMNS.get(self.table, ()) if c in self.cols]
        label_cols = [c for c in label_cols if sch[c].is_string()]
        if not label_cols:
            return
        distinct = t.aggregate(**{c: t[c].nunique() for c in label_cols}).to_pandas().iloc[0]
        for col in label_cols:
            if _int(distinct[col]) > max(50, 0.01 * n):
                continue  # not a label column
            vc = t.filter(t[col].notnull()).group_by(col).aggregate(rows=row_count()).to_pandas()
            vc = pd.Series(vc["rows"].to_numpy(), index=vc[col].astype("str").to_numpy())
            bad = _label_spellings(vc, self.s.synonyms if col == "channel" else None)
            self.add(
                col,
                f"inconsistent_{col}_label",
                f"{col.replace('_', ' ').capitalize()} label spelled inconsistently",
                "consistency",
                t[col].isin(bad["label"].tolist()) if len(bad) else _no_row(t),
            )
            if len(bad):
                self.spellings.append(bad.assign(table=self.table, column=col))

    def timeliness(self) -> None:
        sch = self.t.schema()
        late = swapped = None
        col = "timestamp"
        if self.table != "customers" and col in self.cols and sch[col].is_timestamp():
            # rows after a jump at the end of the data, up to today (the analysis date is taken
            # before the jump, cxlib.contract.analysis_date, so they may lie after it)
            today_end = data_end(pd.Timestamp.now())
            jump = date_jump(self.t, col, max(self.s.end, today_end))
            if jump is not None:
                late, swapped, span = jump
                self.jumps.append({"table": self.table, "column": col, **span})
        for c in TIME_COLUMNS.get(self.table, ()):
            if c in self.cols and sch[c].is_timestamp():
                future = self.t[c] >= _ts_literal(self.s.end)
                if c == col and late is not None:
                    future = future & ~late  # counted once, as dated after the gap
                self.add(
                    c,
                    f"future_{c}",
                    f"{c.replace('_', ' ').capitalize()} after the as-of date (in the future)",
                    "timeliness",
                    future,
                )
        if late is None:
            return
        self.add(
            col,
            "day_month_swap",
            "Day and month probably swapped (dated after the data ends; swapped back inside it)",
            "timeliness",
            swapped,
        )
        self.add(
            col,
            "dated_after_gap",
            "Dated after a gap at the end of the data (the dates jump)",
            "timeliness",
            late & ~swapped,
        )

    def count(self, n: int, total: int) -> tuple[list[dict], dict[tuple[str, str], int]]:
        """One query counts every rule and the rows failing any rule of each dimension; one
        small query per failing rule gives its first examples in row order."""
        t, table = self.t, self.table
        rules = [e for e in self.entries if isinstance(e, tuple)]
        dims = list(dict.fromkeys(r[3] for r in rules))
        aggs = {f"r{i}": _count_true(r[4]) for i, r in enumerate(rules)}
        for j, dim in enumerate(dims):
            union = None
            for r in rules:
                if r[3] == dim:
                    union = r[4] if union is None else union | r[4]
            aggs[f"d{j}"] = _count_true(union)
        got = t.aggregate(**aggs).to_pandas().iloc[0] if aggs else pd.Series(dtype=object)
        key_col = {"transactions": "transaction_id", "customers": "customer_id"}.get(table)
        key_cols = [ROW_ORDER] + ([key_col] if key_col in self.cols else [])
        out, i = [], 0
        for e in self.entries:
            if isinstance(e, dict):
                out.append(e)
                continue
            col, rule_id, rule, dim, expr = e
            failed = _int(got[f"r{i}"])
            i += 1
            examples = ""
            if failed:
                first = t.filter(expr).order_by(ROW_ORDER).limit(3).select(key_cols).to_pandas()
                if table == "customers":
                    examples = self.s.keys.customer_keys(first["customer_id"])
                else:
                    positions = first[ROW_ORDER].to_numpy(dtype="int64")
                    tids = first.get("transaction_id")
                    examples = self.s.keys.keys_at(table, n, positions, tids)
            out.append(
                {
                    "table": table,
                    "column": col,
                    "rule_id": rule_id,
                    "rule": rule,
                    "dimension": dim,
                    "failed_rows": failed,
                    "total_rows": total,
                    "examples": examples,
                }
            )
        failing = {(table, dim): _int(got[f"d{j}"]) for j, dim in enumerate(dims)}
        return out, failing


def _check_rules(
    tables: Mapping[str, Any],
    *,
    as_of_date: Any,
    engine: Engine,
    quarantine: Mapping[str, pd.DataFrame] | None = None,
    pseudonym_key: str | None = None,
    channel_synonyms: Mapping[str, str] | None = None,
    postcode_regex: str | None = None,
    duplicate_people: tuple[int, int] | None = None,
    file_row_numbers: bool = True,
    customers: pd.DataFrame | None = None,
    refund_rule: str = "evidence",
    cancellation_prefix: str | None = "C",
) -> tuple[RuleChecks, dict[str, Any]]:
    """:func:`check_rules`, plus the duplicate flags of every table (temporary tables of
    ``engine``: the duplicated revenue and the profile's distinct transaction ids use them).
    ``customers`` is the customers frame when ``tables`` holds it registered already."""
    quarantine = dict(quarantine or {})
    if customers is None:
        customers = tables.get("customers")
    if is_table(customers):
        raise TypeError("check_rules: the customers table must be a pandas frame")
    known = None
    if customers is not None:
        known = _known_ids_table(pd.Index(customers["customer_id"].dropna().unique()))
    settings = _Settings(
        keys=_KeyMaker(resolve_pseudonym_key(pseudonym_key)),
        synonyms=dict(CHANNEL_SYNONYMS if channel_synonyms is None else channel_synonyms),
        end=data_end(as_of_date),
        as_of_year=pd.Timestamp(as_of_date).year,
        known=known,
        postcode_regex=postcode_regex,
        duplicate_people=duplicate_people,
        engine=engine,
        refund_rule=refund_rule,
        cancellation_prefix=cancellation_prefix,
        products=_product_ids(tables.get("products")),
    )
    results: list[dict] = []
    totals: dict[str, tuple[int, int]] = {}
    failing_rows: dict[tuple[str, str], int] = {}
    duplicates: dict[str, Any] = {}
    spellings: list[pd.DataFrame] = []
    spans: list[dict[str, Any]] = []
    for table, df in tables.items():
        t = as_table(df, engine)
        n = _n_rows(t)
        q = quarantine.get(table)
        total = n + (0 if q is None else len(q))
        totals[table] = (n, total - n)
        settings.keys.row_numbers[table] = (
            original_row_numbers(n, q) if file_row_numbers else np.array([], dtype=np.int64)
        )
        rules = _TableRules(table, t, settings)
        rules.build(q, n, total, customers)
        rows, fails = rules.count(n, total)
        results.extend(rows)
        failing_rows.update(fails)
        spellings.extend(rules.spellings)
        spans.extend(rules.jumps)
        duplicates[table] = rules.duplicates
    res = pd.DataFrame(results, columns=RULE_COLUMNS)
    res["share"] = np.where(
        res["total_rows"] > 0, res["failed_rows"] / res["total_rows"].clip(lower=1), 0.0
    )
    res["dimension"] = pd.Categorical(res["dimension"], categories=list(DIMENSIONS), ordered=True)
    res = res.sort_values(["table", "dimension"], kind="stable").reset_index(drop=True)
    res["dimension"] = res["dimension"].astype("str")
    cols = ["table", "column", "label", "usual", "rows"]
    sp = pd.concat(spellings, ignore_index=True)[cols] if spellings else pd.DataFrame(columns=cols)
    span_cols = ["table", "column", "first_day", "data_end"]
    return RuleChecks(res, totals, sp, failing_rows, pd.DataFrame(spans, columns=span_cols)), (
        duplicates
    )


def check_rules(
    tables: Mapping[str, Any],
    *,
    as_of_date: Any,
    quarantine: Mapping[str, pd.DataFrame] | None = None,
    pseudonym_key: str | None = None,
    channel_synonyms: Mapping[str, str] | None = None,
    postcode_regex: str | None = None,
    duplicate_people: tuple[int, int] | None = None,
    file_row_numbers: bool = True,
    engine: Engine | None = None,
    refund_rule: str = "evidence",
    cancellation_prefix: str | None = "C",
) -> RuleChecks:
    """Run the quality rules on every table present.

    Parameters
    ----------
    tables : mapping of str to DataFrame or backend table
        Validated tables (``SourceData.tables``). Every table's rules run in the backend: a
        pandas frame is registered on ``engine`` first; examples come in row order
        (:data:`~cxlib.engine.ROW_ORDER`). The customers table must be a pandas frame.
    as_of_date : date-like
        Dates after the end of this day are in the future.
    quarantine : mapping, optional
        Rows the contract set aside (``SourceData.quarantine``); reported as validity failures.
    pseudonym_key : str, optional
        Key for pseudonymised customer ids in examples (random when not given).
    channel_synonyms : mapping, optional
        Label key → canonical key for channel labels (default
        :data:`cxlib.features.CHANNEL_SYNONYMS`).
    postcode_regex : str, optional
        Postcode format; by default it is recognised from the data (:func:`postcode_pattern`).
    duplicate_people : (records, people), optional
        From the single customer view: adds the uniqueness rule "customer recorded more than
        once".
    file_row_numbers : bool
        Examples of tables without their own key give the row number in the input file; set to
        False when rows were removed after reading (e.g. by a suppression list), which shifts
        them (examples are then left out for those tables).
    engine : Engine, optional
        Where pandas frames and the duplicate flags are kept (a temporary one by default).
    refund_rule, cancellation_prefix : str
        Which negative amounts are refunds (:func:`~cxlib.audit.refund_flags`): with
        ``evidence`` the others fail the consistency rule ``non_refund_negative_amount``.

    Returns
    -------
    RuleChecks
    """
    with engine_for(engine) as eng:
        checks, _ = _check_rules(
            tables,
            as_of_date=as_of_date,
            engine=eng,
            quarantine=quarantine,
            pseudonym_key=pseudonym_key,
            channel_synonyms=channel_synonyms,
            postcode_regex=postcode_regex,
            duplicate_people=duplicate_people,
            file_row_numbers=file_row_numbers,
            refund_rule=refund_rule,
            cancellation_prefix=cancellation_prefix,
        )
    return checks


def label_inconsistencies(
    values: pd.Series, synonyms: Mapping[str, str] | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Rows whose label is spelled differently from the usual spelling of the same label.

    Labels are grouped by a key (lower case, trimmed, punctuation and spaces as ``_``, see
    :func:`cxlib.features.label_key`), then by ``synonyms`` (key → canonical key, e.g.
    ``online`` → ``web``). Within a group the most frequent spelling is the usual one; every other
    spelling is inconsistent.

    Returns
    -------
    mask : ndarray of bool
        Rows holding an inconsistent spelling.
    spellings : DataFrame
        ``label, usual, rows`` for every inconsistent spelling.
    """
    bad = _label_spellings(values.value_counts(dropna=True), synonyms)
    if len(bad) == 0:
        return np.zeros(len(values), dtype=bool), bad
    mask = values.isin(bad["label"]).to_numpy(dtype=bool, na_value=False)
    return mask, bad


def scorecard(checks: RuleChecks, *, green: float = 99.0, amber: float = 95.0) -> pd.DataFrame:
    """Scores 0-100 per table and dimension, per table, and overall.

    A dimension's score is the share of the table's rows (read, including rows set aside) that
    fail none of the dimension's rules, times 100; rows set aside by the contract fail validity.
    A table's score is the mean of its dimension scores; the overall score is the mean of the
    table scores. Traffic light: green ≥ ``green``, amber ≥ ``amber``, else red.

    Returns
    -------
    DataFrame ``table, dimension, score, light`` with rows ``dimension == "all"`` per table and
    ``table == "overall"``.
    """
    rows = []
    res = checks.results
    for table, (n, nq) in checks.totals.items():
        total = n + nq
        dims = res.loc[res["table"] == table, "dimension"].unique()
        for dim in DIMENSIONS:
            if dim not in dims and not (dim == "validity" and nq):
                continue
            failed = checks.failed(table, dim)
            if dim == "validity":
                failed += nq
            extra = res.loc[
                (res["table"] == table)
                & (res["dimension"] == dim)
                & (res["rule_id"] == "duplicate_person"),
                "failed_rows",
            ].sum()
            failed += int(extra)
            score = 100.0 * (1 - failed / total) if total else np.nan
            rows.append({"table": table, "dimension": dim, "score": score})
    out = pd.DataFrame(rows, columns=["table", "dimension", "score"])
    per_table = (
        out.groupby("table", sort=False)["score"].mean().reset_index().assign(dimension="all")
    )
    overall = pd.DataFrame(
        [{"table": "overall", "dimension": "all", "score": per_table["score"].mean()}]
    )
    out = pd.concat([out, per_table, overall], ignore_index=True)
    out["light"] = np.select(
        [out["score"] >= green, out["score"] >= amber], ["green", "amber"], "red"
    )
    return out
