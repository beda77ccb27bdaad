"""Reading and validating the contract tables of a source (:func:`load_source`), with the
run's validated copies and the backend (Ibis) tables of ``lazy=...``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import weakref
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cxlib.contract._dates import analysis_date
from cxlib.contract._source_data import SourceData
from cxlib.contract._spec import TABLES, ContractError
from cxlib.contract._suppression import SUPPRESS_FILE, apply_suppression
from cxlib.contract._validate import BATCH_ROWS, TableResult, validate_batches
from cxlib.engine import Engine
from cxlib.privacy import write_export
from cxlib.sources import (
    TABLE_NAMES,
    SourceError,
    open_source,
    private_tempdir,
    read_batches,
    sweep_private_tempdirs,
)

log = logging.getLogger(__name__)


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
        delimiters = {
            t: c["delimiter"]
            for t, c in table_cfg.items()
            if isinstance(c, Mapping) and c.get("delimiter")
        }
        source = open_source(
            data_dir, files, spark_master=config.get("spark_master"), delimiters=delimiters
        )
    except SourceError as exc:
        raise ContractError(str(exc)) from None
    wanted = list(tables) if tables is not None else list(TABLE_NAMES)
    unknown = [t for t in wanted if t not in TABLES]
    if unknown:
        raise ValueError(f"unknown table(s) {unknown}; contract tables are {list(TABLES)}")
    cached = _validated_dir(config)
    lazy = [t for t in lazy if t in wanted]
    backend = _LazyTables(cached) if lazy else None
    try:
        out, quarantine, rows = _read_tables(
            source,
            wanted,
            _ReadOptions(config, cached, lazy, backend, quarantine_dir, batch_rows, save_validated),
        )
        counts = pd.DataFrame(
            rows, columns=["table", "file", "read_rows", "accepted_rows", "quarantined_rows"]
        )
        out, suppressed = _suppress(source, data_dir, out)
        as_of = analysis_date(out, as_of_date)
        data = SourceData(source, out, quarantine, counts, as_of.date, config, suppressed)
        data.as_of = as_of
        if backend is not None:
            data.engine = backend.engine
            data._lazy_store = backend  # keeps the private Parquet copies until data is closed
        return data
    except BaseException:
        if backend is not None:  # nothing of the private folder outlives a failed load
            backend.close()
        raise


@dataclass(frozen=True)
class _ReadOptions:
    """How :func:`load_source` reads each table (see its parameters)."""

    config: dict[str, Any]
    cached: Path | None
    lazy: list[str]
    backend: _LazyTables | None
    quarantine_dir: str | os.PathLike | None
    batch_rows: int
    save_validated: str | os.PathLike | None


def _read_tables(
    source: Any, wanted: list[str], opts: _ReadOptions
) -> tuple[dict[str, Any], dict[str, pd.DataFrame], list[dict[str, Any]]]:
    """Every wanted table of ``source``: validated tables, quarantines and count rows.

    The validated Parquet files are written on a second thread (Arrow encodes them mostly
    outside the GIL) while the next table is typed; all are written before this returns."""
    out: dict[str, Any] = {}
    quarantine: dict[str, pd.DataFrame] = {}
    rows: list[dict[str, Any]] = []
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cx-validated")
    writes: list[Future] = []
    try:
        for name in wanted:
            if not source.has(name):
                continue
            if opts.cached is not None and (opts.cached / f"{name}.json").is_file():
                out[name], quarantine[name], row = _read_saved(name, opts)
            else:
                res = _validate(source, name, opts)
                row = {
                    "table": name,
                    "file": source.files[name].path.name,
                    "read_rows": res.read_rows,
                    "accepted_rows": res.accepted_rows,
                    "quarantined_rows": res.quarantined_rows,
                }
                if opts.save_validated is not None:  # written while the next table is typed
                    folder = Path(opts.save_validated)
                    writes.append(
                        writer.submit(_write_validated, folder, name, res.data, res.quarantine, row)
                    )
                lazy = name in opts.lazy
                out[name] = opts.backend.from_frame(res.data, name) if lazy else res.data
                quarantine[name] = res.quarantine
                del res
            rows.append(row)
            if opts.quarantine_dir is not None and len(quarantine[name]):
                write_export(quarantine[name], Path(opts.quarantine_dir) / f"{name}.csv")
    finally:
        writer.shutdown(wait=True)
    for done in writes:
        done.result()  # re-raises a failed write
    return out, quarantine, rows


def _read_saved(name: str, opts: _ReadOptions) -> tuple[Any, pd.DataFrame, dict]:
    """A table from the run's validated folder (a backend table when lazy)."""
    if name in opts.lazy:
        _, quarantine, row = _read_validated(opts.cached, name, lazy=True)
        return opts.backend.table(opts.cached / f"{name}.parquet", name), quarantine, row
    return _read_validated(opts.cached, name)


def _validate(source: Any, name: str, opts: _ReadOptions) -> TableResult:
    """Read a table's file in batches and apply the contract to it."""
    path = source.files[name].path
    try:
        batches = read_batches(source, name, opts.batch_rows)
    except SourceError as exc:
        raise ContractError(str(exc), file=str(path)) from None
    table_cfg = opts.config.get("tables", {}) or {}
    try:
        return validate_batches(
            batches,
            name,
            file=str(path),
            table_config=table_cfg.get(name, {}),
            prefix_ids=bool(opts.config.get("prefix_ids_by_source_system")),
        )
    finally:
        batches.close()


def _suppress(
    source: Any, data_dir: str | os.PathLike, out: dict[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The tables without the customers on the suppression list (a database source's
    ``suppress`` table, else the folder's ``suppress.csv``), and the summary per reason."""
    suppressed = pd.DataFrame(columns=["reason", "customers", "rows_removed"])
    db_list = getattr(source, "suppression_list", None)  # database sources: a `suppress` table
    if db_list is not None:
        try:
            lst = db_list()
        except SourceError as exc:
            raise ContractError(str(exc)) from None
        if lst is not None:
            return apply_suppression(out, lst)
    elif (Path(data_dir) / SUPPRESS_FILE).is_file():
        return apply_suppression(out, Path(data_dir) / SUPPRESS_FILE)
    return out, suppressed


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
