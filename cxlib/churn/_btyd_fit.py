"""BG/NBD and Gamma-Gamma fitted at a date (per behavioural segment), and the behavioural
segments used as strata."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cxlib.churn._bgnbd import FREQ_DAYS, BetaGeoModel, fit_stratified_bgnbd
from cxlib.churn._common import MAX_BTYD_FIT_CUSTOMERS
from cxlib.churn._gamma_gamma import GammaGammaModel
from cxlib.churn._labels import _purchases, purchase_days
from cxlib.churn._season import SeasonalClock, seasonal_clock, warp_summary
from cxlib.churn._summary import summary_from_transactions
from cxlib.engine import Engine, as_table, engine_for

log = logging.getLogger(__name__)


@dataclass
class BTYDFit:
    """BG/NBD and Gamma-Gamma fitted at one date, with per-customer predictions.

    ``bgnbd`` is the model fitted on all customers (reported); when ``strata`` were given,
    ``stratum_models`` holds the BG/NBD fitted within each stratum that is large enough, and the
    predictions come from the customer's stratum model (else from the pooled one). ``clock`` is
    the yearly cycle of purchases the models ran on (:func:`seasonal_clock`; ``rfm`` then holds
    recency and ``T`` in seasonal time), None without a clear cycle.
    """

    bgnbd: BetaGeoModel | None
    gamma_gamma: GammaGammaModel | None
    rfm: pd.DataFrame
    predictions: pd.DataFrame
    stratum_models: dict[str, BetaGeoModel] = field(default_factory=dict)
    strata: pd.Series | None = None
    fit_customers: int | None = None
    clock: SeasonalClock | None = None

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
            d = pd.get_dummies(s.astype("str").where(s.notna(), "missing"), dtype=float)
            d = d.drop(columns=[d.sum().idxmax()]) if d.shape[1] else d
            # named "column[level]", the form churn's labels turn into "column = level"
            cols.update({f"{c}[{k}]": v for k, v in d.items()})
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
    transactions: Any,
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
    *,
    engine: Engine | None = None,
) -> BTYDFit:
    """Fit BG/NBD and Gamma-Gamma on purchases up to ``as_of_date`` and predict per customer.

    Returns predictions indexed by ``customer_id``: ``p_alive``, ``bgnbd_p_lapse`` (probability
    of no purchase in the next ``horizon_days``), ``expected_purchases`` (next ``horizon_days``),
    ``expected_value`` (expected spend in the next ``value_horizon_days``) and ``value_if_alive``
    (spend in the next ``horizon_days`` had the customer not dropped out: the pace of their
    purchases while buying, :meth:`BetaGeoModel.purchase_rate_if_dropped`, x ``horizon_days``
    x Gamma-Gamma spend per purchase; what is lost if they have dropped out), both only when
    ``with_value``, which also fits the Gamma-Gamma model on all customers;
    ``purchase_interval_days`` (the mean gap between the customer's purchase days; missing with
    a single purchase day).

    ``strata`` (customer_id -> label, e.g. the behavioural segment) fits one BG/NBD per stratum of
    at least ``min_stratum_size`` customers (others use the model of all customers): segments
    buy and drop out at different rates, which one population-wide model blurs. ``covariates``
    (customer_id-indexed 0/1 columns such as ``complained``) shift each customer's dropout
    (:class:`cxlib.churn.BetaGeoModel` with covariates); a covariate is used in a stratum when at
    least 10 customers there have each value. ``rate_covariates`` (customer_id-indexed numeric
    columns, e.g. :func:`rate_covariate_design` of the customer attributes) shift each customer's
    purchase rate in the same way (``alpha_i = alpha * exp(-w_i' gamma)``; customers without
    a row get 0). With ``shared_effects`` (default) the strata's models are fitted jointly
    (:func:`cxlib.churn.fit_stratified_bgnbd`): each stratum has its own ``r, alpha, a, b`` and
    the covariate effects are common to all strata, estimated from all their customers (a
    covariate is then used when at least 10 of them have each value); ``shared_effects=False``
    fits each stratum on its own. With more than ``max_fit_customers`` customers, the BG/NBD
    parameters are estimated on a random sample of that many (seeded by ``random_state``) and
    the predictions are made for every customer (``fit_customers`` of the result says how many
    were used; None: all). ``pooled=False`` skips the model of all customers
    when every customer has a stratum model (``bgnbd`` is then None; for throw-away fits such as
    the training snapshots', whose predictions it would not change). The purchase
    summary per customer is aggregated in the backend (a pandas frame is registered on
    ``engine``, or on an engine opened for the call), from the purchase days the ``engine`` keeps.
    """
    with engine_for(transactions, engine) as engine:
        return _fit_btyd(
            as_table(transactions, engine),
            as_of_date,
            horizon_days,
            value_horizon_days,
            freq,
            with_value,
            strata,
            covariates,
            min_stratum_size,
            pooled,
            rate_covariates,
            shared_effects,
            max_fit_customers,
            random_state,
            engine,
        )


def _fit_btyd(
    transactions,
    as_of_date,
    horizon_days,
    value_horizon_days,
    freq,
    with_value,
    strata,
    covariates,
    min_stratum_size,
    pooled,
    rate_covariates,
    shared_effects,
    max_fit_customers,
    random_state,
    engine: Engine | None,
) -> BTYDFit:
    """The work of :func:`fit_btyd` on a table of a backend."""
    tx = _purchases(transactions)
    rfm, interval, clock, (h, h_value) = _summary_at(
        transactions, tx, as_of_date, freq, (horizon_days, value_horizon_days), engine
    )
    Z = None
    if covariates is not None and covariates.shape[1]:
        Z = covariates.reindex(rfm.index).astype(float).fillna(0.0)
    R = None
    if rate_covariates is not None and rate_covariates.shape[1]:
        R = rate_covariates.reindex(rfm.index).astype(float).fillna(0.0)
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
        cols += ["_purchases_value_horizon", "_purchases_if_stayed"]
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
                m.expected_purchases(h_value, x, tx_, T, zc, rc), dtype=float
            )
            values["_purchases_if_stayed"][pos] = h * np.asarray(
                m.purchase_rate_if_dropped(x, tx_, T, zc, rc), dtype=float
            )
    pred = pd.DataFrame(values, index=rfm.index)
    pred["purchase_interval_days"] = interval
    if not with_value:
        return BTYDFit(bg, None, rfm, pred, models, st, n_fit, clock)
    gg, avg_value = _spend_per_purchase(rfm, tx)
    pred["expected_value"] = pred.pop("_purchases_value_horizon") * avg_value
    pred["value_if_alive"] = pred.pop("_purchases_if_stayed") * avg_value
    return BTYDFit(bg, gg, rfm, pred, models, st, n_fit, clock)


def _summary_at(transactions, tx, as_of_date, freq, horizons, engine):
    """The RFM summary the models run on at ``as_of_date``, the calendar purchase interval, the
    seasonal clock (None without a clear yearly cycle) and ``horizons`` (days) in model time:
    ``(rfm, interval, clock, horizons)``."""
    unit = FREQ_DAYS[freq]
    # the purchase days, kept for all dates
    days = purchase_days(transactions, engine)
    rfm = summary_from_transactions(tx, as_of_date, freq=freq, daily_totals=days)
    # data through the END of the as-of day counts: the customer has been observed one day more
    # than the date difference (the forecast window starts the day after)
    rfm["T"] = rfm["T"] + 1.0 / unit
    # the typical gap between purchase days (unknown with a single purchase day)
    with np.errstate(divide="ignore", invalid="ignore"):
        interval = np.where(rfm["frequency"] > 0, rfm["recency"] * unit / rfm["frequency"], np.nan)
    # a clear yearly cycle: the models run on seasonal time (a quiet season is not dropout)
    end = (pd.Timestamp(as_of_date).normalize() - pd.Timestamp("1970-01-01")).days + 1
    clock = seasonal_clock(days, end - 1)
    if clock is None:
        return rfm, interval, None, tuple(d / unit for d in horizons)
    model_h = tuple(float(clock.elapsed(end, end + d)) / unit for d in horizons)
    return warp_summary(rfm, clock, unit), interval, clock, model_h


def _spend_per_purchase(rfm: pd.DataFrame, tx) -> tuple[GammaGammaModel | None, np.ndarray]:
    """The Gamma-Gamma model and each customer's expected spend per purchase (each customer's
    own mean spend when the model cannot be fitted: ``(None, means)``)."""
    x = rfm["frequency"]
    try:
        gg = GammaGammaModel().fit(x, rfm["monetary_value"])
        return gg, np.asarray(gg.expected_average_value(x, rfm["monetary_value"]))
    except ValueError as exc:
        log.warning("Gamma-Gamma not fitted (%s); using each customer's mean spend", exc)
        means = tx.group_by("customer_id").aggregate(_m=tx.amount.mean()).to_pandas()
        first_day_mean = means.set_index("customer_id")["_m"].reindex(rfm.index)
        return None, np.asarray(np.where(x > 0, rfm["monetary_value"], first_day_mean))


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


@dataclass
class SeriesBehaviourSegments(BehaviourSegments):
    """The series' behavioural segments at their own analysis date: customers segmented there
    keep their segment (``known``, cluster numbers by id); others are assigned by ``segmenter``."""

    known: pd.Series = field(default_factory=lambda: pd.Series(dtype="Int64"))

    def assign(self, features: pd.DataFrame) -> pd.Series:
        """Cluster number of each customer: the series' own, else the nearest segment."""
        codes = self.known.reindex(features.index.astype("str"))
        missing = codes.isna().to_numpy()
        out = pd.Series(0, index=features.index, name="segment_code", dtype="int64")
        if missing.any():
            out[missing] = super().assign(features.loc[missing]).to_numpy()
        out[~missing] = codes[~missing].astype("int64").to_numpy()
        return out


def series_behaviour_segments(series: Any) -> BehaviourSegments | None:
    """:class:`SeriesBehaviourSegments` of a :class:`cxlib.segment.SeriesSegments` (None when
    it has no behavioural segments)."""
    if series is None or not series.behavioural:
        return None
    return SeriesBehaviourSegments(
        series.segmenter, dict(series.names), series.as_of_date, known=series.codes()
    )


def segments_from_series(
    series: Any,
    features: pd.DataFrame,
    as_of_date: Any,
    *,
    lookback_days: int = 365,
    random_state: int | None = None,
) -> BehaviourSegments | None:
    """The series' behavioural segments learnt again from data up to ``as_of_date``.

    The churn models are judged on earlier snapshots, so the segments they use must not come
    from later data: k-means is fitted again on the customers active at ``as_of_date`` (their
    :func:`cxlib.features.customer_features` in ``features``) with the same columns and number
    of segments as ``series`` (a :class:`cxlib.segment.SeriesSegments`), and each new cluster
    takes the name of the series segment whose centre is nearest (a one-to-one assignment in the
    series' scaled space), so every report uses the series' names. None when ``series`` has no
    behavioural segments or there are too few customers.
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    from cxlib.segment import BehaviouralSegmenter

    if series is None or not series.behavioural:
        return None
    k = len(series.names)
    columns = list(series.segmenter.feature_names_in_)
    f = features.loc[features["recency_days"] < lookback_days] if len(features) else features
    if len(f) < max(50, 2 * k + 1):
        return None
    f = f.reindex(columns=list(dict.fromkeys([*f.columns, *columns])), fill_value=0.0)
    seg = BehaviouralSegmenter(k_range=[k], features=columns, random_state=random_state).fit(f)
    z = series.segmenter.transform(f)
    labels = np.asarray(seg.labels_)
    own = sorted(set(labels.tolist()))
    means = np.vstack([z[labels == c].mean(axis=0) for c in own])
    ref = series.segmenter.cluster_centers_
    rows, cols = linear_sum_assignment(cdist(means, series.segmenter.transform(ref)))
    names = {int(own[r]): series.names[int(ref.index[c])] for r, c in zip(rows, cols, strict=True)}
    return BehaviourSegments(seg, names, pd.Timestamp(as_of_date).normalize())
