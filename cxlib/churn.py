"""Churn: who is leaving, why, and what is at stake.

Two modes, chosen from the data (:func:`detect_mode`):

- **non-contractual** (default; retail): a customer *lapses* when they make no purchase in the
  ``horizon_days`` after a snapshot date. Training rows come from snapshots at
  ``as_of_date - horizon_days`` and earlier (spaced at least ``horizon_days`` apart so that no
  label window overlaps another), among customers with a purchase in the ``lookback_days`` before
  the snapshot; every feature uses only data up to the end of the snapshot day. Models are judged
  out of time: trained on the earlier snapshots, tested on the latest labelled one. The exported
  scores at ``as_of_date`` come from models refitted on every labelled snapshot and use all data.
- **contractual** (subscriptions): the ``customers`` table has ``churned`` or ``churn_date``.
  Customer attributes (and feedback) are the features; every labelled customer's score is an
  out-of-fold (cross-fitted) prediction, never an in-sample one.

Models: an interpretable logistic regression (:class:`LogitChurnModel`, statsmodels, odds ratios
with 95% CIs, standard errors clustered by customer across snapshots) and a calibrated gradient
boosting model (:class:`BoostedChurnModel`). Buy-till-you-die models (:mod:`cxlib.btyd`) give
P(alive), expected purchases and expected value; :func:`kaplan_meier` gives retention curves.
Definitions are documented in ``docs/churn.md``.
"""

from __future__ import annotations

import logging
import uuid
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from cxlib.btyd import (
    BetaGeoModel,
    GammaGammaModel,
    backend_summary_from_transactions,
    fit_stratified_bgnbd,
    summary_from_transactions,
)
from cxlib.features import isin_ids
from cxlib.privacy import PII_COLUMNS
from cxlib.sources import fetch_frame, is_backend_table
from cxlib.threads import openmp_threads

log = logging.getLogger(__name__)

MODE_NON_CONTRACTUAL = "non_contractual"
MODE_CONTRACTUAL = "contractual"

#: Customers of the test snapshot on which the models are judged at most (non-contractual
#: mode): beyond this the bootstrap intervals are already narrow (ROC AUC about +/-0.001) and
#: predicting and resampling every customer of a large snapshot costs minutes.
MAX_EVAL_ROWS = 250_000

#: Customers on whom the BG/NBD parameters are estimated at most (a seeded random sample when
#: there are more; every customer is still predicted).
MAX_BTYD_FIT_CUSTOMERS = 50_000

#: Columns of ``exports/churn_scores.csv``.
EXPORT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "churn_probability",
    "p_alive",
    "expected_purchases",
    "expected_value",
    "value_at_risk",
    "segment",
    "marketing_consent",
)

#: Customer columns never used as model features (identity, personal data, outcome, consent).
NON_FEATURE_COLUMNS: frozenset[str] = frozenset(PII_COLUMNS) | {
    "customer_id",
    "master_id",
    "source_system",
    "marketing_consent",
    "consent_date",
    "churned",
    "churn_date",
    "signup_date",
}

#: Features that describe the purchase pattern itself (symptoms of lapsing rather than drivers).
PATTERN_FEATURES: frozenset[str] = frozenset(
    {
        "recency_days",
        "frequency",
        "monetary",
        "tenure_days",
        "avg_basket",
        "interval_cv",
        "trend_90d",
        "n_transactions_total",
        "weekend_share",
        "purchase_rate",
        "bgnbd_p_lapse",
        "p_alive",
        "expected_purchases",
        "feedback_count",
        "score_given",
    }
)


def is_pattern_feature(name: str) -> bool:
    """True for purchase-pattern features (recency, frequency, BG/NBD risk ...): symptoms of
    lapsing rather than levers. Shares (channel, category, time of day) count as drivers."""
    base = name.split("[", 1)[0].removesuffix("_missing")
    return base in PATTERN_FEATURES


#: Plain-language names of features (others are derived from the column name).
FEATURE_LABELS: dict[str, str] = {
    "recency_days": "days since the last purchase",
    "frequency": "purchases in the look-back window",
    "monetary": "spend in the look-back window",
    "tenure_days": "days since the first purchase",
    "avg_basket": "average basket value",
    "interval_cv": "irregularity of purchase intervals",
    "trend_90d": "purchase trend (last 90 days vs the 90 before)",
    "n_transactions_total": "purchases ever",
    "weekend_share": "share of weekend purchases",
    "bgnbd_p_lapse": "BG/NBD probability of no purchase",
    "complaint_recent": "a complaint in the last {recent} days",
    "complained": "a complaint on record",
    "mean_score": "average feedback score",
    "last_score": "latest feedback score",
    "low_satisfaction": "average feedback score below {low}",
    "no_app_use": "never bought in the app",
    "feedback_count": "number of feedback answers",
    "score_given": "gave a feedback score",
    "age": "age",
    "signup_tenure_days": "days since sign-up",
    "mean_score_missing": "no feedback given",
    "last_score_missing": "no feedback given",
    "interval_cv_missing": "fewer than three purchase days",
}

#: Broad groups of the RFM segments (for retention curves that stay readable).
RFM_BROAD_GROUPS: dict[str, str] = {
    "Champions": "Best customers",
    "Loyal": "Best customers",
    "Potential loyalists": "Newer or growing",
    "New": "Newer or growing",
    "Promising": "Newer or growing",
    "Need attention": "Cooling off",
    "About to sleep": "Cooling off",
    "At risk": "Valuable but fading",
    "Can't lose them": "Valuable but fading",
    "Hibernating": "Lapsing",
    "Lost": "Lapsing",
}

_Z95 = float(stats.norm.ppf(0.975))


# ---------------------------------------------------------------------------------------------
# Mode and snapshots
# ---------------------------------------------------------------------------------------------


def _backend_lapse_counts(purchases: Any, snapshot: pd.Timestamp, horizon_days: int) -> tuple:
    """(lapsed, bought again) among the customers of backend ``purchases`` who bought up to the
    end of ``snapshot``: the counts of :func:`lapse_labels`, in one aggregate query (only two
    numbers come back; no per-customer table is built)."""
    s = pd.Timestamp(snapshot).normalize() + pd.Timedelta(days=1)
    e = s + pd.Timedelta(days=int(horizon_days))
    t = purchases.filter(purchases.timestamp < _ts(e))
    per = t.group_by("customer_id").aggregate(
        _active=(t.timestamp < _ts(s)).any(), _bought=(t.timestamp >= _ts(s)).any()
    )
    per = per.filter(per._active)
    got = per.aggregate(_n=per.count(), _kept=per._bought.cast("int64").sum()).to_pandas()
    n = int(got["_n"].iloc[0])
    kept = got["_kept"].iloc[0]
    kept = 0 if kept is None or pd.isna(kept) else int(kept)
    return n - kept, kept


def detect_mode(tables: Mapping[str, pd.DataFrame], *, strict: bool = True) -> str | None:
    """``"contractual"`` when the customers table has a ``churned``/``churn_date`` column with at
    least one known value, else ``"non_contractual"`` (which needs transactions).

    When neither is available: raise ``ValueError`` (``strict``) or return None.
    """
    customers = tables.get("customers")
    if customers is not None and len(customers):
        for col in ("churned", "churn_date"):
            if col in customers.columns and customers[col].notna().any():
                return MODE_CONTRACTUAL
    if _has_purchase(tables.get("transactions")):
        return MODE_NON_CONTRACTUAL
    if not strict:
        return None
    raise ValueError(
        "churn needs either transactions (non-contractual churn) or a customers table with "
        "'churned' or 'churn_date' (contractual churn)"
    )


def snapshot_dates(
    as_of_date: Any,
    horizon_days: int = 90,
    n_snapshots: int = 4,
    spacing_days: int | None = None,
    earliest: Any = None,
    min_history_days: int = 90,
) -> list[pd.Timestamp]:
    """Labelled snapshot dates, oldest first; the last one is ``as_of_date - horizon_days``.

    Snapshots are ``spacing_days`` apart (default and minimum: ``horizon_days``, so label windows
    never overlap). Snapshots with less than ``min_history_days`` of data after ``earliest`` (the
    first transaction; NaT: none, no snapshot) are dropped.
    """
    if n_snapshots < 1:
        raise ValueError("n_snapshots must be at least 1")
    spacing = int(spacing_days or horizon_days)
    if spacing < horizon_days:
        raise ValueError("spacing_days must be at least horizon_days (label windows would overlap)")
    d = pd.Timestamp(as_of_date).normalize()
    dates = [d - pd.Timedelta(days=int(horizon_days) + k * spacing) for k in range(n_snapshots)]
    if earliest is not None:
        if pd.isna(earliest):  # no transactions at all: no history for any snapshot
            return []
        floor = pd.Timestamp(earliest).normalize() + pd.Timedelta(days=int(min_history_days))
        dates = [s for s in dates if s >= floor]
    return sorted(dates)


def _ts(value: Any) -> Any:
    """A timestamp literal for backend filters."""
    import ibis

    return ibis.literal(pd.Timestamp(value).to_pydatetime(), type="timestamp")


def _is_empty(table: Any) -> bool:
    """True for None or a table (pandas or backend) without rows."""
    if table is None:
        return True
    if is_backend_table(table):
        return int(table.limit(1).count().execute()) == 0
    return not len(table)


def _has_purchase(transactions: Any) -> bool:
    """True when the transactions (pandas or backend) hold at least one positive amount."""
    if transactions is None:
        return False
    if is_backend_table(transactions):
        top = transactions.amount.max().execute()
        return top is not None and not pd.isna(top) and float(top) > 0
    return bool(len(transactions) and (transactions["amount"] > 0).any())


def _min_timestamp(transactions: Any) -> pd.Timestamp:
    """Earliest timestamp of a transactions table (NaT when it has none)."""
    if is_backend_table(transactions):
        v = transactions.timestamp.min().execute()
        return pd.NaT if v is None or pd.isna(v) else pd.Timestamp(v)
    return transactions["timestamp"].min()


def _text_ids(table: Any) -> Any:
    """A backend table whose ``customer_id`` is text (as the pandas path compares them)."""
    if table.customer_id.type().is_string():
        return table
    return table.mutate(customer_id=table.customer_id.cast("string"))


def _purchases(transactions: pd.DataFrame | Any) -> pd.DataFrame | Any:
    """Purchases (positive amounts) with ``customer_id``, ``timestamp``, ``amount`` (+ channel).

    A backend table gives a backend expression (rows filtered in the backend).
    """
    cols = [
        c for c in ("customer_id", "timestamp", "amount", "channel") if c in transactions.columns
    ]
    if is_backend_table(transactions):
        return transactions.filter(transactions.amount > 0).select(*cols)
    tx = transactions.loc[transactions["amount"] > 0, cols]
    return tx


