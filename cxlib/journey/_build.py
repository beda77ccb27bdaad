"""Building journeys from events, in the backend (one set of Ibis expressions).

The definitions (journey, step, journey type, friction signals) are in :mod:`cxlib.journey` and
``docs/journeys.md``. A pandas frame is registered on an :class:`cxlib.engine.Engine` first;
only the journey table comes back to pandas, the steps and runs stay backend tables.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cxlib.engine import (
    ROW_ORDER,
    Engine,
    fetch_frame,
    in_memory_table,
    is_table,
    literal,
    row_number,
    timestamp_literal,
    window,
)
from cxlib.journey._gaps import session_gap

log = logging.getLogger(__name__)


#: Channel or touchpoint name -> channel type, matched exactly (case and surrounding spaces
#: aside): first the touchpoint's own name, then its usual ``channel``. A name in none of these
#: (nor in ``journeys.channel_types``) is typed ``unknown`` and listed in the report.
DEFAULT_CHANNEL_TYPES: dict[str, str] = {
    "app": "digital",
    "web": "digital",
    "website": "digital",
    "online": "digital",
    "email": "digital",
    "e-mail": "digital",
    "sms": "digital",
    "push": "digital",
    "mobile": "digital",
    "social": "digital",
    "search": "digital",
    "display": "digital",
    "ads": "digital",
    "store": "human",
    "shop": "human",
    "branch": "human",
    "call_centre": "human",
    "call_center": "human",
    "call": "human",
    "phone": "human",
    "chat": "human",
    "agent": "human",
    "contact_centre": "human",
    "contact_center": "human",
}

#: Human channels or touchpoints that are in-person visits, not assisted-service contacts
#: (exact names; ``journeys.contact_touchpoints`` names the contacts instead).
VISIT_CHANNELS: tuple[str, ...] = ("store", "shop", "branch")

#: Default ``journeys.entry_touchpoints``: pages a journey passes on its way in, which say
#: nothing of what it is for (exact names).
DEFAULT_ENTRY_TOUCHPOINTS: tuple[str, ...] = (
    "home",
    "home_page",
    "homepage",
    "landing",
    "landing_page",
    "index",
)


START, CONV, NULL = "(start)", "(conversion)", "(null)"


_EPOCH = "1970-01-01 00:00:00"


@dataclass
class JourneyData:
    """Journeys built from events.

    Attributes
    ----------
    steps : Ibis table
        One row per step (a backend table): journey, pos, tp (touchpoint code, see
        ``params["touchpoints"]``), timestamp, repeats, value, is_conversion.
    runs : Ibis table
        Like ``steps`` but always with consecutive repeats collapsed; friction flags per run:
        is_retry, is_revisit, goes_back (the next step returns to a touchpoint visited before),
        is_contact, repeat_contact, minutes_to_next.
    journeys : DataFrame
        One row per journey (index = journey number): journey_id, customer_id, journey_type,
        entry_touchpoint, start, end, minutes, n_steps, converted, value, last_touchpoint,
        has_retry, has_loop, n_revisits, n_contacts, n_repeat_contacts, has_friction,
        friction_pos, friction_touchpoint, friction_kind.
    touchpoint_types : Series
        touchpoint -> "digital" / "human" / "conversion" / "unknown".
    contact_touchpoints : list of str
        Touchpoints counted as assisted-service contacts.
    """

    steps: pd.DataFrame
    runs: pd.DataFrame
    journeys: pd.DataFrame
    touchpoint_types: pd.Series
    contact_touchpoints: list[str]
    conversion_touchpoint: str = "purchase"
    params: dict[str, Any] = field(default_factory=dict)
    backend: _Backend | None = field(default=None, repr=False)
    """The engine holding ``steps`` and ``runs``; every analysis aggregates them there."""

    @property
    def n_journeys(self) -> int:
        return len(self.journeys)

    def close(self) -> None:
        """Drop the journeys' backend tables (closing the engine when the journeys own it)."""
        if self.backend is not None and self.backend.owns_engine:
            self.backend.engine.close()

    def __enter__(self) -> JourneyData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Backend:
    """The backend side of a :class:`JourneyData`.

    ``runs`` / ``steps`` (also ``JourneyData.runs`` / ``.steps``) are backend tables joined with
    the journey attributes ``jtype`` (journey type code), ``jconv`` (converted), ``jlast`` (last
    touchpoint code), ``jloop`` (first backtrack position, NULL when none), ``jvalue`` (the
    journey's conversion value) and ``customer_id``,
    kept by ``engine`` (closed with the journeys when ``owns_engine``).
    """

    engine: Engine
    runs: Any
    steps: Any
    max_step_pos: int
    owns_engine: bool = False


