"""PostgreSQL sources: URL handling and error messages (always), and an integration test against
a real server (``$CX_PG_URL``, started by ``.ci/run``; skipped with the reason when absent).

The integration test loads ``data/sample/*.csv`` with ``COPY`` into all-text tables of a fresh
schema (so the planted defects load as they are), runs the whole series against the URL and
checks that every notebook is ok, the exports and headline files are byte-identical to the
folder run's (the safety net's digests, tests/test_safety_net.py), the quarantine files
byte-identical to the folder source's and the counts equal. Locally::

    source .ci/postgres.sh && cx_pg_start   # prints CX_PG_URL; cx_pg_stop when done
    CX_PG_URL=... .venv/bin/python -m pytest -q tests/test_postgres.py
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from backend_skip import skip_or_fail
from file_digests import catalogue_config
from test_safety_net import KEY as SAFETY_NET_KEY
from test_safety_net import assert_equals_the_folder_run

from cxlib.cli import main
from cxlib.contract import ContractError, load_source
from cxlib.runner import NOTEBOOKS, notebook_parameters
from cxlib.sources import (
    PostgresSource,
    PostgresURL,
    SourceError,
    export_password,
    mask_url,
    notebook_location,
    open_source,
    source_label,
    strip_password,
)

SECRET = "cx-Secret-42"  # a password the trust-auth test server ignores; must appear nowhere


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``cx`` with its stderr (progress, logging, errors) captured."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


# --- URLs, masking, messages (no server needed) ---------------------------------------------


def test_url_parts():
    u = PostgresURL.parse("postgresql://ana@db.example:6543/shop/cx")
    assert (u.user, u.password, u.host, u.port, u.database, u.schema) == (
        "ana",
        None,
        "db.example",
        6543,
        "shop",
        "cx",
    )
    u = PostgresURL.parse("postgres://ana:p%40ss%2Fw@localhost/shop?sslmode=require")
    assert (u.password, u.port, u.schema, u.options) == (
        "p@ss/w",
        5432,
        None,
        (("sslmode", "require"),),
    )
    assert "p@ss" not in repr(u) and "***" in repr(u)
    assert PostgresURL.parse("postgresql://h/db?password=x").password == "x"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://ana@localhost", "names no database"),
        ("postgresql://ana@localhost/db/schema/extra", "too many path parts"),
        ("postgresql://ana@localhost/db?schema=cx", "the schema goes in the path"),
        ("postgresql://ana:pw@localhost:notaport/db", "not a valid PostgreSQL URL"),
    ],
)
def test_malformed_urls_say_the_form(url, says):
    with pytest.raises(SourceError) as err:
        PostgresURL.parse(url)
    msg = str(err.value)
    assert says in msg and "postgresql://user@host:port/database/schema" in msg
    assert ":pw@" not in msg and "\n" not in msg


def test_mask_and_strip_password():
    url = f"postgresql://ana:{SECRET}@db:5432/shop/cx"
    assert mask_url(url) == "postgresql://ana:***@db:5432/shop/cx"
    assert strip_password(url) == ("postgresql://ana@db:5432/shop/cx", SECRET)
    assert mask_url("postgresql://ana@db/shop") == "postgresql://ana@db/shop"
    assert strip_password("postgresql://ana@db/shop") == ("postgresql://ana@db/shop", None)
    q = f"postgresql://db/shop?sslmode=require&password={SECRET}"
    assert SECRET not in mask_url(q) and "password=***" in mask_url(q)
    assert strip_password(q) == ("postgresql://db/shop?sslmode=require", SECRET)
    # a password holding '@' (unescaped): the user info ends at the last '@'
    assert mask_url("postgresql://ana:a@b@db/shop") == "postgresql://ana:***@db/shop"
    assert mask_url("data/sample") == "data/sample"


def test_locations_for_manifest_and_notebooks(tmp_path):
    url = f"postgresql://ana:{SECRET}@db/shop/cx"
    assert source_label(url) == "postgresql://ana:***@db/shop/cx"
    assert notebook_location(url) == "postgresql://ana@db/shop/cx"
    assert source_label(tmp_path) == str(tmp_path.resolve())
    params = notebook_parameters(
        NOTEBOOKS[0],
        {"data": url, "seed": 1, "min_group_size": 10},
        tmp_path,
        pd.Timestamp("2025-06-30"),
        "k",
    )
    assert params["data_dir"] == "postgresql://ana@db/shop/cx"


def test_password_reaches_kernels_only_through_pgpassword(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "before")
    restore = export_password(f"postgresql://ana:{SECRET}@db/shop")
    assert os.environ["PGPASSWORD"] == SECRET
    restore()
    assert os.environ["PGPASSWORD"] == "before"
    monkeypatch.delenv("PGPASSWORD")
    export_password("postgresql://ana@db/shop")()  # no password: nothing set
    export_password("data/sample")()
    assert "PGPASSWORD" not in os.environ


def test_unsupported_scheme():
    with pytest.raises(SourceError, match="'mysql://' sources are not supported") as err:
        open_source(f"mysql://ana:{SECRET}@db/shop")
    assert SECRET not in str(err.value)


@pytest.mark.parametrize("command", ["check", "run"])
def test_server_down_is_one_line_exit_2(command, tmp_path):
    port = free_port()
    url = f"postgresql://ana:{SECRET}@127.0.0.1:{port}/shop/cx"
    argv = [command, "--data", url] + (["--out", str(tmp_path)] if command == "run" else [])
    code, err = run_cli(argv)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if command == "run":  # the runner says what it checks first
        assert (
            lines.pop(0)
            == f"Checking input tables in postgresql://ana:***@127.0.0.1:{port}/shop/cx …"
        )
    assert lines == [
        f"cx: error: postgresql://ana:***@127.0.0.1:{port}/shop/cx: "
        "cannot connect to PostgreSQL (connection refused: no server is listening there). "
        "Fix: start the PostgreSQL server or correct the host and port in the URL."
    ]
    assert SECRET not in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written


# --- against a real server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url() -> str:
    """``$CX_PG_URL`` of a reachable server where we may create schemas (skip otherwise)."""
    url = os.environ.get("CX_PG_URL")
    if not url:
        skip_or_fail(
            "postgres",
            "CX_PG_URL is not set: no PostgreSQL server for the integration test (.ci/run "
            "starts one; locally: source .ci/postgres.sh && cx_pg_start)",
        )
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as con:
            con.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0]
        skip_or_fail(
            "postgres", f"PostgreSQL server at CX_PG_URL={mask_url(url)} cannot be reached: {first}"
        )
    return url


def _sql(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        for st in statements:
            con.execute(st)


def load_csv_folder(url: str, folder: Path, schema: str, *, load_order: bool = True) -> None:
    """Load every ``<table>.csv`` of ``folder`` into ``schema`` (dropped first) with ``COPY``,
    all columns ``text``; with ``load_order`` a ``cx_row_number`` identity column numbers the
    rows in file order."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as con:
        con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for path in sorted(folder.glob("*.csv")):
            with path.open(encoding="utf-8", newline="") as fh:
                header = next(csv.reader(fh))
            cols = [sql.SQL("{} text").format(sql.Identifier(c)) for c in header]
            if load_order:
                cols.insert(0, sql.SQL("cx_row_number bigint GENERATED ALWAYS AS IDENTITY"))
            name = sql.Identifier(schema, path.stem)
            con.execute(sql.SQL("CREATE TABLE {} ({})").format(name, sql.SQL(", ").join(cols)))
            copy = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true)").format(
                name, sql.SQL(", ").join(map(sql.Identifier, header))
            )
            with con.cursor() as cur, cur.copy(copy) as cp, path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    cp.write(chunk)


