"""Churn features use only the past, app use follows ``churn.channel_roles``, and consent that
the data does not hold is never claimed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from test_churn import AS_OF, simulate_retail

from cxlib import churn

CONTRACT_AS_OF = pd.Timestamp("2025-06-30")


def simulate_contracts(n: int = 2000, seed: int = 11) -> dict[str, pd.DataFrame]:
    """Subscribers with a plan, sign-up and churn dates, and survey answers before they left
    (logit(churn) = -1.2 + 1.1 monthly plan + 0.8 unhappy)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"S{i:05d}" for i in range(n)])
    signup = CONTRACT_AS_OF - pd.to_timedelta(rng.integers(60, 1000, n), unit="D")
    monthly = rng.random(n) < 0.5
    unhappy = rng.random(n) < 0.3
    p = 1 / (1 + np.exp(-(-1.2 + 1.1 * monthly + 0.8 * unhappy)))
    churned = rng.random(n) < p
    stay = (CONTRACT_AS_OF - signup).days.to_numpy()
    left_after = np.floor(rng.uniform(0.3, 1.0, n) * stay).astype(int)
    churn_date = pd.Series(signup + pd.to_timedelta(left_after, unit="D")).where(churned)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "plan": np.where(monthly, "monthly", "annual"),
            "signup_date": signup,
            "churn_date": churn_date.to_numpy(),
        }
    )
    end = churn_date.fillna(CONTRACT_AS_OF).to_numpy()
    rows = []
    for i in np.flatnonzero(rng.random(n) < 0.7):
        span = (pd.Timestamp(end[i]) - signup[i]).days
        day = signup[i] + pd.Timedelta(days=int(rng.integers(0, max(span, 1))), hours=10)
        score = np.clip(np.round(rng.normal(2.2 if unhappy[i] else 4.0, 0.7)), 1, 5)
        rows.append((ids[i], day, float(score), False))
    feedback = pd.DataFrame(rows, columns=["customer_id", "timestamp", "score", "complaint"])
    return {"customers": customers, "feedback": feedback}


