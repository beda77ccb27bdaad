"""Display tables and finding sentences of the campaign analysis (presentation only).

Every function takes the :class:`~cxlib.uplift.UpliftResult` of :func:`~cxlib.uplift.run_uplift`
(also offered as its methods); nothing here computes a statistic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cxlib.privacy import Suppressed, suppress_small_groups
from cxlib.report import name_words
from cxlib.uplift._constants import BINARY_OUTCOMES
from cxlib.uplift._subgroups import _level_order
from cxlib.uplift._targeting import expected_profit

if TYPE_CHECKING:
    from cxlib.uplift._run import UpliftResult


def who_responds_sentences(
    comparison: pd.DataFrame,
    *,
    outcome_label: str = "conversion",
    percent: bool = True,
    alpha: float = 0.05,
    max_sentences: int = 3,
) -> list[str]:
    """Plain sentences naming which offer works better for whom.

    Uses :func:`compare_arms_by_subgroup`: only differences significant after Holm correction
    are named, covariates with the largest significant difference first. When none is
    significant, one sentence says so.
    """
    if comparison is None or comparison.empty:
        return []
    sig = comparison.loc[comparison["p_value_holm"] < alpha]
    k, unit = (100.0, " points") if percent else (1.0, "")

    def eff(v: float) -> str:
        return f"{v * k:+.1f}{unit}" if np.isfinite(v) else "n/a"

    if sig.empty:
        return [
            f"No customer group in which one offer clearly beats another on {outcome_label} "
            f"(all {len(comparison)} head-to-head comparisons have Holm-adjusted p ≥ {alpha})."
        ]
    order = sig.groupby("covariate")["estimate"].max().sort_values(ascending=False).index
    out = []
    for cov in order[:max_sentences]:
        d = sig.loc[sig["covariate"] == cov].sort_values("estimate", ascending=False)
        named = name_words(cov)
        parts = []
        shown = d.drop_duplicates("level")
        for _, r in shown.head(3).iterrows():
            parts.append(
                f"{arm_label(r['better_arm'])} works better for {named} = {r['level']} "
                f"({outcome_label} {eff(r['better_effect'])} vs {eff(r['other_effect'])} with "
                f"{arm_label(r['other_arm'])}; difference {eff(r['estimate'])}, 95% CI "
                f"{r['ci_low'] * k:+.1f} to {r['ci_high'] * k:+.1f})"
            )
        if len(shown) > 3:
            parts.append(f"and {len(shown) - 3} more level(s) of {named}")
        levels = _level_order(comparison.loc[comparison["covariate"] == cov, "level"].unique())
        rest = [lv for lv in levels if lv not in set(d["level"])]
        more = f" and {len(rest) - 4} more" if len(rest) > 4 else ""
        tail = f"; no clear difference for {named} = {', '.join(rest[:4])}{more}" if rest else ""
        out.append(f"By {named}: " + "; ".join(parts) + tail + ".")
    return out


# --------------------------------------------------------------------------------------------
# Findings text
# --------------------------------------------------------------------------------------------
def arm_label(arm: str) -> str:
    """``"offer_a"`` → ``"Offer A"``; names with capitals are kept as they are."""
    if not arm.islower():
        return arm
    words = arm.replace("_", " ").split()
    return " ".join(w.upper() if len(w) == 1 else w.capitalize() for w in words)


OUTCOME_WORDS: dict[str, str] = {
    "converted": "conversion",
    "visited": "visits",
    "revenue": "revenue per customer",
}


def readout_sentence(row: Mapping[str, Any], *, currency: str = "") -> str:
    """One sentence for one readout row in plain words, e.g. "Offer a raised conversion by 1.9
    points (6.0% → 7.9%; 95% CI +1.2 to +2.6 points; clear even allowing for the several offers
    and outcomes tested)." (the Holm-adjusted p-value decides "clear"; the table shows it)."""
    arm = arm_label(str(row["arm"]))
    what = OUTCOME_WORDS.get(str(row["outcome"]), str(row["outcome"]))
    est, lo, hi = float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"])
    p = float(row.get("p_value_holm", row["p_value"]))
    if row["outcome"] in BINARY_OUTCOMES:
        verb = "raised" if est >= 0 else "lowered"
        body = (
            f"{verb} {what} by {abs(est) * 100:.1f} points "
            f"({float(row['control_mean']) * 100:.1f}% → {float(row['arm_mean']) * 100:.1f}%; "
            f"95% CI {lo * 100:+.1f} to {hi * 100:+.1f} points"
        )
    else:
        verb = "raised" if est >= 0 else "lowered"
        body = (
            f"{verb} {what} by {currency}{abs(est):.2f} "
            f"({currency}{float(row['control_mean']):.2f} → "
            f"{currency}{float(row['arm_mean']):.2f}; "
            f"95% CI {lo:+.2f} to {hi:+.2f}"
        )
    # the p-value (Holm-adjusted) is in the readout table; the sentence says what it means
    sig = (
        "; clear even allowing for the several offers and outcomes tested"
        if p < 0.05
        else ") — not distinguishable from no effect"
    )
    return f"{arm} {body}{sig}{')' if p < 0.05 else ''}."


