"""The validated tables of a source (:class:`SourceData`) and the analysis date."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cxlib.engine import ROW_ORDER, Engine, is_table
from cxlib.sources import FolderSource

log = logging.getLogger(__name__)


@dataclass
class SourceData:
    """The validated tables of a source, with quarantine, counts and the resolved as-of date.

    Backend tables (``load_source(lazy=...)``) live on :attr:`engine`; :meth:`close` (or a
    ``with`` block) closes it and deletes their private folder at once.
    """

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
    as_of: Any = None
    """The :class:`cxlib.contract.AnalysisDate` behind ``as_of_date`` (where it comes from)."""
    _n_rows: dict[str, int] = field(default_factory=dict, repr=False)
    _lazy_store: Any = field(default=None, repr=False)  # the private folder (_load._LazyTables)

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
            if "customer_id" not in df.columns:  # reference data (products)
                continue
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
    """The analysis date: the parameter when given, else the last day of the transactions or
    events before a jump of the dates (rows far after the rest, such as past day/month swaps, do
    not move it; timestamps after today are ignored as errors), else today, as a day
    (:func:`cxlib.engine.analysis_day`). Data through the end of that day counts: rows before
    :func:`cxlib.engine.data_end` of it. Where the date comes from:
    :func:`cxlib.contract.analysis_date`."""
    from cxlib.contract._dates import analysis_date

    return analysis_date(tables, as_of_date, today=today).date
