"""RFM scores and segments, and the migration between RFM segments over time."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

logger = logging.getLogger("cxlib.segment")


# --------------------------------------------------------------------------------------------
# RFM
# --------------------------------------------------------------------------------------------

#: The eleven classic RFM segments, from most to least valuable.
RFM_SEGMENTS: tuple[str, ...] = (
    "Champions",
    "Loyal",
    "Potential loyalists",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose them",
    "Hibernating",
    "Lost",
)

#: Score grid: rows are the recency score R (5 = most recent), columns the combined
#: frequency-monetary score FM = round-half-up((F + M) / 2). Every cell names one segment.
RFM_GRID: pd.DataFrame = pd.DataFrame(
    [
        ["New", "Potential loyalists", "Potential loyalists", "Champions", "Champions"],
        ["Promising", "Potential loyalists", "Potential loyalists", "Loyal", "Champions"],
        ["About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"],
        ["Hibernating", "Hibernating", "At risk", "At risk", "Can't lose them"],
        ["Lost", "Lost", "At risk", "Can't lose them", "Can't lose them"],
    ],
    index=pd.Index([5, 4, 3, 2, 1], name="r_score"),
    columns=pd.Index([1, 2, 3, 4, 5], name="fm_score"),
)

#: Short plain-language meaning of each RFM segment (for reports).
RFM_DESCRIPTIONS: dict[str, str] = {
    "Champions": "bought recently, buy often and spend the most",
    "Loyal": "buy often and spend well; recent enough",
    "Potential loyalists": "recent customers with average frequency and spend",
    "New": "bought very recently for the first time or rarely",
    "Promising": "fairly recent, but have bought little so far",
    "Need attention": "middling recency, frequency and spend",
    "About to sleep": "below average recency, frequency and spend",
    "At risk": "used to buy often and spend well, but not for a while",
    "Can't lose them": "among the biggest spenders, but have not come back for a long time",
    "Hibernating": "low spend and few purchases, last one long ago",
    "Lost": "lowest recency, frequency and spend",
}


def quintile_scores(values: pd.Series, higher_is_better: bool = True, n_bins: int = 5) -> pd.Series:
    """Score values 1..``n_bins`` by rank (``n_bins`` = best).

    Tie rule (deterministic, independent of row order and ids): customers with equal values share
    the score of the group's *average* rank: ``score = ceil(n_bins * avg_rank / n)``. Without ties
    the bins hold equal numbers of customers (sizes differ by at most one).

    Parameters
    ----------
    values : pd.Series
        Numeric values, no missing values.
    higher_is_better : bool
        If False (recency), the smallest value gets the top score.
    n_bins : int
        Number of score levels.

    Returns
    -------
    pd.Series
        Integer scores with the index of ``values``.
    """
    if values.isna().any():
        raise ValueError("quintile_scores: values contain missing values")
    n = len(values)
    if n == 0:
        return pd.Series([], index=values.index, dtype="int64", name=values.name)
    ranks = values.rank(method="average", ascending=higher_is_better).to_numpy(dtype=float)
    # small epsilon guards against floating error at exact boundaries (e.g. 1000*5/5000)
    scores = np.ceil(n_bins * ranks / n - 1e-9).astype("int64")
    scores = np.clip(scores, 1, n_bins)
    return pd.Series(scores, index=values.index, name=values.name)


def rfm_segment_of(r_score: pd.Series, fm_score: pd.Series) -> pd.Series:
    """Look up the named RFM segment of each (R, FM) pair in :data:`RFM_GRID`."""
    stacked = RFM_GRID.stack()
    keys = pd.MultiIndex.from_arrays([r_score.to_numpy(), fm_score.to_numpy()])
    seg = stacked.reindex(keys).to_numpy()
    return pd.Series(
        pd.Categorical(seg, categories=list(RFM_SEGMENTS)), index=r_score.index, name="rfm_segment"
    )


def rfm_scores(features: pd.DataFrame, n_bins: int = 5) -> pd.DataFrame:
    """RFM scores and named segment per customer.

    Customers with a purchase in the look-back window (``frequency > 0``) are scored against
    each other. Customers without one are below every active customer on all three measures:
    they get R = F = M = FM = 1 and the segment "Lost" without taking part in the ranking (so
    that a large inactive group does not push active one-time buyers out of the lowest scores).

    Parameters
    ----------
    features : pd.DataFrame
        Indexed by customer_id with ``recency_days``, ``frequency`` and ``monetary``.
    n_bins : int
        Number of score levels (5 = quintiles; the segment grid needs 5).

    Returns
    -------
    pd.DataFrame
        ``recency_days, frequency, monetary, r_score, f_score, m_score, fm_score, rfm_segment``.
        ``r_score`` is 5 for the most recent buyers; ``fm_score`` = round-half-up((F + M) / 2).
    """
    missing = {"recency_days", "frequency", "monetary"} - set(features.columns)
    if missing:
        raise KeyError(f"rfm_scores: features lack columns {sorted(missing)}")
    out = features[["recency_days", "frequency", "monetary"]].copy()
    active = out["frequency"] > 0
    act = out.loc[active]
    for col, src, hib in (
        ("r_score", "recency_days", False),
        ("f_score", "frequency", True),
        ("m_score", "monetary", True),
    ):
        score = pd.Series(1, index=out.index, dtype="int64")
        score.loc[active] = quintile_scores(act[src], higher_is_better=hib, n_bins=n_bins)
        out[col] = score
    out["fm_score"] = np.floor((out["f_score"] + out["m_score"]) / 2 + 0.5).astype("int64")
    if n_bins == 5:
        seg = rfm_segment_of(out["r_score"], out["fm_score"])
        seg.loc[~active] = "Lost"
        out["rfm_segment"] = seg
    return out


def segment_summary(
    segments: pd.Series,
    revenue: pd.Series,
    order: list[str] | None = None,
    min_group_size: int = 10,
) -> pd.DataFrame:
    """Size and revenue share of each segment; groups under ``min_group_size`` are dropped.

    Parameters
    ----------
    segments : pd.Series
        Segment label per customer.
    revenue : pd.Series
        Revenue per customer (same index), e.g. ``monetary``.
    order : list of str, optional
        Row order (e.g. :data:`RFM_SEGMENTS`); default by revenue, descending.
    min_group_size : int
        Segments with fewer customers are removed (privacy rule); shares still use all customers.

    Returns
    -------
    pd.DataFrame
        ``segment, customers, customer_share, revenue, revenue_share, revenue_per_customer``.
    """
    df = pd.DataFrame({"segment": segments.astype("object"), "revenue": revenue.astype(float)})
    g = df.groupby("segment", observed=True, sort=False)
    out = pd.DataFrame({"customers": g.size(), "revenue": g["revenue"].sum()})
    total_c = len(df)
    total_r = float(df["revenue"].sum())
    out["customer_share"] = out["customers"] / total_c if total_c else np.nan
    out["revenue_share"] = out["revenue"] / total_r if total_r else np.nan
    out["revenue_per_customer"] = out["revenue"] / out["customers"]
    if order is not None:
        out = out.reindex([s for s in order if s in out.index])
    else:
        out = out.sort_values("revenue", ascending=False)
    out = out.rename_axis("segment").reset_index()
    out = out[
        [
            "segment",
            "customers",
            "customer_share",
            "revenue",
            "revenue_share",
            "revenue_per_customer",
        ]
    ]
    n_before = len(out)
    out = out[out["customers"] >= min_group_size].reset_index(drop=True)
    if len(out) < n_before:
        logger.info(
            "segment_summary: %d segment(s) under %d customers suppressed",
            n_before - len(out),
            min_group_size,
        )
    return out


# --------------------------------------------------------------------------------------------
# Migration between periods
# --------------------------------------------------------------------------------------------

NOT_YET_CUSTOMER = "Not yet a customer"


@dataclass
class MigrationResult:
    """RFM segment migration between two dates.

    Attributes
    ----------
    counts : pd.DataFrame
        Customers by previous segment (rows, plus ``Not yet a customer``) and current segment
        (columns). Cells under ``min_group_size`` are NaN (suppressed).
    row_share : pd.DataFrame
        Each row as shares of the previous segment's customers (suppressed cells NaN).
    previous_date, current_date : pd.Timestamp
    table : pd.DataFrame
        Long format: previous, current, customers (unsuppressed; not for display).
    """

    counts: pd.DataFrame
    row_share: pd.DataFrame
    previous_date: pd.Timestamp
    current_date: pd.Timestamp
    table: pd.DataFrame = field(repr=False)

    def moved(self, from_segments: list[str], to_segments: list[str]) -> tuple[int, int]:
        """(customers who moved from any of ``from_segments`` into ``to_segments``, row total)."""
        t = self.table
        base = t[t["previous"].isin(from_segments)]
        n_from = int(base["customers"].sum())
        n_moved = int(base.loc[base["current"].isin(to_segments), "customers"].sum())
        return n_moved, n_from


def rfm_migration(
    current: pd.DataFrame,
    previous: pd.DataFrame,
    previous_date: pd.Timestamp,
    current_date: pd.Timestamp,
    min_group_size: int = 10,
) -> MigrationResult:
    """Cross-tabulate RFM segments at a previous date against now.

    Parameters
    ----------
    current, previous : pd.DataFrame
        Output of :func:`rfm_scores` at each date (scores are relative to each date's customers).
        Customers absent from ``previous`` had not bought yet: row ``Not yet a customer``.
    previous_date, current_date : pd.Timestamp
        The two as-of dates (for labelling).
    min_group_size : int
        Cells with fewer customers are blanked (NaN) in ``counts`` and ``row_share``.
    """
    prev = previous["rfm_segment"].astype("object").reindex(current.index)
    prev = prev.fillna(NOT_YET_CUSTOMER)
    cur = current["rfm_segment"].astype("object")
    table = (
        pd.DataFrame({"previous": prev.to_numpy(), "current": cur.to_numpy()})
        .groupby(["previous", "current"])
        .size()
        .rename("customers")
        .reset_index()
    )
    rows = [*RFM_SEGMENTS, NOT_YET_CUSTOMER]
    counts = table.pivot(index="previous", columns="current", values="customers")
    counts = counts.reindex(
        index=[r for r in rows if r in counts.index],
        columns=[c for c in RFM_SEGMENTS if c in counts.columns],
    ).fillna(0)
    row_tot = counts.sum(axis=1)
    row_share = counts.div(row_tot.replace(0, np.nan), axis=0)
    mask = counts < min_group_size
    counts = counts.astype(float).mask(mask)
    row_share = row_share.mask(mask)
    counts.index.name = f"segment on {pd.Timestamp(previous_date).date()}"
    counts.columns.name = f"segment on {pd.Timestamp(current_date).date()}"
    row_share.index.name, row_share.columns.name = counts.index.name, counts.columns.name
    return MigrationResult(
        counts=counts,
        row_share=row_share,
        previous_date=pd.Timestamp(previous_date),
        current_date=pd.Timestamp(current_date),
        table=table,
    )
