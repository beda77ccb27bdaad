"""Opening a source from its location."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from cxlib.sources._common import SourceError
from cxlib.sources._folder import FolderSource
from cxlib.sources._locations import is_spark, is_url, mask_url
from cxlib.sources._postgres import PG_SCHEMES, PostgresSource
from cxlib.sources._spark import SparkSource

log = logging.getLogger(__name__)


def open_source(
    location: str | os.PathLike,
    table_files: Mapping[str, str] | None = None,
    *,
    spark_master: str | None = None,
    delimiters: Mapping[str, str] | None = None,
):
    """Open a source: a folder of CSV/Parquet files (embedded DuckDB through Ibis), a
    PostgreSQL URL ``postgresql://user@host:port/database[/schema]`` (Ibis's postgres backend)
    or ``spark:<folder or URI>`` (Ibis's pyspark backend on ``spark_master``, see
    :class:`SparkSource`). ``delimiters`` (``tables.<table>.delimiter``) applies to a
    folder's text files.
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
    return FolderSource(location, table_files, delimiters)
