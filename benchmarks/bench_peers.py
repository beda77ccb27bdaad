"""cxlib against its peers (issue #22): lifetimes, ChannelAttribution and hand-written DuckDB.

Run (times: hold the shared lock)::

    flock /tmp/cx-bench.lock .venv/bin/python benchmarks/bench_peers.py --quick
    flock /tmp/cx-bench.lock .venv/bin/python benchmarks/bench_peers.py            # full sizes
    flock /tmp/cx-bench.lock .venv/bin/python benchmarks/bench_peers.py --only bgnbd --rounds 7

The peers are not project dependencies: they are pip-installed into a scratch venv outside the
repository (``--venv``, default ``/tmp/cx-peers-venv``; created on first use, reused after) and
run there in a worker subprocess that loads its data once and then times one round per request,
so that the rounds of cxlib (in this process) and of the peer alternate. Each figure is the
median of ``--rounds`` rounds after one untimed warm-up round each. A peer that does not install
or import is reported and its comparison skipped; the others still run.

1. **BG/NBD** on CDNOW master (the file lifetimes ships, ``lifetimes/datasets/CDNOW_master.txt``:
   69,659 purchases of 23,570 customers), daily, observed to the last purchase day: cxlib's
   :func:`cxlib.churn.summary_from_transactions` + :class:`cxlib.churn.BetaGeoModel` against
   lifetimes 0.11.3's ``summary_data_from_transaction_data`` +
   ``BetaGeoFitter(penalizer_coef=0).fit``, default settings, the same transactions (with
   amounts: both summaries carry the monetary value). Also timed: cxlib with BLAS left on its
   default threads (the :func:`cxlib.threads.one_blas_thread` guard patched out: the behaviour
   before issue #22). Parameters compared by the largest relative difference (``rel_diff`` of
   ``bench_btyd.py``), summaries by their column totals.
2. **Markov attribution** (order 1): journeys built by :func:`cxlib.journey.build_journeys` from
   the events ``generate_journeys`` makes for ``--journey-people`` people (written once as
   Parquet by ``bench_journey.write_events``, seed 0); cxlib's
   ``MarkovAttribution(order=1).fit`` against ChannelAttribution's ``markov_model`` (default
   settings: simulation, one core) on the same distinct paths (non-conversion steps of each
   journey, with their conversion and null counts). ChannelAttribution is given the paths;
   cxlib's fit reads them from the journeys' steps in DuckDB, so a second figure adds the time
   of that export (the same query, :func:`distinct_paths`) to ChannelAttribution's. Shares of
   the conversions are compared with cxlib's exact solution (largest absolute difference).
3. **Customer features**: ``bench_features.py``'s cxlib run against its two hand-written DuckDB
   queries (every feature, core features) on the same Parquet, the same DuckDB threads
   (:func:`cxlib.threads.duckdb_threads`) and memory cap, values checked equal.

Prints the machine (CPUs, CPU model, RAM, Python, load average), the versions on both sides and a
table of median times and ratios (cxlib / peer); ``--markdown`` prints it as a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(tempfile.gettempdir()) / "cx-peers-data"

#: peer -> (distribution checked after the install, pip requirements, module imported)
PEERS = {
    "lifetimes": ("lifetimes", ["lifetimes==0.11.3"], "lifetimes"),
    # ChannelAttribution 2.x imports matplotlib without declaring it
    "ChannelAttribution": (
        "ChannelAttribution",
        ["ChannelAttribution", "matplotlib"],
        "ChannelAttribution",
    ),
}

WORKER = r"""
import json, os, sys, time, warnings
out = os.fdopen(os.dup(1), "w")  # results only; anything the libraries print goes to stderr
os.dup2(2, 1)
warnings.simplefilter("ignore")
import numpy as np
import pandas as pd
kind, path = sys.argv[1], sys.argv[2]
versions = {"numpy": np.__version__, "pandas": pd.__version__}
if kind == "lifetimes":
    import lifetimes
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import summary_data_from_transaction_data
    versions["lifetimes"] = lifetimes.__version__
    tx = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")

    def one_round():
        t0 = time.perf_counter()
        s = summary_data_from_transaction_data(
            tx, "customer_id", "date", monetary_value_col="dollar_value", freq="D"
        )
        f = BetaGeoFitter(penalizer_coef=0.0).fit(s["frequency"], s["recency"], s["T"])
        wall = time.perf_counter() - t0
        cols = ["frequency", "recency", "T", "monetary_value"]
        return {"wall_s": wall, "params": {k: float(v) for k, v in f.params_.items()},
                "totals": {c: float(s[c].sum()) for c in cols}, "customers": int(len(s))}
