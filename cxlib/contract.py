"""The data contract: which tables and columns cxlib reads, their types, and what happens to bad input.

See ``docs/data-contract.md`` for the user-facing description. In short:

- column names are matched case-insensitively; the config can rename the user's columns;
- a missing required column, an unreadable or empty file stops the run with one
  :class:`ContractError` naming the file, the column and the fix (the CLI exits with code 2);
- a row whose value cannot be read as its column's type (an unparseable date, a non-numeric
  amount, a missing key) is *quarantined*: left out of the analysis and written with a ``reason``
  to ``<run>/quarantine/<table>.csv``. For every table, read = accepted + quarantined;
- accepted rows are validated with pandera schemas (:func:`schema`).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import shutil
import weakref
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxlib.engine import ROW_ORDER, Engine, is_table
from cxlib.privacy import PII_COLUMNS, write_export
from cxlib.sources import (
    TABLE_NAMES,
    FolderSource,
    RawBatches,
    SourceError,
    open_source,
    private_tempdir,
    read_batches,
    sweep_private_tempdirs,
)

log = logging.getLogger(__name__)

__all__ = [
    "TABLES",
    "TABLE_NAMES",
    "Column",
    "ContractError",
    "SourceData",
    "TableSpec",
    "load_source",
    "schema",
]

# Column kinds: id (stripped text key), str, datetime, float, int, flag (0/1), bool.
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}
_MIN_TS = pd.Timestamp("1900-01-01")
_MAX_TS = pd.Timestamp("2200-01-01")


class ContractError(Exception):
    """Input that breaks the contract; the message names the file, the column and the fix."""

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None):
        super().__init__(message)
        self.file = file
        self.column = column


@dataclass(frozen=True)
class Column:
    """A contract column: canonical name, kind and whether it is required."""

    name: str
    kind: str
    required: bool = False


@dataclass(frozen=True)
class TableSpec:
    """A contract table: its columns and the column that keys a customer."""

    name: str
    columns: tuple[Column, ...]
    description: str = ""

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}


def _cols(required: Iterable[tuple[str, str]], optional: Iterable[tuple[str, str]]):
    return tuple(Column(n, k, True) for n, k in required) + tuple(
        Column(n, k, False) for n, k in optional
    )


TABLES: dict[str, TableSpec] = {
    "transactions": TableSpec(
        "transactions",
        _cols(
            [("customer_id", "id"), ("timestamp", "datetime"), ("amount", "float")],
            [
                ("transaction_id", "id"),
                ("channel", "str"),
                ("category", "str"),
                ("store_id", "str"),
                ("quantity", "float"),
                ("source_system", "str"),
            ],
        ),
        "One row per purchase (or refund: negative amount and negative quantity).",
    ),
    "customers": TableSpec(
        "customers",
        _cols(
            [("customer_id", "id")],
            [
                ("source_system", "str"),
                ("first_name", "str"),
                ("last_name", "str"),
                ("email", "str"),
                ("phone", "str"),
                ("postcode", "str"),
                ("birth_year", "int"),
                ("signup_date", "datetime"),
                ("marketing_consent", "bool"),
                ("consent_date", "datetime"),
                ("churned", "bool"),
                ("churn_date", "datetime"),
            ],
        ),
        "One row per customer record; other columns are customer attributes.",
    ),
    "campaign": TableSpec(
        "campaign",
        _cols(
            [("customer_id", "id"), ("group", "str"), ("converted", "flag")],
            [
                ("campaign_id", "str"),
                ("sent_at", "datetime"),
                ("visited", "flag"),
                ("revenue", "float"),
            ],
        ),
        "One row per customer in a randomised campaign; other columns are pre-treatment covariates.",
    ),
    "events": TableSpec(
        "events",
        _cols(
            [("customer_id", "id"), ("timestamp", "datetime"), ("touchpoint", "str")],
            [("channel", "str"), ("journey_id", "str"), ("value", "float")],
        ),
        "One row per touchpoint event (web, app, e-mail, store, call centre ...).",
    ),
    "feedback": TableSpec(
        "feedback",
        _cols(
            [("customer_id", "id"), ("timestamp", "datetime"), ("score", "float")],
            [
                ("touchpoint", "str"),
                ("journey_id", "str"),
                ("complaint", "bool"),
                ("comment", "str"),
            ],
        ),
        "One row per survey answer or complaint.",
    ),
}


def schema(table: str, extra_columns: Iterable[str] = ()) -> Any:
    """The pandera schema that accepted rows of ``table`` satisfy (canonical names and dtypes)."""
    import pandera.pandas as pa

    dtypes = {
        "id": str,
        "str": str,
        "datetime": "datetime64[ns]",
        "float": float,
        "int": "Int64",
        "flag": "int64",
        "bool": "boolean",
    }
    checks = {"flag": [pa.Check.isin([0, 1])], "float": [pa.Check(np.isfinite, ignore_na=True)]}
    cols = {}
    for c in TABLES[table].columns:
        cols[c.name] = pa.Column(
            dtypes[c.kind],
            nullable=not c.required,
            required=c.required,
            checks=checks.get(c.kind, []),
            unique=(table == "customers" and c.name == "customer_id"),
        )
    for extra in extra_columns:
        cols[extra] = pa.Column(nullable=True, required=False)
    return pa.DataFrameSchema(cols, strict=False, name=table)


# ---------------------------------------------------------------------------------------------
# Parsing one column: returns (typed values, mask of values that could not be read)
# ---------------------------------------------------------------------------------------------


def _is_text(s: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(s) or s.dtype == object


def _blank(s: pd.Series) -> pd.Series:
    if _is_text(s):
        return s.isna() | (s.astype("str").str.strip() == "")
    return s.isna()


def _prefix_ids(typed: pd.DataFrame) -> None:
    """Prefix ``customer_id`` by ``source_system`` (``CRM-A`` + ``-`` + id) where both are
    known, in place; a frame without ``source_system`` is left as it is."""
    if "source_system" not in typed.columns:
        return
    has_sys = typed["source_system"].notna() & typed["customer_id"].notna()
    typed.loc[has_sys, "customer_id"] = (
        typed.loc[has_sys, "source_system"] + "-" + typed.loc[has_sys, "customer_id"]
    )


def _text_bool(low: pd.Series) -> pd.Series:
    """Nullable booleans from lower-cased text: true/yes/1 ... → True, false/no/0 ... → False,
    anything else missing."""
    out = pd.Series(pd.NA, index=low.index, dtype="boolean")
    out[low.isin(_TRUE)] = True
    out[low.isin(_FALSE)] = False
    return out


_PLAIN_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"
_PLAIN_DIGITS = 15


def _to_number(text: pd.Series) -> pd.Series:
    """``pd.to_numeric(text, errors="coerce")`` as float64, without a Python object per value.

    Plain decimals (``-?digits[.digits]`` with at most 15 digits, the bulk of real data) are
    cast by Arrow; any other value goes through ``pd.to_numeric``. The results are the same:
    a decimal of at most 15 digits is an integer below 2**53 divided by a power of ten that
    doubles hold exactly, which both parsers round correctly (pandas's own parser since 3.0 is
    fast_float, as Arrow's), and the integer/float choice ``pd.to_numeric`` makes for the whole
    column changes no value once it is float64 except the sign of a negative zero: a column
    with a ``-0`` is therefore parsed by ``pd.to_numeric`` as a whole. Text that is not
    Arrow-backed is parsed by ``pd.to_numeric`` too.
    """
    dtype = text.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return pd.to_numeric(text, errors="coerce").astype("float64")
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(text.array)
    digits = pc.subtract(
        pc.utf8_length(arr),
        pc.add(
            pc.cast(pc.starts_with(arr, "-"), pa.int64()),
            pc.count_substring(arr, "."),
        ),
    )
    plain = pc.and_kleene(
        pc.match_substring_regex(arr, _PLAIN_NUMBER), pc.less_equal(digits, _PLAIN_DIGITS)
    )
    plain = pc.fill_null(plain, False).to_numpy(zero_copy_only=False)
    values = pc.cast(pc.if_else(plain, arr, pa.scalar(None, arr.type)), pa.float64())
    out = values.to_numpy(zero_copy_only=False).copy()  # NaN where not plain
    rest = ~plain & text.notna().to_numpy()
    if rest.any():
        out[rest] = pd.to_numeric(text[rest], errors="coerce").astype("float64").to_numpy()
    negative_zero = (out == 0) & pc.fill_null(pc.starts_with(arr, "-"), False).to_numpy(
        zero_copy_only=False
    )
    if negative_zero.any():  # its sign depends on the other values: as pd.to_numeric does
        return pd.to_numeric(text, errors="coerce").astype("float64")
    return pd.Series(out, index=text.index, dtype="float64")


def _parse(s: pd.Series, kind: str, date_format: str | None) -> tuple[pd.Series, pd.Series]:
    # the stripped text is computed once (as _blank computes it) and used by every kind
    stripped = s.astype("str").str.strip() if _is_text(s) else None
    blank = s.isna() | (stripped == "") if stripped is not None else s.isna()

    def text() -> pd.Series:
        return stripped if stripped is not None else s.astype("str").str.strip()

    if kind in ("id", "str"):
        out = text() if kind == "id" else s.astype("str")
        out = out.where(~blank, pd.NA).astype("str")
        return out, pd.Series(False, index=s.index)
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(s):
            parsed = s.dt.tz_convert("UTC").dt.tz_localize(None) if s.dt.tz is not None else s
        else:
            parsed = pd.to_datetime(
                text(), format=date_format or "ISO8601", errors="coerce", utc=True
            ).dt.tz_localize(None)
        parsed = parsed.where((parsed >= _MIN_TS) & (parsed < _MAX_TS))
        parsed = parsed.astype("datetime64[ns]")
        return parsed, parsed.isna() & ~blank
    if kind in ("float", "int", "flag"):
        if stripped is not None:
            digits = stripped
            if kind == "flag":
                low = digits.str.lower()
                digits = digits.mask(low.isin(_TRUE), "1").mask(low.isin(_FALSE), "0")
            num = _to_number(digits)
        elif pd.api.types.is_bool_dtype(s):
            num = s.astype("float64")
        else:
            num = pd.to_numeric(s, errors="coerce")
        num = num.astype("float64")
        bad = ~blank & ~np.isfinite(num.fillna(0.0).to_numpy()) | (num.isna() & ~blank)
        num = num.where(~bad)
        if kind == "int":
            frac = num.notna() & (num != np.floor(num.fillna(0)))
            bad = bad | frac
            return num.where(~frac).round().astype("Int64"), bad
        if kind == "flag":
            bad = bad | (num.notna() & ~num.isin([0.0, 1.0]))
            return num.where(~bad), bad
        return num, bad
    if kind == "bool":
        if pd.api.types.is_bool_dtype(s):
            return s.astype("boolean"), pd.Series(False, index=s.index)
        out = _text_bool(text().str.lower())
        bad = out.isna() & ~blank
        return out, bad
    raise ValueError(f"unknown column kind {kind!r}")


def _infer_extra(s: pd.Series) -> pd.Series:
    """Type a non-contract column from its content: numbers, booleans, else text."""
    if not _is_text(s):
        return s
    blank = _blank(s)
    if blank.all():
        return s.astype("str")
    text = s.astype("str").str.strip()
    num = pd.to_numeric(text.where(~blank), errors="coerce")
    if num[~blank].notna().all():
        return num.astype("float64")
    low = text.str.lower()
    if low[~blank].isin(_TRUE | _FALSE).all() and not low[~blank].isin({"0", "1"}).all():
        return _text_bool(low)
    return s.astype("str")


def _rename(
    raw: pd.DataFrame, spec: TableSpec, mapping: Mapping[str, str], file: str
) -> pd.DataFrame:
    """Rename the user's columns to contract names (config mapping, then case-insensitive)."""
    headers = [str(c).replace("\ufeff", "").strip() for c in raw.columns]
    user_map = {str(k).strip().lower(): v for k, v in mapping.items()}
    canon = {c.name.lower(): c.name for c in spec.columns}
    new = []
    for h in headers:
        low = h.lower()
        if low in user_map:
            new.append(user_map[low])
        elif low in canon:
            new.append(canon[low])
        else:
            new.append(h)
    dupes = sorted({n for n in new if new.count(n) > 1})
    if dupes:
        raise ContractError(
            f"{file}: column '{dupes[0]}' appears more than once after matching names "
            "case-insensitively. Fix: rename or drop one of them.",
            file=file,
            column=dupes[0],
        )
    out = raw.copy()
    out.columns = new
    return out


def _missing_column_error(
    spec: TableSpec, col: str, present: list[str], file: str
) -> ContractError:
    close = difflib.get_close_matches(col, present, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    kind = spec.by_name[col].kind
    expected = {
        "id": "a customer identifier",
        "datetime": "a date or date-time (YYYY-MM-DD[ HH:MM:SS])",
        "float": "a number",
        "flag": "0 or 1",
        "str": "text",
    }.get(kind, kind)
    return ContractError(
        f"{file}: required column '{col}' ({expected}) is missing from the '{spec.name}' table "
        f"(found: {', '.join(present) or 'no columns'}).{hint} Fix: rename the column to '{col}' "
        f"or map it in the config under tables.{spec.name}.columns.",
        file=file,
        column=col,
    )


@dataclass
class TableResult:
    """A validated table with its quarantined rows and counts."""

    table: str
    file: str
    data: pd.DataFrame
    quarantine: pd.DataFrame
    read_rows: int

    @property
    def accepted_rows(self) -> int:
        return len(self.data)

    @property
    def quarantined_rows(self) -> int:
        return len(self.quarantine)


def validate_table(
    raw: pd.DataFrame,
    table: str,
    *,
    file: str = "<frame>",
    table_config: Mapping[str, Any] | None = None,
    prefix_ids: bool = False,
    rejects: pd.DataFrame | None = None,
) -> TableResult:
    """Apply the contract to one raw table.

    Parameters
    ----------
    raw : DataFrame
        The table as read (text columns for CSV, typed for Parquet).
    table : str
        Contract table name.
    file : str
        File name used in messages.
    table_config : mapping, optional
        ``columns`` (rename map), ``date_format``, ``row_id`` (number rows when the file has no
        customer id).
    prefix_ids : bool
        Prefix ``customer_id`` by ``source_system`` where both are present.
    rejects : DataFrame, optional
        Lines the reader could not split into columns (``row_number``, ``raw_line``,
        ``reason``); they are quarantined too and count as read. ``raw``'s index holds the
        1-based row numbers of the other rows (any other index is renumbered 1..n).

    Returns
    -------
    TableResult
        Accepted rows (typed, pandera-validated) and quarantined rows with a ``reason``.
    """
    spec = TABLES[table]
    cfg = dict(table_config or {})
    df = _rename(raw, spec, cfg.get("columns", {}) or {}, file)
    if not (pd.api.types.is_integer_dtype(df.index) and (len(df) == 0 or df.index.min() >= 1)):
        df = df.reset_index(drop=True)
        df.index = df.index + 1
    if cfg.get("row_id") and "customer_id" not in df.columns:
        df.insert(0, "customer_id", [f"row-{i + 1}" for i in range(len(df))])
    present = list(df.columns)
    for col in spec.required:
        if col not in df.columns:
            raise _missing_column_error(spec, col, present, file)

    reasons = pd.Series("", index=df.index, dtype="str")
    typed = pd.DataFrame(index=df.index)
    date_format = cfg.get("date_format")
    for col in df.columns:
        c = spec.by_name.get(col)
        if c is None:
            typed[col] = _infer_extra(df[col])
            continue
        values, bad = _parse(df[col], c.kind, date_format)
        if c.required:
            missing = values.isna() & ~bad
            reasons = reasons.mask(missing, reasons + f"missing {col}; ")
        what = {
            "datetime": "unparseable date/time",
            "float": "not a finite number",
            "int": "not a whole number",
            "flag": "not 0/1",
            "bool": "not true/false",
        }.get(c.kind, "invalid value")
        reasons = reasons.mask(bad, reasons + f"{what} in {col}; ")
        typed[col] = values
    if prefix_ids:
        _prefix_ids(typed)
    if table == "customers":
        dup = typed["customer_id"].notna() & typed["customer_id"].duplicated(keep="first")
        reasons = reasons.mask(dup, reasons + "duplicate customer_id (first row kept); ")

    bad_rows = reasons != ""
    quarantine = df.loc[bad_rows].copy()
    quarantine = quarantine.drop(columns=[c for c in PII_COLUMNS if c in quarantine.columns])
    quarantine.insert(0, "row_number", quarantine.index.astype("int64"))
    quarantine["reason"] = reasons[bad_rows].str.rstrip("; ")
    if rejects is not None and len(rejects):
        if any(c in PII_COLUMNS for c in df.columns):  # a raw line would carry personal data
            rejects = rejects.drop(columns=["raw_line"])
        quarantine = pd.concat([quarantine, rejects], ignore_index=True)
        quarantine = quarantine.sort_values("row_number", kind="stable")
    accepted = typed.loc[~bad_rows].reset_index(drop=True)
    for col in accepted.columns:
        c = spec.by_name.get(col)
        if c is not None and c.kind == "flag":
            accepted[col] = accepted[col].astype("int64")
    extras = [c for c in accepted.columns if c not in spec.by_name]
    accepted = schema(table, extras).validate(accepted, lazy=True)
    if len(quarantine):
        log.warning("%s: %d row(s) quarantined", file, len(quarantine))
    read = len(df) + (0 if rejects is None else len(rejects))
    return TableResult(table, file, accepted, quarantine.reset_index(drop=True), read)


BATCH_ROWS = 1_000_000
"""Rows typed at a time by :func:`load_source` (bounds the memory of text being typed)."""

_WHAT = {
    "datetime": "unparseable date/time",
    "float": "not a finite number",
    "int": "not a whole number",
    "flag": "not 0/1",
    "bool": "not true/false",
}


@dataclass
class _ExtraKind:
    """What the rows seen so far say about a non-contract text column (see :func:`_infer_extra`)."""

    any_value: bool = False
    numeric: bool = True
    boolish: bool = True
    zero_one: bool = True

    def update(self, s: pd.Series) -> None:
        blank = _blank(s)
        if blank.all():
            return
        self.any_value = True
        text = s.astype("str").str.strip()[~blank]
        if self.numeric:
            self.numeric = bool(pd.to_numeric(text, errors="coerce").notna().all())
        low = text.str.lower()
        if self.boolish:
            self.boolish = bool(low.isin(_TRUE | _FALSE).all())
        if self.zero_one:
            self.zero_one = bool(low.isin({"0", "1"}).all())

    def apply(self, s: pd.Series) -> pd.Series:
        """Type a column (text) the way :func:`_infer_extra` types the whole column."""
        if not self.any_value:
            return s.astype("str")
        blank = _blank(s)
        text = s.astype("str").str.strip()
        if self.numeric:
            return pd.to_numeric(text.where(~blank), errors="coerce").astype("float64")
        if self.boolish and not self.zero_one:
            return _text_bool(text.str.lower())
        return s.astype("str")


def validate_batches(
    batches: RawBatches,
    table: str,
    *,
    file: str = "<frame>",
    table_config: Mapping[str, Any] | None = None,
    prefix_ids: bool = False,
) -> TableResult:
    """Apply the contract to a table read in batches; same result as :func:`validate_table` on
    the whole table, while only one batch's text is in memory at a time.

    Rules that need the whole table are carried across batches: the first-row-kept duplicate
    ``customer_id`` rule of the customers table (a set of ids seen) and the type of a
    non-contract column (numbers, booleans or text, decided from all its values; its text is
    kept until the last batch).

    Parameters
    ----------
    batches : RawBatches
        From :func:`cxlib.sources.read_batches`.
    table, file, table_config, prefix_ids
        As for :func:`validate_table`.

    Returns
    -------
    TableResult
    """
    spec = TABLES[table]
    cfg = dict(table_config or {})
    date_format = cfg.get("date_format")
    accepted_parts: list[pd.DataFrame] = []
    quarantine_parts: list[pd.DataFrame] = []
    extras: dict[str, _ExtraKind] = {}
    seen_ids: set[str] = set()
    read = 0
    for raw in batches:
        df = _rename(raw, spec, cfg.get("columns", {}) or {}, file)
        if cfg.get("row_id") and "customer_id" not in df.columns:
            df.insert(0, "customer_id", [f"row-{i}" for i in df.index])
        present = list(df.columns)
        for col in spec.required:
            if col not in df.columns:
                raise _missing_column_error(spec, col, present, file)
        read += len(df)
        flags: list[tuple[np.ndarray, str]] = []  # (rows, reason) in the order reasons are listed
        typed = pd.DataFrame(index=df.index)
        for col in df.columns:
            c = spec.by_name.get(col)
            if c is None:
                if not _is_text(df[col]):
                    typed[col] = _infer_extra(df[col])  # typed input comes in one batch
                    continue
                extras.setdefault(col, _ExtraKind()).update(df[col])
                typed[col] = df[col]
                continue
            values, bad = _parse(df[col], c.kind, date_format)
            if c.required:
                flags.append(((values.isna() & ~bad).to_numpy(dtype=bool), f"missing {col}; "))
            flags.append(
                (bad.to_numpy(dtype=bool), f"{_WHAT.get(c.kind, 'invalid value')} in {col}; ")
            )
            typed[col] = values
        if prefix_ids:
            _prefix_ids(typed)
        if table == "customers":
            ids = typed["customer_id"]
            known = ids.notna()
            dup = known & (ids.duplicated(keep="first") | ids.isin(seen_ids))
            seen_ids.update(ids[known].tolist())
            flags.append((dup.to_numpy(dtype=bool), "duplicate customer_id (first row kept); "))
        bad_any = np.zeros(len(df), dtype=bool)
        for rows_hit, _ in flags:
            bad_any |= rows_hit
        hit = np.flatnonzero(bad_any)
        texts = [""] * len(hit)  # reasons are built for bad rows only
        for rows_hit, text in flags:
            for k in np.flatnonzero(rows_hit[hit]):
                texts[k] += text
        bad_rows = pd.Series(bad_any, index=df.index)
        q = df.loc[bad_rows]
        q = q.drop(columns=[c for c in PII_COLUMNS if c in q.columns])
        q.insert(0, "row_number", q.index.astype("int64"))
        q["reason"] = pd.Series(texts, index=q.index, dtype="str").str.rstrip("; ")
        if len(q) or not quarantine_parts:
            quarantine_parts.append(q)
        acc = typed.loc[~bad_rows]
        for col in acc.columns:
            c = spec.by_name.get(col)
            if c is not None and c.kind == "flag":
                acc[col] = acc[col].astype("int64")
        contract_cols = [c for c in acc.columns if c not in extras]
        schema(table, [c for c in contract_cols if c not in spec.by_name]).validate(
            acc[contract_cols], lazy=True
        )
        accepted_parts.append(acc)
        del df, typed, flags, raw
    rejects = batches.rejects
    accepted = (
        pd.concat(accepted_parts, ignore_index=True)
        if len(accepted_parts) > 1
        else (accepted_parts[0].reset_index(drop=True))
    )
    del accepted_parts
    for col, kind in extras.items():
        accepted[col] = kind.apply(accepted[col])
    quarantine = pd.concat(quarantine_parts) if len(quarantine_parts) > 1 else quarantine_parts[0]
    quarantine = quarantine.copy()
    quarantine["row_number"] = batches.row_numbers(quarantine["row_number"].to_numpy())
    if rejects is not None and len(rejects):
        if any(c in PII_COLUMNS for c in present):  # a raw line would carry personal data
            rejects = rejects.drop(columns=["raw_line"])
        quarantine = pd.concat([quarantine, rejects], ignore_index=True)
        quarantine = quarantine.sort_values("row_number", kind="stable")
    if len(quarantine):
        log.warning("%s: %d row(s) quarantined", file, len(quarantine))
    read += 0 if rejects is None else len(rejects)
    return TableResult(table, file, accepted, quarantine.reset_index(drop=True), read)


@dataclass
class SourceData:
    """The validated tables of a source, with quarantine, counts and the resolved as-of date."""

    source: FolderSource | None
    tables: dict[str, pd.DataFrame]
    quarantine: dict[str, pd.DataFrame]
    counts: pd.DataFrame
    as_of_date: pd.Timestamp
    config: dict[str, Any] = field(default_factory=dict)
    suppressed: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["reason", "customers", "rows_removed"])
    )
    engine: Engine | None = None
    """The :class:`cxlib.engine.Engine` owning the DuckDB connection of the backend tables
    (``load_source(lazy=...)``); None when every table is a pandas frame."""
    _n_rows: dict[str, int] = field(default_factory=dict, repr=False)
    _lazy_store: _LazyTables | None = field(default=None, repr=False)

    @property
    def backend(self) -> Any:
        """The Ibis DuckDB connection holding the backend tables (``engine.con``), or None."""
        return None if self.engine is None else self.engine.con

    def close(self) -> None:
        """Close the engine (its connection and temporary tables) and delete the private folder
        of the backend tables (Parquet copies and DuckDB's spill space; personal data) now.

        The backend tables cannot be used afterwards; pandas frames stay usable. Closing twice
        does nothing. Without a call, the folder is deleted when this object is
        garbage-collected or the process exits.
        """
        if self._lazy_store is not None:
            self._lazy_store.close()
        if self.engine is not None:
            self.engine.close()
        closer = getattr(self.source, "close", None)
        if closer is not None:
            closer()

    def __enter__(self) -> SourceData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def is_lazy(self, table: str) -> bool:
        """True when ``table`` is an Ibis backend table rather than a pandas frame."""
        return is_table(self.tables.get(table))

    def n_rows(self, table: str) -> int:
        """Accepted rows of ``table`` after the suppression list (0 when absent)."""
        if table not in self.tables:
            return 0
        if table not in self._n_rows:
            t = self.tables[table]
            self._n_rows[table] = int(t.count().execute()) if is_table(t) else len(t)
        return self._n_rows[table]

    def suppression_note(self) -> str | None:
        """A sentence for reports: how many customers the suppression list excluded and why."""
        if self.suppressed.empty:
            return None
        total = int(self.suppressed["customers"].sum())
        rows = int(self.suppressed["rows_removed"].sum())
        why = "; ".join(f"{r.reason}: {int(r.customers):,}" for r in self.suppressed.itertuples())
        return (
            f"{total:,} customers on the suppression list were excluded from every analysis "
            f"and output ({why}); {rows:,} of their rows were removed."
        )

    def has(self, table: str) -> bool:
        """True when ``table`` is present and has at least one accepted row."""
        return self.n_rows(table) > 0

    def missing(self, tables: Iterable[str]) -> list[str]:
        """Which of ``tables`` are absent or empty."""
        return [t for t in tables if not self.has(t)]

    def customers(self) -> pd.DataFrame:
        """The customers table, or one derived from the ids in the other tables when absent."""
        if self.has("customers"):
            return self.tables["customers"]
        frames = []
        for df in self.tables.values():
            cols = ["customer_id"] + (["source_system"] if "source_system" in df.columns else [])
            if is_table(df):  # each id once, with its first row's source system
                aggs = {c: df[c].argmin(df[ROW_ORDER]) for c in cols[1:]}
                df = df.group_by("customer_id").aggregate(**aggs).to_pandas()
            frames.append(df[cols])
        if not frames:
            return pd.DataFrame({"customer_id": pd.Series(dtype="str")})
        ids = pd.concat(frames, ignore_index=True).drop_duplicates("customer_id")
        return ids.sort_values("customer_id").reset_index(drop=True)


