"""BG/NBD fit time: cxlib's ``BetaGeoModel`` vs the same fit in ``lifetimes`` (where it installs).

Run (the 1 M summary is large: hold the shared lock)::

    flock /tmp/cx-bigmem.lock .venv/bin/python benchmarks/bench_btyd.py \\
        --cdnow "$CX_REALDATA/cdnow_sample/transactions.csv" \\
        --transactions /tmp/cx1m_valid/transactions.parquet \\
        --lifetimes-python /tmp/lifetimes-venv/bin/python --markdown

Datasets:

- **CDNOW** sample (2,357 customers; calibration 1997-01-01 … 1997-09-30, weeks), the summary
  from :func:`cxlib.churn.summary_from_transactions`;
- **1 M**: the summary (frequency/recency/T in weeks at the latest transaction's day) of the
  validated 1 M transactions Parquet, computed once in DuckDB through
  :func:`cxlib.churn.summary_from_transactions` on a backend table and cached next to ``--cache``.

For each: cxlib ``BetaGeoModel(compute_se=False)`` and with standard errors, ``--repeats``
times; then, when ``--lifetimes-python`` names an interpreter (a throw-away venv outside the
repo; lifetimes is not a project dependency), the same summary is written to CSV (exact floats) and
fitted there by ``lifetimes.BetaGeoFitter(penalizer_coef=0)`` in a subprocess, on every row
(how lifetimes is normally used) and on the distinct (frequency, recency, T) rows with
``weights`` (what cxlib does internally). Prints wall times, parameters, log-likelihoods and
the largest relative parameter difference; ``--markdown`` prints a results table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cxlib.churn import BetaGeoModel, summary_from_transactions

LIFETIMES_SCRIPT = r"""
import json, sys, time, warnings
import pandas as pd
import lifetimes
from lifetimes import BetaGeoFitter
warnings.simplefilter("ignore")
s = pd.read_csv(sys.argv[1])
out = {"lifetimes": lifetimes.__version__, "pandas": pd.__version__}
for mode in sys.argv[2].split(","):
    if mode == "weighted":
        g = s.groupby(["frequency", "recency", "T"]).size().rename("w").reset_index()
        args, kw = (g["frequency"], g["recency"], g["T"]), {"weights": g["w"]}
    else:
        args, kw = (s["frequency"], s["recency"], s["T"]), {}
    t0 = time.perf_counter()
    try:
        f = BetaGeoFitter(penalizer_coef=0.0).fit(*args, **kw)
        wall = time.perf_counter() - t0
        ll = float(f._negative_log_likelihood_) if hasattr(f, "_negative_log_likelihood_") else None
        out[mode] = {"wall_s": wall, "params": {k: float(v) for k, v in f.params_.items()},
                     "neg_loglik_mean": ll, "rows": int(len(args[0]))}
    except Exception as exc:
        out[mode] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                     "wall_s": time.perf_counter() - t0}
print(json.dumps(out))
"""


def cdnow_summary(path: Path) -> pd.DataFrame:
    tx = pd.read_csv(path, dtype={"customer_id": "str"}, parse_dates=["timestamp"])
    return summary_from_transactions(tx, "1997-09-30", freq="W")


TRUE_PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # CDNOW's published fit


def simulate_transactions(n: int, seed: int, weeks: float = 39.0) -> pd.DataFrame:
    """Purchases of ``n`` customers drawn from a BG/NBD process with :data:`TRUE_PARAMS`
    (rates per week): first purchases spread over the first 12 weeks of a ``weeks``-long
    calibration period, then Poisson purchases, dropping out after each repeat purchase with
    probability ``p``. Timestamps are to the second, so same-day purchases are rare."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(TRUE_PARAMS["r"], 1.0 / TRUE_PARAMS["alpha"], n)
    p = rng.beta(TRUE_PARAMS["a"], TRUE_PARAMS["b"], n)
    start = rng.uniform(0.0, 12.0, n)
    ids, times = [np.arange(n)], [start]
    t, alive = start.copy(), np.arange(n)
    while len(alive):
        t = t + rng.exponential(1.0, len(alive)) / lam[alive]
        keep = t < weeks
        alive, t = alive[keep], t[keep]
        ids.append(alive)
        times.append(t)
        stay = rng.random(len(alive)) >= p[alive]
        alive, t = alive[stay], t[stay]
    cid = np.concatenate(ids)
    week = np.concatenate(times)
    origin = pd.Timestamp("2024-01-01")
    return pd.DataFrame(
        {
            "customer_id": pd.Series(cid).map("S{:07d}".format),
            "timestamp": origin + pd.to_timedelta(np.round(week * 7 * 86400), unit="s"),
            "amount": 10.0,
        }
    )


def simulated_summary(n: int, seed: int, cache: Path) -> tuple[pd.DataFrame, float, int]:
    """Summary of :func:`simulate_transactions` at the end of week 39 (cached); returns it, the
    seconds the summary took and the number of transactions."""
    if cache.exists():
        s = pd.read_parquet(cache)
        return s, 0.0, int(s.attrs.get("transactions", 0))
    tx = simulate_transactions(n, seed)
    t0 = time.perf_counter()
    end = pd.Timestamp("2024-01-01") + pd.Timedelta(days=39 * 7 - 1)
    s = summary_from_transactions(tx, end, freq="W")[["frequency", "recency", "T"]]
    wall = time.perf_counter() - t0
    s.to_parquet(cache)
    return s, wall, len(tx)