def touchpoint_channel_types(
    touchpoints: Sequence[str],
    channels: Mapping[str, str] | None = None,
    mapping: Mapping[str, str] | None = None,
    conversion_touchpoint: str = "purchase",
) -> pd.Series:
    """Channel type per touchpoint (``digital``, ``human``, ``conversion`` or ``unknown``).

    Exact names only (case and surrounding spaces aside), first match wins: ``mapping``
    (``journeys.channel_types``) on the touchpoint, then on its usual channel (``channels``),
    then :data:`DEFAULT_CHANNEL_TYPES` on the touchpoint, then on the channel. A touchpoint none
    of them names is ``unknown`` (no substring or prefix guessing: "kappa" is not an app).
    """
    user = {_key(k): str(v) for k, v in (mapping or {}).items()}
    out = {}
    for tp in touchpoints:
        if tp == conversion_touchpoint:
            out[tp] = "conversion"
            continue
        ch = (channels or {}).get(tp)
        keys = [_key(tp)] + ([_key(ch)] if ch is not None and str(ch) not in ("", "nan") else [])
        kinds = [d[k] for d in (user, DEFAULT_CHANNEL_TYPES) for k in keys if k in d]
        out[tp] = kinds[0] if kinds else "unknown"
    return pd.Series(out, name="channel_type", dtype="str")


def _key(name: object) -> str:
    """A name as the channel-type lookups match it: stripped and lower case."""
    return str(name).strip().lower()


def _journey_type_codes(
    entry_tp: np.ndarray,
    intent_tp: np.ndarray,
    mapped_tp: np.ndarray,
    tp_names: list[str],
    type_map: Mapping[str, str] | None,
) -> pd.Categorical:
    """Journey type per journey: the type of its first mapped step (``mapped_tp``, -1 when
    none), else its first step that is neither an entry touchpoint nor the conversion
    (``intent_tp``, -1 when none), else its entry touchpoint; categories are the types that
    occur, sorted."""
    entry_tp = np.where(intent_tp >= 0, intent_tp, entry_tp)
    if type_map:
        tmap = {str(k): str(v) for k, v in type_map.items()}
        type_names = sorted(set(tmap.values()) | set(tp_names))
        code_of = np.array([type_names.index(t) for t in tp_names])
        jcode_t = code_of[entry_tp]
        ok = mapped_tp >= 0
        mapped_code = np.array([type_names.index(tmap.get(t, t)) for t in tp_names])
        jcode_t[ok] = mapped_code[mapped_tp[ok]]
        used = np.unique(jcode_t)
        remap = np.full(len(type_names), -1)
        remap[used] = np.arange(len(used))
        return pd.Categorical.from_codes(remap[jcode_t], categories=[type_names[i] for i in used])
    used = np.unique(entry_tp)
    remap = np.full(len(tp_names), -1)
    remap[used] = np.arange(len(used))
    return pd.Categorical.from_codes(remap[entry_tp], categories=[tp_names[i] for i in used])


def _build_params(
    session_gap_minutes: float,
    collapse_repeats: bool,
    has_jid: Any,
    contact_window_minutes: float,
    tp_names: list[str],
) -> dict[str, Any]:
    """The ``JourneyData.params`` of a build."""
    return {
        "session_gap_minutes": session_gap_minutes,
        "collapse_repeats": collapse_repeats,
        "used_journey_id": bool(has_jid),
        "contact_window_minutes": contact_window_minutes,
        "touchpoints": tp_names,
    }


