"""Customer segmentation: RFM scores and segments, behavioural clusters, stability, migration.

Everything here works on the per-customer feature table of :func:`cxlib.features.customer_features`
(one row per customer, indexed by ``customer_id``). Definitions are documented in
``docs/features.md`` and ``docs/segmentation.md``.

Modules (private; import from here):

- ``_rfm`` — RFM scores, the eleven RFM segments, segment sizes, migration between two dates;
- ``_cluster`` — :class:`BehaviouralSegmenter` (k-means, k chosen by silhouette x stability) and
  :func:`bootstrap_stability`;
- ``_profile`` — :func:`profile_clusters`: cluster profiles, names and descriptions;
- ``_people`` — the single customer view (:func:`load_master_map`, :func:`to_people`) and the
  ``segments.csv`` export;
- ``_report`` — finding sentences and display tables;
- ``_series`` — :func:`series_segments`: the one segmentation the other notebooks use;
- ``_run`` — :func:`run_segmentation`, the question in one call, and its
  :class:`SegmentationResult` (findings, exports, display tables).
"""

from __future__ import annotations

from cxlib.segment._cluster import (
    BEHAVIOUR_COLUMNS,
    BEHAVIOUR_PREFIXES,
    BehaviouralSegmenter,
    StabilityResult,
    behaviour_columns,
    bootstrap_stability,
    uninformative_shares,
)
from cxlib.segment._people import EXPORT_COLUMNS, load_master_map, segments_export, to_people
from cxlib.segment._profile import ClusterProfile, profile_clusters
from cxlib.segment._report import (
    SLIPPING_SEGMENTS,
    VALUABLE_SEGMENTS,
    add_findings,
    cluster_findings,
    cluster_table,
    k_choice_sentence,
    migration_findings,
    rfm_findings,
    segment_table,
    with_names,
)
from cxlib.segment._rfm import (
    NOT_YET_CUSTOMER,
    RFM_DESCRIPTIONS,
    RFM_GRID,
    RFM_SEGMENTS,
    MigrationResult,
    quintile_scores,
    rfm_migration,
    rfm_scores,
    rfm_segment_of,
    segment_summary,
)
from cxlib.segment._run import SegmentationResult, run_segmentation
from cxlib.segment._series import SERIES_FILE, SeriesSegments, series_segments

__all__ = [
    "BEHAVIOUR_COLUMNS",
    "BEHAVIOUR_PREFIXES",
    "EXPORT_COLUMNS",
    "NOT_YET_CUSTOMER",
    "RFM_DESCRIPTIONS",
    "RFM_GRID",
    "RFM_SEGMENTS",
    "SERIES_FILE",
    "SegmentationResult",
    "SeriesSegments",
    "SLIPPING_SEGMENTS",
    "VALUABLE_SEGMENTS",
    "BehaviouralSegmenter",
    "ClusterProfile",
    "MigrationResult",
    "StabilityResult",
    "add_findings",
    "behaviour_columns",
    "bootstrap_stability",
    "cluster_findings",
    "cluster_table",
    "k_choice_sentence",
    "load_master_map",
    "migration_findings",
    "profile_clusters",
    "quintile_scores",
    "rfm_findings",
    "rfm_migration",
    "rfm_scores",
    "rfm_segment_of",
    "run_segmentation",
    "segment_summary",
    "segment_table",
    "segments_export",
    "series_segments",
    "to_people",
    "uninformative_shares",
    "with_names",
]
