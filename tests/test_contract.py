"""The data contract: typing, quarantine accounting, clear errors, inputs never modified."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cxlib.cli import main
from cxlib.contract import TABLES, ContractError, load_source, schema, validate_table


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


TX = (
    "Customer_ID,TIMESTAMP,amount,channel,transaction_id\n"
    "A1,2024-01-02,12.50,web,t1\n"
    "A2,31/02/2024,3,store,t2\n"  # unparseable date
    ",2024-01-03,4,app,t3\n"  # missing key
    "A3,2024-01-04 10:15:00,12,store,t4\n"
    "A4,2024-01-05T09:00:00+02:00,abc,web,t5\n"  # non-numeric amount
    "A5,2024-01-06,inf,web,t6\n"  # infinite amount
    "A6,2024-01-07,-5,web,t7\n"  # negative amount is accepted (audit reports it)
)


def test_quarantine_accounting_is_exact(tmp_path):
    src = tmp_path / "src"
    f = write(src / "transactions.csv", TX)
    before = sha(f)
    data = load_source(src, quarantine_dir=tmp_path / "q")
    c = data.counts.set_index("table").loc["transactions"]
    assert c.read_rows == 7
    assert c.accepted_rows + c.quarantined_rows == c.read_rows
    assert c.quarantined_rows == 4
    q = pd.read_csv(tmp_path / "q" / "transactions.csv")
    assert list(q["row_number"]) == [2, 3, 5, 6]
    reasons = dict(zip(q["row_number"], q["reason"], strict=True))
    assert "unparseable date/time in timestamp" in reasons[2]
    assert "missing customer_id" in reasons[3]
    assert "not a finite number in amount" in reasons[5]
    assert "not a finite number in amount" in reasons[6]
    assert sha(f) == before  # input never modified


def test_types_and_time_zones(tmp_path):
    src = tmp_path / "src"
    write(src / "transactions.csv", TX)
    tx = load_source(src).tables["transactions"]
    assert str(tx["timestamp"].dtype) == "datetime64[ns]"
    assert tx["amount"].dtype == "float64"
    assert pd.api.types.is_string_dtype(tx["customer_id"])
    # +02:00 is converted to UTC and made naive; column names matched case-insensitively
    assert set(tx.columns) >= {"customer_id", "timestamp", "amount", "channel"}
    assert (tx["amount"] < 0).sum() == 1


def test_missing_column_is_one_clear_error_with_exit_2(tmp_path, capsys):
    src = tmp_path / "src"
    write(src / "transactions.csv", "customer_id,timestmp,amount\nA,2024-01-01,1\n")
    with pytest.raises(ContractError) as err:
        load_source(src)
    msg = str(err.value)
    assert "transactions.csv" in msg and "'timestamp'" in msg and "Fix:" in msg
    assert "timestmp" in msg  # suggests the misspelt column
    assert err.value.column == "timestamp"
    code = main(["check", "--data", str(src)])
    out = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in out.err
    assert len(out.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "name,content,expect",
    [
        ("transactions.csv", "", "file is empty"),
        ("transactions.csv", None, "found a folder"),
    ],
)
def test_unreadable_inputs(tmp_path, name, content, expect):
    src = tmp_path / "src"
    src.mkdir()
    if content is None:
        (src / name).mkdir()
    else:
        write(src / name, content)
    with pytest.raises(ContractError, match=expect):
        load_source(src)


def test_latin1_semicolon_and_bom(tmp_path):
    src = tmp_path / "a"
    write(
        src / "transactions.csv",
        "customer_id;timestamp;amount\nrené;2024-01-01;1,5\nb;2024-01-02;2\n",
        "latin-1",
    )
    data = load_source(src)
    tx = data.tables["transactions"]
    assert tx["customer_id"].tolist() == ["b"]
    q = data.quarantine["transactions"]
    assert q["customer_id"].tolist() == ["rené"]  # "1,5" is not a number in a ;-separated file
    src2 = tmp_path / "b"
    write(src2 / "transactions.csv", "\ufeffcustomer_id,timestamp,amount\nx,2024-01-01,1\n")
    assert load_source(src2).counts.iloc[0].accepted_rows == 1


def test_header_only_table_is_present_but_empty(tmp_path):
    src = tmp_path / "src"
    write(src / "events.csv", "customer_id,timestamp,touchpoint\n")
    data = load_source(src)
    assert not data.has("events")
    assert data.counts.iloc[0].read_rows == 0


def test_config_mapping_row_ids_and_booleans(tmp_path):
    src = tmp_path / "src"
    write(
        src / "hill.csv",
        "segment,conversion,visit,spend,recency\nNo E-Mail,0,1,0,3\nMens E-Mail,1,1,25.5,2\n",
    )
    cfg = {
        "tables": {
            "campaign": {
                "file": "hill.csv",
                "row_id": True,
                "columns": {
                    "segment": "group",
                    "conversion": "converted",
                    "visit": "visited",
                    "spend": "revenue",
                },
            }
        }
    }
    camp = load_source(src, config=cfg).tables["campaign"]
    assert list(camp["customer_id"]) == ["row-1", "row-2"]
    assert camp["converted"].tolist() == [0, 1]
    assert camp["recency"].dtype == "float64"  # covariates typed from content


def test_customers_duplicates_quarantined_and_booleans(tmp_path):
    src = tmp_path / "src"
    write(
        src / "customers.csv",
        "customer_id,marketing_consent,birth_year,Churned,plan\n"
        "c1,yes,1980,No,gold\nc2,false,1990.0,Yes,silver\nc1,true,1970,no,gold\nc3,maybe,,no,x\n",
    )
    data = load_source(src)
    cust = data.tables["customers"]
    q = data.quarantine["customers"]
    assert cust["customer_id"].tolist() == ["c1", "c2"]
    assert cust["marketing_consent"].tolist() == [True, False]
    assert cust["churned"].tolist() == [False, True]
    assert str(cust["birth_year"].dtype) == "Int64"
    assert set(q["reason"]) == {
        "duplicate customer_id (first row kept)",
        "not true/false in marketing_consent",
    }


def test_quarantine_files_hold_no_personal_data(tmp_path):
    src = tmp_path / "src"
    write(src / "customers.csv", "customer_id,email,first_name,birth_year\n,a@b.com,Ann,1980\n")
    load_source(src, quarantine_dir=tmp_path / "q")
    text = (tmp_path / "q" / "customers.csv").read_text()
    assert "a@b.com" not in text and "Ann" not in text and "1980" not in text


def test_schema_covers_every_contract_table():
    for name in TABLES:
        sch = schema(name)
        assert {c.name for c in TABLES[name].columns} <= set(sch.columns)


def test_validate_table_accepts_typed_parquet_like_input():
    raw = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"]).tz_localize("UTC"),
            "amount": [1.0, 2.0],
        }
    )
    res = validate_table(raw, "transactions")
    assert res.accepted_rows == 2 and res.quarantined_rows == 0
    assert res.data["timestamp"].dt.tz is None


def test_as_of_date_ignores_future_timestamps(tmp_path):
    src = tmp_path / "src"
    write(
        src / "transactions.csv",
        "customer_id,timestamp,amount\na,2024-03-01 10:00,1\nb,2199-01-01,1\n",
    )
    data = load_source(src)
    assert data.as_of_date == pd.Timestamp("2024-03-01")
    assert load_source(src, as_of_date="2024-02-01").as_of_date == pd.Timestamp("2024-02-01")


def test_customers_derived_when_absent(tmp_path):
    src = tmp_path / "src"
    write(
        src / "transactions.csv", "customer_id,timestamp,amount\nb,2024-01-01,1\na,2024-01-02,1\n"
    )
    assert load_source(src).customers()["customer_id"].tolist() == ["a", "b"]


def test_ragged_lines_are_quarantined_not_fatal(tmp_path):
    src = tmp_path / "src"
    write(
        src / "transactions.csv",
        "customer_id,timestamp,amount,channel\na,2024-01-01,1,web\nb,2024-01-02,2\n"
        "c,2024-01-03,3,web,extra\nd,bad,4,web\ne,2024-01-05,5,app\n",
    )
    data = load_source(src)
    c = data.counts.iloc[0]
    assert (c.read_rows, c.accepted_rows, c.quarantined_rows) == (5, 2, 3)
    q = data.quarantine["transactions"]
    assert q["row_number"].tolist() == [2, 3, 4]
    assert q["reason"].str.startswith("malformed line").sum() == 2
    assert data.tables["transactions"]["customer_id"].tolist() == ["a", "e"]


def test_suppression_list_removes_customers_everywhere(tmp_path):
    src = tmp_path / "src"
    write(
        src / "transactions.csv",
        "customer_id,timestamp,amount\na,2024-01-01,1\nb,2024-01-02,2\nb,2024-01-03,2\n",
    )
    write(src / "customers.csv", "customer_id,email\na,a@x.com\nb,b@x.com\nc,c@x.com\n")
    write(src / "suppress.csv", "customer_id,reason\nb,erasure request\nc,opt-out\nzz,opt-out\n")
    data = load_source(src)
    assert data.tables["transactions"]["customer_id"].tolist() == ["a"]
    assert data.tables["customers"]["customer_id"].tolist() == ["a"]
    s = data.suppressed.set_index("reason")
    assert (
        s.loc["erasure request", "customers"] == 1 and s.loc["erasure request", "rows_removed"] == 3
    )
    assert s.loc["opt-out", "customers"] == 2 and s.loc["opt-out", "rows_removed"] == 1
    assert "3 customers on the suppression list" in data.suppression_note()
    # read = accepted + quarantined still refers to the file; suppression is reported separately
    assert data.counts.set_index("table").loc["transactions", "accepted_rows"] == 3


def test_bad_suppression_list_is_a_clear_error(tmp_path):
    src = tmp_path / "src"
    write(src / "transactions.csv", "customer_id,timestamp,amount\na,2024-01-01,1\n")
    write(src / "suppress.csv", "id\na\n")
    with pytest.raises(ContractError, match="suppress.csv: required column 'customer_id'"):
        load_source(src)


def test_prefix_ids_by_source_system():
    """Ids are prefixed by their system where both are known; rows without a system keep theirs."""
    from cxlib.contract import validate_table

    raw = pd.DataFrame({"customer_id": ["1", "1", "2"], "source_system": ["CRM-A", "CRM-B", None]})
    res = validate_table(raw, "customers", prefix_ids=True)
    assert list(res.data["customer_id"]) == ["CRM-A-1", "CRM-B-1", "2"]
    assert res.quarantined_rows == 0


def test_cx_check_prints_a_readable_table_and_fails_when_nothing_matches(
    sample_dir, tmp_path, capsys
):
    """Issue #21: ``cx check`` prints words and thousands separators, not a raw frame, with
    where the as-of date comes from; a folder with no contract file is exit 2, one line."""
    assert main(["check", "--data", str(sample_dir)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "Table",
        "File",
        "Rows",
        "read",
        "Accepted",
        "Quarantined",
    ]
    assert "246,242" in out and "DataFrame" not in out
    assert "As-of date: 30 June 2025, the day of the latest transactions record." in out
    empty = tmp_path / "empty"
    write(empty / "orders.csv", "id,when\n1,2024-01-01\n")
    assert main(["check", "--data", str(empty)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no file matches a contract table" in err[0]
    assert "tables: {transactions: {file: orders.csv}}" in err[0]


def _cdnow_whitespace(realdata, folder: Path, name: str) -> Path:
    """The CDNOW sample as a whitespace-separated text file, columns aligned like the original
    ``CDNOW_master.txt``."""
    tx = pd.read_csv(realdata / "cdnow_sample" / "transactions.csv", dtype=str)
    lines = ["customer_id   timestamp   amount  quantity"]
    lines += [
        f"{r.customer_id:>5}  {r.timestamp.replace('-', ''):>10}  {r.amount:>8}  {r.quantity:>3}"
        for r in tx.itertuples(index=False)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize("name", ["transactions.txt", "transactions.csv"])
def test_whitespace_separated_file_names_the_separator_and_the_setting(
    realdata, tmp_path, capsys, name
):
    """Issue #21: the CDNOW file, whitespace-separated, as ``.txt`` (mapped in cx.yml) or as
    ``.csv``: one line naming the separator and the setting, exit 2; with the setting it reads
    every row."""
    folder = _cdnow_whitespace(realdata, tmp_path / "cdnow", name)
    config = tmp_path / "cx.yml"
    tables = {"transactions": {"file": name, "date_format": "%Y%m%d"}}
    config.write_text(yaml.safe_dump({"tables": tables}))
    assert main(["check", "--data", str(folder), "--config", str(config)]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("cx: error:")]
    assert len(err) == 1, err
    assert "looks whitespace-separated" in err[0]
    assert "`tables.transactions.delimiter: whitespace`" in err[0] and name in err[0]
    tables["transactions"]["delimiter"] = "whitespace"
    config.write_text(yaml.safe_dump({"tables": tables}))
    assert main(["check", "--data", str(folder), "--config", str(config)]) == 0
    data = load_source(folder, config={"tables": tables})
    row = data.counts.set_index("table").loc["transactions"]
    assert (row.read_rows, row.accepted_rows, row.quarantined_rows) == (6919, 6919, 0)
    assert data.as_of_date == pd.Timestamp("1998-06-30")


def test_extension_that_disagrees_with_the_content_is_named(sample_dir, tmp_path, capsys):
    """Issue #21: a CSV file named ``.parquet`` (and a Parquet file named ``.csv``) is named as
    such, exit 2."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(sample_dir / "customers.csv", folder / "transactions.parquet")
    assert main(["check", "--data", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "the extension says Parquet but the file is not Parquet" in err
    assert "rename it to transactions.csv" in err
    (folder / "transactions.parquet").unlink()
    pd.DataFrame({"customer_id": ["A"], "timestamp": ["2024-01-01"], "amount": [1.0]}).to_parquet(
        folder / "transactions.csv"
    )
    assert main(["check", "--data", str(folder)]) == 2
    assert "the extension says CSV but the file is Parquet" in capsys.readouterr().err


def test_no_customer_id_suggests_row_id(tmp_path):
    """Issue #21: a transactions file without customer ids names ``row_id: true``, and with it
    the rows are read."""
    src = tmp_path / "src"
    write(src / "transactions.csv", "basket,timestamp,amount\nB1,2024-01-01,1\nB2,2024-01-02,2\n")
    with pytest.raises(ContractError) as err:
        load_source(src)
    assert "`tables.transactions.row_id: true`" in str(err.value)
    data = load_source(src, config={"tables": {"transactions": {"row_id": True}}})
    assert data.counts.set_index("table").loc["transactions", "accepted_rows"] == 2


def test_whole_number_beyond_int64_is_set_aside_not_a_crash(tmp_path):
    """A birth year of 1E100 is finite and whole but fits no whole-number column: the row is
    quarantined as "not a whole number" (it raised a TypeError from pandas before)."""
    (tmp_path / "customers.csv").write_text(
        "customer_id,birth_year\nC1,1E100\nC2,1980\nC3,-9.3e18\n", encoding="utf-8"
    )
    data = load_source(tmp_path, tables=("customers",), as_of_date="2025-01-01")
    assert data.tables["customers"]["customer_id"].tolist() == ["C2"]
    assert data.tables["customers"]["birth_year"].tolist() == [1980]
    q = data.quarantine["customers"]
    assert q["reason"].tolist() == ["not a whole number in birth_year"] * 2
