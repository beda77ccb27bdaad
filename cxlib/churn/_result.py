"""The result of a churn run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from cxlib.churn._btyd_fit import BehaviourSegments, BTYDFit
from cxlib.privacy import Suppressed
from cxlib.result import QuestionResult

if TYPE_CHECKING:
    from cxlib.report import Finding


@dataclass
class ChurnResult(QuestionResult):
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
        the candidate drivers (feedback, app use, attributes) adjusted for
        :data:`~cxlib.churn.DRIVER_CONTROLS` (log(1 + purchases), recency, tenure, whether a
        score was given), without the behavioural segments, fitted on all labelled rows.
        Contractual mode: the scoring logistic regression (attributes are the drivers).
    score_odds_ratios : DataFrame or None
        Non-contractual mode: summary of the scoring logistic regression (pattern included).
    drivers : DataFrame
        :func:`driver_table` (Holm-adjusted p-values, ranked by attributable fraction) with the
        observed ``rate_exposed`` and ``rate_reference``.
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
    min_group_size: int = 10
    action_list_size: int = 25
    currency: str = ""

    # -- the shape every question's result shares ---------------------------------------------
    def findings(self) -> list[Finding]:
        """The finding sentences (:func:`churn_findings`), headlines marked."""
        from cxlib.churn._report import churn_findings
        from cxlib.report import Finding

        return [
            Finding(text, headline)
            for text, headline in churn_findings(self, min_group_size=self.min_group_size)
        ]

    def exports(self) -> dict[str, pd.DataFrame]:
        """``churn_scores.csv``: :func:`scores_export` (one row per customer record)."""
        from cxlib.churn._exports import scores_export

        return {"churn_scores.csv": scores_export(self)}

    # -- display tables of notebook 03 ----------------------------------------------------------
    def action_list(self, pseudonym_key: str) -> pd.DataFrame:
        """:func:`action_list` of ``action_list_size`` customers (pseudonymised ids)."""
        from cxlib.churn._exports import action_list

        return action_list(self, pseudonym_key, top_n=self.action_list_size)

    def segment_risk_suppressed(self) -> Suppressed:
        """Risk by segment, segments under ``min_group_size`` hidden, with the number hidden
        (:func:`segment_risk_suppressed`)."""
        from cxlib.churn._exports import segment_risk_suppressed

        return segment_risk_suppressed(self, self.min_group_size)

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
