"""The single customer view on the FEBRL record-linkage benchmark (needs CX_REALDATA).

FEBRL people are read as a ``customers`` table through the contract: ``rec_id`` →
``customer_id``, ``given_name`` → ``first_name``, ``surname`` → ``last_name``,
``street_number`` and ``address_1`` joined → ``address``, ``postcode``, ``date_of_birth`` →
``birth_date`` (``YYYYMMDD``, often missing or malformed), the other columns as attributes.
Records ``rec-N-org`` and ``rec-N-dup-k`` are the same person.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from cxlib import audit
from cxlib.contract import load_source


def _febrl(folder: Path, name: str, system: str | None = None) -> pd.DataFrame:
    path = folder / f"{name}.csv"
    if not path.exists():
        pytest.skip(f"febrl/{name}.csv not available")
    raw = pd.read_csv(path, dtype=str, skipinitialspace=True)
    raw.columns = [c.strip() for c in raw.columns]
    raw = raw.apply(lambda s: s.str.strip())
    address = raw["street_number"].fillna("") + " " + raw["address_1"].fillna("")
    out = pd.DataFrame(
        {
            "customer_id": raw["rec_id"],
            "first_name": raw["given_name"],
            "last_name": raw["surname"],
            "address": address.str.strip().replace("", None),
            "postcode": raw["postcode"],
            "birth_date": raw["date_of_birth"],
            "address_2": raw["address_2"],
            "suburb": raw["suburb"],
            "state": raw["state"],
            "soc_sec_id": raw["soc_sec_id"],
        }
    )
    if system is not None:
        out.insert(1, "source_system", system)
    return out


def _pairs(ids: pd.Series, groups: pd.Series) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for _, members in ids.groupby(groups.to_numpy()):
        out.update(itertools.combinations(sorted(members), 2))
    return out


def _precision_recall(customers: pd.DataFrame, tmp_path: Path) -> tuple[float, float, str]:
    customers.to_csv(tmp_path / "customers.csv", index=False)
    data = load_source(tmp_path)
    assert data.counts.set_index("table").loc["customers", "quarantined_rows"] == 0
    res = audit.run_audit(data, pseudonym_key="k", as_of_date="2026-01-01")
    assert res.linked
    assert {"address", "birth_date"} <= set(res.scv.fields_)
    mm = res.master_map
    person = mm["customer_id"].str.extract(r"rec-(\d+)-", expand=False)
    truth = _pairs(mm["customer_id"], person)
    found = _pairs(mm["customer_id"], mm["master_id"])
    tp = len(truth & found)
    return tp / max(len(found), 1), tp / len(truth), res.scv.weights_


def test_febrl_two_source_systems(realdata: Path, tmp_path: Path) -> None:
    """dataset4a and dataset4b as two systems: every 4a record has one duplicate in 4b."""
    folder = realdata / "febrl"
    customers = pd.concat(
        [_febrl(folder, "dataset4a", "sysA"), _febrl(folder, "dataset4b", "sysB")],
        ignore_index=True,
    )
    precision, recall, weights = _precision_recall(customers, tmp_path)
    assert weights == "learnt"
    assert precision >= 0.95, (precision, recall)
    assert recall >= 0.90, (precision, recall)


def test_febrl_one_system_many_duplicates(realdata: Path, tmp_path: Path) -> None:
    """dataset3: one system, up to 9 duplicates per person."""
    customers = _febrl(realdata / "febrl", "dataset3")
    precision, recall, weights = _precision_recall(customers, tmp_path)
    assert weights == "learnt"
    assert precision >= 0.95, (precision, recall)
    assert recall >= 0.90, (precision, recall)