# --------------------------------------------------------------------------------------------
# Display tables and findings for the report
# --------------------------------------------------------------------------------------------
def _pts(v: float) -> str:
    return f"{v * 100 + 0.0:+.1f}".replace("-0.0", "+0.0")


def readout_display(res: UpliftResult) -> pd.DataFrame:
    """Readout table for managers: rates in %, lifts in points, revenue in money units."""
    rows = []
    for _, r in res.readout.summary().iterrows():
        binary = r["outcome"] in BINARY_OUTCOMES
        fmt = (lambda v: f"{v * 100:.2f}%") if binary else (lambda v: f"{v:,.2f}")
        dfmt = (lambda v: f"{v * 100:+.2f} pts") if binary else (lambda v: f"{v:+,.2f}")
        rows.append(
            {
                "Offer": r["arm"],
                "Outcome": OUTCOME_WORDS.get(r["outcome"], r["outcome"]),
                "Customers (arm / control)": f"{r['n_arm']:,} / {r['n_control']:,}",
                "Control": fmt(r["control_mean"]),
                "With offer": fmt(r["arm_mean"]),
                "Lift (95% CI)": f"{dfmt(r['estimate'])} ({dfmt(r['ci_low'])} to "
                f"{dfmt(r['ci_high'])})",
                "Relative lift": f"{r['rel_lift'] * 100:+.0f}%"
                if np.isfinite(r["rel_lift"])
                else "",
                "p (Holm)": "< 0.001" if r["p_value_holm"] < 0.001 else f"{r['p_value_holm']:.3f}",
                "Extra in total (95% CI)": (
                    f"{r['incremental']:,.0f} ({r['incremental_ci_low']:,.0f} to "
                    f"{r['incremental_ci_high']:,.0f})"
                ),
                "Smallest detectable lift": dfmt(r["mde"]).lstrip("+")
                if np.isfinite(r["mde"])
                else "",
            }
        )
    return pd.DataFrame(rows)


def training_note(res: UpliftResult, requested_folds: int | None = None) -> str:
    """A sentence on how a large campaign's models were trained ('' when nothing was capped).

    Says how many cross-fitting folds were used (when fewer than ``requested_folds``) and the
    size of the random sample each fold's models were trained on.
    """
    m = res.models
    if m is None or m.train_cap is None:
        return ""
    folds = f"{m.n_folds} folds" + (
        f" (instead of {requested_folds})"
        if requested_folds and m.n_folds and m.n_folds < requested_folds
        else ""
    )
    return (
        f"The campaign is large, so each model was trained on a random sample of at most "
        f"{m.train_cap:,} customers of its training part, in {folds}; every customer is still "
        "scored by a model that did not see them."
    )


def models_display(res: UpliftResult) -> pd.DataFrame:
    """Qini coefficient and AUUC of each model per arm with bootstrap 95% CIs."""
    if res.models is None:
        return pd.DataFrame()
    e = res.models.evaluation
    return pd.DataFrame(
        {
            "Offer": e["arm"],
            "Model": e["model"],
            "Qini coefficient (95% CI)": [
                f"{q:.3f} ({lo:.3f} to {hi:.3f})"
                for q, lo, hi in zip(e["qini"], e["qini_ci_low"], e["qini_ci_high"], strict=True)
            ],
            "AUUC (95% CI)": [
                f"{q:.3f} ({lo:.3f} to {hi:.3f})"
                for q, lo, hi in zip(e["auuc"], e["auuc_ci_low"], e["auuc_ci_high"], strict=True)
            ],
            "Chosen": np.where(e["model"] == res.models.best_model, "✓", ""),
        }
    )


