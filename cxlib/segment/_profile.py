"""Profiles of the behavioural clusters, with plain-language names and descriptions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxlib.segment._cluster import behaviour_columns
from cxlib.segment._rfm import segment_summary

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
    strengths = [0.0]  # the other traits' standardised differences, as named below
    if "weekend_share" in d.index:
        if d["weekend_share"] > threshold:
            parts["day"] = "weekend"
        elif d["weekend_share"] < -threshold:
            parts["day"] = "weekday"
        strengths.append(abs(d["weekend_share"]) if "day" in parts else 0.0)
    tods = [c for c in d.index if c.startswith("tod_share_")]
    if tods:
        top = _top(tods, d)
        if d[top] > threshold:
            key = _pretty(top, "tod_share_")
            parts["tod"] = _TOD_WORDS.get(key, key)
            strengths.append(d[top])
    chans = [c for c in d.index if c.startswith("channel_share_")]
    if chans:
        top = _top(chans, d)
        if d[top] > threshold and m[top] >= 0.4:
            key = _pretty(top, "channel_share_").lower()
            parts["channel"] = _CHANNEL_WORDS.get(key, key)
            strengths.append(d[top])
    if "avg_basket" in d.index:
        if d["avg_basket"] > threshold:
            parts["basket"] = "big-basket"
        elif d["avg_basket"] < -threshold:
            parts["basket"] = "small-basket"
        strengths.append(abs(d["avg_basket"]) if "basket" in parts else 0.0)
    cats = [c for c in d.index if c.startswith("category_share_")]
    if cats:
        top = _top(cats, d)
        if d[top] > threshold:
            parts["category"] = _pretty(top, "category_share_")
            if d[top] > max(strengths):  # what sets the cluster apart most: the name says it
                parts["lead"] = "category"
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
    """A cluster's name from its parts: its category alone when that sets it apart most (the
    other traits are in its description), else day, time, channel and basket (with the
    category too when ``with_category``, to tell two clusters of the same name apart)."""
    if parts.get("lead") == "category":
        name = f"{parts['category']} {parts['noun']}"
        return name[0].upper() + name[1:]
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
