"""Churn on real public data: IBM Telco customer churn (contractual mode). Needs CX_REALDATA."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from cxlib import churn
from cxlib.contract import load_source

#: How a user maps the Telco file onto the data contract (config of the notebook/runner).
TELCO_CONFIG = {
    "tables": {
        "customers": {
            "file": "telco_churn.csv",
            "columns": {"customerID": "customer_id", "Churn": "churned"},
        }
    }
}


@pytest.fixture(scope="module")
def telco(realdata: Path):
    if not (realdata / "telco_churn.csv").is_file():
        pytest.skip("telco_churn.csv is not in CX_REALDATA")
    data = load_source(
        realdata, tables=("transactions", "customers", "feedback"), config=TELCO_CONFIG
    )
    res = churn.run_churn(
        data,
        options={"n_bootstrap": 50, "segment_column": "Contract", "duration_column": "tenure"},
        random_state=42,
    )
    return data, res


@pytest.mark.realdata
def test_telco_is_contractual_with_out_of_fold_auc(telco):
    data, res = telco
    assert not data.has("transactions")
    assert res.mode == "contractual"
    customers = data.tables["customers"]
    assert len(res.scores) == 7043
    assert customers["churned"].mean() == pytest.approx(0.2654, abs=1e-4)
    # the exported scores are the out-of-fold predictions of the chosen model
    y = customers.set_index("customer_id")["churned"].astype(int)
    scores = churn.scores_export(res).set_index("customer_id")["churn_probability"]
    auc = roc_auc_score(y.loc[scores.index], scores)
    assert auc >= 0.84
    for name in (churn.LOGIT, churn.GBM):
        assert res.metrics[name].set_index("metric").loc["roc_auc", "estimate"] >= 0.83


@pytest.mark.realdata
def test_telco_drivers_and_retention(telco):
    _, res = telco
    terms = set(res.drivers["term"])
    # month-to-month contracts churn most: longer contracts lower the risk
    assert {"Contract[One year]", "Contract[Two year]"} <= terms
    d = res.drivers.set_index("term")
    assert d.loc["Contract[Two year]", "estimate"] < d.loc["Contract[One year]", "estimate"] < 1
    assert set(res.survival_curves["group"]) == {"Month-to-month", "One year", "Two year"}
    assert res.survival_test["p_value"] < 1e-10
    found = churn.churn_findings(res)
    assert any("churn" in text for text, _ in found)
