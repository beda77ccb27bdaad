"""How many native (OpenMP) threads the gradient-boosting models use.

scikit-learn's histogram gradient boosting fits and predicts on OpenMP threads. Its results do
not depend on the number of threads (histograms are built per feature, predictions per row;
checked bit for bit in ``tests/test_threads.py``), only its speed does:

* on a quiet two-core machine, two threads fit and predict 1.6-1.8x faster than one on large
  data (100,000 rows and more; ``benchmarks/RESULTS.md``);
* on a loaded machine, busy-waiting OpenMP threads can make small fits many times slower than
  one thread, and small fits gain nothing from threads anyway.

So the default, ``"auto"``, is one thread below :data:`MIN_ROWS_PER_THREAD` rows of work per
extra thread and all of the process's CPUs (at most :data:`MAX_AUTO_THREADS`) above it. The
environment variable ``CX_THREADS`` (a number) overrides it, e.g. ``CX_THREADS=1`` for a
scheduler that runs several reports side by side on one machine.

BLAS (the logistic regression, k-means) stays on one thread: it is fast there and its sums
would otherwise depend on the thread count.
"""

from __future__ import annotations

import logging
import os
from contextlib import AbstractContextManager

from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

THREADS_ENV = "CX_THREADS"
MIN_ROWS_PER_THREAD = 50_000
MAX_AUTO_THREADS = 8


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def model_threads(n_rows: int, n_threads: int | str | None = "auto") -> int | None:
    """Number of OpenMP threads for a model fit or prediction over ``n_rows`` rows.

    Parameters
    ----------
    n_rows : int
        Rows of the fit or prediction.
    n_threads : int, "auto" or None
        A number is used as given; None leaves the library default (all CPUs); ``"auto"``
        (default) follows ``CX_THREADS`` when set, else one thread per
        :data:`MIN_ROWS_PER_THREAD` rows, between 1 and the available CPUs.
    """
    if n_threads is None or isinstance(n_threads, int):
        return n_threads
    if n_threads != "auto":
        raise ValueError(f"n_threads must be an int, None or 'auto', not {n_threads!r}")
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            log.warning("%s=%r is not a number; using 'auto' threads", THREADS_ENV, env)
    cap = min(available_cpus(), MAX_AUTO_THREADS)
    return int(max(1, min(cap, n_rows // MIN_ROWS_PER_THREAD)))


def openmp_threads(n_rows: int, n_threads: int | str | None = "auto") -> AbstractContextManager:
    """Context in which OpenMP runs on :func:`model_threads` threads and BLAS on one."""
    n = model_threads(n_rows, n_threads)
    limits: dict = {"blas": 1}
    if n is not None:
        limits["openmp"] = n
    return threadpool_limits(limits=limits)
