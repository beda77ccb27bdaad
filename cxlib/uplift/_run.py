"""The whole analysis of notebook 04: :func:`run_uplift`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator

from cxlib.engine import Engine
from cxlib.privacy import Suppressed
from cxlib.report import Finding
from cxlib.result import QuestionResult
from cxlib.uplift import _report
from cxlib.uplift._constants import (
    ASSUMED_COST_PER_CONTACT,
    ASSUMED_VALUE_PER_CONVERSION,
    CONTROL_ARM_NAMES,
)
from cxlib.uplift._covariates import covariate_doubts, screen_covariates
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
    share_threshold,
    targeting_table,
    uplift_scores_export,
)

log = logging.getLogger(__name__)

#: Fewest converters per arm (and in control) needed to fit uplift models.
MIN_CONVERTERS_FOR_MODELS = 20
#: Keys of the ``uplift`` block of cx.yml that :func:`run_uplift` reads from ``options``, with
#: their defaults (each may also be given as a keyword argument, which wins), plus the top-level
#: ``currency``. Unset economics (None) are assumed: :data:`ASSUMED_COST_PER_CONTACT` and
#: :data:`ASSUMED_VALUE_PER_CONVERSION`, and the report says "assumed".
OPTION_DEFAULTS: dict[str, Any] = {
    "control_arm": None,
    "expected_allocation": None,
    "cost_per_contact": None,
    "value_per_conversion": None,
    "n_bootstrap": 200,
    "n_folds": 5,
    "covariates": None,
    "currency": "",
}


@dataclass
class UpliftResult(QuestionResult):
    """Everything notebook 04 shows (see :func:`run_uplift`): the analysis's parts as
    attributes, its display tables and sentences as methods (from :mod:`._report`),
    :meth:`findings` and :meth:`exports`."""

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
    cost_per_contact: float = ASSUMED_COST_PER_CONTACT
    value_per_conversion: float = ASSUMED_VALUE_PER_CONVERSION
    economics: str = "assumed"
    """``configured`` when cx.yml sets both the cost per contact and the value per conversion,
    else ``assumed`` (every money figure built on them then says so)."""
    currency: str = ""
    covariate_exclusions: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["column", "reason"])
    )
    """Campaign columns left out of the covariates: ``column, reason`` (docs/uplift.md)."""
    covariate_doubts: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["column", "reason"])
    )
    """Columns listed in ``uplift.covariates`` that the rules would have left out (kept: the
    user's word wins; the report warns)."""
    targeting: pd.DataFrame | None = None
    min_group_size: int = 10
    duplicates_removed: int = 0
    left_out_arms: list[str] = field(default_factory=list)
    control_arm_detected: bool = False
    """The control group was recognised by its name (``uplift.control_arm`` not set)."""
    requested_folds: int | None = None
    segments: Any = None
    """The series' segments (:class:`cxlib.segment.SeriesSegments`) the list is labelled with."""

    # -- the shape every question shares ------------------------------------------------------
    def findings(self) -> list[Finding]:
        """The finding sentences (2-4 headlines), as :func:`uplift_findings` words them."""
        return [Finding(text, headline) for text, headline in _report.uplift_findings(self)]

    def exports(self) -> dict[str, pd.DataFrame]:
        """``uplift_readout.csv`` (the readout) and, when models were fitted,
        ``uplift_scores.csv`` (the marketing list: every customer's best offer and uplift) and
        ``uplift_targeting.csv`` (the targeting decision per offer, the same as the list's);
        always ``uplift_covariates.csv`` (:meth:`covariates_table`)."""
        out = {READOUT_EXPORT: self.readout.export_table()}
        if self.scores is not None:
            out[SCORES_EXPORT] = self.scores
        if self.targeting is not None:
            out[TARGETING_EXPORT] = self.targeting
        out[COVARIATES_EXPORT] = self.covariates_table()
        return out

    def covariates_table(self) -> pd.DataFrame:
        """``uplift_covariates.csv``: every candidate campaign column, whether the models used
        it and why not (or the doubt about a column the user listed), for the run's manifest."""
        used = pd.DataFrame({"column": self.spec.covariates, "used": True})
        used = used.merge(self.covariate_doubts, on="column", how="left")
        left = self.covariate_exclusions.assign(used=False)
        out = pd.concat([used, left], ignore_index=True)[["column", "used", "reason"]]
        return out.assign(reason=out["reason"].fillna("").astype("str"))

    @property
    def assumed(self) -> bool:
        """True when the economics are assumed, not set in cx.yml."""
        return self.economics == "assumed"

    # -- display tables and sentences (see cxlib.uplift._report) ------------------------------
    def description(self) -> str:
        """Who is in the campaign, its arms, outcomes, covariates and purchase history."""
        return _report.campaign_description(self)

    def srm_shown(self) -> pd.DataFrame:
        """The sample-ratio table with small arms blanked (:func:`srm_shown`)."""
        return _report.srm_shown(self)

    def srm_display(self) -> pd.DataFrame:
        """The sample-ratio table for managers (:func:`srm_display`)."""
        return _report.srm_display(self)

    def srm_sentence(self) -> str:
        """Whether the group sizes match the plan, with the chi-square test."""
        return _report.srm_sentence(self)

    def readout_display(self) -> pd.DataFrame:
        """The readout table for managers (:func:`readout_display`)."""
        return _report.readout_display(self)

    def models_display(self) -> pd.DataFrame:
        """Qini coefficient and AUUC of each model per arm (:func:`models_display`)."""
        return _report.models_display(self)

    def training_note(self) -> str:
        """How a large campaign's models were trained ('' when nothing was capped)."""
        return _report.training_note(self, self.requested_folds)

    def deciles_shown(self, arm: str) -> pd.DataFrame:
        """The decile bins the report shows for ``arm`` (:func:`deciles_shown`)."""
        return _report.deciles_shown(self, arm)

    def deciles_display(self, arm: str) -> pd.DataFrame:
        """The decile table of ``arm`` (:func:`deciles_display`)."""
        return _report.deciles_display(self, arm)

    def deciles_note(self, arm: str) -> str:
        """What the decile table of ``arm`` does not show and why (:func:`deciles_note`)."""
        return _report.deciles_note(self, arm)

    def groups_suppressed(self, arm: str) -> Suppressed:
        """The response groups of ``arm`` that may be shown and how many are hidden
        (:func:`groups_suppressed`)."""
        return _report.groups_suppressed(self, arm)

    def groups_shown(self, arm: str) -> pd.DataFrame:
        """The four response groups of ``arm`` that may be shown (:func:`groups_shown`)."""
        return _report.groups_shown(self, arm)

    def groups_display(self, arm: str) -> pd.DataFrame:
        """The four response groups of ``arm`` for managers (:func:`groups_display`)."""
        return _report.groups_display(self, arm)

    def groups_note(self, arm: str) -> str:
        """How many response groups of ``arm`` are not shown (privacy rule); '' when none."""
        return _report.groups_note(self, arm)

    def sleeping_dog_sentence(self) -> str:
        """The sleeping-dog sentence (:func:`sleeping_dog_finding`)."""
        return _report.sleeping_dog_finding(self)[0]

    def compared_outcomes(self) -> list[str]:
        """The outcomes with head-to-head comparisons of the arms, in report order."""
        return _report.compared_outcomes(self)

    def who_responds_text(self, outcome: str) -> str:
        """Which offer works better for whom on ``outcome``, as a Markdown list."""
        return _report.who_responds_text(self, outcome)

    def top_subgroup_covariate(self, outcome: str) -> str | None:
        """The covariate with the largest significant head-to-head difference (None: none)."""
        return _report.top_subgroup_covariate(self, outcome)

    def targeting_intro(self) -> str:
        """The cost and value the targeting section uses."""
        return _report.targeting_intro(self)

    def targeting_sentence(self, arm: str) -> str:
        """What contacting the best share for ``arm`` gains (:func:`targeting_sentence`)."""
        return _report.targeting_sentence(self, arm)

    def scores_note(self, file_name: str = "uplift_scores.csv") -> str:
        """How many customers were scored and recommended, and where the list is written."""
        return _report.scores_note(self, file_name)

    def segments_sentence(self) -> str:
        """What the list-by-segment table shows and whose segments they are (Markdown)."""
        if self.segments is None:
            return ""
        return (
            "The marketing list by each customer's segment today (customers without purchases "
            f"have none). {self.segments.describe()}"
        )

    def segments_display(self) -> pd.DataFrame:
        """The marketing list by segment (:func:`segments_display`; empty without segments)."""
        return _report.segments_display(self)

    def recommended_display(self, key: str, *, top_n: int = 10) -> pd.DataFrame:
        """The top recommended customers under pseudonyms (:func:`recommended_display`)."""
        return _report.recommended_display(self, key, top_n=top_n)


#: The name the result had before the question packages (kept for existing imports).
UpliftAnalysis = UpliftResult

#: Export file names (docs/outputs.md).
READOUT_EXPORT = "uplift_readout.csv"
SCORES_EXPORT = "uplift_scores.csv"
TARGETING_EXPORT = "uplift_targeting.csv"
COVARIATES_EXPORT = "uplift_covariates.csv"


@dataclass(frozen=True)
class Skip:
    """Why notebook 04 skips the analysis: the run's status note, the notice it shows, the
    setting that would fix it (``fix``) and whether the cause is configuration (a setting or a
    table the user can add) rather than too little data."""

    status_note: str
    notice: str
    fix: str | None = None
    configuration: bool = False


def resolve_control_arm(campaign: pd.DataFrame, control_arm: str | None) -> tuple[str | None, bool]:
    """The control group and whether it was recognised rather than configured.

    A configured ``control_arm`` is used as given. Without one, the campaign's group whose name
    is one of :data:`CONTROL_ARM_NAMES` (exact, ignoring case and surrounding spaces) is the
    control when exactly one group matches; otherwise there is none (``(None, False)``).
    """
    if control_arm is not None:
        return str(control_arm), False
    groups = pd.Series(campaign["group"].dropna().astype("str").unique())
    matches = sorted(g for g in groups if g.strip().casefold() in CONTROL_ARM_NAMES)
    return (matches[0], True) if len(matches) == 1 else (None, False)


def _no_control_skip(campaign: pd.DataFrame) -> Skip:
    groups = sorted(campaign["group"].dropna().astype("str").unique())
    listed = ", ".join(f"'{g}'" for g in groups) or "none"
    example = groups[-1] if groups else "control"
    fix = f'uplift: {{control_arm: "{example}"}} in cx.yml (the name of the control group)'
    return Skip(
        "skipped: the control group is not set",
        f"no group of the campaign is recognisable as the control group (groups: {listed}); "
        f"set it in cx.yml: `{fix.removesuffix(' in cx.yml (the name of the control group)')}`",
        fix=fix,
        configuration=True,
    )


def skip_reason(
    data: Any, *, control_arm: str | None = None, min_group_size: int = 10
) -> Skip | None:
    """Why ``data`` (a :class:`cxlib.contract.SourceData` or a dict of tables) cannot be
    analysed — no campaign table, no recognisable control group (:func:`resolve_control_arm`),
    or :func:`campaign_problem` — or None when it can."""
    tables = _tables(data)
    has = getattr(data, "has", None)
    present = has("campaign") if has is not None else _has_rows(tables.get("campaign"))
    if not present:
        return Skip(
            "skipped: no campaign table",
            "the data has no `campaign` table (one row per customer of a randomised campaign "
            "with its group and outcome)",
            fix="add campaign.csv (customer_id, group, converted …) to the data folder",
            configuration=True,
        )
    arm, _ = resolve_control_arm(tables["campaign"], control_arm)
    if arm is None:
        return _no_control_skip(tables["campaign"])
    problem = campaign_problem(tables["campaign"], arm, min_group_size)
    if problem is None:
        return None
    configured = problem.startswith("the campaign has no control group")
    fix = (
        f'uplift: {{control_arm: "…"}} in cx.yml: {arm!r} is not a group of the campaign'
        if configured
        else None
    )
    return Skip(f"skipped: {problem}", problem, fix=fix, configuration=configured)


def _has_rows(table: Any) -> bool:
    return table is not None and len(table) > 0


def _tables(data: Any) -> Mapping[str, Any]:
    """The tables of a :class:`cxlib.contract.SourceData` or of a dict of tables."""
    return data.tables if hasattr(data, "tables") else data


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
    data: Any,
    *,
    as_of_date: Any = None,
    options: Mapping[str, Any] | None = None,
    control_arm: str | None = None,
    expected_allocation: Mapping[str, float] | None = None,
    cost_per_contact: float | None = None,
    value_per_conversion: float | None = None,
    n_bootstrap: int | None = None,
    n_folds: int | None = None,
    random_state: int | None = 0,
    min_group_size: int = 10,
    models: Mapping[str, BaseEstimator] | None = None,
    segments: Any = None,
    engine: Engine | None = None,
) -> UpliftResult:
    """Run the whole campaign analysis of notebook 04 on contract tables.

    Parameters
    ----------
    data : SourceData or dict of tables
        Needs ``campaign``; ``transactions`` (a pandas frame or a backend table) adds
        purchase-history features cut the day before the send, ``customers`` adds marketing
        consent for the export.
    as_of_date : date-like, optional
        Not used: the campaign's own send date (``sent_at``) sets the purchase-history cut-off.
    options : mapping, optional
        The ``uplift`` block of cx.yml (:data:`OPTION_DEFAULTS`: ``control_arm``,
        ``expected_allocation``, ``cost_per_contact``, ``value_per_conversion``,
        ``n_bootstrap``, ``n_folds``, ``covariates``) and the top-level ``currency``; a keyword
        argument given here wins over the block. Unset economics are assumed (1 per contact,
        40 per conversion) and the report says so.
    random_state, min_group_size, models
        Seed; the smallest group whose figures are shown (offer arms of fewer customers are
        left out of everything but the sample-ratio test: ``left_out_arms``); the uplift
        models (default :func:`default_models`).
    segments : SeriesSegments, optional
        The series' segments (:func:`cxlib.segment.series_segments`, notebook 02's): the
        marketing list's ``segment`` and the report's list by segment use them.
    engine : Engine, optional
        The run's engine (default the one of ``data``, else a local one for the call).

    Returns
    -------
    UpliftResult

    Raises
    ------
    ValueError
        With the reason of :func:`campaign_problem` when the campaign cannot be analysed.
    """
    del as_of_date  # the send date comes from the campaign
    given = {
        "control_arm": control_arm,
        "expected_allocation": expected_allocation,
        "cost_per_contact": cost_per_contact,
        "value_per_conversion": value_per_conversion,
        "n_bootstrap": n_bootstrap,
        "n_folds": n_folds,
    }
    opts = {**OPTION_DEFAULTS, **{k: v for k, v in dict(options or {}).items() if v is not None}}
    opts.update({k: v for k, v in given.items() if v is not None})
    tables = _tables(data)
    raw = tables["campaign"]
    control_arm, detected = resolve_control_arm(raw, opts["control_arm"])
    if control_arm is None:
        raise ValueError(_no_control_skip(raw).notice)
    problem = campaign_problem(raw, control_arm, min_group_size)
    if problem:
        raise ValueError(problem)
    campaign = _first_row_per_customer(raw)
    duplicates = len(raw) - len(campaign)
    if duplicates:
        log.warning("campaign: %d repeated customer rows dropped (first kept)", duplicates)
    srm = srm_test(campaign, opts["expected_allocation"])
    sizes = campaign["group"].value_counts()
    left_out = sorted(a for a in sizes.index if a != control_arm and sizes[a] < min_group_size)
    if left_out:
        log.warning("campaign arms under %d customers left out: %s", min_group_size, left_out)
        campaign = campaign.loc[~campaign["group"].isin(left_out)].reset_index(drop=True)
    spec = describe_campaign(campaign, control_arm)
    listed = opts["covariates"]
    kept, excluded = screen_covariates(
        campaign, spec.covariates, control_arm, None if listed is None else list(listed)
    )
    for row in excluded.itertuples(index=False):
        log.warning("campaign column %s is not a covariate: %s", row.column, row.reason)
    doubts = covariate_doubts(campaign, kept, control_arm) if listed is not None else None
    spec = replace(spec, covariates=kept)
    feats, feature_note = history_features(
        campaign, tables.get("transactions"), engine=engine or getattr(data, "engine", None)
    )
    customers = tables.get("customers")
    res = UpliftResult(
        spec,
        campaign,
        srm,
        covariate_balance(campaign, spec.covariates, control_arm),
        campaign_readout(campaign, control_arm, spec.outcomes),
        feats,
        feature_note,
        None,
        "",
        consent_known=customers is not None and "marketing_consent" in customers.columns,
        cost_per_contact=_or(opts["cost_per_contact"], ASSUMED_COST_PER_CONTACT),
        value_per_conversion=_or(opts["value_per_conversion"], ASSUMED_VALUE_PER_CONVERSION),
        economics="assumed"
        if opts["cost_per_contact"] is None or opts["value_per_conversion"] is None
        else "configured",
        currency=str(opts["currency"] or ""),
        covariate_exclusions=excluded,
        covariate_doubts=excluded.iloc[:0] if doubts is None else doubts,
        min_group_size=min_group_size,
        duplicates_removed=duplicates,
        left_out_arms=left_out,
        requested_folds=int(opts["n_folds"]),
        control_arm_detected=detected,
        segments=segments,
    )
    _subgroup_parts(res)
    _model_parts(
        res,
        customers,
        models=models,
        n_folds=int(opts["n_folds"]),
        n_bootstrap=int(opts["n_bootstrap"]),
        random_state=random_state,
    )
    return res