_PURCHASE_DAYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Purchase days per backend transactions table (see :func:`purchase_days`)."""


class _PurchaseDays:
    def __init__(self, transactions: Any) -> None:
        from cxlib.btyd import backend_daily_totals
        from cxlib.features import _drop_quietly, keep_in_backend

        self.source = transactions
        expr = backend_daily_totals(_purchases(transactions))
        con = expr._find_backend()
        self.table, name = keep_in_backend(con, f"cx_purchase_days_{uuid.uuid4().hex[:12]}", expr)
        if name is not None:
            self._drop = weakref.finalize(self, _drop_quietly, con, name)


def purchase_days(transactions: Any) -> Any:
    """One row per customer and purchase day of a backend transactions table, kept in the backend.

    The table of :func:`cxlib.btyd.backend_daily_totals` over the purchases (positive amounts):
    ``_c`` (customer id as text), ``_d`` (days since 1970-01-01), ``_a`` (the day's spend). It is
    computed once per transactions table and kept (a temporary table, dropped when the table
    expression is no longer used), so that the BG/NBD summaries, the lapse labels and the
    retention durations of several snapshot dates read it instead of every transaction.
    """
    from cxlib.features import kept_per_table

    return kept_per_table(_PURCHASE_DAYS, transactions, _PurchaseDays).table


def _epoch_day(value: pd.Timestamp) -> int:
    return int((pd.Timestamp(value).normalize() - pd.Timestamp("1970-01-01")).days)


def _buyers(transactions: Any, start: pd.Timestamp, end: pd.Timestamp) -> pd.Index:
    """Distinct ids with a purchase in ``[start, end)`` (computed in the backend for a table)."""
    if is_backend_table(transactions):
        if start == start.normalize() and end == end.normalize():  # whole days: the day table
            d = purchase_days(transactions)
            got = d.filter((d._d >= _epoch_day(start)) & (d._d < _epoch_day(end)))
            return pd.Index(fetch_frame(got.select("_c").distinct())["_c"], name="customer_id")
        tx = _purchases(transactions)
        got = tx.filter((tx.timestamp >= _ts(start)) & (tx.timestamp < _ts(end)))
        return pd.Index(fetch_frame(got.select("customer_id").distinct())["customer_id"])
    tx = _purchases(transactions)
    return pd.Index(tx.loc[(tx["timestamp"] >= start) & (tx["timestamp"] < end), "customer_id"])


def lapse_labels(
    transactions: pd.DataFrame | Any, snapshot_date: Any, horizon_days: int, customer_ids
) -> pd.Series:
    """True when a customer makes no purchase in the ``horizon_days`` days after ``snapshot_date``.

    The window runs from the day after the snapshot through the end of ``snapshot + horizon``.
    ``transactions`` may be a backend (Ibis) table: only the ids of the buyers come back.
    """
    s = pd.Timestamp(snapshot_date).normalize() + pd.Timedelta(days=1)
    e = s + pd.Timedelta(days=int(horizon_days))
    buyers = _buyers(transactions, s, e)
    ids = pd.Index(customer_ids)
    return pd.Series(~isin_ids(ids, buyers), index=ids, name="lapsed")


# ---------------------------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------------------------


def low_score_threshold(scores: pd.Series) -> float:
    """Threshold for 'low satisfaction': the middle of the score scale.

    The scale is recognised from the scores: 1-5 (threshold 3), 0-10 (5), 0-100 (50), else the
    middle of the observed range.
    """
    s = pd.to_numeric(scores, errors="coerce").dropna()
    if s.empty:
        return 3.0
    lo, hi = float(s.min()), float(s.max())
    for a, b in ((1.0, 5.0), (0.0, 10.0), (0.0, 100.0)):
        if lo >= a and hi <= b:
            return (a + b) / 2
    return (lo + hi) / 2


def feedback_features(
    feedback: pd.DataFrame,
    as_of_date: Any,
    recent_days: int = 90,
    low_score: float | None = None,
) -> pd.DataFrame:
    """Feedback-derived drivers per customer, from feedback up to the end of ``as_of_date``.

    Returns a frame indexed by ``customer_id`` with ``feedback_count``, ``score_given`` (at
    least one score), ``mean_score``, ``last_score``, ``low_satisfaction`` (mean score below
    ``low_score``; scores of answers flagged as complaints are left out of these four; every
    answer up to the date counts, not only a recent window) and, when the table has
    ``complaint``, ``complained`` (at least one complaint so far) and ``complaint_recent`` (a
    complaint in the last ``recent_days`` days).

    ``low_satisfaction`` is 0 both for satisfied customers and for customers who gave no score;
    models that compare it should also hold ``score_given`` (the drivers model does), else
    "low score" is compared with "no score", and customers who answer surveys are the frequent
    buyers.
    """
    end = pd.Timestamp(as_of_date).normalize() + pd.Timedelta(days=1)
    fb = feedback.loc[feedback["timestamp"] < end]
    threshold = low_score_threshold(feedback["score"]) if low_score is None else float(low_score)
    if fb.empty:
        return pd.DataFrame(index=pd.Index([], name="customer_id", dtype="str"))
    fb = fb.sort_values(["customer_id", "timestamp"], kind="stable")
    comp = (
        fb["complaint"].fillna(False).astype(bool)
        if "complaint" in fb.columns
        else pd.Series(False, index=fb.index)
    )
    out = pd.DataFrame(index=pd.Index(fb["customer_id"].unique(), name="customer_id").sort_values())
    out["feedback_count"] = fb.groupby("customer_id").size().reindex(out.index).astype(float)
    # satisfaction from the answers that are not complaints (a complaint's score would count the
    # same event twice and blur the two drivers)
    survey = fb.loc[~comp]
    gs = survey.groupby("customer_id", sort=True)["score"]
    out["mean_score"] = gs.mean().reindex(out.index)
    out["last_score"] = gs.last().reindex(out.index)
    out["score_given"] = out["mean_score"].notna().astype(float)
    out["low_satisfaction"] = (out["mean_score"] < threshold).astype(float)
    if "complaint" in fb.columns:
        out["complained"] = comp.groupby(fb["customer_id"]).any().reindex(out.index).astype(float)
        recent = comp & (fb["timestamp"] >= end - pd.Timedelta(days=int(recent_days)))
        out["complaint_recent"] = (
            recent.groupby(fb["customer_id"]).any().reindex(out.index).astype(float)
        )
    out.index.name = "customer_id"
    out.attrs["low_score"] = threshold
    return out


def _fill_feedback(frame: pd.DataFrame, fb_cols: list[str]) -> pd.DataFrame:
    """Customers without feedback: counts and flags 0, scores missing."""
    for c in fb_cols:
        if c in ("mean_score", "last_score"):
            continue
        frame[c] = frame[c].fillna(0.0)
    return frame


def attribute_features(
    customers: pd.DataFrame,
    as_of_date: Any = None,
    *,
    max_levels: int = 30,
    include_signup: bool = True,
) -> pd.DataFrame:
    """Customer attributes usable as model features, indexed by ``customer_id``.

    Identity, personal data, consent and the churn outcome are left out (see
    :data:`NON_FEATURE_COLUMNS`); ``birth_year`` becomes ``age`` and ``signup_date`` becomes
    ``signup_tenure_days`` at ``as_of_date``. Booleans become 0/1; text columns with 2 to
    ``max_levels`` distinct values stay categorical (others are dropped). In non-contractual
    mode ``include_signup=False``: a sign-up date after a snapshot would reveal the future, and
    purchase tenure is already a feature.
    """
    df = customers.drop_duplicates("customer_id").set_index("customer_id")
    out = pd.DataFrame(index=df.index)
    d = pd.Timestamp(as_of_date).normalize() if as_of_date is not None else None
    if "birth_year" in df.columns and d is not None:
        out["age"] = (d.year - pd.to_numeric(df["birth_year"], errors="coerce")).astype(float)
    if include_signup and "signup_date" in df.columns and d is not None:
        days = (d - pd.to_datetime(df["signup_date"])).dt.days.astype(float)
        out["signup_tenure_days"] = days.where(days >= 0)
    for col in df.columns:
        if col in NON_FEATURE_COLUMNS or col.startswith("_"):
            continue
        s = df[col]
        if pd.api.types.is_bool_dtype(s):
            out[col] = s.astype("Float64").astype(float)
        elif pd.api.types.is_numeric_dtype(s):
            if s.notna().sum() > 0 and s.nunique() > 1:
                out[col] = s.astype(float)
        elif pd.api.types.is_datetime64_any_dtype(s):
            continue
        else:
            n_levels = s.nunique(dropna=True)
            if 2 <= n_levels <= max_levels:
                out[col] = s.astype("str").where(s.notna(), "missing")
            else:
                log.info("attribute %r skipped (%d distinct values)", col, n_levels)
    out.index.name = "customer_id"
    return out


@dataclass
class BTYDFit:
    """BG/NBD and Gamma-Gamma fitted at one date, with per-customer predictions.

    ``bgnbd`` is the model fitted on all customers (reported); when ``strata`` were given,
    ``stratum_models`` holds the BG/NBD fitted within each stratum that is large enough, and the
    predictions come from the customer's stratum model (else from the pooled one).
    """

    bgnbd: BetaGeoModel | None
    gamma_gamma: GammaGammaModel | None
    rfm: pd.DataFrame
    predictions: pd.DataFrame
    stratum_models: dict[str, BetaGeoModel] = field(default_factory=dict)
    strata: pd.Series | None = None
    fit_customers: int | None = None

    def strata_table(self) -> pd.DataFrame:
        """Per stratum: customers, fitted ``r, alpha, a, b`` (pooled fit for small strata) and the
        multipliers of the covariates (``dropout x <name>``, ``purchase rate x <name>``)."""
        if self.strata is None:
            return pd.DataFrame()
        sizes = self.strata.value_counts().sort_index()
        rows = []
        for key, n in sizes.items():
            m = self.stratum_models.get(str(key))
            own = m is not None
            m = m or self.bgnbd
            row = {"stratum": key, "customers": int(n), "own_model": own, **m.params_.to_dict()}
            row.update({f"dropout x {c}": float(np.exp(v)) for c, v in m.coef_.items()})
            rate = getattr(m, "rate_coef_", pd.Series(dtype=float))
            row.update({f"purchase rate x {c}": float(np.exp(v)) for c, v in rate.items()})
            rows.append(row)
        return pd.DataFrame(rows)


def _varying(Z: pd.DataFrame | None, min_with: int) -> pd.DataFrame | None:
    """Columns of ``Z`` that vary enough: 0/1 columns with at least ``min_with`` rows of each
    value, other columns with at least ``min_with`` rows off their most common value."""
    if Z is None or not Z.shape[1]:
        return None
    keep = []
    for c in Z.columns:
        v = Z[c].to_numpy(dtype=float)
        if np.isin(v, (0.0, 1.0)).all():
            ok = min(v.sum(), len(v) - v.sum()) >= min_with
        else:
            ok = len(v) - pd.Series(v).value_counts().iloc[0] >= min_with
        if ok:
            keep.append(c)
    return Z[keep] if keep else None


def _fit_bgnbd(
    r: pd.DataFrame,
    Z: pd.DataFrame | None,
    min_with: int = 10,
    compute_se: bool = True,
    R: pd.DataFrame | None = None,
) -> BetaGeoModel:
    """BG/NBD on ``r`` (frequency, recency, T) with the dropout covariates of ``Z`` and the
    purchase-rate covariates of ``R`` (row-aligned with ``r``) that vary enough."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return BetaGeoModel(compute_se=compute_se).fit(
            r["frequency"],
            r["recency"],
            r["T"],
            covariates=_varying(Z, min_with),
            rate_covariates=_varying(R, min_with),
        )


def rate_covariate_design(attributes: pd.DataFrame) -> pd.DataFrame:
    """Customer attributes (:func:`attribute_features`) as purchase-rate covariates of the BG/NBD.

    Text columns become 0/1 indicators of their levels (missing is a level; the most common
    level is the reference); 0/1 columns stay (missing as 0, with an indicator of missing when
    any is missing); other numbers are standardised (missing as the mean, with an indicator).
    """
    cols: dict[str, pd.Series] = {}
    for c in attributes.columns:
        s = attributes[c]
        if not pd.api.types.is_numeric_dtype(s):
            d = pd.get_dummies(s.astype("str").where(s.notna(), "missing"), prefix=c, dtype=float)
            d = d.drop(columns=[d.sum().idxmax()]) if d.shape[1] else d
            cols.update({str(k): v for k, v in d.items()})
            continue
        v = s.astype(float)
        if v.notna().sum() == 0:
            continue
        if v.isna().any():
            cols[f"{c}_missing"] = v.isna().astype(float)
        if v.dropna().isin([0.0, 1.0]).all():
            cols[str(c)] = v.fillna(0.0)
        else:
            sd = v.std()
            cols[str(c)] = ((v - v.mean()) / (sd if sd > 0 else 1.0)).fillna(0.0)
    return pd.DataFrame(cols, index=attributes.index)


def fit_btyd(
    transactions: pd.DataFrame | Any,
    as_of_date: Any,
    horizon_days: int = 90,
    value_horizon_days: int = 365,
    freq: str = "W",
    with_value: bool = True,
    strata: pd.Series | None = None,
    covariates: pd.DataFrame | None = None,
    min_stratum_size: int = 200,
    pooled: bool = True,
    rate_covariates: pd.DataFrame | None = None,
    shared_effects: bool = True,
    max_fit_customers: int | None = MAX_BTYD_FIT_CUSTOMERS,
    random_state: int | None = 0,
) -> BTYDFit:
    """Fit BG/NBD and Gamma-Gamma on purchases up to ``as_of_date`` and predict per customer.

    Returns predictions indexed by ``customer_id``: ``p_alive``, ``bgnbd_p_lapse`` (probability
    of no purchase in the next ``horizon_days``), ``expected_purchases`` (next ``horizon_days``),
    ``expected_value`` (expected spend in the next ``value_horizon_days``; only when
    ``with_value``, which also fits the Gamma-Gamma model on all customers).

    ``strata`` (customer_id -> label, e.g. the behavioural segment) fits one BG/NBD per stratum of
    at least ``min_stratum_size`` customers (others use the model of all customers): segments
    buy and drop out at different rates, which one population-wide model blurs. ``covariates``
    (customer_id-indexed 0/1 columns such as ``complained``) shift each customer's dropout
    (:class:`cxlib.btyd.BetaGeoModel` with covariates); a covariate is used in a stratum when at
    least 10 customers there have each value. ``rate_covariates`` (customer_id-indexed numeric
    columns, e.g. :func:`rate_covariate_design` of the customer attributes) shift each customer's
    purchase rate in the same way (``alpha_i = alpha * exp(-w_i' gamma)``; customers without
    a row get 0). With ``shared_effects`` (default) the strata's models are fitted jointly
    (:func:`cxlib.btyd.fit_stratified_bgnbd`): each stratum has its own ``r, alpha, a, b`` and
    the covariate effects are common to all strata, estimated from all their customers (a
    covariate is then used when at least 10 of them have each value); ``shared_effects=False``
    fits each stratum on its own. With more than ``max_fit_customers`` customers, the BG/NBD
    parameters are estimated on a random sample of that many (seeded by ``random_state``) and
    the predictions are made for every customer (``fit_customers`` of the result says how many
    were used; None: all). ``pooled=False`` skips the model of all customers
    when every customer has a stratum model (``bgnbd`` is then None; for throw-away fits such as
    the training snapshots', whose predictions it would not change). ``transactions`` may be a
    backend (Ibis) table:
    the purchase summary per customer is then aggregated in the backend.
    """
    from cxlib.btyd import FREQ_DAYS

    unit = FREQ_DAYS[freq]
    tx = _purchases(transactions)
    if is_backend_table(tx):  # the purchase days, kept for all dates
        rfm = backend_summary_from_transactions(
            tx, as_of_date, freq=freq, daily_totals=purchase_days(transactions)
        )
    else:
        rfm = summary_from_transactions(tx, as_of_date, freq=freq)
    # data through the END of the as-of day counts: the customer has been observed one day more
    # than the date difference (the forecast window starts the day after)
    rfm["T"] = rfm["T"] + 1.0 / unit
    Z = None
    if covariates is not None and covariates.shape[1]:
        Z = covariates.reindex(rfm.index).astype(float).fillna(0.0)
    R = None
    if rate_covariates is not None and rate_covariates.shape[1]:
        R = rate_covariates.reindex(rfm.index).astype(float).fillna(0.0)
    h = horizon_days / unit
    models: dict[str, BetaGeoModel] = {}
    # positions, not labels: label lookups of a million text ids cost seconds per stratum
    model_of = np.full(len(rfm), "", dtype=object)
    # large data: the parameters are estimated on a seeded random sample of customers (at 200,000
    # customers their standard errors are already small); every customer is predicted
    in_fit = None
    if max_fit_customers is not None and len(rfm) > max_fit_customers:
        rng = np.random.default_rng(random_state)
        in_fit = np.zeros(len(rfm), dtype=bool)
        in_fit[rng.choice(len(rfm), int(max_fit_customers), replace=False)] = True
    st = None
    if strata is not None:
        st = strata.reindex(rfm.index).astype("str").fillna("unknown")
        own = {}
        fit_of: dict[str, np.ndarray] = {}
        for key, pos in sorted(st.groupby(st, sort=True).indices.items()):
            fpos = pos if in_fit is None else pos[in_fit[pos]]
            r = rfm.iloc[fpos]
            if len(r) >= min_stratum_size and r["frequency"].gt(0).sum() >= 20:
                own[str(key)] = pos
                fit_of[str(key)] = fpos
        if shared_effects and len(own) >= 2:
            # one joint fit: each stratum's own r, alpha, a, b; covariate effects shared
            for key, p in own.items():
                model_of[p] = key
            pos = np.sort(np.concatenate(list(fit_of.values())))
            r = rfm.iloc[pos]
            models = fit_stratified_bgnbd(
                r["frequency"],
                r["recency"],
                r["T"],
                model_of[pos],
                covariates=_varying(Z.iloc[pos], 10) if Z is not None else None,
                rate_covariates=_varying(R.iloc[pos], 10) if R is not None else None,
            )
        else:
            for key in own:
                pos = fit_of[key]
                try:
                    zs = Z.iloc[pos] if Z is not None else None
                    rs = R.iloc[pos] if R is not None else None
                    models[key] = _fit_bgnbd(rfm.iloc[pos], zs, compute_se=False, R=rs)
                except ValueError as exc:  # pragma: no cover - degenerate stratum
                    log.info("BG/NBD for stratum %s not fitted: %s", key, exc)
                    continue
                model_of[own[key]] = key
    # the model of all customers: reported, and used for customers without a stratum model
    # (fitting it is skipped when neither is needed; it does not change the stratum models)
    bg = None
    if pooled or (model_of == "").any():
        if in_fit is None:
            bg = _fit_bgnbd(rfm, Z, R=R)
        else:
            fpos = np.flatnonzero(in_fit)
            bg = _fit_bgnbd(
                rfm.iloc[fpos],
                Z.iloc[fpos] if Z is not None else None,
                R=R.iloc[fpos] if R is not None else None,
            )
    n_fit = None if in_fit is None else int(in_fit.sum())
    cols = ["p_alive", "bgnbd_p_lapse", "expected_purchases"]
    if with_value:
        cols.append("_purchases_value_horizon")
    values = {c: np.full(len(rfm), np.nan) for c in cols}
    for key, pos in sorted(pd.Series(model_of).groupby(model_of, sort=True).indices.items()):
        m = models.get(str(key), bg)
        r = rfm.iloc[pos]
        x, tx_, T = r["frequency"], r["recency"], r["T"]
        zc = Z.iloc[pos] if Z is not None else None
        rc = R.iloc[pos] if R is not None else None
        values["p_alive"][pos] = np.asarray(m.p_alive(x, tx_, T, zc, rc), dtype=float)
        values["bgnbd_p_lapse"][pos] = np.asarray(
            m.prob_no_purchase(h, x, tx_, T, zc, rc), dtype=float
        )
        values["expected_purchases"][pos] = np.asarray(
            m.expected_purchases(h, x, tx_, T, zc, rc), dtype=float
        )
        if with_value:
            values["_purchases_value_horizon"][pos] = np.asarray(
                m.expected_purchases(value_horizon_days / unit, x, tx_, T, zc, rc), dtype=float
            )
    pred = pd.DataFrame(values, index=rfm.index)
    if not with_value:
        return BTYDFit(bg, None, rfm, pred, models, st, n_fit)
    gg = None
    x = rfm["frequency"]
    try:
        gg = GammaGammaModel().fit(x, rfm["monetary_value"])
        avg_value = gg.expected_average_value(x, rfm["monetary_value"])
    except ValueError as exc:
        log.warning("Gamma-Gamma not fitted (%s); using each customer's mean spend", exc)
        if is_backend_table(tx):
            means = tx.group_by("customer_id").aggregate(_m=tx.amount.mean()).to_pandas()
            first_day_mean = means.set_index("customer_id")["_m"].reindex(rfm.index)
        else:
            first_day_mean = tx.groupby("customer_id")["amount"].mean().reindex(rfm.index)
        avg_value = np.where(x > 0, rfm["monetary_value"], first_day_mean)
    pred["expected_value"] = pred.pop("_purchases_value_horizon") * np.asarray(avg_value)
    return BTYDFit(bg, gg, rfm, pred, models, st, n_fit)