def million_summary(parquet: Path, cache: Path) -> tuple[pd.DataFrame, float]:
    """The 1 M summary (cached); returns it and the seconds it took (0 when cached)."""
    if cache.exists():
        return pd.read_parquet(cache), 0.0
    from cxlib.sources import backend_table

    t0 = time.perf_counter()
    t = backend_table(parquet)
    end = pd.Timestamp(t.timestamp.max().execute()).normalize()
    s = summary_from_transactions(t.drop("cx_row_number"), end, freq="W")
    wall = time.perf_counter() - t0
    s[["frequency", "recency", "T"]].to_parquet(cache)
    return s[["frequency", "recency", "T"]], wall


def fit_cxlib(s: pd.DataFrame, repeats: int, se: bool) -> tuple[list[float], BetaGeoModel]:
    walls, model = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = BetaGeoModel(compute_se=se).fit(s["frequency"], s["recency"], s["T"])
        walls.append(time.perf_counter() - t0)
    return walls, model


def fit_lifetimes(python: str, s: pd.DataFrame, modes: str, timeout: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="cx-btyd-") as tmp:
        path = Path(tmp) / "summary.csv"  # CSV: the lifetimes venv needs no Parquet reader
        s[["frequency", "recency", "T"]].to_csv(path, index=False)
        try:
            res = subprocess.run(
                [python, "-c", LIFETIMES_SCRIPT, str(path), modes],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
    if res.returncode != 0:
        lines = res.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {res.returncode}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def rel_diff(a: dict, b: dict) -> float:
    return max(abs(a[k] - b[k]) / abs(b[k]) for k in ("r", "alpha", "a", "b"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.environ.get("CX_REALDATA", "/work/shared/realdata")
    ap.add_argument("--cdnow", type=Path, default=Path(root) / "cdnow_sample/transactions.csv")
    ap.add_argument("--transactions", type=Path, default=None, help="1 M transactions Parquet")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/cx_btyd_1m_summary.parquet"))
    ap.add_argument("--simulate", type=int, default=0, help="customers of a simulated BG/NBD")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lifetimes-python", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=1800, help="per lifetimes subprocess, s")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)

    datasets = {"CDNOW sample": cdnow_summary(args.cdnow)}
    notes = []
    if args.transactions is not None:
        s, wall = million_summary(args.transactions, args.cache)
        datasets["1 M synthetic"] = s
        if wall:
            notes.append(f"1 M summary computed in DuckDB in {wall:.1f} s")
    if args.simulate:
        cache = Path(f"/tmp/cx_btyd_sim{args.simulate}_{args.seed}.parquet")
        s, wall, ntx = simulated_summary(args.simulate, args.seed, cache)
        datasets[f"simulated BG/NBD, {args.simulate:,} customers"] = s
        if wall:
            notes.append(f"simulated {ntx:,} transactions; summary (pandas) in {wall:.1f} s")
        notes.append(f"simulation truth {TRUE_PARAMS}")
    rows = []
    for name, s in datasets.items():
        distinct = len(s[["frequency", "recency", "T"]].drop_duplicates())
        walls, model = fit_cxlib(s, args.repeats, se=False)
        walls_se, _ = fit_cxlib(s, 1, se=True)
        cx = {k: float(v) for k, v in model.params_.items()}
        print(
            f"{name}: {len(s):,} customers ({distinct:,} distinct rows); cxlib fit "
            f"{', '.join(f'{w:.2f}' for w in walls)} s (with SE {walls_se[0]:.2f} s), {cx}, "
            f"log-lik {model.loglik_:.1f}",
            flush=True,
        )
        row = {
            "dataset": name,
            "customers": len(s),
            "distinct": distinct,
            "cxlib_s": float(np.median(walls)),
            "cxlib_se_s": walls_se[0],
            "cxlib": cx,
            "cxlib_ll": model.loglik_,
        }
        if args.lifetimes_python:
            lt = fit_lifetimes(args.lifetimes_python, s, "full,weighted", args.timeout)
            print(f"  lifetimes: {json.dumps(lt)}", flush=True)
            row["lifetimes"] = lt
        rows.append(row)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS of this process {peak:.2f} GiB; " + "; ".join(notes))
    if args.markdown:
        print(
            f"\nMachine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}"
        )
        print(
            "\n| data | customers (distinct rows) | fit | wall s | r | alpha | a | b | max rel. diff vs cxlib |"
        )
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            p = r["cxlib"]
            head = f"| {r['dataset']} | {r['customers']:,} ({r['distinct']:,}) "
            print(
                head + f"| cxlib (median of {args.repeats}; with SE {r['cxlib_se_s']:.2f} s) "
                f"| {r['cxlib_s']:.2f} | {p['r']:.4f} | {p['alpha']:.4f} | {p['a']:.4f} | "
                f"{p['b']:.4f} | |"
            )
            lt = r.get("lifetimes") or {}
            for mode, label in (("full", "every row"), ("weighted", "distinct rows + weights")):
                got = lt.get(mode)
                if got is None:
                    continue
                if "error" in got:
                    print(
                        head
                        + f"| lifetimes, {label} | {got['wall_s']:.2f} | {got['error']} | | | | |"
                    )
                    continue
                q = got["params"]
                print(
                    head + f"| lifetimes {lt['lifetimes']}, {label} | {got['wall_s']:.2f} | "
                    f"{q['r']:.4f} | {q['alpha']:.4f} | {q['a']:.4f} | {q['b']:.4f} | "
                    f"{rel_diff(q, p):.1e} |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
