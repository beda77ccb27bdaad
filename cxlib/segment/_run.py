"""The segmentation question in one call: :func:`run_segmentation` → :class:`SegmentationResult`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cxlib.engine import Engine, analysis_day
from cxlib.features import customer_features
from cxlib.report import Finding
from cxlib.result import QuestionResult
from cxlib.segment import _report
from cxlib.segment._cluster import BehaviouralSegmenter, StabilityResult, bootstrap_stability
from cxlib.segment._people import load_master_map, segments_export, to_people
from cxlib.segment._profile import ClusterProfile, profile_clusters
from cxlib.segment._rfm import (
    RFM_DESCRIPTIONS,
    RFM_SEGMENTS,
    MigrationResult,
    rfm_migration,
    rfm_scores,
    segment_summary,
)
from cxlib.segment._series import (
    FITTED_BY_NOTEBOOK,
    FITTED_BY_OTHER,
    SeriesSegments,
    data_key,
    load_series_segments,
    series_from_result,
)

logger = logging.getLogger("cxlib.segment")

SEGMENTS_EXPORT = "segments.csv"

#: The options of the ``segmentation`` block of ``cx.yml`` and their defaults.
DEFAULT_OPTIONS: dict[str, int] = {
    "lookback_days": 365,
    "k_min": 3,
    "k_max": 8,
    "n_bootstrap": 30,
    "migration_days": 90,
}


@dataclass
class SegmentationResult(QuestionResult):
    """Everything notebook 02 shows (see :func:`run_segmentation`).

    ``skip_reason`` is set (and the analysis attributes are None) when there is nothing to
    segment: no transactions, or fewer customers with purchases than the segmenter needs.
    """

    as_of_date: pd.Timestamp
    options: dict[str, int]
    min_group_size: int
    unit: str = _report.RECORD_UNIT
    master_map: pd.DataFrame | None = None
    skip_reason: str | None = None
    status_note: str | None = None
    transaction_rows: tuple[int, int] | None = None
    features: pd.DataFrame | None = None
    rfm: pd.DataFrame | None = None
    rfm_summary: pd.DataFrame | None = None
    segmenter: BehaviouralSegmenter | None = None
    clusters: pd.Series | None = None
    profile: ClusterProfile | None = None
    stability: StabilityResult | None = None
    previous_date: pd.Timestamp | None = None
    migration: MigrationResult | None = None
    export: pd.DataFrame | None = field(default=None, repr=False)
    consent_known: bool = False
    series: SeriesSegments | None = field(default=None, repr=False)

    @property
    def skipped(self) -> bool:
        """Whether the segmentation was skipped (see ``skip_reason``)."""
        return self.skip_reason is not None

    @property
    def has_segments(self) -> bool:
        """Whether distinct behavioural segments were found (better than the null reference);
        without them only RFM is shown and ``segments.csv`` has an empty ``cluster``."""
        return self.clusters is not None

    # -- the question's shape -----------------------------------------------------------------
    def findings(self) -> list[Finding]:
        """Who is counted, then the RFM, cluster and migration sentences (one headline each)."""
        if self.skipped:
            return []
        out = [Finding(_report.unit_finding(self.unit, len(self.features), self.as_of_date))]
        clusters = (
            (_report.cluster_findings(self.profile, self.stability), 1)
            if self.has_segments
            else ([_report.no_segments_sentence(self.segmenter.selection_)], 0)
        )
        groups = (
            (_report.rfm_findings(self.rfm_summary), 0),
            clusters,
            (_report.migration_findings(self.migration, self.min_group_size), 0),
        )
        for sentences, headline in groups:
            out += [Finding(t, headline=i == headline) for i, t in enumerate(sentences)]
        return out

    def exports(self) -> dict[str, pd.DataFrame]:
        """``segments.csv``: every (consenting) customer's RFM scores, segment and cluster."""
        return {} if self.skipped else {SEGMENTS_EXPORT: self.export}

    # -- display tables and sentences ---------------------------------------------------------
    def introduction(self) -> str:
        """Who is segmented, the look-back window and the usable rows (Markdown)."""
        return _report.introduction(
            self.unit,
            len(self.features),
            self.as_of_date,
            self.options["lookback_days"],
            self.transaction_rows,
        )

    def rfm_table(self) -> pd.DataFrame:
        """The RFM segments with sizes, revenue and what each means."""
        return _report.segment_table(self.rfm_summary, RFM_DESCRIPTIONS)

    def k_choice(self) -> str:
        """Why this number of behavioural segments was chosen, or why there are none."""
        text = _report.k_choice_sentence(
            self.segmenter.selection_,
            expected_k=None,
            n_scored=self.segmenter.n_scored_,
            n_customers=len(self.features),
        )
        if not self.has_segments:
            text = _report.no_segments_sentence(self.segmenter.selection_) + " " + text
        return text + _report.dropped_features_sentence(self.segmenter.dropped_features_)

    def cluster_table(self) -> pd.DataFrame:
        """The behavioural segments with sizes, revenue and descriptions."""
        return _report.cluster_table(self.profile)

    def mixes(self) -> dict[str, pd.DataFrame]:
        """Channel, category and time-of-day mix per segment (rows named), where present."""
        mixes = {
            "channel": self.profile.channel_mix,
            "category": self.profile.category_mix,
            "time of day": self.profile.time_mix,
        }
        return {
            what: _report.with_names(mix, self.profile.names)
            for what, mix in mixes.items()
            if mix.shape[1]
        }

    def stability_sentence(self) -> str:
        """How stable the segments are under resampling."""
        return _report.cluster_findings(self.profile, self.stability)[-1]

    def export_sentence(self) -> str:
        """What the export holds (Markdown)."""
        return _report.export_sentence(len(self.export), self.consent_known)