def build_journeys(
    events: pd.DataFrame,
    *,
    conversion_touchpoint: str = "purchase",
    session_gap_minutes: float | None = None,
    collapse_repeats: bool = True,
    use_journey_id: bool = True,
    channel_types: Mapping[str, str] | None = None,
    contact_touchpoints: Sequence[str] | None = None,
    contact_window_minutes: float = 60.0,
    type_map: Mapping[str, str] | None = None,
    entry_touchpoints: Sequence[str] | None = None,
    engine: Engine | None = None,
) -> JourneyData:
    """Build journeys from an events table, in the backend (one set of Ibis expressions).

    Parameters
    ----------
    events : DataFrame or Ibis table
        ``customer_id``, ``timestamp``, ``touchpoint``; optional ``journey_id``, ``channel``,
        ``value``. A pandas frame is registered on the engine's connection first.
    conversion_touchpoint : str
        Touchpoint that counts as a conversion.
    session_gap_minutes : float, optional
        Inactivity gap that starts a new journey when events have no ``journey_id``. None: chosen
        from the data, at the valley of the gaps between a customer's events
        (:mod:`cxlib.journey._gaps`; ``params["session_gap"]`` holds what it was chosen from).
    collapse_repeats : bool
        Collapse consecutive events at the same touchpoint into one step.
    use_journey_id : bool
        Use ``journey_id`` when present (rows without one are sessionised).
    channel_types : mapping, optional
        Touchpoint or channel -> ``digital`` / ``human`` overrides.
    contact_touchpoints : sequence of str, optional
        Assisted-service contact touchpoints (default: human touchpoints whose name and channel
        are not one of :data:`VISIT_CHANNELS`).
    contact_window_minutes : float
        A contact within this many minutes after a digital step (or another contact) of the
        same journey counts as a repeat contact.
    type_map : mapping, optional
        Touchpoint -> journey type; a journey's type is that of its first mapped step.
    entry_touchpoints : sequence of str, optional
        Touchpoints a journey passes on its way in (default :data:`DEFAULT_ENTRY_TOUCHPOINTS`).
        Without ``type_map`` (or when no step is mapped), a journey's type is its first step
        that is neither an entry touchpoint nor the conversion, else its first step.
    engine : Engine, optional
        The engine that keeps the journeys' backend tables (``steps``, ``runs``). Default: an
        engine of the journeys' own (on the events' connection, or a new embedded DuckDB for a
        pandas frame), closed by :meth:`JourneyData.close`.

    Returns
    -------
    JourneyData

    Raises
    ------
    ValueError
        When ``events`` has no rows.

    Notes
    -----
    Only the journey table comes back to pandas; ``steps`` and ``runs`` stay backend tables, and
    every function of this package aggregates them there.
    """
    owns = engine is None
    if engine is None:
        engine = Engine(events.get_backend()) if is_table(events) else Engine()
    try:
        jd = _build_journeys(
            engine.table(events),
            engine,
            conversion_touchpoint=conversion_touchpoint,
            session_gap_minutes=session_gap_minutes,
            collapse_repeats=collapse_repeats,
            use_journey_id=use_journey_id,
            channel_types=channel_types,
            contact_touchpoints=contact_touchpoints,
            contact_window_minutes=contact_window_minutes,
            type_map=type_map,
            entry_touchpoints=entry_touchpoints,
        )
    except BaseException:
        if owns:
            engine.close()
        raise
    jd.backend.owns_engine = owns
    return jd


