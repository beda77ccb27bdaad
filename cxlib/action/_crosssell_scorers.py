"""The cross-sell candidates: how each scores the categories a customer has not bought yet.

Every scorer is fitted on a :class:`~cxlib.action._category_history.CategoryHistory` (through a
:class:`Basis` of the statistics they share; :meth:`Basis.fit` fits a scorer once per basis and
parameters) and scores a block of customers at a time: a dense customers × categories array,
higher = more likely to be bought next. Owned categories are masked by the caller, which then
asks for the reasons of the picks (``reasons(rows, picks, values)``: an object array shaped like
``picks``, one text per recommended category position, None where the pick is −1). A customer's
scores and reasons depend only on its purchase-day vector (and, for ``user_knn``, on whether it
is one of the scorer's ``individual`` customers), which lets the caller score each distinct
vector once.

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
                bought c (exact cosine neighbours over customers' category vectors, as
                scikit-learn's brute ``NearestNeighbors`` finds them, in blocks; neighbours
                drawn from at most ``n_reference`` customers)
hybrid          probability from a logistic regression over the four scores above, a linear
                item model's score (:class:`EaseScorer`, a part of the hybrid only), the
                category's recent adoption rate and the customer's breadth, trained out of time
                on the first purchases of the last ``horizon_days`` before the history's end
==============  ==================================================================================
"""

from __future__ import annotations

import copy
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cxlib.action._category_history import CategoryHistory, epoch_day
from cxlib.threads import model_threads, one_blas_thread

log = logging.getLogger(__name__)

#: With at most this many categories, customers' vectors are compared (as dense arrays) and the
#: customers with the same vector scored once.
DENSE_CATEGORIES = 64

#: ``user_knn``: the reference customers' vectors are held as a dense array up to this many
#: categories × reference-customer cells (a sparse matrix beyond).
DENSE_REFERENCE_CELLS = 16_000_000

