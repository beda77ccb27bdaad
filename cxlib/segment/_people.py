"""People (single customer view: the data audit's master ids) and the segments export."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from cxlib.engine import ROW_ORDER, Engine, is_table
from cxlib.features import id_coverage, with_master_ids
from cxlib.sources import fetch_frame

logger = logging.getLogger("cxlib.segment")


# --------------------------------------------------------------------------------------------
# People (single customer view) and export
# --------------------------------------------------------------------------------------------

EXPORT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
    "cluster",
    "cluster_name",
)


def _id_coverage(ids: pd.Series | Any, mapped: pd.Series) -> float:
    """Share of the distinct non-missing ``ids`` (a pandas Series or an Ibis column) that are in
    ``mapped``; 0 when there are none. Counted in the backend (one query); a Series is registered
    on a local :class:`~cxlib.engine.Engine` first."""
    if isinstance(ids, pd.Series):
        with Engine() as engine:
            frame = pd.DataFrame({"_cx_id": ids.astype("str").to_numpy()}, dtype="str")
            return _id_coverage(engine.table(frame)["_cx_id"], mapped)
    return id_coverage(ids, mapped)


def load_master_map(
    output_dir: str | Path, ids: pd.Series | Any | None = None, min_coverage: float = 0.5
) -> pd.DataFrame | None:
    """Read ``output_dir/exports/customer_master_map.csv`` (from notebook 01) if present.

    Parameters
    ----------
    output_dir : path
        The run folder.
    ids : pd.Series or ibis Column, optional
        Customer ids of the data being segmented, e.g. ``transactions["customer_id"]`` of a
        pandas frame or of a backend table (then the distinct ids are counted in the backend;
        they never come into memory). A map that covers fewer than ``min_coverage`` of the
        distinct ids was made from other data (e.g. a stale file from an earlier run) and is
        ignored.
    min_coverage : float
        See ``ids``.

    Returns
    -------
    pd.DataFrame or None
        ``customer_id`` and ``master_id`` (strings), or None when absent, malformed or stale.
    """
    path = Path(output_dir) / "exports" / "customer_master_map.csv"
    if not path.is_file():
        return None
    mm = pd.read_csv(path, dtype={"customer_id": "str", "master_id": "str"})
    missing = {"customer_id", "master_id"} - set(mm.columns)
    if missing:
        logger.warning("%s lacks %s; segmenting records instead", path, sorted(missing))
        return None
    mm = mm.dropna(subset=["customer_id", "master_id"]).drop_duplicates("customer_id")
    if ids is not None:
        coverage = _id_coverage(ids, mm["customer_id"])
        if coverage < min_coverage:
            logger.warning(
                "%s covers %.0f%% of the customer ids; it belongs to other data and is ignored",
                path,
                100 * coverage,
            )
            return None
    logger.info("single customer view: %d records -> %d people", len(mm), mm["master_id"].nunique())
    return mm[["customer_id", "master_id"]].reset_index(drop=True)


def to_people(
    transactions: pd.DataFrame | Any, master_map: pd.DataFrame, *, engine: Engine | None = None
) -> pd.DataFrame | Any:
    """Replace each transaction's ``customer_id`` by its person's ``master_id``.

    Records absent from the map are their own person (their id is kept). The original id is kept
    in ``source_customer_id``. The mapping is a left join in the transactions' backend with the
    map as an in-memory table (the first ``master_id`` of each ``customer_id``, as after
    :func:`load_master_map`), with the same columns (the row-order column
    :data:`cxlib.engine.ROW_ORDER` is kept, last). An Ibis table gives an Ibis table. A pandas
    frame is registered on ``engine`` (then the result is a table of ``engine``) or, without one,
    on a local engine, and the people come back as a frame in the rows' order.
    """
    if not is_table(transactions):
        if engine is not None:
            return to_people(engine.table(transactions), master_map)
        with Engine() as local:
            people = to_people(local.table(transactions), master_map)
            out = fetch_frame(people.order_by(ROW_ORDER))
        keep = [*transactions.columns, "source_customer_id"]
        return out[[c for c in keep if c in out.columns]]
    return with_master_ids(transactions, master_map)


def segments_export(
    rfm: pd.DataFrame,
    clusters: pd.Series | None,
    cluster_names: dict,
    customers: pd.DataFrame | None = None,
    master_map: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Build the ``exports/segments.csv`` table.

    Parameters
    ----------
    rfm : pd.DataFrame
        :func:`rfm_scores` output indexed by the segmented id (customer or person).
    clusters : pd.Series or None
        Cluster per segmented id; None (no distinct behavioural segments) leaves ``cluster``
        and ``cluster_name`` empty.
    cluster_names : dict
        Cluster -> name.
    customers : pd.DataFrame, optional
        Customers table; if it has ``marketing_consent``, only records with consent True are
        exported (unknown consent is not consent).
    master_map : pd.DataFrame, optional
        When people were segmented: one row per source record (``customer_id``) with its person's
        segment values and an extra ``master_id`` column.

    Returns
    -------
    pd.DataFrame
        Columns :data:`EXPORT_COLUMNS` (+ ``master_id`` in people mode), sorted by customer_id.
    """
    seg = rfm[
        ["recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_segment"]
    ].copy()
    seg["rfm_segment"] = seg["rfm_segment"].astype("object")
    seg["cluster"] = (
        clusters.reindex(seg.index).astype("Int64")
        if clusters is not None
        else pd.Series(pd.NA, index=seg.index, dtype="Int64")
    )
    seg["cluster_name"] = seg["cluster"].map(
        lambda c: cluster_names.get(c) if pd.notna(c) else None
    )
    seg = seg.rename_axis("segment_id").reset_index()
    if master_map is not None:
        mm = master_map[["customer_id", "master_id"]]
        seg = seg.rename(columns={"segment_id": "master_id"})
        # records whose person id is the record id itself (unmapped records)
        extra = seg.loc[~seg["master_id"].isin(mm["master_id"]), ["master_id"]]
        mm = pd.concat(
            [mm, pd.DataFrame({"customer_id": extra["master_id"], "master_id": extra["master_id"]})]
        )
        out = mm.merge(seg, on="master_id", how="inner")
        cols = [*EXPORT_COLUMNS, "master_id"]
    else:
        out = seg.rename(columns={"segment_id": "customer_id"})
        cols = list(EXPORT_COLUMNS)
    if customers is not None and "marketing_consent" in customers.columns:
        ok = customers.loc[customers["marketing_consent"].fillna(False).astype(bool), "customer_id"]
        n0 = len(out)
        out = out[out["customer_id"].isin(set(ok))]
        logger.info("segments export: %d of %d records have marketing consent", len(out), n0)
    return out[cols].sort_values("customer_id").reset_index(drop=True)
