"""Export tables of a churn result: scores, action list, segment risk, reliability, gains."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cxlib.churn._common import EXPORT_COLUMNS, MODE_NON_CONTRACTUAL
from cxlib.churn._evaluate import gains_table, reliability_table
from cxlib.churn._features import exposure_phrases
from cxlib.churn._prepare import in_state
from cxlib.churn._result import ChurnResult
from cxlib.privacy import Suppressed, pseudonymise, suppress_small_groups

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Outputs: export, action list, findings
# ---------------------------------------------------------------------------------------------


def scores_export(result: ChurnResult) -> pd.DataFrame:
    """The ``exports/churn_scores.csv`` table (:data:`EXPORT_COLUMNS`), one row per customer
    record, highest value at risk first (ties by customer id).

    When the analysis ran per person (``master_map``), every record of a person gets the
    person's scores and keeps its own ``marketing_consent``.
    """
    s = result.scores.rename_axis("unit").reset_index()
    if result.records is not None:
        rec = result.records[["customer_id", "unit", "marketing_consent"]]
        s = rec.merge(s.drop(columns="marketing_consent"), on="unit", how="inner")
    else:
        s = s.rename(columns={"unit": "customer_id"})
    out = s[list(EXPORT_COLUMNS)].copy()
    order = np.lexsort(
        (
            out["customer_id"].astype(str).to_numpy(),
            -out["churn_probability"].fillna(-1.0).to_numpy(),
            -out["value_at_risk"].fillna(-np.inf).to_numpy(),
        )
    )
    return out.iloc[order].reset_index(drop=True)


#: The action list's ``consent`` when the data holds no consent (never read as consent).
CONSENT_UNKNOWN = "consent unknown — check before contact"


def consent_known(result: ChurnResult) -> bool:
    """True when the data says for some customer whether they agreed to marketing."""
    return bool(result.scores["marketing_consent"].notna().any())


def action_list(
    result: ChurnResult,
    pseudonym_key: str,
    *,
    top_n: int = 25,
    min_probability: float = 0.5,
    max_reasons: int = 3,
) -> pd.DataFrame:
    """Who to contact first: not yet churned customers at risk, by value at risk.

    When the data holds consent, only customers who gave it are listed (unknown consent is not
    consent) and ``consent`` is "given"; when it holds none (no ``marketing_consent``
    column), customers are listed with ``consent`` = :data:`CONSENT_UNKNOWN`. At risk means a
    probability of having dropped out (``1 - p_alive``; in contractual mode, or without
    P(alive), the probability of leaving) of at least ``min_probability``: a customer who buys
    twice a year and has been quiet for a quarter has probably not dropped out, however likely
    the quarter without a purchase. Ranked by ``value_at_risk`` (by that probability when no
    value is known). Ids are pseudonymised. Columns: ``rank``, ``customer``, ``segment``,
    ``churn_probability``, ``p_alive``, ``purchase_interval_days``, ``value_if_alive``,
    ``value_at_risk``, ``consent``, ``reasons`` (the higher-risk states of the clear drivers
    that apply to the customer, the driver associated with the most leaving first; at most
    ``max_reasons``).
    """
    s = result.scores.copy()
    if "churned" in s.columns:
        s = s.loc[~s["churned"].fillna(False).astype(bool)]
    known = consent_known(result)
    if known:
        s = s.loc[s["marketing_consent"].fillna(False).astype(bool)]
    dropout = s["churn_probability"]
    if result.mode == MODE_NON_CONTRACTUAL:
        dropout = (1.0 - s["p_alive"]).fillna(dropout)
    s = s.assign(_risk=dropout, _id=s.index.astype(str)).loc[dropout >= min_probability]
    key = "value_at_risk" if s["value_at_risk"].notna().any() else "_risk"
    s = s.sort_values([key, "_id"], ascending=[False, True], kind="stable").head(top_n)
    d = result.drivers
    d = d.loc[d["paf"].notna() & (d["paf_ci_low"] > 0) & d["column"].isin(s.columns)]
    d = d.drop_duplicates("column")
    applies = pd.DataFrame(
        {r["column"]: in_state(s[r["column"]], r["exposed_value"]) for _, r in d.iterrows()},
        index=s.index,
    )
    labels = {
        r["column"]: exposure_phrases(
            r["column"],
            r["exposed_value"],
            r["reference_value"],
            recent_days=result.recent_days,
            low_score=result.low_score,
        )[2]
        for _, r in d.iterrows()
    }
    reasons = [
        "; ".join([labels[c] for c in applies.columns if row[c]][:max_reasons])
        for _, row in applies.iterrows()
    ]
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(s) + 1),
            "customer": pseudonymise(pd.Series(s.index, index=s.index), pseudonym_key).to_numpy(),
            "segment": s["segment"].to_numpy(),
            "churn_probability": s["churn_probability"].to_numpy(),
            "p_alive": s["p_alive"].to_numpy(),
            "purchase_interval_days": s["purchase_interval_days"].to_numpy(),
            "value_if_alive": s["value_if_alive"].to_numpy(),
            "value_at_risk": s["value_at_risk"].to_numpy(),
            "consent": "given" if known else CONSENT_UNKNOWN,
            "reasons": reasons,
        }
    )


def segment_risk(result: ChurnResult, min_group_size: int = 10) -> pd.DataFrame:
    """Risk and value at risk by segment (groups under ``min_group_size`` suppressed).

    Columns: ``segment``, ``customers``, ``expected_lapsers`` (sum of probabilities),
    ``mean_churn_probability``, ``value_if_alive`` (what the segment would spend over the horizon
    if all stayed), ``value_at_risk``, ``share_of_value_at_risk``.
    The number of segments hidden is :func:`segment_risk_suppressed`'s ``hidden``.
    """
    return segment_risk_suppressed(result, min_group_size).frame


def segment_risk_suppressed(result: ChurnResult, min_group_size: int = 10) -> Suppressed:
    """:func:`segment_risk` with the number of segments hidden as too small.

    Parameters
    ----------
    result : ChurnResult
        The scored customers (``scores``).
    min_group_size : int
        Smallest segment shown.

    Returns
    -------
    Suppressed
        ``frame`` is the :func:`segment_risk` table, ``hidden`` the number of segments left out.
    """
    s = result.scores
    if "churned" in s.columns:
        s = s.loc[~s["churned"].fillna(False).astype(bool)]
    seg = s["segment"].astype("str").fillna("unknown")
    g = s.groupby(seg, sort=True)
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "expected_lapsers": g["churn_probability"].sum(),
            "mean_churn_probability": g["churn_probability"].mean(),
            "value_if_alive": g["value_if_alive"].sum(min_count=1),
            "value_at_risk": g["value_at_risk"].sum(min_count=1),
        }
    )
    total = out["value_at_risk"].sum()
    out["share_of_value_at_risk"] = out["value_at_risk"] / total if total else np.nan
    out = out.rename_axis("segment").reset_index()
    out = out.sort_values(
        ["value_at_risk", "mean_churn_probability", "segment"],
        ascending=[False, False, True],
        na_position="last",
    )
    return suppress_small_groups(out.reset_index(drop=True), "customers", min_group_size)


def reliability_long(result: ChurnResult, n_bins: int = 10) -> pd.DataFrame:
    """:func:`reliability_table` on the held-out data for every model, stacked with ``model``."""
    h = result.holdout
    frames = [
        reliability_table(h["y"], h[m], n_bins).assign(model=m) for m in h.columns if m != "y"
    ]
    return pd.concat(frames, ignore_index=True)


def gains_long(result: ChurnResult, n_bins: int = 10) -> pd.DataFrame:
    """:func:`gains_table` on the held-out data for every model, stacked with ``model``."""
    h = result.holdout
    frames = [gains_table(h["y"], h[m], n_bins).assign(model=m) for m in h.columns if m != "y"]
    return pd.concat(frames, ignore_index=True)
