"""Out-of-time evaluation of the cross-sell candidates, and the choice among them.

Each candidate is fitted on the purchases through the end of the cut-off day and recommends ``k``
categories per customer among those the customer had not bought by then. It is scored on the
customers who bought, in the ``horizon_days`` days after the cut-off, at least one category for
the first time (*new*: never bought before the cut-off); categories never bought by anyone before
the cut-off count as new too (no candidate can recommend them: they only lower recall).

- precision@k: the customer's new categories among the ``k`` recommended, / ``k``;
- recall@k: the same hits / the customer's new categories;

each averaged over those customers, with percentile intervals from a bootstrap over customers
(the same resamples for every candidate, so ``vs_popularity``, the ratio of a candidate's
precision to the popularity baseline's, has a paired interval too).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from cxlib.action._category_history import (
    CategoryHistory,
    last_purchase_day,
    load_histories,
    new_pairs,
)
from cxlib.action._crosssell import CANDIDATES, CrossSellModel
from cxlib.action._crosssell_scorers import Basis
from cxlib.engine import Engine, analysis_day, data_end, engine_for

log = logging.getLogger(__name__)

#: Columns of :func:`evaluate_cross_sell`.
EVALUATION_COLUMNS: tuple[str, ...] = (
    "candidate",
    "k",
    "n_customers",
    "precision",
    "precision_low",
    "precision_high",
    "recall",
    "recall_low",
    "recall_high",
    "vs_popularity",
    "vs_popularity_low",
    "vs_popularity_high",
    "chosen",
)


@dataclass
class CrossSellEvaluation:
    """The out-of-time comparison of the cross-sell candidates.

    Attributes
    ----------
    table : DataFrame
        :data:`EVALUATION_COLUMNS`, one row per candidate; ``chosen`` marks the highest
        precision (popularity when no candidate beats it).
    cutoff : Timestamp
        The models saw the purchases through the end of this day.
    horizon_days, k : int
        The window after the cut-off whose first purchases are predicted; recommendations per
        customer.
    n_new : int
        New customer-category pairs in the window.
    """

    table: pd.DataFrame
    cutoff: pd.Timestamp
    horizon_days: int
    k: int
    n_new: int

    @property
    def chosen(self) -> str:
        """The chosen candidate."""
        return str(self.table.loc[self.table["chosen"], "candidate"].iloc[0])


def evaluate_cross_sell(
    transactions: Any,
    *,
    cutoff: Any,
    horizon_days: int = 56,
    k: int = 5,
    candidates: Sequence[str] = CANDIDATES,
    engine: Engine | None = None,
    category: str = "category",
    params: Mapping[str, Any] | None = None,
    n_boot: int = 500,
    level: float = 0.95,
    seed: int = 0,
) -> CrossSellEvaluation:
    """precision@k and recall@k of each candidate on the categories first bought after a cut-off.

    Parameters
    ----------
    transactions : DataFrame or ibis Table
        Contract transactions with a category column.
    cutoff : date-like
        The models see the purchases through the end of this day.
    horizon_days : int
        Days after the cut-off whose first purchases are predicted.
    k : int
        Recommendations per customer.
    candidates : sequence of str
        Among :data:`~cxlib.action._crosssell.CANDIDATES`; ``popularity`` is always added.
    engine : Engine, optional
        The run's engine (a pandas frame without one is registered on an engine opened for the
        call).
    category : str
        The category column.
    params : mapping, optional
        Further :class:`~cxlib.action._crosssell.CrossSellModel` parameters (the same for
        every candidate; ``hybrid`` uses ``horizon_days`` unless given).
    n_boot : int
        Bootstrap resamples of the customers.
    level : float
        Interval level.
    seed : int
        Seed of the bootstrap and of the models' samples.

    Returns
    -------
    CrossSellEvaluation
    """
    names = _names(candidates)
    cut_end = data_end(cutoff)
    settings = _settings(horizon_days, seed, params)
    ends = _evaluation_ends(cut_end, int(horizon_days), names, settings)
    with engine_for(transactions, engine) as eng:
        histories = load_histories(
            transactions, ends, engine=eng, category=category, with_spend=False
        )
    return _evaluate(
        _Bases(histories), cutoff, int(horizon_days), int(k), names, settings, n_boot, level, seed
    )


def _names(candidates: Sequence[str]) -> list[str]:
    names = ["popularity", *[c for c in candidates if c != "popularity"]]
    unknown = [c for c in names if c not in CANDIDATES]
    if unknown:
        raise ValueError(f"unknown candidates {unknown}; known: {CANDIDATES}")
    return names


def _settings(horizon_days: int, seed: int, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The candidates' :class:`~cxlib.action._crosssell.CrossSellModel` parameters."""
    return {"horizon_days": int(horizon_days), "seed": seed, **dict(params or {})}


