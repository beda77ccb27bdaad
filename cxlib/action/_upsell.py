"""Up-sell: customers who buy a category but spend well below their segment's peers on it, and the
``cross_sell.csv`` export.

A customer's spend on a category is the sum of its purchase amounts in the look-back window
(``lookback_days`` days through the end of the analysis date), summed in the backend. The peers
of a customer for a category are the customers of the same segment who bought it in the window;
a customer is an up-sell candidate when the peer group has at least ``min_peers`` buyers and the
customer's spend is below the group's ``quantile`` (default the 25th percentile). The gap is what
a typical peer (the group's median) spends more, in the transactions' currency.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from cxlib.action._affinity import purchase_lines
from cxlib.action._category_history import last_purchase_day
from cxlib.action._crosssell import RECOMMENDATION_COLUMNS
from cxlib.engine import Engine, data_end, engine_for, fetch_frame

log = logging.getLogger(__name__)

#: Columns of :func:`up_sell_candidates`.
UP_SELL_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "segment",
    "category",
    "spend",
    "peer_threshold",
    "peer_median",
    "n_peers",
    "gap",
)


def _segment_series(segments: Any) -> pd.Series:
    """Segments as a text Series indexed by text customer id."""
    if isinstance(segments, pd.DataFrame):
        if not {"customer_id", "segment"} <= set(segments.columns):
            raise ValueError("a segments frame needs `customer_id` and `segment` columns")
        segments = segments.set_index("customer_id")["segment"]
    s = pd.Series(segments)
    s.index = pd.Index(s.index.astype(str), name="customer_id")
    s = s[~s.index.duplicated(keep="first")].dropna()
    return s.astype(str).rename("segment")


def up_sell_candidates(
    transactions: Any,
    segments: Any,
    *,
    as_of_date: Any = None,
    lookback_days: int = 365,
    quantile: float = 0.25,
    min_peers: int = 30,
    engine: Engine | None = None,
    category: str = "category",
) -> pd.DataFrame:
    """Customers whose spend on a category they buy is well below their segment's peers.

    Parameters
    ----------
    transactions : DataFrame or ibis Table
        Contract transactions with a category column.
    segments : Series or DataFrame
        Segment per customer: a Series indexed by ``customer_id``, or a frame with
        ``customer_id`` and ``segment``. Customers without one are left out.
    as_of_date : date-like, optional
        The analysis date; default the day of the last purchase.
    lookback_days : int
        Days of spend counted (through the end of ``as_of_date``).
    quantile : float
        A customer below this quantile of the peer group's spend is a candidate.
    min_peers : int
        Fewest buyers of the category in the segment for the group to be judged.
    engine : Engine, optional
        The run's engine (a pandas frame without one is registered on an engine opened for
        the call).
    category : str
        The category column.

    Returns
    -------
    DataFrame
        :data:`UP_SELL_COLUMNS`, largest gap first: the customer's ``spend``, the group's
        ``peer_threshold`` (its ``quantile``) and ``peer_median``, ``n_peers`` (buyers in the
        group, the customer included) and ``gap`` = ``peer_median`` − ``spend``.
    """
    seg = _segment_series(segments)
    with engine_for(transactions, engine) as eng:
        if as_of_date is None:
            as_of_date = last_purchase_day(transactions, engine=eng, category=category)
        end = data_end(as_of_date)
        start = end - pd.Timedelta(days=int(lookback_days))
        lines = purchase_lines(transactions, engine=eng, category=category, end=end, start=start)
        spend = fetch_frame(
            lines.group_by("customer_id", "category").aggregate(spend=lines.amount.sum())
        )
    spend = spend.astype({"customer_id": "str", "category": "str"})
    spend["spend"] = pd.to_numeric(spend["spend"]).astype("float64")
    spend["segment"] = seg.reindex(spend["customer_id"]).to_numpy()
    missing = spend["segment"].isna()
    if missing.any():
        log.info(
            "up-sell: %d customers without a segment left out",
            spend.loc[missing, "customer_id"].nunique(),
        )
    spend = spend.loc[~missing]
    groups = spend.groupby(["segment", "category"], sort=True)["spend"]
    stats = pd.DataFrame(
        {
            "peer_threshold": groups.quantile(quantile),
            "peer_median": groups.median(),
            "n_peers": groups.size(),
        }
    ).reset_index()
    out = spend.merge(stats, on=["segment", "category"], how="inner")
    out = out.loc[(out["n_peers"] >= int(min_peers)) & (out["spend"] < out["peer_threshold"])]
    out = out.assign(gap=out["peer_median"] - out["spend"])
    out = out.sort_values(
        ["gap", "customer_id", "category"], ascending=[False, True, True], kind="mergesort"
    )
    log.info("up-sell: %d customer-category candidates", len(out))
    return out.loc[:, list(UP_SELL_COLUMNS)].reset_index(drop=True)


def cross_sell_export(
    recommendations: pd.DataFrame,
    up_sell: pd.DataFrame | None = None,
    *,
    up_sell_per_customer: int = 1,
    quantile: float = 0.25,
) -> pd.DataFrame:
    """The ``cross_sell.csv`` table: ``customer_id, category, score, rank, reason``.

    Parameters
    ----------
    recommendations : DataFrame
        :meth:`CrossSellModel.recommend`'s rows (ranks 1…k per customer).
    up_sell : DataFrame, optional
        :func:`up_sell_candidates`; each customer's ``up_sell_per_customer`` largest gaps are
        added after its cross-sell rows (ranks continue), with ``score`` = the gap as a share
        of the peer median and a ``reason`` starting "up-sell:".
    up_sell_per_customer : int
        Up-sell rows kept per customer.
    quantile : float
        The quantile the candidates were chosen with (named in the reason).

    Returns
    -------
    DataFrame
        Exactly :data:`~cxlib.action._crosssell.RECOMMENDATION_COLUMNS`, by customer and rank.
    """
    cols = list(RECOMMENDATION_COLUMNS)
    missing = [c for c in cols if c not in recommendations.columns]
    if missing:
        raise ValueError(f"recommendations lack {missing}")
    parts = [recommendations.loc[:, cols]]
    if up_sell is not None and len(up_sell):
        parts.append(_up_sell_rows(recommendations, up_sell, up_sell_per_customer, quantile))
    out = pd.concat(parts, ignore_index=True)
    out = out.astype({"customer_id": "str", "category": "str", "score": "float64"})
    out = out.astype({"rank": "int64", "reason": "str"})
    out = out.sort_values(["customer_id", "rank"], kind="mergesort")
    return out.reset_index(drop=True)


def _up_sell_rows(
    recommendations: pd.DataFrame, up_sell: pd.DataFrame, per_customer: int, quantile: float
) -> pd.DataFrame:
    top = up_sell.sort_values(["customer_id", "gap"], ascending=[True, False], kind="mergesort")
    top = top.groupby("customer_id", sort=False).head(int(per_customer))
    after = recommendations.groupby("customer_id")["rank"].max()
    offset = after.reindex(top["customer_id"].astype(str)).fillna(0).to_numpy("int64")
    within = top.groupby("customer_id", sort=False).cumcount().to_numpy() + 1
    pct = f"{_ordinal(round(quantile * 100))} percentile"
    reason = [
        f"up-sell: spends {s:,.2f} on {c}, below the {pct} of buyers in segment {g} "
        f"(median {m:,.2f}; gap {gap:,.2f})"
        for s, c, g, m, gap in zip(
            top["spend"],
            top["category"],
            top["segment"],
            top["peer_median"],
            top["gap"],
            strict=True,
        )
    ]
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(top["peer_median"] > 0, top["gap"] / top["peer_median"], 0.0)
    return pd.DataFrame(
        {
            "customer_id": top["customer_id"].astype(str).to_numpy(),
            "category": top["category"].astype(str).to_numpy(),
            "score": score,
            "rank": offset + within,
            "reason": reason,
        }
    )


def _ordinal(n: int) -> str:
    """``25`` → ``25th``, ``1`` → ``1st``, ``33`` → ``33rd``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
