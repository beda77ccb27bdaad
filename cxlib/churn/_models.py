"""The churn classifiers: an interpretable logistic regression and calibrated gradient boosting."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import special
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from cxlib.churn._bgnbd import _Z95
from cxlib.churn._features import feature_label
from cxlib.report import format_significant
from cxlib.threads import native_threads, openmp_threads

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def _is_categorical(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def _independent_columns(X: np.ndarray, names: list[str], tol: float = 1e-7) -> list[int]:
    """Indices of columns kept greedily (in order) so that the design has full column rank."""
    Xc = X - X.mean(axis=0)
    gram = Xc.T @ Xc
    keep: list[int] = []
    for j in range(X.shape[1]):
        var = gram[j, j]
        if var <= tol * max(1.0, len(X)):
            continue
        if keep:
            g_kk = gram[np.ix_(keep, keep)]
            g_kj = gram[keep, j]
            try:
                coef = np.linalg.solve(g_kk, g_kj)
            except np.linalg.LinAlgError:
                coef = np.linalg.lstsq(g_kk, g_kj, rcond=None)[0]
            resid = var - g_kj @ coef
            if resid <= 1e-6 * var:
                log.info("logit: dropped %r (collinear with other features)", names[j])
                continue
        keep.append(j)
    return keep


def _separating_columns(D: pd.DataFrame, y: np.ndarray, min_count: int = 1) -> list[str]:
    """0/1 design columns whose 'yes' rows all share one outcome (quasi-complete separation)."""
    out = []
    for c in D.columns:
        v = D[c].to_numpy()
        if not np.all((v == 0) | (v == 1)):
            continue
        on = v == 1
        for part in (on, ~on):
            if part.sum() and min(y[part].sum(), (1 - y[part]).sum()) < min_count:
                out.append(c)
                break
    return out


try:  # scikit-learn is a hard dependency; imported here to keep module import light
    from sklearn.base import BaseEstimator, ClassifierMixin
except ImportError:  # pragma: no cover
    BaseEstimator = object  # type: ignore[misc,assignment]
    ClassifierMixin = object  # type: ignore[misc,assignment]


class LogitChurnModel(ClassifierMixin, BaseEstimator):
    """Logistic regression (statsmodels) with readable odds ratios.

    Preprocessing learnt in :meth:`fit`: non-negative skewed numeric columns are log1p-transformed
    and every continuous column is standardised (odds ratios per one standard deviation); 0/1
    columns stay as they are (odds ratio yes vs no); text columns are one-hot encoded against their
    most frequent level; missing numeric values are filled with the median plus an indicator;
    constant and collinear columns are dropped.

    Parameters
    ----------
    features : list of str, optional
        Columns to use (default: all columns of ``X``).
    skew_threshold : float
        Log-transform non-negative columns with skewness above this.
    max_levels : int
        Keep at most this many levels of a text column (the rest become ``other``).
    min_count : int
        Levels and 0/1 columns with fewer rows than this on a side are left out (they would be
        groups too small to show in a report, and their effects cannot be estimated).

    Attributes
    ----------
    result_ : statsmodels results
    terms_ : list of str
        Design columns (``col`` or ``col[level]``).
    """

    def __init__(
        self,
        features: list[str] | None = None,
        skew_threshold: float = 1.0,
        max_levels: int = 20,
        min_count: int = 10,
    ) -> None:
        self.features = features
        self.skew_threshold = skew_threshold
        self.max_levels = max_levels
        self.min_count = min_count

    # -- design -------------------------------------------------------------------------------
    def _learn_design(self, X: pd.DataFrame) -> None:
        cols = list(self.features) if self.features is not None else list(X.columns)
        self.feature_names_in_ = np.asarray(cols, dtype=object)
        self.spec_: dict[str, dict[str, Any]] = {}
        for c in cols:
            s = X[c]
            if _is_categorical(s):
                vc = s.astype("str").fillna("missing").value_counts()
                vc = vc[vc >= self.min_count]
                levels = list(vc.index[: self.max_levels])
                if len(levels) >= 2:
                    self.spec_[c] = {"kind": "cat", "levels": levels, "ref": levels[0]}
                continue
            v = pd.to_numeric(s, errors="coerce").astype(float)
            nn = v.dropna()
            if nn.nunique() <= 1:
                continue
            binary = set(np.unique(nn)) <= {0.0, 1.0}
            if binary and min((nn == 1).sum(), (nn == 0).sum()) < self.min_count:
                continue  # too few customers on one side to show (and to estimate)
            spec: dict[str, Any] = {"kind": "bin" if binary else "num"}
            spec["median"] = float(nn.median())
            spec["missing"] = bool(v.isna().any())
            if not binary:
                spec["log"] = bool(nn.min() >= 0 and nn.skew() > self.skew_threshold)
                t = np.log1p(nn) if spec["log"] else nn
                spec["mean"] = float(t.mean())
                spec["sd"] = float(t.std(ddof=0)) or 1.0
                spec["raw_sd"] = float(nn.std(ddof=0))
            self.spec_[c] = spec

    def _design(self, X: pd.DataFrame) -> pd.DataFrame:
        parts: dict[str, np.ndarray] = {}
        for c, spec in self.spec_.items():
            s = X[c]
            if spec["kind"] == "cat":
                v = s.astype("str").fillna("missing")
                v = v.where(v.isin(spec["levels"]), "other")
                for lev in spec["levels"][1:]:
                    parts[f"{c}[{lev}]"] = (v == lev).to_numpy(dtype=float)
                continue
            v = pd.to_numeric(s, errors="coerce").astype(float)
            miss = v.isna().to_numpy()
            v = v.fillna(spec["median"]).to_numpy(dtype=float)
            if spec["kind"] == "num":
                if spec["log"]:
                    v = np.log1p(np.clip(v, 0, None))
                v = (v - spec["mean"]) / spec["sd"]
            parts[c] = v
            if spec["missing"]:
                parts[f"{c}_missing"] = miss.astype(float)
        return pd.DataFrame(parts, index=X.index)

    # -- fit / predict -------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y, groups=None) -> LogitChurnModel:
        """Fit; ``groups`` (e.g. customer ids) gives cluster-robust standard errors."""
        import statsmodels.api as sm

        y = np.asarray(y, dtype=float)
        self.classes_ = np.array([0, 1])
        self._learn_design(X)
        D = self._design(X)
        sep = _separating_columns(D, y)
        if sep:
            log.info("logit: dropped %s (every such customer has the same outcome)", sep)
            D = D.drop(columns=sep)
        self.dropped_terms_ = sep
        keep = _independent_columns(D.to_numpy(), list(D.columns))
        self.terms_ = [D.columns[j] for j in keep]
        exog = sm.add_constant(D[self.terms_].to_numpy(), has_constant="add")
        names = ["const", *self.terms_]
        model = sm.Logit(y, exog)
        fit_kw: dict[str, Any] = {"disp": 0, "maxiter": 100, "method": "newton"}
        if groups is not None:
            codes = pd.factorize(pd.Series(np.asarray(groups)))[0]
            fit_kw.update(cov_type="cluster", cov_kwds={"groups": codes})
        # one BLAS/OpenMP thread: on a loaded 2-core machine busy-waiting threads made this fit
        # about 25x slower than one thread (measured while developing this module)
        with native_threads(1), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                res = model.fit(**fit_kw)
                if not np.all(np.isfinite(res.params)):
                    raise np.linalg.LinAlgError("non-finite coefficients")
            except Exception as exc:  # perfect separation or singular Hessian
                log.warning("logit: plain fit failed (%s); using a lightly penalised fit", exc)
                res = model.fit_regularized(method="l1", alpha=1e-3 * len(y), disp=0)
        self.converged_ = bool(res.mle_retvals.get("converged", False))
        if not self.converged_:
            log.warning("logit: the fit did not converge; treat its odds ratios with care")
        self.result_ = res
        self.params_ = pd.Series(np.asarray(res.params), index=names)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of each class (column 1 = churn/lapse)."""
        D = self._design(X)[self.terms_].to_numpy()
        eta = self.params_.iloc[0] + D @ self.params_.iloc[1:].to_numpy()
        p = special.expit(eta)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def summary(self, *, recent_days: int = 90, low_score: float = 2.5) -> pd.DataFrame:
        """Odds ratios with 95% CIs and p-values, one row per term, sorted by p-value.

        Columns: ``term``, ``label`` (plain language), ``per`` (unit of the odds ratio),
        ``coef`` (log-odds), ``estimate`` (odds ratio), ``ci_low``, ``ci_high``, ``p_value``.
        """
        res = self.result_
        params = np.asarray(res.params)
        try:
            bse = np.asarray(res.bse)
            pvals = np.asarray(res.pvalues)
        except Exception:  # regularised fit: no standard errors
            bse = np.full_like(params, np.nan)
            pvals = np.full_like(params, np.nan)
        rows = []
        for i, term in enumerate(self.terms_, start=1):
            base = term.split("[", 1)[0] if "[" in term else term.removesuffix("_missing")
            spec = self.spec_.get(base, {})
            if term.endswith("_missing") or "[" in term:
                ref = spec.get("ref")
                per = f"vs {ref}" if "[" in term and ref is not None else "unknown vs known"
            elif spec.get("kind") == "bin":
                per = "yes vs no"
            elif spec.get("log"):
                per = "x e^SD (log scale)"
            else:
                per = f"+1 SD ({format_significant(spec.get('raw_sd'))})"
            rows.append(
                {
                    "term": term,
                    "label": feature_label(term, recent_days=recent_days, low_score=low_score),
                    "per": per,
                    "coef": params[i],
                    "estimate": float(np.exp(params[i])),
                    "ci_low": float(np.exp(params[i] - _Z95 * bse[i])),
                    "ci_high": float(np.exp(params[i] + _Z95 * bse[i])),
                    "p_value": pvals[i],
                }
            )
        out = pd.DataFrame(rows)
        return out.sort_values(["p_value", "term"], kind="stable").reset_index(drop=True)

    def attributable_fractions(
        self,
        X: pd.DataFrame,
        *,
        n_draws: int = 200,
        max_rows: int = 20_000,
        random_state: int | None = None,
    ) -> pd.DataFrame:
        """Population attributable fraction of each 0/1 or one-hot term, with a 95% CI.

        For a term the *exposed* customers are those in its higher-risk state (a flag at 1 when
        its odds ratio is above 1, at 0 when below; for a level of a text column, that level when
        its odds ratio is above 1, the reference level when below). With predicted
        probabilities ``p_i`` and ``p_i*`` (the exposed moved to the lower-risk state, every other
        column unchanged), ``PAF = 1 - sum(p*) / sum(p)``: the share of expected leavers the
        model associates with the exposure (model-based, Greenland & Drescher 1993). The CI is a
        parametric bootstrap: ``n_draws`` coefficient vectors drawn from the normal distribution
        of the estimates (their cluster-robust covariance), percentile 2.5-97.5%. Continuous
        terms have no PAF (left out). At most ``max_rows`` customers (a seeded random sample)
        are averaged over.

        Returns ``term``, ``column``, ``exposed_value`` (the value of ``column`` that marks the
        exposed, as text for a text column), ``reference_value``, ``exposed``
        (customers), ``paf``, ``paf_ci_low``, ``paf_ci_high``.
        """
        cols = ["term", "column", "exposed_value", "reference_value", "exposed", "paf"]
        cols += ["paf_ci_low", "paf_ci_high"]
        rng = np.random.default_rng(random_state)
        if len(X) > max_rows:
            X = X.iloc[np.sort(rng.choice(len(X), max_rows, replace=False))]
        D = self._design(X)[self.terms_]
        beta = self.params_.to_numpy()
        try:
            cov = np.asarray(self.result_.cov_params())
        except Exception:  # regularised fit: no covariance
            cov = np.full((len(beta), len(beta)), np.nan)
        ok = np.all(np.isfinite(cov))
        draws = rng.multivariate_normal(beta, cov, size=n_draws) if ok else beta[None, :]
        A = np.column_stack([np.ones(len(D)), D.to_numpy()])
        eta = A @ draws.T  # customers x draws
        p = special.expit(eta)
        eta0 = A @ beta
        p0 = special.expit(eta0).sum()
        rows = []
        for j, term in enumerate(self.terms_, start=1):
            row = self._exposure(term, D, beta[j])
            if row is None:
                continue
            exposed, shift = row.pop("mask"), row.pop("shift")
            if not exposed.any():
                continue
            # moving the exposed to the lower-risk state shifts their log-odds
            p_cf = special.expit(eta + (exposed * shift)[:, None] * draws[:, j][None, :])
            paf = 1 - p_cf.sum(axis=0) / p.sum(axis=0)
            est = 1 - special.expit(eta0 + exposed * shift * beta[j]).sum() / p0
            lo, hi = np.quantile(paf, [0.025, 0.975]) if ok else (np.nan, np.nan)
            rows.append(
                {
                    "term": term,
                    **row,
                    "exposed": int(exposed.sum()),
                    "paf": float(est),
                    "paf_ci_low": float(lo),
                    "paf_ci_high": float(hi),
                }
            )
        return pd.DataFrame(rows, columns=cols)

    def _exposure(self, term: str, D: pd.DataFrame, coef: float) -> dict[str, Any] | None:
        """The exposed rows of a 0/1 or one-hot ``term`` and the shift (+1 / -1) of the term's
        column that moves them to the lower-risk state; None for other terms."""
        if term.endswith("_missing"):
            return None
        if "[" in term:
            col, level = term[:-1].split("[", 1)
            ref = self.spec_[col]["ref"]
            if coef > 0:
                mask, shift, exp_v, ref_v = D[term].to_numpy() == 1, -1.0, level, ref
            else:  # the reference level carries the higher risk
                dummies = [t for t in D.columns if t.startswith(f"{col}[")]
                mask = (D[dummies].to_numpy() == 0).all(axis=1)
                shift, exp_v, ref_v = 1.0, ref, level
            return {
                "column": col,
                "exposed_value": exp_v,
                "reference_value": ref_v,
                "mask": mask.astype(float),
                "shift": shift,
            }
        if self.spec_.get(term, {}).get("kind") != "bin":
            return None
        on = D[term].to_numpy() == 1
        mask, shift = (on, -1.0) if coef > 0 else (~on, 1.0)
        return {
            "column": term,
            "exposed_value": 1.0 if coef > 0 else 0.0,
            "reference_value": 0.0 if coef > 0 else 1.0,
            "mask": mask.astype(float),
            "shift": shift,
        }