def resolve_as_of_date(
    tables: Mapping[str, pd.DataFrame], as_of_date: Any = None, *, today: Any = None
) -> pd.Timestamp:
    """The analysis date: the parameter when given, else the date of the latest transaction or
    event (timestamps after today are ignored as errors), else today. Data through the end of
    that day counts."""
    if as_of_date not in (None, "", "None"):
        return pd.Timestamp(as_of_date).normalize()
    now = pd.Timestamp(today) if today is not None else pd.Timestamp.now()
    latest = []
    for name in ("transactions", "events"):
        t = tables.get(name)
        if t is None:
            continue
        if is_table(t):
            import ibis

            got = t.filter(t.timestamp <= ibis.literal(now.to_pydatetime())).timestamp.max()
            value = got.execute()
            if value is not None and not pd.isna(value):
                latest.append(pd.Timestamp(value))
            continue
        if len(t):
            ts = t["timestamp"]
            ts = ts[ts <= now]
            if len(ts):
                latest.append(ts.max())
    return (max(latest) if latest else now).normalize()


def load_source(
    data_dir: str | os.PathLike,
    tables: Iterable[str] | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    quarantine_dir: str | os.PathLike | None = None,
    as_of_date: Any = None,
    batch_rows: int = BATCH_ROWS,
    save_validated: str | os.PathLike | None = None,
    lazy: Iterable[str] = (),
) -> SourceData:
    """Read and validate the contract tables of a source.

    Parameters
    ----------
    data_dir : path
        A folder of ``<table>.csv`` / ``<table>.parquet`` files.
    tables : iterable of str, optional
        Tables to load (default: every contract table present).
    config : mapping, optional
        Run config; uses ``tables.<name>.{file,columns,date_format,row_id}`` and
        ``prefix_ids_by_source_system``.
    quarantine_dir : path, optional
        Where to write ``<table>.csv`` of quarantined rows (nothing written when None).
    as_of_date : date-like, optional
        See :func:`resolve_as_of_date`.
    batch_rows : int
        Rows typed at a time (:func:`validate_batches`); the result does not depend on it.
    save_validated : path, optional
        Folder where to keep each validated table (before the suppression list is applied)
        with its quarantine and counts as Parquet/JSON, so that later loads of the same source
        with the same config can skip parsing: pass the folder to them as the config's
        ``validated_dir`` (the runner does this for the notebooks of a run, in a private
        temporary folder it deletes at the end). It holds personal data: keep it private.
    lazy : iterable of str
        Tables to return as Ibis tables on an embedded DuckDB connection (``SourceData.backend``)
        instead of pandas frames, for the big event-level tables (``transactions``,
        ``events``): the analyses then aggregate them in the backend and only customer-level
        results come into memory. They are typed like the pandas frames and carry the extra
        row-order column :data:`cxlib.sources.ROW_ORDER`. They read the run's validated Parquet
        files when the config names them (``validated_dir``), else a private temporary
        Parquet copy written after validation.

    Raises
    ------
    ContractError
        For an unreadable/empty file or a missing required column.
    """
    sweep_private_tempdirs()  # private folders of processes killed before their clean-up
    config = dict(config or {})
    table_cfg = config.get("tables", {}) or {}
    files = {t: c["file"] for t, c in table_cfg.items() if isinstance(c, Mapping) and c.get("file")}
    try:
        source = open_source(data_dir, files, spark_master=config.get("spark_master"))
    except SourceError as exc:
        raise ContractError(str(exc)) from None
    wanted = list(tables) if tables is not None else list(TABLE_NAMES)
    unknown = [t for t in wanted if t not in TABLES]
    if unknown:
        raise ValueError(f"unknown table(s) {unknown}; contract tables are {list(TABLES)}")
    out: dict[str, pd.DataFrame] = {}
    quarantine: dict[str, pd.DataFrame] = {}
    rows = []
    cached = _validated_dir(config)
    lazy = [t for t in lazy if t in wanted]
    backend = _LazyTables(cached) if lazy else None
    try:
        # the validated Parquet files are written on a second thread (Arrow encodes them mostly
        # outside the GIL) while the next table is typed; all are written before this returns
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cx-validated")
        writes: list[Future] = []
        try:
            for name in wanted:
                if not source.has(name):
                    continue
                if cached is not None and (cached / f"{name}.json").is_file():
                    if name in lazy:
                        out[name], quarantine[name], row = _read_validated(cached, name, lazy=True)
                        out[name] = backend.table(cached / f"{name}.parquet", name)
                    else:
                        out[name], quarantine[name], row = _read_validated(cached, name)
                    rows.append(row)
                    if quarantine_dir is not None and len(quarantine[name]):
                        write_export(quarantine[name], Path(quarantine_dir) / f"{name}.csv")
                    continue
                path = source.files[name].path
                try:
                    batches = read_batches(source, name, batch_rows)
                except SourceError as exc:
                    raise ContractError(str(exc), file=str(path)) from None
                try:
                    res = validate_batches(
                        batches,
                        name,
                        file=str(path),
                        table_config=table_cfg.get(name, {}),
                        prefix_ids=bool(config.get("prefix_ids_by_source_system")),
                    )
                finally:
                    batches.close()
                out[name] = res.data if name not in lazy else backend.from_frame(res.data, name)
                quarantine[name] = res.quarantine
                rows.append(
                    {
                        "table": name,
                        "file": path.name,
                        "read_rows": res.read_rows,
                        "accepted_rows": res.accepted_rows,
                        "quarantined_rows": res.quarantined_rows,
                    }
                )
                if save_validated is not None:  # written while the next table is typed
                    writes.append(
                        writer.submit(
                            _write_validated,
                            Path(save_validated),
                            name,
                            res.data,
                            res.quarantine,
                            rows[-1],
                        )
                    )
                if quarantine_dir is not None and res.quarantined_rows:
                    write_export(res.quarantine, Path(quarantine_dir) / f"{name}.csv")
                del res
        finally:
            writer.shutdown(wait=True)
        for done in writes:
            done.result()  # re-raises a failed write
        counts = pd.DataFrame(
            rows, columns=["table", "file", "read_rows", "accepted_rows", "quarantined_rows"]
        )
        suppressed = pd.DataFrame(columns=["reason", "customers", "rows_removed"])
        db_list = getattr(source, "suppression_list", None)  # database sources: a `suppress` table
        if db_list is not None:
            try:
                lst = db_list()
            except SourceError as exc:
                raise ContractError(str(exc)) from None
            if lst is not None:
                out, suppressed = apply_suppression(out, lst)
        elif (Path(data_dir) / SUPPRESS_FILE).is_file():
            out, suppressed = apply_suppression(out, Path(data_dir) / SUPPRESS_FILE)
        as_of = resolve_as_of_date(out, as_of_date)
        data = SourceData(source, out, quarantine, counts, as_of, config, suppressed)
        if backend is not None:
            data.engine = backend.engine
            data._lazy_store = backend  # keeps the private Parquet copies until data is closed
        return data
    except BaseException:
        if backend is not None:  # nothing of the private folder outlives a failed load
            backend.close()
        raise


