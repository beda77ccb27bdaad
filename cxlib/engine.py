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

Ibis is imported only here and in the data layer. The analyses build their expressions with the
methods of tables and columns (``t.filter``, ``t.group_by(...).aggregate(...)``, ``col.max()``
…), which need no import; what would need the ``ibis`` module itself is a small set of functions
below, named by what they do for the analyses: typed constants (:func:`literal`,
:func:`timestamp_literal`), counts (:func:`row_count`, :func:`count_where`), windows
(:func:`window`, :func:`cumulative_window`, :func:`row_number`), :func:`coalesce`, exact money
(:func:`as_decimal`), small in-memory tables (:func:`in_memory_table`, :func:`ids_table_like`)
and :func:`backend_name`.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from cxlib.privacy import private_tempdir
from cxlib.threads import duckdb_threads

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = [
    "DUCKDB_MEMORY_ENV",
    "DUCKDB_MEMORY_LIMIT",
    "DUCKDB_THREADS",
    "ROW_ORDER",
    "Engine",
    "analysis_day",
    "as_decimal",
    "as_table",
    "backend_name",
    "backend_table",
    "coalesce",
    "count_where",
    "cumulative_window",
    "data_end",
    "duckdb_connection",
    "duckdb_memory_limit",
    "fetch_frame",
    "ids_table_like",
    "in_memory_table",
    "is_table",
    "literal",
    "row_count",
    "row_number",
    "timestamp_literal",
    "window",
]

ROW_ORDER = "cx_row_number"
"""Column of a backend table (:func:`backend_table`, :meth:`Engine.table`,
``load_source(lazy=...)``) holding each row's 0-based position among the accepted rows, i.e. the
index the pandas frame of the same table would have. It only orders rows (a backend table has no
row order of its own), so that "first row" rules give the pandas result exactly; analyses never
report it. A database table may carry it as its load order
(:data:`cxlib.sources.LOAD_ORDER_COLUMN`, the same name)."""

DUCKDB_THREADS = duckdb_threads()
"""DuckDB's threads when cxlib was imported (every CPU the process may use, or ``CX_THREADS``);
a connection reads :func:`cxlib.threads.duckdb_threads` when it is made, so a later
``CX_THREADS`` counts too."""
DUCKDB_MEMORY_LIMIT = "4GB"
"""The largest default of DuckDB's own memory cap for the notebooks' backend tables; beyond the
cap DuckDB spills to its temporary folder instead of growing (the scale issue's budget includes
pandas). At 1 M customers, churn with 4 GB peaked 0.8 GiB lower than with 6 GB and was not
slower (``benchmarks/RESULTS.md``). On a smaller machine the cap is
:data:`DUCKDB_MEMORY_SHARE` of its memory (:func:`duckdb_memory_limit`); ``CX_DUCKDB_MEMORY``
(e.g. ``12GB``) overrides both."""
DUCKDB_MEMORY_SHARE = 1 / 6
"""Share of the machine's memory (or of a container's memory limit) that DuckDB may hold by
default: 4 GB on the 24 GB machines of ``benchmarks/RESULTS.md``, 1.3 GB on an 8 GB laptop, where
the pandas side of a notebook needs the rest."""
DUCKDB_MEMORY_ENV = "CX_DUCKDB_MEMORY"
_CGROUP_MEMORY_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def machine_memory_bytes() -> int | None:
    """Memory this process may use: the machine's physical memory, or a container's lower
    limit (cgroup v2 or v1); None when neither can be read."""
    total = None
    try:
        total = int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
        pass
    for path in _CGROUP_MEMORY_FILES:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():  # "max" (cgroup v2) means no limit
            total = int(text) if total is None else min(total, int(text))
    return total


def duckdb_memory_limit() -> str:
    """DuckDB's memory cap: ``CX_DUCKDB_MEMORY`` when set, else :data:`DUCKDB_MEMORY_SHARE` of
    :func:`machine_memory_bytes`, at most :data:`DUCKDB_MEMORY_LIMIT` (and at least 256 MB).

    Returns
    -------
    str
        A DuckDB memory setting, e.g. ``"4000MB"``.
    """
    env = os.environ.get(DUCKDB_MEMORY_ENV, "").strip()
    if env:
        return env
    cap_mb = int(float(DUCKDB_MEMORY_LIMIT.removesuffix("GB")) * 1000)  # DuckDB's MB are 10**6
    total = machine_memory_bytes()
    if total:
        cap_mb = min(cap_mb, int(total * DUCKDB_MEMORY_SHARE / 1e6))
    return f"{max(cap_mb, 256)}MB"


