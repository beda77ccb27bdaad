"""Non-contractual churn (retail): out-of-time validation on labelled snapshots."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cxlib.churn._btyd_fit import segments_from_series, series_behaviour_segments
from cxlib.churn._common import (
    BGNBD,
    BLEND,
    GBM,
    LOGIT,
    MAX_EVAL_ROWS,
    MODE_NON_CONTRACTUAL,
    RFM_BROAD_GROUPS,
    VALUE_COLUMNS,
    is_pattern_feature,
)
from cxlib.churn._evaluate import (
    choose_model,
    evaluate_models,
    permutation_drivers,
    relative_risks,
)
from cxlib.churn._features import (
    app_use_note,
    build_training_set,
    feature_columns,
    low_score_threshold,
    snapshot_features_and_btyd,
)
from cxlib.churn._labels import _min_timestamp, _ts, snapshot_dates
from cxlib.churn._prepare import (
    _DRIVER_MODEL_SKIP,
    DRIVER_CONTROLS,
    _attribute_columns,
    _consent,
    _drop_orphans,
    _fit_pair,
    _flags_of,
    _sample_rows,
    _segment_rfm,
    _with_driver_columns,
    fit_drivers,
    logit_feature_columns,
    people_tables,
)
from cxlib.churn._result import ChurnResult
from cxlib.churn._survival import kaplan_meier, retention_durations
from cxlib.engine import data_end

log = logging.getLogger(__name__)


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
    channel_roles=None,
    series=None,
    engine=None,
) -> ChurnResult:
    rng = np.random.default_rng(random_state)
    notes: list[str] = []
    tables, records, low, segments, train = _training(
        tables,
        as_of,
        notes,
        series=series,
        n_snapshots=n_snapshots,
        master_map=master_map,
        horizon_days=horizon_days,
        lookback_days=lookback_days,
        random_state=random_state,
        recent_days=recent_days,
        channel_roles=channel_roles,
        engine=engine,
    )
    notes.append(app_use_note(train.columns, channel_roles))
    tx = tables["transactions"]
    feats = feature_columns(train, channel_roles)
    if segments is not None:
        train["segment"] = segments.name(train["segment_code"]).to_numpy()
    logit_feats = logit_feature_columns(feats, segments is not None)
    cols = list(dict.fromkeys([*feats, *logit_feats]))
    pair_kw = dict(logit_features=logit_feats, gbm_features=feats)
    j = _judge(
        train,
        feats,
        logit_feats,
        notes,
        rng,
        horizon_days=horizon_days,
        max_eval_rows=max_eval_rows,
        max_train_rows=max_train_rows,
        n_bootstrap=n_bootstrap,
        random_state=random_state,
        recent_days=recent_days,
        low=low,
    )
    y_all, groups_all, chosen = j["y_all"], j["groups_all"], j["chosen"]
    snapshot_idx, dates = j["snapshot_idx"], j["dates"]

    # final models on every labelled snapshot, scores at the as-of date with all data
    sub = _sample_rows(len(train), max_train_rows, rng)
    final = _fit_pair(train.iloc[sub][cols], y_all[sub], groups_all[sub], random_state, **pair_kw)
    # the drivers model: what goes with lapsing among customers with the same purchase
    # frequency, recency and tenure (not levers), without the behavioural segments
    train["log_purchases"] = np.log1p(train["frequency"].astype(float))
    driver_feats = [
        f for f in logit_feats if not is_pattern_feature(f) and f not in _DRIVER_MODEL_SKIP
    ]
    driver_model, odds, drivers = fit_drivers(
        train.iloc[sub],
        y_all[sub],
        features=driver_feats,
        controls=DRIVER_CONTROLS,
        groups=groups_all[sub],
        as_of_today=_attribute_columns(tables),
        random_state=random_state,
        recent_days=recent_days,
        low_score=low,
    )
    latest = train.iloc[snapshot_idx]
    risk = relative_risks(
        latest[_flags_of(latest[feats])], latest["lapsed"], recent_days=recent_days, low_score=low
    )

    # at the as-of date: the series' own segments (notebook 02's), as strata and labels
    segments_now = series_behaviour_segments(series) if segments is not None else None
    now, bt = snapshot_features_and_btyd(
        tables,
        as_of,
        lookback_days=lookback_days,
        horizon_days=horizon_days,
        recent_days=recent_days,
        low_score=low,
        segments=segments_now,
        value_horizon_days=value_horizon_days,
        channel_roles=channel_roles,
        engine=engine,
    )
    if bt is not None and bt.fit_customers is not None:
        notes.append(
            f"The BG/NBD parameters (and their standard errors) are estimated on a random sample "
            f"of {bt.fit_customers:,} of the {len(bt.rfm):,} customers with purchases; P(alive), "
            "expected purchases and values are computed for every customer."
        )
    if bt is not None and bt.clock is not None:
        cycle = bt.clock.describe()
        notes.append(
            f"{cycle[0].upper()}{cycle[1:]} (statsmodels Poisson regression of weekly "
            f"purchases, p < 0.001). The BG/NBD measures time in seasonal volume, so that a quiet "
            "season is not read as customers dropping out."
        )
    for c in feats:
        if c not in now.columns:
            now[c] = 0.0 if ("_share_" in c or c == "no_app_use") else np.nan
    share_cols = [c for c in now.columns if "_share_" in c or c == "no_app_use"]
    now[share_cols] = now[share_cols].fillna(0.0)
    if segments_now is not None:
        now["segment"] = segments_now.name(now["segment_code"]).to_numpy()
    candidates = pd.DataFrame(
        {k: m.predict_proba(now[cols])[:, 1] for k, m in final.items()}, index=now.index
    )
    if "bgnbd_p_lapse" in now.columns:
        candidates[BGNBD] = now["bgnbd_p_lapse"].to_numpy(dtype=float)
        candidates[BLEND] = 0.5 * (candidates[GBM] + candidates[BGNBD])
    scores = pd.DataFrame(index=now.index)
    scores["churn_probability"] = candidates[chosen]
    for c in VALUE_COLUMNS:
        scores[c] = bt.predictions[c].reindex(now.index).to_numpy()
    # the expected loss over the horizon: P(dropped out) x what they would spend if still alive
    scores["value_at_risk"] = (1.0 - scores["p_alive"]) * scores["value_if_alive"]
    customers = tables.get("customers")
    if segment_column and customers is not None and segment_column in customers.columns:
        seg = customers.drop_duplicates("customer_id").set_index("customer_id")[segment_column]
        scores["segment"] = seg.reindex(now.index).astype("str")
        segment_label = str(segment_column)
    elif series is not None:
        scores["segment"] = series.label(now.index).fillna("not segmented").to_numpy()
        segment_label = series.kind
        notes.append(series.describe())
    else:
        scores["segment"] = _segment_rfm(now)
        segment_label = "RFM segment"
    scores["marketing_consent"] = _consent(customers, now.index)
    for c in _flags_of(now[feats]):
        scores[c] = now[c]
    scores = _with_driver_columns(scores, now, drivers)
    if bt is not None:  # the BG/NBD summary at the as-of date: every buyer up to it
        all_buyers = len(bt.rfm)
    else:
        bought = tx.filter((tx.amount > 0) & (tx.timestamp < _ts(data_end(as_of))))
        all_buyers = int(bought.customer_id.nunique().execute())
    n_not_scored = int(all_buyers - len(scores))

    curves, test, groups_label = _survival(
        train,
        tx,
        as_of,
        pd.Timestamp(dates[0]),
        segments,
        segment_label,
        notes,
        horizon_days=horizon_days,
        lookback_days=lookback_days,
        min_group_size=min_group_size,
        engine=engine,
    )

    snaps = _snapshots_table(train, j["test_date"], dates)
    result = ChurnResult(
        mode=MODE_NON_CONTRACTUAL,
        as_of_date=as_of,
        horizon_days=horizon_days,
        lookback_days=lookback_days,
        recent_days=recent_days,
        low_score=low,
        validation=j["validation"],
        snapshots=snaps,
        metrics=j["metrics"],
        holdout=j["holdout"],
        chosen_model=chosen,
        choice_reason=j["reason"],
        odds_ratios=odds,
        drivers=drivers,
        risk_ratios=risk,
        importance=j["importance"],
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
    result.segments = segments_now
    result.candidate_scores = candidates
    result.score_odds_ratios = final[LOGIT].summary(recent_days=recent_days, low_score=low)
    result.models["drivers"] = driver_model
    return result


def _training(
    tables,
    as_of,
    notes,
    *,
    n_snapshots,
    master_map,
    horizon_days,
    lookback_days,
    random_state,
    recent_days,
    channel_roles,
    engine,
    series=None,
):
    """Orphans left out, records joined into people, the behavioural segments and the stacked
    labelled snapshots: ``(tables, records, low_score, segments, train)``."""
    tables = _drop_orphans(tables, notes)
    records = None
    if master_map is not None and len(master_map):
        tables, records = people_tables(tables, master_map, engine=engine)
        n_rec, n_people = len(records), records["unit"].nunique()
        notes.append(
            f"Records of the same person are analysed together (single customer view from the "
            f"data audit): {n_rec:,} records, {n_people:,} people; every record gets its "
            "person's scores."
        )
    tx = tables["transactions"]
    fb = tables.get("feedback")
    # the low-score threshold of the scores: from answers up to the as-of date (each labelled
    # snapshot learns its own from the answers before it, see feedback_features)
    low = (
        low_score_threshold(fb.loc[fb["timestamp"] < data_end(as_of), "score"])
        if fb is not None and len(fb)
        else 2.5
    )
    dates = snapshot_dates(as_of, horizon_days, n_snapshots, None, _min_timestamp(tx))
    segments = None
    known_features: dict[pd.Timestamp, pd.DataFrame] = {}
    if dates:
        from cxlib.features import customer_features

        # the series' behavioural segments learnt again from data up to the earliest labelled
        # snapshot (so no snapshot's segments use later data), under the series' names; the
        # training set reuses the customer features
        known_features[dates[0]] = customer_features(
            tx, dates[0], lookback_days=lookback_days, engine=engine
        )
        segments = segments_from_series(
            series,
            known_features[dates[0]],
            dates[0],
            lookback_days=lookback_days,
            random_state=random_state,
        )
    train = build_training_set(
        tables,
        as_of,
        horizon_days=horizon_days,
        lookback_days=lookback_days,
        n_snapshots=n_snapshots,
        recent_days=recent_days,
        low_score=None,
        segments=segments,
        features=known_features,
        channel_roles=channel_roles,
        engine=engine,
    )
    known_features.clear()
    return tables, records, low, segments, train


def _judge(
    train,
    feats,
    logit_feats,
    notes,
    rng,
    *,
    horizon_days,
    max_eval_rows,
    max_train_rows,
    n_bootstrap,
    random_state,
    recent_days,
    low,
):
    """The models judged out of time on the latest labelled snapshot (out of fold within it when
    it is the only one): validation wording, metrics, choice, held-out predictions, importance."""
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
    return {
        "validation": validation,
        "metrics": metrics,
        "chosen": chosen,
        "reason": reason,
        "holdout": holdout,
        "importance": importance,
        "snapshot_idx": snapshot_idx,
        "test_date": test_date,
        "dates": dates,
        "y_all": y_all,
        "groups_all": groups_all,
    }


def _survival(
    train,
    tx,
    as_of,
    start,
    segments,
    segment_label,
    notes,
    *,
    horizon_days,
    lookback_days,
    min_group_size,
    engine,
):
    """Retention curves of the customers active at the earliest snapshot, by their segment at
    that time: ``(curves, log-rank test, what the groups are)``."""
    # survival: customers active at the earliest snapshot, by their segment at that time
    curves, test = pd.DataFrame(), {"chi2": np.nan, "df": np.nan, "p_value": np.nan}
    groups_label = segment_label
    try:
        if (as_of - start).days <= horizon_days + 30:
            raise ValueError("the data is too short to follow customers over time")
        f0 = train.loc[train["snapshot_date"] == start].set_index("customer_id")
        dur = retention_durations(tx, start, as_of, horizon_days, lookback_days, engine=engine)
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
    return curves, test, groups_label


def _snapshots_table(train, test_date, dates):
    """One row per labelled snapshot: customers, lapsed, lapse rate and role."""
    snaps = (
        train.groupby("snapshot_date")["lapsed"].agg(customers="size", lapsed="sum").reset_index()
    )
    snaps["lapse_rate"] = snaps["lapsed"] / snaps["customers"]
    snaps["role"] = np.where(snaps["snapshot_date"] == test_date, "test", "training")
    if len(dates) < 2:
        snaps["role"] = "training and test (out of fold)"
    return snaps
