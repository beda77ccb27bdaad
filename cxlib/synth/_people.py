"""True people: latent segment, propensities, satisfaction, dropout drivers, acquisition."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cxlib.synth._clock import (
    anchor_for,
    calendar_time,
    op_time,
    week_masses,
)
from cxlib.synth._params import (
    ACQ_EXISTING_DAYS,
    ACQ_EXISTING_SHARE,
    ACQ_LAST_DAYS,
    BASKET_PERSON_SIGMA,
    BETA_COMPLAINT,
    BETA_LOW_SATISFACTION,
    BETA_NO_APP,
    CATEGORIES,
    CHANNELS,
    COMPLAINT_INTERCEPT,
    COMPLAINT_SLOPE,
    CONC_CATEGORY,
    CONC_CHANNEL,
    CONC_TOD,
    CONC_WEEKEND,
    CONSENT_RECORD,
    CONSENT_TRUE,
    END,
    LOW_SATISFACTION,
    P_DROP_NOISE_SD,
    SATISFACTION_CONC,
    SEGMENT_NAMES,
    SEGMENTS,
    START,
    TIMES_OF_DAY,
    _sigmoid,
    segment_base_logit,
    segment_table,
)

logger = logging.getLogger(__name__)


def _dirichlet_rows(rng: np.random.Generator, means: np.ndarray, conc: float) -> np.ndarray:
    """One Dirichlet draw per row with mean ``means[row]`` and concentration ``conc``."""
    g = rng.gamma(np.maximum(means * conc, 1e-3))
    return g / g.sum(axis=1, keepdims=True)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` + zero-padded numbers, as a numpy str array."""
    return np.char.add(prefix, np.char.zfill(np.asarray(numbers).astype(str), width))


