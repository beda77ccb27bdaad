"""The ``cx`` command: ``cx run``, ``cx synth`` and ``cx check``.

Exit codes: 0 success; 1 a notebook failed; 2 bad input or bad usage (one clear message, no
traceback); 143 stopped by SIGTERM (clean-up still runs).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from cxlib.config import check_param, find_config, load_config, parse_value
from cxlib.contract import ContractError, load_source
from cxlib.sources import SourceError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cx", description="Customer-insight notebook series.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run the notebook series into a report folder")
    r.add_argument("--config", help="YAML config file (see docs/configuration.md)")
    r.add_argument(
        "--data",
        help="folder of <table>.csv / <table>.parquet files, a PostgreSQL URL "
        "postgresql://user@host:port/database/schema, or spark:<folder or URI> (read by Spark)",
    )
    r.add_argument("--out", help="reports folder (a run goes to <out>/<run-id>/)")
    r.add_argument("--as-of", dest="as_of_date", help="analysis date YYYY-MM-DD")
    r.add_argument("--seed", type=int)
    r.add_argument("--only", help="comma-separated notebooks to run, e.g. 01,02")
    r.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        default=[],
        help="notebook parameter for every notebook, as typed YAML (e.g. -p horizon_days 60)",
    )

    s = sub.add_parser("synth", help="generate a synthetic dataset with ground truth")
    s.add_argument("--customers", type=int, default=5000, help="number of people (default 5000)")
    s.add_argument("--seed", type=int, default=42)
    s.add_argument("--out", required=True, help="folder to write the tables and truth/ into")
    s.add_argument("--format", choices=["csv", "parquet"], default="csv")
    s.add_argument(
        "--world",
        choices=["default", "seasonal", "decline"],
        default="default",
        help="how people buy: default (BG/NBD, the sample), seasonal (yearly cycle) or decline "
        "(rates fade instead of dropping out); see docs/synthetic-data.md",
    )

    n = sub.add_parser(
        "refresh-notebooks",
        help="(maintainers) re-run notebooks on the sample, keep the nbval-checked outputs",
    )
    n.add_argument("notebooks", nargs="*", help="notebook files (default: the whole series)")

    c = sub.add_parser("check", help="check a data folder against the contract, run nothing")
    c.add_argument("--config")
    c.add_argument("--data", help="folder, PostgreSQL URL or spark:<path>, as for cx run")
    return p


def _config_file(args: argparse.Namespace) -> str | None:
    """``--config``, else a ``cx.yml`` inside the ``--data`` folder (said on the console)."""
    if args.config:
        return args.config
    found = find_config(args.data) if args.data else None
    if found is not None:
        print(
            f"Config: {found} (found in the data folder; --config chooses another)", file=sys.stderr
        )
        return str(found)
    return None


def _run(args: argparse.Namespace) -> int:
    from cxlib.runner import NOTEBOOKS, run

    config = load_config(
        _config_file(args),
        {
            "data": args.data,
            "out": args.out,
            "as_of_date": args.as_of_date,
            "seed": args.seed,
            "only": args.only,
        },
    )
    if args.param:
        extra = {name: parse_value(value) for name, value in args.param}
        for name, value in extra.items():
            check_param(name, value)  # an unknown parameter or a wrong type: exit 2
        config["notebooks"] = {
            nb.name: {**extra, **(config.get("notebooks") or {}).get(nb.name, {})}
            for nb in NOTEBOOKS
        }
    _export_spark_master(config)
    result = run(config, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    if result.failed:
        print(
            f"{len(result.failed)} notebook(s) failed: {', '.join(result.failed)}", file=sys.stderr
        )
    return result.exit_code


def _export_spark_master(config: dict) -> None:
    """The config's ``spark_master`` as ``$CX_SPARK_MASTER`` (which a ``spark:`` source and the
    notebook kernels read); the config wins over the environment."""
    from cxlib.sources import SPARK_MASTER_ENV

    if config.get("spark_master"):
        os.environ[SPARK_MASTER_ENV] = str(config["spark_master"])


def _synth(args: argparse.Namespace) -> int:
    from cxlib.synth import generate

    res = generate(args.customers, args.seed, args.out, fmt=args.format, world=args.world)
    print(f"Wrote synthetic data for {res.n_people:,} people to {args.out}", file=sys.stderr)
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    config = load_config(_config_file(args), {"data": args.data})
    _export_spark_master(config)
    data = load_source(config["data"], config=config, as_of_date=config.get("as_of_date"))
    if not len(data.counts):
        from cxlib.contract import TABLES

        names = ", ".join(f"{t}.csv" for t in TABLES)
        raise ContractError(
            f"{config['data']}: no file matches a contract table. Name the files after the "
            f"tables ({names}; or .parquet), or map a file to its table in cx.yml: "
            "`tables: {transactions: {file: orders.csv}}`."
        )
    print(check_table(data.counts))
    print(f"\nAs-of date: {data.as_of.note.replace('`', '')}")
    return EXIT_OK


def check_table(counts: Any) -> str:
    """The per-table counts of ``cx check`` as a readable text table (thousands separators)."""
    rows = [("Table", "File", "Rows read", "Accepted", "Quarantined")]
    for r in counts.itertuples(index=False):
        rows.append(
            (
                str(r.table),
                str(r.file),
                f"{int(r.read_rows):,}",
                f"{int(r.accepted_rows):,}",
                f"{int(r.quarantined_rows):,}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _refresh(args: argparse.Namespace) -> int:
    from cxlib.runner import NOTEBOOKS, notebooks_dir, refresh_checked_outputs

    paths = args.notebooks or [str(notebooks_dir() / f"{nb.name}.ipynb") for nb in NOTEBOOKS]
    for path in paths:
        n = refresh_checked_outputs(path)
        print(f"{path}: {n} checked cell(s) refreshed", file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cx`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True
    )
    stopped = threading.Event()
    previous = _exit_on_sigterm(stopped)
    try:
        return {"run": _run, "synth": _synth, "check": _check, "refresh-notebooks": _refresh}[
            args.command
        ](args)
    except BaseException as exc:
        # SIGTERM raises SystemExit(143) in the main thread, but a library busy in native code
        # (DuckDB reading a CSV) may turn it into its own "query interrupted" error, which a
        # caller may wrap as a bad-input error: the flag says what really happened.
        if stopped.is_set():
            print("cx: terminated", file=sys.stderr)
            return EXIT_TERMINATED
        if isinstance(exc, (ContractError, SourceError)):
            print(f"cx: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if isinstance(exc, KeyboardInterrupt):
            print("cx: interrupted", file=sys.stderr)
            return 130
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports it


def _exit_on_sigterm(stopped: threading.Event):
    """Turn SIGTERM (a scheduler's or ``kill``'s stop) into ``SystemExit(143)`` so that clean-up
    runs: the run's private folder of validated tables, which holds personal data, is deleted.
    ``stopped`` is set when the signal arrives. Returns the previous handler (None when not on
    the main thread, where no handler is set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame):
        stopped.set()
        raise SystemExit(EXIT_TERMINATED)

    return signal.signal(signal.SIGTERM, stop)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
