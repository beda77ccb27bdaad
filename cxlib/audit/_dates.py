"""Jumps at the end of a date column: rows dated after a gap, and day/month swaps among them.

A day/month swap in the past (``2026-11-02`` written for 11 February) can date a row months
after the rest of the data; the analysis date, taken from the latest record, would then move
there silently. The audit finds such rows and says where the data really ends.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cxlib.audit._expr import _flag, _ts_literal
from cxlib.contract._dates import data_span


def _ymd(day: pd.Timestamp) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def date_jump(t: Any, col: str, end: pd.Timestamp) -> tuple[Any, Any, dict[str, Any]] | None:
    """Rows dated after the end of the data (:func:`data_span`) but before ``end`` (the end
    of today, or of the as-of date when it is later: later rows are future dates), and the day/month swaps among them: day
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
