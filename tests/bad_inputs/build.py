"""Rebuild the bad-input corpus: one folder per case with the input files and expected.json.

Run from the repository root: ``.venv/bin/python tests/bad_inputs/build.py``. The folders are
committed, so the test reads fixed bytes; this script documents how each was made.
expected.json: ``{"exit": 2, "message": [...]}`` for inputs that must stop with a clear message,
or ``{"exit": 0, "tables": {table: [read, accepted, quarantined]}, "reasons": [...]}``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
TX_HEAD = "customer_id,timestamp,amount,channel\n"
TX_OK = "c1,2025-01-02 10:00:00,12.50,web\nc2,2025-01-03,8,store\n"

CASES: dict[str, tuple[dict[str, bytes | str | None], dict]] = {}


def case(name: str, files: dict[str, bytes | str | None], expected: dict) -> None:
    CASES[name] = (files, expected)


def ok(tables: dict[str, list[int]], reasons: list[str] | None = None) -> dict:
    return {"exit": 0, "tables": tables, "reasons": reasons or []}


def err(*message: str) -> dict:
    return {"exit": 2, "message": list(message)}


case("missing_column", {"transactions.csv": "customer_id,timestamp\nc1,2025-01-01\n"},
     err("transactions.csv", "'amount'", "Fix:"))
case("misspelt_column", {"transactions.csv": "customer_id,timestamp,ammount\nc1,2025-01-01,3\n"},
     err("'amount'", "Did you mean 'ammount'"))
case("wrong_type_amount", {"transactions.csv": TX_HEAD + "c1,2025-01-01,abc,web\nc2,2025-01-01,12.5.1,web\n"},
     ok({"transactions": [2, 0, 2]}, ["not a finite number in amount"]))
case("empty_file", {"transactions.csv": ""}, err("transactions.csv", "file is empty"))
case("header_only", {"transactions.csv": TX_HEAD}, ok({"transactions": [0, 0, 0]}))
case("bom", {"transactions.csv": "\ufeff" + TX_HEAD + TX_OK}, ok({"transactions": [2, 2, 0]}))
case("latin1", {"customers.csv": ("customer_id,first_name,postcode\nc1,Zoë,AB1 2CD\nc2,José,\n").encode("latin-1")},
     ok({"customers": [2, 2, 0]}))
case("mixed_encodings", {"customers.csv": "customer_id,first_name\nc1,Zoë\n".encode() + "c2,José\n".encode("latin-1")},
     ok({"customers": [2, 2, 0]}))
case("semicolon_delimiter", {"transactions.csv": TX_HEAD.replace(",", ";") + "c1;2025-01-02;12.50;web\nc2;2025-01-03;8,5;web\n"},
     ok({"transactions": [2, 1, 1]}, ["not a finite number in amount"]))
case("tab_delimiter", {"transactions.csv": TX_HEAD.replace(",", "\t") + TX_OK.replace(",", "\t")},
     ok({"transactions": [2, 2, 0]}))
case("mixed_date_formats", {"transactions.csv": TX_HEAD + "c1,2025-01-02,1,web\nc2,02/01/2025,1,web\nc3,Jan 5 2025,1,web\nc4,2025-01-05T10:00:00,1,web\n"},
     ok({"transactions": [4, 2, 2]}, ["unparseable date/time in timestamp"]))
case("time_zones", {"transactions.csv": TX_HEAD + "c1,2025-01-02T10:00:00+02:00,1,web\nc2,2025-01-02T10:00:00Z,1,web\nc3,2025-01-02 10:00:00,1,web\n"},
     ok({"transactions": [3, 3, 0]}))
case("nan_inf_negative", {"transactions.csv": TX_HEAD + "c1,2025-01-02,NaN,web\nc2,2025-01-02,inf,web\nc3,2025-01-02,-12,web\nc4,2025-01-02,-inf,web\nc5,2025-01-02,,web\n"},
     ok({"transactions": [5, 1, 4]}, ["not a finite number in amount", "missing amount"]))
case("duplicated_ids", {"customers.csv": "customer_id,marketing_consent\nc1,yes\nc2,no\nc1,no\nc1,yes\n"},
     ok({"customers": [4, 2, 2]}, ["duplicate customer_id (first row kept)"]))
case("future_dates", {"transactions.csv": TX_HEAD + "c1,2031-01-02,1,web\nc2,2025-01-02,1,web\n"},
     ok({"transactions": [2, 2, 0]}))
case("one_row_tables", {"transactions.csv": TX_HEAD + "c1,2025-01-02,1,web\n",
                        "customers.csv": "customer_id\nc1\n",
                        "events.csv": "customer_id,timestamp,touchpoint\nc1,2025-01-02,web_home\n"},
     ok({"transactions": [1, 1, 0], "customers": [1, 1, 0], "events": [1, 1, 0]}))
case("all_null_column", {"transactions.csv": TX_HEAD + "c1,2025-01-02,1,\nc2,2025-01-02,2,\n"},
     ok({"transactions": [2, 2, 0]}))
case("very_long_strings", {"transactions.csv": TX_HEAD + "c1,2025-01-02,1," + "w" * 100_000 + "\n" + "c" * 5000 + ",2025-01-02,1,web\n"},
     ok({"transactions": [2, 2, 0]}))
case("injection_strings", {"transactions.csv": TX_HEAD + 'c1,2025-01-02,1,"=HYPERLINK(""http://x"",""y"")"\n+c2,2025-01-02,1,@SUM(A1)\n'},
     ok({"transactions": [2, 2, 0]}))
case("directory_instead_of_file", {"transactions.csv/": None}, err("found a folder"))
case("ragged_rows", {"transactions.csv": TX_HEAD + "c1,2025-01-02,1,web\nc2,2025-01-02,1\nc3,2025-01-02,1,web,extra\n"},
     ok({"transactions": [3, 1, 2]}, ["malformed line"]))
case("null_keys", {"transactions.csv": TX_HEAD + ",2025-01-02,1,web\n  ,2025-01-02,1,web\nc3,2025-01-02,1,web\n"},
     ok({"transactions": [3, 1, 2]}, ["missing customer_id"]))
case("upper_case_headers", {"transactions.csv": "CUSTOMER_ID,TimeStamp,AMOUNT\nc1,2025-01-02,1\n"},
     ok({"transactions": [1, 1, 0]}))
case("duplicate_columns", {"transactions.csv": "customer_id,Customer_ID,timestamp,amount\nc1,c1,2025-01-02,1\n"},
     err("appears more than once"))
case("quoted_commas", {"transactions.csv": TX_HEAD + 'c1,2025-01-02,1,"web, mobile"\n"c,2",2025-01-02,2,store\n'},
     ok({"transactions": [2, 2, 0]}))
case("bad_flags", {"campaign.csv": "customer_id,group,converted\nc1,control,0\nc2,offer,yes\nc3,offer,2\nc4,offer,\n"},
     ok({"campaign": [4, 2, 2]}, ["not 0/1 in converted", "missing converted"]))
case("events_missing_touchpoint", {"events.csv": "customer_id,timestamp,page\nc1,2025-01-02,home\n"},
     err("events.csv", "'touchpoint'"))
case("feedback_bad_scores", {"feedback.csv": "customer_id,timestamp,score,comment\nc1,2025-01-02,9,great\nc2,2025-01-02,ten,ok\n"},
     ok({"feedback": [2, 1, 1]}, ["not a finite number in score"]))
case("bad_booleans", {"customers.csv": "customer_id,marketing_consent\nc1,yes\nc2,perhaps\nc3,\n"},
     ok({"customers": [3, 2, 1]}, ["not true/false in marketing_consent"]))
case("csv_and_parquet_both", {"transactions.csv": TX_HEAD + TX_OK, "transactions.parquet": "PARQUET"},
     err("keep only one"))
case("binary_garbage", {"transactions.csv": bytes(range(256)) * 20}, err("transactions.csv"))
case("crlf_line_endings", {"transactions.csv": (TX_HEAD + TX_OK).replace("\n", "\r\n")},
     ok({"transactions": [2, 2, 0]}))
case("no_header_row", {"transactions.csv": TX_OK}, err("transactions.csv", "required column"))
case("extra_columns", {"transactions.csv": "customer_id,timestamp,amount,loyalty_points,note\nc1,2025-01-02,1,10,x\n"},
     ok({"transactions": [1, 1, 0]}))
case("parquet_wrong_schema", {"transactions.parquet": "PARQUET_WRONG"}, err("transactions.parquet", "'timestamp'"))
case("parquet_bad_values", {"transactions.parquet": "PARQUET_BAD_VALUES"},
     ok({"transactions": [3, 1, 2]}, ["not a finite number in amount", "missing customer_id"]))


def write_case(folder: Path, files: dict[str, bytes | str | None]) -> None:
    for name, content in files.items():
        path = folder / name.rstrip("/")
        if content is None:
            path.mkdir(parents=True)
            (path / "part-0.csv").write_text(TX_HEAD + TX_OK)
        elif content == "PARQUET":
            pd.DataFrame({"customer_id": ["c1"], "timestamp": pd.to_datetime(["2025-01-02"]),
                          "amount": [1.0]}).to_parquet(path, index=False)
        elif content == "PARQUET_WRONG":
            pd.DataFrame({"customer_id": ["c1"], "date": ["2025-01-02"], "amount": ["x"]}).to_parquet(
                path, index=False)
        elif content == "PARQUET_BAD_VALUES":
            pd.DataFrame({"customer_id": ["c1", None, "c3"],
                          "timestamp": pd.to_datetime(["2025-01-02"] * 3),
                          "amount": [1.0, 2.0, float("inf")]}).to_parquet(path, index=False)
        else:
            path.write_bytes(content.encode() if isinstance(content, str) else content)


def main() -> None:
    for old in HERE.iterdir():
        if old.is_dir() and not old.name.startswith("__"):
            shutil.rmtree(old)
    for name, (files, expected) in CASES.items():
        folder = HERE / name
        folder.mkdir()
        write_case(folder, files)
        (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"{len(CASES)} cases")


if __name__ == "__main__":
    main()
