"""The next-best-action decision at 1 M customers: time and peak memory of the plan.

Run::

    .venv/bin/python benchmarks/bench_action_decide.py [--customers 1000000] [--seed 0]

Builds a facts table shaped like the series' (every fact of ``cxlib.action._rules.FACTS``,
nullable dtypes; the generator of ``tests/test_action_decide.py``) for ``--customers`` customers
in pandas, and the example catalogue (``cxlib/synth/actions.yml``) with its weekly caps scaled
from the sample's 5,163 customers to this size. Then times :func:`cxlib.action._decide.decide`
end to end as a notebook calls it (the frame registered on a DuckDB engine, the rules evaluated
there, the pairs fetched, the solver, the plan) in two cases:

- ``uplift``: the retention voucher's lift is the campaign model's estimate, one value per
  customer: the exact programme is too large and the greedy rule runs;
- ``assumed``: every lift is the catalogue's assumed take rate: customers with the same offers
  are interchangeable and the exact solver runs on their types.

Prints per case: wall seconds, the process's peak RSS during the case (sampled every 0.1 s and
from ``ru_maxrss``), the solver, the candidate pairs, contacts, value and gap.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import resource
import sys
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

from test_action_decide import SAMPLE_CUSTOMERS, synthetic_facts  # noqa: E402

from cxlib.action._catalogue import Catalogue, load_catalogue  # noqa: E402
from cxlib.action._decide import decide  # noqa: E402
from cxlib.engine import Engine  # noqa: E402

GIB = 1024**3


class Peak:
    """Peak RSS of this process, sampled in a thread; ``reset()`` starts a new case."""

    def __init__(self, interval: float = 0.1) -> None:
        self.proc = psutil.Process()
        self.interval = interval
        self.step = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            self.step = max(self.step, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def reset(self) -> None:
        self.step = self.proc.memory_info().rss


def scaled(catalogue: Catalogue, factor: float, assumed: bool) -> Catalogue:
    """The catalogue with its weekly caps scaled by ``factor`` (and, with ``assumed``, no
    offer taking its lift from the uplift model)."""
    offers = tuple(
        dataclasses.replace(
            o,
            max_per_week=None if o.max_per_week is None else round(o.max_per_week * factor),
            uplift_fact=None if assumed else o.uplift_fact,
        )
        for o in catalogue.offers
    )
    return dataclasses.replace(catalogue, offers=offers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget-per-customer", type=float, default=0.05)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    peak = Peak()
    t0 = time.perf_counter()
    facts = synthetic_facts(args.customers, seed=args.seed)
    print(
        f"facts: {len(facts):,} customers in {time.perf_counter() - t0:.1f} s, "
        f"RSS {peak.proc.memory_info().rss / GIB:.2f} GiB",
        flush=True,
    )
    example = load_catalogue(REPO / "cxlib" / "synth" / "actions.yml")
    factor = args.customers / SAMPLE_CUSTOMERS
    budget = args.budget_per_customer * args.customers
    for case in ("uplift", "assumed"):
        catalogue = scaled(example, factor, assumed=case == "assumed")
        peak.reset()
        start = time.perf_counter()
        with Engine() as engine:
            decision = decide(
                facts, catalogue, engine=engine, budget=budget, max_contacts_per_customer=2
            )
        wall = time.perf_counter() - start
        peak.step = max(peak.step, peak.proc.memory_info().rss)
        process = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
        gap = "n/a" if decision.gap_ is None else f"{decision.gap_:.4%}"
        print(
            f"{case:<8} {wall:6.1f} s  case peak RSS {peak.step / GIB:5.2f} GiB  "
            f"process peak {process:5.2f} GiB  solver {decision.solver_}  "
            f"pairs {decision.n_candidates_:,}  contacts {decision.contacts_:,}  "
            f"value {decision.value_:,.0f}  cost {decision.budget_used_:,.0f} of {budget:,.0f}  "
            f"gap {gap}",
            flush=True,
        )


if __name__ == "__main__":
    main()
