"""The whole series on 4,000 distinct categories against the same table folded to 10 (issue #20).

One synthetic world (``cx synth``), written twice: once with every category split into 500 stock
codes (about 4,000 distinct values, as a real retailer's product codes), once with those codes
folded back to 10 categories. ``cx run`` on each, alternately, ``--rounds`` times; prints each
run's wall time, the medians and their ratio (issue #20 asks ≤ 1.5), and the largest report.

Usage::

    .venv/bin/python benchmarks/bench_high_cardinality.py --customers 20000 --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

BIN = Path(sys.executable).parent


def variants(root: Path, customers: int, seed: int) -> dict[str, Path]:
    """``codes`` (about 4,000 stock codes) and ``folded`` (10 categories) of one world."""
    base = root / "codes"
    subprocess.run(
        [BIN / "cx", "synth", "--customers", str(customers), "--seed", str(seed), "--out", base],
        check=True,
        capture_output=True,
    )
    tx = pd.read_csv(base / "transactions.csv", dtype=str, keep_default_na=False)
    has = tx["category"] != ""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 500, int(has.sum()))
    codes = [f"{c[:3].upper()}-{i:04d}" for c, i in zip(tx.loc[has, "category"], k, strict=True)]
    tx.loc[has, "category"] = codes
    tx.to_csv(base / "transactions.csv", index=False)
    folded = root / "folded"
    subprocess.run(["cp", "-r", str(base), str(folded)], check=True)
    tx.loc[has, "category"] = [f"group_{i % 10}" for i in k]
    tx.to_csv(folded / "transactions.csv", index=False)
    print(f"distinct categories: codes {len(set(codes)):,}, folded 10")
    return {"codes": base, "folded": folded}


def run_once(data: Path, out: Path) -> tuple[float, int]:
    """Wall seconds of ``cx run`` and the largest HTML report in bytes."""
    t0 = time.perf_counter()
    subprocess.run(
        [BIN / "cx", "run", "--data", str(data), "--out", str(out)], check=True, capture_output=True
    )
    seconds = time.perf_counter() - t0
    largest = max(p.stat().st_size for p in (out / "latest").resolve().rglob("*.html"))
    return seconds, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = variants(root, args.customers, args.seed)
        times: dict[str, list[float]] = {"codes": [], "folded": []}
        for r in range(args.rounds):
            for name, folder in data.items():
                seconds, largest = run_once(folder, root / f"out-{name}-{r}")
                times[name].append(seconds)
                print(f"round {r + 1} {name}: {seconds:.1f} s, largest report {largest / 1e6:.2f} MB")
        med = {k: statistics.median(v) for k, v in times.items()}
        print(
            f"median: codes {med['codes']:.1f} s, folded {med['folded']:.1f} s, "
            f"ratio {med['codes'] / med['folded']:.2f}"
        )


if __name__ == "__main__":
    main()
