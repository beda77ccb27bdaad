"""How many threads the native libraries use: the one place that sets them.

Three pools, each sized for what it runs:

* **DuckDB** (every backend query: features, summaries, journeys …) runs on every CPU the
  process may use (:func:`duckdb_threads`): its large scans and aggregations gain from each core.
* **OpenMP** (scikit-learn's histogram gradient boosting) runs on :func:`model_threads` threads,
  chosen by the number of rows (:func:`openmp_threads`). Its results do not depend on the number
  of threads (histograms are built per feature, predictions per row; checked bit for bit in
  ``tests/test_threads.py``), only its speed does:

  - on a quiet two-core machine, two threads fit and predict 1.6-1.8x faster than one on large
    data (100,000 rows and more; ``benchmarks/RESULTS.md``);
  - on a loaded machine, busy-waiting OpenMP threads can make small fits many times slower than
    one thread, and small fits gain nothing from threads anyway.

  So the default, ``"auto"``, is one thread below :data:`MIN_ROWS_PER_THREAD` rows of work per
  extra thread and all of the process's CPUs (at most :data:`MAX_AUTO_THREADS`) above it.
* **BLAS** stays on one thread wherever cxlib calls it (:func:`one_blas_thread`,
  :func:`on_one_blas_thread`): the maximum-likelihood optimisers (BG/NBD with or without
  covariates, Gamma-Gamma), the logistic regression, the seasonal Poisson regression and k-means
  (its ``n_threads``, 1 by default; :func:`native_threads`) multiply small vectors thousands of
  times, which one thread does in microseconds. Multi-threaded
  OpenBLAS wakes its threads for each product: on CDNOW master (23,570 customers, daily) one
  product in the BG/NBD objective took 6.5 ms instead of 3 µs on a loaded two-core machine
  (issue #22), and the whole fit 139 ms instead of 23 ms (medians of 9, load average 1.6;
  ``benchmarks/RESULTS.md``). Busy-waiting BLAS threads made the logistic fit about 25x and
  k-means 20-40x slower than one thread. One thread also makes the sums, hence the estimates,
  independent of the machine's core count.

The environment variable ``CX_THREADS`` (a number) overrides DuckDB's and OpenMP's thread
counts, e.g. ``CX_THREADS=1`` for a scheduler that runs several reports side by side on one
machine.

The limits are set with :func:`threadpoolctl.threadpool_limits`, which scans the loaded native
libraries each time (5-10 ms): cheap beside a fit, and no state is kept between calls.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import ParamSpec, TypeVar

from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

THREADS_ENV = "CX_THREADS"
MIN_ROWS_PER_THREAD = 50_000
MAX_AUTO_THREADS = 8


P = ParamSpec("P")
R = TypeVar("R")

def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def _env_threads() -> int | None:
    """``CX_THREADS`` as a number of threads, None when unset (or not a number: logged)."""
    env = os.environ.get(THREADS_ENV, "").strip()
    if not env:
        return None
    try:
        return max(1, int(env))
    except ValueError:
        log.warning("%s=%r is not a number; using the default threads", THREADS_ENV, env)
        return None


def duckdb_threads() -> int:
    """Threads of an embedded DuckDB connection: ``CX_THREADS`` when set, else every CPU this
    process may run on (:func:`available_cpus`).

    Returns
    -------
    int
        At least 1.
    """
    env = _env_threads()
    return available_cpus() if env is None else env


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

    Returns
    -------
    int or None
        The threads, or None for the library default.
    """
    if n_threads is None or isinstance(n_threads, int):
        return n_threads
    if n_threads != "auto":
        raise ValueError(f"n_threads must be an int, None or 'auto', not {n_threads!r}")
    env = _env_threads()
    if env is not None:
        return env
    cap = min(available_cpus(), MAX_AUTO_THREADS)
    return int(max(1, min(cap, n_rows // MIN_ROWS_PER_THREAD)))


def openmp_threads(n_rows: int, n_threads: int | str | None = "auto") -> AbstractContextManager:
    """Context in which OpenMP runs on :func:`model_threads` threads and BLAS on one.

    Parameters
    ----------
    n_rows, n_threads
        As in :func:`model_threads`.
    """
    n = model_threads(n_rows, n_threads)
    limits: dict = {"blas": 1}
    if n is not None:
        limits["openmp"] = n
    return threadpool_limits(limits=limits)


def native_threads(n_threads: int | None) -> AbstractContextManager:
    """Context in which BLAS and OpenMP both run on ``n_threads`` threads.

    Parameters
    ----------
    n_threads : int or None
        Threads of every native pool; None leaves them as they are.
    """
    return threadpool_limits(limits=n_threads)


def one_blas_thread() -> AbstractContextManager:
    """Context in which BLAS runs on one thread (OpenMP and DuckDB untouched); on leaving it,
    the BLAS threads are back to what they were.

    For code that multiplies small vectors and matrices many times, e.g. a maximum-likelihood
    optimiser evaluating its objective and gradient (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> with one_blas_thread():
    ...     value = float(np.ones(3) @ np.ones(3))
    """
    return threadpool_limits(limits=1, user_api="blas")


def on_one_blas_thread(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator: ``func`` runs inside :func:`one_blas_thread` (looked up at each call)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with one_blas_thread():
            return func(*args, **kwargs)

    return wrapper
