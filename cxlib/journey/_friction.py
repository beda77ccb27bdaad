"""Friction: feedback linked to journeys, friction per touchpoint and per journey type, the
smooth-step benchmark and the opportunity per journey type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxlib.journey._build import JourneyData, _tp_names


def link_feedback(
    jd: JourneyData, feedback: pd.DataFrame, *, max_days: float = 7.0
) -> pd.DataFrame:
    """Attach feedback to journeys: by ``journey_id`` when both tables carry it, else to the
    customer's latest journey that ended within ``max_days`` before the feedback.

    Returns the feedback rows (score, complaint, touchpoint) with ``journey`` (journey number
    or -1), ``journey_type`` and ``linked_by`` (journey_id / time / none). The feedback
    ``touchpoint`` falls back to the journey's friction step, else its last step.
    """
    fb = feedback.copy()
    j = jd.journeys
    fb["journey"] = -1
    fb["linked_by"] = "none"
    if "journey_id" in fb.columns and jd.params.get("used_journey_id"):
        base = j["journey_id"].astype("str").str.replace(r"\.\d+$", "", regex=True)
        # a journey id split at a conversion: feedback goes to its last part
        lookup = pd.Series(np.arange(len(j)), index=base.to_numpy())
        lookup = lookup[~lookup.index.duplicated(keep="last")]
        m = fb["journey_id"].astype("str").map(lookup)
        ok = m.notna().to_numpy()
        fb.loc[ok, "journey"] = m[ok].astype(int).to_numpy()
        fb.loc[ok, "linked_by"] = "journey_id"
    todo = fb["journey"].to_numpy() < 0
    if todo.any() and len(j):
        left = fb.loc[todo, ["customer_id", "timestamp"]].copy()
        left["_row"] = np.flatnonzero(todo)
        left["timestamp"] = pd.to_datetime(left["timestamp"]).astype("datetime64[ns]")
        left["customer_id"] = left["customer_id"].astype("str")
        right = pd.DataFrame(
            {
                "customer_id": j["customer_id"].astype("str").to_numpy(),
                "timestamp": j["end"].astype("datetime64[ns]").to_numpy(),
                "_j": np.arange(len(j)),
            }
        )
        left = left.sort_values("timestamp", kind="stable")
        right = right.sort_values("timestamp", kind="stable")
        mm = pd.merge_asof(
            left,
            right,
            on="timestamp",
            by="customer_id",
            direction="backward",
            tolerance=pd.Timedelta(days=max_days),
        )
        ok = mm["_j"].notna().to_numpy()
        rows = mm["_row"].to_numpy()[ok]
        fb.iloc[rows, fb.columns.get_loc("journey")] = mm["_j"].to_numpy()[ok].astype(int)
        fb.iloc[rows, fb.columns.get_loc("linked_by")] = "time"
    jnum = fb["journey"].to_numpy()
    linked = jnum >= 0
    jt = np.full(len(fb), None, dtype=object)
    jt[linked] = j["journey_type"].to_numpy()[jnum[linked]]
    fb["journey_type"] = pd.array(jt, dtype="str")
    fallback = np.full(len(fb), None, dtype=object)
    ftp = j["friction_touchpoint"].to_numpy()[jnum[linked]]
    ltp = j["last_touchpoint"].to_numpy()[jnum[linked]]
    fallback[linked] = np.where(pd.notna(ftp), ftp, ltp)
    if "touchpoint" in fb.columns:
        tpv = fb["touchpoint"].astype("str").to_numpy(dtype=object)
        fb["touchpoint"] = pd.array(np.where(pd.isna(tpv), fallback, tpv), dtype="str")
    else:
        fb["touchpoint"] = pd.array(fallback, dtype="str")
    if "complaint" not in fb.columns:
        fb["complaint"] = np.nan
    return fb


def friction_by_touchpoint(jd: JourneyData, feedback: pd.DataFrame | None = None) -> pd.DataFrame:
    """Friction per journey type and touchpoint.

    Columns: journey_type, touchpoint, channel_type, journeys (reaching it), customers,
    drop_off_rate (share of those journeys that ended there unconverted), retry_rate,
    loop_rate (share going back to an earlier touchpoint from here), contact_after_rate (share
    followed by a repeat contact), median_minutes_to_next (after the first visit),
    friction_journeys (journeys with a counted friction signal here), friction_kind (their
    commonest signal: retry, loop or contact), lost_conversions (see :func:`opportunity`), and
    with feedback avg_score, complaint_rate, feedback_n.
    """
    out = _touchpoint_friction(jd)
    return _friction_by_touchpoint_tail(jd, out, feedback)


def _touchpoint_friction(jd: JourneyData) -> pd.DataFrame:
    """The per (journey type code, touchpoint code) rates of :func:`friction_by_touchpoint`."""
    r = jd.backend.runs
    r = r.filter(~r["is_conversion"])
    per = r.group_by(["journey", "tp"]).aggregate(
        type=r["jtype"].max(),
        cust=r["customer"].max(),
        retry=r["is_retry"].any(),
        goes_back=r["goes_back"].any(),
        contact_after=(r["next_repeat_contact"] & ~r["is_contact"]).any(),
        ended=((r["jlast"] == r["tp"]) & ~r["jconv"]).any(),
        to_next=r["minutes_to_next"].argmin(
            r["pos"], where=r["minutes_to_next"].notnull() & ~r["minutes_to_next"].isnan()
        ),
    )
    i64 = "int64"
    g = (
        per.group_by(["type", "tp"])
        .aggregate(
            journeys=per.count(),
            customers=per["cust"].nunique(),
            ended=per["ended"].cast(i64).sum(),
            retry=per["retry"].cast(i64).sum(),
            goes_back=per["goes_back"].cast(i64).sum(),
            contact_after=per["contact_after"].cast(i64).sum(),
            median_minutes_to_next=per["to_next"].median(),
        )
        .order_by(["type", "tp"])
        .to_pandas()
    )
    n = g["journeys"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "type": g["type"].to_numpy(dtype=np.int64),
            "tp": g["tp"].to_numpy(dtype=np.int64),
            "journeys": n,
            "customers": g["customers"].to_numpy(dtype=np.int64),
            "drop_off_rate": g["ended"].to_numpy() / n,
            "retry_rate": g["retry"].to_numpy() / n,
            "loop_rate": g["goes_back"].to_numpy() / n,
            "contact_after_rate": g["contact_after"].to_numpy() / n,
            "median_minutes_to_next": g["median_minutes_to_next"].astype(float).to_numpy(),
        }
    )


def _friction_by_touchpoint_tail(
    jd: JourneyData, out: pd.DataFrame, feedback: pd.DataFrame | None
) -> pd.DataFrame:
    """Names, channel types, lost conversions and feedback for :func:`friction_by_touchpoint`."""
    cats = jd.journeys["journey_type"].cat.categories
    out["journey_type"] = [str(cats[c]) for c in out["type"]]
    out = out.drop(columns="type")
    names = _tp_names(jd)
    out["touchpoint"] = [names[c] for c in out["tp"]]
    out["channel_type"] = out["touchpoint"].map(jd.touchpoint_types)
    opp = _lost_by_touchpoint(jd)
    out = out.merge(
        opp[
            ["journey_type", "touchpoint", "friction_journeys", "lost_conversions", "friction_kind"]
        ],
        on=["journey_type", "touchpoint"],
        how="left",
    )
    out[["friction_journeys", "lost_conversions"]] = out[
        ["friction_journeys", "lost_conversions"]
    ].fillna(0.0)
    out["friction_kind"] = out["friction_kind"].fillna("")
    if feedback is not None and len(feedback):
        fb = feedback[feedback["journey"] >= 0] if "journey" in feedback else feedback
        fa = (
            fb.groupby(["journey_type", "touchpoint"])
            .agg(
                avg_score=("score", "mean"),
                complaint_rate=("complaint", "mean"),
                feedback_n=("score", "size"),
            )
            .reset_index()
        )
        out = out.merge(fa, on=["journey_type", "touchpoint"], how="left")
    cols = ["journey_type", "touchpoint", "channel_type"] + [
        c for c in out.columns if c not in ("journey_type", "touchpoint", "channel_type", "tp")
    ]
    return (
        out[cols]
        .sort_values(["journey_type", "journeys"], ascending=[True, False])
        .reset_index(drop=True)
    )


def _lost_by_touchpoint(jd: JourneyData, min_smooth: int = 20, alpha: float = 0.05) -> pd.DataFrame:
    """Smooth-step benchmark per (journey type, touchpoint).

    Among the journeys that reached the touchpoint, those with a friction signal there
    (``friction_journeys``; a journey's loop counts once, at its first backtrack) are compared
    with those that passed it smoothly, by a one-sided two-proportion test (statsmodels,
    Agresti-Caffo) in every cell with at least ``min_smooth`` smooth journeys; the p-values are
    adjusted together (Benjamini-Hochberg, ``multipletests``) into ``p_adjusted``.
    ``lost_conversions = friction_journeys x (smooth rate - friction rate)`` where the friction
    journeys convert worse with ``p_adjusted < alpha``; else 0 (a signal that is not clearly
    associated with lower conversion, such as comparing products, is not counted as a loss).
    ``lost_var`` is its normal-approximation variance (0 where not counted). The comparison is an
    association, not a measured effect of removing the friction.
    """
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import test_proportions_2indep

    runs = jd.backend.runs
    g = jd.backend.engine.cached(runs, "journey_signals", lambda: _signal_counts(jd)).copy()
    rate_s = g["conv_smooth"] / g["smooth"].replace(0, np.nan)
    rate_f = g["conv_at"] / g["at"].replace(0, np.nan)
    tested = np.flatnonzero((g["at"] > 0).to_numpy() & (g["smooth"] >= min_smooth).to_numpy())
    p = np.ones(len(g))
    for i in tested:
        if g["conv_at"].iloc[i] + g["conv_smooth"].iloc[i] == 0:
            continue  # no conversion on either side: nothing lower (p = 1, still one test)
        with np.errstate(divide="ignore", invalid="ignore"):  # its ratio/odds of a 0% or 100%
            res = test_proportions_2indep(
                int(g["conv_at"].iloc[i]),
                int(g["at"].iloc[i]),
                int(g["conv_smooth"].iloc[i]),
                int(g["smooth"].iloc[i]),
                alternative="smaller",
                method="agresti-caffo",
            )
        p[i] = float(res.pvalue)
    p_adj = np.ones(len(g))
    if len(tested):
        p_adj[tested] = multipletests(p[tested], alpha=alpha, method="fdr_bh")[1]
    g["p_value"], g["p_adjusted"] = p, p_adj
    ok = (p_adj < alpha) & (rate_f < rate_s).fillna(False).to_numpy()
    g["lost_conversions"] = np.where(ok, (g["at"] * (rate_s - rate_f)).fillna(0.0), 0.0)
    var = g["at"] ** 2 * (
        rate_s * (1 - rate_s) / g["smooth"].replace(0, np.nan)
        + rate_f * (1 - rate_f) / g["at"].replace(0, np.nan)
    )
    g["lost_var"] = np.where(ok, var.fillna(0.0), 0.0)
    g["friction_journeys"] = g["at"]
    g["smooth_rate"] = rate_s
    g["friction_rate"] = rate_f
    kinds = g[["retry", "loop", "contact"]].to_numpy()
    g["friction_kind"] = np.where(
        kinds.sum(axis=1) > 0, np.array(["retry", "loop", "contact"])[kinds.argmax(axis=1)], ""
    )
    names = _tp_names(jd)
    g["touchpoint"] = [names[c] for c in g["tp"]]
    return g.drop(columns=["tp", "retry", "loop", "contact", "conv_at", "conv_smooth"])


def _signal_counts(jd: JourneyData) -> pd.DataFrame:
    """Per (journey type, touchpoint code): journeys with / without a counted friction signal
    there, their conversions, and the journeys with each signal (see :func:`_step_signals`)."""
    r = jd.backend.runs
    r = r.filter(~r["is_conversion"])
    loop = (r["goes_back"] & (r["pos"] == r["jloop"])).fill_null(False)
    per = r.group_by(["journey", "tp"]).aggregate(
        jtype=r["jtype"].max(),
        conv=r["jconv"].max(),
        retry=r["is_retry"].any(),
        loop=loop.any(),
        contact=(r["next_repeat_contact"] & r["is_dig"]).any(),
    )
    at = per["retry"] | per["loop"] | per["contact"]
    i64 = "int64"
    g = (
        per.group_by(["jtype", "tp"])
        .aggregate(
            at=at.cast(i64).sum(),
            smooth=(~at).cast(i64).sum(),
            conv_at=(at & per["conv"]).cast(i64).sum(),
            conv_smooth=(~at & per["conv"]).cast(i64).sum(),
            retry=per["retry"].cast(i64).sum(),
            loop=per["loop"].cast(i64).sum(),
            contact=per["contact"].cast(i64).sum(),
        )
        .to_pandas()
    )
    cats = jd.journeys["journey_type"].cat.categories
    g.insert(0, "journey_type", [str(cats[c]) for c in g.pop("jtype")])
    cols = ["at", "smooth", "conv_at", "conv_smooth", "retry", "loop", "contact"]
    g[cols] = g[cols].astype(np.int64)
    g["tp"] = g["tp"].astype(np.int64)
    return g.groupby(["journey_type", "tp"])[cols].sum().reset_index()


def opportunity(
    jd: JourneyData,
    *,
    target_conversion: float | Mapping[str, float] | None = None,
    value_per_conversion: float | Mapping[str, float] | None = None,
    min_smooth: int = 20,
    alpha: float = 0.05,
    min_value_n: int = 10,
) -> pd.DataFrame:
    """Opportunity per journey type, in one unit: journeys x (target - current conversion), in
    conversions (``extra_conversions``) and, times the value per conversion, in money
    (``opportunity_value``), each with a 95% interval (``*_ci_low``, ``*_ci_high``).

    ``target_conversion`` None uses the smooth-step benchmark: current conversion plus the
    conversions recovered if journeys converted after their friction step like journeys that
    passed it smoothly - only where the friction is associated with clearly lower conversion
    (one-sided tests, Benjamini-Hochberg adjusted, at ``alpha``; see :func:`_lost_by_touchpoint`)
    - per journey; its interval is the normal approximation of the summed losses. A number or a
    mapping per type sets the target instead (never below the current rate); the interval then
    comes from the Wilson interval of the current rate. ``value_per_conversion`` None uses the
    type's mean conversion value (the overall mean when the type has fewer than ``min_value_n``
    valued conversions; 1.0, i.e. opportunity in conversions, when events carry no value); the
    money interval takes the value as given. ``stands_out`` is True where the opportunity is a
    positive number whose interval excludes zero.
    """
    from statsmodels.stats.proportion import proportion_confint

    j = jd.journeys
    g = j.groupby("journey_type", observed=True)
    out = pd.DataFrame(
        {
            "customers": g["customer_id"].nunique(),
            "journeys": g.size(),
            "conversions": g["converted"].sum().astype(int),
        }
    )
    out["conversion_rate"] = out["conversions"] / out["journeys"]
    lost = _lost_by_touchpoint(jd, min_smooth=min_smooth, alpha=alpha)
    by_type = lost.groupby("journey_type")
    lt = by_type["lost_conversions"].sum().reindex(out.index).fillna(0.0)
    sd = np.sqrt(by_type["lost_var"].sum().reindex(out.index).fillna(0.0))
    worst = (
        lost[lost["lost_conversions"] > 0]
        .sort_values("lost_conversions", ascending=False)
        .drop_duplicates("journey_type")
        .set_index("journey_type")
    )
    out["main_friction_touchpoint"] = worst["touchpoint"].reindex(out.index)
    out["main_friction_kind"] = worst["friction_kind"].reindex(out.index)
    cap = (j["has_friction"] & ~j["converted"]).groupby(j["journey_type"], observed=True).sum()
    cap = cap.reindex(out.index).fillna(0).astype(float)
    lt = np.minimum(lt.clip(lower=0.0), cap)
    bench = out["conversion_rate"] + lt / out["journeys"]
    if target_conversion is None:
        target = bench
    elif isinstance(target_conversion, Mapping):
        target = pd.Series(target_conversion, dtype=float).reindex(out.index).fillna(bench)
    else:
        target = pd.Series(float(target_conversion), index=out.index)
    out["target_conversion"] = np.maximum(target, out["conversion_rate"])
    out["conversion_gap"] = out["target_conversion"] - out["conversion_rate"]
    out["extra_conversions"] = out["journeys"] * out["conversion_gap"]
    # the interval: of the summed losses where the benchmark is the target, else of the rate
    lo_rate, hi_rate = proportion_confint(out["conversions"], out["journeys"], method="wilson")
    fixed = (out["target_conversion"] - bench).abs() > 1e-12
    z = 1.959963984540054
    out["extra_conversions_ci_low"] = np.where(
        fixed,
        out["journeys"] * (out["target_conversion"] - hi_rate).clip(lower=0.0),
        (lt - z * sd).clip(lower=0.0),
    )
    out["extra_conversions_ci_high"] = np.where(
        fixed, out["journeys"] * (out["target_conversion"] - lo_rate), np.minimum(lt + z * sd, cap)
    )
    v = _value_per_conversion(j, out.index, value_per_conversion, min_value_n)
    out["value_per_conversion"] = v
    out["opportunity_value"] = out["extra_conversions"] * v
    out["opportunity_ci_low"] = out["extra_conversions_ci_low"] * v
    out["opportunity_ci_high"] = out["extra_conversions_ci_high"] * v
    val = out["opportunity_value"].to_numpy(dtype=float)
    out["stands_out"] = (
        np.isfinite(val) & (val > 0) & (out["extra_conversions_ci_low"].to_numpy() > 0)
    )
    out.index = out.index.astype("str")
    out.index.name = "journey"
    return out.reset_index()


def _value_per_conversion(
    j: pd.DataFrame,
    types: pd.Index,
    value_per_conversion: float | Mapping[str, float] | None,
    min_value_n: int,
) -> pd.Series:
    """Value of a conversion per journey type (see :func:`opportunity`)."""
    conv_vals = j.loc[j["converted"], ["journey_type", "value"]]
    has_value = conv_vals["value"].abs().sum() > 0
    overall = float(conv_vals["value"].mean()) if has_value and len(conv_vals) else 1.0
    if value_per_conversion is None:
        if not has_value:
            return pd.Series(1.0, index=types)
        vg = conv_vals.groupby("journey_type", observed=True)["value"].agg(["mean", "size"])
        v = vg["mean"].where(vg["size"] >= min_value_n, overall).reindex(types)
        return v.fillna(overall)
    if isinstance(value_per_conversion, Mapping):
        return pd.Series(value_per_conversion, dtype=float).reindex(types).fillna(overall)
    return pd.Series(float(value_per_conversion), index=types)


def value_known(jd: JourneyData, value_per_conversion: Any = None) -> bool:
    """False when the events carry no conversion value and none was given: the opportunity of
    :func:`opportunity` is then in conversions, not money."""
    j = jd.journeys
    has_value = j.loc[j["converted"], "value"].abs().sum() > 0
    return bool(has_value or value_per_conversion is not None)


def friction_by_type(jd: JourneyData, feedback: pd.DataFrame | None = None) -> pd.DataFrame:
    """Friction summary per journey type: journeys, customers, conversion, loops, retries,
    repeat contacts, time to complete (median minutes of converted journeys), drop-off step
    (where most abandoned journeys end), avg steps, and satisfaction / complaints from linked
    feedback."""
    j = jd.journeys
    g = j.groupby("journey_type")
    out = pd.DataFrame(
        {
            "customers": g["customer_id"].nunique(),
            "journeys": g.size(),
            "conversion_rate": g["converted"].mean(),
            "loop_rate": g["has_loop"].mean(),
            "retry_rate": g["has_retry"].mean(),
            "repeat_contact_rate": g["n_repeat_contacts"].apply(lambda s: (s > 0).mean()),
            "contacts_per_journey": g["n_contacts"].mean(),
            "friction_rate": g["has_friction"].mean(),
            "avg_steps": g["n_steps"].mean(),
        }
    )
    done = j[j["converted"]]
    out["minutes_to_complete"] = done.groupby("journey_type")["minutes"].median()
    ab = j[~j["converted"]]
    if len(ab):
        mode = (
            ab.groupby(["journey_type", "last_touchpoint"])
            .size()
            .reset_index(name="n")
            .sort_values(["journey_type", "n", "last_touchpoint"], ascending=[True, False, True])
            .drop_duplicates("journey_type")
            .set_index("journey_type")
        )
        out["drop_off_step"] = mode["last_touchpoint"]
        out["drop_off_share"] = mode["n"] / g.size()
    else:
        out["drop_off_step"] = ""
        out["drop_off_share"] = 0.0
    fr = j[j["has_friction"]]
    if len(fr):
        top = (
            fr.groupby(["journey_type", "friction_touchpoint", "friction_kind"])
            .size()
            .reset_index(name="n")
            .sort_values(["journey_type", "n"], ascending=[True, False])
            .drop_duplicates("journey_type")
            .set_index("journey_type")
        )
        out["common_friction_touchpoint"] = top["friction_touchpoint"].astype("str")
        out["common_friction_kind"] = top["friction_kind"].astype("str")
    if feedback is not None and len(feedback) and "journey_type" in feedback:
        fb = feedback[feedback["journey_type"].notna()]
        fg = fb.groupby("journey_type")
        out["avg_satisfaction"] = fg["score"].mean()
        out["complaint_rate"] = fg["complaint"].mean()
        out["feedback_n"] = fg.size()
    out.index = out.index.astype("str")
    out.index.name = "journey"
    return out.reset_index()
