"""Segmentation on real data: CDNOW, a mail-order CD shop (``$CX_REALDATA/cdnow_sample``).

Most CDNOW customers bought once or twice, so their share of weekend purchases is 0 or 1 by
chance; segmenting on it split "weekday" from "weekend" buyers (issue #20). The share is left out
as mostly chance, and what remains (purchase rate and basket size) has no joint structure beyond
the null reference, so no behavioural segments are named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxlib import segment as S
from cxlib.contract import load_source

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
