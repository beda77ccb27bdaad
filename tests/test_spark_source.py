"""Spark sources (``--data spark:<folder>``): the same tables, quarantine and counts as the folder
source, and the whole series (``cx run``, all six notebooks) on ``spark:<sample>`` writing the
folder run's exports and headline files byte for byte.

One local Spark session (``local[2]`` on 127.0.0.1, UI off) serves the whole module; skipped
with the reason when pyspark or Java is missing, a failure where ``CX_REQUIRE_BACKENDS``
names ``spark`` (CI). Locally: ``.venv/bin/pip install -e '.[spark]'`` and a Java 17 runtime.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from backend_skip import skip_or_fail
from file_digests import catalogue_config
from test_safety_net import KEY as SAFETY_NET_KEY
from test_safety_net import assert_equals_the_folder_run

from cxlib.cli import main
from cxlib.contract import ContractError, load_source
from cxlib.sources import (
    FolderSource,
    SparkPath,
    SparkSource,
    is_spark,
    notebook_location,
    open_source,
    source_label,
    spark_location,
    spark_session,
)

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (Spark needs a JVM, e.g. OpenJDK 17)"
    return None


@pytest.fixture(scope="module")
def spark():
    """The module's Spark session, as SparkSource starts it (local[2] unless CX_SPARK_MASTER)."""
    reason = _spark_missing()
    if reason:
        skip_or_fail("spark", reason)
    session = spark_session()
    yield session
    session.stop()


def run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def as_text(q: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """A quarantine's rows, reasons and the columns that are text in ``like`` (a Parquet
    table's numbers and times are quarantined as Spark writes them as text, e.g. 1.0E-7)."""
    text = [
        c for c in like.columns if like[c].dtype == object or pd.api.types.is_string_dtype(like[c])
    ]
    return q[["row_number", *[c for c in text if c != "row_number"]]].astype(
        {c: "str" for c in text if c != "row_number"}
    )


def assert_same_data(got, want, parquet: tuple[str, ...] = ()) -> None:
    """Two SourceData equal in tables, quarantine, counts, as-of date and suppression summary.

    A Parquet table's quarantine is compared without its number and time columns: the folder
    source keeps their typed raw values, a Spark source (like a database source) reads every
    column as text."""
    assert sorted(got.tables) == sorted(want.tables)
    for name in want.tables:
        pd.testing.assert_frame_equal(got.tables[name], want.tables[name], obj=name)
        g, w = got.quarantine[name], want.quarantine[name]
        if name in parquet:
            g, w = as_text(g, w), as_text(w, w)
        pd.testing.assert_frame_equal(g, w, obj=f"quarantine {name}")
    pd.testing.assert_frame_equal(got.counts, want.counts)
    assert got.as_of_date == want.as_of_date
    pd.testing.assert_frame_equal(
        got.suppressed.reset_index(drop=True), want.suppressed.reset_index(drop=True)
    )


# --- no Spark needed -------------------------------------------------------------------------


def test_locations_keep_the_prefix(tmp_path):
    assert is_spark("spark:data/sample") and is_spark("SPARK:/x") and not is_spark("data/sample")
    assert source_label("spark:data/sample") == f"spark:{Path('data/sample').resolve()}"
    assert notebook_location("spark:data/sample") == f"spark:{Path('data/sample').resolve()}"
    assert spark_location("spark:s3a://u:pw@bucket/cx") == "spark:s3a://u:***@bucket/cx"
    p = SparkPath("hdfs://nn:8020/cx/data/transactions.CSV")
    assert (p.name, p.suffix) == ("transactions.CSV", ".CSV")


def test_discovery_without_a_session(tmp_path):
    """Files are found like a folder's, without starting Spark (notebooks reading a run's
    validated tables never start a session)."""
    src = open_source(f"spark:{SAMPLE}")
    assert isinstance(src, SparkSource) and src._con is None
    assert {t: tf.path for t, tf in src.files.items()} == {
        t: tf.path for t, tf in FolderSource(SAMPLE).files.items()
    }
    assert src.fingerprints() == FolderSource(SAMPLE).fingerprints()
    assert src.suppression_list() is None and src._con is None
    with pytest.raises(ContractError, match="data folder not found"):
        load_source(f"spark:{tmp_path / 'nope'}")
    (tmp_path / "f.csv").write_text("a\n")
    with pytest.raises(ContractError, match="must be a folder"):
        load_source(f"spark:{tmp_path / 'f.csv'}")
    with pytest.raises(ContractError, match="names no folder"):
        load_source("spark:")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "events.csv").mkdir()
    with pytest.raises(ContractError, match="expected a file"):
        load_source(f"spark:{tmp_path / 'd'}")
    src = SparkSource(f"spark:{tmp_path}", master="local[1]")
    assert src.master == "local[1]"


