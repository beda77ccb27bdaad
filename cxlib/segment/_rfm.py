"""Customer segmentation: RFM scores and segments, behavioural clusters, stability, migration.

Everything here works on the per-customer feature table of :func:`cxlib.features.customer_features`
(one row per customer, indexed by ``customer_id``). Definitions are documented in
``docs/features.md`` and ``docs/segmentation.md``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# RFM
# --------------------------------------------------------------------------------------------

#: The eleven classic RFM segments, from most to least valuable.
RFM_SEGMENTS: tuple[str, ...] = (
    "Champions",
    "Loyal",
    "Potential loyalists",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose them",
    "Hibernating",
    "Lost",
)

#: Score grid: rows are the recency score R (5 = most recent), columns the combined
#: frequency-monetary score FM = round-half-up((F + M) / 2). Every cell names one segment.
RFM_GRID: pd.DataFrame = pd.DataFrame(
    [
        ["New", "Potential loyalists", "Potential loyalists", "Champions", "Champions"],
        ["Promising", "Potential loyalists", "Potential loyalists", "Loyal", "Champions"],
        ["About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"],
        ["Hibernating", "Hibernating", "At risk", "At risk", "Can't lose them"],
        ["Lost", "Lost", "At risk", "Can't lose them", "Can't lose them"],
    ],
    index=pd.Index([5, 4, 3, 2, 1], name="r_score"),
    columns=pd.Index([1, 2, 3, 4, 5], name="fm_score"),
)

#: Short plain-language meaning of each RFM segment (for reports).
RFM_DESCRIPTIONS: dict[str, str] = {
    "Champions": "bought recently, buy often and spend the most",
    "Loyal": "buy often and spend well; recent enough",
    "Potential loyalists": "recent customers with average frequency and spend",
    "New": "bought very recently for the first time or rarely",
    "Promising": "fairly recent, but have bought little so far",
    "Need attention": "middling recency, frequency and spend",
    "About to sleep": "below average recency, frequency and spend",
    "At risk": "used to buy often and spend well, but not for a while",
    "Can't lose them": "among the biggest spenders, but have not come back for a long time",
    "Hibernating": "low spend and few purchases, last one long ago",
    "Lost": "lowest recency, frequency and spend",
}


def quintile_scores(values: pd.Series, higher_is_better: bool = True, n_bins: int = 5) -> pd.Series:
    """Score values 1..``n_bins`` by rank (``n_bins`` = best).

    Tie rule (deterministic, independent of row order and ids): customers with equal values share
    the score of the group's *average* rank: ``score = ceil(n_bins * avg_rank / n)``. Without ties
    the bins hold equal numbers of customers (sizes differ by at most one).

    Parameters
    ----------
    values : pd.Series
        Numeric values, no missing values.
    higher_is_better : bool
        If False (recency), the smallest value gets the top score.
    n_bins : int
        Number of score levels.

    Returns
    -------
    pd.Series
        Integer scores with the index of ``values``.
    """
    if values.isna().any():
        raise ValueError("quintile_scores: values contain missing values")
    n = len(values)
    if n == 0:
        return pd.Series([], index=values.index, dtype="int64", name=values.name)
    ranks = values.rank(method="average", ascending=higher_is_better).to_numpy(dtype=float)
    # small epsilon guards against floating error at exact boundaries (e.g. 1000*5/5000)
    scores = np.ceil(n_bins * ranks / n - 1e-9).astype("int64")
    scores = np.clip(scores, 1, n_bins)
    return pd.Series(scores, index=values.index, name=values.name)


def rfm_segment_of(r_score: pd.Series, fm_score: pd.Series) -> pd.Series:
    """Look up the named RFM segment of each (R, FM) pair in :data:`RFM_GRID`."""
    stacked = RFM_GRID.stack()
    keys = pd.MultiIndex.from_arrays([r_score.to_numpy(), fm_score.to_numpy()])
    seg = stacked.reindex(keys).to_numpy()
    return pd.Series(
        pd.Categorical(seg, categories=list(RFM_SEGMENTS)), index=r_score.index, name="rfm_segment"
    )


def rfm_scores(features: pd.DataFrame, n_bins: int = 5) -> pd.DataFrame:
    """RFM scores and named segment per customer.

    Customers with a purchase in the look-back window (``frequency > 0``) are scored against
    each other. Customers without one are below every active customer on all three measures:
    they get R = F = M = FM = 1 and the segment "Lost" without taking part in the ranking (so
    that a large inactive group does not push active one-time buyers out of the lowest scores).

    Parameters
    ----------
    features : pd.DataFrame
        Indexed by customer_id with ``recency_days``, ``frequency`` and ``monetary``.
    n_bins : int
        Number of score levels (5 = quintiles; the segment grid needs 5).

    Returns
    -------
    pd.DataFrame
        ``recency_days, frequency, monetary, r_score, f_score, m_score, fm_score, rfm_segment``.
        ``r_score`` is 5 for the most recent buyers; ``fm_score`` = round-half-up((F + M) / 2).
    """
    missing = {"recency_days", "frequency", "monetary"} - set(features.columns)
    if missing:
        raise KeyError(f"rfm_scores: features lack columns {sorted(missing)}")
    out = features[["recency_days", "frequency", "monetary"]].copy()
    active = out["frequency"] > 0
    act = out.loc[active]
    for col, src, hib in (
        ("r_score", "recency_days", False),
        ("f_score", "frequency", True),
        ("m_score", "monetary", True),
    ):
        score = pd.Series(1, index=out.index, dtype="int64")
        score.loc[active] = quintile_scores(act[src], higher_is_better=hib, n_bins=n_bins)
        out[col] = score
    out["fm_score"] = np.floor((out["f_score"] + out["m_score"]) / 2 + 0.5).astype("int64")
    if n_bins == 5:
        seg = rfm_segment_of(out["r_score"], out["fm_score"])
        seg.loc[~active] = "Lost"
        out["rfm_segment"] = seg
    return out


def segment_summary(
    segments: pd.Series,
    revenue: pd.Series,
    order: list[str] | None = None,
    min_group_size: int = 10,
) -> pd.DataFrame:
    """Size and revenue share of each segment; groups under ``min_group_size`` are dropped.

    Parameters
    ----------
    segments : pd.Series
        Segment label per customer.
    revenue : pd.Series
        Revenue per customer (same index), e.g. ``monetary``.
    order : list of str, optional
        Row order (e.g. :data:`RFM_SEGMENTS`); default by revenue, descending.
    min_group_size : int
        Segments with fewer customers are removed (privacy rule); shares still use all customers.

    Returns
    -------
    pd.DataFrame
        ``segment, customers, customer_share, revenue, revenue_share, revenue_per_customer``.
    """
    df = pd.DataFrame({"segment": segments.astype("object"), "revenue": revenue.astype(float)})
    g = df.groupby("segment", observed=True, sort=False)
    out = pd.DataFrame({"customers": g.size(), "revenue": g["revenue"].sum()})
    total_c = len(df)
    total_r = float(df["revenue"].sum())
    out["customer_share"] = out["customers"] / total_c if total_c else np.nan
    out["revenue_share"] = out["revenue"] / total_r if total_r else np.nan
    out["revenue_per_customer"] = out["revenue"] / out["customers"]
    if order is not None:
        out = out.reindex([s for s in order if s in out.index])
    else:
        out = out.sort_values("revenue", ascending=False)
    out = out.rename_axis("segment").reset_index()
    out = out[
        [
            "segment",
            "customers",
            "customer_share",
            "revenue",
            "revenue_share",
            "revenue_per_customer",
        ]
    ]
    n_before = len(out)
    out = out[out["customers"] >= min_group_size].reset_index(drop=True)
    if len(out) < n_before:
        logger.info(
            "segment_summary: %d segment(s) under %d customers suppressed",
            n_before - len(out),
            min_group_size,
        )
    return out


# --------------------------------------------------------------------------------------------
# Migration between periods
# --------------------------------------------------------------------------------------------

NOT_YET_CUSTOMER = "Not yet a customer"


@dataclass
class MigrationResult:
    """RFM segment migration between two dates.

    Attributes
    ----------
    counts : pd.DataFrame
        Customers by previous segment (rows, plus ``Not yet a customer``) and current segment
        (columns). Cells under ``min_group_size`` are NaN (suppressed).
    row_share : pd.DataFrame
        Each row as shares of the previous segment's customers (suppressed cells NaN).
    previous_date, current_date : pd.Timestamp
    table : pd.DataFrame
        Long format: previous, current, customers (unsuppressed; not for display).
    """

    counts: pd.DataFrame
    row_share: pd.DataFrame
    previous_date: pd.Timestamp
    current_date: pd.Timestamp
    table: pd.DataFrame = field(repr=False)

    def moved(self, from_segments: list[str], to_segments: list[str]) -> tuple[int, int]:
        """(customers who moved from any of ``from_segments`` into ``to_segments``, row total)."""
        t = self.table
        base = t[t["previous"].isin(from_segments)]
        n_from = int(base["customers"].sum())
        n_moved = int(base.loc[base["current"].isin(to_segments), "customers"].sum())
        return n_moved, n_from


def rfm_migration(
    current: pd.DataFrame,
    previous: pd.DataFrame,
    previous_date: pd.Timestamp,
    current_date: pd.Timestamp,
    min_group_size: int = 10,
) -> MigrationResult:
    """Cross-tabulate RFM segments at a previous date against now.

    Parameters
    ----------
    current, previous : pd.DataFrame
        Output of :func:`rfm_scores` at each date (scores are relative to each date's customers).
        Customers absent from ``previous`` had not bought yet: row ``Not yet a customer``.
    previous_date, current_date : pd.Timestamp
        The two as-of dates (for labelling).
    min_group_size : int
        Cells with fewer customers are blanked (NaN) in ``counts`` and ``row_share``.
    """
    prev = previous["rfm_segment"].astype("object").reindex(current.index)
    prev = prev.fillna(NOT_YET_CUSTOMER)
    cur = current["rfm_segment"].astype("object")
    table = (
        pd.DataFrame({"previous": prev.to_numpy(), "current": cur.to_numpy()})
        .groupby(["previous", "current"])
        .size()
        .rename("customers")
        .reset_index()
    )
    rows = [*RFM_SEGMENTS, NOT_YET_CUSTOMER]
    counts = table.pivot(index="previous", columns="current", values="customers")
    counts = counts.reindex(
        index=[r for r in rows if r in counts.index],
        columns=[c for c in RFM_SEGMENTS if c in counts.columns],
    ).fillna(0)
    row_tot = counts.sum(axis=1)
    row_share = counts.div(row_tot.replace(0, np.nan), axis=0)
    mask = counts < min_group_size
    counts = counts.astype(float).mask(mask)
    row_share = row_share.mask(mask)
    counts.index.name = f"segment on {pd.Timestamp(previous_date).date()}"
    counts.columns.name = f"segment on {pd.Timestamp(current_date).date()}"
    row_share.index.name, row_share.columns.name = counts.index.name, counts.columns.name
    return MigrationResult(
        counts=counts,
        row_share=row_share,
        previous_date=pd.Timestamp(previous_date),
        current_date=pd.Timestamp(current_date),
        table=table,
    )


# --------------------------------------------------------------------------------------------
# Behavioural clusters
# --------------------------------------------------------------------------------------------

#: Prefixes/names of the feature columns used for behavioural clustering by default.
BEHAVIOUR_PREFIXES: tuple[str, ...] = ("channel_share_", "category_share_", "tod_share_")
BEHAVIOUR_COLUMNS: tuple[str, ...] = ("purchase_rate", "avg_basket", "weekend_share")


def behaviour_columns(features: pd.DataFrame) -> list[str]:
    """Default behavioural clustering columns present in ``features``.

    How customers buy (how often since they started, how much per basket, where, what, when), not
    how recently: recency, tenure, trend and the window's frequency describe a customer's current
    state and are left to RFM and churn.
    """
    cols = [c for c in BEHAVIOUR_COLUMNS if c in features.columns]
    if "purchase_rate" not in cols and "frequency" in features.columns:
        cols.insert(0, "frequency")
    cols += [c for c in features.columns if c.startswith(BEHAVIOUR_PREFIXES)]
    return cols


def _sample_index(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size, replace=False)) if n > size else np.arange(n)


class BehaviouralSegmenter:
    """K-means segmentation of customers on behavioural features, choosing k from a range.

    Preprocessing: non-negative columns whose skewness exceeds ``skew_threshold`` are
    log1p-transformed; missing values are filled with the column median; all columns are then
    standardised. For each k in ``k_range`` a k-means model is fitted (``MiniBatchKMeans`` when the
    data has more than ``minibatch_threshold`` rows) and scored by two criteria, both on one fixed
    random sample of at most ``sample_size`` customers:

    - **silhouette** (how much closer customers are to their own cluster than to the next one);
    - **bootstrap stability**: the mean adjusted Rand index between the k-means partition of the
      sample and the partitions found by refitting k-means on ``n_stability`` bootstrap resamples
      (a k that describes real structure is found again on resampled data).

    Selection rule: the k with the highest ``score = silhouette x stability`` (ties: the smaller
    k). A k is chosen when its clusters are both well separated and found again on resampled data;
    an unstable k is penalised even if its silhouette is marginally higher.

    Parameters
    ----------
    k_range : iterable of int
        Candidate numbers of clusters.
    features : list of str, optional
        Columns to use; default :func:`behaviour_columns`.
    random_state : int, optional
        Seed for every random step.
    skew_threshold : float
        Log-transform non-negative columns with sample skewness above this.
    minibatch_threshold : int
        Use ``MiniBatchKMeans`` above this many rows.
    sample_size : int
        Customers on which the silhouette and the stability are computed.
    n_stability : int
        Bootstrap resamples per k for the stability criterion.
    n_init : int
        K-means restarts.
    n_threads : int or None
        Threads for the k-means loops (OpenMP/BLAS). 1, the default, is the fastest on a busy
        two-core machine: there, busy-waiting threads made each k-means fit 20-40x slower than
        one thread (measured: 2.3-3.7 s instead of 0.1 s for 5,000 customers). None = the
        libraries' default.

    Attributes
    ----------
    k_ : int
        Chosen number of clusters.
    labels_ : np.ndarray
        Cluster of each fitted row, 1..k_ (1 = largest cluster).
    selection_ : pd.DataFrame
        One row per k: ``k, silhouette, stability, stability_sd, score, inertia, chosen``.
    n_scored_ : int
        Customers on which the silhouette and the stability were computed (at most
        ``sample_size``; every customer is still segmented).
    feature_names_in_ : list of str
    log_features_ : list of str
        Columns that were log1p-transformed.
    fill_values_ : pd.Series
        Medians used for missing values.
    scaler_ : StandardScaler
    model_ : KMeans or MiniBatchKMeans
        Final model for ``k_`` (its raw labels are remapped to 1..k_ by size).
    cluster_centers_ : pd.DataFrame
        Centres in original units (inverse of the scaling and log), index 1..k_.
    """

    def __init__(
        self,
        k_range=range(3, 9),
        features: list[str] | None = None,
        random_state: int | None = None,
        skew_threshold: float = 1.0,
        minibatch_threshold: int = 50_000,
        sample_size: int = 5_000,
        n_stability: int = 10,
        n_init: int = 5,
        n_threads: int | None = 1,
    ) -> None:
        self.k_range = k_range
        self.features = features
        self.random_state = random_state
        self.skew_threshold = skew_threshold
        self.minibatch_threshold = minibatch_threshold
        self.sample_size = sample_size
        self.n_stability = n_stability
        self.n_init = n_init
        self.n_threads = n_threads

    # -- preprocessing -----------------------------------------------------------------------
    def _prepare(self, X: pd.DataFrame) -> np.ndarray:
        Z = X[self.feature_names_in_].astype(float).fillna(self.fill_values_)
        for c in self.log_features_:
            Z[c] = np.log1p(Z[c].clip(lower=0))
        return Z.to_numpy()

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Scaled feature matrix as used by the clustering."""
        return self.scaler_.transform(self._prepare(X))

    def make_kmeans(self, k: int, n_rows: int, random_state: int | None = None):
        """The k-means estimator used for ``n_rows`` rows (mini-batch above the threshold)."""
        seed = self.random_state if random_state is None else random_state
        if n_rows > self.minibatch_threshold:
            return MiniBatchKMeans(
                n_clusters=k, random_state=seed, n_init=self.n_init, batch_size=4096
            )
        return KMeans(n_clusters=k, random_state=seed, n_init=self.n_init)

    def _stability(self, Zs: np.ndarray, ref: np.ndarray, k: int, rng) -> np.ndarray:
        n = len(Zs)
        aris = []
        for _ in range(self.n_stability):
            boot = rng.integers(0, n, n)
            km = self.make_kmeans(k, n, random_state=int(rng.integers(2**31 - 1))).fit(Zs[boot])
            aris.append(adjusted_rand_score(ref, km.predict(Zs)))
        return np.asarray(aris)

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y=None) -> BehaviouralSegmenter:
        """Choose k and fit the final model on the customer feature table ``X``."""
        with threadpool_limits(self.n_threads):
            return self._fit(X)

    def _fit(self, X: pd.DataFrame) -> BehaviouralSegmenter:
        cols = list(self.features) if self.features is not None else behaviour_columns(X)
        if not cols:
            raise ValueError("BehaviouralSegmenter: no behavioural feature columns found")
        ks = sorted(int(k) for k in self.k_range)
        if len(X) <= max(ks) * 2:
            raise ValueError(
                f"BehaviouralSegmenter: {len(X)} customers are too few for k up to {max(ks)}"
            )
        self.feature_names_in_ = cols
        self.n_features_in_ = len(cols)
        raw = X[cols].astype(float)
        self.fill_values_ = raw.median().fillna(0.0)
        raw = raw.fillna(self.fill_values_)
        skew = raw.skew().fillna(0.0)
        self.log_features_ = [
            c for c in cols if skew[c] > self.skew_threshold and raw[c].min() >= 0
        ]
        self.scaler_ = StandardScaler().fit(self._prepare(X))
        Z = self.transform(X)
        n = Z.shape[0]
        rng = np.random.default_rng(self.random_state)
        s_idx = _sample_index(n, self.sample_size, rng)
        self.n_scored_ = len(s_idx)
        Zs = Z[s_idx]
        rows, models = [], {}
        for k in ks:
            km = self.make_kmeans(k, n).fit(Z)
            models[k] = km
            lab = km.labels_[s_idx]
            sil = silhouette_score(Zs, lab) if len(np.unique(lab)) > 1 else np.nan
            stab = self._stability(Zs, lab, k, rng)
            rows.append(
                {
                    "k": k,
                    "silhouette": float(sil),
                    "stability": float(stab.mean()),
                    "stability_sd": float(stab.std(ddof=1)) if len(stab) > 1 else np.nan,
                    "inertia": float(km.inertia_),
                }
            )
            logger.debug("k=%d silhouette=%.4f stability=%.4f", k, sil, stab.mean())
        sel = pd.DataFrame(rows)
        sel["score"] = sel["silhouette"] * sel["stability"]
        sel = sel[["k", "silhouette", "stability", "stability_sd", "score", "inertia"]]
        best = sel.sort_values(["score", "k"], ascending=[False, True]).iloc[0]
        k_best = int(best["k"])
        sel["chosen"] = sel["k"] == k_best
        self.selection_ = sel
        self.k_ = k_best
        self.model_ = models[k_best]
        # relabel 1..k by size (descending), ties by raw label
        raw_lab = self.model_.labels_
        sizes = np.bincount(raw_lab, minlength=k_best)
        order = sorted(range(k_best), key=lambda j: (-sizes[j], j))
        self._label_map = np.empty(k_best, dtype="int64")
        for new, old in enumerate(order, start=1):
            self._label_map[old] = new
        self.labels_ = self._label_map[raw_lab]
        centers = self.scaler_.inverse_transform(self.model_.cluster_centers_[order])
        centers = pd.DataFrame(
            centers, columns=cols, index=pd.RangeIndex(1, k_best + 1, name="cluster")
        )
        for c in self.log_features_:
            centers[c] = np.expm1(centers[c])
        self.cluster_centers_ = centers
        logger.info("BehaviouralSegmenter: chose k=%d from %s", k_best, ks)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Cluster (1..k_) of each row of ``X``."""
        with threadpool_limits(getattr(self, "n_threads", 1)):
            return self._label_map[self.model_.predict(self.transform(X))]

    def fit_predict(self, X: pd.DataFrame, y=None) -> np.ndarray:
        """Fit and return ``labels_``."""
        return self.fit(X).labels_


@dataclass
class StabilityResult:
    """Bootstrap stability of a clustering.

    Attributes
    ----------
    ari : np.ndarray
        Adjusted Rand index between the reported clusters and each resample's clustering.
    k : int
    n_customers : int
        Customers compared (a sample of at most ``max_samples``).
    """

    ari: np.ndarray
    k: int
    n_customers: int

    @property
    def mean(self) -> float:
        return float(np.mean(self.ari))

    def summary(self) -> pd.DataFrame:
        """Mean ARI with the 2.5 and 97.5 percentiles of the bootstrap distribution.

        ``ci_low``/``ci_high`` are percentiles of the resampled ARIs (their spread), ``p_value``
        is not applicable (NaN).
        """
        a = self.ari
        return pd.DataFrame(
            {
                "estimate": [float(np.mean(a))],
                "ci_low": [float(np.percentile(a, 2.5))],
                "ci_high": [float(np.percentile(a, 97.5))],
                "p_value": [np.nan],
                "sd": [float(np.std(a, ddof=1)) if len(a) > 1 else np.nan],
                "n_bootstrap": [len(a)],
                "k": [self.k],
            },
            index=pd.Index(["mean_adjusted_rand_index"], name="measure"),
        )


def bootstrap_stability(
    segmenter: BehaviouralSegmenter,
    X: pd.DataFrame,
    n_bootstrap: int = 30,
    random_state: int | None = None,
    max_samples: int = 20_000,
) -> StabilityResult:
    """Stability of a fitted segmenter's clusters under resampling of customers.

    Each resample draws customers with replacement, refits k-means with the chosen k on it,
    assigns every (sampled) customer to the refitted clusters and compares with the reported
    clusters by the adjusted Rand index (1 = identical partition, 0 = chance agreement).
    The k-means loops run on the segmenter's ``n_threads``.
    """
    with threadpool_limits(getattr(segmenter, "n_threads", 1)):
        return _bootstrap_stability(segmenter, X, n_bootstrap, random_state, max_samples)


def _bootstrap_stability(
    segmenter: BehaviouralSegmenter,
    X: pd.DataFrame,
    n_bootstrap: int,
    random_state: int | None,
    max_samples: int,
) -> StabilityResult:
    Z = segmenter.transform(X)
    ref = segmenter.labels_
    n = Z.shape[0]
    rng = np.random.default_rng(random_state)
    if n > max_samples:
        idx = _sample_index(n, max_samples, rng)
        Z, ref = Z[idx], ref[idx]
        n = max_samples
    aris = []
    for _ in range(n_bootstrap):
        boot = rng.integers(0, n, n)
        km = segmenter.make_kmeans(segmenter.k_, n, random_state=int(rng.integers(2**31 - 1)))
        km.fit(Z[boot])
        aris.append(adjusted_rand_score(ref, km.predict(Z)))
    return StabilityResult(ari=np.asarray(aris), k=segmenter.k_, n_customers=n)


# --------------------------------------------------------------------------------------------
# Cluster profiles and names
# --------------------------------------------------------------------------------------------

_CHANNEL_WORDS = {
    "app": "app",
    "web": "online",
    "online": "online",
    "store": "in-store",
    "shop": "in-store",
    "instore": "in-store",
    "phone": "phone",
}
_TOD_WORDS = {
    "morning": "morning",
    "afternoon": "afternoon",
    "evening": "evening",
    "night": "late-night",
}


@dataclass
class ClusterProfile:
    """Profile of behavioural clusters.

    Attributes
    ----------
    summary : pd.DataFrame
        Per cluster: ``cluster, name, customers, customer_share, revenue, revenue_share``,
        and mean ``frequency``, ``avg_basket``, ``monetary``, ``recency_days`` where available,
        plus ``description``. Clusters under ``min_group_size`` are dropped.
    std_diff : pd.DataFrame
        Clusters x features: (cluster mean − all-customer mean) / all-customer SD.
    channel_mix, category_mix, time_mix : pd.DataFrame
        Clusters (plus ``All customers``) x mean purchase shares (0..1).
    means : pd.DataFrame
        Clusters x feature means (original units), plus ``All customers``.
    """

    summary: pd.DataFrame
    std_diff: pd.DataFrame
    channel_mix: pd.DataFrame
    category_mix: pd.DataFrame
    time_mix: pd.DataFrame
    means: pd.DataFrame

    @property
    def names(self) -> dict[int, str]:
        return dict(zip(self.summary["cluster"], self.summary["name"], strict=True))


def _pretty(col: str, prefix: str) -> str:
    return col[len(prefix) :].replace("_", " ")


def _rate_col(index) -> str | None:
    for c in ("purchase_rate", "frequency"):
        if c in index:
            return c
    return None


def _top(cols: list[str], score: pd.Series) -> str:
    return max(cols, key=lambda c: score[c])


def _name_one(d: pd.Series, m: pd.Series, threshold: float) -> dict:
    """Name parts of one cluster from its standardised differences ``d`` and means ``m``."""
    parts: dict[str, str] = {}
    if "weekend_share" in d.index:
        if d["weekend_share"] > threshold:
            parts["day"] = "weekend"
        elif d["weekend_share"] < -threshold:
            parts["day"] = "weekday"
    tods = [c for c in d.index if c.startswith("tod_share_")]
    if tods:
        top = _top(tods, d)
        if d[top] > threshold:
            key = _pretty(top, "tod_share_")
            parts["tod"] = _TOD_WORDS.get(key, key)
    chans = [c for c in d.index if c.startswith("channel_share_")]
    if chans:
        top = _top(chans, d)
        if d[top] > threshold and m[top] >= 0.4:
            key = _pretty(top, "channel_share_").lower()
            parts["channel"] = _CHANNEL_WORDS.get(key, key)
    cats = [c for c in d.index if c.startswith("category_share_")]
    if cats:
        top = _top(cats, d)
        if d[top] > threshold:
            parts["category"] = _pretty(top, "category_share_")
    if "avg_basket" in d.index:
        if d["avg_basket"] > threshold:
            parts["basket"] = "big-basket"
        elif d["avg_basket"] < -threshold:
            parts["basket"] = "small-basket"
    noun = "shoppers"
    rate = _rate_col(d.index)
    if rate:
        if d[rate] > threshold:
            noun = "regulars"
        elif d[rate] < -threshold:
            noun = "occasional shoppers"
    parts["noun"] = noun
    return parts


def _compose(parts: dict, with_category: bool = False) -> str:
    words = [parts.get(p) for p in ("day", "tod", "channel", "basket")]
    if with_category and parts.get("category"):
        words.append(parts["category"])
    words = [w for w in words if w]
    if not words and parts["noun"] == "shoppers":
        words = ["mainstream"]
    name = " ".join([*words, parts["noun"]])
    return name[0].upper() + name[1:]


_CHANNEL_PHRASE = {"app": "in the app", "web": "online", "store": "in store"}


def _describe(
    row: pd.Series, m: pd.Series, overall: pd.Series, d: pd.Series, threshold: float
) -> str:
    bits = [
        f"{int(row['customers']):,} customers ({row['customer_share']:.0%} of all) bringing "
        f"{row['revenue_share']:.0%} of revenue in the look-back window."
    ]
    rate = _rate_col(m.index)
    if rate and overall.get(rate, 0) > 0:
        unit = "times a year" if rate == "purchase_rate" else "times in the look-back window"
        s = (
            f"They buy about {m[rate]:.1f} {unit} ({m[rate] / overall[rate]:.1f}x the average "
            f"customer)"
        )
        if "avg_basket" in m.index and overall.get("avg_basket", 0) > 0:
            s += (
                f" and spend {m['avg_basket']:,.2f} per purchase "
                f"({m['avg_basket'] / overall['avg_basket']:.1f}x the average)"
            )
        bits.append(s + ".")
    chans = [c for c in m.index if c.startswith("channel_share_")]
    if chans:
        top = _top(chans, m)
        key = _pretty(top, "channel_share_")
        bits.append(
            f"{m[top]:.0%} of their purchases are made {_CHANNEL_PHRASE.get(key, 'via ' + key)}"
            f" (all customers: {overall[top]:.0%})."
        )
    tods = [c for c in m.index if c.startswith("tod_share_")]
    if tods:
        top = _top(tods, d)
        if d[top] > threshold:
            s = (
                f"They shop in the {_pretty(top, 'tod_share_')} more than others "
                f"({m[top]:.0%} of purchases vs {overall[top]:.0%})"
            )
        else:
            s = "No time of day stands out"
        if "weekend_share" in m.index:
            s += (
                f"; {m['weekend_share']:.0%} of their purchases are at weekends "
                f"(all customers: {overall['weekend_share']:.0%})"
            )
        bits.append(s + ".")
    cats = [c for c in m.index if c.startswith("category_share_")]
    if cats:
        top = _top(cats, d)
        if d[top] > threshold:
            bits.append(
                f"They favour {_pretty(top, 'category_share_')} "
                f"({m[top]:.0%} of purchases vs {overall[top]:.0%})."
            )
        else:
            bits.append(
                f"Their category mix is close to average (largest: "
                f"{_pretty(_top(cats, m), 'category_share_')})."
            )
    return " ".join(bits)


def profile_clusters(
    features: pd.DataFrame,
    labels,
    columns: list[str] | None = None,
    revenue_col: str = "monetary",
    min_group_size: int = 10,
    name_threshold: float = 0.5,
) -> ClusterProfile:
    """Profile clusters and generate plain-language names and descriptions.

    Parameters
    ----------
    features : pd.DataFrame
        Customer features (one row per customer).
    labels : array-like
        Cluster per row of ``features``.
    columns : list of str, optional
        Feature columns to profile; default behavioural columns plus ``monetary``,
        ``recency_days``, ``tenure_days`` where present.
    revenue_col : str
        Column summed for revenue shares.
    min_group_size : int
        Clusters with fewer customers are dropped from the summary.
    name_threshold : float
        Standardised difference beyond which a trait enters a cluster's name.

    Notes
    -----
    Names are built from the traits that set a cluster apart (standardised difference above
    ``name_threshold``): weekday/weekend, time of day, channel, basket size and frequency, e.g.
    "Weekday morning app regulars". When two clusters would share a name, the favourite
    category is added; if still equal, a number.
    """
    if columns is None:
        columns = behaviour_columns(features)
        columns += [
            c
            for c in ("frequency", "monetary", "recency_days", "tenure_days")
            if c in features.columns and c not in columns
        ]
    lab = pd.Series(np.asarray(labels), index=features.index, name="cluster")
    F = features[columns].astype(float)
    overall = F.mean()
    sd = F.std(ddof=0).replace(0, np.nan)
    means = F.groupby(lab).mean()
    std_diff = ((means - overall) / sd).fillna(0.0)
    revenue = (
        features[revenue_col].astype(float)
        if revenue_col in features
        else pd.Series(0.0, index=features.index)
    )
    summ = segment_summary(lab, revenue, min_group_size=0).rename(columns={"segment": "cluster"})
    summ = summ.sort_values("cluster").reset_index(drop=True)
    parts = {c: _name_one(std_diff.loc[c], means.loc[c], name_threshold) for c in means.index}
    names = {c: _compose(p) for c, p in parts.items()}
    dup = pd.Series(names).duplicated(keep=False)
    for c in dup[dup].index:
        names[c] = _compose(parts[c], with_category=True)
    counts = pd.Series(names).value_counts()
    seen: dict[str, int] = {}
    for c in sorted(names):
        nm = names[c]
        if counts[nm] > 1:
            seen[nm] = seen.get(nm, 0) + 1
            names[c] = f"{nm} ({seen[nm]})"
    summ["name"] = summ["cluster"].map(names)
    for c in ("purchase_rate", "frequency", "avg_basket", "monetary", "recency_days"):
        if c in means.columns:
            summ[f"mean_{c}"] = summ["cluster"].map(means[c])
    summ["description"] = [
        _describe(
            row, means.loc[row["cluster"]], overall, std_diff.loc[row["cluster"]], name_threshold
        )
        for _, row in summ.iterrows()
    ]
    summ = summ[summ["customers"] >= min_group_size].reset_index(drop=True)
    summ = summ[
        [
            "cluster",
            "name",
            "customers",
            "customer_share",
            "revenue",
            "revenue_share",
            *[c for c in summ.columns if c.startswith("mean_")],
            "description",
        ]
    ]
    means_all = pd.concat([means, overall.to_frame("All customers").T])
    keep = [*summ["cluster"].tolist(), "All customers"]
    means_all = means_all.loc[keep]

    def _mix(prefix: str) -> pd.DataFrame:
        cols = [c for c in columns if c.startswith(prefix)]
        mix = means_all[cols].copy()
        mix.columns = [_pretty(c, prefix) for c in cols]
        return mix

    return ClusterProfile(
        summary=summ,
        std_diff=std_diff.loc[summ["cluster"].tolist()],
        channel_mix=_mix("channel_share_"),
        category_mix=_mix("category_share_"),
        time_mix=_mix("tod_share_"),
        means=means_all,
    )


# --------------------------------------------------------------------------------------------
# People (single customer view) and export
# --------------------------------------------------------------------------------------------

EXPORT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
    "cluster",
    "cluster_name",
)


def _is_backend_column(obj: Any) -> bool:
    """Whether ``obj`` is an Ibis column expression (checked without importing Ibis for pandas)."""
    if isinstance(obj, pd.Series) or not type(obj).__module__.startswith("ibis."):
        return False
    import ibis.expr.types as ir

    return isinstance(obj, ir.Column)


def _id_coverage(ids: pd.Series | Any, mapped: pd.Series) -> float:
    """Share of the distinct non-missing ``ids`` (a pandas Series or an Ibis column) that are in
    ``mapped``; 0 when there are none. An Ibis column is counted in its backend (one query)."""
    if _is_backend_column(ids):
        import ibis

        col = ids.cast("string").name("_cx_id")
        known = ibis.memtable(pd.DataFrame({"_cx_known": pd.unique(mapped.astype("str"))}))
        ids_table = col.as_table()  # filter on its own column: `col` may sit on a join
        distinct = ids_table.filter(ids_table["_cx_id"].notnull()).distinct()
        hit = distinct.left_join(known, distinct["_cx_id"] == known["_cx_known"])
        got = hit.aggregate(n=hit["_cx_id"].count(), covered=hit["_cx_known"].count()).to_pandas()
        n, covered = int(got["n"].iloc[0] or 0), int(got["covered"].iloc[0] or 0)
        return covered / n if n else 0.0
    distinct = pd.Index(pd.unique(ids.dropna().astype("str")))
    return float(distinct.isin(mapped).mean()) if len(distinct) else 0.0


def load_master_map(
    output_dir: str | Path, ids: pd.Series | Any | None = None, min_coverage: float = 0.5
) -> pd.DataFrame | None:
    """Read ``output_dir/exports/customer_master_map.csv`` (from notebook 01) if present.

    Parameters
    ----------
    output_dir : path
        The run folder.
    ids : pd.Series or ibis Column, optional
        Customer ids of the data being segmented, e.g. ``transactions["customer_id"]`` of a
        pandas frame or of a backend table (then the distinct ids are counted in the backend;
        they never come into memory). A map that covers fewer than ``min_coverage`` of the
        distinct ids was made from other data (e.g. a stale file from an earlier run) and is
        ignored.
    min_coverage : float
        See ``ids``.

    Returns
    -------
    pd.DataFrame or None
        ``customer_id`` and ``master_id`` (strings), or None when absent, malformed or stale.
    """
    path = Path(output_dir) / "exports" / "customer_master_map.csv"
    if not path.is_file():
        return None
    mm = pd.read_csv(path, dtype={"customer_id": "str", "master_id": "str"})
    missing = {"customer_id", "master_id"} - set(mm.columns)
    if missing:
        logger.warning("%s lacks %s; segmenting records instead", path, sorted(missing))
        return None
    mm = mm.dropna(subset=["customer_id", "master_id"]).drop_duplicates("customer_id")
    if ids is not None:
        coverage = _id_coverage(ids, mm["customer_id"])
        if coverage < min_coverage:
            logger.warning(
                "%s covers %.0f%% of the customer ids; it belongs to other data and is ignored",
                path,
                100 * coverage,
            )
            return None
    logger.info("single customer view: %d records -> %d people", len(mm), mm["master_id"].nunique())
    return mm[["customer_id", "master_id"]].reset_index(drop=True)


def to_people(transactions: pd.DataFrame | Any, master_map: pd.DataFrame) -> pd.DataFrame | Any:
    """Replace each transaction's ``customer_id`` by its person's ``master_id``.

    Records absent from the map are their own person (their id is kept). The original id is kept
    in ``source_customer_id``. An Ibis table (e.g. ``load_source(..., lazy=("transactions",))``)
    gives an Ibis table: a left join in its backend with the map as an in-memory table (the
    first ``master_id`` of each ``customer_id``, as the pandas path after
    :func:`load_master_map`), with the same columns (the row-order column of
    :func:`cxlib.sources.backend_table` is kept, last).
    """
    from cxlib.sources import ROW_ORDER, is_backend_table

    if is_backend_table(transactions):
        import ibis

        mm = master_map[["customer_id", "master_id"]].dropna(subset=["customer_id"])
        mm = mm.drop_duplicates("customer_id").astype("str")
        m = ibis.memtable(
            pd.DataFrame(
                {
                    "_cx_record": mm["customer_id"].to_numpy(),
                    "_cx_master": mm["master_id"].to_numpy(),
                }
            )
        )
        t = transactions
        rid = t["customer_id"].cast("string")
        j = t.left_join(m, rid == m["_cx_record"])
        cols = {c: j[c] for c in t.columns if c != ROW_ORDER}
        cols["customer_id"] = ibis.coalesce(j["_cx_master"], j["customer_id"].cast("string"))
        cols["source_customer_id"] = j["customer_id"]
        if ROW_ORDER in t.columns:
            cols[ROW_ORDER] = j[ROW_ORDER]
        return j.select(**cols)
    m = master_map.set_index("customer_id")["master_id"]
    out = transactions.copy()
    out["source_customer_id"] = out["customer_id"]
    mapped = out["customer_id"].map(m)
    out["customer_id"] = mapped.fillna(out["customer_id"]).astype("str")
    return out


def segments_export(
    rfm: pd.DataFrame,
    clusters: pd.Series,
    cluster_names: dict,
    customers: pd.DataFrame | None = None,
    master_map: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Build the ``exports/segments.csv`` table.

    Parameters
    ----------
    rfm : pd.DataFrame
        :func:`rfm_scores` output indexed by the segmented id (customer or person).
    clusters : pd.Series
        Cluster per segmented id.
    cluster_names : dict
        Cluster -> name.
    customers : pd.DataFrame, optional
        Customers table; if it has ``marketing_consent``, only records with consent True are
        exported (unknown consent is not consent).
    master_map : pd.DataFrame, optional
        When people were segmented: one row per source record (``customer_id``) with its person's
        segment values and an extra ``master_id`` column.

    Returns
    -------
    pd.DataFrame
        Columns :data:`EXPORT_COLUMNS` (+ ``master_id`` in people mode), sorted by customer_id.
    """
    seg = rfm[
        ["recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_segment"]
    ].copy()
    seg["rfm_segment"] = seg["rfm_segment"].astype("object")
    seg["cluster"] = clusters.reindex(seg.index).astype("Int64")
    seg["cluster_name"] = seg["cluster"].map(
        lambda c: cluster_names.get(c) if pd.notna(c) else None
    )
    seg = seg.rename_axis("segment_id").reset_index()
    if master_map is not None:
        mm = master_map[["customer_id", "master_id"]]
        seg = seg.rename(columns={"segment_id": "master_id"})
        # records whose person id is the record id itself (unmapped records)
        extra = seg.loc[~seg["master_id"].isin(mm["master_id"]), ["master_id"]]
        mm = pd.concat(
            [mm, pd.DataFrame({"customer_id": extra["master_id"], "master_id": extra["master_id"]})]
        )
        out = mm.merge(seg, on="master_id", how="inner")
        cols = [*EXPORT_COLUMNS, "master_id"]
    else:
        out = seg.rename(columns={"segment_id": "customer_id"})
        cols = list(EXPORT_COLUMNS)
    if customers is not None and "marketing_consent" in customers.columns:
        ok = customers.loc[customers["marketing_consent"].fillna(False).astype(bool), "customer_id"]
        n0 = len(out)
        out = out[out["customer_id"].isin(set(ok))]
        logger.info("segments export: %d of %d records have marketing consent", len(out), n0)
    return out[cols].sort_values("customer_id").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Findings (sentences with numbers for the report)
