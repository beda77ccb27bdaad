"""The suppression list: customers removed from every table (erasure, opt-out ...)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from cxlib.contract._spec import ContractError
from cxlib.engine import is_table

log = logging.getLogger(__name__)


SUPPRESS_FILE = "suppress.csv"


def read_suppression_list(path: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read ``suppress.csv``: ``customer_id`` and an optional ``reason`` (erasure, opt-out …).

    ``path`` may also be a database source's ``suppress`` table already read as text
    (``attrs["source"]`` names it in messages).
    """
    if isinstance(path, pd.DataFrame):
        raw, path = path.fillna(""), path.attrs.get("source", "suppress table")
    else:
        path = Path(path)
        try:
            raw = pd.read_csv(path, dtype="str", keep_default_na=False)
        except Exception as exc:
            raise ContractError(
                f"{path}: cannot be read as CSV ({exc}). Fix: one customer_id per line with a "
                "header row `customer_id,reason`.",
                file=str(path),
            ) from None
    cols = {c.strip().lower(): c for c in raw.columns}
    if "customer_id" not in cols:
        raise ContractError(
            f"{path}: required column 'customer_id' is missing (found: {', '.join(raw.columns)}). "
            "Fix: add a header row `customer_id,reason`.",
            file=str(path),
            column="customer_id",
        )
    ids = raw[cols["customer_id"]].str.strip()
    reason = raw[cols["reason"]].str.strip() if "reason" in cols else pd.Series("", index=raw.index)
    out = pd.DataFrame({"customer_id": ids, "reason": reason.replace("", "not given")})
    return out.loc[out["customer_id"] != ""].drop_duplicates("customer_id")


def apply_suppression(
    tables: Mapping[str, pd.DataFrame], path: str | os.PathLike | pd.DataFrame
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Remove every customer on the suppression list from every table.

    Returns the filtered tables and a summary per reason (``reason``, ``customers`` on the list,
    ``rows_removed`` across tables).
    """
    lst = read_suppression_list(path)
    ids = set(lst["customer_id"])
    out: dict[str, pd.DataFrame] = {}
    removed_by_id: dict[str, int] = {}
    for name, df in tables.items():
        if "customer_id" not in df.columns:  # reference data (products): nobody to remove
            out[name] = df
            continue
        if is_table(df):  # counted and filtered in the backend
            import ibis

            listed = ibis.memtable(lst[["customer_id"]])
            gone = df.semi_join(listed, "customer_id").customer_id.value_counts().to_pandas()
            for cid, n in zip(gone.iloc[:, 0], gone.iloc[:, 1], strict=True):
                removed_by_id[cid] = removed_by_id.get(cid, 0) + int(n)
            out[name] = df.anti_join(listed, "customer_id") if len(gone) else df
            continue
        hit = df["customer_id"].isin(ids)
        if hit.any():
            for cid, n in df.loc[hit, "customer_id"].value_counts().items():
                removed_by_id[cid] = removed_by_id.get(cid, 0) + int(n)
        out[name] = df.loc[~hit].reset_index(drop=True)
    lst = lst.assign(rows_removed=lst["customer_id"].map(removed_by_id).fillna(0).astype("int64"))
    summary = (
        lst.groupby("reason", sort=True)
        .agg(customers=("customer_id", "size"), rows_removed=("rows_removed", "sum"))
        .reset_index()
    )
    log.info("suppression list: %d customers, %d rows removed", len(lst), lst["rows_removed"].sum())
    return out, summary