def srm_shown(res: UpliftResult) -> pd.DataFrame:
    """The sample-ratio table as the report shows it: the size and observed share of an arm of
    fewer than ``min_group_size`` customers are blanked (NaN); the planned figures stay."""
    t = res.srm.table.copy()
    small = t["customers"] < res.min_group_size
    t["customers"] = t["customers"].astype("float64").mask(small)
    t["observed_share"] = t["observed_share"].mask(small)
    return t


def srm_display(res: UpliftResult) -> pd.DataFrame:
    """:func:`srm_shown` formatted for managers ("fewer than 10" for blanked sizes)."""
    t = srm_shown(res)
    few = f"fewer than {res.min_group_size}"
    return pd.DataFrame(
        {
            "Group": t["arm"],
            "Customers": [few if pd.isna(v) else f"{int(v):,}" for v in t["customers"]],
            "Observed share": ["" if pd.isna(v) else f"{v:.1%}" for v in t["observed_share"]],
            "Planned share": t["expected_share"].map("{:.1%}".format),
            "Planned customers": t["expected_customers"].map("{:,.0f}".format),
        }
    )


def _enough(row: Mapping[str, Any], min_size: int) -> bool:
    """A group's figures may be shown: enough customers in all, treated and control."""
    return bool(
        row["customers"] >= min_size
        and row.get("n_treated", min_size) >= min_size
        and row.get("n_control", min_size) >= min_size
    )


def groups_suppressed(res: UpliftResult, arm: str) -> Suppressed:
    """The four groups of one arm that have at least ``min_group_size`` customers, with the
    number hidden (:meth:`cxlib.privacy.Suppressed.note` is :func:`groups_note`); the observed
    uplift and its CI are NaN where a group has fewer than ``min_group_size`` treated or
    control customers."""
    m = res.min_group_size
    shown = suppress_small_groups(res.groups[arm], count_col="customers", min_size=m)
    g = shown.frame
    thin = (g["n_treated"] < m) | (g["n_control"] < m)
    for c in ("observed_uplift", "ci_low", "ci_high"):
        g[c] = g[c].mask(thin)
    return shown


def groups_shown(res: UpliftResult, arm: str) -> pd.DataFrame:
    """The rows of :func:`groups_suppressed` (the groups of ``arm`` that may be shown)."""
    return groups_suppressed(res, arm).frame


def groups_display(res: UpliftResult, arm: str) -> pd.DataFrame:
    """The four groups for one arm, groups under ``min_group_size`` suppressed; the observed
    uplift is not shown when the group has fewer than ``min_group_size`` treated or control
    customers."""
    g = groups_shown(res, arm)
    m = res.min_group_size
    out = pd.DataFrame(
        {
            "Group": g["label"],
            "Customers": g["customers"].map("{:,}".format),
            "Share": g["share"].map("{:.1%}".format),
            "Predicted uplift": g["mean_predicted_uplift"].map(lambda v: f"{_pts(v)} pts"),
            "Observed uplift (95% CI)": [
                (
                    f"not shown (fewer than {m} contacted or control customers)"
                    if not _enough(r, m)
                    else f"{_pts(r['observed_uplift'])} pts ({_pts(r['ci_low'])} to "
                    f"{_pts(r['ci_high'])})"
                    if np.isfinite(r["observed_uplift"])
                    else "n/a"
                )
                for _, r in g.iterrows()
            ],
        }
    )
    return out


def groups_note(res: UpliftResult, arm: str) -> str:
    """The privacy note under the groups table of ``arm`` (how many groups are not shown);
    empty when every group is shown."""
    return groups_suppressed(res, arm).note()


def _deciles_kept(res: UpliftResult, arm: str) -> pd.Series:
    """Which bins of :func:`uplift_by_decile` may be shown: at least ``min_group_size``
    customers, treated customers and control customers."""
    d = res.deciles[arm]
    m = res.min_group_size
    return (d["customers"] >= m) & (d["n_treated"] >= m) & (d["n_control"] >= m)