def _build_journeys(
    events: Any,
    engine: Engine,
    *,
    conversion_touchpoint: str,
    session_gap_minutes: float | None,
    collapse_repeats: bool,
    use_journey_id: bool,
    channel_types: Mapping[str, str] | None,
    contact_touchpoints: Sequence[str] | None,
    contact_window_minutes: float,
    type_map: Mapping[str, str] | None,
    entry_touchpoints: Sequence[str] | None,
) -> JourneyData:
    """:func:`build_journeys` on a backend table: sessions, runs, friction flags and the journey
    table computed in the backend; only the journey table comes back to pandas."""
    cols = list(events.columns)
    has_jid = use_journey_id and "journey_id" in cols
    base = events.mutate(cx_tp=events["touchpoint"].cast("string").strip())
    tp_names, tp_types, contacts, tpt = _touchpoints(
        base, conversion_touchpoint, channel_types, contact_touchpoints, type_map, entry_touchpoints
    )
    gap = None
    if session_gap_minutes is None:  # from the gaps of the events a journey id does not group
        gap = session_gap(base.filter(base["journey_id"].isnull()) if has_jid else base)
        session_gap_minutes = gap.minutes
    ev = engine.keep(_sessions(base, tpt, has_jid, session_gap_minutes), "cx_journey_events")
    j0 = engine.keep(_journey_keys(ev), "cx_journey_j0")
    runs = engine.keep(
        _runs(ev, j0, tpt, contact_window_minutes, collapse_repeats), "cx_journey_runs"
    )
    # through Arrow: Ibis's to_pandas converts the nullable columns value by value (3-4 s of
    # the build at a million events); numbers stay NumPy arrays (NaN for a null)
    jf = fetch_frame(_journey_aggregates(runs, j0))
    n_j = len(jf)
    fpos_safe, kind_code = _friction_steps(jf)
    has_f = fpos_safe >= 0
    first_tp = jf["first_tp"].to_numpy().astype(np.int64)
    entry_tp = jf["entry_nc"].fillna(-1).to_numpy().astype(np.int64)
    entry_tp = np.where(entry_tp >= 0, entry_tp, first_tp)
    last_tp = jf["last_nc"].fillna(-1).to_numpy().astype(np.int64)
    last_tp = np.where(last_tp >= 0, last_tp, first_tp)
    mapped_tp = jf["mapped_tp"].fillna(-1).to_numpy().astype(np.int64)
    intent_tp = jf["intent_tp"].fillna(-1).to_numpy().astype(np.int64)
    jtype = _journey_type_codes(entry_tp, intent_tp, mapped_tp, tp_names, type_map)
    # the friction step's touchpoint, per journey with friction
    attr = pd.DataFrame(
        {
            "journey": np.arange(n_j, dtype=np.int64),
            "jtype": np.asarray(jtype.codes, dtype=np.int64),
            "jconv": jf["converted"].to_numpy(dtype=bool),
            "jlast": last_tp,
            "jloop": jf["loop_pos"].astype("Int64"),
            "jvalue": jf["value"].fillna(0.0).to_numpy(dtype=float),
            "jfpos": fpos_safe,
        }
    )
    attr_kept = engine.table(attr, name=f"cx_journey_attr_{uuid.uuid4().hex[:12]}")
    attr_t = attr_kept.drop(ROW_ORDER)
    fric = runs.join(attr_t.select("journey", "jfpos"), "journey")
    fric = fric.filter(fric["pos"] == fric["jfpos"]).select("journey", "tp").to_pandas()
    fric_code = np.full(n_j, -1, dtype=np.int64)
    fric_code[fric["journey"].to_numpy()] = fric["tp"].to_numpy()
    fric_code[~has_f] = -1
    tp_cat = pd.CategoricalDtype(tp_names)
    journeys = _journey_frame(
        jf,
        _journey_ids(jf, has_jid),
        jtype,
        pd.Categorical.from_codes(entry_tp, dtype=tp_cat),
        pd.Categorical.from_codes(last_tp, dtype=tp_cat),
        fpos_safe,
        pd.Categorical.from_codes(fric_code, dtype=tp_cat),
        kind_code,
    )
    jattr = attr_t.drop("jfpos")
    runs_x = engine.keep(runs.join(jattr, "journey"), "cx_journey_runs_x")
    for t in (runs, j0 if collapse_repeats else None, attr_kept):
        if t is not None:
            _drop(engine, t)
    if collapse_repeats:
        steps_x = runs_x
        max_step_pos = int(jf["max_pos"].max())
    else:
        steps_x = engine.keep(_event_steps(ev, j0, runs_x), "cx_journey_steps")
        _drop(engine, j0)
        max_step_pos = int((jf["e0"] - 1).max())
    _drop(engine, ev)  # the event-level table is no longer needed
    log.info(
        "built %d journeys in the backend (%s)",
        n_j,
        "journey ids" if has_jid else f"sessions, gap {session_gap_minutes} min",
    )
    return JourneyData(
        steps=steps_x,
        runs=runs_x,
        journeys=journeys,
        touchpoint_types=tp_types,
        contact_touchpoints=contacts,
        conversion_touchpoint=conversion_touchpoint,
        params={
            **_build_params(
                session_gap_minutes, collapse_repeats, has_jid, contact_window_minutes, tp_names
            ),
            "session_gap": gap,
        },
        backend=_Backend(engine, runs_x, steps_x, max_step_pos),
    )


