"""Applying the contract to a table: typed accepted rows and quarantined rows with a reason, for
a whole table (:func:`validate_table`) or one read in batches (:func:`validate_batches`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cxlib.contract._spec import TABLES, TableSpec, schema
from cxlib.contract._typing import (
    _FALSE,
    _TRUE,
    _blank,
    _infer_extra,
    _is_text,
    _missing_column_error,
    _parse,
    _prefix_ids,
    _rename,
    _text_bool,
)
from cxlib.privacy import PII_COLUMNS
from cxlib.sources import RawBatches

log = logging.getLogger(__name__)


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
    if spec.unique:
        key = typed[spec.unique]
        dup = key.notna() & key.duplicated(keep="first")
        reasons = reasons.mask(dup, reasons + f"duplicate {spec.unique} (first row kept); ")

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
    key rule of the customers and products tables (a set of keys seen) and the type of a
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
    state = _BatchState(TABLES[table], dict(table_config or {}), file, prefix_ids)
    accepted_parts: list[pd.DataFrame] = []
    quarantine_parts: list[pd.DataFrame] = []
    for raw in batches:
        acc, q = state.validate(raw)
        del raw
        if len(q) or not quarantine_parts:
            quarantine_parts.append(q)
        accepted_parts.append(acc)
    rejects = batches.rejects
    accepted = (
        pd.concat(accepted_parts, ignore_index=True)
        if len(accepted_parts) > 1
        else (accepted_parts[0].reset_index(drop=True))
    )
    del accepted_parts
    for col, kind in state.extras.items():
        accepted[col] = kind.apply(accepted[col])
    quarantine = pd.concat(quarantine_parts) if len(quarantine_parts) > 1 else quarantine_parts[0]
    quarantine = quarantine.copy()
    quarantine["row_number"] = batches.row_numbers(quarantine["row_number"].to_numpy())
    if rejects is not None and len(rejects):
        if any(c in PII_COLUMNS for c in state.present):  # a raw line would carry personal data
            rejects = rejects.drop(columns=["raw_line"])
        quarantine = pd.concat([quarantine, rejects], ignore_index=True)
        quarantine = quarantine.sort_values("row_number", kind="stable")
    if len(quarantine):
        log.warning("%s: %d row(s) quarantined", file, len(quarantine))
    read = state.read + (0 if rejects is None else len(rejects))
    return TableResult(table, file, accepted, quarantine.reset_index(drop=True), read)


@dataclass
class _BatchState:
    """What :func:`validate_batches` carries from one batch to the next."""

    spec: TableSpec
    cfg: dict[str, Any]
    file: str
    prefix_ids: bool
    extras: dict[str, _ExtraKind] = field(default_factory=dict)
    seen_ids: set[str] = field(default_factory=set)
    present: list[str] = field(default_factory=list)
    read: int = 0

    def validate(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """One batch: its accepted rows (non-contract text columns still text) and its
        quarantined rows (``row_number`` still a position among the batches)."""
        spec, cfg = self.spec, self.cfg
        df = _rename(raw, spec, cfg.get("columns", {}) or {}, self.file)
        if cfg.get("row_id") and "customer_id" not in df.columns:
            df.insert(0, "customer_id", [f"row-{i}" for i in df.index])
        self.present = list(df.columns)
        for col in spec.required:
            if col not in df.columns:
                raise _missing_column_error(spec, col, self.present, self.file)
        self.read += len(df)
        typed, flags = self._typed(df)
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
        acc = typed.loc[~bad_rows]
        for col in acc.columns:
            c = spec.by_name.get(col)
            if c is not None and c.kind == "flag":
                acc[col] = acc[col].astype("int64")
        contract_cols = [c for c in acc.columns if c not in self.extras]
        schema(spec.name, [c for c in contract_cols if c not in spec.by_name]).validate(
            acc[contract_cols], lazy=True
        )
        return acc, q

    def _typed(self, df: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[np.ndarray, str]]]:
        """The typed columns of a batch and, in the order reasons are listed, the rows each
        rule flags with its reason."""
        spec = self.spec
        date_format = self.cfg.get("date_format")
        flags: list[tuple[np.ndarray, str]] = []
        typed = pd.DataFrame(index=df.index)
        for col in df.columns:
            c = spec.by_name.get(col)
            if c is None:
                if not _is_text(df[col]):
                    typed[col] = _infer_extra(df[col])  # typed input comes in one batch
                    continue
                self.extras.setdefault(col, _ExtraKind()).update(df[col])
                typed[col] = df[col]
                continue
            values, bad = _parse(df[col], c.kind, date_format)
            if c.required:
                flags.append(((values.isna() & ~bad).to_numpy(dtype=bool), f"missing {col}; "))
            flags.append(
                (bad.to_numpy(dtype=bool), f"{_WHAT.get(c.kind, 'invalid value')} in {col}; ")
            )
            typed[col] = values
        if self.prefix_ids:
            _prefix_ids(typed)
        if spec.unique:
            ids = typed[spec.unique]
            known = ids.notna()
            dup = known & (ids.duplicated(keep="first") | ids.isin(self.seen_ids))
            self.seen_ids.update(ids[known].tolist())
            flags.append((dup.to_numpy(dtype=bool), f"duplicate {spec.unique} (first row kept); "))
        return typed, flags