def _evaluation_ends(
    cut_end: pd.Timestamp, horizon_days: int, names: list[str], settings: dict[str, Any]
) -> list[pd.Timestamp]:
    """The history ends an evaluation reads: the cut-off's, the horizon's (for the first
    purchases in it) and, for the hybrid, its training history's."""
    ends = [cut_end, cut_end + pd.Timedelta(days=horizon_days)]
    if "hybrid" in names:
        ends.append(cut_end - pd.Timedelta(days=int(settings["horizon_days"])))
    return ends


class _Bases:
    """The histories of one query, and their :class:`Basis` built once each when first asked."""

    def __init__(self, histories: dict[pd.Timestamp, CategoryHistory]) -> None:
        self.histories = histories
        self.built: dict[pd.Timestamp, Basis] = {}

    def __getitem__(self, end: pd.Timestamp) -> Basis:
        if end not in self.built:
            self.built[end] = Basis.of(self.histories[end])
        return self.built[end]

    def forget(self, end: pd.Timestamp) -> None:
        """Drop a history and its basis (no longer needed)."""
        self.histories.pop(end, None)
        self.built.pop(end, None)


def _evaluate(
    bases: _Bases,
    cutoff: Any,
    horizon_days: int,
    k: int,
    names: list[str],
    settings: dict[str, Any],
    n_boot: int,
    level: float,
    seed: int,
) -> CrossSellEvaluation:
    """:func:`evaluate_cross_sell` on loaded histories."""
    cut_end = data_end(cutoff)
    history = bases.histories[cut_end]
    new = new_pairs(bases.histories[cut_end + pd.Timedelta(days=horizon_days)], cut_end)
    rows, relevant, n_relevant = _targets(history, new)
    if len(rows) == 0:
        raise ValueError(
            f"no customer bought a new category in the {horizon_days} days after {cutoff}"
        )
    previous = None
    if "hybrid" in names:
        start = cut_end - pd.Timedelta(days=int(settings["horizon_days"]))
        if bases.histories[start].shape[0]:
            previous = bases[start]
    hits = {}
    for name in names:
        model = CrossSellModel(name, **settings).fit_basis(bases[cut_end], previous)
        picks, _ = model.top_categories(rows, k)
        hits[name] = _hits(picks, relevant)
    table = _summary(hits, n_relevant, k, n_boot, level, seed)
    result = CrossSellEvaluation(table, analysis_day(cutoff), horizon_days, k, n_new=len(new))
    log.info(
        "cross-sell evaluation at %s + %d days: %d customers with a new category; chosen %s",
        analysis_day(cutoff).date(),
        horizon_days,
        len(rows),
        result.chosen,
    )
    return result


def _targets(
    history: CategoryHistory, new: pd.DataFrame
) -> tuple[np.ndarray, sparse.csr_matrix, np.ndarray]:
    """The evaluated customers (positions in the history), their new categories as a 0/1 matrix
    over the history's categories, and how many new categories each has (all of them)."""
    pos = history.customers.get_indexer(new["customer_id"])
    known = pos >= 0
    rows, inverse = np.unique(pos[known], return_inverse=True)
    n_relevant = np.bincount(inverse, minlength=len(rows)).astype("float64")
    col = history.categories.get_indexer(new["category"][known])
    seen = col >= 0
    relevant = sparse.csr_matrix(
        (np.ones(seen.sum()), (inverse[seen], col[seen])), shape=(len(rows), history.shape[1])
    )
    return rows, relevant, n_relevant


def _hits(picks: np.ndarray, relevant: sparse.csr_matrix) -> np.ndarray:
    """Recommended categories among each customer's new ones."""
    valid = picks >= 0
    r = np.repeat(np.arange(len(picks)), picks.shape[1])
    got = np.asarray(relevant[r, np.where(valid, picks, 0).ravel()]).ravel()
    return (got.reshape(picks.shape) * valid).sum(axis=1)


