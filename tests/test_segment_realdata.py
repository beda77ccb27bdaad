"""Segmentation on real data: CDNOW, a mail-order CD shop (``$CX_REALDATA/cdnow_sample``), and
the Complete Journey, a year of a grocer's baskets (``$CX_REALDATA/complete_journey``).

Most CDNOW customers bought once or twice, so their share of weekend purchases is 0 or 1 by
chance; segmenting on it split "weekday" from "weekend" buyers (issue #20). The share is left out
as mostly chance, and what remains (purchase rate and basket size) has no joint structure beyond
the null reference, so no behavioural segments are named.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxlib import segment as S
from cxlib.cli import main
from cxlib.contract import load_source
from cxlib.features import label_key

SEED = 42


@pytest.fixture(scope="module")
def cdnow(realdata: Path):
    folder = realdata / "cdnow_sample"
    if not (folder / "transactions.csv").is_file():
        pytest.skip("cdnow_sample is not in CX_REALDATA")
    data = load_source(folder, tables=("transactions",))
    return S.run_segmentation(data, as_of_date=data.as_of_date, seed=SEED, n_bootstrap=5)


def test_weekend_share_left_out_as_chance(cdnow):
    assert "weekend_share" in cdnow.segmenter.dropped_features_
    assert "weekend_share" not in cdnow.segmenter.feature_names_in_
    assert "share of purchases at weekends" in cdnow.k_choice()


def test_no_behavioural_segments_named(cdnow):
    assert not cdnow.has_segments
    export = cdnow.exports()["segments.csv"]
    assert len(export) == 2_349
    assert export["cluster"].isna().all()
    text = " ".join(f.text for f in cdnow.findings())
    assert "no distinct behavioural segments" in text
    assert "Weekday" not in text and "Weekend" not in text


@pytest.fixture(scope="module")
def complete_journey(realdata: Path, tmp_path_factory) -> Path:
    """The Complete Journey's baskets as a contract ``transactions`` table: household →
    ``customer_id``, basket → ``transaction_id``, product department → ``category``."""
    folder = realdata / "complete_journey"
    if not (folder / "transactions.parquet").is_file():
        pytest.skip("complete_journey is not in CX_REALDATA")
    tx = pd.read_parquet(folder / "transactions.parquet")
    departments = pd.read_parquet(folder / "products.parquet", columns=["product_id", "department"])
    tx = tx.merge(departments, on="product_id", how="left")
    out = tmp_path_factory.mktemp("complete_journey")
    pd.DataFrame(
        {
            "transaction_id": tx["basket_id"].astype(str),
            "customer_id": tx["household_id"].astype(str),
            "timestamp": pd.to_datetime(tx["transaction_timestamp"]),
            "amount": tx["sales_value"].astype(float),
            "category": tx["department"],
            "store_id": tx["store_id"].astype(str),
            "quantity": tx["quantity"],
        }
    ).to_parquet(out / "transactions.parquet", index=False)
    return out


def test_grocery_segments_are_described_by_department(complete_journey):
    """Issue #20: on a year of real grocery baskets, segments exist and are described in
    grocery terms from the departments, not by weekday or weekend alone."""
    data = load_source(complete_journey, tables=("transactions",))
    result = S.run_segmentation(data, as_of_date=data.as_of_date, seed=SEED, n_bootstrap=5)
    assert result.has_segments
    tx = pd.read_parquet(complete_journey / "transactions.parquet", columns=["category"])
    departments = {label_key(d).replace("_", " ") for d in tx["category"].dropna().unique()}
    names = list(result.profile.names.values())
    by_department = [n for n in names if n.lower().removesuffix(" shoppers") in departments]
    assert len(by_department) >= 2, names
    assert not any(n.lower() in {"weekend shoppers", "weekday shoppers"} for n in names), names


def test_notebooks_01_and_02_run_on_complete_journey(complete_journey, tmp_path, monkeypatch):
    monkeypatch.setenv("CX_PSEUDONYM_KEY", "cx-complete-journey")
    out = tmp_path / "out"
    assert main(["run", "--data", str(complete_journey), "--out", str(out), "--only", "01,02"]) == 0
    manifest = json.loads(((out / "latest").resolve() / "manifest.json").read_text())
    assert [nb["status"] for nb in manifest["notebooks"]] == ["ok", "ok"]


def _customers(n_purchases: np.ndarray, weekend_share: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"n_transactions_total": n_purchases, "weekend_share": weekend_share},
        index=pd.Index([f"c{i}" for i in range(len(n_purchases))], name="customer_id"),
    )


def test_uninformative_shares_on_known_worlds():
    """Shares drawn by chance alone are left out; a planted preference is kept."""
    rng = np.random.default_rng(0)
    n = rng.integers(1, 4, 4_000)
    chance = _customers(n, rng.binomial(n, 0.3) / n)
    assert set(S.uninformative_shares(chance, ["weekend_share"])) == {"weekend_share"}
    n = rng.integers(5, 30, 4_000)
    prefers = np.where(rng.random(4_000) < 0.3, 0.8, 0.15)  # a weekend segment of 30%
    planted = _customers(n, rng.binomial(n, prefers) / n)
    assert S.uninformative_shares(planted, ["weekend_share"]) == {}
    # without purchase counts nothing can be judged, so nothing is left out
    assert (
        S.uninformative_shares(planted.drop(columns="n_transactions_total"), ["weekend_share"])
        == {}
    )
