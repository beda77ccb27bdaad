"""The customer facts of the next-best-action rules (issue #23): each from the analysis that
answers it in the same run, and a missing source said, not guessed."""

from __future__ import annotations

import pandas as pd
import pytest

from cxlib.action._facts import FACT_KINDS, customer_facts, value_bands
from cxlib.engine import Engine

AS_OF = "2024-06-30"


def _tables(engine: Engine) -> dict:
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "c", "old"],
            "timestamp": pd.to_datetime(
                ["2024-06-01", "2024-06-20", "2024-07-05", "2024-05-01", "2024-06-29", "2022-01-01"]
            ),
            "amount": [10.0, 20.0, 99.0, 5.0, 7.0, 3.0],
            "channel": ["web", "Web ", "store", "store", "app", "store"],
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": ["a", "b", "b", "b", "c", "c", "c"],
            "timestamp": pd.to_datetime(
                [
                    "2024-06-25",
                    "2024-06-26",
                    "2024-06-27",
                    "2024-06-28",
                    "2024-06-01",
                    "2024-06-10",
                    "2024-06-11",
                ]
            ),
            "touchpoint": ["email_sent", "email_sent", "app_browse", "app_browse"]
            + ["email_sent"] * 3,
            "channel": ["email", "email", "app", "app", "email", "email", "email"],
        }
    )
    feedback = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "timestamp": pd.to_datetime(["2024-06-15", "2024-01-10", "2024-06-29"]),
            "score": [1.0, 2.0, 9.0],
            "complaint": [True, True, False],
        }
    )
    customers = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "marketing_consent": pd.array([True, None, False])}
    )
    return {
        "transactions": engine.table(tx),
        "events": engine.table(events),
        "feedback": engine.table(feedback),
        "customers": customers,
    }


def _run_folder(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "churn_probability": [0.1, 0.7, 0.4],
            "p_alive": [0.9, 0.3, 0.6],
            "value_at_risk": [10.0, 300.0, 50.0],
        }
    ).to_csv(exports / "churn_scores.csv", index=False)
    pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "arm": ["offer_a", "offer_b"],
            "uplift": [0.02, -0.01],
            "recommended": [True, False],
            "segment": ["x", "y"],
        }
    ).to_csv(exports / "uplift_scores.csv", index=False)
    return tmp_path


class _Segments:
    def label_records(self, ids):
        return pd.Series(ids).map({"a": "Loyal", "b": "At risk"})


def test_every_fact_from_its_source(tmp_path):
    with Engine() as engine:
        facts = customer_facts(
            _tables(engine),
            as_of_date=AS_OF,
            output_dir=_run_folder(tmp_path),
            segments=_Segments(),
            period_days=7,
            complaint_days=30,
        )
    f = facts.frame.set_index("customer_id")
    assert list(facts.frame.columns) == ["customer_id", *FACT_KINDS]
    assert sorted(f.index) == ["a", "b", "c"]  # "old" bought over a year ago and is not scored
    assert f.loc["a", "days_since_last_purchase"] == 11  # 2024-06-20; the July purchase is later
    assert f.loc["c", "days_since_last_purchase"] == 2
    assert f.loc["a", "preferred_channel"] == "web"  # "web" and "Web " are one channel
    assert f.loc["b", "preferred_channel"] == "app"  # 2 app events beat 1 store purchase
    assert f.loc["c", "preferred_channel"] == "app"  # our 3 e-mails are not c's choice
    assert f.loc["b", "churn_probability"] == pytest.approx(0.7)
    assert f.loc["b", "value_at_risk_band"] == "high"
    assert f.loc["a", "value_at_risk_band"] == "low"
    assert f.loc["a", "uplift_group"] == "persuadable" and f.loc["a", "uplift_arm"] == "offer_a"
    assert f.loc["b", "uplift_group"] == "sleeping_dog"
    assert pd.isna(f.loc["c", "uplift_group"])  # not in the campaign
    assert f.loc["a", "segment"] == "Loyal" and pd.isna(f.loc["c", "segment"])
    assert bool(f.loc["a", "open_complaint"]) and not bool(f.loc["b", "open_complaint"])
    assert bool(f.loc["a", "marketing_consent"])
    assert pd.isna(f.loc["b", "marketing_consent"])  # unknown stays unknown
    assert not bool(f.loc["c", "marketing_consent"])
    assert f.loc["a", "contacts_this_period"] == 1
    assert f.loc["c", "contacts_this_period"] == 0  # the June 1st send is before the period
    assert facts.unavailable == {}  # the cross-sell facts are added by the plan itself
    assert facts.sources["churn_probability"] == "churn_scores.csv (notebook 03)"


def test_missing_sources_are_named_with_their_fix(tmp_path):
    with Engine() as engine:
        tables = _tables(engine)
        facts = customer_facts(
            {"transactions": tables["transactions"]}, as_of_date=AS_OF, output_dir=tmp_path
        )
    assert facts.unavailable["churn_probability"].startswith("run notebook 03")
    assert facts.unavailable["uplift_group"].startswith("run notebook 04")
    assert "marketing_consent" in facts.unavailable["marketing_consent"]
    assert "feedback" in facts.unavailable["open_complaint"]
    assert facts.frame["marketing_consent"].isna().all()  # never consent by default
    assert facts.frame["churn_probability"].isna().all()


def test_value_bands_are_the_customers_quantiles():
    values = pd.Series([float(v) for v in range(1, 11)] + [None])
    bands = value_bands(values)
    assert bands.value_counts().to_dict() == {"low": 5, "medium": 3, "high": 2}
    assert pd.isna(bands.iloc[-1])
