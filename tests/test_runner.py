"""The runner: statuses, manifest, index page, HTML without code, skips, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from cxlib import runner
from cxlib.cli import main

OK_SOURCE = """\
from cxlib.report import Findings
from cxlib.contract import load_source
data = load_source(data_dir, as_of_date=as_of_date)
f = Findings(output_dir, notebook=NAME)
f.add(f"{len(data.tables['transactions'])} transactions read, typed {type(seed).__name__}", headline=True)
f.save()
import logging, sys
logging.getLogger("cxlib.test").warning("LOG_LINE_FOR_ANALYSTS")
print("LOG_LINE_ON_STDERR", file=sys.stderr)
print("done")
"""


def make_notebook(path: Path, body: str, name: str, extra_params: str = "") -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'data_dir = ""\noutput_dir = ""\nas_of_date = None\nseed = 0\nmin_group_size = 10\n'
        'pseudonym_key = ""\nconfig = {}' + (f"\n{extra_params}" if extra_params else "")
    )
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {name}"),
        params,
        nbformat.v4.new_code_cell(f"NAME = {name!r}\n" + body),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


@pytest.fixture()
def fake_series(tmp_path, monkeypatch):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    make_notebook(nbdir / "01_data_audit.ipynb", OK_SOURCE, "01_data_audit")
    make_notebook(
        nbdir / "02_segmentation.ipynb", "raise ValueError('boom in 02')", "02_segmentation"
    )
    for spec in runner.NOTEBOOKS[2:]:
        make_notebook(nbdir / f"{spec.name}.ipynb", OK_SOURCE, spec.name)
    monkeypatch.setenv("CX_NOTEBOOKS", str(nbdir))
    data = tmp_path / "data"
    data.mkdir()
    (data / "transactions.csv").write_text(
        "customer_id,timestamp,amount\na,2024-01-01 10:00,5\nb,2024-01-02,oops\n"
    )
    return data


def test_run_records_ok_failed_skipped(fake_series, tmp_path, capsys):
    out = tmp_path / "reports"
    code = main(["run", "--data", str(fake_series), "--out", str(out), "-p", "seed", "7"])
    assert code == 1  # one notebook failed
    err = capsys.readouterr().err
    assert f"[1/{len(runner.NOTEBOOKS)}] 01_data_audit" in err and "Traceback" not in err
    latest = out / "latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    status = {nb["name"]: nb for nb in manifest["notebooks"]}
    assert status["01_data_audit"]["status"] == "ok"
    assert status["02_segmentation"]["status"] == "failed"
    assert "boom in 02" in status["02_segmentation"]["error"]
    # 03 runs on transactions; 04 and 05 need campaign / events
    assert status["03_churn"]["status"] == "ok"
    assert status["04_campaign_uplift"]["status"] == "skipped"
    assert "campaign table is absent" in status["04_campaign_uplift"]["reason"]
    assert status["05_journey_prioritisation"]["status"] == "skipped"
    assert manifest["parameters"]["as_of_date"] == "2024-01-01"
    assert manifest["inputs"]["unchanged"] is True
    tx = manifest["inputs"]["tables"][0]
    assert (tx["read_rows"], tx["accepted_rows"], tx["quarantined_rows"]) == (2, 1, 1)
    assert len(manifest["inputs"]["files"]["transactions"]["sha256"]) == 64
    assert manifest["packages"]["pandas"].startswith("3.")
    for key in ("run_id", "started_at", "finished_at"):
        assert manifest[key]
    # typed parameters: -p seed 7 arrives as an int
    assert status["01_data_audit"]["headlines"] == ["1 transactions read, typed int"]
    index = (latest / "index.html").read_text()
    assert index.count("class='card'") == 6
    assert status["06_next_best_action"]["status"] == "ok"  # runs on transactions
    assert "1 transactions read" in index and "Skipped because" in index
    html = (latest / "01_data_audit.html").read_text()
    assert "load_source" not in html  # no code in the business report
    assert "LOG_LINE_ON_STDERR" not in html  # no log messages either
    assert "LOG_LINE_ON_STDERR" in (latest / "01_data_audit.ipynb").read_text()
    assert (latest / "quarantine" / "transactions.csv").exists()


def test_contract_error_exits_2_before_running(fake_series, tmp_path, capsys):
    (fake_series / "transactions.csv").write_text("customer_id,amount\na,1\n")
    code = main(["run", "--data", str(fake_series), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert "required column 'timestamp'" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_only_and_bad_only(fake_series, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--data", str(fake_series), "--out", str(out), "--only", "1"]) == 0
    manifest = json.loads((out / "latest" / "manifest.json").read_text())
    assert [nb["name"] for nb in manifest["notebooks"]] == ["01_data_audit"]
    assert main(["run", "--data", str(fake_series), "--out", str(out), "--only", "9"]) == 2


def test_missing_data_folder_is_exit_2(tmp_path, capsys):
    assert main(["run", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "data folder not found" in capsys.readouterr().err


def test_config_file_and_unknown_key(tmp_path, capsys, fake_series):
    cfg = tmp_path / "cx.yml"
    cfg.write_text(f"data: {fake_series}\nout: {tmp_path / 'r'}\nonly: ['01']\nseed: 3\n")
    assert main(["run", "--config", str(cfg)]) == 0
    cfg.write_text("colour: blue\n")
    assert main(["run", "--config", str(cfg)]) == 2
    assert "colour: unknown key" in capsys.readouterr().err
    cfg.write_text(f"data: {fake_series}\ntables:\n  campaign:\n    column: {{a: b}}\n")
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"cx: error: {cfg}: tables.campaign.column: unknown key; did you mean 'columns'?" in err
    assert "Traceback" not in err
    cfg.write_text("journeys:\n  session_gap_minutes: soon\n")
    assert main(["run", "--config", str(cfg)]) == 2
    assert (
        "journeys.session_gap_minutes: expected number or null, got text" in capsys.readouterr().err
    )


def test_unknown_or_mistyped_cli_parameter_is_exit_2(fake_series, tmp_path, capsys):
    out = tmp_path / "r"
    assert (
        main(["run", "--data", str(fake_series), "--out", str(out), "-p", "horizon_dys", "6"]) == 2
    )
    assert "-p horizon_dys: unknown notebook parameter; did you mean 'horizon_days'?" in (
        capsys.readouterr().err
    )
    assert main(["run", "--data", str(fake_series), "--out", str(out), "-p", "k_max", "x"]) == 2
    assert "-p k_max: expected integer, got text ('x')" in capsys.readouterr().err
    assert not out.exists()


def test_series_declares_its_needs():
    names = [nb.name for nb in runner.NOTEBOOKS]
    assert names == sorted(names) and len(names) == 6


CACHE_PROBE = """\
from pathlib import Path
from cxlib.contract import load_source
vd = config.get("validated_dir")
data = load_source(data_dir, config=config, as_of_date=as_of_date)
files = sorted(p.name for p in Path(vd).iterdir()) if vd else []
Path(output_dir, NAME + ".probe").write_text(
    f"{vd}|{';'.join(files)}|{len(data.tables['transactions'])}|{len(data.quarantine['transactions'])}"
)
"""


def test_notebooks_read_the_validated_tables_which_are_deleted_after_the_run(
    fake_series, tmp_path, monkeypatch
):
    """The preflight's validated tables go to a private temporary folder outside the report
    folder; notebooks get it through ``config`` and read it; it is gone after the run, also
    when a notebook fails or the input breaks the contract."""
    import tempfile

    nbdir = Path(runner.notebooks_dir())
    make_notebook(nbdir / "01_data_audit.ipynb", CACHE_PROBE, "01_data_audit")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    out = tmp_path / "reports"
    assert main(["run", "--data", str(fake_series), "--out", str(out)]) == 1  # 02 fails
    probe = (out / "latest" / "01_data_audit.probe").read_text().split("|")
    folder = Path(probe[0])
    assert folder.parent == tmp and folder.name.startswith("cx-validated-")
    assert not str(folder).startswith(str(out))
    assert probe[1] == (
        ".cx-owner;transactions.json;transactions.parquet;transactions.quarantine.parquet"
    )  # the owner marker lets a later run delete the folder if this run is killed
    assert probe[2:] == ["1", "1"]  # same accepted and quarantined rows as parsing the CSV
    assert not folder.exists() and list(tmp.iterdir()) == []
    (fake_series / "transactions.csv").write_text("customer_id,amount\na,1\n")
    assert main(["run", "--data", str(fake_series), "--out", str(out)]) == 2
    assert list(tmp.iterdir()) == []


def test_parameters_pass_the_validated_folder_only_when_there_is_one(tmp_path):
    cfg = {"data": str(tmp_path), "seed": 1, "min_group_size": 10}
    spec = runner.NOTEBOOKS[0]
    as_of = runner.pd.Timestamp("2024-01-01")
    assert (
        "validated_dir" not in runner.notebook_parameters(spec, cfg, tmp_path, as_of, "k")["config"]
    )
    params = runner.notebook_parameters(
        spec, {**cfg, "validated_dir": "/tmp/x"}, tmp_path, as_of, "k"
    )
    assert params["config"]["validated_dir"] == "/tmp/x"


def test_block_sets_notebook_parameters_and_reaches_config_whole(tmp_path):
    """A question's block sets its notebook's parameters of the same names and reaches the
    notebook whole (defaults filled in) as ``config["<block>"]``, beside ``currency``, the
    ``tables`` settings and the validated folder; a ``notebooks.<stem>.config`` override is
    merged into that config instead of replacing it."""
    cfg = {
        "data": str(tmp_path),
        "seed": 1,
        "min_group_size": 10,
        "currency": "£",
        "tables": {"events": {"file": "clicks.csv"}},
        "validated_dir": "/tmp/x",
        "journeys": {"session_gap_minutes": 45, "type_map": {"web_returns": "returns"}},
        "uplift": {"control_arm": "holdout"},
        "notebooks": {
            "05_journey_prioritisation": {"collapse_repeats": False, "config": {"extra": 1}},
            "03_churn": {"horizon_days": 60},
        },
    }
    as_of = runner.pd.Timestamp("2024-01-01")
    by_name = {spec.name: spec for spec in runner.NOTEBOOKS}
    p05 = runner.notebook_parameters(
        by_name["05_journey_prioritisation"], cfg, tmp_path, as_of, "k"
    )
    assert p05["session_gap_minutes"] == 45
    assert p05["collapse_repeats"] is False  # notebooks.<stem> wins over the block
    assert "type_map" not in p05  # not a notebook parameter: it comes through config
    assert "control_arm" not in p05
    conf = p05["config"]
    assert conf["journeys"]["session_gap_minutes"] == 45
    assert conf["journeys"]["collapse_repeats"] is False
    assert conf["journeys"]["type_map"] == {"web_returns": "returns"}
    assert conf["journeys"]["conversion_touchpoint"] == "purchase"  # a default
    assert conf["journeys"]["fix_effort"] is None
    assert conf["currency"] == "£"
    assert conf["tables"] == {"events": {"file": "clicks.csv"}}
    assert conf["validated_dir"] == "/tmp/x"
    assert conf["extra"] == 1
    assert conf["uplift"]["control_arm"] == "holdout"
    p04 = runner.notebook_parameters(by_name["04_campaign_uplift"], cfg, tmp_path, as_of, "k")
    assert p04["control_arm"] == "holdout" and "session_gap_minutes" not in p04
    assert "extra" not in p04["config"]
    p03 = runner.notebook_parameters(by_name["03_churn"], cfg, tmp_path, as_of, "k")
    assert p03["horizon_days"] == 60 and p03["config"]["churn"]["horizon_days"] == 60
    # no block set: no block parameter is injected (the notebook keeps its own defaults)
    p01 = runner.notebook_parameters(by_name["01_data_audit"], cfg, tmp_path, as_of, "k")
    assert set(p01) == {
        "data_dir",
        "output_dir",
        "as_of_date",
        "seed",
        "min_group_size",
        "pseudonym_key",
        "config",
    }
    assert p01["config"]["audit"]["consent_retention_months"] == 24


JOURNEY_PROBE = """\
import json
import os
import shutil
import tempfile
from pathlib import Path
Path(output_dir, NAME + ".probe").write_text(json.dumps({
    "session_gap_minutes": session_gap_minutes,
    "journeys": config.get("journeys"),
    "currency": config.get("currency"),
    "validated_dir": bool(config.get("validated_dir")),
}))
"""


def test_journeys_block_reaches_notebook_05_and_the_manifest(fake_series, tmp_path):
    """``journeys: {session_gap_minutes: 45}`` in cx.yml is notebook 05's parameter (injected
    into its parameters), is in its ``config["journeys"]``, and the manifest records it under
    ``parameters.options.journeys``."""
    nbdir = Path(runner.notebooks_dir())
    make_notebook(
        nbdir / "05_journey_prioritisation.ipynb",
        JOURNEY_PROBE,
        "05_journey_prioritisation",
        extra_params="session_gap_minutes = 30\ncollapse_repeats = True",
    )
    (fake_series / "events.csv").write_text(
        "customer_id,timestamp,touchpoint\na,2024-01-01 10:00,app_browse\n"
    )
    out = tmp_path / "reports"
    cfg = tmp_path / "cx.yml"
    cfg.write_text(
        f"data: {fake_series}\nout: {out}\ncurrency: '£'\n"
        "journeys:\n  session_gap_minutes: 45\n  fix_effort: {app_browse: low}\n"
    )
    assert main(["run", "--config", str(cfg), "--only", "05"]) == 0
    latest = out / "latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    assert [nb["status"] for nb in manifest["notebooks"]] == ["ok"]
    options = manifest["parameters"]["options"]
    assert list(options) == ["journeys"]  # the questions run
    assert options["journeys"]["session_gap_minutes"] == 45
    assert options["journeys"]["fix_effort"] == {"app_browse": "low"}
    assert options["journeys"]["collapse_repeats"] is True
    assert manifest["parameters"]["currency"] == "£"
    probe = json.loads((latest / "05_journey_prioritisation.probe").read_text())
    assert probe["session_gap_minutes"] == 45
    assert probe["journeys"] == options["journeys"]
    assert probe["currency"] == "£" and probe["validated_dir"] is True
    executed = nbformat.read(latest / "05_journey_prioritisation.ipynb", as_version=4)
    injected = next(
        c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])
    )
    assert "session_gap_minutes = 45\n" in injected.source
    assert "\ncollapse_repeats = " not in injected.source  # not set: the notebook's default


def test_journeys_session_gap_changes_the_journeys_of_notebook_05(tmp_path, monkeypatch):
    """The real notebook 05 on clickstream events without journey ids, 40 minutes apart:
    ``journeys: {session_gap_minutes: 45}`` joins each customer's three events into one journey
    where the default splits them into three (gaps all alike show no valley: the 30-minute
    fallback; the manifest records the unset gap as null, "from the data")."""
    monkeypatch.delenv("CX_NOTEBOOKS", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    data = tmp_path / "data"
    data.mkdir()
    lines = ["customer_id,timestamp,touchpoint,channel"]
    for i in range(40):
        steps = ["app_browse", "web_checkout", "purchase"] if i % 2 else ["app_browse"] * 2
        for k, touchpoint in enumerate(steps):
            at = runner.pd.Timestamp("2024-03-01 09:00") + runner.pd.Timedelta(
                hours=i, minutes=40 * k
            )
            lines.append(f"C{i:03d},{at:%Y-%m-%d %H:%M},{touchpoint},web")
    (data / "events.csv").write_text("\n".join(lines) + "\n")
    journeys = {}
    for gap in (None, 45):
        out = tmp_path / f"reports-{gap}"
        cfg = tmp_path / f"cx-{gap}.yml"
        block = f"journeys: {{session_gap_minutes: {gap}}}\n" if gap else ""
        cfg.write_text(f"data: {data}\nout: {out}\nonly: ['05']\n{block}")
        assert main(["run", "--config", str(cfg)]) == 0
        manifest = json.loads((out / "latest" / "manifest.json").read_text())
        assert manifest["parameters"]["options"]["journeys"]["session_gap_minutes"] == gap
        priorities = runner.pd.read_csv(out / "latest" / "exports" / "journey_priorities.csv")
        journeys[gap] = int(priorities["journeys"].sum())
    assert journeys == {None: 100, 45: 40}


def test_manifest_options_cover_every_question_run(fake_series, tmp_path):
    out = tmp_path / "reports"
    code = main(
        [
            "run",
            "--data",
            str(fake_series),
            "--out",
            str(out),
            "--only",
            "01,03",
            "-p",
            "n_bootstrap",
            "9",
        ]
    )
    assert code == 0
    manifest = json.loads((out / "latest" / "manifest.json").read_text())
    options = manifest["parameters"]["options"]
    assert list(options) == ["audit", "churn"]
    assert options["churn"]["n_bootstrap"] == 9  # -p reaches the options of the notebooks run
    assert options["churn"]["horizon_days"] == 90
    assert options["audit"] == {
        "consent_retention_months": 24,
        "match_threshold": 0.99,
        "postcode_regex": None,
        "channel_synonyms": None,
        "default_region": "GB",
        "refund_rule": "evidence",
        "cancellation_prefix": "C",
    }


def test_release_memory_returns_freed_arrow_memory():
    import pandas as pd
    import psutil

    proc = psutil.Process()
    big = pd.Series([f"customer-{i:09d}" for i in range(2_000_000)], dtype="str")
    held = proc.memory_info().rss
    del big
    runner.release_memory()
    assert proc.memory_info().rss < held - 20 * 2**20  # at least 20 MiB of ~50 MiB given back


def test_sigterm_during_a_run_deletes_the_validated_tables(sample_dir, tmp_path):
    """A scheduler's stop (SIGTERM) mid-run still deletes the private folder of validated tables
    (it holds personal data) and ends `cx run` with exit code 143."""
    import os
    import signal
    import subprocess
    import sys
    import time

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cxlib.cli",
            "run",
            "--data",
            str(sample_dir),
            "--out",
            str(tmp_path / "reports"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not list(tmp.glob("cx-validated-*/*.parquet")):
        assert proc.poll() is None and time.monotonic() < deadline, "no validated tables seen"
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "cx: terminated" in err and "Traceback" not in err
    assert list(tmp.glob("cx-validated-*")) == []


def test_sigterm_inside_a_duckdb_query_is_exit_143_not_bad_input(monkeypatch, capsys):
    """DuckDB turns the SystemExit of the SIGTERM handler into "Query interrupted"; a reader that
    wraps read errors as bad input must not turn a scheduler's stop into exit code 2 (seen in CI
    when the signal arrived while a CSV file was being read). The stop must also be prompt:
    without ``con.interrupt()`` in ``raise_if_interrupted`` DuckDB sometimes kept the query
    running and ``close()`` waited for it (this test hung for 8-9 minutes in 2 of 9 runs)."""
    import os
    import signal
    import threading
    import time

    import duckdb

    from cxlib import cli
    from cxlib.sources import SourceError, raise_if_interrupted

    connections = []
    started = threading.Event()

    def busy_reader(args):
        con = duckdb.connect()
        connections.append(con)
        try:
            started.set()
            con.sql(
                "SELECT count(*) FROM range(100000000000) t(i) WHERE hash(i) % 7 = 1"
            ).fetchone()
        except Exception as exc:
            raise_if_interrupted(exc, con)
            raise SourceError(f"x.csv: cannot be read as CSV ({exc})") from None
        finally:
            con.close()

    def stop_when_reading():  # the signal comes while the query runs, however busy the machine
        if started.wait(60):
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGTERM)

    watchdog_fired = threading.Event()

    def watchdog():  # a signal the query never noticed fails the test instead of hanging it
        watchdog_fired.set()
        for con in connections:
            con.interrupt()

    monkeypatch.setattr(cli, "_check", busy_reader)
    before = signal.getsignal(signal.SIGTERM)
    stopper = threading.Thread(target=stop_when_reading, daemon=True)
    guard = threading.Timer(120, watchdog)
    stopper.start()
    guard.start()
    try:
        code = cli.main(["check", "--data", "unused"])
    finally:
        guard.cancel()
        stopper.join(timeout=5)
    assert not watchdog_fired.is_set(), "the SIGTERM did not stop the query within 120 s"
    assert code == 143
    err = capsys.readouterr().err
    assert "cx: terminated" in err and "cx: error" not in err
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is restored


def test_an_interrupted_query_is_not_reported_as_an_unreadable_file():
    from cxlib.sources import raise_if_interrupted

    with pytest.raises(KeyboardInterrupt):
        raise_if_interrupted(RuntimeError("Query interrupted"))
    raise_if_interrupted(RuntimeError("Invalid Input Error: CSV Error on Line: 3"))  # no raise


def test_an_interrupted_query_is_stopped_inside_duckdb_too():
    """``raise_if_interrupted(exc, con)`` interrupts the connection before re-raising (DuckDB may
    keep a signal-stopped query running on its worker threads); a closed connection is fine."""
    import duckdb

    from cxlib.sources import raise_if_interrupted

    class Con:
        interrupted = 0

        def interrupt(self):
            self.interrupted += 1

    con = Con()
    raise_if_interrupted(RuntimeError("CSV Error on Line: 3"), con)
    assert con.interrupted == 0
    with pytest.raises(KeyboardInterrupt):
        raise_if_interrupted(RuntimeError("Query interrupted"), con)
    assert con.interrupted == 1
    closed = duckdb.connect()
    closed.close()
    with pytest.raises(KeyboardInterrupt):
        raise_if_interrupted(RuntimeError("Query interrupted"), closed)


def test_first_fingerprints_are_those_of_the_folder_source(fake_series, tmp_path):
    """The runner fingerprints a folder's files on a second thread while it validates them;
    they are the folder source's own fingerprints (every file, SHA-256 of every byte)."""
    from cxlib.sources import FolderSource, file_fingerprint

    cfg = {"tables": {}}
    got = runner._folder_fingerprints(str(fake_series), cfg)
    assert got == FolderSource(fake_series).fingerprints()
    assert got["transactions"] == file_fingerprint(fake_series / "transactions.csv")
    assert runner._folder_fingerprints(str(tmp_path / "missing"), cfg) is None
    assert runner._folder_fingerprints("postgresql://u@h:5432/db/s", cfg) is None
    assert runner._folder_fingerprints("spark:/tmp/x", cfg) is None


