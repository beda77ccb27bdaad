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

No function returns personal data: example row keys are transaction ids, pseudonymised customer
ids or file row numbers; profiles of personal-data columns carry counts only.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxlib.features import CHANNEL_SYNONYMS, label_key
from cxlib.privacy import (
    PII_COLUMNS,
    pseudonymise,
    resolve_pseudonym_key,
    suppress_small_groups,
)
from cxlib.sources import ROW_ORDER, is_backend_table

log = logging.getLogger(__name__)

__all__ = [
    "DIMENSIONS",
    "AuditResult",
    "SingleCustomerView",
    "add_findings",
    "audit_findings",
    "check_rules",
    "consent_summary",
    "freshness",
    "label_inconsistencies",
    "merge_impact",
    "normalise_contacts",
    "pii_inventory",
    "profile_tables",
    "run_audit",
    "scorecard",
    "unused_columns",
    "valid_email",
    "valid_phone",
    "valid_postcode",
]

#: Quality dimensions in the order reports show them.
DIMENSIONS: tuple[str, ...] = (
    "completeness",
    "validity",
    "uniqueness",
    "consistency",
    "timeliness",
    "integrity",
)

#: Columns whose missing values the completeness rules report (others are profiled only).
COMPLETENESS_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "first_name",
        "last_name",
        "email",
        "phone",
        "postcode",
        "birth_year",
        "signup_date",
        "marketing_consent",
    ),
    "transactions": ("channel", "category", "quantity"),
    "events": ("channel",),
    "feedback": ("touchpoint",),
    "campaign": (),
}

#: Label columns checked for inconsistent spellings (case, whitespace, synonyms).
LABEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "transactions": ("channel", "category", "source_system"),
    "customers": ("source_system",),
    "events": ("channel", "touchpoint"),
    "feedback": ("touchpoint",),
    "campaign": ("group",),
}

#: Timestamp columns checked for dates after the as-of date.
TIME_COLUMNS: dict[str, tuple[str, ...]] = {
    "transactions": ("timestamp",),
    "events": ("timestamp",),
    "feedback": ("timestamp",),
    "campaign": ("sent_at",),
    "customers": ("signup_date", "consent_date"),
}

#: Plausible customer age range (years at the as-of date) for the birth-year rule.
AGE_RANGE: tuple[int, int] = (14, 110)

#: Known postcode formats (upper case, after trimming); the one that fits most values is used if it
#: fits at least half of them, else the dominant character shapes are learnt from the data.
POSTCODE_PATTERNS: dict[str, str] = {
    "UK": r"[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}",
    "DE/FR/ES/IT": r"[0-9]{5}",
    "US": r"[0-9]{5}(-[0-9]{4})?",
    "NL": r"[0-9]{4} ?[A-Z]{2}",
    "CA": r"[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]",
    "BE/DK/AT/CH/AU/NO": r"[0-9]{4}",
    "PT": r"[0-9]{4}-[0-9]{3}",
    "PL": r"[0-9]{2}-[0-9]{3}",
    "SE": r"[0-9]{3} ?[0-9]{2}",
    "IE": r"[A-Z][0-9][0-9W] ?[A-Z0-9]{4}",
}

_EMAIL_RE = r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
_PHONE_SEPARATORS = r"[\s\-\.\(\)/]"

#: Column-name patterns that mark personal data (matched against lower-case names).
PII_NAME_PATTERNS: dict[str, str] = {
    "name": r"(^|_)(first|last|given|family|sur|full|middle)?_?name$|^name$|forename|surname",
    "email": r"e_?mail",
    "phone": r"phone|mobile|tel(ephone)?$|^tel_|msisdn",
    "postcode": r"post_?code|zip(_?code)?$|postal",
    "address": r"address|street|house_?(number|no)",
    "birth date": r"birth|dob$|^dob|date_of_birth",
    "free text": r"comment|note|remark|free_?text|message",
    "national id": r"ssn|passport|national_?id|nin$|tax_?id",
    "network id": r"(^|_)ip(_address)?$|device_?id|cookie",
}


# ---------------------------------------------------------------------------------------------
# format checks (vectorised; missing values are neither valid nor invalid: they return <NA>)
# ---------------------------------------------------------------------------------------------


def valid_email(values: pd.Series) -> pd.Series:
    """True where a value looks like an e-mail address (one @, a domain with a dot, no spaces)."""
    s = values.astype("str").str.strip()
    ok = s.str.fullmatch(_EMAIL_RE) & ~s.str.contains("..", regex=False)
    return ok.astype("boolean").where(values.notna())


def valid_phone(values: pd.Series) -> pd.Series:
    """True where a value is a phone number: 7-15 digits after removing spaces, dashes, dots,
    brackets, slashes and a leading ``+`` or ``00``."""
    digits = values.astype("str").str.strip().str.replace(_PHONE_SEPARATORS, "", regex=True)
    digits = digits.str.replace(r"^(\+|00)", "", regex=True)
    ok = digits.str.fullmatch(r"[0-9]{7,15}")
    return ok.astype("boolean").where(values.notna())


