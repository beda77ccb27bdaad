"""Uplift learners and their cross-fitted out-of-fold scores."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedKFold

from cxlib.threads import openmp_threads
from cxlib.uplift._evaluation import evaluate_uplift
from cxlib.uplift._readout import describe_campaign

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Uplift learners (scikit-learn style: fit(X, y, treatment), predict(X) -> uplift)
# --------------------------------------------------------------------------------------------
def _leaf_size(n_rows: int, share: float, lo: int, hi: int) -> int:
    return int(np.clip(round(share * n_rows), lo, hi))


def _default_classifier(random_state, n_rows: int = 10_000):
    """Gradient boosting with strong regularisation: uplift is a small difference of two
    noisy predictions, so leaves hold at least 2.5% of the rows (20 to 400)."""
    return HistGradientBoostingClassifier(
        max_iter=150,
        learning_rate=0.05,
        max_leaf_nodes=6,
        min_samples_leaf=_leaf_size(n_rows, 0.025, 20, 400),
        l2_regularization=1.0,
        early_stopping=False,
        random_state=random_state,
    )


def _default_regressor(random_state, n_rows: int = 10_000):
    return HistGradientBoostingRegressor(
        max_iter=100,
        learning_rate=0.05,
        max_leaf_nodes=6,
        min_samples_leaf=_leaf_size(n_rows, 0.03, 30, 600),
        l2_regularization=1.0,
        early_stopping=False,
        random_state=random_state,
    )


def _column_major(X):
    """``X`` as a column-major (Fortran-order) array when it is a numpy array.

    scikit-learn's histogram gradient boosting predicts tree by tree over all rows and reads,
    for each row, the feature of the current node: in column-major order those reads are
    consecutive in memory, which makes predictions several times faster on large data than
    on row-major rows (identical results, ``tests/test_uplift.py``)."""
    return np.asfortranarray(X) if isinstance(X, np.ndarray) else X


def _take_rows(X, rows: np.ndarray):
    """The rows ``rows`` (a boolean mask) of ``X``, column-major (:func:`_column_major`)."""
    return _column_major(X[rows])


def _proba(model, X) -> np.ndarray:
    p = model.predict_proba(_column_major(X))
    classes = list(model.classes_)
    if 1 in classes or 1.0 in classes:
        return p[:, classes.index(1)]
    return np.zeros(len(X))


def _fit_binary(estimator, X, y) -> Any:
    """Fit a classifier; a constant outcome gives a constant model."""
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return _Constant(float(y.mean()) if len(y) else 0.0)
    return estimator.fit(X, y)


class _Constant:
    classes_ = [0, 1]

    def __init__(self, p: float) -> None:
        self.p = p

    def predict_proba(self, X) -> np.ndarray:
        return np.column_stack([np.full(len(X), 1 - self.p), np.full(len(X), self.p)])


#: Rows the T-learner's default outcome models size their leaves for (2.5%: 250 rows), whatever
#: the arm's size.
T_LEARNER_LEAF_ROWS = 10_000


class TLearner(BaseEstimator):
    """Two-model uplift: one outcome classifier per arm, uplift = p_treated(x) − p_control(x).

    Parameters
    ----------
    estimator : classifier, optional
        Cloned for each arm (default: histogram gradient boosting with leaves of
        :data:`T_LEARNER_LEAF_ROWS`-based size).
    random_state : int, optional
    """

    def __init__(self, estimator=None, random_state: int | None = None) -> None:
        self.estimator = estimator
        self.random_state = random_state

    def _outcome_model(self):
        if self.estimator is not None:
            return clone(self.estimator)
        return _default_classifier(self.random_state, T_LEARNER_LEAF_ROWS)

    def fit(self, X, y, treatment, *, control_model=None) -> TLearner:
        """Fit the two outcome models.

        Parameters
        ----------
        X, y, treatment : array-like
            Features, 0/1 outcome and 0/1 treatment of the training customers.
        control_model : fitted classifier, optional
            An outcome model already fitted on exactly the control rows of ``X`` with this
            learner's default estimator; used instead of fitting one, so that several offers
            share their control arm's model (:func:`fit_uplift_models`).
        """
        t = np.asarray(treatment).astype(bool)
        y = np.asarray(y)
        self.model_control_ = (
            control_model
            if control_model is not None
            else _fit_binary(self._outcome_model(), _take_rows(X, ~t), y[~t])
        )
        self.model_treated_ = _fit_binary(self._outcome_model(), _take_rows(X, t), y[t])
        self.n_features_in_ = X.shape[1]
        return self

    def predict_outcomes(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Predicted outcome probabilities ``(p_control, p_treated)``."""
        X = _column_major(X)
        return _proba(self.model_control_, X), _proba(self.model_treated_, X)

    def predict(self, X) -> np.ndarray:
        p0, p1 = self.predict_outcomes(X)
        return p1 - p0


