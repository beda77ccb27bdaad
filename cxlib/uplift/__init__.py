"""Campaign uplift: did the campaign work, for whom, and whom to target next (notebook 04).

Four steps, each with an honest uncertainty statement:

1. **Experiment checks** — :func:`describe_campaign` finds the arms, outcomes and pre-treatment
   covariates; :func:`srm_test` tests the arm sizes against the planned allocation (sample ratio
   mismatch, chi-square); :func:`covariate_balance` gives standardised mean differences (SMD).
2. **Readout** — :func:`campaign_readout` compares every arm with control on every outcome:
   two-proportion z-test and Wald CI for 0/1 outcomes, Welch t-test and CI for revenue, Holm
   correction across all arm × outcome tests, incremental totals and the minimum detectable
   effect (MDE) at 80% power.
3. **Uplift models** — :class:`TLearner`, :class:`XLearner` and :class:`TransformedOutcome`
   (class transformation generalised to any allocation) scored out of fold by
   :func:`fit_uplift_models` (cross-fitting). Models are judged with :func:`qini_coefficient`,
   :func:`auuc_score` (both defined once here, see their docstrings) and
   :func:`uplift_by_decile`; :func:`response_groups` sorts customers into persuadables, sure
   things, lost causes and sleeping dogs.
   Groups are cut relative to the base rate and named only when their observed uplift (out of
   fold) confirms them.
4. **Targeting** — :func:`profit_curve` (incremental profit by share targeted with bootstrap
   CIs), :func:`best_share` (the share the policy contacts: highest profit among the shares
   whose profit CI lies above zero, else nobody) and :func:`uplift_scores_export` (the marketing
   list: the consenting customers inside that share, the same decision as the report's).

Covariates are pre-treatment only (:func:`screen_covariates`: ``uplift.covariates`` when given,
otherwise columns whose name marks a response or whose distribution differs between arms are
left out, each with its reason).

The question's entry point is :func:`run_uplift` (``run_uplift(data, *, options=...)``), which
returns an :class:`UpliftResult` (``findings()``, ``exports()`` and the display tables of
notebook 04). Private modules: ``_readout`` (experiment checks, readout), ``_evaluation`` (Qini,
AUUC, deciles), ``_models`` (learners, cross-fitting), ``_targeting`` (groups, profit, the
marketing list), ``_subgroups``, ``_history`` (purchase-history covariates, one Ibis path),
``_run`` (the analysis and its result) and ``_report`` (display tables and sentences).

Qini definition (binary outcomes only)
--------------------------------------
Peer libraries disagree on the random baseline and on the normalisation (causalml issues #577
and #798, scikit-uplift issues #53 and #93). Here, with customers sorted by predicted uplift
(ties kept together) and, among the top *n*, ``Y_T(n)``/``Y_C(n)`` converters and
``N_T(n)``/``N_C(n)`` customers in the treated and control arm:

* Qini curve ``Q(n) = Y_T(n) - Y_C(n) * N_T(n) / N_C(n)`` — incremental conversions among the
  treated customers of the top *n* (Radcliffe 2007).
* Random baseline: the straight line from ``(0, 0)`` to ``(N, Q(N))`` (the *theoretical*
  random ordering, not a sampled one).
* Normalised Qini coefficient ``(A_model - A_random) / (A_perfect - A_random)`` where ``A`` is
  the area under a curve (trapezoids) and the perfect curve ranks treated converters first and
  control converters last (so it allows negative effects). Random targeting scores 0, the
  perfect ordering of the observed outcomes scores 1; a model worse than random is negative.
  This equals ``sklift.metrics.qini_auc_score(..., negative_effect=True)`` (scikit-uplift 0.5).
* AUUC: the same construction on the uplift curve ``U(n) = (Y_T/N_T - Y_C/N_C) * n``, with the
  perfect curve of scikit-uplift's ``uplift_auc_score``; normalised the same way.
"""