@dataclass
class BehaviourSegments:
    """Behavioural segments learnt once (k-means on how customers buy; see :mod:`cxlib.segment`).

    ``segmenter`` is a fitted :class:`cxlib.segment.BehaviouralSegmenter`; ``names`` maps each
    cluster to its generated plain-language name; ``fitted_on`` is the date of the data it saw.
    """

    segmenter: Any
    names: dict[int, str]
    fitted_on: pd.Timestamp

    def assign(self, features: pd.DataFrame) -> pd.Series:
        """Cluster number of each customer (features from :func:`customer_features`)."""
        X = features.reindex(columns=list(self.segmenter.feature_names_in_)).astype(float)
        X = X.fillna(0.0)
        return pd.Series(self.segmenter.predict(X), index=features.index, name="segment_code")

    def name(self, codes: pd.Series) -> pd.Series:
        """Segment names of cluster numbers."""
        return codes.map(self.names).astype("str").rename("segment")


def fit_behaviour_segments(
    transactions: pd.DataFrame | Any,
    as_of_date: Any,
    *,
    lookback_days: int = 365,
    random_state: int | None = None,
    k_range=range(3, 9),
    features: pd.DataFrame | None = None,
) -> BehaviourSegments | None:
    """Learn behavioural segments from customers active at ``as_of_date`` (data up to that day).

    ``features`` may hold :func:`cxlib.features.customer_features` at ``as_of_date`` already
    computed (it is then not computed again). Returns None when there are too few customers or
    no behavioural features.
    """
    from cxlib.features import customer_features
    from cxlib.segment import BehaviouralSegmenter, behaviour_columns, profile_clusters

    f = (
        customer_features(transactions, as_of_date, lookback_days=lookback_days)
        if features is None
        else features
    )
    f = f.loc[f["recency_days"] < lookback_days] if len(f) else f
    ks = [k for k in k_range if k < len(f)]
    if len(f) < 50 or not ks or not behaviour_columns(f):
        return None
    seg = BehaviouralSegmenter(k_range=ks, random_state=random_state).fit(f)
    prof = profile_clusters(f, seg.labels_, min_group_size=0)
    names = {int(k): str(v) for k, v in prof.names.items()}
    return BehaviourSegments(seg, names, pd.Timestamp(as_of_date).normalize())


