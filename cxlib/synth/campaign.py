"""Randomised campaign with heterogeneous, partly harmful effects (planted truth for notebook 04).

The generator takes the simulated people and their transactions, picks everyone who has bought
before ``sent_at`` and randomises them (complete randomisation, near-equal thirds) into
``control``, ``offer_a`` and ``offer_b``. Covariates are computed only from data before
``sent_at``; outcomes cover the two weeks after it.

Generative model (probabilities of conversion within two weeks)
----------------------------------------------------------------
Percentiles are taken among the eligible people: ``r = pct(recency_days)`` and
``eng = pct(0.5 * (1 - r) + 0.5 * pct(frequency_365))`` (uniform on [0, 1]).

* control: ``p0 ∝ (0.012 + 0.20 * eng**2 + 0.02 * app_user) * exp(N(0, 0.3))``, times 0.3 for
  people who had (secretly) stopped buying before ``sent_at``, scaled so that the mean is
  ``BASELINE`` = 8%.
* persuadables: ``bump = exp(-0.5 * ((r - 0.55) / 0.12)**2) * (0.15 + 0.85 * app_user)`` —
  lapsing customers who use the app respond most (also those who had silently stopped buying:
  an offer can win them back); the positive effect of each offer is ``bump * exp(N(0, 0.1))``
  scaled so that the mean effect is ``MEAN_UPLIFT_A`` = +2 points (offer A) and
  ``MEAN_UPLIFT_B`` = +1 point (offer B).
* sleeping dogs: ``2.2 * recent_complaint + 2.0 * [pct(frequency_365) > 0.92] + 0.4 *
  [satisfaction < 2.5] + N(0, 0.45) > 1.4`` — customers who complained in the last 180 days
  and the most frequent buyers (about 9%). Offer A lowers their conversion by 4.5 points,
  offer B by 11 points.
* ``p_arm = clip(p0 + effect, 0.001, 0.95)``; the truth is ``p_arm - p0`` after clipping.
* ``true_response_group``: sleeping dog (an offer lowers p by more than 1 point), persuadable
  (an offer raises it by at least 2 points), sure thing (``p0`` ≥ 10%), else lost cause.

Visits: ``visited = converted or Bernoulli(q)`` with ``q = 0.06 + 0.22 * eng`` plus 4 (offer
A) or 3 (offer B) points (times 0.3 for lapsed people). Revenue of a conversion is the person's
average basket times ``lognormal(-0.06, 0.35)``, times 0.9 under offer A (a 10% discount).
The arms are assigned by complete randomisation (near-equal thirds).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

logger = logging.getLogger(__name__)

ARMS = ("control", "offer_a", "offer_b")
CAMPAIGN_ID = "CMP-2025-05-SPRING"
OUTCOME_DAYS = 14
RECENT_COMPLAINT_DAYS = 180
AGE_BINS = [0, 25, 35, 45, 55, 65, 200]
AGE_LABELS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
REGIONS = np.array(["North", "Midlands", "South", "London", "Scotland", "Wales"])
REGION_P = np.array([0.22, 0.2, 0.24, 0.16, 0.1, 0.08])
BASELINE = 0.08  # target mean control conversion
MEAN_UPLIFT_A = 0.02  # target mean true uplift, offer A
MEAN_UPLIFT_B = 0.01  # target mean true uplift, offer B
HARM_A = 0.045  # conversion points lost by sleeping dogs under offer A
HARM_B = 0.11  # ... and under offer B
BUMP_CENTRE = 0.55  # recency percentile where persuadability peaks (lapsing customers)
BUMP_WIDTH = 0.12
APP_BASE = 0.15  # persuadability of non-app users relative to app users
TAU_NOISE = 0.1  # person-level log-normal noise on the positive effect
DOG_NOISE = 0.45
DEAD_EFFECT = 1.0  # offer effect of people who had secretly stopped buying (win-back), relative
RESPONSE_GROUPS = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")


def _scale(x: np.ndarray, target: float, bounds: tuple[float, float]) -> float:
    """Factor that brings ``mean(x)`` to ``target``, kept within ``bounds``."""
    m = float(np.mean(x)) if len(x) else 0.0
    return float(np.clip(target / m, *bounds)) if m > 0 else 1.0


def _pct_rank(x: np.ndarray) -> np.ndarray:
    """Percentile rank in (0, 1], ties averaged."""
    return pd.Series(x).rank(method="average", pct=True).to_numpy()


def _person_index(people: pd.DataFrame) -> pd.Series:
    """Map every source customer_id to the row position of its person in ``people``."""
    if "customer_ids" in people.columns:
        ids = people["customer_ids"].reset_index(drop=True)
        lens = ids.map(len).to_numpy()
        flat = np.concatenate([np.asarray(v, dtype=object) for v in ids]) if len(ids) else []
        pos = np.repeat(np.arange(len(people)), lens)
    else:
        flat = people["primary_customer_id"].to_numpy(dtype=object)
        pos = np.arange(len(people))
    out = pd.Series(pos, index=pd.Index(flat, dtype="str"))
    return out[~out.index.duplicated()]


def _primary_ids(people: pd.DataFrame) -> np.ndarray:
    if "primary_customer_id" in people.columns:
        return people["primary_customer_id"].astype("str").to_numpy(dtype=object)
    return np.array([str(v[0]) for v in people["customer_ids"]], dtype=object)


def _history_before(
    people: pd.DataFrame, transactions: pd.DataFrame, sent_at: pd.Timestamp
) -> pd.DataFrame:
    """Per person (row position) recency, frequency and spend from purchases before ``sent_at``.

    Lean on memory (25 M transactions at 1 M people): the ids are looked up in Arrow without
    copying them, and only the kept rows' positions, times and amounts are materialised. Rows
    are lines: consecutive rows with the same ``transaction_id`` are one purchase (counted
    once; its amount is the sum of its lines).
    """
    ts = transactions["timestamp"]
    if not pd.api.types.is_datetime64_any_dtype(ts):
        ts = pd.to_datetime(ts)
    keep = (ts < sent_at).to_numpy().copy()
    if "amount" in transactions.columns:
        keep &= (pd.to_numeric(transactions["amount"], errors="coerce") > 0).to_numpy()
    first_line = np.ones(len(transactions), dtype=bool)
    if "transaction_id" in transactions.columns and len(transactions) > 1:
        tid = pa.array(transactions["transaction_id"].astype("str"), from_pandas=True)
        same = pc.equal(tid.slice(1), tid.slice(0, len(tid) - 1))
        first_line[1:] = ~pc.fill_null(same, False).to_numpy(zero_copy_only=False)
        del tid, same
    pos_map = _person_index(people)
    cid = pa.array(transactions["customer_id"].astype("str"), from_pandas=True)
    if not (pa.types.is_string(cid.type) or pa.types.is_large_string(cid.type)):
        cid = cid.cast(pa.string())
    known = pa.array(pos_map.index.to_numpy(dtype=object), type=cid.type)
    idx = pc.fill_null(pc.index_in(cid, value_set=known), -1).to_numpy(zero_copy_only=False)
    del cid
    ok = keep & (idx >= 0)
    del keep
    pos = pos_map.to_numpy()[idx[ok]]
    del idx
    t = ts.to_numpy()[ok]
    amt = transactions["amount"].to_numpy(dtype=float)[ok]
    first_line = first_line[ok]
    del ok
    n = len(people)
    secs = (sent_at - pd.DatetimeIndex(t)).total_seconds().to_numpy()
    del t
    days_before = secs / 86400.0
    del secs
    in_year = days_before <= 365
    n_all = np.bincount(pos[first_line], minlength=n)
    freq = np.bincount(pos[in_year & first_line], minlength=n)
    spend = np.bincount(pos[in_year], weights=amt[in_year], minlength=n)
    total_spend = np.bincount(pos, weights=amt, minlength=n)
    # min / max days before sent_at per person (unbuffered, on integer positions)
    rec = np.full(n, np.inf)
    ten = np.full(n, -np.inf)
    np.minimum.at(rec, pos, days_before)
    np.maximum.at(ten, pos, days_before)
    rec[n_all == 0] = np.nan
    ten[n_all == 0] = np.nan
    return pd.DataFrame(
        {
            "n_before": n_all,
            "recency_days": np.floor(rec),
            "frequency_365": freq,
            "spend_365": np.round(spend, 2),
            "first_days": ten,
            "avg_basket_hist": np.where(n_all > 0, total_spend / np.maximum(n_all, 1), np.nan),
        }
    )


def _person_inputs(
    p: pd.DataFrame, h: pd.DataFrame, sent_at: pd.Timestamp
) -> tuple[np.ndarray, ...]:
    """The eligible people's attributes, with defaults for missing columns: ``app_user``,
    ``age``, recent complaint, ``satisfaction``, average basket (else from the history) and the
    hidden state "had already stopped buying before the send" (no randomness)."""
    n = len(p)

    def col(name: str, default) -> np.ndarray:
        if name in p.columns:
            return p[name].to_numpy()
        return np.full(n, default)

    app = col("app_user", False).astype(bool)
    age = pd.to_numeric(pd.Series(col("age", 45)), errors="coerce").fillna(45).to_numpy()
    complained = pd.Series(col("complained", False)).fillna(False).astype(bool).to_numpy()
    if "complaint_date" in p.columns:
        cd = pd.to_datetime(p["complaint_date"])
        recent = (cd < sent_at) & (cd >= sent_at - pd.Timedelta(days=RECENT_COMPLAINT_DAYS))
        recent_complaint = recent.fillna(False).to_numpy(dtype=bool)
    else:
        recent_complaint = complained
    satisfaction = pd.to_numeric(pd.Series(col("satisfaction", 3.5)), errors="coerce")
    satisfaction = satisfaction.fillna(3.5).to_numpy()
    basket = pd.to_numeric(pd.Series(col("avg_basket", np.nan)), errors="coerce").to_numpy()
    basket = np.where(np.isfinite(basket) & (basket > 0), basket, h["avg_basket_hist"])
    basket = np.where(np.isfinite(basket) & (basket > 0), basket, 30.0)

    # hidden state: had the person already stopped buying before the send?
    dead = np.zeros(n, dtype=bool)
    if {"alive_at_end", "last_purchase"} <= set(p.columns):
        lp = pd.to_datetime(p["last_purchase"])
        dead = (~p["alive_at_end"].astype(bool) & (lp < sent_at)).fillna(False).to_numpy()
    return app, age, recent_complaint, satisfaction, basket, dead


def _region(
    p: pd.DataFrame, customers: pd.DataFrame | None, rng: np.random.Generator
) -> np.ndarray:
    """Region of each person: their own, else their primary record's, else drawn."""
    region = None
    if "region" in p.columns:
        region = p["region"].astype("str").to_numpy(dtype=object)
    elif customers is not None and "region" in customers.columns:
        reg = customers.set_index(customers["customer_id"].astype("str"))["region"]
        reg = reg[~reg.index.duplicated()]
        region = reg.reindex(_primary_ids(p)).to_numpy(dtype=object)
    if region is None:
        region = REGIONS[rng.choice(len(REGIONS), size=len(p), p=REGION_P)]
    return region


