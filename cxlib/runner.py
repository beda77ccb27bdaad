"""Run the notebook series headlessly with papermill into a report folder.

``run(config)`` writes ``<out>/<run-id>/`` with each executed ``.ipynb``, its ``.html`` (no
code), ``index.html`` (a card per notebook), ``exports/``, ``quarantine/`` and
``manifest.json``, and points ``<out>/latest`` at it.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

import cxlib
from cxlib.config import block_of, block_parameters, merge_settings, resolve_options
from cxlib.contract import (
    ORIGIN_TODAY,
    TABLE_NAMES,
    VALIDATED_KEY,
    ContractError,
    SourceData,
    load_source,
)
from cxlib.privacy import resolve_pseudonym_key, write_export
from cxlib.report import notebook_to_html, read_headlines, read_skip, render_index
from cxlib.sources import (
    FolderSource,
    SourceError,
    export_password,
    is_spark,
    is_url,
    notebook_location,
    private_tempdir,
    source_label,
)

log = logging.getLogger(__name__)

PACKAGES = (
    "cxlib",
    "pandas",
    "numpy",
    "scipy",
    "scikit-learn",
    "statsmodels",
    "ibis-framework",
    "duckdb",
    "pandera",
    "splink",
    "papermill",
    "matplotlib",
    "seaborn",
)


@dataclass(frozen=True)
class NotebookSpec:
    """A notebook of the series and the tables it needs.

    ``needs``: every one of these tables must be present; ``needs_any``: at least one of these
    must be present (an entry ``"customers:churned|churn_date"`` means the customers table with
    one of those columns).
    """

    name: str
    title: str
    needs: tuple[str, ...] = ()
    needs_any: tuple[str, ...] = ()

    def missing_reason(self, present: Mapping[str, Any]) -> str | None:
        """Why this notebook cannot run (None when it can).

        ``present`` maps each table with at least one accepted row to its column names (see
        :func:`present_tables`).
        """
        absent = [t for t in self.needs if t not in present]
        if absent:
            return f"the {' and '.join(absent)} table{'s are' if len(absent) > 1 else ' is'} absent"
        if self.needs_any and not any(_satisfied(present, n) for n in self.needs_any):
            options = " or ".join(_describe(n) for n in self.needs_any)
            return f"it needs {options}, and none is present"
        return None

    def missing_fix(self, present: Mapping[str, Any]) -> str | None:
        """What to add so that this notebook can run (None when it can)."""
        absent = [t for t in self.needs if t not in present]
        if absent:
            files = " and ".join(f"{t}.csv" for t in absent)
            return f"add {files} (see docs/data-contract.md) to the data folder"
        if self.needs_any and not any(_satisfied(present, n) for n in self.needs_any):
            options = " or ".join(_describe(n) for n in self.needs_any)
            return f"add {options} (see docs/data-contract.md) to the data folder"
        return None


def present_tables(data: SourceData) -> dict[str, list[str]]:
    """Tables with at least one accepted row and their columns (all the runner keeps, so that
    it does not hold the data in memory while the notebooks run)."""
    return {name: list(df.columns) for name, df in data.tables.items() if data.has(name)}


def _satisfied(present: Mapping[str, Any], need: str) -> bool:
    table, _, cols = need.partition(":")
    if table not in present:
        return False
    return not cols or any(c in present[table] for c in cols.split("|"))


def _describe(need: str) -> str:
    table, _, cols = need.partition(":")
    if not cols:
        return f"a {table} table"
    return f"a {table} table with {' or '.join(f'`{c}`' for c in cols.split('|'))}"


NOTEBOOKS: tuple[NotebookSpec, ...] = (
    NotebookSpec("01_data_audit", "Data audit and single customer view", needs_any=TABLE_NAMES),
    NotebookSpec("02_segmentation", "Customer segments", needs=("transactions",)),
    NotebookSpec(
        "03_churn",
        "Churn, lifetime value and value at risk",
        needs_any=("transactions", "customers:churned|churn_date"),
    ),
    NotebookSpec("04_campaign_uplift", "Campaign uplift and targeting", needs=("campaign",)),
    NotebookSpec(
        "05_journey_prioritisation", "Customer journeys and what to fix first", needs=("events",)
    ),
    NotebookSpec(
        "06_next_best_action",
        "Next best action: whom to contact this week, with what",
        needs=("transactions",),
    ),
)


#: The notebook whose offer catalogue (``actions.yml``) is checked before any notebook runs.
ACTION_NOTEBOOK = "06_next_best_action"


def notebooks_dir() -> Path:
    """Folder holding the notebook series: ``CX_NOTEBOOKS`` when set; else ``notebooks/`` next
    to the cxlib package (a checkout or an editable install); else the copy a wheel installs in
    ``<prefix>/share/cxlib/notebooks`` (``pip install cxlib``)."""
    import sys
    import sysconfig

    env = os.environ.get("CX_NOTEBOOKS")
    if env:
        return Path(env)
    checkout = Path(cxlib.__file__).resolve().parent.parent / "notebooks"
    if checkout.is_dir():
        return checkout
    for prefix in (sysconfig.get_path("data"), sys.prefix, sysconfig.get_config_var("userbase")):
        installed = Path(str(prefix)) / "share" / "cxlib" / "notebooks"
        if installed.is_dir():
            return installed
    return checkout


def _select(only: Any) -> list[NotebookSpec]:
    if not only:
        return list(NOTEBOOKS)
    wanted = [str(x).strip() for x in (only if isinstance(only, list | tuple) else [only])]
    wanted = [w for part in wanted for w in part.split(",") if w]
    chosen = [
        nb
        for nb in NOTEBOOKS
        if any(nb.name == w or nb.name.startswith(w.zfill(2)) for w in wanted)
    ]
    if not chosen:
        raise ContractError(
            f"--only {','.join(wanted)} names no notebook. Fix: use one of "
            f"{', '.join(nb.name for nb in NOTEBOOKS)} (or their numbers 1-5)."
        )
    return chosen


def release_memory() -> None:
    """Give freed memory back to the operating system (Arrow's pool and the C allocator keep
    it otherwise), so that the runner holds little while the notebook kernels run."""
    import ctypes
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to trim
        pass


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _new_run_dir(out: Path) -> tuple[str, Path]:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_id, n = stamp, 1
    while (out / run_id).exists():
        n += 1
        run_id = f"{stamp}-{n}"
    path = out / run_id
    path.mkdir(parents=True)
    return run_id, path


def _point_latest(out: Path, run_dir: Path) -> None:
    latest = out / "latest"
    if latest.is_symlink() or latest.is_file():
        latest.unlink()
    elif latest.is_dir():
        shutil.rmtree(latest)
    try:
        latest.symlink_to(run_dir.name, target_is_directory=True)
    except OSError:  # file systems without symlinks: copy the run
        shutil.copytree(run_dir, latest)


@dataclass
class RunResult:
    """What a run produced."""

    run_id: str
    run_dir: Path
    manifest: dict[str, Any]
    statuses: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        return [k for k, v in self.statuses.items() if v == "failed"]

    @property
    def exit_code(self) -> int:
        """1 when a notebook failed; 3 when every notebook was skipped for a configuration
        reason (a setting or table to add: a scheduler must notice); else 0."""
        if self.failed:
            return 1
        entries = self.manifest.get("notebooks", [])
        if entries and all(
            nb.get("status") == "skipped" and nb.get("configuration") for nb in entries
        ):
            return 3
        return 0


def notebook_parameters(
    spec: NotebookSpec, config: Mapping[str, Any], run_dir: Path, as_of: pd.Timestamp, key: str
) -> dict[str, Any]:
    """The typed parameters papermill injects into one notebook.

    A notebook's parameters are its own defaults, then the keys of its question's block that are
    notebook parameters (``journeys.session_gap_minutes``), then ``notebooks.<stem>`` overrides
    (where ``-p`` goes). Its ``config`` parameter holds the run's ``tables`` settings, the
    validated tables' folder, ``currency`` and every question's resolved block
    (``config["journeys"]``, defaults filled in); a ``config`` override is merged into it.
    """
    run_config: dict[str, Any] = {
        "tables": config.get("tables") or {},
        "prefix_ids_by_source_system": bool(config.get("prefix_ids_by_source_system")),
        "currency": str(config.get("currency") or ""),
        **resolve_options(config),
    }
    if config.get(VALIDATED_KEY):  # the run's validated tables (see run)
        run_config[VALIDATED_KEY] = str(config[VALIDATED_KEY])
    params: dict[str, Any] = {
        "data_dir": notebook_location(config["data"]),  # a URL without its password
        "output_dir": str(run_dir.resolve()),
        "as_of_date": as_of.strftime("%Y-%m-%d"),
        "seed": int(config["seed"]),
        "min_group_size": int(config["min_group_size"]),
        "pseudonym_key": key,
    }
    block = block_of(spec.name)
    if block is not None:
        params.update(block_parameters(block, config.get(block) or {}))
    overrides = dict((config.get("notebooks") or {}).get(spec.name, {}) or {})
    extra_config = overrides.pop("config", None)
    params.update(overrides)
    params["config"] = merge_settings(run_config, extra_config or {})
    return params


def _folder_fingerprints(location: Any, config: Mapping[str, Any]) -> dict[str, Any] | None:
    """Fingerprints of a folder source's table files (as ``FolderSource.fingerprints``), or
    None for another kind of source or a folder that cannot be opened (``load_source`` then
    reports why)."""
    if is_url(location) or is_spark(location):
        return None
    table_cfg = config.get("tables", {}) or {}
    files = {t: c["file"] for t, c in table_cfg.items() if isinstance(c, Mapping) and c.get("file")}
    try:
        return FolderSource(location, files).fingerprints()
    except (SourceError, OSError):
        return None


def run(
    config: Mapping[str, Any],
    *,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Execute the series; never raises for a failing notebook (it is recorded instead).

    The input is validated once; the validated tables are kept as Parquet in a private
    temporary folder outside the report folder (they hold personal data), which the notebooks
    read instead of parsing the files again, and which is deleted when the run ends, also on
    failure.

    Raises
    ------
    ContractError
        When the input breaks the contract (checked once before any notebook runs).
    """
    validated = private_tempdir("cx-validated-")  # swept by a later run if this one is killed
    try:
        return _run(config, progress=progress, validated=validated)
    finally:
        shutil.rmtree(validated, ignore_errors=True)


