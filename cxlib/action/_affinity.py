"""Category affinity: association rules between purchase categories, counted in the backend.

A *basket* is a ``transaction_id`` (``basket="transaction_id"``) or a customer's day
(``basket="day"``); a line without a ``transaction_id`` counts in its customer's day. Only
purchases count (a positive ``amount`` and a category). Each basket is reduced to its distinct
categories in the backend, and the pairs are counted there by a self-join of those (basket,
category) rows and a group-by: only one row per category pair comes back to pandas.

For a rule A → B over N baskets, with n_A baskets holding A, n_B holding B and n_AB both:

- ``support`` = n_AB / N, ``confidence`` = n_AB / n_A (the share of A's baskets that hold B),
- ``lift`` = n_AB · N / (n_A · n_B): how many times more often B is in a basket with A than in
  baskets at large (1 = independent; symmetric in A and B).

The interval of the lift is the normal approximation of log-lift by the delta method over a
multinomial 2 × 2 table of baskets::

    var(log lift) ≈ 1/n_AB − 1/n_A − 1/n_B + 2·n_AB/(n_A·n_B) − 1/N

It treats baskets as independent draws; a customer's baskets are alike, so with a few heavy
shoppers the interval is somewhat too narrow. It is reported, not used to rank.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cxlib.engine import (
    Engine,
    as_table,
    data_end,
    engine_for,
    fetch_frame,
    literal,
    row_count,
    timestamp_literal,
)

log = logging.getLogger(__name__)

#: What a basket is: a ``transaction_id`` or a customer's day.
BASKETS: tuple[str, ...] = ("transaction_id", "day")

#: Default fewest baskets with both categories of a rule, and share of all baskets
#: (:func:`category_affinity` uses the larger).
MIN_BASKETS = 20
MIN_BASKET_SHARE = 0.001

#: Columns of :func:`category_affinity`.
AFFINITY_COLUMNS: tuple[str, ...] = (
    "category_a",
    "category_b",
    "baskets_a",
    "baskets_b",
    "baskets_both",
    "support",
    "confidence",
    "lift",
    "lift_low",
    "lift_high",
)


def purchase_lines(
    transactions: Any,
    *,
    engine: Engine | None = None,
    category: str = "category",
    end: pd.Timestamp | None = None,
    start: pd.Timestamp | None = None,
) -> Any:
    """The purchase lines of a transactions table, as a backend expression.

    Parameters
    ----------
    transactions : DataFrame or ibis Table
        Contract ``transactions`` with ``customer_id``, ``timestamp``, ``amount``, the category
        column and optionally ``transaction_id``.
    engine : Engine, optional
        Where a pandas frame is registered (needed for a frame).
    category : str
        The column holding each line's category.
    end, start : Timestamp, optional
        Only lines with ``start <= timestamp < end``.

    Returns
    -------
    ibis Table
        ``customer_id`` (text), ``ts``, ``amount`` (float), ``category`` (text), ``tid`` (the
        transaction id as text, or null) of the lines with a positive amount, a customer, a
        timestamp and a category.
    """
    t = as_table(transactions, engine)
    missing = [c for c in ("customer_id", "timestamp", "amount", category) if c not in t.columns]
    if missing:
        raise ValueError(f"the transactions have no column {', '.join(map(repr, missing))}")
    tid = t.transaction_id.cast("string") if "transaction_id" in t.columns else None
    x = t.select(
        customer_id=t.customer_id.cast("string"),
        ts=t.timestamp,
        amount=t.amount.cast("float64"),
        category=t[category].cast("string"),
        **({"tid": tid} if tid is not None else {}),
    )
    x = x.filter(x.amount > 0, x.category.notnull(), x.customer_id.notnull(), x.ts.notnull())
    if end is not None:
        x = x.filter(x.ts < timestamp_literal(end))
    if start is not None:
        x = x.filter(x.ts >= timestamp_literal(start))
    return x


def basket_categories(lines: Any, basket: str) -> Any:
    """Distinct (basket, category) rows of :func:`purchase_lines`: the basket as ``_u`` (its
    customer) and ``_k`` (``t`` + its ``transaction_id``, or ``d`` + its day), and ``_c`` (the
    category).

    A basket is a customer's transaction (``basket="transaction_id"``; a line without one falls
    in its customer's day) or a customer's day (``basket="day"``). The key stays two columns (a
    joined text key cost a string per line).
    """
    if basket not in BASKETS:
        raise ValueError(f"basket must be one of {BASKETS}, not {basket!r}")
    day_key = literal("d").concat(lines.ts.date().cast("string"))
    if basket == "transaction_id" and "tid" in lines.columns:
        key = lines.tid.isnull().ifelse(day_key, literal("t").concat(lines.tid))
    else:
        key = day_key
    return lines.select(_u=lines.customer_id, _k=key, _c=lines.category).distinct()


def _resolve_basket(basket: str | None, lines: Any) -> str:
    if basket is None:
        return "transaction_id" if "tid" in lines.columns else "day"
    if basket == "transaction_id" and "tid" not in lines.columns:
        log.info("no transaction_id: baskets are customer-days")
    return basket


@dataclass
class AffinityRules:
    """Association rules between purchase categories and the baskets they come from.

    Attributes
    ----------
    table : DataFrame
        :data:`AFFINITY_COLUMNS`, one row per rule, sorted by lift.
    n_baskets : int
        Baskets counted.
    basket : str
        ``transaction_id`` or ``day`` (customer-day).
    min_baskets : int
        Fewest baskets with both categories for a rule to be listed.
    """

    table: pd.DataFrame
    n_baskets: int
    basket: str
    min_baskets: int


def category_affinity(
    transactions: Any,
    *,
    engine: Engine | None = None,
    basket: str | None = None,
    category: str = "category",
    min_baskets: int | None = None,
    min_support: float = 0.0,
    min_confidence: float = 0.0,
    min_lift: float = 1.0,
    as_of_date: Any = None,
    level: float = 0.95,
) -> AffinityRules:
    """Association rules A → B between purchase categories, sorted by lift.

    Parameters
    ----------
    transactions : DataFrame or ibis Table
        Contract transactions with a category column (see :func:`purchase_lines`).
    engine : Engine, optional
        The run's engine; a pandas frame without one is registered on an engine opened for the
        call.
    basket : {"transaction_id", "day"}, optional
        What a basket is; default ``transaction_id`` when the column exists, else ``day``.
    category : str
        The category column.
    min_baskets : int, optional
        Fewest baskets holding both categories for a rule to be listed, so that rare pairs
        with a large lift by chance do not top the list; default :data:`MIN_BASKETS` or
        :data:`MIN_BASKET_SHARE` of the baskets, whichever is more.
    min_support, min_confidence, min_lift : float
        Further thresholds (``lift >= min_lift``; default 1: only positive affinities).
    as_of_date : date-like, optional
        Only data through the end of this day (:func:`cxlib.engine.data_end`).
    level : float
        Confidence level of ``lift_low`` / ``lift_high`` (the module docstring's interval).

    Returns
    -------
    AffinityRules
        Its ``table``: :data:`AFFINITY_COLUMNS`, one row per rule (both directions of a pair;
        confidence differs between them, lift does not), sorted by lift, then baskets with
        both, then names.
    """
    end = data_end(as_of_date) if as_of_date is not None else None
    with engine_for(transactions, engine) as eng:
        lines = purchase_lines(transactions, engine=eng, category=category, end=end)
        basket = _resolve_basket(basket, lines)
        # read three times (categories, baskets, pairs): the lines are scanned once
        bc = eng.keep(basket_categories(lines, basket), "cx_baskets")
        try:
            counts, pairs, n_baskets, min_baskets = _count_pairs(bc, min_baskets)
        finally:
            eng.drop(bc)
    rules = _rules(counts, pairs, n_baskets, level)
    keep = (
        (rules["support"] >= min_support)
        & (rules["confidence"] >= min_confidence)
        & (rules["lift"] >= min_lift)
    )
    rules = rules.loc[keep].sort_values(
        ["lift", "baskets_both", "category_a", "category_b"],
        ascending=[False, False, True, True],
        kind="mergesort",
    )
    rules = rules.reset_index(drop=True)
    log.info(
        "category affinity: %d rules from %d baskets (%s), at least %d baskets each",
        len(rules),
        n_baskets,
        basket,
        min_baskets,
    )
    return AffinityRules(rules, int(n_baskets), basket, int(min_baskets))


def _count_pairs(bc: Any, min_baskets: int | None) -> tuple[pd.Series, pd.DataFrame, int, int]:
    """Baskets per category, per unordered category pair (``a < b``, at least ``min_baskets``)
    and in all, counted in the backend from distinct (basket, category) rows; and the
    ``min_baskets`` used."""
    per_category = fetch_frame(bc.group_by("_c").aggregate(n=row_count()))
    counts = pd.Series(
        per_category["n"].to_numpy("int64"), index=per_category["_c"].astype(str), name="n"
    )
    baskets = bc.select("_u", "_k").distinct()
    n_baskets = int(fetch_frame(baskets.aggregate(n=row_count()))["n"].iloc[0])
    if min_baskets is None:
        min_baskets = max(MIN_BASKETS, int(np.ceil(MIN_BASKET_SHARE * n_baskets)))
    min_baskets = max(int(min_baskets), 1)
    right = bc.view()
    right = right.select(_u2=right._u, _k2=right._k, _c2=right._c)
    joined = bc.join(right, (bc._u == right._u2) & (bc._k == right._k2) & (bc._c < right._c2))
    pairs = joined.group_by(a=joined._c, b=joined._c2).aggregate(n=row_count())
    pairs = fetch_frame(pairs.filter(pairs.n >= min_baskets))
    return counts, pairs, n_baskets, min_baskets


def _rules(counts: pd.Series, pairs: pd.DataFrame, n_baskets: int, level: float) -> pd.DataFrame:
    """Both directions of every counted pair, with support, confidence, lift and its interval."""
    a = pairs["a"].astype(str).to_numpy()
    b = pairs["b"].astype(str).to_numpy()
    n_ab = pairs["n"].to_numpy("float64")
    n_a = counts.reindex(a).to_numpy("float64")
    n_b = counts.reindex(b).to_numpy("float64")
    frame = pd.DataFrame(
        {
            "category_a": np.concatenate([a, b]),
            "category_b": np.concatenate([b, a]),
            "baskets_a": np.concatenate([n_a, n_b]).astype("int64"),
            "baskets_b": np.concatenate([n_b, n_a]).astype("int64"),
            "baskets_both": np.concatenate([n_ab, n_ab]).astype("int64"),
        }
    )
    n = float(max(n_baskets, 1))
    both = frame["baskets_both"].to_numpy("float64")
    na = frame["baskets_a"].to_numpy("float64")
    nb = frame["baskets_b"].to_numpy("float64")
    frame["support"] = both / n
    frame["confidence"] = both / na
    frame["lift"] = both * n / (na * nb)
    low, high = lift_interval(both, na, nb, n, level)
    frame["lift_low"], frame["lift_high"] = low, high
    return frame.astype({"category_a": "str", "category_b": "str"})


def lift_interval(
    n_ab: np.ndarray, n_a: np.ndarray, n_b: np.ndarray, n: float, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Normal-approximation interval of the lift on the log scale (delta method, multinomial
    counts; see the module docstring).

    Parameters
    ----------
    n_ab, n_a, n_b : array
        Baskets with both categories, with A, with B.
    n : float
        Baskets in all.
    level : float
        Confidence level.

    Returns
    -------
    (low, high) : arrays
    """
    n_ab = np.asarray(n_ab, dtype="float64")
    n_a = np.asarray(n_a, dtype="float64")
    n_b = np.asarray(n_b, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = n_ab * n / (n_a * n_b)
        var = 1 / n_ab - 1 / n_a - 1 / n_b + 2 * n_ab / (n_a * n_b) - 1 / n
        se = np.sqrt(np.clip(var, 0.0, None))
        z = float(stats.norm.ppf(0.5 + level / 2))
        return lift * np.exp(-z * se), lift * np.exp(z * se)


def top_pairs(rules: pd.DataFrame, n: int = 15) -> pd.DataFrame:
    """The ``n`` unordered pairs of highest lift: the first rule of each pair in ``rules``'
    order (its direction of higher confidence when both are listed).

    Parameters
    ----------
    rules : DataFrame
        :func:`category_affinity`'s rules.
    n : int
        Pairs to keep.

    Returns
    -------
    DataFrame
        The kept rules, in order.
    """
    ordered = rules.sort_values(["lift", "confidence"], ascending=[False, False], kind="mergesort")
    a, b = ordered["category_a"].astype(str), ordered["category_b"].astype(str)
    pair = pd.DataFrame({"lo": a.where(a < b, b), "hi": b.where(a < b, a)})
    first = ~pair.duplicated().to_numpy()
    return ordered.loc[first].head(n).reset_index(drop=True)