def _resolve_options(
    options: Mapping[str, Any] | None, overrides: Mapping[str, int | None]
) -> dict[str, int]:
    """Defaults, then the ``segmentation`` block, then explicit arguments (other keys ignored)."""
    out = dict(DEFAULT_OPTIONS)
    for key, value in (options or {}).items():
        if key in out and value is not None:
            out[key] = int(value)
    out.update({k: int(v) for k, v in overrides.items() if v is not None})
    return out


def run_segmentation(
    data: Any,
    *,
    as_of_date: Any = None,
    options: Mapping[str, Any] | None = None,
    output_dir: str | Path | None = None,
    master_map: pd.DataFrame | None = None,
    min_group_size: int = 10,
    seed: int | None = 42,
    engine: Engine | None = None,
    lookback_days: int | None = None,
    k_min: int | None = None,
    k_max: int | None = None,
    n_bootstrap: int | None = None,
    migration_days: int | None = None,
    series_only: bool = False,
) -> SegmentationResult:
    """RFM segments, behavioural segments, their stability, the migration and the export.

    Parameters
    ----------
    data : SourceData or mapping of tables
        ``transactions`` (a pandas frame or a backend table) and optionally ``customers`` (its
        ``marketing_consent`` limits the export).
    as_of_date : date-like, optional
        Analysis date; default ``data.as_of_date``.
    options : mapping, optional
        The ``segmentation`` block of ``cx.yml`` (:data:`DEFAULT_OPTIONS` for absent keys).
    output_dir : path, optional
        The run folder: its ``exports/customer_master_map.csv`` (notebook 01) makes the unit
        people instead of records, unless it belongs to other data (see
        :func:`load_master_map`).
    master_map : DataFrame, optional
        A map to use instead of the run folder's.
    min_group_size : int
        Groups of fewer customers are never shown.
    seed : int, optional
        Seed of the k-means fits and resamples.
    engine : Engine, optional
        The run's engine (default ``data.engine`` or a local one for this call).
    lookback_days, k_min, k_max, n_bootstrap, migration_days : int, optional
        Override the options of the same names.
    series_only : bool
        Only the segments the other notebooks use (``result.series``): read from the run
        folder when saved there for the same data, else fitted; no stability, migration or
        export (:func:`cxlib.segment.series_segments`).

    Returns
    -------
    SegmentationResult
    """
    tables = getattr(data, "tables", data)
    as_of = analysis_day(as_of_date if as_of_date is not None else data.as_of_date)
    opts = _resolve_options(
        options,
        {
            "lookback_days": lookback_days,
            "k_min": k_min,
            "k_max": k_max,
            "n_bootstrap": n_bootstrap,
            "migration_days": migration_days,
        },
    )
    result = SegmentationResult(as_of_date=as_of, options=opts, min_group_size=min_group_size)
    has = data.has if hasattr(data, "has") else tables.__contains__
    if "transactions" not in tables or not has("transactions"):
        result.skip_reason = _report.NO_TRANSACTIONS
        result.status_note = "Skipped: no transactions table."
        return result
    counts = getattr(data, "counts", None)
    if counts is not None:
        tx_counts = counts.loc[
            counts["table"] == "transactions", ["accepted_rows", "quarantined_rows"]
        ].sum()
        result.transaction_rows = (
            int(tx_counts["accepted_rows"]),
            int(tx_counts["quarantined_rows"]),
        )
    engine = engine or getattr(data, "engine", None)
    if engine is None:
        with Engine() as local:
            _run(result, tables, output_dir, master_map, seed, local, series_only)
    else:
        _run(result, tables, output_dir, master_map, seed, engine, series_only)
    return result


