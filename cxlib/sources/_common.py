"""What every source shares: the contract's table names, the source error, a table's file and
its fingerprint, and what to make of a read error."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)


TABLE_NAMES: tuple[str, ...] = (
    "customers",
    "transactions",
    "campaign",
    "events",
    "feedback",
    "products",
)


SUFFIXES: tuple[str, ...] = (".csv", ".parquet", ".pq")


DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
#: ``tables.<table>.delimiter`` for text files whose fields are separated by runs of spaces.
WHITESPACE = "whitespace"
#: Names ``tables.<table>.delimiter`` may take besides the characters themselves.
DELIMITER_NAMES: dict[str, str] = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "\\t": "\t",
    "pipe": "|",
    WHITESPACE: WHITESPACE,
    "space": WHITESPACE,
}
#: The first bytes of every Parquet file.
PARQUET_MAGIC = b"PAR1"


class SourceError(Exception):
    """A source or one of its files cannot be read; the message says which and how to fix it."""


def _unreadable(where: Any, exc: BaseException) -> SourceError:
    """The error for a database relation that cannot be read, with the fix."""
    return SourceError(
        f"{where}: cannot be read ({first_line(exc)}). Fix: grant the user in the URL SELECT on it."
    )


def _folder_instead_of_file(tf: TableFile) -> SourceError:
    return SourceError(
        f"{tf.path}: expected a file for table '{tf.table}' but found a folder. "
        "Fix: replace it with a CSV or Parquet file."
    )


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def raise_if_interrupted(exc: BaseException, con: Any = None) -> None:
    """Re-raise a query stopped by a signal (Ctrl-C, a scheduler's SIGTERM) as
    ``KeyboardInterrupt``: DuckDB reports it as ``InterruptException``, which must not be
    mistaken for an unreadable file.

    With ``con`` (the DuckDB connection that ran the query) the query is also interrupted
    inside DuckDB first: when a Python signal handler stops a query, DuckDB 1.5 returns "Query
    interrupted" to the caller but may leave the query running on its worker threads, and the
    connection's ``close()`` then waits for it to finish (measured: 557 s in 1 of 10 stops of a
    long query; with ``con.interrupt()`` first, 40 of 40 closed within 0.01 s).
    """
    if type(exc).__name__ == "InterruptException" or first_line(exc) == "Query interrupted":
        if con is not None:
            try:
                con.interrupt()
            except Exception:  # already closed: nothing left to stop
                pass
        raise KeyboardInterrupt(first_line(exc)) from exc


@dataclass(frozen=True)
class TableFile:
    """One table's file in a source."""

    table: str
    path: Path
    delimiter: str | None = None
    """``tables.<table>.delimiter`` (a character or a name of :data:`DELIMITER_NAMES`); None:
    sniffed from the header."""

    @property
    def kind(self) -> str:
        """``csv`` (text) or ``parquet``: by the extension, else (``.txt``, ``.tsv`` …) by the
        content."""
        suffix = self.path.suffix.lower()
        if suffix == ".csv":
            return "csv"
        if suffix in (".parquet", ".pq"):
            return "parquet"
        return "parquet" if self.is_parquet() else "csv"

    def is_parquet(self) -> bool:
        """Whether the file's content is Parquet (its magic bytes), whatever its name."""
        try:
            with self.path.open("rb") as fh:
                return fh.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC
        except OSError:
            return False

    def content_mismatch(self) -> str | None:
        """The error message when the extension says one format and the content another."""
        suffix = self.path.suffix.lower()
        if self.path.is_dir() or not self.path.stat().st_size:
            return None
        parquet = self.is_parquet()
        if suffix == ".csv" and parquet:
            return (
                f"{self.path}: the extension says CSV but the file is Parquet. Fix: rename it to "
                f"{self.path.stem}.parquet."
            )
        if suffix in (".parquet", ".pq") and not parquet:
            return (
                f"{self.path}: the extension says Parquet but the file is not Parquet (text?). "
                f"Fix: rename it to {self.path.stem}.csv if it is a CSV file, or export it again "
                "as Parquet."
            )
        return None


def file_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """SHA-256 and size of a file (for the manifest and the never-modified check)."""
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return {"file": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _no_rejects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_number": pd.Series(dtype="int64"),
            "raw_line": pd.Series(dtype="str"),
            "reason": pd.Series(dtype="str"),
        }
    )