def deciles_shown(res: UpliftResult, arm: str) -> pd.DataFrame:
    """The bins of :func:`uplift_by_decile` that the report shows (table and chart): bins with
    fewer than ``min_group_size`` customers, treated customers or control customers are
    hidden (:func:`deciles_note` says how many)."""
    return res.deciles[arm].loc[_deciles_kept(res, arm)].reset_index(drop=True)


def deciles_note(res: UpliftResult, arm: str) -> str:
    """What the decile table does not show and why (empty when it shows ten full deciles)."""
    n_bins = len(res.deciles[arm])
    m = res.min_group_size
    parts = []
    if n_bins < 10:
        parts.append(
            f"Ten deciles would hold fewer than {m} contacted or control customers each, so "
            f"customers are cut into {n_bins} equal groups instead."
        )
    k = int((~_deciles_kept(res, arm)).sum())
    if k:
        parts.append(
            f"{k} group{'s' if k > 1 else ''} with fewer than {m} customers, contacted "
            f"customers or control customers {'are' if k > 1 else 'is'} not shown (privacy rule)."
        )
    return " ".join(parts)


def deciles_display(res: UpliftResult, arm: str) -> pd.DataFrame:
    """Uplift by decile of predicted uplift as :func:`deciles_shown` (small bins suppressed)."""
    d = deciles_shown(res, arm)
    return pd.DataFrame(
        {
            ("Decile" if len(res.deciles[arm]) == 10 else "Group"): d["decile"],
            "Customers": d["customers"].map("{:,}".format),
            "Predicted uplift": d["mean_predicted"].map(lambda v: f"{_pts(v)} pts"),
            "Treated rate": d["treated_mean"].map("{:.1%}".format),
            "Control rate": d["control_mean"].map("{:.1%}".format),
            "Observed uplift (95% CI)": [
                f"{_pts(v)} pts ({_pts(lo)} to {_pts(hi)})"
                for v, lo, hi in zip(d["observed_uplift"], d["ci_low"], d["ci_high"], strict=True)
            ],
        }
    )


def _money(res: UpliftResult, value: float) -> str:
    """A money figure built on the economics: currency, whole units, "(assumed)" when the
    economics are not set in cx.yml."""
    sign = "-" if value < 0 else ""
    return f"{sign}{res.currency}{abs(value):,.0f}" + (" (assumed)" if res.assumed else "")


def _unit(res: UpliftResult, value: float) -> str:
    return f"{res.currency}{value:g}" + (" (assumed)" if res.assumed else "")


def targeting_sentence(res: UpliftResult, arm: str) -> str:
    """What the targeting decision for ``arm`` is and what it gains, in words (money figures
    say "assumed" when the economics are)."""
    c, b = res.profit[arm], res.best[arm]
    label = arm_label(arm)
    full = c.iloc[-1]
    if float(b["share"]) == 0:
        top = c.iloc[c["profit"].to_numpy().argmax()]
        return (
            f"With {label}, no share of customers is profitable to contact with 95% confidence "
            f"at a cost of {_unit(res, res.cost_per_contact)} per contact and a value of "
            f"{_unit(res, res.value_per_conversion)} per extra conversion (most profitable "
            f"share, the top {top['share']:.0%}: a profit of {_money(res, top['profit'])}, 95% CI "
            f"{_money(res, top['profit_ci_low'])} to {_money(res, top['profit_ci_high'])}; "
            f"contacting everyone: {_money(res, full['profit'])}), so nobody is recommended for "
            "it."
        )
    return (
        f"With {label}, contacting the top {b['share']:.0%} by predicted uplift "
        f"({b['contacted']:,.0f} customers) brings {b['gain_share']:.0%} of the extra conversions "
        f"that contacting everyone brings, at {b['share']:.0%} of the cost, for an incremental "
        f"profit of {_money(res, b['profit'])} (95% CI {_money(res, b['profit_ci_low'])} to "
        f"{_money(res, b['profit_ci_high'])}) against {_money(res, full['profit'])} for "
        "contacting everyone."
    )