def _run(
    result: SegmentationResult,
    tables: Mapping[str, Any],
    output_dir: str | Path | None,
    master_map: pd.DataFrame | None,
    seed: int | None,
    engine: Engine,
    series_only: bool = False,
) -> None:
    """The analysis of :func:`run_segmentation`, filling ``result``."""
    opts, as_of, min_size = result.options, result.as_of_date, result.min_group_size
    transactions = engine.table(tables["transactions"])
    if master_map is None and output_dir is not None:
        master_map = load_master_map(output_dir, ids=transactions["customer_id"])
    if master_map is not None:
        transactions = to_people(transactions, master_map)
        result.unit, result.master_map = _report.PEOPLE_UNIT, master_map
    key = data_key(transactions, as_of, result.unit)
    if series_only:
        result.series = load_series_segments(output_dir, key)
        if result.series is not None:
            return
    lookback = opts["lookback_days"]
    features = customer_features(transactions, as_of, lookback_days=lookback, engine=engine)
    need = max(min_size, 2 * opts["k_max"] + 1)  # the segmenter needs more than 2 * k_max
    if len(features) < need:
        result.skip_reason = _report.too_few_customers(need, as_of, opts["k_max"], min_size)
        result.status_note = f"Skipped: fewer than {need} customers with purchases."
        return
    result.features = features
    rfm = rfm_scores(features)
    result.rfm = rfm
    result.rfm_summary = segment_summary(
        rfm["rfm_segment"], rfm["monetary"], order=list(RFM_SEGMENTS), min_group_size=min_size
    )
    segmenter = BehaviouralSegmenter(
        k_range=range(opts["k_min"], opts["k_max"] + 1), random_state=seed
    )
    segmenter.fit(features)
    result.segmenter = segmenter
    if segmenter.has_structure_:
        clusters = pd.Series(segmenter.labels_, index=features.index, name="cluster")
        result.clusters = clusters
        result.profile = profile_clusters(features, clusters.to_numpy(), min_group_size=min_size)
    fitted_by = FITTED_BY_OTHER if series_only else FITTED_BY_NOTEBOOK
    result.series = series_from_result(result, key, fitted_by)
    if output_dir is not None:
        result.series.save(output_dir)
    if series_only:
        return
    if segmenter.has_structure_:
        result.stability = bootstrap_stability(
            segmenter, features, n_bootstrap=opts["n_bootstrap"], random_state=seed
        )
    previous_date = as_of - pd.Timedelta(days=opts["migration_days"])
    previous = rfm_scores(
        customer_features(transactions, previous_date, lookback_days=lookback, engine=engine)
    )
    result.previous_date = previous_date
    result.migration = rfm_migration(rfm, previous, previous_date, as_of, min_group_size=min_size)
    customers = tables.get("customers")
    result.consent_known = customers is not None and "marketing_consent" in customers
    result.export = segments_export(
        rfm,
        result.clusters,
        result.profile.names if result.has_segments else {},
        customers=customers,
        master_map=master_map,
    )
