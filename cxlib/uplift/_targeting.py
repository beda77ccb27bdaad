"""The four response groups, the profit curve and the marketing list."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cxlib.uplift._constants import GROUP_LABELS, RESPONSE_GROUPS, SCORES_EXPORT_COLUMNS
from cxlib.uplift._evaluation import _as_arrays, _bootstrap_weights, _diff_ci
from cxlib.uplift._models import UpliftModelResult


# --------------------------------------------------------------------------------------------
# The four groups
# --------------------------------------------------------------------------------------------
def response_groups(
    uplift, p_control, *, min_uplift: float = 0.01, sure_thing_rate: float | None = None
) -> pd.Series:
    """Sort customers into the four classic uplift groups from predicted uplift.

    * sleeping dogs: predicted uplift ≤ −``min_uplift`` (contact makes them less likely to buy);
    * persuadables: predicted uplift ≥ ``min_uplift``;
    * sure things: |uplift| < ``min_uplift`` and predicted control rate ≥ ``sure_thing_rate``
      (default: the mean predicted control rate) — they buy anyway;
    * lost causes: the rest — unlikely to buy either way.
    """
    u = np.asarray(uplift, dtype=float)
    p = np.asarray(p_control, dtype=float)
    thr = float(np.nanmean(p)) if sure_thing_rate is None else float(sure_thing_rate)
    grp = np.where(
        u <= -min_uplift,
        "sleeping_dog",
        np.where(u >= min_uplift, "persuadable", np.where(p >= thr, "sure_thing", "lost_cause")),
    )
    index = uplift.index if isinstance(uplift, pd.Series) else None
    return pd.Series(pd.Categorical(grp, categories=list(RESPONSE_GROUPS)), index=index)


def group_summary(groups, y, treatment, uplift, *, alpha: float = 0.05) -> pd.DataFrame:
    """Size (all, treated, control), mean predicted uplift and observed uplift (treated −
    control, Wald CI) per group."""
    groups = pd.Series(pd.Categorical(np.asarray(groups), categories=list(RESPONSE_GROUPS)))
    y = np.asarray(y, dtype=float)
    t = np.asarray(treatment, dtype=float)
    u = np.asarray(uplift, dtype=float)
    rows = []
    for grp in RESPONSE_GROUPS:
        m = (groups == grp).to_numpy()
        d, lo, hi = _diff_ci(y[m & (t == 1)], y[m & (t == 0)], alpha)
        rows.append(
            {
                "group": grp,
                "label": GROUP_LABELS[grp],
                "customers": int(m.sum()),
                "n_treated": int((m & (t == 1)).sum()),
                "n_control": int((m & (t == 0)).sum()),
                "share": float(m.mean()) if len(m) else np.nan,
                "mean_predicted_uplift": float(u[m].mean()) if m.any() else np.nan,
                "observed_uplift": d,
                "ci_low": lo,
                "ci_high": hi,
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
    """The row of :func:`profit_curve` with the highest profit (ties: the smaller share); a
    row of zeros at share 0 when no share is profitable."""
    if curve.empty:
        return pd.Series({c: 0.0 for c in curve.columns})
    i = curve["profit"].to_numpy().argmax()
    if curve["profit"].iloc[i] <= 0:
        return pd.Series({c: 0.0 for c in curve.columns})
    return curve.iloc[i]


def expected_profit(uplift, *, cost_per_contact: float, value_per_conversion: float) -> np.ndarray:
    """Expected incremental profit of contacting one customer: uplift × value − cost."""
    return np.asarray(uplift, dtype=float) * value_per_conversion - cost_per_contact


def uplift_scores_export(
    result: UpliftModelResult,
    *,
    customers: pd.DataFrame | None = None,
    cost_per_contact: float = 1.0,
    value_per_conversion: float = 40.0,
    model: str | None = None,
) -> pd.DataFrame:
    """The marketing list: one row per campaign customer with their best offer.

    ``arm`` is the offer with the highest predicted uplift for that customer (model
    ``model``, default the best by Qini), ``uplift`` its predicted uplift (cross-fitted), and
    ``recommended`` is True only when the expected profit (uplift × value − cost) is positive
    and — when ``customers`` has ``marketing_consent`` — the customer has consented (missing
    consent counts as no consent).
    """
    model = model or result.best_model
    cols = [f"{model}|{a}" for a in result.arms]
    u = result.scores[cols].to_numpy(dtype=float)
    best = np.nanargmax(np.where(np.isnan(u), -np.inf, u), axis=1)
    uplift = u[np.arange(len(u)), best]
    arm = np.asarray(result.arms, dtype=object)[best]
    out = pd.DataFrame(
        {
            "customer_id": result.scores["customer_id"].astype("str").to_numpy(),
            "arm": pd.array(arm, dtype="str"),
            "uplift": np.round(uplift, 6),
        }
    )
    ok = (
        expected_profit(
            uplift, cost_per_contact=cost_per_contact, value_per_conversion=value_per_conversion
        )
        > 0
    )
    if customers is not None and "marketing_consent" in customers.columns:
        consent = customers.drop_duplicates("customer_id").set_index(
            customers.drop_duplicates("customer_id")["customer_id"].astype("str")
        )["marketing_consent"]
        c = consent.reindex(out["customer_id"]).astype("boolean").fillna(False).to_numpy(bool)
        ok &= c
    out["recommended"] = ok
    return out[list(SCORES_EXPORT_COLUMNS)]
