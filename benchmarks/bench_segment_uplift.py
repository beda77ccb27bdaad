"""Notebooks 02 (segmentation) and 04 (uplift) at scale, step by step, on backend tables.

Run (large: hold the shared lock)::

    flock /tmp/cx-bigmem.lock .venv/bin/python benchmarks/bench_segment_uplift.py \\
        --data /tmp/cx1m --validated /tmp/cx1m_valid --cache /tmp/segup --part 02
    flock /tmp/cx-bigmem.lock .venv/bin/python benchmarks/bench_segment_uplift.py \\
        --data /tmp/cx1m --validated /tmp/cx1m_valid --part 04

``--part 02`` loads ``transactions`` lazily (``load_source(..., lazy=("transactions",))`` with
the validated folder, as under ``cx run``), optionally maps records to people with a master map
(``--people``: built from ``<data>/truth/customers.csv``), computes the two feature tables in
the backend, then times each modelling step of notebook 02 with the notebook's parameters.
With ``--cache`` the feature tables are kept as Parquet there and reused (``--model-only``
skips the load and the features). ``--part 04`` times ``uplift.run_uplift`` as notebook 04
calls it. Prints one line per step: wall seconds and the process's peak RSS (GiB) so far and
during the step (sampled every 0.2 s).
"""

from __future__ import annotations

import argparse
import logging
import resource
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

from cxlib import segment as seg
from cxlib import uplift
from cxlib.contract import load_source
from cxlib.features import customer_features
from cxlib.uplift import _run as uplift_run

GIB = 1024**3


