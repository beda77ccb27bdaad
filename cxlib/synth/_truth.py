"""The truth tables built from the simulation: per-record truth and the dropout drivers."""

from __future__ import annotations

import pandas as pd

from cxlib.synth._params import (
    BETA_COMPLAINT,
    BETA_LOW_SATISFACTION,
    BETA_NO_APP,
    LOW_SATISFACTION,
    P_DROP_NOISE_SD,
    SEGMENTS,
    _sigmoid,
    segment_base_logit,
)


def _truth_customers(
    customers: pd.DataFrame,
    people: pd.DataFrame,
    churn: pd.DataFrame,
    uplift_truth: pd.DataFrame,
) -> pd.DataFrame:
    """One row per source record: the person behind it and their true churn and uplift."""
    rec = pd.concat(
        [
            people[["master_id", "primary_customer_id"]].rename(
                columns={"primary_customer_id": "customer_id"}
            ),
            people.loc[
                people["secondary_customer_id"].notna(), ["master_id", "secondary_customer_id"]
            ].rename(columns={"secondary_customer_id": "customer_id"}),
        ],
        ignore_index=True,
    )
    person_cols = [
        "master_id",
        "latent_segment",
        "segment_idx",
        "p_drop",
        "lam",
        "complained",
        "satisfaction",
        "app_user",
        "is_duplicated",
    ]
    churn_cols = ["master_id", "p_lapse_90d", "lapsed_90d", "alive_at_end", "p_alive_at_end"]
    out = (
        customers[["customer_id", "source_system"]]
        .merge(rec, on="customer_id", how="left", validate="one_to_one")
        .merge(people[person_cols], on="master_id", how="left", validate="many_to_one")
        .merge(churn[churn_cols], on="master_id", how="left", validate="many_to_one")
    )
    up = uplift_truth.copy()
    up["customer_id"] = up["customer_id"].astype("str")
    out = out.merge(up, on="customer_id", how="left", validate="one_to_one")
    first = [
        "customer_id",
        "master_id",
        "source_system",
        "latent_segment",
        "p_lapse_90d",
        "lapsed_90d",
        "alive_at_end",
        "true_uplift_offer_a",
        "true_uplift_offer_b",
        "p_drop",
        "lam",
    ]
    rest = [c for c in out.columns if c not in first]
    out = out[first + rest]
    for c in ("p_lapse_90d", "p_alive_at_end", "p_drop", "lam", "satisfaction"):
        out[c] = out[c].round(6)
    # what the person would spend in the 90 days after the data end if alive all through them:
    # their true purchase intensity integrated over those days x their true mean basket
    basket = people.set_index("master_id")["avg_basket"].reindex(churn["master_id"]).to_numpy()
    value = pd.Series(
        churn["expected_purchases_90d_if_alive"].to_numpy() * basket, index=churn["master_id"]
    )
    out["true_value_if_alive_90d"] = out["master_id"].map(value).round(2)
    return out


def drivers_table() -> pd.DataFrame:
    """True effects on the log-odds of dropping out after a repeat purchase (``p_drop``)."""
    rows = [
        (
            "complaint",
            BETA_COMPLAINT,
            "person made a call-centre complaint (feedback complaint=True); added to logit(p_drop)",
        ),
        (
            "low_satisfaction",
            BETA_LOW_SATISFACTION,
            f"latent satisfaction below {LOW_SATISFACTION} on 1-5 (survey scores around 5/10 or "
            "less); added to logit(p_drop)",
        ),
        (
            "no_app",
            BETA_NO_APP,
            "person does not use the app (no app purchases); added to logit(p_drop)",
        ),
    ]
    for i, seg in enumerate(SEGMENTS):
        base = segment_base_logit(i)
        rows.append(
            (
                f"segment_base: {seg.name}",
                round(base, 6),
                f"logit(p_drop) of an app-using member without complaint or low satisfaction in "
                f"this segment (p_drop = {float(_sigmoid(base)):.4f}); person noise N(0, "
                f"{P_DROP_NOISE_SD}) is added",
            )
        )
    return pd.DataFrame(rows, columns=["driver", "true_log_odds_effect", "description"]).astype(
        {"driver": "str", "description": "str"}
    )
