"""Constants shared by the churn modules: modes, limits, export columns, feature groups."""

from __future__ import annotations

import logging

from scipy import stats

from cxlib.privacy import PII_COLUMNS

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
    "value_if_alive",
    "purchase_interval_days",
    "value_at_risk",
    "segment",
    "marketing_consent",
)

#: Per-customer purchase-pattern predictions copied into the scores (:func:`fit_btyd`).
VALUE_COLUMNS: tuple[str, ...] = (
    "p_alive",
    "expected_purchases",
    "expected_value",
    "value_if_alive",
    "purchase_interval_days",
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
        "log_purchases",
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
    "log_purchases": "log(1 + purchases in the look-back window)",
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

LOGIT = "logistic regression"
GBM = "gradient boosting (calibrated)"
BGNBD = "BG/NBD by segment"
BLEND = "average of gradient boosting and BG/NBD"
