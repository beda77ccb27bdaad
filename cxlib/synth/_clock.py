"""The weekly intensity pattern and the operational-time transform (the simulation clock).

Time is handled as float days since ``ANCHOR`` (a Monday). Each person buys as a Poisson process
whose intensity follows a weekly pattern (their weekend share and time-of-day shares), with average
rate ``lam`` purchases per day; after every *repeat* purchase they drop out for good with
probability ``p_drop`` (the BG/NBD story of Fader, Hardie & Lee, 2005). The process is simulated in
"operational time" (the integrated intensity), where it is a unit-rate Poisson process, and mapped
back to calendar time through the inverse of the person's integrated intensity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Pieces of a day: (start hour, end hour, time-of-day index or -1 for "no purchases"). The
# boundaries agree with cxlib.features.TIME_OF_DAY_BINS (night = 22:00-04:59).
DAY_PIECES = (
    (0.0, 2.0, 3),
    (2.0, 7.0, -1),
    (7.0, 12.0, 0),
    (12.0, 17.0, 1),
    (17.0, 22.0, 2),
    (22.0, 24.0, 3),
)
_P = len(DAY_PIECES)
_PIECE_START_H = np.array([p[0] for p in DAY_PIECES])
_PIECE_LEN_H = np.array([p[1] - p[0] for p in DAY_PIECES])
_PIECE_TOD = np.array([p[2] for p in DAY_PIECES])
# share of a time-of-day's purchases that falls in each piece (by length within the bin)
_PIECE_TOD_FRAC = np.array(
    [
        (p[1] - p[0]) / _PIECE_LEN_H[_PIECE_TOD == p[2]].sum() if p[2] >= 0 else 0.0
        for p in DAY_PIECES
    ]
)
# week = 7 days x _P pieces, Monday first
WEEK_PIECE_START = (np.arange(7)[:, None] + _PIECE_START_H[None, :] / 24.0).ravel()  # days
WEEK_PIECE_LEN = np.tile(_PIECE_LEN_H / 24.0, 7)  # days
WEEK_PIECE_DAY = np.repeat(np.arange(7), _P)
WEEK_PIECE_TOD = np.tile(_PIECE_TOD, 7)


def anchor_for(start: pd.Timestamp) -> pd.Timestamp:
    """The Monday on or before ``start``: day 0 of the simulation clock."""
    start = pd.Timestamp(start).normalize()
    return start - pd.Timedelta(days=int(start.day_of_week))


def week_masses(weekend_share: np.ndarray, tod_shares: np.ndarray) -> np.ndarray:
    """Share of a person's weekly purchases in each of the 7 x ``_P`` week pieces.

    Parameters
    ----------
    weekend_share : array (n,)
        Share of purchases on Saturday and Sunday.
    tod_shares : array (n, 4)
        Shares of morning, afternoon, evening and night.

    Returns
    -------
    array (n, 7 * _P), rows summing to 1.
    """
    w = np.asarray(weekend_share, dtype=float)
    day = np.where(np.arange(7)[None, :] >= 5, w[:, None] / 2.0, (1.0 - w[:, None]) / 5.0)
    tod_ext = np.concatenate([tod_shares, np.zeros((len(w), 1))], axis=1)  # index -1 -> 0
    piece = tod_ext[:, _PIECE_TOD] * _PIECE_TOD_FRAC[None, :]  # (n, _P)
    return (day[:, :, None] * piece[:, None, :]).reshape(len(w), 7 * _P)


def _week_cum(masses: np.ndarray) -> np.ndarray:
    """Cumulative mass at the start of each week piece, shape (n, 7 * _P)."""
    return np.cumsum(masses, axis=1) - masses


def op_time(u: np.ndarray, rows: np.ndarray, lam: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Integrated intensity Lambda(u) = expected purchases from day 0 to calendar time ``u``.

    ``rows`` indexes the person of each element of ``u`` in ``lam`` and ``masses``.
    """
    u = np.asarray(u, dtype=float)
    weeks = np.floor(u / 7.0)
    r = u - 7.0 * weeks
    piece = np.clip(np.searchsorted(WEEK_PIECE_START, r, side="right") - 1, 0, 7 * _P - 1)
    cum = _week_cum(masses)
    m = masses[rows, piece]
    within = np.clip((r - WEEK_PIECE_START[piece]) / WEEK_PIECE_LEN[piece], 0.0, 1.0)
    g = cum[rows, piece] + m * within
    return 7.0 * lam[rows] * (weeks + g)


def _day_cum(tod_shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per person: share of a day's purchases in each day piece and its cumulative start."""
    tod_ext = np.concatenate([tod_shares, np.zeros((len(tod_shares), 1))], axis=1)
    piece = tod_ext[:, _PIECE_TOD] * _PIECE_TOD_FRAC[None, :]
    return piece, np.cumsum(piece, axis=1) - piece


def calendar_time(
    s: np.ndarray,
    rows: np.ndarray,
    lam: np.ndarray,
    weekend_share: np.ndarray,
    tod_shares: np.ndarray,
) -> np.ndarray:
    """Inverse of :func:`op_time`: calendar day ``u`` (float days since the anchor) of
    operational times ``s`` (``rows`` = person of each element).

    Closed form: the week fraction gives the weekday (Monday-Friday each hold ``(1 - w) / 5`` of
    the week's purchases, Saturday and Sunday ``w / 2``), the rest of it the piece of the day.
    """
    wk = np.asarray(s, dtype=float) / (7.0 * lam[rows])
    weeks = np.floor(wk)
    frac = wk - weeks
    w = weekend_share[rows]
    a = (1.0 - w) / 5.0
    b = w / 2.0
    weekday = frac < 5.0 * a
    day = np.where(weekday, np.floor(frac / a), 5.0 + np.floor((frac - 5.0 * a) / b))
    day = np.clip(day, 0.0, 6.0)
    day_start = np.where(day < 5, day * a, 5.0 * a + (day - 5.0) * b)
    f = np.clip((frac - day_start) / np.where(day < 5, a, b), 0.0, 1.0 - 1e-12)
    piece_mass, piece_cum = _day_cum(tod_shares)
    piece = np.zeros(len(f), dtype=np.int64)
    for k in range(1, _P):
        piece += f >= piece_cum[rows, k]
    m = piece_mass[rows, piece]
    within = np.where(m > 0, (f - piece_cum[rows, piece]) / np.where(m > 0, m, 1.0), 0.0)
    within = np.clip(within, 0.0, 1.0 - 1e-9)
    return 7.0 * weeks + day + (_PIECE_START_H[piece] + within * _PIECE_LEN_H[piece]) / 24.0
