"""The quality rules by dimension and the scorecard."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cxlib.audit._expr import (
    _columns,
    _count_true,
    _flag,
    _int,
    _n_rows,
    _no_row,
    _present,
    _ts_literal,
)
from cxlib.audit._formats import (
    AGE_RANGE,
    COMPLETENESS_COLUMNS,
    DIMENSIONS,
    LABEL_COLUMNS,
    TIME_COLUMNS,
    _end_of,
    _is_text,
    exact_duplicates,
    isin,
    n_distinct,
    original_row_numbers,
    valid_email,
    valid_phone,
    valid_postcode,
)
from cxlib.features import CHANNEL_SYNONYMS, label_key
from cxlib.privacy import (
    pseudonymise,
    resolve_pseudonym_key,
)
from cxlib.sources import ROW_ORDER, is_backend_table


@dataclass
class _KeyMaker:
    """Row keys for examples: transaction ids, pseudonymised customer ids or file row numbers."""

    pseudonym_key: str
    row_numbers: dict[str, np.ndarray] = field(default_factory=dict)

    def keys(self, table: str, df: pd.DataFrame, mask: np.ndarray, limit: int = 3) -> str:
        idx = np.flatnonzero(mask)[:limit]
        if len(idx) == 0:
            return ""
        if table == "customers":
            return "; ".join(pseudonymise(df["customer_id"].iloc[idx], self.pseudonym_key))
        tids = None
        if table == "transactions" and "transaction_id" in df.columns:
            tids = df["transaction_id"].iloc[idx]
        return self.keys_at(table, len(df), idx, tids)

    def keys_at(
        self, table: str, n_rows: int, positions: np.ndarray, tids: pd.Series | None = None
    ) -> str:
        """Keys of the rows at ``positions`` (0-based among the accepted rows; for a backend
        table its :data:`~cxlib.sources.ROW_ORDER`), with their transaction ids when known."""
        if len(positions) == 0:
            return ""
        if tids is not None and tids.notna().all():
            return "; ".join(tids.astype("str"))
        rows = self.row_numbers.get(table)
        if rows is None or len(rows) != n_rows:
            return ""  # row numbers unknown (rows removed after reading)
        return "; ".join(f"row {int(r)}" for r in rows[np.asarray(positions, dtype="int64")])


def _backend_duplicates(table: str, t: Any) -> Any:
    """Backend table (cached) of the rows that :func:`exact_duplicates` flags (``exact``: a copy
    of an earlier row) or that reuse an earlier row's transaction id (``reused``), by
    :data:`ROW_ORDER`; "earlier" is row order, as in pandas."""
    import ibis

    cols = _columns(t)
    has_id = table == "transactions" and "transaction_id" in cols
    cand = t
    if has_id:  # identical rows share their id: only ids seen twice (or missing) can repeat
        rep = (
            t.group_by("transaction_id")
            .aggregate(_cx_n=ibis._.count())
            .filter(ibis._._cx_n > 1)
            .select("transaction_id")
        )
        cand = t.filter(
            t.transaction_id.isnull() | _flag(t.transaction_id.isin(rep.transaction_id))
        )
    whole = ibis.window(group_by=[cand[c] for c in cols], order_by=cand[ROW_ORDER])
    exact = ibis.row_number().over(whole) > 0
    if has_id:
        same_id = ibis.window(group_by=cand.transaction_id, order_by=cand[ROW_ORDER])
        id_repeat = cand.transaction_id.notnull() & (ibis.row_number().over(same_id) > 0)
        reused = id_repeat & ~exact
    else:
        id_repeat = reused = ibis.literal(False)
    flags = cand.select(ROW_ORDER, _cx_exact=exact, _cx_reused=reused, _cx_id_repeat=id_repeat)
    return flags.filter(flags._cx_exact | flags._cx_reused).cache()


def _repeated_ids(checks: RuleChecks) -> dict[tuple[str, str], int]:
    """Transaction ids equal to an earlier row's (non-missing), from the duplicate flags of a
    backend transactions table: the profile's distinct ids are the filled ones minus these, so
    the biggest distinct count need not be computed twice."""
    dups = checks.backend_duplicates.get("transactions")
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


def _backend_checks(
    table: str,
    t: Any,
    *,
    q: pd.DataFrame | None,
    keys: _KeyMaker,
    syn: Mapping[str, str],
    end: pd.Timestamp,
    known: Any,
) -> tuple[list[dict], dict[tuple[str, str], int], list[pd.DataFrame], Any]:
    """:func:`check_rules` for one backend table: every rule is a backend expression; one query
    counts them (and the rows failing any rule of each dimension), one small query per failing
    rule gives its first examples in row order.

    Returns the rule rows (in the pandas path's order), failing rows per dimension, label
    spellings and the cached duplicate flags (:func:`_backend_duplicates`).
    """
    import ibis

    cols = _columns(t)
    sch = t.schema()
    n = _n_rows(t)
    total = n + (0 if q is None else len(q))
    entries: list[Any] = []  # dicts (rows set aside) or (col, rule_id, rule, dim, expr)

    def add(col: str, rule_id: str, rule: str, dim: str, expr: Any) -> None:
        entries.append((col, rule_id, rule, dim, _flag(expr)))

    for col in COMPLETENESS_COLUMNS.get(table, ()):
        if col in cols:
            add(
                col,
                f"missing_{col}",
                f"Missing {col.replace('_', ' ')}",
                "completeness",
                ~_present(t, col),
            )
    entries.extend(_quarantine_rules(table, q, total, keys))
    if table == "feedback" and "score" in cols:
        add("score", "negative_score", "Score is negative", "validity", t.score < 0)

    dups = _backend_duplicates(table, t)
    exact_rows = dups.filter(dups._cx_exact)[ROW_ORDER]
    add(
        "(all)", "duplicate_row", "Exact duplicate row", "uniqueness", t[ROW_ORDER].isin(exact_rows)
    )
    if table == "transactions" and "transaction_id" in cols:
        add(
            "transaction_id",
            "reused_transaction_id",
            "Transaction id reused on a different row",
            "uniqueness",
            t[ROW_ORDER].isin(dups.filter(dups._cx_reused)[ROW_ORDER]),
        )

    spellings = []
    label_cols = [c for c in LABEL_COLUMNS.get(table, ()) if c in cols and sch[c].is_string()]
    if label_cols:
        distinct = t.aggregate(**{c: t[c].nunique() for c in label_cols}).to_pandas().iloc[0]
        for col in label_cols:
            if _int(distinct[col]) > max(50, 0.01 * n):
                continue  # not a label column
            vc = t.filter(t[col].notnull()).group_by(col).aggregate(rows=ibis._.count()).to_pandas()
            vc = pd.Series(vc["rows"].to_numpy(), index=vc[col].astype("str").to_numpy())
            bad = _label_spellings(vc, syn if col == "channel" else None)
            expr = t[col].isin(bad["label"].tolist()) if len(bad) else _no_row(t)
            add(
                col,
                f"inconsistent_{col}_label",
                f"{col.replace('_', ' ').capitalize()} label spelled inconsistently",
                "consistency",
                expr,
            )
            if len(bad):
                spellings.append(bad.assign(table=table, column=col))
    if table == "transactions" and "amount" in cols:
        neg = _flag(t.amount < 0)
        if "quantity" in cols:
            add(
                "amount",
                "non_refund_negative_amount",
                "Negative amount that is not a refund (quantity not negative)",
                "consistency",
                neg & ~_flag(t.quantity < 0),
            )
        else:
            add(
                "amount",
                "negative_amount",
                "Negative amount (no quantity column to tell refunds apart)",
                "consistency",
                neg,
            )
    for col in TIME_COLUMNS.get(table, ()):
        if col in cols and sch[col].is_timestamp():
            add(
                col,
                f"future_{col}",
                f"{col.replace('_', ' ').capitalize()} after the as-of date (in the future)",
                "timeliness",
                t[col] >= _ts_literal(end),
            )
    if known is not None and "customer_id" in cols:
        add(
            "customer_id",
            "orphan_customer_id",
            "Customer id not in the customers table",
            "integrity",
            t.customer_id.notnull() & ~_flag(t.customer_id.isin(known.customer_id)),
        )

    rules = [e for e in entries if isinstance(e, tuple)]
    dims = list(dict.fromkeys(r[3] for r in rules))
    aggs = {f"r{i}": _count_true(r[4]) for i, r in enumerate(rules)}
    for j, dim in enumerate(dims):
        union = None
        for r in rules:
            if r[3] == dim:
                union = r[4] if union is None else union | r[4]
        aggs[f"d{j}"] = _count_true(union)
    got = t.aggregate(**aggs).to_pandas().iloc[0] if aggs else pd.Series(dtype=object)
    key_cols = [ROW_ORDER] + (
        ["transaction_id"] if table == "transactions" and "transaction_id" in cols else []
    )
    out, i = [], 0
    for e in entries:
        if isinstance(e, dict):
            out.append(e)
            continue
        col, rule_id, rule, dim, expr = e
        failed = _int(got[f"r{i}"])
        i += 1
        examples = ""
        if failed:
            first = t.filter(expr).order_by(ROW_ORDER).limit(3).select(key_cols).to_pandas()
            examples = keys.keys_at(
                table, n, first[ROW_ORDER].to_numpy(dtype="int64"), first.get("transaction_id")
            )
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
    return out, failing, spellings, dups


def _known_ids_table(ids: pd.Index) -> Any:
    import ibis

    return ibis.memtable(pd.DataFrame({"customer_id": pd.Series(ids, dtype="str")}))


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


@dataclass
class RuleChecks:
    """Results of :func:`check_rules`.

    Attributes
    ----------
    results : DataFrame
        One row per rule: ``table, column, rule_id, rule, dimension, failed_rows, total_rows,
        share, examples``.
    failing : dict
        ``{(table, dimension): bool array over the accepted rows}`` (rows failing any rule of the
        dimension) of the pandas tables.
    totals : dict
        ``{table: (accepted_rows, quarantined_rows)}``.
    label_spellings : DataFrame
        Inconsistent label spellings found (``table, column, label, usual, rows``).
    duplicate_masks : dict
        ``{table: bool array}`` of exact duplicate rows (copies after the first), pandas tables.
    failing_rows : dict
        ``{(table, dimension): int}``: number of rows failing any rule of the dimension, for
        every table (the count of ``failing``; backend tables have only this), used by
        :func:`scorecard`.
    backend_duplicates : dict
        ``{table: backend table}`` of the duplicate flags of backend tables (by
        :data:`~cxlib.sources.ROW_ORDER`; used for the duplicated revenue).
    """

    results: pd.DataFrame
    failing: dict[tuple[str, str], np.ndarray]
    totals: dict[str, tuple[int, int]]
    label_spellings: pd.DataFrame
    duplicate_masks: dict[str, np.ndarray] = field(default_factory=dict)
    failing_rows: dict[tuple[str, str], int] = field(default_factory=dict)
    backend_duplicates: dict[str, Any] = field(default_factory=dict)

    def failed(self, table: str, dimension: str) -> int:
        """Rows of ``table`` (accepted ones) failing any rule of ``dimension``."""
        key = (table, dimension)
        if key in self.failing_rows:
            return int(self.failing_rows[key])
        mask = self.failing.get(key)
        return int(mask.sum()) if mask is not None else 0


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
                col, name = m.group("col"), template.format(col=m.group("col"))
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


def check_rules(
    tables: Mapping[str, pd.DataFrame],
    *,
    as_of_date: Any,
    quarantine: Mapping[str, pd.DataFrame] | None = None,
    pseudonym_key: str | None = None,
    channel_synonyms: Mapping[str, str] | None = None,
    postcode_regex: str | None = None,
    duplicate_people: tuple[int, int] | None = None,
    file_row_numbers: bool = True,
) -> RuleChecks:
    """Run the quality rules on every table present.

    Parameters
    ----------
    tables : mapping of str to DataFrame or backend table
        Validated tables (``SourceData.tables``). Tables other than customers may be backend
        (Ibis) tables (``load_source(lazy=...)``): their rules run in the backend with the same
        results, examples in :data:`~cxlib.sources.ROW_ORDER` order.
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

    Returns
    -------
    RuleChecks
    """
    quarantine = dict(quarantine or {})
    keys = _KeyMaker(resolve_pseudonym_key(pseudonym_key))
    syn = dict(CHANNEL_SYNONYMS if channel_synonyms is None else channel_synonyms)
    end = _end_of(as_of_date)
    as_of_year = pd.Timestamp(as_of_date).year
    results: list[dict] = []
    failing: dict[tuple[str, str], np.ndarray] = {}
    totals: dict[str, tuple[int, int]] = {}
    duplicate_masks: dict[str, np.ndarray] = {}
    failing_rows: dict[tuple[str, str], int] = {}
    backend_dups: dict[str, Any] = {}
    spellings = []
    known_ids = known_table = None
    if "customers" in tables:
        if is_backend_table(tables["customers"]):
            raise TypeError("check_rules: the customers table must be a pandas frame")
        known_ids = pd.Index(tables["customers"]["customer_id"].dropna().unique())

    for table, df in tables.items():
        backend = is_backend_table(df)
        n = _n_rows(df)
        q = quarantine.get(table)
        nq = 0 if q is None else len(q)
        total = n + nq
        totals[table] = (n, nq)
        if file_row_numbers:
            keys.row_numbers[table] = original_row_numbers(n, q)
        else:
            keys.row_numbers[table] = np.array([], dtype=np.int64)
        if backend:
            if known_ids is not None and known_table is None:
                known_table = _known_ids_table(known_ids)
            rows, fails, sp, dups = _backend_checks(
                table,
                df,
                q=q,
                keys=keys,
                syn=syn,
                end=end,
                known=known_table if known_ids is not None else None,
            )
            results.extend(rows)
            failing_rows.update(fails)
            spellings.extend(sp)
            backend_dups[table] = dups
            continue

        def add(
            col: str,
            rule_id: str,
            rule: str,
            dim: str,
            mask: np.ndarray,
            tbl=table,
            frame=df,
            tot=total,
        ) -> None:
            mask = np.asarray(mask, dtype=bool)
            results.append(
                {
                    "table": tbl,
                    "column": col,
                    "rule_id": rule_id,
                    "rule": rule,
                    "dimension": dim,
                    "failed_rows": int(mask.sum()),
                    "total_rows": tot,
                    "examples": keys.keys(tbl, frame, mask),
                }
            )
            key = (tbl, dim)
            failing[key] = failing[key] | mask if key in failing else mask.copy()

        # completeness
        for col in COMPLETENESS_COLUMNS.get(table, ()):
            if col in df.columns:
                add(
                    col,
                    f"missing_{col}",
                    f"Missing {col.replace('_', ' ')}",
                    "completeness",
                    df[col].isna().to_numpy(),
                )

        # validity: quarantined rows, formats, plausibility
        results.extend(_quarantine_rules(table, q, total, keys))
        if table == "customers":
            if "email" in df.columns:
                add(
                    "email",
                    "invalid_email",
                    "E-mail address is not valid",
                    "validity",
                    valid_email(df["email"]).eq(False).to_numpy(dtype=bool, na_value=False),
                )
            if "phone" in df.columns:
                add(
                    "phone",
                    "invalid_phone",
                    "Phone number is not valid",
                    "validity",
                    valid_phone(df["phone"]).eq(False).to_numpy(dtype=bool, na_value=False),
                )
            if "postcode" in df.columns:
                ok = valid_postcode(df["postcode"], postcode_regex)
                add(
                    "postcode",
                    "invalid_postcode",
                    "Postcode is not valid",
                    "validity",
                    ok.eq(False).to_numpy(dtype=bool, na_value=False),
                )
            if "birth_year" in df.columns:
                age = as_of_year - df["birth_year"].astype("Float64")
                bad = (age < AGE_RANGE[0]) | (age > AGE_RANGE[1])
                add(
                    "birth_year",
                    "implausible_birth_year",
                    f"Birth year implausible (age under {AGE_RANGE[0]} or over {AGE_RANGE[1]})",
                    "validity",
                    bad.to_numpy(dtype=bool, na_value=False),
                )
        if table == "feedback" and "score" in df.columns:
            s = df["score"]
            bad = s < 0
            add(
                "score",
                "negative_score",
                "Score is negative",
                "validity",
                bad.to_numpy(dtype=bool, na_value=False),
            )

        # uniqueness
        exact = exact_duplicates(df, ["transaction_id"] if table == "transactions" else None)
        duplicate_masks[table] = exact
        add("(all)", "duplicate_row", "Exact duplicate row", "uniqueness", exact)
        if table == "transactions" and "transaction_id" in df.columns:
            tid = df["transaction_id"]
            reused = tid.notna().to_numpy() & tid.duplicated(keep="first").to_numpy() & ~exact
            add(
                "transaction_id",
                "reused_transaction_id",
                "Transaction id reused on a different row",
                "uniqueness",
                reused,
            )
        if table == "customers" and duplicate_people is not None:
            n_rec, n_people = duplicate_people
            results.append(
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

        # consistency
        for col in LABEL_COLUMNS.get(table, ()):
            if col not in df.columns or not _is_text(df[col]):
                continue
            if n_distinct(df[col]) > max(50, 0.01 * n):
                continue  # not a label column
            mask, bad = label_inconsistencies(df[col], syn if col == "channel" else None)
            add(
                col,
                f"inconsistent_{col}_label",
                f"{col.replace('_', ' ').capitalize()} label spelled inconsistently",
                "consistency",
                mask,
            )
            if len(bad):
                spellings.append(bad.assign(table=table, column=col))
        if table == "transactions" and "amount" in df.columns:
            neg = df["amount"] < 0
            if "quantity" in df.columns:
                bad = neg & ~(df["quantity"] < 0).fillna(False)
                add(
                    "amount",
                    "non_refund_negative_amount",
                    "Negative amount that is not a refund (quantity not negative)",
                    "consistency",
                    bad.to_numpy(dtype=bool, na_value=False),
                )
            else:
                add(
                    "amount",
                    "negative_amount",
                    "Negative amount (no quantity column to tell refunds apart)",
                    "consistency",
                    neg.to_numpy(dtype=bool, na_value=False),
                )
        if table == "customers" and {"signup_date", "consent_date"} <= set(df.columns):
            bad = df["consent_date"] < df["signup_date"].dt.normalize()
            add(
                "consent_date",
                "consent_before_signup",
                "Consent dated before sign-up",
                "consistency",
                bad.to_numpy(dtype=bool, na_value=False),
            )

        # timeliness
        for col in TIME_COLUMNS.get(table, ()):
            if col in df.columns and pd.api.types.is_datetime64_any_dtype(df[col]):
                add(
                    col,
                    f"future_{col}",
                    f"{col.replace('_', ' ').capitalize()} after the as-of date (in the future)",
                    "timeliness",
                    (df[col] >= end).to_numpy(dtype=bool, na_value=False),
                )

        # integrity
        if table != "customers" and known_ids is not None and "customer_id" in df.columns:
            cid = df["customer_id"]
            orphan = cid.notna().to_numpy() & ~isin(cid, known_ids)
            add(
                "customer_id",
                "orphan_customer_id",
                "Customer id not in the customers table",
                "integrity",
                orphan,
            )

    res = pd.DataFrame(
        results,
        columns=[
            "table",
            "column",
            "rule_id",
            "rule",
            "dimension",
            "failed_rows",
            "total_rows",
            "examples",
        ],
    )
    res["share"] = np.where(
        res["total_rows"] > 0, res["failed_rows"] / res["total_rows"].clip(lower=1), 0.0
    )
    res["dimension"] = pd.Categorical(res["dimension"], categories=list(DIMENSIONS), ordered=True)
    res = res.sort_values(["table", "dimension"], kind="stable").reset_index(drop=True)
    res["dimension"] = res["dimension"].astype("str")
    sp = (
        pd.concat(spellings, ignore_index=True)[["table", "column", "label", "usual", "rows"]]
        if spellings
        else pd.DataFrame(columns=["table", "column", "label", "usual", "rows"])
    )
    for key, mask in failing.items():
        failing_rows[key] = int(mask.sum())
    return RuleChecks(res, failing, totals, sp, duplicate_masks, failing_rows, backend_dups)


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
