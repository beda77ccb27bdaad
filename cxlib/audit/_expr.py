"""Building blocks of the audit's backend (Ibis) expressions and value formatting.

Every table the audit measures is a backend table: a pandas frame handed to it is registered on
an :class:`cxlib.engine.Engine` first (:func:`engine_for` opens one for the call when the caller
gives none), so frames and lazily loaded tables take the same path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from cxlib.engine import (
    ROW_ORDER,
    Engine,
    count_where,
    cumulative_window,
    row_count,
    timestamp_literal,
)


def _columns(df: Any) -> list[str]:
    """The data columns of a pandas frame or backend table (without :data:`ROW_ORDER`)."""
    return [c for c in df.columns if c != ROW_ORDER]


@contextmanager
def engine_for(engine: Engine | None) -> Iterator[Engine]:
    """``engine``, or a new :class:`~cxlib.engine.Engine` for the ``with`` block (closed at
    its end) when none is given."""
    if engine is not None:
        yield engine
        return
    with Engine() as own:
        yield own


def _n_rows(t: Any) -> int:
    return int(t.count().execute())


_ts_literal = timestamp_literal


def _flag(expr: Any) -> Any:
    """A boolean backend expression with missing (NULL) read as False, as pandas masks do."""
    return expr.fill_null(False)


#: ``audit.refund_rule`` values: which rows are refunds (a cancellation prefix in
#: ``transaction_id`` always makes one).
REFUND_RULES: dict[str, str] = {
    "evidence": "a negative amount with a negative quantity or equal to an earlier purchase by "
    "the same customer",
    "negative_amount": "any negative amount",
}


def refund_flags(t: Any, rule: str = "evidence", prefix: str | None = "C") -> tuple[Any, Any]:
    """Refunds of a transactions table and the negative amounts that are not refunds.

    ``evidence``: a negative amount is a refund when something says so: a negative quantity,
    or an earlier (or same-time) purchase of the same customer for exactly that amount (to the
    cent), so a refund with a positive or missing quantity counts when it returns a purchase;
    ``negative_amount``: every negative amount is. Either way a negative amount whose
    ``transaction_id`` starts with ``prefix`` and a digit (a cancellation invoice, e.g.
    ``C536379``) is a refund whatever its quantity; a positive amount is never a refund, so a
    system whose ordinary ids start with ``C`` is not misread.

    Returns
    -------
    (refund, unmatched) : boolean backend expressions over ``t``
    """
    if rule not in REFUND_RULES:
        raise ValueError(f"audit.refund_rule {rule!r} is not one of {', '.join(REFUND_RULES)}")
    neg = _flag(t.amount < 0)
    cancel = _no_row(t)
    if prefix and "transaction_id" in t.columns:
        pattern = f"^{re.escape(str(prefix))}[0-9]"
        cancel = _flag(t.transaction_id.cast("string").re_search(pattern))
    if rule == "negative_amount":
        return neg, _no_row(t)
    buys = t.filter(t.amount > 0).select(
        _cx_cid=t.customer_id, _cx_amount=t.amount, _cx_ts=t.timestamp
    )
    refunds = t.filter(t.amount < 0).select(
        t[ROW_ORDER], t.customer_id, _cx_back=-t.amount, _cx_at=t.timestamp
    )
    hit = refunds.join(
        buys,
        [
            refunds.customer_id == buys._cx_cid,
            (refunds._cx_back - buys._cx_amount).abs() < 0.005,
            buys._cx_ts <= refunds._cx_at,
        ],
    ).select(ROW_ORDER)
    matched = _flag(t[ROW_ORDER].isin(hit[ROW_ORDER]))
    if "quantity" in t.columns:
        matched = matched | _flag(t.quantity < 0)
    refund = neg & (matched | cancel)
    return refund, neg & ~refund


def _count_true(expr: Any) -> Any:
    return count_where(_flag(expr))


def _no_row(t: Any) -> Any:
    """A boolean column of a backend table that is False on every row."""
    return t[ROW_ORDER].isnull()


def _present(t: Any, col: str) -> Any:
    """Non-missing values of a backend column (NULL, and NaN in float columns, are missing)."""
    c = t[col]
    ok = c.notnull()
    if t.schema()[col].is_floating():
        ok = ok & ~c.isnan().fill_null(True)
    return ok


def _int(v: Any) -> int:
    return 0 if v is None or pd.isna(v) else int(v)


def _float(v: Any) -> float:
    return 0.0 if v is None or pd.isna(v) else float(v)


def _timestamp(v: Any) -> pd.Timestamp:
    """A backend timestamp as pandas gives it for the contract's ``datetime64[ns]`` columns."""
    return pd.NaT if v is None or pd.isna(v) else pd.Timestamp(v).as_unit("ns")


def _kind(dtype: Any) -> str:
    if dtype.is_boolean():
        return "yes/no"
    if dtype.is_timestamp() or dtype.is_date():
        return "date/time"
    if dtype.is_integer():
        return "whole number"
    if dtype.is_numeric():
        return "number"
    return "text"


def _scalar(dtype: Any, v: Any) -> Any:
    """A backend min/max as a Python/NumPy value (timestamps as pandas ``Timestamp``)."""
    if v is None or pd.isna(v):
        return v
    if dtype.is_timestamp() or dtype.is_date():
        return pd.Timestamp(v)
    if dtype.is_integer():
        return np.int64(v)
    if dtype.is_floating():
        return np.float64(v)
    return v


def linear_percentile(stat: Any, n: int, q: float) -> float:
    """The ``q`` quantile (0-1) of ``n`` values as ``numpy.percentile`` computes it (method
    ``linear``, the same floating-point steps), from ``stat(k)``: the k-th smallest value
    (0-based). Lets a backend give NumPy's quartiles exactly from two order statistics."""
    vi = np.float64(n - 1) * np.float64(q)
    if vi >= n - 1:
        return float(np.float64(stat(n - 1)))
    lo = int(np.floor(vi))
    a, b = np.float64(stat(lo)), np.float64(stat(lo + 1))
    g = vi - np.float64(lo)
    diff = b - a
    return float(b - diff * (1 - g) if g >= 0.5 else a + diff * g)


def _order_statistics(t: Any, col: str, ks: Iterable[int]) -> dict[int, float]:
    """The k-th smallest non-missing values (0-based) of a backend column, in one query over
    its value counts (a cumulative count over the distinct values: no sort of the rows)."""
    ks = sorted(set(int(k) for k in ks))
    vals = t.filter(_present(t, col)).group_by(col).aggregate(_cx_n=row_count())
    vals = vals.mutate(_cx_cum=vals._cx_n.sum().over(cumulative_window(order_by=vals[col])))
    got = vals.aggregate(
        **{f"k{i}": vals[col].min(where=vals._cx_cum > k) for i, k in enumerate(ks)}
    ).to_pandas()
    return {k: float(got[f"k{i}"].iloc[0]) for i, k in enumerate(ks)}


def _fmt(v: Any) -> str:
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M") if (v.hour or v.minute) else v.strftime("%Y-%m-%d")
    if isinstance(v, float | np.floating):
        return f"{v:,.2f}"
    return str(v)
