"""Notebook 06's plan on a data folder: time and peak memory of each stage of ``run_action_parts``.

Run::

    .venv/bin/cx synth --customers 200000 --seed 7 --out /tmp/cx200k
    .venv/bin/python benchmarks/bench_action_crosssell.py /tmp/cx200k [--n-reference 5000]

Loads the folder as the series does (``transactions`` and ``events`` as backend tables on
private Parquet copies; the load is timed apart), then runs
:func:`cxlib.action._run.run_action_parts` once with the example catalogue (``--actions``;
default the checkout's example) and prints, per stage, its wall seconds and the process's peak
RSS during it (sampled every 0.05 s, and the RSS when it ends), and the CPU seconds the process
spent in it (every thread; steadier than wall seconds on a shared machine):

==========  ==========================================================================
affinity    ``category_affinity`` (basket pairs counted in the backend)
histories   the cross-sell's category histories fetched from the backend
            (``load_history`` / ``first_purchases`` calls, or ``load_histories``)
evaluation  the five candidates judged out of time (without the histories)
refit       the rest of ``choose_cross_sell_model``: the chosen candidate refitted
recommend   ``CrossSellModel.recommend`` for every customer
facts       ``customer_facts``
decision    ``decide``
other       the rest (touchpoint funnel, up-sell, export, catalogue)
==========  ==========================================================================

Stages are found by wrapping the functions ``run_action_parts`` calls (seconds exclude the
stages nested in them; a peak includes them), so the script runs unchanged on an older checkout
(``PYTHONPATH=<worktree>``). ``--n-reference`` passes ``params={"n_reference": N}`` to
``choose_cross_sell_model`` (the default leaves the model's own default). The process's peak
(``ru_maxrss``) and the RSS before the plan are printed too: their difference is what the plan
adds to the loaded data.
"""

from __future__ import annotations

import argparse
import functools
import logging
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from cxlib.action import _crosssell, _crosssell_eval, _run
from cxlib.contract import load_source

REPO = Path(__file__).resolve().parent.parent
GIB = 1024**3
STAGES = ("affinity", "histories", "evaluation", "refit", "recommend", "facts", "decision")


class Stages:
    """Wall time and peak RSS of named stages (nested stages count in their parents too)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.proc = psutil.Process()
        self.seconds: dict[str, float] = {}
        self.nested: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.nested_cpu: dict[str, float] = {}
        self.peak: dict[str, int] = {}
        self.active: list[str] = []
        self.stack: list[str] = []
        self.lock = threading.Lock()
        self.interval = interval
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            self._record()
            time.sleep(self.interval)

    def _record(self) -> None:
        rss = self.proc.memory_info().rss
        with self.lock:
            for name in self.active:
                self.peak[name] = max(self.peak.get(name, 0), rss)

    def wrap(
        self, name: str, func: Callable[..., Any], then: str | None = None
    ) -> Callable[..., Any]:
        """``func`` timed as stage ``name``; ``then``: a stage whose peak is followed from the
        end of ``func`` until the end of the enclosing stage (the refit after the evaluation)."""

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.active.append(name)
            self._record()
            self.stack.append(name)
            start, cpu_start = time.perf_counter(), time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                took = time.perf_counter() - start
                cpu = time.process_time() - cpu_start
                self.stack.pop()
                self.seconds[name] = self.seconds.get(name, 0.0) + took
                self.cpu[name] = self.cpu.get(name, 0.0) + cpu
                if self.stack:
                    parent = self.stack[-1]
                    self.nested[parent] = self.nested.get(parent, 0.0) + took
                    self.nested_cpu[parent] = self.nested_cpu.get(parent, 0.0) + cpu
                self._record()
                with self.lock:
                    self.active.remove(name)
                    if then is not None:
                        self.active.append(then)
                    elif name == "choose" and "refit" in self.active:
                        self.active.remove("refit")

        return timed


def instrument(stages: Stages, n_reference: int | None) -> None:
    """Wrap the functions of the plan's stages where ``run_action_parts`` looks them up."""
    choose = _run.choose_cross_sell_model
    if n_reference is not None:
        choose = functools.partial(choose, params={"n_reference": int(n_reference)})
    _run.choose_cross_sell_model = stages.wrap("choose", choose)
    # the evaluation: evaluate_cross_sell, or its part on loaded histories when there is one
    evaluation = "_evaluate" if hasattr(_crosssell_eval, "_evaluate") else "evaluate_cross_sell"
    setattr(
        _crosssell_eval,
        evaluation,
        stages.wrap("evaluation", getattr(_crosssell_eval, evaluation), then="refit"),
    )
    for module in (_crosssell_eval, _crosssell):
        for name in ("load_history", "load_histories", "first_purchases"):
            if hasattr(module, name):
                setattr(module, name, stages.wrap("histories", getattr(module, name)))
    _crosssell.CrossSellModel.recommend = stages.wrap(
        "recommend", _crosssell.CrossSellModel.recommend
    )
    _run.category_affinity = stages.wrap("affinity", _run.category_affinity)
    _run.customer_facts = stages.wrap("facts", _run.customer_facts)
    _run.decide = stages.wrap("decision", _run.decide)


