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


@pytest.fixture(scope="module")
def hillstrom_run(hillstrom):
    """The whole analysis with every customer consenting, so the targeting decision is what is
    tested (two folds and 100 resamples keep it quick; the decision rule is the same)."""
    campaign, _ = hillstrom
    customers = pd.DataFrame({"customer_id": campaign["customer_id"], "marketing_consent": True})
    data = {"campaign": campaign, "customers": customers}
    return U.run_uplift(data, control_arm=CONTROL, n_folds=2, n_bootstrap=100, random_state=0)


def test_targeting_export_is_the_marketing_list(hillstrom_run):
    res = hillstrom_run
    ex = res.exports()
    target = ex["uplift_targeting.csv"].set_index("arm")
    scores = ex["uplift_scores.csv"]
    assert list(target.index) == ["Mens E-Mail", "Womens E-Mail"]
    assert set(target["economics"]) == {"assumed"}
    for arm, row in target.iterrows():
        n_rec = int((scores["recommended"] & (scores["arm"] == arm)).sum())
        assert row["customers_recommended"] == n_rec, arm
        if row["profit_ci_low"] <= 0:
            assert row["customers_recommended"] == 0 and row["share_contacted"] == 0, arm
    # about 1% conversion at the assumed 1 per contact and 40 per conversion: nobody is
    # recommended and the headline says what to do instead, without a money figure
    assert not scores["recommended"].any()
    headline = next(f.text for f in res.findings() if f.headline and "recommended" in f.text)
    assert headline.startswith("Nobody is recommended for the next campaign")
    assert "Mens E-Mail raises conversion on average" in headline
    assert "(assumed)" not in headline and not any(ch.isdigit() for ch in headline.split(":")[0])


def test_no_unconfirmed_group_is_named(hillstrom_run):
    """A persuadable or sleeping-dog group is named only when its observed uplift in held-out
    folds has a CI on the right side of zero; no sleeping-dog group with a CI that includes
    zero is named."""
    res = hillstrom_run
    text = " ".join(f.text for f in res.findings())
    for arm in res.spec.arms:
        g = res.groups[arm].set_index("group")
        assert g.loc["persuadable", "confirmed"] == (g.loc["persuadable", "ci_low"] > 0)
        dog = g.loc["sleeping_dog"]
        assert dog["confirmed"] == (dog["ci_high"] < 0)
        if not dog["confirmed"]:
            assert dog["label"] == "Predicted sleeping dogs (not confirmed)"
            assert "sleeping dogs: contacting them" not in text
            assert "Sleeping dogs" not in set(res.groups_display(arm)["Group"])
        if not g["confirmed"].any():
            assert f"The model cannot separate groups for {arm}" in text


def test_control_group_recognised_without_control_arm(hillstrom):
    """Issue #21: without ``uplift.control_arm``, Hillstrom's 'No E-Mail' is recognised as the
    control group by its name, and the campaign description says so."""
    campaign, _ = hillstrom
    assert U.resolve_control_arm(campaign, None) == ("No E-Mail", True)
    assert U.skip_reason({"campaign": campaign}) is None
    res = U.run_uplift({"campaign": campaign}, n_folds=2, n_bootstrap=20, random_state=0)
    assert res.spec.control_arm == "No E-Mail" and res.control_arm_detected
    assert "recognised by its name" in res.description()
    assert res.findings()
