"""Cross-sell: the categories each customer is likely to buy next and has not bought yet.

:class:`CrossSellModel` is a scikit-learn style estimator over one of the candidates of
:mod:`cxlib.action._crosssell_scorers` (``popularity``, ``association``, ``item_knn``,
``user_knn``, ``hybrid``). It is fitted on the purchases through the end of an analysis date and
recommends, per customer, the ``k`` best-scored categories the customer has not bought in that
history, each with a ``score`` and a ``reason``. Which candidate to use is decided out of time by
:func:`cxlib.action._crosssell_eval.evaluate_cross_sell`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from cxlib.action._category_history import CategoryHistory, last_purchase_day, load_histories
from cxlib.action._crosssell_scorers import (
    DENSE_CATEGORIES,
    AssociationScorer,
    Basis,
    HybridScorer,
    ItemKnnScorer,
    PopularityScorer,
    UserKnnScorer,
    distinct_rows,
)
from cxlib.engine import Engine, data_end, engine_for

log = logging.getLogger(__name__)

#: The candidates, the baseline first.
CANDIDATES: tuple[str, ...] = ("popularity", "association", "item_knn", "user_knn", "hybrid")

#: Columns of :meth:`CrossSellModel.recommend` (and of ``cross_sell.csv``).
RECOMMENDATION_COLUMNS: tuple[str, ...] = ("customer_id", "category", "score", "rank", "reason")

#: Most customer × category cells scored at once (a block of customers at a time).
BLOCK_CELLS = 2_000_000


class CrossSellModel(BaseEstimator):
    """Next-category recommender: per customer, the categories not bought yet, best first.

    Parameters
    ----------
    method : str
        One of :data:`CANDIDATES` (see :mod:`cxlib.action._crosssell_scorers`).
    n_neighbors : int
        ``user_knn``: similar customers who vote.
    item_neighbors : int
        ``item_knn``: most similar categories each category keeps.
    n_reference : int
        ``user_knn``: most customers neighbours are drawn from (a seeded sample beyond it).
    shrinkage : float
        ``association``: pseudo-customers pulling a rule's confidence towards the category's
        share, so that a rule from a handful of customers does not win.
    horizon_days : int
        ``hybrid``: the training horizon (first purchases in the last ``horizon_days`` days
        before the analysis date, from the history before them).
    max_train_customers : int
        ``hybrid``: most customers whose categories it learns from (a seeded sample beyond).
    seed : int
        Seed of the samples.

    Attributes
    ----------
    method_ : str
    as_of_date_ : Timestamp
        The analysis date fitted through (its whole day).
    customers_ : Index
        Customers with a purchase with a category.
    categories_ : Index
        Categories bought.
    popularity_ : Series
        Share of customers who bought each category.
    scorer_ : object
        The fitted candidate.
    """

    def __init__(
        self,
        method: str = "hybrid",
        *,
        n_neighbors: int = 100,
        item_neighbors: int = 50,
        n_reference: int = 5_000,
        shrinkage: float = 10.0,
        horizon_days: int = 56,
        max_train_customers: int = 20_000,
        seed: int = 0,
    ):
        self.method = method
        self.n_neighbors = n_neighbors
        self.item_neighbors = item_neighbors
        self.n_reference = n_reference
        self.shrinkage = shrinkage
        self.horizon_days = horizon_days
        self.max_train_customers = max_train_customers
        self.seed = seed

    # -- fitting ------------------------------------------------------------------------------
    def fit(
        self,
        transactions: Any,
        *,
        as_of_date: Any = None,
        engine: Engine | None = None,
        category: str = "category",
    ) -> CrossSellModel:
        """Fit on the purchases through the end of ``as_of_date``.

        Parameters
        ----------
        transactions : DataFrame or ibis Table
            Contract transactions with a category column.
        as_of_date : date-like, optional
            The analysis date; default the day of the last purchase.
        engine : Engine, optional
            The run's engine (a pandas frame without one is registered on an engine opened for
            the call).
        category : str
            The category column.

        Returns
        -------
        self
        """
        self._check_method()
        with engine_for(transactions, engine) as eng:
            if as_of_date is None:
                as_of_date = last_purchase_day(transactions, engine=eng, category=category)
            end = data_end(as_of_date)
            start = end - pd.Timedelta(days=int(self.horizon_days))
            ends = [start, end] if self.method == "hybrid" else [end]
            histories = load_histories(
                transactions, ends, engine=eng, category=category, with_spend=False
            )
        return self.fit_history(histories[end], histories.get(start))

    def fit_history(
        self, history: CategoryHistory, previous: CategoryHistory | None = None
    ) -> CrossSellModel:
        """Fit on a loaded history (``previous``: the history ``horizon_days`` earlier, needed by
        ``hybrid``).

        Parameters
        ----------
        history : CategoryHistory
        previous : CategoryHistory, optional

        Returns
        -------
        self
        """
        self._check_method()
        if history.shape[0] == 0 or history.shape[1] == 0:
            raise ValueError("no purchases with a category before the analysis date")
        needs_previous = self.method == "hybrid" and previous is not None and previous.shape[0]
        return self.fit_basis(Basis.of(history), Basis.of(previous) if needs_previous else None)

    def fit_basis(self, basis: Basis, previous: Basis | None = None) -> CrossSellModel:
        """Fit on the :class:`~cxlib.action._crosssell_scorers.Basis` of a loaded history (what
        :meth:`fit_history` does once it has built it; several models may share one).

        Parameters
        ----------
        basis : Basis
        previous : Basis, optional
            Of the history ``horizon_days`` earlier, needed by ``hybrid``.

        Returns
        -------
        self
        """
        self._check_method()
        history = basis.history
        if history.shape[0] == 0 or history.shape[1] == 0:
            raise ValueError("no purchases with a category before the analysis date")
        scorer = self._scorer()
        if isinstance(scorer, HybridScorer):
            if previous is None or previous.history.shape[0] == 0:
                raise ValueError(
                    f"the hybrid needs purchases before the last {self.horizon_days} days"
                )
            scorer.fit(basis, previous)
        else:
            scorer = basis.fit(scorer)
        self.method_ = self.method
        self.as_of_date_ = history.end - pd.Timedelta(days=1)
        self.customers_ = history.customers
        self.categories_ = history.categories
        self.popularity_ = pd.Series(basis.share, index=history.categories, name="popularity")
        self.scorer_ = scorer
        self.basis_ = basis
        log.info(
            "cross-sell %s fitted through %s: %d customers, %d categories",
            self.method,
            self.as_of_date_.date(),
            len(self.customers_),
            len(self.categories_),
        )
        return self

    def _check_method(self) -> None:
        if self.method not in CANDIDATES:
            raise ValueError(f"method must be one of {CANDIDATES}, not {self.method!r}")

    def _parts(self) -> dict[str, Any]:
        return {
            "association": AssociationScorer(self.shrinkage),
            "item_knn": ItemKnnScorer(self.item_neighbors),
            "user_knn": UserKnnScorer(self.n_neighbors, self.n_reference, self.seed),
        }

    def _scorer(self) -> Any:
        parts = self._parts()
        if self.method == "popularity":
            return PopularityScorer()
        if self.method == "hybrid":
            return HybridScorer(self.horizon_days, parts, self.max_train_customers, self.seed)
        return parts[self.method]

    # -- recommending -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "scorer_"):
            raise RuntimeError("this CrossSellModel is not fitted yet: call fit() first")

    def top_categories(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions (in :attr:`categories_`) and scores of the ``k`` best categories not bought
        by each customer of ``rows`` (positions in :attr:`customers_`); −1 / NaN where a customer
        has fewer than ``k`` categories left.

        Parameters
        ----------
        rows : array of int
        k : int

        Returns
        -------
        (picks, scores) : arrays of shape (len(rows), k)
        """
        self._check_fitted()
        distinct, inverse = self._distinct(np.asarray(rows, dtype="int64"))
        picks, values = self._top(distinct, int(k))
        return picks[inverse], values[inverse]

    def _distinct(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``rows`` with one customer per distinct purchase-day vector, and the position of each
        of ``rows`` among them.

        Every candidate scores a customer from the vector alone (the categories bought, and how
        many days each), except that ``user_knn`` leaves a reference customer out of its own
        neighbours: those (the scorer's ``individual`` customers) are kept apart. With many
        categories (above ``DENSE_CATEGORIES``) vectors are not compared: every row is kept.
        """
        n = len(rows)
        if len(self.categories_) > DENSE_CATEGORIES or n == 0:
            return rows, np.arange(n)
        apart = np.isin(rows, getattr(self.scorer_, "individual", np.empty(0, dtype="int64")))
        merged, alone = np.flatnonzero(~apart), np.flatnonzero(apart)
        first, where = distinct_rows(self.basis_.weights[rows[merged]], dense=True)
        inverse = np.empty(n, dtype="int64")
        inverse[merged] = where
        inverse[alone] = len(first) + np.arange(len(alone))
        return np.concatenate([rows[merged[first]], rows[alone]]), inverse

    def _top(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`top_categories` of ``rows``, each scored (in blocks of customers)."""
        n_cat = len(self.categories_)
        picks = np.full((len(rows), k), -1, dtype="int64")
        values = np.full((len(rows), k), np.nan)
        block = max(1, BLOCK_CELLS // max(n_cat, 1))
        for lo in range(0, len(rows), block):
            part = rows[lo : lo + block]
            scores = self.scorer_.scores(part)
            owned = self.basis_.owned[part].toarray() > 0
            scores = np.where(owned, -np.inf, scores)
            order = np.argsort(-scores, axis=1, kind="stable")[:, : min(k, n_cat)]
            top = np.take_along_axis(scores, order, axis=1)
            ok = np.isfinite(top)
            picks[lo : lo + block, : order.shape[1]] = np.where(ok, order, -1)
            values[lo : lo + block, : order.shape[1]] = np.where(ok, top, np.nan)
        return picks, values

    def recommend(self, k: int = 5, customers: Any = None) -> pd.DataFrame:
        """The ``k`` best categories each customer has not bought, with a score and a reason.

        Parameters
        ----------
        k : int
            Categories per customer (fewer when a customer has bought nearly every category).
        customers : array-like, optional
            Customer ids to recommend for; default every fitted customer. Ids without a purchase
            in the history are left out (nothing to personalise from).

        Returns
        -------
        DataFrame
            :data:`RECOMMENDATION_COLUMNS`, by customer then rank (1 = best). ``score`` is the
            candidate's own score (a share, a confidence, a similarity or, for ``hybrid``, the
            estimated probability of buying the category within ``horizon_days``).
        """
        self._check_fitted()
        if customers is None:
            rows = np.arange(len(self.customers_))
        else:
            ids = pd.Index(pd.Series(list(customers), dtype="str").unique())
            rows = self.customers_.get_indexer(ids)
            if (rows < 0).any():
                log.info("cross-sell: %d customers without history left out", (rows < 0).sum())
            rows = np.sort(rows[rows >= 0])
        k = int(k)
        # customers with the same vector get the same picks, scores and reasons
        distinct, inverse = self._distinct(rows)
        picks = np.full((len(distinct), k), -1, dtype="int64")
        values = np.full((len(distinct), k), np.nan)
        reasons = np.full((len(distinct), k), None, dtype=object)
        block = max(1, BLOCK_CELLS // max(len(self.categories_), 1))
        for lo in range(0, len(distinct), block):
            part = distinct[lo : lo + block]
            p, v = self._top(part, k)
            picks[lo : lo + block], values[lo : lo + block] = p, v
            reasons[lo : lo + block] = self.scorer_.reasons(part, p, v)
        return self._frame(rows, picks[inverse], values[inverse], reasons[inverse])

    def _frame(
        self, rows: np.ndarray, picks: np.ndarray, values: np.ndarray, reasons: np.ndarray
    ) -> pd.DataFrame:
        valid = picks >= 0
        rank = np.broadcast_to(np.arange(1, picks.shape[1] + 1), picks.shape)
        frame = pd.DataFrame(
            {
                "customer_id": self.customers_.take(np.repeat(rows, valid.sum(axis=1))),
                "category": self.categories_.take(picks[valid]),
                "score": values[valid],
                "rank": rank[valid].astype("int64"),
                "reason": pd.array(reasons[valid], dtype="str"),
            }
        )
        return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Recommendations with their column types."""
    types = {"customer_id": "str", "category": "str", "score": "float64", "rank": "int64"}
    return frame.astype({**types, "reason": "str"})