def make_people(
    n: int,
    rng: np.random.Generator,
    start: pd.Timestamp = START,
    end: pd.Timestamp = END,
) -> pd.DataFrame:
    """Simulate ``n`` true people with latent segment, propensities and churn drivers.

    Parameters
    ----------
    n : int
        Number of people.
    rng : numpy Generator
        Source of randomness.
    start, end : Timestamp
        First day of the data window and its last day (inclusive).

    Returns
    -------
    DataFrame, one row per person, with ``master_id``, ``segment_idx``, ``latent_segment``,
    propensities (``p_store``, ``p_web``, ``p_app``, ``p_tod_*``, ``weekend_share``,
    ``p_cat_*``), ``app_user``, ``preferred_channel``, ``satisfaction``, ``complained``,
    ``complaint_date`` (filled by :func:`make_transactions`), ``lam``, ``p_drop``,
    ``avg_basket``, ``marketing_consent``, ``consent_status``, ``age``, ``birth_year``,
    ``signup_date``, ``acquired_at`` and ``first_purchase`` (provisional until the purchases are
    simulated; the first purchase is the first event of the person's purchase process).
    """
    start = pd.Timestamp(start).normalize()
    end = pd.Timestamp(end).normalize()
    seg_tab = segment_table()
    shares = seg_tab["share"].to_numpy()
    seg = rng.choice(len(SEGMENTS), size=n, p=shares / shares.sum())

    ch_means = seg_tab[[f"channel_{c}" for c in CHANNELS]].to_numpy()[seg]
    tod_means = seg_tab[[f"tod_{t}" for t in TIMES_OF_DAY]].to_numpy()[seg]
    cat_means = seg_tab[[f"cat_{c}" for c in CATEGORIES]].to_numpy()[seg]
    channel = _dirichlet_rows(rng, ch_means, CONC_CHANNEL)
    tod = _dirichlet_rows(rng, tod_means, CONC_TOD)
    cat = _dirichlet_rows(rng, cat_means, CONC_CATEGORY)
    wk_mean = seg_tab["weekend"].to_numpy()[seg]
    weekend = rng.beta(wk_mean * CONC_WEEKEND, (1.0 - wk_mean) * CONC_WEEKEND)

    app_user = rng.random(n) < seg_tab["p_app_user"].to_numpy()[seg]
    # non-users move their app share to web (online) and store in proportion
    app_share = channel[:, 2].copy()
    channel[:, 2] = np.where(app_user, channel[:, 2], 0.0)
    channel[:, 1] += np.where(app_user, 0.0, 0.6 * app_share)
    channel[:, 0] += np.where(app_user, 0.0, 0.4 * app_share)
    # app users always use the app a little
    channel[:, 2] = np.where(app_user, np.maximum(channel[:, 2], 0.05), 0.0)
    channel /= channel.sum(axis=1, keepdims=True)
    preferred = np.asarray(CHANNELS)[np.argmax(channel, axis=1)]

    shape = seg_tab["lam_shape"].to_numpy()[seg]
    lam_mean = 1.0 / seg_tab["mean_interpurchase_days"].to_numpy()[seg]
    lam = rng.gamma(shape, lam_mean / shape)

    basket = seg_tab["basket_median"].to_numpy()[seg] * np.exp(
        rng.normal(0.0, BASKET_PERSON_SIGMA, n)
    )

    m_sat = (seg_tab["satisfaction_mean"].to_numpy()[seg] - 1.0) / 4.0
    satisfaction = 1.0 + 4.0 * rng.beta(m_sat * SATISFACTION_CONC, (1 - m_sat) * SATISFACTION_CONC)
    p_complain = _sigmoid(COMPLAINT_INTERCEPT + COMPLAINT_SLOPE * (3.5 - satisfaction))
    complained = rng.random(n) < p_complain
    low_sat = satisfaction < LOW_SATISFACTION

    base = np.array([segment_base_logit(i) for i in range(len(SEGMENTS))])[seg]
    logit_p = (
        base
        + BETA_COMPLAINT * complained
        + BETA_LOW_SATISFACTION * low_sat
        + BETA_NO_APP * (~app_user)
        + rng.normal(0.0, P_DROP_NOISE_SD, n)
    )
    p_drop = _sigmoid(logit_p)

    age = np.clip(np.round(rng.normal(seg_tab["age_mean"].to_numpy()[seg], 11.0)), 18, 90)
    age = age.astype(int)
    birth_year = end.year - age - (rng.random(n) < 0.5)

    # acquisition: existing base early in the window, the rest joining steadily
    span_new = (end - start).days + 1 - ACQ_LAST_DAYS
    existing = rng.random(n) < ACQ_EXISTING_SHARE
    acq_day = np.where(
        existing,
        rng.random(n) * ACQ_EXISTING_DAYS,
        rng.random(n) * span_new,
    )
    acquired_at = start + pd.to_timedelta(np.floor(acq_day), unit="D")
    # signup: existing members signed up years ago; new ones shortly before their first purchase
    old_signup = rng.random(n) < np.where(existing, 0.85, 0.25)
    signup_back = np.where(old_signup, rng.uniform(30, 9 * 365, n), rng.uniform(0, 21, n))
    signup_date = (acquired_at - pd.to_timedelta(np.floor(signup_back), unit="D")).normalize()

    # first purchase: a draw from the person's weekly pattern within 7 days of acquisition
    anchor = anchor_for(start)
    masses = week_masses(weekend, tod)
    rows = np.arange(n)
    acq_u = (acquired_at - anchor).to_numpy().astype("timedelta64[s]").astype(float) / 86400.0
    s0 = op_time(acq_u, rows, lam, masses) + rng.random(n) * 7.0 * lam
    u0 = calendar_time(s0, rows, lam, weekend, tod)
    first_purchase = anchor.to_datetime64().astype("datetime64[s]") + np.floor(u0 * 86400.0).astype(
        "timedelta64[s]"
    )
    del masses

    u = rng.random(n)
    consent_status = np.where(
        u < CONSENT_TRUE, "yes", np.where(u < CONSENT_RECORD, "no", "unknown")
    )

    people = pd.DataFrame(
        {
            "master_id": _ids("P", np.arange(1, n + 1), max(7, len(str(n)))),
            "segment_idx": seg.astype(np.int8),
            "latent_segment": np.asarray(SEGMENT_NAMES)[seg],
            "app_user": app_user,
            "preferred_channel": preferred,
            "p_store": channel[:, 0],
            "p_web": channel[:, 1],
            "p_app": channel[:, 2],
            **{f"p_tod_{t}": tod[:, j] for j, t in enumerate(TIMES_OF_DAY)},
            "weekend_share": weekend,
            **{f"p_cat_{c}": cat[:, j] for j, c in enumerate(CATEGORIES)},
            "satisfaction": satisfaction,
            "complained": complained,
            "complaint_date": pd.Series(pd.NaT, index=range(n), dtype="datetime64[s]"),
            "lam": lam,
            "p_drop": p_drop,
            "avg_basket": basket,
            "marketing_consent": consent_status == "yes",
            "consent_status": consent_status,
            "age": age,
            "birth_year": birth_year.astype(int),
            "signup_date": signup_date.astype("datetime64[s]"),
            "acquired_at": acquired_at.astype("datetime64[s]"),
            "first_purchase": first_purchase,
        }
    )
    for c in ("latent_segment", "preferred_channel", "consent_status", "master_id"):
        people[c] = people[c].astype("str")
    logger.info(
        "people: %d (segments %s; app users %.1f%%; complained %.1f%%)",
        n,
        np.bincount(seg, minlength=len(SEGMENTS)).tolist(),
        100 * app_user.mean() if n else 0.0,
        100 * complained.mean() if n else 0.0,
    )
    return people
