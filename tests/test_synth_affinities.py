"""The synthetic generator's purchase lines, planted affinities, next-category process and e-mail
campaign touchpoints: the truth files describe what is really in the generated data.

The sample-sized dataset (5,000 people, seed 42, as ``make sample`` writes it) is generated once
per module in a temporary folder; the clean (pre-defect) tables of the same people come from
the generator's own steps on the same random streams.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxlib.synth import (
    START,
    _baskets,
    _params,
    generate,
    make_people,
    make_records,
    make_transactions,
)

END = pd.Timestamp("2025-06-30")
CUT = END + pd.Timedelta(days=1) - pd.Timedelta(days=_params.NEXT_CATEGORY_DAYS)
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("affinities")
    generate(5000, 42, out)
    return out


@pytest.fixture(scope="module")
def clean():
    """The clean transactions of the sample's people (``generate``'s first three streams)."""
    r_people, r_records, r_tx = np.random.default_rng(42).spawn(9)[:3]
    people = make_people(5000, r_people, START, END)
    customers, people = make_records(people, r_records)
    truth: dict[str, pd.DataFrame] = {}
    tx, people, _ = make_transactions(people, customers, r_tx, START, END, lines_truth=truth)
    return people, customers, tx, truth


@pytest.fixture(scope="module")
def lines(sample: Path) -> pd.DataFrame:
    """The written purchase lines with their product category (``products.csv``), as a
    cross-sell analysis reads them: positive amount, parseable time, a customer and a product."""
    tx = pd.read_csv(sample / "transactions.csv", dtype=str, keep_default_na=False, na_values=[""])
    products = pd.read_csv(sample / "products.csv", dtype=str)
    tx["product_category"] = tx["product_id"].map(products.set_index("product_id")["category"])
    tx["amount"] = pd.to_numeric(tx["amount"], errors="coerce")
    tx["timestamp"] = pd.to_datetime(tx["timestamp"], errors="coerce", format="mixed")
    keep = (tx["amount"] > 0) & tx["timestamp"].notna() & tx["customer_id"].notna()
    keep &= tx["product_category"].notna() & (tx["timestamp"] < END + pd.Timedelta(days=1))
    return tx[keep]


# ------------------------------------------------------------------------------------------
# lines, amounts, products
# ------------------------------------------------------------------------------------------


def test_purchases_have_lines_sharing_the_transaction(clean) -> None:
    people, customers, tx, _ = clean
    g = tx.groupby("transaction_id", sort=False)
    per_tx = g.agg(
        lines=("amount", "size"),
        customers=("customer_id", "nunique"),
        times=("timestamp", "nunique"),
        channels=("channel", "nunique"),
        stores=("store_id", lambda s: s.nunique(dropna=False)),
        amount=("amount", "sum"),
    )
    assert (per_tx[["customers", "times", "channels", "stores"]] == 1).all().all()
    purchases = per_tx[per_tx["amount"] > 0]
    share = purchases["lines"].value_counts(normalize=True).sort_index()
    log.info("lines per purchase: %s", share.round(3).to_dict())
    assert 0.40 < share[1] < 0.60  # a share of purchases has 2-4 drawn lines
    assert share.loc[share.index <= 4].sum() > 0.97
    assert (tx["amount"] != 0).all()
    # the lines of a purchase add up to its amount, so per-person spend is the purchases'
    spend = tx[tx["amount"] > 0].groupby("customer_id")["amount"].sum()
    master = pd.concat(
        [
            people.set_index("primary_customer_id")["master_id"],
            people.dropna(subset=["secondary_customer_id"]).set_index("secondary_customer_id")[
                "master_id"
            ],
        ]
    )
    per_person = spend.groupby(spend.index.map(master)).sum()
    total = people.set_index("master_id")["total_spend"].reindex(per_person.index)
    assert np.allclose(per_person, total, atol=0.02)
    # one purchase per transaction id: as many as the purchases simulated
    assert len(purchases) == people["n_purchases"].sum()


def test_refunds_return_every_line(clean) -> None:
    _, _, tx, _ = clean
    refunds = tx[tx["amount"] < 0]
    assert (refunds["quantity"] < 0).all()
    lines = refunds.groupby("transaction_id").agg(
        n=("amount", "size"), amount=("amount", "sum"), customer=("customer_id", "first")
    )
    purchases = (
        tx[tx["amount"] > 0]
        .groupby("transaction_id")
        .agg(n=("amount", "size"), amount=("amount", "sum"), customer=("customer_id", "first"))
    )
    # each refund matches a purchase of the same customer with as many lines and the same total
    key = purchases.assign(amount=purchases["amount"].round(2)).reset_index()
    got = lines.assign(amount=(-lines["amount"]).round(2)).reset_index()
    matched = got.merge(key, on=["customer", "n", "amount"], how="left", indicator=True)
    assert (matched.drop_duplicates("transaction_id_x")["_merge"] == "both").mean() > 0.99
    assert 0.008 < len(lines) / len(purchases) < 0.02


def test_products_give_each_line_a_product_category(sample: Path, clean) -> None:
    _, _, tx, _ = clean
    products = pd.read_csv(sample / "products.csv", dtype=str)
    assert products["product_id"].is_unique
    assert set(products["category"]) == set(_params.PRODUCT_CATEGORIES)
    assert set(products["department"]) == set(_params.CATEGORIES)
    assert tx["product_id"].isin(products["product_id"]).all()
    dept = tx["product_id"].map(products.set_index("product_id")["department"])
    assert (dept == tx["category"]).all()  # a line's category is its product's department
    assert set(tx["category"]) == set(_params.CATEGORIES)


# ------------------------------------------------------------------------------------------
# affinities
# ------------------------------------------------------------------------------------------


def _pair_lifts(lines: pd.DataFrame, min_baskets: int = 20) -> pd.DataFrame:
    """Lift of every pair of product categories over baskets (customer + transaction id)."""
    b = lines[["customer_id", "transaction_id", "product_category"]].drop_duplicates()
    b = b.assign(basket=b["customer_id"] + "|" + b["transaction_id"])
    n = b["basket"].nunique()
    n_cat = b.groupby("product_category")["basket"].nunique()
    both = b.merge(b, on="basket")
    both = both[both["product_category_x"] < both["product_category_y"]]
    n_ab = both.groupby(["product_category_x", "product_category_y"]).size().rename("both")
    out = n_ab.reset_index()
    out["lift"] = (
        out["both"]
        * n
        / (
            n_cat.reindex(out["product_category_x"]).to_numpy()
            * n_cat.reindex(out["product_category_y"]).to_numpy()
        )
    )
    out = out[out["both"] >= min_baskets].sort_values("lift", ascending=False)
    out["rank"] = np.arange(1, len(out) + 1)
    out["pair"] = [
        _key(a, b)
        for a, b in zip(out["product_category_x"], out["product_category_y"], strict=True)
    ]
    return out.set_index("pair")


def _key(a: str, b: str) -> str:
    return "|".join(sorted((a, b)))


def test_planted_pairs_have_their_true_lift(sample: Path, lines: pd.DataFrame) -> None:
    truth = pd.read_csv(sample / "truth" / "affinities.csv")
    assert list(truth.columns) == ["category_a", "category_b", "lift"]
    assert len(truth) == len(_params.AFFINITY_PAIRS)
    lifts = _pair_lifts(lines)
    rows = []
    for a, b, true in truth.itertuples(index=False):
        got = lifts.loc[_key(a, b)]
        rows.append((a, b, true, got["lift"], got["both"], got["rank"]))
    table = pd.DataFrame(rows, columns=["a", "b", "true", "empirical", "baskets", "rank"])
    log.info("planted pairs (true vs empirical lift):\n%s", table.round(3).to_string())
    assert ((table["empirical"] / table["true"] - 1).abs() < 0.15).all()
    # some strong (>= 2) and some moderate (1.3-2) pairs; unplanted pairs stay well below
    assert (table["true"] >= 2).sum() >= 3
    assert table["true"].between(1.3, 2).sum() >= 3
    strong = table[table["true"] >= 2]
    assert (strong["rank"] <= 2 * len(truth)).all()
    planted = {_key(a, b) for a, b in zip(truth["category_a"], truth["category_b"], strict=True)}
    unplanted = lifts[~lifts.index.isin(planted)]
    assert unplanted["lift"].median() < 1.2


def test_lift_truth_matches_a_larger_population() -> None:
    """The truth is the process's expected lift over the purchases (computed, not counted): on
    20,000 people, where sampling noise is small, the counted lift agrees within 7%."""
    r_people, r_records, r_tx = np.random.default_rng(3).spawn(3)
    people = make_people(20_000, r_people, START, END)
    customers, people = make_records(people, r_records)
    truth: dict[str, pd.DataFrame] = {}
    tx, _, _ = make_transactions(people, customers, r_tx, START, END, lines_truth=truth)
    products = _baskets.products_table().set_index("product_id")["category"]
    tx = tx[tx["amount"] > 0].assign(product_category=tx["product_id"].map(products))
    lifts = _pair_lifts(tx)
    for a, b, true in truth["affinities"].itertuples(index=False):
        got = lifts.loc[_key(a, b), "lift"]
        log.info("%s -> %s: true lift %.3f, counted %.3f", a, b, true, got)
        assert abs(got / true - 1) < 0.07, (a, b, true, got)


# ------------------------------------------------------------------------------------------
# next category
# ------------------------------------------------------------------------------------------


def _split(lines: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Owned categories before the cut-off, new ones after it (customers with history only),
    and the popularity baseline (share of customers owning each category before it)."""
    first = lines.groupby(["customer_id", "product_category"])["timestamp"].min().reset_index()
    before = first[first["timestamp"] < CUT]
    after = first[first["timestamp"] >= CUT]
    owned = before.groupby("customer_id")["product_category"].agg(set)
    new = after[after["customer_id"].isin(owned.index)]
    new = new.groupby("customer_id")["product_category"].agg(set)
    popularity = before.groupby("product_category")["customer_id"].nunique()
    return owned, new, popularity.sort_values(ascending=False, kind="stable")


