"""Where the data ends, and the analysis date taken from it.

A day/month swap in the past (``2026-11-02`` written for 11 February) can date a few rows months
after the rest of the data. Taking the analysis date from the latest record would then move it
there silently, and every analysis would count the months in between as customers not buying.
:func:`data_span` finds where the data really ends; :func:`analysis_date` takes the date from
there and says so (the data audit lists the late rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cxlib.engine import analysis_day, is_table, row_count

#: A gap of at least this many days (and ten typical gaps between days with data) ends the data
#: when what follows it holds at most :data:`LATE_SHARE` of the rows.
GAP_DAYS = 30

#: Largest share of rows after a gap for them to be late outliers rather than a pause.
LATE_SHARE = 0.01

#: ``AnalysisDate.origin`` values (also ``as_of_date_source`` in ``manifest.json``).
ORIGIN_PARAMETER = "parameter"
ORIGIN_LATEST = "latest data"
ORIGIN_BEFORE_GAP = "latest data before a gap"
ORIGIN_TODAY = "today (no dates in the data)"


def data_span(t: Any, col: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """``(first day, last day before a jump)`` of a timestamp column, None without dates.

    Days with data are read in order; a gap of at least :data:`GAP_DAYS` days and ten times the
    median gap between days with data, followed by at most :data:`LATE_SHARE` of the rows,
    ends the data (the earliest such gap). Without one the last day is the latest date.
    ``t`` is an Ibis table.
    """
    daily = (
        t.filter(t[col].notnull())
        .group_by(_cx_day=t[col].date())
        .aggregate(_cx_n=row_count())
        .to_pandas()
    )
    if not len(daily):
        return None
    days = pd.to_datetime(daily["_cx_day"]).to_numpy()
    order = days.argsort()
    days, n = pd.DatetimeIndex(days[order]), daily["_cx_n"].to_numpy(dtype="int64")[order]
    if len(days) < 3:
        return days[0], days[-1]
    gaps = pd.Series(days).diff().dt.days.to_numpy()
    limit = max(GAP_DAYS, 10 * float(pd.Series(gaps[1:]).median()))
    after = n[::-1].cumsum()[::-1]  # rows from each day on
    for i in range(1, len(days)):
        if gaps[i] >= limit and after[i] <= LATE_SHARE * n.sum():
            return days[0], days[i - 1]
    return days[0], days[-1]


@dataclass(frozen=True)
class AnalysisDate:
    """The analysis date and where it comes from.

    ``origin`` is one of :data:`ORIGIN_PARAMETER`, :data:`ORIGIN_LATEST`,
    :data:`ORIGIN_BEFORE_GAP` and :data:`ORIGIN_TODAY`; ``note`` says it in a sentence for the
    reports; ``late_rows`` counts the rows dated after the end of the data (not after today).
    """

    date: pd.Timestamp
    origin: str
    note: str
    late_rows: int = 0


def _as_table(frame: Any) -> Any:
    import ibis

    return frame if is_table(frame) else ibis.memtable(frame[["timestamp"]])


def analysis_date(
    tables: Mapping[str, Any], as_of_date: Any = None, *, today: Any = None
) -> AnalysisDate:
    """The analysis date of ``tables`` (pandas frames or Ibis tables).

    The parameter when given; else the last day of the transactions or events before a jump
    (:func:`data_span`: rows dated after a long gap, such as past day/month swaps, do not move
    the date; timestamps after today are errors and ignored); else today, which the note says
    (give ``as_of_date`` for data without dates).
    """
    if as_of_date not in (None, "", "None"):
        day = analysis_day(as_of_date)
        return AnalysisDate(day, ORIGIN_PARAMETER, f"{day:%d %B %Y}, set for this run.")
    now = pd.Timestamp(today) if today is not None else pd.Timestamp.now()
    ends: list[tuple[pd.Timestamp, pd.Timestamp, str, int]] = []
    for name in ("transactions", "events"):
        frame = tables.get(name)
        if frame is None or (not is_table(frame) and not len(frame)):
            continue
        t = _as_table(frame)
        t = t.filter(t.timestamp <= now.to_pydatetime())
        span = data_span(t, "timestamp")
        if span is None:
            continue
        latest = pd.Timestamp(t.timestamp.max().execute()).normalize()
        late = 0
        if latest > span[1]:
            after = (span[1] + pd.Timedelta(days=1)).to_pydatetime()
            late = int(t.filter(t.timestamp >= after).count().execute())
        ends.append((span[1], latest, name, late))
    if not ends:
        day = analysis_day(now)
        return AnalysisDate(
            day,
            ORIGIN_TODAY,
            f"{day:%d %B %Y}, today: the data has no dates; set `as_of_date` in cx.yml "
            "(or `cx run --as-of-date YYYY-MM-DD`) to the day the data was extracted.",
        )
    end, latest, name, late = max(ends)
    day = analysis_day(end)
    if late:
        return AnalysisDate(
            day,
            ORIGIN_BEFORE_GAP,
            f"{day:%d %B %Y}, the last day of the {name} before a gap: {late:,} later row(s), "
            f"up to {latest:%d %B %Y}, are far after the rest (day and month swapped, for "
            "example; the data audit lists them) and do not move the date. Set `as_of_date` "
            "to choose another.",
            late,
        )
    return AnalysisDate(day, ORIGIN_LATEST, f"{day:%d %B %Y}, the day of the latest {name} record.")
