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
    in_memory_table,
    is_table,
    row_number,
)
from cxlib.journey._gaps import session_gap
from cxlib.journey._scan import (
    TouchpointFlags,
    event_steps_table,
    journey_keys,
    runs_table,
    scan_events,
    sorted_events,
)

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


@dataclass
class JourneyData:
    """Journeys built from events.

    Attributes
    ----------
    steps : Ibis table
        One row per step (a backend table): journey, customer (the customer's number among the
        journeys' customers), pos, tp (touchpoint code, see ``params["touchpoints"]``),
        timestamp, repeats, value, is_conversion.
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
    journey's conversion value), kept by ``engine`` (closed with the journeys when ``owns_engine``).
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
    tp_names, tp_types, contacts, tp_flags = _touchpoints(
        base, conversion_touchpoint, channel_types, contact_touchpoints, type_map, entry_touchpoints
    )
    gap = None
    if session_gap_minutes is None:  # from the gaps of the events a journey id does not group
        gap = session_gap(base.filter(base["journey_id"].isnull()) if has_jid else base)
        session_gap_minutes = gap.minutes
    if ROW_ORDER not in cols:  # numbered once: the keys and the sorted events read the numbers
        log.warning(
            "build_journeys: events table without %s; ties in time in no set order", ROW_ORDER
        )
        base = engine.keep(base.mutate(**{ROW_ORDER: row_number()}), "cx_journey_events")
    keys = engine.keep(journey_keys(base), "cx_journey_keys") if has_jid else None
    tpt = in_memory_table(tp_flags[["cx_tp", "tp"]])
    scan = scan_events(
        sorted_events(base, tpt, keys).to_pyarrow(),
        TouchpointFlags.of(tp_flags),
        session_gap_minutes=session_gap_minutes,
        contact_window_minutes=contact_window_minutes,
        collapse_repeats=collapse_repeats,
    )
    jf = scan.journeys
    n_j = len(jf["jk"])
    fpos_safe, kind_code = _friction_steps(jf)
    has_f = fpos_safe >= 0
    first_tp = jf["first_tp"]
    entry_tp = np.where(jf["entry_nc"] >= 0, jf["entry_nc"], first_tp)
    last_tp = np.where(jf["last_nc"] >= 0, jf["last_nc"], first_tp)
    jtype = _journey_type_codes(entry_tp, jf["intent_tp"], jf["mapped_tp"], tp_names, type_map)
    # the friction step's touchpoint, per journey with friction
    fric_code = np.full(n_j, -1, dtype=np.int64)
    fric_code[has_f] = scan.runs["tp"][scan.run_start[has_f] + fpos_safe[has_f]]
    attrs = {
        "jtype": np.asarray(jtype.codes, dtype=np.int64),
        "jconv": jf["converted"],
        "jlast": last_tp,
        "jloop": jf["loop_pos"],
        "jvalue": jf["value"],
    }
    tp_cat = pd.CategoricalDtype(tp_names)
    journeys = _journey_frame(
        jf,
        _journey_ids(jf["jk"], _journey_id_text(keys)),
        jtype,
        pd.Categorical.from_codes(entry_tp, dtype=tp_cat),
        pd.Categorical.from_codes(last_tp, dtype=tp_cat),
        fpos_safe,
        pd.Categorical.from_codes(fric_code, dtype=tp_cat),
        kind_code,
    )
    runs_x = _backend_rows(engine, runs_table(scan, attrs), "cx_journey_runs")
    if collapse_repeats:
        steps_x = runs_x
        max_step_pos = int(jf["max_pos"].max())
    else:
        steps_x = _backend_rows(engine, event_steps_table(scan, attrs), "cx_journey_steps")
        max_step_pos = int((jf["e0"] - 1).max())
    for kept in (keys, base if ROW_ORDER not in cols else None):
        if kept is not None:
            engine.drop(kept)
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
) -> tuple[list[str], pd.Series, list[str], pd.DataFrame]:
    """Touchpoint names (sorted), channel types, contact touchpoints and the touchpoint flags
    (``cx_tp``, code ``tp`` and one flag column each, in code order) of the events ``base``
    (with the stripped name ``cx_tp``)."""
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
    flags = pd.DataFrame(
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
    return tp_names, tp_types, contacts, flags


def _backend_rows(engine: Engine, rows: Any, prefix: str) -> Any:
    """An Arrow table of rows as a temporary table of the engine (without its row number)."""
    return engine.table(rows, name=f"{prefix}_{uuid.uuid4().hex[:12]}").drop(ROW_ORDER)


def _friction_steps(jf: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each journey's friction position (-1: none) and kind code (0 retry, 1 loop, 2 contact,
    -1 none): its earliest signal; at one position a contact wins over a retry over a loop."""
    big = np.iinfo(np.int64).max
    cand = {
        c: np.where(np.isnan(jf[f"{c}_pos"]), big, np.nan_to_num(jf[f"{c}_pos"]).astype(np.int64))
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


def _journey_id_text(keys: Any) -> pd.Series | None:
    """The data's journey ids by their key ``jk`` (None for sessions)."""
    if keys is None:
        return None
    got = keys.to_pyarrow()
    return pd.Series(
        got.column("jid").to_numpy(zero_copy_only=False), index=got.column("jk").to_numpy()
    )


def _journey_ids(jk: np.ndarray, id_of_key: pd.Series | None) -> pd.Series:
    """Journey ids: the data's (a part after a conversion suffixed ``.1``, ``.2`` …; none:
    ``S<n>``), or ``S<n>`` for sessions (``id_of_key`` None)."""
    n_j = len(jk)
    if id_of_key is None:
        return pd.Series(np.char.add("S", np.arange(n_j).astype(str)), dtype="str")
    missing = jk < 0
    jid_out = pd.Series(id_of_key.reindex(jk).to_numpy(dtype=object), dtype="object")
    if missing.any():
        jid_out[missing] = np.char.add("S", np.flatnonzero(missing).astype(str))
        group = jid_out  # an ``S<n>`` may equal an id of the data
    else:
        group = pd.Series(jk)  # one key per id
    jid_out = jid_out.astype("str")
    dup = group.duplicated().to_numpy()
    if dup.any():
        kk = group.groupby(group.to_numpy()).cumcount().astype("str")
        jid_out = jid_out.where(~dup, jid_out + "." + kk)
    return jid_out


def _journey_frame(
    jf: Mapping[str, Any],
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
            "customer_id": pd.array(jf["customer_id"].to_numpy(zero_copy_only=False), dtype="str"),
            "journey_type": jtype,
            "entry_touchpoint": entry,
            "start": jf["start"].astype("datetime64[ns]"),
            "end": jf["end"].astype("datetime64[ns]"),
            "minutes": jf["t_end"] - jf["t_start"],
            "n_steps": jf["n_steps"].astype(int),
            "converted": jf["converted"],
            "value": jf["value"],
            "last_touchpoint": last,
            "has_retry": jf["has_retry"],
            "has_loop": jf["n_revisits"] > 0,
            "n_revisits": jf["n_revisits"].astype(int),
            "n_contacts": jf["n_contacts"].astype(int),
            "n_repeat_contacts": jf["n_repeat_contacts"].astype(int),
            "has_friction": has_f,
            "friction_pos": fpos_safe,
            "friction_touchpoint": friction_tp,
            "friction_kind": pd.Categorical.from_codes(kind_code, categories=kinds),
        }
    )
    journeys.index.name = "journey"
    return journeys


def _tp_names(jd: JourneyData) -> list[str]:
    return list(jd.params["touchpoints"])


def _type_code(jd: JourneyData, journey_type: str) -> int:
    """The backend's code of a journey type (-1 when no journey has it)."""
    cats = [str(c) for c in jd.journeys["journey_type"].cat.categories]
    return cats.index(journey_type) if journey_type in cats else -1
