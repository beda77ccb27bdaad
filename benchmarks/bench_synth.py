"""Benchmark of ``cxlib.synth.generate``: wall time and peak memory at 10k, 100k and 1M people.

Each size runs in a fresh Python process (so that peak RSS is that size's own), which reports
its wall time and ``resource.getrusage(RUSAGE_SELF).ru_maxrss``. The results and a description
of the machine are written into ``benchmarks/RESULTS.md`` under the heading
``## Synthetic data generation`` (replacing an earlier version of that section).

Usage::

    .venv/bin/python benchmarks/bench_synth.py                      # 10k, 100k, 1M
    .venv/bin/python benchmarks/bench_synth.py --sizes 10000 100000 --no-write
    .venv/bin/python benchmarks/bench_synth.py --save-json r.json --note "Before: ..."
    .venv/bin/python benchmarks/bench_synth.py --from-json r.json --note "..."  # rewrite only

At 1,000,000 people run it under the shared memory lock
(``flock /tmp/cx-bigmem.lock .venv/bin/python benchmarks/bench_synth.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Synthetic data generation"


STEPS = (
    ("_people", "make_people", "people (core)"),
    ("_records", "make_records", "CRM records (core)"),
    ("_purchases", "make_transactions", "purchases + churn truth (core)"),
    ("_feedback", "make_service_feedback", "service feedback (core)"),
    ("campaign", "generate_campaign", "campaign (campaign.py)"),
    ("journeys", "generate_journeys", "journeys (journeys.py)"),
    ("defects", "inject_defects", "defect injection (defects.py)"),
    ("_write", "write_table", "writing files"),
)


def _instrument() -> dict[str, dict[str, float]]:
    """Wrap each step of ``generate`` to record its time and the peak RSS while it runs
    (sampled every 20 ms with psutil)."""
    import threading

    import psutil

    from cxlib.synth import (
        _feedback,
        _people,
        _purchases,
        _records,
        _write,
        campaign,
        defects,
        journeys,
    )

    # the steps are looked up on these modules when generate() runs (labels kept for RESULTS.md)
    modules = {
        "_people": _people,
        "_records": _records,
        "_purchases": _purchases,
        "_feedback": _feedback,
        "campaign": campaign,
        "journeys": journeys,
        "defects": defects,
        "_write": _write,
    }
    proc = psutil.Process()
    peak = [0]
    stats: dict[str, dict[str, float]] = {}

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()

    def wrap(label: str, fn):
        def inner(*args, **kwargs):
            peak[0] = proc.memory_info().rss
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                st = stats.setdefault(label, {"seconds": 0.0, "peak_rss_gb": 0.0})
                st["seconds"] += time.perf_counter() - t0
                peak[0] = max(peak[0], proc.memory_info().rss)
                st["peak_rss_gb"] = max(st["peak_rss_gb"], peak[0] / 1024**3)

        return inner

    for mod, name, label in STEPS:
        setattr(modules[mod], name, wrap(label, getattr(modules[mod], name)))
    return stats


def _child(n: int, seed: int, out: Path, fmt: str) -> None:
    """Run one generation and print its measurements as JSON (runs in the child process)."""
    sys.path.insert(0, str(ROOT))
    stats = _instrument()
    from cxlib.synth import generate

    t0 = time.perf_counter()
    res = generate(n, seed, out, fmt=fmt)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = usage.ru_maxrss  # kilobytes on Linux
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(
        json.dumps(
            {
                "n_people": res.n_people,
                "n_records": res.n_records,
                "rows": res.rows,
                "wall_s": wall,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "load_average_at_end": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
                "peak_rss_gb": peak_kb / 1024**2,
                "bytes": size,
                "steps": stats,
            }
        )
    )


def _machine() -> dict[str, str]:
    info = {
        "nproc": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                kb = int(line.split()[1])
                info["memory"] = f"{kb / 1024**2:.1f} GiB"
                break
        info["load_average_at_start"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        pass
    try:
        import numpy
        import pandas
        import pyarrow

        info["versions"] = (
            f"numpy {numpy.__version__}, pandas {pandas.__version__}, pyarrow {pyarrow.__version__}"
        )
    except ImportError:
        pass
    return info


def _section(
    results: list[dict],
    machine: dict[str, str],
    seed: int,
    fmt: str,
    notes: list[str] | None = None,
) -> str:
    lines = [
        HEADING,
        "",
        f'`cxlib.synth.generate(n, seed={seed}, out_dir, fmt="{fmt}")`: people, CRM records, '
        "purchases, service feedback, campaign, journeys, defect injection and writing of all "
        "files (five tables + `truth/`). Each size in a fresh process; peak RSS from "
        "`resource.getrusage(RUSAGE_SELF).ru_maxrss`; CPU time = user + system time of that "
        "process (most of the work runs on one thread, so on an otherwise idle machine "
        "the wall time is about the CPU time plus disk waits; on a loaded one it is "
        "longer). Reproduce with `.venv/bin/python benchmarks/bench_synth.py`.",
        "",
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on: "
        + "; ".join(f"{k} = {v}" for k, v in machine.items())
        + ".",
        "",
        "| people | records | transactions | per person | events | wall time (s) | "
        "CPU time (s) | peak RSS (GiB) | files (MB) | limit |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        tx = r["rows"].get("transactions", 0)
        limit = ""
        if r["n_people"] >= 1_000_000:
            ok = r["wall_s"] <= 300 and r["peak_rss_gb"] * 1.073741824 <= 8  # 8 GB = 7.45 GiB
            limit = ("within" if ok else "OVER") + " 5 min / 8 GB"
        cpu = f"{r['cpu_s']:.1f}" if "cpu_s" in r else ""
        lines.append(
            f"| {r['n_people']:,} | {r['n_records']:,} | {tx:,} | {tx / r['n_people']:.1f} | "
            f"{r['rows'].get('events', 0):,} | {r['wall_s']:.1f} | {cpu} | "
            f"{r['peak_rss_gb']:.2f} | {r['bytes'] / 1e6:.0f} | {limit} |"
        )
    big = results[-1]
    lines += [
        "",
        f"Steps at {big['n_people']:,} people (time and peak RSS while the step runs, sampled "
        "every 20 ms; the peak includes everything still held from earlier steps):",
        "",
        "| step | time (s) | peak RSS (GiB) |",
        "|---|---:|---:|",
    ]
    for _, _, label in STEPS:
        st = big.get("steps", {}).get(label)
        if st:
            lines.append(f"| {label} | {st['seconds']:.1f} | {st['peak_rss_gb']:.2f} |")
    lines.append("")
    for note in notes or []:
        lines += [note, ""]
    return "\n".join(lines)


def _write_results(text: str, path: Path) -> None:
    """Replace (or append) the ``## Synthetic data generation`` section of RESULTS.md."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if HEADING in old:
        before, rest = old.split(HEADING, 1)
        nxt = rest.find("\n## ")
        after = rest[nxt + 1 :] if nxt >= 0 else ""
        new = before + text + ("\n" + after if after else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fmt", default="csv", choices=["csv", "parquet"])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "synth")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    ap.add_argument(
        "--note", action="append", default=[], help="paragraph added after the tables (repeatable)"
    )
    ap.add_argument(
        "--from-json",
        type=Path,
        help="write the section from results saved with --save-json (no new measurement)",
    )
    ap.add_argument("--save-json", type=Path, help="also save the raw results as JSON")
    ap.add_argument("--child", nargs=2, metavar=("N", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(int(args.child[0]), args.seed, Path(args.child[1]), args.fmt)
        return 0

    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        seed, fmt = saved.get("seed", args.seed), saved.get("fmt", args.fmt)
        text = _section(saved["results"], saved["machine"], seed, fmt, args.note)
        _write_results(text, args.results)
        print(f"updated {args.results}")
        return 0
    machine = _machine()
    results = []
    for n in args.sizes:
        out = args.out / f"n{n}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [
            sys.executable,
            __file__,
            "--seed",
            str(args.seed),
            "--fmt",
            args.fmt,
            "--child",
            str(n),
            str(out),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            return proc.returncode
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(r)
        sys.stderr.write(
            f"{n:>9,} people: {r['wall_s']:.1f} s, peak RSS {r['peak_rss_gb']:.2f} GB, "
            f"{r['rows'].get('transactions', 0):,} transactions\n"
        )
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    if args.save_json:
        args.save_json.write_text(
            json.dumps(
                {"machine": machine, "seed": args.seed, "fmt": args.fmt, "results": results},
                indent=1,
            )
        )
    text = _section(results, machine, args.seed, args.fmt, args.note)
    if args.no_write:
        print(text)
    else:
        _write_results(text, args.results)
        print(f"updated {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
