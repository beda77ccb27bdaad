"""``run_action`` on the sample (issue #23): the plan respects consent, suppression, caps and the
budget; exports hold consenting customers only; a missing catalogue is a skip with its fix; a
broken catalogue stops ``cx run`` with exit 2 naming its line."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from cxlib.action import catalogue_path, run_action
from cxlib.action._run import PLAN_EXPORT_COLUMNS
from cxlib.cli import main
from cxlib.contract import ContractError, load_source

TABLES = ("transactions", "events", "feedback", "customers", "products")


@pytest.fixture(scope="module")
def sample_data(sample_dir):
    data = load_source(sample_dir, tables=TABLES, lazy=("transactions", "events"))
    yield data
    data.close()


@pytest.fixture(scope="module")
def result(sample_data, sample_dir):
    return run_action(
        sample_data,
        data_dir=sample_dir,
        options={"budget": 300.0},
        seed=42,
        currency="£",
    )


def test_plan_respects_budget_caps_and_consent(result, sample_data):
    d = result.decision
    assert d is not None
    plan = d.plan
    assert plan["customer_id"].is_unique
    contacts = plan.loc[plan["action"] == "contact"]
    assert d.budget_used_ <= 300.0 + 1e-9
    caps = d.offers_.set_index("offer_id")["cap"]
    per_offer = contacts["offer_id"].value_counts()
    for offer, n in per_offer.items():
        if pd.notna(caps[offer]):
            assert n <= caps[offer]
    customers = sample_data.tables["customers"].drop_duplicates("customer_id")
    consent = customers.set_index("customer_id")["marketing_consent"]
    chosen = consent.reindex(contacts["customer_id"])
    assert chosen.notna().all() and chosen.astype(bool).all()  # unknown is never consent
    assert (contacts["expected_value"] > 0).all()


def test_exports_hold_consenting_customers_only(result, sample_data):
    exports = result.exports()
    assert set(exports) == {"next_best_action.csv", "cross_sell.csv", "campaign_touchpoints.csv"}
    customers = sample_data.tables["customers"].drop_duplicates("customer_id")
    yes = set(
        customers.loc[customers["marketing_consent"].fillna(False).astype(bool), "customer_id"]
    )
    nba = exports["next_best_action.csv"]
    assert list(nba.columns) == PLAN_EXPORT_COLUMNS
    assert set(nba["customer_id"]) <= yes
    cross = exports["cross_sell.csv"]
    assert list(cross.columns) == ["customer_id", "category", "score", "rank", "reason"]
    assert set(cross["customer_id"]) <= yes and len(cross) > 0
    assert not nba["reason"].isna().any()


def test_findings_are_headlines_in_a_managers_words(result):
    found = result.findings()
    heads = [f.text for f in found if f.headline]
    assert heads and heads[0].startswith("Contact ")
    assert "£" in heads[0] and "nan" not in " ".join(f.text for f in found)
    assert any("left alone" in h for h in heads)


def test_funnel_sentences_name_each_campaign_and_the_events_without_one(result):
    """The sample's e-mail campaigns have ids; its journey e-mails have none: those are "events
    without a campaign id", never "all campaigns"; steps in words, sends stated."""
    said = [f.text for f in result.findings() if f.text.startswith("Email, ")]
    assert any(t.startswith("Email, campaign EM-2025-04: ") and "opted out" in t for t in said)
    assert any(t.startswith("Email, events without a campaign id: ") for t in said)
    assert not any("all campaigns" in t or "opted_out" in t for t in said)


def test_without_a_catalogue_the_plan_is_skipped_with_its_fix(sample_data, tmp_path):
    result = run_action(sample_data, data_dir=tmp_path, seed=42)
    assert result.decision is None
    assert "no offer catalogue" in result.skipped["plan"]
    assert "actions.yml" in result.skip_fix()
    assert "next_best_action.csv" not in result.exports()
    assert "cross_sell.csv" in result.exports()  # the other parts still run


def test_catalogue_path(tmp_path):
    assert catalogue_path(None, tmp_path) is None
    (tmp_path / "actions.yml").write_text("offers: []\n")
    assert catalogue_path(None, tmp_path) == tmp_path / "actions.yml"
    with pytest.raises(ContractError, match="action.actions_file: .*other.yml does not exist"):
        catalogue_path("other.yml", tmp_path)


def test_cx_run_stops_on_a_broken_catalogue_naming_its_line(sample_dir, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(sample_dir, data)
    lines = (data / "actions.yml").read_text().splitlines(keepends=True)
    at = next(i for i, t in enumerate(lines) if "when:" in t and "churn_probability" in t)
    lines[at] = lines[at].replace("churn_probability", "churn_prob", 1)
    (data / "actions.yml").write_text("".join(lines))
    line = at + 1
    code = main(["run", "--data", str(data), "--out", str(tmp_path / "out"), "--only", "06"])
    err = capsys.readouterr().err
    assert code == 2
    assert "actions.yml" in err and f"line {line}" in err
    assert "did you mean 'churn_probability'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.html"))


def _run_folder(tmp_path, customers: pd.Series, ci_low: float) -> None:
    """Exports of notebooks 03 and 04 for ``customers``: all at risk, all persuadable by
    ``offer_a`` (uplift 0.05), whose measured conversion effect is 0.02 (``ci_low`` to 0.05)."""
    exports = tmp_path / "exports"
    exports.mkdir()
    n = len(customers)
    pd.DataFrame(
        {
            "customer_id": customers,
            "churn_probability": 0.6,
            "p_alive": 0.4,
            "value_at_risk": [float(v) for v in range(n)],
        }
    ).to_csv(exports / "churn_scores.csv", index=False)
    pd.DataFrame(
        {"customer_id": customers, "arm": "offer_a", "uplift": 0.05, "recommended": True}
    ).to_csv(exports / "uplift_scores.csv", index=False)
    pd.DataFrame(
        {
            "arm": ["offer_a"],
            "outcome": ["converted"],
            "abs_lift": [0.02],
            "ci_low": [ci_low],
            "ci_high": [0.05],
        }
    ).to_csv(exports / "uplift_readout.csv", index=False)


@pytest.mark.parametrize("ci_low", [0.01, -0.01])
def test_value_range_from_the_campaigns_measured_effect(sample_data, sample_dir, tmp_path, ci_low):
    customers = sample_data.tables["customers"]
    consenting = customers.loc[customers["marketing_consent"].fillna(False).astype(bool)]
    ids = consenting["customer_id"].drop_duplicates().head(300).reset_index(drop=True)
    _run_folder(tmp_path, ids, ci_low)
    result = run_action(sample_data, data_dir=sample_dir, output_dir=tmp_path, seed=42)
    d, r = result.decision, result.parts.value_range
    model = d.plan.loc[(d.plan["action"] == "contact") & (d.plan["lift_source"] == "uplift model")]
    assert len(model) > 0 and (model["lift"] == 0.05).all()
    gross = (model["lift"] * 90.0).sum()  # value_if_taken of retention_voucher_email
    assert set(model["offer_id"]) == {"retention_voucher_email"}
    assert r.low == pytest.approx(d.value_ - gross * (1 - ci_low / 0.02))
    assert r.high == pytest.approx(d.value_ + gross * (0.05 / 0.02 - 1))
    heads = [f.text for f in result.findings() if f.headline]
    assert "over the 95% interval of the campaign's measured effect" in heads[0]
    doubt = [h for h in heads if h.startswith("We cannot tell that the campaign's offers")]
    assert bool(doubt) == (ci_low < 0)
