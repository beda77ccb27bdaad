"""Synthetic customer journeys with planted friction (events, feedback and truth).

Each person gets a Poisson number of journeys between ``start`` and ``end``. A journey has a
*type* (``"app purchase"``, ``"online purchase"``, ...) that fixes its main path of touchpoints,
e.g. ``app_browse -> app_product -> app_basket -> app_checkout -> purchase``. Every journey type
starts at its own entry touchpoint (column ``entry_touchpoint`` in the truth), so an analysis
that labels journeys by their entry touchpoint can be checked against the truth.

Generative model, per journey and per main-path step ``k`` (after the step is emitted):

* **failure** with probability ``f_k`` (planted friction): the step may be retried (the same
  touchpoint again), the customer then contacts a human channel (``call_centre`` / ``chat``,
  one or more *repeat contacts*) with probability ``h_k`` and, having done so, resumes the
  journey with probability ``r_k``; otherwise the journey ends;
* otherwise a **loop** with probability ``l_k``: the customer goes back to an earlier
  touchpoint and returns (1-3 times), possibly followed by a contact. A *natural* loop
  (comparing products) has penalty 0; a *friction* loop (a delivery-tracking loop, a password
  reset loop) multiplies the step's continuation probability by ``1 - penalty_k``;
* the journey continues to step ``k + 1`` with probability ``q_k`` (shifted by the person's
  satisfaction) and ends (drop-out) otherwise. Passing the last step is a conversion: a
  ``purchase`` event whose ``value`` is the basket value.

So the exact conversion probability of a journey is
``prod_k [(1 - f_k) * q_k * (1 - l_k * penalty_k) + f_k * h_k * r_k]`` and, with the planted
friction removed (``f = 0``, ``penalty = 0``), ``prod_k q_k``. The truth ranks journey types by
the **planted opportunity loss** ``customers * (p_no_friction - p_actual) * value`` (the same
shape as the prioritisation score of :mod:`cxlib.journey`), where ``customers`` is the realised
number of distinct customers with a journey of that type, the probabilities are the means of the
exact per-journey probabilities and ``value`` is the expected basket value of a conversion.

Feedback: about one journey in five (more after friction) leaves a 0-10 score linked by
``journey_id`` and touchpoint; the score falls with friction and low satisfaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

log = logging.getLogger(__name__)

__all__ = ["JOURNEY_TYPES", "TOUCHPOINT_CHANNEL", "JourneyType", "generate_journeys"]

CONVERSION = "purchase"

TOUCHPOINT_CHANNEL: dict[str, str] = {
    "app_browse": "app",
    "app_product": "app",
    "app_basket": "app",
    "app_checkout": "app",
    "web_browse": "web",
    "web_product": "web",
    "web_basket": "web",
    "web_checkout": "web",
    "web_tracking": "web",
    "web_order_status": "web",
    "web_returns": "web",
    "web_returns_label": "web",
    "web_login": "web",
    "web_password_reset": "web",
    "web_account": "web",
    "email_open": "email",
    "email_click": "email",
    "store_visit": "store",
    "store_return": "store",
    "call_centre": "call_centre",
    "chat": "chat",
    CONVERSION: "",  # takes the channel of the step before it
}
TOUCHPOINTS = list(TOUCHPOINT_CHANNEL)
_CODE = {t: i for i, t in enumerate(TOUCHPOINTS)}

# step gap (minutes) by the touchpoint being entered: (median, log-sd, cap)
_GAP = {
    "digital": (1.5, 0.8, 20.0),
    "contact": (9.0, 0.6, 28.0),
    "store": (80.0, 0.5, 240.0),
}


def _gap_kind(tp: str) -> str:
    if tp in ("call_centre", "chat"):
        return "contact"
    if tp.startswith("store_"):
        return "store"
    return "digital"


@dataclass(frozen=True)
class JourneyType:
    """One planted journey type: a main path and its friction mechanisms.

    ``failures`` maps step index -> (f, p_retry, contacts, h, r, max_contacts);
    ``loops`` maps step index -> (l, loop_to, penalty, contact, p_contact).
    """

    name: str
    steps: tuple[str, ...]
    q: tuple[float, ...]
    weight: float
    value_mult: float
    failures: dict[int, tuple] = field(default_factory=dict)
    loops: dict[int, tuple] = field(default_factory=dict)
    friction: str = "none"

    @property
    def entry(self) -> str:
        return self.steps[0]


JOURNEY_TYPES: tuple[JourneyType, ...] = (
    JourneyType(
        "app purchase",
        ("app_browse", "app_product", "app_basket", "app_checkout"),
        (0.78, 0.72, 0.82, 0.93),
        weight=1.0,
        value_mult=1.0,
        failures={3: (0.45, 0.65, ("call_centre",), 0.6, 0.35, 2)},
        loops={1: (0.20, "app_browse", 0.0, None, 0.0)},
        friction="app checkout failure -> retry, call centre, lower satisfaction",
    ),
    JourneyType(
        "online purchase",
        ("web_browse", "web_product", "web_basket", "web_checkout"),
        (0.74, 0.66, 0.80, 0.94),
        weight=1.0,
        value_mult=1.0,
        failures={3: (0.06, 0.4, ("chat",), 0.35, 0.5, 1)},
        loops={1: (0.25, "web_browse", 0.0, None, 0.0)},
        friction="occasional web payment error (high volume, small effect)",
    ),
    JourneyType(
        "store purchase",
        ("email_open", "email_click", "web_product", "store_visit"),
        (0.62, 0.70, 0.55, 0.80),
        weight=0.6,
        value_mult=1.2,
        loops={2: (0.15, "email_click", 0.0, None, 0.0)},
        friction="none",
    ),
    JourneyType(
        "delivery query",
        ("web_tracking", "web_order_status", "web_browse"),
        (0.85, 0.50, 0.55),
        weight=0.55,
        value_mult=0.6,
        loops={1: (0.35, "web_tracking", 0.55, "chat", 0.45)},
        friction="delivery-tracking loop on the web -> chat",
    ),
    JourneyType(
        "returns",
        ("web_returns", "web_returns_label", "store_return"),
        (0.88, 0.82, 0.55),
        weight=0.45,
        value_mult=0.9,
        failures={1: (0.32, 0.0, ("call_centre", "chat"), 0.9, 0.45, 3)},
        friction="returns label/refund problem -> repeat contacts",
    ),
    JourneyType(
        "account update",
        ("web_login", "web_account", "web_browse"),
        (0.85, 0.40, 0.55),
        weight=0.4,
        value_mult=0.8,
        loops={0: (0.25, "web_password_reset", 0.35, "call_centre", 0.15)},
        friction="password reset loop at login",
    ),
    JourneyType(
        "chat enquiry",
        ("chat", "web_product", "web_basket"),
        (0.60, 0.55, 0.85),
        weight=0.25,
        value_mult=1.0,
        friction="none",
    ),
)


def _customer_ids(people: pd.DataFrame, customers: pd.DataFrame | None) -> np.ndarray:
    """One customer id per person: primary id, else first source id, else the master id."""
    if "primary_customer_id" in people.columns:
        return people["primary_customer_id"].astype(str).to_numpy()
    if "customer_ids" in people.columns:
        return np.array(
            [
                str(x[0]) if isinstance(x, list | tuple | np.ndarray) and len(x) else str(x)
                for x in people["customer_ids"]
            ],
            dtype=object,
        )
    if customers is not None and {"customer_id", "master_id"} <= set(customers.columns):
        first = customers.drop_duplicates("master_id").set_index("master_id")["customer_id"]
        ids = people["master_id"].map(first)
        return ids.fillna(people["master_id"]).astype(str).to_numpy()
    return people["master_id"].astype(str).to_numpy()


def _str_from_codes(codes: np.ndarray, labels) -> pd.api.extensions.ExtensionArray:
    """A pandas ``str`` array of ``labels[codes]`` built through Arrow (fast for millions)."""
    dictionary = pa.array(np.asarray(labels, dtype=object), type=pa.large_string())
    arr = pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, dtype=np.int64)), dictionary)
    return pd.array(arr.cast(pa.large_string()), dtype="str")


def _col(people: pd.DataFrame, name: str, default, dtype=float) -> np.ndarray:
    if name in people.columns:
        return people[name].fillna(default).to_numpy(dtype=dtype)
    return np.full(len(people), default, dtype=dtype)


def _type_weights(people: pd.DataFrame) -> np.ndarray:
    """Person x journey-type probabilities of the journey type."""
    n = len(people)
    base = np.array([jt.weight for jt in JOURNEY_TYPES], dtype=float)
    w = np.tile(base, (n, 1))
    names = [jt.name for jt in JOURNEY_TYPES]
    app = _col(people, "app_user", False, bool)
    pref = (
        people["preferred_channel"].astype(str).to_numpy()
        if "preferred_channel" in people.columns
        else np.full(n, "web")
    )
    i_app, i_web, i_store = (
        names.index(x) for x in ("app purchase", "online purchase", "store purchase")
    )
    w[:, i_app] = np.where(app, 2.0, 0.03)
    w[:, i_web] *= np.where(pref == "web", 1.8, 1.0)
    w[:, i_store] *= np.where(pref == "store", 2.5, 0.8)
    w[:, i_app] *= np.where(pref == "app", 1.4, 1.0)
    return w / w.sum(axis=1, keepdims=True)


def _draw_gaps(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Minutes before each token of a flat array of touchpoint codes."""
    med = np.zeros(len(TOUCHPOINTS))
    sd = np.zeros(len(TOUCHPOINTS))
    cap = np.zeros(len(TOUCHPOINTS))
    for t, i in _CODE.items():
        m, s, c = _GAP[_gap_kind(t)]
        med[i], sd[i], cap[i] = m, s, c
    z = rng.standard_normal(len(codes))
    return np.minimum(med[codes] * np.exp(sd[codes] * z), cap[codes])