def _touchpoints(
    base: Any,
    conversion_touchpoint: str,
    channel_types: Mapping[str, str] | None,
    contact_touchpoints: Sequence[str] | None,
    type_map: Mapping[str, str] | None,
    entry_touchpoints: Sequence[str] | None,
) -> tuple[list[str], pd.Series, list[str], Any]:
    """Touchpoint names (sorted), channel types, contact touchpoints and the touchpoint table
    (code and flags per name) of the events ``base`` (with the stripped name ``cx_tp``)."""
    cols = list(base.columns)
    names_df = base.select("cx_tp").distinct().to_pandas()
    tp_names = sorted(str(t) for t in names_df["cx_tp"].dropna())
    if not tp_names:
        raise ValueError("build_journeys: the events table has no rows")
    k = len(tp_names)
    chan_of = None
    if "channel" in cols:
        ch = base.filter(base["channel"].notnull() & (base["channel"].cast("string") != ""))
        mode = ch.group_by(["cx_tp", "channel"]).aggregate(n=ch.count()).to_pandas()
        if len(mode):
            mode["tp"] = mode["cx_tp"].map({t: i for i, t in enumerate(tp_names)})
            mode = mode.sort_values(["tp", "n", "channel"], ascending=[True, False, True])
            mode = mode.drop_duplicates("tp")
            chan_of = {str(t): str(c) for t, c in zip(mode["cx_tp"], mode["channel"], strict=True)}
    tp_types = touchpoint_channel_types(tp_names, chan_of, channel_types, conversion_touchpoint)
    if contact_touchpoints is None:
        visit = set(VISIT_CHANNELS)
        contacts = [
            t
            for t in tp_names
            if tp_types[t] == "human"
            and _key(t) not in visit
            and _key((chan_of or {}).get(t, "")) not in visit
        ]
    else:
        contacts = [t for t in contact_touchpoints if t in tp_names]
    tmap = {str(a): str(b) for a, b in (type_map or {}).items()}
    entry = set(DEFAULT_ENTRY_TOUCHPOINTS if entry_touchpoints is None else entry_touchpoints)
    tpt = in_memory_table(
        pd.DataFrame(
            {
                "cx_tp": tp_names,
                "tp": np.arange(k, dtype=np.int64),
                "is_conv": [t == conversion_touchpoint for t in tp_names],
                "is_dig": [tp_types[t] in ("digital", "unknown") for t in tp_names],
                "is_contact": [t in contacts for t in tp_names],
                "is_mapped": [t in tmap for t in tp_names],
                "is_entry": [t in entry for t in tp_names],
            }
        )
    )
    return tp_names, tp_types, contacts, tpt