# --------------------------------------------------------------------------------------------

#: Segments counted as "valuable" and as "slipping" in the migration findings.
VALUABLE_SEGMENTS: tuple[str, ...] = ("Champions", "Loyal")
SLIPPING_SEGMENTS: tuple[str, ...] = ("At risk", "Can't lose them", "Hibernating", "Lost")


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def rfm_findings(summary: pd.DataFrame) -> list[str]:
    """Sentences about the RFM segments from a :func:`segment_summary` table."""
    if summary.empty:
        return ["No RFM segment has enough customers to be shown."]
    s = summary.set_index("segment")
    out = []
    top = summary.sort_values("revenue_share", ascending=False).iloc[0]
    if "Champions" in s.index:
        c = s.loc["Champions"]
        out.append(
            f"Champions are {int(c['customers']):,} customers ({_pct(c['customer_share'])}) and "
            f"bring {_pct(c['revenue_share'])} of revenue in the look-back window."
        )
    if top["segment"] != "Champions":
        out.append(
            f"The segment bringing the most revenue is {top['segment']}: "
            f"{int(top['customers']):,} customers ({_pct(top['customer_share'])}) with "
            f"{_pct(top['revenue_share'])} of revenue."
        )
    slipping = s.loc[[x for x in SLIPPING_SEGMENTS if x in s.index]]
    if len(slipping):
        out.append(
            f"{int(slipping['customers'].sum()):,} customers "
            f"({_pct(slipping['customer_share'].sum())}) are At risk, Can't lose them, "
            f"Hibernating or Lost; together they still brought "
            f"{_pct(slipping['revenue_share'].sum())} of revenue in the look-back window."
        )
    return out