def snapshot_features(
    tables: Mapping[str, pd.DataFrame],
    snapshot_date: Any,
    *,
    lookback_days: int = 365,
    horizon_days: int = 90,
    recent_days: int = 90,
    include_btyd: bool = True,
    low_score: float | None = None,
    segments: BehaviourSegments | None = None,
    btyd_fit: BTYDFit | None = None,
    value_horizon_days: int | None = None,
    btyd_segments: BehaviourSegments | None = None,
    features: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Features at ``snapshot_date`` for customers with a purchase in the look-back window.

    Uses only data up to the end of the snapshot day: :func:`cxlib.features.customer_features`,
    ``no_app_use`` (when an ``app`` channel exists), :func:`feedback_features`,
    :func:`attribute_features` and ``bgnbd_p_lapse`` from BG/NBD models fitted on data up to the
    snapshot, one per behavioural segment when ``segments`` is given, with ``complained`` and
    ``no_app_use`` as dropout covariates. ``segment_code`` (the behavioural segment) is added when
    ``segments`` is given; it is
    a label, not a model feature. With ``value_horizon_days``, the result's ``attrs["btyd"]``
    holds the :class:`BTYDFit` (with Gamma-Gamma values) used. ``tables["transactions"]`` may be
    a backend (Ibis) table; ``features`` may hold its ``customer_features`` at the snapshot
    already computed (not modified).
    """
    from cxlib.features import customer_features

    d = pd.Timestamp(snapshot_date).normalize()
    tx = tables["transactions"]
    feats_all = (
        customer_features(tx, d, lookback_days=lookback_days)
        if features is None
        else features.copy()
    )
    if "channel_share_app" in feats_all.columns:
        feats_all["no_app_use"] = (feats_all["channel_share_app"] <= 0).astype(float)
    fb = tables.get("feedback")
    ff = None
    if fb is not None and len(fb):
        ff = feedback_features(fb, d, recent_days=recent_days, low_score=low_score)
    active = feats_all["recency_days"] < lookback_days if len(feats_all) else []
    feats = feats_all.loc[active].copy()
    customers = tables.get("customers")
    attrs = None
    if customers is not None and len(customers):
        attrs = attribute_features(customers, d, include_signup=False)
    bt = btyd_fit
    if include_btyd and len(feats):
        if bt is None:
            flag_cols = {}
            if ff is not None and "complained" in ff.columns:
                flag_cols["complained"] = ff["complained"]
            if "no_app_use" in feats_all.columns:
                flag_cols["no_app_use"] = feats_all["no_app_use"]
            flags = pd.DataFrame(flag_cols, index=feats_all.index).fillna(0.0)
            seg_for_btyd = btyd_segments or segments
            strata = seg_for_btyd.assign(feats_all) if seg_for_btyd is not None else None
            bt = fit_btyd(
                tx,
                d,
                horizon_days=horizon_days,
                value_horizon_days=value_horizon_days or 365,
                with_value=value_horizon_days is not None,
                strata=strata,
                covariates=flags,
                pooled=value_horizon_days is not None,
                rate_covariates=(
                    rate_covariate_design(attrs) if attrs is not None and attrs.shape[1] else None
                ),
            )
        feats["bgnbd_p_lapse"] = bt.predictions["bgnbd_p_lapse"].reindex(feats.index)
    if segments is not None and len(feats):
        feats["segment_code"] = segments.assign(feats)
    if ff is not None:
        feats = feats.join(ff, how="left")
        feats = _fill_feedback(feats, list(ff.columns))
    if attrs is not None and attrs.shape[1]:
        feats = feats.join(attrs, how="left")
    feats.index.name = "customer_id"
    if bt is not None:
        feats.attrs["btyd"] = bt
    return feats


def build_training_set(
    tables: Mapping[str, pd.DataFrame],
    as_of_date: Any,
    *,
    horizon_days: int = 90,
    lookback_days: int = 365,
    n_snapshots: int = 4,
    spacing_days: int | None = None,
    recent_days: int = 90,
    include_btyd: bool = True,
    low_score: float | None = None,
    segments: BehaviourSegments | None = None,
    features: Mapping[pd.Timestamp, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Stack labelled snapshots: one row per (snapshot, active customer).

    Columns: ``snapshot_date``, ``customer_id``, the features of :func:`snapshot_features` and
    ``lapsed`` (no purchase in the ``horizon_days`` after the snapshot). ``features`` maps
    snapshot dates to ``customer_features`` already computed at them.
    """
    tx = tables["transactions"]
    earliest = _min_timestamp(tx)
    dates = snapshot_dates(as_of_date, horizon_days, n_snapshots, spacing_days, earliest)
    if not dates:
        raise ValueError(
            "not enough history for a labelled snapshot: need at least "
            f"{horizon_days + 90} days of transactions before the as-of date"
        )
    frames = []
    for s in dates:
        f = snapshot_features(
            tables,
            s,
            lookback_days=lookback_days,
            horizon_days=horizon_days,
            recent_days=recent_days,
            include_btyd=include_btyd,
            low_score=low_score,
            segments=segments,
            features=(features or {}).get(s),
        )
        f.attrs = {}
        f["lapsed"] = lapse_labels(tx, s, horizon_days, f.index).to_numpy()
        f.insert(0, "snapshot_date", s)
        frames.append(f.reset_index())
        log.info(
            "snapshot %s: %d active customers, %.1f%% lapsed",
            s.date(),
            len(f),
            100 * f["lapsed"].mean() if len(f) else float("nan"),
        )
    out = pd.concat(frames, ignore_index=True)
    share_cols = [c for c in out.columns if "_share_" in c or c == "no_app_use"]
    out[share_cols] = out[share_cols].fillna(0.0)
    return out


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Model feature columns of a training/scoring frame (everything but ids and the label)."""
    drop = {
        "snapshot_date",
        "customer_id",
        "lapsed",
        "churned",
        "channel_share_app",
        "segment_code",
    }
    cols = [c for c in frame.columns if c not in drop]
    # with an app channel, 'no_app_use' carries the app signal; keep other channel shares
    if "no_app_use" not in frame.columns and "channel_share_app" in frame.columns:
        cols.append("channel_share_app")
    return cols


def feature_label(name: str, *, recent_days: int = 90, low_score: float = 2.5) -> str:
    """Plain-language name of a feature (or of a logistic-regression term ``col[level]``)."""
    if "[" in name and name.endswith("]"):
        col, level = name[:-1].split("[", 1)
        return f"{_words(col)} = {level}"
    if name in FEATURE_LABELS:
        return FEATURE_LABELS[name].format(recent=recent_days, low=f"{low_score:g}")
    if name.endswith("_missing"):
        return f"{feature_label(name[: -len('_missing')])} unknown"
    for prefix, what in (
        ("channel_share_", "share of purchases via {}"),
        ("category_share_", "share of purchases in {}"),
        ("tod_share_", "share of purchases in the {}"),
    ):
        if name.startswith(prefix):
            return what.format(name[len(prefix) :].replace("_", " "))
    return _words(name)


def _words(name: str) -> str:
    """``"PaperlessBilling"`` / ``"paperless_billing"`` -> ``"paperless billing"``."""
    import re

    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name)).replace("_", " ")
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in text.split())


#: How findings describe customers for whom a 0/1 feature is 1 ("Customers ...").
FEATURE_PHRASES: dict[str, str] = {
    "complained": "who have a complaint on record",
    "complaint_recent": "who complained in the last {recent} days",
    "low_satisfaction": "whose average feedback score is below {low}",
    "no_app_use": "who have never bought in the app",
}


def feature_phrase(name: str, *, recent_days: int = 90, low_score: float = 2.5) -> str:
    """Phrase completing "Customers ..." for a 0/1 feature (e.g. "who complained in ...")."""
    if name in FEATURE_PHRASES:
        return FEATURE_PHRASES[name].format(recent=recent_days, low=f"{low_score:g}")
    return f"with {feature_label(name, recent_days=recent_days, low_score=low_score)} = yes"


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def _is_categorical(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def _independent_columns(X: np.ndarray, names: list[str], tol: float = 1e-7) -> list[int]:
    """Indices of columns kept greedily (in order) so that the design has full column rank."""
    Xc = X - X.mean(axis=0)
    gram = Xc.T @ Xc
    keep: list[int] = []
    for j in range(X.shape[1]):
        var = gram[j, j]
        if var <= tol * max(1.0, len(X)):
            continue
        if keep:
            g_kk = gram[np.ix_(keep, keep)]
            g_kj = gram[keep, j]
            try:
                coef = np.linalg.solve(g_kk, g_kj)
            except np.linalg.LinAlgError:
                coef = np.linalg.lstsq(g_kk, g_kj, rcond=None)[0]
            resid = var - g_kj @ coef
            if resid <= 1e-6 * var:
                log.info("logit: dropped %r (collinear with other features)", names[j])
                continue
        keep.append(j)
    return keep


def _single_thread():
    """Run model fitting on one BLAS/OpenMP thread.

    On a loaded 2-core machine, busy-waiting BLAS and OpenMP threads made the logistic fit about
    25x and gradient boosting about 15x slower than one thread (measured while developing this
    module); the models here are small enough that one thread is fast and predictable everywhere.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _separating_columns(D: pd.DataFrame, y: np.ndarray, min_count: int = 1) -> list[str]:
    """0/1 design columns whose 'yes' rows all share one outcome (quasi-complete separation)."""
    out = []
    for c in D.columns:
        v = D[c].to_numpy()
        if not np.all((v == 0) | (v == 1)):
            continue
        on = v == 1
        for part in (on, ~on):
            if part.sum() and min(y[part].sum(), (1 - y[part]).sum()) < min_count:
                out.append(c)
                break
    return out


try:  # scikit-learn is a hard dependency; imported here to keep module import light
    from sklearn.base import BaseEstimator, ClassifierMixin
except ImportError:  # pragma: no cover
    BaseEstimator = object  # type: ignore[misc,assignment]
    ClassifierMixin = object  # type: ignore[misc,assignment]


class LogitChurnModel(ClassifierMixin, BaseEstimator):
    """Logistic regression (statsmodels) with readable odds ratios.

    Preprocessing learnt in :meth:`fit`: non-negative skewed numeric columns are log1p-transformed
    and every continuous column is standardised (odds ratios per one standard deviation); 0/1
    columns stay as they are (odds ratio yes vs no); text columns are one-hot encoded against their
    most frequent level; missing numeric values are filled with the median plus an indicator;
    constant and collinear columns are dropped.

    Parameters
    ----------
    features : list of str, optional
        Columns to use (default: all columns of ``X``).
    skew_threshold : float
        Log-transform non-negative columns with skewness above this.
    max_levels : int
        Keep at most this many levels of a text column (the rest become ``other``).
    min_count : int
        Levels and 0/1 columns with fewer rows than this on a side are left out (they would be
        groups too small to show in a report, and their effects cannot be estimated).

    Attributes
    ----------
    result_ : statsmodels results
    terms_ : list of str
        Design columns (``col`` or ``col[level]``).
    """

    def __init__(
        self,
        features: list[str] | None = None,
        skew_threshold: float = 1.0,
        max_levels: int = 20,
        min_count: int = 10,
    ) -> None:
        self.features = features
        self.skew_threshold = skew_threshold
        self.max_levels = max_levels
        self.min_count = min_count

    # -- design -------------------------------------------------------------------------------
    def _learn_design(self, X: pd.DataFrame) -> None:
        cols = list(self.features) if self.features is not None else list(X.columns)
        self.feature_names_in_ = np.asarray(cols, dtype=object)
        self.spec_: dict[str, dict[str, Any]] = {}
        for c in cols:
            s = X[c]
            if _is_categorical(s):
                vc = s.astype("str").fillna("missing").value_counts()
                vc = vc[vc >= self.min_count]
                levels = list(vc.index[: self.max_levels])
                if len(levels) >= 2:
                    self.spec_[c] = {"kind": "cat", "levels": levels, "ref": levels[0]}
                continue
            v = pd.to_numeric(s, errors="coerce").astype(float)
            nn = v.dropna()
            if nn.nunique() <= 1:
                continue
            binary = set(np.unique(nn)) <= {0.0, 1.0}
            if binary and min((nn == 1).sum(), (nn == 0).sum()) < self.min_count:
                continue  # too few customers on one side to show (and to estimate)
            spec: dict[str, Any] = {"kind": "bin" if binary else "num"}
            spec["median"] = float(nn.median())
            spec["missing"] = bool(v.isna().any())
            if not binary:
                spec["log"] = bool(nn.min() >= 0 and nn.skew() > self.skew_threshold)
                t = np.log1p(nn) if spec["log"] else nn
                spec["mean"] = float(t.mean())
                spec["sd"] = float(t.std(ddof=0)) or 1.0
                spec["raw_sd"] = float(nn.std(ddof=0))
            self.spec_[c] = spec

    def _design(self, X: pd.DataFrame) -> pd.DataFrame:
        parts: dict[str, np.ndarray] = {}
        for c, spec in self.spec_.items():
            s = X[c]
            if spec["kind"] == "cat":
                v = s.astype("str").fillna("missing")
                v = v.where(v.isin(spec["levels"]), "other")
                for lev in spec["levels"][1:]:
                    parts[f"{c}[{lev}]"] = (v == lev).to_numpy(dtype=float)
                continue
            v = pd.to_numeric(s, errors="coerce").astype(float)
            miss = v.isna().to_numpy()
            v = v.fillna(spec["median"]).to_numpy(dtype=float)
            if spec["kind"] == "num":
                if spec["log"]:
                    v = np.log1p(np.clip(v, 0, None))
                v = (v - spec["mean"]) / spec["sd"]
            parts[c] = v
            if spec["missing"]:
                parts[f"{c}_missing"] = miss.astype(float)
        return pd.DataFrame(parts, index=X.index)

    # -- fit / predict -------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y, groups=None) -> LogitChurnModel:
        """Fit; ``groups`` (e.g. customer ids) gives cluster-robust standard errors."""
        import statsmodels.api as sm

        y = np.asarray(y, dtype=float)
        self.classes_ = np.array([0, 1])
        self._learn_design(X)
        D = self._design(X)
        sep = _separating_columns(D, y)
        if sep:
            log.info("logit: dropped %s (every such customer has the same outcome)", sep)
            D = D.drop(columns=sep)
        self.dropped_terms_ = sep
        keep = _independent_columns(D.to_numpy(), list(D.columns))
        self.terms_ = [D.columns[j] for j in keep]
        exog = sm.add_constant(D[self.terms_].to_numpy(), has_constant="add")
        names = ["const", *self.terms_]
        model = sm.Logit(y, exog)
        fit_kw: dict[str, Any] = {"disp": 0, "maxiter": 100, "method": "newton"}
        if groups is not None:
            codes = pd.factorize(pd.Series(np.asarray(groups)))[0]
            fit_kw.update(cov_type="cluster", cov_kwds={"groups": codes})
        with _single_thread(), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                res = model.fit(**fit_kw)
                if not np.all(np.isfinite(res.params)):
                    raise np.linalg.LinAlgError("non-finite coefficients")
            except Exception as exc:  # perfect separation or singular Hessian
                log.warning("logit: plain fit failed (%s); using a lightly penalised fit", exc)
                res = model.fit_regularized(method="l1", alpha=1e-3 * len(y), disp=0)
        self.converged_ = bool(res.mle_retvals.get("converged", False))
        if not self.converged_:
            log.warning("logit: the fit did not converge; treat its odds ratios with care")
        self.result_ = res
        self.params_ = pd.Series(np.asarray(res.params), index=names)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of each class (column 1 = churn/lapse)."""
        D = self._design(X)[self.terms_].to_numpy()
        eta = self.params_.iloc[0] + D @ self.params_.iloc[1:].to_numpy()
        p = special.expit(eta)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def summary(self, *, recent_days: int = 90, low_score: float = 2.5) -> pd.DataFrame:
        """Odds ratios with 95% CIs and p-values, one row per term, sorted by p-value.

        Columns: ``term``, ``label`` (plain language), ``per`` (unit of the odds ratio),
        ``coef`` (log-odds), ``estimate`` (odds ratio), ``ci_low``, ``ci_high``, ``p_value``.
        """
        res = self.result_
        params = np.asarray(res.params)
        try:
            bse = np.asarray(res.bse)
            pvals = np.asarray(res.pvalues)
        except Exception:  # regularised fit: no standard errors
            bse = np.full_like(params, np.nan)
            pvals = np.full_like(params, np.nan)
        rows = []
        for i, term in enumerate(self.terms_, start=1):
            base = term.split("[", 1)[0] if "[" in term else term.removesuffix("_missing")
            spec = self.spec_.get(base, {})
            if term.endswith("_missing") or "[" in term:
                ref = spec.get("ref")
                per = f"vs {ref}" if "[" in term and ref is not None else "unknown vs known"
            elif spec.get("kind") == "bin":
                per = "yes vs no"
            elif spec.get("log"):
                per = "x e^SD (log scale)"
            else:
                per = f"+1 SD ({spec.get('raw_sd', float('nan')):.3g})"
            rows.append(
                {
                    "term": term,
                    "label": feature_label(term, recent_days=recent_days, low_score=low_score),
                    "per": per,
                    "coef": params[i],
                    "estimate": float(np.exp(params[i])),
                    "ci_low": float(np.exp(params[i] - _Z95 * bse[i])),
                    "ci_high": float(np.exp(params[i] + _Z95 * bse[i])),
                    "p_value": pvals[i],
                }
            )
        out = pd.DataFrame(rows)
        return out.sort_values(["p_value", "term"], kind="stable").reset_index(drop=True)


class BoostedChurnModel(ClassifierMixin, BaseEstimator):
    """Gradient boosting (``HistGradientBoostingClassifier``) with isotonic calibration.

    Calibration uses :class:`~sklearn.calibration.CalibratedClassifierCV` with folds grouped by
    customer when ``groups`` is given (one customer's snapshots never straddle a fold).

    Parameters
    ----------
    features : list of str, optional
        Columns to use (default: all columns of ``X``).
    max_iter, learning_rate, max_leaf_nodes, l2_regularization, min_samples_leaf
        Passed to ``HistGradientBoostingClassifier``.
    calibration : {"isotonic", "sigmoid"}
        Calibration method.
    cv : int
        Calibration folds.
    random_state : int, optional
    n_threads : int, "auto" or None
        OpenMP threads of the fits and predictions (results do not depend on it; "auto": see
        :func:`cxlib.threads.model_threads`).
    """

    def __init__(
        self,
        features: list[str] | None = None,
        max_iter: int = 300,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        l2_regularization: float = 1.0,
        min_samples_leaf: int = 50,
        calibration: str = "isotonic",
        cv: int = 3,
        random_state: int | None = None,
        n_threads: int | str | None = "auto",
    ) -> None:
        self.features = features
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.min_samples_leaf = min_samples_leaf
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state
        self.n_threads = n_threads

    def _prepare(self, X: pd.DataFrame, learn: bool = False) -> pd.DataFrame:
        if learn:
            cols = list(self.features) if self.features is not None else list(X.columns)
            self.feature_names_in_ = np.asarray(cols, dtype=object)
            self.categories_: dict[str, list[str]] = {}
            for c in cols:
                if _is_categorical(X[c]):
                    vc = X[c].astype("str").fillna("missing").value_counts()
                    self.categories_[c] = sorted(vc.index[:50])
        out = pd.DataFrame(index=X.index)
        for c in self.feature_names_in_:
            if c in self.categories_:
                v = X[c].astype("str").fillna("missing")
                out[c] = pd.Categorical(v, categories=self.categories_[c])
            else:
                out[c] = pd.to_numeric(X[c], errors="coerce").astype(float)
        return out

    def fit(self, X: pd.DataFrame, y, groups=None) -> BoostedChurnModel:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.model_selection import GroupKFold, StratifiedKFold

        y = np.asarray(y, dtype=int)
        self.classes_ = np.array([0, 1])
        Z = self._prepare(X, learn=True)
        hgb = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            l2_regularization=self.l2_regularization,
            min_samples_leaf=self.min_samples_leaf,
            categorical_features="from_dtype",
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=20,
            random_state=self.random_state,
        )
        if groups is not None:
            splits = list(GroupKFold(n_splits=self.cv).split(Z, y, np.asarray(groups)))
        else:
            splits = list(
                StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state).split(Z, y)
            )
        with openmp_threads(len(Z), self.n_threads):
            self.model_ = CalibratedClassifierCV(hgb, method=self.calibration, cv=splits).fit(Z, y)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        with openmp_threads(len(X), self.n_threads):
            return self.model_.predict_proba(self._prepare(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def _weighted_scores(y: np.ndarray, inv: np.ndarray, n_u: int, p: np.ndarray, w: np.ndarray):
    """ROC AUC, average precision and Brier score with case weights (ties handled exactly).

    ``inv`` maps each case to the rank of its unique score (ascending), ``n_u`` unique scores.
    """
    wp = np.bincount(inv, weights=w * y, minlength=n_u)
    wn = np.bincount(inv, weights=w * (1 - y), minlength=n_u)
    P, N = wp.sum(), wn.sum()
    if P <= 0 or N <= 0:
        return np.nan, np.nan, np.nan
    neg_below = np.cumsum(wn) - wn
    auc = float(np.sum(wp * (neg_below + 0.5 * wn)) / (P * N))
    # average precision over thresholds from the highest score down
    tp = np.cumsum(wp[::-1])
    fp = np.cumsum(wn[::-1])
    precision = tp / np.maximum(tp + fp, 1e-300)
    ap = float(np.sum(wp[::-1] / P * precision))
    brier = float(np.sum(w * (p - y) ** 2) / w.sum())
    return auc, ap, brier


def top_decile_lift(y, p, fraction: float = 0.1) -> float:
    """Lapse rate among the ``fraction`` highest scores divided by the overall rate."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    n_top = max(1, int(np.ceil(fraction * len(y))))
    order = np.lexsort((np.arange(len(p)), -p))
    base = y.mean()
    return float(y[order[:n_top]].mean() / base) if base > 0 else float("nan")


def evaluate_predictions(
    y, p, n_bootstrap: int = 200, random_state: int | None = None, ci: float = 0.95
) -> pd.DataFrame:
    """Out-of-sample quality of predicted probabilities with bootstrap percentile CIs.

    Returns one row per metric (``roc_auc``, ``pr_auc`` (average precision), ``brier``,
    ``top_decile_lift``, ``base_rate``) with ``estimate``, ``ci_low``, ``ci_high`` and ``n``.
    """
    return evaluate_models(y, {"p": p}, n_bootstrap, random_state, ci)["p"]


class _Scored:
    """One model's predictions prepared for weighted scoring (unique scores, top decile)."""

    def __init__(self, y: np.ndarray, p: np.ndarray) -> None:
        if len(y) != len(p):
            raise ValueError("y and p must have the same length")
        self.p = p
        self.uniq, self.inv = np.unique(p, return_inverse=True)
        n = len(y)
        order = np.lexsort((np.arange(n), -p))
        self.in_top = np.zeros(n, dtype=bool)
        self.in_top[order[: max(1, int(np.ceil(0.1 * n)))]] = True


def evaluate_models(
    y,
    predictions: Mapping[str, Any],
    n_bootstrap: int = 200,
    random_state: int | None = None,
    ci: float = 0.95,
) -> dict[str, pd.DataFrame]:
    """:func:`evaluate_predictions` for several models' predictions of the same outcomes.

    Every model is scored on the same bootstrap resamples of the customers (drawn once per
    resample), so the intervals of the models are comparable; each model's table is the one
    :func:`evaluate_predictions` gives for it with the same ``random_state``.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    scored = {k: _Scored(y, np.asarray(p, dtype=float)) for k, p in predictions.items()}
    est: dict[str, dict[str, float]] = {}
    for k, s in scored.items():
        auc, ap, brier = _weighted_scores(y, s.inv, len(s.uniq), s.p, np.ones(n))
        est[k] = {
            "roc_auc": auc,
            "pr_auc": ap,
            "brier": brier,
            "top_decile_lift": top_decile_lift(y, s.p),
            "base_rate": float(y.mean()) if n else float("nan"),
        }
    boots = {k: {m: [] for m in est[k]} for k in scored}
    rng = np.random.default_rng(random_state)
    for _ in range(int(n_bootstrap)):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        base = np.sum(w * y) / w.sum()
        for k, s in scored.items():
            a, b, c = _weighted_scores(y, s.inv, len(s.uniq), s.p, w)
            got = boots[k]
            got["roc_auc"].append(a)
            got["pr_auc"].append(b)
            got["brier"].append(c)
            wt = w[s.in_top]
            top_rate = np.sum(wt * y[s.in_top]) / wt.sum() if wt.sum() > 0 else np.nan
            got["top_decile_lift"].append(top_rate / base if base > 0 else np.nan)
            got["base_rate"].append(base)
    alpha = (1 - ci) / 2
    out = {}
    for k in scored:
        rows = []
        for m, v in est[k].items():
            arr = np.asarray(boots[k][m], dtype=float)
            arr = arr[np.isfinite(arr)]
            lo, hi = (
                (float(np.quantile(arr, alpha)), float(np.quantile(arr, 1 - alpha)))
                if len(arr)
                else (np.nan, np.nan)
            )
            rows.append({"metric": m, "estimate": v, "ci_low": lo, "ci_high": hi, "n": n})
        out[k] = pd.DataFrame(rows)
    return out


def reliability_table(y, p, n_bins: int = 10) -> pd.DataFrame:
    """Predicted vs observed lapse rate in ``n_bins`` equal-size groups of predicted risk.

    Columns: ``bin``, ``customers``, ``mean_predicted``, ``observed_rate``, ``ci_low``,
    ``ci_high`` (Wilson 95% interval of the observed rate).
    """
    from statsmodels.stats.proportion import proportion_confint

    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    ranks = pd.Series(p).rank(method="first").to_numpy()
    bins = np.minimum((ranks - 1) * n_bins // len(p), n_bins - 1).astype(int)
    df = pd.DataFrame({"bin": bins + 1, "y": y, "p": p})
    g = df.groupby("bin")
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "mean_predicted": g["p"].mean(),
            "observed_rate": g["y"].mean(),
        }
    )
    lo, hi = proportion_confint(g["y"].sum(), out["customers"], method="wilson")
    out["ci_low"], out["ci_high"] = np.asarray(lo), np.asarray(hi)
    return out.reset_index()


def gains_table(y, p, n_bins: int = 10) -> pd.DataFrame:
    """Cumulative gains and lift by decile of predicted risk (decile 1 = highest risk).

    Columns: ``decile``, ``customers``, ``lapsed``, ``lapse_rate``, ``lift``,
    ``cum_share_customers``, ``cum_share_lapsed``.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    n = len(y)
    order = np.lexsort((np.arange(n), -p))
    dec = np.empty(n, dtype=int)
    dec[order] = np.minimum(np.arange(n) * n_bins // max(n, 1), n_bins - 1) + 1
    df = pd.DataFrame({"decile": dec, "y": y})
    g = df.groupby("decile")["y"]
    out = pd.DataFrame({"customers": g.size(), "lapsed": g.sum()})
    base = y.mean() if n else np.nan
    out["lapse_rate"] = out["lapsed"] / out["customers"]
    out["lift"] = out["lapse_rate"] / base
    out["cum_share_customers"] = out["customers"].cumsum() / n
    out["cum_share_lapsed"] = out["lapsed"].cumsum() / max(y.sum(), 1)
    return out.reset_index()


def permutation_drivers(
    model,
    X: pd.DataFrame,
    y,
    *,
    n_repeats: int = 2,
    max_rows: int = 4_000,
    random_state: int | None = None,
    recent_days: int = 90,
    low_score: float = 2.5,
) -> pd.DataFrame:
    """Permutation importance (drop in ROC AUC when a feature is shuffled) on held-out data.

    Returns ``feature``, ``label``, ``importance`` (mean AUC drop), ``std``, sorted descending.
    """
    from sklearn.inspection import permutation_importance

    y = np.asarray(y, dtype=int)
    if len(X) > max_rows:
        rng = np.random.default_rng(random_state)
        idx = np.sort(rng.choice(len(X), max_rows, replace=False))
        X, y = X.iloc[idx], y[idx]
    res = permutation_importance(
        model, X, y, scoring="roc_auc", n_repeats=n_repeats, random_state=random_state
    )
    out = pd.DataFrame(
        {
            "feature": list(X.columns),
            "importance": res.importances_mean,
            "std": res.importances_std,
        }
    )
    out["label"] = [feature_label(c, recent_days=recent_days, low_score=low_score) for c in X]
    out = out.sort_values(["importance", "feature"], ascending=[False, True], kind="stable")
    return out[["feature", "label", "importance", "std"]].reset_index(drop=True)


def relative_risks(
    X: pd.DataFrame,
    y,
    flags: list[str] | None = None,
    *,
    recent_days: int = 90,
    low_score: float = 2.5,
) -> pd.DataFrame:
    """Lapse rate with vs without each 0/1 flag, risk ratio with 95% CI (statsmodels Table2x2).

    Returns ``feature``, ``label``, ``customers_with``, ``rate_with``, ``rate_without``,
    ``risk_ratio``, ``ci_low``, ``ci_high``, ``p_value`` (chi-square test of independence).
    """
    from statsmodels.stats.contingency_tables import Table2x2

    y = np.asarray(y, dtype=bool)
    if flags is None:
        flags = [
            c
            for c in X.columns
            if not _is_categorical(X[c])
            and set(pd.to_numeric(X[c], errors="coerce").dropna().unique()) == {0.0, 1.0}
        ]
    rows = []
    for c in flags:
        f = pd.to_numeric(X[c], errors="coerce").to_numpy()
        ok = ~np.isnan(f)
        f, yy = f[ok] == 1, y[ok]
        a, b = int(np.sum(f & yy)), int(np.sum(f & ~yy))
        cc, d = int(np.sum(~f & yy)), int(np.sum(~f & ~yy))
        if min(a + b, cc + d) == 0:
            continue
        t = Table2x2(np.array([[a, b], [cc, d]]), shift_zeros=True)
        lo, hi = t.riskratio_confint()
        rows.append(
            {
                "feature": c,
                "label": feature_label(c, recent_days=recent_days, low_score=low_score),
                "customers_with": a + b,
                "rate_with": a / (a + b),
                "rate_without": cc / (cc + d),
                "risk_ratio": float(t.riskratio),
                "ci_low": float(lo),
                "ci_high": float(hi),
                "p_value": float(t.test_nominal_association().pvalue),
            }
        )
    cols = [
        "feature",
        "label",
        "customers_with",
        "rate_with",
        "rate_without",
        "risk_ratio",
        "ci_low",
        "ci_high",
        "p_value",
    ]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("risk_ratio", ascending=False, kind="stable").reset_index(drop=True)


def driver_table(
    odds_ratios: pd.DataFrame, *, alpha: float = 0.05, include_pattern: bool = False
) -> pd.DataFrame:
    """Drivers: significant logistic-regression terms ranked by the size of their effect.

    Purchase-pattern features (recency, frequency, BG/NBD risk ...) are symptoms of lapsing, not
    levers, and are left out unless ``include_pattern``. Ranked by ``|log odds ratio|``; a
    ``direction`` column says whether the driver raises or lowers the risk.
    """
    t = odds_ratios.copy()
    if not include_pattern:
        t = t.loc[~t["term"].map(is_pattern_feature)]
    t = t.loc[t["p_value"] < alpha].copy()
    t["abs_log_or"] = np.abs(np.log(t["estimate"]))
    t["direction"] = np.where(t["estimate"] > 1, "raises risk", "lowers risk")
    t = t.sort_values(["abs_log_or", "term"], ascending=[False, True], kind="stable")
    t.insert(0, "rank", np.arange(1, len(t) + 1))
    return t.drop(columns="abs_log_or").reset_index(drop=True)


#: Candidate models from simplest to most complex (ties in accuracy go to the simpler one).
SIMPLICITY_ORDER: tuple[str, ...] = (
    "BG/NBD by segment",
    "logistic regression",
    "gradient boosting (calibrated)",
    "average of gradient boosting and BG/NBD",
)


def choose_model(metrics: Mapping[str, pd.DataFrame], tolerance: float = 0.01) -> tuple[str, str]:
    """Pick the model whose probabilities are best out of sample (lowest Brier score).

    Among the models whose Brier score is within ``tolerance`` (relative) of the best, the
    simplest is used (:data:`SIMPLICITY_ORDER`: the BG/NBD model needs no outcome labels and
    uses all data up to the as-of date; the logistic regression is easier to explain than
    boosting). Returns ``(name, reason)``.
    """
    brier = {k: float(v.set_index("metric").loc["brier", "estimate"]) for k, v in metrics.items()}
    auc = {k: float(v.set_index("metric").loc["roc_auc", "estimate"]) for k, v in metrics.items()}
    best = min(brier, key=lambda k: (brier[k], k))
    rank = {k: (SIMPLICITY_ORDER.index(k) if k in SIMPLICITY_ORDER else 99) for k in brier}
    close = [k for k in brier if brier[k] <= brier[best] * (1 + tolerance)]
    name = min(close, key=lambda k: (rank[k], brier[k], k))
    others = [k for k in brier if k != name]
    comp = "; ".join(f"{k}: Brier {brier[k]:.4f}, ROC AUC {auc[k]:.3f}" for k in others)
    if name == best:
        reason = (
            f"the {name} gives the most accurate probabilities out of sample "
            f"(Brier score {brier[name]:.4f}, ROC AUC {auc[name]:.3f}; {comp})"
        )
    else:
        why = (
            "needs no outcome labels and uses all data up to the as-of date"
            if name == "BG/NBD by segment"
            else "is easier to explain"
        )
        reason = (
            f"the {name} is within {tolerance:.0%} of the most accurate model "
            f"(Brier {brier[name]:.4f}, ROC AUC {auc[name]:.3f}; {comp}) and is simpler: it "
            f"{why}"
        )
    return name, reason


# ---------------------------------------------------------------------------------------------
# Survival
# ---------------------------------------------------------------------------------------------


def retention_durations(
    transactions: pd.DataFrame | Any,
    start_date: Any,
    end_date: Any,
    horizon_days: int = 90,
    lookback_days: int = 365,
) -> pd.DataFrame:
    """Days each customer active at ``start_date`` kept buying, for Kaplan-Meier curves.

    A customer is *retained* on day d while they buy again within ``horizon_days`` after d. The
    lapse day is the first day (``start_date`` or a later purchase day) followed by a gap of more
    than ``horizon_days`` without purchases; it is observed only if it falls on or before
    ``end_date - horizon_days`` (else the customer is censored there).

    Returns ``customer_id``-indexed ``duration_days`` and ``lapsed`` (1 = event observed).
    ``transactions`` may be a backend (Ibis) table: the purchase days and gaps are then computed
    in the backend and one row per customer comes back.
    """
    s = pd.Timestamp(start_date).normalize()
    e = pd.Timestamp(end_date).normalize()
    last_obs = e - pd.Timedelta(days=int(horizon_days))
    if last_obs <= s:
        raise ValueError("end_date must be more than horizon_days after start_date")
    if is_backend_table(transactions):
        return _backend_retention_durations(transactions, s, e, horizon_days, lookback_days)
    tx = _purchases(transactions)
    day = tx["timestamp"].dt.normalize()
    before = tx.loc[(day <= s) & (day > s - pd.Timedelta(days=int(lookback_days))), "customer_id"]
    active = pd.Index(before.unique())
    after = pd.DataFrame({"customer_id": tx["customer_id"], "day": day})
    after = after.loc[(after["day"] > s) & (after["day"] <= e) & after["customer_id"].isin(active)]
    starts = pd.DataFrame({"customer_id": active, "day": s})
    seq = pd.concat([starts, after.drop_duplicates()], ignore_index=True)
    seq = seq.sort_values(["customer_id", "day"], kind="stable").reset_index(drop=True)
    nxt = seq.groupby("customer_id")["day"].shift(-1)
    gap = (nxt - seq["day"]).dt.days.astype(float)
    # last observed day: a gap to the end of the data counts only if longer than the horizon
    gap = gap.fillna((e - seq["day"]).dt.days.astype(float) + 0.5)
    lapse_here = gap > horizon_days
    first_lapse = seq.loc[lapse_here].groupby("customer_id")["day"].first()
    out = pd.DataFrame(index=active.sort_values())
    out.index.name = "customer_id"
    lapse_day = first_lapse.reindex(out.index)
    observed = lapse_day.notna() & (lapse_day <= last_obs)
    out["duration_days"] = np.where(observed, (lapse_day - s).dt.days, (last_obs - s).days).astype(
        float
    )
    out["lapsed"] = observed.astype(int).to_numpy()
    return out


def _backend_retention_durations(
    transactions: Any, s: pd.Timestamp, e: pd.Timestamp, horizon_days: int, lookback_days: int
) -> pd.DataFrame:
    """:func:`retention_durations` in the backend (same result)."""
    import ibis

    epoch = pd.Timestamp("1970-01-01")
    s_day, e_day = (s - epoch).days, (e - epoch).days
    last_obs_day = s_day + ((e - pd.Timedelta(days=int(horizon_days))) - s).days
    d = purchase_days(transactions)
    days = d.select(customer_id=d._c, _d=d._d)
    days = days.filter((days._d > s_day - int(lookback_days)) & (days._d <= e_day))
    active = days.filter(days._d <= s_day).select("customer_id").distinct()
    after = days.filter(days._d > s_day).semi_join(active, "customer_id")
    seq = active.mutate(_d=ibis.literal(s_day, type="int64")).union(
        after.mutate(_d=after._d.cast("int64")), distinct=True
    )
    w = ibis.window(group_by=seq.customer_id, order_by=seq._d)
    seq = seq.mutate(_next=seq._d.lead().over(w))
    gap = ibis.coalesce(
        (seq._next - seq._d).cast("float64"), (e_day - seq._d).cast("float64") + 0.5
    )
    seq = seq.mutate(_lapse=gap > float(horizon_days))
    res = (
        seq.group_by("customer_id")
        .aggregate(_first=seq._d.min(where=seq._lapse))
        .to_pandas()
        .set_index("customer_id")
    )
    out = pd.DataFrame(index=pd.Index(res.index.astype("str"), name="customer_id").sort_values())
    lapse_day = pd.to_numeric(res["_first"]).reindex(out.index).to_numpy(dtype="float64")
    observed = ~np.isnan(lapse_day) & (lapse_day <= last_obs_day)
    out["duration_days"] = np.where(observed, lapse_day - s_day, last_obs_day - s_day).astype(float)
    out["lapsed"] = observed.astype(int)
    return out


def kaplan_meier(
    durations, events, groups=None, *, min_group_size: int = 10
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Kaplan-Meier retention curves (statsmodels ``SurvfuncRight``) and a log-rank test.

    Groups under ``min_group_size`` are left out. Returns ``(curves, test)`` where ``curves`` has
    ``group``, ``time``, ``retention``, ``ci_low``, ``ci_high``, ``at_risk`` (plus a row at time 0)
    and ``test`` holds ``chi2``, ``df``, ``p_value`` and ``groups`` (NaN with fewer than 2 groups).
    """
    from statsmodels.duration.survfunc import SurvfuncRight, survdiff

    t = np.asarray(durations, dtype=float)
    ev = np.asarray(events, dtype=int)
    g = (
        np.asarray(["All customers"] * len(t), dtype=object)
        if groups is None
        else pd.Series(groups).astype("str").fillna("unknown").to_numpy(dtype=object)
    )
    sizes = pd.Series(g).value_counts()
    keep_groups = sorted(sizes.index[sizes >= min_group_size])
    frames = []
    for name in keep_groups:
        m = g == name
        sf = SurvfuncRight(t[m], ev[m])
        lo, hi = _pointwise_ci(sf)
        frames.append(
            pd.DataFrame(
                {
                    "group": name,
                    "time": np.r_[0.0, sf.surv_times],
                    "retention": np.r_[1.0, sf.surv_prob],
                    "ci_low": np.r_[1.0, lo],
                    "ci_high": np.r_[1.0, hi],
                    "at_risk": np.r_[m.sum(), sf.n_risk],
                    "customers": int(m.sum()),
                }
            )
        )
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    test = {"chi2": np.nan, "df": np.nan, "p_value": np.nan, "groups": float(len(keep_groups))}
    if len(keep_groups) >= 2:
        m = np.isin(g, keep_groups)
        chi2, pval = survdiff(t[m], ev[m], g[m])
        test.update(chi2=float(chi2), df=float(len(keep_groups) - 1), p_value=float(pval))
    return curves, test


def _pointwise_ci(sf) -> tuple[np.ndarray, np.ndarray]:
    """95% pointwise CI of a Kaplan-Meier curve on the log(-log) scale (Greenwood variance)."""
    s = np.asarray(sf.surv_prob, dtype=float)
    se = np.asarray(sf.surv_prob_se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.log(-np.log(s))
        se_ll = se / (s * np.abs(np.log(s)))
        lo = np.exp(-np.exp(ll + _Z95 * se_ll))
        hi = np.exp(-np.exp(ll - _Z95 * se_ll))
    lo = np.where(np.isfinite(lo), lo, s)
    hi = np.where(np.isfinite(hi), hi, s)
    return np.clip(lo, 0, 1), np.clip(hi, 0, 1)


def median_retention(curves: pd.DataFrame) -> pd.Series:
    """Per group: first time the Kaplan-Meier retention drops to 50% or below (NaN if never)."""
    out = {}
    for name, c in curves.groupby("group", sort=True):
        below = c.loc[c["retention"] <= 0.5, "time"]
        out[name] = float(below.iloc[0]) if len(below) else float("nan")
    return pd.Series(out, name="median_days")


def retention_at(curves: pd.DataFrame, day: float) -> pd.Series:
    """Per group: Kaplan-Meier retention at ``day`` (step function)."""
    out = {}
    for name, c in curves.groupby("group", sort=True):
        c = c.sort_values("time")
        out[name] = float(c.loc[c["time"] <= day, "retention"].iloc[-1])
    return pd.Series(out, name=f"retention_{day:g}d")


# ---------------------------------------------------------------------------------------------
# The whole analysis
# ---------------------------------------------------------------------------------------------

LOGIT = "logistic regression"
GBM = "gradient boosting (calibrated)"
BGNBD = "BG/NBD by segment"
BLEND = "average of gradient boosting and BG/NBD"


@dataclass
class ChurnResult:
    """Everything the churn report shows; built by :func:`run_churn`.

    Attributes
    ----------
    mode : str
        ``"non_contractual"`` or ``"contractual"``.
    validation : str
        How the models were judged (out of time / out of fold), in words.
    snapshots : DataFrame
        Non-contractual: one row per snapshot (``snapshot_date``, ``role``, ``customers``,
        ``lapsed``, ``lapse_rate``); contractual: one row for the labelled customers.
    metrics : dict of DataFrame
        Model name -> :func:`evaluate_predictions` table on the held-out data.
    holdout : DataFrame
        Held-out outcome ``y`` and each model's prediction (for reliability and gains).
    chosen_model, choice_reason : str
    odds_ratios : DataFrame
        :meth:`LogitChurnModel.summary` of the drivers model: a logistic regression of leaving on
        the drivers (feedback, app use, segment, attributes; tenure as a control), fitted on all
        labelled rows, *not* adjusted for the purchase pattern through which drivers act.
        Contractual mode: the scoring logistic regression (attributes are the drivers).
    score_odds_ratios : DataFrame or None
        Non-contractual mode: summary of the scoring logistic regression (pattern included).
    drivers : DataFrame
        :func:`driver_table`.
    risk_ratios : DataFrame
        :func:`relative_risks` on the latest labelled customers.
    importance : DataFrame
        :func:`permutation_drivers` of the chosen model on held-out data.
    scores : DataFrame
        One row per scored customer: the :data:`EXPORT_COLUMNS` plus ``churned`` (contractual)
        and the driver flags.
    btyd : BTYDFit or None
    survival_curves : DataFrame
    survival_test : dict
    survival_groups : str
        What the survival curves are grouped by.
    notes : list of str
        Caveats worth telling the reader.
    """

    mode: str
    as_of_date: pd.Timestamp
    horizon_days: int
    lookback_days: int
    recent_days: int
    low_score: float
    validation: str
    snapshots: pd.DataFrame
    metrics: dict[str, pd.DataFrame]
    holdout: pd.DataFrame
    chosen_model: str
    choice_reason: str
    odds_ratios: pd.DataFrame
    drivers: pd.DataFrame
    risk_ratios: pd.DataFrame
    importance: pd.DataFrame
    scores: pd.DataFrame
    btyd: BTYDFit | None
    survival_curves: pd.DataFrame
    survival_test: dict[str, float]
    survival_groups: str
    feature_names: list[str]
    survival_time_unit: str = "days"
    models: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    n_not_scored: int = 0
    records: pd.DataFrame | None = None
    segments: BehaviourSegments | None = None
    score_odds_ratios: pd.DataFrame | None = None
    candidate_scores: pd.DataFrame | None = None

    def metrics_table(self) -> pd.DataFrame:
        """Models side by side: ROC AUC, PR AUC, Brier, top-decile lift with 95% CIs."""
        rows = []
        for name, m in self.metrics.items():
            t = m.set_index("metric")
            row: dict[str, Any] = {"model": name, "used for scores": name == self.chosen_model}
            for k in ("roc_auc", "pr_auc", "brier", "top_decile_lift"):
                row[k] = t.loc[k, "estimate"]
                row[f"{k}_ci"] = f"{t.loc[k, 'ci_low']:.3f}–{t.loc[k, 'ci_high']:.3f}"
            row["customers"] = int(t.loc["roc_auc", "n"])
            rows.append(row)
        return pd.DataFrame(rows)


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


#: Left out of the drivers model: a second measure of complaints (``complained`` is kept).
_DRIVER_MODEL_SKIP = frozenset({"complaint_recent"})


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


def _rekey_backend(table: Any, m: pd.Series) -> Any:
    """A backend table with ``customer_id`` replaced by ``m[customer_id]`` where ``m`` has it
    (a join with the map in the backend; columns and their order kept)."""
    import ibis

    t = _text_ids(table)
    mt = ibis.memtable(
        pd.DataFrame({"_mm_record": m.index.astype("str"), "_mm_person": m.to_numpy(dtype=str)})
    )
    j = t.left_join(mt, t.customer_id == mt._mm_record)
    person = ibis.coalesce(j._mm_person, j.customer_id).name("customer_id")
    return j.select(*[person if c == "customer_id" else j[c] for c in t.columns])


def people_tables(
    tables: Mapping[str, pd.DataFrame], master_map: pd.DataFrame
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Re-key the tables from source records to people (single customer view).

    ``master_map`` (``customer_id``, ``master_id``; e.g. notebook 01's
    ``exports/customer_master_map.csv``) says which records are the same person; records not in
    it stay their own person. Transactions and feedback are re-keyed; the customers table keeps
    one row per person (attributes of the person's first record) with ``marketing_consent`` True
    only when some record consents and none refuses.

    Returns the re-keyed tables and ``records``: ``customer_id`` (record), ``unit`` (person) and
    the record's own ``marketing_consent`` (for per-record exports). Backend (Ibis) tables are
    re-keyed by a join in their backend and stay backend tables.
    """
    mm = master_map.dropna(subset=["customer_id", "master_id"]).drop_duplicates("customer_id")
    m = mm.set_index(mm["customer_id"].astype("str"))["master_id"].astype("str")
    out = dict(tables)
    for name in ("transactions", "feedback"):
        df = tables.get(name)
        if is_backend_table(df):
            out[name] = _rekey_backend(df, m)
        elif df is not None and len(df):
            df = df.copy()
            df["customer_id"] = df["customer_id"].map(m).fillna(df["customer_id"]).astype("str")
            out[name] = df
    ids: list[pd.Series] = []
    for t in ("transactions", "feedback"):
        df = tables.get(t)
        if is_backend_table(df):  # each id once, from the backend
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


def too_little_data(
    tables: Mapping[str, pd.DataFrame],
    as_of_date: Any,
    *,
    mode: str | None = None,
    horizon_days: int = 90,
    n_snapshots: int = 4,
    min_group_size: int = 10,
) -> str | None:
    """Why the churn analysis cannot run on these tables, or None when it can.

    Non-contractual mode needs at least one labelled snapshot (``horizon_days`` + 90 days of
    transactions before the as-of date) and, at the latest snapshot, at least
    ``min_group_size`` active customers who lapsed and as many who stayed; contractual mode needs
    at least ``min_group_size`` churned and as many retained customers. The reason is a clause
    for a skip notice ("only 1 day of transactions ...").
    """
    mode = mode or detect_mode(tables, strict=False)
    if mode is None:
        return "the data has neither transactions nor a customers table with a churn flag"
    as_of = pd.Timestamp(as_of_date).normalize()
    if mode == MODE_CONTRACTUAL:
        labels = contractual_labels(tables["customers"], as_of).dropna().astype(bool)
        churned, kept = int(labels.sum()), int((~labels).sum())
        if min(churned, kept) < min_group_size:
            return (
                f"{churned:,} churned and {kept:,} retained customers are known; the models need "
                f"at least {min_group_size} of each (min_group_size)"
            )
        return None
    tx = _purchases(tables["transactions"])
    if is_backend_table(tx):
        tx = tx.filter(tx.timestamp < _ts(as_of + pd.Timedelta(days=1)))
    else:
        tx = tx.loc[tx["timestamp"] < as_of + pd.Timedelta(days=1)]
    earliest = _min_timestamp(tx)
    dates = snapshot_dates(as_of, horizon_days, n_snapshots, None, earliest)
    if not dates:
        span = int((as_of - earliest.normalize()).days) + 1 if pd.notna(earliest) else 0
        return (
            f"only {span:,} day{'s' if span != 1 else ''} of purchases up to {as_of.date()}; "
            f"churn needs at least {horizon_days + 90} days ({horizon_days}-day outcome window "
            "plus 90 days of history before it)"
        )
    latest = dates[-1]
    if is_backend_table(tx):
        n_lapsed, n_kept = _backend_lapse_counts(tx, latest, horizon_days)
    else:
        active = tx.loc[tx["timestamp"] < latest + pd.Timedelta(days=1), "customer_id"].unique()
        lapsed = lapse_labels(tx, latest, horizon_days, active)
        n_lapsed, n_kept = int(lapsed.sum()), int((~lapsed).sum())
    if min(n_lapsed, n_kept) < min_group_size:
        return (
            f"at the latest labelled snapshot ({latest.date()}) {n_lapsed:,} customers lapsed and "
            f"{n_kept:,} bought again; the models need at least {min_group_size} of each "
            "(min_group_size)"
        )
    return None


def run_churn(
    tables: Mapping[str, pd.DataFrame],
    as_of_date: Any,
    *,
    mode: str | None = None,
    horizon_days: int = 90,
    lookback_days: int = 365,
    n_snapshots: int = 4,
    n_bootstrap: int = 200,
    random_state: int | None = 42,
    recent_days: int = 90,
    value_horizon_days: int = 365,
    segment_column: str | None = None,
    value_column: str | None = None,
    duration_column: str | None = None,
    master_map: pd.DataFrame | None = None,
    n_folds: int = 5,
    max_train_rows: int | None = 200_000,
    max_eval_rows: int | None = MAX_EVAL_ROWS,
    min_group_size: int = 10,
) -> ChurnResult:
    """Run the churn analysis on contract tables (see the module docstring).

    Parameters
    ----------
    tables : mapping
        Contract tables (``transactions``, ``customers``, ``feedback`` used when present).
    as_of_date : date-like
        Analysis date; data through the end of this day counts.
    mode : str, optional
        Force ``"contractual"`` / ``"non_contractual"`` (default: :func:`detect_mode`).
    horizon_days, lookback_days, n_snapshots
        Lapse horizon, activity look-back window and number of labelled snapshots.
    n_bootstrap : int
        Bootstrap replicates for the metric CIs.
    random_state : int, optional
        Seed of every random step.
    recent_days : int
        Window of the ``complaint_recent`` driver.
    value_horizon_days : int
        Horizon of ``expected_value`` (expected spend, BG/NBD x Gamma-Gamma).
    segment_column : str, optional
        Customer attribute used as ``segment`` (default: the behavioural segment learnt from
        transactions; contractual mode: none).
    value_column : str, optional
        Customer attribute used as ``expected_value`` in contractual mode without transactions.
    duration_column : str, optional
        Contractual mode: customer attribute holding time as a customer, for retention curves
        (default: ``signup_date`` to ``churn_date``/as-of, else an attribute named ``tenure``).
    master_map : DataFrame, optional
        Non-contractual mode: ``customer_id`` -> ``master_id`` (single customer view); the
        analysis then runs per person and every record gets its person's scores.
    n_folds : int
        Contractual mode: folds of the out-of-fold predictions.
    max_train_rows : int, optional
        Fit models on at most this many (randomly chosen) rows.
    max_eval_rows : int, optional
        Non-contractual mode: judge the models on at most this many customers of the test
        snapshot (a seeded random sample when it has more; None: all of them). Risk ratios of
        the drivers still use every customer of the snapshot.
    min_group_size : int
        Smallest group shown in survival curves.
    """
    mode = mode or detect_mode(tables)
    as_of = pd.Timestamp(as_of_date).normalize()
    kw = dict(
        horizon_days=horizon_days,
        lookback_days=lookback_days,
        n_bootstrap=n_bootstrap,
        random_state=random_state,
        recent_days=recent_days,
        value_horizon_days=value_horizon_days,
        segment_column=segment_column,
        max_train_rows=max_train_rows,
        min_group_size=min_group_size,
    )
    if mode == MODE_NON_CONTRACTUAL:
        return _run_non_contractual(
            tables,
            as_of,
            n_snapshots=n_snapshots,
            master_map=master_map,
            max_eval_rows=max_eval_rows,
            **kw,
        )
    if mode == MODE_CONTRACTUAL:
        return _run_contractual(
            tables,
            as_of,
            value_column=value_column,
            duration_column=duration_column,
            n_folds=n_folds,
            **kw,
        )
    raise ValueError(f"unknown churn mode {mode!r}")


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
        if is_backend_table(df):  # counted and filtered in the backend
            import ibis

            if known_t is None:
                known_t = ibis.memtable(
                    pd.DataFrame({"customer_id": pd.Series(known_ids.sort_values(), dtype="str")})
                )
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


def _run_non_contractual(
    tables,
    as_of,
    *,
    n_snapshots,
    master_map,
    horizon_days,
    lookback_days,
    n_bootstrap,
    random_state,
    recent_days,
    value_horizon_days,
    segment_column,
    max_train_rows,
    min_group_size,
    max_eval_rows=MAX_EVAL_ROWS,
) -> ChurnResult:
    rng = np.random.default_rng(random_state)
    notes: list[str] = []
    tables = _drop_orphans(tables, notes)
    records = None
    if master_map is not None and len(master_map):
        tables, records = people_tables(tables, master_map)
        n_rec, n_people = len(records), records["unit"].nunique()
        notes.append(
            f"Records of the same person are analysed together (single customer view from the "
            f"data audit): {n_rec:,} records, {n_people:,} people; every record gets its "
            "person's scores."
        )
    tx = tables["transactions"]
    fb = tables.get("feedback")
    low = low_score_threshold(fb["score"]) if fb is not None and len(fb) else 2.5
    dates = snapshot_dates(as_of, horizon_days, n_snapshots, None, _min_timestamp(tx))
    segments = None
    known_features: dict[pd.Timestamp, pd.DataFrame] = {}
    if dates:
        from cxlib.features import customer_features

        # behavioural segments learnt once, from data up to the latest labelled snapshot (whose
        # customer features the training set reuses)
        known_features[dates[-1]] = customer_features(tx, dates[-1], lookback_days=lookback_days)
        segments = fit_behaviour_segments(
            tx,
            dates[-1],
            lookback_days=lookback_days,
            random_state=random_state,
            features=known_features[dates[-1]],
        )
    train = build_training_set(
        tables,
        as_of,
        horizon_days=horizon_days,
        lookback_days=lookback_days,
        n_snapshots=n_snapshots,
        recent_days=recent_days,
        low_score=low,
        segments=segments,
        features=known_features,
    )
    known_features.clear()
    feats = feature_columns(train)
    if segments is not None:
        train["segment"] = segments.name(train["segment_code"]).to_numpy()
    logit_feats = logit_feature_columns(feats, segments is not None)
    cols = list(dict.fromkeys([*feats, *logit_feats]))
    pair_kw = dict(logit_features=logit_feats, gbm_features=feats)
    dates = sorted(train["snapshot_date"].unique())
    test_date = dates[-1]
    is_test = (train["snapshot_date"] == test_date).to_numpy()
    if len(dates) >= 2:
        fit_rows = np.flatnonzero(~is_test)
        validation = (
            f"out of time: trained on {len(dates) - 1} earlier snapshot(s) "
            f"({pd.Timestamp(dates[0]).date()} to {pd.Timestamp(dates[-2]).date()}) and tested "
            f"on customers active at {pd.Timestamp(test_date).date()}: did they buy in the "
            f"following {horizon_days} days"
        )
    else:
        fit_rows = np.flatnonzero(is_test)
        notes.append(
            "Only one labelled snapshot fits in the data, so the models are judged on "
            "out-of-fold predictions within it instead of out of time."
        )
        validation = f"out of fold: 5 folds within the snapshot at {pd.Timestamp(test_date).date()}"
    y_all = train["lapsed"].to_numpy(dtype=int)
    groups_all = train["customer_id"].to_numpy()
    snapshot_idx = np.flatnonzero(is_test)  # every customer of the test snapshot
    test_idx = snapshot_idx
    if len(dates) >= 2 and max_eval_rows is not None and len(snapshot_idx) > max_eval_rows:
        # a large test snapshot: the models are judged on a random sample of its customers
        # (the bootstrap intervals are those of the sample; scores still cover everyone)
        test_idx = snapshot_idx[_sample_rows(len(snapshot_idx), max_eval_rows, rng)]
        notes.append(
            f"The models are judged on a random sample of {len(test_idx):,} of the "
            f"{len(snapshot_idx):,} customers of the test snapshot, which keeps the run short; "
            "the confidence intervals are those of the sample. Every customer is scored."
        )

    if len(dates) >= 2:
        sub = fit_rows[_sample_rows(len(fit_rows), max_train_rows, rng)]
        models = _fit_pair(
            train.iloc[sub][cols], y_all[sub], groups_all[sub], random_state, **pair_kw
        )
        X_test = train.iloc[test_idx][cols]  # one copy of the held-out rows (large data)
        preds = {k: m.predict_proba(X_test)[:, 1] for k, m in models.items()}
        imp_models, imp_X, imp_y = models, X_test, y_all[test_idx]
    else:
        from sklearn.model_selection import GroupKFold

        preds = {LOGIT: np.zeros(len(test_idx)), GBM: np.zeros(len(test_idx))}
        Xt, yt, gt = train.iloc[test_idx][cols], y_all[test_idx], groups_all[test_idx]
        for tr, te in GroupKFold(n_splits=5).split(Xt, yt, gt):
            ms = _fit_pair(Xt.iloc[tr], yt[tr], gt[tr], random_state, **pair_kw)
            for k, m in ms.items():
                preds[k][te] = m.predict_proba(Xt.iloc[te])[:, 1]
        imp_models, imp_X, imp_y = ms, Xt.iloc[te], yt[te]
    y_test = y_all[test_idx]
    if "bgnbd_p_lapse" in train.columns:
        # the purchase-pattern model on its own, and averaged with the learnt model
        preds[BGNBD] = train["bgnbd_p_lapse"].iloc[test_idx].to_numpy(dtype=float)
        preds[BLEND] = 0.5 * (preds[GBM] + preds[BGNBD])
    metrics = evaluate_models(y_test, preds, n_bootstrap, random_state)
    chosen, reason = choose_model(metrics)
    holdout = pd.DataFrame({"y": y_test, **preds}, index=train["customer_id"].iloc[test_idx])
    imp_name = LOGIT if chosen == LOGIT else GBM
    importance = permutation_drivers(
        imp_models[imp_name],
        imp_X[logit_feats if imp_name == LOGIT else feats],
        imp_y,
        random_state=random_state,
        recent_days=recent_days,
        low_score=low,
    )

    # final models on every labelled snapshot, scores at the as-of date with all data
    sub = _sample_rows(len(train), max_train_rows, rng)
    final = _fit_pair(train.iloc[sub][cols], y_all[sub], groups_all[sub], random_state, **pair_kw)
    # the drivers model: what goes with lapsing, adjusted for the other drivers and for tenure
    # but NOT for the purchase pattern (recency, BG/NBD ...), which drivers act through
    driver_feats = [
        f for f in logit_feats if not is_pattern_feature(f) and f not in _DRIVER_MODEL_SKIP
    ]
    # controls, not drivers: tenure, and whether a score was given at all (low satisfaction is
    # then compared among customers who gave a score; answering surveys goes with buying often)
    driver_feats += [c for c in ("tenure_days", "score_given") if c in train.columns]
    driver_model = LogitChurnModel(features=driver_feats).fit(
        train.iloc[sub][cols], y_all[sub], groups=groups_all[sub]
    )
    odds = driver_model.summary(recent_days=recent_days, low_score=low)
    drivers = driver_table(odds)
    latest = train.iloc[snapshot_idx]
    risk = relative_risks(
        latest[_flags_of(latest[feats])], latest["lapsed"], recent_days=recent_days, low_score=low
    )

    now = snapshot_features(
        tables,
        as_of,
        lookback_days=lookback_days,
        horizon_days=horizon_days,
        recent_days=recent_days,
        low_score=low,
        segments=segments,
        value_horizon_days=value_horizon_days,
    )
    bt = now.attrs.pop("btyd")
    if bt is not None and bt.fit_customers is not None:
        notes.append(
            f"The BG/NBD parameters (and their standard errors) are estimated on a random sample "
            f"of {bt.fit_customers:,} of the {len(bt.rfm):,} customers with purchases; P(alive), "
            "expected purchases and values are computed for every customer."
        )
    for c in feats:
        if c not in now.columns:
            now[c] = 0.0 if ("_share_" in c or c == "no_app_use") else np.nan
    share_cols = [c for c in now.columns if "_share_" in c or c == "no_app_use"]
    now[share_cols] = now[share_cols].fillna(0.0)
    if segments is not None:
        now["segment"] = segments.name(now["segment_code"]).to_numpy()
    candidates = pd.DataFrame(
        {k: m.predict_proba(now[cols])[:, 1] for k, m in final.items()}, index=now.index
    )
    if "bgnbd_p_lapse" in now.columns:
        candidates[BGNBD] = now["bgnbd_p_lapse"].to_numpy(dtype=float)
        candidates[BLEND] = 0.5 * (candidates[GBM] + candidates[BGNBD])
    scores = pd.DataFrame(index=now.index)
    scores["churn_probability"] = candidates[chosen]
    for c in ("p_alive", "expected_purchases", "expected_value"):
        scores[c] = bt.predictions[c].reindex(now.index).to_numpy()
    scores["value_at_risk"] = scores["churn_probability"] * scores["expected_value"]
    customers = tables.get("customers")
    if segment_column and customers is not None and segment_column in customers.columns:
        seg = customers.drop_duplicates("customer_id").set_index("customer_id")[segment_column]
        scores["segment"] = seg.reindex(now.index).astype("str")
        segment_label = str(segment_column)
    elif segments is not None:
        scores["segment"] = segments.name(now["segment_code"])
        segment_label = "behavioural segment"
    else:
        scores["segment"] = _segment_rfm(now)
        segment_label = "RFM segment"
    scores["marketing_consent"] = _consent(customers, now.index)
    for c in _flags_of(now[feats]):
        scores[c] = now[c]
    if bt is not None:  # the BG/NBD summary at the as-of date: every buyer up to it
        all_buyers = len(bt.rfm)
    elif is_backend_table(tx):
        bought = tx.filter((tx.amount > 0) & (tx.timestamp < _ts(as_of + pd.Timedelta(days=1))))
        all_buyers = int(bought.customer_id.nunique().execute())
    else:
        all_buyers = tx.loc[
            (tx["amount"] > 0) & (tx["timestamp"] < as_of + pd.Timedelta(days=1)), "customer_id"
        ].nunique()
    n_not_scored = int(all_buyers - len(scores))

    # survival: customers active at the earliest snapshot, by their segment at that time
    curves, test = pd.DataFrame(), {"chi2": np.nan, "df": np.nan, "p_value": np.nan}
    groups_label = segment_label
    start = pd.Timestamp(dates[0])
    try:
        if (as_of - start).days <= horizon_days + 30:
            raise ValueError("the data is too short to follow customers over time")
        f0 = train.loc[train["snapshot_date"] == start].set_index("customer_id")
        dur = retention_durations(tx, start, as_of, horizon_days, lookback_days)
        if segments is not None:
            seg0 = segments.name(f0["segment_code"]).reindex(dur.index).fillna("other")
        else:
            seg0 = _segment_rfm(f0).reindex(dur.index).map(RFM_BROAD_GROUPS).fillna("Other")
            groups_label = "customer group"
        curves, test = kaplan_meier(
            dur["duration_days"], dur["lapsed"], seg0, min_group_size=min_group_size
        )
        groups_label = f"{groups_label} on {start.date()}"
    except ValueError as exc:
        notes.append(f"Retention curves skipped: {exc}.")

    snaps = (
        train.groupby("snapshot_date")["lapsed"].agg(customers="size", lapsed="sum").reset_index()
    )
    snaps["lapse_rate"] = snaps["lapsed"] / snaps["customers"]
    snaps["role"] = np.where(snaps["snapshot_date"] == test_date, "test", "training")
    if len(dates) < 2:
        snaps["role"] = "training and test (out of fold)"
    result = ChurnResult(
        mode=MODE_NON_CONTRACTUAL,
        as_of_date=as_of,
        horizon_days=horizon_days,
        lookback_days=lookback_days,
        recent_days=recent_days,
        low_score=low,
        validation=validation,
        snapshots=snaps,
        metrics=metrics,
        holdout=holdout,
        chosen_model=chosen,
        choice_reason=reason,
        odds_ratios=odds,
        drivers=drivers,
        risk_ratios=risk,
        importance=importance,
        scores=scores,
        btyd=bt,
        survival_curves=curves,
        survival_test=test,
        survival_groups=groups_label,
        feature_names=feats,
        models=final,
        notes=notes,
        n_not_scored=n_not_scored,
    )
    result.records = records
    result.segments = segments
    result.candidate_scores = candidates
    result.score_odds_ratios = final[LOGIT].summary(recent_days=recent_days, low_score=low)
    result.models["drivers"] = driver_model
    return result


def contractual_labels(customers: pd.DataFrame, as_of_date: Any) -> pd.Series:
    """``churned`` per customer (from ``churned``, else ``churn_date`` on or before as-of)."""
    c = customers.drop_duplicates("customer_id").set_index("customer_id")
    if "churned" in c.columns and c["churned"].notna().any():
        lab = c["churned"].astype("boolean")
        if "churn_date" in c.columns:
            lab = lab.fillna(c["churn_date"].notna() if c["churn_date"].notna().any() else pd.NA)
        return lab.rename("churned")
    end = pd.Timestamp(as_of_date).normalize() + pd.Timedelta(days=1)
    return (c["churn_date"].notna() & (c["churn_date"] < end)).astype("boolean").rename("churned")


def _run_contractual(
    tables,
    as_of,
    *,
    horizon_days,
    lookback_days,
    n_bootstrap,
    random_state,
    recent_days,
    value_horizon_days,
    segment_column,
    max_train_rows,
    min_group_size,
    value_column,
    duration_column,
    n_folds,
) -> ChurnResult:
    from sklearn.model_selection import StratifiedKFold

    customers = tables["customers"]
    labels = contractual_labels(customers, as_of)
    X = attribute_features(customers, as_of)
    fb = tables.get("feedback")
    low = 2.5
    notes: list[str] = []
    if fb is not None and len(fb):
        low = low_score_threshold(fb["score"])
        ff = feedback_features(fb, as_of, recent_days=recent_days, low_score=low)
        X = _fill_feedback(X.join(ff, how="left"), list(ff.columns))
        notes.append(
            "Feedback is used up to the as-of date; feedback given after a customer "
            "left could flatter the model."
        )
    tx = tables.get("transactions")
    has_tx = not _is_empty(tx)
    if has_tx:
        notes.append(
            "Transaction history is not used as a churn feature in contractual mode "
            "(a leaver's purchases stop because they left, which would leak the answer); "
            "it feeds the BG/NBD value estimates."
        )
    feats = [c for c in X.columns if X[c].notna().any()]
    if not feats:
        raise ValueError("contractual churn needs customer attributes or feedback as features")
    known = labels.notna()
    ids = labels.index[known]
    Xl = X.reindex(ids)[feats]
    y = labels[known].astype(bool).to_numpy(dtype=int)
    if y.min() == y.max():
        raise ValueError("contractual churn needs both churned and retained customers")
    folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=random_state).split(Xl, y))
    oof = {LOGIT: np.zeros(len(y)), GBM: np.zeros(len(y))}
    for tr, te in folds:
        ms = _fit_pair(Xl.iloc[tr], y[tr], None, random_state)
        for k, m in ms.items():
            oof[k][te] = m.predict_proba(Xl.iloc[te])[:, 1]
    metrics = evaluate_models(y, oof, n_bootstrap, random_state)
    chosen, reason = choose_model(metrics)
    validation = (
        f"out of fold: {n_folds}-fold cross-fitting, every customer scored by models "
        "that never saw them"
    )
    holdout = pd.DataFrame({"y": y, **oof}, index=ids)
    importance = permutation_drivers(
        ms[chosen],
        Xl.iloc[te],
        y[te],
        random_state=random_state,
        recent_days=recent_days,
        low_score=low,
    )
    rng = np.random.default_rng(random_state)
    sub = _sample_rows(len(y), max_train_rows, rng)
    final = _fit_pair(Xl.iloc[sub], y[sub], None, random_state)
    odds = final[LOGIT].summary(recent_days=recent_days, low_score=low)
    drivers = driver_table(odds)
    risk = relative_risks(Xl[_flags_of(Xl)], y, recent_days=recent_days, low_score=low)

    scores = pd.DataFrame(index=X.index)
    scores["churn_probability"] = np.nan
    scores.loc[ids, "churn_probability"] = oof[chosen]
    unknown = labels.index[~known]
    if len(unknown):
        scores.loc[unknown, "churn_probability"] = final[chosen].predict_proba(
            X.reindex(unknown)[feats]
        )[:, 1]
    bt = None
    for c in ("p_alive", "expected_purchases", "expected_value"):
        scores[c] = np.nan
    if has_tx and _has_purchase(tx):
        bt = fit_btyd(tx, as_of, horizon_days=horizon_days, value_horizon_days=value_horizon_days)
        for c in ("p_alive", "expected_purchases", "expected_value"):
            scores[c] = bt.predictions[c].reindex(scores.index).to_numpy()
    c_idx = customers.drop_duplicates("customer_id").set_index("customer_id")
    if value_column:
        if value_column not in c_idx.columns:
            raise KeyError(f"value_column {value_column!r} is not a customers column")
        scores["expected_value"] = pd.to_numeric(c_idx[value_column], errors="coerce").reindex(
            scores.index
        )
    scores["value_at_risk"] = scores["churn_probability"] * scores["expected_value"]
    seg_col = segment_column if segment_column in c_idx.columns else None
    if seg_col is None and "segment" in c_idx.columns:
        seg_col = "segment"
    scores["segment"] = (
        c_idx[seg_col].reindex(scores.index).astype("str")
        if seg_col
        else pd.Series(pd.NA, index=scores.index, dtype="str")
    )
    scores["marketing_consent"] = _consent(customers, scores.index)
    scores["churned"] = labels.reindex(scores.index)
    for c in _flags_of(Xl):
        scores[c] = X[c].reindex(scores.index)

    # retention curves
    curves, test = pd.DataFrame(), {"chi2": np.nan, "df": np.nan, "p_value": np.nan}
    groups_label = seg_col or "all customers"
    dur = None
    if "signup_date" in c_idx.columns and c_idx["signup_date"].notna().any():
        end = (
            c_idx["churn_date"]
            if "churn_date" in c_idx.columns
            else pd.Series(pd.NaT, index=c_idx.index)
        )
        end = end.where(end.notna(), as_of)
        dur = (end - c_idx["signup_date"]).dt.days.astype(float)
        unit = "days"
    else:
        col = duration_column or ("tenure" if "tenure" in c_idx.columns else None)
        if col and col in c_idx.columns:
            dur = pd.to_numeric(c_idx[col], errors="coerce").astype(float)
            unit = col
    if dur is not None:
        ev = labels.reindex(dur.index)
        ok = dur.notna() & ev.notna() & (dur >= 0)
        grp = scores["segment"].reindex(dur.index)[ok] if seg_col else None
        curves, test = kaplan_meier(dur[ok], ev[ok].astype(int), grp, min_group_size=min_group_size)
        groups_label = str(groups_label)
    else:
        notes.append("Retention curves skipped: no sign-up date or tenure column.")
    snaps = pd.DataFrame(
        {
            "snapshot_date": [as_of],
            "role": ["labelled customers (out of fold)"],
            "customers": [len(y)],
            "lapsed": [int(y.sum())],
            "lapse_rate": [float(y.mean())],
        }
    )
    return ChurnResult(
        mode=MODE_CONTRACTUAL,
        as_of_date=as_of,
        horizon_days=horizon_days,
        lookback_days=lookback_days,
        recent_days=recent_days,
        low_score=low,
        validation=validation,
        snapshots=snaps,
        metrics=metrics,
        holdout=holdout,
        chosen_model=chosen,
        choice_reason=reason,
        odds_ratios=odds,
        drivers=drivers,
        risk_ratios=risk,
        importance=importance,
        scores=scores,
        btyd=bt,
        survival_curves=curves,
        survival_test=test,
        survival_groups=groups_label,
        feature_names=feats,
        survival_time_unit=unit if dur is not None else "days",
        models=final,
        notes=notes,
        n_not_scored=0,
    )


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


def action_list(
    result: ChurnResult,
    pseudonym_key: str,
    *,
    top_n: int = 25,
    min_probability: float = 0.5,
) -> pd.DataFrame:
    """Who to contact first: consenting, not yet churned customers at risk, by value at risk.

    Customers with unknown consent are left out (unknown consent is not consent). Ranked by
    ``value_at_risk`` (by ``churn_probability`` when no value is known). Ids are pseudonymised.
    Columns: ``rank``, ``customer``, ``segment``, ``churn_probability``, ``expected_value``,
    ``value_at_risk``, ``reasons`` (risk-raising drivers that apply to the customer).
    """
    from cxlib.privacy import pseudonymise

    s = result.scores.copy()
    if "churned" in s.columns:
        s = s.loc[~s["churned"].fillna(False).astype(bool)]
    consent = s["marketing_consent"]
    if consent.notna().any():
        s = s.loc[consent.fillna(False).astype(bool)]
    s = s.loc[s["churn_probability"] >= min_probability]
    key = "value_at_risk" if s["value_at_risk"].notna().any() else "churn_probability"
    s = s.assign(_id=s.index.astype(str))
    s = s.sort_values([key, "_id"], ascending=[False, True], kind="stable").head(top_n)
    raising = result.drivers.loc[result.drivers["estimate"] > 1, "term"]
    flags = [t for t in raising if t in s.columns]
    reasons = []
    for _, row in s.iterrows():
        r = [
            feature_label(f, recent_days=result.recent_days, low_score=result.low_score)
            for f in flags
            if row[f] == 1
        ]
        reasons.append("; ".join(r))
    out = pd.DataFrame(
        {
            "rank": np.arange(1, len(s) + 1),
            "customer": pseudonymise(pd.Series(s.index, index=s.index), pseudonym_key).to_numpy(),
            "segment": s["segment"].to_numpy(),
            "churn_probability": s["churn_probability"].to_numpy(),
            "expected_value": s["expected_value"].to_numpy(),
            "value_at_risk": s["value_at_risk"].to_numpy(),
            "reasons": reasons,
        }
    )
    return out


def segment_risk(result: ChurnResult, min_group_size: int = 10) -> pd.DataFrame:
    """Risk and value at risk by segment (groups under ``min_group_size`` suppressed).

    Columns: ``segment``, ``customers``, ``expected_lapsers`` (sum of probabilities),
    ``mean_churn_probability``, ``expected_value``, ``value_at_risk``, ``share_of_value_at_risk``.
    """
    from cxlib.privacy import suppress_small_groups

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
            "expected_value": g["expected_value"].sum(min_count=1),
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


def _money(x: float) -> str:
    return f"{x:,.0f}"


def churn_findings(result: ChurnResult, *, min_group_size: int = 10) -> list[tuple[str, bool]]:
    """Plain-language findings with numbers as ``(sentence, headline)`` pairs."""
    out: list[tuple[str, bool]] = []
    s = result.scores
    if "churned" in s.columns:
        s = s.loc[~s["churned"].fillna(False).astype(bool)]
    n = len(s)
    h = result.horizon_days
    exp_lapsers = float(s["churn_probability"].sum())
    if result.mode == MODE_NON_CONTRACTUAL:
        out.append(
            (
                f"Of {n:,} customers who bought in the last {result.lookback_days} days, about "
                f"{exp_lapsers:,.0f} ({exp_lapsers / max(n, 1):.1%}) are expected to make no purchase "
                f"in the next {h} days.",
                True,
            )
        )
    else:
        out.append(
            (
                f"Of {n:,} current customers, about {exp_lapsers:,.0f} "
                f"({exp_lapsers / max(n, 1):.1%}) are predicted to churn.",
                True,
            )
        )
    var_total = (
        float(s["value_at_risk"].sum(min_count=1))
        if s["value_at_risk"].notna().any()
        else float("nan")
    )
    if np.isfinite(var_total):
        ev_total = float(s["expected_value"].sum())
        top = s.sort_values("value_at_risk", ascending=False)
        k = max(1, int(np.ceil(0.1 * len(top))))
        share = float(top["value_at_risk"].iloc[:k].sum() / var_total) if var_total else np.nan
        out.append(
            (
                f"Value at risk is {_money(var_total)} ({var_total / ev_total:.1%} of the "
                f"{_money(ev_total)} expected from these customers); the 10% of customers with the "
                f"most value at risk hold {share:.0%} of it.",
                True,
            )
        )
    t = result.metrics[result.chosen_model].set_index("metric")
    out.append(
        (
            f"The {result.chosen_model} is used for the scores: judged {result.validation.split(':')[0]}"
            f", it ranks leavers with ROC AUC {t.loc['roc_auc', 'estimate']:.2f} (95% CI "
            f"{t.loc['roc_auc', 'ci_low']:.2f}–{t.loc['roc_auc', 'ci_high']:.2f}); the riskiest 10% "
            f"leave {t.loc['top_decile_lift', 'estimate']:.1f}× as often as the average customer.",
            False,
        )
    )
    # drivers: risk ratios of the significant risk-raising flags, in driver order
    rr = result.risk_ratios.set_index("feature") if len(result.risk_ratios) else None
    said = 0
    for _, d in result.drivers.iterrows():
        if rr is None or d["term"] not in rr.index or said >= 3:
            continue
        r = rr.loc[d["term"]]
        if r["customers_with"] < min_group_size or r["p_value"] >= 0.05:
            continue
        if (r["risk_ratio"] > 1) != (d["estimate"] > 1):
            continue  # raw and adjusted effects disagree: not a plain-language headline
        ratio = r["risk_ratio"]
        who = feature_phrase(d["term"], recent_days=result.recent_days, low_score=result.low_score)
        text = (
            f"Customers {who} are {ratio:.1f}× as likely to "
            f"{'lapse' if result.mode == MODE_NON_CONTRACTUAL else 'churn'} "
            f"({r['rate_with']:.0%} vs {r['rate_without']:.0%}; adjusted odds ratio "
            f"{d['estimate']:.2f}, 95% CI {d['ci_low']:.2f}–{d['ci_high']:.2f})."
        )
        if ratio < 1:
            text = (
                f"Customers {who} are less likely to "
                f"{'lapse' if result.mode == MODE_NON_CONTRACTUAL else 'churn'}: "
                f"{r['rate_with']:.0%} vs {r['rate_without']:.0%} (risk ratio {ratio:.2f}; "
                f"adjusted odds ratio {d['estimate']:.2f}, 95% CI {d['ci_low']:.2f}–"
                f"{d['ci_high']:.2f})."
            )
        out.append((text, said == 0))
        said += 1
    if said == 0 and len(result.drivers):
        d = result.drivers.iloc[0]
        out.append(
            (
                f"The strongest driver is {d['label']} (odds ratio {d['estimate']:.2f}, 95% CI "
                f"{d['ci_low']:.2f}–{d['ci_high']:.2f}, {d['per']}).",
                True,
            )
        )
    curves = result.survival_curves
    if len(curves) and np.isfinite(result.survival_test.get("p_value", np.nan)):
        p = result.survival_test["p_value"]
        ptxt = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
        last_t = float(curves["time"].max())
        ret = retention_at(curves, last_t)
        best, worst = ret.idxmax(), ret.idxmin()
        when = (
            f"after {last_t:,.0f} days"
            if result.survival_time_unit == "days"
            else f"at {_words(result.survival_time_unit)} {last_t:g}"
        )
        out.append(
            (
                f"Retention differs by {result.survival_groups} (log-rank {ptxt}): {when}, "
                f"{ret[best]:.0%} of '{best}' are still active vs {ret[worst]:.0%} of '{worst}'.",
                False,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Readable tables for the report
# ---------------------------------------------------------------------------------------------


def _ci(lo: float, hi: float, fmt: str = "{:.2f}") -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "n/a"
    return f"{fmt.format(lo)}–{fmt.format(hi)}"


def format_p(p: float) -> str:
    """A p-value for a report: ``< 0.001`` or three decimals."""
    if not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def setup_markdown(result: ChurnResult) -> str:
    """Markdown telling the reader how leaving was defined and how the models were checked."""
    if result.mode == MODE_NON_CONTRACTUAL:
        lines = [
            f"**Mode: non-contractual (retail).** A customer counts as *leaving* when they make no "
            f"purchase in the {result.horizon_days} days after a given date. We look only at "
            f"customers who bought at least once in the {result.lookback_days} days before that "
            "date.",
            f"**Checked {result.validation.split(': ', 1)[0]}.** The models were "
            f"{result.validation.split(': ', 1)[-1]}. Every feature uses only data from before its "
            "snapshot date, so nothing from the future leaks in.",
            f"**Scores** are for the {len(result.scores):,} customers active at "
            f"{result.as_of_date.date()}, using all data up to that date.",
        ]
        if result.n_not_scored:
            lines.append(
                f"{result.n_not_scored:,} earlier customers made no purchase in the last "
                f"{result.lookback_days} days; they have already lapsed and are not scored."
            )
    else:
        lines = [
            "**Mode: contractual (subscriptions).** The customer table says who has churned. "
            "Customer attributes (and feedback, when present) describe each customer.",
            f"**Checked out of fold.** {result.validation.split(': ', 1)[-1].capitalize()}, so no "
            "score comes from a model that saw that customer's outcome.",
        ]
    lines += result.notes
    return "\n\n".join(lines)


def snapshots_display(result: ChurnResult) -> pd.DataFrame:
    """The labelled snapshots: date, role, customers, share who left."""
    s = result.snapshots
    return pd.DataFrame(
        {
            "Snapshot": s["snapshot_date"].dt.strftime("%Y-%m-%d"),
            "Used for": s["role"],
            "Customers": s["customers"].astype(int),
            "Left": s["lapsed"].astype(int),
            "Share who left": (100 * s["lapse_rate"]).map("{:.1f}%".format),
        }
    )


def metrics_display(result: ChurnResult) -> pd.DataFrame:
    """Model comparison with 95% bootstrap CIs, the chosen model first."""
    rows = []
    for name, m in result.metrics.items():
        t = m.set_index("metric")

        def cell(k: str, fmt: str = "{:.3f}", t=t) -> str:
            est = fmt.format(t.loc[k, "estimate"])
            return f"{est} ({_ci(t.loc[k, 'ci_low'], t.loc[k, 'ci_high'], fmt)})"

        rows.append(
            {
                "Model": name,
                "Used for scores": "yes" if name == result.chosen_model else "",
                "ROC AUC (95% CI)": cell("roc_auc"),
                "PR AUC (95% CI)": cell("pr_auc"),
                "Brier score (95% CI)": cell("brier", "{:.4f}"),
                "Top-10% lift (95% CI)": cell("top_decile_lift", "{:.2f}"),
                "Customers": int(t.loc["roc_auc", "n"]),
            }
        )
    out = pd.DataFrame(rows)
    return out.sort_values("Used for scores", ascending=False, kind="stable").reset_index(drop=True)


def drivers_display(result: ChurnResult, top_n: int = 10) -> pd.DataFrame:
    """The top drivers (significant, not purchase-pattern) as a readable table."""
    d = result.drivers.head(top_n)
    return pd.DataFrame(
        {
            "Rank": d["rank"].astype(int),
            "Driver": d["label"],
            "Compared": d["per"],
            "Effect": d["direction"],
            "Odds ratio": d["estimate"].map("{:.2f}".format),
            "95% CI": [_ci(a, b) for a, b in zip(d["ci_low"], d["ci_high"], strict=True)],
            "p-value": d["p_value"].map(format_p),
        }
    )


def odds_ratios_display(result: ChurnResult, top_n: int = 20) -> pd.DataFrame:
    """The scoring logistic regression's terms (purchase pattern included), most significant
    first."""
    d = result.score_odds_ratios if result.score_odds_ratios is not None else result.odds_ratios
    d = d.head(top_n)
    return pd.DataFrame(
        {
            "Feature": d["label"],
            "Compared": d["per"],
            "Kind": np.where(d["term"].map(is_pattern_feature), "purchase pattern", "driver"),
            "Odds ratio": d["estimate"].map("{:.2f}".format),
            "95% CI": [_ci(a, b) for a, b in zip(d["ci_low"], d["ci_high"], strict=True)],
            "p-value": d["p_value"].map(format_p),
        }
    )


def risk_ratios_display(result: ChurnResult, min_group_size: int = 10) -> pd.DataFrame:
    """Share who left with vs without each yes/no trait (groups under ``min_group_size`` hidden)."""
    r = result.risk_ratios
    r = r.loc[r["customers_with"] >= min_group_size]
    return pd.DataFrame(
        {
            "Customers ...": [
                feature_phrase(f, recent_days=result.recent_days, low_score=result.low_score)
                for f in r["feature"]
            ],
            "Customers": r["customers_with"].astype(int),
            "Left (with)": (100 * r["rate_with"]).map("{:.1f}%".format),
            "Left (without)": (100 * r["rate_without"]).map("{:.1f}%".format),
            "Risk ratio": r["risk_ratio"].map("{:.2f}".format),
            "95% CI": [_ci(a, b) for a, b in zip(r["ci_low"], r["ci_high"], strict=True)],
            "p-value": r["p_value"].map(format_p),
        }
    )


def btyd_display(result: ChurnResult) -> pd.DataFrame:
    """BG/NBD and Gamma-Gamma parameters with standard errors and 95% CIs."""
    if result.btyd is None:
        return pd.DataFrame()
    meaning = {
        "r": "shape of purchase rates across customers",
        "alpha": "scale of purchase rates (weeks)",
        "a": "dropout probability: Beta a",
        "b": "dropout probability: Beta b",
        "p": "shape of spend per purchase",
        "q": "shape of customers' average spend",
        "gamma": "scale of customers' average spend",
    }
    frames = [("BG/NBD", result.btyd.bgnbd.summary())]
    if result.btyd.gamma_gamma is not None:
        frames.append(("Gamma-Gamma", result.btyd.gamma_gamma.summary()))
    rows = []
    for model, t in frames:
        for name, r in t.iterrows():
            if str(name).startswith("dropout: "):
                what = feature_label(str(name)[len("dropout: ") :])
                text = f"dropout multiplier for {what} (std. error of its log)"
            elif str(name).startswith("purchase rate: "):
                what = str(name)[len("purchase rate: ") :]
                text = f"purchase-rate multiplier for {what} (std. error of its log)"
            else:
                text = meaning.get(str(name), "")
            rows.append(
                {
                    "Model": model,
                    "Parameter": name,
                    "Meaning": text,
                    "Estimate": f"{r['estimate']:.3f}",
                    "Std. error": f"{r['std_err']:.3f}",
                    "95% CI": _ci(r["ci_low"], r["ci_high"], "{:.3f}"),
                }
            )
    return pd.DataFrame(rows)


def segment_risk_display(result: ChurnResult, min_group_size: int = 10) -> pd.DataFrame:
    """:func:`segment_risk` with readable columns."""
    t = segment_risk(result, min_group_size)
    out = pd.DataFrame(
        {
            "Segment": t["segment"],
            "Customers": t["customers"].astype(int),
            "Expected to leave": t["expected_lapsers"].round().astype(int),
            "Average risk": (100 * t["mean_churn_probability"]).map("{:.1f}%".format),
        }
    )
    if t["value_at_risk"].notna().any():
        out["Expected value"] = t["expected_value"].map("{:,.0f}".format)
        out["Value at risk"] = t["value_at_risk"].map("{:,.0f}".format)
        out["Share of value at risk"] = (100 * t["share_of_value_at_risk"]).map("{:.1f}%".format)
    out.attrs["suppressed_groups"] = t.attrs.get("suppressed_groups", 0)
    return out


def action_list_display(actions: pd.DataFrame) -> pd.DataFrame:
    """:func:`action_list` with readable columns."""
    out = pd.DataFrame(
        {
            "Rank": actions["rank"],
            "Customer (pseudonym)": actions["customer"],
            "Segment": actions["segment"],
            "Risk of leaving": (100 * actions["churn_probability"]).map("{:.0f}%".format),
        }
    )
    if actions["value_at_risk"].notna().any():
        out["Expected value"] = actions["expected_value"].map("{:,.0f}".format)
        out["Value at risk"] = actions["value_at_risk"].map("{:,.0f}".format)
    out["Why (drivers that apply)"] = actions["reasons"].replace("", "—")
    return out


def survival_sentence(result: ChurnResult) -> str:
    """The log-rank test result in one sentence."""
    t = result.survival_test
    if not np.isfinite(t.get("p_value", np.nan)):
        return "Only one group is large enough to show, so there is no test between groups."
    return (
        f"Log-rank test across {int(t['groups'])} groups: chi-square {t['chi2']:,.1f} on "
        f"{int(t['df'])} degrees of freedom, p {format_p(t['p_value'])}."
    )


def btyd_segments_display(result: ChurnResult) -> pd.DataFrame:
    """The BG/NBD fitted within each behavioural segment (customers, mean purchase rate per week
    and dropout effects of the covariates), for the report."""
    if result.btyd is None or result.btyd.strata is None:
        return pd.DataFrame()
    t = result.btyd.strata_table()
    names = result.segments.names if result.segments is not None else {}
    out = pd.DataFrame(
        {
            "Segment": [
                names.get(int(k), str(k)) if str(k).isdigit() else str(k) for k in t["stratum"]
            ],
            "Customers": t["customers"].astype(int),
            "Own model": np.where(t["own_model"], "yes", "no (all customers)"),
            "Purchases per week while active (mean)": (t["r"] / t["alpha"]).map("{:.2f}".format),
            "Dropout after a purchase (mean)": (t["a"] / (t["a"] + t["b"])).map("{:.3f}".format),
        }
    )
    for c in [c for c in t.columns if c.startswith("dropout x ")]:
        out[f"Dropout × {feature_label(c[len('dropout x ') :])}"] = t[c].map(
            lambda v: "n/a" if not np.isfinite(v) else f"{v:.2f}"
        )
    return out
