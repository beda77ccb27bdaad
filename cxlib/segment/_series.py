"""One segmentation across the series: what notebook 02 fits is what notebooks 03 and 04 use.

Notebook 02 (:func:`cxlib.segment.run_segmentation`) saves its segments in the run folder
(:data:`SERIES_FILE`); the churn and campaign notebooks read them with :func:`series_segments`,
so every report and export names a customer's segment the same way. When the run folder holds
none for the same data (notebook 02 not run, or run on other data), :func:`series_segments`
fits them with the same code and options and saves them for the next notebook.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cxlib.segment._cluster import BehaviouralSegmenter

logger = logging.getLogger("cxlib.segment")

#: Where a run folder keeps the series' segments (not an export: labels of every customer).
SERIES_FILE = Path("shared") / "series_segments.pickle"
#: ``fitted_by`` of segments fitted by notebook 02 itself.
FITTED_BY_NOTEBOOK = "notebook 02"
#: ``fitted_by`` of segments fitted by another notebook with the same code and options.
FITTED_BY_OTHER = "the segmentation settings"
#: What the label of a behavioural segment is called in reports.
BEHAVIOURAL = "behavioural segment"
#: What the label is called when there are no distinct behavioural segments.
RFM = "RFM segment"


@dataclass
class SeriesSegments:
    """The series' segment of every segmented customer (or person) at one analysis date.

    Attributes
    ----------
    as_of_date : pd.Timestamp
        The analysis date the segments describe (data up to the end of that day).
    kind : str
        :data:`BEHAVIOURAL` when notebook 02 found distinct behavioural segments (``labels``
        are their names), else :data:`RFM` (``labels`` are the RFM segments).
    labels : pd.Series
        Segmented id (``customer_id``, or the person's ``master_id``) → segment name.
    segmenter : BehaviouralSegmenter or None
        The fitted behavioural segmenter (None without distinct behavioural segments).
    names : dict
        Cluster number → segment name (empty without distinct behavioural segments).
    unit : str
        What one segmented id is ("customer records" or "people").
    data_key : str
        Fingerprint of the transactions the segments were fitted on (see :func:`data_key`).
    fitted_by : str
        :data:`FITTED_BY_NOTEBOOK`, or :data:`FITTED_BY_OTHER` when another notebook fitted
        them the same way because notebook 02 had not run on this data.
    record_map : pd.Series, optional
        When people were segmented: source record ``customer_id`` → person (``master_id``).
    """

    as_of_date: pd.Timestamp
    kind: str
    labels: pd.Series
    segmenter: BehaviouralSegmenter | None
    names: dict[int, str]
    unit: str
    data_key: str
    fitted_by: str = FITTED_BY_NOTEBOOK
    record_map: pd.Series | None = None

    @property
    def behavioural(self) -> bool:
        """Whether the labels are behavioural segments (not RFM)."""
        return self.segmenter is not None

    def label(self, ids: Any) -> pd.Series:
        """Segment name of each id (missing: not segmented, e.g. no purchase up to the date)."""
        index = pd.Index(pd.Series(ids).astype("str"))
        return pd.Series(self.labels.reindex(index).to_numpy(), index=index, name="segment")

    def label_records(self, customer_ids: Any) -> pd.Series:
        """Segment name of each source record (its person's segment when people were
        segmented), indexed by the record ids given."""
        ids = pd.Series(customer_ids).astype("str")
        units = ids if self.record_map is None else ids.map(self.record_map).fillna(ids)
        return pd.Series(
            self.labels.reindex(units.to_numpy()).to_numpy(), index=ids.to_numpy(), name="segment"
        )

    def codes(self) -> pd.Series:
        """Cluster number of each segmented id (behavioural segments only)."""
        by_name = {name: code for code, name in self.names.items()}
        return self.labels.map(by_name).astype("Int64").rename("segment_code")

    def describe(self) -> str:
        """One sentence for the reports: which segments these are and where they come from."""
        what = (
            f"the {len(self.names)} behavioural segments"
            if self.behavioural
            else "the RFM segments (there are no distinct behavioural segments)"
        )
        where = (
            "of the customer segments report"
            if self.fitted_by == FITTED_BY_NOTEBOOK
            else "found the way the customer segments report finds them (it did not run on "
            "this data)"
        )
        return (
            f"Segments are {what} {where}, at {self.as_of_date.date()}, so every report "
            "names a customer's segment the same way."
        )

    def save(self, output_dir: str | Path) -> Path:
        """Write to ``output_dir / SERIES_FILE`` (returns the path)."""
        path = Path(output_dir) / SERIES_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:  # pickle: written and read by this run's own notebooks
            pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return path


def data_key(transactions: Any, as_of: pd.Timestamp, unit: str) -> str:
    """A fingerprint of the transactions up to ``as_of``: rows, customers, total amount and the
    latest timestamp, with the date and the unit (``transactions`` is an Ibis table)."""
    from cxlib.engine import data_end

    tx = transactions.filter(transactions.timestamp < data_end(as_of).to_pydatetime())
    row = tx.aggregate(
        n=tx.count(),
        ids=tx.customer_id.nunique(),
        amount=tx.amount.sum(),
        latest=tx.timestamp.max(),
    ).to_pandas()
    values = row.iloc[0]
    return (
        f"{as_of.date()}|{unit}|{int(values['n'])}|{int(values['ids'])}|"
        f"{float(values['amount'] or 0):.2f}|{values['latest']}"
    )


def load_series_segments(output_dir: str | Path | None, key: str) -> SeriesSegments | None:
    """The run folder's segments when they were fitted on the same data (``key``), else None."""
    if output_dir is None:
        return None
    path = Path(output_dir) / SERIES_FILE
    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            saved = pickle.load(fh)  # noqa: S301 - the run folder's own file, see save()
    except Exception as exc:  # a damaged or foreign file is refitted, not trusted
        logger.warning("%s not read (%s); the segments are fitted again", path, exc)
        return None
    if not isinstance(saved, SeriesSegments) or saved.data_key != key:
        logger.info("%s belongs to other data; the segments are fitted again", path)
        return None
    return saved


def series_segments(
    data: Any,
    *,
    as_of_date: Any = None,
    output_dir: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
    master_map: pd.DataFrame | None = None,
    min_group_size: int = 10,
    seed: int | None = 42,
    engine: Any = None,
) -> SeriesSegments | None:
    """The series' segments at the analysis date: notebook 02's, or fitted the same way.

    Parameters
    ----------
    data : SourceData or mapping of tables
        Needs ``transactions``.
    as_of_date : date-like, optional
        Analysis date; default ``data.as_of_date``.
    output_dir : path, optional
        The run folder: segments saved there by notebook 02 for the same data are used as they
        are; otherwise they are fitted (with ``options``, the ``segmentation`` block of cx.yml)
        and saved there for the next notebook.
    master_map, min_group_size, seed, engine
        As for :func:`cxlib.segment.run_segmentation`.

    Returns
    -------
    SeriesSegments or None
        None when there is nothing to segment (no transactions, too few customers).
    """
    from cxlib.segment._run import run_segmentation

    result = run_segmentation(
        data,
        as_of_date=as_of_date,
        options=options,
        output_dir=output_dir,
        master_map=master_map,
        min_group_size=min_group_size,
        seed=seed,
        engine=engine,
        series_only=True,
    )
    return result.series


def series_from_result(result: Any, key: str, fitted_by: str) -> SeriesSegments:
    """The :class:`SeriesSegments` of a fitted :class:`~cxlib.segment.SegmentationResult`."""
    if result.has_segments:
        names = {int(k): str(v) for k, v in result.profile.names.items()}
        labels = result.clusters.map(names)
        kind, segmenter = BEHAVIOURAL, result.segmenter
    else:
        names, segmenter, kind = {}, None, RFM
        labels = result.rfm["rfm_segment"].astype("object")
    labels = pd.Series(
        labels.astype("str").to_numpy(), index=labels.index.astype("str"), name="segment"
    )
    mm = result.master_map
    record_map = (
        None
        if mm is None
        else pd.Series(
            mm["master_id"].astype("str").to_numpy(), index=mm["customer_id"].astype("str")
        )
    )
    return SeriesSegments(
        record_map=record_map,
        as_of_date=result.as_of_date,
        kind=kind,
        labels=labels,
        segmenter=segmenter,
        names=names,
        unit=result.unit,
        data_key=key,
        fitted_by=fitted_by,
    )