def k_choice_sentence(
    selection: pd.DataFrame,
    expected_k: int | None = None,
    *,
    n_scored: int | None = None,
    n_customers: int | None = None,
) -> str:
    """Why the chosen k was chosen (and, if ``expected_k`` differs, why not that one).

    With ``n_scored`` below ``n_customers`` (a large customer base: the scores were computed on
    a sample, :attr:`BehaviouralSegmenter.n_scored_`) the sentence says so.
    """
    sel = selection.set_index("k")
    k = int(sel.index[sel["chosen"]][0])
    row = sel.loc[k]
    text = (
        f"We tried {sel.index.min()} to {sel.index.max()} segments and kept {k}: that number "
        f"gives the best combination of clear separation (silhouette {row['silhouette']:.3f}) "
        f"and reproducibility (stability {row['stability']:.3f}), score "
        f"{row['score']:.3f}."
    )
    best_sil = int(sel["silhouette"].idxmax())
    if best_sil != k:
        text += (
            f" {best_sil} segments would be slightly better separated (silhouette "
            f"{sel.loc[best_sil, 'silhouette']:.3f}) but are found again less reliably "
            f"(stability {sel.loc[best_sil, 'stability']:.3f})."
        )
    if expected_k is not None and expected_k != k and expected_k in sel.index:
        e = sel.loc[expected_k]
        text += (
            f" {expected_k} segments score {e['score']:.3f} (silhouette {e['silhouette']:.3f}, "
            f"stability {e['stability']:.3f}), lower than {k}."
        )
    if n_scored is not None and n_customers is not None and n_scored < n_customers:
        text += (
            f" Separation and reproducibility were measured on a random sample of "
            f"{n_scored:,} of the {n_customers:,} customers; every customer is given a segment."
        )
    return text