# --- with Spark --------------------------------------------------------------------------------


def test_sample_equals_the_folder(spark):
    want = load_source(SAMPLE)
    got = load_source(f"spark:{SAMPLE}")
    assert isinstance(got.source, SparkSource)
    assert got.source.session.sparkContext.master == spark.sparkContext.master
    assert_same_data(got, want)
    assert got.counts["quarantined_rows"].sum() > 0  # the sample's planted defects
    assert len(got.tables["transactions"]) == 244778


def test_raw_reads_equal_the_folder(spark):
    folder, sp = FolderSource(SAMPLE), SparkSource(f"spark:{SAMPLE}")
    for table in ("customers", "events"):
        got, got_rej = sp.read_raw(table)
        want, want_rej = folder.read_raw(table)
        assert list(got.index) == list(want.index)
        pd.testing.assert_frame_equal(got.astype("str"), want.astype("str"), check_dtype=False)
        assert len(got_rej) == len(want_rej) == 0


@pytest.fixture(scope="module")
def defects(tmp_path_factory) -> Path:
    """A folder with malformed lines, a semicolon-delimited Latin-1 file, a duplicate id, a bad
    date, a typed Parquet table with missing values, a header-only file and a suppression
    list."""
    d = tmp_path_factory.mktemp("spark-defects")
    (d / "customers.csv").write_bytes(
        b"customer_id;name;email;signup_date\n"
        b"C1;Zo\xe9;z@x.com;2024-01-01\n"
        b"C2;Bob;b@x.com;2024-01-02;extra\n"  # too many fields
        b"C3;Al\n"  # too few
        b"C2;Bo;b2@x.com;2024-02-01\n"
        b'C4;"Q;uoted";q@x.com;not-a-date\n'
        b"C5;;;2024-03-01\n"
        b"C1;Dup;d@x.com;2024-04-01\n"
    )
    tx = pd.DataFrame(
        {
            "transaction_id": ["T1", "T2", "T3", "T4", "T5"],
            "customer_id": ["C1", "C2", None, "C5", "C1"],
            "timestamp": pd.to_datetime(
                [
                    "2025-01-01 10:00:00",
                    "2025-01-02 11:30:15",
                    "2025-01-03 00:00:00",
                    None,
                    "2025-02-01 00:00:00",
                ]
            ).astype("datetime64[us]"),
            "amount": [10.5, np.nan, 3.0, 1e-7, 123456789.25],
            "channel": ["web", "store", "web", "app", None],
        }
    )
    tx.to_parquet(d / "transactions.parquet", index=False)
    (d / "events.csv").write_text("customer_id,timestamp,touchpoint,channel,journey_id,value\n")
    (d / "suppress.csv").write_text("customer_id,reason\nC5,erasure\n")
    return d


