"""Touchpoint parameters of campaigns: the contact funnel per campaign and channel.

Every campaign event of ``events`` (a touchpoint such as ``email_sent``, ``email_open``,
``unsubscribe``) is given a *role* — one of :data:`ROLES` — by exact name (case, surrounding
spaces and punctuation aside, as :func:`cxlib.features.label_key` writes names): first the user's
``action.touchpoint_roles`` of ``cx.yml``, then :data:`DEFAULT_TOUCHPOINT_ROLES`. No substring or
prefix guessing: ``email_opener_survey`` is not an open. The funnel counts distinct customers per
role, per campaign (the events' optional ``campaign_id``; ``all`` without it) and channel, with
Wilson intervals; the opt-out rate per contact is the cost of contact the decision uses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cxlib.engine import data_end, fetch_frame, in_memory_table, literal, timestamp_literal
from cxlib.features import CHANNEL_SYNONYMS, label_key

log = logging.getLogger(__name__)

#: The measurable steps of a contact, in funnel order.
ROLES: tuple[str, ...] = (
    "sent",
    "delivered",
    "opened",
    "clicked",
    "visited",
    "ordered",
    "opted_out",
)

#: Touchpoint name key (:func:`cxlib.features.label_key`) → role, used where
#: ``action.touchpoint_roles`` does not name the touchpoint. Exact keys only.
DEFAULT_TOUCHPOINT_ROLES: dict[str, str] = {
    "sent": "sent",
    "send": "sent",
    "email_sent": "sent",
    "email_send": "sent",
    "sms_sent": "sent",
    "push_sent": "sent",
    "mail_sent": "sent",
    "delivered": "delivered",
    "email_delivered": "delivered",
    "sms_delivered": "delivered",
    "open": "opened",
    "opened": "opened",
    "email_open": "opened",
    "email_opened": "opened",
    "click": "clicked",
    "clicked": "clicked",
    "email_click": "clicked",
    "email_clicked": "clicked",
    "sms_click": "clicked",
    "push_click": "clicked",
    "landing_page": "visited",
    "campaign_visit": "visited",
    "site_visit": "visited",
    "order": "ordered",
    "ordered": "ordered",
    "campaign_order": "ordered",
    "unsubscribe": "opted_out",
    "unsubscribed": "opted_out",
    "email_unsubscribe": "opted_out",
    "opt_out": "opted_out",
    "opted_out": "opted_out",
    "optout": "opted_out",
}

#: Campaign name given to events without a ``campaign_id``.
ALL_CAMPAIGNS = "all"

#: Columns of ``campaign_touchpoints.csv``.
EXPORT_COLUMNS: list[str] = [
    "campaign_id",
    "channel",
    "touchpoint_role",
    "customers",
    "rate",
    "ci_low",
    "ci_high",
]


@dataclass
class TouchpointFunnel:
    """The contact funnel of the campaigns found in the events.

    Attributes
    ----------
    table : DataFrame
        One row per campaign, channel and role (:data:`EXPORT_COLUMNS`): distinct customers with
        the role, and their share of the customers sent to (or, where sends are not recorded, of
        the customers with any campaign event) with its 95% Wilson interval.
    base : DataFrame
        Per campaign and channel: ``base`` customers and ``base_role`` (``sent`` or ``any``).
    opt_out_rate : dict
        Channel → opted-out customers per customer contacted, over every campaign (the cost of
        a contact in lost reach).
    defaults_applied : dict
        Touchpoint → role given by :data:`DEFAULT_TOUCHPOINT_ROLES` (not by the user's map).
    unclassified : DataFrame
        Touchpoints of the campaign channels that no map names (``touchpoint``, ``events``).
    suppressed_rows : int
        Funnel rows left out because fewer than ``min_group_size`` customers had the role.
    """

    table: pd.DataFrame
    base: pd.DataFrame
    opt_out_rate: dict[str, float] = field(default_factory=dict)
    defaults_applied: dict[str, str] = field(default_factory=dict)
    unclassified: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["touchpoint", "events"])
    )
    suppressed_rows: int = 0

    @property
    def empty(self) -> bool:
        """True when no event has a role (no campaign touchpoints in the data)."""
        return self.table.empty


def roles_of_touchpoints(
    touchpoints: list[str], mapping: Mapping[str, str] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Role of each touchpoint that has one, and those of them given by the defaults.

    Parameters
    ----------
    touchpoints : list of str
        Touchpoint names as they are in the events.
    mapping : mapping, optional
        ``action.touchpoint_roles``: touchpoint name → role (exact names, case aside).

    Returns
    -------
    roles, from_defaults : dict, dict
        Touchpoint → role for every touchpoint with a role; the subset the defaults gave.

    Raises
    ------
    ValueError
        When ``mapping`` names a role outside :data:`ROLES`.
    """
    user = {label_key(k): str(v) for k, v in (mapping or {}).items()}
    wrong = sorted({r for r in user.values() if r not in ROLES})
    if wrong:
        raise ValueError(
            f"action.touchpoint_roles: unknown role(s) {', '.join(wrong)}; roles are "
            f"{', '.join(ROLES)}"
        )
    roles: dict[str, str] = {}
    defaults: dict[str, str] = {}
    for tp in touchpoints:
        key = label_key(tp)
        if key in user:
            roles[tp] = user[key]
        elif key in DEFAULT_TOUCHPOINT_ROLES:
            roles[tp] = defaults[tp] = DEFAULT_TOUCHPOINT_ROLES[key]
    return roles, defaults


def canonical_channel(value: Any) -> str:
    """A channel label as one key (``" E-Mail "`` and ``EMAIL`` → ``e_mail`` / ``email``)."""
    if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
        return "unknown"
    key = label_key(value)
    return CHANNEL_SYNONYMS.get(key, key)


def wilson_interval(successes: np.ndarray, trials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson score interval of ``successes / trials`` (statsmodels), NaN-free for
    ``trials > 0``."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, trials, alpha=0.05, method="wilson")
    return np.asarray(low, dtype="float64"), np.asarray(high, dtype="float64")


def campaign_funnel(
    events: Any,
    *,
    as_of_date: Any = None,
    roles: Mapping[str, str] | None = None,
    min_group_size: int = 10,
) -> TouchpointFunnel:
    """The funnel of every campaign and channel in ``events``.

    Parameters
    ----------
    events : ibis Table
        The contract's ``events`` (a backend table): ``customer_id``, ``timestamp``,
        ``touchpoint``, optional ``channel`` and ``campaign_id``.
    as_of_date : date-like, optional
        Events through the end of this day count; all events when None.
    roles : mapping, optional
        ``action.touchpoint_roles`` (touchpoint → role).
    min_group_size : int
        A role reached by fewer customers is left out of the table (counted in
        ``suppressed_rows``).

    Returns
    -------
    TouchpointFunnel
    """
    ev = events
    if as_of_date is not None:
        ev = ev.filter(ev.timestamp < timestamp_literal(data_end(as_of_date)))
    counts = fetch_frame(ev.group_by("touchpoint").aggregate(events=ev.count()))
    counts = counts.dropna(subset=["touchpoint"])
    tp_roles, from_defaults = roles_of_touchpoints(counts["touchpoint"].astype(str).tolist(), roles)
    if not tp_roles:
        return TouchpointFunnel(_empty_table(), _empty_base())
    role_map = in_memory_table(
        pd.DataFrame({"touchpoint": list(tp_roles), "role": list(tp_roles.values())})
    )
    cols = ev.columns
    tagged = ev.inner_join(role_map, "touchpoint").select(
        customer_id=ev.customer_id,
        role=role_map.role,
        campaign_id=(
            ev.campaign_id.cast("string") if "campaign_id" in cols else literal(ALL_CAMPAIGNS)
        ),
        raw_channel=ev.channel.cast("string") if "channel" in cols else literal("unknown"),
    )
    # one channel per label spelling (" Email", "EMAIL" …) before customers are counted once
    labels = fetch_frame(tagged.select("raw_channel").distinct())["raw_channel"]
    channel_map = in_memory_table(
        pd.DataFrame(
            {
                "raw_channel": labels.fillna("").astype(str),
                "channel": [canonical_channel(v) for v in labels],
            }
        )
    )
    tagged = tagged.mutate(raw_channel=tagged.raw_channel.fill_null(""))
    tagged = tagged.inner_join(channel_map, "raw_channel").drop("raw_channel")
    per_role = fetch_frame(
        tagged.group_by(["campaign_id", "channel", "role"]).aggregate(
            customers=tagged.customer_id.nunique()
        )
    )
    reached = fetch_frame(
        tagged.group_by(["campaign_id", "channel"]).aggregate(any_role=tagged.customer_id.nunique())
    )
    for frame in (per_role, reached):
        frame["campaign_id"] = frame["campaign_id"].fillna(ALL_CAMPAIGNS).astype(str)
    table, base, suppressed = _funnel_table(per_role, reached, min_group_size)
    unclassified = _unclassified(ev, tp_roles)
    return TouchpointFunnel(
        table=table,
        base=base,
        opt_out_rate=_opt_out_rates(per_role, base),
        defaults_applied=dict(sorted(from_defaults.items())),
        unclassified=unclassified,
        suppressed_rows=suppressed,
    )


def _funnel_table(
    per_role: pd.DataFrame, reached: pd.DataFrame, min_group_size: int
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Rates per role against the customers sent to (``any`` campaign event without sends)."""
    sent = per_role.loc[per_role["role"] == "sent", ["campaign_id", "channel", "customers"]]
    base = reached.merge(sent.rename(columns={"customers": "sent"}), how="left")
    has_sent = base["sent"].notna() & (base["sent"] > 0)
    base["base"] = np.where(has_sent, base["sent"], base["any_role"]).astype("int64")
    base["base_role"] = np.where(has_sent, "sent", "any")
    base = base[["campaign_id", "channel", "base", "base_role"]]
    table = per_role.merge(base, on=["campaign_id", "channel"])
    table["customers"] = table["customers"].astype("int64")
    kept = table["customers"] >= min_group_size
    suppressed = int((~kept).sum())
    table = table.loc[kept].copy()
    n = np.minimum(table["customers"].to_numpy(), table["base"].to_numpy())
    table["rate"] = n / table["base"].to_numpy()
    table["ci_low"], table["ci_high"] = wilson_interval(n, table["base"].to_numpy())
    table["touchpoint_role"] = pd.Categorical(table["role"], categories=list(ROLES), ordered=True)
    table = table.sort_values(["campaign_id", "channel", "touchpoint_role"], kind="stable")
    table["touchpoint_role"] = table["touchpoint_role"].astype(str)
    return table[EXPORT_COLUMNS].reset_index(drop=True), base.reset_index(drop=True), suppressed


def _opt_out_rates(per_role: pd.DataFrame, base: pd.DataFrame) -> dict[str, float]:
    """Channel → opted-out customers per customer contacted, over every campaign."""
    out = per_role.loc[per_role["role"] == "opted_out"].groupby("channel")["customers"].sum()
    contacted = base.groupby("channel")["base"].sum()
    return {str(ch): float(out.get(ch, 0) / n) for ch, n in contacted.items() if n > 0}


def _unclassified(ev: Any, tp_roles: Mapping[str, str]) -> pd.DataFrame:
    """Touchpoints without a role on the channels (or campaigns) that have campaign events."""
    cols = ev.columns
    if "campaign_id" in cols:
        scope = ev.filter(ev.campaign_id.notnull())
    elif "channel" in cols:
        chans = fetch_frame(
            ev.filter(ev.touchpoint.isin(list(tp_roles))).select("channel").distinct()
        )["channel"].dropna()
        scope = ev.filter(ev.channel.isin(chans.astype(str).tolist()))
    else:
        return pd.DataFrame(columns=["touchpoint", "events"])
    found = fetch_frame(scope.group_by("touchpoint").aggregate(events=scope.count()))
    found = found.loc[~found["touchpoint"].isin(list(tp_roles))].dropna(subset=["touchpoint"])
    return found.sort_values(["events", "touchpoint"], ascending=[False, True]).reset_index(
        drop=True
    )


def _empty_table() -> pd.DataFrame:
    text = {"campaign_id", "channel", "touchpoint_role"}
    return pd.DataFrame(
        {c: pd.Series(dtype="str" if c in text else "float64") for c in EXPORT_COLUMNS}
    )


def _empty_base() -> pd.DataFrame:
    return pd.DataFrame(columns=["campaign_id", "channel", "base", "base_role"])


def recent_contacts(
    events: Any,
    *,
    as_of_date: Any,
    period_days: int,
    roles: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Per customer, the contacts (events with the role ``sent``) in the ``period_days`` up to
    the end of ``as_of_date``: the contact pressure the plan respects.

    Returns
    -------
    DataFrame
        ``customer_id``, ``contacts_this_period`` (customers with none are absent).
    """
    end = data_end(as_of_date)
    start = end - pd.Timedelta(days=int(period_days))
    ev = events.filter(
        (events.timestamp >= timestamp_literal(start)) & (events.timestamp < timestamp_literal(end))
    )
    counts = fetch_frame(ev.group_by("touchpoint").aggregate(events=ev.count()))
    tp_roles, _ = roles_of_touchpoints(counts["touchpoint"].dropna().astype(str).tolist(), roles)
    sends = [tp for tp, r in tp_roles.items() if r == "sent"]
    if not sends:
        return pd.DataFrame(
            {
                "customer_id": pd.Series(dtype="str"),
                "contacts_this_period": pd.Series(dtype="int64"),
            }
        )
    sent = ev.filter(ev.touchpoint.isin(sends))
    out = fetch_frame(sent.group_by("customer_id").aggregate(contacts_this_period=sent.count()))
    out["contacts_this_period"] = out["contacts_this_period"].astype("int64")
    return out.sort_values("customer_id").reset_index(drop=True)