def _precision_at_3(ranking, owned: pd.Series, new: pd.Series) -> float:
    hits = []
    for customer, got in new.items():
        own = owned[customer]
        top = [c for c in ranking(customer) if c not in own][:3]
        hits.append(len(set(top) & got) / 3)
    return float(np.mean(hits))


def test_next_category_truth_ranks_first_purchases(sample: Path, lines: pd.DataFrame) -> None:
    truth = pd.read_csv(sample / "truth" / "next_category.csv")
    assert list(truth.columns) == ["customer_id", "category", "p"]
    assert truth["p"].between(_params.NEXT_CATEGORY_MIN_P, 1).all()
    assert truth.groupby("customer_id").size().max() <= _params.NEXT_CATEGORY_TOP
    owned, new, popularity = _split(lines)
    # p is calibrated: the rows' probabilities add up to the first purchases they name
    bought_after = lines.groupby(["customer_id", "product_category"])["timestamp"].min()
    first = bought_after.reindex(list(zip(truth["customer_id"], truth["category"], strict=True)))
    realised = (first >= CUT).sum()
    log.info("next category: sum of p %.1f, first purchases %d", truth["p"].sum(), realised)
    assert abs(truth["p"].sum() / realised - 1) < 0.15
    # the truth's oracle ranking beats popularity, and a plain association ranking (what a
    # cross-sell model can learn from the purchases before the cut-off) gets close to it
    pop = list(popularity.index)
    oracle_lists = truth.groupby("customer_id")["category"].agg(list)

    def oracle(customer):
        return oracle_lists.get(customer, []) + pop

    matrix = pd.crosstab(
        lines.loc[lines["timestamp"] < CUT, "customer_id"],
        lines.loc[lines["timestamp"] < CUT, "product_category"],
    ).clip(upper=1)
    co = matrix.T @ matrix
    share = (popularity / len(matrix)).reindex(co.columns).to_numpy()
    confidence = (co + 10 * share[None, :]).div(np.diag(co) + 10, axis=0)

    def association(customer):
        own = [c for c in owned[customer] if c in confidence.index]
        score = confidence.loc[own].max(axis=0) + 1e-9 * share
        return list(score.sort_values(ascending=False, kind="stable").index)

    p_pop = _precision_at_3(lambda _: pop, owned, new)
    p_oracle = _precision_at_3(oracle, owned, new)
    p_assoc = _precision_at_3(association, owned, new)
    log.info(
        "precision@3 on %d customers: popularity %.4f, oracle %.4f (%.2fx), association %.4f "
        "(%.2fx popularity, %.2fx oracle)",
        len(new),
        p_pop,
        p_oracle,
        p_oracle / p_pop,
        p_assoc,
        p_assoc / p_pop,
        p_assoc / p_oracle,
    )
    assert p_oracle >= 1.8 * p_pop
    assert p_assoc >= 1.3 * p_pop
    assert p_assoc >= 0.8 * p_oracle


