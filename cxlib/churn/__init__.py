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
boosting model (:class:`BoostedChurnModel`). Buy-till-you-die models (:class:`BetaGeoModel`,
:class:`GammaGammaModel`) give P(alive), expected purchases and expected value;
:func:`kaplan_meier` gives retention curves.
Definitions are documented in ``docs/churn.md``.

Modules (private; import from ``cxlib.churn``): ``_common`` (constants), ``_bgnbd`` (BG/NBD),
``_gamma_gamma`` (Gamma-Gamma), ``_summary`` (RFM summary of purchases), ``_labels`` (mode,
snapshots, purchase days, lapse labels), ``_features``, ``_btyd_fit`` (BG/NBD per segment at a
date), ``_models`` (classifiers), ``_evaluate`` (metrics, drivers, model choice), ``_survival``
(Kaplan-Meier), ``_result`` (:class:`ChurnResult`), ``_prepare``, ``_noncontractual``,
``_contractual``, ``_run`` (:func:`run_churn`), ``_exports`` (export tables) and ``_report``
(finding sentences and display tables).
"""

from __future__ import annotations

from cxlib.churn._bgnbd import FREQ_DAYS, BetaGeoModel, fit_stratified_bgnbd
from cxlib.churn._btyd_fit import (
    BehaviourSegments,
    BTYDFit,
    fit_btyd,
    rate_covariate_design,
    segments_from_series,
    series_behaviour_segments,
)
from cxlib.churn._common import (
    BGNBD,
    BLEND,
    EXPORT_COLUMNS,
    FEATURE_LABELS,
    GBM,
    LOGIT,
    MAX_BTYD_FIT_CUSTOMERS,
    MAX_EVAL_ROWS,
    MODE_CONTRACTUAL,
    MODE_NON_CONTRACTUAL,
    NON_FEATURE_COLUMNS,
    PATTERN_FEATURES,
    RFM_BROAD_GROUPS,
    is_pattern_feature,
)
from cxlib.churn._contractual import contractual_features
from cxlib.churn._evaluate import (
    SIMPLICITY_ORDER,
    choose_model,
    driver_table,
    evaluate_models,
    evaluate_predictions,
    gains_table,
    permutation_drivers,
    relative_risks,
    reliability_table,
    top_decile_lift,
)
from cxlib.churn._exports import (
    CONSENT_UNKNOWN,
    action_list,
    consent_known,
    gains_long,
    reliability_long,
    scores_export,
    segment_risk,
)
from cxlib.churn._features import (
    DEFAULT_CHANNEL_ROLES,
    FEATURE_PHRASES,
    app_channel_columns,
    app_use_note,
    attribute_features,
    build_training_set,
    feature_columns,
    feature_label,
    feature_phrase,
    feedback_features,
    low_score_threshold,
    snapshot_features,
    snapshot_features_and_btyd,
)
from cxlib.churn._gamma_gamma import GammaGammaModel, expected_value
from cxlib.churn._labels import (
    contractual_labels,
    detect_mode,
    lapse_labels,
    purchase_days,
    snapshot_dates,
)
from cxlib.churn._models import BoostedChurnModel, LogitChurnModel
from cxlib.churn._prepare import DRIVER_CONTROLS, fit_drivers, logit_feature_columns, people_tables
from cxlib.churn._report import (
    action_list_display,
    action_list_markdown,
    btyd_display,
    btyd_segments_display,
    choice_markdown,
    churn_findings,
    drivers_display,
    drivers_warning,
    export_markdown,
    format_p,
    intro_markdown,
    metrics_display,
    odds_ratios_display,
    risk_ratios_display,
    segment_risk_display,
    setup_markdown,
    snapshots_display,
    suppressed_segments_markdown,
    survival_sentence,
    survival_title,
)
from cxlib.churn._result import ChurnResult
from cxlib.churn._run import ChurnCheck, check_data, run_churn, too_little_data
from cxlib.churn._summary import (
    summary_from_transactions,
)
from cxlib.churn._survival import kaplan_meier, median_retention, retention_at, retention_durations

__all__ = [
    "BGNBD",
    "BLEND",
    "BTYDFit",
    "DEFAULT_CHANNEL_ROLES",
    "CONSENT_UNKNOWN",
    "BehaviourSegments",
    "BetaGeoModel",
    "BoostedChurnModel",
    "ChurnCheck",
    "ChurnResult",
    "DRIVER_CONTROLS",
    "EXPORT_COLUMNS",
    "FEATURE_LABELS",
    "FEATURE_PHRASES",
    "FREQ_DAYS",
    "GBM",
    "GammaGammaModel",
    "LOGIT",
    "LogitChurnModel",
    "MAX_BTYD_FIT_CUSTOMERS",
    "MAX_EVAL_ROWS",
    "MODE_CONTRACTUAL",
    "MODE_NON_CONTRACTUAL",
    "NON_FEATURE_COLUMNS",
    "PATTERN_FEATURES",
    "RFM_BROAD_GROUPS",
    "SIMPLICITY_ORDER",
    "action_list",
    "app_channel_columns",
    "app_use_note",
    "action_list_display",
    "action_list_markdown",
    "attribute_features",
    "btyd_display",
    "btyd_segments_display",
    "build_training_set",
    "check_data",
    "choice_markdown",
    "choose_model",
    "churn_findings",
    "consent_known",
    "contractual_features",
    "contractual_labels",
    "detect_mode",
    "driver_table",
    "drivers_display",
    "drivers_warning",
    "evaluate_models",
    "evaluate_predictions",
    "expected_value",
    "export_markdown",
    "feature_columns",
    "feature_label",
    "feature_phrase",
    "feedback_features",
    "fit_btyd",
    "fit_drivers",
    "fit_stratified_bgnbd",
    "format_p",
    "gains_long",
    "gains_table",
    "intro_markdown",
    "is_pattern_feature",
    "kaplan_meier",
    "lapse_labels",
    "logit_feature_columns",
    "low_score_threshold",
    "median_retention",
    "metrics_display",
    "odds_ratios_display",
    "people_tables",
    "permutation_drivers",
    "purchase_days",
    "rate_covariate_design",
    "relative_risks",
    "reliability_long",
    "reliability_table",
    "retention_at",
    "retention_durations",
    "risk_ratios_display",
    "run_churn",
    "scores_export",
    "segment_risk",
    "segment_risk_display",
    "setup_markdown",
    "snapshot_dates",
    "snapshot_features",
    "snapshot_features_and_btyd",
    "snapshots_display",
    "summary_from_transactions",
    "suppressed_segments_markdown",
    "survival_sentence",
    "survival_title",
    "too_little_data",
    "top_decile_lift",
    "segments_from_series",
    "series_behaviour_segments",
]
