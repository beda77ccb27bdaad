"""Attribution of conversions to touchpoints: first touch, last touch, linear and Markov
(removal effects, solved exactly), with bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from cxlib.journey._build import JourneyData, _tp_names


def _markov_units(
    jd: JourneyData,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Attribution paths as *units*: the distinct (path, outcome) pairs, a path being a journey's
    non-conversion steps in order, counted in the backend.

    Returns the units' steps (unit, tp) in order, each unit's outcome (converted), its number
    of journeys and their conversion value; units are in (path, outcome) order. Only the
    distinct paths come back from the backend, never one row per journey.
    """
    import pyarrow.compute as pc

    st = jd.backend.steps
    st = st.filter(~st["is_conversion"])
    paths = st.group_by("journey").aggregate(
        path=st["tp"].collect(order_by=st["pos"]),
        conv=st["jconv"].max(),
        value=st["jvalue"].max(),
    )
    units = paths.group_by(["path", "conv"]).aggregate(n=paths.count(), value=paths["value"].sum())
    units = units.mutate(key=units["path"].map(lambda tp: tp.cast("string")).join(","))
    tab = units.order_by(["key", "conv"]).to_pyarrow()
    path = tab.column("path").combine_chunks()
    jn = np.asarray(pc.list_parent_indices(path), dtype=np.int64)
    tp = np.asarray(pc.list_flatten(path), dtype=np.int64)
    conv = np.asarray(tab.column("conv").to_numpy(zero_copy_only=False), dtype=bool)
    n = np.asarray(tab.column("n").to_numpy(zero_copy_only=False), dtype=float)
    value = tab.column("value").to_pandas().fillna(0.0).to_numpy(dtype=float)
    return jn, tp, conv, n, value


