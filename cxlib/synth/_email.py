"""E-mail campaign touchpoints: sends, deliveries, opens, clicks and opt-outs with true rates.

Each campaign of ``EMAIL_CAMPAIGNS`` is sent on one day (09:00-11:00) to a random share of the
**contactable** people: their primary record has ``marketing_consent`` true, an e-mail address
and a signup date before the send, they bought before the send, and they have not opted out in
an earlier campaign. For a recipient ``i`` of campaign ``c``:

* ``email_sent`` (always), ``email_delivered`` with probability ``EMAIL_DELIVERY``;
* ``email_open`` (once, or with ``EMAIL_REOPEN`` two or three times) if delivered, with
  ``logit P = logit(open_c / EMAIL_DELIVERY) + engagement_i``, where ``engagement_i = 0.6 *
  (satisfaction - 3.5) + 0.4 * app user - 1.0 * [no purchase in the 120 days before the send]``;
* ``email_click`` if opened, with probability ``click_c / open_c``;
* ``unsubscribe`` if opened, with probability ``optout_c / open_c * exp(-0.5 * (satisfaction -
  3.5))`` (at most 0.5); an opted-out person is not sent later campaigns (their CRM consent
  flag is not updated: the CRM export predates the opt-outs' sync).

Events have channel ``email``, no ``journey_id`` and the ``campaign_id`` ``EM-<year>-<month>``
of the send. ``truth/email_campaigns.csv`` holds per campaign and role (``sent``,
``delivered``, ``opened``, ``clicked``, ``opted_out``) the true **rate**: the expected share of
the campaign's recipients with at least one event of the role (the mean of the recipients'
probabilities), which the funnel of :mod:`cxlib.action` estimates.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa

from cxlib.synth._params import (
    EMAIL_APP_EFFECT,
    EMAIL_CAMPAIGNS,
    EMAIL_DELIVERY,
    EMAIL_LAPSED_DAYS,
    EMAIL_LAPSED_EFFECT,
    EMAIL_OPTOUT_SAT_EFFECT,
    EMAIL_REOPEN,
    EMAIL_SAT_EFFECT,
    _logit,
    _sigmoid,
)

logger = logging.getLogger(__name__)

TOUCHPOINTS = ("email_sent", "email_delivered", "email_open", "email_click", "unsubscribe")
ROLES = ("sent", "delivered", "opened", "clicked", "opted_out")


def _contactable(people: pd.DataFrame, customers: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Per person: primary record id, and whether consent + e-mail are on that record, with
    its signup date."""
    ids = people["primary_customer_id"].astype("str").to_numpy()
    pos = pd.Index(customers["customer_id"].astype("str")).get_indexer(ids)
    found = pos >= 0
    p = np.maximum(pos, 0)
    consent = customers["marketing_consent"].to_numpy(dtype=object, na_value=False)[p]
    email = customers["email"].notna().to_numpy()[p]
    signup = customers["signup_date"].to_numpy(dtype="datetime64[s]")[p]
    ok = found & (consent == True) & email  # noqa: E712 (object array of bool)
    return ids, ok, signup


def _person_col(people: pd.DataFrame, name: str, default, dtype) -> np.ndarray:
    if name in people.columns:
        return people[name].fillna(default).to_numpy(dtype=dtype)
    return np.full(len(people), default, dtype=dtype)


def _delays(rng: np.random.Generator, n: int, lo_s: float, hi_s: float) -> np.ndarray:
    return rng.uniform(lo_s, hi_s, n).astype("timedelta64[s]")


def _one_campaign(
    c: int,
    sent_day: pd.Timestamp,
    who: np.ndarray,
    people: pd.DataFrame,
    rng: np.random.Generator,
    limit: np.datetime64,
) -> tuple[list[tuple[np.ndarray, np.ndarray, int]], np.ndarray, list[float]]:
    """Events ``(person, timestamp, touchpoint code)`` of campaign ``c`` sent to ``who``, the
    people who opted out, and the true rates of :data:`ROLES`."""
    _, _, open_rate, click_rate, optout_rate = EMAIL_CAMPAIGNS[c]
    n = len(who)
    sat = np.clip(_person_col(people, "satisfaction", 3.5, float)[who], 1.0, 5.0)
    app = _person_col(people, "app_user", False, bool)[who]
    last = people["last_purchase"].to_numpy(dtype="datetime64[s]")[who]
    lapsed = last < (sent_day - pd.Timedelta(days=EMAIL_LAPSED_DAYS)).to_datetime64()
    engagement = (
        EMAIL_SAT_EFFECT * (sat - 3.5) + EMAIL_APP_EFFECT * app + EMAIL_LAPSED_EFFECT * lapsed
    )
    p_open = _sigmoid(_logit(open_rate / EMAIL_DELIVERY) + engagement)
    p_click = click_rate / open_rate
    p_out = np.minimum(optout_rate / open_rate * np.exp(EMAIL_OPTOUT_SAT_EFFECT * (sat - 3.5)), 0.5)
    rates = [
        1.0,
        EMAIL_DELIVERY,
        float(np.mean(EMAIL_DELIVERY * p_open)) if n else 0.0,
        float(np.mean(EMAIL_DELIVERY * p_open * p_click)) if n else 0.0,
        float(np.mean(EMAIL_DELIVERY * p_open * p_out)) if n else 0.0,
    ]
    t_sent = sent_day.to_datetime64().astype("datetime64[s]") + np.timedelta64(9, "h")
    t_sent = t_sent + _delays(rng, n, 0, 2 * 3600)
    delivered = rng.random(n) < EMAIL_DELIVERY
    t_deliv = t_sent + _delays(rng, n, 2, 120)
    opened = delivered & (rng.random(n) < p_open)
    hours = np.minimum(rng.lognormal(np.log(4.0), 1.3, n), 240.0)
    room = (limit - t_deliv).astype(float) - 3600.0  # seconds left for the open and after
    t_open = t_deliv + np.minimum(hours * 3600.0, np.maximum(room, 0.0)).astype("timedelta64[s]")
    clicked = opened & (rng.random(n) < p_click)
    out = opened & (rng.random(n) < p_out)
    t_click = t_open + _delays(rng, n, 5, 30 * 60)
    t_out = t_open + _delays(rng, n, 30, 45 * 60)
    again = opened & (rng.random(n) < EMAIL_REOPEN)
    twice = again & (rng.random(n) < 0.4)
    t_re1 = np.minimum(t_open + _delays(rng, n, 600, 3 * 86400), limit)
    t_re2 = np.minimum(t_re1 + _delays(rng, n, 600, 2 * 86400), limit)
    events = [
        (who, t_sent, 0),
        (who[delivered], t_deliv[delivered], 1),
        (who[opened], t_open[opened], 2),
        (who[again], t_re1[again], 2),
        (who[twice], t_re2[twice], 2),
        (who[clicked], np.minimum(t_click[clicked], limit), 3),
        (who[out], np.minimum(t_out[out], limit), 4),
    ]
    return events, who[out], rates


