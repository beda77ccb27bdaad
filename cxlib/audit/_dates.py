"""Jumps at the end of a date column: rows dated after a gap, and day/month swaps among them.

A day/month swap in the past (``2026-11-02`` written for 11 February) can date a row months
after the rest of the data; the analysis date, taken from the latest record, would then move
there silently. The audit finds such rows and says where the data really ends.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cxlib.audit._expr import _flag, _ts_literal
from cxlib.engine import row_count

#: A gap of at least this many days (and ten typical gaps between days with data) ends the data
#: when what follows it holds at most :data:`LATE_SHARE` of the rows.
GAP_DAYS = 30

#: Largest share of rows after a gap for them to be late outliers rather than a pause.
LATE_SHARE = 0.01


def data_span(t: Any, col: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """``(first day, last day before a jump)`` of a timestamp column, None without dates.

    Days with data are read in order; a gap of at least :data:`GAP_DAYS` days and ten times the
    median gap between days with data, followed by at most :data:`LATE_SHARE` of the rows,
    ends the data (the earliest such gap). Without one the last day is the latest date.
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


def _ymd(day: pd.Timestamp) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def date_jump(t: Any, col: str, end: pd.Timestamp) -> tuple[Any, Any, dict[str, Any]] | None:
    """Rows dated after the end of the data (:func:`data_span`) but before ``end`` (the
    as-of date's end: later rows are future dates), and the day/month swaps among them: day
    and month can be swapped (day 1-12, not equal to the month) and swapped back the date falls
    inside the data.

    Returns
    -------
    (late, swapped, span) : two boolean backend expressions and ``first_day, data_end``; None
    when the column has no jump.
    """
    span = data_span(t, col)
    if span is None:
        return None
    first, last = span
    ts = t[col]
    late = _flag((ts >= _ts_literal(last + pd.Timedelta(days=1))) & (ts < _ts_literal(end)))
    day, month = ts.day(), ts.month()
    # dates as YYYYMMDD numbers: the swapped-back date needs no date constructor
    swapped_back = ts.year() * 10000 + day * 100 + month
    swapped = late & _flag(
        (day <= 12) & (day != month) & (swapped_back >= _ymd(first)) & (swapped_back <= _ymd(last))
    )
    return late, swapped, {"first_day": first, "data_end": last}
