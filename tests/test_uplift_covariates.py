"""Pre-treatment covariates only (docs/uplift.md): the name rule, the balance rule, the user's
list, the purchase-history cut, and the sample with an injected post-treatment column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cxlib import uplift as U

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _campaign(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["control", "offer_a"], n)
    conv = (rng.random(n) < 0.1).astype(int)
    treated = group == "offer_a"
    return pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "group": group,
            "converted": conv,
            "age": rng.integers(18, 80, n).astype(float),
            "tier": rng.choice(["gold", "silver"], n),
            "emailOpened": np.where(treated, rng.random(n) < 0.3, 0).astype(int),
            "clicks_7d": np.where(treated, rng.poisson(1.0, n), 0),
            "opener_score": rng.random(n),  # "opener" is not the word "opened": kept
            "delivered_late": np.where(treated, rng.random(n) < 0.5, np.nan),
            "score_after": rng.normal(0, 1, n) + 0.6 * treated,
            "batch": np.where(treated, "B1", rng.choice(["B1", "B2"], n)),
        }
    )


def test_name_words_are_exact_words():
    assert U.name_words("emailOpened_7d") == ["email", "opened", "d"]
    assert U.name_words("converted_30d") == ["converted", "d"]
    assert U.name_words("OPENER-score") == ["opener", "score"]
    assert {"opened", "clicked", "delivered", "bounced", "unsubscribed", "visited", "revenue",
            "converted"} <= U.RESPONSE_WORDS  # fmt: skip


def test_screen_names_the_reason_of_every_exclusion():
    camp = _campaign()
    candidates = U.describe_campaign(camp).covariates
    kept, excluded = U.screen_covariates(camp, candidates, "control")
    assert kept == ["age", "tier", "opener_score"]
    why = excluded.set_index("column")["reason"]
    assert list(why.index) == ["emailOpened", "clicks_7d", "delivered_late", "score_after", "batch"]
    assert why["emailOpened"] == "its name marks a response (opened)"
    assert why["clicks_7d"] == "its name marks a response (clicks)"
    assert why["delivered_late"].startswith("its name marks a response (delivered)")
    assert why["score_after"].startswith("differs between offer_a and control beyond what")
    smd = float(why["score_after"].split("standardised difference ")[1].split(" ")[0])
    assert 0.5 < smd < 0.7
    assert why["batch"] == "one value only in offer_a, not in the other groups"
    # missing in one arm only
    gap = camp.assign(note=np.where(camp["group"] == "control", np.nan, 1.0))
    _, ex = U.screen_covariates(gap, ["note"], "control")
    assert ex["reason"].tolist() == ["missing in control and not in the other groups"]


def test_listed_covariates_are_used_exactly():
    camp = _campaign()
    candidates = U.describe_campaign(camp).covariates
    kept, excluded = U.screen_covariates(camp, candidates, "control", listed=["tier", "batch"])
    assert kept == ["tier", "batch"]  # the user's word wins over the rules
    assert set(excluded["reason"]) == {"not listed in uplift.covariates"}
    # the rules still say what they doubt among the listed columns (the report warns)
    doubt = U.covariate_doubts(camp, kept, "control")
    assert doubt["column"].tolist() == ["batch"]
    with pytest.raises(ValueError, match="'Tier', not a covariate column"):
        U.screen_covariates(camp, candidates, "control", listed=["Tier"])  # exact names


def test_history_is_cut_strictly_before_the_send_day():
    camp = pd.DataFrame(
        {"customer_id": ["A", "B"], "group": ["control", "offer_a"], "sent_at": "2025-05-15"}
    ).assign(sent_at=lambda d: pd.to_datetime(d["sent_at"]))
    tx = pd.DataFrame(
        {
            "customer_id": ["A", "A", "B"],
            "timestamp": pd.to_datetime(
                ["2025-05-14 23:59", "2025-05-15 00:00", "2025-05-15 09:00"]
            ),
            "amount": [10.0, 99.0, 50.0],
        }
    )
    got, note = U.history_features(camp, tx)
    assert "up to 2025-05-14, the day before the send" in note
    assert got["hist_frequency"].iloc[0] == 1 and got["hist_monetary"].iloc[0] == 10.0
    assert got.iloc[1].isna().all()  # B bought only on the send day


@pytest.fixture(scope="module")
def sample_runs():
    """The sample as it is, and with ``email_opened`` (0 for control; for treated customers 1
    with probability 0.6 if they converted, 0.2 otherwise; seed 19)."""
    from cxlib.contract import load_source

    data = load_source(SAMPLE, tables=("campaign", "transactions", "customers"))
    tables = dict(data.tables)
    camp = tables["campaign"]
    rng = np.random.default_rng(19)
    treated = (camp["group"] != "control").to_numpy()
    p = np.where(camp["converted"].to_numpy() == 1, 0.6, 0.2)
    opened = np.where(treated, rng.random(len(camp)) < p, False).astype(int)
    kw = {"random_state": 42, "n_bootstrap": 100}
    clean = U.run_uplift(tables, **kw)
    dirty = U.run_uplift({**tables, "campaign": camp.assign(email_opened=opened)}, **kw)
    return clean, dirty


@pytest.mark.slow
def test_injected_response_column_is_left_out(sample_runs):
    clean, dirty = sample_runs
    assert "email_opened" not in dirty.spec.covariates
    assert dirty.spec.covariates == clean.spec.covariates
    assert dirty.covariate_exclusions["column"].tolist() == ["email_opened"]
    cov = dirty.exports()["uplift_covariates.csv"].set_index("column")
    assert not cov.loc["email_opened", "used"] and "opened" in cov.loc["email_opened", "reason"]
    assert cov["used"].sum() == len(clean.spec.covariates)
    said = "Left out of the covariates, as not known before the send: email_opened (its name "
    assert said in " ".join(f.text for f in dirty.findings())
    assert said in dirty.description()
    a = clean.exports()["uplift_scores.csv"].set_index("customer_id")["uplift"]
    b = dirty.exports()["uplift_scores.csv"].set_index("customer_id")["uplift"].loc[a.index]
    assert stats.spearmanr(a, b).statistic >= 0.95
    # listed by the user it is used, and the report warns
    camp = dirty.campaign
    forced = U.run_uplift(
        {"campaign": camp},
        options={"covariates": [*clean.spec.covariates, "email_opened"]},
        random_state=42,
        n_bootstrap=0,
    )
    assert "email_opened" in forced.spec.covariates
    warning = "Warning: uplift.covariates lists columns that look recorded after the send: "
    assert warning + "email_opened (its name marks a response (opened))" in " ".join(
        f.text for f in forced.findings()
    )
    # without the name rule the balance rule still catches it (constant in control)
    renamed = dirty.campaign.rename(columns={"email_opened": "flag_x"})
    _, ex = U.screen_covariates(renamed, ["recency_days", "flag_x"], "control")
    assert ex["column"].tolist() == ["flag_x"] and "one value only in control" in ex["reason"][0]


@pytest.mark.slow
def test_sample_groups_are_named_only_when_confirmed(sample_runs):
    """On the sample (true sleeping dogs 7-8% of customers) no predicted group is named unless
    its held-out observed uplift confirms it, and predicted sleeping dogs are never confirmed
    while their CI includes zero."""
    clean, _ = sample_runs
    truth = pd.read_csv(SAMPLE / "truth" / "customers.csv").set_index("customer_id")
    text = " ".join(f.text for f in clean.findings())
    for arm in clean.spec.arms:
        g = clean.groups[arm].set_index("group")
        assert g.loc["persuadable", "confirmed"] == (g.loc["persuadable", "ci_low"] > 0)
        assert g.loc["sleeping_dog", "confirmed"] == (g.loc["sleeping_dog", "ci_high"] < 0)
        assert not g.loc["sleeping_dog", "confirmed"]
        assert "(sleeping dogs:" not in text
        if not g["confirmed"].any():
            assert f"The model cannot separate groups for {U._report.arm_label(arm)}" in text
        # named persuadables hold more true persuadables than the campaign does
        if g.loc["persuadable", "confirmed"]:
            f = clean.models.arm_frame(arm)
            grp = U.response_groups(f["uplift"], f["p_control"],
                                    base_rate=f.loc[f["treatment"] == 0, "y"].mean())  # fmt: skip
            true = truth.loc[f["customer_id"].astype(str), "true_response_group"].to_numpy()
            inside = (grp == "persuadable").to_numpy()
            assert (true[inside] == "persuadable").mean() > (true == "persuadable").mean()
