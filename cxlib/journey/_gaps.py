"""The session gap chosen from the data: the valley of the inter-event gap distribution.

A customer's consecutive events are either steps of one visit (seconds to hours apart) or
separate visits (days apart); on a log scale the gaps between them form two or more humps. The
gap that ends a session is put in the emptiest part of the valley between the humps of steps and
of visits, so that no threshold has to assume how long a step may take (the sample's store visits
come about 80 minutes after the web step before them, beyond the usual 30-minute web session).

The rule (``docs/journeys.md``): histogram of ``log10(gap in minutes)`` in bins of a tenth of a
decade, smoothed over three bins. The valley is the widest stretch of bins holding under 5% of
the highest bin's count with busier bins on both sides (of equal widths, the longer gaps'); the
session gap is its middle. When no bin is that empty, Otsu's threshold splits the histogram into
a short and a long class and the valley is the emptiest bin between their modes (of equal bins,
the one nearest the threshold), if it holds under half of the smaller mode. The gap is rounded to
two significant digits. With too few gaps or no valley, :data:`FALLBACK_GAP_MINUTES` is used.
Above :data:`MAX_GAP_EVENTS` events the gaps of a fixed subset of the customers (by a hash of
their id) are used, so the choice costs one window pass over at most about that many events.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cxlib.engine import timestamp_literal, window

log = logging.getLogger(__name__)

#: Session gap (minutes) used when the gaps show no valley.
FALLBACK_GAP_MINUTES = 30.0

#: Events whose gaps are histogrammed at most (about): above, a hash-chosen share of customers.
MAX_GAP_EVENTS = 500_000

_BINS_PER_DECADE = 10
_MIN_GAPS = 50
_EPOCH = "1970-01-01 00:00:00"


@dataclass(frozen=True)
class SessionGap:
    """The session gap chosen from the data and what it was chosen from.

    Attributes
    ----------
    minutes : float
        The gap: a longer pause between a customer's events starts a new journey.
    from_data : bool
        True when a valley was found; False when :data:`FALLBACK_GAP_MINUTES` was used.
    share_below : float
        Share of the gaps between a customer's consecutive events shorter than ``minutes``.
    histogram : DataFrame
        ``minutes`` (bin's lower edge) and ``gaps`` (count) per tenth of a decade.
    """

    minutes: float
    from_data: bool
    share_below: float
    histogram: pd.DataFrame


def gap_histogram(events: Any) -> pd.DataFrame:
    """Counts of the gaps between each customer's consecutive events (``customer_id``,
    ``timestamp``), per tenth of a decade of minutes (aggregated in the backend; above
    :data:`MAX_GAP_EVENTS` events, of a hash-chosen share of the customers)."""
    n = int(events.count().execute())
    if n > MAX_GAP_EVENTS:  # the same customers every time: deterministic
        k = -(-n // MAX_GAP_EVENTS)
        events = events.filter(events["customer_id"].cast("string").hash().abs() % k == 0)
    us = events["timestamp"].delta(timestamp_literal(_EPOCH), unit="microsecond")
    e = events.select(customer_id=events["customer_id"], t=us.cast("float64") / 6e7)
    e = e.mutate(gap=e["t"] - e["t"].lag().over(window(group_by="customer_id", order_by="t")))
    e = e.filter(e["gap"] > 0)
    b = (e["gap"].log10() * _BINS_PER_DECADE).floor().cast("int64")
    h = e.group_by(bin=b).aggregate(gaps=e.count()).to_pandas()
    h = h.sort_values("bin")
    return pd.DataFrame(
        {
            "bin": h["bin"].to_numpy(dtype=np.int64),
            "minutes": 10.0 ** (h["bin"].to_numpy(dtype=float) / _BINS_PER_DECADE),
            "gaps": h["gaps"].to_numpy(dtype=np.int64),
        }
    )


def _otsu(counts: np.ndarray) -> int:
    """Index of the last bin of the short class under Otsu's threshold."""
    idx = np.arange(len(counts), dtype=float)
    w0 = np.cumsum(counts)[:-1]
    w1 = counts.sum() - w0
    m0 = np.cumsum(counts * idx)[:-1] / np.maximum(w0, 1)
    m1 = ((counts * idx).sum() - np.cumsum(counts * idx)[:-1]) / np.maximum(w1, 1)
    return int(np.argmax(w0 * w1 * (m0 - m1) ** 2))


def _widest_empty_stretch(smooth: np.ndarray, share: float = 0.05) -> float | None:
    """Middle (in bins) of the widest run of bins under ``share`` of the peak with busier bins
    on both sides (ties: the later run), or None."""
    low = smooth < share * smooth.max()
    edges = np.flatnonzero(np.diff(np.r_[0, low.astype(int), 0]))
    runs = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if a > 0 and b < len(low)]
    if not runs:
        return None
    a, b = max(runs, key=lambda r: (r[1] - r[0], r[0]))
    return (a + b - 1) / 2


def valley_gap(histogram: pd.DataFrame) -> float | None:
    """The session gap (minutes) at the valley of a :func:`gap_histogram`, or None when the
    gaps show no clear valley (see the module's rule)."""
    if histogram["gaps"].sum() < _MIN_GAPS or len(histogram) < 3:
        return None
    lo, hi = int(histogram["bin"].min()), int(histogram["bin"].max())
    counts = np.zeros(hi - lo + 1)
    counts[histogram["bin"].to_numpy() - lo] = histogram["gaps"].to_numpy()
    smooth = np.convolve(np.pad(counts, 1), np.ones(3) / 3, mode="valid")
    wide = _widest_empty_stretch(smooth)
    if wide is not None:
        return float(f"{10.0 ** ((lo + wide + 0.5) / _BINS_PER_DECADE):.2g}")
    cut = _otsu(counts)
    mode_lo = int(np.argmax(smooth[: cut + 1]))
    mode_hi = cut + 1 + int(np.argmax(smooth[cut + 1 :]))
    if mode_hi - mode_lo < 2:
        return None
    between = np.arange(mode_lo + 1, mode_hi)
    depth = smooth[between]
    if depth.min() > 0.5 * min(smooth[mode_lo], smooth[mode_hi]):
        return None
    cand = between[depth == depth.min()]
    best = cand[np.argmin(np.abs(cand - (cut + 0.5)))]
    minutes = 10.0 ** ((lo + best + 0.5) / _BINS_PER_DECADE)
    return float(f"{minutes:.2g}")


def session_gap(events: Any) -> SessionGap:
    """:class:`SessionGap` of an events table (its gaps aggregated in the backend)."""
    hist = gap_histogram(events)
    found = valley_gap(hist)
    minutes = FALLBACK_GAP_MINUTES if found is None else found
    total = int(hist["gaps"].sum())
    below = int(hist.loc[hist["minutes"] < minutes, "gaps"].sum())
    log.info("session gap %s minutes (%s)", minutes, "from the data" if found else "fallback")
    return SessionGap(
        minutes=minutes,
        from_data=found is not None,
        share_below=below / total if total else float("nan"),
        histogram=hist[["minutes", "gaps"]],
    )
