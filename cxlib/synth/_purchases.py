"""Transactions (BG/NBD purchasing with a weekly pattern) and the churn truth.

Time is handled as float days since ``ANCHOR`` (a Monday). Each person buys as a Poisson process
whose intensity follows a weekly pattern (their weekend share and time-of-day shares), with average
rate ``lam`` purchases per day; after every *repeat* purchase they drop out for good with
probability ``p_drop`` (the BG/NBD story of Fader, Hardie & Lee, 2005). The process is simulated in
"operational time" (the integrated intensity), where it is a unit-rate Poisson process, and mapped
back to calendar time through the inverse of the person's integrated intensity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cxlib.synth import _baskets
from cxlib.synth._clock import (
    WEEK_PIECE_START,
    WEEK_PIECE_TOD,
    anchor_for,
    calendar_time,
    op_time,
    week_masses,
)
from cxlib.synth._params import (
    AMOUNT_SIGMA,
    CATEGORIES,
    CATEGORY_PRICE_MULT,
    CHANNELS,
    DUP_SPLIT_PRIMARY,
    END,
    HOME_STORE_SHARE,
    HORIZON_DAYS,
    LINE_SPLIT_SHAPE,
    N_STORES,
    NEXT_CATEGORY_DAYS,
    PRODUCT_CATEGORIES,
    PRODUCT_DEPARTMENT,
    REFUND_RATE,
    START,
    TIMES_OF_DAY,
)

logger = logging.getLogger(__name__)

TX_CHUNK = 100_000  # people simulated per chunk (bounds memory; part of the random stream)
REFUND_CATEGORY_WEIGHT = np.array([0.5, 0.3, 1.2, 1.2, 2.2, 1.8, 1.0, 1.2])
_DAY_S = 86_400


def _seconds(ts: pd.Timestamp | np.ndarray, anchor: pd.Timestamp) -> np.ndarray:
    """Whole seconds since ``anchor``."""
    t = np.asarray(ts, dtype="datetime64[s]")
    return (t - anchor.to_datetime64().astype("datetime64[s]")).astype(np.int64)


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def _repeat_purchases(
    s0: np.ndarray, s_h: np.ndarray, n_repeat: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Operational times of repeat purchases up to ``s_h``: a unit-rate Poisson process from
    ``s0`` stopped after ``n_repeat`` events (the purchase after which the person drops out).

    Generated in rounds (vectorised over people) with a generous cap on the number of events per
    person and round, so that nothing beyond the horizon is generated in bulk. Returns
    ``(person, time)`` ordered by person, then time (placed by counting, not by sorting).
    """
    c = len(s0)
    rounds = []
    cur = s0.copy()
    remaining = n_repeat.astype(np.int64).copy()
    act = np.arange(c)
    while len(act):
        d = np.maximum(s_h[act] - cur[act], 0.0)
        cap = np.ceil(d + 4.0 * np.sqrt(d) + 5.0).astype(np.int64)
        k = np.minimum(remaining[act], cap)
        pid = np.repeat(act, k)
        cs = np.cumsum(rng.standard_exponential(int(k.sum())))
        ends = np.cumsum(k)
        starts = ends - k
        base = np.where(starts > 0, cs[np.maximum(starts - 1, 0)], 0.0)
        t = cur[pid] + (cs - np.repeat(base, k))
        keep = t <= s_h[pid]
        rounds.append((pid[keep], t[keep]))
        last = t[ends - 1]
        cont = (k < remaining[act]) & (last <= s_h[act])
        remaining[act] -= k
        cur[act] = last
        act = act[cont]
    if len(rounds) == 1:
        return rounds[0]
    counts = [np.bincount(pid, minlength=c) for pid, _ in rounds]
    start = _segment_starts(np.sum(counts, axis=0))
    person = np.empty(int(start[-1] + np.sum(counts, axis=0)[-1]) if c else 0, dtype=np.int64)
    times = np.empty(len(person))
    before = np.zeros(c, dtype=np.int64)
    for (pid, t), cnt in zip(rounds, counts, strict=True):
        rank = np.arange(len(pid)) - _segment_starts(cnt)[pid]
        pos = start[pid] + before[pid] + rank
        person[pos] = pid
        times[pos] = t
        before += cnt
    return person, times