def test_uplift_covariate_decisions_go_to_the_manifest(tmp_path):
    """Issue #19: every campaign column left out of the uplift models is recorded with its
    reason in manifest.json (from notebook 04's ``uplift_covariates.csv``)."""
    assert runner.uplift_covariates(tmp_path) is None  # notebook 04 did not run
    (tmp_path / "exports").mkdir()
    pd.DataFrame(
        {
            "column": ["age_band", "email_opened"],
            "used": [True, False],
            "reason": ["", "its name marks a response recorded after the send ('opened')"],
        }
    ).to_csv(tmp_path / "exports" / "uplift_covariates.csv", index=False)
    got = runner.uplift_covariates(tmp_path)
    assert got == [
        {"column": "age_band", "used": True, "reason": ""},
        {
            "column": "email_opened",
            "used": False,
            "reason": "its name marks a response recorded after the send ('opened')",
        },
    ]
    assert json.loads(json.dumps(got)) == got


def test_console_has_no_tcp_warning(fake_series, tmp_path, capfd, monkeypatch):
    """Issue #21: kernels talk over local IPC sockets, so ipykernel's "running over TCP without
    encryption" warning (printed by the kernel process, hence ``capfd``) never reaches the
    console; the socket folder is removed after each notebook."""
    made: list[Path] = []
    make_folder = runner.kernel_socket_folder

    def recording_folder() -> tempfile.TemporaryDirectory:
        folder = make_folder()
        made.append(Path(folder.name))
        return folder

    # Another run on the machine (CI runs two test jobs at once) may hold its own
    # cx-kernel-* folders, so the test follows the folders this run made, not a glob.
    monkeypatch.setattr(runner, "kernel_socket_folder", recording_folder)
    main(["run", "--data", str(fake_series), "--out", str(tmp_path / "reports"), "--only", "01"])
    captured = capfd.readouterr()
    assert "[1/1] 01_data_audit" in captured.err
    assert "TCP without encryption" not in captured.err + captured.out
    assert len(made) == 1 and made[0].name.startswith("cx-kernel-")
    assert not made[0].exists()


