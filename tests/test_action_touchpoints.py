"""Touchpoint parameters of campaigns (issue #23, item 4): the funnel per campaign and channel,
by exact touchpoint names, with Wilson intervals, and the contact pressure per customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from cxlib.action import DEFAULT_TOUCHPOINT_ROLES, campaign_funnel, recent_contacts
from cxlib.action import roles_of_touchpoints as roles_of
from cxlib.engine import Engine


def _events(with_campaign: bool = True) -> pd.DataFrame:
    """Campaign C1 by e-mail to 200 people: 150 opened, 60 clicked, 12 unsubscribed (and 5
    opened twice); C2 by SMS to 40, 8 clicked; 3 web visits that are not campaign events; an
    `email_opener_survey` touchpoint that only contains a role's name."""
    rows = []
    t0 = pd.Timestamp("2024-03-01 09:00")
    for i in range(200):
        cid = f"c{i:03d}"
        rows.append((cid, t0, "email_sent", "Email", "C1"))
        if i < 150:
            rows.append((cid, t0 + pd.Timedelta(hours=2), "email_open", " email ", "C1"))
        if i < 5:
            rows.append((cid, t0 + pd.Timedelta(hours=3), "email_open", "EMAIL", "C1"))
        if i < 60:
            rows.append((cid, t0 + pd.Timedelta(hours=4), "email_click", "email", "C1"))
        if 190 <= i:
            rows.append((cid, t0 + pd.Timedelta(hours=5), "unsubscribe", "email", "C1"))
        if 180 <= i < 182:
            rows.append((cid, t0 + pd.Timedelta(hours=5), "unsubscribe", "email", "C1"))
    for i in range(40):
        cid = f"s{i:03d}"
        rows.append((cid, t0, "sms_sent", "sms", "C2"))
        if i < 8:
            rows.append((cid, t0 + pd.Timedelta(hours=1), "sms_click", "sms", "C2"))
    for i in range(3):
        rows.append((f"w{i}", t0, "web_browse", "web", None))
    for i in range(30):
        rows.append((f"c{i:03d}", t0, "email_opener_survey", "email", "C1"))
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "touchpoint", "channel", "cid"])
    if with_campaign:
        return frame.rename(columns={"cid": "campaign_id"})
    return frame.drop(columns="cid")


@pytest.fixture
def engine():
    with Engine() as eng:
        yield eng


def test_funnel_rates_and_wilson_intervals(engine):
    funnel = campaign_funnel(engine.table(_events()), min_group_size=10)
    t = funnel.table.set_index(["campaign_id", "channel", "touchpoint_role"])
    assert t.loc[("C1", "email", "sent"), "customers"] == 200
    assert t.loc[("C1", "email", "opened"), "customers"] == 150  # distinct customers
    assert t.loc[("C1", "email", "opted_out"), "customers"] == 12
    assert t.loc[("C1", "email", "opened"), "rate"] == pytest.approx(0.75)
    low, high = proportion_confint(60, 200, method="wilson")
    assert t.loc[("C1", "email", "clicked"), ["ci_low", "ci_high"]].tolist() == pytest.approx(
        [low, high]
    )
    assert list(funnel.table.columns) == [
        "campaign_id",
        "channel",
        "touchpoint_role",
        "customers",
        "rate",
        "ci_low",
        "ci_high",
    ]
    # the roles come in funnel order within a campaign and channel
    c1 = funnel.table.loc[funnel.table["campaign_id"] == "C1", "touchpoint_role"].tolist()
    assert c1 == ["sent", "opened", "clicked", "opted_out"]
    assert funnel.opt_out_rate["email"] == pytest.approx(12 / 200)
    assert funnel.opt_out_rate["sms"] == 0.0
    assert not funnel.table.isna().any().any()


def test_exact_names_only_and_what_could_not_be_classified(engine):
    funnel = campaign_funnel(engine.table(_events()), min_group_size=10)
    assert "email_opener_survey" not in funnel.defaults_applied
    assert funnel.unclassified["touchpoint"].tolist() == ["email_opener_survey"]
    assert funnel.defaults_applied["email_open"] == "opened"
    assert set(funnel.defaults_applied) == {
        "email_sent",
        "email_open",
        "email_click",
        "unsubscribe",
        "sms_sent",
        "sms_click",
    }
    # the user's map wins over the defaults and may classify a name the defaults do not know
    roles, defaults = roles_of(
        ["email_opener_survey", "email_open"], {"Email_Opener_Survey": "clicked"}
    )
    assert roles == {"email_opener_survey": "clicked", "email_open": "opened"}
    assert defaults == {"email_open": "opened"}
    with pytest.raises(ValueError, match="unknown role"):
        roles_of(["x"], {"x": "bounced"})
    assert all(
        v in {"sent", "delivered", "opened", "clicked", "visited", "ordered", "opted_out"}
        for v in DEFAULT_TOUCHPOINT_ROLES.values()
    )


def test_small_roles_suppressed_and_no_campaign_column(engine):
    funnel = campaign_funnel(engine.table(_events(with_campaign=False)), min_group_size=10)
    sms = funnel.table.loc[funnel.table["channel"] == "sms"]
    assert sms["touchpoint_role"].tolist() == ["sent"]  # 8 clickers < 10 are left out
    assert funnel.suppressed_rows == 1
    assert set(funnel.table["campaign_id"]) == {"all"}


def test_rates_without_sends_are_shares_of_reached_customers(engine):
    ev = _events()
    ev = ev.loc[~ev["touchpoint"].isin(["email_sent", "sms_sent"])]
    funnel = campaign_funnel(engine.table(ev), min_group_size=1)
    base = funnel.base.set_index(["campaign_id", "channel"])
    assert base.loc[("C1", "email"), "base_role"] == "any"
    assert base.loc[("C1", "email"), "base"] == 162  # 150 openers + 12 unsubscribers
    assert (funnel.table["rate"] <= 1).all()


def test_no_campaign_touchpoints_is_an_empty_funnel(engine):
    ev = _events()
    funnel = campaign_funnel(engine.table(ev.loc[ev["touchpoint"] == "web_browse"]))
    assert funnel.empty and funnel.opt_out_rate == {}


def test_as_of_date_cuts_the_events_and_contact_pressure(engine):
    ev = _events()
    late = pd.DataFrame(
        {
            "customer_id": ["c000", "c000", "c001"],
            "timestamp": pd.to_datetime(["2024-03-05", "2024-03-09", "2024-03-05"]),
            "touchpoint": ["email_sent"] * 3,
            "channel": ["email"] * 3,
            "campaign_id": ["C3"] * 3,
        }
    )
    table = engine.table(pd.concat([ev, late], ignore_index=True))
    funnel = campaign_funnel(table, as_of_date="2024-03-08", min_group_size=1)
    assert "C3" in set(funnel.table["campaign_id"])
    c3 = funnel.table.loc[funnel.table["campaign_id"] == "C3"]
    assert c3["customers"].tolist() == [2]  # the 2024-03-09 send is after the analysis date
    pressure = recent_contacts(table, as_of_date="2024-03-08", period_days=8)
    got = dict(zip(pressure["customer_id"], pressure["contacts_this_period"], strict=True))
    assert got["c000"] == 2 and got["c001"] == 2  # 2024-03-01 and 2024-03-05 sends
    assert len(got) == 240
    pressure = recent_contacts(table, as_of_date="2024-03-08", period_days=4)
    assert sorted(pressure["customer_id"]) == ["c000", "c001"]
    assert np.array_equal(pressure["contacts_this_period"].to_numpy(), [1, 1])
