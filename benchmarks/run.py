"""End-to-end benchmark: ``cx synth`` at several sizes, then the full ``cx run``.

Measures per notebook the wall time and the peak resident memory (RSS) of its kernel, the
end-to-end total, and the ratio of each size to the previous one; appends a Markdown table to
``benchmarks/RESULTS.md`` with a description of the machine.

Usage::

    .venv/bin/python benchmarks/run.py --sizes 10000 100000 [--keep DIR] [--only 01,02]

Sizes are numbers of synthetic people (about 25-30 transactions and 5 events each).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, "
        f"{mem:.0f} GiB RAM, Python {platform.python_version()}"
    )


class TreeSampler(threading.Thread):
    """Sample the RSS of every descendant process of ``pid`` every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak: dict[int, int] = {}
        self.total_peak = 0  # largest sum of the RSS of the whole process tree
        self.first_seen: dict[int, float] = {}
        self.cmd: dict[int, str] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    if p.pid not in self.first_seen:
                        self.first_seen[p.pid] = time.perf_counter()
                        self.cmd[p.pid] = " ".join(p.cmdline()[:4])
                except psutil.Error:
                    continue
                self.peak[p.pid] = max(self.peak.get(p.pid, 0), rss)
                total += rss
            self.total_peak = max(self.total_peak, total)
            time.sleep(self.interval)

    def kernels(self) -> list[int]:
        """Peak RSS of each kernel process, in start order."""
        pids = [p for p in self.first_seen if "ipykernel" in self.cmd.get(p, "")]
        return [self.peak[p] for p in sorted(pids, key=self.first_seen.get)]


def timed(cmd: list[str], cwd: Path) -> tuple[float, int, TreeSampler, int]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    _, err = proc.communicate()
    sampler.stop.set()
    sampler.join()
    if proc.returncode not in (0, 1):
        sys.stderr.write(err.decode(errors="replace"))
    peak = max(sampler.peak.values(), default=0)
    return time.perf_counter() - t0, peak, sampler, proc.returncode


def bench(
    size: int, work: Path, only: str | None, reuse: bool = False, given: Path | None = None
) -> dict:
    data = given or work / f"data_{size}"
    out = work / f"reports_{size}"
    if given is not None or (reuse and (data / "transactions.csv").exists()):
        synth_s, synth_rss = float("nan"), 0  # data kept from an earlier run
    else:
        synth_s, synth_rss, _, rc = timed(
            [str(BIN / "cx"), "synth", "--customers", str(size), "--seed", "1", "--out", str(data)],
            REPO,
        )
        if rc != 0:
            raise SystemExit(f"cx synth failed for {size}")
    rows = {}
    for name in ("transactions", "events", "customers"):
        f = data / f"{name}.csv"
        if f.exists():
            with f.open("rb") as fh:
                rows[name] = sum(1 for _ in fh) - 1
    cmd = [str(BIN / "cx"), "run", "--data", str(data), "--out", str(out)]
    if only:
        cmd += ["--only", only]
    run_s, _, sampler, rc = timed(cmd, REPO)
    manifest = json.loads((out / "latest" / "manifest.json").read_text())
    kernels = iter(sampler.kernels())
    notebooks = []
    for nb in manifest["notebooks"]:
        rss = next(kernels, 0) if nb["status"] != "skipped" else 0
        notebooks.append(
            {
                "name": nb["name"],
                "status": nb["status"],
                "wall_s": nb.get("duration_s", 0.0),
                "peak_rss_gib": rss / 2**30,
            }
        )
    return {
        "size": size,
        "rows": rows,
        "synth_s": synth_s,
        "synth_peak_gib": synth_rss / 2**30,
        "run_s": run_s,
        "runner_peak_gib": sampler.peak.get(sampler.root.pid, 0) / 2**30,
        "tree_peak_gib": sampler.total_peak / 2**30,
        "exit_code": rc,
        "notebooks": notebooks,
    }


def to_markdown(results: list[dict], command: str) -> str:
    lines = [
        f"### End-to-end run, {time.strftime('%Y-%m-%d')}",
        "",
        f"Machine: {machine()}.",
        f"Command: `{command}`",
        "",
        "| people | transactions | events | step | status | wall s | peak RSS GiB | × previous size |",
        "|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    prev: dict[str, float] = {}
    for r in results:
        steps = []
        if r["synth_s"] == r["synth_s"]:  # not NaN: generated in this run
            steps.append(("cx synth", "ok", r["synth_s"], r["synth_peak_gib"]))
        steps += [(n["name"], n["status"], n["wall_s"], n["peak_rss_gib"]) for n in r["notebooks"]]
        steps += [("cx run total", "exit " + str(r["exit_code"]), r["run_s"], float("nan"))]
        for name, status, wall, rss in steps:
            ratio = f"{wall / prev[name]:.1f}" if prev.get(name) else ""
            rss_txt = "" if rss != rss else f"{rss:.2f}"  # NaN check
            lines.append(
                f"| {r['size']:,} | {r['rows'].get('transactions', 0):,} | "
                f"{r['rows'].get('events', 0):,} | {name} | {status} | {wall:.1f} | {rss_txt} | "
                f"{ratio} |"
            )
            prev[name] = wall
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--keep", help="folder for data and reports (default: a temporary folder)")
    ap.add_argument("--only", help="run only these notebooks, e.g. 01,02")
    ap.add_argument("--no-write", action="store_true", help="print, do not append to RESULTS.md")
    ap.add_argument("--reuse-data", action="store_true", help="keep data generated in --keep")
    ap.add_argument("--data", help="run on this existing data folder (one size; nothing generated)")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cxbench-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for size in args.sizes:
        print(f"benchmarking {size:,} people in {work} …", file=sys.stderr, flush=True)
        given = Path(args.data) if args.data else None
        results.append(bench(size, work, args.only, args.reuse_data, given))
        print(json.dumps(results[-1], indent=1), file=sys.stderr)
    command = "python benchmarks/run.py --sizes " + " ".join(map(str, args.sizes))
    if args.only:
        command += f" --only {args.only}"
    if args.data:
        command += f" --data {args.data}"
    md = to_markdown(results, command)
    print(md)
    if not args.no_write:
        with (HERE / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write("\n" + md)


if __name__ == "__main__":
    main()
