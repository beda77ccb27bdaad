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
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from cxlib.sources import ROW_ORDER, duckdb_connection

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["ROW_ORDER", "Engine", "analysis_day", "as_table", "data_end", "is_table"]


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
        Where DuckDB spills when a query needs more than its memory cap.

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
            self._con = duckdb_connection(temp_directory=self._temp_directory)
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
            self.con.raw_sql(
                f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * EXCLUDE (file_row_number), '
                f"file_row_number::BIGINT AS {ROW_ORDER} FROM read_parquet('{path}', "
                f"file_row_number = true)"
            )
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
    try:
        return table.get_name()
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