class XLearner(BaseEstimator):
    """X-learner (Künzel et al. 2019) for a 0/1 outcome.

    Stage 1 fits outcome classifiers per arm; stage 2 regresses the imputed effects
    ``y − p_control(x)`` (treated) and ``p_treated(x) − y`` (control); the two effect models are
    combined with the treated share ``g``: ``tau(x) = g * tau_control(x) + (1 - g) *
    tau_treated(x)`` (a randomised campaign has a constant propensity).
    """

    def __init__(
        self, outcome_estimator=None, effect_estimator=None, random_state: int | None = None
    ) -> None:
        self.outcome_estimator = outcome_estimator
        self.effect_estimator = effect_estimator
        self.random_state = random_state

    def fit(self, X, y, treatment, *, control_model=None) -> XLearner:
        """Fit the outcome and effect models (``control_model`` as in :meth:`TLearner.fit`)."""
        t = np.asarray(treatment).astype(bool)
        y = np.asarray(y, dtype=float)

        def oe(n_rows):
            if self.outcome_estimator is not None:
                return clone(self.outcome_estimator)
            return _default_classifier(self.random_state, n_rows)

        def ee(n_rows):
            if self.effect_estimator is not None:
                return clone(self.effect_estimator)
            return _default_regressor(self.random_state, n_rows)

        n1, n0 = int(t.sum()), int((~t).sum())
        x1, x0 = _take_rows(X, t), _take_rows(X, ~t)
        m0 = control_model if control_model is not None else _fit_binary(oe(n0), x0, y[~t])
        m1 = _fit_binary(oe(n1), x1, y[t])
        d1 = y[t] - _proba(m0, x1)
        d0 = _proba(m1, x0) - y[~t]
        self.effect_treated_ = ee(n1).fit(x1, d1)
        self.effect_control_ = ee(n0).fit(x0, d0)
        self.propensity_ = float(t.mean())
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        g = self.propensity_
        X = _column_major(X)
        return g * self.effect_control_.predict(X) + (1 - g) * self.effect_treated_.predict(X)


class TransformedOutcome(BaseEstimator):
    """Class transformation generalised to any allocation (transformed-outcome regression).

    With treated share ``p``, ``z = y * (t - p) / (p * (1 - p))`` has expectation equal to the
    uplift given x; a regressor of ``z`` on x predicts uplift. For ``p = 0.5`` this is the
    classic class-transformation approach (Jaskowski & Jaroszewicz 2012) rescaled.
    """

    def __init__(self, estimator=None, random_state: int | None = None) -> None:
        self.estimator = estimator
        self.random_state = random_state

    def fit(self, X, y, treatment) -> TransformedOutcome:
        t = np.asarray(treatment, dtype=float)
        y = np.asarray(y, dtype=float)
        p = float(t.mean())
        z = y * (t - p) / (p * (1 - p))
        if self.estimator is not None:
            est = clone(self.estimator)
        else:
            est = _default_regressor(self.random_state, len(z))
        self.model_ = est.fit(X, z)
        self.propensity_ = p
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        return self.model_.predict(_column_major(X))


def default_models(random_state: int | None = 0) -> dict[str, BaseEstimator]:
    """The models compared in notebook 04."""
    return {
        "T-learner": TLearner(random_state=random_state),
        "X-learner": XLearner(random_state=random_state),
        "Class transformation": TransformedOutcome(random_state=random_state),
    }