def cluster_findings(
    profile: ClusterProfile, stability: StabilityResult | None = None
) -> list[str]:
    """Sentences about the behavioural clusters."""
    s = profile.summary
    if s.empty:
        return ["No behavioural cluster has enough customers to be shown."]
    out = [
        f"Customers fall into {len(s)} behavioural segments; the largest is "
        f'"{s.iloc[0]["name"]}" ({_pct(s.iloc[0]["customer_share"])} of customers).'
    ]
    top = s.sort_values("revenue_share", ascending=False).iloc[0]
    ratio = top["revenue_share"] / top["customer_share"] if top["customer_share"] else np.nan
    out.append(
        f'"{top["name"]}" are {_pct(top["customer_share"])} of customers but bring '
        f"{_pct(top['revenue_share'])} of revenue ({ratio:.1f}x their share)."
    )
    if stability is not None:
        q = stability.summary().iloc[0]
        word = (
            "stable"
            if q["estimate"] >= 0.9
            else "fairly stable"
            if q["estimate"] >= 0.75
            else "not very stable"
        )
        out.append(
            f"The segments are {word}: refitted on {int(q['n_bootstrap'])} resamples of customers "
            f"they agree with the reported ones at a mean adjusted Rand index of "
            f"{q['estimate']:.3f} (95% of resamples between {q['ci_low']:.3f} and "
            f"{q['ci_high']:.3f}; 1 = identical)."
        )
    return out