else:
    import ChannelAttribution as ca
    from importlib.metadata import version
    versions["ChannelAttribution"] = version("ChannelAttribution")
    paths = pd.read_csv(path)

    def one_round():
        t0 = time.perf_counter()
        res = ca.markov_model(paths, var_path="path", var_conv="total_conversions",
                              var_null="total_null", order=1, verbose=False, flg_pro=False)
        wall = time.perf_counter() - t0
        res = res["result"] if isinstance(res, dict) else res
        conv = dict(zip(res["channel_name"].astype(str), res["total_conversions"].astype(float)))
        return {"wall_s": wall, "conversions": conv}
out.write(json.dumps({"ready": True, "versions": versions}) + "\n")
out.flush()
for line in sys.stdin:
    out.write(json.dumps(one_round()) + "\n")
    out.flush()
"""


# -- the scratch venv and its workers -------------------------------------------------------------


def ensure_venv(venv: Path, peers: list[str]) -> dict[str, str]:
    """Create ``venv`` if needed and install the peers missing from it; returns peer -> ``ok``
    or the reason it is not available."""
    venv = venv.resolve()
    if venv.is_relative_to(ROOT):
        raise SystemExit(f"--venv {venv} is inside the repository; use a scratch folder")
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating the scratch venv {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    status = {}
    for peer in peers:
        dist, reqs, module = PEERS[peer]
        check = [str(python), "-c", f"import {module}"]
        ok = subprocess.run(check, capture_output=True).returncode == 0
        if not ok:
            print(f"installing {' '.join(reqs)} into {venv}", flush=True)
            pip = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *reqs], capture_output=True, text=True
            )
            res = subprocess.run(check, capture_output=True, text=True)
            ok = res.returncode == 0
            if not ok:
                lines = (pip.stderr.strip() or res.stderr.strip()).splitlines()
                status[peer] = f"not available ({lines[-1] if lines else 'no output'})"
                print(f"{peer}: {status[peer]}", flush=True)
                continue
        status[peer] = "ok"
    return status


class Worker:
    """A peer's worker process in the scratch venv: loads its data once, then one round per
    :meth:`run`."""

    def __init__(self, python: Path, kind: str, data: Path) -> None:
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [str(python), "-c", WORKER, kind, str(data)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.versions = self._read()["versions"]

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            lines = self.log.read().strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"worker exited ({self.proc.poll()})")
        return json.loads(line)

    def run(self) -> dict:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.log.close()


def alternate(rounds: int, runners: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """One untimed warm-up call of each runner, then ``rounds`` rounds calling each in turn;
    returns the wall seconds each runner reports."""
    for fn in runners.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in runners}
    for i in range(rounds):
        for name, fn in runners.items():
            times[name].append(fn())
        print(
            f"  round {i + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items()),
            flush=True,
        )
    return times


def _row(
    name: str, times: dict[str, list[float]], cx: str, peer: str, agreement: str, label: str = ""
) -> dict:
    """A line of the results table: the median times of runners ``cx`` and ``peer``."""
    a, b = statistics.median(times[cx]), statistics.median(times[peer])
    return {"comparison": name, "cxlib": cx, "peer": label or peer, "cxlib_s": a, "peer_s": b,
            "ratio": a / b, "agreement": agreement}  # fmt: skip


# -- 1. BG/NBD on CDNOW master ---------------------------------------------------------------------


def cdnow_master(python: Path) -> Path:
    """The CDNOW master file of the lifetimes package in the scratch venv."""
    code = "import lifetimes, os; print(os.path.dirname(lifetimes.__file__))"
    folder = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return Path(folder.stdout.strip()) / "datasets" / "CDNOW_master.txt"


def compare_bgnbd(python: Path, rounds: int) -> tuple[list[dict], dict]:
    """cxlib (guarded and not) and lifetimes: summary + BG/NBD fit on CDNOW master."""
    from bench_btyd import rel_diff  # same folder

    import cxlib.threads
    from cxlib.churn import BetaGeoModel, summary_from_transactions

    path = cdnow_master(python)
    tx = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    tx = pd.DataFrame(
        {
            "customer_id": tx["customer_id"],
            "timestamp": pd.to_datetime(tx["date"], format="%Y%m%d"),
            "amount": tx["dollar_value"],
        }
    )
    end = tx["timestamp"].max()
    print(f"BG/NBD: {path}, {len(tx):,} purchases, daily, observed to {end.date()}", flush=True)
    got: dict[str, Any] = {}

    def cx_round(guard: bool) -> float:
        off = mock.patch.object(cxlib.threads, "one_blas_thread", contextlib.nullcontext)
        with contextlib.nullcontext() if guard else off:
            t0 = time.perf_counter()
            s = summary_from_transactions(tx, end, freq="D")
            m = BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])
            wall = time.perf_counter() - t0
        got[guard] = (s, m)
        return wall

    def lt_round() -> float:
        got["lifetimes"] = worker.run()
        return got["lifetimes"]["wall_s"]

    runners: dict[str, Callable[[], float]] = {"cxlib": lambda: cx_round(True)}
    if hasattr(cxlib.threads, "one_blas_thread"):
        runners["cxlib, BLAS threads not limited"] = lambda: cx_round(False)
    worker = Worker(python, "lifetimes", path)
    try:
        runners["lifetimes"] = lt_round
        times = alternate(rounds, runners)
    finally:
        worker.close()
    s, m = got[True]
    cx = {k: float(v) for k, v in m.params_.items()}
    lt = got["lifetimes"]
    diff = rel_diff(lt["params"], cx)
    totals = {c: float(s[c].sum()) for c in lt["totals"]}
    same = len(s) == lt["customers"] and all(
        np.isclose(totals[c], lt["totals"][c], rtol=1e-12) for c in totals
    )
    print(f"  cxlib {cx}\n  lifetimes {lt['params']}\n  max relative difference {diff:.1e}")
    print(f"  summaries: {len(s):,} customers, totals {totals} ({'equal' if same else 'DIFFER'})")
    agree = f"parameters within {diff:.1e} relative; summaries {'equal' if same else 'differ'}"
    rows = [_row("BG/NBD summary + fit, CDNOW master (daily)", times, "cxlib", "lifetimes", agree)]
    if len(runners) == 3:
        off_name = "cxlib, BLAS threads not limited"
        rows.append(_row(rows[0]["comparison"], times, off_name, "lifetimes", "(before issue #22)"))
    return rows, worker.versions


# -- 2. Markov attribution ------------------------------------------------------------------------


def journey_events(people: int) -> Path:
    """Events of ``generate_journeys`` for ``people`` people as Parquet (written once)."""
    from bench_journey import write_events  # same folder

    folder = DATA_DIR / f"journeys_{people}"
    if not (folder / "events.parquet").exists():
        write_events(people, str(folder))
    return folder / "events.parquet"


def distinct_paths(jd: Any) -> pd.DataFrame:
    """The attribution paths of ``jd`` (each journey's non-conversion steps in order), one row
    per distinct path with its conversions and nulls; touchpoints as ``t<code>``."""
    st = jd.steps
    st = st.filter(~st["is_conversion"])
    per = (
        st.group_by("journey")
        .aggregate(path=st["tp"].cast("string").group_concat(",", order_by=st["pos"]))
        .to_pandas()
    )
    conv = jd.journeys["converted"].to_numpy(dtype=bool)[per["journey"].to_numpy()]
    per["conv"] = conv.astype(np.int64)
    out = per.groupby("path", sort=True)["conv"].agg(["sum", "count"]).reset_index()
    out["path"] = [">".join(f"t{c}" for c in p.split(",")) for p in out["path"]]
    return pd.DataFrame(
        {
            "path": out["path"],
            "total_conversions": out["sum"],
            "total_null": out["count"] - out["sum"],
        }
    )


def compare_markov(python: Path, rounds: int, people: int) -> tuple[list[dict], dict]:
    """cxlib's exact order-1 Markov attribution and ChannelAttribution's on the same paths."""
    from cxlib.journey import MarkovAttribution, build_journeys
    from cxlib.sources import backend_table

    events = journey_events(people)
    t0 = time.perf_counter()
    jd = build_journeys(backend_table(events))
    build = time.perf_counter() - t0
    paths = distinct_paths(jd)
    n_conv, n_null = int(paths["total_conversions"].sum()), int(paths["total_null"].sum())
    print(
        f"Markov: {events}; {jd.n_journeys:,} journeys built in {build:.1f} s; "
        f"{len(paths):,} distinct paths of {n_conv + n_null:,} journeys ({n_conv:,} converted)",
        flush=True,
    )
    got: dict[str, Any] = {}

    def cx_round() -> float:
        t = time.perf_counter()
        got["cxlib"] = MarkovAttribution(order=1).fit(jd)
        return time.perf_counter() - t

    def ca_round() -> float:
        got["ca"] = worker.run()
        return got["ca"]["wall_s"]

    def export_and_ca_round() -> float:
        t = time.perf_counter()
        distinct_paths(jd)  # what cxlib's fit also does: the paths out of the backend
        return time.perf_counter() - t + ca_round()

    runners = {
        "cxlib": cx_round,
        "ChannelAttribution": ca_round,
        "path export + ChannelAttribution": export_and_ca_round,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="cx-peers-") as tmp:
            csv = Path(tmp) / "paths.csv"
            paths.to_csv(csv, index=False)
            worker = Worker(python, "ChannelAttribution", csv)  # reads the paths at start
        try:
            times = alternate(rounds, runners)
        finally:
            worker.close()
    finally:
        jd.close()
    mk = got["cxlib"]
    names = list(jd.params["touchpoints"])
    exact = pd.Series(mk.removal_effects_ / mk.removal_effects_.sum(), index=mk.touchpoints_)
    ca = pd.Series(got["ca"]["conversions"])
    ca.index = [names[int(k[1:])] for k in ca.index]
    ca = (ca / ca.sum()).reindex(exact.index).fillna(0.0)
    diff = float((exact - ca).abs().max())
    table = pd.DataFrame({"cxlib (exact)": exact, "ChannelAttribution": ca})
    print(table.sort_values("cxlib (exact)", ascending=False).round(4).to_string())
    print(f"  shares: largest absolute difference {diff:.4f} (cxlib exact vs simulation)")
    agree = f"shares within {diff * 100:.2f} points of cxlib's exact solution"
    name = f"Markov attribution, order 1 ({jd.n_journeys:,} journeys, {len(paths):,} paths)"
    rows = [
        _row(name, times, "cxlib", "ChannelAttribution", agree, "ChannelAttribution `markov_model`"),
        _row(name, times, "cxlib", "path export + ChannelAttribution", agree,
             "the distinct paths out of DuckDB + ChannelAttribution `markov_model`"),
    ]  # fmt: skip
    return rows, worker.versions


# -- 3. customer features --------------------------------------------------------------------------


def compare_features(rounds: int, csv: Path, parquet: Path | None) -> list[dict]:
    """``bench_features.py``'s cxlib run against its hand-written DuckDB queries."""
    import bench_features as bf  # same folder

    from cxlib.engine import duckdb_memory_limit
    from cxlib.threads import duckdb_threads

    threads, memory = duckdb_threads(), duckdb_memory_limit()
    if parquet is None:
        parquet = DATA_DIR / f"features_{csv.parent.name}_{csv.stem}.parquet"
    if not parquet.exists():
        parquet.parent.mkdir(parents=True, exist_ok=True)
        bf.make_parquet(csv, parquet, threads, memory)
    n_rows, as_of = bf.parquet_as_of(parquet)
    print(f"features: {parquet}, {n_rows:,} rows, as of {as_of.date()}, threads {threads}")
    got: dict[str, pd.DataFrame] = {}

    def runner(name: str, fn: Callable[..., pd.DataFrame]) -> Callable[[], float]:
        def run() -> float:
            t = time.perf_counter()
            got[name] = fn(parquet, as_of, threads, memory)
            return time.perf_counter() - t

        return run

    times = alternate(
        rounds,
        {
            "cxlib": runner("cxlib", bf.run_cxlib),
            "hand-written, every feature": runner("full", lambda *a: bf.run_hand(*a, full=True)),
            "hand-written, core": runner("core", lambda *a: bf.run_hand(*a, full=False)),
        },
    )
    rows = []
    for key, peer in (("full", "hand-written, every feature"), ("core", "hand-written, core")):
        shared = bf.check_equal(got["cxlib"], got[key])
        agree = f"{len(shared)} shared columns equal (1e-9)"
        name = f"customer features ({n_rows:,} transactions, {len(got['cxlib']):,} customers)"
        rows.append(_row(name, times, "cxlib", peer, agree, f"DuckDB SQL {peer}"))
    return rows


# -- report ----------------------------------------------------------------------------------------


def machine() -> str:
    """CPUs, CPU model, RAM, Python, load average and BLAS of this process."""
    from threadpoolctl import threadpool_info

    from cxlib.threads import available_cpus

    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram = f"{kib / 2**20:.0f} GiB"
    blas = sorted({f"{p['internal_api']} {p['num_threads']} threads" for p in threadpool_info()})
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.system()} {platform.machine()}, {available_cpus()} CPUs available "
        f"({os.cpu_count()} online), {cpu}, {ram} RAM, Python {platform.python_version()}; "
        f"native pools by default: {', '.join(blas)}; load average {load}"
    )