@dataclass
class UpliftModelResult:
    """Out-of-fold uplift predictions of several models for every offer arm.

    Attributes
    ----------
    scores : DataFrame
        One row per campaign customer (campaign row order): ``customer_id, group``, then
        ``<model>|<arm>`` predicted uplift and ``p_control|<arm>`` (T-learner control
        probability), each predicted by a model that did not see that customer.
    evaluation : DataFrame
        ``arm, model, qini, qini_ci_low, qini_ci_high, auuc, auuc_ci_low, auuc_ci_high``,
        each on that arm and the control customers.
    best_model : str
        Model with the highest mean Qini over the arms.
    """

    scores: pd.DataFrame
    evaluation: pd.DataFrame
    best_model: str
    arms: list[str]
    control_arm: str
    outcome: str
    features: list[str]
    n_folds: int = 0
    """Cross-fitting folds used (see :func:`cross_fitting_folds`; 0 = not recorded)."""
    train_cap: int | None = None
    """The training-row cap when it thinned a fold's training customers (None: it did not)."""

    def uplift(self, arm: str, model: str | None = None) -> pd.Series:
        return self.scores[f"{model or self.best_model}|{arm}"]

    def arm_frame(self, arm: str, model: str | None = None) -> pd.DataFrame:
        """Rows of ``arm`` and control with ``y``, ``treatment``, ``uplift``, ``p_control``."""
        s = self.scores
        m = s["group"].isin([arm, self.control_arm])
        return pd.DataFrame(
            {
                "customer_id": s.loc[m, "customer_id"],
                "y": s.loc[m, "_y"],
                "treatment": (s.loc[m, "group"] == arm).astype(int),
                "uplift": s.loc[m, f"{model or self.best_model}|{arm}"],
                "p_control": s.loc[m, f"p_control|{arm}"],
            }
        )


MAX_TRAIN_ROWS = 100_000
"""Default cap on the rows one fold's uplift model is fitted on (see :func:`fit_uplift_models`)."""


def cross_fitting_folds(
    n_folds: int, pair_sizes: Iterable[int], max_train_rows: int | None = MAX_TRAIN_ROWS
) -> int:
    """Number of cross-fitting folds: ``n_folds``, or fewer when that changes no model's size.

    A fold's model is fitted on the other folds' customers of an offer arm and control, capped
    at ``max_train_rows``. When even two folds leave every pair (arm + control) with at least
    ``max_train_rows`` training customers, more folds only fit more models of the same size:
    the fewest folds ``k >= 2`` with ``(k - 1) / k * smallest pair >= max_train_rows`` are
    used. Every customer is still scored by a model that did not see them. Small campaigns
    (no cap reached) keep ``n_folds``.
    """
    sizes = list(pair_sizes)
    if max_train_rows is None or not sizes:
        return n_folds
    smallest = min(sizes)
    for k in range(2, n_folds):
        if smallest * (k - 1) / k >= max_train_rows:
            return k
    return n_folds


def fit_uplift_models(
    campaign: pd.DataFrame,
    X: pd.DataFrame,
    *,
    outcome: str = "converted",
    control_arm: str = "control",
    models: Mapping[str, BaseEstimator] | None = None,
    n_folds: int = 5,
    n_bootstrap: int = 200,
    random_state: int | None = 0,
    n_threads: int | str | None = "auto",
    max_train_rows: int | None = MAX_TRAIN_ROWS,
) -> UpliftModelResult:
    """Cross-fitted uplift predictions for every offer arm against control, and their Qini.

    The campaign customers are split into ``n_folds`` folds (stratified by arm and outcome).
    For each fold, each model is fitted on the other folds' customers of the arm and control,
    and predicts the uplift of every customer in the held-out fold, so every customer (of any
    arm) gets, for every offer arm, a prediction from a model that did not see them.

    Parameters
    ----------
    campaign : DataFrame
        Campaign table (``customer_id``, ``group``, ``outcome``).
    X : DataFrame
        Numeric pre-treatment features aligned row by row with ``campaign``
        (see :func:`covariate_matrix`).
    n_threads : int, "auto" or None
        OpenMP threads of the gradient-boosting fits and predictions (results do not depend on
        it). "auto": one thread for small campaigns, every CPU from about 100,000 customers, or
        ``CX_THREADS`` when set (see :mod:`cxlib.threads`); None = library default.
    max_train_rows : int or None
        Largest training set of one fold's model (arm + control customers of the other folds):
        a bigger one is a seeded random sample of it, stratified by arm and outcome. Every
        customer is still scored by a model that did not see them; only large campaigns
        (hundreds of thousands of customers) are affected. When even fewer folds would give
        every model ``max_train_rows`` customers, fewer folds are used
        (:func:`cross_fitting_folds`; the result's ``n_folds``). None = no cap.
    """
    with openmp_threads(len(campaign), n_threads):
        return _fit_uplift_models(
            campaign,
            X,
            outcome=outcome,
            control_arm=control_arm,
            models=models,
            n_folds=n_folds,
            n_bootstrap=n_bootstrap,
            random_state=random_state,
            max_train_rows=max_train_rows,
        )


