"""The journey generator and recovery of its planted friction ranking.

Planted truth (``truth/journeys.csv``): journey types ranked by planted opportunity loss. The
analysis names journey types by their entry touchpoint, which the truth records per type.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxlib import journey as J
from cxlib.synth.journeys import JOURNEY_TYPES, TOUCHPOINT_CHANNEL, generate_journeys

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _people(n: int, seed: int) -> pd.DataFrame:
    """A small people frame like ``cxlib.synth.core.make_people``'s (the columns we use)."""
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, 5, n)
    return pd.DataFrame(
        {
            "master_id": [f"P{i:06d}" for i in range(n)],
            "segment_idx": seg,
            "latent_segment": np.array(["a", "b", "c", "d", "e"])[seg],
            "app_user": rng.random(n) < np.array([0.9, 0.25, 0.35, 0.15, 0.1])[seg],
            "preferred_channel": rng.choice(["store", "web", "app"], n, p=[0.45, 0.3, 0.25]),
            "satisfaction": np.clip(rng.normal(3.6, 0.8, n), 1, 5),
            "avg_basket": rng.lognormal(np.array([2.7, 4.5, 3.8, 5.5, 3.3])[seg], 0.3),
            "primary_customer_id": [f"CRM-A-{i:06d}" for i in range(n)],
        }
    )


@pytest.fixture(scope="module")
def world():
    people = _people(5000, 42)
    ev, fb, truth = generate_journeys(
        people, None, np.random.default_rng(42), start="2025-01-01", end="2025-06-30"
    )
    return people, ev, fb, truth


def test_generator_schema_volume_and_truth(world):
    people, ev, fb, truth = world
    assert list(ev.columns) == [
        "customer_id",
        "timestamp",
        "touchpoint",
        "channel",
        "journey_id",
        "value",
    ]
    assert list(fb.columns) == [
        "customer_id",
        "timestamp",
        "score",
        "touchpoint",
        "journey_id",
        "complaint",
        "comment",
    ]
    assert 4.0 < len(ev) / len(people) < 6.0  # about 5 events per person
    assert ev["timestamp"].min() >= pd.Timestamp("2025-01-01")
    assert ev["timestamp"].max() < pd.Timestamp("2025-07-01")
    assert set(ev["touchpoint"]) <= set(TOUCHPOINT_CHANNEL)
    assert set(ev["channel"]) == {"app", "web", "email", "store", "call_centre", "chat"}
    conv = ev["touchpoint"] == "purchase"
    assert ev.loc[conv, "value"].gt(0).all() and ev.loc[~conv, "value"].isna().all()
    assert fb["score"].between(0, 10).all()
    assert ev["customer_id"].isin(people["primary_customer_id"]).all()
    # the journey_id groups events of one customer, in time order, minutes apart
    g = ev.groupby("journey_id")
    assert (g["customer_id"].nunique() == 1).all()
    span = (g["timestamp"].max() - g["timestamp"].min()).dt.total_seconds() / 3600
    assert span.max() < 12
    assert list(truth["friction_rank"]) == list(range(1, len(JOURNEY_TYPES) + 1))
    assert truth.loc[0, "journey"] == "app purchase"
    assert {"journey", "friction_rank", "entry_touchpoint", "opportunity_loss"} <= set(truth)
    assert truth["opportunity_loss"].is_monotonic_decreasing


def test_generator_deterministic():
    people = _people(300, 1)
    a = generate_journeys(people, None, np.random.default_rng(7))
    b = generate_journeys(people, None, np.random.default_rng(7))
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x, y)


def test_generator_uses_customer_ids_lists():
    people = _people(50, 3).drop(columns="primary_customer_id")
    people["customer_ids"] = [[f"CRM-B-{i:06d}", f"CRM-A-{i:06d}"] for i in range(50)]
    ev, _, _ = generate_journeys(people, None, np.random.default_rng(0))
    assert ev["customer_id"].str.startswith("CRM-B-").all()


def _check_recovery(ev: pd.DataFrame, fb: pd.DataFrame | None, truth: pd.DataFrame) -> None:
    jd = J.build_journeys(ev)
    pr = J.prioritise(jd, None if fb is None else J.link_feedback(jd, fb))
    rank = dict(zip(pr["journey"], pr["rank"], strict=True))
    est = truth["entry_touchpoint"].map(rank)
    worst = est[truth["friction_rank"] == 1].iloc[0]
    top3 = est[truth["friction_rank"] <= 3]
    assert worst == 1, pr[["rank", "journey", "opportunity_value"]]
    assert (top3 <= 5).all(), pr[["rank", "journey", "opportunity_value"]]


def test_planted_friction_recovered_from_generator(world):
    _, ev, fb, truth = world
    _check_recovery(ev, fb, truth)


def test_sample_data_recovers_planted_friction():
    events, truth_file = SAMPLE / "events.csv", SAMPLE / "truth" / "journeys.csv"
    if not events.exists() or not truth_file.exists():
        pytest.skip("data/sample has no events/truth yet (run `make sample`)")
    from cxlib.contract import load_source

    data = load_source(SAMPLE, tables=("events", "feedback"))
    truth = pd.read_csv(truth_file)
    _check_recovery(
        data.tables["events"], data.tables["feedback"] if data.has("feedback") else None, truth
    )