def versions() -> str:
    import duckdb
    import ibis
    import scipy
    import threadpoolctl

    import cxlib

    return (
        f"cxlib {getattr(cxlib, '__version__', '?')}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, pandas {pd.__version__}, duckdb {duckdb.__version__}, ibis "
        f"{ibis.__version__}, threadpoolctl {threadpoolctl.__version__}"
    )


def print_table(rows: list[dict], rounds: int, markdown: bool) -> None:
    if markdown:
        print("\n| comparison | cxlib | peer | cxlib s | peer s | cxlib / peer | agreement |")
        print("|---|---|---|---:|---:|---:|---|")
        for r in rows:
            print(
                f"| {r['comparison']} | {r['cxlib']} | {r['peer']} | {r['cxlib_s']:.3f} | "
                f"{r['peer_s']:.3f} | {r['ratio']:.2f} | {r['agreement']} |"
            )
        print(f"\nMedians of {rounds} alternating rounds after one warm-up round each.")
        return
    print(f"\nmedians of {rounds} alternating rounds (after one warm-up round each):")
    for r in rows:
        print(
            f"{r['comparison']}: {r['cxlib']} {r['cxlib_s']:.3f} s, {r['peer']} "
            f"{r['peer_s']:.3f} s, ratio {r['ratio']:.2f}; {r['agreement']}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, default=Path("/tmp/cx-peers-venv"))
    ap.add_argument("--only", default="bgnbd,markov,features", help="comma-separated subset")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="small sizes (Markov: 10,000 people)")
    ap.add_argument(
        "--journey-people", type=int, default=None, help="default 700,000 (~1 M journeys)"
    )
    ap.add_argument("--features-csv", type=Path, default=ROOT / "data/sample/transactions.csv")
    ap.add_argument("--features-parquet", type=Path, default=None, help="typed Parquet")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    people = args.journey_people or (10_000 if args.quick else 700_000)
    print(f"machine: {machine()}\ncxlib side: {versions()}\ndate: {time.strftime('%F %T %Z')}")
    needed = [
        p for k, p in (("bgnbd", "lifetimes"), ("markov", "ChannelAttribution")) if k in parts
    ]
    status = ensure_venv(args.venv, needed)
    python = args.venv.resolve() / "bin" / "python"
    rows: list[dict] = []
    peer_versions: dict[str, str] = {}
    steps = {
        "bgnbd": ("lifetimes", lambda: compare_bgnbd(python, args.rounds)),
        "markov": ("ChannelAttribution", lambda: compare_markov(python, args.rounds, people)),
        "features": (None, lambda: (compare_features(args.rounds, args.features_csv,
                                                     args.features_parquet), {})),
    }  # fmt: skip
    for part in parts:
        peer, fn = steps[part]
        if peer is not None and status.get(peer) != "ok":
            print(f"{part}: skipped, {peer} {status.get(peer)}")
            continue
        try:
            got, ver = fn()
        except RuntimeError as exc:  # a worker that failed to start or crashed
            print(f"{part}: skipped, the {peer} worker failed: {exc}")
            continue
        rows += got
        peer_versions.update(ver)
    print(f"\npeer side ({args.venv}): {', '.join(f'{k} {v}' for k, v in peer_versions.items())}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print_table(rows, args.rounds, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
