"""Contract files read by Spark through Ibis's pyspark backend (``--data spark:<path>``)."""

from __future__ import annotations

import csv
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxlib.engine import duckdb_memory_limit
from cxlib.privacy import private_tempdir
from cxlib.sources._batches import RawBatches, _chunks
from cxlib.sources._common import (
    DELIMITERS,
    SUFFIXES,
    TABLE_NAMES,
    SourceError,
    TableFile,
    _folder_instead_of_file,
    _no_rejects,
    file_fingerprint,
    first_line,
)
from cxlib.sources._locations import SPARK_PREFIX, is_url, mask_url
from cxlib.threads import duckdb_threads

log = logging.getLogger(__name__)


SPARK_MASTER_ENV = "CX_SPARK_MASTER"


SPARK_DEFAULT_MASTER = "local[2]"


SPARK_SUPPRESS_FILE = "suppress.csv"  # as for a folder (cxlib.contract.SUPPRESS_FILE)


_CORRUPT = "_cx_corrupt_record"  # Spark's column for lines that do not split into the header


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
                config={"threads": duckdb_threads(), "memory_limit": duckdb_memory_limit()}
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