def targeting_finding(res: UpliftResult) -> str:
    """The targeting headline: the offer and share the policy contacts, or that nobody is
    recommended and what to do instead. No money figure when the economics are assumed."""
    chosen = {a: b for a, b in res.best.items() if float(b["share"]) > 0}
    if chosen:
        arm = max(chosen, key=lambda a: float(chosen[a]["profit"]))
        if not res.assumed:
            return targeting_sentence(res, arm)
        b = chosen[arm]
        n_rec = int(res.targeting.set_index("arm").loc[arm, "customers_recommended"])
        return (
            f"Target the next campaign: with {arm_label(arm)}, contact the top {b['share']:.0%} "
            f"of customers by predicted uplift ({n_rec:,} on the marketing list); it is the "
            "most profitable share whose profit is above zero with 95% confidence, at assumed "
            "economics (set uplift.cost_per_contact and uplift.value_per_conversion in cx.yml "
            "to confirm it)."
        )
    at = " at the assumed cost and value" if res.assumed else ""
    head = (
        "Nobody is recommended for the next campaign: no share of customers is profitable to "
        f"contact with 95% confidence{at}."
    )
    conv = res.readout.summary().query("outcome == 'converted'")
    r = conv.sort_values("estimate", ascending=False).iloc[0]
    label = arm_label(str(r["arm"]))
    if r["ci_low"] > 0 and r["p_value_holm"] < 0.05:
        per = 1.0 / float(r["estimate"])
        return (
            f"{head} {label} raises conversion on average ({_pts(r['estimate'])} points, about one "
            f"extra conversion per {per:,.0f} contacts), but no model can pick who responds: "
            f"contact everyone with {label} only if one extra conversion is worth more than "
            f"{per:,.0f} contacts."
        )
    mde = float(conv["mde"].min())
    detect = (
        f" (this test could only detect lifts of {mde * 100:.1f} points or more)"
        if (np.isfinite(mde))
        else ""
    )
    return (
        f"{head} No offer clearly raised conversion and no model can pick who responds: do not "
        f"roll the campaign out on this evidence; test again with more customers{detect}."
    )


def sleeping_dog_finding(res: UpliftResult) -> tuple[str, bool]:
    """The sleeping-dog sentence: sleeping dogs are named (a headline) only when the observed
    uplift among the customers predicted to be harmed is significantly negative."""
    cand = []
    for arm in res.spec.arms:
        gs = res.groups[arm].set_index("group").loc["sleeping_dog"]
        if _enough(gs, res.min_group_size) and np.isfinite(gs["observed_uplift"]):
            cand.append((arm, gs))
    if not cand:
        return ("The models predict no group of customers whom an offer harms.", False)
    arm, gs = min(cand, key=lambda c: c[1]["observed_uplift"])
    label = arm_label(arm)
    obs = (
        f"{_pts(gs['observed_uplift'])} points, 95% CI {_pts(gs['ci_low'])} to "
        f"{_pts(gs['ci_high'])}"
    )
    if gs["confirmed"]:
        return (
            f"{gs['share']:.0%} of customers respond worse when contacted with {label} "
            f"(sleeping dogs: contacting them changed their conversion by {obs} in held-out "
            "folds): leave them out.",
            True,
        )
    return (
        f"No harmed group is confirmed: the {gs['share']:.0%} of customers the model predicts "
        f"to respond worse to {label} show an observed uplift of {obs} in held-out folds.",
        False,
    )


def separated(res: UpliftResult, arm: str) -> bool:
    """True when the model separates groups for ``arm``: its predicted persuadables or
    sleeping dogs are confirmed by their observed uplift (:func:`group_summary`)."""
    return bool(res.groups[arm]["confirmed"].any())


def groups_sentence(res: UpliftResult, arm: str) -> str:
    """The response groups of ``arm`` in words: the confirmed groups, or that the model cannot
    separate groups."""
    g = res.groups[arm].set_index("group")
    label = arm_label(arm)

    def obs(r) -> str:
        return f"{_pts(r['observed_uplift'])} points, 95% CI {_pts(r['ci_low'])} to {_pts(r['ci_high'])}"

    if not separated(res, arm):
        p, d = g.loc["persuadable"], g.loc["sleeping_dog"]
        return (
            f"The model cannot separate groups for {label}: neither the {p['share']:.0%} of "
            f"customers it predicts to gain from contact (observed uplift {obs(p)}) nor the "
            f"{d['share']:.0%} it predicts to lose ({obs(d)}) show an effect that excludes zero "
            "in held-out folds."
        )
    parts = [
        f"{r['share']:.0%} are {r['label'].lower()} (observed uplift {obs(r)})"
        for _, r in g.loc[g["confirmed"]].iterrows()
        if _enough(r, res.min_group_size)
    ]
    return f"{label}: " + "; ".join(parts) + " in held-out folds." if parts else ""


