"""The whole analysis of notebook 04: :func:`run_uplift`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd
from sklearn.base import BaseEstimator

from cxlib.uplift._evaluation import qini_curves_frame, uplift_by_decile
from cxlib.uplift._history import history_features
from cxlib.uplift._models import UpliftModelResult, fit_uplift_models
from cxlib.uplift._readout import (
    CampaignSpec,
    ReadoutResult,
    SRMResult,
    campaign_readout,
    covariate_balance,
    covariate_matrix,
    describe_campaign,
    srm_test,
)
from cxlib.uplift._subgroups import compare_arms_by_subgroup, effects_by_subgroup, subgroup_levels
from cxlib.uplift._targeting import (
    best_share,
    group_summary,
    profit_curve,
    response_groups,
    uplift_scores_export,
)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# The whole analysis of notebook 04
# --------------------------------------------------------------------------------------------
#: Fewest converters per arm (and in control) needed to fit uplift models.
MIN_CONVERTERS_FOR_MODELS = 20


@dataclass
class UpliftAnalysis:
    """Everything notebook 04 shows (see :func:`run_uplift`)."""

    spec: CampaignSpec
    campaign: pd.DataFrame
    srm: SRMResult
    balance: pd.DataFrame
    readout: ReadoutResult
    features: pd.DataFrame
    feature_note: str
    models: UpliftModelResult | None
    model_note: str
    qini_curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    deciles: dict[str, pd.DataFrame] = field(default_factory=dict)
    groups: dict[str, pd.DataFrame] = field(default_factory=dict)
    profit: dict[str, pd.DataFrame] = field(default_factory=dict)
    best: dict[str, pd.Series] = field(default_factory=dict)
    scores: pd.DataFrame | None = None
    subgroups: dict[str, pd.DataFrame] = field(default_factory=dict)
    comparisons: dict[str, pd.DataFrame] = field(default_factory=dict)
    consent_known: bool = False
    cost_per_contact: float = 1.0
    value_per_conversion: float = 40.0
    min_group_size: int = 10
    duplicates_removed: int = 0
    left_out_arms: list[str] = field(default_factory=list)


def _first_row_per_customer(campaign: pd.DataFrame) -> pd.DataFrame:
    out = campaign.drop_duplicates("customer_id", keep="first").reset_index(drop=True)
    return out.assign(group=out["group"].astype("str"))


def campaign_problem(
    campaign: pd.DataFrame, control_arm: str = "control", min_group_size: int = 10
) -> str | None:
    """Why the campaign cannot be analysed without failing or showing a handful of people
    (None when it can): no control arm, a control arm of fewer than ``min_group_size``
    customers, or no offer arm of at least ``min_group_size`` customers. Offer arms under
    ``min_group_size`` are left out by :func:`run_uplift` (the others are analysed)."""
    camp = _first_row_per_customer(campaign)
    sizes = camp["group"].dropna().value_counts()
    if control_arm not in sizes.index:
        return (
            f"the campaign has no control group {control_arm!r} in column 'group' (groups: "
            f"{', '.join(sorted(map(str, sizes.index))) or 'none'}); set the parameter "
            "control_arm to the name of the control group"
        )
    if sizes[control_arm] < min_group_size:
        return (
            f"the control group has fewer than {min_group_size} customers (min_group_size), too "
            "few to measure an effect without showing the results of a handful of people"
        )
    offers = sizes.drop(control_arm)
    if not (offers >= min_group_size).any():
        return (
            f"no offer group has {min_group_size} or more customers (min_group_size), too few to "
            "measure an effect without showing the results of a handful of people"
        )
    return None


def run_uplift(
    tables: Mapping[str, pd.DataFrame],
    *,
    control_arm: str = "control",
    expected_allocation: Mapping[str, float] | None = None,
    cost_per_contact: float = 1.0,
    value_per_conversion: float = 40.0,
    n_bootstrap: int = 200,
    n_folds: int = 5,
    random_state: int | None = 0,
    min_group_size: int = 10,
    models: Mapping[str, BaseEstimator] | None = None,
) -> UpliftAnalysis:
    """Run the whole campaign analysis of notebook 04 on contract tables.

    ``tables`` needs ``campaign``; ``transactions`` adds purchase-history features (cut the day
    before the send) and ``customers`` adds marketing consent for the export. The sample-ratio
    test uses every arm; offer arms of fewer than ``min_group_size`` customers are left out of
    everything else (``left_out_arms``).

    Raises
    ------
    ValueError
        With the reason of :func:`campaign_problem` when the campaign cannot be analysed.
    """
    raw = tables["campaign"]
    problem = campaign_problem(raw, control_arm, min_group_size)
    if problem:
        raise ValueError(problem)
    campaign = _first_row_per_customer(raw)
    duplicates = len(raw) - len(campaign)
    if duplicates:
        log.warning("campaign: %d repeated customer rows dropped (first kept)", duplicates)
    srm = srm_test(campaign, expected_allocation)
    sizes = campaign["group"].value_counts()
    left_out = sorted(a for a in sizes.index if a != control_arm and sizes[a] < min_group_size)
    if left_out:
        log.warning("campaign arms under %d customers left out: %s", min_group_size, left_out)
        campaign = campaign.loc[~campaign["group"].isin(left_out)].reset_index(drop=True)
    spec = describe_campaign(campaign, control_arm)
    balance = covariate_balance(campaign, spec.covariates, control_arm)
    readout = campaign_readout(campaign, control_arm, spec.outcomes)
    feats, feature_note = history_features(campaign, tables.get("transactions"))
    X = pd.concat(
        [covariate_matrix(campaign, spec.covariates), covariate_matrix(feats, list(feats.columns))],
        axis=1,
    )
    customers = tables.get("customers")
    consent_known = customers is not None and "marketing_consent" in customers.columns
    res = UpliftAnalysis(
        spec,
        campaign,
        srm,
        balance,
        readout,
        feats,
        feature_note,
        None,
        "",
        consent_known=consent_known,
        cost_per_contact=cost_per_contact,
        value_per_conversion=value_per_conversion,
        min_group_size=min_group_size,
        duplicates_removed=duplicates,
        left_out_arms=left_out,
    )
    cov = [c for c in spec.covariates if c in campaign.columns]
    levels = subgroup_levels(campaign, cov) if spec.binary_outcomes else None
    for out in spec.binary_outcomes:
        kw = {"control_arm": control_arm, "min_group_size": min_group_size, "levels": levels}
        res.subgroups[out] = effects_by_subgroup(campaign, cov, outcome=out, **kw)
        res.comparisons[out] = compare_arms_by_subgroup(campaign, cov, outcome=out, **kw)
    y = campaign["converted"].astype("float64")
    g = campaign["group"]
    conv = [int(y[g == a].sum()) for a in [control_arm, *spec.arms]]
    if X.shape[1] == 0:
        res.model_note = "there are no pre-treatment covariates to model who responds"
        return res
    if min(conv) < MIN_CONVERTERS_FOR_MODELS:
        res.model_note = (
            f"an arm has fewer than {MIN_CONVERTERS_FOR_MODELS} conversions, too few to model "
            "who responds"
        )
        return res
    mres = fit_uplift_models(
        campaign,
        X,
        outcome="converted",
        control_arm=control_arm,
        models=models,
        n_folds=n_folds,
        n_bootstrap=n_bootstrap,
        random_state=random_state,
    )
    res.models = mres
    base = len(campaign)
    for arm in spec.arms:
        f = mres.arm_frame(arm)
        res.qini_curves[arm] = qini_curves_frame(
            f["y"],
            f["treatment"],
            {m: mres.scores.loc[f.index, f"{m}|{arm}"] for m in _model_names(mres)},
            min_group_size=min_group_size,
        )
        res.deciles[arm] = uplift_by_decile(
            f["y"], f["treatment"], f["uplift"], min_group_size=min_group_size
        )
        grp = response_groups(f["uplift"], f["p_control"])
        res.groups[arm] = group_summary(grp, f["y"], f["treatment"], f["uplift"])
        res.profit[arm] = profit_curve(
            f["y"],
            f["treatment"],
            f["uplift"],
            cost_per_contact=cost_per_contact,
            value_per_conversion=value_per_conversion,
            base_size=base,
            n_bootstrap=n_bootstrap,
            random_state=random_state,
            min_group_size=min_group_size,
        )
        res.best[arm] = best_share(res.profit[arm])
    res.scores = uplift_scores_export(
        mres,
        customers=customers,
        cost_per_contact=cost_per_contact,
        value_per_conversion=value_per_conversion,
    )
    return res


def _model_names(mres: UpliftModelResult) -> list[str]:
    return list(dict.fromkeys(mres.evaluation["model"]))
