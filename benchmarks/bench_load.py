"""Benchmark of the contract load alone: ``cxlib.contract.load_source`` on a data folder.

Reports wall time, CPU time (all threads, DuckDB's included) and the peak resident memory (RSS, sampled every 50 ms, and the kernel's
``ru_maxrss``) of this process, and the memory of the typed tables it returns. ``--whole``
measures the former whole-table path instead (``read_raw`` then ``validate_table``: all text in
pandas, then typed) for comparison.

Usage::

    flock /tmp/cx-bigmem.lock .venv/bin/python benchmarks/bench_load.py --data /tmp/cx1m \\
        --tables transactions customers [--whole] [--batch-rows 1000000] [--save-validated]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import threading
import time

import psutil

from cxlib.contract import BATCH_ROWS, load_source, validate_table
from cxlib.sources import FolderSource, private_tempdir


class Peak(threading.Thread):
    """Peak RSS of this process, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True)
        self.proc = psutil.Process()
        self.interval = interval
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--tables", nargs="+", default=None)
    ap.add_argument("--batch-rows", type=int, default=BATCH_ROWS)
    ap.add_argument("--whole", action="store_true", help="the former whole-table path")
    ap.add_argument(
        "--save-validated",
        action="store_true",
        help="also write the validated Parquet folder (as `cx run` does; deleted afterwards)",
    )
    args = ap.parse_args()
    base = psutil.Process().memory_info().rss
    sampler = Peak()
    sampler.start()
    t0 = time.perf_counter()
    if args.whole:
        src = FolderSource(args.data)
        tables, rows = {}, {}
        for t in args.tables or sorted(src.files):
            raw, rejects = src.read_raw(t)
            res = validate_table(raw, t, file=str(src.files[t].path), rejects=rejects)
            del raw
            tables[t], rows[t] = res.data, res.read_rows
    else:
        saved = private_tempdir("cx-validated-") if args.save_validated else None
        try:
            data = load_source(
                args.data, tables=args.tables, batch_rows=args.batch_rows, save_validated=saved
            )
        finally:
            if saved is not None:
                shutil.rmtree(saved, ignore_errors=True)
        tables = data.tables
        rows = data.counts.set_index("table")["read_rows"].to_dict()
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    typed = {t: df.memory_usage(deep=True).sum() / 2**30 for t, df in tables.items()}
    out = {
        "path": "whole table (before)" if args.whole else f"batched ({args.batch_rows:,} rows)",
        "save_validated": bool(args.save_validated),
        "tables": args.tables or "all",
        "rows": {k: int(v) for k, v in rows.items()},
        "wall_s": round(wall, 1),
        "peak_rss_gib": round(sampler.peak / 2**30, 2),
        "ru_maxrss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "cpu_s": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_utime
            + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
            1,
        ),
        "rss_before_gib": round(base / 2**30, 2),
        "typed_tables_gib": {k: round(v, 2) for k, v in typed.items()},
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