def make_email_events(
    people: pd.DataFrame,
    customers: pd.DataFrame,
    rng: np.random.Generator,
    end: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The e-mail campaigns' events and their true rates.

    Parameters
    ----------
    people : DataFrame
        True people with ``primary_customer_id``, ``first_purchase``, ``last_purchase`` and
        optional ``satisfaction`` and ``app_user``.
    customers : DataFrame
        Source records (``customer_id``, ``marketing_consent``, ``email``, ``signup_date``).
    rng : numpy Generator
        Source of randomness.
    end : Timestamp
        Last day of the data; no event after its end.

    Returns
    -------
    events : DataFrame
        ``customer_id, timestamp, touchpoint, channel, journey_id, value, campaign_id``, in time
        order (``journey_id`` and ``value`` empty).
    truth : DataFrame
        ``campaign_id, touchpoint_role, rate`` (see the module docstring).
    """
    end = pd.Timestamp(end).normalize()
    limit = (end + pd.Timedelta(hours=23, minutes=59, seconds=59)).to_datetime64()
    limit = limit.astype("datetime64[s]")
    ids, ok, signup = _contactable(people, customers)
    first = people["first_purchase"].to_numpy(dtype="datetime64[s]")
    opted_out = np.zeros(len(people), dtype=bool)
    parts, truth, names = [], [], []
    for c, (days, share, *_rates) in enumerate(EMAIL_CAMPAIGNS):
        sent_day = end - pd.Timedelta(days=days)
        campaign_id = f"EM-{sent_day:%Y-%m}"
        day = sent_day.to_datetime64().astype("datetime64[s]")
        eligible = ok & (signup <= day) & (first < day) & ~opted_out
        who = np.flatnonzero(eligible & (rng.random(len(people)) < share))
        events, out, rates = _one_campaign(c, sent_day, who, people, rng, limit)
        opted_out[out] = True
        for person, ts, code in events:
            parts.append((person, ts, np.full(len(person), code, np.int8), len(names)))
        names.append(campaign_id)
        truth += [(campaign_id, role, rate) for role, rate in zip(ROLES, rates, strict=True)]
        logger.info("e-mail campaign %s: %d sent, %d opted out", campaign_id, len(who), len(out))
    person = np.concatenate([p for p, _, _, _ in parts])
    ts = np.concatenate([t for _, t, _, _ in parts]).astype("datetime64[s]")
    code = np.concatenate([k for _, _, k, _ in parts])
    camp = np.concatenate([np.full(len(p), c, np.int8) for p, _, _, c in parts])
    order = np.lexsort((code, person, ts))
    n = len(order)
    events = pd.DataFrame(
        {
            "customer_id": _codes_to_str(person[order], ids),
            "timestamp": ts[order],
            "touchpoint": _codes_to_str(code[order], TOUCHPOINTS),
            "channel": _codes_to_str(np.zeros(n, np.int8), ("email",)),
            "journey_id": pd.array(pa.nulls(n, pa.large_string()), dtype="str"),
            "value": np.full(n, np.nan),
            "campaign_id": _codes_to_str(camp[order], names),
        }
    )
    truth_df = pd.DataFrame(truth, columns=["campaign_id", "touchpoint_role", "rate"])
    return events, truth_df.astype({"campaign_id": "str", "touchpoint_role": "str"})


def _codes_to_str(codes: np.ndarray, labels) -> pd.api.extensions.ExtensionArray:
    """A pandas ``str`` array of ``labels[codes]`` (through Arrow)."""
    dictionary = pa.array(np.asarray(labels, dtype=object), type=pa.large_string())
    arr = pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, dtype=np.int64)), dictionary)
    return pd.array(arr.cast(pa.large_string()), dtype="str")


def with_campaign_id(events: pd.DataFrame) -> pd.DataFrame:
    """``events`` with an empty ``campaign_id`` column (journey events belong to no campaign)."""
    out = events.copy(deep=False)
    out["campaign_id"] = pd.array(pa.nulls(len(out), pa.large_string()), dtype="str")
    return out
