"""Which campaign columns may be model covariates: pre-treatment ones only.

A column recorded after the send (an e-mail opened, a link clicked) is caused by the treatment;
used as a covariate it makes every model look excellent and every targeting decision wrong. The
rule (docs/uplift.md): the user's list ``uplift.covariates`` when given; otherwise every other
column of ``campaign`` except those whose name marks a response (:data:`RESPONSE_WORDS`, matched
word by word) and those whose distribution differs between arms beyond what randomisation allows
(:data:`MAX_SMD`, or missing or constant in one arm and not in the others).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cxlib.uplift._readout import covariate_matrix

#: Words of a column name that mark it as recorded after the send (a response to the campaign);
#: a column is excluded when one of its name's words (split at ``_``, ``-``, spaces, digits and
#: camelCase, lower case) is one of these. Exact words, never substrings ("opener" is kept).
RESPONSE_WORDS: frozenset[str] = frozenset(
    {
        "open", "opened", "opens", "click", "clicked", "clicks", "delivered", "delivery",
        "bounce", "bounced", "bounces", "unsubscribe", "unsubscribed", "unsubscribes", "visit",
        "visited", "visits", "revenue", "converted", "conversion", "conversions", "responded",
        "response", "redeemed", "redemption", "replied", "reply", "complained", "optout",
    }
)  # fmt: skip
#: Largest absolute standardised mean difference between an arm and control that randomisation
#: allows for a pre-treatment covariate (text covariates: per level).
MAX_SMD = 0.25

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z]+")


def name_words(column: str) -> list[str]:
    """The words of a column name: split at camelCase humps and at every non-letter, lower
    case (``"emailOpened_7d"`` → ``["email", "opened", "d"]``)."""
    return [w for w in _SPLIT.split(_CAMEL.sub(" ", str(column)).lower()) if w]


def _arm_difference(campaign: pd.DataFrame, column: str, control_arm: str) -> str | None:
    """Why ``column`` differs between arms beyond randomisation, or None when it does not."""
    g = campaign["group"].astype("str")
    s = campaign[column]
    missing = s.isna().groupby(g).all()
    if missing.any() and not missing.all():
        return f"missing in {_names(missing[missing].index)} and not in the other groups"
    constant = s.groupby(g).nunique(dropna=True) <= 1
    if constant.any() and not constant.all():
        return f"one value only in {_names(constant[constant].index)}, not in the other groups"
    X = covariate_matrix(campaign, [column])
    if X.shape[1] == 0:
        return None
    xc = X.loc[g == control_arm]
    worst: tuple[float, str] = (0.0, "")
    for arm in sorted(set(g) - {control_arm}):
        xa = X.loc[g == arm]
        sd = np.sqrt((xa.var() + xc.var()) / 2.0)
        smd = ((xa.mean() - xc.mean()) / sd.where(sd > 0)).abs().max()
        if np.isfinite(smd) and smd > worst[0]:
            worst = (float(smd), arm)
    if worst[0] > MAX_SMD:
        return (
            f"differs between {worst[1]} and {control_arm} beyond what randomisation allows "
            f"(standardised difference {worst[0]:.2f} > {MAX_SMD:g}): probably recorded after "
            "the send"
        )
    return None


def _names(index) -> str:
    return ", ".join(map(str, index))


def screen_covariates(
    campaign: pd.DataFrame,
    candidates: Sequence[str],
    control_arm: str = "control",
    listed: Sequence[str] | None = None,
) -> tuple[list[str], pd.DataFrame]:
    """The pre-treatment covariates among ``candidates`` and why the others are left out.

    Parameters
    ----------
    campaign : DataFrame
        The campaign rows (``group`` and the candidate columns).
    candidates : sequence of str
        The campaign's columns other than the contract's (:func:`describe_campaign`).
    control_arm : str
    listed : sequence of str, optional
        ``uplift.covariates`` of cx.yml: when given, exactly these columns are used (exact
        names) and every other candidate is left out; no other rule applies.

    Returns
    -------
    (list of str, DataFrame)
        The covariates kept, in ``candidates`` order, and one row per column left out:
        ``column, reason``.

    Raises
    ------
    ValueError
        When ``listed`` names a column that is not a candidate.
    """
    rows: list[dict[str, str]] = []
    if listed is not None:
        unknown = [c for c in listed if c not in candidates]
        if unknown:
            raise ValueError(
                f"uplift.covariates lists {', '.join(map(repr, unknown))}, not a covariate "
                f"column of the campaign table (candidates: {', '.join(candidates) or 'none'})"
            )
        keep = [c for c in candidates if c in set(listed)]
        rows = [
            {"column": c, "reason": "not listed in uplift.covariates"}
            for c in candidates
            if c not in set(listed)
        ]
        return keep, _exclusions(rows)
    doubts = covariate_doubts(campaign, candidates, control_arm)
    keep = [c for c in candidates if c not in set(doubts["column"])]
    return keep, doubts


def covariate_doubts(
    campaign: pd.DataFrame, columns: Sequence[str], control_arm: str = "control"
) -> pd.DataFrame:
    """The ``columns`` that look recorded after the send, with the reason: the name rule
    (:data:`RESPONSE_WORDS`) first, then the balance rule (:data:`MAX_SMD`, missing or constant
    in one arm only). Returns ``column, reason`` (no row for a column without doubt)."""
    rows = []
    for c in columns:
        words = sorted(set(name_words(c)) & RESPONSE_WORDS)
        why = (
            f"its name marks a response ({', '.join(words)})"
            if words
            else _arm_difference(campaign, c, control_arm)
        )
        if why:
            rows.append({"column": c, "reason": why})
    return _exclusions(rows)


def _exclusions(rows: list[dict[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["column", "reason"])
