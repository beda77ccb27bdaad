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
import json
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxlib.engine import (  # moved to cxlib.engine; re-exported here (`x as x`)
    DUCKDB_MEMORY_ENV as DUCKDB_MEMORY_ENV,
)
from cxlib.engine import (
    DUCKDB_MEMORY_LIMIT as DUCKDB_MEMORY_LIMIT,
)
from cxlib.engine import (
    DUCKDB_THREADS,
    ROW_ORDER,
    duckdb_memory_limit,
    is_table,
)
from cxlib.engine import (
    backend_table as backend_table,
)
from cxlib.engine import (
    duckdb_connection as duckdb_connection,
)
from cxlib.engine import (
    fetch_frame as fetch_frame,
)

log = logging.getLogger(__name__)

is_backend_table = is_table
"""Deprecated alias of :func:`cxlib.engine.is_table` (the same function); to be removed once no
module imports it from here."""

TABLE_NAMES: tuple[str, ...] = ("customers", "transactions", "campaign", "events", "feedback")
SUFFIXES: tuple[str, ...] = (".csv", ".parquet", ".pq")
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")


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


# --- Private temporary folders ---------------------------------------------------------------

PRIVATE_PREFIXES: tuple[str, ...] = (
    "cx-backend-",
    "cx-read-",
    "cx-raw-",
    "cx-validated-",
    "cx-spark-",
)
"""Name prefixes of the private temporary folders cxlib creates (they hold personal data)."""
OWNER_MARKER = ".cx-owner"
"""File in each private temporary folder naming the process that owns it (JSON: ``pid`` and
``started``, the process's start time, so that a reused PID is not taken for the owner)."""
_START_TOLERANCE_S = 1.0


def private_tempdir(prefix: str, dir: str | os.PathLike | None = None) -> Path:
    """A new private (mode 0700) temporary folder marked with this process as its owner.

    The caller deletes it when done; if the process dies before (a kernel shut down hard,
    SIGKILL, out of memory), :func:`sweep_private_tempdirs` deletes it at the next start.

    Parameters
    ----------
    prefix : str
        One of :data:`PRIVATE_PREFIXES`.
    dir : path, optional
        Parent folder (default: the system's temporary folder).

    Returns
    -------
    Path
    """
    if prefix not in PRIVATE_PREFIXES:
        raise ValueError(f"unknown private folder prefix {prefix!r}; use one of {PRIVATE_PREFIXES}")
    import psutil

    path = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
    os.chmod(path, 0o700)
    me = psutil.Process()
    part = path / (OWNER_MARKER + ".part")
    part.write_text(json.dumps({"pid": me.pid, "started": me.create_time()}))
    os.replace(part, path / OWNER_MARKER)  # a sweeper sees the whole marker or none
    return path


def _owner_alive(pid: int, started: float) -> bool:
    """Whether the process that created a private folder is still running (a zombie is not;
    a process whose permissions hide it counts as running)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - started) > _START_TOLERANCE_S:
            return False  # the PID was reused by another process
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def sweep_private_tempdirs(where: str | os.PathLike | None = None) -> list[Path]:
    """Delete private temporary folders whose owner process is gone.

    Only folders directly in ``where`` whose name starts with one of :data:`PRIVATE_PREFIXES`,
    that belong to this user, are not symbolic links and hold a complete :data:`OWNER_MARKER`
    are considered; one is deleted when the process named in its marker no longer runs (or its
    PID now belongs to a process started at another time). A folder being created (no marker
    yet) or whose owner runs is kept; anything else in ``where`` is never touched.

    Parameters
    ----------
    where : path, optional
        Default: the system's temporary folder (``tempfile.gettempdir()``).

    Returns
    -------
    list of Path
        The folders deleted.
    """
    base = Path(where) if where is not None else Path(tempfile.gettempdir())
    uid = os.getuid() if hasattr(os, "getuid") else None
    removed: list[Path] = []
    try:
        entries = [e for e in os.scandir(base) if e.name.startswith(PRIVATE_PREFIXES)]
    except OSError:
        return removed
    for entry in entries:
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if uid is not None and entry.stat(follow_symlinks=False).st_uid != uid:
                continue
            marker = Path(entry.path) / OWNER_MARKER
            if not stat.S_ISREG(os.lstat(marker).st_mode):
                continue
            owner = json.loads(marker.read_text())
            pid, started = int(owner["pid"]), float(owner["started"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # no or unreadable marker: not ours to judge
        if _owner_alive(pid, started):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    if removed:
        log.info("deleted %d private temporary folder(s) left by ended processes", len(removed))
    return removed


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
        sweep_private_tempdirs()  # folders left by processes that were killed

    def __repr__(self) -> str:
        return f"FolderSource({str(self.path)!r}, tables={sorted(self.files)})"

    @property
    def con(self) -> Any:
        """The Ibis DuckDB connection (created on first use). It spills, if ever, into a private
        temporary folder (deleted with the source), not DuckDB's default ``.tmp`` in the
        working directory: the rows it reads hold personal data."""
        if self._con is None:
            import weakref

            import ibis

            spill = private_tempdir("cx-read-")
            self._con = ibis.duckdb.connect()
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
            raise_if_interrupted(exc, self.con.con)
            first = first_line(exc)
            raise SourceError(
                f"{tf.path}: cannot be read as {tf.kind.upper()} ({first}). Fix: save it as "
                "UTF-8 or Latin-1 CSV with a header row and one record per line, or as Parquet."
            ) from None

    def _read_csv(
        self, path: Path, copy_to: Path | None = None
    ) -> tuple[pd.DataFrame | int, pd.DataFrame]:
        """Read a CSV file as text; with ``copy_to``, stream it into that Parquet file instead
        (all columns VARCHAR, file order) and return its number of rows in place of the rows."""
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
                n, rejects = self._read_csv(tf.path, copy_to=target)
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


_WHOLE_ROWS = 1 << 24
"""Batch sizes from this many rows on read the whole relation as one frame."""


def _frame_of(batch: Any) -> pd.DataFrame:
    """A pandas frame of an Arrow record batch (or table) of text columns; a column without a
    value holds Python ``None`` objects, as in DuckDB's own frames."""
    chunk = batch.to_pandas()
    for i, name in enumerate(batch.schema.names):
        if batch.column(i).null_count == batch.num_rows:
            chunk[name] = pd.Series([None] * batch.num_rows, dtype=object, index=chunk.index)
    return chunk