def duckdb_connection(temp_directory: str | os.PathLike | None = None) -> Any:
    """A new embedded DuckDB connection through Ibis, with the library's thread and memory caps.

    ``temp_directory`` is where DuckDB spills when a query needs more than its memory cap. The
    connection runs on :func:`cxlib.threads.duckdb_threads` threads.
    """
    import ibis

    con = ibis.duckdb.connect(threads=duckdb_threads(), memory_limit=duckdb_memory_limit())
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
        """``obj`` as a table of the backend: an Ibis table as it is, a pandas frame (or an Arrow
        table) registered on :attr:`con` as a temporary table with :data:`ROW_ORDER` added, a
        path of a Parquet file as a view with its file row number as :data:`ROW_ORDER`.

        A frame's object columns that hold nothing but missing values (e.g. a ``channel`` of
        None) are registered as text: a DuckDB table cannot hold an untyped (NULL-typed) column.
        """
        if is_table(obj):
            return obj
        if isinstance(obj, pd.DataFrame):
            df = _typed(obj).reset_index(drop=True)
            if ROW_ORDER not in df.columns:
                df = df.assign(**{ROW_ORDER: np.arange(len(df), dtype="int64")})
            name = name or f"cx_frame_{uuid.uuid4().hex[:12]}"
            table = self.con.create_table(name, df, temp=True)
            self._temp_tables.append((self.con, name))
            return table
        if isinstance(obj, pa.Table):
            if ROW_ORDER not in obj.column_names:
                obj = obj.append_column(ROW_ORDER, pa.array(np.arange(obj.num_rows, dtype="int64")))
            name = name or f"cx_arrow_{uuid.uuid4().hex[:12]}"
            table = self.con.create_table(name, obj, temp=True)
            self._temp_tables.append((self.con, name))
            return table
        if isinstance(obj, (str, os.PathLike)):
            path = Path(obj).as_posix()
            view = name or f"cx_file_{uuid.uuid4().hex[:12]}"
            _parquet_view(self.con, view, path)
            return self.con.table(view)
        raise TypeError(
            f"expected a pandas DataFrame, an Arrow table, an Ibis table or a Parquet path, "
            f"not {obj!r}"
        )

    # -- temporary tables ---------------------------------------------------------------------
    def keep(self, expr: Any, prefix: str = "cx_kept") -> Any:
        """``expr`` computed once into a temporary table of its own backend, dropped at
        :meth:`close`; on a backend without temporary tables (Spark) Ibis's ``cache()``.

        A failure is retried once after running ``expr`` for no rows: PySpark's ``cache()`` does
        not register the in-memory tables an expression reads (e.g. a master map of
        :func:`cxlib.segment.to_people`, see :func:`in_memory_table`); any execution does. A real
        error is raised again.
        """
        try:
            return self._keep(expr, prefix)
        except Exception:  # noqa: BLE001 - retried once; a real error is raised again
            expr.limit(0).to_pyarrow()
            return self._keep(expr, prefix)

    def _keep(self, expr: Any, prefix: str) -> Any:
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


