"""Customer features through cxlib (Ibis on DuckDB) vs a hand-written DuckDB query, same Parquet.

Run (large: hold the shared lock)::

    flock /tmp/cx-bigmem.lock .venv/bin/python benchmarks/bench_features.py \\
        --csv /tmp/cx1m/transactions.csv --parquet /tmp/cx1m_tx.parquet --repeats 3

When ``--parquet`` does not exist it is first made from ``--csv`` with DuckDB: typed columns
(timestamp, double), only rows whose customer id, timestamp and amount are valid (what the
contract accepts in substance). Then, alternating, ``--repeats`` times each:

- **cxlib**: ``customer_features(ibis.duckdb.connect().read_parquet(path), as_of)`` — every
  feature of ``docs/features.md`` (25 columns), computed in DuckDB, returned as a pandas frame;
- **hand-written SQL**: one DuckDB query with the same definitions (exact duplicates once,
  line items combined per ``transaction_id``, refunds, window bounds, label normalisation) for
  the core features: recency, frequency, monetary, tenure, average basket, purchase rate and
  channel shares, fetched as a pandas frame.

Both use a fresh DuckDB connection with the same ``threads`` and ``memory_limit``. Prints the
wall times, their medians and the ratio cxlib / hand-written (target ≤ 1.5), checks that the
shared columns agree, and the process's peak RSS. ``--markdown`` prints a results table.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from cxlib.features import CHANNEL_SYNONYMS, customer_features, window_bounds


def _spill_dir() -> str:
    """A private folder for DuckDB's spill files (its default, ``.tmp`` in the working
    directory, would fill the repository); removed at exit."""
    import atexit
    import shutil
    import tempfile

    d = tempfile.mkdtemp(prefix="cx-bench-spill-")
    atexit.register(shutil.rmtree, d, True)
    return d


def make_parquet(csv: Path, out: Path, threads: int, memory_limit: str) -> None:
    """Typed Parquet of the valid transaction rows of a ``cx synth`` CSV."""
    con = duckdb.connect(
        config={"threads": threads, "memory_limit": memory_limit, "temp_directory": _spill_dir()}
    )
    con.execute("SET enable_progress_bar = false")
    con.execute(
        f"""
        COPY (
          SELECT * FROM (
            SELECT nullif(trim(transaction_id), '') AS transaction_id,
                   nullif(trim(customer_id), '') AS customer_id,
                   try_cast(timestamp AS TIMESTAMP) AS timestamp,
                   try_cast(amount AS DOUBLE) AS amount,
                   nullif(channel, '') AS channel,
                   nullif(category, '') AS category,
                   nullif(store_id, '') AS store_id,
                   try_cast(quantity AS DOUBLE) AS quantity,
                   nullif(source_system, '') AS source_system
            FROM read_csv('{csv}', all_varchar = true, header = true)
          )
          WHERE customer_id IS NOT NULL AND timestamp IS NOT NULL
            AND amount IS NOT NULL AND isfinite(amount)
        ) TO '{out}' (FORMAT parquet)
        """
    )
    con.close()


#: Labels the hand-written query knows in advance (the synthetic data's, after normalisation).
CHANNELS = ("app", "store", "web", "unknown")
CATEGORIES = (
    "beauty", "convenience", "electronics", "fashion", "grocery", "home", "sports", "toys",
    "unknown",
)  # fmt: skip


def hand_sql(path: Path, as_of: pd.Timestamp, full: bool, lookback_days: int = 365) -> str:
    """The features as one DuckDB query, written by hand from ``docs/features.md``.

    ``full=False``: the core features (recency, frequency, monetary, tenure, average basket,
    purchase rate, channel shares). ``full=True``: every column ``customer_features`` returns
    (adds interval regularity with a window over distinct purchase days, trend, purchase count,
    category, time-of-day and weekend shares).
    """
    start, end = window_bounds(as_of, lookback_days)
    d = as_of.normalize().date()
    syn = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in CHANNEL_SYNONYMS.items())

    def key(col: str) -> str:
        return (
            f"coalesce(nullif(trim(regexp_replace(lower({col}), '[^0-9a-z]+', '_', 'g'), '_'), "
            "''), 'unknown')"
        )

    def share(col: str, k: str) -> str:
        return f"count(*) FILTER (WHERE pos AND {col} = '{k}') / count(*) FILTER (WHERE pos)"

    cols = [
        f"DATE '{d}' - max(day) FILTER (WHERE pos) AS recency_days",
        f"count(*) FILTER (WHERE pos AND ts >= TIMESTAMP '{start}') AS frequency",
        f"coalesce(sum(amount) FILTER (WHERE ts >= TIMESTAMP '{start}'), 0) AS monetary",
        f"DATE '{d}' - min(day) FILTER (WHERE pos) AS tenure_days",
        "avg(amount) FILTER (WHERE pos) AS avg_basket",
        f"count(*) FILTER (WHERE pos) / greatest(DATE '{d}' - min(day) FILTER (WHERE pos), 30)"
        " * 365.0 AS purchase_rate",
    ]
    shares = [f"{share('ch', k)} AS channel_share_{k}" for k in CHANNELS]
    if full:
        a = f"pos AND ts >= TIMESTAMP '{end}' - INTERVAL 90 DAY"
        b = (
            f"pos AND ts >= TIMESTAMP '{end}' - INTERVAL 180 DAY "
            f"AND ts < TIMESTAMP '{end}' - INTERVAL 90 DAY"
        )
        cols += [
            f"coalesce((count(*) FILTER (WHERE {a}) - count(*) FILTER (WHERE {b})) / "
            f"nullif(count(*) FILTER (WHERE {a}) + count(*) FILTER (WHERE {b}), 0), 0) "
            "AS trend_90d",
            "count(*) FILTER (WHERE pos) AS n_transactions_total",
        ]
        shares += [f"{share('cat', k)} AS category_share_{k}" for k in CATEGORIES]
        shares += [
            "count(*) FILTER (WHERE pos AND hour(ts) BETWEEN 5 AND 11) / count(*) FILTER "
            "(WHERE pos) AS tod_share_morning",
            "count(*) FILTER (WHERE pos AND hour(ts) BETWEEN 12 AND 16) / count(*) FILTER "
            "(WHERE pos) AS tod_share_afternoon",
            "count(*) FILTER (WHERE pos AND hour(ts) BETWEEN 17 AND 21) / count(*) FILTER "
            "(WHERE pos) AS tod_share_evening",
            "count(*) FILTER (WHERE pos AND (hour(ts) >= 22 OR hour(ts) < 5)) / count(*) FILTER "
            "(WHERE pos) AS tod_share_night",
            "count(*) FILTER (WHERE pos AND isodow(ts) >= 6) / count(*) FILTER (WHERE pos) "
            "AS weekend_share",
        ]
    cat_sel = ", min(category) AS category" if full else ""
    cat_raw = ", category" if full else ""
    cat_key = f", {key('category')} AS cat" if full else ""
    main = f"""
    SELECT customer_id, {", ".join(cols + shares)}
    FROM f
    GROUP BY customer_id
    HAVING count(*) FILTER (WHERE pos) > 0
    """
    if full:  # gaps between distinct purchase days: a window over (customer, day)
        main = f"""
    , m AS ({main}), g AS (
      SELECT customer_id, count(gap) AS g_n, sum(gap) AS g_sum, sum(gap * gap) AS g_sq
      FROM (SELECT customer_id, day - lag(day) OVER (PARTITION BY customer_id ORDER BY day)
                   AS gap
            FROM (SELECT DISTINCT customer_id, day FROM f WHERE pos))
      GROUP BY customer_id
    )
    SELECT m.*, CASE WHEN g_n >= 2 THEN sqrt(greatest((g_sq - g_n * (g_sum / g_n) ^ 2)
                                                      / (g_n - 1), 0)) / (g_sum / g_n) END
                AS interval_cv
    FROM m LEFT JOIN g USING (customer_id)
    """
    else:
        main = f", m AS ({main}) SELECT * FROM m"
    return f"""
    WITH raw AS (  -- rows identical in every column count once
      SELECT DISTINCT * FROM read_parquet('{path}') WHERE timestamp < TIMESTAMP '{end}'
    ), tx AS (     -- a transaction: one transaction_id (line items combined), or a row without
      SELECT min(customer_id) AS customer_id, min(timestamp) AS ts, sum(amount) AS amount,
             min(channel) AS channel{cat_sel}
      FROM raw WHERE transaction_id IS NOT NULL GROUP BY transaction_id
      UNION ALL
      SELECT customer_id, timestamp, amount, channel{cat_raw}
      FROM raw WHERE transaction_id IS NULL
    ), f AS MATERIALIZED (
      SELECT customer_id, ts, amount, amount > 0 AS pos, CAST(ts AS DATE) AS day,
             CASE {key("channel")} {syn} ELSE {key("channel")} END AS ch{cat_key}
      FROM tx WHERE customer_id IS NOT NULL
    ) {main}
    ORDER BY customer_id
    """


def run_cxlib(path: Path, as_of: pd.Timestamp, threads: int, memory_limit: str) -> pd.DataFrame:
    import ibis

    con = ibis.duckdb.connect(
        threads=threads, memory_limit=memory_limit, temp_directory=_spill_dir()
    )
    con.raw_sql("SET enable_progress_bar = false")
    try:
        return customer_features(con.read_parquet(path), as_of)
    finally:
        con.disconnect()


def run_hand(
    path: Path, as_of: pd.Timestamp, threads: int, memory_limit: str, full: bool
) -> pd.DataFrame:
    con = duckdb.connect(
        config={"threads": threads, "memory_limit": memory_limit, "temp_directory": _spill_dir()}
    )
    con.execute("SET enable_progress_bar = false")
    try:
        return con.sql(hand_sql(path, as_of, full)).df().set_index("customer_id")
    finally:
        con.close()


def check_equal(cx: pd.DataFrame, hand: pd.DataFrame) -> list[str]:
    """Columns the two share, asserted equal (1e-9 relative); returns their names."""
    assert len(cx) == len(hand), (len(cx), len(hand))
    assert (cx.index.to_numpy() == hand.index.astype(str).to_numpy()).all()
    shared = [c for c in hand.columns if c in cx.columns]
    missing = [c for c in hand.columns if c not in cx.columns and hand[c].abs().sum() > 0]
    assert not missing, missing
    for c in shared:
        np.testing.assert_allclose(
            cx[c].to_numpy(dtype="float64"),
            hand[c].to_numpy(dtype="float64"),
            rtol=1e-9,
            atol=1e-9,
            err_msg=c,
        )
    return shared


def parquet_as_of(path: Path) -> tuple[int, pd.Timestamp]:
    """Rows of the Parquet and its default as-of date: the day of the latest timestamp not
    after now (as the contract)."""
    con = duckdb.connect()
    try:
        n_rows, last = con.sql(
            "SELECT count(*), max(timestamp) FILTER (WHERE timestamp <= now()::TIMESTAMP) "
            f"FROM read_parquet('{path}')"
        ).fetchone()
    finally:
        con.close()
    return int(n_rows), pd.Timestamp(last).normalize()


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=Path("/tmp/cx1m/transactions.csv"))
    ap.add_argument("--parquet", type=Path, default=Path("/tmp/cx1m_tx.parquet"))
    ap.add_argument(
        "--as-of",
        default=None,
        help="as-of date (default: the latest timestamp not after now, as the contract)",
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--memory-limit", default="8GB")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)

    if not args.parquet.exists():
        t = time.perf_counter()
        make_parquet(args.csv, args.parquet, args.threads, args.memory_limit)
        print(f"made {args.parquet} from {args.csv} in {time.perf_counter() - t:.1f} s")
    n_rows, last = parquet_as_of(args.parquet)
    as_of = pd.Timestamp(args.as_of or last).normalize()
    print(
        f"{args.parquet}: {n_rows:,} rows, {args.parquet.stat().st_size / 2**20:.0f} MiB; "
        f"as-of {as_of.date()}; threads {args.threads}, memory_limit {args.memory_limit}"
    )

    labels = {
        "cxlib": "cxlib `customer_features` (Ibis → DuckDB)",
        "full": "hand-written DuckDB SQL, every feature",
        "core": "hand-written DuckDB SQL, core features",
    }
    runners = {
        "cxlib": run_cxlib,
        "full": lambda *a: run_hand(*a, full=True),
        "core": lambda *a: run_hand(*a, full=False),
    }
    times: dict[str, list[float]] = {k: [] for k in runners}
    out: dict[str, pd.DataFrame] = {}
    for i in range(args.repeats):
        for name, fn in runners.items():
            t = time.perf_counter()
            out[name] = fn(args.parquet, as_of, args.threads, args.memory_limit)
            times[name].append(time.perf_counter() - t)
            print(
                f"repeat {i + 1} {name}: {times[name][-1]:.2f} s, {len(out[name]):,} customers,"
                f" {out[name].shape[1]} columns",
                flush=True,
            )
    for k in ("full", "core"):
        shared = check_equal(out["cxlib"], out[k])
        print(f"cxlib = hand-written {k} on {len(shared)} shared columns: {', '.join(shared)}")
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = {k: med["cxlib"] / med[k] for k in ("full", "core")}
    print(
        f"median cxlib {med['cxlib']:.2f} s, hand-written full {med['full']:.2f} s (ratio "
        f"{ratio['full']:.2f}), core {med['core']:.2f} s (ratio {ratio['core']:.2f}); target "
        f"<= 1.5; peak RSS {peak_rss_gib():.2f} GiB"
    )
    if args.markdown:
        print(
            f"\nMachine: {platform.platform()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, duckdb {duckdb.__version__}; load average at end "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}\n"
        )
        print("| variant | columns | runs (s) | median s | cxlib / this |")
        print("|---|---:|---|---:|---:|")
        for k, label in labels.items():
            runs = ", ".join(f"{x:.1f}" for x in times[k])
            r = f"{ratio[k]:.2f}" if k in ratio else ""
            print(f"| {label} | {out[k].shape[1]} | {runs} | {med[k]:.1f} | {r} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