def recommended_display(res: UpliftResult, key: str, *, top_n: int = 10) -> pd.DataFrame:
    """The top recommended customers by expected profit (uplift × value − cost, "assumed" in
    the column name when the economics are), ids pseudonymised with ``key``."""
    from cxlib.privacy import pseudonymise

    if res.scores is None:
        return pd.DataFrame()
    rec = res.scores.loc[res.scores["recommended"]].copy()
    rec["profit"] = expected_profit(
        rec["uplift"],
        cost_per_contact=res.cost_per_contact,
        value_per_conversion=res.value_per_conversion,
    )
    rec = rec.sort_values(["profit", "customer_id"], ascending=[False, True]).head(top_n)
    return pd.DataFrame(
        {
            "Customer (pseudonym)": pseudonymise(rec["customer_id"], key).to_numpy(),
            "Best offer": rec["arm"].map(arm_label).to_numpy(),
            "Predicted uplift": rec["uplift"].map(lambda v: f"{_pts(v)} pts").to_numpy(),
            "Expected extra profit" + (" (assumed)" if res.assumed else ""): rec["profit"]
            .map(lambda v: f"{res.currency}{v:,.2f}")
            .to_numpy(),
            **(
                {"Segment": rec["segment"].fillna("no purchases").to_numpy()}
                if res.segments is not None
                else {}
            ),
        }
    )


def segments_display(res: UpliftResult) -> pd.DataFrame:
    """The marketing list by the customer's segment today (the series' segments): campaign
    customers scored, recommended and the share recommended; segments of fewer than
    ``min_group_size`` customers are left out. Empty without segments or scores."""
    if res.scores is None or res.segments is None:
        return pd.DataFrame()
    seg = res.scores["segment"].fillna("no purchases")
    counts = res.scores.groupby(seg, sort=False)["recommended"].agg(["size", "sum"])
    counts = counts.loc[counts["size"] >= res.min_group_size].sort_values(["size"], ascending=False)
    return pd.DataFrame(
        {
            "Segment today": counts.index.to_numpy(),
            "Customers in the campaign": counts["size"].map("{:,}".format).to_numpy(),
            "Recommended for the next send": counts["sum"].map("{:,}".format).to_numpy(),
            "Share recommended": (counts["sum"] / counts["size"]).map("{:.0%}".format).to_numpy(),
        }
    )


def uplift_findings(res: UpliftResult) -> list[tuple[str, bool]]:
    """The notebook's findings as ``(sentence, headline)`` pairs (2-4 headlines)."""
    ro = res.readout.summary()
    conv = ro.loc[ro["outcome"] == "converted"]
    best_arm = conv.sort_values("estimate", ascending=False)["arm"].iloc[0]
    out: list[tuple[str, bool]] = [(ranked_readout_sentence(conv), True)]
    out += [
        (readout_sentence(r, currency=res.currency), False)
        for _, r in ro.loc[ro["outcome"] != "converted"].iterrows()
    ]
    out += _check_findings(res, conv)
    if res.models is not None:
        out += _model_findings(res, best_arm)
    else:
        out.append((f"No uplift model: {res.model_note}.", False))
    return out + _who_responds_findings(res, n_head=sum(h for _, h in out))


def ranked_readout_sentence(rows: pd.DataFrame) -> str:
    """The readout sentences of ``rows`` (one outcome, :meth:`ReadoutResult.summary`), the arm
    with the largest lift first."""
    ranked = rows.sort_values("estimate", ascending=False, kind="mergesort")
    return " ".join(readout_sentence(r) for _, r in ranked.iterrows())


