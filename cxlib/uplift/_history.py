"""Purchase-history covariates of the campaign customers, cut the day before the send.

One path: the transactions are a backend table (a user's pandas frame is registered on the run's
:class:`~cxlib.engine.Engine` first); the campaign customers' transactions are selected there (a
semi-join with the campaign's ids) and aggregated by :func:`cxlib.features.customer_features`;
only their customer-level features come into memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pandas as pd

from cxlib.engine import ROW_ORDER, Engine, analysis_day, as_table, ids_table_like, is_table

log = logging.getLogger(__name__)

NO_TRANSACTIONS_NOTE = "no transactions: models use the campaign's own covariates only"
NO_SEND_DATE_NOTE = (
    "the campaign has no send date (sent_at), so purchase history cannot be cut "
    "safely before the send: models use the campaign's own covariates only"
)
NO_PURCHASE_NOTE = "no purchase before the send for the campaign customers"


def _no_rows(table: Any) -> bool:
    """True when the backend table has no row (it is asked for one row, not counted)."""
    return int(table.limit(1).count().execute()) == 0


def _campaign_transactions(table: Any, ids: Iterable[str]) -> Any:
    """The transactions of the customers ``ids``: a semi-join in the table's backend with the
    ids as an in-memory table (the table's columns and row-order column are kept)."""
    ids = pd.unique(pd.Series(list(ids), dtype="str"))
    known = ids_table_like(table, ids, "_cx_id")
    return table.semi_join(known, table["customer_id"].cast("string") == known["_cx_id"])


def send_cutoff(campaign: pd.DataFrame, sent_at: Any = None) -> pd.Timestamp | None:
    """The last day of purchase history a model may use: the day before the send (``sent_at``,
    default the campaign's earliest ``sent_at``); None when there is no send date."""
    if sent_at is None and "sent_at" in campaign.columns and campaign["sent_at"].notna().any():
        sent_at = campaign["sent_at"].min()
    if sent_at is None or pd.isna(sent_at):
        return None
    return analysis_day(sent_at) - pd.Timedelta(days=1)


def history_features(
    campaign: pd.DataFrame,
    transactions: pd.DataFrame | Any | None,
    sent_at: Any = None,
    *,
    engine: Engine | None = None,
) -> tuple[pd.DataFrame, str]:
    """Purchase-history features (and RFM segment) of the campaign customers before the send.

    Uses :func:`cxlib.features.customer_features` with data through the day before
    ``sent_at`` (default: the earliest ``sent_at`` of the campaign), so nothing the campaign
    could have caused leaks in. Columns are prefixed ``hist_``; rows align with ``campaign``.
    Returns an empty frame and the reason when there are no transactions or no send date.

    Parameters
    ----------
    campaign : DataFrame
        The campaign rows (``customer_id``, optional ``sent_at``).
    transactions : DataFrame or ibis Table, optional
        Contract ``transactions``; an Ibis table (``load_source(..., lazy=("transactions",))``)
        is used where it is, a pandas frame is registered on ``engine`` first.
    sent_at : date-like, optional
        The send date (default: the campaign's earliest ``sent_at``).
    engine : Engine, optional
        The run's engine; without one a local engine serves this call.

    Returns
    -------
    (DataFrame, str)
        The ``hist_*`` features indexed like ``campaign`` and a note saying what was used.
    """
    empty = pd.DataFrame(index=campaign.index)
    if transactions is None:
        return empty, NO_TRANSACTIONS_NOTE
    if engine is None and not is_table(transactions):
        with Engine() as local:
            return history_features(campaign, transactions, sent_at, engine=local)
    table = as_table(transactions, engine)
    if _no_rows(table):
        return empty, NO_TRANSACTIONS_NOTE
    cutoff = send_cutoff(campaign, sent_at)
    if cutoff is None:
        return empty, NO_SEND_DATE_NOTE
    from cxlib.features import customer_features

    tx = _campaign_transactions(table, campaign["customer_id"].dropna().astype("str"))
    # one date only: the transactions up to the cut-off are combined in the same query as the
    # aggregation (row_order given), not first kept whole as for features at several dates
    row_order = ROW_ORDER if ROW_ORDER in tx.columns else None
    feats = customer_features(tx, cutoff, engine=engine, row_order=row_order)
    if feats.empty:
        return empty, NO_PURCHASE_NOTE
    from cxlib.segment import rfm_scores

    feats["rfm_segment"] = rfm_scores(feats)["rfm_segment"].astype("str")
    feats = feats.add_prefix("hist_")
    out = feats.reindex(campaign["customer_id"].astype("str").to_numpy())
    out.index = campaign.index
    note = (
        f"{feats.shape[1]} purchase-history features (including the RFM segment before the send) computed from "
        f"transactions up to {cutoff.date()}, the day before the send"
    )
    return out, note