def _preflight(
    config: Mapping[str, Any], validated: Path, say: Callable[[str], None]
) -> tuple[SourceData, dict[str, Any]]:
    """Validate the input once, before any notebook runs (a contract error stops the run);
    returns the validated data and the inputs' fingerprints."""
    data_path = config["data"]  # a folder or a database URL
    say(f"Checking input tables in {source_label(data_path)} …")
    # a folder's files are fingerprinted (SHA-256 of every byte) on a second thread while the
    # tables are validated; other sources after
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cx-fingerprint")
    early = pool.submit(_folder_fingerprints, data_path, config)
    try:
        data = load_source(
            data_path, config=config, as_of_date=config.get("as_of_date"), save_validated=validated
        )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    before = early.result() if not early.cancelled() else None
    if before is None:
        before = data.source.fingerprints()
    if data.as_of is not None and data.as_of.origin == ORIGIN_TODAY:
        raise ContractError(
            f"{source_label(data_path)}: no transactions or events with dates, so the analysis "
            "date cannot come from the data. Fix: set `as_of_date: YYYY-MM-DD` in cx.yml (or "
            "`cx run --as-of YYYY-MM-DD`) to the day the data was extracted."
        )
    return data, before


def _report_inputs(data: SourceData, run_dir: Path, say: Callable[[str], None]) -> None:
    """Write the quarantine files and say what was read."""
    for name, q in data.quarantine.items():
        if len(q):
            write_export(q, run_dir / "quarantine" / f"{name}.csv")
    for row in data.counts.itertuples():
        say(
            f"  {row.table}: {row.read_rows:,} rows read, {row.accepted_rows:,} accepted, "
            f"{row.quarantined_rows:,} quarantined"
        )
    if data.suppression_note():
        say("  " + data.suppression_note())