#: ``user_knn``: most customer × reference-customer similarities held at once per thread.
SIMILARITY_CELLS = 2_000_000


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
    fitted : dict
        The scorers fitted on it so far, by :attr:`key` (see :meth:`fit`).
    """

    history: CategoryHistory
    owned: sparse.csr_matrix
    weights: sparse.csr_matrix
    share: np.ndarray
    both: np.ndarray
    fitted: dict[tuple, Any] = field(default_factory=dict, repr=False, compare=False)

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

    def fit(self, scorer: Any) -> Any:
        """A copy of the unfitted ``scorer`` fitted on this basis, or the scorer with the same
        ``key`` (class and parameters) fitted on it before: a fit is deterministic, so models
        evaluated on one history (and the hybrid's parts) share their candidates' fits."""
        if scorer.key not in self.fitted:
            self.fitted[scorer.key] = copy.deepcopy(scorer).fit(self)
        return self.fitted[scorer.key]

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
) -> np.ndarray:
    """For each customer and recommended category, "buys A; customers who do are L× as likely to
    buy C" with A the owned category contributing most to the pick's score.

    ``contrib`` is categories × categories: how much owning a adds to c's score;
    ``owned_rows`` the customers' dense 0/1 rows; ``picks`` their recommended category
    positions (−1 for none). Returns the texts in the shape of ``picks`` (None for none).
    """
    n_cat = len(basis.categories)
    valid = picks >= 0
    cs = np.where(valid, picks, 0)
    a = np.zeros_like(cs)
    has = np.zeros(picks.shape, dtype=bool)
    for j in range(picks.shape[1]):
        strength = owned_rows * contrib[:, cs[:, j]].T
        a[:, j] = strength.argmax(axis=1)
        has[:, j] = strength[np.arange(len(picks)), a[:, j]] > 0
    names = basis.categories.to_numpy(dtype=object)
    lift = basis.lift()
    out = _popular_texts(basis)[cs]
    pairs, where = np.unique((a * n_cat + cs)[has], return_inverse=True)
    texts = [_rule_text(names[p // n_cat], names[p % n_cat], lift[divmod(p, n_cat)]) for p in pairs]
    out[has] = np.array(texts, dtype=object)[where]
    out[~valid] = None
    return out


def _rule_text(a: str, c: str, lift: float) -> str:
    if lift >= 1.05:
        return f"buys {a}; customers who do are {lift:.1f}× as likely to buy {c}"
    return f"buys {a}; {c} is often bought by the same customers"


def _popular_text(c: str, share: float) -> str:
    return f"{c} is bought by {share:.0%} of customers"


def _popular_texts(basis: Basis) -> np.ndarray:
    """Per category, :func:`_popular_text` (an object array)."""
    names = basis.categories.to_numpy(dtype=object)
    return np.array(
        [_popular_text(c, v) for c, v in zip(names, basis.share, strict=True)], dtype=object
    )


class PopularityScorer:
    """The share of customers who bought each category, for everyone."""

    name = "popularity"
    key = ("popularity",)

    def fit(self, basis: Basis) -> PopularityScorer:
        self.basis = basis
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.basis.share, (len(rows), 1))

    def reasons(self, rows: np.ndarray, picks: np.ndarray, values: np.ndarray) -> np.ndarray:
        out = _popular_texts(self.basis)[np.where(picks >= 0, picks, 0)]
        out[picks < 0] = None
        return out


class AssociationScorer:
    """Best customer-level rule a → c over the customer's categories (confidence, shrunk)."""

    name = "association"

    def __init__(self, shrinkage: float = 10.0):
        self.shrinkage = float(shrinkage)
        self.key = (self.name, self.shrinkage)

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

    def reasons(self, rows: np.ndarray, picks: np.ndarray, values: np.ndarray) -> np.ndarray:
        gain = np.clip(self.confidence - self.basis.share[None, :], 0.0, None)
        return rule_reasons(self.basis, _dense(self.basis.owned[rows]), gain, picks)


class ItemKnnScorer:
    """Cosine similarity of a category to the customer's categories (nearest neighbours)."""

    name = "item_knn"

    def __init__(self, item_neighbors: int = 50):
        self.item_neighbors = int(item_neighbors)
        self.key = (self.name, self.item_neighbors)

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

    def reasons(self, rows: np.ndarray, picks: np.ndarray, values: np.ndarray) -> np.ndarray:
        return rule_reasons(self.basis, _dense(self.basis.weights[rows]), self.similarity, picks)


#: :class:`EaseScorer`'s ridge penalty, per customer of the history (chosen out of time on the
#: Complete Journey's window before the evaluated one; flat from 0.25 to 1).
EASE_REGULARIZATION = 0.5


class EaseScorer:
    """A linear item model (EASE, Steck 2019): category c's score is ``owned @ B[:, c]``, with
    ``B`` the ridge regression of each category's buyers on the other categories' (zero
    diagonal, closed form from the categories × categories counts :attr:`Basis.both`).

    Unlike the similarities of ``item_knn``, a weight is the part of c's buying that a category
    explains beyond the customer's other categories, so a category bought alongside many others
    is not counted once for each. A part of ``hybrid``, not a candidate of its own (alone, it
    is about as good as ``item_knn`` on the Complete Journey); its reasons are the rules of its
    largest weights.
    """

    name = "ease"

    def __init__(self, regularization: float = EASE_REGULARIZATION):
        self.regularization = float(regularization)
        self.key = (self.name, self.regularization)

    def fit(self, basis: Basis) -> EaseScorer:
        self.basis = basis
        n_cat = basis.history.shape[1]
        penalty = self.regularization * max(basis.history.shape[0], 1)
        gram = basis.both.astype("float64") + penalty * np.eye(n_cat)
        inverse = np.linalg.inv(gram)
        weights = -inverse / np.diag(inverse)[None, :]
        np.fill_diagonal(weights, 0.0)
        self.weights = weights
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.basis.owned[rows] @ self.weights)

    def reasons(self, rows: np.ndarray, picks: np.ndarray, values: np.ndarray) -> np.ndarray:
        gain = np.clip(self.weights, 0.0, None)
        return rule_reasons(self.basis, _dense(self.basis.owned[rows]), gain, picks)


