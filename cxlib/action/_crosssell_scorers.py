"""The cross-sell candidates: how each scores the categories a customer has not bought yet.

Every scorer is fitted on a :class:`~cxlib.action._category_history.CategoryHistory` (through a
:class:`Basis` of the statistics they share) and scores a block of customers at a time: a dense
customers × categories array, higher = more likely to be bought next. Owned categories are
masked by the caller, which then asks for the reasons of the picks (``reasons(rows, picks,
values)``: per customer, one text per recommended category position, −1 for none).

==============  ==================================================================================
candidate       score of category c for a customer
==============  ==================================================================================
popularity      share of customers who bought c (the baseline: the same list for everyone)
association     confidence of the best customer-level rule a → c over the customer's categories a
                (customers who bought a and c / customers who bought a, shrunk towards c's
                share with ``shrinkage`` pseudo-customers); c's share when no rule is better
item_knn        similarity-weighted mean of c's cosine similarity to the customer's categories
                (scikit-learn ``NearestNeighbors`` over the categories' customer vectors,
                ``log(1 + purchase days)``, each category keeping its ``item_neighbors`` nearest)
user_knn        similarity-weighted share of the ``n_neighbors`` most similar customers who
                bought c (``NearestNeighbors`` over customers' category vectors; neighbours
                drawn from at most ``n_reference`` customers)
hybrid          probability from a logistic regression over the four scores above, the
                category's recent adoption rate and the customer's breadth, trained out of time
                on the first purchases of the last ``horizon_days`` before the history's end
==============  ==================================================================================
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cxlib.action._category_history import CategoryHistory, epoch_day

log = logging.getLogger(__name__)


@dataclass
class Basis:
    """What the scorers share, from one history.

    Attributes
    ----------
    history : CategoryHistory
    owned : csr_matrix
        1.0 where a customer bought a category.
    weights : csr_matrix
        ``log(1 + purchase days)``.
    share : array
        Share of customers who bought each category.
    both : array
        Customers who bought both categories (categories × categories; the diagonal is the
        category's buyers).
    """

    history: CategoryHistory
    owned: sparse.csr_matrix
    weights: sparse.csr_matrix
    share: np.ndarray
    both: np.ndarray

    @classmethod
    def of(cls, history: CategoryHistory) -> Basis:
        owned = history.owned()
        n = max(history.shape[0], 1)
        buyers = np.asarray(owned.sum(axis=0)).ravel()
        both = (owned.T @ owned).toarray()
        return cls(history, owned, history.weights(), buyers / n, both)

    @property
    def categories(self) -> pd.Index:
        return self.history.categories

    def lift(self) -> np.ndarray:
        """Customer-level lift of a → c: P(c | bought a) / P(c) (categories × categories)."""
        buyers = np.diag(self.both).astype("float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (self.both / buyers[:, None]) / self.share[None, :]
        return np.nan_to_num(out, nan=0.0, posinf=0.0)


def _dense(m: sparse.spmatrix) -> np.ndarray:
    return np.asarray(m.toarray(), dtype="float64")


def rule_reasons(
    basis: Basis, owned_rows: np.ndarray, contrib: np.ndarray, picks: np.ndarray
) -> list[list[str]]:
    """For each customer and recommended category, "buys A; customers who do are L× as likely to
    buy C" with A the owned category contributing most to the pick's score.

    ``contrib`` is categories × categories: how much owning a adds to c's score;
    ``owned_rows`` the customers' dense 0/1 rows; ``picks`` their recommended category
    positions (−1 for none).
    """
    names = basis.categories.to_numpy(dtype=object)
    lift = basis.lift()
    out: list[list[str]] = [[] for _ in range(len(picks))]
    for j in range(picks.shape[1]):
        c = picks[:, j]
        valid = c >= 0
        cs = np.where(valid, c, 0)
        strength = owned_rows * contrib[:, cs].T
        a = strength.argmax(axis=1)
        has = strength[np.arange(len(a)), a] > 0
        for i in range(len(c)):
            if not valid[i]:
                continue
            if has[i]:
                out[i].append(_rule_text(names[a[i]], names[cs[i]], lift[a[i], cs[i]]))
            else:
                out[i].append(_popular_text(names[cs[i]], basis.share[cs[i]]))
    return out


def _rule_text(a: str, c: str, lift: float) -> str:
    if lift >= 1.05:
        return f"buys {a}; customers who do are {lift:.1f}× as likely to buy {c}"
    return f"buys {a}; {c} is often bought by the same customers"


def _popular_text(c: str, share: float) -> str:
    return f"{c} is bought by {share:.0%} of customers"


class PopularityScorer:
    """The share of customers who bought each category, for everyone."""

    name = "popularity"

    def fit(self, basis: Basis) -> PopularityScorer:
        self.basis = basis
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.basis.share, (len(rows), 1))

    def reasons(self, rows: np.ndarray, picks: np.ndarray, values: np.ndarray) -> list[list[str]]:
        names = self.basis.categories.to_numpy(dtype=object)
        share = self.basis.share
        return [[_popular_text(names[c], share[c]) for c in p if c >= 0] for p in picks]


class AssociationScorer:
    """Best customer-level rule a → c over the customer's categories (confidence, shrunk)."""

    name = "association"

    def __init__(self, shrinkage: float = 10.0):
        self.shrinkage = float(shrinkage)

    def fit(self, basis: Basis) -> AssociationScorer:
        self.basis = basis
        buyers = np.diag(basis.both).astype("float64")
        m = self.shrinkage
        conf = (basis.both + m * basis.share[None, :]) / (buyers[:, None] + m)
        np.fill_diagonal(conf, 0.0)
        self.confidence = conf
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        owned = _dense(self.basis.owned[rows]) > 0
        out = np.tile(self.basis.share, (len(rows), 1))
        for a in np.flatnonzero(owned.any(axis=0)):
            holders = owned[:, a]
            out[holders] = np.maximum(out[holders], self.confidence[a])
        return out

    def reasons(self, rows: np.ndarray, picks: np.ndarray, values: np.ndarray) -> list[list[str]]:
        gain = np.clip(self.confidence - self.basis.share[None, :], 0.0, None)
        return rule_reasons(self.basis, _dense(self.basis.owned[rows]), gain, picks)


class ItemKnnScorer:
    """Cosine similarity of a category to the customer's categories (nearest neighbours)."""

    name = "item_knn"

    def __init__(self, item_neighbors: int = 50):
        self.item_neighbors = int(item_neighbors)

    def fit(self, basis: Basis) -> ItemKnnScorer:
        self.basis = basis
        n_cat = basis.history.shape[1]
        vectors = basis.weights.T.tocsr()
        k = min(self.item_neighbors + 1, n_cat)
        sim = np.zeros((n_cat, n_cat))
        if k > 1:
            nn = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute")
            dist, ind = nn.fit(vectors).kneighbors(vectors)
            rows = np.repeat(np.arange(n_cat), k)
            sim[rows, ind.ravel()] = np.clip(1.0 - dist.ravel(), 0.0, None)
            np.fill_diagonal(sim, 0.0)
        self.similarity = sim
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        w = self.basis.weights[rows]
        total = np.asarray(w.sum(axis=1)).ravel()
        got = np.asarray(w @ self.similarity)
        return got / np.where(total > 0, total, 1.0)[:, None]

    def reasons(self, rows: np.ndarray, picks: np.ndarray, values: np.ndarray) -> list[list[str]]:
        return rule_reasons(self.basis, _dense(self.basis.weights[rows]), self.similarity, picks)


class UserKnnScorer:
    """Share of the most similar customers who bought a category (nearest neighbours)."""

    name = "user_knn"

    def __init__(self, n_neighbors: int = 100, n_reference: int = 20_000, seed: int = 0):
        self.n_neighbors = int(n_neighbors)
        self.n_reference = int(n_reference)
        self.seed = int(seed)

    def fit(self, basis: Basis) -> UserKnnScorer:
        self.basis = basis
        n = basis.history.shape[0]
        if n > self.n_reference:
            rng = np.random.default_rng(self.seed)
            ref = np.sort(rng.choice(n, size=self.n_reference, replace=False))
        else:
            ref = np.arange(n)
        self.reference = ref
        self.k = max(min(self.n_neighbors, len(ref) - 1), 1)
        self.nn = NearestNeighbors(n_neighbors=min(self.k + 1, len(ref)), metric="cosine")
        self.nn.set_params(algorithm="brute").fit(basis.weights[ref])
        self.reference_owned = basis.owned[ref]
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        dist, ind = self.nn.kneighbors(self.basis.weights[rows])
        # drop each customer's own row when it is among the reference customers, else the last
        own = self.reference[ind] == np.asarray(rows)[:, None]
        order = np.argsort(own, axis=1, kind="stable")[:, : self.k]
        ind = np.take_along_axis(ind, order, axis=1)
        sim = np.clip(1.0 - np.take_along_axis(dist, order, axis=1), 0.0, None)
        votes = sparse.csr_matrix(
            (sim.ravel(), (np.repeat(np.arange(len(rows)), ind.shape[1]), ind.ravel())),
            shape=(len(rows), len(self.reference)),
        )
        total = sim.sum(axis=1)
        got = np.asarray((votes @ self.reference_owned).toarray())
        return got / np.where(total > 0, total, 1.0)[:, None]

    def reasons(self, rows: np.ndarray, picks: np.ndarray, values: np.ndarray) -> list[list[str]]:
        share = self.basis.share
        return [
            [
                f"bought by {v:.0%} of the {self.k} most similar customers (vs {share[c]:.0%} of all)"
                for c, v in zip(p, vals, strict=True)
                if c >= 0
            ]
            for p, vals in zip(picks, values, strict=True)
        ]


#: Names of the hybrid's features (:meth:`HybridScorer.features`).
HYBRID_FEATURES: tuple[str, ...] = (
    "log_share",
    "log_adoption_rate",
    "log_association",
    "log_item_knn",
    "log_user_knn",
    "log_breadth",
    "log_share_x_breadth",
    "log_item_knn_x_breadth",
)


def adoption_rate(history: CategoryHistory, horizon_days: int) -> np.ndarray:
    """Per category: the share of customers who had bought before the last ``horizon_days`` days
    but not the category, who bought it for the first time in those days (smoothed, +1/+2)."""
    day = epoch_day(history.end) - int(horizon_days)
    before = history.first_day < day
    active = np.zeros(history.shape[0], dtype=bool)
    active[history.rows[before]] = True
    n_cat = history.shape[1]
    owned_before = np.bincount(history.cols[before], minlength=n_cat)
    new = ~before & active[history.rows]
    adopted = np.bincount(history.cols[new], minlength=n_cat)
    return (adopted + 1.0) / (active.sum() - owned_before + 2.0)


class HybridScorer:
    """A logistic regression over the other candidates' scores, trained out of time: on the
    categories customers first bought in the ``horizon_days`` before the history's end, from
    the history before them (a second history, ``previous``)."""

    name = "hybrid"

    def __init__(
        self,
        horizon_days: int,
        parts: dict[str, object],
        max_train_customers: int = 20_000,
        seed: int = 0,
    ):
        self.horizon_days = int(horizon_days)
        self.parts = parts
        self.max_train_customers = int(max_train_customers)
        self.seed = int(seed)

    def fit(self, basis: Basis, previous: Basis | None = None) -> HybridScorer:
        self.basis = basis
        if previous is None:
            raise ValueError("the hybrid needs the history before the last horizon (previous)")
        x, y = self._training_rows(basis, previous)
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        if y.min() == y.max():
            raise ValueError("no first purchases in the training horizon: the hybrid cannot learn")
        self.model.fit(x, y)
        self.fitted_parts = self._fit_parts(basis)
        self.rate = adoption_rate(basis.history, self.horizon_days)
        return self

    def _fit_parts(self, basis: Basis) -> dict[str, object]:
        return {name: copy.deepcopy(part).fit(basis) for name, part in self.parts.items()}

    def _training_rows(self, basis: Basis, previous: Basis) -> tuple[np.ndarray, np.ndarray]:
        hist = previous.history
        later = basis.history.aligned(hist.customers, hist.categories).owned()
        n = hist.shape[0]
        rows = np.arange(n)
        if n > self.max_train_customers:
            rng = np.random.default_rng(self.seed)
            rows = np.sort(rng.choice(n, size=self.max_train_customers, replace=False))
        parts = self._fit_parts(previous)
        rate = adoption_rate(hist, self.horizon_days)
        feats = self.features(previous, parts, rate, rows)
        owned = _dense(previous.owned[rows]) > 0
        label = _dense(later[rows]) > 0
        log.debug("hybrid: %d training customers, %d first purchases", len(rows), label.sum())
        return feats[~owned], (label & ~owned)[~owned]

    @staticmethod
    def features(
        basis: Basis, parts: dict[str, object], rate: np.ndarray, rows: np.ndarray
    ) -> np.ndarray:
        """The :data:`HYBRID_FEATURES` of ``rows`` (customers × categories × features)."""
        n = len(rows)
        log_share = np.tile(np.log(basis.share + 1e-4), (n, 1))
        breadth = np.log1p(np.asarray(basis.owned[rows].sum(axis=1)).ravel())[:, None]
        breadth = np.broadcast_to(breadth, log_share.shape)
        item = np.log(parts["item_knn"].scores(rows) + 1e-3)
        return np.stack(
            [
                log_share,
                np.tile(np.log(rate), (n, 1)),
                np.log(parts["association"].scores(rows) + 1e-4),
                item,
                np.log(parts["user_knn"].scores(rows) + 1e-2),
                breadth,
                log_share * breadth,
                item * breadth,
            ],
            axis=-1,
        )

    def scores(self, rows: np.ndarray) -> np.ndarray:
        feats = self.features(self.basis, self.fitted_parts, self.rate, rows)
        flat = feats.reshape(-1, feats.shape[-1])
        return self.model.predict_proba(flat)[:, 1].reshape(feats.shape[:2])

    def reasons(self, rows: np.ndarray, picks: np.ndarray, values: np.ndarray) -> list[list[str]]:
        return self.fitted_parts["association"].reasons(rows, picks, values)
