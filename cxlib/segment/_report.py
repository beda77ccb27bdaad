"""Presentation: finding sentences and the display tables of the segmentation report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxlib.segment._cluster import StabilityResult
from cxlib.segment._profile import ClusterProfile
from cxlib.segment._rfm import NOT_YET_CUSTOMER, RFM_SEGMENTS, MigrationResult

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
    if "null_silhouette" in sel:
        text += (
            f" The same measures shuffled at random between customers, which have no real "
            f"groups, give a separation of {row['null_silhouette']:.3f} for {k} segments."
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


def dropped_features_sentence(dropped: dict[str, str]) -> str:
    """The measures left out of the behavioural segments and why ("" when none)."""
    if not dropped:
        return ""
    return " Left out of the behavioural segments: " + "; ".join(dropped.values()) + "."


def no_segments_sentence(selection: pd.DataFrame) -> str:
    """The finding when the best clustering is no better than the null reference."""
    row = selection.loc[selection["chosen"]].iloc[0]
    return (
        "There are no distinct behavioural segments: the best grouping found "
        f"({int(row['k'])} groups) separates customers barely better than the same measures "
        f"shuffled at random between customers (separation score {row['silhouette']:.2f} "
        f"against {row['null_silhouette']:.2f}), so no behavioural segments are named or "
        "exported; use the RFM segments."
    )


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


# --------------------------------------------------------------------------------------------
# Sentences of notebook 02 about the run (who is counted, the export)
# --------------------------------------------------------------------------------------------

PEOPLE_UNIT = "people (single customer view from the data audit)"
RECORD_UNIT = "customer records (no single customer view was available in this run)"
NO_TRANSACTIONS = "the data has no transactions table, which every segment is built from"


def too_few_customers(need: int, as_of_date: pd.Timestamp, k_max: int, min_group_size: int) -> str:
    """Why the segmentation was skipped: too few customers with purchases."""
    return (
        f"fewer than {need} customers bought anything up to {as_of_date.date()}: "
        f"too few to form up to {k_max} segments of at least "
        f"{min_group_size} customers (min_group_size)"
    )


def unit_finding(unit: str, n_customers: int, as_of_date: pd.Timestamp) -> str:
    """The finding naming what is counted (people or records) and how many."""
    return f"Segments are built on {unit}: {n_customers:,} who bought up to {as_of_date.date()}."


def introduction(
    unit: str,
    n_customers: int,
    as_of_date: pd.Timestamp,
    lookback_days: int,
    rows: tuple[int, int] | None,
) -> str:
    """The opening paragraph (Markdown): who is segmented, the window, the usable rows."""
    text = (
        f"Segmenting **{n_customers:,} {unit.split(' (')[0]}** who bought at least once up to "
        f"**{as_of_date.date()}** (unit: {unit}). Frequency and spend use the {lookback_days} days "
        f"up to that date."
    )
    if rows is not None:
        text += (
            f" {rows[0]:,} transaction rows were usable; {rows[1]:,} unreadable rows were left "
            f"out (see the data audit)."
        )
    return text


def export_sentence(n_records: int, consent_known: bool) -> str:
    """What ``exports/segments.csv`` holds (Markdown)."""
    return f"Exported **{n_records:,}** customer records to `exports/segments.csv`" + (
        " (customers with marketing consent only)."
        if consent_known
        else " (no consent information in the data: check consent before contacting anyone)."
    )