def _manifest(
    config: Mapping[str, Any],
    *,
    run_id: str,
    started: datetime,
    data: SourceData,
    before: dict[str, Any],
    specs: list[NotebookSpec],
) -> dict[str, Any]:
    """The run's manifest before any notebook ran; ``parameters.options`` holds the resolved
    options of the questions run (``parameters.options.journeys.session_gap_minutes``)."""
    options = resolve_options(config)
    blocks = [b for b in (block_of(spec.name) for spec in specs) if b is not None]
    return {
        "run_id": run_id,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": None,
        "status": "running",
        "parameters": {
            "data": source_label(config["data"]),  # a URL's password masked
            "out": str(Path(config["out"]).resolve()),
            "as_of_date": data.as_of_date.strftime("%Y-%m-%d"),
            # where the date comes from (cxlib.contract.analysis_date): parameter, latest data,
            # latest data before a gap, or today (no dates in the data)
            "as_of_date_source": data.as_of.origin if data.as_of is not None else "parameter",
            "as_of_date_note": data.as_of.note if data.as_of is not None else "",
            "seed": int(config["seed"]),
            "min_group_size": int(config["min_group_size"]),
            "pseudonym_key": "from config/env" if config.get("pseudonym_key") else "random per run",
            "currency": str(config.get("currency") or ""),
            "tables": config.get("tables") or {},
            "notebooks": config.get("notebooks") or {},
            "options": {block: options[block] for block in blocks},
        },
        "inputs": {
            "files": before,
            "tables": data.counts.to_dict(orient="records"),
            "suppressed": data.suppressed.to_dict(orient="records"),
            "notes": [n for n in [data.suppression_note()] if n],
        },
        "packages": _versions(),
        "notebooks": [],
    }