def migration_findings(migration: MigrationResult, min_group_size: int = 10) -> list[str]:
    """Sentences about movement between RFM segments (counts under ``min_group_size`` are not
    stated)."""
    days = (migration.current_date - migration.previous_date).days
    out = []
    moved, base = migration.moved(list(VALUABLE_SEGMENTS), list(SLIPPING_SEGMENTS))
    if base >= min_group_size and (moved == 0 or moved >= min_group_size):
        out.append(
            f"Of the {base:,} customers who were Champions or Loyal {days} days ago, "
            f"{moved:,} ({_pct(moved / base)}) are now At risk, Can't lose them, Hibernating "
            f"or Lost."
        )
    up, base_up = migration.moved(
        [s for s in RFM_SEGMENTS if s not in VALUABLE_SEGMENTS], list(VALUABLE_SEGMENTS)
    )
    if base_up >= min_group_size and up >= min_group_size:
        out.append(
            f"{up:,} customers ({_pct(up / base_up)} of the other existing customers) moved up "
            f"into Champions or Loyal over the same {days} days."
        )
    new, _ = migration.moved([NOT_YET_CUSTOMER], list(RFM_SEGMENTS))
    if new >= min_group_size:
        out.append(f"{new:,} customers made their first purchase in the last {days} days.")
    return out