class MarkovAttribution:
    """Markov-chain attribution by removal effects (exact, by solving linear systems).

    States are the last ``order`` touchpoints of a path (padded with a start marker), with
    absorbing states *conversion* and *null*. The conversion probability from the start state
    is the solution of ``(I - Q) x = r`` (Q: transient-to-transient transition probabilities,
    r: one-step conversion probabilities). Removing a touchpoint sends every state containing it
    to *null*; its removal effect is ``1 - p_removed / p``. Conversions (and conversion value)
    are shared between touchpoints in proportion to their removal effects.

    Parameters
    ----------
    order : int
        Markov order (1 = first order).
    n_boot : int
        Bootstrap resamples of journeys for confidence intervals (0 = none).
    random_state : int
        Seed of the bootstrap.
    """

    def __init__(self, order: int = 1, n_boot: int = 0, random_state: int | None = 0):
        self.order = order
        self.n_boot = n_boot
        self.random_state = random_state

    # core solver on weighted transitions ---------------------------------------------------
    @staticmethod
    def _absorb(
        frm: np.ndarray,
        to: np.ndarray,
        w: np.ndarray,
        n_states: int,
        removed: np.ndarray | None = None,
    ) -> float:
        """P(conversion | start) for transitions frm -> to with weights w.

        States 0..n_states-1 are transient (0 = start); ``n_states`` = conversion,
        ``n_states + 1`` = null. ``removed`` is a boolean mask of transient states sent to null.
        """
        out_w = np.bincount(frm, weights=w, minlength=n_states)
        keep = out_w > 0
        if removed is not None:
            keep &= ~removed
        if not keep[0]:
            return 0.0
        idx = np.full(n_states, -1)
        idx[keep] = np.arange(int(keep.sum()))
        m = int(keep.sum())
        prob = w / np.where(out_w[frm] > 0, out_w[frm], 1.0)
        src_ok = keep[frm]
        to_t = to < n_states
        tt = src_ok & to_t
        tt &= np.where(to_t, keep[np.minimum(to, n_states - 1)], False)
        q = sp.coo_matrix((prob[tt], (idx[frm[tt]], idx[to[tt]])), shape=(m, m)).tocsc()
        rc = np.bincount(
            idx[frm[src_ok & (to == n_states)]],
            weights=prob[src_ok & (to == n_states)],
            minlength=m,
        )
        a = sp.identity(m, format="csc") - q
        x = spsolve(a, rc) if m > 1 else np.array([rc[0] / a.toarray()[0, 0]])
        return float(np.atleast_1d(x)[0])

    def _transitions(self, jn: np.ndarray, tp: np.ndarray, conv: np.ndarray, n_tp: int):
        """State transitions (from, to, journey) and, per state, which touchpoints it holds."""
        k = self.order
        n = len(jn)
        first = np.r_[True, jn[1:] != jn[:-1]] if n else np.zeros(0, bool)
        starts = np.flatnonzero(first)
        pos = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
        base = n_tp + 1
        code = np.zeros(n, dtype=np.int64)
        for lag in range(k):  # state = last k touchpoints (0 = padding)
            src = np.arange(n) - lag
            ok = pos >= lag
            c = np.where(ok, tp[np.maximum(src, 0)] + 1, 0)
            code = code * base + c
        uniq, st_id = np.unique(code, return_inverse=True)
        st_id = st_id + 1  # 0 = start
        n_states = len(uniq) + 1
        same_next = np.r_[jn[1:] == jn[:-1], False] if n else np.zeros(0, bool)
        frm = np.r_[np.zeros(len(starts), dtype=np.int64), st_id[same_next]]
        to = np.r_[st_id[starts], st_id[np.r_[False, same_next[:-1]]] if n else st_id]
        jj = np.r_[jn[starts], jn[same_next]]
        last = ~same_next
        frm = np.r_[frm, st_id[last]]
        to = np.r_[to, np.where(conv[jn[last]], n_states, n_states + 1)]
        jj = np.r_[jj, jn[last]]
        holds = np.zeros((n_states, n_tp), dtype=bool)
        digits = uniq.copy()
        for _ in range(k):
            d = digits % base
            ok = d > 0
            holds[np.flatnonzero(ok) + 1, d[ok] - 1] = True
            digits //= base
        return frm, to, jj, n_states, holds

    def fit(self, jd: JourneyData) -> MarkovAttribution:
        """Fit on the journeys of ``jd``.

        Paths are the journeys' non-conversion steps; journeys made of a conversion alone have
        no touchpoint to credit and are left out.
        """
        jn, tp, conv_u, unit_n, unit_value = _markov_units(jd)
        names = _tp_names(jd)
        n_tp = len(names)
        frm, to, jj, n_states, holds = self._transitions(jn, tp, conv_u, n_tp)
        # aggregate identical transitions; the bootstrap re-weights them through unit weights
        pair, pair_idx = np.unique(frm * (n_states + 2) + to, return_inverse=True)
        p_frm, p_to = pair // (n_states + 2), pair % (n_states + 2)
        self.touchpoints_ = [
            t for i, t in enumerate(names) if t != jd.conversion_touchpoint and holds[:, i].any()
        ]
        cols = [names.index(t) for t in self.touchpoints_]

        def effects(w: np.ndarray) -> tuple[float, np.ndarray]:
            p = self._absorb(p_frm, p_to, w, n_states)
            re_ = np.array(
                [
                    1.0 - self._absorb(p_frm, p_to, w, n_states, holds[:, c]) / p if p > 0 else 0.0
                    for c in cols
                ]
            )
            return p, np.clip(re_, 0.0, None)

        w = np.bincount(pair_idx, weights=unit_n[jj], minlength=len(pair))
        self.conversion_probability_, self.removal_effects_ = effects(w)
        self.n_states_ = n_states
        # credited: converted journeys with at least one non-conversion step (every unit has)
        self.n_conversions_ = int(unit_n[conv_u].sum())
        self.conversion_value_ = float(unit_value[conv_u].sum())
        share = self.removal_effects_ / max(self.removal_effects_.sum(), 1e-300)
        self.attributed_ = share * self.n_conversions_
        self.attributed_value_ = share * self.conversion_value_
        self.boot_ = None
        if self.n_boot:
            # resampling journeys with Poisson(1) weights gives a unit of n journeys the weight
            # Poisson(n): drawn per unit, the bootstrap costs the distinct paths, not the journeys
            rng = np.random.default_rng(self.random_state)
            boots = []
            for _ in range(self.n_boot):
                uw = rng.poisson(unit_n).astype(float)
                wb = np.bincount(pair_idx, weights=uw[jj], minlength=len(pair))
                _, reb = effects(wb)
                boots.append(reb / max(reb.sum(), 1e-300) * float(uw[conv_u].sum()))
            self.boot_ = np.array(boots)
        return self

    def summary(self) -> pd.DataFrame:
        """Per touchpoint: removal_effect, estimate (attributed conversions), ci_low, ci_high,
        p_value (NaN: no test), attributed value."""
        out = pd.DataFrame(
            {
                "touchpoint": self.touchpoints_,
                "removal_effect": self.removal_effects_,
                "estimate": self.attributed_,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "p_value": np.nan,
                "value": self.attributed_value_,
            }
        )
        if self.boot_ is not None:
            out["ci_low"] = np.percentile(self.boot_, 2.5, axis=0)
            out["ci_high"] = np.percentile(self.boot_, 97.5, axis=0)
        return out


