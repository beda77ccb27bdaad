"""Journeys on real public data: the BPI Challenge 2012 loan-application log (a real funnel with
no marketing channels and touchpoint names we have never seen). Needs CX_REALDATA."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cxlib import journey as J

#: submitted -> pre-accepted -> accepted -> finalised -> approved, and the published counts.
FUNNEL = {
    "A_SUBMITTED": 13_087,
    "A_PREACCEPTED": 7_367,
    "A_ACCEPTED": 5_113,
    "A_FINALIZED": 5_015,
    "A_APPROVED": 2_246,
}


@pytest.fixture(scope="module")
def events(realdata: Path) -> pd.DataFrame:
    path = realdata / "bpic2012" / "bpic2012.csv.gz"
    if not path.is_file():
        pytest.skip("bpic2012/bpic2012.csv.gz is not in CX_REALDATA")
    raw = pd.read_csv(path, dtype={"_case": str})
    # customer and journey are the application (`_case`), touchpoint the activity
    stamp = pd.to_datetime(raw["time:timestamp"], utc=True, format="ISO8601")
    return pd.DataFrame(
        {
            "customer_id": raw["_case"],
            "journey_id": raw["_case"],
            "touchpoint": raw["concept:name"],
            "timestamp": stamp.dt.tz_localize(None),
        }
    )


@pytest.mark.realdata
def test_bpic2012_funnel_reproduces_the_published_counts(events):
    with J.build_journeys(events, conversion_touchpoint="A_APPROVED") as jd:
        j = jd.journeys
        assert j["customer_id"].nunique() == 13_087
        assert jd.params["used_journey_id"]
        # every application starts at A_SUBMITTED: that is its journey type
        assert int((j["journey_type"] == "A_SUBMITTED").sum()) == 13_087
        assert int(j["converted"].sum()) == 2_246
        f = J.funnel(jd, "A_SUBMITTED", list(FUNNEL))
    assert f["touchpoint"].tolist() == list(FUNNEL)
    assert f["journeys"].tolist() == list(FUNNEL.values())


@pytest.mark.realdata
def test_bpic2012_report_reads_right(events):
    r = J.run_journeys({"events": events}, conversion_touchpoint="A_APPROVED", n_boot=0)
    # no channel-type rule names a loan activity: the report lists them instead of guessing
    assert (r.touchpoint_types.drop("A_APPROVED") == "unknown").all()
    assert "could not be typed" in r.overview() and "'A_SUBMITTED'" in r.overview()
    found = r.findings()
    text = " ".join(f.text for f in found)
    assert "purchase" not in text and "nan" not in text.lower()
    fix = [f for f in found if f.headline and f.text.startswith("Fix first")]
    top = r.priorities.iloc[0]
    assert (
        top["stands_out"]
        and len(fix) == 1
        and fix[0].text.startswith(f"Fix first: '{top['journey']}'")
    )
    assert f"about {top['extra_conversions']:,.0f} more conversions" in fix[0].text