class UserKnnScorer:
    """Share of the most similar customers who bought a category (nearest neighbours).

    Exact cosine nearest neighbours, as scikit-learn's brute ``NearestNeighbors`` finds them
    (up to the order of equally similar customers), computed in blocks: the similarities of a
    block of customers to the reference customers (rows normalised once), the ``k + 1`` most
    similar kept with ``np.argpartition``. Customers with the same purchase-day vector have the
    same neighbours, so each distinct vector is scored once (with few categories); reference
    customers with the same vector vote alike, so they are one reference row with a count. A
    customer among the reference customers is not its own neighbour.
    """

    name = "user_knn"

    def __init__(self, n_neighbors: int = 100, n_reference: int = 20_000, seed: int = 0):
        self.n_neighbors = int(n_neighbors)
        self.n_reference = int(n_reference)
        self.seed = int(seed)
        self.key = (self.name, self.n_neighbors, self.n_reference, self.seed)

    def fit(self, basis: Basis) -> UserKnnScorer:
        self.basis = basis
        self.last: tuple[np.ndarray, np.ndarray] | None = None
        n, n_cat = basis.history.shape
        if n > self.n_reference:
            rng = np.random.default_rng(self.seed)
            ref = np.sort(rng.choice(n, size=self.n_reference, replace=False))
        else:
            ref = np.arange(n)
        self.reference = ref
        self.k = max(min(self.n_neighbors, len(ref) - 1), 1)
        # scikit-learn looked up k + 1 neighbours and dropped the customer's own row (else the
        # last); with a single reference customer it kept it
        self.excludes_own = len(ref) > self.k
        # customers whose scores are not those of others with the same vector
        self.individual = ref if self.excludes_own else np.empty(0, dtype="int64")
        self.dense = n_cat <= DENSE_CATEGORIES
        weights = basis.weights[ref]
        first, self.group_of = distinct_rows(weights, self.dense)
        self.count = np.bincount(self.group_of, minlength=len(first))
        vectors = _normalised(weights[first]).T.tocsr()
        owned = basis.owned[ref[first]]
        if n_cat * len(first) <= DENSE_REFERENCE_CELLS:
            vectors, owned = vectors.toarray(), owned.toarray()
        self.vectors, self.group_owned = vectors, owned
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype="int64")
        # the evaluation scores the same customers as user_knn and again in the hybrid
        if self.last is None or not np.array_equal(self.last[0], rows):
            self.last = (rows.copy(), self._scores(rows))
        return self.last[1].copy()

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.basis.history.shape[1]))
        if len(rows) == 0:
            return out
        weights = self.basis.weights[rows]
        pos = np.minimum(np.searchsorted(self.reference, rows), len(self.reference) - 1)
        own = np.where(self.reference[pos] == rows, self.group_of[pos], -1)
        if not self.excludes_own:
            own[:] = -1
        mine = np.flatnonzero(own >= 0)
        others = np.flatnonzero(own < 0)
        if len(others):
            first, inverse = distinct_rows(weights[others], self.dense)
            out[others] = self._votes(weights[others[first]], None)[inverse]
        if len(mine):
            out[mine] = self._votes(weights[mine], own[mine])
        return out

    def _votes(self, weights: sparse.csr_matrix, own: np.ndarray | None) -> np.ndarray:
        """Scores of customers' ``weights`` rows; ``own``: each one's group among the reference
        customers (its own row, left out), or None."""
        n = weights.shape[0]
        queries = _normalised(weights)
        block = max(1, SIMILARITY_CELLS // max(len(self.count), 1))
        starts = range(0, n, block)

        def run(lo: int) -> np.ndarray:
            hi = min(lo + block, n)
            return self._block_votes(queries[lo:hi], None if own is None else own[lo:hi])

        threads = model_threads(n)
        with one_blas_thread():
            if threads is None or threads <= 1 or len(starts) <= 1:
                parts = [run(lo) for lo in starts]
            else:
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    parts = list(pool.map(run, starts))
        return np.concatenate(parts)

    def _block_votes(self, queries: sparse.csr_matrix, own: np.ndarray | None) -> np.ndarray:
        if self.dense and not sparse.issparse(self.vectors):  # few categories: BLAS, 2x faster
            sim = queries.toarray() @ self.vectors
        else:
            sim = queries @ self.vectors
            sim = _dense(sim) if sparse.issparse(sim) else np.asarray(sim)
        n, n_groups = sim.shape
        top = min(self.k + 1, n_groups)  # the k nearest customers are in the k + 1 nearest groups
        if top < n_groups:
            cand = np.argpartition(sim, n_groups - top, axis=1)[:, n_groups - top :]
        else:
            cand = np.broadcast_to(np.arange(n_groups), (n, n_groups))
        near = np.take_along_axis(sim, cand, axis=1)
        order = np.argsort(-near, axis=1, kind="stable")
        cand = np.take_along_axis(cand, order, axis=1)
        near = np.take_along_axis(near, order, axis=1)
        count = self.count[cand]
        if own is not None:
            count = count - (cand == own[:, None])
        taken = np.clip(self.k - (np.cumsum(count, axis=1) - count), 0, count)
        # scikit-learn's cosine distance, clipped to [0, 2], back to a similarity
        weight = taken * np.clip(1.0 - np.clip(1.0 - near, 0.0, 2.0), 0.0, None)
        votes = sparse.csr_matrix(
            (weight.ravel(), cand.ravel(), np.arange(0, n * top + 1, top)), shape=sim.shape
        )
        got = votes @ self.group_owned
        got = _dense(got) if sparse.issparse(got) else np.asarray(got)
        total = weight.sum(axis=1)
        return got / np.where(total > 0, total, 1.0)[:, None]

    def reasons(self, rows: np.ndarray, picks: np.ndarray, values: np.ndarray) -> np.ndarray:
        n_cat = self.basis.history.shape[1]
        valid = picks >= 0
        # f"{v:.0%}" is v * 100 rounded half to even, as np.rint rounds it
        pct = np.rint(np.where(valid, values, 0.0) * 100.0).astype("int64")
        keys, where = np.unique((pct * n_cat + picks)[valid], return_inverse=True)
        share = self.basis.share
        texts = [
            f"bought by {p}% of the {self.k} most similar customers (vs {share[c]:.0%} of all)"
            for p, c in zip(keys // n_cat, keys % n_cat, strict=True)
        ]
        out = np.full(picks.shape, None, dtype=object)
        out[valid] = np.array(texts, dtype=object)[where]
        return out


def _normalised(weights: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows divided by their length, as scikit-learn's ``normalize`` divides them (rows of zeros
    left as they are)."""
    out = sparse.csr_matrix(weights, dtype="float64", copy=True)
    nnz = np.diff(out.indptr)
    length = np.sqrt(
        np.bincount(np.repeat(np.arange(out.shape[0]), nnz), out.data**2, out.shape[0])
    )
    out.data /= np.repeat(np.where(length > 0, length, 1.0), nnz)
    return out


def distinct_rows(weights: sparse.csr_matrix, dense: bool) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of ``weights``.

    Parameters
    ----------
    weights : csr_matrix
    dense : bool
        Compare the rows (as dense arrays); when False every row is distinct (many categories:
        comparing rows would cost more than it saves).

    Returns
    -------
    (first, inverse) : arrays of int
        The position of one row of each distinct row (in the order of their bytes), and of each
        row's distinct row among them.
    """
    n = weights.shape[0]
    if not dense or n == 0:
        return np.arange(n), np.arange(n)
    rows = np.ascontiguousarray(weights.toarray())
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse.ravel()


#: Names of the hybrid's features (:meth:`HybridScorer.features`).
HYBRID_FEATURES: tuple[str, ...] = (
    "log_share",
    "log_adoption_rate",
    "log_association",
    "log_item_knn",
    "log_user_knn",
    "ease",
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
    """A logistic regression over the other candidates' scores (and :class:`EaseScorer`'s),
    trained out of time: on the categories customers first bought in the ``horizon_days``
    before the history's end, from the history before them (a second history, ``previous``)."""

    name = "hybrid"

    def __init__(
        self,
        horizon_days: int,
        parts: dict[str, object],
        max_train_customers: int = 20_000,
        seed: int = 0,
    ):
        self.horizon_days = int(horizon_days)
        # the candidates' scorers, and the linear item model that is only a part of the hybrid
        self.parts = {"ease": EaseScorer(), **parts}
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
        self.individual = self.fitted_parts["user_knn"].individual
        return self

    def _fit_parts(self, basis: Basis) -> dict[str, object]:
        return {name: basis.fit(part) for name, part in self.parts.items()}

    def _training_rows(self, basis: Basis, previous: Basis) -> tuple[np.ndarray, np.ndarray]:
        hist = previous.history
        n = hist.shape[0]
        rows = np.arange(n)
        if n > self.max_train_customers:
            rng = np.random.default_rng(self.seed)
            rows = np.sort(rng.choice(n, size=self.max_train_customers, replace=False))
        parts = self._fit_parts(previous)
        rate = adoption_rate(hist, self.horizon_days)
        feats = self.features(previous, parts, rate, rows)
        owned = _dense(previous.owned[rows]) > 0
        label = _later_owned(basis, hist.customers.take(rows), hist.categories)
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
                parts["ease"].scores(rows),
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

    def reasons(self, rows: np.ndarray, picks: np.ndarray, values: np.ndarray) -> np.ndarray:
        return self.fitted_parts["association"].reasons(rows, picks, values)


def _later_owned(basis: Basis, customers: pd.Index, categories: pd.Index) -> np.ndarray:
    """Whether each of ``customers`` bought each of ``categories`` in the basis's history
    (False for those not in it): a dense customers × categories array."""
    later = basis.history
    pos = later.customers.get_indexer(customers)
    cols = later.categories.get_indexer(categories)
    got = _dense(basis.owned[np.maximum(pos, 0)])[:, np.maximum(cols, 0)] > 0
    return got & (pos >= 0)[:, None] & (cols >= 0)[None, :]
