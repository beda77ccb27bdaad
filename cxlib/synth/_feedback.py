"""Service feedback (satisfaction surveys and complaints) and relationship surveys."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cxlib.synth._baskets import draw_index
from cxlib.synth._clock import (
    anchor_for,
)
from cxlib.synth._names import (
    COMPLAINT_COMMENTS,
    SURVEY_COMMENTS_BAD,
    SURVEY_COMMENTS_GOOD,
)
from cxlib.synth._params import (
    CHANNELS,
    DUP_SPLIT_PRIMARY,
    END,
    RELATIONSHIP_ANSWER_DAYS,
    RELATIONSHIP_DROPPED_PENALTY,
    RELATIONSHIP_INVITE_SHARE,
    RELATIONSHIP_RESPONSE_INTERCEPT,
    RELATIONSHIP_RESPONSE_SLOPE,
    RELATIONSHIP_SCORE_SD,
    RELATIONSHIP_WAVE_MONTHS,
    START,
    SURVEY_RATE,
    SURVEY_SCORE_SD,
    _sigmoid,
)
from cxlib.synth._purchases import (
    _DAY_S,
    _seconds,
)
from cxlib.synth._records import (
    _S,
    _empty_to_na,
)

logger = logging.getLogger(__name__)


def _answer_records_and_comments(
    people: pd.DataFrame, who: np.ndarray, score: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Record and comment of each survey answer: ``who`` are positions in ``people``.

    The answer is on the person's primary record or, for a duplicated person, on the secondary
    one with probability ``1 - DUP_SPLIT_PRIMARY``; 15% of answers carry a short comment, good
    for scores of 7 or more. Returns ``(customer_id, comment)`` (comment "" for none).
    """
    m = len(who)
    prim = people["primary_customer_id"].astype("str").to_numpy()
    sec = people["secondary_customer_id"]
    has_sec = sec.notna().to_numpy()
    sec = sec.fillna("").astype("str").to_numpy()
    use_sec = has_sec[who] & (rng.random(m) >= DUP_SPLIT_PRIMARY)
    cid = np.where(use_sec, sec[who], prim[who])
    has_comment = rng.random(m) < 0.15
    good = np.asarray(SURVEY_COMMENTS_GOOD)[rng.integers(0, len(SURVEY_COMMENTS_GOOD), m)]
    bad = np.asarray(SURVEY_COMMENTS_BAD)[rng.integers(0, len(SURVEY_COMMENTS_BAD), m)]
    return cid, np.where(has_comment, np.where(score >= 7, good, bad), "")