def _prefetched(items: Iterator[Any], convert: Callable[[Any], Any]) -> Iterator[Any]:
    """``convert(item)`` for each item, in order, computed one item ahead on a second thread
    (for work that releases the GIL, such as DuckDB reading the next batch while pandas types
    the previous one). The thread stops when the consumer stops or fails."""
    import queue
    import threading

    box: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def put(item: Any) -> None:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                put((True, convert(item)))
        except BaseException as exc:  # handed to the consumer
            put((False, exc))
        put((True, end))

    worker = threading.Thread(target=produce, name="cx-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = box.get()
            if not ok:
                raise item
            if item is end:
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _chunks(rel: Any, batch_rows: int) -> Iterator[pd.DataFrame]:
    """Frames of at most ``batch_rows`` rows from a DuckDB relation of text columns, in order;
    at least one (possibly empty, columns of Python objects) frame so that the columns are
    always known. A column without a value in a frame holds Python ``None`` objects, as in
    DuckDB's own frames.

    Rows come through Arrow record batches: their text columns become pandas ``str`` columns
    without a Python object per value (DuckDB's ``fetch_df_chunk`` makes one per value, then
    pandas converts them back, which took half of the time of typing a large table). The next
    batch is read on a second thread while the caller types the current one."""
    rows = max(1, -(-batch_rows // 2048)) * 2048  # whole vectors
    reader = rel.to_arrow_reader(min(rows, _WHOLE_ROWS))
    names = reader.schema.names
    empty = True
    if rows >= _WHOLE_ROWS:  # "everything at once" (read_raw): one frame of the whole table
        whole = reader.read_all()
        batches: Iterator[Any] = iter([whole] if whole.num_rows else [])
    else:
        batches = (batch for batch in reader if batch.num_rows)
    frames = _prefetched(batches, _frame_of)
    try:
        for chunk in frames:
            empty = False
            for start in range(0, len(chunk), batch_rows):
                yield chunk.iloc[start : start + batch_rows]
    finally:
        frames.close()  # stops the reading thread
    if empty:
        yield pd.DataFrame({name: pd.Series(dtype=object) for name in names})


class RawBatches:
    """Batches of a table as read (see :meth:`FolderSource.read_batches`).

    Iterating yields frames indexed by 1-based position among the lines that could be split
    into columns (the first frame's index starts at 1, the next continues). ``rejects`` are the
    malformed lines (``row_number``, ``raw_line``, ``reason``) and :meth:`row_numbers` turns
    positions into 1-based data-row numbers of the file.
    """

    def __init__(
        self,
        frames: Iterator[pd.DataFrame],
        rejects: pd.DataFrame,
        rows: int,
        batch_rows: int,
        cleanup: Path | None = None,
        numbers: np.ndarray | None = None,
    ):
        self._frames = frames
        self._numbers = numbers
        self.rejects = rejects
        self.rows = rows
        self.batch_rows = batch_rows
        self._cleanup = cleanup

    def __iter__(self) -> Iterator[pd.DataFrame]:
        pos = 0
        try:
            for frame in self._frames:
                if len(frame) > self.batch_rows:  # a source yielding larger frames: split
                    parts = [
                        frame.iloc[i : i + self.batch_rows]
                        for i in range(0, len(frame), self.batch_rows)
                    ]
                else:
                    parts = [frame]
                for part in parts:
                    part = part.copy(deep=False)
                    part.index = pd.RangeIndex(pos + 1, pos + 1 + len(part))
                    pos += len(part)
                    yield part
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading (a reading thread ends) and delete the temporary file (if any)."""
        stop = getattr(self._frames, "close", None)
        if stop is not None:
            try:
                stop()
            except ValueError:  # the generator is running: it is the one closing us
                pass
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)
            self._cleanup = None

    def row_numbers(self, positions: Any) -> np.ndarray:
        """1-based data-row numbers in the file of 1-based ``positions``."""
        if self._numbers is not None:
            return self._numbers[np.asarray(positions, dtype="int64") - 1]
        pos = np.asarray(positions, dtype="int64")
        rejected = np.unique(self.rejects["row_number"].to_numpy(dtype="int64"))
        # good rows before the j-th rejected line: rejected[j] - 1 - j; a position p lies after
        # every rejected line with rejected[j] - j <= p
        return pos + np.searchsorted(rejected - np.arange(len(rejected)), pos, side="right")


def read_batches(source: Any, table: str, batch_rows: int) -> RawBatches:
    """Batches of ``table`` from any source: its own ``read_batches`` when it has one, else its
    ``read_raw`` (one frame, split into batches)."""
    own = getattr(source, "read_batches", None)
    if own is not None:
        return own(table, batch_rows)
    df, rejects = source.read_raw(table)
    idx = df.index
    numbered = pd.api.types.is_integer_dtype(idx) and (len(df) == 0 or idx.min() >= 1)
    numbers = idx.to_numpy(dtype="int64") if numbered else None
    return RawBatches(iter([df]), rejects, len(df), batch_rows, numbers=numbers)


def _no_rejects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_number": pd.Series(dtype="int64"),
            "raw_line": pd.Series(dtype="str"),
            "reason": pd.Series(dtype="str"),
        }
    )


def open_source(
    location: str | os.PathLike,
    table_files: Mapping[str, str] | None = None,
    *,
    spark_master: str | None = None,
):
    """Open a source: a folder of CSV/Parquet files (embedded DuckDB through Ibis), a
    PostgreSQL URL ``postgresql://user@host:port/database[/schema]`` (Ibis's postgres backend)
    or ``spark:<folder or URI>`` (Ibis's pyspark backend on ``spark_master``, see
    :class:`SparkSource`).
    """
    text = str(location)
    if is_spark(text):
        return SparkSource(text, table_files, master=spark_master)
    if is_url(text):
        scheme = text.split("://", 1)[0].lower()
        if scheme in PG_SCHEMES:
            return PostgresSource(text, table_files)
        raise SourceError(
            f"{mask_url(text)}: '{scheme}://' sources are not supported. Fix: pass a PostgreSQL "
            "URL (postgresql://user@host:port/database/schema) or a folder of CSV or Parquet "
            "files."
        )
    return FolderSource(location, table_files)


# --- PostgreSQL ------------------------------------------------------------------------------

PG_SCHEMES: tuple[str, ...] = ("postgresql", "postgres")
LOAD_ORDER_COLUMN = ROW_ORDER
"""Optional integer column of a database table: rows are read in its order and its value is the
row number of a quarantined row. It is not passed on to the contract."""
SUPPRESS_RELATION = "suppress"
"""Database sources: the relation holding the suppression list (``customer_id``, ``reason``)."""
PG_CONNECT_TIMEOUT_S = 10
_RELKINDS = ("r", "v", "m", "p", "f")  # tables, views, materialized views, partitioned, foreign


def is_url(location: Any) -> bool:
    """True when ``location`` is a URL (``scheme://…``) rather than a folder."""
    return "://" in str(location)


def _split_userinfo(text: str) -> tuple[str, str | None, str | None, str]:
    """``(prefix "scheme://", user, password, rest after "@")`` of a URL (password may be
    None); the user info ends at the last ``@`` before the path."""
    scheme, _, after = text.partition("://")
    cut = min([i for i in (after.find("/"), after.find("?"), after.find("#")) if i >= 0] or [-1])
    netloc = after if cut < 0 else after[:cut]
    if "@" not in netloc:
        return scheme + "://", None, None, after
    userinfo, _, host = netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    rest = host + ("" if cut < 0 else after[cut:])
    return scheme + "://", user, (password if colon else None), rest


def _drop_password_option(rest: str, replace: str | None) -> str:
    import re

    if replace is None:
        out = re.sub(r"(?i)([?&])password=[^&#]*&?", r"\1", rest)
        return re.sub(r"[?&]$", "", out)
    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\g<1>" + replace, rest)


def mask_url(location: Any) -> str:
    """``location`` with any password replaced by ``***`` (what logs, manifests and reports
    show). Folders are returned unchanged."""
    text = str(location)
    if not is_url(text):
        return text
    prefix, user, password, rest = _split_userinfo(text)
    rest = _drop_password_option(rest, "***")
    if user is None:
        return prefix + rest
    return prefix + user + (":***" if password is not None else "") + "@" + rest


def strip_password(location: Any) -> tuple[str, str | None]:
    """``(location without its password, the password or None)``.

    The runner passes the first to the notebooks and the second through ``PGPASSWORD``, so that
    a password never reaches an executed notebook, the manifest or a log.
    """
    from urllib.parse import parse_qsl, unquote, urlsplit

    text = str(location)
    if not is_url(text):
        return text, None
    prefix, user, password, rest = _split_userinfo(text)
    if password is not None:
        password = unquote(password)
    else:
        query = urlsplit(text).query
        password = next((v for k, v in parse_qsl(query) if k.lower() == "password"), None)
    rest = _drop_password_option(rest, None)
    return (prefix + (f"{user}@" if user is not None else "") + rest), password


def source_label(location: Any) -> str:
    """How a source is named in logs and the manifest: a folder's absolute path, a URL masked."""
    if is_spark(location):
        return spark_location(location)
    return mask_url(location) if is_url(location) else str(Path(location).resolve())


def notebook_location(location: Any) -> str:
    """The ``data_dir`` passed to the notebooks: a folder's absolute path, a URL without its
    password."""
    if is_spark(location):
        return spark_location(location)
    return strip_password(location)[0] if is_url(location) else str(Path(location).resolve())


@dataclass(frozen=True, repr=False)
class PostgresURL:
    """The parts of ``postgresql://user[:password]@host[:port]/database[/schema][?options]``.

    ``options`` are libpq connection keywords (``sslmode=require``, ``connect_timeout=30`` …).
    """

    host: str
    port: int
    database: str
    user: str | None = None
    password: str | None = None
    schema: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:  # never shows the password
        user = f"{self.user}{':***' if self.password is not None else ''}@" if self.user else ""
        schema = f"/{self.schema}" if self.schema else ""
        return f"PostgresURL('postgresql://{user}{self.host}:{self.port}/{self.database}{schema}')"

    @classmethod
    def parse(cls, url: str) -> PostgresURL:
        """Parse a URL; raises :class:`SourceError` (password masked) when malformed."""
        from urllib.parse import parse_qsl, unquote, urlsplit

        shown = mask_url(url)
        form = "postgresql://user@host:port/database/schema"
        try:
            parts = urlsplit(url)
            port = parts.port or 5432
        except ValueError as exc:
            raise SourceError(
                f"{shown}: not a valid PostgreSQL URL ({exc}). Fix: use {form}."
            ) from None
        if parts.scheme.lower() not in PG_SCHEMES:
            raise SourceError(f"{shown}: not a PostgreSQL URL. Fix: use {form}.")
        path = [unquote(p) for p in parts.path.split("/") if p]
        if not path:
            raise SourceError(f"{shown}: the URL names no database. Fix: use {form}.")
        if len(path) > 2:
            raise SourceError(
                f"{shown}: too many path parts ('/{'/'.join(path)}'); after the host come the "
                f"database and, optionally, the schema. Fix: use {form}."
            )
        _, user, password, _ = _split_userinfo(url)
        options = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key.lower() == "password":
                password = password if password is not None else value
            elif key.lower() == "schema":
                raise SourceError(
                    f"{shown}: the schema goes in the path, not in '?schema='. Fix: use {form}."
                )
            else:
                options.append((key, value))
        return cls(
            host=parts.hostname or "localhost",
            port=port,
            database=path[0],
            user=unquote(user) if user else None,
            password=unquote(password) if password is not None else None,
            schema=path[1] if len(path) > 1 else None,
            options=tuple(options),
        )


@dataclass(frozen=True)
class RelationPath:
    """Where a table of a database source lives; stands in for a file's path in messages
    (``str``) and in the counts table (``name``)."""

    location: str  # the source URL, masked, without schema
    schema: str
    relation: str

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.relation}"

    def __str__(self) -> str:
        return f"table {self.name} in {self.location}"


@dataclass(frozen=True)
class TableRelation:
    """One contract table's relation in a database source."""

    table: str
    path: RelationPath
    kind: str = "postgres"


def _pg_reason(exc: BaseException) -> tuple[str, str]:
    """A short reason and a fix for a PostgreSQL connection error."""
    text = str(exc).strip()
    low = text.lower()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    first = lines[0] if lines else type(exc).__name__
    if "connection refused" in low:
        return (
            "connection refused: no server is listening there",
            "start the PostgreSQL server or correct the host and port in the URL",
        )
    if "could not translate host name" in low or "name or service not known" in low:
        return "unknown host name", "correct the host in the URL"
    if "timeout expired" in low or "timed out" in low:
        return (
            f"no answer within {PG_CONNECT_TIMEOUT_S} s",
            "check the host, port and firewall (or add ?connect_timeout=60 to the URL)",
        )
    if "password authentication failed" in low or "no password supplied" in low:
        return (
            "authentication failed",
            "check the user and password (set PGPASSWORD or use ~/.pgpass rather than a "
            "password in the URL)",
        )
    if "role" in low and "does not exist" in low:
        return "the user does not exist on the server", "correct the user in the URL"
    if "database" in low and "does not exist" in low:
        return (
            "the database does not exist",
            "correct the database in the URL (postgresql://user@host:port/DATABASE/schema)",
        )
    if "invalid connection option" in low or "invalid dsn" in low:
        return first.split(":", 1)[-1].strip(), "remove or correct the option in the URL"
    if "no pg_hba.conf entry" in low or "permission denied" in low:
        return "the server refuses this user or host", "ask the database administrator"
    return first, "check the URL and that the server is running"


class PostgresSource:
    """Contract tables in one schema of a PostgreSQL database, read through Ibis's postgres
    backend.

    Tables are found by contract name (relation names matched case-insensitively; tables,
    views and materialized views count); ``table_files`` (``tables.<name>.file`` in the config)
    may name another relation, ``relation`` or ``schema.relation``. Every column is read as text
    (cast in the query, ``NULL`` stays missing), so typed tables and all-text staging tables go
    through the same contract typing as a CSV file. Rows come in the order of the optional
    integer column ``cx_row_number`` (then also the row numbers of quarantined rows), else
    sorted by all columns, so that reads are deterministic. A relation named ``suppress`` is the
    suppression list. The server is only ever read from.

    Parameters
    ----------
    url : str
        ``postgresql://user[:password]@host[:port]/database[/schema][?libpq options]``; without
        a schema the user's current schema (normally ``public``). A password is better given
        through ``PGPASSWORD`` or ``~/.pgpass``; it is never shown (see :func:`mask_url`).
    table_files : mapping, optional
        ``{table: relation}`` overrides.
    """

    kind = "postgres"

    def __init__(self, url: str, table_files: Mapping[str, str] | None = None):
        self.url = PostgresURL.parse(str(url))
        self.location = mask_url(url)
        self._con = self._connect()
        self.schema = self.url.schema or self._scalar("SELECT current_schema()")
        if not self.schema:
            raise SourceError(
                f"{self.location}: the user has no current schema (empty search_path). Fix: "
                "name the schema in the URL: postgresql://user@host:port/database/schema."
            )
        if not self._scalar("SELECT count(*) FROM pg_namespace WHERE nspname = %s", self.schema):
            raise SourceError(
                f"{self.location}: schema '{self.schema}' does not exist in database "
                f"'{self.url.database}'. Fix: correct the schema in the URL "
                "(postgresql://user@host:port/database/SCHEMA) or create it and load the tables."
            )
        base = mask_url(str(url)).split("?", 1)[0]
        self._base = base if self.url.schema is None else base.rsplit("/", 1)[0]
        self.files, self._suppress = self._discover(dict(table_files or {}))

    def __repr__(self) -> str:
        return f"PostgresSource({self.location!r}, tables={sorted(self.files)})"

    @property
    def con(self) -> Any:
        """The Ibis postgres connection."""
        return self._con

    def _connect(self) -> Any:
        try:
            import ibis
        except ImportError as exc:  # pragma: no cover - ibis is a dependency
            raise SourceError(f"{self.location}: Ibis is missing ({exc}).") from None
        options = dict(self.url.options)
        options.setdefault("connect_timeout", str(PG_CONNECT_TIMEOUT_S))
        try:
            return ibis.postgres.connect(
                host=self.url.host,
                port=self.url.port,
                user=self.url.user,
                password=self.url.password,
                database=self.url.database,
                **options,
            )
        except ImportError as exc:
            raise SourceError(
                f"{self.location}: the PostgreSQL driver is not installed ({exc}). Fix: "
                "pip install -e . (cxlib depends on psycopg)."
            ) from None
        except Exception as exc:  # psycopg.OperationalError / ProgrammingError
            reason, fix = _pg_reason(exc)
            raise SourceError(
                f"{self.location}: cannot connect to PostgreSQL ({reason}). Fix: {fix}."
            ) from None

    def _execute(self, query: Any, *params: Any) -> list[tuple]:
        """Run a read-only query on the connection behind Ibis and return its rows."""
        try:
            with self._con.con.cursor() as cur:
                cur.execute(query, params or None)
                return cur.fetchall()
        except Exception as exc:
            first = first_line(exc)
            raise SourceError(
                f"{self.location}: query failed ({first}). Fix: check that the user in the URL "
                "may read the schema and its tables."
            ) from None

    def _scalar(self, query: Any, *params: Any) -> Any:
        rows = self._execute(query, *params)
        return rows[0][0] if rows else None

    def _relations(self, schema: str) -> list[str]:
        rows = self._execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = ANY(%s) ORDER BY c.relname",
            schema,
            list(_RELKINDS),
        )
        return [r[0] for r in rows]

    def _find(self, schema: str, name: str) -> str | None:
        """The relation called ``name`` in ``schema``: exact match, else the one match ignoring
        case (several: an error)."""
        rels = self._relations(schema)
        if name in rels:
            return name
        hits = [r for r in rels if r.lower() == name.lower()]
        if len(hits) > 1:
            raise SourceError(
                f"{self._base}: both {schema}.{hits[0]} and {schema}.{hits[1]} match table "
                f"'{name}' (names are matched ignoring case). Fix: drop or rename one of them, "
                f"or name one in tables.{name}.file in the config."
            )
        return hits[0] if hits else None

    def _discover(
        self, overrides: dict[str, str]
    ) -> tuple[dict[str, TableRelation], TableRelation | None]:
        found: dict[str, TableRelation] = {}
        for table, name in overrides.items():
            schema, _, rel = str(name).rpartition(".")
            schema = schema or self.schema
            hit = self._find(schema, rel)
            if hit is None:
                raise SourceError(
                    f"{self._base}: relation '{schema}.{rel}' named for table '{table}' in the "
                    f"config does not exist. Fix: correct tables.{table}.file in the config."
                )
            found[table] = TableRelation(table, RelationPath(self._base, schema, hit))
        for table in TABLE_NAMES:
            if table not in found:
                hit = self._find(self.schema, table)
                if hit is not None:
                    found[table] = TableRelation(table, RelationPath(self._base, self.schema, hit))
        if not found:
            present = self._relations(self.schema)
            raise SourceError(
                f"{self._base}: schema '{self.schema}' holds none of the contract tables "
                f"({', '.join(TABLE_NAMES)}); it has "
                f"{', '.join(present[:10]) + (' …' if len(present) > 10 else '') or 'no tables'}. "
                "Fix: name the schema that holds them in the URL "
                "(postgresql://user@host:port/database/schema), or map relations with "
                "tables.<name>.file in the config."
            )
        hit = self._find(self.schema, SUPPRESS_RELATION)
        suppress = (
            TableRelation(SUPPRESS_RELATION, RelationPath(self._base, self.schema, hit))
            if hit
            else None
        )
        return found, suppress

    def has(self, table: str) -> bool:
        return table in self.files

    def _read_text(self, rel: TableRelation) -> tuple[pd.DataFrame, str | None]:
        """All columns of a relation as text, in load order (or sorted by every column);
        returns the frame and the name of the load-order column (None when absent)."""
        import warnings

        where = rel.path
        try:
            t = self._con.table(where.relation, database=where.schema)
            schema = t.schema()
        except Exception as exc:
            raise _unreadable(where, exc) from None
        cols = list(schema.names)
        folded = [c.strip().lower() for c in cols]
        dupes = sorted({c for c in folded if folded.count(c) > 1})
        if dupes:
            raise SourceError(
                f"{where}: column '{dupes[0]}' appears more than once (names are matched "
                "ignoring case). Fix: rename or drop one of them."
            )
        order = next((c for c in cols if c.lower() == LOAD_ORDER_COLUMN), None)
        if order is not None and not schema[order].is_integer():
            raise SourceError(
                f"{where}: column '{order}' (the load order) must be a whole-number column, "
                f"not {schema[order]}. Fix: make it bigint (e.g. GENERATED ALWAYS AS IDENTITY) "
                "or drop it."
            )
        data_cols = [c for c in cols if c != order]
        text = [t[c].cast("string").name(c) for c in data_cols]
        if order is not None:
            expr = t.select(t[order].name(order), *text).order_by(order)
        else:
            expr = t.select(*text).order_by(data_cols)
        try:
            with warnings.catch_warnings():  # Ibis 12 asks pandas 3 a deprecated option
                warnings.filterwarnings("ignore", message=".*future.infer_string")
                df = expr.to_pandas()
        except Exception as exc:
            raise _unreadable(where, exc) from None
        for c in data_cols:
            df[c] = df[c].astype("str")
        return df, order

    def read_raw(self, table: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Read a table's relation with every column as text.

        Returns
        -------
        (rows, rejects)
            ``rows`` indexed by row number (the ``cx_row_number`` column when present, else
            1..n in the sorted order); ``rejects`` is always empty (a database has no
            malformed lines).
        """
        rel = self.files[table]
        df, order = self._read_text(rel)
        if order is None:
            df.index = pd.RangeIndex(1, len(df) + 1)
            return df, _no_rejects()
        numbers = df.pop(order)
        if numbers.isna().any() or not numbers.is_unique:
            raise SourceError(
                f"{rel.path}: column '{order}' (the load order) has empty or repeated values. "
                "Fix: give every row its own number, or drop the column."
            )
        df.index = pd.Index(numbers.astype("int64").to_numpy(), name=None)
        return df, _no_rejects()

    def suppression_list(self) -> pd.DataFrame | None:
        """The ``suppress`` relation as text (``customer_id``, ``reason``), or None when the
        schema has none; ``attrs["source"]`` names it for messages."""
        if self._suppress is None:
            return None
        df, order = self._read_text(self._suppress)
        if order is not None:
            df = df.drop(columns=order)
        df.attrs["source"] = str(self._suppress.path)
        return df.reset_index(drop=True)

    def fingerprints(self) -> dict[str, dict[str, Any]]:
        """Per table: relation, row count and an order-independent checksum of the content
        (sum over rows of the first 60 bits of the MD5 of the row's text, modulo 2**64),
        computed by the server in one scan without holding the table."""
        from psycopg import sql

        out: dict[str, dict[str, Any]] = {}
        for table, rel in sorted(self.files.items()):
            query = sql.SQL(
                "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)"
                "::bigint), 0) FROM {}.{} AS t"
            ).format(sql.Identifier(rel.path.schema), sql.Identifier(rel.path.relation))
            n, total = self._execute(query)[0]
            out[table] = {
                "source": self._base,
                "relation": rel.path.name,
                "rows": int(n),
                "checksum": f"md5sum60:{int(total) % (1 << 64):016x}",
            }
        return out


def export_password(location: Any) -> Callable[[], None]:
    """Put a database URL's password into ``PGPASSWORD`` for the notebook kernels (which get the
    URL without it, see :func:`notebook_location`); returns a function restoring the previous
    environment. Does nothing for folders and for URLs without a password."""
    password = strip_password(location)[1] if is_url(location) else None
    if password is None:
        return lambda: None
    saved = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = password

    def restore() -> None:
        if saved is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = saved

    return restore


# --- Spark -----------------------------------------------------------------------------------

SPARK_PREFIX = "spark:"
"""``--data spark:<path>``: the contract files under ``<path>``, read by Spark (see
:class:`SparkSource`)."""
SPARK_MASTER_ENV = "CX_SPARK_MASTER"
SPARK_DEFAULT_MASTER = "local[2]"
SPARK_SUPPRESS_FILE = "suppress.csv"  # as for a folder (cxlib.contract.SUPPRESS_FILE)
_CORRUPT = "_cx_corrupt_record"  # Spark's column for lines that do not split into the header


def is_spark(location: Any) -> bool:
    """True when ``location`` names a Spark source (``spark:<path or URI>``)."""
    return str(location).lower().startswith(SPARK_PREFIX)


def spark_location(location: Any) -> str:
    """A Spark source with a local path made absolute (what logs and notebooks get); a URI
    (``hdfs://``, ``s3a://`` …) is kept as it is, its password masked."""
    rest = str(location)[len(SPARK_PREFIX) :]
    if is_url(rest):
        return SPARK_PREFIX + mask_url(rest)
    return SPARK_PREFIX + str(Path(rest).resolve())


def spark_session(master: str | None = None) -> Any:
    """The process's Spark session (created on first use).

    ``master`` defaults to ``$CX_SPARK_MASTER``, else ``local[2]``. A local master binds the
    driver to 127.0.0.1; the web UI and console progress bars are off and the session time
    zone is UTC, so that timestamps are read as they are written.
    """
    from pyspark.sql import SparkSession

    master = master or os.environ.get(SPARK_MASTER_ENV) or SPARK_DEFAULT_MASTER
    active = SparkSession.getActiveSession()
    if active is not None:
        current = active.sparkContext.master
        if current != master:
            log.warning(
                "a Spark session on %s is already running; using it, not %s", current, master
            )
        return active
    builder = (
        SparkSession.builder.master(master)
        .appName("cxlib")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    if master.startswith("local"):
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config(
            "spark.driver.host", "127.0.0.1"
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    log.info("Spark session on %s", master)
    return session


@dataclass(frozen=True)
class SparkPath:
    """A file of a Spark source given by URI (``hdfs://…``); stands in for a local path in
    messages (``str``) and in the counts table (``name``)."""

    uri: str

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        name = self.name
        return name[name.rfind(".") :] if "." in name else ""

    def __str__(self) -> str:
        return mask_url(self.uri)


def _spark_rejects(lines: list[tuple[int, str]], delim: str, width: int) -> pd.DataFrame:
    """Rejects (``row_number``, ``raw_line``, ``reason``) from ``(data-row number, line)``,
    with the folder source's (DuckDB's) wording."""
    raw = [r[1].rstrip("\r\n") for r in lines]
    found = [len(next(csv.reader([line], delimiter=delim), [])) for line in raw]
    return pd.DataFrame(
        {
            "row_number": np.array([r[0] for r in lines], dtype="int64"),
            "raw_line": pd.Series(raw, dtype="str"),
            "reason": pd.Series(
                [f"malformed line: Expected Number of Columns: {width} Found: {n}" for n in found],
                dtype="str",
            ),
        }
    )


class SparkSource:
    """A folder of the contract files read by Spark through Ibis's pyspark backend.

    ``--data spark:<path>``: ``<path>`` is a local folder or any URI Spark's Hadoop file systems
    read (``hdfs://``, ``s3a://``, ``abfss://`` …); on a cluster it must be readable by every
    executor. Files are found as in :class:`FolderSource` (``<table>.csv`` / ``.parquet``,
    names matched ignoring case, config overrides); a Parquet table may also be a folder of
    part files as Spark writes it. CSV files are read with every column as text (lines that
    do not split into the header's columns become the same rejects as in the folder source),
    Parquet columns are cast to text, and the contract then types and quarantines them exactly
    as for a folder. Rows reach the contract in batches in file order (see
    :meth:`read_batches`), so the whole table's text is never in memory at once. ``suppress.csv`` in the folder is the suppression
    list.

    Parameters
    ----------
    location : str
        The folder or URI (without the ``spark:`` prefix).
    table_files : mapping, optional
        ``{table: file}`` overrides; relative names are taken from ``location``.
    master : str, optional
        Spark master URL (``local[4]``, ``spark://host:7077``, ``yarn`` …); default
        ``$CX_SPARK_MASTER``, else ``local[2]``. The session is only started when a table is
        read, so that a notebook reading the run's validated tables starts none.
    """

    kind = "spark"

    def __init__(
        self,
        location: str | os.PathLike,
        table_files: Mapping[str, str] | None = None,
        master: str | None = None,
    ):
        text = str(location)
        if text.lower().startswith(SPARK_PREFIX):
            text = text[len(SPARK_PREFIX) :]
        if not text:
            raise SourceError(
                "spark: names no folder. Fix: pass --data spark:<folder or URI>, e.g. "
                "spark:data/sample or spark:hdfs://namenode/cx/data."
            )
        self.master = master
        self.remote = is_url(text)  # file:// too: then read through Hadoop's file system API
        self.uri = text.rstrip("/") if self.remote else None
        self.path = None if self.remote else Path(text)
        self.location = SPARK_PREFIX + (mask_url(text) if self.remote else str(self.path))
        self._con = None
        self._delims: dict[str, str] = {}
        self._overrides = dict(table_files or {})
        self.files = self._discover()
        self._suppress = self._entry(SPARK_SUPPRESS_FILE)

    def __repr__(self) -> str:
        return f"SparkSource({self.location!r}, tables={sorted(self.files)})"

    # -- session and file system --------------------------------------------------------------

    @property
    def session(self) -> Any:
        return self.con._session

    @property
    def con(self) -> Any:
        """The Ibis pyspark connection (the Spark session starts on first use)."""
        if self._con is None:
            try:
                import ibis

                session = spark_session(self.master)
                self._con = ibis.pyspark.connect(session)
            except ImportError as exc:
                raise SourceError(
                    f"{self.location}: PySpark is not installed ({exc}). Fix: pip install -e "
                    "'.[spark]' (and a Java 17 runtime)."
                ) from None
            except Exception as exc:  # no Java, master unreachable …
                raise SourceError(
                    f"{self.location}: cannot start Spark ({first_line(exc)}). Fix: install a "
                    f"Java 17 runtime and check the master URL (config spark_master or "
                    f"${SPARK_MASTER_ENV})."
                ) from None
        return self._con

    def _hadoop_fs(self) -> tuple[Any, Any]:
        jvm = self.session._jvm
        root = jvm.org.apache.hadoop.fs.Path(self.uri)
        return jvm, root.getFileSystem(self.session._jsc.hadoopConfiguration())

    def _listing(self) -> list[tuple[str, Any, bool]]:
        """``(name, path, is_folder)`` of every entry of the folder."""
        if not self.remote:
            if not self.path.exists():
                raise SourceError(
                    f"{self.path}: data folder not found. Fix: pass --data spark:<folder> with "
                    "the folder that holds your tables (e.g. spark:data/sample)."
                )
            if not self.path.is_dir():
                raise SourceError(
                    f"{self.path}: --data spark:<path> must be a folder holding <table>.csv or "
                    "<table>.parquet files, not a file. Fix: pass the folder that contains it."
                )
            return [(p.name, p, p.is_dir()) for p in self.path.iterdir()]
        jvm, fs = self._hadoop_fs()
        root = jvm.org.apache.hadoop.fs.Path(self.uri)
        try:
            statuses = fs.listStatus(root)
        except Exception as exc:
            raise SourceError(
                f"{mask_url(self.uri)}: cannot be listed ({first_line(exc)}). Fix: check the URI "
                "and that this machine may read it."
            ) from None
        out = []
        for st in statuses:
            name = st.getPath().getName()
            out.append((name, SparkPath(f"{self.uri}/{name}"), bool(st.isDirectory())))
        return out

    def _entry(self, name: str) -> Any:
        hits = [p for n, p, folder in self._entries if n.lower() == name.lower() and not folder]
        return hits[0] if hits else None

    def _discover(self) -> dict[str, TableFile]:
        self._entries = self._listing()
        by_lower = {n.lower(): (p, folder) for n, p, folder in self._entries}
        found: dict[str, TableFile] = {}
        for table, name in self._overrides.items():
            if self.remote:
                p = SparkPath(name if is_url(name) else f"{self.uri}/{name}")
                jvm, fs = self._hadoop_fs()
                if not fs.exists(jvm.org.apache.hadoop.fs.Path(p.uri)):
                    raise SourceError(
                        f"{p}: file named for table '{table}' in the config does not exist. "
                        f"Fix: correct tables.{table}.file in the config."
                    )
                found[table] = TableFile(table, p)
                continue
            q = Path(name)
            q = q if q.is_absolute() else self.path / q
            if not q.exists():
                raise SourceError(
                    f"{q}: file named for table '{table}' in the config does not exist. Fix: "
                    f"correct tables.{table}.file in the config."
                )
            found[table] = TableFile(table, q)
        for table in TABLE_NAMES:
            if table in found:
                continue
            hits = [by_lower[table + s][0] for s in SUFFIXES if table + s in by_lower]
            if len(hits) > 1:
                where = mask_url(self.uri) if self.remote else self.path
                raise SourceError(
                    f"{where}: both {hits[0].name} and {hits[1].name} found for table "
                    f"'{table}'. Fix: keep only one of them."
                )
            if hits:
                found[table] = TableFile(table, hits[0])
        for tf in found.values():
            folder = (
                tf.path.is_dir()
                if not self.remote
                else by_lower.get(tf.path.name.lower(), (0, 0))[1]
            )
            if folder and tf.kind == "csv":
                raise _folder_instead_of_file(tf)
        return found

    def has(self, table: str) -> bool:
        return table in self.files

    # -- reading ------------------------------------------------------------------------------

    def _head(self, tf: TableFile) -> bytes:
        """The first line of a CSV file, as bytes; raises the empty-file error."""
        if not self.remote:
            if tf.path.stat().st_size == 0:
                raise self._empty(tf)
            with tf.path.open("rb") as fh:
                return fh.readline()
        jvm, fs = self._hadoop_fs()
        jpath = jvm.org.apache.hadoop.fs.Path(tf.path.uri)
        if fs.getFileStatus(jpath).getLen() == 0:
            raise self._empty(tf)
        rows = self.session.read.text(tf.path.uri, wholetext=False).limit(1).collect()
        return (rows[0][0] if rows else "").encode("utf-8") + b"\n"

    @staticmethod
    def _empty(tf: TableFile) -> SourceError:
        return SourceError(
            f"{tf.path}: file is empty (0 bytes). Fix: export the '{tf.table}' table again with "
            "a header row, or remove the file."
        )

    def _encoding(self, tf: TableFile, head: bytes) -> str:
        """UTF-8 when the file decodes as UTF-8, else Latin-1 (as the folder source decides).

        A URI is checked by Spark (``is_valid_utf8`` on every line, one scan)."""
        import codecs

        if self.remote:
            from pyspark.sql import functions as F

            try:
                head.decode("utf-8")
            except UnicodeDecodeError:
                return "ISO-8859-1"
            lines = self.session.read.text(tf.path.uri)
            if lines.filter(~F.is_valid_utf8("value")).limit(1).count():
                log.warning("%s is not UTF-8; read it as Latin-1", tf.path)
                return "ISO-8859-1"
            return "UTF-8"
        decoder = codecs.getincrementaldecoder("utf-8")()
        with tf.path.open("rb") as fh:
            try:
                for chunk in iter(lambda: fh.read(1 << 22), b""):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                log.warning("%s is not UTF-8; read it as Latin-1", tf.path)
                return "ISO-8859-1"
        return "UTF-8"

    def _frame(self, table: str) -> tuple[Any, list[str]]:
        """The Spark DataFrame of a table's file, every column text, and its column names; a
        CSV frame ends with the corrupt-record column."""
        from pyspark.sql.types import StringType, StructField, StructType

        tf = self.files[table]
        where = tf.path.uri if self.remote else str(tf.path.resolve())
        if tf.kind != "csv":
            t = self.con.read_parquet(where)
            cols = list(t.columns)
            expr = t.select(*[t[c].cast("string").name(c) for c in cols])
            return self.session.sql(str(self.con.compile(expr))), cols
        head = self._head(tf)
        encoding = self._encoding(tf, head)
        header = head.decode("utf-8" if encoding == "UTF-8" else "latin-1").lstrip("\ufeff")
        delim = max(DELIMITERS, key=header.count) if any(d in header for d in DELIMITERS) else ","
        names = next(csv.reader([header.rstrip("\r\n")], delimiter=delim), [])
        folded = [n.strip().lower() for n in names]
        dupes = sorted({n for n in folded if n and folded.count(n) > 1})
        if dupes:
            raise SourceError(
                f"{tf.path}: column '{dupes[0]}' appears more than once in the header (names are "
                "matched case-insensitively). Fix: rename or drop one of them."
            )
        self._delims[table] = delim
        fields = [StructField(f"_c{i}", StringType()) for i in range(len(names))]
        schema = StructType([*fields, StructField(_CORRUPT, StringType())])
        t = self.con.read_csv(
            where,
            header=True,
            inferSchema=False,
            schema=schema,
            sep=delim,
            quote='"',
            escape='"',  # RFC 4180 (and DuckDB): "" inside quotes is a quote, \ is literal
            encoding=encoding,
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=_CORRUPT,
            multiLine=False,
            enforceSchema=True,
        )
        frame = self.session.table(t.get_name())
        return frame, names

    def _stream(
        self, table: str, batch_rows: int, out: RawBatches | None = None
    ) -> Iterator[pd.DataFrame]:
        """Frames of accepted lines in file order; sets ``out.rejects`` and ``out.rows`` when
        the stream ends."""
        import itertools

        tf = self.files[table]
        try:
            frame, names = self._frame(table)
            rows = frame.toLocalIterator(prefetchPartitions=True)
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(
                f"{tf.path}: cannot be read as {tf.kind.upper()} by Spark ({first_line(exc)}). "
                "Fix: save it as UTF-8 or Latin-1 CSV with a header row and one record per line, "
                "or as Parquet."
            ) from None
        csv_kind = tf.kind == "csv"
        width = len(names)
        rejects: list[tuple[int, str]] = []
        line = 0  # data rows read so far
        first = True
        while True:
            chunk = list(itertools.islice(rows, batch_rows))
            if not chunk and not first:
                break
            first = False
            if csv_kind:
                good = []
                for i, r in enumerate(chunk, line + 1):
                    bad = r[width]
                    if bad is None:
                        good.append(r[:width])
                    else:
                        rejects.append((i, bad))
            else:
                good = chunk
            line += len(chunk)
            df = pd.DataFrame.from_records(good, columns=[f"_c{i}" for i in range(width)])
            df.columns = names
            if len(df):  # text columns as DuckDB gives them (an empty frame stays object)
                for c in names:
                    df[c] = df[c].astype("str")
            yield df
            if not chunk:
                break
        if out is not None:
            out.rejects = _spark_rejects(rejects, self._delims.get(table, ","), width)
            out.rows = line - len(rejects)

    def _staged(self, table: str, batch_rows: int) -> RawBatches:
        """Local master: Spark writes the text table (with its order) as Parquet into a private
        temporary folder, which DuckDB streams in file order (far faster than row-by-row
        collection); the folder is deleted when the batches are exhausted or closed."""
        import duckdb
        from pyspark.sql import functions as F

        tf = self.files[table]
        tmp = private_tempdir("cx-spark-")
        try:
            try:
                frame, names = self._frame(table)
                order = F.monotonically_increasing_id().alias("_cx_order")
                frame.select("*", order).write.parquet(str(tmp / "t"))
            except SourceError:
                raise
            except Exception as exc:
                raise SourceError(
                    f"{tf.path}: cannot be read as {tf.kind.upper()} by Spark "
                    f"({first_line(exc)}). Fix: save it as UTF-8 or Latin-1 CSV with a header "
                    "row and one record per line, or as Parquet."
                ) from None
            con = duckdb.connect(
                config={"threads": DUCKDB_THREADS, "memory_limit": duckdb_memory_limit()}
            )
            con.execute(f"SET temp_directory = '{(tmp / 'spill').as_posix()}'")
            con.execute("SET preserve_insertion_order = true")
            files = f"read_parquet('{(tmp / 't').as_posix()}/*.parquet')"
            cols = ", ".join(f'"_c{i}" AS "{i}"' for i in range(len(names)))
            if tf.kind != "csv":
                cols = ", ".join(f'"{n}" AS "{i}"' for i, n in enumerate(names))
                good = f"SELECT {cols} FROM {files} ORDER BY _cx_order"
                n = int(con.sql(f"SELECT count(*) FROM {files}").fetchone()[0])
                rejects = _no_rejects()
            else:
                # a line's data-row number: rows of the earlier partitions plus its place in
                # its own (monotonically_increasing_id = partition << 33 | row in partition)
                rej = con.sql(
                    f"WITH parts AS (SELECT _cx_order >> 33 AS part, count(*) AS rows "
                    f"FROM {files} GROUP BY part), offsets AS (SELECT part, coalesce(sum(rows) "
                    "OVER (ORDER BY part ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) "
                    f"AS before FROM parts) SELECT o.before + (f._cx_order & 8589934591) + 1, "
                    f"f.{_CORRUPT} FROM {files} f JOIN offsets o ON o.part = f._cx_order >> 33 "
                    f"WHERE f.{_CORRUPT} IS NOT NULL ORDER BY 1"
                ).fetchall()
                rejects = _spark_rejects(rej, self._delims[table], len(names))
                good = f"SELECT {cols} FROM {files} WHERE {_CORRUPT} IS NULL ORDER BY _cx_order"
                n = int(
                    con.sql(f"SELECT count(*) FROM {files} WHERE {_CORRUPT} IS NULL").fetchone()[0]
                )
            rel = con.sql(good)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

        def frames() -> Iterator[pd.DataFrame]:  # as FolderSource.read_batches yields them
            for chunk in _chunks(rel, batch_rows):
                chunk = chunk.copy(deep=False)
                chunk.columns = names
                yield chunk

        return RawBatches(frames(), rejects, n, batch_rows, cleanup=tmp)

    def _local_master(self) -> bool:
        """Whether Spark runs on this machine (its temporary files are then readable here)."""
        return str(self.session.sparkContext.master).startswith("local")

    def read_batches(self, table: str, batch_rows: int) -> RawBatches:
        """Read a table like :meth:`FolderSource.read_batches`: frames of at most
        ``batch_rows`` text rows in file order.

        With a local master Spark stages the text table as Parquet in a private temporary
        folder that DuckDB streams; with a cluster master rows are collected partition by
        partition (``toLocalIterator``) and ``rejects`` (lines that do not split into the
        header's columns) are known once the batches are exhausted.
        """
        if self._local_master():
            return self._staged(table, batch_rows)
        out = RawBatches(iter(()), _no_rejects(), 0, batch_rows)
        out._frames = self._stream(table, batch_rows, out)
        return out

    def read_raw(self, table: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Read a table's file with every column as text (see :meth:`FolderSource.read_raw`).

        Returns
        -------
        (rows, rejects)
            ``rows`` indexed by 1-based data-row number; ``rejects`` the malformed lines.
        """
        batches = self.read_batches(table, 1 << 62)
        frames = list(batches)
        df = pd.concat(frames) if len(frames) > 1 else frames[0]
        df.index = pd.Index(batches.row_numbers(np.arange(1, len(df) + 1)), name=None)
        return df, batches.rejects

    def suppression_list(self) -> pd.DataFrame | None:
        """``suppress.csv`` of the folder as text (``customer_id``, ``reason``), or None."""
        if self._suppress is None:
            return None
        if not self.remote:
            df = pd.read_csv(self._suppress, dtype="str", keep_default_na=False)
        else:
            df = (
                self.session.read.csv(self._suppress.uri, header=True, inferSchema=False)
                .toPandas()
                .fillna("")
            )
        df.attrs["source"] = str(self._suppress)
        return df

    def fingerprints(self) -> dict[str, dict[str, Any]]:
        """Per table: a local file's size and SHA-256 (as for a folder); a remote file's size,
        modification time and, when its file system gives one, checksum."""
        if not self.remote:
            out = {}
            for t, tf in sorted(self.files.items()):
                if tf.path.is_dir():  # a Parquet folder: each part file
                    parts = sorted(p for p in tf.path.rglob("*") if p.is_file())
                    out[t] = {"file": str(tf.path), "parts": [file_fingerprint(p) for p in parts]}
                else:
                    out[t] = file_fingerprint(tf.path)
            return out
        jvm, fs = self._hadoop_fs()
        out = {}
        for t, tf in sorted(self.files.items()):
            jpath = jvm.org.apache.hadoop.fs.Path(tf.path.uri)
            summary = fs.getContentSummary(jpath)
            st = fs.getFileStatus(jpath)
            checksum = None if st.isDirectory() else fs.getFileChecksum(jpath)
            out[t] = {
                "file": str(tf.path),
                "bytes": int(summary.getLength()),
                "modified_ms": int(st.getModificationTime()),
                "checksum": None if checksum is None else str(checksum.toString()),
            }
        return out