class _LazyTables:
    """The engine and private temporary folder behind ``load_source(lazy=...)``.

    The folder (DuckDB's spill space and, when no validated folder is given, the Parquet copies
    of the lazy tables; personal data) is deleted by :meth:`close` (``SourceData.close()``).
    As a safety net it is also deleted when this object is garbage-collected or the process
    exits; with a validated folder it lies inside it, which the runner deletes too. If the
    process is killed first, the next ``load_source`` in any process deletes it
    (:func:`cxlib.sources.sweep_private_tempdirs`).
    """

    def __init__(self, cached: Path | None):
        # inside the run's validated folder when there is one, so that the runner's clean-up
        # also removes it if a kernel is killed before its own clean-up runs; elsewhere, the
        # next load_source deletes it if this process dies without its clean-up
        self.dir = private_tempdir("cx-backend-", dir=cached)
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.dir), True)
        self.engine = Engine(temp_directory=self.dir / "spill")
        self.cached = cached

    def table(self, path: Path, name: str) -> Any:
        return self.engine.table(path, name=name)

    def from_frame(self, frame: pd.DataFrame, name: str) -> Any:
        path = self.dir / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        return self.table(path, name)

    def close(self) -> None:
        """Close the engine, then delete the folder (once; later calls do nothing)."""
        self.engine.close()
        self._cleanup()


