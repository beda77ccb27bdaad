"""Category affinity and cross-sell on the Complete Journey (``$CX_REALDATA/complete_journey``):
a year of 2,469 households' grocery baskets, products joined by ``product_id`` for their
``department`` (32) and ``product_category`` (303).

Issue #23's criterion (b) asks for the cross-sell model's out-of-time precision@5, over the
categories first bought in the last 8 weeks, to reach 1.2 × the popularity baseline's. Measured
(cut-off 2017-11-06, 56 days; buyers' share as popularity):

================  ==========  ===========  =======  ========  ========  ==========================
categories        popularity  association  item_knn  user_knn  hybrid    ceiling (all new in top 5)
================  ==========  ===========  =======  ========  ========  ==========================
product_category  0.194       1.01 ×       1.05 ×   1.07 ×    1.10 ×    4.36 ×
department        0.227       0.99 ×       0.98 ×   1.00 ×    0.99 ×    1.24 ×
================  ==========  ===========  =======  ========  ========  ==========================

The best model (``hybrid``, 95% paired interval 1.07-1.13 ×) beats popularity beyond doubt on
product categories, but not by 1.2 ×: the criterion is recorded below as a strict expected
failure. On departments a customer first buys 1.4 departments on average in the 8 weeks, so
even recommending every one of them in the top 5 would give only 1.24 × the baseline's
precision; nothing beats popularity there, and popularity is chosen.

The hybrid was 1.09 × (1.05-1.12) before its linear item model (EASE) feature, which took it
from 1.02 × to 1.07 × on the 8 weeks before the cut-off (trained on the 8 weeks before those;
ideas were judged there, the evaluated window's figures are for the record only). Tried and
left out: a gradient-boosted learner (0.92-1.07 × before the cut-off, 0.96-1.08 × on the
evaluated window: it learns the training window's category mix, which the season changes);
recent-purchase item and association scores, purchase-day frequency, department share,
adoption-rate trend, adoption by breadth, adoption transitions from the customer's recent first
purchases (each within 0.025 of the hybrid before the cut-off, none better by 0.01 on the
evaluated window); a conditional logit ranking each customer's categories (within 0.02); training on two
windows; other neighbour counts. The window covers Thanksgiving and Christmas: ranking it by
its own adoption rates (a perfect non-personal ranking) gives only 1.17 ×, the window before it
1.05 ×.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxlib.action._affinity import category_affinity, top_pairs
from cxlib.action._category_history import first_purchases, load_history
from cxlib.action._crosssell_eval import choose_cross_sell_model, evaluate_cross_sell
from cxlib.action._upsell import cross_sell_export
from cxlib.engine import Engine, data_end

pytestmark = pytest.mark.realdata

HORIZON = 56  # the last 8 weeks
CRITERION = 1.2


@pytest.fixture(scope="module")
def complete_journey(realdata: Path) -> pd.DataFrame:
    """Contract transactions: household → ``customer_id``, basket → ``transaction_id``, sales
    value → ``amount``, with the product's ``department`` and ``product_category``."""
    folder = realdata / "complete_journey"
    if not (folder / "transactions.parquet").is_file():
        pytest.skip("complete_journey is not in CX_REALDATA")
    cols = ["household_id", "basket_id", "product_id", "sales_value", "transaction_timestamp"]
    tx = pd.read_parquet(folder / "transactions.parquet", columns=cols)
    products = pd.read_parquet(
        folder / "products.parquet", columns=["product_id", "department", "product_category"]
    )
    tx = tx.merge(products, on="product_id", how="left")
    return pd.DataFrame(
        {
            "customer_id": tx["household_id"].astype(str),
            "transaction_id": tx["basket_id"].astype(str),
            "timestamp": pd.to_datetime(tx["transaction_timestamp"]),
            "amount": tx["sales_value"].astype(float),
            "department": tx["department"],
            "product_category": tx["product_category"],
        }
    )


@pytest.fixture(scope="module")
def engine():
    with Engine() as eng:
        yield eng


@pytest.fixture(scope="module")
def table(complete_journey, engine):
    return engine.table(complete_journey)


@pytest.fixture(scope="module")
def departments(realdata: Path) -> pd.Series:
    """Each product category's department (the most common among its products)."""
    products = pd.read_parquet(
        realdata / "complete_journey" / "products.parquet",
        columns=["department", "product_category"],
    ).dropna()
    return products.groupby("product_category")["department"].agg(lambda s: s.mode().iloc[0])