@pytest.fixture(scope="module")
def pg_sample(pg_url, sample_dir) -> Iterator[str]:
    """URL of a fresh schema holding the sample, loaded with COPY in file order."""
    schema = f"cx_test_{os.getpid()}"
    load_csv_folder(pg_url, sample_dir, schema)
    yield f"{pg_url.rstrip('/')}/{schema}"
    _sql(pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def scratch_schema(pg_url) -> Iterator[tuple[str, str]]:
    """An empty schema for one test: (its name, the URL naming it)."""
    schema = f"cx_scratch_{os.getpid()}"
    _sql(pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', f'CREATE SCHEMA "{schema}"')
    yield schema, f"{pg_url.rstrip('/')}/{schema}"
    _sql(pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_raw_reads_equal_the_folder(pg_sample, sample_dir):
    pg, folder = open_source(pg_sample), open_source(sample_dir)
    assert isinstance(pg, PostgresSource) and sorted(pg.files) == sorted(folder.files)
    for table in folder.files:
        a, rej = pg.read_raw(table)
        b, _ = folder.read_raw(table)
        assert len(rej) == 0
        pd.testing.assert_frame_equal(a, b)


def test_load_source_equals_the_folder(pg_sample, sample_dir):
    a, b = load_source(pg_sample), load_source(sample_dir)
    counts = ["table", "read_rows", "accepted_rows", "quarantined_rows"]
    pd.testing.assert_frame_equal(a.counts[counts], b.counts[counts])
    assert a.counts["quarantined_rows"].sum() > 0  # the planted defects are there
    assert list(a.counts["file"]) == [
        f"{pg_sample.rsplit('/', 1)[1]}.{t}" for t in a.counts["table"]
    ]
    for name in b.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
        pd.testing.assert_frame_equal(a.quarantine[name], b.quarantine[name])
    assert a.as_of_date == b.as_of_date


def test_fingerprints_count_rows_and_see_changes(pg_sample, pg_url, scratch_schema):
    schema, url = scratch_schema
    sample = pg_sample.rsplit("/", 1)[1]
    _sql(
        pg_url,
        *(
            f'CREATE TABLE "{schema}".{t} AS SELECT * FROM "{sample}".{t}'
            for t in ("transactions", "feedback")
        ),
    )
    src = open_source(url)
    first = src.fingerprints()
    assert first == src.fingerprints()
    assert first["transactions"]["rows"] == 246242
    assert first["transactions"]["relation"] == f"{schema}.transactions"
    assert (
        first["transactions"]["checksum"]
        == open_source(pg_sample).fingerprints()["transactions"]["checksum"]
    )
    _sql(pg_url, f"UPDATE \"{schema}\".feedback SET score = '7' WHERE cx_row_number = 1")
    changed = src.fingerprints()
    assert changed["feedback"]["rows"] == first["feedback"]["rows"]
    assert changed["feedback"]["checksum"] != first["feedback"]["checksum"]
    assert changed["transactions"] == first["transactions"]


def test_without_load_order_reads_are_deterministic(pg_url, sample_dir, scratch_schema):
    schema, url = scratch_schema
    load_csv_folder(pg_url, sample_dir, schema, load_order=False)
    src = open_source(url)
    a, _ = src.read_raw("events")
    pd.testing.assert_frame_equal(a, src.read_raw("events")[0])
    assert list(a.index[:3]) == [1, 2, 3]
    b, _ = open_source(sample_dir).read_raw("events")
    key = list(b.columns)
    pd.testing.assert_frame_equal(
        a.sort_values(key, na_position="last").reset_index(drop=True),
        b.sort_values(key, na_position="last").reset_index(drop=True),
    )
    pg, folder = (load_source(x, tables=("events", "feedback")) for x in (url, sample_dir))
    cols = ["table", "read_rows", "accepted_rows", "quarantined_rows"]
    pd.testing.assert_frame_equal(pg.counts[cols], folder.counts[cols])


def test_typed_tables_go_through_the_same_contract(pg_url, scratch_schema):
    schema, url = scratch_schema
    _sql(
        pg_url,
        f'CREATE TABLE "{schema}"."Transactions" (customer_id text, "Timestamp" timestamptz, '
        "amount numeric(10, 2), quantity integer, channel text)",
        f'INSERT INTO "{schema}"."Transactions" VALUES '
        "('C1', '2025-06-01 10:00:00+02', 12.50, 2, 'web'), "
        "('C2', '2025-06-02 00:00:00+00', -3.10, -1, NULL), "
        "('C3', NULL, 5.00, 1, 'store')",
    )
    data = load_source(url)
    tx = data.tables["transactions"]
    assert list(tx["customer_id"]) == ["C1", "C2"]
    assert list(tx["timestamp"]) == [pd.Timestamp("2025-06-01 08:00"), pd.Timestamp("2025-06-02")]
    assert list(tx["amount"]) == [12.5, -3.1]
    assert tx["channel"].isna().tolist() == [False, True]
    q = data.quarantine["transactions"]
    assert list(q["reason"]) == ["missing timestamp"] and list(q["row_number"]) == [3]


def test_relations_by_name_config_and_suppress_table(
    pg_url, pg_sample, sample_dir, tmp_path, scratch_schema
):
    schema, url = scratch_schema
    sample = pg_sample.rsplit("/", 1)[1]
    ids = ["CRM-A-000001", "CRM-B-000058", "CRM-A-001698"]
    _sql(
        pg_url,
        f'CREATE VIEW "{schema}"."TRANSACTIONS" AS SELECT * FROM "{sample}".transactions',
        f'CREATE VIEW "{schema}".stg_customers AS SELECT * FROM "{sample}".customers',
        f'CREATE TABLE "{schema}".suppress (customer_id text, reason text)',
        f"INSERT INTO \"{schema}\".suppress VALUES ('{ids[0]}', 'erasure'), "
        f"('{ids[1]}', 'opt-out'), ('{ids[2]}', NULL)",
    )
    config = {"tables": {"customers": {"file": "stg_customers"}}}
    pg = load_source(url, config=config)
    assert sorted(pg.tables) == ["customers", "transactions"]
    folder = tmp_path / "folder"
    folder.mkdir()
    for name in ("transactions.csv", "customers.csv"):
        (folder / name).symlink_to(sample_dir / name)
    (folder / "suppress.csv").write_text(
        f"customer_id,reason\n{ids[0]},erasure\n{ids[1]},opt-out\n{ids[2]},\n"
    )
    ref = load_source(folder)
    pd.testing.assert_frame_equal(pg.suppressed, ref.suppressed)
    assert int(pg.suppressed["customers"].sum()) == 3
    for name in ref.tables:
        pd.testing.assert_frame_equal(pg.tables[name], ref.tables[name])
        assert not pg.tables[name]["customer_id"].isin(ids).any()
    with pytest.raises(ContractError, match=r"'.*\.nope' named for table 'customers'"):
        load_source(url, config={"tables": {"customers": {"file": "nope"}}})


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ("/no_such_schema", "schema 'no_such_schema' does not exist in database"),
        ("db:no_such_db", "cannot connect to PostgreSQL (the database does not exist)"),
        ("user:nobody", "cannot connect to PostgreSQL (the user does not exist on the server)"),
    ],
)
def test_server_errors_are_one_line_exit_2(pg_url, change, says):
    u = PostgresURL.parse(pg_url)
    if change.startswith("/"):
        url = f"postgresql://{u.user}:{SECRET}@{u.host}:{u.port}/{u.database}{change}"
    elif change.startswith("db:"):
        url = f"postgresql://{u.user}:{SECRET}@{u.host}:{u.port}/{change[3:]}/cx"
    else:
        url = f"postgresql://{change[5:]}:{SECRET}@{u.host}:{u.port}/{u.database}"
    code, err = run_cli(["check", "--data", url])
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and says in lines[0] and "Fix:" in lines[0]
    assert SECRET not in err and "Traceback" not in err


def test_bad_load_order_column(pg_url, scratch_schema):
    schema, url = scratch_schema
    _sql(
        pg_url,
        f'CREATE TABLE "{schema}".events (cx_row_number bigint, customer_id text, '
        "timestamp text, touchpoint text)",
        f"INSERT INTO \"{schema}\".events VALUES (1, 'C1', '2025-01-01', 'web'), "
        "(1, 'C2', '2025-01-02', 'app')",
    )
    code, err = run_cli(["check", "--data", url])
    assert code == 2 and "'cx_row_number' (the load order) has empty or repeated values" in err
    _sql(pg_url, f'ALTER TABLE "{schema}".events ALTER cx_row_number TYPE text')
    code, err = run_cli(["check", "--data", url])
    assert code == 2 and "must be a whole-number column" in err


@pytest.fixture(scope="module")
def pg_run(pg_sample, sample_dir, tmp_path_factory):
    """The whole series on PostgreSQL (URL with a password), with the safety net's key."""
    u = PostgresURL.parse(pg_sample)
    url = f"postgresql://{u.user}:{SECRET}@{u.host}:{u.port}/{u.database}/{u.schema}"
    out = tmp_path_factory.mktemp("pg-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CX_PSEUDONYM_KEY", SAFETY_NET_KEY)
        cfg = catalogue_config(out, sample_dir / "actions.yml")
        code, err = run_cli(["run", "--config", str(cfg), "--data", url, "--out", str(out)])
    return code, (out / "latest").resolve(), err


@pytest.mark.slow
def test_whole_series_on_postgres_equals_the_folder(pg_run, sample_dir, tmp_path):
    """All six notebooks ok (the sample's ``actions.yml`` named in cx.yml); exports and headline files byte-identical to the folder run's
    (the safety net's digests, which tests/test_safety_net.py checks the folder run against:
    no second folder run here); quarantine files and counts as the folder source gives them."""
    manifest, folder = assert_equals_the_folder_run(pg_run, sample_dir, tmp_path)
    want = json.loads(json.dumps(folder.counts.to_dict(orient="records"), default=str))
    strip = [{k: v for k, v in r.items() if k != "file"} for r in manifest["inputs"]["tables"]]
    assert strip == [{k: v for k, v in r.items() if k != "file"} for r in want]
    assert sum(r["quarantined_rows"] for r in manifest["inputs"]["tables"]) > 0
    assert manifest["parameters"]["data"].startswith(
        f"postgresql://{PostgresURL.parse(manifest['parameters']['data']).user}:***@"
    )
    assert manifest["inputs"]["files"]["transactions"]["rows"] == 246242


@pytest.mark.slow
def test_password_appears_nowhere(pg_run):
    _, run_dir, err = pg_run
    assert SECRET not in err
    assert "***" in err  # the progress output names the source, masked
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    shutil.rmtree(run_dir.parent)


def test_config_file_keeps_a_url(tmp_path):
    from cxlib.config import load_config

    (tmp_path / "cx.yml").write_text("data: postgresql://ana@db:5432/shop/cx\nout: reports\n")
    cfg = load_config(tmp_path / "cx.yml")
    assert cfg["data"] == "postgresql://ana@db:5432/shop/cx"
    assert cfg["out"] == str((tmp_path / "reports").resolve())
