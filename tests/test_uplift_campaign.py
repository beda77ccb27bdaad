"""Sanity tests of the planted campaign (cxlib.synth.campaign) on a small self-made world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxlib.synth.campaign import ARMS, generate_campaign, make_toy_inputs

SENT_AT = pd.Timestamp("2025-05-15")


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(11)
    people, customers, transactions = make_toy_inputs(20_000, rng)
    campaign, truth = generate_campaign(people, customers, transactions, rng, sent_at=SENT_AT)
    return people, customers, transactions, campaign, truth


def test_columns_and_types(world):
    _, _, _, campaign, truth = world
    for c in ("customer_id", "group", "campaign_id", "sent_at", "visited", "converted", "revenue"):
        assert c in campaign.columns
    for c in (
        "recency_days",
        "frequency_365",
        "spend_365",
        "tenure_days",
        "app_user",
        "age_band",
        "region",
        "loyalty_tier",
        "recent_complaint",
    ):
        assert c in campaign.columns
    assert list(truth.columns[:3]) == ["customer_id", "true_uplift_offer_a", "true_uplift_offer_b"]
    assert campaign["customer_id"].is_unique
    assert (truth["customer_id"].to_numpy() == campaign["customer_id"].to_numpy()).all()
    assert set(campaign["group"]) == set(ARMS)
    assert campaign[["visited", "converted"]].isin([0, 1]).all().all()
    assert (campaign["sent_at"] == SENT_AT).all()


def test_outcomes_consistent(world):
    _, _, _, campaign, _ = world
    conv = campaign["converted"] == 1
    assert (campaign.loc[conv, "visited"] == 1).all()  # a conversion implies a visit
    assert (campaign.loc[conv, "revenue"] > 0).all()
    assert (campaign.loc[~conv, "revenue"] == 0).all()


def test_near_equal_allocation(world):
    _, _, _, campaign, _ = world
    counts = campaign["group"].value_counts()
    assert counts.max() - counts.min() <= 1


def test_only_customers_before_send_and_covariates_pre_treatment(world):
    people, _, transactions, campaign, _ = world
    before = transactions.loc[transactions["timestamp"] < SENT_AT]
    assert set(campaign["customer_id"]) == set(before["customer_id"])
    # recency / frequency recomputed independently from purchases before the send
    last = before.groupby("customer_id")["timestamp"].max()
    rec = np.floor((SENT_AT - last).dt.total_seconds() / 86400).astype(int)
    c = campaign.set_index("customer_id")
    assert (c.loc[rec.index, "recency_days"] == rec).all()
    yr = before.loc[before["timestamp"] >= SENT_AT - pd.Timedelta(days=365)]
    freq = yr.groupby("customer_id").size().reindex(c.index, fill_value=0)
    assert (c["frequency_365"] == freq).all()
    # purchases after the send do not change the covariates (no leakage)
    later = transactions.loc[transactions["timestamp"] >= SENT_AT]
    assert len(later) > 0
    c2, _ = generate_campaign(people, None, before, np.random.default_rng(11), sent_at=SENT_AT)
    assert (c2["recency_days"].to_numpy() == campaign["recency_days"].to_numpy()).all()


def test_planted_effect_sizes(world):
    _, _, _, campaign, truth = world
    assert 0.06 <= campaign.loc[campaign["group"] == "control", "converted"].mean() <= 0.10
    assert truth["true_p_control"].mean() == pytest.approx(0.08, abs=0.005)
    assert truth["true_uplift_offer_a"].mean() == pytest.approx(0.02, abs=0.004)
    assert truth["true_uplift_offer_b"].mean() == pytest.approx(0.01, abs=0.004)
    shares = truth["true_response_group"].value_counts(normalize=True)
    assert set(shares.index) == {"persuadable", "sure_thing", "lost_cause", "sleeping_dog"}
    assert 0.05 <= shares["sleeping_dog"] <= 0.15
    dogs = truth["true_response_group"] == "sleeping_dog"
    assert (truth.loc[dogs, "true_uplift_offer_b"] < 0).all()
    # sleeping dogs are recognisable from observable covariates
    c = campaign.loc[dogs]
    obs = (c["recent_complaint"] == 1) | (
        c["frequency_365"] >= campaign["frequency_365"].quantile(0.9)
    )
    assert obs.mean() > 0.8


def test_deterministic_for_seed():
    rng1, rng2 = np.random.default_rng(5), np.random.default_rng(5)
    a = generate_campaign(*make_toy_inputs(2_000, rng1), rng1)
    b = generate_campaign(*make_toy_inputs(2_000, rng2), rng2)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])


def test_multi_record_people_use_primary_id():
    rng = np.random.default_rng(2)
    people, customers, tx = make_toy_inputs(500, rng)
    # person 0 also owns a second record holding some of its purchases
    pid = people.loc[0, "primary_customer_id"]
    people.at[0, "customer_ids"] = [pid, "CRM-B-999999"]
    extra = (
        tx.loc[tx["customer_id"] == tx["customer_id"].iloc[0]]
        .head(1)
        .assign(customer_id="CRM-B-999999", timestamp=pd.Timestamp("2025-05-01"))
    )
    tx = pd.concat([tx, extra], ignore_index=True)
    campaign, truth = generate_campaign(people, customers, tx, rng)
    assert "CRM-B-999999" not in set(campaign["customer_id"])
    assert pid in set(campaign["customer_id"])
    assert campaign.set_index("customer_id").loc[pid, "recency_days"] == 14