class BoostedChurnModel(ClassifierMixin, BaseEstimator):
    """Gradient boosting (``HistGradientBoostingClassifier``) with isotonic calibration.

    Calibration uses :class:`~sklearn.calibration.CalibratedClassifierCV` with folds grouped by
    customer when ``groups`` is given (one customer's snapshots never straddle a fold).

    Parameters
    ----------
    features : list of str, optional
        Columns to use (default: all columns of ``X``).
    max_iter, learning_rate, max_leaf_nodes, l2_regularization, min_samples_leaf
        Passed to ``HistGradientBoostingClassifier``.
    calibration : {"isotonic", "sigmoid"}
        Calibration method.
    cv : int
        Calibration folds.
    random_state : int, optional
    n_threads : int, "auto" or None
        OpenMP threads of the fits and predictions (results do not depend on it; "auto": see
        :func:`cxlib.threads.model_threads`).
    """

    def __init__(
        self,
        features: list[str] | None = None,
        max_iter: int = 300,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        l2_regularization: float = 1.0,
        min_samples_leaf: int = 50,
        calibration: str = "isotonic",
        cv: int = 3,
        random_state: int | None = None,
        n_threads: int | str | None = "auto",
    ) -> None:
        self.features = features
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.min_samples_leaf = min_samples_leaf
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state
        self.n_threads = n_threads

    def _prepare(self, X: pd.DataFrame, learn: bool = False) -> pd.DataFrame:
        if learn:
            cols = list(self.features) if self.features is not None else list(X.columns)
            self.feature_names_in_ = np.asarray(cols, dtype=object)
            self.categories_: dict[str, list[str]] = {}
            for c in cols:
                if _is_categorical(X[c]):
                    vc = X[c].astype("str").fillna("missing").value_counts()
                    self.categories_[c] = sorted(vc.index[:50])
        out = pd.DataFrame(index=X.index)
        for c in self.feature_names_in_:
            if c in self.categories_:
                v = X[c].astype("str").fillna("missing")
                out[c] = pd.Categorical(v, categories=self.categories_[c])
            else:
                out[c] = pd.to_numeric(X[c], errors="coerce").astype(float)
        return out

    def fit(self, X: pd.DataFrame, y, groups=None) -> BoostedChurnModel:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.model_selection import GroupKFold, StratifiedKFold

        y = np.asarray(y, dtype=int)
        self.classes_ = np.array([0, 1])
        Z = self._prepare(X, learn=True)
        hgb = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            l2_regularization=self.l2_regularization,
            min_samples_leaf=self.min_samples_leaf,
            categorical_features="from_dtype",
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=20,
            random_state=self.random_state,
        )
        if groups is not None:
            splits = list(GroupKFold(n_splits=self.cv).split(Z, y, np.asarray(groups)))
        else:
            splits = list(
                StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state).split(Z, y)
            )
        with openmp_threads(len(Z), self.n_threads):
            self.model_ = CalibratedClassifierCV(hgb, method=self.calibration, cv=splits).fit(Z, y)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        with openmp_threads(len(X), self.n_threads):
            return self.model_.predict_proba(self._prepare(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