#: Longest path of a kernel's Unix-domain socket that is safe everywhere: ``sun_path`` holds 108
#: bytes on Linux and 104 on macOS, and jupyter_client appends ``-<n>`` to the name.
MAX_SOCKET_PATH = 96


def kernel_socket_folder() -> tempfile.TemporaryDirectory:
    """A private folder for a kernel's sockets: under the temporary folder when a socket path
    there fits :data:`MAX_SOCKET_PATH`, else under ``/tmp`` (a deep ``TMPDIR`` made the socket
    unbindable and the kernel never answered)."""
    base = tempfile.gettempdir()
    probe = Path(base) / "cx-kernel-xxxxxxxx" / "kernel-65535"
    if len(str(probe)) > MAX_SOCKET_PATH and Path("/tmp").is_dir():
        base = "/tmp"
    return tempfile.TemporaryDirectory(prefix="cx-kernel-", dir=base)


def local_kernel(folder: Path) -> dict[str, Any]:
    """papermill arguments that run the kernel over local IPC sockets in ``folder``.

    Over TCP (Jupyter's default) every kernel listens on localhost ports and ipykernel prints
    "Kernel is running over TCP without encryption" on the console for every notebook. The
    kernel of a headless run talks only to this process, so Unix-domain sockets in a private
    folder are the right transport: no port is open and the warning does not apply. Windows has
    no IPC transport; there the default (TCP) stays.
    """
    if os.name == "nt":
        return {}
    if len(str(folder / "kernel-65535")) > MAX_SOCKET_PATH:
        log.warning("kernel sockets: %s is too long a path for a socket; using TCP", folder)
        return {}
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = str(folder / "kernel")

    return {"kernel_manager_class": IPCKernelManager}


#: A step (cell) still running after this many seconds is announced on the console with its
#: report section and the elapsed time, and again every :data:`PROGRESS_EVERY_S`; quick steps
#: say nothing, so a quick notebook stays at two lines.
PROGRESS_AFTER_S = 10.0
PROGRESS_EVERY_S = 30.0