def _or(value: Any, assumed: float) -> float:
    return assumed if value is None else float(value)


def _subgroup_parts(res: UpliftResult) -> None:
    """Observed effects by subgroup and head-to-head comparisons, per 0/1 outcome."""
    spec, campaign = res.spec, res.campaign
    cov = [c for c in spec.covariates if c in campaign.columns]
    levels = subgroup_levels(campaign, cov) if spec.binary_outcomes else None
    for out in spec.binary_outcomes:
        kw = {"control_arm": spec.control_arm, "min_group_size": res.min_group_size}
        kw["levels"] = levels
        res.subgroups[out] = effects_by_subgroup(campaign, cov, outcome=out, **kw)
        res.comparisons[out] = compare_arms_by_subgroup(campaign, cov, outcome=out, **kw)


def _model_parts(
    res: UpliftResult,
    customers: pd.DataFrame | None,
    *,
    models: Mapping[str, BaseEstimator] | None,
    n_folds: int,
    n_bootstrap: int,
    random_state: int | None,
) -> None:
    """The uplift models and what comes of them (Qini curves, deciles, the four groups, profit
    curves, the marketing list), or the reason there are none in ``res.model_note``."""
    spec, campaign, min_group_size = res.spec, res.campaign, res.min_group_size
    control_arm = spec.control_arm
    X = pd.concat(
        [
            covariate_matrix(campaign, spec.covariates),
            covariate_matrix(res.features, list(res.features.columns)),
        ],
        axis=1,
    )
    y = campaign["converted"].astype("float64")
    g = campaign["group"]
    conv = [int(y[g == a].sum()) for a in [control_arm, *spec.arms]]
    if X.shape[1] == 0:
        res.model_note = "there are no pre-treatment covariates to model who responds"
        return
    if min(conv) < MIN_CONVERTERS_FOR_MODELS:
        res.model_note = (
            f"an arm has fewer than {MIN_CONVERTERS_FOR_MODELS} conversions, too few to model "
            "who responds"
        )
        return
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
        base_rate = float(f.loc[f["treatment"] == 0, "y"].mean())
        grp = response_groups(f["uplift"], f["p_control"], base_rate=base_rate)
        res.groups[arm] = group_summary(grp, f["y"], f["treatment"], f["uplift"])
        res.profit[arm] = profit_curve(
            f["y"],
            f["treatment"],
            f["uplift"],
            cost_per_contact=res.cost_per_contact,
            value_per_conversion=res.value_per_conversion,
            base_size=base,
            n_bootstrap=n_bootstrap,
            random_state=random_state,
            min_group_size=min_group_size,
        )
        res.best[arm] = best_share(res.profit[arm])
    thresholds = {
        arm: share_threshold(mres.arm_frame(arm)["uplift"], float(res.best[arm]["share"]))
        for arm in spec.arms
    }
    res.scores = uplift_scores_export(
        mres, thresholds=thresholds, customers=customers, segments=res.segments
    )
    res.targeting = targeting_table(
        res.best, res.scores, model=mres.best_model, economics=res.economics
    )


def _model_names(mres: UpliftModelResult) -> list[str]:
    return list(dict.fromkeys(mres.evaluation["model"]))
