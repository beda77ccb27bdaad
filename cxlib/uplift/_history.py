"""Purchase-history covariates of the campaign customers, cut the day before the send."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)


def _no_rows(transactions: pd.DataFrame | Any | None) -> bool:
    """True when there is no transactions table or it has no row (a backend table is asked for
    one row, not counted)."""
    from cxlib.sources import is_backend_table

    if transactions is None:
        return True
    if is_backend_table(transactions):
        return int(transactions.limit(1).count().execute()) == 0
    return len(transactions) == 0


def _campaign_transactions(transactions: pd.DataFrame | Any, ids: Iterable[str]) -> Any:
    """The transactions of the customers ``ids``: a pandas filter, or for an Ibis table a
    semi-join in its backend with the ids as an in-memory table (its columns and row order
    column are kept)."""
    from cxlib.sources import is_backend_table

    ids = pd.unique(pd.Series(list(ids), dtype="str"))
    if is_backend_table(transactions):
        import ibis

        known = ibis.memtable(pd.DataFrame({"_cx_id": ids}))
        t = transactions
        return t.semi_join(known, t["customer_id"].cast("string") == known["_cx_id"])
    return transactions.loc[transactions["customer_id"].astype("str").isin(set(ids))]


def history_features(
    campaign: pd.DataFrame, transactions: pd.DataFrame | Any | None, sent_at: Any = None
) -> tuple[pd.DataFrame, str]:
    """Purchase-history features (and RFM segment) of the campaign customers before the send.

    Uses :func:`cxlib.features.customer_features` with data through the day before
    ``sent_at`` (default: the earliest ``sent_at`` of the campaign), so nothing the campaign
    could have caused leaks in. Columns are prefixed ``hist_``; rows align with ``campaign``.
    Returns an empty frame and the reason when there are no transactions or no send date.

    ``transactions`` may be a pandas frame or an Ibis table (``load_source(...,
    lazy=("transactions",))``): then the campaign customers' transactions are selected and
    aggregated in the backend (a semi-join with the campaign's ids) and only their
    customer-level features come into memory; the result is the same.
    """
    empty = pd.DataFrame(index=campaign.index)
    if _no_rows(transactions):
        return empty, "no transactions: models use the campaign's own covariates only"
    if sent_at is None and "sent_at" in campaign.columns and campaign["sent_at"].notna().any():
        sent_at = campaign["sent_at"].min()
    if sent_at is None or pd.isna(sent_at):
        return empty, (
            "the campaign has no send date (sent_at), so purchase history cannot be cut "
            "safely before the send: models use the campaign's own covariates only"
        )
    from cxlib.features import backend_customer_features, customer_features
    from cxlib.sources import ROW_ORDER, is_backend_table

    cutoff = pd.Timestamp(sent_at).normalize() - pd.Timedelta(days=1)
    tx = _campaign_transactions(transactions, campaign["customer_id"].dropna().astype("str"))
    if is_backend_table(tx) and ROW_ORDER in tx.columns:
        # one date only: combine the transactions up to the cut-off in the same query as the
        # aggregation instead of keeping all of them in temporary tables first (the cached
        # path pays off only for several dates of one table); the same features
        feats = backend_customer_features(tx, cutoff, row_order=ROW_ORDER)
    else:
        feats = customer_features(tx, cutoff)
    if feats.empty:
        return empty, "no purchase before the send for the campaign customers"
    try:
        from cxlib.segment import rfm_scores

        feats["rfm_segment"] = rfm_scores(feats)["rfm_segment"].astype("str")
    except Exception as exc:  # pragma: no cover - segment module optional
        log.info("RFM segment not added: %s", exc)
    feats = feats.add_prefix("hist_")
    out = feats.reindex(campaign["customer_id"].astype("str").to_numpy())
    out.index = campaign.index
    note = (
        f"{feats.shape[1]} purchase-history features (including the RFM segment) computed from "
        f"transactions up to {cutoff.date()}, the day before the send"
    )
    return out, note
