"""Nested wall time and RSS profile of ``cxlib.synth.generate`` (finer than ``bench_synth.py``).

Wraps the generator's steps and the big inner functions (campaign history, defect injection per
table and per column, writing per file) and prints, for each call, its time and RSS before,
after and at the peak (sampled every 10 ms with psutil), then the process's peak RSS
(``ru_maxrss``). Used to find the memory peaks at 1,000,000 people; run it in a fresh process::

    flock /tmp/cx-bigmem.lock .venv/bin/python benchmarks/profile_synth.py 1000000 /tmp/out
"""

from __future__ import annotations

import functools
import resource
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cxlib.synth as synth  # noqa: E402
from cxlib.synth import (  # noqa: E402
    _feedback,
    _people,
    _purchases,
    _records,
    _truth,
    _write,
    campaign,
    defects,
    journeys,
)

PROC = psutil.Process()
PEAK = [0]
DEPTH = [0]
T0 = time.perf_counter()
WRAPPED = [
    (_people, ["make_people"]),
    (_records, ["make_records"]),
    (_purchases, ["make_transactions"]),
    (_feedback, ["make_service_feedback"]),
    (campaign, ["generate_campaign", "_history_before", "_person_index"]),
    (journeys, ["generate_journeys"]),
    (defects, ["inject_defects", "_inject_table", "_apply_edits", "_apply_number_text_edits"]),
    (defects, ["_as_text_column", "_take_rows", "_choose", "_orphan_ids", "_isin"]),
    (_write, ["write_table", "_write_csv"]),
    (_truth, ["_truth_customers"]),
]


def _sample() -> None:
    while True:
        PEAK[0] = max(PEAK[0], PROC.memory_info().rss)
        time.sleep(0.01)


def _label(name: str, args: tuple) -> str:
    if name == "_inject_table":
        return str(args[0])
    if name == "write_table":
        return Path(args[1]).name
    if name in ("_apply_edits", "_apply_number_text_edits", "_as_text_column"):
        return str(args[1])
    return ""


def _wrap(mod, name: str) -> None:
    fn = getattr(mod, name)

    @functools.wraps(fn)
    def inner(*args, **kwargs):
        before = PROC.memory_info().rss
        outer_peak, PEAK[0] = PEAK[0], before
        t = time.perf_counter()
        DEPTH[0] += 1
        try:
            return fn(*args, **kwargs)
        finally:
            DEPTH[0] -= 1
            after = PROC.memory_info().rss
            peak = max(PEAK[0], after)
            print(
                f"{time.perf_counter() - T0:7.1f}s {'  ' * DEPTH[0]}{name} {_label(name, args)}: "
                f"{time.perf_counter() - t:6.1f}s  rss {before / 2**30:.2f}->{after / 2**30:.2f}"
                f" peak {peak / 2**30:.2f} GiB",
                flush=True,
            )
            PEAK[0] = max(outer_peak, peak)

    setattr(mod, name, inner)


def main(argv: list[str]) -> int:
    n, out = int(argv[0]), argv[1]
    fmt = argv[2] if len(argv) > 2 else "csv"
    threading.Thread(target=_sample, daemon=True).start()
    for mod, names in WRAPPED:
        for name in names:
            _wrap(mod, name)
    synth.generate(n, 1, out, fmt=fmt)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"TOTAL {time.perf_counter() - T0:.1f}s, CPU {usage.ru_utime + usage.ru_stime:.1f}s, "
        f"peak RSS {usage.ru_maxrss / 2**20:.2f} GiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