def covariates_sentence(res: UpliftResult) -> str:
    """Which campaign columns were left out of the covariates and why ('' when none)."""
    ex, doubt = res.covariate_exclusions, res.covariate_doubts
    out = []
    if not ex.empty:
        parts = "; ".join(f"{r.column} ({r.reason})" for r in ex.itertuples(index=False))
        out.append(f"Left out of the covariates, as not known before the send: {parts}.")
    if not doubt.empty:
        parts = "; ".join(f"{r.column} ({r.reason})" for r in doubt.itertuples(index=False))
        out.append(
            f"Warning: uplift.covariates lists columns that look recorded after the send: "
            f"{parts}. If they are, every model and targeting figure below is unreliable."
        )
    return " ".join(out)


def _check_findings(res: UpliftResult, conv: pd.DataFrame) -> list[tuple[str, bool]]:
    """Columns left out of the covariates, arms left out, repeated rows, the sample-ratio test,
    balance and the detectable lift."""
    out: list[tuple[str, bool]] = []
    if covariates_sentence(res):
        out.append((covariates_sentence(res), False))
    if res.left_out_arms:
        names = ", ".join(arm_label(a) for a in res.left_out_arms)
        out.append(
            (
                f"{names}: fewer than {res.min_group_size} customers, left out of the comparison "
                "(too few to show results for).",
                False,
            )
        )
    if res.duplicates_removed:
        out.append(
            (
                f"{res.duplicates_removed:,} repeated campaign rows for the same customer were "
                "left "
                "out (the first row of each customer is used).",
                False,
            )
        )
    if res.srm.mismatch:
        out.append(
            (
                f"Warning: the arm sizes do not match the planned split (chi-square p = "
                f"{res.srm.p_value:.2g}); the randomisation may be broken, so treat every result "
                "below with caution.",
                True,
            )
        )
    else:
        out.append(
            (
                f"The arm sizes match the planned split (chi-square p = {res.srm.p_value:.2f}).",
                False,
            )
        )
    if len(res.balance):
        bad = res.balance.loc[~res.balance["balanced"]]
        out.append(
            (
                f"{len(bad)} of {len(res.balance)} covariate comparisons have a standardised mean "
                "difference of 0.1 or more"
                + (" (arms look comparable)." if len(bad) == 0 else "."),
                False,
            )
        )
    mde = conv.iloc[0]["mde"]
    if np.isfinite(mde):
        out.append(
            (
                f"With {int(conv.iloc[0]['n_arm']):,} customers per arm, the test could detect a "
                f"conversion lift of {mde * 100:.1f} points with 80% power.",
                False,
            )
        )
    return out


def _model_findings(res: UpliftResult, best_arm: str) -> list[tuple[str, bool]]:
    """The chosen model, targeting, sleeping dogs, persuadables and the marketing list."""
    ev = res.models.evaluation
    e = ev.loc[(ev["model"] == res.models.best_model) & (ev["arm"] == best_arm)].iloc[0]
    out: list[tuple[str, bool]] = [
        (
            f"The {res.models.best_model} ranks customers best (Qini coefficient "
            f"{e['qini']:.2f} for {arm_label(best_arm)}, 95% CI {e['qini_ci_low']:.2f} to "
            f"{e['qini_ci_high']:.2f}; 0 = random targeting, 1 = perfect).",
            False,
        ),
        (targeting_finding(res), True),
    ]
    out += [(targeting_sentence(res, arm), False) for arm in res.spec.arms]
    out.append(sleeping_dog_finding(res))
    out += [(t, False) for t in (groups_sentence(res, a) for a in res.spec.arms) if t]
    if res.scores is not None:
        rec = res.scores.loc[res.scores["recommended"]]
        consent = (
            "consenting customers"
            if res.consent_known
            else "customers (marketing consent unknown: check it before any contact)"
        )
        mix = rec["arm"].value_counts()
        mix_txt = ", ".join(f"{arm_label(a)} {n:,}" for a, n in mix.items())
        text = (
            f"{len(rec):,} {consent} are inside the chosen share and recommended for the next "
            f"campaign ({mix_txt})."
            if len(rec)
            else "No customer is on the marketing list: no share was chosen for any offer."
        )
        out.append((text, False))
    return out