def example_catalogue() -> Path:
    """The example offer catalogue of this checkout (it moved from docs/examples)."""
    for path in ("cxlib/synth/actions.yml", "data/sample/actions.yml", "docs/examples/actions.yml"):
        if (REPO / path).is_file():
            return REPO / path
    return REPO / "docs" / "examples" / "actions.yml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="a data folder (cx synth output)")
    ap.add_argument("--n-reference", type=int, default=None)
    ap.add_argument("--actions", default=str(example_catalogue()), help="the offer catalogue")
    ap.add_argument("--verbose", action="store_true", help="log cxlib.action at INFO")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    if args.verbose:
        logging.getLogger("cxlib.action").setLevel(logging.INFO)
    stages = Stages()
    start = time.perf_counter()
    data = load_source(
        args.folder,
        tables=("transactions", "events", "feedback", "customers", "products"),
        lazy=("transactions", "events"),
    )
    loaded = time.perf_counter() - start
    before = stages.proc.memory_info().rss
    print(f"load: {loaded:.1f} s, RSS {before / GIB:.2f} GiB", flush=True)
    instrument(stages, args.n_reference)
    start, cpu_start = time.perf_counter(), time.process_time()
    parts = _run.run_action_parts(
        data, data_dir=args.folder, options={"actions_file": args.actions}
    )
    total, total_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    data.close()
    seconds = {n: t - stages.nested.get(n, 0.0) for n, t in stages.seconds.items()}
    seconds["refit"] = seconds.pop("choose", 0.0)
    stages.peak.pop("choose", None)
    seconds["other"] = total - sum(seconds.get(s, 0.0) for s in STAGES)
    cpu = {n: t - stages.nested_cpu.get(n, 0.0) for n, t in stages.cpu.items()}
    cpu["refit"] = cpu.pop("choose", 0.0)
    cpu["other"] = total_cpu - sum(cpu.get(s, 0.0) for s in STAGES)
    print(f"{'stage':<11}{'seconds':>9}{'CPU s':>9}{'peak RSS GiB':>14}")
    for name in (*STAGES, "other"):
        peak = stages.peak.get(name)
        shown = f"{peak / GIB:14.2f}" if peak else f"{'':>14}"
        print(f"{name:<11}{seconds.get(name, 0.0):9.1f}{cpu.get(name, 0.0):9.1f}{shown}")
    process = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
    cross = parts.cross_sell
    n_recs = 0 if cross.recommendations is None else len(cross.recommendations)
    print(
        f"total {total:.1f} s ({total_cpu:.1f} CPU s); RSS before the plan {before / GIB:.2f} GiB, process peak "
        f"{process:.2f} GiB (+{process - before / GIB:.2f}); method {cross.method}, "
        f"{n_recs:,} recommendations",
        flush=True,
    )


if __name__ == "__main__":
    main()