class SectionProgress:
    """papermill (nbclient) cell hooks that tell the console what a long step is doing:
    ``[3/5] 03_churn: … Drivers of leaving (42 s)`` once a cell has run ``after_s`` seconds,
    then every ``every_s`` seconds until it ends (a timer thread; :meth:`close` stops it)."""

    def __init__(
        self,
        say: Callable[[str], None],
        label: str,
        *,
        after_s: float = PROGRESS_AFTER_S,
        every_s: float = PROGRESS_EVERY_S,
    ) -> None:
        self.say, self.label = say, label
        self.after_s, self.every_s = after_s, every_s
        self.t0 = time.perf_counter()
        self.section = "Starting"
        self._timer: Any = None

    def hooks(self) -> dict[str, Callable[..., None]]:
        """The keyword arguments papermill passes to nbclient's ``NotebookClient``."""
        return {"on_cell_start": self.on_cell_start, "on_cell_executed": self.on_cell_executed}

    def on_cell_start(self, cell: Any, cell_index: int, **_: Any) -> None:
        if cell.get("cell_type") == "markdown":
            for line in str(cell.get("source", "")).splitlines():
                if line.startswith("#"):
                    self.section = line.lstrip("#").strip()
                    break
            return
        self._arm(self.after_s)

    def on_cell_executed(self, **_: Any) -> None:
        self.close()

    def _arm(self, delay: float) -> None:
        import threading

        self.close()
        self._timer = threading.Timer(delay, self._tell)
        self._timer.daemon = True
        self._timer.start()

    def _tell(self) -> None:
        self.say(f"{self.label}: … {self.section} ({time.perf_counter() - self.t0:.0f} s)")
        self._arm(self.every_s)

    def close(self) -> None:
        """Stop the timer (the cell ended, or the notebook did)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _execute(
    src: Path,
    out_nb: Path,
    params: dict[str, Any],
    timeout_s: int,
    entry: dict[str, Any],
    progress: SectionProgress | None = None,
) -> None:
    """Execute one notebook with papermill; its status (and error) go into ``entry``;
    ``progress`` tells the console what a long step is doing."""

    import papermill as pm

    t0 = time.perf_counter()
    try:
        with kernel_socket_folder() as sockets:
            pm.execute_notebook(
                str(src),
                str(out_nb),
                parameters=params,
                kernel_name="python3",
                cwd=str(out_nb.parent),
                execution_timeout=timeout_s,
                progress_bar=False,
                log_output=False,
                report_mode=True,
                **local_kernel(Path(sockets)),
                **(progress.hooks() if progress else {}),
            )
        entry["status"] = "ok"
    except Exception as exc:  # papermill execution error, dead kernel, timeout
        entry["status"] = "failed"
        ename = getattr(exc, "ename", type(exc).__name__)
        evalue = getattr(exc, "evalue", str(exc))
        entry["error"] = f"{ename}: {str(evalue).strip().splitlines()[0] if evalue else ''}"
    entry["duration_s"] = round(time.perf_counter() - t0, 1)
    if out_nb.exists():
        try:
            html = notebook_to_html(out_nb, out_nb.with_suffix(".html"))
            entry["html"] = html.name
        except Exception as exc:  # a broken notebook must not stop the run
            log.warning("could not convert %s to HTML: %s", out_nb, exc)
        entry["ipynb"] = out_nb.name


def _run(
    config: Mapping[str, Any],
    *,
    progress: Callable[[str], None] | None,
    validated: Path,
) -> RunResult:
    say = progress or (lambda msg: log.info("%s", msg))
    started = datetime.now(UTC)
    out = Path(config["out"])
    specs = _select(config.get("only"))
    if any(spec.name == ACTION_NOTEBOOK for spec in specs):
        from cxlib.action import check_catalogue

        check_catalogue(config)  # a broken actions.yml stops the run (exit 2) naming its line
    nb_dir = notebooks_dir()
    data, before = _preflight(config, validated, say)
    run_id, run_dir = _new_run_dir(out)
    _report_inputs(data, run_dir, say)
    key = resolve_pseudonym_key(config.get("pseudonym_key"))
    manifest = _manifest(
        config, run_id=run_id, started=started, data=data, before=before, specs=specs
    )
    present = present_tables(data)
    as_of = data.as_of_date
    source = data.source  # to fingerprint the inputs again after the run
    del data  # free the validated tables: each notebook loads what it needs
    release_memory()
    restore_env = export_password(config["data"])  # the kernels get a URL's password as PGPASSWORD
    statuses: dict[str, str] = {}
    for i, spec in enumerate(specs, 1):
        entry: dict[str, Any] = {"name": spec.name, "title": spec.title}
        reason = spec.missing_reason(present)
        src = nb_dir / f"{spec.name}.ipynb"
        if reason is None and not src.exists():
            reason = f"the notebook file {src} is missing"
            entry.update(status="failed", error=reason, duration_s=0.0)
        elif reason is not None:
            entry.update(
                status="skipped",
                reason=f"Skipped because {reason}.",
                fix=spec.missing_fix(present),
                configuration=True,
                duration_s=0.0,
            )
        if reason is not None:
            say(f"[{i}/{len(specs)}] {spec.name}: {entry['status']} ({reason})")
            statuses[spec.name] = entry["status"]
            manifest["notebooks"].append(entry)
            continue
        say(f"[{i}/{len(specs)}] {spec.name}: running …")
        params = notebook_parameters(
            spec, {**config, VALIDATED_KEY: str(validated)}, run_dir, as_of, key
        )
        timeout_s = int(config.get("cell_timeout_s") or 1800)
        progress = SectionProgress(say, f"[{i}/{len(specs)}] {spec.name}")
        try:
            _execute(src, run_dir / f"{spec.name}.ipynb", params, timeout_s, entry, progress)
        finally:
            progress.close()
        entry["headlines"] = read_headlines(run_dir, spec.name)
        skipped = read_skip(run_dir, spec.name) if entry["status"] == "ok" else None
        if skipped is not None:  # the notebook ran but could not produce its analysis
            entry.update(status="skipped", **skipped)
        statuses[spec.name] = entry["status"]
        say(
            f"[{i}/{len(specs)}] {spec.name}: {entry['status']} in {entry['duration_s']:.0f} s"
            + (f" ({entry['error']})" if entry.get("error") else "")
        )
        manifest["notebooks"].append(entry)

    restore_env()
    after = source.fingerprints()
    manifest["inputs"]["unchanged"] = after == before
    exports = sorted(p.name for p in (run_dir / "exports").glob("*.csv"))
    manifest["exports"] = exports
    covariates = uplift_covariates(run_dir)
    if covariates is not None:
        manifest["uplift_covariates"] = covariates
    manifest["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    manifest["status"] = "failed" if any(s == "failed" for s in statuses.values()) else "ok"
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    (run_dir / "index.html").write_text(render_index(manifest), encoding="utf-8")
    _point_latest(out, run_dir)
    say(f"Report: {out.resolve() / 'latest' / 'index.html'}")
    return RunResult(run_id, run_dir, manifest, statuses)


def uplift_covariates(run_dir: Path) -> list[dict[str, Any]] | None:
    """The rows of the run's ``exports/uplift_covariates.csv`` (which campaign columns the uplift
    models used, and why the others were left out), for ``manifest.json``; None without it."""
    path = run_dir / "exports" / "uplift_covariates.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path, dtype={"column": str, "reason": str}, keep_default_na=False)
    return [
        {"column": r["column"], "used": bool(r["used"]), "reason": r["reason"]}
        for r in frame.to_dict(orient="records")
    ]


CHECKED_TAG = "nbval-check-output"


def _checkable(output: Any) -> bool:
    """Whether a cell output is kept for nbval: printed text, or a Markdown display."""
    kind = output.get("output_type")
    if kind == "stream":
        return True
    return kind in ("display_data", "execute_result") and "text/markdown" in output.get("data", {})


def refresh_checked_outputs(path: str | os.PathLike, *, timeout_s: int = 1800) -> int:
    """Re-execute a notebook of the series on its default parameters (the sample data) and keep
    only the outputs of cells tagged ``nbval-check-output``; every other output is cleared.

    This is how the committed notebooks get the outputs nbval compares. Returns the number of
    checked cells.
    """

    import nbformat
    import papermill as pm

    path = Path(path).resolve()
    with tempfile.TemporaryDirectory() as tmp, kernel_socket_folder() as sockets:
        executed = Path(tmp) / path.name
        pm.execute_notebook(
            str(path),
            str(executed),
            kernel_name="python3",
            cwd=str(path.parent),
            execution_timeout=timeout_s,
            progress_bar=False,
            **local_kernel(Path(sockets)),
        )
        ran = nbformat.read(str(executed), as_version=4)
    nb = nbformat.read(str(path), as_version=4)
    checked = 0
    ran_cells = [c for c in ran.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    for cell, done in zip(nb.cells, ran_cells, strict=True):
        if cell.cell_type != "code":
            continue
        if CHECKED_TAG in cell.metadata.get("tags", []):
            # printed text and Markdown (the "Key findings" list): what nbval compares
            cell.outputs = [o for o in done.outputs if _checkable(o)]
            for o in cell.outputs:
                if o.get("output_type") == "execute_result":
                    o["execution_count"] = 1
                    o["metadata"] = {}
                else:
                    o.pop("execution_count", None)
            cell.execution_count = 1  # nbval skips a cell with outputs but no count
            checked += 1
        else:
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, str(path))
    return checked
