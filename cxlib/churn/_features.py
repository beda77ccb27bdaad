"""Churn features: feedback, customer attributes, snapshot features, the training set and
the plain-language names of features."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from cxlib.churn._btyd_fit import BehaviourSegments, BTYDFit, fit_btyd, rate_covariate_design
from cxlib.churn._common import FEATURE_LABELS, NON_FEATURE_COLUMNS
from cxlib.churn._labels import (
    _min_timestamp,
    lapse_labels,
    snapshot_dates,
    tables_on,
)
from cxlib.engine import Engine, analysis_day, as_table, data_end, engine_for, is_table
from cxlib.report import name_words

log = logging.getLogger(__name__)


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
    ends: pd.Series | None = None,
) -> pd.DataFrame:
    """Feedback-derived drivers per customer, from feedback up to the end of ``as_of_date``
    (or, for the customers in ``ends``, before their own cut-off ``ends[customer_id]``, e.g. the
    day a contract customer left; the recent window then ends there too).

    Returns a frame indexed by ``customer_id`` with ``feedback_count``, ``score_given`` (at
    least one score), ``mean_score``, ``last_score``, ``low_satisfaction`` (mean score below
    ``low_score``, default :func:`low_score_threshold` of the answers up to the date; scores of answers flagged as complaints are left out of these four; every
    answer up to the date counts, not only a recent window) and, when the table has
    ``complaint``, ``complained`` (at least one complaint so far) and ``complaint_recent`` (a
    complaint in the last ``recent_days`` days).

    ``low_satisfaction`` is 0 both for satisfied customers and for customers who gave no score;
    models that compare it should also hold ``score_given`` (the drivers model does), else
    "low score" is compared with "no score", and customers who answer surveys are the frequent
    buyers.
    """
    end = data_end(as_of_date)
    fb = feedback.loc[feedback["timestamp"] < end]
    ends_fb = pd.Series(end, index=fb.index)
    if ends is not None:
        ends_fb = fb["customer_id"].map(ends).fillna(end).clip(upper=end)
        fb, ends_fb = fb.loc[fb["timestamp"] < ends_fb], ends_fb.loc[fb["timestamp"] < ends_fb]
    threshold = low_score_threshold(fb["score"]) if low_score is None else float(low_score)
    if fb.empty:
        return pd.DataFrame(index=pd.Index([], name="customer_id", dtype="str"))
    fb = fb.sort_values(["customer_id", "timestamp"], kind="stable")
    ends_fb = ends_fb.loc[fb.index]
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
        recent = comp & (fb["timestamp"] >= ends_fb - pd.Timedelta(days=int(recent_days)))
        out["complaint_recent"] = (
            recent.groupby(fb["customer_id"]).any().reindex(out.index).astype(float)
        )
    out.index.name = "customer_id"
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
    d = analysis_day(as_of_date) if as_of_date is not None else None
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
    channel_roles: Mapping[str, str] | None = None,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Features at ``snapshot_date`` for customers with a purchase in the look-back window.

    Uses only data up to the end of the snapshot day: :func:`cxlib.features.customer_features`,
    ``no_app_use`` (when an ``app`` channel exists), :func:`feedback_features`,
    :func:`attribute_features` and ``bgnbd_p_lapse`` from BG/NBD models fitted on data up to the
    snapshot, one per behavioural segment when ``segments`` is given, with ``complained`` and
    ``no_app_use`` as dropout covariates. ``segment_code`` (the behavioural segment) is added when
    ``segments`` is given; it is
    a label, not a model feature. With ``value_horizon_days`` the BG/NBD fit has Gamma-Gamma
    values (:func:`snapshot_features_and_btyd` also returns the :class:`BTYDFit` used). ``tables["transactions"]`` is a
    table of a backend or a pandas frame (registered on ``engine``, or on an engine opened for
    the call); ``features`` may hold its ``customer_features`` at the snapshot already computed
    (not modified).
    """
    return snapshot_features_and_btyd(**locals())[0]