def test_defects_equal_the_folder(spark, defects):
    want = load_source(defects)
    got = load_source(f"spark:{defects}")
    assert_same_data(got, want, parquet=("transactions",))
    assert len(got.quarantine["transactions"]) == 3  # no customer, no timestamp, no amount
    q = got.quarantine["customers"]
    assert q["row_number"].tolist() == [2, 3, 5, 7]
    assert q["reason"].iloc[0] == "malformed line: Expected Number of Columns: 4 Found: 5"
    assert got.tables["customers"]["name"].tolist() == ["Zoé", "Bo"]
    assert got.suppressed["rows_removed"].tolist() == want.suppressed["rows_removed"].tolist()
    assert not got.has("events") and "events" in got.source.files


def test_batches_equal_the_folder_batches(spark, defects):
    want = load_source(SAMPLE, tables=["events"], batch_rows=4096)
    got = load_source(f"spark:{SAMPLE}", tables=["events"], batch_rows=4096)
    assert_same_data(got, want)
    whole = load_source(f"spark:{SAMPLE}", tables=["events"])
    pd.testing.assert_frame_equal(got.tables["events"], whole.tables["events"])


def test_empty_file_says_so(spark, tmp_path):
    (tmp_path / "customers.csv").write_text("")
    with pytest.raises(ContractError, match="file is empty"):
        load_source(f"spark:{tmp_path}")


@pytest.fixture(scope="module")
def spark_run(spark, tmp_path_factory):
    """The whole series on ``spark:<sample>`` with the safety net's pseudonymisation key."""
    out = tmp_path_factory.mktemp("spark-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CX_PSEUDONYM_KEY", SAFETY_NET_KEY)
        cfg = catalogue_config(out, SAMPLE / "actions.yml")
        code, err = run_cli(
            ["run", "--config", str(cfg), "--data", f"spark:{SAMPLE}", "--out", str(out)]
        )
    return code, (out / "latest").resolve(), err


def test_whole_series_on_spark_equals_the_folder(spark_run, tmp_path):
    """All six notebooks ok on ``spark:<sample>`` (the sample's ``actions.yml`` named in cx.yml); exports and headline files byte-identical
    to the folder run's (the safety net's digests, which tests/test_safety_net.py checks the
    folder run against: no second folder run here); quarantine files, counts and input
    fingerprints as the folder source gives them."""
    manifest, folder = assert_equals_the_folder_run(spark_run, SAMPLE, tmp_path)
    as_json = json.loads(json.dumps(folder.counts.to_dict(orient="records"), default=str))
    assert manifest["inputs"]["tables"] == as_json
    assert manifest["inputs"]["files"] == json.loads(
        json.dumps(FolderSource(SAMPLE).fingerprints(), default=str)
    )
    assert manifest["parameters"]["data"] == f"spark:{SAMPLE}"


def test_config_file_names_a_spark_folder_and_master(spark, defects, monkeypatch):
    """``data: spark:<relative folder>`` is taken from the config file's folder, and
    ``spark_master`` reaches the source as ``$CX_SPARK_MASTER`` (cx check / cx run)."""
    from cxlib.config import load_config
    from cxlib.sources import SPARK_MASTER_ENV

    monkeypatch.setenv(SPARK_MASTER_ENV, "local[3]")  # the config wins; restored afterwards
    cfg = defects.parent / "cx.yml"
    cfg.write_text(f"data: spark:{defects.name}\nspark_master: {spark.sparkContext.master}\n")
    assert load_config(cfg)["data"] == f"spark:{defects.resolve()}"
    code, err = run_cli(["check", "--config", str(cfg)])
    assert code == 0, err
    assert os.environ[SPARK_MASTER_ENV] == spark.sparkContext.master
    cfg.write_text("data: spark:hdfs://nn:8020/cx\n")
    assert load_config(cfg)["data"] == "spark:hdfs://nn:8020/cx"