def _complaints_when_leaving(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """A complaint logged on the day each churner left (the cancellation call)."""
    c = tables["customers"].dropna(subset=["churn_date"])
    leak = pd.DataFrame(
        {
            "customer_id": c["customer_id"].to_numpy(),
            "timestamp": pd.to_datetime(c["churn_date"]).to_numpy() + pd.Timedelta(hours=9),
            "score": 1.0,
            "complaint": True,
        }
    )
    return {**tables, "feedback": pd.concat([tables["feedback"], leak], ignore_index=True)}


def _oof_auc(res) -> float:
    return roc_auc_score(res.holdout["y"], res.holdout[res.chosen_model])


def test_contractual_complaints_on_the_churn_date_do_not_leak():
    """Measured: out-of-fold ROC AUC 0.750 with and without the leaked complaints (before the
    cut-off at the churn date: 0.650 without them, 1.000 with them)."""
    tables = simulate_contracts()
    kw = dict(n_bootstrap=10, random_state=0)
    clean = churn.run_churn(tables, CONTRACT_AS_OF, **kw)
    leaked = churn.run_churn(_complaints_when_leaving(tables), CONTRACT_AS_OF, **kw)
    assert clean.mode == leaked.mode == "contractual"
    assert _oof_auc(clean) > 0.6
    assert abs(_oof_auc(leaked) - _oof_auc(clean)) <= 0.01
    # the complaints are in the data but none is dated before a churner left
    x, _ = churn.contractual_features(_complaints_when_leaving(tables), CONTRACT_AS_OF)
    assert x["complained"].sum() == 0


def test_contractual_features_ignore_future_rows_and_use_tenure_at_leaving():
    tables = simulate_contracts(n=400)
    x0, low0 = churn.contractual_features(tables, CONTRACT_AS_OF)
    later = CONTRACT_AS_OF + pd.Timedelta(days=30)
    fb = tables["feedback"]
    future_fb = pd.DataFrame(
        {
            "customer_id": fb["customer_id"].to_numpy(),
            "timestamp": later,
            "score": 10.0,  # on another scale: a threshold learnt from it would move
            "complaint": True,
        }
    )
    future_c = pd.DataFrame({"customer_id": ["NEW1"], "plan": ["monthly"], "signup_date": [later]})
    grown = {
        "customers": pd.concat([tables["customers"], future_c], ignore_index=True),
        "feedback": pd.concat([fb, future_fb], ignore_index=True),
    }
    x1, low1 = churn.contractual_features(grown, CONTRACT_AS_OF)
    assert low1 == low0 == 3.0
    pd.testing.assert_frame_equal(x1.drop(index="NEW1"), x0)
    # a churner's tenure stops growing when they leave
    c = tables["customers"].set_index("customer_id")
    gone = c["churn_date"].notna()
    expect = (pd.to_datetime(c["churn_date"]) - c["signup_date"]).dt.days[gone]
    assert np.allclose(x0.loc[gone[gone].index, "signup_tenure_days"], expect)


def _future_rows(retail: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Rows dated after the as-of day in every table: purchases, survey answers on another
    scale and complaints from everyone, and new customers who arrive later."""
    tx, fb, cust = retail["transactions"], retail["feedback"], retail["customers"]
    rng = np.random.default_rng(4)
    later = AS_OF + pd.Timedelta(days=1)
    ftx = tx.sample(frac=0.3, random_state=1)
    ftx = ftx.assign(timestamp=later + pd.to_timedelta(rng.integers(0, 200, len(ftx)), unit="D"))
    new_ids = [f"NEW-{i:04d}" for i in range(50)]
    ntx = pd.DataFrame(
        {
            "customer_id": new_ids,
            "timestamp": later + pd.Timedelta(days=3),
            "amount": 20.0,
            "channel": "app",
            "category": "toys",
        }
    )
    ffb = pd.DataFrame(
        {
            "customer_id": cust["customer_id"].to_numpy(),
            "timestamp": later + pd.Timedelta(hours=2),
            "score": 10.0,
            "complaint": True,
        }
    )
    ncust = cust.head(50).assign(customer_id=new_ids, email="new@example.com")
    return {
        "transactions": pd.concat([tx, ftx, ntx], ignore_index=True),
        "feedback": pd.concat([fb, ffb], ignore_index=True),
        "customers": pd.concat([cust, ncust], ignore_index=True),
    }


def test_future_rows_in_every_table_leave_the_run_unchanged():
    """Segments, the low-score threshold, feedback, attributes and purchases at every snapshot
    and at the as-of date come from rows before it: rows dated later change nothing."""
    retail = simulate_retail(n=800, seed=2)
    tables = {k: v for k, v in retail.items() if k != "truth"}
    kw = dict(n_snapshots=2, n_bootstrap=10, random_state=1)
    base = churn.run_churn(tables, AS_OF, **kw)
    grown = churn.run_churn(_future_rows(tables), AS_OF, **kw)
    pd.testing.assert_frame_equal(grown.holdout, base.holdout)
    pd.testing.assert_frame_equal(grown.odds_ratios, base.odds_ratios)
    pd.testing.assert_frame_equal(grown.scores, base.scores)
    assert grown.low_score == base.low_score


def test_app_channels_are_exact_names_from_channel_roles():
    cols = [
        "channel_share_ios",
        "channel_share_android",
        "channel_share_app",
        "channel_share_ios_app",
        "channel_share_web",
        "recency_days",
    ]
    # defaults: app, ios, android, mobile (mobile is a synonym of app), exact names
    assert churn.app_channel_columns(cols) == [
        "channel_share_ios",
        "channel_share_android",
        "channel_share_app",
    ]
    # a user's mapping, any case, replaces the defaults; no substring matches
    assert churn.app_channel_columns(cols, {"iOS App": "App", "web": "web"}) == [
        "channel_share_ios_app"
    ]
    assert churn.app_channel_columns(cols, {"ios_ap": "app"}) == []


@pytest.fixture(scope="module")
def retail() -> dict[str, pd.DataFrame]:
    return simulate_retail()


def test_app_use_from_channels_named_otherwise(retail):
    """The app channel called 'iOS' and 'Android' gives the same ``no_app_use`` as 'app'; with
    no channel mapped to the app role the report says so."""
    tables = {k: v for k, v in retail.items() if k != "truth"}
    tx = tables["transactions"]
    renamed = tx.assign(
        channel=np.where(
            tx["channel"] == "app",
            np.where(np.arange(len(tx)) % 2 == 0, "iOS", "Android"),
            tx["channel"],
        )
    )
    day = AS_OF - pd.Timedelta(days=90)
    kw = dict(include_btyd=False, lookback_days=365)
    a = churn.snapshot_features(tables, day, **kw)
    b = churn.snapshot_features({**tables, "transactions": renamed}, day, **kw)
    pd.testing.assert_series_equal(a["no_app_use"], b["no_app_use"])
    assert "no_app_use" not in churn.snapshot_features(
        {**tables, "transactions": renamed}, day, channel_roles={"tablet": "app"}, **kw
    )
    note = churn.app_use_note(list(b.columns), {"tablet": "app"})
    assert "No channel of the data" in note and "`churn.channel_roles`" in note


def test_unknown_consent_is_never_called_agreement():
    """Without a consent column the action list says consent is unknown and the texts claim no
    agreement; with one, only consenting customers are listed."""
    tables = simulate_contracts(n=600, seed=3)
    res = churn.run_churn(tables, CONTRACT_AS_OF, n_bootstrap=10, random_state=0)
    assert not churn.consent_known(res)
    actions = churn.action_list(res, "k", min_probability=0.0)
    assert len(actions) and (actions["consent"] == churn.CONSENT_UNKNOWN).all()
    texts = [t for t, _ in churn.churn_findings(res)]
    texts += [churn.action_list_markdown(res, actions), churn.export_markdown(res)]
    texts += [churn.setup_markdown(res)]
    assert not any("agreed" in t for t in texts)
    assert "check consent before any contact" in churn.export_markdown(res)
    assert churn.scores_export(res)["marketing_consent"].isna().all()

    rng = np.random.default_rng(0)
    consent = rng.random(len(tables["customers"])) < 0.5
    with_consent = {
        **tables,
        "customers": tables["customers"].assign(marketing_consent=consent),
    }
    res2 = churn.run_churn(with_consent, CONTRACT_AS_OF, n_bootstrap=10, random_state=0)
    actions2 = churn.action_list(res2, "k", top_n=500, min_probability=0.0)
    from cxlib.privacy import pseudonymise

    ids = tables["customers"]["customer_id"]
    agreed = set(pseudonymise(ids[consent], "k"))
    assert set(actions2["customer"]) <= agreed and (actions2["consent"] == "given").all()