def _capped(rows: np.ndarray, strata: np.ndarray, cap: int | None, rng) -> np.ndarray:
    """``rows`` (a boolean mask) thinned to at most ``cap`` rows, in proportion per stratum."""
    idx = np.flatnonzero(rows)
    if cap is None or len(idx) <= cap:
        return rows
    keep = []
    for s in np.unique(strata[idx]):
        part = idx[strata[idx] == s]
        k = max(1, int(round(cap * len(part) / len(idx))))
        keep.append(rng.choice(part, min(k, len(part)), replace=False))
    out = np.zeros(len(rows), dtype=bool)
    out[np.concatenate(keep)] = True
    return out


def _fold_training_rows(
    g: np.ndarray,
    strata: np.ndarray,
    pool: np.ndarray,
    arms: Iterable[str],
    control_arm: str,
    cap: int | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[str, np.ndarray], bool]:
    """One fold's training rows: the control customers, shared by every offer, and each offer's
    own, from ``pool`` (the other folds).

    When the largest pair (offer + control) is over ``cap``, the control customers are a
    seeded sample with the control share of that pair (in proportion per outcome) and each
    offer's a sample filling the rest of ``cap``: every offer then meets the same control
    customers, whose outcome model is fitted once. Returns the masks and whether any was
    thinned.
    """
    ctrl = pool & (g == control_arm)
    own = {arm: pool & (g == arm) for arm in arms}
    n_ctrl = int(ctrl.sum())
    largest = max((int(m.sum()) for m in own.values()), default=0)
    if cap is None or n_ctrl + largest <= cap:
        return ctrl, own, False
    ctrl = _capped(ctrl, strata, min(n_ctrl, round(cap * n_ctrl / (n_ctrl + largest))), rng)
    room = max(1, cap - int(ctrl.sum()))
    return ctrl, {arm: _capped(m, strata, room, rng) for arm, m in own.items()}, True


def _control_leaf_rows(model: BaseEstimator, n_control: int) -> int | None:
    """The rows that ``model``'s default control outcome model sizes its leaves for, None when
    ``model`` fits no default control model (and so cannot take the fold's shared one)."""
    if isinstance(model, TLearner) and model.estimator is None:
        return T_LEARNER_LEAF_ROWS
    if isinstance(model, XLearner) and model.outcome_estimator is None:
        return n_control
    return None


class _ControlModels:
    """The control arm's outcome models of one fold (the default estimator), each fitted on
    first use for a random state and leaf size and shared by every offer."""

    def __init__(self, x_control: np.ndarray, y_control: np.ndarray) -> None:
        self.x_control = x_control
        self.y_control = y_control
        self.fitted: dict[tuple[Any, int], Any] = {}

    def model(self, random_state: int | None, leaf_rows: int) -> Any:
        key = (random_state, leaf_rows)
        if key not in self.fitted:
            estimator = _default_classifier(random_state, leaf_rows)
            self.fitted[key] = _fit_binary(estimator, self.x_control, self.y_control)
        return self.fitted[key]


