"""Column names, group names and thresholds of the campaign analysis."""

from __future__ import annotations

from cxlib.privacy import PII_COLUMNS

#: Outcome columns of the campaign contract, in report order.
OUTCOME_COLUMNS: tuple[str, ...] = ("visited", "converted", "revenue")
#: Outcome columns that are 0/1.
BINARY_OUTCOMES: tuple[str, ...] = ("visited", "converted")
#: Campaign columns that are not covariates.
NON_COVARIATES: frozenset[str] = frozenset(
    {"customer_id", "group", "campaign_id", "sent_at", *OUTCOME_COLUMNS}
)
#: Columns never used as model inputs: the contract's personal data plus common other names.
PERSONAL_COLUMNS: frozenset[str] = frozenset(PII_COLUMNS) | {"birth_date", "name"}
#: Names of a control group recognised when ``uplift.control_arm`` is not set: exact, after
#: trimming and ignoring case ("No E-Mail" matches ``no e-mail``; "controls" does not match).
CONTROL_ARM_NAMES: frozenset[str] = frozenset(
    {
        "control",
        "control group",
        "no e-mail",
        "no email",
        "no mail",
        "no mailing",
        "no contact",
        "no offer",
        "no treatment",
        "holdout",
        "hold-out",
        "hold out",
        "none",
        "untreated",
    }
)
#: Column order of ``exports/uplift_readout.csv``.
READOUT_EXPORT_COLUMNS: tuple[str, ...] = (
    "arm",
    "outcome",
    "n_arm",
    "n_control",
    "control_mean",
    "arm_mean",
    "abs_lift",
    "ci_low",
    "ci_high",
    "p_value",
    "p_value_holm",
)
#: Column order of ``exports/uplift_scores.csv``.
SCORES_EXPORT_COLUMNS: tuple[str, ...] = ("customer_id", "arm", "uplift", "recommended", "segment")
RESPONSE_GROUPS: tuple[str, ...] = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")
GROUP_LABELS: dict[str, str] = {
    "persuadable": "Persuadables",
    "sure_thing": "Sure things",
    "lost_cause": "Lost causes",
    "sleeping_dog": "Sleeping dogs",
}
#: Response groups are cut at this share of the base rate (control conversion rate): predicted
#: uplift of at least +25% of the base rate is a persuadable, at most −25% a sleeping dog.
GROUP_RELATIVE_THRESHOLD = 0.25
#: Column order of ``exports/uplift_targeting.csv``.
TARGETING_EXPORT_COLUMNS: tuple[str, ...] = (
    "arm",
    "model",
    "share_contacted",
    "customers_recommended",
    "expected_profit",
    "profit_ci_low",
    "profit_ci_high",
    "economics",
)
#: Economics applied when cx.yml does not set them (the report then says "assumed").
ASSUMED_COST_PER_CONTACT = 1.0
ASSUMED_VALUE_PER_CONVERSION = 40.0
