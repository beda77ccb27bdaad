"""A folder of CSV/Parquet files read through Ibis on an embedded DuckDB."""

from __future__ import annotations

import csv
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxlib.privacy import private_tempdir, sweep_private_tempdirs
from cxlib.sources._batches import RawBatches, _chunks
from cxlib.sources._common import (
    DELIMITER_NAMES,
    DELIMITERS,
    SUFFIXES,
    TABLE_NAMES,
    WHITESPACE,
    SourceError,
    TableFile,
    _folder_instead_of_file,
    _no_rejects,
    file_fingerprint,
    first_line,
    raise_if_interrupted,
)
from cxlib.threads import duckdb_threads

log = logging.getLogger(__name__)


class FolderSource:
    """A folder of CSV/Parquet files read through Ibis on an embedded DuckDB.

    Parameters
    ----------
    path : path
        The folder.
    table_files : mapping, optional
        ``{table: file}`` overrides from the config; relative paths are taken from ``path``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        table_files: Mapping[str, str] | None = None,
        delimiters: Mapping[str, str] | None = None,
    ):
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
        self._delimiters = {t: _delimiter_setting(t, d) for t, d in (delimiters or {}).items()}
        self._con = None
        self.files = self._discover()
        sweep_private_tempdirs()  # folders left by processes that were killed

    def __repr__(self) -> str:
        return f"FolderSource({str(self.path)!r}, tables={sorted(self.files)})"

    @property
    def con(self) -> Any:
        """The Ibis DuckDB connection (created on first use, on
        :func:`cxlib.threads.duckdb_threads` threads). It spills, if ever, into a private
        temporary folder (deleted with the source), not DuckDB's default ``.tmp`` in the
        working directory: the rows it reads hold personal data."""
        if self._con is None:
            import weakref

            import ibis

            spill = private_tempdir("cx-read-")
            self._con = ibis.duckdb.connect(threads=duckdb_threads())
            self._con.raw_sql(f"SET temp_directory = '{spill.as_posix()}'")
            self._spill = weakref.finalize(self, shutil.rmtree, spill, True)
        return self._con

    def close(self) -> None:
        """Close the reading connection and delete its private spill folder now (a later read
        opens a new one); without a call, both go when the source is garbage-collected."""
        if self._con is None:
            return
        try:
            self._con.disconnect()
        except Exception:  # noqa: BLE001 - already gone
            log.debug("folder source: connection already closed")
        self._con = None
        self._spill()

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
                raise _folder_instead_of_file(tf)
            mismatch = tf.content_mismatch()
            if mismatch:
                raise SourceError(mismatch)
        return {t: TableFile(t, tf.path, self._delimiters.get(t)) for t, tf in found.items()}

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
                return self._read_csv(tf)
            df = self.con.read_parquet(str(tf.path)).to_pandas()
            df.index = pd.RangeIndex(1, len(df) + 1)
            return df, _no_rejects()
        except SourceError:
            raise
        except Exception as exc:  # duckdb/arrow parse errors: say which file and how to fix
            raise_if_interrupted(exc, self.con.con)
            first = first_line(exc)
            raise SourceError(
                f"{tf.path}: cannot be read as {tf.kind.upper()} ({first}). Fix: save it as "
                "UTF-8 or Latin-1 CSV with a header row and one record per line, or as Parquet."
            ) from None

    def _read_csv(
        self, tf: TableFile, copy_to: Path | None = None
    ) -> tuple[pd.DataFrame | int, pd.DataFrame]:
        """Read a CSV file as text; with ``copy_to``, stream it into that Parquet file instead
        (all columns VARCHAR, file order) and return its number of rows in place of the rows."""
        raw = self.con.con  # the DuckDB connection behind Ibis
        path = tf.path
        head = path.open("rb").readline()
        try:
            head.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "latin-1"
        header = head.decode(encoding).lstrip("\ufeff")
        delim = tf.delimiter or _sniff_delimiter(tf, header)
        if delim == WHITESPACE:
            return self._read_whitespace(path, encoding, copy_to)
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

        def read(enc: str) -> pd.DataFrame | int:
            def attempt(strict: bool) -> pd.DataFrame | int:
                raw.execute("DROP TABLE IF EXISTS cx_reject_errors")
                raw.execute("DROP TABLE IF EXISTS cx_reject_scans")
                sql = (
                    f"SELECT * FROM read_csv({quote(str(path))}, all_varchar=true, header=true, "
                    f"delim={quote(delim)}, encoding={quote(enc)}, store_rejects=true, "
                    "rejects_table='cx_reject_errors', rejects_scan='cx_reject_scans', "
                    f"strict_mode={str(strict).lower()})"
                )
                if copy_to is None:
                    return raw.sql(sql).df()
                raw.execute(f"COPY ({sql}) TO {quote(str(copy_to))} (FORMAT parquet)")
                return int(
                    raw.sql(f"SELECT count(*) FROM read_parquet({quote(str(copy_to))})").fetchone()[
                        0
                    ]
                )

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
        if isinstance(df, int):
            return df, rejects
        total = len(df) + len(rejects)
        rows = np.setdiff1d(np.arange(1, total + 1), rejects["row_number"].to_numpy())
        df.index = pd.Index(rows[: len(df)], name=None)
        df.columns = [str(c) for c in df.columns]
        return df, rejects

    def _read_whitespace(
        self, path: Path, encoding: str, copy_to: Path | None
    ) -> tuple[pd.DataFrame | int, pd.DataFrame]:
        """Read a whitespace-separated text file (``delimiter: whitespace``): any run of spaces
        or tabs separates fields, blank lines are skipped, and a line with another number of
        fields than the header is rejected with the reason. Read in Python, line by line (such
        files are small exports; DuckDB's reader takes one-character delimiters only)."""
        rows, index, bad = [], [], []
        with path.open(encoding=encoding, newline="") as fh:
            names = fh.readline().lstrip("\ufeff").split()
            for i, line in enumerate(fh, start=1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) == len(names):
                    rows.append(parts)
                    index.append(i)
                else:
                    bad.append(
                        (
                            i,
                            line.rstrip("\r\n"),
                            f"malformed line: {len(parts)} fields separated by whitespace, the "
                            f"header has {len(names)}",
                        )
                    )
        df = pd.DataFrame(rows, columns=names, dtype="str")
        rejects = pd.DataFrame(bad, columns=["row_number", "raw_line", "reason"])
        rejects["row_number"] = rejects["row_number"].astype("int64")
        if copy_to is not None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), copy_to)
            return len(df), rejects
        df.index = pd.Index(index, dtype="int64")
        return df, rejects

    def read_batches(self, table: str, batch_rows: int) -> RawBatches:
        """Read a table's file like :meth:`read_raw`, but as frames of at most ``batch_rows``
        rows, so that the text of a large CSV file is never in memory at once.

        The CSV file is first streamed by DuckDB into a private temporary Parquet file (all
        columns text, file order), which the returned :class:`RawBatches` reads chunk by chunk
        and deletes when it is exhausted or closed. Parquet files come as one batch.
        """
        tf = self.files[table]
        if tf.kind != "csv":
            df, rejects = self.read_raw(table)
            df.index = pd.RangeIndex(1, len(df) + 1)
            return RawBatches(iter([df]), rejects, len(df), batch_rows)
        if tf.path.stat().st_size == 0:
            self.read_raw(table)  # raises the empty-file error
        tmp = private_tempdir("cx-raw-")
        target = tmp / f"{table}.parquet"
        try:
            try:
                n, rejects = self._read_csv(tf, copy_to=target)
            except SourceError:
                raise
            except Exception as exc:
                raise_if_interrupted(exc, self.con.con)
                first = first_line(exc)
                raise SourceError(
                    f"{tf.path}: cannot be read as CSV ({first}). Fix: save it as UTF-8 or "
                    "Latin-1 CSV with a header row and one record per line, or as Parquet."
                ) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        rel = self.con.con.sql(f"SELECT * FROM read_parquet('{target}')")
        return RawBatches(_chunks(rel, batch_rows), rejects, n, batch_rows, cleanup=tmp)

    def fingerprints(self) -> dict[str, dict[str, Any]]:
        """Fingerprint of every table file in the source."""
        return {t: file_fingerprint(tf.path) for t, tf in sorted(self.files.items())}