def _fit_uplift_models(
    campaign,
    X,
    *,
    outcome,
    control_arm,
    models,
    n_folds,
    n_bootstrap,
    random_state,
    max_train_rows=MAX_TRAIN_ROWS,
) -> UpliftModelResult:
    spec = describe_campaign(campaign, control_arm)
    models = dict(models) if models is not None else default_models(random_state)
    y = pd.to_numeric(campaign[outcome], errors="coerce").fillna(0).to_numpy(dtype=float)
    g = campaign["group"].astype("str").to_numpy()
    Xv = X.to_numpy(dtype=float)
    n = len(campaign)
    strat = pd.Series(g).astype("str") + "|" + pd.Series(y.astype(int)).astype("str")
    counts = strat.value_counts()
    pairs = [int(np.isin(g, [arm, control_arm]).sum()) for arm in spec.arms]
    k_max = cross_fitting_folds(n_folds, pairs, max_train_rows)
    if k_max < n_folds:
        log.info(
            "uplift: %d cross-fitting folds instead of %d (every fold's model still has %d "
            "training customers)",
            k_max,
            n_folds,
            max_train_rows,
        )
    k = int(max(2, min(k_max, counts.min()))) if len(counts) else 2
    folds = np.zeros(n, dtype=int)
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state)
    for i, (_, test) in enumerate(skf.split(np.zeros(n), strat)):
        folds[test] = i
    out = pd.DataFrame(
        {"customer_id": campaign["customer_id"].to_numpy(), "group": g, "_y": y},
        index=campaign.index,
    )
    preds = {(name, arm): np.full(n, np.nan) for name in models for arm in spec.arms}
    p_ctrl = np.full(n, np.nan)
    cap_rng = np.random.default_rng(random_state)
    capped = False
    for f in range(k):
        ctrl_rows, own_rows, thinned = _fold_training_rows(
            g, strat.to_numpy(), folds != f, spec.arms, control_arm, max_train_rows, cap_rng
        )
        capped = capped or thinned
        test = folds == f
        x_test = _take_rows(Xv, test)
        control = _ControlModels(_take_rows(Xv, ctrl_rows), y[ctrl_rows])
        # the control rate: the T-learner's control model (shared with it when it is fitted)
        p_ctrl[test] = _proba(control.model(random_state, T_LEARNER_LEAF_ROWS), x_test)
        for arm in spec.arms:
            train = ctrl_rows | own_rows[arm]
            t_train = (g[train] == arm).astype(int)
            x_train, y_train = _take_rows(Xv, train), y[train]  # once per fold, column-major
            for name, model in models.items():
                m = clone(model)
                leaf_rows = _control_leaf_rows(m, int(ctrl_rows.sum()))
                if leaf_rows is None:
                    m.fit(x_train, y_train, t_train)
                else:  # the control arm's model, fitted once per fold for every offer
                    shared = control.model(m.random_state, leaf_rows)
                    m.fit(x_train, y_train, t_train, control_model=shared)
                preds[(name, arm)][test] = m.predict(x_test)
        log.info("uplift models fitted for fold %d of %d", f + 1, k)
    for arm in spec.arms:
        for name in models:
            out[f"{name}|{arm}"] = preds[(name, arm)]
        out[f"p_control|{arm}"] = p_ctrl
    evals = []
    binary = set(np.unique(y)) <= {0.0, 1.0}
    for arm in spec.arms:
        m = np.isin(g, [arm, control_arm])
        t = (g[m] == arm).astype(int)
        if binary:
            ev = evaluate_uplift(
                y[m],
                t,
                {name: out.loc[m, f"{name}|{arm}"].to_numpy() for name in models},
                n_bootstrap=n_bootstrap,
                random_state=random_state,
            )
        else:
            ev = pd.DataFrame({"model": list(models)})
        ev.insert(0, "arm", arm)
        evals.append(ev)
    evaluation = pd.concat(evals, ignore_index=True)
    if binary:
        best = evaluation.groupby("model", sort=False)["qini"].mean().idxmax()
    else:
        best = next(iter(models))
    return UpliftModelResult(
        out,
        evaluation,
        str(best),
        spec.arms,
        control_arm,
        outcome,
        list(X.columns),
        k,
        max_train_rows if capped else None,
    )
