"""Customer journeys: build them from events, map them, attribute conversions, find friction,
and rank what to fix first.

Definitions (see ``docs/journeys.md``):

* **Journey**: the events sharing a ``journey_id`` when the events carry one; otherwise a
  session of one customer's events with no gap longer than ``session_gap_minutes``. Either way a
  journey ends at a conversion (an event whose touchpoint is ``conversion_touchpoint``): the next
  non-conversion event starts a new journey.
* **Step**: one event, or (``collapse_repeats=True``) a run of consecutive events at the same
  touchpoint; ``repeats`` counts the events of the run.
* **Journey type**: the journey's entry touchpoint (its first step), or, with ``type_map``, the
  type of the first step whose touchpoint the map names. Works on a plain clickstream.
* **Friction signals** at a step, judged by what the customer does right after it: a *retry*
  (the same touchpoint again, back to back), a *loop* (going back to a touchpoint visited
  earlier in the journey) or a *repeat contact* (an assisted-service contact - call centre,
  chat - within ``contact_window_minutes``, after a digital step of the same journey). A
  journey's *friction step* is its earliest step with a signal.
* **Opportunity**: ``customers x (target - current conversion) x value per conversion``. The
  default target of a journey type is its *smooth-step benchmark*: for each touchpoint, the
  journeys whose first friction is there are assumed to convert like the journeys that reached
  the same touchpoint without friction so far; the conversions so recovered, divided by the
  type's journeys, are added to its current conversion rate.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from cxlib.engine import ROW_ORDER, Engine, is_table

log = logging.getLogger(__name__)

__all__ = [
    "ATTRIBUTION_EXPORT_COLUMNS",
    "DEFAULT_CHANNEL_TYPES",
    "PRIORITY_EXPORT_COLUMNS",
    "attribution_export",
    "priorities_export",
    "outcome_summary",
    "touchpoint_channel_types",
    "JourneyData",
    "MarkovAttribution",
    "attribution_table",
    "build_journeys",
    "compare_outcomes",
    "flow_table",
    "friction_by_touchpoint",
    "friction_by_type",
    "funnel",
    "funnel_steps",
    "link_feedback",
    "opportunity",
    "prioritise",
    "top_paths",
    "transition_matrix",
]

#: Channel (or touchpoint prefix) -> channel type. Matched on the event's ``channel`` when
#: present, else on the touchpoint, its prefix before ``_`` and then by substring.
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
#: Human touchpoints matching this are in-person visits, not assisted-service contacts.
_VISIT_PATTERN = re.compile(r"store|shop|branch|visit", re.IGNORECASE)

START, CONV, NULL = "(start)", "(conversion)", "(null)"


# ---------------------------------------------------------------------------------------------
# Building journeys
# ---------------------------------------------------------------------------------------------


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


def _channel_type(name: str, mapping: Mapping[str, str]) -> str | None:
    key = str(name).strip().lower()
    if key in mapping:
        return mapping[key]
    prefix = re.split(r"[_\-\s.:/]", key, maxsplit=1)[0]
    if prefix in mapping:
        return mapping[prefix]
    for k in sorted(mapping, key=len, reverse=True):
        if len(k) >= 3 and k in key:
            return mapping[k]
    return None


def touchpoint_channel_types(
    touchpoints: Sequence[str],
    channels: Mapping[str, str] | None = None,
    mapping: Mapping[str, str] | None = None,
    conversion_touchpoint: str = "purchase",
) -> pd.Series:
    """Channel type per touchpoint (``digital``, ``human``, ``conversion`` or ``unknown``).

    ``mapping`` entries (touchpoint or channel -> type) take precedence over
    :data:`DEFAULT_CHANNEL_TYPES`; ``channels`` gives each touchpoint's usual channel.
    """
    user = {str(k).lower(): str(v) for k, v in (mapping or {}).items()}
    merged = {**DEFAULT_CHANNEL_TYPES, **user}
    out = {}
    for tp in touchpoints:
        if tp == conversion_touchpoint:
            out[tp] = "conversion"
            continue
        kind = user.get(str(tp).lower())
        ch = (channels or {}).get(tp)
        if kind is None and ch is not None and str(ch) not in ("", "nan"):
            kind = _channel_type(ch, merged)
        if kind is None:
            kind = _channel_type(tp, merged)
        out[tp] = kind or "unknown"
    return pd.Series(out, name="channel_type", dtype="str")


def _journey_type_codes(
    entry_tp: np.ndarray,
    mapped_tp: np.ndarray,
    tp_names: list[str],
    type_map: Mapping[str, str] | None,
) -> pd.Categorical:
    """Journey type per journey: the type of its first mapped step (``mapped_tp``, -1 when
    none), else its entry touchpoint; categories are the types that occur, sorted."""
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
    session_gap_minutes: float = 30.0,
    collapse_repeats: bool = True,
    use_journey_id: bool = True,
    channel_types: Mapping[str, str] | None = None,
    contact_touchpoints: Sequence[str] | None = None,
    contact_window_minutes: float = 60.0,
    type_map: Mapping[str, str] | None = None,
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
    session_gap_minutes : float
        Inactivity gap that starts a new journey when events have no ``journey_id``.
    collapse_repeats : bool
        Collapse consecutive events at the same touchpoint into one step.
    use_journey_id : bool
        Use ``journey_id`` when present (rows without one are sessionised).
    channel_types : mapping, optional
        Touchpoint or channel -> ``digital`` / ``human`` overrides.
    contact_touchpoints : sequence of str, optional
        Assisted-service contact touchpoints (default: human touchpoints that are not store or
        branch visits).
    contact_window_minutes : float
        A contact within this many minutes of the previous step counts as a repeat contact.
    type_map : mapping, optional
        Touchpoint -> journey type; a journey's type is that of its first mapped step, else its
        entry touchpoint.
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
        )
    except BaseException:
        if owns:
            engine.close()
        raise
    jd.backend.owns_engine = owns
    return jd


# ---------------------------------------------------------------------------------------------
# Map: paths, transitions, funnels, converted vs abandoned
# ---------------------------------------------------------------------------------------------


def _tp_names(jd: JourneyData) -> list[str]:
    return list(jd.params["touchpoints"])


def top_paths(jd: JourneyData, n: int = 15, *, journey_type: str | None = None) -> pd.DataFrame:
    """Most common paths with journeys, customers, share, conversions and conversion rate."""
    return _top_paths(jd, n, journey_type)


def transition_matrix(
    jd: JourneyData, *, normalize: bool = True, min_share: float = 0.0
) -> pd.DataFrame:
    """Touchpoint-to-touchpoint transitions (rows: from, columns: to), with start and end states.

    Rows include ``(start)``; columns include ``(end)`` (journey ended without conversion after
    this step). ``normalize=True`` gives row shares; touchpoints reached by fewer than
    ``min_share`` of journeys are dropped.
    """
    names = _tp_names(jd)
    st = jd.steps
    counts = _transition_counts(jd)
    labels_from = names + [START]
    labels_to = names + ["(start)", "(end)"]
    m = pd.DataFrame(counts, index=labels_from, columns=labels_to).drop(columns="(start)")
    conv = jd.conversion_touchpoint
    if conv in m.index:
        m = m.drop(index=conv)
    if min_share > 0:
        rt = st.group_by("tp").aggregate(n=st["journey"].nunique()).to_pandas()
        nj = pd.Series(rt["n"].to_numpy(), index=[names[int(c)] for c in rt["tp"]])
        reach = nj / max(jd.n_journeys, 1)
        keep = [t for t in names if reach.get(t, 0) >= min_share]
        m = m.loc[
            [t for t in m.index if t in keep or t == START],
            [c for c in m.columns if c in keep or c in ("(end)", conv)],
        ]
    order_rows = [START] + [r for r in m.index if r != START]
    m = m.loc[order_rows]
    if normalize:
        m = m.div(m.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    return m


def flow_table(
    jd: JourneyData, *, max_steps: int = 4, top_n: int = 5, journey_type: str | None = None
) -> pd.DataFrame:
    """Flows between consecutive steps for a flow (Sankey) diagram of the main paths.

    Node labels at each step are the ``top_n`` most common touchpoints there (others become
    "other"); a journey that converts flows into "converted", one that ends without conversion
    into "dropped out", one still going after ``max_steps`` into "continues". Columns: col
    (0-based step), source, target, journeys.
    """
    df = _flow_frame(jd, max_steps, top_n, journey_type)
    out = df.groupby(["col", "source", "target"])["w"].sum().reset_index(name="journeys")
    out = out.sort_values(["col", "journeys"], ascending=[True, False])
    return out.reset_index(drop=True)


def funnel_steps(jd: JourneyData, journey_type: str) -> list[str]:
    """The main path of a journey type: its most common converting path (repeats and loops
    removed), else the touchpoints reached by at least 20% of its journeys in order of first
    position."""
    j = jd.journeys
    sel = np.flatnonzero(j["journey_type"].to_numpy() == journey_type)
    if len(sel) == 0:
        return []
    return _funnel_steps(jd, journey_type)


def funnel(jd: JourneyData, journey_type: str, steps: Sequence[str] | None = None) -> pd.DataFrame:
    """Funnel of a journey type along its main path.

    A journey has *reached* step k when the deepest main-path step it visited is k or later
    (so the funnel only narrows). Columns: step, touchpoint, journeys, customers,
    step_conversion (share of the previous step's journeys that reached this one), drop_off
    (journeys that stopped here: reached it but not the next step), overall (share of the
    type's journeys) and median_minutes (from the previous step's first visit).
    """
    steps = list(steps) if steps is not None else funnel_steps(jd, journey_type)
    j = jd.journeys
    sel = np.flatnonzero(j["journey_type"].to_numpy() == journey_type)
    cols = [
        "step",
        "touchpoint",
        "journeys",
        "customers",
        "step_conversion",
        "drop_off",
        "overall",
        "median_minutes",
    ]
    if not steps or len(sel) == 0:
        return pd.DataFrame(columns=cols)
    names = _tp_names(jd)
    code = {names.index(t): i for i, t in enumerate(steps) if t in names}
    deepest, first = np.full(len(sel), -1), pd.DataFrame()
    if code:
        deep, first = _funnel_first(jd, _type_code(jd, journey_type), code)
        deepest = deep.reindex(sel, fill_value=-1).to_numpy()
    cust = j["customer_id"].to_numpy()[sel]
    rows = []
    prev = len(sel)
    for k, t in enumerate(steps):
        reached = deepest >= k
        nk = int(reached.sum())
        mins = np.nan
        if k > 0 and k in first.columns and (k - 1) in first.columns:
            d = (first[k] - first[k - 1]).dropna()
            d = d[d >= 0]
            mins = float(d.median()) if len(d) else np.nan
        rows.append(
            {
                "step": k + 1,
                "touchpoint": t,
                "journeys": nk,
                "customers": int(pd.Series(cust[reached]).nunique()),
                "step_conversion": nk / prev if prev else np.nan,
                "drop_off": int((deepest == k).sum()) if k < len(steps) - 1 else 0,
                "overall": nk / len(sel),
                "median_minutes": mins,
            }
        )
        prev = nk
    return pd.DataFrame(rows, columns=cols)


def compare_outcomes(jd: JourneyData, *, min_journeys: int = 1) -> pd.DataFrame:
    """Touchpoints in converted vs abandoned journeys, side by side.

    Columns: touchpoint, converted_share, abandoned_share (share of journeys of each outcome
    that visit the touchpoint), difference (abandoned - converted, in points), ratio, and
    last_step_share (share of abandoned journeys that ended there). Sorted by difference.
    """
    j = jd.journeys
    conv = j["converted"].to_numpy()
    n_c, n_a = int(conv.sum()), int((~conv).sum())
    r = jd.backend.runs
    r = r.filter(~r["is_conversion"])
    pres = r.select("journey", "tp", converted=r["jconv"]).distinct()
    pres = pres.group_by(["tp", "converted"]).aggregate(n=pres.count()).to_pandas()
    cnt = pres.pivot_table(index="tp", columns="converted", values="n", fill_value=0)
    cnt = cnt.sort_index().astype(np.int64)
    cnt.columns = [bool(c) for c in cnt.columns]
    cnt = cnt.reindex(columns=[False, True], fill_value=0)
    names = _tp_names(jd)
    last = j.loc[~conv, "last_touchpoint"].value_counts()
    out = pd.DataFrame(
        {
            "touchpoint": [names[c] for c in cnt.index],
            "converted_share": cnt[True].to_numpy() / max(n_c, 1),
            "abandoned_share": cnt[False].to_numpy() / max(n_a, 1),
            "journeys": (cnt[True] + cnt[False]).to_numpy(),
        }
    )
    out["difference"] = out["abandoned_share"] - out["converted_share"]
    out["ratio"] = out["abandoned_share"] / out["converted_share"].replace(0, np.nan)
    out["last_step_share"] = out["touchpoint"].map(last).fillna(0).to_numpy() / max(n_a, 1)
    out = out[out["journeys"] >= min_journeys]
    return out.sort_values("difference", ascending=False).reset_index(drop=True)


def outcome_summary(jd: JourneyData) -> pd.DataFrame:
    """Converted vs abandoned journeys: count, steps, minutes, loops, retries, contacts."""
    j = jd.journeys
    g = j.groupby(j["converted"].map({True: "converted", False: "abandoned"}))
    out = pd.DataFrame(
        {
            "journeys": g.size(),
            "avg_steps": g["n_steps"].mean(),
            "median_minutes": g["minutes"].median(),
            "loop_share": g["has_loop"].mean(),
            "retry_share": g["has_retry"].mean(),
            "repeat_contact_share": g["n_repeat_contacts"].apply(lambda s: (s > 0).mean()),
            "friction_share": g["has_friction"].mean(),
        }
    )
    out.index.name = "outcome"
    return out.reindex(["converted", "abandoned"]).reset_index()


# ---------------------------------------------------------------------------------------------
# Attribution
# ---------------------------------------------------------------------------------------------


def _markov_units(jd: JourneyData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Attribution paths as *units* (identical paths of the same outcome count once):
    non-conversion steps (unit, tp) in order, converted per unit, and each journey's unit (-1:
    no non-conversion step). Only the distinct paths and the journey-to-unit map come back."""
    import ibis

    st = jd.backend.steps
    st = st.filter(~st["is_conversion"])
    keyed = st.group_by("journey").aggregate(
        key=st["tp"].cast("string").group_concat(",", order_by=st["pos"]),
        conv=st["jconv"].max(),
    )
    keyed = keyed.mutate(unit=ibis.dense_rank().over(order_by=["key", "conv"]))
    keyed = jd.backend.engine.keep(keyed, "cx_journey_units")
    units = keyed.group_by(["unit", "key", "conv"]).aggregate().order_by("unit").to_pandas()
    jmap = keyed.select("journey", "unit").to_pandas()
    unit_of = np.full(jd.n_journeys, -1, dtype=np.int64)
    unit_of[jmap["journey"].to_numpy()] = jmap["unit"].to_numpy()
    codes = [np.array(k.split(","), dtype=np.int64) for k in units["key"]]
    lens = np.array([len(c) for c in codes], dtype=np.int64)
    jn = np.repeat(np.arange(len(codes), dtype=np.int64), lens)
    tp = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
    return jn, tp, units["conv"].to_numpy(dtype=bool), unit_of


class MarkovAttribution:
    """Markov-chain attribution by removal effects (exact, by solving linear systems).

    States are the last ``order`` touchpoints of a path (padded with a start marker), with
    absorbing states *conversion* and *null*. The conversion probability from the start state
    is the solution of ``(I - Q) x = r`` (Q: transient-to-transient transition probabilities,
    r: one-step conversion probabilities). Removing a touchpoint sends every state containing it
    to *null*; its removal effect is ``1 - p_removed / p``. Conversions (and conversion value)
    are shared between touchpoints in proportion to their removal effects.

    Parameters
    ----------
    order : int
        Markov order (1 = first order).
    n_boot : int
        Bootstrap resamples of journeys for confidence intervals (0 = none).
    random_state : int
        Seed of the bootstrap.
    """

    def __init__(self, order: int = 1, n_boot: int = 0, random_state: int | None = 0):
        self.order = order
        self.n_boot = n_boot
        self.random_state = random_state

    # core solver on weighted transitions ---------------------------------------------------
    @staticmethod
    def _absorb(
        frm: np.ndarray,
        to: np.ndarray,
        w: np.ndarray,
        n_states: int,
        removed: np.ndarray | None = None,
    ) -> float:
        """P(conversion | start) for transitions frm -> to with weights w.

        States 0..n_states-1 are transient (0 = start); ``n_states`` = conversion,
        ``n_states + 1`` = null. ``removed`` is a boolean mask of transient states sent to null.
        """
        out_w = np.bincount(frm, weights=w, minlength=n_states)
        keep = out_w > 0
        if removed is not None:
            keep &= ~removed
        if not keep[0]:
            return 0.0
        idx = np.full(n_states, -1)
        idx[keep] = np.arange(int(keep.sum()))
        m = int(keep.sum())
        prob = w / np.where(out_w[frm] > 0, out_w[frm], 1.0)
        src_ok = keep[frm]
        to_t = to < n_states
        tt = src_ok & to_t
        tt &= np.where(to_t, keep[np.minimum(to, n_states - 1)], False)
        q = sp.coo_matrix((prob[tt], (idx[frm[tt]], idx[to[tt]])), shape=(m, m)).tocsc()
        rc = np.bincount(
            idx[frm[src_ok & (to == n_states)]],
            weights=prob[src_ok & (to == n_states)],
            minlength=m,
        )
        a = sp.identity(m, format="csc") - q
        x = spsolve(a, rc) if m > 1 else np.array([rc[0] / a.toarray()[0, 0]])
        return float(np.atleast_1d(x)[0])

    def _transitions(self, jn: np.ndarray, tp: np.ndarray, conv: np.ndarray, n_tp: int):
        """State transitions (from, to, journey) and, per state, which touchpoints it holds."""
        k = self.order
        n = len(jn)
        first = np.r_[True, jn[1:] != jn[:-1]] if n else np.zeros(0, bool)
        starts = np.flatnonzero(first)
        pos = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
        base = n_tp + 1
        code = np.zeros(n, dtype=np.int64)
        for lag in range(k):  # state = last k touchpoints (0 = padding)
            src = np.arange(n) - lag
            ok = pos >= lag
            c = np.where(ok, tp[np.maximum(src, 0)] + 1, 0)
            code = code * base + c
        uniq, st_id = np.unique(code, return_inverse=True)
        st_id = st_id + 1  # 0 = start
        n_states = len(uniq) + 1
        same_next = np.r_[jn[1:] == jn[:-1], False] if n else np.zeros(0, bool)
        frm = np.r_[np.zeros(len(starts), dtype=np.int64), st_id[same_next]]
        to = np.r_[st_id[starts], st_id[np.r_[False, same_next[:-1]]] if n else st_id]
        jj = np.r_[jn[starts], jn[same_next]]
        last = ~same_next
        frm = np.r_[frm, st_id[last]]
        to = np.r_[to, np.where(conv[jn[last]], n_states, n_states + 1)]
        jj = np.r_[jj, jn[last]]
        holds = np.zeros((n_states, n_tp), dtype=bool)
        digits = uniq.copy()
        for _ in range(k):
            d = digits % base
            ok = d > 0
            holds[np.flatnonzero(ok) + 1, d[ok] - 1] = True
            digits //= base
        return frm, to, jj, n_states, holds

    def fit(self, jd: JourneyData) -> MarkovAttribution:
        """Fit on the journeys of ``jd``.

        Paths are the journeys' non-conversion steps; journeys made of a conversion alone have
        no touchpoint to credit and are left out.
        """
        jn, tp, conv_u, unit_of = _markov_units(jd)
        conv = jd.journeys["converted"].to_numpy(dtype=bool)
        value = jd.journeys["value"].to_numpy(dtype=float)
        names = _tp_names(jd)
        n_tp = len(names)
        n_j = jd.n_journeys
        n_u = len(conv_u)
        frm, to, jj, n_states, holds = self._transitions(jn, tp, conv_u, n_tp)
        # aggregate identical transitions; bootstrap re-weights them through journey weights
        pair, pair_idx = np.unique(frm * (n_states + 2) + to, return_inverse=True)
        p_frm, p_to = pair // (n_states + 2), pair % (n_states + 2)
        self.touchpoints_ = [
            t for i, t in enumerate(names) if t != jd.conversion_touchpoint and holds[:, i].any()
        ]
        cols = [names.index(t) for t in self.touchpoints_]

        def effects(w: np.ndarray) -> tuple[float, np.ndarray]:
            p = self._absorb(p_frm, p_to, w, n_states)
            re_ = np.array(
                [
                    1.0 - self._absorb(p_frm, p_to, w, n_states, holds[:, c]) / p if p > 0 else 0.0
                    for c in cols
                ]
            )
            return p, np.clip(re_, 0.0, None)

        has_unit = unit_of >= 0
        unit_n = np.bincount(unit_of[has_unit], minlength=n_u).astype(float)
        w = np.bincount(pair_idx, weights=unit_n[jj], minlength=len(pair))
        self.conversion_probability_, self.removal_effects_ = effects(w)
        self.n_states_ = n_states
        has_steps = has_unit & (np.bincount(jn, minlength=n_u) > 0)[np.maximum(unit_of, 0)]
        credited = conv & has_steps
        self.n_conversions_ = int(credited.sum())
        self.conversion_value_ = float(value[credited].sum())
        share = self.removal_effects_ / max(self.removal_effects_.sum(), 1e-300)
        self.attributed_ = share * self.n_conversions_
        self.attributed_value_ = share * self.conversion_value_
        self.boot_ = None
        if self.n_boot:
            rng = np.random.default_rng(self.random_state)
            boots = []
            unit_bin = np.where(has_unit, unit_of, n_u)  # journeys without a path: a spare bin
            cred = credited.astype(float)
            for _ in range(self.n_boot):
                jw = rng.poisson(1.0, n_j).astype(float)
                uw = np.bincount(unit_bin, weights=jw, minlength=n_u + 1)[:n_u]
                wb = np.bincount(pair_idx, weights=uw[jj], minlength=len(pair))
                _, reb = effects(wb)
                nconv_b = float(jw @ cred)
                boots.append(reb / max(reb.sum(), 1e-300) * nconv_b)
            self.boot_ = np.array(boots)
        return self

    def summary(self) -> pd.DataFrame:
        """Per touchpoint: removal_effect, estimate (attributed conversions), ci_low, ci_high,
        p_value (NaN: no test), attributed value."""
        out = pd.DataFrame(
            {
                "touchpoint": self.touchpoints_,
                "removal_effect": self.removal_effects_,
                "estimate": self.attributed_,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "p_value": np.nan,
                "value": self.attributed_value_,
            }
        )
        if self.boot_ is not None:
            out["ci_low"] = np.percentile(self.boot_, 2.5, axis=0)
            out["ci_high"] = np.percentile(self.boot_, 97.5, axis=0)
        return out


def attribution_table(
    jd: JourneyData, *, markov_order: int = 1, n_boot: int = 0, random_state: int | None = 0
) -> pd.DataFrame:
    """First-touch, last-touch, linear and Markov attribution of conversions and value.

    Columns: touchpoint, first_touch, last_touch, linear, markov, removal_effect (conversions
    attributed per model; each model's column sums to the number of converted journeys), then
    the same four models for conversion value (``*_value``) and, with ``n_boot``, Markov
    confidence bounds (markov_ci_low, markov_ci_high); ``customers`` = distinct customers whose
    journeys visited the touchpoint.
    """
    names = _tp_names(jd)
    models, vals, n_cust = _attribution_counts(jd)
    mk = MarkovAttribution(order=markov_order, n_boot=n_boot, random_state=random_state).fit(jd)
    ms = mk.summary().set_index("touchpoint")
    tps = [t for t in names if t != jd.conversion_touchpoint]
    out = pd.DataFrame({"touchpoint": tps})
    idx = [names.index(t) for t in tps]
    for k_, arr in models.items():
        out[k_] = np.asarray(arr, dtype=float)[idx]
    out["markov"] = out["touchpoint"].map(ms["estimate"]).fillna(0.0)
    out["removal_effect"] = out["touchpoint"].map(ms["removal_effect"]).fillna(0.0)
    for k_, arr in vals.items():
        out[k_] = np.asarray(arr, dtype=float)[idx]
    out["markov_value"] = out["touchpoint"].map(ms["value"]).fillna(0.0)
    if n_boot:
        out["markov_ci_low"] = out["touchpoint"].map(ms["ci_low"])
        out["markov_ci_high"] = out["touchpoint"].map(ms["ci_high"])
    out["customers"] = n_cust[[names.index(t) for t in out["touchpoint"]]]
    out.attrs["conversion_probability"] = mk.conversion_probability_
    out.attrs["markov_states"] = mk.n_states_
    return out.sort_values("markov", ascending=False).reset_index(drop=True)


def _attribution_counts(
    jd: JourneyData,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """First-touch, last-touch and linear credit (conversions, value) per touchpoint code, and
    the distinct customers whose journeys visited each touchpoint (for small-group
    suppression)."""
    import ibis

    n_tp = len(_tp_names(jd))
    st = jd.backend.steps
    st = st.filter(~st["is_conversion"])
    values = pd.DataFrame(
        {"journey": np.arange(jd.n_journeys), "jvalue": jd.journeys["value"].to_numpy(float)}
    )
    c = st.filter(st["jconv"])
    w = ibis.window(group_by="journey")
    c = c.mutate(n=c.count().over(w), p0=c["pos"].min().over(w), p1=c["pos"].max().over(w))
    c = c.join(ibis.memtable(values), "journey")
    is_f, is_l = c["pos"] == c["p0"], c["pos"] == c["p1"]
    lin = 1.0 / c["n"].cast("float64")
    agg = (
        c.group_by("tp")
        .aggregate(
            first_touch=is_f.cast("int64").sum(),
            last_touch=is_l.cast("int64").sum(),
            linear=lin.sum(),
            first_touch_value=c["jvalue"].sum(where=is_f),
            last_touch_value=c["jvalue"].sum(where=is_l),
            linear_value=(lin * c["jvalue"]).sum(),
        )
        .to_pandas()
    )
    cust = st.group_by("tp").aggregate(n=st["customer_id"].nunique()).to_pandas()

    def dense(df: pd.DataFrame, col: str) -> np.ndarray:
        arr = np.zeros(n_tp)
        arr[df["tp"].to_numpy(dtype=np.int64)] = df[col].fillna(0.0).to_numpy(dtype=float)
        return arr

    models = {k: dense(agg, k) for k in ("first_touch", "last_touch", "linear")}
    vals = {f"{k}_value": dense(agg, f"{k}_value") for k in ("first_touch", "last_touch", "linear")}
    return models, vals, dense(cust, "n").astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Feedback, friction, opportunity and priorities
# ---------------------------------------------------------------------------------------------


def link_feedback(
    jd: JourneyData, feedback: pd.DataFrame, *, max_days: float = 7.0
) -> pd.DataFrame:
    """Attach feedback to journeys: by ``journey_id`` when both tables carry it, else to the
    customer's latest journey that ended within ``max_days`` before the feedback.

    Returns the feedback rows (score, complaint, touchpoint) with ``journey`` (journey number
    or -1), ``journey_type`` and ``linked_by`` (journey_id / time / none). The feedback
    ``touchpoint`` falls back to the journey's friction step, else its last step.
    """
    fb = feedback.copy()
    j = jd.journeys
    fb["journey"] = -1
    fb["linked_by"] = "none"
    if "journey_id" in fb.columns and jd.params.get("used_journey_id"):
        base = j["journey_id"].astype("str").str.replace(r"\.\d+$", "", regex=True)
        # a journey id split at a conversion: feedback goes to its last part
        lookup = pd.Series(np.arange(len(j)), index=base.to_numpy())
        lookup = lookup[~lookup.index.duplicated(keep="last")]
        m = fb["journey_id"].astype("str").map(lookup)
        ok = m.notna().to_numpy()
        fb.loc[ok, "journey"] = m[ok].astype(int).to_numpy()
        fb.loc[ok, "linked_by"] = "journey_id"
    todo = fb["journey"].to_numpy() < 0
    if todo.any() and len(j):
        left = fb.loc[todo, ["customer_id", "timestamp"]].copy()
        left["_row"] = np.flatnonzero(todo)
        left["timestamp"] = pd.to_datetime(left["timestamp"]).astype("datetime64[ns]")
        left["customer_id"] = left["customer_id"].astype("str")
        right = pd.DataFrame(
            {
                "customer_id": j["customer_id"].astype("str").to_numpy(),
                "timestamp": j["end"].astype("datetime64[ns]").to_numpy(),
                "_j": np.arange(len(j)),
            }
        )
        left = left.sort_values("timestamp", kind="stable")
        right = right.sort_values("timestamp", kind="stable")
        mm = pd.merge_asof(
            left,
            right,
            on="timestamp",
            by="customer_id",
            direction="backward",
            tolerance=pd.Timedelta(days=max_days),
        )
        ok = mm["_j"].notna().to_numpy()
        rows = mm["_row"].to_numpy()[ok]
        fb.iloc[rows, fb.columns.get_loc("journey")] = mm["_j"].to_numpy()[ok].astype(int)
        fb.iloc[rows, fb.columns.get_loc("linked_by")] = "time"
    jnum = fb["journey"].to_numpy()
    linked = jnum >= 0
    jt = np.full(len(fb), None, dtype=object)
    jt[linked] = j["journey_type"].to_numpy()[jnum[linked]]
    fb["journey_type"] = pd.array(jt, dtype="str")
    fallback = np.full(len(fb), None, dtype=object)
    ftp = j["friction_touchpoint"].to_numpy()[jnum[linked]]
    ltp = j["last_touchpoint"].to_numpy()[jnum[linked]]
    fallback[linked] = np.where(pd.notna(ftp), ftp, ltp)
    if "touchpoint" in fb.columns:
        tpv = fb["touchpoint"].astype("str").to_numpy(dtype=object)
        fb["touchpoint"] = pd.array(np.where(pd.isna(tpv), fallback, tpv), dtype="str")
    else:
        fb["touchpoint"] = pd.array(fallback, dtype="str")
    if "complaint" not in fb.columns:
        fb["complaint"] = np.nan
    return fb


def friction_by_touchpoint(jd: JourneyData, feedback: pd.DataFrame | None = None) -> pd.DataFrame:
    """Friction per journey type and touchpoint.

    Columns: journey_type, touchpoint, channel_type, journeys (reaching it), customers,
    drop_off_rate (share of those journeys that ended there unconverted), retry_rate,
    loop_rate (share going back to an earlier touchpoint from here), contact_after_rate (share
    followed by a repeat contact), median_minutes_to_next (after the first visit),
    friction_journeys (journeys with a counted friction signal here), lost_conversions
    (see :func:`opportunity`), and with feedback avg_score, complaint_rate, feedback_n.
    """
    out = _touchpoint_friction(jd)
    return _friction_by_touchpoint_tail(jd, out, feedback)


def _friction_by_touchpoint_tail(
    jd: JourneyData, out: pd.DataFrame, feedback: pd.DataFrame | None
) -> pd.DataFrame:
    """Names, channel types, lost conversions and feedback for :func:`friction_by_touchpoint`."""
    cats = jd.journeys["journey_type"].cat.categories
    out["journey_type"] = [str(cats[c]) for c in out["type"]]
    out = out.drop(columns="type")
    names = _tp_names(jd)
    out["touchpoint"] = [names[c] for c in out["tp"]]
    out["channel_type"] = out["touchpoint"].map(jd.touchpoint_types)
    opp = _lost_by_touchpoint(jd)
    out = out.merge(
        opp[["journey_type", "touchpoint", "friction_journeys", "lost_conversions"]],
        on=["journey_type", "touchpoint"],
        how="left",
    )
    out[["friction_journeys", "lost_conversions"]] = out[
        ["friction_journeys", "lost_conversions"]
    ].fillna(0.0)
    if feedback is not None and len(feedback):
        fb = feedback[feedback["journey"] >= 0] if "journey" in feedback else feedback
        fa = (
            fb.groupby(["journey_type", "touchpoint"])
            .agg(
                avg_score=("score", "mean"),
                complaint_rate=("complaint", "mean"),
                feedback_n=("score", "size"),
            )
            .reset_index()
        )
        out = out.merge(fa, on=["journey_type", "touchpoint"], how="left")
    cols = ["journey_type", "touchpoint", "channel_type"] + [
        c for c in out.columns if c not in ("journey_type", "touchpoint", "channel_type", "tp")
    ]
    return (
        out[cols]
        .sort_values(["journey_type", "journeys"], ascending=[True, False])
        .reset_index(drop=True)
    )


def _lost_by_touchpoint(jd: JourneyData, min_smooth: int = 20, alpha: float = 0.05) -> pd.DataFrame:
    """Smooth-step benchmark per (journey type, touchpoint).

    Among the journeys that reached the touchpoint, those with a friction signal there
    (``friction_journeys``; a journey's loop counts once, at its first backtrack) are compared
    with those that passed it smoothly. ``lost_conversions = friction_journeys x (smooth rate - friction rate)`` when the
    friction journeys convert worse with a one-sided two-proportion test p-value below
    ``alpha`` and at least ``min_smooth`` smooth journeys exist; else 0 (a signal that does not
    clearly cost conversions, such as comparing products, is not counted as a loss).
    """
    from statsmodels.stats.proportion import test_proportions_2indep

    runs = jd.backend.runs
    g = jd.backend.engine.cached(runs, "journey_signals", lambda: _signal_counts(jd)).copy()
    rate_s = g["conv_smooth"] / g["smooth"].replace(0, np.nan)
    rate_f = g["conv_at"] / g["at"].replace(0, np.nan)
    p = np.ones(len(g))
    for i in np.flatnonzero((g["at"] > 0).to_numpy() & (g["smooth"] >= min_smooth).to_numpy()):
        if rate_f.iloc[i] >= rate_s.iloc[i]:
            continue
        res = test_proportions_2indep(
            int(g["conv_at"].iloc[i]),
            int(g["at"].iloc[i]),
            int(g["conv_smooth"].iloc[i]),
            int(g["smooth"].iloc[i]),
            alternative="smaller",
            method="agresti-caffo",
        )
        p[i] = float(res.pvalue)
    g["p_value"] = p
    ok = (g["smooth"] >= min_smooth) & (g["p_value"] < alpha)
    g["lost_conversions"] = np.where(ok, (g["at"] * (rate_s - rate_f)).fillna(0.0), 0.0)
    g["friction_journeys"] = g["at"]
    g["smooth_rate"] = rate_s
    g["friction_rate"] = rate_f
    kinds = g[["retry", "loop", "contact"]].to_numpy()
    g["friction_kind"] = np.where(
        kinds.sum(axis=1) > 0, np.array(["retry", "loop", "contact"])[kinds.argmax(axis=1)], ""
    )
    names = _tp_names(jd)
    g["touchpoint"] = [names[c] for c in g["tp"]]
    return g.drop(columns=["tp", "retry", "loop", "contact", "conv_at", "conv_smooth"])


def opportunity(
    jd: JourneyData,
    *,
    target_conversion: float | Mapping[str, float] | None = None,
    value_per_conversion: float | Mapping[str, float] | None = None,
    min_smooth: int = 20,
    alpha: float = 0.05,
    min_value_n: int = 10,
) -> pd.DataFrame:
    """Opportunity per journey type: customers x (target - current conversion) x value.

    ``target_conversion`` None uses the smooth-step benchmark (current conversion plus the
    conversions recovered if journeys converted after their friction step like journeys that
    passed it smoothly - only where the friction clearly costs conversions, one-sided test at
    ``alpha`` - per journey); a number or a mapping per type sets it instead (never
    below the current rate). ``value_per_conversion`` None uses the type's mean conversion
    value (the overall mean when the type has fewer than ``min_value_n`` valued conversions;
    1.0, i.e. opportunity in conversions, when events carry no value).
    """
    j = jd.journeys
    g = j.groupby("journey_type")
    out = pd.DataFrame(
        {
            "customers": g["customer_id"].nunique(),
            "journeys": g.size(),
            "conversions": g["converted"].sum().astype(int),
        }
    )
    out["conversion_rate"] = out["conversions"] / out["journeys"]
    lost = _lost_by_touchpoint(jd, min_smooth=min_smooth, alpha=alpha)
    lt = lost.groupby("journey_type")["lost_conversions"].sum().reindex(out.index).fillna(0.0)
    worst = (
        lost[lost["lost_conversions"] > 0]
        .sort_values("lost_conversions", ascending=False)
        .drop_duplicates("journey_type")
        .set_index("journey_type")
    )
    out["main_friction_touchpoint"] = worst["touchpoint"].reindex(out.index)
    out["main_friction_kind"] = worst["friction_kind"].reindex(out.index)
    nonconv_fric = (j["has_friction"] & ~j["converted"]).groupby(j["journey_type"]).sum()
    lt = np.minimum(lt.clip(lower=0.0), nonconv_fric.reindex(out.index).fillna(0))
    bench = out["conversion_rate"] + lt / out["journeys"]
    if target_conversion is None:
        target = bench
    elif isinstance(target_conversion, Mapping):
        target = pd.Series(target_conversion, dtype=float).reindex(out.index).fillna(bench)
    else:
        target = pd.Series(float(target_conversion), index=out.index)
    out["target_conversion"] = np.maximum(target, out["conversion_rate"])
    conv_vals = j.loc[j["converted"], ["journey_type", "value"]]
    has_value = conv_vals["value"].abs().sum() > 0
    overall = float(conv_vals["value"].mean()) if has_value and len(conv_vals) else 1.0
    if value_per_conversion is None:
        if has_value:
            vg = conv_vals.groupby("journey_type")["value"].agg(["mean", "size"])
            v = vg["mean"].where(vg["size"] >= min_value_n, overall).reindex(out.index)
            v = v.fillna(overall)
        else:
            v = pd.Series(1.0, index=out.index)
    elif isinstance(value_per_conversion, Mapping):
        v = pd.Series(value_per_conversion, dtype=float).reindex(out.index).fillna(overall)
    else:
        v = pd.Series(float(value_per_conversion), index=out.index)
    out["value_per_conversion"] = v
    out["conversion_gap"] = out["target_conversion"] - out["conversion_rate"]
    out["extra_conversions"] = out["customers"] * out["conversion_gap"]
    out["opportunity_value"] = out["extra_conversions"] * v
    out.index = out.index.astype("str")
    out.index.name = "journey"
    out = out.reset_index()
    # False when events carry no value and none was given: opportunity is in conversions
    out.attrs["value_known"] = bool(has_value or value_per_conversion is not None)
    return out


def friction_by_type(jd: JourneyData, feedback: pd.DataFrame | None = None) -> pd.DataFrame:
    """Friction summary per journey type: journeys, customers, conversion, loops, retries,
    repeat contacts, time to complete (median minutes of converted journeys), drop-off step
    (where most abandoned journeys end), avg steps, and satisfaction / complaints from linked
    feedback."""
    j = jd.journeys
    g = j.groupby("journey_type")
    out = pd.DataFrame(
        {
            "customers": g["customer_id"].nunique(),
            "journeys": g.size(),
            "conversion_rate": g["converted"].mean(),
            "loop_rate": g["has_loop"].mean(),
            "retry_rate": g["has_retry"].mean(),
            "repeat_contact_rate": g["n_repeat_contacts"].apply(lambda s: (s > 0).mean()),
            "contacts_per_journey": g["n_contacts"].mean(),
            "friction_rate": g["has_friction"].mean(),
            "avg_steps": g["n_steps"].mean(),
        }
    )
    done = j[j["converted"]]
    out["minutes_to_complete"] = done.groupby("journey_type")["minutes"].median()
    ab = j[~j["converted"]]
    if len(ab):
        mode = (
            ab.groupby(["journey_type", "last_touchpoint"])
            .size()
            .reset_index(name="n")
            .sort_values(["journey_type", "n", "last_touchpoint"], ascending=[True, False, True])
            .drop_duplicates("journey_type")
            .set_index("journey_type")
        )
        out["drop_off_step"] = mode["last_touchpoint"]
        out["drop_off_share"] = mode["n"] / g.size()
    else:
        out["drop_off_step"] = ""
        out["drop_off_share"] = 0.0
    fr = j[j["has_friction"]]
    if len(fr):
        top = (
            fr.groupby(["journey_type", "friction_touchpoint", "friction_kind"])
            .size()
            .reset_index(name="n")
            .sort_values(["journey_type", "n"], ascending=[True, False])
            .drop_duplicates("journey_type")
            .set_index("journey_type")
        )
        out["common_friction_touchpoint"] = top["friction_touchpoint"].astype("str")
        out["common_friction_kind"] = top["friction_kind"].astype("str")
    if feedback is not None and len(feedback) and "journey_type" in feedback:
        fb = feedback[feedback["journey_type"].notna()]
        fg = fb.groupby("journey_type")
        out["avg_satisfaction"] = fg["score"].mean()
        out["complaint_rate"] = fg["complaint"].mean()
        out["feedback_n"] = fg.size()
    out.index = out.index.astype("str")
    out.index.name = "journey"
    return out.reset_index()


_KIND_TEXT = {
    "retry": "customers repeat the step (it fails or stalls)",
    "loop": "customers go round in circles",
    "contact": "customers give up and contact us",
}


def prioritise(
    jd: JourneyData,
    feedback: pd.DataFrame | None = None,
    *,
    target_conversion: float | Mapping[str, float] | None = None,
    value_per_conversion: float | Mapping[str, float] | None = None,
    min_group_size: int = 10,
    fix_effort: Mapping[str, str] | None = None,
    currency: str = "",
) -> pd.DataFrame:
    """Ranked "fix first" table, one row per journey type.

    Columns: rank, journey, customers, journeys, conversion_rate (with Wilson 95% CI),
    target_conversion, drop_off_step, avg_satisfaction, satisfaction_gap (overall mean score
    minus the type's; positive = less satisfied than average), effort (customer effort: steps
    plus assisted contacts per journey), fix_effort (from ``fix_effort`` when given),
    extra_conversions (customers x conversion gap), opportunity_value, main friction and a plain-language recommendation.
    Journey types under ``min_group_size`` customers are suppressed (count in
    ``attrs["suppressed_groups"]``).
    """
    from statsmodels.stats.proportion import proportion_confint

    from cxlib.privacy import suppress_small_groups

    opp = opportunity(
        jd, target_conversion=target_conversion, value_per_conversion=value_per_conversion
    )
    fr = friction_by_type(jd, feedback).set_index("journey")
    out = opp.set_index("journey")
    lo, hi = proportion_confint(out["conversions"], out["journeys"], method="wilson")
    out["conversion_ci_low"], out["conversion_ci_high"] = lo, hi
    for c in (
        "drop_off_step",
        "avg_steps",
        "contacts_per_journey",
        "avg_satisfaction",
        "complaint_rate",
        "friction_rate",
        "repeat_contact_rate",
        "loop_rate",
        "retry_rate",
    ):
        out[c] = fr[c] if c in fr else np.nan
    if "avg_satisfaction" in fr and feedback is not None and len(feedback):
        overall = float(feedback.loc[feedback["journey_type"].notna(), "score"].mean())
        out["satisfaction_gap"] = overall - out["avg_satisfaction"]
    else:
        out["satisfaction_gap"] = np.nan
    out["effort"] = out["avg_steps"] + out["contacts_per_journey"]
    out["fix_effort"] = [(fix_effort or {}).get(k, "not assessed") for k in out.index]
    out = out.reset_index()
    out = suppress_small_groups(out, "customers", min_group_size)
    suppressed = out.attrs.get("suppressed_groups", 0)
    out = out.sort_values(["opportunity_value", "journeys"], ascending=False, kind="stable")
    out["rank"] = np.arange(1, len(out) + 1)
    value_known = opp.attrs.get("value_known", True)
    out["recommendation"] = [
        _recommend(row, currency, value_known) for row in out.itertuples(index=False)
    ]
    cols = [
        "rank",
        "journey",
        "customers",
        "journeys",
        "conversion_rate",
        "conversion_ci_low",
        "conversion_ci_high",
        "target_conversion",
        "drop_off_step",
        "avg_satisfaction",
        "satisfaction_gap",
        "complaint_rate",
        "effort",
        "fix_effort",
        "extra_conversions",
        "value_per_conversion",
        "opportunity_value",
        "main_friction_touchpoint",
        "main_friction_kind",
        "friction_rate",
        "recommendation",
    ]
    out = out[cols].reset_index(drop=True)
    out.attrs["suppressed_groups"] = suppressed
    out.attrs["value_known"] = value_known
    return out


def _recommend(row: Any, currency: str = "", value_known: bool = True) -> str:
    """One plain-language recommendation for a prioritised journey type."""
    worth = f" worth {currency}{row.opportunity_value:,.0f}" if value_known else ""
    conv = f"{row.conversion_rate:.1%}"
    tgt = f"{row.target_conversion:.1%}"
    if row.opportunity_value <= 0 or row.target_conversion - row.conversion_rate < 0.0005:
        return (
            f"Monitor: '{row.journey}' journeys convert at {conv} and show no friction that "
            f"costs conversions; keep them as they are."
        )
    kind = row.main_friction_kind if isinstance(row.main_friction_kind, str) else ""
    where = row.main_friction_touchpoint if isinstance(row.main_friction_touchpoint, str) else ""
    what = _KIND_TEXT.get(kind, "customers drop out")
    sat = ""
    if pd.notna(row.satisfaction_gap) and row.satisfaction_gap > 0.3:
        sat = f" Satisfaction is {row.satisfaction_gap:.1f} points below average."
    step = f" at '{where}'" if where else f" at '{row.drop_off_step}'"
    return (
        f"Fix '{row.journey}' journeys{step}: {what}. Bringing conversion from {conv} to {tgt} "
        f"would add about {row.extra_conversions:,.0f} converting customers{worth}.{sat}"
    )


# ---------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------

#: Columns of ``exports/attribution.csv`` (conversions credited per model; see docs/outputs.md).
ATTRIBUTION_EXPORT_COLUMNS = [
    "touchpoint",
    "first_touch",
    "last_touch",
    "linear",
    "markov",
    "removal_effect",
]
#: Columns of ``exports/journey_priorities.csv`` (see docs/outputs.md).
PRIORITY_EXPORT_COLUMNS = [
    "journey",
    "customers",
    "journeys",
    "conversion_rate",
    "drop_off_step",
    "avg_satisfaction",
    "opportunity_value",
    "rank",
]


def attribution_export(table: pd.DataFrame) -> pd.DataFrame:
    """The attribution table in export form (:data:`ATTRIBUTION_EXPORT_COLUMNS`, rounded)."""
    out = table[ATTRIBUTION_EXPORT_COLUMNS].copy()
    out["removal_effect"] = out["removal_effect"].round(6)
    for c in ("first_touch", "last_touch", "linear", "markov"):
        out[c] = out[c].round(4)
    return out.reset_index(drop=True)


def priorities_export(priorities: pd.DataFrame) -> pd.DataFrame:
    """The prioritisation table in export form (:data:`PRIORITY_EXPORT_COLUMNS`, rounded)."""
    out = priorities[PRIORITY_EXPORT_COLUMNS].copy()
    for c in ("conversion_rate", "avg_satisfaction"):
        out[c] = out[c].astype(float).round(4)
    out["opportunity_value"] = out["opportunity_value"].round(2)
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Backend (Ibis) journeys: built and aggregated in the backend, only journey-level data back
# ---------------------------------------------------------------------------------------------

_EPOCH = "1970-01-01 00:00:00"


@dataclass
class _Backend:
    """The backend side of a :class:`JourneyData`.

    ``runs`` / ``steps`` (also ``JourneyData.runs`` / ``.steps``) are backend tables joined with
    the journey attributes ``jtype`` (journey type code), ``jconv`` (converted), ``jlast`` (last
    touchpoint code), ``jloop`` (first backtrack position, NULL when none) and ``customer_id``,
    kept by ``engine`` (closed with the journeys when ``owns_engine``).
    """

    engine: Engine
    runs: Any
    steps: Any
    max_step_pos: int
    owns_engine: bool = False


def _drop(engine: Engine, table: Any) -> None:
    """Drop a table kept by ``engine`` now (the event-level tables are large)."""
    import ibis

    engine.drop(table)
    try:  # Engine.drop matches the bare name; DuckDB's get_name() is qualified (temp.main.x)
        ibis.get_backend(table).drop_table(table.get_name().split(".")[-1], force=True)
    except Exception:  # noqa: BLE001 - already dropped, or a cached (Spark) table
        log.debug("journey: table already dropped")


def _build_journeys(
    events: Any,
    engine: Engine,
    *,
    conversion_touchpoint: str,
    session_gap_minutes: float,
    collapse_repeats: bool,
    use_journey_id: bool,
    channel_types: Mapping[str, str] | None,
    contact_touchpoints: Sequence[str] | None,
    contact_window_minutes: float,
    type_map: Mapping[str, str] | None,
) -> JourneyData:
    """:func:`build_journeys` on a backend table: sessions, runs, friction flags and the journey
    table computed in the backend; only the journey table comes back to pandas."""
    import ibis

    cols = list(events.columns)
    has_jid = use_journey_id and "journey_id" in cols
    base = events.mutate(cx_tp=events["touchpoint"].cast("string").strip())
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
        contacts = [t for t in tp_names if tp_types[t] == "human" and not _VISIT_PATTERN.search(t)]
    else:
        contacts = [t for t in contact_touchpoints if t in tp_names]
    tmap = {str(a): str(b) for a, b in (type_map or {}).items()}
    tpt = ibis.memtable(
        pd.DataFrame(
            {
                "cx_tp": tp_names,
                "tp": np.arange(k, dtype=np.int64),
                "is_conv": [t == conversion_touchpoint for t in tp_names],
                "is_dig": [tp_types[t] in ("digital", "unknown") for t in tp_names],
                "is_contact": [t in contacts for t in tp_names],
                "is_mapped": [t in tmap for t in tp_names],
            }
        )
    )
    ev = base.join(tpt, "cx_tp")
    us = ev["timestamp"].delta(ibis.timestamp(_EPOCH), unit="microsecond")
    row = ev[ROW_ORDER] if ROW_ORDER in cols else ibis.row_number()
    if ROW_ORDER not in cols:
        log.warning(
            "build_journeys: events table without %s; ties in time in no set order", ROW_ORDER
        )
    if has_jid:
        jk = ibis.ifelse(ev["journey_id"].isnull(), -1, row.min().over(group_by=ev["journey_id"]))
        jid = ev["journey_id"].cast("string")
    else:
        jk, jid = ibis.literal(-1, "int64"), ibis.null("string")
    value = ev["value"].cast("float64").fill_null(0.0) if "value" in cols else ibis.literal(0.0)
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
    w = ibis.window(group_by="customer_id", order_by=["jk", "t", "row"])
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
    cw = ibis.cumulative_window(group_by="customer_id", order_by=["jk", "t", "row"])
    ev = ev.mutate(lj=ev["brk"].sum().over(cw), lr=ev["rbrk"].sum().over(cw))
    ev = ev.drop("p_jk", "p_t", "p_conv", "p_tp", "brk", "rbrk")
    ev = engine.keep(ev, "cx_journey_events")
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
    j0 = j0.mutate(journey=ibis.row_number().over(order_by=["customer_id", "lj"]))
    j0 = engine.keep(j0, "cx_journey_j0")
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
        is_conversion=r["is_conv"],
        is_contact=r["is_contact"],
        pos=r["lr"] - r["lr0"],
    )
    # one window pass over each journey's runs (the neighbours' flags are built from the
    # neighbours' columns, not from a second window over the first)
    fp = r.group_by(["journey", "tp"]).aggregate(first_pos=r["pos"].min())
    r = r.join(fp, ["journey", "tp"])
    r = r.mutate(is_revisit=(r["pos"] > r["first_pos"]) & ~r["is_conversion"])
    wr = ibis.window(group_by="journey", order_by="pos")
    whole = ibis.window(group_by="journey", order_by="pos", preceding=None, following=None)
    r = r.mutate(
        first_dig=ibis.ifelse(r["is_dig"], r["pos"], None).min().over(whole),
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
    window = float(contact_window_minutes)
    rep = (
        r["is_contact"]
        & r["p_tp"].notnull()
        & (r["pos"] > r["first_dig"])
        & ((r["t0"] - r["p_t1"]) <= window)
        & (r["p_dig"] | r["p_contact"])
    ).fill_null(False)
    next_rep = (  # the next run's repeat_contact
        r["n_contact"]
        & r["n_tp"].notnull()
        & ((r["pos"] + 1) > r["first_dig"])
        & ((r["n_t0"] - r["t1"]) <= window)
        & (r["is_dig"] | r["is_contact"])
    ).fill_null(False)
    r = r.mutate(
        is_retry=(r["repeats"] > 1) & ~r["is_conversion"],
        repeat_contact=rep,
        contact_cand=rep & r["p_dig"].fill_null(False),
        next_repeat_contact=next_rep,
        minutes_to_next=r["n_t0"] - r["t1"],
    )
    r = r.drop("first_pos", "first_dig", "p_tp", "p_t1", "p_dig", "p_contact", "n_t0", "n_contact")
    runs = engine.keep(r, "cx_journey_runs")
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
        max_pos=runs["pos"].max(),
    )
    ja = ja.join(j0.drop("lj", "lr0", "jk"), "journey").order_by("journey")
    jf = ja.to_pandas()
    big = np.iinfo(np.int64).max
    cand = {
        c: jf[f"{c}_pos"].astype("Int64").fillna(big).to_numpy(dtype=np.int64)
        for c in ("retry", "loop", "contact")
    }
    n_j = len(jf)
    fpos = np.minimum(np.minimum(cand["retry"], cand["loop"]), cand["contact"])
    kind = np.where(
        fpos == big,
        "",
        np.where(
            cand["contact"] == fpos, "contact", np.where(cand["retry"] == fpos, "retry", "loop")
        ),
    )
    first_tp = jf["first_tp"].to_numpy().astype(np.int64)
    entry_tp = jf["entry_nc"].fillna(-1).to_numpy().astype(np.int64)
    entry_tp = np.where(entry_tp >= 0, entry_tp, first_tp)
    last_tp = jf["last_nc"].fillna(-1).to_numpy().astype(np.int64)
    last_tp = np.where(last_tp >= 0, last_tp, first_tp)
    fpos_safe = np.where(fpos == big, -1, fpos)
    has_f = fpos_safe >= 0
    # journey ids
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
    mapped_tp = jf["mapped_tp"].fillna(-1).to_numpy().astype(np.int64)
    jtype = _journey_type_codes(entry_tp, mapped_tp, tp_names, type_map)
    tp_cat = pd.CategoricalDtype(tp_names)
    kinds = ["retry", "loop", "contact"]
    kind_code = np.select([kind == x for x in kinds], [0, 1, 2], -1)
    # the friction step's touchpoint, per journey with friction
    attr = pd.DataFrame(
        {
            "journey": np.arange(n_j, dtype=np.int64),
            "jtype": np.asarray(jtype.codes, dtype=np.int64),
            "jconv": jf["converted"].to_numpy(dtype=bool),
            "jlast": last_tp,
            "jloop": jf["loop_pos"].astype("Int64"),
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
    journeys = pd.DataFrame(
        {
            "journey_id": jid_out.array,
            "customer_id": pd.array(jf["customer_id"].to_numpy(dtype=object), dtype="str"),
            "journey_type": jtype,
            "entry_touchpoint": pd.Categorical.from_codes(entry_tp, dtype=tp_cat),
            "start": pd.to_datetime(jf["start"]).to_numpy().astype("datetime64[ns]"),
            "end": pd.to_datetime(jf["end"]).to_numpy().astype("datetime64[ns]"),
            "minutes": jf["t_end"].to_numpy(dtype=float) - jf["t_start"].to_numpy(dtype=float),
            "n_steps": jf["n_steps"].to_numpy().astype(int),
            "converted": jf["converted"].to_numpy(dtype=bool),
            "value": jf["value"].fillna(0.0).to_numpy(dtype=float),
            "last_touchpoint": pd.Categorical.from_codes(last_tp, dtype=tp_cat),
            "has_retry": jf["has_retry"].to_numpy(dtype=bool),
            "has_loop": jf["n_revisits"].to_numpy() > 0,
            "n_revisits": jf["n_revisits"].to_numpy().astype(int),
            "n_contacts": jf["n_contacts"].to_numpy().astype(int),
            "n_repeat_contacts": jf["n_repeat_contacts"].to_numpy().astype(int),
            "has_friction": has_f,
            "friction_pos": fpos_safe,
            "friction_touchpoint": pd.Categorical.from_codes(fric_code, dtype=tp_cat),
            "friction_kind": pd.Categorical.from_codes(kind_code, categories=kinds),
        }
    )
    journeys.index.name = "journey"
    jattr = attr_t.drop("jfpos")
    runs_x = engine.keep(runs.join(jattr, "journey"), "cx_journey_runs_x")
    for t in (runs, j0 if collapse_repeats else None, attr_kept):
        if t is not None:
            _drop(engine, t)
    if collapse_repeats:
        steps_x = runs_x
        max_step_pos = int(jf["max_pos"].max())
    else:
        e = ev.join(j0.select("customer_id", "lj", "journey"), ["customer_id", "lj"])
        e = e.select(
            "journey",
            "customer_id",
            "tp",
            "timestamp",
            "value",
            t0=e["t"],
            repeats=ibis.literal(1, "int64"),
            is_conversion=e["is_conv"],
            pos=ibis.row_number().over(group_by="journey", order_by=["jk", "t", "row"]),
        )
        we = ibis.window(group_by="journey", order_by="pos")
        e = e.mutate(n_tp=e["tp"].lead().over(we), n_conv=e["is_conversion"].lead().over(we))
        e = e.join(
            runs_x.select("journey", "jtype", "jconv", "jlast", "jloop").distinct(), "journey"
        )
        steps_x = engine.keep(e, "cx_journey_steps")
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
        params=_build_params(
            session_gap_minutes, collapse_repeats, has_jid, contact_window_minutes, tp_names
        ),
        backend=_Backend(engine, runs_x, steps_x, max_step_pos),
    )


def _type_code(jd: JourneyData, journey_type: str) -> int:
    """The backend's code of a journey type (-1 when no journey has it)."""
    cats = [str(c) for c in jd.journeys["journey_type"].cat.categories]
    return cats.index(journey_type) if journey_type in cats else -1


def _top_paths(jd: JourneyData, n: int, journey_type: str | None) -> pd.DataFrame:
    max_steps = 30
    st = jd.backend.steps
    if journey_type is not None:
        st = st.filter(st["jtype"] == _type_code(jd, journey_type))
    per = st.group_by("journey").aggregate(
        key=st["tp"]
        .cast("string")
        .group_concat(",", where=st["pos"] < max_steps, order_by=st["pos"]),
        over=st["pos"].max() >= max_steps,
        customer_id=st["customer_id"].max(),
        converted=st["jconv"].max(),
    )
    agg = (
        per.group_by(["key", "over"])
        .aggregate(
            journeys=per.count(),
            customers=per["customer_id"].nunique(),
            conversions=per["converted"].cast("int64").sum(),
        )
        .to_pandas()
    )
    cols = ["path", "journeys", "customers", "share", "conversions", "conversion_rate"]
    if not len(agg):
        return pd.DataFrame(columns=cols)
    width = int(min(jd.backend.max_step_pos + 1, max_steps))
    mat = np.full((len(agg), width + 1), -1, dtype=np.int32)
    for i, key in enumerate(agg["key"]):
        c = np.array(key.split(","), dtype=np.int32)
        mat[i, : len(c)] = c
    mat[:, width] = agg["over"].to_numpy(dtype=bool)
    rows = np.ascontiguousarray(mat).view(np.dtype((np.void, mat.dtype.itemsize * mat.shape[1])))
    _, inv = np.unique(rows.ravel(), return_inverse=True)  # the pandas path's path order
    agg = agg.iloc[np.argsort(inv.ravel(), kind="stable")]
    total = int(agg["journeys"].sum())
    agg = agg.sort_values(["journeys", "conversions"], ascending=False).head(n)
    names = _tp_names(jd)
    paths = [
        " > ".join(names[int(c)] for c in key.split(",")) + (" > ..." if over else "")
        for key, over in zip(agg["key"], agg["over"], strict=True)
    ]
    out = pd.DataFrame(
        {
            "path": paths,
            "journeys": agg["journeys"].to_numpy().astype(np.int64),
            "customers": agg["customers"].to_numpy().astype(np.int64),
            "share": agg["journeys"].to_numpy() / max(total, 1),
            "conversions": agg["conversions"].to_numpy().astype(int),
        }
    )
    out["conversion_rate"] = out["conversions"] / out["journeys"]
    return out.reset_index(drop=True)


def _transition_counts(jd: JourneyData) -> np.ndarray:
    """Transition counts (from: touchpoints + start; to: touchpoints + start + end)."""
    k = len(_tp_names(jd))
    st = jd.backend.steps
    agg = (
        st.group_by(tp="tp", n_tp="n_tp", is_conversion="is_conversion", first=st["pos"] == 0)
        .aggregate(n=st.count())
        .to_pandas()
    )
    counts = np.zeros((k + 1, k + 2))
    tp = agg["tp"].to_numpy(dtype=np.int64)
    nxt = agg["n_tp"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    cnt = agg["n"].to_numpy(dtype=float)
    first = agg["first"].to_numpy(dtype=bool)
    np.add.at(counts, (np.full(int(first.sum()), k), tp[first]), cnt[first])
    has = nxt >= 0
    np.add.at(counts, (tp[has], nxt[has]), cnt[has])
    end = ~has & ~agg["is_conversion"].to_numpy(dtype=bool)
    np.add.at(counts, (tp[end], np.full(int(end.sum()), k + 1)), cnt[end])
    return counts


def _flow_frame(
    jd: JourneyData, max_steps: int, top_n: int, journey_type: str | None
) -> pd.DataFrame:
    """Flow rows (col, source, target, w: journeys) aggregated in the backend."""
    st = jd.backend.steps
    if journey_type is not None:
        st = st.filter(st["jtype"] == _type_code(jd, journey_type))
    st = st.filter((st["pos"] < max_steps) & ~st["is_conversion"])
    agg = st.group_by(["pos", "tp", "n_tp", "n_conv"]).aggregate(w=st.count()).to_pandas()
    names = np.array(_tp_names(jd) + ["other"], dtype=object)
    other = len(names) - 1
    pos = agg["pos"].to_numpy(dtype=np.int64)
    tp = agg["tp"].to_numpy(dtype=np.int64)
    w = agg["w"].to_numpy(dtype=np.int64)
    has_next = agg["n_tp"].notna().to_numpy()
    ntp = agg["n_tp"].astype("Int64").fillna(0).to_numpy(dtype=np.int64)
    nconv = agg["n_conv"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    top = {}
    for k in range(max_steps):
        at = pos == k
        counts = np.bincount(tp[at], weights=w[at], minlength=other)
        top[k] = np.argsort(-counts, kind="stable")[:top_n] if at.any() else None
    lab = tp.copy()
    nlab = ntp.copy()
    for k, t in top.items():
        if t is None:
            continue
        lab[(pos == k) & ~np.isin(tp, t)] = other
        nlab[(pos + 1 == k) & ~np.isin(ntp, t)] = other
    labels = names[lab].astype(object)
    nxt_label = np.where(nconv, "converted", names[nlab]).astype(object)
    target = np.where(has_next, nxt_label, "dropped out").astype(object)
    target = np.where(
        has_next & (pos == max_steps - 1),
        np.where(nxt_label == "converted", "converted", "continues"),
        target,
    )
    return pd.DataFrame({"col": pos, "source": labels, "target": target, "w": w})


def _funnel_steps(jd: JourneyData, journey_type: str) -> list[str]:
    code = _type_code(jd, journey_type)
    if code < 0:
        return []
    names = _tp_names(jd)
    r = jd.backend.runs
    r = r.filter((r["jtype"] == code) & ~r["is_revisit"])
    rc = r.filter(r["jconv"])
    per = rc.group_by("journey").aggregate(
        key=rc["tp"].cast("string").group_concat(",", order_by=rc["pos"])
    )
    paths = per.group_by("key").aggregate(n=per.count(), first=per["journey"].min()).to_pandas()
    if len(paths):  # the most common; ties: the first to occur (as value_counts)
        paths = paths.sort_values("first")
        best = pd.Series(paths["n"].to_numpy(), index=paths["key"].to_numpy())
        best = best.sort_values(ascending=False, kind="stable").index[0]
        return [names[int(c)] for c in best.split(",")]
    n_sel = int((jd.journeys["journey_type"] == journey_type).sum())
    reach = (
        r.group_by("tp")
        .aggregate(n=r["journey"].nunique(), pos=r["pos"].median())
        .order_by("tp")
        .to_pandas()
        .set_index("tp")
    )
    reach = reach[reach["n"] >= 0.2 * n_sel].sort_values("pos")
    return [names[c] for c in reach.index]


def _funnel_first(jd: JourneyData, code: int, step_codes: Mapping[int, int]) -> pd.DataFrame:
    """Per journey of type ``code`` that visits a funnel step: the deepest step ``k`` and the
    first visit time of each step (columns 0..n-1)."""
    import ibis

    r = jd.backend.runs
    r = r.filter((r["jtype"] == code) & r["tp"].isin(list(step_codes)))
    k = r["tp"].cases(*[(t, i) for t, i in step_codes.items()], else_=-1)
    r = r.mutate(k=k)
    n = max(step_codes.values()) + 1
    aggs = {"deepest": r["k"].max()}
    for i in range(n):
        aggs[f"f{i}"] = ibis.ifelse(r["k"] == i, r["t0"], None).min()
    out = r.group_by("journey").aggregate(**aggs).to_pandas().set_index("journey")
    first = out[[f"f{i}" for i in range(n)]].astype(float)
    first.columns = range(n)
    return out["deepest"], first.dropna(axis=1, how="all")


def _signal_counts(jd: JourneyData) -> pd.DataFrame:
    """Per (journey type, touchpoint code): journeys with / without a counted friction signal
    there, their conversions, and the journeys with each signal (see :func:`_step_signals`)."""
    r = jd.backend.runs
    r = r.filter(~r["is_conversion"])
    loop = (r["goes_back"] & (r["pos"] == r["jloop"])).fill_null(False)
    per = r.group_by(["journey", "tp"]).aggregate(
        jtype=r["jtype"].max(),
        conv=r["jconv"].max(),
        retry=r["is_retry"].any(),
        loop=loop.any(),
        contact=(r["next_repeat_contact"] & r["is_dig"]).any(),
    )
    at = per["retry"] | per["loop"] | per["contact"]
    i64 = "int64"
    g = (
        per.group_by(["jtype", "tp"])
        .aggregate(
            at=at.cast(i64).sum(),
            smooth=(~at).cast(i64).sum(),
            conv_at=(at & per["conv"]).cast(i64).sum(),
            conv_smooth=(~at & per["conv"]).cast(i64).sum(),
            retry=per["retry"].cast(i64).sum(),
            loop=per["loop"].cast(i64).sum(),
            contact=per["contact"].cast(i64).sum(),
        )
        .to_pandas()
    )
    cats = jd.journeys["journey_type"].cat.categories
    g.insert(0, "journey_type", [str(cats[c]) for c in g.pop("jtype")])
    cols = ["at", "smooth", "conv_at", "conv_smooth", "retry", "loop", "contact"]
    g[cols] = g[cols].astype(np.int64)
    g["tp"] = g["tp"].astype(np.int64)
    return g.groupby(["journey_type", "tp"])[cols].sum().reset_index()


def _touchpoint_friction(jd: JourneyData) -> pd.DataFrame:
    """The per (journey type code, touchpoint code) rates of :func:`friction_by_touchpoint`."""
    r = jd.backend.runs
    r = r.filter(~r["is_conversion"])
    per = r.group_by(["journey", "tp"]).aggregate(
        type=r["jtype"].max(),
        cust=r["customer_id"].max(),
        retry=r["is_retry"].any(),
        goes_back=r["goes_back"].any(),
        contact_after=(r["next_repeat_contact"] & ~r["is_contact"]).any(),
        ended=((r["jlast"] == r["tp"]) & ~r["jconv"]).any(),
        to_next=r["minutes_to_next"].argmin(
            r["pos"], where=r["minutes_to_next"].notnull() & ~r["minutes_to_next"].isnan()
        ),
    )
    i64 = "int64"
    g = (
        per.group_by(["type", "tp"])
        .aggregate(
            journeys=per.count(),
            customers=per["cust"].nunique(),
            ended=per["ended"].cast(i64).sum(),
            retry=per["retry"].cast(i64).sum(),
            goes_back=per["goes_back"].cast(i64).sum(),
            contact_after=per["contact_after"].cast(i64).sum(),
            median_minutes_to_next=per["to_next"].median(),
        )
        .order_by(["type", "tp"])
        .to_pandas()
    )
    n = g["journeys"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "type": g["type"].to_numpy(dtype=np.int64),
            "tp": g["tp"].to_numpy(dtype=np.int64),
            "journeys": n,
            "customers": g["customers"].to_numpy(dtype=np.int64),
            "drop_off_rate": g["ended"].to_numpy() / n,
            "retry_rate": g["retry"].to_numpy() / n,
            "loop_rate": g["goes_back"].to_numpy() / n,
            "contact_after_rate": g["contact_after"].to_numpy() / n,
            "median_minutes_to_next": g["median_minutes_to_next"].astype(float).to_numpy(),
        }
    )