SKIP_SOURCE = """
from cxlib.report import Findings
f = Findings(output_dir, notebook=NAME)
f.skip("no control group", fix='uplift: {control_arm: "No E-Mail"} in cx.yml', configuration=True)
f.save()
"""


def test_a_notebook_that_cannot_analyse_is_skipped_with_its_fix(fake_series, tmp_path):
    """Issue #21: a notebook that ran but could not produce its analysis is ``skipped`` (not
    ``ok``) with its reason and fix, amber on the index page; when every requested notebook is
    skipped for configuration the run exits 3."""
    make_notebook(
        Path(os.environ["CX_NOTEBOOKS"]) / "04_campaign_uplift.ipynb",
        SKIP_SOURCE,
        "04_campaign_uplift",
    )
    (fake_series / "campaign.csv").write_text("customer_id,group,converted\na,x,0\nb,y,1\n")
    out = tmp_path / "reports"
    code = main(["run", "--data", str(fake_series), "--out", str(out), "--only", "04"])
    manifest = json.loads((out / "latest" / "manifest.json").read_text())
    [entry] = manifest["notebooks"]
    assert entry["status"] == "skipped" and entry["reason"] == "no control group"
    assert entry["fix"] == 'uplift: {control_arm: "No E-Mail"} in cx.yml'
    assert entry["configuration"] is True
    assert code == 3
    index = (out / "latest" / "index.html").read_text()
    assert "#e6a100" in index and "To run it: uplift: {control_arm: &quot;No E-Mail&quot;}" in index
    # with a notebook that ran ok as well, the run is not "nothing produced"
    assert main(["run", "--data", str(fake_series), "--out", str(out), "--only", "01,04"]) == 0


