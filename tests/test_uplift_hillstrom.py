"""Notebook 04 on real data: Kevin Hillstrom's e-mail test ($CX_REALDATA/hillstrom.csv).

Loaded as a ``campaign`` table through the data contract with a column mapping (segment → group,
visit → visited, conversion → converted, spend → revenue; row numbers as customer ids). The
readout must reproduce an independent pandas computation to 4 decimals, and the report must say
which e-mail works better for whom.
"""

from __future__ import annotations

import pandas as pd
import pytest

from cxlib import uplift as U

pytestmark = pytest.mark.realdata

CONTROL = "No E-Mail"
CONFIG = {
    "tables": {
        "campaign": {
            "file": "hillstrom.csv",
            "row_id": True,
            "columns": {
                "segment": "group",
                "visit": "visited",
                "conversion": "converted",
                "spend": "revenue",
            },
        }
    }
}


@pytest.fixture(scope="module")
def hillstrom(realdata):
    from cxlib.contract import load_source

    path = realdata / "hillstrom.csv"
    if not path.exists():
        pytest.skip("hillstrom.csv is not in CX_REALDATA")
    data = load_source(realdata, tables=("campaign",), config=CONFIG)
    raw = pd.read_csv(path)
    return data.tables["campaign"], raw


def test_loaded_as_campaign(hillstrom):
    campaign, raw = hillstrom
    assert len(campaign) == len(raw) == 64_000
    spec = U.describe_campaign(campaign, CONTROL)
    assert spec.arms == ["Mens E-Mail", "Womens E-Mail"]
    assert spec.outcomes == ["visited", "converted", "revenue"]
    assert set(spec.covariates) == {
        "recency",
        "history_segment",
        "history",
        "mens",
        "womens",
        "zip_code",
        "newbie",
        "channel",
    }
    assert not U.srm_test(campaign).mismatch


def test_readout_reproduces_pandas(hillstrom):
    campaign, raw = hillstrom
    ro = U.campaign_readout(campaign, CONTROL)
    means = raw.groupby("segment")[["visit", "conversion", "spend"]].mean()
    sizes = raw["segment"].value_counts()
    for arm in ("Mens E-Mail", "Womens E-Mail"):
        for out, col in (("visited", "visit"), ("converted", "conversion"), ("revenue", "spend")):
            r = ro.row(arm, out)
            assert r["n_arm"] == sizes[arm] and r["n_control"] == sizes[CONTROL]
            assert round(r["control_mean"], 4) == round(means.loc[CONTROL, col], 4)
            assert round(r["arm_mean"], 4) == round(means.loc[arm, col], 4)
            diff = means.loc[arm, col] - means.loc[CONTROL, col]
            assert round(r["estimate"], 4) == round(diff, 4)
    # published figures (README of the real-data folder)
    mens_visit = ro.row("Mens E-Mail", "visited")
    assert round(mens_visit["estimate"], 5) == 0.07659
    assert round(mens_visit["ci_low"], 5) == 0.06995 and round(mens_visit["ci_high"], 5) == 0.08323
    assert round(ro.row("Womens E-Mail", "visited")["estimate"], 5) == 0.04523
    assert round(ro.row("Mens E-Mail", "converted")["estimate"], 5) == 0.00681
    assert round(ro.row("Womens E-Mail", "converted")["estimate"], 5) == 0.00311
    assert round(ro.row("Mens E-Mail", "revenue")["estimate"], 5) == 0.76983
    assert round(ro.row("Womens E-Mail", "revenue")["estimate"], 5) == 0.42441
    assert round(mens_visit["control_mean"], 5) == 0.10617


def test_report_names_which_arm_works_for_whom(hillstrom):
    campaign, _ = hillstrom
    spec = U.describe_campaign(campaign, CONTROL)
    cmp_ = U.compare_arms_by_subgroup(
        campaign, spec.covariates, outcome="visited", control_arm=CONTROL
    )
    sentences = U.who_responds_sentences(cmp_, outcome_label="visits")
    text = " ".join(sentences)
    assert "Mens E-Mail works better for mens = 1" in text
    # the women's e-mail is not better than the men's among men's-merchandise buyers
    row = cmp_.loc[(cmp_["covariate"] == "mens") & (cmp_["level"] == "1")].iloc[0]
    assert row["better_arm"] == "Mens E-Mail" and row["p_value_holm"] < 0.001