def make_service_feedback(
    people: pd.DataFrame,
    customers: pd.DataFrame,
    rng: np.random.Generator,
    start: pd.Timestamp = START,
    end: pd.Timestamp = END,
) -> pd.DataFrame:
    """Satisfaction surveys and call-centre complaints, linked to a source record.

    Surveys: each observed purchase leads to a survey with probability ``SURVEY_RATE``; the
    survey falls on a uniform day between the first purchase and three days after the last
    observed one (capped at the data end), 08:00-22:00, scores 0-10 around ``2 * satisfaction`` (sd ``SURVEY_SCORE_SD``),
    touchpoint drawn from the person's channel propensities. Complaints: one row per complained
    person at ``complaint_date``, touchpoint ``call_centre``, score 0-3, a short comment.

    Returns
    -------
    DataFrame with ``customer_id, timestamp, score, touchpoint, journey_id, complaint, comment``.
    """
    people = people.reset_index(drop=True)
    n = len(people)
    anchor = anchor_for(start)
    end_s = int(_seconds(pd.Timestamp(end).normalize() + pd.Timedelta(days=1), anchor))
    first_s = _seconds(people["first_purchase"].to_numpy(), anchor)
    last_s = _seconds(people["last_purchase"].to_numpy(), anchor)
    n_pur = people["n_purchases"].to_numpy()
    sat = people["satisfaction"].to_numpy(float)
    prim = people["primary_customer_id"].astype("str").to_numpy()

    k = rng.binomial(n_pur, SURVEY_RATE)
    who = np.repeat(np.arange(n), k)
    m = len(who)
    first_day = first_s[who] // _DAY_S
    last_day = np.minimum(last_s[who] // _DAY_S + 3, end_s // _DAY_S - 1)
    day = first_day + np.floor(rng.random(m) * (last_day - first_day + 1)).astype(np.int64)
    ts = day * _DAY_S + rng.integers(8 * 3600, 22 * 3600, m)  # answered 08:00-22:00
    score = np.clip(np.round(2.0 * sat[who] + rng.normal(0.0, SURVEY_SCORE_SD, m)), 0, 10)
    ch_cum = np.cumsum(people[["p_store", "p_web", "p_app"]].to_numpy(float), axis=1)
    tp = draw_index(ch_cum, who, rng.random(m), np.int8)
    cid, comment = _answer_records_and_comments(people, who, score, rng)

    comp = np.flatnonzero(people["complained"].to_numpy(bool))
    nc = len(comp)
    c_ts = _seconds(people["complaint_date"].to_numpy()[comp], anchor)
    c_score = rng.integers(0, 4, nc).astype(float)
    c_text = np.asarray(COMPLAINT_COMMENTS)[rng.integers(0, len(COMPLAINT_COMMENTS), nc)]
    # some callers leave their number in the free text (PII in comments is realistic)
    leave_phone = rng.random(nc) < 0.05
    phone = people["phone"].astype("str").to_numpy()[comp] if "phone" in people else ""
    c_text = np.where(
        leave_phone, _S.add(_S.add(c_text, ". Please call me back on "), phone), c_text
    )

    anchor_s = anchor.to_datetime64().astype("datetime64[s]")
    fb = pd.DataFrame(
        {
            "customer_id": pd.array(np.concatenate([cid, prim[comp]]), dtype="str"),
            "timestamp": anchor_s + np.concatenate([ts, c_ts]).astype("timedelta64[s]"),
            "score": np.concatenate([score, c_score]),
            "touchpoint": pd.array(
                np.concatenate([np.asarray(CHANNELS)[tp], np.full(nc, "call_centre")]),
                dtype="str",
            ),
            "journey_id": pd.array([None] * (m + nc), dtype="str"),
            "complaint": np.concatenate([np.zeros(m, bool), np.ones(nc, bool)]),
            "comment": _empty_to_na(np.concatenate([comment, c_text])).array,
        }
    )
    fb = fb.sort_values(["timestamp", "customer_id"], kind="stable", ignore_index=True)
    logger.info("service feedback: %d surveys, %d complaints", m, nc)
    return fb


def make_relationship_surveys(
    people: pd.DataFrame,
    rng: np.random.Generator,
    start: pd.Timestamp = START,
    end: pd.Timestamp = END,
) -> pd.DataFrame:
    """Periodic relationship ("overall satisfaction") surveys, e-mailed to a random share.

    Every ``RELATIONSHIP_WAVE_MONTHS`` months after ``start`` (before ``end``) a random
    ``RELATIONSHIP_INVITE_SHARE`` of the people whose first purchase came before the wave is
    invited. Who answers depends on satisfaction and on whether the person has already dropped
    out (``alive_at_end`` false and the last purchase before the wave):
    ``logit P(answer) = RELATIONSHIP_RESPONSE_INTERCEPT + RELATIONSHIP_RESPONSE_SLOPE *
    (3.5 - satisfaction) - RELATIONSHIP_DROPPED_PENALTY * dropped``, so the dissatisfied answer
    more often, as in real customer surveys. An answer comes on a uniform day within
    ``RELATIONSHIP_ANSWER_DAYS`` of the invitation (before the data end), 08:00-22:00, touchpoint
    ``email``, score 0-10 around ``2 * satisfaction`` (sd ``RELATIONSHIP_SCORE_SD``), on the
    person's primary record or, for duplicated people, sometimes the secondary one; 15% leave a
    comment.

    Returns
    -------
    DataFrame with ``customer_id, timestamp, score, touchpoint, journey_id, complaint, comment``
    (``complaint`` false, ``journey_id`` empty).
    """
    people = people.reset_index(drop=True)
    n = len(people)
    anchor = anchor_for(start)
    end_day = int(_seconds(pd.Timestamp(end).normalize(), anchor)) // _DAY_S
    first_s = _seconds(people["first_purchase"].to_numpy(), anchor)
    last_s = _seconds(people["last_purchase"].to_numpy(), anchor)
    alive_end = people["alive_at_end"].to_numpy(bool)
    sat = people["satisfaction"].to_numpy(float)

    waves = []
    k = 1
    while True:
        day = pd.Timestamp(start).normalize() + pd.DateOffset(months=RELATIONSHIP_WAVE_MONTHS * k)
        if day >= pd.Timestamp(end).normalize():
            break
        waves.append(int(_seconds(day, anchor)) // _DAY_S)
        k += 1
    whos, days = [], []
    for wave_day in waves:
        wave_s = wave_day * _DAY_S
        member = first_s < wave_s
        invited = member & (rng.random(n) < RELATIONSHIP_INVITE_SHARE)
        dropped = ~alive_end & (last_s < wave_s)
        logit = (
            RELATIONSHIP_RESPONSE_INTERCEPT
            + RELATIONSHIP_RESPONSE_SLOPE * (3.5 - sat)
            - RELATIONSHIP_DROPPED_PENALTY * dropped
        )
        answered = invited & (rng.random(n) < _sigmoid(logit))
        who = np.flatnonzero(answered)
        last_day = min(wave_day + RELATIONSHIP_ANSWER_DAYS - 1, end_day)
        day = rng.integers(wave_day, last_day + 1, len(who))
        whos.append(who)
        days.append(day)
    who = np.concatenate(whos) if whos else np.zeros(0, np.int64)
    day = np.concatenate(days) if days else np.zeros(0, np.int64)
    m = len(who)
    ts = day * _DAY_S + rng.integers(8 * 3600, 22 * 3600, m)
    score = np.clip(np.round(2.0 * sat[who] + rng.normal(0.0, RELATIONSHIP_SCORE_SD, m)), 0, 10)
    cid, comment = _answer_records_and_comments(people, who, score, rng)
    anchor_s = anchor.to_datetime64().astype("datetime64[s]")
    fb = pd.DataFrame(
        {
            "customer_id": pd.array(cid, dtype="str"),
            "timestamp": anchor_s + ts.astype("timedelta64[s]"),
            "score": score.astype(float),
            "touchpoint": pd.array(np.full(m, "email"), dtype="str"),
            "journey_id": pd.array([None] * m, dtype="str"),
            "complaint": np.zeros(m, bool),
            "comment": _empty_to_na(comment).array,
        }
    )
    fb = fb.sort_values(["timestamp", "customer_id"], kind="stable", ignore_index=True)
    logger.info("relationship surveys: %d waves, %d answers", len(waves), m)
    return fb