def test_owners_of_a_transition_source_adopt_its_target(lines: pd.DataFrame) -> None:
    """Planted transitions: among customers who had not bought ``b`` before the cut-off, buyers
    of ``a`` (e.g. baby food -> nappies) first buy ``b`` in the window far more often."""
    owned, new, _ = _split(lines)
    rows = []
    for a, b, _rate in _params.ADOPTION:
        cand = owned[owned.map(lambda s, b=b: b not in s)]
        has_a = cand.map(lambda s, a=a: a in s).to_numpy(dtype=bool)
        adopted = np.array([b in new.get(c, set()) for c in cand.index], dtype=bool)
        rows.append((a, b, adopted[has_a].sum(), has_a.sum(), adopted[~has_a].sum(), len(cand)))
    table = pd.DataFrame(rows, columns=["a", "b", "adopted_a", "n_a", "adopted_other", "n"])
    log.info("first purchases of b in the window:\n%s", table.to_string())
    with_a = table["adopted_a"].sum() / table["n_a"].sum()
    without_a = table["adopted_other"].sum() / (table["n"] - table["n_a"]).sum()
    assert with_a > 3 * without_a


# ------------------------------------------------------------------------------------------
# e-mail campaigns
# ------------------------------------------------------------------------------------------


def test_email_campaign_touchpoints(sample: Path) -> None:
    events = pd.read_csv(sample / "events.csv", dtype=str)
    assert "campaign_id" in events.columns
    mail = events[events["campaign_id"].notna()]
    assert set(mail["touchpoint"]) == {
        "email_sent",
        "email_delivered",
        "email_open",
        "email_click",
        "unsubscribe",
    }
    assert (mail["channel"].str.strip().str.lower() == "email").all()
    assert mail["journey_id"].isna().all()
    assert mail["campaign_id"].str.match(r"^EM-\d{4}-\d{2}$").all()
    journeys = events[events["journey_id"].notna()]
    assert journeys["campaign_id"].isna().all()
    truth = pd.read_csv(sample / "truth" / "email_campaigns.csv")
    assert list(truth.columns) == ["campaign_id", "touchpoint_role", "rate"]
    assert 2 <= truth["campaign_id"].nunique() <= 4
    rates = truth.pivot(index="campaign_id", columns="touchpoint_role", values="rate")
    assert (rates["sent"] == 1).all() and rates["delivered"].between(0.95, 0.99).all()
    assert rates["opened"].between(0.25, 0.40).all()
    assert rates["clicked"].between(0.03, 0.08).all()
    assert rates["opted_out"].between(0.002, 0.01).all()
    role = {
        "email_sent": "sent",
        "email_delivered": "delivered",
        "email_open": "opened",
        "email_click": "clicked",
        "unsubscribe": "opted_out",
    }
    got = mail.assign(role=mail["touchpoint"].map(role))
    counts = got.groupby(["campaign_id", "role"])["customer_id"].nunique().unstack()
    observed = counts.div(counts["sent"], axis=0)
    n = counts["sent"].to_numpy()[:, None]
    sd = np.sqrt(rates * (1 - rates) / n)
    assert ((observed[rates.columns] - rates).abs() <= 4 * sd + 0.003).all().all()


def test_emails_go_only_to_contactable_customers(sample: Path, clean) -> None:
    people, customers, _, _ = clean
    events = pd.read_csv(sample / "events.csv", dtype=str)
    sent = events[events["touchpoint"] == "email_sent"]
    rec = customers.set_index("customer_id")
    known = sent["customer_id"].isin(rec.index)  # orphan ids are planted defects
    assert known.mean() > 0.99
    ok = rec.loc[sent.loc[known, "customer_id"]]
    assert (ok["marketing_consent"] == True).all()  # noqa: E712 (nullable boolean)
    assert ok["email"].notna().all()
    # nobody is sent a campaign after opting out of an earlier one
    when = pd.to_datetime(events["timestamp"], errors="coerce", format="mixed")
    ev = events.assign(when=when).dropna(subset=["when"])
    out = ev[ev["touchpoint"] == "unsubscribe"].groupby("customer_id")["when"].min()
    later = ev[(ev["touchpoint"] == "email_sent") & ev["customer_id"].isin(out.index)]
    assert (later["when"] <= later["customer_id"].map(out)).all()