def generate_campaign(
    people: pd.DataFrame,
    customers: pd.DataFrame | None,
    transactions: pd.DataFrame,
    rng: np.random.Generator,
    *,
    sent_at: str | pd.Timestamp = "2025-05-15",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a randomised three-arm campaign with planted heterogeneous uplift.

    Parameters
    ----------
    people : DataFrame
        One row per true person (``master_id``, ``customer_ids`` or ``primary_customer_id``,
        and where available ``app_user``, ``age``, ``complained``, ``complaint_date``,
        ``satisfaction``, ``avg_basket``, ``alive_at_end``, ``last_purchase``, ``signup_date``).
    customers : DataFrame or None
        CRM records; used only for ``region`` when ``people`` has none (else region is drawn).
    transactions : DataFrame
        ``customer_id``, ``timestamp``, ``amount``; only rows before ``sent_at`` are used.
    rng : numpy Generator
        Source of all randomness (deterministic for a given generator state).
    sent_at : date-like
        Send time of the campaign; outcomes cover the following 14 days.

    Returns
    -------
    campaign : DataFrame
        ``customer_id, group, campaign_id, sent_at, visited, converted, revenue`` and the
        pre-treatment covariates ``recency_days, frequency_365, spend_365, tenure_days,
        app_user, age_band, region, loyalty_tier, recent_complaint``.
    truth : DataFrame
        ``customer_id, true_uplift_offer_a, true_uplift_offer_b`` (difference in conversion
        probability, arm minus control) plus ``true_p_control`` and ``true_response_group``.
    """
    sent_at = pd.Timestamp(sent_at)
    people = people.reset_index(drop=True)
    hist = _history_before(people, transactions, sent_at)
    elig = np.flatnonzero(hist["n_before"].to_numpy() > 0)
    n = len(elig)
    logger.info("campaign: %d of %d people eligible at %s", n, len(people), sent_at.date())
    p = people.iloc[elig].reset_index(drop=True)
    h = hist.iloc[elig].reset_index(drop=True)
    app, age, recent_complaint, satisfaction, basket, dead = _person_inputs(p, h, sent_at)

    # --- covariates (pre-treatment only) ---------------------------------------------------
    recency = h["recency_days"].to_numpy()
    freq = h["frequency_365"].to_numpy()
    spend = h["spend_365"].to_numpy()
    tenure = np.floor(h["first_days"].to_numpy())
    if "signup_date" in p.columns:
        sd = pd.to_datetime(p["signup_date"])
        since_signup = ((sent_at - sd).dt.days).to_numpy(dtype=float)
        tenure = np.where(np.isfinite(since_signup), np.fmax(tenure, since_signup), tenure)
    spend_pct = _pct_rank(spend)
    loyalty = np.where(spend_pct > 0.85, "gold", np.where(spend_pct > 0.5, "silver", "bronze"))
    region = _region(p, customers, rng)

    # --- potential outcomes ----------------------------------------------------------------
    eng_raw = 0.5 * (1.0 - _pct_rank(recency)) + 0.5 * _pct_rank(freq)
    eng = _pct_rank(eng_raw) if n else eng_raw
    p0_raw = (0.012 + 0.20 * eng**2 + 0.02 * app) * np.exp(rng.normal(0.0, 0.3, n))
    p0_raw = p0_raw * np.where(dead, 0.3, 1.0)
    p0 = np.clip(p0_raw * _scale(p0_raw, BASELINE, (0.3, 3.0)), 0.001, 0.9)
    freq_top = _pct_rank(freq) > 0.92
    dog_latent = (
        2.2 * recent_complaint
        + 2.0 * freq_top
        + 0.4 * (satisfaction < 2.5)
        + rng.normal(0.0, DOG_NOISE, n)
    )
    dog = dog_latent > 1.4
    damp = np.where(dead, DEAD_EFFECT, 1.0)
    r_pct = _pct_rank(recency)
    bump = np.exp(-0.5 * ((r_pct - BUMP_CENTRE) / BUMP_WIDTH) ** 2)
    bump = bump * (APP_BASE + (1 - APP_BASE) * app) * damp
    pos_a = bump * np.exp(rng.normal(0.0, TAU_NOISE, n))
    pos_b = bump * np.exp(rng.normal(0.0, TAU_NOISE, n))
    harm_a = HARM_A * dog * damp
    harm_b = HARM_B * dog * damp
    tau_a = pos_a * _scale(pos_a, MEAN_UPLIFT_A + harm_a.mean() if n else 0, (0.02, 0.25)) - harm_a
    tau_b = pos_b * _scale(pos_b, MEAN_UPLIFT_B + harm_b.mean() if n else 0, (0.01, 0.2)) - harm_b
    p_a = np.clip(p0 + tau_a, 0.001, 0.95)
    p_b = np.clip(p0 + tau_b, 0.001, 0.95)
    true_a = p_a - p0
    true_b = p_b - p0
    best = np.maximum(true_a, true_b)
    group_name = np.where(
        np.minimum(true_a, true_b) < -0.01,
        "sleeping_dog",
        np.where(best >= 0.02, "persuadable", np.where(p0 >= 0.10, "sure_thing", "lost_cause")),
    )

    # --- randomisation (complete: near-equal thirds) ---------------------------------------
    arm_idx = rng.permutation(np.resize(np.arange(len(ARMS)), n))
    p_conv = np.choose(arm_idx, [p0, p_a, p_b])
    converted = rng.random(n) < p_conv
    q = 0.06 + 0.22 * eng + np.choose(arm_idx, [0.0, 0.04, 0.03])
    visited = converted | (rng.random(n) < q * np.where(dead, 0.3, 1.0))
    rev = basket * np.exp(rng.normal(-0.06, 0.35, n)) * np.choose(arm_idx, [1.0, 0.9, 1.0])
    revenue = np.where(converted, np.round(rev, 2), 0.0)

    cust_ids = _primary_ids(p)
    campaign = pd.DataFrame(
        {
            "customer_id": pd.array(cust_ids, dtype="str"),
            "group": pd.array(np.asarray(ARMS, dtype=object)[arm_idx], dtype="str"),
            "campaign_id": CAMPAIGN_ID,
            "sent_at": sent_at,
            "visited": visited.astype(int),
            "converted": converted.astype(int),
            "revenue": revenue,
            "recency_days": recency.astype(int),
            "frequency_365": freq.astype(int),
            "spend_365": spend,
            "tenure_days": np.nan_to_num(tenure, nan=0.0).astype(int),
            "app_user": app.astype(int),
            "age_band": pd.cut(age, AGE_BINS, labels=AGE_LABELS, right=False).astype("str"),
            "region": pd.array(region, dtype="str"),
            "loyalty_tier": pd.array(loyalty, dtype="str"),
            "recent_complaint": recent_complaint.astype(int),
        }
    )
    truth = pd.DataFrame(
        {
            "customer_id": campaign["customer_id"],
            "true_uplift_offer_a": np.round(true_a, 6),
            "true_uplift_offer_b": np.round(true_b, 6),
            "true_p_control": np.round(p0, 6),
            "true_response_group": pd.array(group_name, dtype="str"),
        }
    )
    logger.info(
        "campaign: baseline %.3f, mean uplift A %.4f, B %.4f, sleeping dogs %.1f%%",
        p0.mean() if n else np.nan,
        true_a.mean() if n else np.nan,
        true_b.mean() if n else np.nan,
        100 * dog.mean() if n else np.nan,
    )
    return campaign, truth


def make_toy_inputs(
    n_people: int, rng: np.random.Generator, *, start: str = "2023-07-01", end: str = "2025-06-30"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Small self-contained ``people, customers, transactions`` for testing the campaign alone.

    A stand-in for :mod:`cxlib.synth._purchases` (Poisson purchasing with an exponential lifetime),
    used by the uplift tests so that they do not depend on the full generator.
    """
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    span = (t1 - t0).days
    master = np.char.add("P", np.char.zfill(np.arange(1, n_people + 1).astype(str), 6))
    cids = np.char.add("CRM-A-", np.char.zfill(np.arange(1, n_people + 1).astype(str), 6))
    lam = rng.gamma(2.0, 1.0 / 60.0, n_people)  # purchases per day, mean 1/30
    birth = rng.uniform(-200, span * 0.8, n_people)  # first day as a customer
    life = rng.exponential(500.0, n_people)
    active_from = np.clip(birth, 0, None)
    active_to = np.minimum(birth + life, span)
    dur = np.clip(active_to - active_from, 0, None)
    k = rng.poisson(lam * dur)
    pos = np.repeat(np.arange(n_people), k)
    day = active_from[pos] + rng.random(len(pos)) * dur[pos]
    ts = t0 + pd.to_timedelta(np.round(day * 86400), unit="s")
    basket = np.exp(rng.normal(3.4, 0.5, n_people))
    amount = np.round(basket[pos] * np.exp(rng.normal(0, 0.3, len(pos))), 2)
    transactions = pd.DataFrame(
        {"customer_id": pd.array(cids[pos], dtype="str"), "timestamp": ts, "amount": amount}
    ).sort_values("timestamp", kind="stable", ignore_index=True)
    complained = rng.random(n_people) < 0.12
    cdate = t0 + pd.to_timedelta(rng.uniform(0, span, n_people), unit="D")
    last_day = np.full(n_people, np.nan)
    np.fmax.at(last_day, pos, day)
    people = pd.DataFrame(
        {
            "master_id": master,
            "app_user": rng.random(n_people) < 0.4,
            "complained": complained,
            "complaint_date": pd.Series(cdate).where(complained),
            "satisfaction": np.clip(rng.normal(3.8, 0.8, n_people), 1, 5),
            "avg_basket": basket,
            "age": rng.integers(18, 85, n_people),
            "marketing_consent": rng.random(n_people) < 0.7,
            "signup_date": (t0 + pd.to_timedelta(np.clip(birth, -200, None), unit="D")).normalize(),
            "alive_at_end": birth + life > span,
            "primary_customer_id": cids,
            "customer_ids": [[c] for c in cids],
        }
    )
    people["last_purchase"] = t0 + pd.to_timedelta(last_day, unit="D")
    customers = pd.DataFrame(
        {
            "customer_id": pd.array(cids, dtype="str"),
            "marketing_consent": people["marketing_consent"].to_numpy(),
        }
    )
    return people, customers, transactions
