"""The data contract: which tables and columns cxlib reads, their types, and what happens to bad input.

See ``docs/data-contract.md`` for the user-facing description. In short:

- column names are matched case-insensitively; the config can rename the user's columns;
- a missing required column, an unreadable or empty file stops the run with one
  :class:`ContractError` naming the file, the column and the fix (the CLI exits with code 2);
- a row whose value cannot be read as its column's type (an unparseable date, a non-numeric
  amount, a missing key) is *quarantined*: left out of the analysis and written with a ``reason``
  to ``<run>/quarantine/<table>.csv``. For every table, read = accepted + quarantined;
- accepted rows are validated with pandera schemas (:func:`schema`).

The package's modules:

- ``_spec``: the tables and columns (:data:`TABLES`), :class:`ContractError`, :func:`schema`;
- ``_typing``: typing one column of text (values and the values that could not be read);
- ``_validate``: :func:`validate_table` and :func:`validate_batches` (accepted and quarantined
  rows);
- ``_source_data``: :class:`SourceData` (the validated tables of a source, closed with
  :meth:`SourceData.close` or as a context manager) and :func:`resolve_as_of_date`;
- ``_load``: :func:`load_source`;
- ``_suppression``: the suppression list.
"""

from __future__ import annotations

from cxlib.contract._dates import (
    ORIGIN_BEFORE_GAP,
    ORIGIN_LATEST,
    ORIGIN_PARAMETER,
    ORIGIN_TODAY,
    AnalysisDate,
    analysis_date,
    data_span,
)
from cxlib.contract._load import VALIDATED_KEY, load_source
from cxlib.contract._source_data import SourceData, resolve_as_of_date
from cxlib.contract._spec import TABLES, Column, ContractError, TableSpec, schema
from cxlib.contract._suppression import SUPPRESS_FILE, apply_suppression, read_suppression_list
from cxlib.contract._typing import _to_number as _to_number  # tests of the fast path
from cxlib.contract._validate import BATCH_ROWS, TableResult, validate_batches, validate_table
from cxlib.sources import TABLE_NAMES

__all__ = [
    "ORIGIN_BEFORE_GAP",
    "ORIGIN_LATEST",
    "ORIGIN_PARAMETER",
    "ORIGIN_TODAY",
    "AnalysisDate",
    "analysis_date",
    "data_span",
    "BATCH_ROWS",
    "SUPPRESS_FILE",
    "TABLES",
    "TABLE_NAMES",
    "VALIDATED_KEY",
    "Column",
    "ContractError",
    "SourceData",
    "TableResult",
    "TableSpec",
    "apply_suppression",
    "load_source",
    "read_suppression_list",
    "resolve_as_of_date",
    "schema",
    "validate_batches",
    "validate_table",
]