def _sessions(base: Any, tpt: Any, has_jid: bool, session_gap_minutes: float) -> Any:
    """Events with their touchpoint code, minutes since the epoch and, per customer in
    (journey key, time, row) order, the journey ``lj`` and run ``lr`` counters."""
    cols = list(base.columns)
    ev = base.join(tpt, "cx_tp")
    us = ev["timestamp"].delta(timestamp_literal(_EPOCH), unit="microsecond")
    if ROW_ORDER not in cols:  # numbered first: a row number cannot sit inside a window
        log.warning(
            "build_journeys: events table without %s; ties in time in no set order", ROW_ORDER
        )
        ev = ev.mutate(**{ROW_ORDER: row_number()})
    row = ev[ROW_ORDER]
    if has_jid:
        jk = ev["journey_id"].isnull().ifelse(-1, row.min().over(group_by=ev["journey_id"]))
        jid = ev["journey_id"].cast("string")
    else:
        jk, jid = literal(-1, "int64"), literal(None, "string")
    value = ev["value"].cast("float64").fill_null(0.0) if "value" in cols else literal(0.0)
    ev = ev.select(
        customer_id=ev["customer_id"].cast("string"),
        timestamp=ev["timestamp"],
        tp=ev["tp"],
        is_conv=ev["is_conv"],
        t=(us * 1000).cast("float64") / 6e10,
        jk=jk.cast("int64"),
        jid=jid,
        value=value,
        row=row,
    )
    w = window(group_by="customer_id", order_by=["jk", "t", "row"])
    ev = ev.mutate(
        p_jk=ev["jk"].lag().over(w),
        p_t=ev["t"].lag().over(w),
        p_conv=ev["is_conv"].lag().over(w),
        p_tp=ev["tp"].lag().over(w),
    )
    brk = (
        ev["p_jk"].isnull()
        | (ev["jk"] != ev["p_jk"])
        | ((ev["jk"] < 0) & ((ev["t"] - ev["p_t"]) > float(session_gap_minutes)))
        | (ev["p_conv"] & ~ev["is_conv"])
    )
    ev = ev.mutate(brk=brk.cast("int64"), rbrk=(brk | (ev["tp"] != ev["p_tp"])).cast("int64"))
    cw = {"rows": (None, 0), "group_by": "customer_id", "order_by": ["jk", "t", "row"]}
    ev = ev.mutate(lj=ev["brk"].sum().over(**cw), lr=ev["rbrk"].sum().over(**cw))
    ev = ev.drop("p_jk", "p_t", "p_conv", "p_tp", "brk", "rbrk")
    return ev


def _journey_keys(ev: Any) -> Any:
    """One row per journey (customer, ``lj``): its number ``journey``, start, end, first run."""
    j0 = ev.group_by(["customer_id", "lj"]).aggregate(
        start=ev["timestamp"].min(),
        end=ev["timestamp"].max(),
        t_start=ev["t"].min(),
        t_end=ev["t"].max(),
        lr0=ev["lr"].min(),
        e0=ev["row"].count(),
        jid=ev["jid"].max(),
        jk=ev["jk"].max(),
    )
    j0 = j0.mutate(journey=row_number().over(order_by=["customer_id", "lj"]))
    return j0


def _runs(ev: Any, j0: Any, tpt: Any, contact_window_minutes: float, collapse_repeats: bool) -> Any:
    """One row per run of repeats, with position and friction flags (one window pass over each
    journey's runs). A run of repeats is a retry only when repeats are not collapsed: collapsed,
    reloading a page or opening an e-mail twice is one step, not friction."""
    r = ev.group_by(["customer_id", "lj", "lr"]).aggregate(
        tp=ev["tp"].max(),
        t0=ev["t"].min(),
        t1=ev["t"].max(),
        repeats=ev.count(),
        value=ev["value"].sum(),
        timestamp=ev["timestamp"].min(),
    )
    r = r.join(j0.select("customer_id", "lj", "journey", "lr0"), ["customer_id", "lj"])
    r = r.join(tpt.drop("cx_tp"), "tp")
    r = r.select(
        "journey",
        "customer_id",
        "tp",
        "t0",
        "t1",
        "repeats",
        "value",
        "timestamp",
        "is_dig",
        "is_mapped",
        "is_entry",
        is_conversion=r["is_conv"],
        is_contact=r["is_contact"],
        pos=r["lr"] - r["lr0"],
    )
    # one window pass over each journey's runs (the neighbours' flags are built from the
    # neighbours' columns, not from a second window over the first)
    fp = r.group_by(["journey", "tp"]).aggregate(first_pos=r["pos"].min())
    r = r.join(fp, ["journey", "tp"])
    r = r.mutate(is_revisit=(r["pos"] > r["first_pos"]) & ~r["is_conversion"])
    wr = window(group_by="journey", order_by="pos")
    whole = {"rows": (None, None), "group_by": "journey", "order_by": "pos"}
    r = r.mutate(
        first_dig=r["is_dig"].ifelse(r["pos"], literal(None, "int64")).min().over(**whole),
        p_tp=r["tp"].lag().over(wr),
        p_t1=r["t1"].lag().over(wr),
        p_dig=r["is_dig"].lag().over(wr),
        p_contact=r["is_contact"].lag().over(wr),
        n_t0=r["t0"].lead().over(wr),
        n_tp=r["tp"].lead().over(wr),
        n_conv=r["is_conversion"].lead().over(wr),
        n_contact=r["is_contact"].lead().over(wr),
        goes_back=r["is_revisit"].lead().over(wr).fill_null(False),
    )
    within = float(contact_window_minutes)
    rep = (
        r["is_contact"]
        & r["p_tp"].notnull()
        & (r["pos"] > r["first_dig"])
        & ((r["t0"] - r["p_t1"]) <= within)
        & (r["p_dig"] | r["p_contact"])
    ).fill_null(False)
    next_rep = (  # the next run's repeat_contact
        r["n_contact"]
        & r["n_tp"].notnull()
        & ((r["pos"] + 1) > r["first_dig"])
        & ((r["n_t0"] - r["t1"]) <= within)
        & (r["is_dig"] | r["is_contact"])
    ).fill_null(False)
    r = r.mutate(
        is_retry=(r["repeats"] > 1) & ~r["is_conversion"] & literal(not collapse_repeats),
        repeat_contact=rep,
        contact_cand=rep & r["p_dig"].fill_null(False),
        next_repeat_contact=next_rep,
        minutes_to_next=r["n_t0"] - r["t1"],
    )
    r = r.drop("first_pos", "first_dig", "p_tp", "p_t1", "p_dig", "p_contact", "n_t0", "n_contact")
    return r


