"""The one engine: the embedded DuckDB connection, run-scoped temporary tables and caches.

Every event-level analysis (transactions, events) is written once, as Ibis expressions. An
:class:`Engine` owns what those expressions need beyond the data itself:

- the connection (an embedded DuckDB with the library's thread and memory caps, created on first
  use, or a connection it is handed, e.g. a PostgreSQL source's);
- the temporary tables the analyses keep (:meth:`Engine.keep`), dropped at :meth:`Engine.close`;
- run-scoped caches of intermediate results keyed by the table they were computed from
  (:meth:`Engine.cached`: prepared purchases, purchase days …), cleared at close.

It is a context manager and is closed deterministically; nothing is kept at module level.

Two helpers answer the two questions every analysis asks:

- :func:`as_table` — "is this a table in the backend / make it one": an Ibis table is returned as
  it is, a pandas frame from a user is registered on the engine's connection (with the
  :data:`ROW_ORDER` column giving its row positions), so both take the same path.
- :func:`data_end` — the analysis-date cut-off: data through the end of ``as_of_date`` counts,
  i.e. every timestamp strictly before the returned instant.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from cxlib.privacy import private_tempdir

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = [
    "DUCKDB_MEMORY_ENV",
    "DUCKDB_MEMORY_LIMIT",
    "DUCKDB_THREADS",
    "ROW_ORDER",
    "Engine",
    "analysis_day",
    "as_table",
    "backend_table",
    "data_end",
    "duckdb_connection",
    "duckdb_memory_limit",
    "fetch_frame",
    "is_table",
]

ROW_ORDER = "cx_row_number"
"""Column of a backend table (:func:`backend_table`, :meth:`Engine.table`,
``load_source(lazy=...)``) holding each row's 0-based position among the accepted rows, i.e. the
index the pandas frame of the same table would have. It only orders rows (a backend table has no
row order of its own), so that "first row" rules give the pandas result exactly; analyses never
report it. A database table may carry it as its load order
(:data:`cxlib.sources.LOAD_ORDER_COLUMN`, the same name)."""

DUCKDB_THREADS = 2
DUCKDB_MEMORY_LIMIT = "4GB"
"""DuckDB's own memory cap for the notebooks' backend tables; beyond it DuckDB spills to its
temporary folder instead of growing (the scale issue's 10 GB budget includes pandas). At 1 M
customers, churn with 4 GB peaked 0.8 GiB lower than with 6 GB and was not slower
(``benchmarks/RESULTS.md``). ``CX_DUCKDB_MEMORY`` (e.g. ``12GB``) overrides it."""
DUCKDB_MEMORY_ENV = "CX_DUCKDB_MEMORY"


def duckdb_memory_limit() -> str:
    """DuckDB's memory cap: ``CX_DUCKDB_MEMORY`` when set, else :data:`DUCKDB_MEMORY_LIMIT`."""
    return os.environ.get(DUCKDB_MEMORY_ENV, "").strip() or DUCKDB_MEMORY_LIMIT


def duckdb_connection(temp_directory: str | os.PathLike | None = None) -> Any:
    """A new embedded DuckDB connection through Ibis, with the library's thread and memory caps.

    ``temp_directory`` is where DuckDB spills when a query needs more than its memory cap.
    """
    import ibis

    con = ibis.duckdb.connect(threads=DUCKDB_THREADS, memory_limit=duckdb_memory_limit())
    if temp_directory is not None:
        con.raw_sql(f"SET temp_directory = '{Path(temp_directory).as_posix()}'")
    con.raw_sql("SET preserve_insertion_order = true")
    # DuckDB's progress bar is left alone: in a Jupyter kernel without ipywidgets, setting it
    # raises (9d52de1); it only shows for long queries on a terminal.
    return con


def fetch_frame(expr: Any) -> pd.DataFrame:
    """The rows of a backend (Ibis) table expression as a pandas frame, converted through Arrow.

    Ibis's ``to_pandas`` turns each column that holds a null into Python objects one value at a
    time, which takes tens of seconds for a million customers' aggregates; Arrow's conversion
    keeps numbers in NumPy arrays (NaN for a null; an integer column with nulls becomes
    float64) and text as pandas strings. Use it for customer-level aggregates whose numbers the
    caller converts anyway (``pd.to_numeric(...).fillna(...)``).
    """
    return expr.to_pyarrow().to_pandas()


def backend_table(
    frame: pd.DataFrame | str | os.PathLike, *, con: Any = None, name: str | None = None
) -> Any:
    """An Ibis table on DuckDB holding ``frame`` (or a Parquet file of accepted rows) with the
    :data:`ROW_ORDER` column added.

    Parameters
    ----------
    frame : DataFrame or path
        A typed contract table as :func:`cxlib.contract.load_source` returns it (its row
        positions become :data:`ROW_ORDER`), or the path of a Parquet file of such a table
        (rows numbered in file order; the file is read lazily, never into pandas).
    con : Ibis DuckDB connection, optional
        Default: a new :func:`duckdb_connection`.
    name : str, optional
        Name of the view/table in the connection.

    Returns
    -------
    ibis Table
    """
    con = duckdb_connection() if con is None else con
    if isinstance(frame, pd.DataFrame):
        df = frame.reset_index(drop=True)
        df.insert(len(df.columns), ROW_ORDER, np.arange(len(df), dtype="int64"))
        return con.create_table(name or f"cx_{id(df)}", df, temp=True)
    path = Path(frame).as_posix()
    view = name or f"cx_{abs(hash(path))}"
    _parquet_view(con, view, path)
    return con.table(view)


def _parquet_view(con: Any, view: str, path: str) -> None:
    """A temporary view of a Parquet file with its file row number as :data:`ROW_ORDER`."""
    con.raw_sql(
        f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * EXCLUDE (file_row_number), '
        f"file_row_number::BIGINT AS {ROW_ORDER} FROM read_parquet('{path}', "
        f"file_row_number = true)"
    )


def is_table(obj: Any) -> bool:
    """Whether ``obj`` is an Ibis table expression (checked without importing Ibis for pandas)."""
    if isinstance(obj, pd.DataFrame) or not type(obj).__module__.startswith("ibis."):
        return False
    import ibis.expr.types as ir

    return isinstance(obj, ir.Table)


def data_end(as_of_date: Any) -> pd.Timestamp:
    """The exclusive end of the data an analysis at ``as_of_date`` may use.

    Data through the end of the analysis day counts: a row is used when its timestamp is
    strictly before the returned instant (midnight after ``as_of_date``).

    Parameters
    ----------
    as_of_date : date-like
        The analysis date (a time of day is ignored).

    Returns
    -------
    pandas.Timestamp
        ``as_of_date`` normalised to midnight, plus one day.
    """
    return analysis_day(as_of_date) + pd.Timedelta(days=1)


def analysis_day(as_of_date: Any) -> pd.Timestamp:
    """``as_of_date`` as a day (midnight): the one place a date-like becomes the analysis day."""
    return pd.Timestamp(as_of_date).normalize()


class Engine:
    """Owner of the backend connection, the temporary tables and the caches of one run.

    Parameters
    ----------
    con : Ibis backend, optional
        A connection to use instead of a new embedded DuckDB (it is not closed by the engine).
    temp_directory : path, optional
        Where DuckDB spills when a query needs more than its memory cap. Default: a private
        temporary folder of its own (:func:`cxlib.privacy.private_tempdir`, ``cx-backend-``),
        made with the connection and deleted at :meth:`close` (or, if the engine is never
        closed, when it is garbage-collected or the process exits): spilled rows hold personal
        data.

    Examples
    --------
    >>> with Engine() as engine:                                   # doctest: +SKIP
    ...     tx = engine.table(transactions_frame)
    ...     features = customer_features(tx, "2024-12-31", engine=engine)
    """

    def __init__(self, con: Any = None, *, temp_directory: str | os.PathLike | None = None):
        self._con = con
        self._owns_con = con is None
        self._temp_directory = temp_directory
        self._spill: Any = None  # finalizer of an own private spill folder
        self._temp_tables: list[tuple[Any, str]] = []
        self._cache: dict[tuple[int, str], tuple[Any, Any]] = {}
        self.closed = False

    # -- connection ---------------------------------------------------------------------------
    @property
    def con(self) -> Any:
        """The backend connection (an embedded DuckDB, created on first use)."""
        if self.closed:
            raise RuntimeError("this Engine is closed")
        if self._con is None:
            temp = self._temp_directory
            if temp is None:  # never DuckDB's default (.tmp in the working directory)
                temp = private_tempdir("cx-backend-")
                self._spill = weakref.finalize(self, shutil.rmtree, str(temp), True)
            self._con = duckdb_connection(temp_directory=temp)
        return self._con

    def table(self, obj: Any, *, name: str | None = None) -> Any:
        """``obj`` as a table of the backend: an Ibis table as it is, a pandas frame registered
        on :attr:`con` as a temporary table with :data:`ROW_ORDER` added, a path of a Parquet
        file as a view with its file row number as :data:`ROW_ORDER`."""
        if is_table(obj):
            return obj
        if isinstance(obj, pd.DataFrame):
            df = obj.reset_index(drop=True)
            if ROW_ORDER not in df.columns:
                df = df.assign(**{ROW_ORDER: np.arange(len(df), dtype="int64")})
            name = name or f"cx_frame_{uuid.uuid4().hex[:12]}"
            table = self.con.create_table(name, df, temp=True)
            self._temp_tables.append((self.con, name))
            return table
        if isinstance(obj, (str, os.PathLike)):
            path = Path(obj).as_posix()
            view = name or f"cx_file_{uuid.uuid4().hex[:12]}"
            _parquet_view(self.con, view, path)
            return self.con.table(view)
        raise TypeError(
            f"expected a pandas DataFrame, an Ibis table or a Parquet path, not {obj!r}"
        )

    # -- temporary tables ---------------------------------------------------------------------
    def keep(self, expr: Any, prefix: str = "cx_kept") -> Any:
        """``expr`` computed once into a temporary table of its own backend, dropped at
        :meth:`close`; on a backend without temporary tables (Spark) Ibis's ``cache()``."""
        import ibis

        con = ibis.get_backend(expr)
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        try:
            table = con.create_table(name, expr, temp=True)
        except Exception:  # noqa: BLE001 - a backend without temporary tables (Spark)
            cached = expr.cache()
            self._temp_tables.append((None, cached))
            return cached
        self._temp_tables.append((con, name))
        return table

    def drop(self, table: Any) -> None:
        """Drop a table made by :meth:`keep` or :meth:`table` before :meth:`close`."""
        for i, (con, name) in enumerate(self._temp_tables):
            if name is table or (con is not None and _table_name(table) == name):
                _drop_quietly(con, name)
                del self._temp_tables[i]
                return

    # -- caches -------------------------------------------------------------------------------
    def cached(self, key: Any, kind: str, build: Callable[[], T]) -> T:
        """``build()`` computed once per ``key`` object (e.g. a table expression) and ``kind``
        for the life of the engine. The key is held, so its identity cannot be reused."""
        slot = (id(key), kind)
        hit = self._cache.get(slot)
        if hit is not None and hit[0] is key:
            return hit[1]
        value = build()
        self._cache[slot] = (key, value)
        return value

    # -- life cycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Drop the temporary tables, clear the caches and close an own connection."""
        if self.closed:
            return
        self._cache.clear()
        for con, name in reversed(self._temp_tables):
            _drop_quietly(con, name)
        self._temp_tables.clear()
        if self._owns_con and self._con is not None:
            try:
                self._con.disconnect()
            except Exception:  # noqa: BLE001 - already gone (e.g. at interpreter exit)
                log.debug("engine: connection already closed")
        self._con = None
        if self._spill is not None:
            self._spill()  # deletes the private spill folder (once)
        self.closed = True

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def as_table(obj: Any, engine: Engine | None = None) -> Any:
    """``obj`` as a backend table: an Ibis table as it is; a pandas frame registered on
    ``engine`` (see :meth:`Engine.table`). A frame needs an engine: the caller owns it."""
    if is_table(obj):
        return obj
    if engine is None:
        raise TypeError("a pandas frame needs an Engine to become a backend table")
    return engine.table(obj)


def _table_name(table: Any) -> str | None:
    """A table's bare name (DuckDB names a temporary table ``temp.main.<name>``)."""
    try:
        return str(table.get_name()).split(".")[-1]
    except Exception:  # noqa: BLE001 - not a named table
        return None


def _drop_quietly(con: Any, name: Any) -> None:
    """Drop a temporary table (or release an Ibis cache) unless its connection is gone."""
    try:
        if con is None:
            name.release()
        else:
            con.drop_table(name, force=True)
    except Exception:  # noqa: BLE001 - the connection (and its temporary tables) is gone
        pass
