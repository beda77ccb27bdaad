"""Where tables come from: one reading layer over Ibis (embedded DuckDB by default).

A *source* is a folder holding any of the contract tables as ``<name>.csv`` or
``<name>.parquet`` (file names matched case-insensitively; the config may name another file).
CSV files are read with every column as text so that a malformed value never stops the read:
the contract (:mod:`cxlib.contract`) then types each column and quarantines what it cannot read.
Input files are only ever opened for reading.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

TABLE_NAMES: tuple[str, ...] = ("customers", "transactions", "campaign", "events", "feedback")
SUFFIXES: tuple[str, ...] = (".csv", ".parquet", ".pq")
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")


class SourceError(Exception):
    """A source or one of its files cannot be read; the message says which and how to fix it."""


@dataclass(frozen=True)
class TableFile:
    """One table's file in a source."""

    table: str
    path: Path

    @property
    def kind(self) -> str:
        return "csv" if self.path.suffix.lower() == ".csv" else "parquet"


def file_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """SHA-256 and size of a file (for the manifest and the never-modified check)."""
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return {"file": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


class FolderSource:
    """A folder of CSV/Parquet files read through Ibis on an embedded DuckDB.

    Parameters
    ----------
    path : path
        The folder.
    table_files : mapping, optional
        ``{table: file}`` overrides from the config; relative paths are taken from ``path``.
    """

    def __init__(self, path: str | os.PathLike, table_files: Mapping[str, str] | None = None):
        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(
                f"{self.path}: data folder not found. Fix: pass --data with the folder that "
                "holds your tables (e.g. data/sample)."
            )
        if not self.path.is_dir():
            raise SourceError(
                f"{self.path}: --data must be a folder holding <table>.csv or <table>.parquet "
                "files, not a file. Fix: pass the folder that contains it."
            )
        self._overrides = dict(table_files or {})
        self._con = None
        self.files = self._discover()

    def __repr__(self) -> str:
        return f"FolderSource({str(self.path)!r}, tables={sorted(self.files)})"

    @property
    def con(self) -> Any:
        """The Ibis DuckDB connection (created on first use)."""
        if self._con is None:
            import ibis

            self._con = ibis.duckdb.connect()
        return self._con

    def _discover(self) -> dict[str, TableFile]:
        found: dict[str, TableFile] = {}
        for table, name in self._overrides.items():
            p = Path(name)
            p = p if p.is_absolute() else self.path / p
            if not p.exists():
                raise SourceError(
                    f"{p}: file named for table '{table}' in the config does not exist. Fix: "
                    "correct tables.{table}.file in the config."
                )
            found[table] = TableFile(table, p)
        by_lower = {p.name.lower(): p for p in self.path.iterdir()}
        for table in TABLE_NAMES:
            if table in found:
                continue
            hits = [by_lower[table + s] for s in SUFFIXES if table + s in by_lower]
            if len(hits) > 1:
                raise SourceError(
                    f"{self.path}: both {hits[0].name} and {hits[1].name} found for table "
                    f"'{table}'. Fix: keep only one of them."
                )
            if hits:
                found[table] = TableFile(table, hits[0])
        for tf in found.values():
            if tf.path.is_dir():
                raise SourceError(
                    f"{tf.path}: expected a file for table '{tf.table}' but found a folder. "
                    "Fix: replace it with a CSV or Parquet file."
                )
        return found

    def has(self, table: str) -> bool:
        return table in self.files

    def read_raw(self, table: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Read a table's file as it is: CSV with every column as text, Parquet typed.

        Returns
        -------
        (rows, rejects)
            ``rows`` indexed by 1-based data-row number in the file; ``rejects`` holds the CSV
            lines that could not be split into the header's columns (``row_number``,
            ``raw_line``, ``reason``).

        Raises
        ------
        SourceError
            When the file is empty or cannot be parsed at all.
        """
        tf = self.files[table]
        if tf.path.stat().st_size == 0:
            raise SourceError(
                f"{tf.path}: file is empty (0 bytes). Fix: export the '{table}' table again with "
                "a header row, or remove the file."
            )
        try:
            if tf.kind == "csv":
                return self._read_csv(tf.path)
            df = self.con.read_parquet(str(tf.path)).to_pandas()
            df.index = pd.RangeIndex(1, len(df) + 1)
            return df, _no_rejects()
        except SourceError:
            raise
        except Exception as exc:  # duckdb/arrow parse errors: say which file and how to fix
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SourceError(
                f"{tf.path}: cannot be read as {tf.kind.upper()} ({first}). Fix: save it as "
                "UTF-8 or Latin-1 CSV with a header row and one record per line, or as Parquet."
            ) from None

    def _read_csv(self, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
        raw = self.con.con  # the DuckDB connection behind Ibis
        head = path.open("rb").readline()
        try:
            head.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "latin-1"
        header = head.decode(encoding).lstrip("\ufeff")
        delim = max(DELIMITERS, key=header.count) if any(d in header for d in DELIMITERS) else ","
        names = next(csv.reader([header.rstrip("\r\n")], delimiter=delim), [])
        folded = [n.strip().lower() for n in names]
        dupes = sorted({n for n in folded if n and folded.count(n) > 1})
        if dupes:
            raise SourceError(
                f"{path}: column '{dupes[0]}' appears more than once in the header (names are "
                "matched case-insensitively). Fix: rename or drop one of them."
            )

        def quote(text: str) -> str:
            return "'" + text.replace("'", "''") + "'"

        def read(enc: str) -> pd.DataFrame:
            def attempt(strict: bool) -> pd.DataFrame:
                raw.execute("DROP TABLE IF EXISTS cx_reject_errors")
                raw.execute("DROP TABLE IF EXISTS cx_reject_scans")
                sql = (
                    f"SELECT * FROM read_csv({quote(str(path))}, all_varchar=true, header=true, "
                    f"delim={quote(delim)}, encoding={quote(enc)}, store_rejects=true, "
                    "rejects_table='cx_reject_errors', rejects_scan='cx_reject_scans', "
                    f"strict_mode={str(strict).lower()})"
                )
                return raw.sql(sql).df()

            try:
                return attempt(strict=True)
            except Exception as exc:  # mixed line endings and the like defeat the sniffer
                if "sniff" not in str(exc).lower():
                    raise
                log.warning("%s: non-standard CSV (e.g. mixed line endings); lenient read", path)
                return attempt(strict=False)

        def rejected() -> pd.DataFrame:
            return raw.sql(
                "SELECT line, error_type, csv_line, error_message FROM cx_reject_errors "
                "ORDER BY line"
            ).df()

        df = read(encoding)
        rej = rejected()
        if (
            encoding == "utf-8"
            and rej["error_type"].astype("str").str.contains("ENCODING|UNICODE").any()
        ):
            try:  # Latin-1 bytes: read the whole file as Latin-1
                df = read("latin-1")
                encoding = "latin-1"
            except Exception:  # not Latin-1 either: keep the UTF-8 read, bad lines quarantined
                df = read("utf-8")
            rej = rejected()
        if encoding != "utf-8":
            log.warning("%s is not UTF-8; read it as Latin-1", path)
        rej = rej.drop_duplicates("line")
        rejects = pd.DataFrame(
            {
                "row_number": (rej["line"].astype("int64") - 1).to_numpy(),
                "raw_line": rej["csv_line"].astype("str").to_numpy(),
                "reason": ("malformed line: " + rej["error_message"].astype("str")).to_numpy(),
            }
        )
        total = len(df) + len(rejects)
        rows = np.setdiff1d(np.arange(1, total + 1), rejects["row_number"].to_numpy())
        df.index = pd.Index(rows[: len(df)], name=None)
        df.columns = [str(c) for c in df.columns]
        return df, rejects

    def fingerprints(self) -> dict[str, dict[str, Any]]:
        """Fingerprint of every table file in the source."""
        return {t: file_fingerprint(tf.path) for t, tf in sorted(self.files.items())}


def _no_rejects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_number": pd.Series(dtype="int64"),
            "raw_line": pd.Series(dtype="str"),
            "reason": pd.Series(dtype="str"),
        }
    )


def open_source(location: str | os.PathLike, table_files: Mapping[str, str] | None = None):
    """Open a source: today a folder of CSV/Parquet files (embedded DuckDB through Ibis)."""
    text = str(location)
    if "://" in text:
        raise SourceError(
            f"{text}: database sources are not supported yet. Fix: export the tables to a "
            "folder of CSV or Parquet files and pass that folder."
        )
    return FolderSource(location, table_files)
