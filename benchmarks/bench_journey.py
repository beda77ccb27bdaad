"""Benchmark the journey analysis (notebook 05 pipeline) on ~5,000,000 synthetic events.

Run: .venv/bin/python benchmarks/bench_journey.py [n_people]   (default 1,000,000 -> ~5M events)
Prints wall time per stage and the peak resident memory, with journey ids and as a plain
clickstream (customer_id, timestamp, touchpoint only). The generated pandas frames take the one
(Ibis) path: ``build_journeys`` registers them on an embedded DuckDB first.

Backend mode: .venv/bin/python benchmarks/bench_journey.py --backend /tmp/cx1m_valid
runs the notebook-05 pipeline on ``backend_table(<folder>/events.parquet)`` (DuckDB; the events
never come into pandas) with the feedback table from pandas, as notebook 05 does with
``load_source(..., lazy=("events",))``.

Build only (issue #18's "journeys from events on DuckDB" figure):
.venv/bin/python benchmarks/bench_journey.py --write-events 200000 /tmp/jperf/1m   writes the
events (and feedback) that ``generate_journeys`` makes for that many people (seed 0, as above)
as Parquet; then
.venv/bin/python benchmarks/bench_journey.py --build /tmp/jperf/1m [runs]   times
``build_journeys`` alone on ``backend_table(<folder>/events.parquet)`` (the notebooks' lazy
events; default settings), ``runs`` times (default 3) in one process, each on a fresh table,
and prints every run, the median and the spread.
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np
import pandas as pd

from cxlib import journey as jr
from cxlib.synth.journeys import generate_journeys


def pipeline(ev, fb) -> dict[str, float]:
    """The notebook-05 calls on events ``ev`` (pandas or backend) and feedback ``fb``."""
    stages = {}
    t0 = time.perf_counter()
    jd = jr.build_journeys(ev)
    stages["build"] = time.perf_counter()
    fbl = jr.link_feedback(jd, fb) if fb is not None else None
    stages["feedback"] = time.perf_counter()
    jr.top_paths(jd, 15)
    jr.transition_matrix(jd, min_share=0.01)
    jr.flow_table(jd, max_steps=4, top_n=5)
    for t_ in jd.journeys["journey_type"].astype(str).value_counts().index[:3]:
        jr.funnel(jd, t_)
    jr.outcome_summary(jd)
    jr.compare_outcomes(jd, min_journeys=10)
    stages["map"] = time.perf_counter()
    att = jr.attribution_table(jd, markov_order=1, n_boot=200, random_state=0)
    jr.attribution_export(att)
    stages["attribution (order 1, 200 bootstraps)"] = time.perf_counter()
    jr.friction_by_type(jd, fbl)
    jr.friction_by_touchpoint(jd, fbl)
    jr.priorities_export(jr.prioritise(jd, fbl))
    stages["friction + priorities"] = time.perf_counter()
    prev, parts = t0, []
    for k, v in stages.items():
        parts.append(f"{k} {v - prev:.1f} s")
        prev = v
    print(f"{jd.n_journeys:,} journeys; " + ", ".join(parts) + f"; total {prev - t0:.1f} s")
    return stages


def main_backend(folder: str) -> None:
    from pathlib import Path

    from cxlib.sources import backend_table

    t = time.perf_counter()
    ev = backend_table(Path(folder) / "events.parquet")
    fb = pd.read_parquet(Path(folder) / "feedback.parquet")
    print(
        f"backend events {int(ev.count().execute()):,} rows, feedback {len(fb):,} rows "
        f"(pandas) in {time.perf_counter() - t:.1f} s"
    )
    t = time.perf_counter()
    pipeline(ev, fb)
    print(f"wall {time.perf_counter() - t:.1f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:,.0f} MB")


def _people(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """The synthetic people the events are generated for (seeded by ``rng``)."""
    return pd.DataFrame(
        {
            "master_id": np.char.add("P", np.arange(n).astype(str)),
            "app_user": rng.random(n) < 0.4,
            "preferred_channel": rng.choice(["store", "web", "app"], n, p=[0.45, 0.3, 0.25]),
            "satisfaction": np.clip(rng.normal(3.6, 0.8, n), 1, 5),
            "avg_basket": rng.lognormal(3.7, 0.6, n),
        }
    )


def write_events(n: int, folder: str) -> None:
    """``generate_journeys`` for ``n`` people (seed 0, as :func:`main`) written as Parquet."""
    from pathlib import Path

    rng = np.random.default_rng(0)
    events, feedback, _ = generate_journeys(_people(n, rng), None, rng)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    events.to_parquet(out / "events.parquet", index=False)
    feedback.to_parquet(out / "feedback.parquet", index=False)
    print(f"{len(events):,} events, {len(feedback):,} feedback rows -> {out}")


def main_build(folder: str, runs: int = 3) -> None:
    """``build_journeys`` alone on the lazy events of ``folder``, ``runs`` times."""
    from pathlib import Path

    from cxlib.sources import backend_table

    times, cpu = [], []
    for i in range(runs):
        ev = backend_table(Path(folder) / "events.parquet")
        t, c = time.perf_counter(), time.process_time()
        with jr.build_journeys(ev) as jd:
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)  # all the process's threads (DuckDB's too)
            print(
                f"run {i + 1}: {jd.n_journeys:,} journeys, build {times[-1]:.2f} s "
                f"(CPU {cpu[-1]:.2f} s)",
                flush=True,
            )
    print(
        f"build_journeys: median {np.median(times):.2f} s, min {min(times):.2f} s, "
        f"max {max(times):.2f} s over {runs} runs; CPU median {np.median(cpu):.2f} s"
    )


def main(n: int = 1_000_000) -> None:
    rng = np.random.default_rng(0)
    people = _people(n, rng)
    t = time.perf_counter()
    events, feedback, _ = generate_journeys(people, None, rng)
    print(f"generate_journeys: {len(events):,} events in {time.perf_counter() - t:.1f} s")
    for label, ev, fb in [
        ("journey ids + feedback", events, feedback),
        ("plain clickstream", events[["customer_id", "timestamp", "touchpoint"]], None),
    ]:
        stages = {}
        t0 = time.perf_counter()
        jd = jr.build_journeys(ev)
        stages["build"] = time.perf_counter()
        fbl = jr.link_feedback(jd, fb) if fb is not None else None
        stages["feedback"] = time.perf_counter()
        jr.top_paths(jd, 15)
        jr.transition_matrix(jd, min_share=0.01)
        jr.flow_table(jd)
        for t_ in jd.journeys["journey_type"].astype(str).value_counts().index[:3]:
            jr.funnel(jd, t_)
        jr.compare_outcomes(jd)
        stages["map"] = time.perf_counter()
        jr.attribution_table(jd, markov_order=1, n_boot=200, random_state=0)
        stages["attribution (order 1, 200 bootstraps)"] = time.perf_counter()
        jr.friction_by_type(jd, fbl)
        jr.friction_by_touchpoint(jd, fbl)
        jr.prioritise(jd, fbl)
        stages["friction + priorities"] = time.perf_counter()
        prev, parts = t0, []
        for k, v in stages.items():
            parts.append(f"{k} {v - prev:.1f} s")
            prev = v
        print(
            f"{label}: {jd.n_journeys:,} journeys; "
            + ", ".join(parts)
            + f"; total {prev - t0:.1f} s"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:,.0f} MB")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--backend":
        main_backend(sys.argv[2])
    elif len(sys.argv) > 3 and sys.argv[1] == "--write-events":
        write_events(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) > 2 and sys.argv[1] == "--build":
        main_build(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 3)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
