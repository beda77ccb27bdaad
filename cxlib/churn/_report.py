"""Presentation of a churn result: finding sentences and the display tables of notebook 03."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cxlib.churn._common import EXPORT_COLUMNS, MODE_NON_CONTRACTUAL, is_pattern_feature
from cxlib.churn._exports import consent_known, segment_risk, segment_risk_suppressed
from cxlib.churn._features import _words, exposure_phrases, feature_label, feature_phrase
from cxlib.churn._result import ChurnResult
from cxlib.churn._survival import retention_at
from cxlib.report import format_column, format_money

if TYPE_CHECKING:
    from cxlib.churn._run import ChurnCheck

log = logging.getLogger(__name__)


def _money(x: float, currency: str = "") -> str:
    return format_money(x, currency)


def _share(x: float) -> str:
    """A share in percent: one decimal below 10%, none above."""
    return f"{x:.1%}" if abs(x) < 0.095 else f"{x:.0%}"


def _value_at_risk_findings(result: ChurnResult, s: pd.DataFrame) -> list[tuple[str, bool]]:
    """The expected loss over the horizon (value at risk) in one headline, when values are known.

    Value at risk = P(dropped out; contractual: leaving) x value over the horizon if the customer
    stays, summed over the customers: the spend lost to churn that is expected, not the spend of
    customers who merely go quiet for a while.
    """
    potential = float(s["value_if_alive"].sum())
    if not s["value_at_risk"].notna().any() or potential <= 0:
        return []
    h = result.horizon_days
    var_total = float(s["value_at_risk"].sum())
    top = s["value_at_risk"].sort_values(ascending=False)
    k = max(1, int(np.ceil(0.1 * len(top))))
    share = float(top.iloc[:k].sum() / var_total) if var_total else 0.0
    tail = (
        f"{var_total / potential:.1%} of the {_money(potential, result.currency)} all these customers "
        f"would spend if all stayed; the 10% of customers with the most value at risk hold "
        f"{share:.0%} of it."
    )
    if result.mode == MODE_NON_CONTRACTUAL or result.btyd is not None:
        who = (
            "customers who have probably stopped buying"
            if result.mode == MODE_NON_CONTRACTUAL
            else "customers likely to leave"
        )
        text = (
            f"Value at risk, the spend expected to be lost to churn over the next {h} days, is "
            f"{_money(var_total, result.currency)}: what {who} would have spent in those {h} days had they "
            f"stayed, {tail}"
        )
    else:  # contractual, value from a customer attribute over the label's period
        text = (
            f"Value at risk, the value expected to be lost to churn, is {_money(var_total, result.currency)}: each "
            f"customer's probability of leaving times their value, {tail}"
        )
    return [(text, True)]


def churn_findings(result: ChurnResult, *, min_group_size: int = 10) -> list[tuple[str, bool]]:
    """Plain-language findings with numbers as ``(sentence, headline)`` pairs."""
    out: list[tuple[str, bool]] = []
    s = result.scores
    if "churned" in s.columns:
        s = s.loc[~s["churned"].fillna(False).astype(bool)]
    n = len(s)
    h = result.horizon_days
    exp_lapsers = float(s["churn_probability"].sum())
    if result.mode == MODE_NON_CONTRACTUAL:
        text = (
            f"Of {n:,} customers who bought in the last {result.lookback_days} days, about "
            f"{exp_lapsers:,.0f} ({exp_lapsers / max(n, 1):.1%}) are expected to make no purchase "
            f"in the next {h} days (lapse)."
        )
        if s["p_alive"].notna().any():
            gone = float((1.0 - s["p_alive"]).sum())
            text += (
                f" Fewer have stopped buying altogether (churn): about {gone:,.0f} "
                f"({gone / max(n, 1):.1%}), counting each customer's probability of having "
                "dropped out; the others are quiet between purchases."
            )
        out.append((text, True))
    else:
        out.append(
            (
                f"Of {n:,} current customers, about {exp_lapsers:,.0f} "
                f"({exp_lapsers / max(n, 1):.1%}) are predicted to churn.",
                True,
            )
        )
    out.extend(_value_at_risk_findings(result, s))
    t = result.metrics[result.chosen_model].set_index("metric")
    out.append(
        (
            f"The {result.chosen_model} is used for the scores: judged {result.validation.split(':')[0]}"
            f", it ranks leavers with ROC AUC {t.loc['roc_auc', 'estimate']:.2f} (95% CI "
            f"{t.loc['roc_auc', 'ci_low']:.2f}–{t.loc['roc_auc', 'ci_high']:.2f}); the riskiest 10% "
            f"leave {t.loc['top_decile_lift', 'estimate']:.1f}× as often as the average customer.",
            False,
        )
    )
    out += _driver_findings(result, min_group_size)
    curves = result.survival_curves
    if len(curves) and np.isfinite(result.survival_test.get("p_value", np.nan)):
        p = result.survival_test["p_value"]
        ptxt = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
        last_t = float(curves["time"].max())
        ret = retention_at(curves, last_t)
        best, worst = ret.idxmax(), ret.idxmin()
        when = (
            f"after {last_t:,.0f} days"
            if result.survival_time_unit == "days"
            else f"at {_words(result.survival_time_unit)} {last_t:g}"
        )
        out.append(
            (
                f"Retention differs by {result.survival_groups} (log-rank {ptxt}): {when}, "
                f"{ret[best]:.0%} of '{best}' are still active vs {ret[worst]:.0%} of '{worst}'.",
                False,
            )
        )
    return out


def _driver_findings(
    result: ChurnResult, min_group_size: int, n_max: int = 3
) -> list[tuple[str, bool]]:
    """The drivers associated with the most leaving (one sentence per column, largest share
    first; the first is a headline): observed rates and the share of leaving with its CI, in
    plain words (the adjusted odds ratio and Holm-adjusted p-value are in the drivers table)."""
    d = result.drivers
    verb, noun, alike = (
        ("lapse", "lapsing", "purchase frequency, recency, tenure and the other drivers")
        if result.mode == MODE_NON_CONTRACTUAL
        else ("churn", "churn", "the other drivers")
    )
    clear = d.loc[
        d["paf"].notna()
        & (d["paf_ci_low"] > 0)
        & d["rate_reference"].gt(0)
        & (d["exposed"] >= min_group_size)
    ]
    clear = clear.drop_duplicates("column")
    out: list[tuple[str, bool]] = []
    for i, (_, r) in enumerate(clear.head(n_max).iterrows()):
        who, others, _ = exposure_phrases(
            r["column"],
            r["exposed_value"],
            r["reference_value"],
            recent_days=result.recent_days,
            low_score=result.low_score,
        )
        flip = r["estimate"] < 1  # the odds ratio of the higher-risk state against the other
        est, lo, hi = (
            (1 / r["estimate"], 1 / r["ci_high"], 1 / r["ci_low"])
            if flip
            else (r["estimate"], r["ci_low"], r["ci_high"])
        )
        most = ", more than with any other driver" if i == 0 else ""
        today = f"; {_words(r['column'])} is known only as it is today" if r["as_of_today"] else ""
        out.append(
            (
                f"Customers {who} {verb} {r['rate_exposed'] / r['rate_reference']:.1f}× as often "
                f"as {others} ({r['rate_exposed']:.0%} vs {r['rate_reference']:.0%}); about "
                f"{_share(r['paf'])} of {noun} (95% CI {_share(r['paf_ci_low'])}–"
                f"{_share(r['paf_ci_high'])}) "
                f"is associated with it{most}, among customers alike in {alike}, and clearly "
                f"so even allowing for the number of drivers tested{today}.",
                i == 0,
            )
        )
    if not out and len(d):
        r = d.iloc[0]
        out.append(
            (
                f"The clearest driver is {r['label']} ({r['per']}); how much of leaving goes "
                "with it cannot be estimated clearly (the drivers table gives its odds ratio).",
                True,
            )
        )
    elif not out:
        out.append(
            (
                "No driver beyond the purchase pattern is clear after adjusting for the other "
                "drivers and correcting for multiple testing.",
                False,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Readable tables for the report
# ---------------------------------------------------------------------------------------------


def _ci(lo: float, hi: float, fmt: str = "{:.2f}") -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "n/a"
    return f"{fmt.format(lo)}–{fmt.format(hi)}"


def format_p(p: float) -> str:
    """A p-value for a report: ``< 0.001`` or three decimals."""
    if not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def setup_markdown(result: ChurnResult) -> str:
    """Markdown telling the reader how leaving was defined and how the models were checked."""
    if result.mode == MODE_NON_CONTRACTUAL:
        lines = [
            f"**Mode: non-contractual (retail).** A customer counts as *leaving* when they make no "
            f"purchase in the {result.horizon_days} days after a given date. We look only at "
            f"customers who bought at least once in the {result.lookback_days} days before that "
            "date.",
            f"**Checked {result.validation.split(': ', 1)[0]}.** The models were "
            f"{result.validation.split(': ', 1)[-1]}. Every feature uses only data from before its "
            "snapshot date (segments and thresholds too), so nothing from the future leaks in; "
            "customer attributes, which have no history, are the exception (as of today).",
            f"**Scores** are for the {len(result.scores):,} customers active at "
            f"{result.as_of_date.date()}, using all data up to that date.",
        ]
        if result.n_not_scored:
            lines.append(
                f"{result.n_not_scored:,} earlier customers made no purchase in the last "
                f"{result.lookback_days} days; they have already lapsed and are not scored."
            )
    else:
        lines = [
            "**Mode: contractual (subscriptions).** The customer table says who has churned. "
            "Customer attributes (and feedback, when present) describe each customer.",
            f"**Checked out of fold.** {result.validation.split(': ', 1)[-1].capitalize()}, so no "
            "score comes from a model that saw that customer's outcome.",
        ]
    lines += result.notes
    return "\n\n".join(lines)


def snapshots_display(result: ChurnResult) -> pd.DataFrame:
    """The labelled snapshots: date, role, customers, share who left."""
    s = result.snapshots
    return pd.DataFrame(
        {
            "Snapshot": s["snapshot_date"].dt.strftime("%Y-%m-%d"),
            "Used for": s["role"],
            "Customers": s["customers"].astype(int),
            "Left": s["lapsed"].astype(int),
            "Share who left": (100 * s["lapse_rate"]).map("{:.1f}%".format),
        }
    )


def metrics_display(result: ChurnResult) -> pd.DataFrame:
    """Model comparison with 95% bootstrap CIs, the chosen model first."""
    rows = []
    for name, m in result.metrics.items():
        t = m.set_index("metric")

        def cell(k: str, fmt: str = "{:.3f}", t=t) -> str:
            est = fmt.format(t.loc[k, "estimate"])
            return f"{est} ({_ci(t.loc[k, 'ci_low'], t.loc[k, 'ci_high'], fmt)})"

        rows.append(
            {
                "Model": name,
                "Used for scores": "yes" if name == result.chosen_model else "",
                "ROC AUC (95% CI)": cell("roc_auc"),
                "PR AUC (95% CI)": cell("pr_auc"),
                "Brier score (95% CI)": cell("brier", "{:.4f}"),
                "Top-10% lift (95% CI)": cell("top_decile_lift", "{:.2f}"),
                "Customers": int(t.loc["roc_auc", "n"]),
            }
        )
    out = pd.DataFrame(rows)
    return out.sort_values("Used for scores", ascending=False, kind="stable").reset_index(drop=True)


def drivers_display(result: ChurnResult, top_n: int = 10) -> pd.DataFrame:
    """The top drivers (Holm-adjusted p below 0.05, not purchase-pattern) as a readable table:
    share of leaving associated with each (population attributable fraction, 95% CI), odds
    ratio, adjusted p-value and whether the value is known only as of today."""
    d = result.drivers.head(top_n)
    share = [
        "n/a (not a yes/no or group comparison)"
        if not np.isfinite(p)
        else f"{_share(p)} ({_share(lo)}–{_share(hi)})"
        for p, lo, hi in zip(d["paf"], d["paf_ci_low"], d["paf_ci_high"], strict=True)
    ]
    return pd.DataFrame(
        {
            "Rank": d["rank"].astype(int),
            "Driver": d["label"],
            "Compared": d["per"],
            "Effect": d["direction"],
            "Share of leaving associated (95% CI)": share,
            "Odds ratio": d["estimate"].map("{:.2f}".format),
            "95% CI": [_ci(a, b) for a, b in zip(d["ci_low"], d["ci_high"], strict=True)],
            "p-value (Holm-adjusted)": d["p_adjusted"].map(format_p),
            "Measured": np.where(
                d["as_of_today"], "as of today (no history)", "before each period"
            ),
        }
    )


def drivers_warning(result: ChurnResult) -> str | None:
    """The warning under the drivers table when some driver is a customer attribute known only
    as of today (None: none is)."""
    today = result.drivers.loc[result.drivers["as_of_today"], "column"].unique()
    if not len(today):
        return None
    names = ", ".join(_words(c) for c in today)
    return (
        f"**Warning:** {names} {'is' if len(today) == 1 else 'are'} known only as "
        f"{'it is' if len(today) == 1 else 'they are'} today (the customer table keeps no "
        "history), and today's value is used for every past period. A value that changed "
        "because a customer was leaving (a downgraded tier, a cancelled contract) can look like "
        "a driver; treat these rows with care."
    )


def odds_ratios_display(result: ChurnResult, top_n: int = 20) -> pd.DataFrame:
    """The scoring logistic regression's terms (purchase pattern included), most significant
    first."""
    d = result.score_odds_ratios if result.score_odds_ratios is not None else result.odds_ratios
    d = d.head(top_n)
    return pd.DataFrame(
        {
            "Feature": d["label"],
            "Compared": d["per"],
            "Kind": np.where(d["term"].map(is_pattern_feature), "purchase pattern", "driver"),
            "Odds ratio": d["estimate"].map("{:.2f}".format),
            "95% CI": [_ci(a, b) for a, b in zip(d["ci_low"], d["ci_high"], strict=True)],
            "p-value": d["p_value"].map(format_p),
        }
    )


def risk_ratios_display(result: ChurnResult, min_group_size: int = 10) -> pd.DataFrame:
    """Share who left with vs without each yes/no trait (groups under ``min_group_size`` hidden)."""
    r = result.risk_ratios
    r = r.loc[r["customers_with"] >= min_group_size]
    return pd.DataFrame(
        {
            "Customers ...": [
                feature_phrase(f, recent_days=result.recent_days, low_score=result.low_score)
                for f in r["feature"]
            ],
            "Customers": r["customers_with"].astype(int),
            "Left (with)": (100 * r["rate_with"]).map("{:.1f}%".format),
            "Left (without)": (100 * r["rate_without"]).map("{:.1f}%".format),
            "Risk ratio": r["risk_ratio"].map("{:.2f}".format),
            "95% CI": [_ci(a, b) for a, b in zip(r["ci_low"], r["ci_high"], strict=True)],
            "p-value": r["p_value"].map(format_p),
        }
    )


def btyd_display(result: ChurnResult) -> pd.DataFrame:
    """BG/NBD and Gamma-Gamma parameters with standard errors and 95% CIs."""
    if result.btyd is None:
        return pd.DataFrame()
    meaning = {
        "r": "shape of purchase rates across customers",
        "alpha": "scale of purchase rates (weeks)",
        "a": "dropout probability: Beta a",
        "b": "dropout probability: Beta b",
        "p": "shape of spend per purchase",
        "q": "shape of customers' average spend",
        "gamma": "scale of customers' average spend",
    }
    frames = [("BG/NBD", result.btyd.bgnbd.summary())]
    if result.btyd.gamma_gamma is not None:
        frames.append(("Gamma-Gamma", result.btyd.gamma_gamma.summary()))
    rows = []
    for model, t in frames:
        for name, r in t.iterrows():
            shown = str(name)
            if shown.startswith("dropout: "):
                what = feature_label(shown[len("dropout: ") :])
                shown = f"dropout: {what}"
                text = f"dropout multiplier for {what} (std. error of its log)"
            elif shown.startswith("purchase rate: "):
                what = feature_label(shown[len("purchase rate: ") :])
                shown = f"purchase rate: {what}"
                text = f"purchase-rate multiplier for {what} (std. error of its log)"
            else:
                text = meaning.get(shown, "")
            rows.append(
                {
                    "Model": model,
                    "Parameter": shown,
                    "Meaning": text,
                    "Estimate": f"{r['estimate']:.3f}",
                    "Std. error": f"{r['std_err']:.3f}",
                    "95% CI": _ci(r["ci_low"], r["ci_high"], "{:.3f}"),
                }
            )
    return pd.DataFrame(rows)


def segment_risk_display(result: ChurnResult, min_group_size: int = 10) -> pd.DataFrame:
    """:func:`segment_risk` with readable columns."""
    t = segment_risk(result, min_group_size)
    cur = result.currency
    out = pd.DataFrame(
        {
            "Segment": t["segment"],
            "Customers": t["customers"].astype(int),
            "Expected to leave": t["expected_lapsers"].round().astype(int),
            "Average risk": (100 * t["mean_churn_probability"]).map("{:.1f}%".format),
        }
    )
    if t["value_at_risk"].notna().any():
        out["Value if all stay"] = format_column(t["value_if_alive"], "money", currency=cur)
        out["Value at risk"] = format_column(t["value_at_risk"], "money", currency=cur)
        out["Share of value at risk"] = (100 * t["share_of_value_at_risk"]).map("{:.1f}%".format)
    return out


def action_list_display(actions: pd.DataFrame, currency: str = "") -> pd.DataFrame:
    """:func:`action_list` with readable columns (money with the ``currency`` prefix)."""
    out = pd.DataFrame(
        {
            "Rank": actions["rank"],
            "Customer (pseudonym)": actions["customer"],
            "Segment": actions["segment"],
            "Risk of leaving": (100 * actions["churn_probability"]).map("{:.0f}%".format),
        }
    )
    if actions["p_alive"].notna().any():
        out["Still active (P)"] = (100 * actions["p_alive"]).map("{:.0f}%".format)
        out["Buys every (days)"] = actions["purchase_interval_days"].map(
            lambda d: "one purchase so far" if not np.isfinite(d) else f"{d:,.0f}"
        )
    if actions["value_at_risk"].notna().any():
        out["Value if they stay"] = format_column(
            actions["value_if_alive"], "money", currency=currency
        ).to_numpy()
        out["Value at risk"] = format_column(
            actions["value_at_risk"], "money", currency=currency
        ).to_numpy()
    out["Consent"] = actions["consent"]
    out["Why (drivers that apply)"] = actions["reasons"].replace("", "—")
    return out


def action_list_markdown(result: ChurnResult, actions: pd.DataFrame | None = None) -> str:
    """What the action list holds and what consent it rests on (``actions``: the list shown;
    default :meth:`ChurnResult.action_list` with a throwaway key, only for its length)."""
    actions = result.action_list("-") if actions is None else actions
    known = consent_known(result)
    at_risk = (
        "have probably stopped buying (probability of still buying at most 50%)"
        if result.mode == MODE_NON_CONTRACTUAL
        else "are likely to leave (probability of leaving at least 50%)"
    )
    if not len(actions):
        who = " who agreed to marketing" if known else ""
        return f"_No customer{who} {at_risk.split(' (')[0]}._"
    text = (
        f"{len(actions)} customers{' who agreed to marketing' if known else ''} {at_risk}, "
        "ranked by value at risk. Ids are "
        "pseudonyms (the full list with real ids is in the export for the CRM team); the last "
        "column lists the clear drivers above that apply to each customer, the one associated "
        "with the most leaving first."
    )
    if not known:
        text += (
            " The data holds no marketing consent, so consent is unknown for every customer: "
            "**check consent before any contact**."
        )
    return text


def survival_sentence(result: ChurnResult) -> str:
    """The log-rank test result in one sentence."""
    t = result.survival_test
    if not np.isfinite(t.get("p_value", np.nan)):
        return "Only one group is large enough to show, so there is no test between groups."
    return (
        f"Log-rank test across {int(t['groups'])} groups: chi-square {t['chi2']:,.1f} on "
        f"{int(t['df'])} degrees of freedom, p {format_p(t['p_value'])}."
    )


def btyd_segments_display(result: ChurnResult) -> pd.DataFrame:
    """The BG/NBD fitted within each behavioural segment (customers, mean purchase rate per week
    and dropout effects of the covariates), for the report."""
    if result.btyd is None or result.btyd.strata is None:
        return pd.DataFrame()
    t = result.btyd.strata_table()
    names = result.segments.names if result.segments is not None else {}
    out = pd.DataFrame(
        {
            "Segment": [
                names.get(int(k), str(k)) if str(k).isdigit() else str(k) for k in t["stratum"]
            ],
            "Customers": t["customers"].astype(int),
            "Own model": np.where(t["own_model"], "yes", "no (all customers)"),
            "Purchases per week while active (mean)": (t["r"] / t["alpha"]).map("{:.2f}".format),
            "Dropout after a purchase (mean)": (t["a"] / (t["a"] + t["b"])).map("{:.3f}".format),
        }
    )
    for c in [c for c in t.columns if c.startswith("dropout x ")]:
        out[f"Dropout × {feature_label(c[len('dropout x ') :])}"] = t[c].map(
            lambda v: "n/a" if not np.isfinite(v) else f"{v:.2f}"
        )
    return out


# ---------------------------------------------------------------------------------------------
# Sentences of notebook 03
# ---------------------------------------------------------------------------------------------


def intro_markdown(check: ChurnCheck) -> str:
    """The analysis date and mode of a run that goes ahead."""
    return (
        f"Analysis date **{check.as_of_date.date()}** (data through the end of that day); "
        f"mode: **{str(check.mode).replace('_', '-')}**."
    )


def choice_markdown(result: ChurnResult) -> str:
    """Which model the scores come from, and why."""
    return f"**Scores come from the {result.chosen_model}**: {result.choice_reason}."


def survival_title(result: ChurnResult) -> str:
    """Title of the retention chart."""
    return f"Still active, by {result.survival_groups}"


def suppressed_segments_markdown(result: ChurnResult) -> str | None:
    """How many segments the segment table leaves out as too small (None: none)."""
    n = segment_risk_suppressed(result, result.min_group_size).hidden
    if not n:
        return None
    return f"{n} segment(s) with fewer than {result.min_group_size} customers are not shown."


def export_markdown(result: ChurnResult, exports: dict[str, pd.DataFrame] | None = None) -> str:
    """What the export holds (``exports/churn_scores.csv``) and what its consent column means."""
    scores = (exports or result.exports())["churn_scores.csv"]
    text = (
        f"Scores for {len(scores):,} customer records written to "
        "`exports/churn_scores.csv` "
        f"({', '.join(f'`{c}`' for c in EXPORT_COLUMNS[1:])}). "
    )
    if consent_known(result):
        return text + (
            "Only records with `marketing_consent` true may be contacted for marketing; an "
            "empty value means unknown, which is not consent."
        )
    return text + (
        "The data holds no marketing consent, so `marketing_consent` is empty for every record "
        "and no customer is flagged for marketing: check consent before any contact."
    )
