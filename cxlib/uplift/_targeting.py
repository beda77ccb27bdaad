"""The four response groups, the profit curve and the marketing list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cxlib.uplift._constants import (
    GROUP_LABELS,
    GROUP_RELATIVE_THRESHOLD,
    RESPONSE_GROUPS,
    SCORES_EXPORT_COLUMNS,
    TARGETING_EXPORT_COLUMNS,
)
from cxlib.uplift._evaluation import _as_arrays, _bootstrap_weights, _diff_ci
from cxlib.uplift._models import UpliftModelResult


# --------------------------------------------------------------------------------------------
# The four groups
# --------------------------------------------------------------------------------------------
def response_groups(
    uplift,
    p_control,
    *,
    base_rate: float | None = None,
    min_uplift: float | None = None,
    sure_thing_rate: float | None = None,
) -> pd.Series:
    """Sort customers into the four classic uplift groups from predicted uplift.

    The threshold is relative to the base rate: ``min_uplift`` defaults to
    :data:`GROUP_RELATIVE_THRESHOLD` × ``base_rate`` (default: the mean predicted control
    rate), so a group means the same on a campaign converting 1% as on one converting 10%.

    * sleeping dogs: predicted uplift ≤ −``min_uplift`` (contact makes them less likely to buy);
    * persuadables: predicted uplift ≥ ``min_uplift``;
    * sure things: |uplift| < ``min_uplift`` and predicted control rate ≥ ``sure_thing_rate``
      (default: the mean predicted control rate) — they buy anyway;
    * lost causes: the rest — unlikely to buy either way.

    A predicted group is only a claim once its observed uplift confirms it
    (:func:`group_summary`, ``confirmed``).
    """
    u = np.asarray(uplift, dtype=float)
    p = np.asarray(p_control, dtype=float)
    mean_p = float(np.nanmean(p)) if len(p) else 0.0
    if min_uplift is None:
        base = mean_p if base_rate is None else float(base_rate)
        min_uplift = GROUP_RELATIVE_THRESHOLD * base
    thr = mean_p if sure_thing_rate is None else float(sure_thing_rate)
    grp = np.where(
        u <= -min_uplift,
        "sleeping_dog",
        np.where(u >= min_uplift, "persuadable", np.where(p >= thr, "sure_thing", "lost_cause")),
    )
    index = uplift.index if isinstance(uplift, pd.Series) else None
    return pd.Series(pd.Categorical(grp, categories=list(RESPONSE_GROUPS)), index=index)


def group_summary(groups, y, treatment, uplift, *, alpha: float = 0.05) -> pd.DataFrame:
    """Size (all, treated, control), mean predicted uplift and observed uplift (treated −
    control, Wald CI) per group.

    With cross-fitted predictions (every customer scored by a model that did not see them) the
    observed uplift of a group is measured out of fold. ``confirmed``: persuadables whose CI lies
    above zero, sleeping dogs whose CI lies below zero (False for the two other groups, which
    claim no effect); ``label`` names a persuadable or sleeping-dog group only when confirmed
    ("Predicted … (not confirmed)" otherwise)."""
    groups = pd.Series(pd.Categorical(np.asarray(groups), categories=list(RESPONSE_GROUPS)))
    y = np.asarray(y, dtype=float)
    t = np.asarray(treatment, dtype=float)
    u = np.asarray(uplift, dtype=float)
    rows = []
    for grp in RESPONSE_GROUPS:
        m = (groups == grp).to_numpy()
        d, lo, hi = _diff_ci(y[m & (t == 1)], y[m & (t == 0)], alpha)
        confirmed = bool((grp == "persuadable" and lo > 0) or (grp == "sleeping_dog" and hi < 0))
        claims = grp in ("persuadable", "sleeping_dog")
        label = GROUP_LABELS[grp]
        rows.append(
            {
                "group": grp,
                "label": label
                if confirmed or not claims
                else f"Predicted {label.lower()} (not confirmed)",
                "customers": int(m.sum()),
                "n_treated": int((m & (t == 1)).sum()),
                "n_control": int((m & (t == 0)).sum()),
                "share": float(m.mean()) if len(m) else np.nan,
                "mean_predicted_uplift": float(u[m].mean()) if m.any() else np.nan,
                "observed_uplift": d,
                "ci_low": lo,
                "ci_high": hi,
                "confirmed": confirmed,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# 4. Targeting
# --------------------------------------------------------------------------------------------
def profit_curve(
    y,
    treatment,
    score,
    *,
    cost_per_contact: float = 1.0,
    value_per_conversion: float = 40.0,
    shares: Sequence[float] | None = None,
    base_size: int | None = None,
    n_bootstrap: int = 200,
    alpha: float = 0.05,
    random_state: int | None = 0,
    min_group_size: int = 0,
) -> pd.DataFrame:
    """Incremental profit of contacting the top share of customers by predicted uplift.

    For share ``s``, the observed uplift among the top ``s`` (treated rate − control rate,
    :func:`uplift_curve`) times the number contacted gives incremental conversions; profit =
    ``value_per_conversion`` × incremental conversions − ``cost_per_contact`` × contacted,
    scaled to ``base_size`` customers (default: the rows given). Bootstrap percentile CIs
    (stratified by arm). Share 0 (contact nobody) has profit 0. Shares whose top customers
    include fewer than ``min_group_size`` treated or control customers are left out (their
    profit would describe a handful of people).

    Returns
    -------
    DataFrame with ``share, contacted, incremental_conversions, incremental_ci_low,
    incremental_ci_high, cost, profit, profit_ci_low, profit_ci_high, gain_share``
    (incremental conversions as a share of contacting everyone).
    """
    y, t, s = _as_arrays(y, treatment, score)
    n = len(y)
    base = n if base_size is None else int(base_size)
    shares = np.round(np.arange(0.05, 1.0001, 0.05), 2) if shares is None else np.asarray(shares)
    order = np.argsort(-s, kind="mergesort")

    def incremental(yy, tt, oo):
        yo, to = yy[oo], tt[oo]
        cnt_t = np.cumsum(to)
        cnt_c = np.cumsum(1 - to)
        sum_t = np.cumsum(yo * to)
        sum_c = np.cumsum(yo * (1 - to))
        k = np.clip(np.round(shares * len(yo)).astype(int), 1, len(yo)) - 1
        rt = np.divide(sum_t[k], cnt_t[k], out=np.zeros(len(k)), where=cnt_t[k] > 0)
        rc = np.divide(sum_c[k], cnt_c[k], out=np.zeros(len(k)), where=cnt_c[k] > 0)
        return (rt - rc) * shares  # incremental conversions per customer in the base

    point = incremental(y, t, order)
    # a resample as row counts over the one sort of the rows: the top k of the resampled rows
    # are the rows in score order until their counts reach k (ties in row order)
    t_o, yt_o, yc_o = t[order], (y * t)[order], (y * (1 - t))[order]
    k_pos = np.clip(np.round(shares * n).astype(int), 1, max(n, 1))

    def incremental_weighted(w):
        ws = w[order]
        cw = np.cumsum(ws)
        j = np.minimum(np.searchsorted(cw, k_pos), n - 1)  # the row holding the k-th draw
        before = np.where(j > 0, cw[j - 1], 0.0)
        m = k_pos - before  # draws of row j inside the top k

        def top(v):
            c = np.cumsum(ws * v)
            return np.where(j > 0, c[j - 1], 0.0) + m * v[j]

        cnt_t = top(t_o)
        cnt_c = k_pos - cnt_t
        rt = np.divide(top(yt_o), cnt_t, out=np.zeros(len(k_pos)), where=cnt_t > 0)
        rc = np.divide(top(yc_o), cnt_c, out=np.zeros(len(k_pos)), where=cnt_c > 0)
        return (rt - rc) * shares

    rng = np.random.default_rng(random_state)
    boots = [incremental_weighted(w) for w in _bootstrap_weights(t, n_bootstrap, rng)]
    boots = np.asarray(boots) if boots else np.full((1, len(shares)), np.nan)
    if n_bootstrap > 0:
        lo, hi = np.nanquantile(boots, [alpha / 2, 1 - alpha / 2], axis=0)
    else:
        lo = hi = np.full(len(shares), np.nan)
    contacted = shares * base
    cost = cost_per_contact * contacted
    inc = point * base
    full = inc[-1] if len(inc) and shares[-1] == 1 else np.nan
    plo = value_per_conversion * lo * base - cost
    phi = value_per_conversion * hi * base - cost
    k = np.clip(np.round(shares * n).astype(int), 1, max(n, 1))
    top_t = np.cumsum(t[order])[k - 1] if n else np.zeros(len(k))
    enough = (top_t >= min_group_size) & (k - top_t >= min_group_size)
    out = pd.DataFrame(
        {
            "share": shares,
            "contacted": contacted,
            "incremental_conversions": inc,
            "incremental_ci_low": lo * base,
            "incremental_ci_high": hi * base,
            "cost": cost,
            "profit": value_per_conversion * inc - cost,
            "profit_ci_low": plo,
            "profit_ci_high": phi,
            "gain_share": inc / full if full else np.nan,
        }
    )
    return out.loc[enough].reset_index(drop=True)


def best_share(curve: pd.DataFrame) -> pd.Series:
    """The share the targeting policy contacts: among the shares of :func:`profit_curve` whose
    profit has a 95% CI above zero (``profit_ci_low > 0``), the one with the highest profit
    (ties: the smaller share); a row of zeros at share 0 (contact nobody) when no share is
    profitable with confidence."""
    ok = curve.loc[curve["profit_ci_low"] > 0] if len(curve) else curve
    if ok.empty:
        return pd.Series({c: 0.0 for c in curve.columns})
    return ok.iloc[ok["profit"].to_numpy().argmax()]


def share_threshold(uplift, share: float) -> float | None:
    """The lowest predicted uplift inside the top ``share`` of ``uplift`` (ranked as
    :func:`profit_curve` ranks them); None for share 0 (nobody is inside)."""
    s = np.asarray(uplift, dtype=float)
    if share <= 0 or not len(s):
        return None
    k = int(np.clip(np.round(share * len(s)), 1, len(s)))
    return float(np.sort(s)[::-1][k - 1])


def expected_profit(uplift, *, cost_per_contact: float, value_per_conversion: float) -> np.ndarray:
    """Expected incremental profit of contacting one customer: uplift × value − cost."""
    return np.asarray(uplift, dtype=float) * value_per_conversion - cost_per_contact


def consenting(customers: pd.DataFrame | None, ids: pd.Series) -> np.ndarray:
    """True for the ``ids`` whose ``marketing_consent`` is true; every id when ``customers`` has
    no consent column (the report then says consent is unknown); missing consent is no consent."""
    if customers is None or "marketing_consent" not in customers.columns:
        return np.ones(len(ids), dtype=bool)
    first = customers.drop_duplicates("customer_id")
    consent = first.set_index(first["customer_id"].astype("str"))["marketing_consent"]
    return consent.reindex(ids.astype("str")).astype("boolean").fillna(False).to_numpy(bool)


def uplift_scores_export(
    result: UpliftModelResult,
    *,
    thresholds: Mapping[str, float | None],
    customers: pd.DataFrame | None = None,
    model: str | None = None,
    segments: Any = None,
) -> pd.DataFrame:
    """The marketing list: one row per campaign customer, the same decision as the report's.

    A customer is inside an offer's chosen share when their cross-fitted predicted uplift for
    that offer (model ``model``, default the best by Qini) is at least ``thresholds[arm]``
    (:func:`share_threshold` of the share :func:`best_share` chose; None: the offer contacts
    nobody). ``arm`` is the offer with the highest predicted uplift among those whose share the
    customer is inside (any offer when inside none), ``uplift`` its predicted uplift, and
    ``recommended`` is True exactly for the consenting customers (:func:`consenting`) inside a
    chosen share. ``segment`` is the customer's segment today in the series' segmentation
    (``segments``, a :class:`cxlib.segment.SeriesSegments`; empty without one or for customers
    without purchases).
    """
    model = model or result.best_model
    u = result.scores[[f"{model}|{a}" for a in result.arms]].to_numpy(dtype=float)
    u = np.where(np.isnan(u), -np.inf, u)
    inside = np.column_stack(
        [
            u[:, j] >= thresholds[a] if thresholds.get(a) is not None else np.zeros(len(u), bool)
            for j, a in enumerate(result.arms)
        ]
    )
    any_inside = inside.any(axis=1)
    best = np.where(any_inside, np.where(inside, u, -np.inf).argmax(axis=1), u.argmax(axis=1))
    ids = result.scores["customer_id"].astype("str")
    out = pd.DataFrame(
        {
            "customer_id": ids.to_numpy(),
            "arm": pd.array(np.asarray(result.arms, dtype=object)[best], dtype="str"),
            "uplift": np.round(u[np.arange(len(u)), best], 6),
            "recommended": any_inside & consenting(customers, ids),
            "segment": pd.array(
                [None] * len(ids) if segments is None else segments.label_records(ids).to_numpy(),
                dtype="str",
            ),
        }
    )
    return out[list(SCORES_EXPORT_COLUMNS)]


def targeting_table(
    best: Mapping[str, pd.Series], scores: pd.DataFrame, *, model: str, economics: str
) -> pd.DataFrame:
    """The rows of ``exports/uplift_targeting.csv``: per offer the share the policy contacts,
    the customers the marketing list recommends for it (from ``scores``, so the two agree) and
    the expected profit with its 95% CI at that share (0 when the share is 0)."""
    rec = scores.loc[scores["recommended"], "arm"].value_counts()
    rows = [
        {
            "arm": arm,
            "model": model,
            "share_contacted": float(b["share"]),
            "customers_recommended": int(rec.get(arm, 0)),
            "expected_profit": float(b["profit"]),
            "profit_ci_low": float(b["profit_ci_low"]),
            "profit_ci_high": float(b["profit_ci_high"]),
            "economics": economics,
        }
        for arm, b in best.items()
    ]
    return pd.DataFrame(rows, columns=list(TARGETING_EXPORT_COLUMNS))