# --------------------------------------------------------------------------------------------
# Report tables (formatted for business readers)
# --------------------------------------------------------------------------------------------


def segment_table(
    summary: pd.DataFrame, descriptions: dict[str, str] | None = None
) -> pd.DataFrame:
    """:func:`segment_summary` output with readable headers and formatted numbers."""
    out = pd.DataFrame(
        {
            "Segment": summary["segment"].astype(str),
            "Customers": summary["customers"].map(lambda v: f"{int(v):,}"),
            "% of customers": summary["customer_share"].map(_pct),
            "Revenue": summary["revenue"].map(lambda v: f"{v:,.0f}"),
            "% of revenue": summary["revenue_share"].map(_pct),
            "Revenue per customer": summary["revenue_per_customer"].map(lambda v: f"{v:,.0f}"),
        }
    )
    if descriptions:
        out["What it means"] = out["Segment"].map(descriptions).fillna("")
    return out


def cluster_table(profile: ClusterProfile) -> pd.DataFrame:
    """Cluster summary with readable headers, formatted numbers and the generated description."""
    s = profile.summary
    out = pd.DataFrame(
        {
            "Cluster": s["cluster"].astype(int),
            "Name": s["name"],
            "Customers": s["customers"].map(lambda v: f"{int(v):,}"),
            "% of customers": s["customer_share"].map(_pct),
            "% of revenue": s["revenue_share"].map(_pct),
        }
    )
    if "mean_purchase_rate" in s:
        out["Purchases a year"] = s["mean_purchase_rate"].map(lambda v: f"{v:.1f}")
    if "mean_avg_basket" in s:
        out["Average basket"] = s["mean_avg_basket"].map(lambda v: f"{v:,.2f}")
    out["Description"] = s["description"]
    return out


def with_names(df: pd.DataFrame, names: dict) -> pd.DataFrame:
    """Replace a cluster-indexed frame's index by "<cluster>: <name>" labels (other rows kept)."""
    out = df.copy()
    out.index = [f"{i}: {names[i]}" if i in names else str(i) for i in out.index]
    return out


def add_findings(findings, sentences: list[str], headline: int | None = 0) -> None:
    """Add ``sentences`` to a :class:`cxlib.report.Findings`; sentence number ``headline`` (if any
    and present) is marked as a headline for the index page."""
    for i, text in enumerate(sentences):
        findings.add(text, headline=headline is not None and i == headline)