def attribution_table(
    jd: JourneyData, *, markov_order: int = 1, n_boot: int = 0, random_state: int | None = 0
) -> pd.DataFrame:
    """First-touch, last-touch, linear and Markov attribution of conversions and value.

    Columns: touchpoint, first_touch, last_touch, linear, markov, removal_effect (conversions
    attributed per model; each model's column sums to the number of converted journeys), then
    the same four models for conversion value (``*_value``) and, with ``n_boot``, Markov
    confidence bounds (markov_ci_low, markov_ci_high); ``customers`` = distinct customers whose
    journeys visited the touchpoint.
    """
    names = _tp_names(jd)
    models, vals, n_cust = _attribution_counts(jd)
    mk = MarkovAttribution(order=markov_order, n_boot=n_boot, random_state=random_state).fit(jd)
    ms = mk.summary().set_index("touchpoint")
    tps = [t for t in names if t != jd.conversion_touchpoint]
    out = pd.DataFrame({"touchpoint": tps})
    idx = [names.index(t) for t in tps]
    for k_, arr in models.items():
        out[k_] = np.asarray(arr, dtype=float)[idx]
    out["markov"] = out["touchpoint"].map(ms["estimate"]).fillna(0.0)
    out["removal_effect"] = out["touchpoint"].map(ms["removal_effect"]).fillna(0.0)
    for k_, arr in vals.items():
        out[k_] = np.asarray(arr, dtype=float)[idx]
    out["markov_value"] = out["touchpoint"].map(ms["value"]).fillna(0.0)
    if n_boot:
        out["markov_ci_low"] = out["touchpoint"].map(ms["ci_low"])
        out["markov_ci_high"] = out["touchpoint"].map(ms["ci_high"])
    out["customers"] = n_cust[[names.index(t) for t in out["touchpoint"]]]
    return out.sort_values("markov", ascending=False).reset_index(drop=True)


def _attribution_counts(
    jd: JourneyData,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """First-touch, last-touch and linear credit (conversions, value) per touchpoint code, and
    the distinct customers whose journeys visited each touchpoint (for small-group
    suppression)."""
    n_tp = len(_tp_names(jd))
    st = jd.backend.steps
    st = st.filter(~st["is_conversion"])
    c = st.filter(st["jconv"])
    c = c.mutate(
        n=c.count().over(group_by="journey"),
        p0=c["pos"].min().over(group_by="journey"),
        p1=c["pos"].max().over(group_by="journey"),
    )
    is_f, is_l = c["pos"] == c["p0"], c["pos"] == c["p1"]
    lin = 1.0 / c["n"].cast("float64")
    agg = (
        c.group_by("tp")
        .aggregate(
            first_touch=is_f.cast("int64").sum(),
            last_touch=is_l.cast("int64").sum(),
            linear=lin.sum(),
            first_touch_value=c["jvalue"].sum(where=is_f),
            last_touch_value=c["jvalue"].sum(where=is_l),
            linear_value=(lin * c["jvalue"]).sum(),
        )
        .to_pandas()
    )
    cust = st.group_by("tp").aggregate(n=st["customer"].nunique()).to_pandas()

    def dense(df: pd.DataFrame, col: str) -> np.ndarray:
        arr = np.zeros(n_tp)
        arr[df["tp"].to_numpy(dtype=np.int64)] = df[col].fillna(0.0).to_numpy(dtype=float)
        return arr

    models = {k: dense(agg, k) for k in ("first_touch", "last_touch", "linear")}
    vals = {f"{k}_value": dense(agg, f"{k}_value") for k in ("first_touch", "last_touch", "linear")}
    return models, vals, dense(cust, "n").astype(np.int64)