VALIDATED_KEY = "validated_dir"
"""Config key naming a folder written by ``load_source(save_validated=...)``."""


def _validated_dir(config: Mapping[str, Any]) -> Path | None:
    folder = config.get(VALIDATED_KEY)
    if not folder:
        return None
    folder = Path(folder)
    if not folder.is_dir():  # e.g. a notebook re-run after its run ended: parse the files
        log.info("validated tables folder %s is gone; reading the source files", folder)
        return None
    return folder


def _write_validated(
    folder: Path, name: str, data: pd.DataFrame, quarantine: pd.DataFrame, row: Mapping[str, Any]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data.to_parquet(folder / f"{name}.parquet", index=False)
    quarantine.to_parquet(folder / f"{name}.quarantine.parquet", index=False)
    (folder / f"{name}.json").write_text(json.dumps(dict(row)))  # written last: marks complete


def _read_validated(
    folder: Path, name: str, *, lazy: bool = False
) -> tuple[pd.DataFrame | None, pd.DataFrame, dict]:
    row = json.loads((folder / f"{name}.json").read_text())
    data = None if lazy else pd.read_parquet(folder / f"{name}.parquet")
    quarantine = pd.read_parquet(folder / f"{name}.quarantine.parquet")
    return data, quarantine, row


SUPPRESS_FILE = "suppress.csv"


def read_suppression_list(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read ``suppress.csv``: ``customer_id`` and an optional ``reason`` (erasure, opt-out …).

    ``path`` may also be a database source's ``suppress`` table already read as text
    (``attrs["source"]`` names it in messages).
    """
    if isinstance(path, pd.DataFrame):
        raw, path = path.fillna(""), path.attrs.get("source", "suppress table")
    else:
        path = Path(path)
        try:
            raw = pd.read_csv(path, dtype="str", keep_default_na=False)
        except Exception as exc:
            raise ContractError(
                f"{path}: cannot be read as CSV ({exc}). Fix: one customer_id per line with a "
                "header row `customer_id,reason`.",
                file=str(path),
            ) from None
    cols = {c.strip().lower(): c for c in raw.columns}
    if "customer_id" not in cols:
        raise ContractError(
            f"{path}: required column 'customer_id' is missing (found: {', '.join(raw.columns)}). "
            "Fix: add a header row `customer_id,reason`.",
            file=str(path),
            column="customer_id",
        )
    ids = raw[cols["customer_id"]].str.strip()
    reason = raw[cols["reason"]].str.strip() if "reason" in cols else pd.Series("", index=raw.index)
    out = pd.DataFrame({"customer_id": ids, "reason": reason.replace("", "not given")})
    return out.loc[out["customer_id"] != ""].drop_duplicates("customer_id")


def apply_suppression(
    tables: Mapping[str, pd.DataFrame], path: str | os.PathLike | pd.DataFrame
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Remove every customer on the suppression list from every table.

    Returns the filtered tables and a summary per reason (``reason``, ``customers`` on the list,
    ``rows_removed`` across tables).
    """
    lst = read_suppression_list(path)
    ids = set(lst["customer_id"])
    out: dict[str, pd.DataFrame] = {}
    removed_by_id: dict[str, int] = {}
    for name, df in tables.items():
        if is_table(df):  # counted and filtered in the backend
            import ibis

            listed = ibis.memtable(lst[["customer_id"]])
            gone = df.semi_join(listed, "customer_id").customer_id.value_counts().to_pandas()
            for cid, n in zip(gone.iloc[:, 0], gone.iloc[:, 1], strict=True):
                removed_by_id[cid] = removed_by_id.get(cid, 0) + int(n)
            out[name] = df.anti_join(listed, "customer_id") if len(gone) else df
            continue
        hit = df["customer_id"].isin(ids)
        if hit.any():
            for cid, n in df.loc[hit, "customer_id"].value_counts().items():
                removed_by_id[cid] = removed_by_id.get(cid, 0) + int(n)
        out[name] = df.loc[~hit].reset_index(drop=True)
    lst = lst.assign(rows_removed=lst["customer_id"].map(removed_by_id).fillna(0).astype("int64"))
    summary = (
        lst.groupby("reason", sort=True)
        .agg(customers=("customer_id", "size"), rows_removed=("rows_removed", "sum"))
        .reset_index()
    )
    log.info("suppression list: %d customers, %d rows removed", len(lst), lst["rows_removed"].sum())
    return out, summary
