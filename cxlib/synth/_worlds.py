"""Worlds beyond the BG/NBD generator (``cx synth --world``): seasonal buying, gradual decline.

The default world is the BG/NBD story of :mod:`cxlib.synth._purchases`, which the churn models
themselves assume. Two more worlds test them out of their family; people, records, feedback,
campaign and journeys are simulated as in the default world, only the purchases differ:

- ``seasonal``: the purchase intensity of every person is multiplied by a yearly cycle
  ``1 + SEASON_AMPLITUDE * cos(2 pi (day - peak) / 365.25)`` (highest around ``SEASON_PEAK``,
  lowest half a year later); dropout as in the default world (after each repeat purchase,
  with probability ``p_drop``).
- ``decline``: nobody drops out at once; each person's intensity decays from their first
  purchase as ``exp(-(day - first) / tau)``, with ``tau`` the expected lifetime of the default
  world's person (``1 / (lam * p_drop)`` days) times log-normal noise. Not a BG/NBD process.

Both keep the weekly pattern and name the app channel after the phone (``iOS``/``Android``),
never ``app``. Events are simulated by thinning: a Poisson process at the highest intensity of
the person, each event kept with probability intensity / highest. The truth is the same as in
the default world: ``p_lapse_90d`` is the probability of no purchase in the 90 days after the
data end given the person's true rates and their purchases up to the end (the quantity
``churn_probability`` estimates), ``p_alive_at_end`` the probability that they have not dropped
out (1 in the decline world, where nobody does).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from cxlib.synth._clock import calendar_time, op_time, week_masses
from cxlib.synth._purchases import (
    _DAY_S,
    _purchase_rows,
    _repeat_purchases,
    _segment_starts,
    make_transactions,
)

WORLDS: tuple[str, ...] = ("default", "seasonal", "decline")
#: Channel names of the worlds other than the default (codes: store, web, iOS, Android).
WORLD_CHANNELS: tuple[str, ...] = ("store", "web", "iOS", "Android")
IOS_SHARE = 0.55  # app users on iOS; the others on Android
SEASON_AMPLITUDE = 0.5
SEASON_PEAK = pd.Timestamp("2024-12-10")  # and every 365.25 days from it
DECLINE_NOISE_SD = 0.5  # sd of log(tau) around log(1 / (lam * p_drop))
_STEPS = 120  # midpoint rule for the integrated intensity (steps of at most a week)


def _multiplier(world: str, u: np.ndarray, rows: np.ndarray, w: dict[str, np.ndarray]):
    """Intensity relative to the default world's at calendar days ``u`` of persons ``rows``."""
    if world == "seasonal":
        phase = 2.0 * np.pi * (u - w["peak_u"]) / 365.25
        return 1.0 + SEASON_AMPLITUDE * np.cos(phase)
    return np.exp(-np.maximum(u - w["u0"][rows], 0.0) / w["tau"][rows])


def _expected_purchases(
    world: str, a: np.ndarray, b: np.ndarray, lam: np.ndarray, masses, w
) -> np.ndarray:
    """Expected purchases of each person from calendar day ``a`` to ``b`` (midpoint rule over
    the default world's integrated intensity, which carries the weekly pattern)."""
    c = len(lam)
    grid = a[:, None] + (b - a)[:, None] * np.linspace(0.0, 1.0, _STEPS + 1)[None, :]
    rows = np.repeat(np.arange(c), _STEPS + 1)
    s = op_time(grid.ravel(), rows, lam, masses).reshape(c, _STEPS + 1)
    mid = 0.5 * (grid[:, 1:] + grid[:, :-1])
    m = _multiplier(world, mid.ravel(), np.repeat(np.arange(c), _STEPS), w).reshape(c, _STEPS)
    return (m * np.diff(s, axis=1)).sum(axis=1)


