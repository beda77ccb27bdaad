"""Issue #21: the reports of runs on real public data read as briefings.

``cx run`` on Hillstrom (campaign), IBM Telco (contractual churn) and the CDNOW sample
(transactions), each configured as an analyst would (a ``cx.yml`` with the column mapping and
an analysis date where the data has none; fewer folds and resamples than the defaults, which
change the numbers, not the text). Every HTML page is scanned with :mod:`report_scan`: no
``nan``, ``inf``, scientific notation or code name outside code type, and every image has a text
alternative. Needs CX_REALDATA.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from report_scan import data_names, run_defects
from test_churn_realdata import TELCO_CONFIG
from test_uplift_hillstrom import CONFIG as HILLSTROM_CONFIG

from cxlib.cli import main

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

#: dataset → (folder under CX_REALDATA, cx.yml, files whose names may be shown, statuses); the
#: column mappings are the real-data tests' own (Hillstrom, Telco)
RUNS = {
    "hillstrom": (
        ".",
        {
            **HILLSTROM_CONFIG,
            "as_of_date": "2008-06-30",
            "uplift": {"n_folds": 2, "n_bootstrap": 50},
        },
        ("hillstrom.csv",),
        {"04_campaign_uplift": "ok"},
    ),
    "telco": (
        ".",
        {
            **TELCO_CONFIG,
            "as_of_date": "2020-01-31",
            "churn": {"n_bootstrap": 50, "segment_column": "Contract", "duration_column": "tenure"},
        },
        ("telco_churn.csv",),
        {"01_data_audit": "ok", "03_churn": "ok"},
    ),
    "cdnow": (
        "cdnow_sample",
        {"churn": {"n_bootstrap": 50}},
        ("transactions.csv",),
        {"01_data_audit": "ok", "02_segmentation": "ok", "03_churn": "ok"},
    ),
}


@pytest.fixture(scope="module", params=sorted(RUNS))
def real_run(request, realdata: Path, tmp_path_factory):
    folder, config, files, statuses = RUNS[request.param]
    data = realdata / folder
    if not all((data / f).is_file() for f in files):
        pytest.skip(f"{', '.join(files)} not in CX_REALDATA/{folder}")
    work = tmp_path_factory.mktemp(request.param)
    (work / "cx.yml").write_text(yaml.safe_dump(config))
    code = main(
        [
            "run",
            "--data",
            str(data),
            "--config",
            str(work / "cx.yml"),
            "--out",
            str(work / "reports"),
        ]
    )
    return request.param, code, work / "reports" / "latest", data_names(data, files), statuses


def test_runs_and_reads_as_a_briefing(real_run):
    name, code, latest, allow, statuses = real_run
    assert code == 0, name
    manifest = json.loads((latest / "manifest.json").read_text())
    status = {nb["name"]: nb.get("error") or nb["status"] for nb in manifest["notebooks"]}
    assert {k: status[k] for k in statuses} == statuses, status
    assert run_defects(latest, allow) == {}, name
    if name == "hillstrom":  # a clean campaign file: no empty chart, a sentence instead
        audit_page = (latest / "01_data_audit.html").read_text(encoding="utf-8")
        assert "No data-quality rule failed" in audit_page
        assert "Every column is filled in on every row" in audit_page
        assert "Largest data-quality issues" not in audit_page