from cxlib.uplift._constants import (
    ASSUMED_COST_PER_CONTACT,
    ASSUMED_VALUE_PER_CONVERSION,
    BINARY_OUTCOMES,
    GROUP_LABELS,
    GROUP_RELATIVE_THRESHOLD,
    NON_COVARIATES,
    OUTCOME_COLUMNS,
    PERSONAL_COLUMNS,
    READOUT_EXPORT_COLUMNS,
    RESPONSE_GROUPS,
    SCORES_EXPORT_COLUMNS,
    TARGETING_EXPORT_COLUMNS,
)
from cxlib.uplift._covariates import (
    MAX_SMD,
    RESPONSE_WORDS,
    covariate_doubts,
    name_words,
    screen_covariates,
)
from cxlib.uplift._evaluation import (
    auuc_score,
    evaluate_uplift,
    qini_coefficient,
    qini_curve,
    qini_curves_frame,
    uplift_by_decile,
    uplift_curve,
)
from cxlib.uplift._history import history_features, send_cutoff
from cxlib.uplift._models import (
    MAX_TRAIN_ROWS,
    TLearner,
    TransformedOutcome,
    UpliftModelResult,
    XLearner,
    cross_fitting_folds,
    default_models,
    fit_uplift_models,
)
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
from cxlib.uplift._report import (
    OUTCOME_WORDS,
    arm_label,
    campaign_description,
    compared_outcomes,
    deciles_display,
    deciles_note,
    deciles_shown,
    groups_display,
    groups_note,
    groups_shown,
    models_display,
    ranked_readout_sentence,
    readout_display,
    readout_sentence,
    recommended_display,
    scores_note,
    sleeping_dog_finding,
    srm_display,
    srm_sentence,
    srm_shown,
    targeting_intro,
    targeting_sentence,
    top_subgroup_covariate,
    training_note,
    uplift_findings,
    who_responds_sentences,
    who_responds_text,
)
from cxlib.uplift._run import (
    MIN_CONVERTERS_FOR_MODELS,
    OPTION_DEFAULTS,
    Skip,
    UpliftAnalysis,
    UpliftResult,
    campaign_problem,
    resolve_control_arm,
    run_uplift,
    skip_reason,
)
from cxlib.uplift._subgroups import (
    compare_arms_by_subgroup,
    effects_by_subgroup,
    subgroup_levels,
)
from cxlib.uplift._targeting import (
    best_share,
    consenting,
    expected_profit,
    group_summary,
    profit_curve,
    response_groups,
    share_threshold,
    targeting_table,
    uplift_scores_export,
)

__all__ = [
    "arm_label",
    "ASSUMED_COST_PER_CONTACT",
    "ASSUMED_VALUE_PER_CONVERSION",
    "auuc_score",
    "best_share",
    "BINARY_OUTCOMES",
    "campaign_description",
    "campaign_problem",
    "campaign_readout",
    "CampaignSpec",
    "compare_arms_by_subgroup",
    "compared_outcomes",
    "consenting",
    "covariate_balance",
    "covariate_doubts",
    "covariate_matrix",
    "cross_fitting_folds",
    "deciles_display",
    "deciles_note",
    "deciles_shown",
    "default_models",
    "describe_campaign",
    "effects_by_subgroup",
    "evaluate_uplift",
    "expected_profit",
    "fit_uplift_models",
    "GROUP_LABELS",
    "GROUP_RELATIVE_THRESHOLD",
    "group_summary",
    "groups_display",
    "groups_note",
    "groups_shown",
    "history_features",
    "MAX_SMD",
    "MAX_TRAIN_ROWS",
    "MIN_CONVERTERS_FOR_MODELS",
    "models_display",
    "name_words",
    "NON_COVARIATES",
    "OPTION_DEFAULTS",
    "OUTCOME_COLUMNS",
    "OUTCOME_WORDS",
    "PERSONAL_COLUMNS",
    "profit_curve",
    "qini_coefficient",
    "qini_curve",
    "qini_curves_frame",
    "ranked_readout_sentence",
    "readout_display",
    "READOUT_EXPORT_COLUMNS",
    "readout_sentence",
    "ReadoutResult",
    "recommended_display",
    "response_groups",
    "RESPONSE_GROUPS",
    "RESPONSE_WORDS",
    "run_uplift",
    "SCORES_EXPORT_COLUMNS",
    "scores_note",
    "screen_covariates",
    "send_cutoff",
    "share_threshold",
    "Skip",
    "resolve_control_arm",
    "skip_reason",
    "sleeping_dog_finding",
    "srm_display",
    "srm_sentence",
    "srm_shown",
    "srm_test",
    "SRMResult",
    "subgroup_levels",
    "TARGETING_EXPORT_COLUMNS",
    "targeting_intro",
    "targeting_sentence",
    "targeting_table",
    "TLearner",
    "top_subgroup_covariate",
    "training_note",
    "TransformedOutcome",
    "uplift_by_decile",
    "uplift_curve",
    "uplift_findings",
    "uplift_scores_export",
    "UpliftAnalysis",
    "UpliftModelResult",
    "UpliftResult",
    "who_responds_sentences",
    "who_responds_text",
    "XLearner",
]