@pytest.fixture(scope="module")
def cutoff(complete_journey) -> pd.Timestamp:
    """8 weeks before the last day of data."""
    return complete_journey["timestamp"].max().normalize() - pd.Timedelta(days=HORIZON)


@pytest.fixture(scope="module")
def evaluations(table, engine, cutoff) -> dict[str, pd.DataFrame]:
    return {
        col: evaluate_cross_sell(
            table, cutoff=cutoff, horizon_days=HORIZON, k=5, engine=engine, category=col
        ).table
        for col in ("product_category", "department")
    }


def test_top_pairs_by_lift_read_as_grocery(table, engine, departments):
    rules = category_affinity(table, engine=engine, category="product_category")
    assert rules.basket == "transaction_id" and rules.min_baskets >= 150
    top = top_pairs(rules.table, 15)
    same = top["category_a"].map(departments) == top["category_b"].map(departments)
    assert same.sum() >= 12, top  # neighbours on the shelf, not chance
    pairs = {frozenset(p) for p in zip(top["category_a"], top["category_b"], strict=True)}
    for pair in (
        {"CAT FOOD", "CAT LITTER"},
        {"BABY FOODS", "INFANT FORMULA"},
        {"LAUNDRY ADDITIVES", "LAUNDRY DETERGENTS"},
    ):
        assert frozenset(pair) in pairs, top
    assert (top["lift_low"] > 5).all() and (top["baskets_both"] >= 150).all()


def test_hybrid_beats_popularity_on_product_categories(evaluations):
    ev = evaluations["product_category"].set_index("candidate")
    assert ev.loc["hybrid", "chosen"]
    assert ev.loc["hybrid", "vs_popularity_low"] > 1.0  # paired bootstrap over households
    assert ev.loc["hybrid", "vs_popularity"] >= 1.08
    assert ev["n_customers"].iloc[0] > 2000


def test_departments_leave_no_room_for_1_2(table, engine, cutoff, evaluations):
    """On departments, precision@5 cannot reach 1.24 × popularity's even with every new
    department in the top 5, and no candidate beats popularity: popularity is chosen."""
    ev = evaluations["department"].set_index("candidate")
    end = data_end(cutoff)
    history = load_history(table, end, engine=engine, category="department")
    new = first_purchases(
        table, end, end + pd.Timedelta(days=HORIZON), engine=engine, category="department"
    )
    per_customer = new.loc[new["customer_id"].isin(history.customers)].groupby("customer_id").size()
    ceiling = np.minimum(per_customer, 5).mean() / 5
    assert len(per_customer) == ev["n_customers"].iloc[0]
    assert ceiling / ev.loc["popularity", "precision"] < 1.25
    assert ev["precision"].max() <= ev.loc["popularity", "precision"] * 1.02
    assert ev.loc[ev["chosen"]].index[0] == "popularity"


@pytest.mark.xfail(
    strict=True,
    reason="issue #23 (b) not met: best out-of-time precision@5 is 1.10 × popularity on "
    "product_category (hybrid, 95% CI 1.07-1.13) and 1.00 × on department (ceiling 1.24 ×)",
)
@pytest.mark.parametrize("category", ["product_category", "department"])
def test_precision_at_5_is_1_2_times_popularity(evaluations, category):
    ev = evaluations[category].set_index("candidate")
    chosen = ev.loc[ev["chosen"]].iloc[0]
    assert chosen["precision"] >= CRITERION * ev.loc["popularity", "precision"]


def test_recommendations_and_export_at_the_analysis_date(table, engine, complete_journey):
    model, ev = choose_cross_sell_model(
        table, horizon_days=HORIZON, k=5, engine=engine, category="product_category"
    )
    assert model.method_ == "hybrid"
    assert model.as_of_date_ == complete_journey["timestamp"].max().normalize()
    some = list(model.customers_[:300])
    export = cross_sell_export(model.recommend(k=5, customers=some))
    assert list(export.columns) == ["customer_id", "category", "score", "rank", "reason"]
    assert len(export) == 5 * len(some)
    assert export["score"].between(0, 1).all()
    assert export["reason"].str.contains("× as likely to buy|bought by").all()