def _who_responds_findings(res: UpliftResult, n_head: int) -> list[tuple[str, bool]]:
    """Which offer works better for whom (at most two sentences per outcome); the first
    significant one of an outcome is a headline while there are fewer than four."""
    out: list[tuple[str, bool]] = []
    for outcome in ("converted", "visited"):
        cmp_ = res.comparisons.get(outcome)
        if cmp_ is None or cmp_.empty:
            continue
        sents = who_responds_sentences(cmp_, outcome_label=OUTCOME_WORDS[outcome], max_sentences=2)
        for i, sentence in enumerate(sents):
            significant = not sentence.startswith("No customer group")
            headline = significant and i == 0 and n_head < 4
            n_head += headline
            out.append((sentence, headline))
    return out


def campaign_description(res: UpliftResult) -> str:
    """Markdown: the campaign's size, ids, arms, outcomes, covariates and purchase history."""
    spec = res.spec
    return (
        f"**{spec.n:,} customers** in the campaign"
        + (f" ({', '.join(spec.campaign_ids)})" if spec.campaign_ids else "")
        + f": control group **{spec.control_arm}**"
        + (
            " (recognised by its name; set `uplift: {control_arm: …}` in cx.yml to choose another)"
            if res.control_arm_detected
            else ""
        )
        + f", offers **{', '.join(spec.arms)}**; outcomes "
        f"measured: {', '.join(f'`{o}`' for o in spec.outcomes)}. Covariates known before the "
        f"send: {', '.join(f'`{c}`' for c in spec.covariates) or 'none'}. "
        + (f"{covariates_sentence(res)} " if covariates_sentence(res) else "")
        + f"Purchase history: {res.feature_note}."
    )


def srm_sentence(res: UpliftResult) -> str:
    """Markdown: whether the group sizes match the plan, with the chi-square test."""
    verdict = (
        "**Mismatch: the group sizes are not what the plan implies.**"
        if res.srm.mismatch
        else "The group sizes match the plan."
    )
    return f"{verdict} (chi-square = {res.srm.statistic:.2f}, p = {res.srm.p_value:.3f})"


def compared_outcomes(res: UpliftResult) -> list[str]:
    """The outcomes (conversion, then visits) with head-to-head comparisons of the arms."""
    return [
        o
        for o in ("converted", "visited")
        if res.comparisons.get(o) is not None and not res.comparisons[o].empty
    ]


def who_responds_text(res: UpliftResult, outcome: str) -> str:
    """:func:`who_responds_sentences` of ``outcome`` as a Markdown list (not escaped)."""
    sentences = who_responds_sentences(
        res.comparisons[outcome], outcome_label=OUTCOME_WORDS[outcome]
    )
    return "\n".join(f"- {s}" for s in sentences)


def top_subgroup_covariate(res: UpliftResult, outcome: str, alpha: float = 0.05) -> str | None:
    """The covariate of the largest head-to-head difference significant after Holm correction
    on ``outcome`` (the one whose subgroup effects the report charts), None when none is."""
    cmp_ = res.comparisons.get(outcome)
    if cmp_ is None or cmp_.empty:
        return None
    sig = cmp_.loc[cmp_["p_value_holm"] < alpha]
    if not len(sig):
        return None
    return str(sig.sort_values("estimate", ascending=False)["covariate"].iloc[0])


def targeting_intro(res: UpliftResult) -> str:
    """Markdown: the cost per contact and value per extra conversion the targeting uses."""
    text = (
        f"Cost per contact: **{_unit(res, res.cost_per_contact)}**; value per extra conversion: "
        f"**{_unit(res, res.value_per_conversion)}**."
    )
    if res.assumed:
        text += (
            " These are not set in cx.yml (`uplift.cost_per_contact`, "
            "`uplift.value_per_conversion`): every money figure below is built on assumed "
            "economics."
        )
    return text


def scores_note(res: UpliftResult, file_name: str = "uplift_scores.csv") -> str:
    """Markdown: customers scored and recommended, the consent source and the export's name."""
    if res.scores is None:
        return ""
    n_rec = int(res.scores["recommended"].sum())
    consent_note = (
        "consent taken from the customer table"
        if res.consent_known
        else "**marketing consent is not recorded: check it before any contact**"
    )
    return (
        f"{len(res.scores):,} customers scored, **{n_rec:,} recommended** "
        f"({consent_note}): the consenting customers inside the share the profit curve "
        f"chose; written to `exports/{file_name}` (`customer_id`, `arm`, `uplift`, `recommended`), the "
        "decision per offer to `exports/uplift_targeting.csv`."
    )