def snapshot_features_and_btyd(
    tables: Mapping[str, Any],
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
    channel_roles: Mapping[str, str] | None = None,
    engine: Engine | None = None,
) -> tuple[pd.DataFrame, BTYDFit | None]:
    """:func:`snapshot_features` and the :class:`BTYDFit` behind ``bgnbd_p_lapse`` (None without
    one)."""
    from cxlib.features import customer_features

    args = {k: v for k, v in locals().items() if k != "customer_features"}
    if engine is None and not is_table(tables["transactions"]):
        with Engine() as local:
            return snapshot_features_and_btyd(**{**args, "engine": local})
    d = analysis_day(snapshot_date)
    tx = as_table(tables["transactions"], engine)
    feats_all = (
        customer_features(tx, d, lookback_days=lookback_days, engine=engine)
        if features is None
        else features.copy()
    )
    app_cols = app_channel_columns(feats_all.columns, channel_roles)
    if app_cols:
        feats_all["no_app_use"] = (feats_all[app_cols].sum(axis=1) <= 0).astype(float)
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
                engine=engine,
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
    return feats, bt


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
    channel_roles: Mapping[str, str] | None = None,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Stack labelled snapshots: one row per (snapshot, active customer).

    Columns: ``snapshot_date``, ``customer_id``, the features of :func:`snapshot_features` and
    ``lapsed`` (no purchase in the ``horizon_days`` after the snapshot). ``features`` maps
    snapshot dates to ``customer_features`` already computed at them. A pandas transactions
    frame is registered on ``engine`` (or on an engine opened for the call).
    """
    with engine_for(tables["transactions"], engine) as engine:
        return _training_set(
            tables_on(tables, engine),
            as_of_date,
            horizon_days=horizon_days,
            lookback_days=lookback_days,
            n_snapshots=n_snapshots,
            spacing_days=spacing_days,
            recent_days=recent_days,
            include_btyd=include_btyd,
            low_score=low_score,
            segments=segments,
            features=features,
            channel_roles=channel_roles,
            engine=engine,
        )


def _training_set(
    tables,
    as_of_date,
    *,
    horizon_days,
    lookback_days,
    n_snapshots,
    spacing_days,
    recent_days,
    include_btyd,
    low_score,
    segments,
    features,
    channel_roles,
    engine,
):
    """:func:`build_training_set` with the transactions in the backend."""
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
            channel_roles=channel_roles,
            engine=engine,
        )
        f["lapsed"] = lapse_labels(tx, s, horizon_days, f.index, engine=engine).to_numpy()
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


def feature_columns(
    frame: pd.DataFrame, channel_roles: Mapping[str, str] | None = None
) -> list[str]:
    """Model feature columns of a training/scoring frame (everything but ids, the label, the
    segment code and the shares of the app channels, which ``no_app_use`` stands for)."""
    drop = {"snapshot_date", "customer_id", "lapsed", "churned", "segment_code"}
    drop |= set(app_channel_columns(frame.columns, channel_roles))
    return [c for c in frame.columns if c not in drop]


#: Default ``churn.channel_roles``: channels whose purchases count as app use (exact names,
#: compared case-insensitively after :func:`cxlib.features.label_key`).
DEFAULT_CHANNEL_ROLES: dict[str, str] = {
    "app": "app",
    "ios": "app",
    "android": "app",
    "mobile": "app",
}


def _channel_key(name: str) -> str:
    from cxlib.features import CHANNEL_SYNONYMS, label_key

    key = label_key(name)
    return CHANNEL_SYNONYMS.get(key, key)


def app_channel_columns(columns: Any, channel_roles: Mapping[str, str] | None = None) -> list[str]:
    """The ``channel_share_<channel>`` columns of the channels whose role is ``app`` in
    ``channel_roles`` (default :data:`DEFAULT_CHANNEL_ROLES`). A channel matches a mapped name
    exactly, ignoring case and punctuation (``"iOS"`` matches ``ios``, ``"iOS App"`` does not)."""
    roles = DEFAULT_CHANNEL_ROLES if channel_roles is None else channel_roles
    keys = {_channel_key(k) for k, r in roles.items() if str(r).strip().lower() == "app"}
    prefix = "channel_share_"
    return [c for c in columns if str(c).startswith(prefix) and c[len(prefix) :] in keys]


def app_use_note(columns: Any, channel_roles: Mapping[str, str] | None = None) -> str:
    """The report's sentence on how app use was recognised (or why it was not)."""
    prefix = "channel_share_"
    channels = sorted(c[len(prefix) :] for c in columns if str(c).startswith(prefix))
    if not channels:
        return "The purchases have no channel, so app use is not among the drivers."
    app = [c[len(prefix) :] for c in app_channel_columns(columns, channel_roles)]
    source = (
        "the default roles of `churn.channel_roles` (app, ios, android, mobile → app)"
        if channel_roles is None
        else "`churn.channel_roles`"
    )
    if app:
        return (
            f"App use (whether a customer ever bought in the app) is recognised from the "
            f"channel(s) {', '.join(app)}, mapped to `app` by {source}."
        )
    return (
        f"No channel of the data ({', '.join(channels)}) has the role `app` in {source}, so app "
        "use is not among the drivers; map your app channels in `churn.channel_roles` to "
        "include it."
    )


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
    return name_words(name)


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


def exposure_phrases(
    column: str, exposed: Any, reference: Any, *, recent_days: int = 90, low_score: float = 2.5
) -> tuple[str, str, str]:
    """How a driver's higher-risk state reads: ``(who, others, short)``, e.g. ``("with contract =
    Month-to-month", "those with Two year", "contract = Month-to-month")`` for a text column, or
    ``("who have a complaint on record", "the others", "a complaint on record")`` for a flag."""
    kw = {"recent_days": recent_days, "low_score": low_score}
    if isinstance(exposed, str):
        name = _words(column)
        return f"with {name} = {exposed}", f"those with {reference}", f"{name} = {exposed}"
    label = feature_label(column, **kw)
    if exposed == 1:
        return feature_phrase(column, **kw), "the others", label
    return f"with {label} = no", "those with yes", f"{label}: no"