def test_every_notebook_skipped_for_missing_tables_exits_3(fake_series, tmp_path):
    out = tmp_path / "reports"
    code = main(["run", "--data", str(fake_series), "--out", str(out), "--only", "04,05"])
    manifest = json.loads((out / "latest" / "manifest.json").read_text())
    assert [nb["status"] for nb in manifest["notebooks"]] == ["skipped", "skipped"]
    assert all(nb["fix"].startswith("add ") for nb in manifest["notebooks"])
    assert code == 3


def test_day_month_swaps_do_not_move_the_analysis_date(sample_dir, tmp_path):
    """Issue #20: rows dated months after the rest by a day/month swap leave the analysis date
    at the day the data really ends; the manifest and the index page say where it comes from."""
    data = tmp_path / "data"
    shutil.copytree(sample_dir, data)
    tx = pd.read_csv(data / "transactions.csv", dtype=str)
    late = tx.head(6).copy()
    late["transaction_id"] = [f"SWAP-{i}" for i in range(len(late))]
    late["timestamp"] = "2025-12-06 10:00:00"  # 12 June written day first
    pd.concat([tx, late]).to_csv(data / "transactions.csv", index=False)
    out = tmp_path / "out"
    assert main(["run", "--data", str(data), "--out", str(out), "--only", "01"]) == 0
    latest = out / "latest"
    params = json.loads((latest / "manifest.json").read_text())["parameters"]
    assert params["as_of_date"] == "2025-06-30"
    assert params["as_of_date_source"] == "latest data before a gap"
    assert "6 later row(s), up to 06 December 2025" in params["as_of_date_note"]
    assert "the last day of the transactions before a gap" in (latest / "index.html").read_text()
    audit_html = (latest / "01_data_audit.html").read_text()
    assert "look like day and month swapped" in audit_html


