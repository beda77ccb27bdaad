"""Column profiles, freshness, the personal-data inventory and unused columns."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxlib.audit._expr import (
    _columns,
    _count_true,
    _fmt,
    _int,
    _kind,
    _order_statistics,
    _present,
    _scalar,
    _timestamp,
    _ts_literal,
    engine_for,
    linear_percentile,
)
from cxlib.audit._formats import (
    PII_NAME_PATTERNS,
    POSTCODE_PATTERNS,
    TIME_COLUMNS,
    valid_email,
    valid_phone,
)
from cxlib.audit._linkage import _LINK_FIELDS
from cxlib.engine import ROW_ORDER, Engine, analysis_day, as_table, data_end, row_number
from cxlib.privacy import (
    PII_COLUMNS,
)


def _profile(
    table: str,
    t: Any,
    pii: set[str],
    outlier_k: float,
    repeated: Mapping[tuple[str, str], int] | None = None,
) -> list[dict[str, Any]]:
    """:func:`profile_tables` rows of one table (two or three aggregate queries)."""
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
            "type": _kind(dt),
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
                rec["min"] = _fmt(_scalar(dt, lo))
                rec["max"] = _fmt(_scalar(dt, hi))
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


def _freshness(
    table: str, t: Any, col: str, end: pd.Timestamp, d: pd.Timestamp
) -> list[dict[str, Any]]:
    """:func:`freshness` rows of one table."""
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


def _text_sample(t: Any, col: str, non_missing: int, rows: int, span: tuple) -> pd.Series:
    """Every k-th non-missing value of a backend text column in row order (k =
    ``max(1, non_missing // 2000)``): the sample :func:`_sample_kind` judges."""
    if non_missing == 0:
        return pd.Series([], dtype="str")
    k = max(1, non_missing // 2000)
    lo, hi = span
    if non_missing == rows and hi - lo + 1 == rows:  # no gaps: the rank is the row position
        s = t.filter(((t[ROW_ORDER] - lo) % k) == 0)
    else:
        f = t.filter(t[col].notnull())
        f = f.mutate(_cx_rank=row_number().over(order_by=f[ROW_ORDER]))
        s = f.filter((f._cx_rank % k) == 0)
    got = s.order_by(ROW_ORDER).select(col).to_pandas()[col]
    return pd.Series(got.to_numpy(dtype=object), dtype="str")


def _content_kinds(t: Any) -> dict[str, str | None]:
    """What personal data every text column of a backend table holds (:func:`_sample_kind` of
    its :func:`_text_sample`)."""
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
        c: _sample_kind(_text_sample(t, c, _int(got[f"nn{i}"]), rows, span))
        for i, c in enumerate(text)
    }


def _sample_kind(v: pd.Series) -> str | None:
    """What personal data the sampled values ``v`` of a text column hold (no missing values):
    e-mail, phone, postcode, free text or None."""
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


def profile_tables(
    tables: Mapping[str, Any],
    *,
    outlier_k: float = 3.0,
    pii_columns: Iterable[str] = PII_COLUMNS,
    repeated_values: Mapping[tuple[str, str], int] | None = None,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """One row per table column: type, completeness, distinct values, range and outliers.

    Parameters
    ----------
    tables : mapping of str to DataFrame or backend table
        Validated tables; every one is profiled in the backend (a pandas frame is registered on
        ``engine`` first). Quartiles come from exact order statistics, as ``numpy.percentile``
        gives them.
    outlier_k : float
        Numeric values outside ``[Q1 - k·IQR, Q3 + k·IQR]`` count as outliers (Tukey's far-out
        fences with the default 3).
    pii_columns : iterable of str
        Columns whose range is never shown (personal data), nor that of id or free-text columns.
    repeated_values : mapping, optional
        ``{(table, column): n}``: the column's non-missing values equal to an earlier row's,
        known already (the duplicate check counts them for transaction ids); its distinct count
        is then the filled values minus ``n`` instead of a second distinct count over every id.
    engine : Engine, optional
        Where pandas frames are registered (a temporary one for the call by default).

    Returns
    -------
    DataFrame with ``table, column, type, rows, non_missing, completeness, distinct, min, max,
    outliers``.
    """
    pii = set(pii_columns)
    rows = []
    with engine_for(engine) as eng:
        for table, df in tables.items():
            t = as_table(df, eng)
            rows.extend(_profile(table, t, pii, outlier_k, repeated_values))
    return pd.DataFrame(rows)


def freshness(
    tables: Mapping[str, Any], as_of_date: Any, *, engine: Engine | None = None
) -> pd.DataFrame:
    """Latest timestamp per table (and per source system where the table has one).

    Timestamps after the as-of date are errors and are left out of ``latest`` (counted in
    ``future_rows``). ``days_behind`` is the gap from the latest timestamp to the as-of date.
    Pandas frames are registered on ``engine`` (a temporary one by default).
    """
    end = data_end(as_of_date)
    d = analysis_day(as_of_date)
    out = []
    with engine_for(engine) as eng:
        for table, cols in TIME_COLUMNS.items():
            if table not in tables or table in ("customers", "campaign"):
                continue  # customers have no activity dates; a campaign is a one-off send
            col = cols[0]
            if col not in tables[table].columns:
                continue
            out.extend(_freshness(table, as_table(tables[table], eng), col, end, d))
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


def pii_inventory(tables: Mapping[str, Any], *, engine: Engine | None = None) -> pd.DataFrame:
    """Columns that hold personal data, found by name and by content (values are never shown).

    Content is judged on a sample of every text column, taken in the backend (every k-th
    non-missing value in row order, k = ``max(1, non-missing // 2000)``); pandas frames are
    registered on ``engine`` (a temporary one by default).

    Returns
    -------
    DataFrame ``table, column, kind, found_by`` (``name``, ``content`` or ``name and content``).
    """
    rows = []
    with engine_for(engine) as eng:
        for table, df in tables.items():
            t = as_table(df, eng)
            kinds = _content_kinds(t)
            for col in _columns(t):
                low = col.lower()
                by_name = next(
                    (k for k, rx in PII_NAME_PATTERNS.items() if re.search(rx, low)), None
                )
                by_content = kinds.get(col)
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


def _used_by_role(table: str, col: str) -> bool | None:
    """Whether an analysis uses a column by its role rather than by name, by the analyses' own
    rules (None: decided by name): every customer attribute is a churn feature
    (:data:`cxlib.churn.NON_FEATURE_COLUMNS` are not) and no analysis reads customers' personal
    data (:data:`cxlib.privacy.PII_COLUMNS`) but the birth year (churn's ``age``); every campaign column but the outcomes,
    identifiers and personal data is a pre-treatment covariate of the uplift analysis
    (:data:`cxlib.uplift.NON_COVARIATES`)."""
    if table == "customers":
        from cxlib.churn import NON_FEATURE_COLUMNS

        if col == "birth_year":
            return True  # churn's ``age`` feature
        if col in PII_COLUMNS:
            return False
        return True if col not in NON_FEATURE_COLUMNS else None
    if table == "campaign":
        from cxlib.uplift import NON_COVARIATES, PERSONAL_COLUMNS

        return True if col not in NON_COVARIATES and col.lower() not in PERSONAL_COLUMNS else None
    return None


def unused_columns(
    tables: Mapping[str, pd.DataFrame],
    *,
    package_dir: str | Path | None = None,
    notebooks_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Columns that no analysis notebook (02-05) uses, for a data-minimisation note.

    A column counts as used when the analyses use it by its role (customer attributes are churn
    features, campaign columns uplift covariates: :func:`_used_by_role`) or its name appears
    quoted in the cxlib analysis modules (all but the audit and the synthetic-data generator)
    or in the notebooks 02-05. Columns used only by
    the single customer view (names, contact details, birth year) are listed as such.

    Returns
    -------
    DataFrame ``table, column, used_by`` (``nothing`` or ``single customer view only``).
    """
    pkg = Path(package_dir) if package_dir else Path(__file__).resolve().parents[1]
    texts = []
    for p in sorted(pkg.rglob("*.py")):
        rel = p.relative_to(pkg).as_posix()
        if rel.startswith(("synth/", "audit/", "contract/")) or rel in (
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
            used = _used_by_role(table, col)
            if used is None:
                used = re.search(r"""["'\\]""" + re.escape(col) + r"""["'\\]""", blob) is not None
            if used:
                continue
            kind = "single customer view only" if col in _LINK_FIELDS else "nothing"
            rows.append({"table": table, "column": col, "used_by": kind})
    return pd.DataFrame(rows, columns=["table", "column", "used_by"])