def _delimiter_setting(table: str, value: Any) -> str:
    """The delimiter of ``tables.<table>.delimiter``: one character, or a name of
    :data:`DELIMITER_NAMES` (``whitespace`` for runs of spaces)."""
    text = str(value)
    named = DELIMITER_NAMES.get(text.strip().lower())
    if named is not None:
        return named
    if len(text) == 1:
        return text
    names = ", ".join(sorted(DELIMITER_NAMES))
    raise SourceError(
        f"cx.yml: tables.{table}.delimiter is {text!r}. Fix: give one character or one of {names}."
    )


def _sniff_delimiter(tf: TableFile, header: str) -> str:
    """The delimiter of a text file from its header: the most frequent of comma, semicolon,
    tab and pipe. A header with none of them but several words separated by spaces is a
    whitespace-separated file, which must be declared (a space can also sit inside a name)."""
    if any(d in header for d in DELIMITERS):
        return max(DELIMITERS, key=header.count)
    words = header.split()
    if len(words) > 1:
        shown = " ".join(words[:6]) + (" …" if len(words) > 6 else "")
        raise SourceError(
            f"{tf.path}: looks whitespace-separated: the header ({shown}) has {len(words)} "
            "names separated by spaces and no comma, semicolon, tab or pipe. Fix: set "
            f"`tables.{tf.table}.delimiter: whitespace` in cx.yml, or save the file with commas."
        )
    return ","