@contextmanager
def engine_for(obj: Any, engine: Engine | None) -> Iterator[Engine | None]:
    """The engine a call uses: ``engine``; else, when ``obj`` is a pandas frame, an engine opened
    for the call (closed at the end of the ``with`` block); else None (an Ibis table needs none)."""
    if engine is not None or obj is None or is_table(obj):
        yield engine
        return
    with Engine() as local:
        yield local


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its all-missing object columns as text (see :meth:`Engine.table`)."""
    untyped = [c for c in frame.columns if frame[c].dtype == object and frame[c].isna().all()]
    return frame.astype(dict.fromkeys(untyped, "str")) if untyped else frame


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


# --------------------------------------------------------------------------------------------
# Expression helpers: what the analyses' expressions need from the ``ibis`` module itself
# --------------------------------------------------------------------------------------------


def literal(value: Any, type: str | None = None) -> Any:  # noqa: A002 - Ibis's own name
    """A constant as a backend expression (e.g. a flag that is False on every row, or an
    amount of 0.0 where a table has no amount column).

    Parameters
    ----------
    value : scalar
        The constant.
    type : str, optional
        Its backend type (e.g. ``"int64"``); default the type Ibis infers from ``value``.

    Returns
    -------
    ibis Scalar
    """
    import ibis

    return ibis.literal(value) if type is None else ibis.literal(value, type=type)


def timestamp_literal(value: Any) -> Any:
    """A date-like as a timestamp constant, for comparisons with a timestamp column
    (``t.timestamp < timestamp_literal(data_end(as_of_date))``).

    Parameters
    ----------
    value : date-like
        Anything :class:`pandas.Timestamp` reads; compared at its full time of day.

    Returns
    -------
    ibis TimestampScalar
    """
    import ibis

    return ibis.literal(pd.Timestamp(value).to_pydatetime(), type="timestamp")


def row_count() -> Any:
    """The number of rows of each group, for ``t.group_by(...).aggregate(n=row_count())``.

    Returns
    -------
    ibis Deferred
        Counts the rows of the table being aggregated (``COUNT(*)``).
    """
    import ibis

    return ibis._.count()


def count_where(condition: Any) -> Any:
    """The number of rows where a boolean expression is True, as an aggregate
    (``SUM(CASE WHEN condition THEN 1 ELSE 0 END)``; a missing condition counts as not True).

    Parameters
    ----------
    condition : ibis BooleanValue
        A boolean column expression.

    Returns
    -------
    ibis IntegerScalar
    """
    import ibis

    return ibis.ifelse(condition, 1, 0).sum()


def window(group_by: Any = None, order_by: Any = None) -> Any:
    """A window over the rows of each group in order, for ``expr.over(window(...))``
    (e.g. ``col.lag().over(window(group_by=t.customer_id, order_by=t.day))``).

    Parameters
    ----------
    group_by : column expression or list of them, optional
        The groups (``PARTITION BY``); default the whole table.
    order_by : column expression or list of them, optional
        The order of rows within a group (``ORDER BY``).

    Returns
    -------
    ibis window builder
    """
    import ibis

    return ibis.window(group_by=group_by, order_by=order_by)


def cumulative_window(order_by: Any) -> Any:
    """A window from the first row through the current one in ``order_by`` order, for running
    totals (``col.sum().over(cumulative_window(order_by=t.value))``).

    Parameters
    ----------
    order_by : column expression or list of them
        The order of the rows.

    Returns
    -------
    ibis window builder
    """
    import ibis

    return ibis.cumulative_window(order_by=order_by)


def row_number() -> Any:
    """Each row's 0-based position in a window, for ``row_number().over(window(...))`` or
    ``row_number().over(order_by=...)``.

    Returns
    -------
    ibis IntegerColumn
    """
    import ibis

    return ibis.row_number()


def coalesce(*values: Any) -> Any:
    """The first non-missing of ``values`` on each row (``COALESCE``).

    Parameters
    ----------
    *values : column expressions or constants
        Candidates in order of preference, of compatible types.

    Returns
    -------
    ibis Value
    """
    import ibis

    return ibis.coalesce(*values)


def as_decimal(value: Any, scale: int) -> Any:
    """A numeric column as ``DECIMAL(38, scale)``: summed exactly, the same bits in any row order
    (see :data:`cxlib.features.SUM_DECIMALS`).

    Parameters
    ----------
    value : ibis NumericValue
        The column (e.g. an amount).
    scale : int
        Decimal places kept.

    Returns
    -------
    ibis DecimalValue
    """
    import ibis.expr.datatypes as dt

    return value.cast(dt.Decimal(38, scale))


def in_memory_table(frame: pd.DataFrame) -> Any:
    """A small pandas frame (a map of ids, a list of known ids) as a table expression to join
    with backend tables.

    The frame is sent to the backend of the table it is joined with when the expression runs
    (DuckDB, PostgreSQL, PySpark); :meth:`Engine.keep` runs an expression once before caching it
    on PySpark, whose ``cache()`` does not send it.

    Parameters
    ----------
    frame : DataFrame
        Its columns and dtypes become the table's.

    Returns
    -------
    ibis Table
    """
    import ibis

    return ibis.memtable(frame)


def ids_table_like(table: Any, values: Any, column: str = "_cx_id") -> Any:
    """Ids as a one-column text table to (semi-/anti-)join with ``table`` in ``table``'s backend
    (e.g. ``table.semi_join(ids, table.customer_id.cast("string") == ids._cx_id)``).

    It is an :func:`in_memory_table`: sent to ``table``'s backend when the join runs, so it works
    with a DuckDB, PostgreSQL or PySpark table alike.

    Parameters
    ----------
    table : ibis Table
        The backend table the ids are joined with.
    values : array-like
        The ids (read as text), in the order and with the repeats given.
    column : str
        The column's name.

    Returns
    -------
    ibis Table
    """
    if not is_table(table):
        raise TypeError(f"expected a backend (Ibis) table, not {type(table).__name__}")
    return in_memory_table(pd.DataFrame({column: pd.Series(values, dtype="str")}))


def backend_name(expr: Any) -> str:
    """The name of the backend an expression runs on (``"duckdb"``, ``"postgres"``,
    ``"pyspark"`` …).

    Parameters
    ----------
    expr : ibis Expr
        A table or column expression bound to one backend.

    Returns
    -------
    str
    """
    import ibis

    return ibis.get_backend(expr).name