def _journey_aggregates(runs: Any, j0: Any) -> Any:
    """Per journey: the friction candidates, counts, entry/last/mapped touchpoints, and ``j0``."""
    nc = ~runs["is_conversion"]
    ja = runs.group_by("journey").aggregate(
        retry_pos=runs["pos"].min(where=runs["is_retry"]),
        loop_pos=runs["pos"].min(where=runs["goes_back"]),
        contact_pos=(runs["pos"] - 1).min(where=runs["contact_cand"]),
        n_steps=nc.cast("int64").sum(),
        converted=runs["is_conversion"].any(),
        value=runs["value"].sum(where=runs["is_conversion"]),
        has_retry=runs["is_retry"].any(),
        n_revisits=runs["is_revisit"].cast("int64").sum(),
        n_contacts=runs["is_contact"].cast("int64").sum(),
        n_repeat_contacts=runs["repeat_contact"].cast("int64").sum(),
        first_tp=runs["tp"].argmin(runs["pos"]),
        entry_nc=runs["tp"].argmin(runs["pos"], where=nc),
        last_nc=runs["tp"].argmax(runs["pos"], where=nc),
        mapped_tp=runs["tp"].argmin(runs["pos"], where=runs["is_mapped"]),
        intent_tp=runs["tp"].argmin(runs["pos"], where=nc & ~runs["is_entry"]),
        max_pos=runs["pos"].max(),
    )
    ja = ja.join(j0.drop("lj", "lr0", "jk"), "journey").order_by("journey")
    return ja