def _summary(
    hits: dict[str, np.ndarray],
    n_relevant: np.ndarray,
    k: int,
    n_boot: int,
    level: float,
    seed: int,
) -> pd.DataFrame:
    names = list(hits)
    h = np.column_stack([hits[n] for n in names]).astype("float64")
    precision = h / k
    recall = h / n_relevant[:, None]
    rng = np.random.default_rng(seed)
    n = len(h)
    # one gather per resample for both measures (the same sums, in the same order)
    both = np.ascontiguousarray(np.hstack([precision, recall]))
    boot = np.empty((n_boot, 2 * len(names)))
    for b in range(n_boot):
        boot[b] = both.take(rng.integers(0, n, n), axis=0).mean(axis=0)
    boot_p, boot_r = boot[:, : len(names)], boot[:, len(names) :]
    with np.errstate(divide="ignore", invalid="ignore"):
        boot_ratio = boot_p / boot_p[:, [0]]
    q = [(1 - level) / 2, (1 + level) / 2]
    p_mean = precision.mean(axis=0)
    table = pd.DataFrame(
        {
            "candidate": names,
            "k": k,
            "n_customers": n,
            "precision": p_mean,
            "precision_low": np.quantile(boot_p, q[0], axis=0),
            "precision_high": np.quantile(boot_p, q[1], axis=0),
            "recall": recall.mean(axis=0),
            "recall_low": np.quantile(boot_r, q[0], axis=0),
            "recall_high": np.quantile(boot_r, q[1], axis=0),
            "vs_popularity": p_mean / p_mean[0] if p_mean[0] > 0 else np.nan,
            "vs_popularity_low": np.nanquantile(boot_ratio, q[0], axis=0),
            "vs_popularity_high": np.nanquantile(boot_ratio, q[1], axis=0),
        }
    )
    table["chosen"] = np.arange(len(names)) == int(np.argmax(p_mean))
    return table


def choose_cross_sell_model(
    transactions: Any,
    *,
    as_of_date: Any = None,
    horizon_days: int = 56,
    k: int = 5,
    candidates: Sequence[str] = CANDIDATES,
    engine: Engine | None = None,
    category: str = "category",
    params: Mapping[str, Any] | None = None,
    n_boot: int = 500,
    seed: int = 0,
) -> tuple[CrossSellModel, CrossSellEvaluation]:
    """Choose the candidate out of time, then refit it on all the data through ``as_of_date``.

    The evaluation's cut-off is ``horizon_days`` days before ``as_of_date``
    (:func:`evaluate_cross_sell`); the chosen candidate (highest precision@k, popularity when
    none beats it) is fitted on the purchases through the end of ``as_of_date``.

    Parameters
    ----------
    transactions : DataFrame or ibis Table
        Contract transactions with a category column.
    as_of_date : date-like, optional
        The analysis date; default the day of the last purchase.
    horizon_days, k, candidates, category, params, n_boot, seed
        As in :func:`evaluate_cross_sell`.
    engine : Engine, optional
        The run's engine.

    Returns
    -------
    (model, evaluation) : (CrossSellModel, CrossSellEvaluation)
    """
    names = _names(candidates)
    settings = _settings(horizon_days, seed, params)
    with engine_for(transactions, engine) as eng:
        if as_of_date is None:
            as_of_date = last_purchase_day(transactions, engine=eng, category=category)
        cutoff = analysis_day(as_of_date) - pd.Timedelta(days=int(horizon_days))
        end = data_end(as_of_date)
        start = end - pd.Timedelta(days=int(settings["horizon_days"]))
        ends = [*_evaluation_ends(data_end(cutoff), int(horizon_days), names, settings), end]
        # one query for the evaluation's histories and the refit's (the same ends, mostly)
        histories = load_histories(
            transactions, [*ends, start], engine=eng, category=category, with_spend=False
        )
    bases = _Bases(histories)
    evaluation = _evaluate(
        bases, cutoff, int(horizon_days), int(k), names, settings, n_boot, 0.95, seed
    )
    for old in set(histories) - {start, end}:
        bases.forget(old)
    model = CrossSellModel(evaluation.chosen, **settings)
    previous = bases[start] if model.method == "hybrid" and histories[start].shape[0] else None
    model.fit_basis(bases[end], previous)
    return model, evaluation
