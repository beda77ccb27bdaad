"""Where tables come from: one reading layer over Ibis (embedded DuckDB by default).

A *source* is a folder holding any of the contract tables as ``<name>.csv`` or
``<name>.parquet`` (file names matched case-insensitively; the config may name another file).
CSV files are read with every column as text so that a malformed value never stops the read:
the contract (:mod:`cxlib.contract`) then types each column and quarantines what it cannot read.
Input files are only ever opened for reading.

The package's modules:

- ``_common``: the table names, :class:`SourceError`, a table's file and its fingerprint;
- ``_folder``: :class:`FolderSource` (CSV/Parquet files on an embedded DuckDB);
- ``_batches``: :class:`RawBatches`, a table read in batches of text rows;
- ``_locations``: folders, URLs (passwords masked or stripped) and ``spark:`` locations;
- ``_postgres``: :class:`PostgresSource`;
- ``_spark``: :class:`SparkSource`;
- ``_open``: :func:`open_source`.

The DuckDB connection helpers and the row-order column live in :mod:`cxlib.engine`
(:func:`~cxlib.engine.duckdb_connection`, :data:`~cxlib.engine.ROW_ORDER`,
:func:`~cxlib.engine.backend_table`, :func:`~cxlib.engine.fetch_frame`,
:func:`~cxlib.engine.is_table`), the private temporary folders in :mod:`cxlib.privacy`
(:func:`~cxlib.privacy.private_tempdir`, :func:`~cxlib.privacy.sweep_private_tempdirs`); both are
re-exported here for the modules that import them from this package.
"""

from __future__ import annotations

from cxlib.engine import (
    DUCKDB_MEMORY_ENV,
    DUCKDB_MEMORY_LIMIT,
    DUCKDB_THREADS,
    ROW_ORDER,
    backend_table,
    duckdb_connection,
    duckdb_memory_limit,
    fetch_frame,
    is_table,
)
from cxlib.privacy import (
    OWNER_MARKER,
    PRIVATE_PREFIXES,
    private_tempdir,
    sweep_private_tempdirs,
)
from cxlib.sources._batches import RawBatches, read_batches
from cxlib.sources._common import (
    DELIMITERS,
    SUFFIXES,
    TABLE_NAMES,
    SourceError,
    TableFile,
    file_fingerprint,
    first_line,
    raise_if_interrupted,
)
from cxlib.sources._folder import FolderSource
from cxlib.sources._locations import (
    SPARK_PREFIX,
    export_password,
    is_spark,
    is_url,
    mask_url,
    notebook_location,
    source_label,
    spark_location,
    strip_password,
)
from cxlib.sources._open import open_source
from cxlib.sources._postgres import (
    LOAD_ORDER_COLUMN,
    PG_CONNECT_TIMEOUT_S,
    PG_SCHEMES,
    SUPPRESS_RELATION,
    PostgresSource,
    PostgresURL,
    RelationPath,
    TableRelation,
)
from cxlib.sources._spark import (
    SPARK_DEFAULT_MASTER,
    SPARK_MASTER_ENV,
    SPARK_SUPPRESS_FILE,
    SparkPath,
    SparkSource,
    spark_session,
)

__all__ = [
    "DELIMITERS",
    "DUCKDB_MEMORY_ENV",
    "DUCKDB_MEMORY_LIMIT",
    "DUCKDB_THREADS",
    "LOAD_ORDER_COLUMN",
    "OWNER_MARKER",
    "PG_CONNECT_TIMEOUT_S",
    "PG_SCHEMES",
    "PRIVATE_PREFIXES",
    "ROW_ORDER",
    "SPARK_DEFAULT_MASTER",
    "SPARK_MASTER_ENV",
    "SPARK_PREFIX",
    "SPARK_SUPPRESS_FILE",
    "SUFFIXES",
    "SUPPRESS_RELATION",
    "TABLE_NAMES",
    "FolderSource",
    "PostgresSource",
    "PostgresURL",
    "RawBatches",
    "RelationPath",
    "SourceError",
    "SparkPath",
    "SparkSource",
    "TableFile",
    "TableRelation",
    "backend_table",
    "duckdb_connection",
    "duckdb_memory_limit",
    "export_password",
    "fetch_frame",
    "file_fingerprint",
    "first_line",
    "is_spark",
    "is_table",
    "is_url",
    "mask_url",
    "notebook_location",
    "open_source",
    "private_tempdir",
    "raise_if_interrupted",
    "read_batches",
    "source_label",
    "spark_location",
    "spark_session",
    "strip_password",
    "sweep_private_tempdirs",
]
