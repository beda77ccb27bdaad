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


@pytest.mark.realdata
def test_telco_headline_and_reasons_are_levers_that_distinguish(telco):
    """The drivers are ranked by the share of churn associated with them: the headline names
    the contract type (measured: month-to-month, 50% of churn, 95% CI 40-60%), not paperless
    billing (12%), and the action list's reasons start with the contract for month-to-month
    customers."""
    data, res = telco
    assert res.drivers.iloc[0]["column"] in ("Contract", "tenure")
    found = churn.churn_findings(res)
    driver_heads = [t for t, h in found if h and "associated with" in t]
    assert driver_heads and ("contract" in driver_heads[0] or "tenure" in driver_heads[0])
    assert not any("paperless" in t for t, h in found if h)
    assert not any(w in t for t, _ in found for w in ("causes", "drives", "driven by"))
    d = res.drivers
    assert (d["p_adjusted"] >= d["p_value"]).all() and (d["p_adjusted"] < 0.05).all()
    actions = churn.action_list(res, "k", top_n=50)
    assert len(actions) == 50 and (actions["segment"] == "Month-to-month").all()
    assert (actions["reasons"] != "paperless billing").all()
    assert actions["reasons"].str.startswith("contract = Month-to-month").all()


def _agreed_texts(res, exports) -> list[str]:
    """Every sentence of the report and every cell of the exports and the action list."""
    actions = churn.action_list(res, "k", top_n=100)
    texts = [t for t, _ in churn.churn_findings(res)]
    texts += [churn.setup_markdown(res), churn.export_markdown(res, exports)]
    texts += [churn.action_list_markdown(res, actions)]
    for frame in [*exports.values(), actions, churn.action_list_display(actions)]:
        texts += [str(v) for v in frame.astype(str).to_numpy().ravel()]
    return texts


@pytest.mark.realdata
def test_telco_never_says_customers_agreed_to_marketing(telco):
    _, res = telco
    exports = res.exports()
    assert not churn.consent_known(res)
    assert exports["churn_scores.csv"]["marketing_consent"].isna().all()
    assert not any("agreed" in t for t in _agreed_texts(res, exports))
    actions = churn.action_list(res, "k")
    assert (actions["consent"] == churn.CONSENT_UNKNOWN).all()


@pytest.mark.realdata
def test_cdnow_never_says_customers_agreed_to_marketing(realdata: Path):
    folder = realdata / "cdnow_sample"
    if not (folder / "transactions.csv").is_file():
        pytest.skip("cdnow_sample/transactions.csv is not in CX_REALDATA")
    data = load_source(folder, tables=("transactions", "customers", "feedback"))
    res = churn.run_churn(data, n_bootstrap=20, random_state=42)
    assert res.mode == "non_contractual" and not churn.consent_known(res)
    exports = res.exports()
    assert exports["churn_scores.csv"]["marketing_consent"].isna().all()
    assert not any("agreed" in t for t in _agreed_texts(res, exports))
    assert "check consent before any contact" in churn.export_markdown(res, exports)
