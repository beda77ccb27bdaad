"""Notebook 04's readout on the Gerber, Green & Larimer (2008) social-pressure experiment
($CX_REALDATA/gerber_social/social.csv): four arms, control ``Control``, outcome
``primary2006`` (voted). The readout must reproduce the paper's Table 2 turnout and rank the
``Neighbors`` mailing first. Readout only: the model fitting is tested elsewhere."""

from __future__ import annotations

import pytest

from cxlib import uplift as U

pytestmark = pytest.mark.realdata

CONTROL = "Control"
CONFIG = {
    "tables": {
        "campaign": {
            "file": "social.csv",
            "row_id": True,
            "columns": {"messages": "group", "primary2006": "converted"},
        }
    }
}
#: Turnout per arm in the paper's Table 2, in percent.
TURNOUT = {"Control": 29.66, "Civic Duty": 31.45, "Hawthorne": 32.24, "Neighbors": 37.79}
SIZES = {"Control": 191_243, "Civic Duty": 38_218, "Hawthorne": 38_204, "Neighbors": 38_201}


@pytest.fixture(scope="module")
def social(realdata):
    from cxlib.contract import load_source

    folder = realdata / "gerber_social"
    if not (folder / "social.csv").exists():
        pytest.skip("gerber_social/social.csv is not in CX_REALDATA")
    return load_source(folder, tables=("campaign",), config=CONFIG).tables["campaign"]


def test_readout_reproduces_table_2_and_ranks_neighbors_first(social):
    spec = U.describe_campaign(social, CONTROL)
    assert spec.arms == ["Civic Duty", "Hawthorne", "Neighbors"]
    assert spec.outcomes == ["converted"]
    assert not U.srm_test(social, {a: n / sum(SIZES.values()) for a, n in SIZES.items()}).mismatch
    summary = U.campaign_readout(social, CONTROL).summary()
    for _, r in summary.iterrows():
        assert r["n_arm"] == SIZES[r["arm"]] and r["n_control"] == SIZES[CONTROL]
        assert round(r["arm_mean"] * 100, 2) == TURNOUT[r["arm"]]
        assert round(r["control_mean"] * 100, 2) == TURNOUT[CONTROL]
        assert r["ci_low"] > 0 and r["p_value_holm"] < 0.001
    sentence = U.ranked_readout_sentence(summary)
    assert sentence.startswith("Neighbors raised conversion by 8.1 points (29.7% → 37.8%")
    order = [sentence.index(a) for a in ("Neighbors raised", "Hawthorne raised", "Civic Duty")]
    assert order == sorted(order)