def _simulate_chunk(
    p: dict[str, np.ndarray],
    rng: np.random.Generator,
    anchor: pd.Timestamp,
    end_s: int,
    h_s: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Purchases of one chunk of people: rows (observed, plus refunds) and per-person truth."""
    c = len(p["lam"])
    rows = np.arange(c)
    lam = p["lam"]
    masses = week_masses(p["weekend_share"], p["tod"])
    u0 = p["first_s"] / _DAY_S
    s0 = op_time(u0, rows, lam, masses)
    s_end = op_time(np.full(c, end_s / _DAY_S), rows, lam, masses)
    s_h = op_time(np.full(c, h_s / _DAY_S), rows, lam, masses)
    n_repeat = rng.geometric(p["p_drop"])  # repeat purchases until (and including) dropout

    rp, rs = _repeat_purchases(s0, s_h, n_repeat, rng)
    u_rep = calendar_time(rs, rp, lam, p["weekend_share"], p["tod"])
    # merge first purchases and repeats into (person, time) order by counting positions
    n_rep = np.bincount(rp, minlength=c)
    start = _segment_starts(n_rep + 1)
    pos = start[rp] + 1 + (np.arange(len(rp)) - _segment_starts(n_rep)[rp])
    total = len(rp) + c
    person = np.empty(total, dtype=np.int64)
    s = np.empty(total)
    ts = np.empty(total, dtype=np.int64)
    person[start], s[start], ts[start] = rows, s0, p["first_s"]
    person[pos], s[pos], ts[pos] = rp, rs, np.floor(u_rep * _DAY_S).astype(np.int64)
    del u_rep, rp, rs, pos

    obs = ts < end_s
    hz = ~obs & (ts < h_s)
    n_obs = np.bincount(person[obs], minlength=c)
    n_hz = np.bincount(person[hz], minlength=c)
    starts = _segment_starts(np.bincount(person, minlength=c))
    s_last = s[starts + n_obs - 1]
    x = n_obs - 1
    pd_ = p["p_drop"]
    surv = (1.0 - pd_) * np.exp(-(s_end - s_last))
    p_alive = np.where(x == 0, 1.0, surv / (surv + pd_))
    p_lapse = 1.0 - p_alive * (1.0 - np.exp(-(s_h - s_end)))
    truth = {
        "n_repeat_obs": x,
        "t_x_days": (ts[starts + n_obs - 1] - p["first_s"]) / _DAY_S,
        "T_days": (end_s - p["first_s"]) / _DAY_S,
        "expected_purchases_90d_if_alive": s_h - s_end,
        "p_alive_at_end": p_alive,
        "p_lapse_90d": p_lapse,
        "lapsed_90d": n_hz == 0,
        "purchases_next_90d": n_hz,
        "alive_at_end": n_repeat > x,
        "last_s": ts[starts + n_obs - 1],
        "n_obs": n_obs,
    }

    # observed purchases only from here on
    out, truth["complaint_s"], truth["total_spend"], lines_truth = _purchase_rows(
        p, person[obs], ts[obs], n_obs, rng, end_s
    )
    truth.update(lines_truth)
    return out, truth


def _purchase_rows(
    p: dict[str, np.ndarray],
    person: np.ndarray,
    ts: np.ndarray,
    n_obs: np.ndarray,
    rng: np.random.Generator,
    end_s: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The rows of the observed purchases ``(person, ts)`` (ordered by person, then time;
    ``n_obs`` per person): one row per line (:mod:`cxlib.synth._baskets`) with channel,
    category, amount, quantity, store and record, plus refunds.

    Returns ``(rows, complaint time per person, total spend per person, truth)``; ``truth``
    holds the planted pairs' expected basket counts (``lift_sums``, ``lift_baskets``) and the
    next-category rows (``next_person``, ``next_category``, ``next_p``). Line-level draws come
    from a child of ``rng``; the purchase-level ones (channel, amount, store, record,
    complaint, refunds) from ``rng`` itself.
    """
    c = len(p["lam"])
    n = len(person)
    r_lines = rng.spawn(1)[0]
    week_s = np.mod(ts, 7 * _DAY_S)
    piece = np.searchsorted(WEEK_PIECE_START * _DAY_S, week_s, side="right") - 1
    tod = WEEK_PIECE_TOD[piece]

    ch = _baskets.draw_index(np.cumsum(p["channel"], axis=1), person, rng.random(n), np.int8)
    app = p["app_user"][person]
    ch = np.where((tod == 3) & (ch == 0), np.where(app, 2, 1), ch)  # no store visits at night
    bk = _baskets.make_baskets(p["category"], person, n_obs, r_lines)
    dept = PRODUCT_DEPARTMENT[bk.cat[bk.line == 0]]  # the category of each first line
    norm = (p["category"] * CATEGORY_PRICE_MULT[None, :]).sum(axis=1)
    expected = p["avg_basket"][person] * CATEGORY_PRICE_MULT[dept] / norm[person]
    amount = expected * np.exp(rng.normal(-0.5 * AMOUNT_SIGMA**2, AMOUNT_SIGMA, n))
    amount = np.maximum(np.round(amount, 2), 0.5)
    home = rng.random(n) < HOME_STORE_SHARE
    store = np.where(home, p["home_store"][person], rng.integers(1, N_STORES + 1, n))
    store = np.where(ch == 0, store, 0)
    secondary = p["has_secondary"][person] & (rng.random(n) >= DUP_SPLIT_PRIMARY)
    rec = np.where(secondary, p["secondary_pos"][person], p["primary_pos"][person])
    spend = np.bincount(person, weights=amount, minlength=c)

    # complaint date: shortly after one of the person's purchases (often the last)
    comp = np.flatnonzero(p["complained"])
    pick = np.where(
        rng.random(len(comp)) < 0.5,
        n_obs[comp] - 1,
        np.floor(rng.random(len(comp)) * n_obs[comp]).astype(np.int64),
    )
    obs_starts = _segment_starts(n_obs)
    base_day = ts[obs_starts[comp] + pick] // _DAY_S
    cday = np.minimum(base_day + rng.integers(0, 8, len(comp)), end_s // _DAY_S - 1)
    complaint_s = np.full(c, np.iinfo(np.int64).min)
    complaint_s[comp] = cday * _DAY_S + rng.integers(8 * 3600, 20 * 3600, len(comp))

    # refunds: a later full return of a purchase, every line (more often fashion, electronics)
    w = REFUND_CATEGORY_WEIGHT[dept]
    is_ref = rng.random(n) < REFUND_RATE * w / (w.mean() if n else 1.0)
    r_idx = np.flatnonzero(is_ref)
    r_ts = (
        ts[r_idx] + rng.integers(1, 31, len(r_idx)) * _DAY_S + rng.integers(-7200, 7200, len(r_idx))
    )
    ok = r_ts < end_s
    r_idx, r_ts = r_idx[ok], r_ts[ok]
    line_amount, line_qty, product = _split_amount(amount, bk, r_lines)
    # the refunds' lines: each refunded purchase's lines, in order
    first = np.cumsum(bk.n_lines) - bk.n_lines
    k = bk.n_lines[r_idx]
    r_lines_at = np.repeat(first[r_idx] - np.cumsum(k) + k, k) + np.arange(int(k.sum()))
    r_tx = np.repeat(np.arange(len(r_idx)), k)
    tx = bk.tx
    out = {
        "ts": np.concatenate([ts[tx], r_ts[r_tx]]),
        "rec": np.concatenate([rec[tx], rec[bk.tx[r_lines_at]]]).astype(np.int32),
        "amount": np.concatenate([line_amount, -line_amount[r_lines_at]]),
        "channel": np.concatenate([ch[tx], ch[bk.tx[r_lines_at]]]).astype(np.int8),
        "category": PRODUCT_DEPARTMENT[np.concatenate([bk.cat, bk.cat[r_lines_at]])].astype(
            np.int8
        ),
        "product": np.concatenate([product, product[r_lines_at]]).astype(np.int32),
        "store": np.concatenate([store[tx], store[bk.tx[r_lines_at]]]).astype(np.int16),
        "quantity": np.concatenate([line_qty, -line_qty[r_lines_at]]).astype(np.int16),
        "line": np.concatenate([bk.line, bk.line[r_lines_at]]),
    }
    cut_s = end_s - NEXT_CATEGORY_DAYS * _DAY_S
    nx_person, nx_cat, nx_p = _baskets.next_category_truth(bk, person, ts, n_obs, cut_s)
    truth = {
        "lift_sums": _baskets.lift_sums(bk, person, n_obs)[None],
        "lift_baskets": np.array([n]),
        "next_person": nx_person,
        "next_category": nx_cat,
        "next_p": nx_p,
    }
    return out, complaint_s, spend, truth


def _split_amount(
    amount: np.ndarray, bk: _baskets.Baskets, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each purchase's amount split over its lines (whole pence, at least 1p a line; pricier
    product categories take more), each line's product (within its product category, by the
    catalogue's popularity) and quantity ``1 + Poisson(max(amount / price - 1, 0))`` (at most
    99). Returns ``(line amount, quantity, product number)``."""
    price, cum = _baskets.product_catalogue()
    unit = _baskets.PRODUCT_UNIT_PRICE[bk.cat]
    weight = unit**0.3 * rng.gamma(LINE_SPLIT_SHAPE, size=len(bk.cat))
    total = np.bincount(bk.tx, weights=weight, minlength=len(amount))
    pence = np.rint(amount * 100).astype(np.int64)
    rest = pence - bk.n_lines
    share = np.floor(rest[bk.tx] * weight / total[bk.tx] - 1e-9).clip(0).astype(np.int64)
    left = rest - np.bincount(bk.tx, weights=share, minlength=len(amount)).astype(np.int64)
    line_pence = 1 + share
    line_pence[bk.line == 0] += left
    line_amount = line_pence / 100.0
    pick = np.minimum(np.searchsorted(cum, rng.random(len(bk.cat)), side="right"), len(cum) - 1)
    product = bk.cat.astype(np.int64) * len(cum) + pick
    qty = 1 + rng.poisson(np.maximum(line_amount / price.ravel()[product] - 1.0, 0.0))
    return line_amount, np.minimum(qty, 99), product


def _arrow_ids(prefix: str, numbers: np.ndarray, width: int):
    """Arrow large_string array of ``prefix`` + zero-padded ``numbers``."""
    digits = pc.utf8_lpad(pa.array(numbers).cast(pa.large_string()), width=width, padding="0")
    sep = pa.scalar("", pa.large_string())
    return pc.binary_join_element_wise(pa.scalar(prefix, pa.large_string()), digits, sep)


def _str_from_codes(codes: np.ndarray, labels, null_code: int | None = None) -> pd.array:
    """pandas ``str`` array from integer codes into ``labels`` (via Arrow, no Python objects)."""
    codes = np.asarray(codes)
    mask = None if null_code is None else codes == null_code
    idx = pa.array(codes, mask=mask)
    dictionary = pa.array(np.asarray(labels, dtype=str), type=pa.large_string())
    arr = pa.DictionaryArray.from_arrays(idx, dictionary).cast(pa.large_string())
    return pd.array(arr, dtype="str")


def _transactions_frame(
    rows: dict[str, np.ndarray],
    customers: pd.DataFrame,
    anchor: pd.Timestamp,
    channels: tuple[str, ...] = CHANNELS,
) -> pd.DataFrame:
    """The transactions table from the simulated rows, in time order (ties by record).

    ``rows`` holds one row per line, the lines of each purchase or refund together and in
    order (``line`` 0 first); the stable sort keeps them so, and a transaction id is given to
    each run that starts with a line 0. Built column by column to keep peak memory low:
    ``rows`` is emptied on the way. The ids are pandas ``str`` (Arrow); the low-cardinality
    columns (``channel``, ``category``, ``product_id``, ``store_id``, ``source_system``) are
    categorical, which the defects and the CSV writer handle.
    """
    # the sort key fits in int64: ts < 2**36 s, rec < 2**26
    order = np.argsort((rows["ts"] << 26) | rows["rec"].astype(np.int64), kind="stable")
    for k in list(rows):
        rows[k] = rows[k][order]
    del order
    nt = len(rows["ts"])
    anchor_s = anchor.to_datetime64().astype("datetime64[s]")
    rec = rows.pop("rec")
    is_b = (customers["source_system"].astype("str").to_numpy() != "CRM-A").astype(np.int8)
    cols: dict[str, object] = {}
    number = np.cumsum(rows.pop("line") == 0)
    n_tx = int(number[-1]) if nt else 0
    cols["transaction_id"] = pd.array(_arrow_ids("T", number, max(8, len(str(n_tx)))), dtype="str")
    del number
    cols["customer_id"] = _str_from_codes(rec, customers["customer_id"].astype("str").to_numpy())
    cols["timestamp"] = anchor_s + rows.pop("ts").astype("timedelta64[s]")
    cols["amount"] = rows.pop("amount")
    # label columns as categories (memory); planted spellings are added as categories
    cols["channel"] = pd.Categorical.from_codes(rows.pop("channel"), channels)
    cols["category"] = pd.Categorical.from_codes(rows.pop("category"), CATEGORIES)
    cols["product_id"] = pd.Categorical.from_codes(rows.pop("product"), _baskets.product_ids())
    store = rows.pop("store").astype(np.int16)
    cols["store_id"] = pd.Categorical.from_codes(
        store - 1, [f"S{i:03d}" for i in range(1, N_STORES + 1)]
    )
    cols["quantity"] = rows.pop("quantity")  # int16: |quantity| <= 99
    cols["source_system"] = pd.Categorical.from_codes(is_b[rec], ["CRM-A", "CRM-B"])
    del rec, store
    return pd.DataFrame(cols, copy=False)


def _lines_truth(
    truth: dict[str, np.ndarray],
    customers: pd.DataFrame,
    primary_pos: np.ndarray,
    secondary_pos: np.ndarray,
) -> dict[str, pd.DataFrame]:
    """``affinities`` (true lift of each planted pair over all purchases) and
    ``next_category`` (every record of a person gets the person's rows, by record then
    decreasing ``p``)."""
    s = truth["lift_sums"].sum(axis=0)
    n = float(truth["lift_baskets"].sum())
    a, b, _, _ = _baskets.pair_arrays()
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = s[:, 2] * n / (s[:, 0] * s[:, 1])
    names = np.asarray(PRODUCT_CATEGORIES)
    affinities = pd.DataFrame(
        {
            "category_a": pd.array(names[a], dtype="str"),
            "category_b": pd.array(names[b], dtype="str"),
            "lift": lift,
        }
    )
    person, cat, p = truth["next_person"], truth["next_category"], truth["next_p"]
    dup = secondary_pos[person] >= 0
    rec = np.concatenate([primary_pos[person], secondary_pos[person[dup]]])
    cat = np.concatenate([cat, cat[dup]])
    p = np.concatenate([p, p[dup]])
    order = np.lexsort((cat, -p, rec))
    ids = customers["customer_id"].astype("str").to_numpy()
    next_category = pd.DataFrame(
        {
            "customer_id": _str_from_codes(rec[order], ids),
            "category": _str_from_codes(cat[order], PRODUCT_CATEGORIES),
            "p": np.round(p[order], 6),
        }
    )
    return {"affinities": affinities, "next_category": next_category}


def make_transactions(
    people: pd.DataFrame,
    customers: pd.DataFrame,
    rng: np.random.Generator,
    start: pd.Timestamp = START,
    end: pd.Timestamp = END,
    *,
    horizon_days: int = HORIZON_DAYS,
    simulate_chunk: Callable | None = None,
    channels: tuple[str, ...] = CHANNELS,
    lines_truth: dict[str, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Simulate every person's purchases through ``end + horizon_days``; keep rows up to ``end``.

    Parameters
    ----------
    people : DataFrame
        From :func:`make_records`.
    customers : DataFrame
        CRM records from :func:`make_records` (ids for the rows).
    rng : numpy Generator
        Source of randomness.
    start, end : Timestamp
        Window start and the data end (inclusive; nothing after the end of this day is written).
    horizon_days : int
        Days after the end simulated for the churn truth (never written to the tables).
    simulate_chunk : callable, optional
        Simulates a chunk of people (default: the BG/NBD with a weekly pattern,
        ``_simulate_chunk``; the other worlds of :mod:`cxlib.synth._worlds` have the same
        signature and outputs).
    channels : tuple of str
        Names of the channel codes of the rows.
    lines_truth : dict, optional
        Filled with the truth of the purchase lines (:mod:`cxlib.synth._baskets`):
        ``affinities`` (``category_a, category_b, lift``) and ``next_category``
        (``customer_id, category, p``).

    Returns
    -------
    transactions : DataFrame
        ``transaction_id, customer_id, timestamp, amount, channel, category, store_id, quantity,
        source_system``, one row per line (a purchase's lines share its ``transaction_id``,
        customer, time, channel and store); refunds are later transactions with the lines of
        the purchase and negative amounts and quantities.
    people : DataFrame
        Input plus ``n_purchases``, ``last_purchase``, ``total_spend``, ``alive_at_end`` and the
        final ``complaint_date``.
    churn_truth : DataFrame
        Per person: ``master_id``, ``n_repeat_obs``, ``t_x_days``, ``T_days``,
        ``p_alive_at_end``, ``p_lapse_90d``, ``lapsed_90d``, ``purchases_next_90d``,
        ``alive_at_end``.
    """
    people = people.reset_index(drop=True).copy()
    n = len(people)
    anchor = anchor_for(start)
    end = pd.Timestamp(end).normalize()
    end_s = int(_seconds(end + pd.Timedelta(days=1), anchor))
    h_s = end_s + horizon_days * _DAY_S
    rec_index = pd.Index(customers["customer_id"].astype("str"))
    primary_pos = rec_index.get_indexer(people["primary_customer_id"].astype("str"))
    sec_ids = people["secondary_customer_id"]
    has_sec = sec_ids.notna().to_numpy()
    secondary_pos = np.full(n, -1)
    secondary_pos[has_sec] = rec_index.get_indexer(sec_ids[has_sec].astype("str"))
    if (primary_pos < 0).any() or (secondary_pos[has_sec] < 0).any():
        raise ValueError("people refer to customer ids that are not in customers")

    cols = {
        "lam": people["lam"].to_numpy(float),
        "p_drop": people["p_drop"].to_numpy(float),
        "weekend_share": people["weekend_share"].to_numpy(float),
        "tod": people[[f"p_tod_{t}" for t in TIMES_OF_DAY]].to_numpy(float),
        "channel": people[["p_store", "p_web", "p_app"]].to_numpy(float),
        "category": people[[f"p_cat_{c}" for c in CATEGORIES]].to_numpy(float),
        "avg_basket": people["avg_basket"].to_numpy(float),
        "app_user": people["app_user"].to_numpy(bool),
        "home_store": people["home_store"].to_numpy(),
        "complained": people["complained"].to_numpy(bool),
        "first_s": _seconds(people["first_purchase"].to_numpy(), anchor),
        "primary_pos": primary_pos,
        "secondary_pos": secondary_pos,
        "has_secondary": has_sec,
    }
    n_chunks = max(1, -(-n // TX_CHUNK))
    rngs = rng.spawn(n_chunks)
    parts, truths = [], []
    for i in range(n_chunks):  # chunks of TX_CHUNK people (memory), vectorised within
        sl = slice(i * TX_CHUNK, min(n, (i + 1) * TX_CHUNK))
        part, tr = (simulate_chunk or _simulate_chunk)(
            {k: v[sl] for k, v in cols.items()}, rngs[i], anchor, end_s, h_s
        )
        tr["next_person"] = tr["next_person"] + sl.start
        parts.append(part)
        truths.append(tr)
        logger.info("transactions: simulated people %d-%d of %d", sl.start, sl.stop, n)
    keys = list(parts[0])
    rows = {}
    for k in keys:  # one column at a time, freeing the chunks' arrays as we go
        rows[k] = np.concatenate([part.pop(k) for part in parts])
    del parts
    truth = {k: np.concatenate([t[k] for t in truths]) for k in truths[0]}
    if lines_truth is not None:
        lines_truth.update(_lines_truth(truth, customers, primary_pos, secondary_pos))
    transactions = _transactions_frame(rows, customers, anchor, channels)
    pa.default_memory_pool().release_unused()
    nt = len(transactions)
    anchor_s = anchor.to_datetime64().astype("datetime64[s]")

    people["n_purchases"] = truth["n_obs"]
    people["last_purchase"] = anchor_s + truth["last_s"].astype("timedelta64[s]")
    people["total_spend"] = np.round(truth["total_spend"], 2)
    people["alive_at_end"] = truth["alive_at_end"]
    cs = truth["complaint_s"]
    people["complaint_date"] = pd.Series(
        np.where(
            cs == np.iinfo(np.int64).min,
            np.datetime64("NaT"),
            anchor_s + cs.clip(0).astype("timedelta64[s]"),
        )
    ).astype("datetime64[s]")
    churn = pd.DataFrame(
        {
            "master_id": people["master_id"],
            **{
                k: truth[k]
                for k in (
                    "n_repeat_obs",
                    "t_x_days",
                    "T_days",
                    "expected_purchases_90d_if_alive",
                    "p_alive_at_end",
                    "p_lapse_90d",
                    "lapsed_90d",
                    "purchases_next_90d",
                    "alive_at_end",
                )
            },
        }
    )
    n_ref = int((transactions["amount"] < 0).sum())
    logger.info(
        "transactions: %d rows (%d refunds), %.1f purchases per person; lapsed in next %d days "
        "%.1f%% (mean p_lapse %.1f%%)",
        nt,
        n_ref,
        truth["n_obs"].mean() if n else 0.0,
        horizon_days,
        100 * churn["lapsed_90d"].mean() if n else 0.0,
        100 * churn["p_lapse_90d"].mean() if n else 0.0,
    )
    return transactions, people, churn