class Peak:
    """Peak RSS of this process, sampled in a thread; ``reset()`` starts a new step."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.step = 0
        self._stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop:
            self.step = max(self.step, self.proc.memory_info().rss)
            time.sleep(0.2)

    def reset(self) -> None:
        self.step = self.proc.memory_info().rss


PEAK = Peak()
ROWS: list[tuple[str, float, float, float]] = []


def step(name: str, fn, *args, **kwargs):
    PEAK.reset()
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    wall = time.perf_counter() - t0
    PEAK.step = max(PEAK.step, PEAK.proc.memory_info().rss)
    total = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
    ROWS.append((name, wall, PEAK.step / GIB, total))
    print(
        f"{name:<48} {wall:8.1f} s  step peak {PEAK.step / GIB:5.2f} GiB  "
        f"process peak {total:5.2f} GiB",
        flush=True,
    )
    return out


def part02(args) -> None:
    cache = Path(args.cache) if args.cache else None
    feats_path = cache / f"features{'_people' if args.people else ''}.parquet" if cache else None
    prev_path = cache / f"previous{'_people' if args.people else ''}.parquet" if cache else None
    master_map = None
    customers = None
    if args.model_only:
        features = pd.read_parquet(feats_path)
        previous_features = pd.read_parquet(prev_path)
        as_of = pd.Timestamp(Path(cache / "as_of.txt").read_text().strip())
        customers = pd.read_parquet(Path(args.validated) / "customers.parquet")
        if args.people:
            master_map = pd.read_parquet(cache / "master_map.parquet")
    else:
        config = {"validated_dir": args.validated} if args.validated else {}
        data = step(
            "load_source (lazy transactions)",
            load_source,
            args.data,
            tables=("transactions", "customers"),
            config=config,
            lazy=("transactions",),
        )
        as_of = data.as_of_date
        tx = data.tables["transactions"]
        customers = data.tables["customers"]
        if args.people:
            out = Path(args.out)
            (out / "exports").mkdir(parents=True, exist_ok=True)
            truth = pd.read_csv(
                Path(args.data) / "truth" / "customers.csv",
                usecols=["customer_id", "master_id"],
                dtype="str",
            )
            truth.to_csv(out / "exports" / "customer_master_map.csv", index=False)
            master_map = step(
                "load_master_map (backend coverage)",
                seg.load_master_map,
                out,
                ids=tx["customer_id"],
            )
            tx = seg.to_people(tx, master_map)
        # one engine for both dates: the transactions are combined once (engine.cached)
        features = step(
            "customer_features (as of)", customer_features, tx, as_of, 365, engine=data.engine
        )
        previous_date = as_of - pd.Timedelta(days=90)
        previous_features = step(
            "customer_features (as of - 90 d)",
            customer_features,
            tx,
            previous_date,
            365,
            engine=data.engine,
        )
        if cache:
            cache.mkdir(parents=True, exist_ok=True)
            features.to_parquet(feats_path)
            previous_features.to_parquet(prev_path)
            (cache / "as_of.txt").write_text(str(as_of))
            if master_map is not None:
                master_map.to_parquet(cache / "master_map.parquet")
    print(f"{len(features):,} customers, {features.shape[1]} feature columns", flush=True)
    rfm = step("rfm_scores + segment_summary", seg.rfm_scores, features)
    seg.segment_summary(rfm["rfm_segment"], rfm["monetary"], order=list(seg.RFM_SEGMENTS))
    segmenter = seg.BehaviouralSegmenter(
        k_range=range(args.k_min, args.k_max + 1), random_state=args.seed
    )
    step(f"BehaviouralSegmenter.fit (k {args.k_min}..{args.k_max})", segmenter.fit, features)
    print(segmenter.selection_.to_string(), flush=True)
    clusters = pd.Series(segmenter.labels_, index=features.index, name="cluster")
    profile = step("profile_clusters", seg.profile_clusters, features, clusters.to_numpy())
    step(
        f"bootstrap_stability (n_bootstrap={args.n_bootstrap})",
        seg.bootstrap_stability,
        segmenter,
        features,
        n_bootstrap=args.n_bootstrap,
        random_state=args.seed,
    )
    previous = step("rfm_scores (previous)", seg.rfm_scores, previous_features)
    step("rfm_migration", seg.rfm_migration, rfm, previous, as_of - pd.Timedelta(days=90), as_of)
    step(
        "segments_export",
        seg.segments_export,
        rfm,
        clusters,
        profile.names,
        customers=customers,
        master_map=master_map,
    )
    model = sum(w for n, w, _, _ in ROWS if not n.startswith(("load", "customer_features")))
    print(f"{'modelling steps together':<48} {model:8.1f} s", flush=True)


def part04(args) -> None:
    config = {"validated_dir": args.validated} if args.validated else {}
    data = step(
        "load_source (lazy transactions)",
        load_source,
        args.data,
        tables=("campaign", "transactions", "customers"),
        config=config,
        lazy=("transactions",),
    )
    step("campaign_problem", uplift.campaign_problem, data.tables["campaign"], "control", 10)
    res = step(
        "run_uplift",
        uplift.run_uplift,
        data,
        n_bootstrap=200,
        n_folds=5,
        random_state=args.seed,
        min_group_size=10,
    )
    print(f"{res.spec.n:,} campaign customers; history features: {res.feature_note}", flush=True)
    camp = uplift_run._first_row_per_customer(data.tables["campaign"])
    step("history_features alone", uplift.history_features, camp, data.tables["transactions"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/tmp/cx1m")
    ap.add_argument("--validated", default="/tmp/cx1m_valid")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--out", default="/tmp/segup/out")
    ap.add_argument("--part", choices=("02", "04"), default="02")
    ap.add_argument("--people", action="store_true")
    ap.add_argument("--model-only", action="store_true")
    ap.add_argument("--k-min", type=int, default=3)
    ap.add_argument("--k-max", type=int, default=8)
    ap.add_argument("--n-bootstrap", type=int, default=30)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    part02(args) if args.part == "02" else part04(args)
    total = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
    print(f"{'total':<48} {time.perf_counter() - t0:8.1f} s  process peak {total:5.2f} GiB")


if __name__ == "__main__":
    main()
