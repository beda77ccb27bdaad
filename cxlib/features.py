"""Customer features from transactions, shared by segmentation, churn and uplift.

Definitions (see ``docs/features.md``): with ``as_of_date`` D (data through the end of D counts)
and look-back L days, the *window* is the days after D − L through the end of D, i.e.
``[D − L + 1 day, D + 1 day)``. Rows identical in every column are counted once. A *transaction*
is a distinct ``transaction_id`` when that column is present (rows without one are a transaction
each), else a row; its amount is the sum of its rows. A *purchase* is a transaction with a positive
amount; transactions with a zero or negative amount (refunds) only reduce ``monetary``.

There is one path: :func:`customer_features` is an Ibis query run by the backend that holds the
transactions (DuckDB, PostgreSQL, PySpark); a pandas frame is first registered on the embedded
DuckDB connection of a :class:`cxlib.engine.Engine`. Only the customer-level aggregates come back
to pandas. The transactions of a table are deduplicated and combined once per engine
(``engine.cached(table, "prepared_purchases", …)``), so features at several dates (segment
migration, churn snapshots, campaign history) read them once when the caller passes its engine.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxlib.engine import (
    ROW_ORDER,
    Engine,
    analysis_day,
    as_decimal,
    backend_name,
    coalesce,
    count_where,
    data_end,
    fetch_frame,
    in_memory_table,
    literal,
    timestamp_literal,
    window,
)

log = logging.getLogger(__name__)

TIME_OF_DAY_BINS: dict[str, tuple[int, int]] = {
    "morning": (5, 12),
    "afternoon": (12, 17),
    "evening": (17, 22),
    "night": (22, 29),  # 22:00-04:59
}

#: Channel label keys mapped to the canonical channel (after :func:`label_key`).
CHANNEL_SYNONYMS: dict[str, str] = {
    "in_store": "store",
    "instore": "store",
    "shop": "store",
    "retail": "store",
    "online": "web",
    "website": "web",
    "webshop": "web",
    "ecommerce": "web",
    "e_commerce": "web",
    "mobile_app": "app",
    "mobile": "app",
    "application": "app",
}


def label_key(value: Any) -> str:
    """Column-safe key for a channel/category label (``" In-Store "`` → ``"in_store"``)."""
    text = re.sub(r"[^0-9a-z]+", "_", str(value).strip().lower()).strip("_")
    return text or "unknown"


def isin_ids(values: Any, ids: Any) -> np.ndarray:
    """Boolean mask: which of ``values`` are among ``ids`` (customer ids, compared as text).

    The same answer as ``pd.Series(values).astype(str).isin(ids)`` for text ids, computed with
    Arrow's hash lookup: about 20 times faster than pandas' ``isin`` on Arrow-backed strings
    (0.2 s against 4.5 s for 1 M ids). Missing values are never among the ids.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    def text(x: Any) -> pa.Array:
        if isinstance(x, pd.Series | pd.Index | np.ndarray):
            s = pd.Series(np.asarray(x) if isinstance(x, np.ndarray) else x).reset_index(drop=True)
        else:  # a set, list or other iterable of ids
            s = pd.Series(list(x), dtype=object)
        if not (pd.api.types.is_string_dtype(s.dtype) and s.dtype != object):
            s = s.astype("str")
        arr = pa.array(s, from_pandas=True)
        return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr

    v = text(values)
    if len(v) == 0:
        return np.zeros(0, dtype=bool)
    found = pc.is_in(v, value_set=pc.drop_null(text(ids)))
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def window_bounds(as_of_date: Any, lookback_days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` of the look-back window: after D − L through the end of D."""
    end = data_end(as_of_date)
    return end - pd.Timedelta(days=int(lookback_days)), end


_ts = timestamp_literal


_LABEL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("channel", "channel_share"),
    ("category", "category_share"),
)


#: Most levels of a label column (channel, category) that get a share column of their own; the
#: rest are counted together as :data:`OTHER_LABEL`. Real retail data has thousands of product
#: codes, and a share column each made segmentation and churn slow and their reports huge.
MAX_LABEL_LEVELS = 12
OTHER_LABEL = "other"


def _label_counts(table: Any, labels: list[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """Rows per raw value of each label column (values as text, missing values left out)."""
    out: dict[str, dict[str, int]] = {}
    for c, _ in labels:
        values = table.select(_v=table[c].cast("string"))
        values = values.filter(values._v.notnull())
        got = fetch_frame(values.group_by("_v").aggregate(_n=values.count()))
        out[c] = dict(zip(got["_v"].astype(str), got["_n"].astype("int64"), strict=True))
    return out


def _label_groups(
    counts: Mapping[str, int], synonyms: dict[str, str] | None, max_levels: int = MAX_LABEL_LEVELS
) -> dict[str, list[str]]:
    """Raw label values grouped by their normalised key (``label_key`` then ``synonyms``), with
    every key beyond the ``max_levels - 1`` most frequent ones folded into ``other``."""
    syn = synonyms or {}
    groups: dict[str, list[str]] = {}
    totals: dict[str, int] = {}
    for value, n in counts.items():
        key = label_key(value)
        key = syn.get(key, key)
        groups.setdefault(key, []).append(str(value))
        totals[key] = totals.get(key, 0) + int(n)
    if len(groups) <= max_levels:
        return groups
    kept = sorted(totals, key=lambda k: (-totals[k], k))[: max_levels - 1]
    folded = {key: groups[key] for key in kept}
    for key in sorted(set(groups) - set(kept)):
        folded.setdefault(OTHER_LABEL, []).extend(groups[key])
    log.info(
        "%d label values: the %d most frequent kept, the rest as 'other'", len(groups), len(kept)
    )
    return folded


def transactions_until(
    table: Any, as_of_date: Any, row_order: str | None = None, *, with_end_time: bool = False
) -> Any:
    """Ibis expression with one row per transaction up to the end of ``as_of_date``.

    Rows identical in every column (other than ``row_order``) count once; rows sharing a ``transaction_id`` are combined (amount summed,
    earliest timestamp). Their ``customer_id``, ``channel`` and ``category`` are the first
    non-missing value in the order of the ``row_order`` column when one is named (e.g. a row or
    line number; the :data:`cxlib.engine.ROW_ORDER` column is used when the table has one, as
    every table registered by :meth:`cxlib.engine.Engine.table` does), else the smallest
    non-missing value (a table in a backend has no row order). The two agree whenever a
    transaction's line items agree on these columns. Returns the columns ``customer_id``, ``timestamp``, ``amount`` and those of
    ``channel``/``category`` that the table has. ``as_of_date=None`` keeps every row;
    ``with_end_time`` adds ``end_time``, the latest timestamp of the transaction's rows.
    """

    cols = list(table.columns)
    if row_order is None and ROW_ORDER in cols:
        row_order = ROW_ORDER  # a registered frame or lazy source
    casts = {
        c: table[c].cast("string")
        for c in ("customer_id", "transaction_id", "channel", "category")
        if c in cols and not table[c].type().is_string()
    }
    t = table.mutate(**casts) if casts else table
    if as_of_date is not None:
        t = t.filter(t.timestamp < _ts(data_end(as_of_date)))
    if row_order is None:
        t = t.distinct()
    else:
        others = [c for c in cols if c != row_order]
        t = t.group_by(others).aggregate(**{row_order: t[row_order].min()})
    labels = [c for c, _ in _LABEL_COLUMNS if c in cols]
    keep = ["customer_id", "timestamp", "amount", *labels]
    if "transaction_id" not in cols:
        t = t.mutate(end_time=t.timestamp) if with_end_time else t
        return t.select(*keep, *(["end_time"] if with_end_time else []))
    with_id = t.filter(t.transaction_id.notnull())

    def first(col: str) -> Any:
        v = with_id[col]
        if row_order is None:
            return v.min()
        return v.argmin(with_id[row_order], where=v.notnull())

    extra = {"end_time": with_id.timestamp.max()} if with_end_time else {}
    grouped = with_id.group_by("transaction_id").aggregate(
        customer_id=first("customer_id"),
        timestamp=with_id.timestamp.min(),
        amount=exact_sum(with_id.amount),
        **{c: first(c) for c in labels},
        **extra,
    )
    no_id = t.filter(t.transaction_id.isnull())
    if with_end_time:
        no_id = no_id.mutate(end_time=no_id.timestamp)
        keep = [*keep, "end_time"]
    return grouped.select(*keep).union(no_id.select(*keep))


SUM_DECIMALS = 10
"""Money is summed in the backend as DECIMAL(38, 10): a parallel float sum depends on the order
in which threads meet the rows, so two runs could differ in the last bit; an exact decimal sum
does not (values are rounded to 1e-10 first, far below a cent)."""


def exact_sum(value: Any, where: Any = None) -> Any:
    """Sum of a float column in the backend, independent of row order (see :data:`SUM_DECIMALS`)."""
    if not value.type().is_decimal():
        value = as_decimal(value, SUM_DECIMALS)
    return value.sum(where=where).cast("float64")


class _PreparedPurchases:
    """The transactions of one backend table, combined once and kept in the backend.

    ``table`` (a temporary table of the engine, in the transactions' own backend) has one row per
    transaction with a customer (deduplicated and combined over all dates, see
    :func:`transactions_until`) and the per-row values every feature needs: ``_day``, ``_pos``
    (a purchase), ``_gap`` (days since the customer's previous purchase day; a gap only looks
    back, so it is the same for any later cut-off), ``_hour``, ``_weekend``, ``_has_time`` and
    the normalised label keys ``_key_<label>``. ``keys`` lists each label's keys (sorted, with
    ``unknown``), ``labels`` the label columns present, and ``straddles`` the time spans of
    transactions whose rows carry different timestamps: a cut-off inside one of them combines
    only the rows before it, which the kept table cannot do, so such a date is computed from the
    table directly. Built once per table and engine by :func:`_prepared_purchases`.
    """

    def __init__(self, table: Any, engine: Engine):
        # the combined transactions are computed once (deduplicating and combining 25 M rows is
        # the expensive part); the time spans, the labels and the per-row values read them
        base = engine.keep(transactions_until(table, None, with_end_time=True), "cx_combined")
        self.straddles = fetch_frame(
            base.filter(base.end_time > base.timestamp).select("timestamp", "end_time")
        )
        self.labels = [(c, p) for c, p in _LABEL_COLUMNS if c in table.columns]
        raw = _label_counts(base, self.labels)
        self.keys: dict[str, list[str]] = {}
        self.groups: dict[str, dict[str, list[str]]] = {}
        for c, _ in self.labels:
            groups = _label_groups(raw[c], CHANNEL_SYNONYMS if c == "channel" else None)
            groups.setdefault("unknown", [])
            self.groups[c] = groups
            self.keys[c] = sorted(groups)
        self.table = engine.keep(
            _purchase_columns(base.drop("end_time"), self.groups), "cx_purchases"
        )
        if _materialises(base):  # read into the purchases table: no longer needed
            engine.drop(base)

    def cuts_a_transaction(self, end: pd.Timestamp) -> bool:
        """Whether a cut-off at ``end`` falls inside a multi-timestamp transaction."""
        if self.straddles.empty:
            return False
        lo = pd.to_datetime(self.straddles["timestamp"])
        hi = pd.to_datetime(self.straddles["end_time"])
        return bool(((lo < end) & (hi >= end)).any())


def _materialises(table: Any) -> bool:
    """Whether a kept table of this backend is computed when kept (a temporary table), not on
    first use (PySpark's lazy ``cache()``, whose later readers still need it)."""
    return backend_name(table) != "pyspark"


def _prepared_purchases(table: Any, engine: Engine) -> _PreparedPurchases:
    """The :class:`_PreparedPurchases` of a backend table, computed on first use and kept for the
    life of ``engine``, so that features at several dates combine the transactions once."""
    return engine.cached(table, "prepared_purchases", lambda: _PreparedPurchases(table, engine))


def _purchase_columns(tx: Any, groups: Mapping[str, Mapping[str, list[str]]]) -> Any:
    """The per-row values of the feature aggregation (see :class:`_PreparedPurchases`)."""
    tx = tx.filter(tx.customer_id.notnull())
    tx = tx.mutate(_pos=tx.amount > 0, _day=tx.timestamp.date().epoch_days())
    # gaps between a customer's consecutive purchases in day order; the positive ones are the
    # gaps between distinct purchase days
    w = window(group_by=[tx.customer_id, tx._pos], order_by=tx._day)
    ts = tx.timestamp
    keys = {}
    for c, by_key in groups.items():
        mapping = {raw: key for key, raws in by_key.items() for raw in raws}
        keys[f"_key_{c}"] = (
            tx[c].substitute(mapping, else_=literal("unknown")) if mapping else literal("unknown")
        ).fill_null("unknown")
        keys[f"_has_{c}"] = tx[c].notnull()
    return tx.mutate(
        _amount=as_decimal(tx.amount, SUM_DECIMALS),  # cast once, summed per date
        _gap=tx._day - tx._day.lag().over(w),
        _hour=ts.hour(),
        _weekend=ts.day_of_week.index() >= 5,
        _has_time=ts != ts.truncate("D"),
        **keys,
    ).drop(*[c for c in groups])


def customer_features(
    transactions: pd.DataFrame | Any,
    as_of_date: Any,
    lookback_days: int = 365,
    *,
    engine: Engine | None = None,
    row_order: str | None = None,
) -> pd.DataFrame:
    """One row of behavioural features per customer with a purchase up to ``as_of_date``.

    The transactions are deduplicated and combined once per table and engine (kept as a temporary
    table in the backend) and aggregated per customer in one query for each date; only the
    customer-level aggregates come back, and the last arithmetic (ratios, coefficient of
    variation) is done in pandas. The same expression runs on DuckDB, PostgreSQL and PySpark.

    Parameters
    ----------
    transactions : DataFrame or ibis Table
        Contract ``transactions`` (``customer_id``, ``timestamp``, ``amount`` and optional
        ``transaction_id``, ``channel``, ``category``; in a backend typed: ``timestamp`` a
        timestamp, ``amount`` a float; ids and labels are read as text). A pandas frame is
        registered on ``engine`` (with its row order, :data:`cxlib.engine.ROW_ORDER`).
    as_of_date : date-like
        Analysis date D; nothing after the end of D is used.
    lookback_days : int
        Window length L for ``frequency`` and ``monetary``.
    engine : Engine, optional
        The run's engine: it keeps the combined transactions between calls (features at several
        dates of one table combine them once). Without one, a local engine serves this call and
        only the rows up to the date are combined (one query, nothing kept).
    row_order : str, optional
        Column giving the rows' order, used only to pick the first non-missing customer, channel
        and category of a multi-line transaction (see :func:`transactions_until`); default the
        :data:`~cxlib.engine.ROW_ORDER` column when the table has one. When given, the
        transactions are combined for this date only (not kept).

    Returns
    -------
    DataFrame indexed by ``customer_id`` (sorted) with ``recency_days``, ``frequency``,
    ``monetary``, ``tenure_days``, ``avg_basket``, ``purchase_rate``, ``interval_cv``,
    ``trend_90d``, ``n_transactions_total``, ``channel_share_*``, ``category_share_*``,
    ``tod_share_*`` (when timestamps carry a time of day) and ``weekend_share``.
    See ``docs/features.md`` for each definition.
    """
    if engine is None:  # one date: combining only the rows before it is cheaper than keeping
        with Engine() as local:
            return _customer_features(
                transactions, as_of_date, lookback_days, local, row_order, False
            )
    return _customer_features(
        transactions, as_of_date, lookback_days, engine, row_order, row_order is None
    )


def _customer_features(
    transactions: Any,
    as_of_date: Any,
    lookback_days: int,
    engine: Engine,
    row_order: str | None,
    keep: bool,
) -> pd.DataFrame:
    """:func:`customer_features` on ``engine``; ``keep``: read the engine's prepared purchases
    (computed on first use) unless the cut-off falls inside a transaction."""
    table = engine.table(transactions)
    d = analysis_day(as_of_date)
    start, end = window_bounds(d, lookback_days)
    prep = _prepared_purchases(table, engine) if keep else None
    if prep is not None and not prep.cuts_a_transaction(end):
        tx = prep.table.filter(prep.table.timestamp < _ts(end))
        labels, label_keys = prep.labels, prep.keys
    else:  # combine the rows before the cut-off only
        tx, labels, label_keys = _purchases_until(table, d, row_order)
    agg = _customer_aggregates(tx, labels, label_keys, start, end)
    res = fetch_frame(agg.filter(agg.n_pur > 0))
    out = _features_from_aggregates(res, d, labels, label_keys)
    log.info("customer features: %d customers, %d columns", len(out), out.shape[1])
    return out


def _purchases_until(
    table: Any, d: pd.Timestamp, row_order: str | None
) -> tuple[Any, list[tuple[str, str]], dict[str, list[str]]]:
    """The per-row values of :func:`_purchase_columns` for the rows up to the end of ``d``, the
    label columns and their keys (labels as they occur up to ``d``)."""
    cols = list(table.columns)
    labels = [(c, p) for c, p in _LABEL_COLUMNS if c in cols]
    # raw labels as they occur up to D, normalised by label_key
    raw = _label_counts(table.filter(table.timestamp < _ts(data_end(d))), labels)
    groups = {}
    for c, _ in labels:
        g = _label_groups(raw[c], CHANNEL_SYNONYMS if c == "channel" else None)
        g.setdefault("unknown", [])
        groups[c] = g
    label_keys = {c: sorted(g) for c, g in groups.items()}
    tx = _purchase_columns(transactions_until(table, d, row_order=row_order), groups)
    return tx, labels, label_keys


def _customer_aggregates(
    tx: Any,
    labels: list[tuple[str, str]],
    label_keys: Mapping[str, list[str]],
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> Any:
    """The per-customer counts and sums every feature is computed from (one backend query)."""
    pos, day, ts = tx._pos, tx._day, tx.timestamp

    gap_ok = pos & (tx._gap > 0)
    aggs: dict[str, Any] = {
        "n_pur": count_where(pos),
        "first_day": day.min(where=pos),
        "last_day": day.max(where=pos),
        "frequency": count_where(pos & (ts >= _ts(start))),
        "monetary": exact_sum(tx._amount, where=ts >= _ts(start)),
        "spend": exact_sum(tx._amount, where=pos),
        "g_n": count_where(gap_ok),
        "g_sum": tx._gap.sum(where=gap_ok),
        "g_sq": (tx._gap * tx._gap).sum(where=gap_ok),
        "trend_a": count_where(pos & (ts >= _ts(end - pd.Timedelta(days=90)))),
        "trend_b": count_where(
            pos
            & (ts >= _ts(end - pd.Timedelta(days=180)))
            & (ts < _ts(end - pd.Timedelta(days=90)))
        ),
        "weekend": count_where(pos & tx._weekend),
        "has_time": count_where(pos & tx._has_time),
    }
    hour = tx._hour
    for j, (lo, hi) in enumerate(TIME_OF_DAY_BINS.values()):
        in_bin = ((hour >= lo) & (hour < hi)) | ((hour + 24 >= lo) & (hour + 24 < hi))
        aggs[f"tod_{j}"] = count_where(pos & in_bin)
    for c, _ in labels:
        aggs[f"{c}_nonnull"] = count_where(pos & tx[f"_has_{c}"])
        for j, key in enumerate(label_keys[c]):
            aggs[f"{c}_{j}"] = count_where(pos & (tx[f"_key_{c}"] == key))
    return tx.group_by("customer_id").aggregate(**aggs)


def _features_from_aggregates(
    res: pd.DataFrame,
    d: pd.Timestamp,
    labels: list[tuple[str, str]],
    label_keys: Mapping[str, list[str]],
) -> pd.DataFrame:
    """The feature table from the per-customer aggregates of :func:`_customer_aggregates`."""
    if res.empty:
        return pd.DataFrame(index=pd.Index([], name="customer_id", dtype="str"))

    names = res["customer_id"].to_numpy().astype(str)
    order = np.argsort(names, kind="stable")
    res = res.iloc[order].reset_index(drop=True)
    cust_index = pd.Index(names[order], name="customer_id", dtype="str")
    n = len(cust_index)

    def col(name: str, dtype: str = "float64", fill: float = 0.0) -> np.ndarray:
        return pd.to_numeric(res[name]).fillna(fill).to_numpy(dtype=dtype)

    d_day = (d - pd.Timestamp("1970-01-01")).days
    n_pur = col("n_pur", "int64")
    feats = pd.DataFrame(index=cust_index)
    feats["recency_days"] = (d_day - col("last_day", "int64")).astype("int64")
    feats["frequency"] = col("frequency", "int64")
    feats["monetary"] = col("monetary")
    feats["tenure_days"] = (d_day - col("first_day", "int64")).astype("int64")
    feats["avg_basket"] = col("spend") / n_pur
    # purchases per 365 days between first purchase and the as-of date (at least 30 days)
    span = np.maximum(feats["tenure_days"].to_numpy(), 30)
    feats["purchase_rate"] = n_pur / span * 365.0
    # regularity: coefficient of variation of gaps between distinct purchase days
    g_n, g_sum, g_sq = col("g_n"), col("g_sum"), col("g_sq")
    with np.errstate(invalid="ignore", divide="ignore"):
        g_mean = g_sum / g_n
        g_var = (g_sq - g_n * g_mean**2) / (g_n - 1)
        cv = np.sqrt(np.maximum(g_var, 0.0)) / g_mean
    feats["interval_cv"] = np.where(g_n >= 2, cv, np.nan)
    a, b = col("trend_a"), col("trend_b")
    tot = a + b
    feats["trend_90d"] = np.divide(a - b, tot, out=np.zeros(n), where=tot > 0)
    feats["n_transactions_total"] = n_pur.astype("int64")

    parts = [feats]
    for c, prefix in labels:
        if col(f"{c}_nonnull").sum() == 0:
            continue  # no purchase has a label: no share columns
        counts = np.column_stack([col(f"{c}_{j}") for j in range(len(label_keys[c]))])
        tot = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, tot, out=np.zeros(counts.shape, dtype="float64"), where=tot > 0)
        used = counts.sum(axis=0) > 0  # only labels that occur (e.g. no "unknown" without gaps)
        parts.append(
            pd.DataFrame(
                shares[:, used],
                index=cust_index,
                columns=[f"{prefix}_{k}" for k in np.asarray(label_keys[c])[used]],
            )
        )
    if col("has_time").sum() > 0:
        counts = np.column_stack([col(f"tod_{j}") for j in range(len(TIME_OF_DAY_BINS))])
        parts.append(
            pd.DataFrame(
                counts / n_pur[:, None],
                index=cust_index,
                columns=[f"tod_share_{t}" for t in TIME_OF_DAY_BINS],
            )
        )
    parts.append(pd.DataFrame({"weekend_share": col("weekend") / n_pur}, index=cust_index))
    return pd.concat(parts, axis=1)


# --------------------------------------------------------------------------------------------
# Records to people (the single customer view of the data audit)
# --------------------------------------------------------------------------------------------


def with_master_ids(table: Any, master_map: pd.DataFrame) -> Any:
    """``table`` with each ``customer_id`` replaced by its person's ``master_id``.

    A left join in the table's backend with the map as an in-memory table (the first
    ``master_id`` of each ``customer_id``); records absent from the map keep their id. The
    original id is kept in ``source_customer_id``; the columns are those of ``table`` (the
    :data:`~cxlib.engine.ROW_ORDER` column, when present, last).
    """
    mm = master_map[["customer_id", "master_id"]].dropna(subset=["customer_id"])
    mm = mm.drop_duplicates("customer_id").astype("str")
    m = in_memory_table(
        pd.DataFrame(
            {
                "_cx_record": mm["customer_id"].to_numpy(),
                "_cx_master": mm["master_id"].to_numpy(),
            }
        )
    )
    rid = table["customer_id"].cast("string")
    j = table.left_join(m, rid == m["_cx_record"])
    cols = {c: j[c] for c in table.columns if c != ROW_ORDER}
    cols["customer_id"] = coalesce(j["_cx_master"], j["customer_id"].cast("string"))
    cols["source_customer_id"] = j["customer_id"]
    if ROW_ORDER in table.columns:
        cols[ROW_ORDER] = j[ROW_ORDER]
    return j.select(**cols)


def id_coverage(ids: Any, known: pd.Series) -> float:
    """Share of the distinct non-missing ids of the backend column ``ids`` that are among
    ``known`` (compared as text); 0 when there are none. One query; the ids stay in the backend."""
    col = ids.cast("string").name("_cx_id")
    known_table = in_memory_table(pd.DataFrame({"_cx_known": pd.unique(known.astype("str"))}))
    ids_table = col.as_table()  # filter on its own column: `col` may sit on a join
    distinct = ids_table.filter(ids_table["_cx_id"].notnull()).distinct()
    hit = distinct.left_join(known_table, distinct["_cx_id"] == known_table["_cx_known"])
    got = hit.aggregate(n=hit["_cx_id"].count(), covered=hit["_cx_known"].count()).to_pandas()
    n, covered = int(got["n"].iloc[0] or 0), int(got["covered"].iloc[0] or 0)
    return covered / n if n else 0.0