def _simulate_type(
    jt: JourneyType, sat: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tokens (n x L, -1 padded) for ``len(sat)`` journeys of one type.

    Returns tokens, converted, p_actual, p_no_friction, friction_kind (0 none, 1 failure,
    2 friction loop, 3 natural loop) and the index of the first friction token (-1 if none).
    """
    n = len(sat)
    k_steps = len(jt.steps)
    max_len = 1 + sum(
        1 + 1 + (jt.failures.get(k, (0, 0, (), 0, 0, 0))[5]) + 6 + 1 for k in range(k_steps)
    )
    tok = np.full((n, max_len), -1, dtype=np.int16)
    ptr = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    converted = np.zeros(n, dtype=bool)
    kind = np.zeros(n, dtype=np.int8)
    fpos = np.full(n, -1, dtype=np.int64)
    p_act = np.ones(n)
    p_free = np.ones(n)
    shift = 1.0 + 0.05 * (sat - 3.0)  # satisfied people continue a little more often

    def emit(rows: np.ndarray, code: int) -> None:
        tok[rows, ptr[rows]] = code
        ptr[rows] += 1

    for k, step in enumerate(jt.steps):
        rows = np.flatnonzero(alive)
        emit(rows, _CODE[step])
        q = np.clip(jt.q[k] * shift, 0.02, 0.99)
        f, p_retry, contacts, h, r, max_c = jt.failures.get(k, (0.0, 0.0, (), 0.0, 0.0, 0))
        lp, loop_to, pen, l_contact, p_lc = jt.loops.get(k, (0.0, None, 0.0, None, 0.0))
        p_act *= (1 - f) * q * (1 - lp * pen) + f * h * r
        p_free *= q
        u = rng.random((n, 6))
        failed = alive & (u[:, 0] < f)
        looped = alive & ~failed & (u[:, 1] < lp)
        # failure: retry, contacts, maybe resume
        fr = np.flatnonzero(failed)
        fpos[fr] = np.where(fpos[fr] < 0, ptr[fr] - 1, fpos[fr])
        kind[fr] = np.where(kind[fr] == 0, 1, kind[fr])
        retry = fr[u[fr, 2] < p_retry]
        emit(retry, _CODE[step])
        contacted = fr[u[fr, 3] < h]
        if len(contacted) and max_c:
            n_c = rng.integers(1, max_c + 1, size=len(contacted))
            for j in range(max_c):
                sel = contacted[n_c > j]
                emit(sel, _CODE[contacts[j % len(contacts)]])
        resumed = np.zeros(n, dtype=bool)
        resumed[contacted[u[contacted, 4] < r]] = True
        # loops: back to loop_to and return, 1-3 times
        lr = np.flatnonzero(looped)
        if len(lr):
            if pen > 0:
                fpos[lr] = np.where(fpos[lr] < 0, ptr[lr] - 1, fpos[lr])
                kind[lr] = np.where(kind[lr] == 0, 2, kind[lr])
            else:
                kind[lr] = np.where(kind[lr] == 0, 3, kind[lr])
            reps = np.minimum(rng.geometric(0.6, size=len(lr)), 3)
            for j in range(3):
                sel = lr[reps > j]
                emit(sel, _CODE[loop_to])
                emit(sel, _CODE[step])
            if l_contact is not None:
                emit(lr[rng.random(len(lr)) < p_lc], _CODE[l_contact])
        q_eff = np.where(looped, q * (1 - pen), q)
        cont = np.where(failed, resumed, alive & (u[:, 5] < q_eff))
        alive = alive & cont
    conv_rows = np.flatnonzero(alive)
    emit(conv_rows, _CODE[CONVERSION])
    converted[conv_rows] = True
    return tok, converted, p_act, p_free, kind, fpos


_COMMENTS = {
    "failure": [
        "Checkout kept failing, had to phone to finish the order",
        "Payment error at checkout, very frustrating",
        "Had to call three times before it was sorted",
        "The app froze when I tried to pay",
        "Still waiting for my refund after several calls",
    ],
    "loop": [
        "Could not find where my parcel was",
        "Tracking page just sent me round in circles",
        "Kept being asked to reset my password",
        "Had to go back and forth to find the information",
    ],
    "good": [
        "Quick and easy",
        "Great service, thank you",
        "Found what I wanted straight away",
        "Smooth experience",
    ],
    "neutral": [
        "It was ok",
        "Fine, nothing special",
        "Took a bit longer than expected",
    ],
}


def generate_journeys(
    people: pd.DataFrame,
    customers: pd.DataFrame | None,
    rng: np.random.Generator,
    *,
    start: str | pd.Timestamp = "2025-01-01",
    end: str | pd.Timestamp = "2025-06-30",
    events_per_person: float = 5.0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Generate journey events, journey-linked feedback and the friction truth.

    Parameters
    ----------
    people : DataFrame
        One row per true person (``master_id``; optional ``primary_customer_id`` or
        ``customer_ids``, ``app_user``, ``preferred_channel``, ``satisfaction`` (1-5),
        ``avg_basket``, ``last_purchase``).
    customers : DataFrame or None
        Source customer records; used only to find a customer id per person when ``people``
        has none.
    rng : numpy Generator
        Source of randomness; the output is deterministic for its state.
    start, end : date-like
        Journeys start on days ``start`` .. ``end`` (inclusive).
    events_per_person : float
        Target mean number of events per person.

    Returns
    -------
    events, feedback, truth : DataFrame
        ``events``: customer_id, timestamp, touchpoint, channel, journey_id, value (basket value
        on ``purchase`` rows, NaN elsewhere). ``feedback``: customer_id, timestamp, score (0-10),
        touchpoint, journey_id, complaint, comment. ``truth``: one row per journey type with
        journey, entry_touchpoint, friction_rank (1 = worst), planted_friction, customers,
        journeys, p_conversion, p_conversion_no_friction, value_per_conversion,
        opportunity_loss and the planted step parameters.
    """
    start = pd.Timestamp(start).normalize()
    end = pd.Timestamp(end).normalize()
    n_days = int((end - start).days) + 1
    n_people = len(people)
    cust = _customer_ids(people, customers)
    cust_code = pd.factorize(cust)[0]
    sat = np.clip(_col(people, "satisfaction", 3.5), 1.0, 5.0)
    basket = _col(people, "avg_basket", 40.0)
    basket = np.where(np.isfinite(basket) & (basket > 0), basket, 40.0)
    app = _col(people, "app_user", False, bool)

    # journeys per person: ~3.4 events per journey on average
    rate = np.full(n_people, events_per_person / 3.4) * np.where(app, 1.25, 0.85)
    if "last_purchase" in people.columns:
        lp = pd.to_datetime(people["last_purchase"]).to_numpy()
        lapsed = np.asarray(pd.isna(lp) | (lp < (start - pd.Timedelta(days=90)).to_datetime64()))
        rate = np.where(lapsed, rate * 0.3, rate)
    rate *= events_per_person / 3.4 / max(rate.mean(), 1e-9) if n_people else 1.0
    n_j = np.minimum(rng.poisson(rate), n_days)
    person = np.repeat(np.arange(n_people), n_j)
    n_total = len(person)
    # journey type per journey (inverse-cdf on the person's type probabilities)
    cw = np.cumsum(_type_weights(people), axis=1)[person]
    jtype = (rng.random(n_total)[:, None] > cw).sum(axis=1).clip(0, len(JOURNEY_TYPES) - 1)
    # start time: journey k of a person lies in the k-th of n equal day slots, 07:00-20:00
    first = np.concatenate([[0], np.cumsum(n_j)[:-1]]) if n_people else np.zeros(0, int)
    k_in = np.arange(n_total) - np.repeat(first, n_j)
    slot = n_days / np.repeat(np.maximum(n_j, 1), n_j)
    day = np.floor(k_in * slot + rng.random(n_total) * slot).astype(np.int64)
    day = np.minimum(day, n_days - 1)
    minute = rng.uniform(7 * 60, 20 * 60, n_total)
    t0 = start.to_datetime64() + (day * 1440 + minute).astype("timedelta64[m]")

    parts = []
    jt_truth = []
    for ti, jt in enumerate(JOURNEY_TYPES):
        idx = np.flatnonzero(jtype == ti)
        tok, conv, p_act, p_free, kind, fpos = _simulate_type(jt, sat[person[idx]], rng)
        parts.append((idx, tok, conv, kind, fpos))
        vals = basket[person[idx]] * jt.value_mult
        custs = np.unique(cust_code[person[idx]])
        p_a, p_f = (float(p_act.mean()), float(p_free.mean())) if len(idx) else (0.0, 0.0)
        v = float(vals.mean()) if len(idx) else 0.0
        jt_truth.append(
            {
                "journey": jt.name,
                "entry_touchpoint": jt.entry,
                "planted_friction": jt.friction,
                "customers": len(custs),
                "journeys": len(idx),
                "p_conversion": p_a,
                "p_conversion_no_friction": p_f,
                "value_per_conversion": v,
                "opportunity_loss": len(custs) * (p_f - p_a) * v,
                "steps": " > ".join(jt.steps + (CONVERSION,)),
                "step_continue_prob": " ".join(f"{x:.2f}" for x in jt.q),
                "failure_params": "; ".join(
                    f"{jt.steps[k]}: fail={v_[0]}, retry={v_[1]}, contact={v_[3]}, resume={v_[4]}"
                    for k, v_ in jt.failures.items()
                ),
                "loop_params": "; ".join(
                    f"{jt.steps[k]}: loop={v_[0]} via {v_[1]}, penalty={v_[2]}"
                    for k, v_ in jt.loops.items()
                ),
            }
        )

    # flatten tokens into events
    max_len = max(p[1].shape[1] for p in parts)
    tok_all = np.full((n_total, max_len), -1, dtype=np.int16)
    conv_all = np.zeros(n_total, dtype=bool)
    kind_all = np.zeros(n_total, dtype=np.int8)
    fpos_all = np.full(n_total, -1, dtype=np.int64)
    for idx, tok, conv, kind, fpos in parts:
        tok_all[idx, : tok.shape[1]] = tok
        conv_all[idx], kind_all[idx], fpos_all[idx] = conv, kind, fpos
    r_i, c_i = np.nonzero(tok_all >= 0)  # row-major: journeys in order, tokens in order
    codes = tok_all[r_i, c_i].astype(np.int64)
    gaps = _draw_gaps(codes, rng)
    gaps[c_i == 0] = 0.0
    cum = np.cumsum(gaps)
    first_tok = np.flatnonzero(c_i == 0)
    offs = cum - np.repeat(cum[first_tok], np.diff(np.append(first_tok, len(codes))))
    last_off = np.zeros(n_total)
    last_off[r_i] = offs  # row-major order: the last write per journey is its last token
    # a journey that would run past the end of the last day starts earlier instead
    limit = (end + pd.Timedelta(hours=23, minutes=59)).to_datetime64()
    latest_start = limit - np.ceil(last_off * 60).astype("timedelta64[s]")
    t0 = np.minimum(t0.astype("datetime64[s]"), latest_start)
    ts = t0[r_i] + np.round(offs * 60).astype("timedelta64[s]")
    ch_list = [TOUCHPOINT_CHANNEL[t] for t in TOUCHPOINTS]
    ch_code = np.array([sorted(set(ch_list)).index(c) for c in ch_list])
    is_conv = codes == _CODE[CONVERSION]
    prev_code = tok_all[r_i, np.maximum(c_i - 1, 0)].astype(np.int64)
    chan = np.where(is_conv, ch_code[prev_code], ch_code[codes])
    value = np.full(len(codes), np.nan)
    nconv = int(is_conv.sum())
    mult = np.array([jt.value_mult for jt in JOURNEY_TYPES])
    jr = r_i[is_conv]
    value[is_conv] = np.round(
        basket[person[jr]] * mult[jtype[jr]] * rng.lognormal(-0.06, 0.35, nconv), 2
    )
    jid_str = (
        np.char.add("J", np.char.zfill(np.arange(1, n_total + 1).astype(str), 7))
        if n_total
        else np.array([], dtype=str)
    )
    order = np.lexsort((r_i, ts))
    ro = r_i[order]
    events = pd.DataFrame(
        {
            "customer_id": _str_from_codes(person[ro], cust),
            "timestamp": ts[order].astype("datetime64[s]"),
            "touchpoint": _str_from_codes(codes[order], TOUCHPOINTS),
            "channel": _str_from_codes(chan[order], sorted(set(ch_list))),
            "journey_id": _str_from_codes(ro, jid_str),
            "value": value[order],
        }
    )
    feedback = _feedback(
        tok_all, last_off, t0, conv_all, kind_all, fpos_all, person, cust, sat, jid_str, rng, limit
    )
    truth = pd.DataFrame(jt_truth)
    truth["friction_rank"] = (
        truth["opportunity_loss"].rank(ascending=False, method="first").astype(int)
    )
    truth = truth.sort_values("friction_rank").reset_index(drop=True)
    cols = ["journey", "friction_rank"] + [
        c for c in truth.columns if c not in ("journey", "friction_rank")
    ]
    log.info(
        "generated %d journeys, %d events, %d feedback rows", n_total, len(events), len(feedback)
    )
    return events, feedback, truth[cols]


def _feedback(tok, last_off, t0, conv, kind, fpos, person, cust, sat, jid_str, rng, limit):
    n = len(conv)
    friction = (kind == 1) | (kind == 2)
    p_fb = np.where(friction, 0.40, 0.18)
    has = rng.random(n) < p_fb
    j = np.flatnonzero(has)
    last = (tok[j] >= 0).sum(axis=1) - 1
    fp = fpos[j]
    tp_pos = np.where(fp >= 0, fp, last)
    touch = np.array(TOUCHPOINTS, dtype=object)[tok[j, tp_pos]]
    n_contacts = np.isin(tok[j], [_CODE["call_centre"], _CODE["chat"]]).sum(axis=1)
    score = (
        2.2 * sat[person[j]]
        - 0.8
        - 3.0 * (kind[j] == 1)
        - 1.5 * (kind[j] == 2)
        - 0.7 * np.minimum(n_contacts, 3)
        + 0.6 * conv[j]
        + rng.normal(0, 1.3, len(j))
    )
    score = np.clip(np.round(score), 0, 10)
    p_comp = 0.85 / (1 + np.exp(score - 2.0)) + 0.04 * friction[j]
    complaint = rng.random(len(j)) < p_comp
    ts = (
        t0[j]
        + np.round(last_off[j] * 60).astype("timedelta64[s]")
        + rng.uniform(10, 48 * 60, len(j)).astype("timedelta64[m]")
    )
    ts = np.minimum(ts, limit)  # no feedback after the data ends
    cat = np.where(
        kind[j] == 1,
        "failure",
        np.where(kind[j] == 2, "loop", np.where(score >= 8, "good", "neutral")),
    )
    pick = rng.random(len(j))
    comment = np.empty(len(j), dtype=object)
    for c, texts in _COMMENTS.items():
        m = cat == c
        comment[m] = np.array(texts, dtype=object)[(pick[m] * len(texts)).astype(int)]
    comment[rng.random(len(j)) < 0.35] = None
    fb = pd.DataFrame(
        {
            "customer_id": pd.array(cust[person[j]], dtype="str"),
            "timestamp": ts.astype("datetime64[s]"),
            "score": score.astype(float),
            "touchpoint": pd.array(touch, dtype="str"),
            "journey_id": pd.array(jid_str[j], dtype="str"),
            "complaint": complaint,
            "comment": pd.array(comment, dtype="str"),
        }
    )
    return fb.iloc[np.lexsort((j, ts))].reset_index(drop=True)