def _friction_steps(jf: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each journey's friction position (-1: none) and kind code (0 retry, 1 loop, 2 contact,
    -1 none): its earliest signal; at one position a contact wins over a retry over a loop."""
    big = np.iinfo(np.int64).max
    cand = {
        c: jf[f"{c}_pos"].astype("Int64").fillna(big).to_numpy(dtype=np.int64)
        for c in ("retry", "loop", "contact")
    }
    fpos = np.minimum(np.minimum(cand["retry"], cand["loop"]), cand["contact"])
    kind = np.where(
        fpos == big,
        "",
        np.where(
            cand["contact"] == fpos, "contact", np.where(cand["retry"] == fpos, "retry", "loop")
        ),
    )
    fpos_safe = np.where(fpos == big, -1, fpos)
    kinds = ["retry", "loop", "contact"]
    return fpos_safe, np.select([kind == x for x in kinds], [0, 1, 2], -1)


def _journey_ids(jf: pd.DataFrame, has_jid: bool) -> pd.Series:
    """Journey ids: the data's (a part after a conversion suffixed ``.1``, ``.2`` …; none:
    ``S<n>``), or ``S<n>`` for sessions."""
    n_j = len(jf)
    jid_out = pd.Series(jf["jid"].to_numpy(dtype=object), dtype="object")
    if has_jid:
        missing = jid_out.isna().to_numpy()
        jid_out = jid_out.astype("str")
        if missing.any():
            jid_out[missing] = np.char.add("S", np.flatnonzero(missing).astype(str))
        dup = jid_out.duplicated().to_numpy()
        if dup.any():
            kk = jid_out.groupby(jid_out.to_numpy()).cumcount().astype("str")
            jid_out = jid_out.where(~dup, jid_out + "." + kk)
    else:
        jid_out = pd.Series(np.char.add("S", np.arange(n_j).astype(str)), dtype="str")
    return jid_out


def _journey_frame(
    jf: pd.DataFrame,
    jid_out: pd.Series,
    jtype: pd.Categorical,
    entry: pd.Categorical,
    last: pd.Categorical,
    fpos_safe: np.ndarray,
    friction_tp: pd.Categorical,
    kind_code: np.ndarray,
) -> pd.DataFrame:
    """The journey table (``JourneyData.journeys``)."""
    has_f = fpos_safe >= 0
    kinds = ["retry", "loop", "contact"]
    journeys = pd.DataFrame(
        {
            "journey_id": jid_out.array,
            "customer_id": pd.array(jf["customer_id"].to_numpy(dtype=object), dtype="str"),
            "journey_type": jtype,
            "entry_touchpoint": entry,
            "start": pd.to_datetime(jf["start"]).to_numpy().astype("datetime64[ns]"),
            "end": pd.to_datetime(jf["end"]).to_numpy().astype("datetime64[ns]"),
            "minutes": jf["t_end"].to_numpy(dtype=float) - jf["t_start"].to_numpy(dtype=float),
            "n_steps": jf["n_steps"].to_numpy().astype(int),
            "converted": jf["converted"].to_numpy(dtype=bool),
            "value": jf["value"].fillna(0.0).to_numpy(dtype=float),
            "last_touchpoint": last,
            "has_retry": jf["has_retry"].to_numpy(dtype=bool),
            "has_loop": jf["n_revisits"].to_numpy() > 0,
            "n_revisits": jf["n_revisits"].to_numpy().astype(int),
            "n_contacts": jf["n_contacts"].to_numpy().astype(int),
            "n_repeat_contacts": jf["n_repeat_contacts"].to_numpy().astype(int),
            "has_friction": has_f,
            "friction_pos": fpos_safe,
            "friction_touchpoint": friction_tp,
            "friction_kind": pd.Categorical.from_codes(kind_code, categories=kinds),
        }
    )
    journeys.index.name = "journey"
    return journeys


def _event_steps(ev: Any, j0: Any, runs_x: Any) -> Any:
    """Steps of single events (``collapse_repeats=False``), with the journey attributes."""
    e = ev.join(j0.select("customer_id", "lj", "journey"), ["customer_id", "lj"])
    e = e.select(
        "journey",
        "customer_id",
        "tp",
        "timestamp",
        "value",
        t0=e["t"],
        repeats=literal(1, "int64"),
        is_conversion=e["is_conv"],
        pos=row_number().over(group_by="journey", order_by=["jk", "t", "row"]),
    )
    we = window(group_by="journey", order_by="pos")
    e = e.mutate(n_tp=e["tp"].lead().over(we), n_conv=e["is_conversion"].lead().over(we))
    e = e.join(
        runs_x.select("journey", "jtype", "jconv", "jlast", "jloop", "jvalue").distinct(), "journey"
    )
    return e


def _drop(engine: Engine, table: Any) -> None:
    """Drop a table kept by ``engine`` now (the event-level tables are large)."""
    engine.drop(table)


def _tp_names(jd: JourneyData) -> list[str]:
    return list(jd.params["touchpoints"])


def _type_code(jd: JourneyData, journey_type: str) -> int:
    """The backend's code of a journey type (-1 when no journey has it)."""
    cats = [str(c) for c in jd.journeys["journey_type"].cat.categories]
    return cats.index(journey_type) if journey_type in cats else -1