def postcode_pattern(values: pd.Series, pattern: str | None = None) -> tuple[str, str]:
    """The postcode format to check against: ``(name, regex)``.

    ``pattern`` (a regex) wins; otherwise the :data:`POSTCODE_PATTERNS` entry matching most values
    (at least half of them); otherwise the character shapes (letter → A, digit → 9) that each hold
    at least 5% of the values.
    """
    if pattern:
        return "configured", pattern
    s = values.dropna().astype("str").str.strip().str.upper()
    if len(s) == 0:
        return "none", r".*"
    sample = s.iloc[:: max(1, len(s) // 20000)]
    shares = {
        name: float(sample.str.fullmatch(rx).mean()) for name, rx in POSTCODE_PATTERNS.items()
    }
    best = max(shares, key=lambda k: shares[k])  # first listed wins ties
    if shares[best] >= 0.5:
        return best, POSTCODE_PATTERNS[best]
    shape = sample.str.replace(r"[A-Z]", "A", regex=True).str.replace(r"[0-9]", "9", regex=True)
    share = shape.value_counts(normalize=True)
    shapes = [
        re.escape(x).replace("A", "[A-Z]").replace("9", "[0-9]") for x in share.index[share >= 0.05]
    ]
    return "learnt", "|".join(f"(?:{x})" for x in shapes) if shapes else r".*"


def valid_postcode(values: pd.Series, pattern: str | None = None) -> pd.Series:
    """True where a postcode fits the format found by :func:`postcode_pattern`."""
    _, rx = postcode_pattern(values, pattern)
    ok = values.astype("str").str.strip().str.upper().str.fullmatch(rx)
    return ok.astype("boolean").where(values.notna())


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _is_text(s: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(s) or s.dtype == object


def _end_of(as_of_date: Any) -> pd.Timestamp:
    """Exclusive end of the data window: data through the end of ``as_of_date`` counts."""
    return pd.Timestamp(as_of_date).normalize() + pd.Timedelta(days=1)


def _arrow(values: pd.Series) -> Any:
    """The Arrow array behind a string column (None for other columns)."""
    arr = getattr(values.array, "_pa_array", None)
    if arr is None:
        return None
    import pyarrow as pa

    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _codes(values: pd.Series) -> np.ndarray:
    """Integer codes of a column's values (equal values, equal codes; missing = -1)."""
    arr = _arrow(values)
    if arr is not None:
        import pyarrow.compute as pc

        enc = pc.dictionary_encode(arr)
        return pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype("int64")
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    return codes.astype("int64")


def isin(values: pd.Series, allowed: Iterable[Any]) -> np.ndarray:
    """``values.isin(allowed)`` as a bool array, fast for Arrow-backed string columns."""
    arr = _arrow(values)
    if arr is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        value_set = pa.array(
            pd.unique(pd.Series(list(allowed), dtype="str").dropna()), type=arr.type
        )
        out = pc.is_in(arr, value_set=value_set)
        return pc.fill_null(out, False).to_numpy(zero_copy_only=False).astype(bool)
    return values.isin(list(allowed)).to_numpy(dtype=bool, na_value=False)


def n_distinct(values: pd.Series) -> int:
    """Number of distinct non-missing values (fast for Arrow-backed string columns)."""
    arr = _arrow(values)
    if arr is not None:
        import pyarrow.compute as pc

        enc = pc.dictionary_encode(arr)  # faster than count_distinct on many distinct values
        return len(enc.dictionary) - int(enc.dictionary.null_count)
    return int(values.nunique(dropna=True))


def exact_duplicates(df: pd.DataFrame, key_columns: Iterable[str] | None = None) -> np.ndarray:
    """Mask of rows identical in every column to an earlier row (first copy not flagged).

    Each column (or only ``key_columns``, e.g. a transaction id: identical rows share it) is
    encoded as integers and the codes are combined into a row hash; only rows whose hash repeats
    are compared column by column.
    """
    n = len(df)
    if n < 2:
        return np.zeros(n, dtype=bool)
    h = np.zeros(n, dtype=np.uint64)
    cols = [c for c in (key_columns or []) if c in df.columns] or list(df.columns)
    with np.errstate(over="ignore"):
        for col in cols:
            c = _codes(df[col]).astype(np.uint64)
            h = h * np.uint64(1_000_003) ^ (c + np.uint64(0x9E3779B97F4A7C15))
    cand = pd.Series(h).duplicated(keep=False).to_numpy()
    out = np.zeros(n, dtype=bool)
    if cand.any():
        out[np.flatnonzero(cand)] = df.loc[cand].duplicated(keep="first").to_numpy()
    return out


def original_row_numbers(n_accepted: int, quarantine: pd.DataFrame | None) -> np.ndarray:
    """1-based file row numbers of the accepted rows (the contract keeps file order and drops the
    quarantined rows, whose ``row_number`` it records)."""
    if quarantine is None or len(quarantine) == 0 or "row_number" not in quarantine:
        return np.arange(1, n_accepted + 1)
    total = n_accepted + len(quarantine)
    keep = np.ones(total, dtype=bool)
    keep[quarantine["row_number"].to_numpy(dtype="int64") - 1] = False
    return np.flatnonzero(keep) + 1


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


# ---------------------------------------------------------------------------------------------
# backend (Ibis) tables: the same measures computed in the backend, only aggregates come back
# ---------------------------------------------------------------------------------------------


def _columns(df: Any) -> list[str]:
    """The data columns of a pandas frame or backend table (without :data:`ROW_ORDER`)."""
    return [c for c in df.columns if c != ROW_ORDER]


def _n_rows(df: Any) -> int:
    return int(df.count().execute()) if is_backend_table(df) else len(df)


def _ts_literal(value: pd.Timestamp) -> Any:
    import ibis

    return ibis.literal(pd.Timestamp(value).to_pydatetime(), type="timestamp")


def _flag(expr: Any) -> Any:
    """A boolean backend expression with missing (NULL) read as False, as pandas masks do."""
    return expr.fill_null(False)


def _count_true(expr: Any) -> Any:
    import ibis

    return ibis.ifelse(_flag(expr), 1, 0).sum()


def _no_row(t: Any) -> Any:
    """A boolean column of a backend table that is False on every row."""
    return t[ROW_ORDER].isnull()


def _present(t: Any, col: str) -> Any:
    """Non-missing values of a backend column (NULL, and NaN in float columns, are missing)."""
    c = t[col]
    ok = c.notnull()
    if t.schema()[col].is_floating():
        ok = ok & ~c.isnan().fill_null(True)
    return ok


def _int(v: Any) -> int:
    return 0 if v is None or pd.isna(v) else int(v)


def _float(v: Any) -> float:
    return 0.0 if v is None or pd.isna(v) else float(v)


def _timestamp(v: Any) -> pd.Timestamp:
    """A backend timestamp as pandas gives it for the contract's ``datetime64[ns]`` columns."""
    return pd.NaT if v is None or pd.isna(v) else pd.Timestamp(v).as_unit("ns")


def _backend_kind(dtype: Any) -> str:
    if dtype.is_boolean():
        return "yes/no"
    if dtype.is_timestamp() or dtype.is_date():
        return "date/time"
    if dtype.is_integer():
        return "whole number"
    if dtype.is_numeric():
        return "number"
    return "text"


def _backend_scalar(dtype: Any, v: Any) -> Any:
    """A backend min/max as the pandas ``Series.min()`` of the same column."""
    if v is None or pd.isna(v):
        return v
    if dtype.is_timestamp() or dtype.is_date():
        return pd.Timestamp(v)
    if dtype.is_integer():
        return np.int64(v)
    if dtype.is_floating():
        return np.float64(v)
    return v


def linear_percentile(stat: Any, n: int, q: float) -> float:
    """The ``q`` quantile (0-1) of ``n`` values as ``numpy.percentile`` computes it (method
    ``linear``, the same floating-point steps), from ``stat(k)``: the k-th smallest value
    (0-based). Lets a backend give the pandas path's quartiles exactly from two order
    statistics."""
    vi = np.float64(n - 1) * np.float64(q)
    if vi >= n - 1:
        return float(np.float64(stat(n - 1)))
    lo = int(np.floor(vi))
    a, b = np.float64(stat(lo)), np.float64(stat(lo + 1))
    g = vi - np.float64(lo)
    diff = b - a
    return float(b - diff * (1 - g) if g >= 0.5 else a + diff * g)


def _order_statistics(t: Any, col: str, ks: Iterable[int]) -> dict[int, float]:
    """The k-th smallest non-missing values (0-based) of a backend column, in one query over
    its value counts (a cumulative count over the distinct values: no sort of the rows)."""
    import ibis

    ks = sorted(set(int(k) for k in ks))
    vals = t.filter(_present(t, col)).group_by(col).aggregate(_cx_n=ibis._.count())
    vals = vals.mutate(_cx_cum=vals._cx_n.sum().over(ibis.cumulative_window(order_by=vals[col])))
    got = vals.aggregate(
        **{f"k{i}": vals[col].min(where=vals._cx_cum > k) for i, k in enumerate(ks)}
    ).to_pandas()
    return {k: float(got[f"k{i}"].iloc[0]) for i, k in enumerate(ks)}


def _backend_profile(
    table: str,
    t: Any,
    pii: set[str],
    outlier_k: float,
    repeated: Mapping[tuple[str, str], int] | None = None,
) -> list[dict[str, Any]]:
    """:func:`profile_tables` rows of one backend table (two or three aggregate queries)."""
    cols = _columns(t)
    sch = t.schema()
    aggs: dict[str, Any] = {"_cx_rows": t.count()}
    ranged: list[str] = []
    for i, col in enumerate(cols):
        ok = _present(t, col)
        # plain COUNT / COUNT(DISTINCT) (a FILTER makes DuckDB's distinct counts much slower);
        # NaN (a float value, one distinct value) is then taken out
        aggs[f"nn{i}"] = t[col].count()
        if sch[col].is_floating():
            aggs[f"nan{i}"] = _count_true(t[col].isnan())
        if (table, col) not in (repeated or {}):
            aggs[f"d{i}"] = t[col].nunique()
        dt = sch[col]
        hide = col in pii or col.endswith("_id") or col in ("comment",)
        if not hide and (dt.is_boolean() or dt.is_numeric() or dt.is_temporal()):
            c = t[col].cast("int8") if dt.is_boolean() else t[col]
            where = ok if dt.is_floating() else None  # NaN sorts above every number
            aggs[f"lo{i}"], aggs[f"hi{i}"] = c.min(where=where), c.max(where=where)
            ranged.append(col)
    got = t.aggregate(**aggs).to_pandas().iloc[0]
    n = _int(got["_cx_rows"])
    rows, fences = [], {}
    for i, col in enumerate(cols):
        dt = sch[col]
        nan = _int(got[f"nan{i}"]) if f"nan{i}" in got.index else 0
        non_missing = _int(got[f"nn{i}"]) - nan
        rec: dict[str, Any] = {
            "table": table,
            "column": col,
            "type": _backend_kind(dt),
            "rows": n,
            "non_missing": non_missing,
            "completeness": non_missing / n if n else np.nan,
            "distinct": (
                non_missing - int(repeated[table, col])
                if (table, col) in (repeated or {})
                else _int(got[f"d{i}"]) - (nan > 0)
            ),
            "min": None,
            "max": None,
            "outliers": np.nan,
        }
        if non_missing and col in ranged:
            lo, hi = got[f"lo{i}"], got[f"hi{i}"]
            if dt.is_boolean():
                rec["min"], rec["max"] = str(bool(lo)), str(bool(hi))
            else:
                rec["min"] = _fmt(_backend_scalar(dt, lo))
                rec["max"] = _fmt(_backend_scalar(dt, hi))
            if dt.is_numeric():
                ks = {
                    k
                    for q in (0.25, 0.75)
                    for k in (int(np.floor((non_missing - 1) * q)),)
                    for k in (k, min(k + 1, non_missing - 1))
                }
                stats = _order_statistics(t, col, ks)
                q1 = linear_percentile(stats.__getitem__, non_missing, 0.25)
                q3 = linear_percentile(stats.__getitem__, non_missing, 0.75)
                iqr = q3 - q1
                if iqr > 0:
                    fences[i] = (q1 - outlier_k * iqr, q3 + outlier_k * iqr)
                else:
                    rec["outliers"] = 0
        rows.append(rec)
    if fences:
        out = t.aggregate(
            **{
                f"o{i}": _count_true(_present(t, cols[i]) & ((t[cols[i]] < lo) | (t[cols[i]] > hi)))
                for i, (lo, hi) in fences.items()
            }
        ).to_pandas()
        for i in fences:
            rows[i]["outliers"] = _int(out[f"o{i}"].iloc[0])
    return rows


def _backend_freshness(
    table: str, t: Any, col: str, end: pd.Timestamp, d: pd.Timestamp
) -> list[dict[str, Any]]:
    """:func:`freshness` rows of one backend table."""
    end_lit = _ts_literal(end)

    def stats(tt: Any) -> dict[str, Any]:
        ts = tt[col]
        return {
            "rows": tt.count(),
            "earliest": ts.min(where=ts < end_lit),
            "latest": ts.max(where=ts < end_lit),
            "future_rows": _count_true(ts >= end_lit),
        }

    frames = [t.aggregate(**stats(t)).to_pandas().assign(source_system="all")]
    if "source_system" in t.columns and _int(t.source_system.nunique().execute()) > 1:
        g = t.filter(t.source_system.notnull())
        by = g.group_by("source_system").aggregate(**stats(g)).to_pandas()
        by["source_system"] = by["source_system"].astype("str")
        frames.append(by.sort_values("source_system", kind="stable"))
    out = []
    for frame in frames:
        for r in frame.itertuples(index=False):
            latest = _timestamp(r.latest)
            out.append(
                {
                    "table": table,
                    "source_system": str(r.source_system),
                    "rows": _int(r.rows),
                    "earliest": _timestamp(r.earliest),
                    "latest": latest,
                    "days_behind": (d - latest.normalize()).days if pd.notna(latest) else np.nan,
                    "future_rows": _int(r.future_rows),
                }
            )
    return out


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


def _backend_customer_totals(t: Any) -> pd.DataFrame:
    """Transactions per customer id, aggregated in the backend (a customer-level frame):
    ``customer_id`` (missing ids as one row), ``n`` rows, ``amount`` (sum of the non-missing
    amounts), ``positive`` (sum of the positive amounts)."""
    import ibis

    ok = _present(t, "amount")
    got = (
        t.group_by("customer_id")
        .aggregate(
            n=ibis._.count(),
            amount=t.amount.sum(where=ok),
            positive=t.amount.sum(where=ok & _flag(t.amount > 0)),
        )
        .to_pandas()
    )
    return pd.DataFrame(
        {
            "customer_id": pd.Series(got["customer_id"].to_numpy(dtype=object), dtype="str"),
            "n": got["n"].to_numpy(dtype="int64"),
            "amount": got["amount"].astype("float64").fillna(0.0).to_numpy(),
            "positive": got["positive"].astype("float64").fillna(0.0).to_numpy(),
        }
    )


def _backend_merge_impact(
    master_map: pd.DataFrame, totals: pd.DataFrame
) -> tuple[int, int, float, int]:
    """Active records, active people, revenue and transactions of :func:`merge_impact` from
    :func:`_backend_customer_totals`."""
    sel = totals.loc[isin(totals["customer_id"], master_map["customer_id"])]
    people = master_map.loc[isin(master_map["customer_id"], sel["customer_id"]), "master_id"]
    return len(sel), int(people.nunique()), float(sel["amount"].sum()), int(sel["n"].sum())


@dataclass
class _CustomerTotals:
    """:func:`_backend_customer_totals` of a backend transactions table, computed once for
    :func:`merge_impact` and the revenue figures."""

    frame: pd.DataFrame


def _backend_money(
    t: Any, customers: pd.DataFrame | None, dups: Any, totals: pd.DataFrame | None = None
) -> dict[str, float]:
    """The transactions' revenue figures of :func:`run_audit` (``revenue_at_risk``)."""
    cols = _columns(t)
    amount = t.amount
    ok = _present(t, "amount")
    totals = _backend_customer_totals(t) if totals is None else totals
    fixed = {"revenue": float(totals["positive"].sum())}
    if customers is not None:
        orphan = ~isin(totals["customer_id"], customers["customer_id"])
        fixed["orphan_revenue"] = float(totals.loc[orphan, "positive"].sum())
    aggs: dict[str, Any] = {}
    if "quantity" in cols:
        bad = _flag(amount < 0) & ~_flag(t.quantity < 0)
        aggs["non_refund_negative"] = amount.sum(where=ok & bad)
    if dups is None:
        dups = _backend_duplicates("transactions", t)
    exact = _flag(t[ROW_ORDER].isin(dups.filter(dups._cx_exact)[ROW_ORDER]))
    aggs["duplicate_revenue"] = amount.sum(where=ok & exact)
    got = t.aggregate(**aggs).to_pandas().iloc[0]
    money = {**fixed, **{k: _float(got[k]) for k in aggs}}
    if "non_refund_negative" in money:
        money["non_refund_negative"] = -money["non_refund_negative"]
    return {
        k: money[k]
        for k in ("revenue", "orphan_revenue", "non_refund_negative", "duplicate_revenue")
        if k in money
    }


def _backend_text_sample(t: Any, col: str, non_missing: int, rows: int, span: tuple) -> pd.Series:
    """Every k-th non-missing value of a backend text column in row order (k =
    ``max(1, non_missing // 2000)``), the sample :func:`_content_kind` takes in pandas."""
    import ibis

    if non_missing == 0:
        return pd.Series([], dtype="str")
    k = max(1, non_missing // 2000)
    lo, hi = span
    if non_missing == rows and hi - lo + 1 == rows:  # no gaps: the rank is the row position
        s = t.filter(((t[ROW_ORDER] - lo) % k) == 0)
    else:
        f = t.filter(t[col].notnull())
        f = f.mutate(_cx_rank=ibis.row_number().over(order_by=f[ROW_ORDER]))
        s = f.filter((f._cx_rank % k) == 0)
    got = s.order_by(ROW_ORDER).select(col).to_pandas()[col]
    return pd.Series(got.to_numpy(dtype=object), dtype="str")


def _backend_content_kinds(t: Any) -> dict[str, str | None]:
    """:func:`_content_kind` of every text column of a backend table."""
    text = [c for c in _columns(t) if t.schema()[c].is_string()]
    if not text:
        return {}
    got = (
        t.aggregate(
            _cx_rows=t.count(),
            _cx_lo=t[ROW_ORDER].min(),
            _cx_hi=t[ROW_ORDER].max(),
            **{f"nn{i}": t[c].count() for i, c in enumerate(text)},
        )
        .to_pandas()
        .iloc[0]
    )
    rows, span = _int(got["_cx_rows"]), (_int(got["_cx_lo"]), _int(got["_cx_hi"]))
    return {
        c: _sample_kind(_backend_text_sample(t, c, _int(got[f"nn{i}"]), rows, span))
        for i, c in enumerate(text)
    }


# ---------------------------------------------------------------------------------------------
# 1. profile and freshness
# ---------------------------------------------------------------------------------------------


def profile_tables(
    tables: Mapping[str, pd.DataFrame],
    *,
    outlier_k: float = 3.0,
    pii_columns: Iterable[str] = PII_COLUMNS,
    repeated_values: Mapping[tuple[str, str], int] | None = None,
) -> pd.DataFrame:
    """One row per table column: type, completeness, distinct values, range and outliers.

    Parameters
    ----------
    tables : mapping of str to DataFrame or backend table
        Validated tables; backend (Ibis) tables are profiled in the backend, with the same
        results (quartiles from exact order statistics, as ``numpy.percentile``).
    outlier_k : float
        Numeric values outside ``[Q1 - k·IQR, Q3 + k·IQR]`` count as outliers (Tukey's far-out
        fences with the default 3).
    pii_columns : iterable of str
        Columns whose range is never shown (personal data), nor that of id or free-text columns.
    repeated_values : mapping, optional
        ``{(table, column): n}`` for backend tables: the column's non-missing values equal to an
        earlier row's, known already (the duplicate check counts them for transaction ids);
        its distinct count is then the filled values minus ``n`` instead of a second distinct
        count over every id.

    Returns
    -------
    DataFrame with ``table, column, type, rows, non_missing, completeness, distinct, min, max,
    outliers``.
    """
    pii = set(pii_columns)
    rows = []
    for table, df in tables.items():
        if is_backend_table(df):
            rows.extend(_backend_profile(table, df, pii, outlier_k, repeated_values))
            continue
        n = len(df)
        for col in df.columns:
            s = df[col]
            non_missing = int(s.notna().sum())
            hide = col in pii or col.endswith("_id") or col in ("comment",)
            rec: dict[str, Any] = {
                "table": table,
                "column": col,
                "type": _kind(s),
                "rows": n,
                "non_missing": non_missing,
                "completeness": non_missing / n if n else np.nan,
                "distinct": n_distinct(s),
                "min": None,
                "max": None,
                "outliers": np.nan,
            }
            if non_missing and not hide:
                if pd.api.types.is_bool_dtype(s):
                    rec["min"], rec["max"] = str(bool(s.min())), str(bool(s.max()))
                elif pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
                    rec["min"], rec["max"] = _fmt(s.min()), _fmt(s.max())
                if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                    x = s.dropna().to_numpy(dtype="float64")
                    q1, q3 = np.percentile(x, [25, 75])
                    iqr = q3 - q1
                    lo, hi = q1 - outlier_k * iqr, q3 + outlier_k * iqr
                    rec["outliers"] = int(((x < lo) | (x > hi)).sum()) if iqr > 0 else 0
            rows.append(rec)
    return pd.DataFrame(rows)


def _kind(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "yes/no"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "date/time"
    if pd.api.types.is_integer_dtype(s):
        return "whole number"
    if pd.api.types.is_numeric_dtype(s):
        return "number"
    return "text"


def _fmt(v: Any) -> str:
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M") if (v.hour or v.minute) else v.strftime("%Y-%m-%d")
    if isinstance(v, float | np.floating):
        return f"{v:,.2f}"
    return str(v)


def freshness(tables: Mapping[str, pd.DataFrame], as_of_date: Any) -> pd.DataFrame:
    """Latest timestamp per table (and per source system where the table has one).

    Timestamps after the as-of date are errors and are left out of ``latest`` (counted in
    ``future_rows``). ``days_behind`` is the gap from the latest timestamp to the as-of date.
    """
    end = _end_of(as_of_date)
    d = pd.Timestamp(as_of_date).normalize()
    out = []
    for table, cols in TIME_COLUMNS.items():
        if table not in tables or table in ("customers", "campaign"):
            continue  # customers have no activity dates; a campaign is a one-off send
        df = tables[table]
        col = cols[0]
        if col not in df.columns:
            continue
        if is_backend_table(df):
            out.extend(_backend_freshness(table, df, col, end, d))
            continue
        groups: list[tuple[str, pd.DataFrame]] = [("all", df)]
        if "source_system" in df.columns and df["source_system"].nunique() > 1:
            groups += [(str(k), g) for k, g in df.groupby("source_system", sort=True)]
        for name, g in groups:
            ts = g[col]
            ok = ts[ts < end]
            latest = ok.max() if len(ok) else pd.NaT
            out.append(
                {
                    "table": table,
                    "source_system": name,
                    "rows": len(g),
                    "earliest": ok.min() if len(ok) else pd.NaT,
                    "latest": latest,
                    "days_behind": (d - latest.normalize()).days if pd.notna(latest) else np.nan,
                    "future_rows": int((ts >= end).sum()),
                }
            )
    return pd.DataFrame(
        out,
        columns=[
            "table",
            "source_system",
            "rows",
            "earliest",
            "latest",
            "days_behind",
            "future_rows",
        ],
    )


# ---------------------------------------------------------------------------------------------
# 2. rules
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# 3. single customer view
# ---------------------------------------------------------------------------------------------

_GMAIL = ("gmail.com", "googlemail.com")


def _norm_name(s: pd.Series) -> pd.Series:
    out = (
        s.astype("str")
        .str.normalize("NFKD")
        .str.encode("ascii", errors="ignore")
        .str.decode("ascii")
        .str.lower()
        .str.replace(r"[^a-z]", "", regex=True)
    )
    return out.where(s.notna() & (out != ""))


def normalise_contacts(
    customers: pd.DataFrame, *, postcode_regex: str | None = None, as_of_date: Any = None
) -> pd.DataFrame:
    """Normalised linkage fields (a preparation step, not a matching rule).

    Names: lower case ASCII letters only. E-mail: lower case, Gmail dots and ``+tags`` removed;
    invalid addresses dropped. Phone: the last 9 digits of a valid number (so ``+44 7700 900123``
    and ``07700900123`` agree). Postcode: upper case without spaces when valid. Birth year: kept
    when plausible.

    Returns
    -------
    DataFrame with ``unique_id`` (the customer id) and the normalised columns present, plus
    ``source_system`` when the input has it.
    """
    out = pd.DataFrame({"unique_id": customers["customer_id"].astype("str").to_numpy()})
    if "source_system" in customers:
        out["source_system"] = customers["source_system"].astype("str").to_numpy()
    for col in ("first_name", "last_name"):
        if col in customers:
            out[col] = _norm_name(customers[col]).to_numpy()
    if "email" in customers:
        e = customers["email"].astype("str").str.strip().str.lower()
        e = e.where(valid_email(customers["email"]).fillna(False).astype(bool))
        local = e.str.extract(r"^([^@]+)@", expand=False).str.replace(r"\+.*$", "", regex=True)
        dom = e.str.extract(r"@([^@]+)$", expand=False)
        gm = dom.isin(_GMAIL)
        local = local.where(~gm, local.str.replace(".", "", regex=False))
        dom = dom.where(~gm, "gmail.com")
        out["email"] = (local + "@" + dom).to_numpy()
    if "phone" in customers:
        ok = valid_phone(customers["phone"]).fillna(False).astype(bool)
        digits = customers["phone"].astype("str").str.replace(r"[^0-9]", "", regex=True)
        out["phone"] = digits.str.slice(-9).where(ok).to_numpy()
    if "postcode" in customers:
        ok = valid_postcode(customers["postcode"], postcode_regex).fillna(False).astype(bool)
        pc = customers["postcode"].astype("str").str.upper().str.replace(r"\s", "", regex=True)
        out["postcode"] = pc.where(ok).to_numpy()
    if "birth_year" in customers:
        year = pd.Timestamp(as_of_date).year if as_of_date is not None else pd.Timestamp.now().year
        by = customers["birth_year"].astype("Float64")
        ok = by.between(year - AGE_RANGE[1], year - AGE_RANGE[0])
        out["birth_year"] = by.where(ok).astype("Int64").to_numpy()
    for col in out.columns:
        if col != "birth_year":
            out[col] = out[col].astype(object).where(pd.notna(out[col]), None)
    return out


#: Prior probabilities that a level is seen when two records ARE the same person (Splink's m).
#: Set from experience of duplicate customer records across systems rather than learnt by EM,
#: which on customer data tends to take households (shared surname, address, phone) for
#: duplicates. The u probabilities (chance agreement) are estimated from the data.
DEFAULT_M: dict[str, list[float]] = {
    "first_name": [0.80, 0.08, 0.05, 0.05, 0.02],  # exact, JW>.92, JW>.88, JW>.7, else
    "last_name": [0.85, 0.06, 0.03, 0.03, 0.03],
    "email": [0.80, 0.20],  # exact, else
    "phone": [0.85, 0.15],
    "postcode": [0.88, 0.12],
    "phone_postcode": [0.75, 0.10, 0.13, 0.02],  # both, phone only, postcode only, neither
    "birth_year": [0.92, 0.04, 0.01],  # exact, ±1, else
    "source_system": [0.25, 0.75],  # same system, different systems
}

_LINK_FIELDS = ("first_name", "last_name", "email", "phone", "postcode", "birth_year")


class SingleCustomerView:
    """Find records of the same person with Splink (Fellegi-Sunter on DuckDB).

    The defaults hold at scale: on 1.03 M customer records (1 M people) a fit took 25-60 s and
    2.2 GiB on a shared 2-core machine, so blocking rules and the u sample (``max_pairs``) are
    the same for every size (``benchmarks/RESULTS.md``).

    Parameters
    ----------
    match_threshold : float
        Pairs with a match probability at or above this are the same person; connected pairs
        form one person (``master_id``).
    random_state : int
        Seed of the random pair sample that estimates chance agreement (u probabilities).
    max_pairs : float
        Size of that sample.
    m_probabilities : mapping, optional
        Overrides of :data:`DEFAULT_M` per field.
    postcode_regex : str, optional
        Postcode format (default: recognised from the data).

    Attributes
    ----------
    master_map_ : DataFrame
        ``customer_id, source_system, master_id, match_probability`` for every record
        (``match_probability`` is the best link into its person; empty for a single record).
    pairs_ : DataFrame
        Scored candidate pairs with probability ≥ 0.5: ``customer_id_l, customer_id_r,
        match_probability, match_weight`` (ids only).
    fields_ : list of str
        Fields compared.
    n_records_, n_people_ : int
    skipped_reason_ : str or None
        Why no linkage was run (too few fields), when so.
    """

    def __init__(
        self,
        match_threshold: float = 0.99,
        random_state: int = 42,
        max_pairs: float = 2e6,
        m_probabilities: Mapping[str, list[float]] | None = None,
        postcode_regex: str | None = None,
    ):
        self.match_threshold = match_threshold
        self.random_state = random_state
        self.max_pairs = max_pairs
        self.m_probabilities = m_probabilities
        self.postcode_regex = postcode_regex

    def _settings(self, fields: list[str], has_system: bool) -> Any:
        import splink.comparison_level_library as cll
        import splink.comparison_library as cl
        from splink import SettingsCreator, block_on

        m = {**DEFAULT_M, **dict(self.m_probabilities or {})}
        comps = []
        if "first_name" in fields:
            comps.append(cl.NameComparison("first_name").configure(m_probabilities=m["first_name"]))
        if "last_name" in fields:
            comps.append(
                cl.NameComparison("last_name").configure(
                    term_frequency_adjustments=True, m_probabilities=m["last_name"]
                )
            )
        if "email" in fields:
            # exact address only: a shared user name at another domain mostly repeats the name,
            # which is compared already
            em = m["email"]
            comps.append(
                cl.CustomComparison(
                    output_column_name="email",
                    comparison_levels=[
                        cll.NullLevel("email"),
                        cll.ExactMatchLevel("email").configure(
                            m_probability=em[0], tf_adjustment_column="email"
                        ),
                        cll.ElseLevel().configure(m_probability=em[1]),
                    ],
                )
            )
        if {"phone", "postcode"} <= set(fields):
            # one comparison: households share both, so counting them separately would double
            # the evidence of two correlated fields
            pp = m["phone_postcode"]
            comps.append(
                cl.CustomComparison(
                    output_column_name="phone_postcode",
                    comparison_levels=[
                        cll.And(cll.NullLevel("phone"), cll.NullLevel("postcode")).configure(
                            is_null_level=True, label_for_charts="phone and postcode missing"
                        ),
                        cll.And(
                            cll.ExactMatchLevel("phone"), cll.ExactMatchLevel("postcode")
                        ).configure(
                            m_probability=pp[0],
                            label_for_charts="same phone and postcode",
                            tf_adjustment_column="phone",
                        ),
                        cll.ExactMatchLevel("phone").configure(
                            m_probability=pp[1],
                            label_for_charts="same phone only",
                            tf_adjustment_column="phone",
                        ),
                        cll.ExactMatchLevel("postcode").configure(
                            m_probability=pp[2],
                            label_for_charts="same postcode only",
                            tf_adjustment_column="postcode",
                        ),
                        cll.ElseLevel().configure(m_probability=pp[3]),
                    ],
                )
            )
        else:
            for col in ("phone", "postcode"):
                if col in fields:
                    comps.append(cl.ExactMatch(col).configure(m_probabilities=m[col]))
        if "birth_year" in fields:
            by = m["birth_year"]
            comps.append(
                cl.CustomComparison(
                    output_column_name="birth_year",
                    comparison_levels=[
                        cll.NullLevel("birth_year"),
                        cll.ExactMatchLevel("birth_year").configure(m_probability=by[0]),
                        cll.AbsoluteDifferenceLevel("birth_year", 1).configure(m_probability=by[1]),
                        cll.ElseLevel().configure(m_probability=by[2]),
                    ],
                )
            )
        if has_system:
            ss = m["source_system"]
            comps.append(
                cl.CustomComparison(
                    output_column_name="source_system",
                    comparison_levels=[
                        cll.NullLevel("source_system"),
                        cll.ExactMatchLevel("source_system").configure(
                            m_probability=ss[0], label_for_charts="Same source system"
                        ),
                        cll.ElseLevel().configure(m_probability=ss[1]),
                    ],
                )
            )
        blocks = [
            ("email",),
            ("phone",),
            ("last_name", "postcode"),
            ("first_name", "postcode"),
            ("postcode", "birth_year"),
            ("first_name", "last_name", "birth_year"),
        ]
        blocks = [b for b in blocks if set(b) <= set(fields)]
        return SettingsCreator(
            link_type="dedupe_only",
            unique_id_column_name="unique_id",
            comparisons=comps,
            blocking_rules_to_generate_predictions=[block_on(*b) for b in blocks],
            retain_intermediate_calculation_columns=False,
            retain_matching_columns=False,
        ), blocks

    def fit(self, customers: pd.DataFrame, as_of_date: Any = None) -> SingleCustomerView:
        """Link the customer records.

        Parameters
        ----------
        customers : DataFrame
            Customer records (``customer_id`` plus any of first_name, last_name, email, phone,
            postcode, birth_year, source_system).
        as_of_date : date-like, optional
            Reference date for plausible birth years.
        """
        ids = customers["customer_id"].astype("str")
        system = (
            customers["source_system"].astype("str").where(customers["source_system"].notna())
            if "source_system" in customers
            else pd.Series(pd.NA, index=customers.index, dtype="str")
        )
        norm = normalise_contacts(
            customers, postcode_regex=self.postcode_regex, as_of_date=as_of_date
        )
        fields = [f for f in _LINK_FIELDS if f in norm.columns and norm[f].notna().any()]
        self.fields_ = fields
        self.skipped_reason_ = None
        best = pd.Series(np.nan, index=ids.to_numpy(), dtype="float64")
        cluster = pd.Series(ids.to_numpy(), index=ids.to_numpy(), dtype=object)
        self.pairs_ = pd.DataFrame(
            columns=["customer_id_l", "customer_id_r", "match_probability", "match_weight"]
        )
        strong = {"email", "phone"} & set(fields)
        if len(customers) < 2 or len(fields) < 3 or not (strong or "postcode" in fields):
            self.skipped_reason_ = (
                "the customers table has too few contact fields to compare records "
                f"(found: {', '.join(fields) or 'none'})"
            )
        else:
            has_system = "source_system" in norm and norm["source_system"].nunique() > 1
            cluster, best = self._link(norm, fields, has_system, ids)
        # master ids numbered in order of each person's smallest customer id (deterministic)
        frame = pd.DataFrame(
            {
                "id": ids.to_numpy(dtype=object),
                "cluster": cluster.loc[ids.to_numpy()].to_numpy(dtype=object),
            }
        )
        first = frame.groupby("cluster", sort=False)["id"].transform("min")
        codes, _ = pd.factorize(first, sort=True)
        self.master_map_ = pd.DataFrame(
            {
                "customer_id": ids.to_numpy(),
                "source_system": system.to_numpy(),
                "master_id": pd.Series(codes + 1).map("M{:07d}".format).to_numpy(),
                "match_probability": best.loc[ids.to_numpy()].round(6).to_numpy(),
            }
        )
        self.n_records_ = len(self.master_map_)
        self.n_people_ = int(self.master_map_["master_id"].nunique())
        log.info("single customer view: %d records, %d people", self.n_records_, self.n_people_)
        return self

    def _link(
        self, norm: pd.DataFrame, fields: list[str], has_system: bool, ids: pd.Series
    ) -> tuple[pd.Series, pd.Series]:
        from splink import DuckDBAPI, Linker, block_on

        settings, blocks = self._settings(fields, has_system)
        cols = ["unique_id", *fields] + (["source_system"] if has_system else [])
        frame = norm[cols].copy()
        db = DuckDBAPI()
        splink_log = logging.getLogger("splink")
        old_level = splink_log.level
        splink_log.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sdf = db.register(frame, table_name="cx_records")
                linker = Linker(sdf, settings, log_level=None)
                det = [
                    b
                    for b in (
                        ("email",),
                        ("phone", "last_name"),
                        ("first_name", "last_name", "birth_year", "postcode"),
                    )
                    if set(b) <= set(fields)
                ] or blocks[:1]
                n_pairs = max(len(frame) * (len(frame) - 1) / 2, 1.0)
                try:
                    linker.training.estimate_probability_two_random_records_match(
                        [block_on(*b) for b in det], recall=0.8
                    )
                    prior = linker._settings_obj._probability_two_random_records_match
                except ValueError:  # tiny tables: more exact matches than recall 0.8 allows
                    prior = 0.5
                # no exact match at all gives a prior of 0, which Splink cannot score (log 0):
                # assume at most one matching pair among all pairs instead
                prior = float(np.clip(prior, 1.0 / (2.0 * n_pairs), 0.5))
                linker._settings_obj._probability_two_random_records_match = prior
                linker.training.estimate_u_using_random_sampling(
                    max_pairs=self.max_pairs, seed=int(self.random_state)
                )
                pred = linker.inference.predict(threshold_match_probability=0.5)
                pairs = pred.as_pandas_dataframe()
                clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
                    pred, threshold_match_probability=self.match_threshold
                ).as_pandas_dataframe()
                self.model_ = linker.misc.save_model_to_json()
        finally:
            splink_log.setLevel(old_level)
        pairs = pairs.rename(
            columns={"unique_id_l": "customer_id_l", "unique_id_r": "customer_id_r"}
        )
        pairs = pairs[["customer_id_l", "customer_id_r", "match_probability", "match_weight"]]
        pairs = pairs.sort_values(["customer_id_l", "customer_id_r"]).reset_index(drop=True)
        self.pairs_ = pairs
        cluster = clusters.set_index("unique_id")["cluster_id"].astype(str)
        cluster = cluster.reindex(ids.to_numpy()).fillna(
            pd.Series(ids.to_numpy(), index=ids.to_numpy())
        )
        links = pairs[pairs["match_probability"] >= self.match_threshold]
        both = pd.concat(
            [
                links[["customer_id_l", "match_probability"]].set_axis(["id", "p"], axis=1),
                links[["customer_id_r", "match_probability"]].set_axis(["id", "p"], axis=1),
            ]
        )
        best = both.groupby("id")["p"].max().reindex(ids.to_numpy())
        return cluster, best

    def summary(self) -> pd.DataFrame:
        """Records, people and duplicate records, overall and per source system."""
        mm = self.master_map_
        size = mm.groupby("master_id")["customer_id"].transform("size")
        rows = [
            {
                "source_system": "all",
                "records": len(mm),
                "people": mm["master_id"].nunique(),
                "records_of_people_with_several": int((size > 1).sum()),
            }
        ]
        if mm["source_system"].notna().any():
            for sys_name, g in mm.groupby("source_system", sort=True):
                rows.append(
                    {
                        "source_system": sys_name,
                        "records": len(g),
                        "people": g["master_id"].nunique(),
                        "records_of_people_with_several": int((size.loc[g.index] > 1).sum()),
                    }
                )
        out = pd.DataFrame(rows)
        out["duplicate_records"] = out["records"] - out["people"]
        return out


def merge_impact(master_map: pd.DataFrame, transactions: pd.DataFrame) -> pd.DataFrame:
    """Revenue and transactions per customer before (per record) and after (per person) merging.

    Only transactions of known customer records count. Returns one row per measure with
    ``per_record``, ``per_person`` and ``change`` (relative). ``transactions`` may be a backend
    table (aggregated in the backend).
    """
    if is_backend_table(transactions) or isinstance(transactions, _CustomerTotals):
        totals = (
            transactions.frame
            if isinstance(transactions, _CustomerTotals)
            else _backend_customer_totals(transactions)
        )
        active_records, active_people, revenue, n_tx = _backend_merge_impact(master_map, totals)
    else:
        tx = transactions.loc[isin(transactions["customer_id"], master_map["customer_id"])]
        active = pd.Series(pd.unique(tx["customer_id"]), dtype="str")
        active_records = len(active)
        active_people = master_map.loc[
            isin(master_map["customer_id"], active), "master_id"
        ].nunique()
        revenue = float(tx["amount"].sum())
        n_tx = len(tx)
    rows = []
    for name, value in (("revenue", revenue), ("transactions", float(n_tx))):
        before = value / active_records if active_records else np.nan
        after = value / active_people if active_people else np.nan
        rows.append(
            {
                "measure": f"{name} per customer",
                "per_record": before,
                "per_person": after,
                "change": after / before - 1 if before else np.nan,
            }
        )
    rows.append(
        {
            "measure": "customers with transactions",
            "per_record": float(active_records),
            "per_person": float(active_people),
            "change": active_people / active_records - 1 if active_records else np.nan,
        }
    )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# 4. consent and privacy
# ---------------------------------------------------------------------------------------------


def consent_summary(
    customers: pd.DataFrame,
    as_of_date: Any,
    retention_months: int = 24,
    master_map: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Consent coverage: consent given (and still fresh), consent older than the retention
    period, refused, no record.

    ``consent older than retention`` means consent given but dated more than
    ``retention_months`` before the as-of date (or undated). With a master map, a person counts
    as consenting only if none of their records refuses and at least one gives fresh consent.

    Returns
    -------
    DataFrame ``status, customers, share`` (per customer record, or per person with a master map).
    """
    if "marketing_consent" not in customers:
        return pd.DataFrame(columns=["status", "customers", "share"])
    c = customers["marketing_consent"].astype("boolean")
    limit = pd.Timestamp(as_of_date).normalize() - pd.DateOffset(months=int(retention_months))
    if "consent_date" in customers:
        stale = c.fillna(False).astype(bool) & ~(customers["consent_date"] >= limit).fillna(False)
    else:
        stale = pd.Series(False, index=customers.index)
    status = np.select(
        [
            c.isna().to_numpy(),
            (c == False).fillna(False).to_numpy(),  # noqa: E712
            stale.to_numpy(dtype=bool),
        ],
        ["no consent record", "consent refused", f"consent older than {retention_months} months"],
        "consent given",
    )
    s = pd.Series(status, index=customers.index)
    if master_map is not None:
        person = customers["customer_id"].map(master_map.set_index("customer_id")["master_id"])
        rank = {
            "consent refused": 0,
            "consent given": 1,
            f"consent older than {retention_months} months": 2,
            "no consent record": 3,
        }
        r = s.map(rank)
        s = (
            r.groupby(person.fillna(customers["customer_id"]))
            .min()
            .map({v: k for k, v in rank.items()})
        )
    order = [
        "consent given",
        f"consent older than {retention_months} months",
        "consent refused",
        "no consent record",
    ]
    counts = s.value_counts().reindex(order, fill_value=0)
    return pd.DataFrame(
        {
            "status": order,
            "customers": counts.to_numpy(),
            "share": counts.to_numpy() / max(len(s), 1),
        }
    )


def _content_kind(s: pd.Series) -> str | None:
    """What personal data the values of a text column hold, judged on a sample: every k-th
    non-missing value in row order, k = ``max(1, non-missing // 2000)``."""
    v = s.dropna()
    if len(v) == 0 or not _is_text(v):
        return None
    return _sample_kind(v.iloc[:: max(1, len(v) // 2000)].astype("str"))


def _sample_kind(v: pd.Series) -> str | None:
    """:func:`_content_kind` of the sampled values ``v`` (text, no missing values)."""
    if len(v) == 0:
        return None
    if valid_email(v).mean() >= 0.5:
        return "email"
    if (
        v.str.contains(r"[A-Za-z]{3}").mean() < 0.2
        and valid_phone(v).mean() >= 0.5
        and v.str.replace(r"\D", "", regex=True).str.len().median() >= 9
    ):
        return "phone"
    if (
        v.str.strip().str.upper().str.fullmatch(POSTCODE_PATTERNS["UK"]).mean() >= 0.5
        or v.str.strip().str.upper().str.fullmatch(POSTCODE_PATTERNS["NL"]).mean() >= 0.5
    ):
        return "postcode"
    words = v.str.split().str.len()
    if words.mean() >= 4 and v.str.len().mean() >= 20:
        return "free text"
    return None


def pii_inventory(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Columns that hold personal data, found by name and by content (values are never shown).

    Backend tables are sampled in the backend (the same values, in row order).

    Returns
    -------
    DataFrame ``table, column, kind, found_by`` (``name``, ``content`` or ``name and content``).
    """
    rows = []
    for table, df in tables.items():
        kinds = _backend_content_kinds(df) if is_backend_table(df) else None
        for col in _columns(df):
            low = col.lower()
            by_name = next((k for k, rx in PII_NAME_PATTERNS.items() if re.search(rx, low)), None)
            if kinds is not None:
                by_content = kinds.get(col)
            else:
                by_content = _content_kind(df[col]) if _is_text(df[col]) else None
            if by_name or by_content:
                rows.append(
                    {
                        "table": table,
                        "column": col,
                        "kind": by_name or by_content,
                        "found_by": " and ".join(
                            x for x, y in (("name", by_name), ("content", by_content)) if y
                        ),
                    }
                )
    return pd.DataFrame(rows, columns=["table", "column", "kind", "found_by"])


def unused_columns(
    tables: Mapping[str, pd.DataFrame],
    *,
    package_dir: str | Path | None = None,
    notebooks_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Columns that no analysis notebook (02-05) uses, for a data-minimisation note.

    A column counts as used when its name appears quoted in the cxlib analysis modules (all but
    the audit and the synthetic-data generator) or in the notebooks 02-05. Columns used only by
    the single customer view (names, contact details, birth year) are listed as such.

    Returns
    -------
    DataFrame ``table, column, used_by`` (``nothing`` or ``single customer view only``).
    """
    pkg = Path(package_dir) if package_dir else Path(__file__).resolve().parent
    texts = []
    for p in sorted(pkg.rglob("*.py")):
        rel = p.relative_to(pkg).as_posix()
        if rel.startswith("synth/") or rel in (
            "audit.py",
            "plots/audit.py",
            "privacy.py",
            "contract.py",
        ):
            continue
        texts.append(p.read_text(encoding="utf-8", errors="ignore"))
    nb_dir = Path(notebooks_dir) if notebooks_dir else pkg.parent / "notebooks"
    if nb_dir.is_dir():
        for p in sorted(nb_dir.glob("0[2-5]_*.ipynb")):
            texts.append(p.read_text(encoding="utf-8", errors="ignore"))
    blob = "\n".join(texts)
    rows = []
    for table, df in tables.items():
        for col in _columns(df):
            if col == "customer_id":
                continue
            used = re.search(r"""["'\\]""" + re.escape(col) + r"""["'\\]""", blob) is not None
            if used:
                continue
            kind = "single customer view only" if col in _LINK_FIELDS else "nothing"
            rows.append({"table": table, "column": col, "used_by": kind})
    return pd.DataFrame(rows, columns=["table", "column", "used_by"])


# ---------------------------------------------------------------------------------------------
# 5. the whole audit and its findings
# ---------------------------------------------------------------------------------------------


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