BAD_INPUTS = sorted(p for p in (ROOT / "tests" / "bad_inputs").iterdir() if p.is_dir())


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[p.name for p in BAD_INPUTS])
def test_bad_inputs_corpus_equals_the_folder(spark, case):
    """Every defective input of tests/bad_inputs: the same error message, or the same tables,
    quarantine (rows and reasons) and counts as the folder source."""
    try:
        want, want_error = load_source(case), None
    except ContractError as exc:
        want, want_error = None, str(exc)
    if want_error is not None:
        with pytest.raises(ContractError) as got:
            load_source(f"spark:{case}")
        if case.name == "binary_garbage":  # DuckDB renames unprintable header names
            assert str(got.value).split("(found:")[0] == want_error.split("(found:")[0]
        else:
            assert str(got.value) == want_error
        return
    got = load_source(f"spark:{case}")
    parquet = tuple(t for t, tf in want.source.files.items() if tf.kind != "csv")
    assert_same_data(got, want, parquet=parquet)


def test_uri_goes_through_hadoop_file_system(spark, defects):
    """A URI (here file://) is listed, read, fingerprinted and its suppress.csv read through
    Spark's Hadoop file system API, as hdfs:// or s3a:// would be."""
    uri = f"file://{defects.resolve()}"
    want = load_source(defects)
    got = load_source(f"spark:{uri}")
    assert got.source.remote and isinstance(got.source.files["customers"].path, SparkPath)
    assert_same_data(got, want, parquet=("transactions",))
    fp = got.source.fingerprints()
    assert sorted(fp) == sorted(want.source.files)
    assert fp["customers"]["bytes"] == (defects / "customers.csv").stat().st_size
    assert fp == got.source.fingerprints()
    events = load_source(f"spark:file://{SAMPLE}", tables=["events"])
    assert_same_data(events, load_source(SAMPLE, tables=["events"]))
    with pytest.raises(ContractError, match="cannot be listed"):
        load_source(f"spark:{uri}/nope")
    with pytest.raises(ContractError, match="does not exist"):
        load_source(f"spark:{uri}", config={"tables": {"events": {"file": "gone.csv"}}})


def test_cluster_path_streams_the_same_rows(spark, defects, monkeypatch):
    """With a cluster master rows are collected partition by partition (toLocalIterator)
    instead of staged as Parquet: the same result, also in small batches."""
    monkeypatch.setattr(SparkSource, "_local_master", lambda self: False)
    assert_same_data(
        load_source(f"spark:{defects}"), load_source(defects), parquet=("transactions",)
    )
    want = load_source(SAMPLE, tables=["transactions"], batch_rows=50_000)
    got = load_source(f"spark:{SAMPLE}", tables=["transactions"], batch_rows=50_000)
    assert_same_data(got, want)
    raw, rejects = SparkSource(f"spark:{defects}").read_raw("customers")
    assert list(raw.index) == [1, 4, 5, 6, 7] and rejects["row_number"].tolist() == [2, 3]


def test_many_partitions_keep_file_order_and_row_numbers(spark, tmp_path, monkeypatch):
    """A file split into many partitions: rows in file order, malformed lines numbered as in
    the file (staged and cluster paths)."""
    lines = ["customer_id,timestamp,touchpoint,channel,journey_id,value"]
    for i in range(3000):
        lines.append(
            f"C{i % 97},2025-01-{1 + i % 28:02d} 10:{i % 60:02d}:00,view,web,J{i}"
            + (",1,extra" if i % 401 == 7 else f",{i}")
        )
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "8192")
    try:
        src = SparkSource(f"spark:{tmp_path}")
        frame, _ = src._frame("events")
        assert frame.rdd.getNumPartitions() >= 10
        want = load_source(tmp_path)
        got = load_source(f"spark:{tmp_path}")
        assert_same_data(got, want)
        assert got.quarantine["events"]["row_number"].tolist() == [
            i + 1 for i in range(3000) if i % 401 == 7
        ]
        monkeypatch.setattr(SparkSource, "_local_master", lambda self: False)
        assert_same_data(load_source(f"spark:{tmp_path}", batch_rows=500), want)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
