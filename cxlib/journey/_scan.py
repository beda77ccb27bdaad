"""Journeys, runs and friction flags from one sorted scan of the events.

The backend sorts the events once, per customer by journey key, time and row, and hands back
their numbers (no text but the customer id); every counter of
:func:`cxlib.journey.build_journeys` then follows from comparing each event with its neighbour in
that order (NumPy on the sorted arrays):

- a **journey** starts at a customer's first event, where the journey id changes, after a gap
  longer than the session gap (events without a journey id), and after a conversion;
- a **run** (a step when repeats are collapsed) starts with a journey or where the touchpoint
  changes;
- a run's friction flags compare it with the runs before and after it in its journey, and a
  journey's attributes aggregate its runs.

The runs (and, when repeats are kept, the event-level steps) go back to the backend as a table
of the engine, where every journey analysis aggregates them. One pass over sorted arrays replaces
the window functions that needed several sorts of the events: at 5 M events the build takes
about a third of their CPU time (``benchmarks/RESULTS.md``). The sorted events are held in
memory once (about 40 bytes an event plus the customer ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cxlib.engine import ROW_ORDER, literal, timestamp_literal

_EPOCH = "1970-01-01 00:00:00"

#: "No such position" in the per-journey minima (a NULL of a query).
_NONE = np.iinfo(np.int64).max

_FLAGS = ("is_conv", "is_dig", "is_contact", "is_mapped", "is_entry")


@dataclass(frozen=True)
class TouchpointFlags:
    """Per touchpoint code: conversion, digital, assisted-service contact, mapped by the user's
    ``type_map``, entry touchpoint (boolean arrays indexed by code)."""

    is_conv: np.ndarray
    is_dig: np.ndarray
    is_contact: np.ndarray
    is_mapped: np.ndarray
    is_entry: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> TouchpointFlags:
        """From the touchpoint table (codes 0 … k − 1 in row order, one column per flag)."""
        return cls(*(frame[c].to_numpy(dtype=bool) for c in _FLAGS))


def journey_keys(events: Any) -> Any:
    """Per journey id: its first row ``jk`` (:data:`~cxlib.engine.ROW_ORDER`), the key that
    keeps a journey's events together and orders a customer's journeys."""
    with_id = events.filter(events["journey_id"].notnull())
    return with_id.group_by(jid=with_id["journey_id"].cast("string")).aggregate(
        jk=with_id[ROW_ORDER].min()
    )


def sorted_events(events: Any, touchpoints: Any, keys: Any | None) -> Any:
    """The events as the scan reads them, sorted per customer by journey key, time and row.

    Parameters
    ----------
    events : Ibis table
        With the stripped touchpoint name ``cx_tp`` and :data:`~cxlib.engine.ROW_ORDER`.
    touchpoints : Ibis table
        ``cx_tp`` → code ``tp``.
    keys : Ibis table, optional
        :func:`journey_keys` (None: sessions only).

    Returns
    -------
    Ibis table
        Events with a touchpoint and a time: ``customer_id`` (text), ``jk`` (−1 without a journey id), ``us`` (microseconds since
        the epoch), ``tp``, ``value`` (0 when missing), in scan order.
    """
    ev = events.join(touchpoints, "cx_tp")  # an event without a touchpoint is left out
    ev = ev.filter(ev["timestamp"].notnull())  # as is an event without a time
    if keys is not None:
        ev = ev.mutate(jid=ev["journey_id"].cast("string")).left_join(keys, "jid")
        jk = ev["jk"].fill_null(-1)
    else:
        jk = literal(-1, "int64")
    value = (
        ev["value"].cast("float64").fill_null(0.0) if "value" in events.columns else literal(0.0)
    )
    ev = ev.select(
        customer_id=ev["customer_id"].cast("string"),
        jk=jk.cast("int64"),
        us=ev["timestamp"].delta(timestamp_literal(_EPOCH), unit="microsecond").cast("int64"),
        tp=ev["tp"],
        value=value,
        row=ev[ROW_ORDER],
    )
    return ev.order_by(["customer_id", "jk", "us", "row"]).drop("row")


@dataclass
class Scan:
    """What one scan of the sorted events gives.

    Attributes
    ----------
    journeys : dict of arrays
        One entry per journey, in the order of their numbers: ``customer_id`` (Arrow text),
        ``jk``, ``start``, ``end``, ``t_start``, ``t_end``, ``e0`` (events), the friction
        candidates ``retry_pos``, ``loop_pos``, ``contact_pos``, and ``n_steps``, ``converted``,
        ``value``, ``has_retry``, ``n_revisits``, ``n_contacts``, ``n_repeat_contacts``,
        ``first_tp``, ``entry_nc``, ``last_nc``, ``mapped_tp``, ``intent_tp`` (−1: none),
        ``max_pos``.
    runs : dict of arrays
        One entry per run, in journey and position order (see :func:`runs_table`).
    run_start : array
        Each journey's first run (an index into the runs).
    events : dict of arrays
        The sorted events with their journey number, for event-level steps.
    """

    journeys: dict[str, Any]
    runs: dict[str, Any]
    run_start: np.ndarray
    events: dict[str, Any]


def _prev(a: np.ndarray, fill: Any) -> np.ndarray:
    """``a`` shifted one place later (``fill`` first)."""
    out = np.empty_like(a)
    out[0] = fill
    out[1:] = a[:-1]
    return out


def _next(a: np.ndarray, fill: Any) -> np.ndarray:
    """``a`` shifted one place earlier (``fill`` last)."""
    out = np.empty_like(a)
    out[-1] = fill
    out[:-1] = a[1:]
    return out


def _new_customer(customers: Any) -> np.ndarray:
    """True where a customer's events begin (the events sorted by customer; missing ids are one
    customer of their own)."""
    ids = customers.combine_chunks()
    n = len(ids)
    new = np.ones(n, dtype=bool)
    if n > 1:
        this, before = ids.slice(1), ids.slice(0, n - 1)
        same = pc.or_(
            pc.fill_null(pc.equal(this, before), False),
            pc.and_(pc.is_null(this), pc.is_null(before)),
        )
        new[1:] = ~same.to_numpy(zero_copy_only=False)
    return new


def minutes(us: np.ndarray) -> np.ndarray:
    """Minutes since the epoch from microseconds (the same arithmetic as the backend's)."""
    return (us * 1000).astype(np.float64) / 6e10


def scan_events(
    table: Any,
    flags: TouchpointFlags,
    *,
    session_gap_minutes: float,
    contact_window_minutes: float,
    collapse_repeats: bool,
) -> Scan:
    """Journeys and runs of the sorted events ``table`` (an Arrow table of :func:`sorted_events`)."""
    tp = table.column("tp").to_numpy().astype(np.int64, copy=False)
    us = table.column("us").to_numpy()
    t = minutes(us)
    jk = table.column("jk").to_numpy()
    conv = flags.is_conv[tp]
    new_customer = _new_customer(table.column("customer_id"))
    brk = (
        new_customer
        | (jk != _prev(jk, -1))
        | ((jk < 0) & ((t - _prev(t, np.nan)) > float(session_gap_minutes)))
        | (_prev(conv, False) & ~conv)
    )
    brk[0] = True
    rbrk = brk | (tp != _prev(tp, -1))
    journey = np.cumsum(brk) - 1
    customer = np.cumsum(new_customer) - 1
    jstart = np.flatnonzero(brk)  # each journey's first event
    rstart = np.flatnonzero(rbrk)  # each run's first event
    value = table.column("value").to_numpy()
    runs, run_start = _runs(
        tp, t, us, value, journey, jstart, rstart, flags, contact_window_minutes
    )
    runs["customer"] = customer[rstart]
    runs["is_retry"] = (runs["repeats"] > 1) & ~runs["is_conversion"] & (not collapse_repeats)
    journeys = _journey_aggregates(runs, run_start)
    jend = np.r_[jstart[1:], len(t)] - 1
    journeys.update(
        customer_id=table.column("customer_id").take(jstart),
        jk=jk[jstart],
        start=us[jstart].astype("datetime64[us]"),
        end=us[jend].astype("datetime64[us]"),
        t_start=t[jstart],
        t_end=t[jend],
        e0=jend - jstart + 1,
    )
    events = {
        "journey": journey,
        "customer": customer,
        "tp": tp,
        "t": t,
        "us": us,
        "value": value,
        "is_conversion": conv,
        "jstart": jstart,
    }
    return Scan(journeys=journeys, runs=runs, run_start=run_start, events=events)


def _seen_before(key: np.ndarray) -> np.ndarray:
    """True where ``key`` occurred at an earlier index (a stable sort of keys that are nearly
    sorted already: twice as fast as hashing them)."""
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    seen = np.ones(len(key), dtype=bool)
    seen[order[first]] = False
    return seen


def _runs(
    tp: np.ndarray,
    t: np.ndarray,
    us: np.ndarray,
    value: np.ndarray,
    journey: np.ndarray,
    jstart: np.ndarray,
    rstart: np.ndarray,
    flags: TouchpointFlags,
    contact_window_minutes: float,
) -> tuple[dict[str, Any], np.ndarray]:
    """One entry per run of repeats, with its position and friction flags; and each journey's
    first run."""
    rend = np.r_[rstart[1:], len(tp)]
    r_j = journey[rstart]
    r_tp = tp[rstart]
    # every journey starts a run: a run's position counts the runs since its journey's first
    run_start = np.searchsorted(rstart, jstart)
    pos = np.arange(len(rstart)) - run_start[r_j]
    is_conv, is_dig = flags.is_conv[r_tp], flags.is_dig[r_tp]
    is_contact = flags.is_contact[r_tp]
    is_revisit = _seen_before(r_j * np.int64(len(flags.is_conv) + 1) + r_tp) & ~is_conv
    t0, t1 = t[rstart], t[rend - 1]
    same_prev = np.r_[False, r_j[1:] == r_j[:-1]]
    same_next = np.r_[r_j[:-1] == r_j[1:], False]
    first_dig = np.minimum.reduceat(np.where(is_dig, pos, _NONE), run_start)[r_j]
    p_dig = _prev(is_dig, False) & same_prev
    n_t0 = np.where(same_next, _next(t0, np.nan), np.nan)
    within = float(contact_window_minutes)
    with np.errstate(invalid="ignore"):
        rep = (
            is_contact
            & same_prev
            & (pos > first_dig)
            & ((t0 - _prev(t1, np.nan)) <= within)
            & (p_dig | (_prev(is_contact, False) & same_prev))
        )
        next_rep = (
            _next(is_contact, False)
            & same_next
            & ((pos + 1) > first_dig)
            & ((n_t0 - t1) <= within)
            & (is_dig | is_contact)
        )
    runs = {
        "journey": r_j,
        "tp": r_tp,
        "t0": t0,
        "t1": t1,
        "repeats": rend - rstart,
        "value": np.add.reduceat(value, rstart),
        "us": us[rstart],
        "is_dig": is_dig,
        "is_mapped": flags.is_mapped[r_tp],
        "is_entry": flags.is_entry[r_tp],
        "is_conversion": is_conv,
        "is_contact": is_contact,
        "pos": pos,
        "is_revisit": is_revisit,
        "n_tp": (_next(r_tp, -1), same_next),
        "n_conv": (_next(is_conv, False), same_next),
        "goes_back": _next(is_revisit, False) & same_next,
        "repeat_contact": rep,
        "contact_cand": rep & p_dig,
        "next_repeat_contact": next_rep,
        "minutes_to_next": n_t0 - t1,
    }
    return runs, run_start


def _first_tp(cond: np.ndarray, starts: np.ndarray, tp: np.ndarray) -> np.ndarray:
    """Per journey (``starts`` of its runs): the touchpoint of its first run where ``cond``,
    −1 when none."""
    idx = np.minimum.reduceat(np.where(cond, np.arange(len(cond)), _NONE), starts)
    return np.where(idx != _NONE, tp[np.minimum(idx, len(tp) - 1)], -1)


def _min_pos(cond: np.ndarray, starts: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Per journey: the smallest ``pos`` of its runs where ``cond``, NaN when none."""
    got = np.minimum.reduceat(np.where(cond, pos, _NONE), starts)
    return np.where(got == _NONE, np.nan, got.astype(float))


def _journey_aggregates(runs: dict[str, Any], run_start: np.ndarray) -> dict[str, Any]:
    """Per journey: the friction candidates, counts and first/last touchpoints of its runs."""
    pos, rtp, conv = runs["pos"], runs["tp"], runs["is_conversion"]
    nc = ~conv
    last_nc = np.maximum.reduceat(np.where(nc, np.arange(len(pos)), -1), run_start)

    def count(flag: np.ndarray) -> np.ndarray:
        return np.add.reduceat(flag.astype(np.int64), run_start)

    return {
        "retry_pos": _min_pos(runs["is_retry"], run_start, pos),
        "loop_pos": _min_pos(runs["goes_back"], run_start, pos),
        "contact_pos": _min_pos(runs["contact_cand"], run_start, pos - 1),
        "n_steps": count(nc),
        "converted": np.logical_or.reduceat(conv, run_start),
        "value": np.add.reduceat(np.where(conv, runs["value"], 0.0), run_start),
        "has_retry": np.logical_or.reduceat(runs["is_retry"], run_start),
        "n_revisits": count(runs["is_revisit"]),
        "n_contacts": count(runs["is_contact"]),
        "n_repeat_contacts": count(runs["repeat_contact"]),
        "first_tp": rtp[run_start],
        "entry_nc": _first_tp(nc, run_start, rtp),
        "last_nc": np.where(last_nc >= 0, rtp[np.maximum(last_nc, 0)], -1),
        "mapped_tp": _first_tp(runs["is_mapped"], run_start, rtp),
        "intent_tp": _first_tp(nc & ~runs["is_entry"], run_start, rtp),
        "max_pos": np.maximum.reduceat(pos, run_start),
    }


def _masked(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """An Arrow array with a null where ``valid`` is False."""
    return pa.array(values, mask=~np.asarray(valid, dtype=bool))


def _timestamps(us: np.ndarray) -> pa.Array:
    return pa.array(us, type=pa.timestamp("us"))


def _attribute_columns(journey: np.ndarray, attrs: dict[str, np.ndarray]) -> dict[str, Any]:
    """The journey attributes ``jtype``, ``jconv``, ``jlast``, ``jloop`` (NaN: none) and
    ``jvalue`` of each row's journey."""
    loop = attrs["jloop"][journey]
    ok = ~np.isnan(loop)
    return {
        "jtype": attrs["jtype"][journey],
        "jconv": attrs["jconv"][journey],
        "jlast": attrs["jlast"][journey],
        "jloop": _masked(np.where(ok, loop, 0).astype(np.int64), ok),
        "jvalue": attrs["jvalue"][journey],
    }


#: The columns of ``JourneyData.runs``, in order (``customer``: the customer's number).
RUN_COLUMNS = (
    "journey", "customer", "tp", "t0", "t1", "repeats", "value", "timestamp", "is_dig",
    "is_mapped", "is_entry", "is_conversion", "is_contact", "pos", "is_revisit", "n_tp", "n_conv",
    "goes_back", "is_retry", "repeat_contact", "contact_cand", "next_repeat_contact",
    "minutes_to_next",
)  # fmt: skip


def runs_table(scan: Scan, attrs: dict[str, np.ndarray]) -> pa.Table:
    """The runs with their journey's attributes, as ``JourneyData.runs`` holds them (a null
    where there is no next run)."""
    r = dict(scan.runs)
    for c in ("n_tp", "n_conv"):
        r[c] = _masked(*r[c])
    gap = r["minutes_to_next"]
    r["minutes_to_next"] = _masked(np.nan_to_num(gap), ~np.isnan(gap))
    r["timestamp"] = _timestamps(r["us"])
    columns = {c: r[c] for c in RUN_COLUMNS}
    return pa.table({**columns, **_attribute_columns(r["journey"], attrs)})


def event_steps_table(scan: Scan, attrs: dict[str, np.ndarray]) -> pa.Table:
    """One step per event (``collapse_repeats=False``), with the journey attributes."""
    e = scan.events
    j = e["journey"]
    same_next = np.r_[j[:-1] == j[1:], False]
    return pa.table(
        {
            "journey": j,
            "customer": e["customer"],
            "tp": e["tp"],
            "timestamp": _timestamps(e["us"]),
            "value": e["value"],
            "t0": e["t"],
            "repeats": np.ones(len(j), dtype=np.int64),
            "is_conversion": e["is_conversion"],
            "pos": np.arange(len(j)) - e["jstart"][j],
            "n_tp": _masked(_next(e["tp"], -1), same_next),
            "n_conv": _masked(_next(e["is_conversion"], False), same_next),
            **_attribute_columns(j, attrs),
        }
    )
