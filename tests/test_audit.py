"""Tests of the data audit (cxlib.audit): rules on hand-made frames, the single customer view and
the planted truth of the sample data (data/sample/truth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxlib import audit
from cxlib.contract import load_source
from cxlib.report import Findings

AS_OF = pd.Timestamp("2025-06-30")

#: Truth defect class -> audit rule id (quarantined values are reported per column).
DEFECT_RULES = {
    "unparseable_timestamp": "quarantine:timestamp",
    "non_numeric_amount": "quarantine:amount",
    "null_customer_id": "quarantine:customer_id",
}


# ---------------------------------------------------------------------------------------------
# format checks and building blocks
# ---------------------------------------------------------------------------------------------


def test_valid_email() -> None:
    s = pd.Series(
        [
            "anna.smith@example.com",
            "Anna.Smith@Example.CO.UK",
            "a@@b.com",
            "ab.com",
            "a b@c.com",
            "a@gmail",
            "a@.gmail.com",
            "x@y..com",
            None,
        ],
        dtype="str",
    )
    got = audit.valid_email(s)
    assert got.iloc[:8].tolist() == [True, True, False, False, False, False, False, False]
    assert pd.isna(got.iloc[8])


def test_valid_phone() -> None:
    s = pd.Series(
        [
            "+44 7700 900123",
            "07700900123",
            "(0)20-7946 0958",
            "+44 ",
            "0770x",
            "0770090012399999999",
            None,
        ],
        dtype="str",
    )
    got = audit.valid_phone(s)
    assert got.iloc[:6].tolist() == [True, True, True, False, False, False]
    assert pd.isna(got.iloc[6])


def test_valid_postcode_recognises_format() -> None:
    uk = pd.Series(
        ["SW1A 1AA", "nw66dz", "B29 7RE", "EH3 8TD", "SW", "SW1A 1AAZZ9", "CV4 8S?"], dtype="str"
    )
    assert audit.valid_postcode(uk).tolist() == [True, True, True, True, False, False, False]
    de = pd.Series(["10115", "80331", "50667", "1011", "ABCDE"], dtype="str")
    assert audit.postcode_pattern(de)[0] == "DE/FR/ES/IT"
    assert audit.valid_postcode(de).tolist() == [True, True, True, False, False]
    assert audit.valid_postcode(de, r"[0-9]{4}").tolist() == [False, False, False, True, False]


def test_label_inconsistencies_case_space_synonym() -> None:
    s = pd.Series(
        ["web"] * 50
        + ["store"] * 40
        + ["Web", " web ", "WEB", "online", "Store ", "in-store", "app"],
        dtype="str",
    )
    mask, spell = audit.label_inconsistencies(s, {"online": "web", "in_store": "store"})
    assert mask.sum() == 6
    assert set(spell["label"]) == {"Web", " web ", "WEB", "online", "Store ", "in-store"}
    assert set(spell["usual"]) == {"web", "store"}
    mask, _ = audit.label_inconsistencies(s)  # without synonyms 'online' is its own label
    assert mask.sum() == 4


def test_exact_duplicates_keep_the_first_copy() -> None:
    df = pd.DataFrame({"a": ["x", "y", "x", "x"], "b": [1.0, 2.0, 1.0, 1.5]})
    r = _rule(audit.check_rules({"events": df}, as_of_date=AS_OF), "events", "duplicate_row")
    assert r["failed_rows"] == 1 and r["examples"] == "row 3"
    one = audit.check_rules({"events": df.iloc[:1]}, as_of_date=AS_OF)
    assert _rule(one, "events", "duplicate_row")["failed_rows"] == 0


def test_original_row_numbers() -> None:
    q = pd.DataFrame({"row_number": [2, 5]})
    assert audit.original_row_numbers(4, q).tolist() == [1, 3, 4, 6]
    assert audit.original_row_numbers(3, None).tolist() == [1, 2, 3]


# ---------------------------------------------------------------------------------------------
# rules on hand-made tables
# ---------------------------------------------------------------------------------------------


def _tables() -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    customers = pd.DataFrame(
        {
            "customer_id": pd.Series([f"C{i}" for i in range(6)], dtype="str"),
            "email": pd.Series(
                ["a@x.com", "b@x", None, "d@x.com", "e@x.com", "f@@x.com"], dtype="str"
            ),
            "phone": pd.Series(
                ["07700900123", "123", None, "07700900124", "07700900125", "07700900126"],
                dtype="str",
            ),
            "birth_year": pd.array([1980, 1890, 1975, 2030, None, 1990], dtype="Int64"),
            "marketing_consent": pd.array([True, False, None, True, True, True], dtype="boolean"),
            "consent_date": pd.to_datetime(
                ["2025-01-01", "2024-01-01", None, "2020-01-01", "2025-03-01", None]
            ),
        }
    )
    ts = pd.to_datetime(
        ["2025-01-01", "2025-02-01", "2025-02-01", "2031-01-01", "2025-03-01", "2025-04-01"]
    )
    transactions = pd.DataFrame(
        {
            "transaction_id": pd.Series(["T1", "T2", "T2", "T3", "T4", "T5"], dtype="str"),
            "customer_id": pd.Series(["C0", "C1", "C1", "C2", "X9", "C3"], dtype="str"),
            "timestamp": ts,
            "amount": [10.0, -5.0, -5.0, 7.0, 3.0, -2.0],
            "quantity": [1.0, 1.0, 1.0, 1.0, 1.0, -1.0],
            "channel": pd.Series(["web", "web", "web", "Web", "online", "store"], dtype="str"),
        }
    )
    quarantine = {
        "transactions": pd.DataFrame(
            {
                "row_number": [3, 8],
                "transaction_id": pd.Series(["T9", "T10"], dtype="str"),
                "reason": [
                    "unparseable date/time in timestamp",
                    "missing customer_id; not a finite number in amount",
                ],
            }
        )
    }
    return {"customers": customers, "transactions": transactions}, quarantine


def _rule(checks: audit.RuleChecks, table: str, rule_id: str) -> pd.Series:
    r = checks.results
    hit = r[(r["table"] == table) & (r["rule_id"] == rule_id)]
    assert len(hit) == 1, f"{table}/{rule_id} missing"
    return hit.iloc[0]


def test_check_rules_counts() -> None:
    tables, quarantine = _tables()
    checks = audit.check_rules(tables, as_of_date=AS_OF, quarantine=quarantine, pseudonym_key="k")
    expect = {
        ("customers", "invalid_email"): 2,
        ("customers", "missing_email"): 1,
        ("customers", "invalid_phone"): 1,
        ("customers", "implausible_birth_year"): 2,
        ("transactions", "duplicate_row"): 1,
        # C1 bought nothing for 5.0 before (the duplicate copy counts too); C3's quantity is < 0
        ("transactions", "non_refund_negative_amount"): 2,
        ("transactions", "future_timestamp"): 1,
        ("transactions", "orphan_customer_id"): 1,
        ("transactions", "inconsistent_channel_label"): 2,
        ("transactions", "quarantine:timestamp"): 1,
        ("transactions", "quarantine:customer_id"): 1,
        ("transactions", "quarantine:amount"): 1,
    }
    for (table, rid), n in expect.items():
        assert _rule(checks, table, rid)["failed_rows"] == n, rid
    tq = _rule(checks, "transactions", "quarantine:timestamp")
    assert tq["total_rows"] == 8 and tq["dimension"] == "validity" and tq["examples"] == "T9"
    # examples never show personal data; customer ids are pseudonymised
    ex = _rule(checks, "customers", "invalid_email")["examples"]
    assert "@" not in ex and "C1" not in ex and ex.startswith("C-")
    assert _rule(checks, "transactions", "orphan_customer_id")["examples"] == "T4"
    exported = set(checks.results.columns)
    assert {"table", "column", "rule", "dimension", "failed_rows", "total_rows"} <= exported


def test_scorecard_bounds_and_lights() -> None:
    tables, quarantine = _tables()
    checks = audit.check_rules(tables, as_of_date=AS_OF, quarantine=quarantine)
    sc = audit.scorecard(checks)
    assert sc["score"].between(0, 100).all()
    assert set(sc["light"]) <= {"green", "amber", "red"}
    tx_validity = sc[(sc["table"] == "transactions") & (sc["dimension"] == "validity")]
    assert tx_validity["score"].iloc[0] == pytest.approx(100 * (1 - 2 / 8))
    assert (sc["table"] == "overall").sum() == 1


def test_consent_summary() -> None:
    tables, _ = _tables()
    c = audit.consent_summary(tables["customers"], AS_OF, retention_months=24)
    got = dict(zip(c["status"], c["customers"], strict=True))
    # C0, C4 fresh; C3 (2020) and C5 (undated) stale; C1 refused; C2 no record
    assert got == {
        "consent given": 2,
        "consent older than 24 months": 2,
        "consent refused": 1,
        "no consent record": 1,
    }
    assert c["share"].sum() == pytest.approx(1.0)


def test_pii_inventory_by_name_and_content() -> None:
    df = pd.DataFrame(
        {
            "customer_id": pd.Series(["C1", "C2"], dtype="str"),
            "contact": pd.Series(["a@x.com", "b@y.org"], dtype="str"),
            "Surname": pd.Series(["Smith", "Jones"], dtype="str"),
            "tier": pd.Series(["Gold", "Silver"], dtype="str"),
        }
    )
    inv = audit.pii_inventory({"customers": df}).set_index("column")
    assert inv.loc["contact", "kind"] == "email" and inv.loc["contact", "found_by"] == "content"
    assert inv.loc["Surname", "found_by"] == "name"
    assert "tier" not in inv.index and "customer_id" not in inv.index


def test_unused_columns_by_role() -> None:
    """Customer attributes are churn features and campaign columns uplift covariates whatever
    their names; a column of another table no analysis names is unused."""
    customers = pd.DataFrame(
        {"customer_id": ["C1"], "zz_tier": ["gold"], "email": ["a@x.com"], "address": ["1 a"]}
    )
    campaign = pd.DataFrame(
        {"customer_id": ["C1"], "group": ["control"], "converted": [0], "zz_band": ["18-24"]}
    )
    events = pd.DataFrame({"customer_id": ["C1"], "zz_never_used": [1]})
    un = audit.unused_columns({"customers": customers, "campaign": campaign, "events": events})
    got = dict(zip(un["column"], un["used_by"], strict=True))
    assert got == {
        "email": "single customer view only",
        "address": "single customer view only",
        "zz_never_used": "nothing",
    }


# ---------------------------------------------------------------------------------------------
# single customer view on a small synthetic CRM
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_crm() -> tuple[pd.DataFrame, pd.DataFrame]:
    from cxlib.synth import make_people, make_records

    rng = np.random.default_rng(3)
    people = make_people(1500, rng)
    customers, people = make_records(people, rng)
    truth = people[["master_id", "customer_ids"]].explode("customer_ids")
    return customers, truth.rename(columns={"customer_ids": "customer_id"})


def _pairs(ids: pd.Series, groups: pd.Series) -> set[tuple[str, str]]:
    frame = pd.DataFrame({"id": ids.to_numpy(), "g": groups.to_numpy()})
    out: set[tuple[str, str]] = set()
    for _, g in frame.groupby("g"):
        members = sorted(g["id"])
        out |= {(a, b) for i, a in enumerate(members) for b in members[i + 1 :]}
    return out


def test_single_customer_view_small(small_crm) -> None:
    customers, truth = small_crm
    scv = audit.SingleCustomerView(random_state=1).fit(customers, as_of_date=AS_OF)
    mm = scv.master_map_
    assert list(mm.columns) == ["customer_id", "source_system", "master_id", "match_probability"]
    assert len(mm) == len(customers) and mm["customer_id"].is_unique
    assert scv.n_people_ < scv.n_records_
    single = mm.groupby("master_id")["customer_id"].transform("size") == 1
    assert mm.loc[single, "match_probability"].isna().all()
    assert (mm.loc[~single, "match_probability"] >= 0.99).all()
    t = truth.set_index("customer_id")["master_id"].loc[mm["customer_id"]]
    true_pairs = _pairs(mm["customer_id"], t)
    found = _pairs(mm["customer_id"], mm["master_id"])
    assert len(found & true_pairs) / len(found) >= 0.9
    assert len(found & true_pairs) / len(true_pairs) >= 0.85
    # deterministic for a seed
    again = audit.SingleCustomerView(random_state=1).fit(customers, as_of_date=AS_OF)
    pd.testing.assert_frame_equal(mm, again.master_map_)
    assert scv.summary().loc[0, "records"] == len(customers)


def test_single_customer_view_without_contact_fields() -> None:
    df = pd.DataFrame({"customer_id": pd.Series(["B", "A", "C"], dtype="str")})
    scv = audit.SingleCustomerView().fit(df)
    assert scv.skipped_reason_ is not None
    assert scv.master_map_["master_id"].tolist() == ["M0000002", "M0000001", "M0000003"]


def test_merge_impact() -> None:
    mm = pd.DataFrame({"customer_id": ["A", "B", "C"], "master_id": ["M1", "M1", "M2"]})
    tx = pd.DataFrame(
        {
            "customer_id": pd.Series(["A", "B", "C", "Z"], dtype="str"),
            "amount": [10.0, 20.0, 30.0, 5.0],
        }
    )
    imp = audit.merge_impact(mm, tx).set_index("measure")
    assert imp.loc["revenue per customer", "per_record"] == pytest.approx(20.0)
    assert imp.loc["revenue per customer", "per_person"] == pytest.approx(30.0)
    assert imp.loc["revenue per customer", "change"] == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------
# any subset of tables
# ---------------------------------------------------------------------------------------------


def test_transactions_only_audit(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "transaction_id": ["T1", "T2", "T2", "T3"],
            "customer_id": ["A", "B", "B", "A"],
            "timestamp": ["2025-01-01 10:00:00", "2025-01-02", "2025-01-02", "31/02/2024"],
            "amount": ["10.5", "3", "3", "4"],
            "channel": ["web", "Web", "Web", "store"],
        }
    ).to_csv(tmp_path / "transactions.csv", index=False)
    data = load_source(tmp_path)
    res = audit.run_audit(data, pseudonym_key="k")
    assert set(res.rules["table"]) == {"transactions"}
    assert res.scv is None and len(res.consent) == 0
    assert sorted(res.master_map["customer_id"]) == ["A", "B"]
    assert res.master_map["master_id"].is_unique
    r = res.rules.set_index("rule_id")
    assert r.loc["quarantine:timestamp", "failed_rows"] == 1
    assert r.loc["duplicate_row", "failed_rows"] == 1
    assert r.loc["inconsistent_channel_label", "failed_rows"] == 1  # "web" once vs "Web" twice
    f = audit.add_findings(Findings(tmp_path, notebook="01_data_audit"), res)
    assert 1 <= len(f.headlines()) <= 4
    exp = res.data_quality_export()
    assert list(exp.columns) == [
        "table",
        "column",
        "rule",
        "dimension",
        "failed_rows",
        "total_rows",
    ]


def test_run_audit_on_tables_gives_findings_and_exports() -> None:
    """The common shape: a dict of tables, as_of_date and options; findings() and exports()."""
    from cxlib.report import Finding

    tables, _ = _tables()
    res = audit.run_audit(
        tables, as_of_date=AS_OF, options={"postcode_regex": r"[0-9]{4}"}, pseudonym_key="k"
    )
    assert res.as_of_date == AS_OF
    assert res.counts["accepted_rows"].tolist() == [6, 6]
    r = res.rules.set_index(["table", "rule_id"])["failed_rows"]
    assert r["customers", "invalid_email"] == 2 and r["transactions", "future_timestamp"] == 1
    found = res.findings()
    assert found and all(isinstance(f, Finding) for f in found)
    assert [f.text for f in found] == [f["text"] for f in audit.audit_findings(res)]
    assert found[0].text.startswith("Overall data-quality score") and found[0].headline
    ex = res.exports()
    assert list(ex) == ["data_quality.csv", "customer_master_map.csv"]
    pd.testing.assert_frame_equal(ex["data_quality.csv"], res.data_quality_export())
    assert ex["customer_master_map.csv"] is res.master_map
    assert res.summary().startswith("- Overall data-quality score")
    assert list(res.top_issues_table(3).columns) == [
        "table",
        "rule",
        "dimension",
        "rows failing",
        "rows checked",
        "share failing",
        "examples",
    ]


# ---------------------------------------------------------------------------------------------
# the sample data against its planted truth
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_audit(sample_dir: Path) -> audit.AuditResult:
    data = load_source(sample_dir)
    return audit.run_audit(data, pseudonym_key="test", seed=42)


def test_sample_duplicate_detection_precision_recall(sample_audit, sample_dir: Path) -> None:
    truth = pd.read_csv(sample_dir / "truth" / "customers.csv", dtype=str)
    mm = sample_audit.master_map
    t = truth.set_index("customer_id")["master_id"].reindex(mm["customer_id"])
    assert t.notna().all()
    true_pairs = _pairs(mm["customer_id"], t)
    found = _pairs(mm["customer_id"], mm["master_id"])
    tp = len(found & true_pairs)
    precision, recall = tp / max(len(found), 1), tp / len(true_pairs)
    assert precision >= 0.95, (precision, recall, len(found), len(true_pairs))
    assert recall >= 0.90, (precision, recall, len(found), len(true_pairs))


def test_sample_every_defect_class_reported(sample_audit, sample_dir: Path) -> None:
    truth = pd.read_csv(sample_dir / "truth" / "defects.csv", dtype=str)
    counts = truth.groupby(["table", "defect"]).size()
    rules = sample_audit.rules
    for (table, defect), n in counts.items():
        rid = DEFECT_RULES.get(defect, defect)
        hit = rules[(rules["table"] == table) & (rules["rule_id"] == rid)]
        assert len(hit) == 1, f"{table}: defect {defect} not reported (rule {rid})"
        got = int(hit["failed_rows"].iloc[0])
        assert abs(got - n) <= 0.02 * n, f"{table}/{defect}: audit {got}, truth {n}"


def test_sample_exports_have_no_personal_data(sample_audit) -> None:
    dq = sample_audit.data_quality_export()
    mm = sample_audit.master_map
    assert set(mm.columns) == {"customer_id", "source_system", "master_id", "match_probability"}
    text = " ".join(sample_audit.rules["examples"].astype(str))
    assert "@" not in text
    assert not dq.empty


# ---------------------------------------------------------------------------------------------
# charts
# ---------------------------------------------------------------------------------------------


def test_plots_are_titled_and_labelled(small_crm) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cxlib.plots import audit as ap

    tables, quarantine = _tables()
    checks = audit.check_rules(tables, as_of_date=AS_OF, quarantine=quarantine)
    customers, _ = small_crm
    scv = audit.SingleCustomerView(random_state=1).fit(customers, as_of_date=AS_OF)
    axes = [
        ap.plot_scorecard(data=audit.scorecard(checks)),
        ap.plot_top_issues(data=checks.results),
        ap.plot_completeness(data=audit.profile_tables(tables)),
        ap.plot_freshness(data=audit.freshness(tables, AS_OF)),
        ap.plot_consent(data=audit.consent_summary(tables["customers"], AS_OF)),
        ap.plot_single_customer_view(data=scv.summary()),
        ap.plot_match_probabilities(data=scv.pairs_, threshold=0.99),
    ]
    for ax in axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel(), ax.get_title()
    plt.close("all")


# ---------------------------------------------------------------------------------------------
# small groups (source systems, consent statuses) are not shown
# ---------------------------------------------------------------------------------------------


def _small_group_audit(tmp_path: Path, min_group_size: int = 10) -> audit.AuditResult:
    """40 customers in system crm_a, 3 in crm_b; consent: 30 given, 7 no record, 3 refused,
    3 stale (given in 2019)."""
    n_a, n_b = 40, 3
    ids = [f"A{i:03d}" for i in range(n_a)] + [f"B{i:03d}" for i in range(n_b)]
    consent = ["yes"] * 30 + [""] * 7 + ["no"] * 3 + ["yes"] * 3
    dates = ["2025-03-01"] * 30 + [""] * 10 + ["2019-01-01"] * 3
    pd.DataFrame(
        {
            "customer_id": ids,
            "source_system": ["crm_a"] * n_a + ["crm_b"] * n_b,
            "first_name": [f"Name{i}" for i in range(len(ids))],
            "last_name": [f"Surname{i}" for i in range(len(ids))],
            "email": [f"person{i}@example.com" for i in range(len(ids))],
            "marketing_consent": consent,
            "consent_date": dates,
        }
    ).to_csv(tmp_path / "customers.csv", index=False)
    pd.DataFrame({"customer_id": ids, "timestamp": "2025-06-01", "amount": 10.0}).to_csv(
        tmp_path / "transactions.csv", index=False
    )
    data = load_source(tmp_path)
    return audit.run_audit(data, pseudonym_key="k", min_group_size=min_group_size)


def test_duplicates_by_system_hides_small_systems(tmp_path: Path) -> None:
    res = _small_group_audit(tmp_path)
    full = res.scv.summary().set_index("source_system")
    assert full.loc["crm_b", "people"] == 3  # the unsuppressed table has the small system
    shown = res.duplicates_by_system()
    # crm_b (3 people) is hidden and so is crm_a, else crm_b = all - crm_a
    assert shown["source_system"].tolist() == ["all"]
    hidden = res.duplicates_suppressed()
    assert hidden.hidden == 2 and hidden.complementary
    assert (shown["people"] >= 10).all()
    # with min_group_size 3 every row is shown
    (tmp_path / "m3").mkdir()
    res3 = _small_group_audit(tmp_path / "m3", 3)
    assert res3.duplicates_by_system()["source_system"].tolist() == ["all", "crm_a", "crm_b"]


def test_consent_table_and_finding_hide_small_statuses(tmp_path: Path) -> None:
    res = _small_group_audit(tmp_path)
    full = res.consent_people.set_index("status")["customers"]
    assert full["consent refused"] == 3 and full["consent older than 24 months"] == 3
    shown = res.consent_table()
    # refused (3) and stale (3) together 6 < 10: the smallest other status (7, no record) goes too
    assert shown["status"].tolist() == ["consent given"]
    assert (shown["customers"] >= 10).all()
    assert res.consent_suppressed().hidden == 3
    text = " ".join(f["text"] for f in audit.audit_findings(res) if f["kind"] == "consent")
    assert "69.8%" in text  # 30 of 43 may receive marketing
    assert "7.0%" not in text and "16.3%" not in text  # no record, stale: not quoted
    # a table with no small group is unchanged
    (tmp_path / "m1").mkdir()
    res1 = _small_group_audit(tmp_path / "m1", 1)
    assert res1.consent_table()["customers"].tolist() == [30, 3, 3, 7]


def test_audit_with_fewer_customers_than_min_group_size(tmp_path: Path) -> None:
    pd.DataFrame({"customer_id": ["c1", "c2"], "marketing_consent": ["yes", "no"]}).to_csv(
        tmp_path / "customers.csv", index=False
    )
    res = audit.run_audit(load_source(tmp_path), pseudonym_key="k")
    assert len(res.consent_table()) == 0 and res.consent_suppressed().hidden == 4
    assert len(res.duplicates_by_system()) == 0
    text = " ".join(f["text"] for f in audit.audit_findings(res) if f["kind"] == "consent")
    assert text.startswith("Fewer than 10 customers may receive marketing")
    assert "50.0%" not in text


@pytest.mark.parametrize(
    "emails",
    [
        ["same@example.com", "same@example.com"],  # more exact matches than recall 0.8 allows
        ["one@example.com", "two@example.com", "three@example.com"],  # no exact match at all
    ],
)
def test_single_customer_view_on_tiny_tables(emails) -> None:
    """Splink's prior was 0 (log of 0) or refused (recall) on tiny tables: both crashed."""
    n = len(emails)
    cust = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "first_name": ["Ann"] * n,
            "last_name": ["Lee", "Lee", "Kim"][:n],
            "email": emails,
            "postcode": ["AB1 2CD"] * n,
        }
    )
    scv = audit.SingleCustomerView(random_state=1).fit(cust)
    assert scv.skipped_reason_ is None
    assert len(scv.master_map_) == n and 1 <= scv.n_people_ <= n
    assert scv.master_map_["master_id"].notna().all()


def test_empty_charts_give_way_to_a_sentence():
    """Issue #21: with no failing rule and no missing value there is nothing to chart; the
    report says so in a sentence instead of drawing an empty chart."""
    from types import SimpleNamespace

    clean = SimpleNamespace(
        rules=pd.DataFrame({"failed_rows": [0, 0, 0]}),
        profile=pd.DataFrame({"completeness": [1.0, 1.0]}),
    )
    assert audit.AuditResult.issues_note(clean) == (
        "No data-quality rule failed: all 3 rules passed on every row."
    )
    assert audit.AuditResult.completeness_note(clean) == (
        "Every column is filled in on every row (2 columns)."
    )
    dirty = SimpleNamespace(
        rules=pd.DataFrame({"failed_rows": [0, 2]}),
        profile=pd.DataFrame({"completeness": [1.0, 0.5]}),
    )
    assert audit.AuditResult.issues_note(dirty) is None
    assert audit.AuditResult.completeness_note(dirty) is None
