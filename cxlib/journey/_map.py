"""The journey map: paths, transitions, flows, funnels, converted vs abandoned journeys.

Each table is aggregated in the backend from the journeys' ``steps`` / ``runs`` tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cxlib.journey._build import START, JourneyData, _tp_names, _type_code


def top_paths(jd: JourneyData, n: int = 15, *, journey_type: str | None = None) -> pd.DataFrame:
    """Most common paths with journeys, customers, share, conversions and conversion rate."""
    return _top_paths(jd, n, journey_type)


def _top_paths(jd: JourneyData, n: int, journey_type: str | None) -> pd.DataFrame:
    max_steps = 30
    st = jd.backend.steps
    if journey_type is not None:
        st = st.filter(st["jtype"] == _type_code(jd, journey_type))
    per = st.group_by("journey").aggregate(
        key=st["tp"]
        .cast("string")
        .group_concat(",", where=st["pos"] < max_steps, order_by=st["pos"]),
        over=st["pos"].max() >= max_steps,
        customer=st["customer"].max(),
        converted=st["jconv"].max(),
    )
    agg = (
        per.group_by(["key", "over"])
        .aggregate(
            journeys=per.count(),
            customers=per["customer"].nunique(),
            conversions=per["converted"].cast("int64").sum(),
        )
        .to_pandas()
    )
    cols = ["path", "journeys", "customers", "share", "conversions", "conversion_rate"]
    if not len(agg):
        return pd.DataFrame(columns=cols)
    width = int(min(jd.backend.max_step_pos + 1, max_steps))
    mat = np.full((len(agg), width + 1), -1, dtype=np.int32)
    for i, key in enumerate(agg["key"]):
        c = np.array(key.split(","), dtype=np.int32)
        mat[i, : len(c)] = c
    mat[:, width] = agg["over"].to_numpy(dtype=bool)
    rows = np.ascontiguousarray(mat).view(np.dtype((np.void, mat.dtype.itemsize * mat.shape[1])))
    _, inv = np.unique(rows.ravel(), return_inverse=True)  # the pandas path's path order
    agg = agg.iloc[np.argsort(inv.ravel(), kind="stable")]
    total = int(agg["journeys"].sum())
    agg = agg.sort_values(["journeys", "conversions"], ascending=False).head(n)
    names = _tp_names(jd)
    paths = [
        " > ".join(names[int(c)] for c in key.split(",")) + (" > ..." if over else "")
        for key, over in zip(agg["key"], agg["over"], strict=True)
    ]
    out = pd.DataFrame(
        {
            "path": paths,
            "journeys": agg["journeys"].to_numpy().astype(np.int64),
            "customers": agg["customers"].to_numpy().astype(np.int64),
            "share": agg["journeys"].to_numpy() / max(total, 1),
            "conversions": agg["conversions"].to_numpy().astype(int),
        }
    )
    out["conversion_rate"] = out["conversions"] / out["journeys"]
    return out.reset_index(drop=True)


def transition_matrix(
    jd: JourneyData, *, normalize: bool = True, min_share: float = 0.0
) -> pd.DataFrame:
    """Touchpoint-to-touchpoint transitions (rows: from, columns: to), with start and end states.

    Rows include ``(start)``; columns include ``(end)`` (journey ended without conversion after
    this step). ``normalize=True`` gives row shares; touchpoints reached by fewer than
    ``min_share`` of journeys are dropped.
    """
    names = _tp_names(jd)
    st = jd.steps
    counts = _transition_counts(jd)
    labels_from = names + [START]
    labels_to = names + ["(start)", "(end)"]
    m = pd.DataFrame(counts, index=labels_from, columns=labels_to).drop(columns="(start)")
    conv = jd.conversion_touchpoint
    if conv in m.index:
        m = m.drop(index=conv)
    if min_share > 0:
        rt = st.group_by("tp").aggregate(n=st["journey"].nunique()).to_pandas()
        nj = pd.Series(rt["n"].to_numpy(), index=[names[int(c)] for c in rt["tp"]])
        reach = nj / max(jd.n_journeys, 1)
        keep = [t for t in names if reach.get(t, 0) >= min_share]
        m = m.loc[
            [t for t in m.index if t in keep or t == START],
            [c for c in m.columns if c in keep or c in ("(end)", conv)],
        ]
    order_rows = [START] + [r for r in m.index if r != START]
    m = m.loc[order_rows]
    if normalize:
        m = m.div(m.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    return m


def _transition_counts(jd: JourneyData) -> np.ndarray:
    """Transition counts (from: touchpoints + start; to: touchpoints + start + end)."""
    k = len(_tp_names(jd))
    st = jd.backend.steps
    agg = (
        st.group_by(tp="tp", n_tp="n_tp", is_conversion="is_conversion", first=st["pos"] == 0)
        .aggregate(n=st.count())
        .to_pandas()
    )
    counts = np.zeros((k + 1, k + 2))
    tp = agg["tp"].to_numpy(dtype=np.int64)
    nxt = agg["n_tp"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    cnt = agg["n"].to_numpy(dtype=float)
    first = agg["first"].to_numpy(dtype=bool)
    np.add.at(counts, (np.full(int(first.sum()), k), tp[first]), cnt[first])
    has = nxt >= 0
    np.add.at(counts, (tp[has], nxt[has]), cnt[has])
    end = ~has & ~agg["is_conversion"].to_numpy(dtype=bool)
    np.add.at(counts, (tp[end], np.full(int(end.sum()), k + 1)), cnt[end])
    return counts


def flow_table(
    jd: JourneyData, *, max_steps: int = 4, top_n: int = 5, journey_type: str | None = None
) -> pd.DataFrame:
    """Flows between consecutive steps for a flow (Sankey) diagram of the main paths.

    Node labels at each step are the ``top_n`` most common touchpoints there (others become
    "other"); a journey that converts flows into "converted", one that ends without conversion
    into "dropped out", one still going after ``max_steps`` into "continues". Columns: col
    (0-based step), source, target, journeys.
    """
    df = _flow_frame(jd, max_steps, top_n, journey_type)
    out = df.groupby(["col", "source", "target"])["w"].sum().reset_index(name="journeys")
    out = out.sort_values(["col", "journeys"], ascending=[True, False])
    return out.reset_index(drop=True)


def _flow_frame(
    jd: JourneyData, max_steps: int, top_n: int, journey_type: str | None
) -> pd.DataFrame:
    """Flow rows (col, source, target, w: journeys) aggregated in the backend."""
    st = jd.backend.steps
    if journey_type is not None:
        st = st.filter(st["jtype"] == _type_code(jd, journey_type))
    st = st.filter((st["pos"] < max_steps) & ~st["is_conversion"])
    agg = st.group_by(["pos", "tp", "n_tp", "n_conv"]).aggregate(w=st.count()).to_pandas()
    names = np.array(_tp_names(jd) + ["other"], dtype=object)
    other = len(names) - 1
    pos = agg["pos"].to_numpy(dtype=np.int64)
    tp = agg["tp"].to_numpy(dtype=np.int64)
    w = agg["w"].to_numpy(dtype=np.int64)
    has_next = agg["n_tp"].notna().to_numpy()
    ntp = agg["n_tp"].astype("Int64").fillna(0).to_numpy(dtype=np.int64)
    nconv = agg["n_conv"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    top = {}
    for k in range(max_steps):
        at = pos == k
        counts = np.bincount(tp[at], weights=w[at], minlength=other)
        top[k] = np.argsort(-counts, kind="stable")[:top_n] if at.any() else None
    lab = tp.copy()
    nlab = ntp.copy()
    for k, t in top.items():
        if t is None:
            continue
        lab[(pos == k) & ~np.isin(tp, t)] = other
        nlab[(pos + 1 == k) & ~np.isin(ntp, t)] = other
    labels = names[lab].astype(object)
    nxt_label = np.where(nconv, "converted", names[nlab]).astype(object)
    target = np.where(has_next, nxt_label, "dropped out").astype(object)
    target = np.where(
        has_next & (pos == max_steps - 1),
        np.where(nxt_label == "converted", "converted", "continues"),
        target,
    )
    return pd.DataFrame({"col": pos, "source": labels, "target": target, "w": w})


def funnel_steps(jd: JourneyData, journey_type: str) -> list[str]:
    """The main path of a journey type: its most common converting path (repeats and loops
    removed), else the touchpoints reached by at least 20% of its journeys in order of first
    position."""
    j = jd.journeys
    sel = np.flatnonzero(j["journey_type"].to_numpy() == journey_type)
    if len(sel) == 0:
        return []
    return _funnel_steps(jd, journey_type)


def _funnel_steps(jd: JourneyData, journey_type: str) -> list[str]:
    code = _type_code(jd, journey_type)
    if code < 0:
        return []
    names = _tp_names(jd)
    r = jd.backend.runs
    r = r.filter((r["jtype"] == code) & ~r["is_revisit"])
    rc = r.filter(r["jconv"])
    per = rc.group_by("journey").aggregate(
        key=rc["tp"].cast("string").group_concat(",", order_by=rc["pos"])
    )
    paths = per.group_by("key").aggregate(n=per.count(), first=per["journey"].min()).to_pandas()
    if len(paths):  # the most common; ties: the first to occur (as value_counts)
        paths = paths.sort_values("first")
        best = pd.Series(paths["n"].to_numpy(), index=paths["key"].to_numpy())
        best = best.sort_values(ascending=False, kind="stable").index[0]
        return [names[int(c)] for c in best.split(",")]
    n_sel = int((jd.journeys["journey_type"] == journey_type).sum())
    reach = (
        r.group_by("tp")
        .aggregate(n=r["journey"].nunique(), pos=r["pos"].median())
        .order_by("tp")
        .to_pandas()
        .set_index("tp")
    )
    reach = reach[reach["n"] >= 0.2 * n_sel].sort_values("pos")
    return [names[c] for c in reach.index]


def funnel(jd: JourneyData, journey_type: str, steps: Sequence[str] | None = None) -> pd.DataFrame:
    """Funnel of a journey type along its main path.

    A journey has *reached* step k when the deepest main-path step it visited is k or later
    (so the funnel only narrows). Columns: step, touchpoint, journeys, customers,
    step_conversion (share of the previous step's journeys that reached this one), drop_off
    (journeys that stopped here: reached it but not the next step), overall (share of the
    type's journeys) and median_minutes (from the previous step's first visit).
    """
    steps = list(steps) if steps is not None else funnel_steps(jd, journey_type)
    j = jd.journeys
    sel = np.flatnonzero(j["journey_type"].to_numpy() == journey_type)
    cols = [
        "step",
        "touchpoint",
        "journeys",
        "customers",
        "step_conversion",
        "drop_off",
        "overall",
        "median_minutes",
    ]
    if not steps or len(sel) == 0:
        return pd.DataFrame(columns=cols)
    names = _tp_names(jd)
    code = {names.index(t): i for i, t in enumerate(steps) if t in names}
    deepest, first = np.full(len(sel), -1), pd.DataFrame()
    if code:
        deep, first = _funnel_first(jd, _type_code(jd, journey_type), code)
        deepest = deep.reindex(sel, fill_value=-1).to_numpy()
    cust = j["customer_id"].to_numpy()[sel]
    rows = []
    prev = len(sel)
    for k, t in enumerate(steps):
        reached = deepest >= k
        nk = int(reached.sum())
        mins = np.nan
        if k > 0 and k in first.columns and (k - 1) in first.columns:
            d = (first[k] - first[k - 1]).dropna()
            d = d[d >= 0]
            mins = float(d.median()) if len(d) else np.nan
        rows.append(
            {
                "step": k + 1,
                "touchpoint": t,
                "journeys": nk,
                "customers": int(pd.Series(cust[reached]).nunique()),
                "step_conversion": nk / prev if prev else np.nan,
                "drop_off": int((deepest == k).sum()) if k < len(steps) - 1 else 0,
                "overall": nk / len(sel),
                "median_minutes": mins,
            }
        )
        prev = nk
    return pd.DataFrame(rows, columns=cols)


def _funnel_first(jd: JourneyData, code: int, step_codes: Mapping[int, int]) -> pd.DataFrame:
    """Per journey of type ``code`` that visits a funnel step: the deepest step ``k`` and the
    first visit time of each step (columns 0..n-1)."""
    r = jd.backend.runs
    r = r.filter((r["jtype"] == code) & r["tp"].isin(list(step_codes)))
    k = r["tp"].cases(*[(t, i) for t, i in step_codes.items()], else_=-1)
    r = r.mutate(k=k)
    n = max(step_codes.values()) + 1
    aggs = {"deepest": r["k"].max()}
    for i in range(n):
        aggs[f"f{i}"] = r["t0"].min(where=r["k"] == i)
    out = r.group_by("journey").aggregate(**aggs).to_pandas().set_index("journey")
    first = out[[f"f{i}" for i in range(n)]].astype(float)
    first.columns = range(n)
    return out["deepest"], first.dropna(axis=1, how="all")


def compare_outcomes(jd: JourneyData, *, min_journeys: int = 1) -> pd.DataFrame:
    """Touchpoints in converted vs abandoned journeys, side by side.

    Columns: touchpoint, converted_share, abandoned_share (share of journeys of each outcome
    that visit the touchpoint), difference (abandoned - converted, in points), ratio, and
    last_step_share (share of abandoned journeys that ended there). Sorted by difference.
    """
    j = jd.journeys
    conv = j["converted"].to_numpy()
    n_c, n_a = int(conv.sum()), int((~conv).sum())
    r = jd.backend.runs
    r = r.filter(~r["is_conversion"])
    pres = r.select("journey", "tp", converted=r["jconv"]).distinct()
    pres = pres.group_by(["tp", "converted"]).aggregate(n=pres.count()).to_pandas()
    cnt = pres.pivot_table(index="tp", columns="converted", values="n", fill_value=0)
    cnt = cnt.sort_index().astype(np.int64)
    cnt.columns = [bool(c) for c in cnt.columns]
    cnt = cnt.reindex(columns=[False, True], fill_value=0)
    names = _tp_names(jd)
    last = j.loc[~conv, "last_touchpoint"].value_counts()
    out = pd.DataFrame(
        {
            "touchpoint": [names[c] for c in cnt.index],
            "converted_share": cnt[True].to_numpy() / max(n_c, 1),
            "abandoned_share": cnt[False].to_numpy() / max(n_a, 1),
            "journeys": (cnt[True] + cnt[False]).to_numpy(),
        }
    )
    out["difference"] = out["abandoned_share"] - out["converted_share"]
    out["ratio"] = out["abandoned_share"] / out["converted_share"].replace(0, np.nan)
    out["last_step_share"] = out["touchpoint"].map(last).fillna(0).to_numpy() / max(n_a, 1)
    out = out[out["journeys"] >= min_journeys]
    return out.sort_values("difference", ascending=False).reset_index(drop=True)


def outcome_summary(jd: JourneyData) -> pd.DataFrame:
    """Converted vs abandoned journeys: count, steps, minutes, loops, retries, contacts."""
    j = jd.journeys
    g = j.groupby(j["converted"].map({True: "converted", False: "abandoned"}))
    out = pd.DataFrame(
        {
            "journeys": g.size(),
            "avg_steps": g["n_steps"].mean(),
            "median_minutes": g["minutes"].median(),
            "loop_share": g["has_loop"].mean(),
            "retry_share": g["has_retry"].mean(),
            "repeat_contact_share": g["n_repeat_contacts"].apply(lambda s: (s > 0).mean()),
            "friction_share": g["has_friction"].mean(),
        }
    )
    out.index.name = "outcome"
    return out.reindex(["converted", "abandoned"]).reset_index()
