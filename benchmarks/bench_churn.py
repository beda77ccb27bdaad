"""Benchmark of notebook 03's churn analysis on backend tables: ``cxlib.churn.run_churn``.

Loads a source as notebook 03 does (``load_source(..., lazy=("transactions",))``; with
``--validated`` the folder of validated Parquet tables is read instead of parsing the files),
optionally re-keys records to people with a master map, runs :func:`cxlib.churn.too_little_data`
and :func:`cxlib.churn.run_churn` with the notebook's defaults, then builds the scores export.
Reports wall time per step, the time spent in the main library calls (nested calls counted in
each), and the peak resident memory of this process (sampled every 50 ms; DuckDB runs in it).

Usage::

    flock /tmp/cx-bigmem.lock .venv/bin/python benchmarks/bench_churn.py --data /tmp/cx1m \\
        --validated /tmp/cx1m_valid [--master-map truth] [--json out.json]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import logging
import os
import pkgutil
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
from bench_load import Peak  # same folder: the sampler of the load benchmark

GIB = 2**30
SPENT: dict[str, list[float]] = defaultdict(list)


def timed(module, name: str) -> None:
    """Replace ``module.name`` by a wrapper that records its wall time in :data:`SPENT`.

    For a package (``cxlib.churn``) the name is replaced in every private module that holds the
    same function, since it is looked up there.
    """
    subs = [module]
    if getattr(module, "__path__", None) is not None:
        subs += [
            importlib.import_module(info.name)
            for info in pkgutil.iter_modules(module.__path__, f"{module.__name__}.")
        ]
    fn = next(getattr(m, name) for m in subs if hasattr(m, name))

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[f"{module.__name__.split('.')[-1]}.{name}"].append(time.perf_counter() - t0)

    for m in subs:
        if getattr(m, name, None) is fn:
            setattr(m, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--validated", default=None, help="folder of validated Parquet tables")
    ap.add_argument(
        "--master-map",
        default=None,
        help="'truth' (customer_id -> master_id of <data>/truth/customers.csv) or a CSV file",
    )
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--duckdb-memory", default=None, help="memory_limit of the DuckDB connection, e.g. 3GB"
    )
    ap.add_argument("--log", action="store_true", help="INFO logs of cxlib")
    args = ap.parse_args()
    logging.basicConfig(
        level=logging.INFO if args.log else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )

    from cxlib import churn, features, segment
    from cxlib.contract import load_source

    for mod, names in (
        (features, ["customer_features"]),
        (segment.BehaviouralSegmenter, ["fit"]),
        (
            churn,
            [
                "summary_from_transactions",
                "fit_btyd",
                "snapshot_features",
                "lapse_labels",
                "fit_behaviour_segments",
                "people_tables",
                "_drop_orphans",
                "retention_durations",
                "evaluate_predictions",
                "permutation_drivers",
                "kaplan_meier",
                "_fit_pair",
                "attribute_features",
                "feedback_features",
                "relative_risks",
            ],
        ),
        (churn.LogitChurnModel, ["fit", "predict_proba"]),
        (churn.BoostedChurnModel, ["fit", "predict_proba"]),
    ):
        for n in names:
            timed(mod, n)

    peak = Peak()
    peak.start()
    steps: dict[str, dict[str, float]] = {}
    t_all = time.perf_counter()

    def step(name: str, t0: float) -> None:
        steps[name] = {"wall_s": round(time.perf_counter() - t0, 1), "peak_gib": peak.peak / GIB}
        print(
            f"{name}: {steps[name]['wall_s']} s, peak so far {peak.peak / GIB:.2f} GiB", flush=True
        )

    t0 = time.perf_counter()
    config = {"validated_dir": args.validated} if args.validated else {}
    data = load_source(
        args.data,
        tables=("transactions", "customers", "feedback"),
        config=config,
        lazy=("transactions",),
    )
    if args.duckdb_memory:
        data.backend.raw_sql(f"SET memory_limit = '{args.duckdb_memory}'")
    step("load_source(lazy=transactions)", t0)
    master_map = None
    if args.master_map:
        t0 = time.perf_counter()
        path = (
            Path(args.data) / "truth" / "customers.csv"
            if args.master_map == "truth"
            else Path(args.master_map)
        )
        master_map = pd.read_csv(path, usecols=["customer_id", "master_id"], dtype="str")
        step("read master map", t0)
    t0 = time.perf_counter()
    mode = churn.detect_mode(data.tables, strict=False)
    why = churn.too_little_data(data.tables, data.as_of_date, mode=mode)
    step("detect_mode + too_little_data", t0)
    if why:
        raise SystemExit(f"too little data: {why}")
    t0 = time.perf_counter()
    res = churn.run_churn(
        data.tables,
        data.as_of_date,
        mode=mode,
        master_map=master_map,
        horizon_days=90,
        lookback_days=365,
        n_snapshots=4,
        n_bootstrap=200,
        random_state=42,
    )
    step("run_churn", t0)
    t0 = time.perf_counter()
    export = churn.scores_export(res)
    step("scores_export", t0)
    total = time.perf_counter() - t_all
    peak.stop.set()
    peak.join()
    out = {
        "data": args.data,
        "rows_scored": len(res.scores),
        "export_rows": len(export),
        "training_rows": int(res.snapshots["customers"].sum()),
        "chosen_model": res.chosen_model,
        "metrics": res.metrics_table().round(4).to_dict("records"),
        "total_wall_s": round(total, 1),
        "peak_rss_gib": round(peak.peak / GIB, 2),
        "steps": steps,
        "spent_s": {
            k: {"calls": len(vs), "total": round(sum(vs), 1), "max": round(max(vs), 1)}
            for k, vs in SPENT.items()
        },
        "load_average_end": os.getloadavg(),
        "nproc": os.cpu_count(),
        "duckdb_memory_limit": args.duckdb_memory or "library default",
    }
    print(json.dumps(out, indent=1, default=str))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