def _simulate_world_chunk(
    world: str,
    p: dict[str, np.ndarray],
    rng: np.random.Generator,
    anchor: pd.Timestamp,
    end_s: int,
    h_s: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Purchases of one chunk of people in ``world``: rows and per-person truth (the outputs of
    :func:`cxlib.synth._purchases._simulate_chunk`)."""
    c = len(p["lam"])
    rows = np.arange(c)
    lam = p["lam"]
    masses = week_masses(p["weekend_share"], p["tod"])
    u0 = p["first_s"] / _DAY_S
    u_end, u_h = np.full(c, end_s / _DAY_S), np.full(c, h_s / _DAY_S)
    w = {
        "u0": u0,
        "peak_u": (SEASON_PEAK - anchor) / pd.Timedelta(days=1),
        "tau": np.exp(rng.normal(0.0, DECLINE_NOISE_SD, c)) / (lam * p["p_drop"]),
    }
    android = rng.random(c) >= IOS_SHARE
    top = 1.0 + SEASON_AMPLITUDE if world == "seasonal" else 1.0
    # candidates at the highest intensity, kept with probability intensity / highest
    s0 = op_time(u0, rows, lam * top, masses)
    s_h = op_time(u_h, rows, lam * top, masses)
    cp, cs = _repeat_purchases(s0, s_h, np.full(c, np.iinfo(np.int64).max // 4), rng)
    cu = calendar_time(cs, cp, lam * top, p["weekend_share"], p["tod"])
    keep = rng.random(len(cu)) * top < _multiplier(world, cu, cp, w)
    rp, ru = cp[keep], cu[keep]
    n_repeat = np.full(c, np.iinfo(np.int64).max)
    if world == "seasonal":  # dropout after a repeat purchase, as in the default world
        n_repeat = rng.geometric(p["p_drop"])
        rank = np.arange(len(rp)) - _segment_starts(np.bincount(rp, minlength=c))[rp] + 1
        rp, ru = rp[rank <= n_repeat[rp]], ru[rank <= n_repeat[rp]]
    n_rep = np.bincount(rp, minlength=c)
    start = _segment_starts(n_rep + 1)
    pos = start[rp] + 1 + (np.arange(len(rp)) - _segment_starts(n_rep)[rp])
    person = np.empty(len(rp) + c, dtype=np.int64)
    ts = np.empty(len(rp) + c, dtype=np.int64)
    person[start], ts[start] = rows, p["first_s"]
    person[pos], ts[pos] = rp, np.floor(ru * _DAY_S).astype(np.int64)

    obs = ts < end_s
    n_obs = np.bincount(person[obs], minlength=c)
    n_hz = np.bincount(person[~obs & (ts < h_s)], minlength=c)
    last_s = ts[start + n_obs - 1]
    x = n_obs - 1
    ahead = _expected_purchases(world, u_end, u_h, lam, masses, w)
    p_alive = np.ones(c)
    if world == "seasonal":
        gap = _expected_purchases(world, last_s / _DAY_S, u_end, lam, masses, w)
        surv = (1.0 - p["p_drop"]) * np.exp(-gap)
        p_alive = np.where(x == 0, 1.0, surv / (surv + p["p_drop"]))
    truth = {
        "n_repeat_obs": x,
        "t_x_days": (last_s - p["first_s"]) / _DAY_S,
        "T_days": (end_s - p["first_s"]) / _DAY_S,
        "expected_purchases_90d_if_alive": ahead,
        "p_alive_at_end": p_alive,
        "p_lapse_90d": 1.0 - p_alive * -np.expm1(-ahead),
        "lapsed_90d": n_hz == 0,
        "purchases_next_90d": n_hz,
        "alive_at_end": n_repeat > x,
        "last_s": last_s,
        "n_obs": n_obs,
    }
    out, truth["complaint_s"], truth["total_spend"], lines_truth = _purchase_rows(
        p, person[obs], ts[obs], n_obs, rng, end_s
    )
    truth.update(lines_truth)
    # the app is a phone: iOS (code 2) or Android (code 3), one per person and their records
    size = max(int(p["primary_pos"].max()), int(p["secondary_pos"].max()), int(out["rec"].max()))
    rec_android = np.zeros(size + 1, dtype=bool)
    rec_android[p["primary_pos"]] = android
    has = p["has_secondary"]
    rec_android[p["secondary_pos"][has]] = android[has]
    phone = (out["channel"] == 2) & rec_android[out["rec"]]
    out["channel"] = np.where(phone, 3, out["channel"]).astype(np.int8)
    return out, truth


def make_world_transactions(world: str, people, customers, rng, start, end, **kwargs):
    """:func:`cxlib.synth._purchases.make_transactions` in ``world`` (one of :data:`WORLDS`
    other than ``default``); ``kwargs`` go to it."""
    if world not in WORLDS[1:]:
        raise ValueError(f"unknown world {world!r}; choose one of {', '.join(WORLDS)}")
    return make_transactions(
        people,
        customers,
        rng,
        start,
        end,
        simulate_chunk=partial(_simulate_world_chunk, world),
        channels=WORLD_CHANNELS,
        **kwargs,
    )
