"""Time notebook 04's cross-fitted uplift models (``fit_uplift_models``) on a campaign file.

Run (hold the shared lock; compare two commits by running the same command under each)::

    .venv/bin/cx synth --customers 200000 --seed 7 --out /tmp/cx-uplift-200k
    flock /tmp/cx-bench.lock .venv/bin/python benchmarks/bench_uplift_fits.py \\
        /tmp/cx-uplift-200k/campaign.csv --rounds 2 --label new
    flock /tmp/cx-bench.lock env PYTHONPATH=<checkout of the previous commit> \\
        .venv/bin/python benchmarks/bench_uplift_fits.py /tmp/cx-uplift-200k/campaign.csv \\
        --rounds 2 --label previous

The campaign goes through the library as notebook 04 takes it (``load_source``, one row per
customer, ``describe_campaign``, ``covariate_matrix``); then ``fit_uplift_models`` with the
notebook's settings (5 folds, 200 bootstrap resamples, seed 42) is timed ``--rounds`` times.
Prints each round, the median, the folds used, whether the training cap thinned the rows, the
number of gradient-boosting fits and a digest of the scores (equal digests: equal numbers).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("campaign", type=Path, help="campaign.csv (or .parquet) of a data folder")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--label", default="cxlib")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")

    import cxlib
    from cxlib import uplift as U
    from cxlib.contract import load_source

    data = load_source(args.campaign.parent, tables=("campaign",))
    campaign = data.tables["campaign"].drop_duplicates("customer_id").reset_index(drop=True)
    spec = U.describe_campaign(campaign)
    X = U.covariate_matrix(campaign, spec.covariates)
    counts = {"fits": 0}
    for cls in (HistGradientBoostingClassifier, HistGradientBoostingRegressor):
        real = cls.fit

        def counted(self, *a, _real=real, **k):
            counts["fits"] += 1
            return _real(self, *a, **k)

        cls.fit = counted
    print(
        f"{args.label}: cxlib from {Path(cxlib.__file__).parent}; {len(campaign):,} campaign "
        f"customers, arms {list(spec.arms)}, {X.shape[1]} covariates; nproc {os.cpu_count()}, "
        f"python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    times = []
    for r in range(args.rounds):
        counts["fits"] = 0
        t0 = time.perf_counter()
        res = U.fit_uplift_models(campaign, X, n_folds=5, n_bootstrap=200, random_state=42)
        times.append(time.perf_counter() - t0)
        cols = [c for c in res.scores.columns if "|" in c]
        digest = hashlib.sha256(
            np.ascontiguousarray(res.scores[cols].to_numpy(dtype=float)).tobytes()
        ).hexdigest()[:16]
        print(
            f"{args.label} round {r + 1}: {times[-1]:.1f} s, {res.n_folds} folds, training cap "
            f"{'applied' if res.train_cap else 'not reached'}, {counts['fits']} boosting fits, "
            f"scores {digest}",
            flush=True,
        )
    print(f"{args.label}: median {statistics.median(times):.1f} s over {len(times)} rounds")
    data.close()


if __name__ == "__main__":
    sys.exit(main())
