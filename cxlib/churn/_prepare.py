"""Helpers of the two runs: row samples, model pairs, people (single customer view), orphans."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxlib.churn._common import GBM, LOGIT, NON_FEATURE_COLUMNS, is_pattern_feature
from cxlib.churn._evaluate import driver_table
from cxlib.churn._labels import _text_ids, tables_on
from cxlib.churn._models import BoostedChurnModel, LogitChurnModel, _is_categorical
from cxlib.engine import Engine, coalesce, ids_table_like, in_memory_table, is_table
from cxlib.features import isin_ids

log = logging.getLogger(__name__)


def _sample_rows(n: int, max_rows: int | None, rng: np.random.Generator) -> np.ndarray:
    if max_rows is None or n <= max_rows:
        return np.arange(n)
    return np.sort(rng.choice(n, int(max_rows), replace=False))


def _fit_pair(
    X: pd.DataFrame,
    y: np.ndarray,
    groups,
    random_state: int | None,
    logit_features: list[str] | None = None,
    gbm_features: list[str] | None = None,
):
    logit = LogitChurnModel(features=logit_features).fit(X, y, groups=groups)
    gbm = BoostedChurnModel(features=gbm_features, random_state=random_state).fit(
        X, y, groups=groups
    )
    return {LOGIT: logit, GBM: gbm}


#: Features left out of the logistic regression (kept in gradient boosting): the purchase-mix
#: shares that define the behavioural segments (the segment itself is in the regression) and
#: the second and third measures of satisfaction (``low_satisfaction`` is the readable one).
_LOGIT_SKIP_PREFIXES = ("channel_share_", "category_share_", "tod_share_")
_LOGIT_SKIP = frozenset({"weekend_share", "mean_score", "last_score"})


#: Left out of the drivers model: a second measure of complaints (``complained`` is kept) and
#: the behavioural segment (defined by the purchase pattern, not a lever).
_DRIVER_MODEL_SKIP = frozenset({"complaint_recent", "segment"})

#: Controls of the non-contractual drivers model: what a manager cannot pull and what confounds
#: the drivers (buying often goes with using the app, answering surveys ...). ``log_purchases``
#: is log(1 + purchases in the look-back window); ``score_given`` makes low satisfaction a
#: comparison among customers who gave a score.
DRIVER_CONTROLS: tuple[str, ...] = ("log_purchases", "recency_days", "tenure_days", "score_given")


def fit_drivers(
    frame: pd.DataFrame,
    y: np.ndarray,
    *,
    features: list[str],
    controls: list[str] | tuple[str, ...] = (),
    groups=None,
    model: LogitChurnModel | None = None,
    as_of_today: frozenset[str] | set[str] = frozenset(),
    random_state: int | None = None,
    recent_days: int = 90,
    low_score: float = 2.5,
):
    """The drivers model (a logistic regression of leaving on ``features`` adjusted for
    ``controls``; ``model`` when already fitted), its odds ratios and :func:`driver_table` with
    the attributable fractions: ``(model, odds_ratios, drivers)``."""
    controls = [c for c in controls if c in frame.columns]
    if model is None:
        model = LogitChurnModel(features=[*features, *controls]).fit(frame, y, groups=groups)
    odds = model.summary(recent_days=recent_days, low_score=low_score)
    fractions = model.attributable_fractions(frame, random_state=random_state)
    drivers = driver_table(odds, fractions, controls=set(controls), as_of_today=as_of_today)
    y = np.asarray(y, dtype=float)
    for state in ("exposed", "reference"):
        drivers[f"rate_{state}"] = [
            _rate(y, in_state(frame[c], v)) if isinstance(c, str) and c in frame else np.nan
            for c, v in zip(drivers["column"], drivers[f"{state}_value"], strict=True)
        ]
    return model, odds, drivers


def _rate(y: np.ndarray, mask: np.ndarray) -> float:
    return float(y[mask].mean()) if mask.any() else float("nan")


def in_state(values: pd.Series, state: Any) -> np.ndarray:
    """Which of ``values`` (a driver's column) are in ``state`` (a driver table's
    ``exposed_value`` or ``reference_value``: a level of a text column, or 1.0/0.0 of a flag)."""
    if isinstance(state, str):
        return (values.astype("str").fillna("missing") == state).to_numpy()
    if state is None or pd.isna(state):
        return np.zeros(len(values), dtype=bool)
    return (pd.to_numeric(values, errors="coerce") == float(state)).to_numpy()


def _with_driver_columns(scores: pd.DataFrame, frame: pd.DataFrame, drivers: pd.DataFrame):
    """``scores`` with the columns of the drivers that have an exposed state (for the action
    list's reasons), taken from ``frame`` (same index)."""
    for c in drivers.loc[drivers["exposed_value"].notna(), "column"].unique():
        if c in frame.columns and c not in scores.columns:
            scores[c] = frame[c].reindex(scores.index)
    return scores


def logit_feature_columns(features: list[str], has_segment: bool) -> list[str]:
    """Columns of the readable logistic regression (see ``_LOGIT_SKIP``)."""
    if not has_segment:
        return [f for f in features if f not in ("mean_score", "last_score")]
    out = [f for f in features if not f.startswith(_LOGIT_SKIP_PREFIXES) and f not in _LOGIT_SKIP]
    return [*out, "segment"]


def _segment_rfm(features: pd.DataFrame) -> pd.Series:
    from cxlib.segment import rfm_scores

    if len(features) < 5:
        return pd.Series("All customers", index=features.index, name="segment")
    seg = rfm_scores(features[["recency_days", "frequency", "monetary"]])["rfm_segment"]
    return seg.astype("str").rename("segment")


def _consent(customers: pd.DataFrame | None, ids: pd.Index) -> pd.Series:
    if customers is None or "marketing_consent" not in customers.columns:
        return pd.Series(pd.NA, index=ids, dtype="boolean", name="marketing_consent")
    c = customers.drop_duplicates("customer_id").set_index("customer_id")["marketing_consent"]
    return c.reindex(ids).astype("boolean").rename("marketing_consent")


def _rekey(table: Any, m: pd.Series) -> Any:
    """A table with ``customer_id`` replaced by ``m[customer_id]`` where ``m`` has it
    (a join with the map in the backend; columns and their order kept)."""
    t = _text_ids(table)
    mt = in_memory_table(
        pd.DataFrame({"_mm_record": m.index.astype("str"), "_mm_person": m.to_numpy(dtype=str)})
    )
    j = t.left_join(mt, t.customer_id == mt._mm_record)
    person = coalesce(j._mm_person, j.customer_id).name("customer_id")
    return j.select(*[person if c == "customer_id" else j[c] for c in t.columns])


def people_tables(
    tables: Mapping[str, Any], master_map: pd.DataFrame, *, engine: Engine | None = None
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Re-key the tables from source records to people (single customer view).

    ``master_map`` (``customer_id``, ``master_id``; e.g. notebook 01's
    ``exports/customer_master_map.csv``) says which records are the same person; records not in
    it stay their own person. Transactions and feedback are re-keyed; the customers table keeps
    one row per person (attributes of the person's first record) with ``marketing_consent`` True
    only when some record consents and none refuses.

    Returns the re-keyed tables and ``records``: ``customer_id`` (record), ``unit`` (person) and
    the record's own ``marketing_consent`` (for per-record exports). The transactions are
    re-keyed by a join in their backend (a pandas frame is registered on ``engine``, which must
    then outlive the returned tables); feedback, a customer-level table, in pandas.
    """
    mm = master_map.dropna(subset=["customer_id", "master_id"]).drop_duplicates("customer_id")
    m = mm.set_index(mm["customer_id"].astype("str"))["master_id"].astype("str")
    tables = tables_on(tables, engine)
    out = dict(tables)
    for name in ("transactions", "feedback"):
        df = tables.get(name)
        if is_table(df):
            out[name] = _rekey(df, m)
        elif df is not None and len(df):
            df = df.copy()
            df["customer_id"] = df["customer_id"].map(m).fillna(df["customer_id"]).astype("str")
            out[name] = df
    ids: list[pd.Series] = []
    for t in ("transactions", "feedback"):
        df = tables.get(t)
        if is_table(df):  # each id once, from the backend
            ids.append(_text_ids(df).select("customer_id").distinct().to_pandas()["customer_id"])
        elif df is not None:
            ids.append(df["customer_id"])
    customers = tables.get("customers")
    if customers is not None and len(customers):
        ids.append(customers["customer_id"])
    rec_ids = pd.Index(pd.concat(ids).dropna().astype("str").unique()).sort_values()
    records = pd.DataFrame({"customer_id": rec_ids})
    records["unit"] = records["customer_id"].map(m).fillna(records["customer_id"]).astype("str")
    records["marketing_consent"] = _consent(customers, pd.Index(rec_ids)).to_numpy()
    if customers is not None and len(customers):
        c = customers.copy()
        c["_unit"] = c["customer_id"].map(m).fillna(c["customer_id"]).astype("str")
        c = c.sort_values(["_unit", "customer_id"], kind="stable")
        if "marketing_consent" in c.columns:
            mc = c["marketing_consent"].astype("boolean")
            any_true = mc.eq(True).fillna(False).astype(bool).groupby(c["_unit"]).any()
            any_false = mc.eq(False).fillna(False).astype(bool).groupby(c["_unit"]).any()
            consent = pd.Series(pd.NA, index=any_true.index, dtype="boolean")
            consent[any_true & ~any_false] = True
            consent[any_false] = False
        first = (
            c.drop_duplicates("_unit")
            .drop(columns="customer_id")
            .rename(columns={"_unit": "customer_id"})
        )
        if "marketing_consent" in c.columns:
            first["marketing_consent"] = consent.reindex(first["customer_id"]).to_numpy()
        out["customers"] = first.reset_index(drop=True)
    return out, records


def _attribute_columns(tables: Mapping[str, Any]) -> frozenset[str]:
    """Customer attributes without history: their value today stands for every snapshot
    (``birth_year`` and ``signup_date`` are dated, so age and tenure are not among them)."""
    customers = tables.get("customers")
    if customers is None:
        return frozenset()
    skip = NON_FEATURE_COLUMNS | {"birth_year"}
    return frozenset(c for c in customers.columns if c not in skip and not c.startswith("_"))


def _flags_of(frame: pd.DataFrame) -> list[str]:
    return [
        c
        for c in frame.columns
        if not is_pattern_feature(c)
        and not _is_categorical(frame[c])
        and set(pd.to_numeric(frame[c], errors="coerce").dropna().unique()) == {0.0, 1.0}
    ]


def _drop_orphans(tables: Mapping[str, pd.DataFrame], notes: list[str]) -> dict:
    """Leave out transactions and feedback of ids missing from the customers table."""
    out = dict(tables)
    customers = tables.get("customers")
    if customers is None or not len(customers):
        return out
    known_ids = pd.Index(customers["customer_id"].astype("str").unique())
    known_t = None
    for name in ("transactions", "feedback"):
        df = tables.get(name)
        if is_table(df):  # counted and filtered in the backend
            if known_t is None:
                known_t = ids_table_like(df, known_ids.sort_values(), "customer_id")
            t = _text_ids(df)
            orphans = t.anti_join(known_t, "customer_id")
            got = orphans.aggregate(
                n=orphans.count(), ids=orphans.customer_id.nunique()
            ).to_pandas()
            n_rows, n_ids = int(got["n"].iloc[0]), int(got["ids"].fillna(0).iloc[0])
            if n_rows:
                notes.append(
                    f"{n_rows:,} {name} rows of {n_ids:,} ids that are not in the customer "
                    "table are left out (they cannot be contacted; the data audit lists them)."
                )
                out[name] = t.semi_join(known_t, "customer_id")
            continue
        if df is None or not len(df):
            continue
        keep = pd.Series(isin_ids(df["customer_id"], known_ids), index=df.index)
        if (~keep).any():
            n_ids = df.loc[~keep, "customer_id"].nunique()
            notes.append(
                f"{int((~keep).sum()):,} {name} rows of {n_ids:,} ids that are not in the "
                "customer table are left out (they cannot be contacted; the data audit lists them)."
            )
            out[name] = df.loc[keep]
    return out