def test_data_without_dates_needs_an_analysis_date(tmp_path, capsys):
    """Issue #21: without dated transactions or events the run does not take today silently:
    exit 2, one line naming the setting; with ``--as-of`` it runs."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "customers.csv").write_text(
        "customer_id,signup_date\n" + "".join(f"C{i},2024-01-{1 + i % 28:02d}\n" for i in range(40))
    )
    out = tmp_path / "out"
    assert main(["run", "--data", str(data), "--out", str(out), "--only", "01"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cx:")]
    assert len(err) == 1 and "as_of_date: YYYY-MM-DD" in err[0] and "--as-of" in err[0]
    code = main(
        ["run", "--data", str(data), "--out", str(out), "--only", "01", "--as-of", "2025-01-31"]
    )
    assert code == 0
    params = json.loads((out / "latest" / "manifest.json").read_text())["parameters"]
    assert params["as_of_date_source"] == "parameter"


def test_kernel_sockets_stay_short_under_a_deep_temporary_folder(tmp_path, monkeypatch):
    """A Unix socket path holds at most 104-108 bytes: under a deep TMPDIR the kernel's socket
    could not be bound and the run waited for a kernel that never answered. The sockets go
    under /tmp then; a folder that is still too long falls back to TCP."""
    import tempfile

    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    with runner.kernel_socket_folder() as sockets:
        assert len(str(Path(sockets) / "kernel-65535")) <= runner.MAX_SOCKET_PATH
        assert runner.local_kernel(Path(sockets))["kernel_manager_class"] is not None
    assert runner.local_kernel(deep) == {}
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with runner.kernel_socket_folder() as sockets:
        assert Path(sockets).parent == tmp_path or len(str(tmp_path)) > 60
