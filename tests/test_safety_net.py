"""Safety net of the one-path restructuring (issue #18): the same inputs and seed give the same
exports and headline files, byte for byte, as before the move.

The digests were recorded on commit af09ea2 (before any analysis moved) from ``cx run`` on
``data/sample`` and on ``cx synth --customers 20000 --seed 7``, with the pseudonymisation key
``cx-safety-net``. Floats in exports carry 10 significant digits
(:data:`cxlib.privacy.EXPORT_FLOAT_FORMAT`), so the bytes do not depend on the last bits of a
machine's floating point. A digest may change only where a change fixes a bug; the CHANGELOG then
says which and why, and the digest here is updated in the same commit.

Re-recorded on 2026-12-07 after the conclusions work of issues #19–#21 (CHANGELOG, "Safety-net
digests"): every headline file (they now carry a skip status), `churn_scores.csv`,
`customer_master_map.csv`, `data_quality.csv`, `journey_priorities.csv`, `segments.csv`,
`uplift_scores.csv`, and the new `uplift_targeting.csv` and `uplift_covariates.csv`;
`attribution.csv` and `uplift_readout.csv` are unchanged.

The 20,000-person `churn_scores.csv` again on 2026-12-07 (issue #22, BLAS on one thread in the
Gamma-Gamma and covariate fits): 7-8 of 16,253 rows move in the 10th significant digit of
`expected_value`, `value_if_alive` and `value_at_risk` (at most 4.5e-10 relative), because
OpenBLAS no longer splits the likelihood's sums over two threads.

Notebook 06 (next best action, issue #23) added its files on 2026-12-07: `next_best_action.csv`,
`cross_sell.csv`, `campaign_touchpoints.csv` and `headlines/06_next_best_action.json` (the
20,000-person folder has no offer catalogue, so its plan is skipped and `next_best_action.csv` is
not written); every digest recorded before is unchanged.

Re-recorded on 2026-12-07 with the regenerated sample (issue #23, CHANGELOG "Sample data with
baskets, products, planted affinities and e-mail campaigns"): the input data changed, not an
analysis. Purchases are now lines with products, e-mail campaigns join the events, and
``cx synth`` writes the offer catalogue, so every export and headline file of both runs changed
except ``customer_master_map.csv`` and ``uplift_covariates.csv``, and the 20,000-person run now
writes ``next_best_action.csv``. The report changes made with it (offer names, funnel steps in
words, e-mails without a campaign id named so) show in ``headlines/06_next_best_action.json``.

Re-recorded on 2026-12-08: a segment is named by its category when that sets it apart most
(CHANGELOG "Segment names"), in ``segments.csv`` and the headlines that name segments, and the
files that carry the segments' names on (churn, uplift, notebook 06's plan); the cross-sell's
combined model also reads a linear item model (EASE), in ``cross_sell.csv``. The journeys' files
are unchanged by the journey build's new scan.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from file_digests import SAFETY_NET_KEY, digests

from cxlib.cli import main
from cxlib.contract import SourceData, load_source
from cxlib.privacy import write_export
from cxlib.runner import NOTEBOOKS
from cxlib.synth import generate

pytestmark = pytest.mark.slow

KEY = SAFETY_NET_KEY

SAMPLE_DIGESTS = {
    "exports/attribution.csv": "fb515377e308da8b20e51a7533dc1688d1fba122a778c158156f7ce434fbbd40",
    "exports/campaign_touchpoints.csv": "0fbe6a5c49081a2f94c34bfa867e2c81d794be6bbe3668add99b985e219e3d96",
    "exports/churn_scores.csv": "18dbf625789fbb2bc1cec098d9772afab80a7fd77b16469b2a18d77681b5f5e7",
    "exports/cross_sell.csv": "ef068a3aac087d51edcb5ebd8462e9a4a8fc6664fc6540277e9763d129b578e2",
    "exports/customer_master_map.csv": "d8184fef68ec2a45b9e239d890534f7174f9ce65a63e0fe9d9757d1d0cb04339",
    "exports/data_quality.csv": "a2222b396ed6b5933fa507a6b3c6f6f5360f412076a467fb9b423dad66d9a8f6",
    "exports/journey_priorities.csv": "8245d63ec1dab32c63ed7ce49331cbb60601f77cce91fd0dfc7c2e8de1b6b93f",
    "exports/next_best_action.csv": "2e149f36351eda3716ad2a1ccc2c0dbf8b8d8a3de04509e6f9be9d9adb83b766",
    "exports/segments.csv": "3e065c501d0f62378ec1d2fbe3eac879f544af9729ae87f5fe602bdea5ff75c0",
    "exports/uplift_covariates.csv": "f469930dad72d96a10053dd702be1518158c40e68a5b8c782b05de4e97536522",
    "exports/uplift_readout.csv": "0564fc88fe27048dd53434f1a92f9b9b7f0b3666c564657af414fdba6da3213f",
    "exports/uplift_scores.csv": "778dcf0ae317b84763a89fcdd35f5f5e537c1863337026ce1b3e9d684a4fa364",
    "exports/uplift_targeting.csv": "1bcbefead86f5c16cf68cc4da4aa413c52f14d64597c8e5429eb06b42041f53e",
    "headlines/01_data_audit.json": "1766057027258bcbb6bb3536a52e10d8c3217e7e68eac905d3df7197c81b01db",
    "headlines/02_segmentation.json": "df086a358bbcb090ec60316ca1589d6f44aa3fa59fba98cec0323c34470bc685",
    "headlines/03_churn.json": "4614fef28cc8c5510e7949a1a30b03afc17dc5361a974b6d79f94eb59a96d2a7",
    "headlines/04_campaign_uplift.json": "e5269d009a8353edf98641ac96791ff029dd0f23b0fcbe9f85db2a6c8331199c",
    "headlines/05_journey_prioritisation.json": "cf59af61d11d797b90d8b14a769252e86b20c59e38e4093cd514305da48e9009",
    "headlines/06_next_best_action.json": "068713406d8ae71094048aefbc59b8699e401137942a8189553f14d92934c170",
}

SYNTH_20000_SEED_7_DIGESTS = {
    "exports/attribution.csv": "8b4d31e29286322ef85309d68cc89631b00408b671af5c69d2b2b2c7878cd2ab",
    "exports/campaign_touchpoints.csv": "76d075bd187c278a9c1a356c172f3ce8a43c7a71ea46337cb88fa6af6ec91b8d",
    "exports/churn_scores.csv": "fe22242e63190b68425d58cafdc5a248279e8c2844078ace672f86d33f73d562",
    "exports/cross_sell.csv": "bb5c6878149577f800922045f969749080e4172ca3d1127f446cc8c2493506d8",
    "exports/customer_master_map.csv": "759dd0aec61b46efff92961a718d13bc82e4d18d4aae46964bb62c722a9e7d49",
    "exports/data_quality.csv": "38ed9cba51fff54df07a0f2dbbdfc465b2275d55cd9c9464511f1fc11aaa6aff",
    "exports/journey_priorities.csv": "02e3f72e358e5244044daefde957243616d05845ceab189e3109a1ffa6ab3862",
    "exports/next_best_action.csv": "fd8c0e9e8e1bf11774448cff2c61e45f57c5b69e69a6630525b96b7340139060",
    "exports/segments.csv": "812c8b5ddea88d15295883d72f29fdb1bf2e30f194ef317070cec4ad6d24aed4",
    "exports/uplift_covariates.csv": "f469930dad72d96a10053dd702be1518158c40e68a5b8c782b05de4e97536522",
    "exports/uplift_readout.csv": "95401817df120480f182224a6da4f6417690b8a019b8389e1e2f7e94b718ddda",
    "exports/uplift_scores.csv": "3794457520f2ae8b564d98c0c3890eaaf3059f04b9bd37d6d60eadbd5323c414",
    "exports/uplift_targeting.csv": "6e05b977915a80672e89c2d11c779ed618302606aa381617e877a228aa052b66",
    "headlines/01_data_audit.json": "fb073cec3afb472bc60e42d21b4c7ccf09b8fad252856396e3399cebcef9ce8b",
    "headlines/02_segmentation.json": "57c78f11f51628e2325397e7b436225fcf3f2c2374ab763ab45a4fca05c28571",
    "headlines/03_churn.json": "fecbdaa617d4feafcdc43757914c400b12872aea80933cf0b5fa9609943f961a",
    "headlines/04_campaign_uplift.json": "2157ca109f408546175012def207d00846913aa9ccc7e76a4cceb65193fb7e17",
    "headlines/05_journey_prioritisation.json": "15f5f2428c304141121f8753c61faffb314977f50f2184b38d0eee8fc22458f3",
    "headlines/06_next_best_action.json": "333ccec67b01661d95e986f8f3633b444efba66c1224994711217e7c499746c7",
}


def run_files(run_dir: Path) -> dict[str, str]:
    """SHA-256 of every export and headline file of a run folder, keyed as in the digests."""
    return {
        f"{sub}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in ("exports", "headlines")
        for p in sorted((run_dir / sub).iterdir())
    }


def run_digests(data: Path, out: Path) -> dict[str, str]:
    """``cx run`` on ``data`` and the SHA-256 of every export and headline file it wrote."""
    assert main(["run", "--data", str(data), "--out", str(out)]) == 0
    return run_files((out / "latest").resolve())


def assert_equals_the_folder_run(
    run: tuple[int, Path, str], sample_dir: Path, scratch: Path
) -> tuple[dict, SourceData]:
    """Checks shared by the whole-series runs on other sources (PostgreSQL, Spark) of the sample:
    every notebook ok, exit 0, inputs unchanged; exports and headline files byte-identical to
    :data:`SAMPLE_DIGESTS` (which the folder run is checked against here, so no second folder
    run is needed); quarantine files as the folder source gives them (written under
    ``scratch``). Returns the run's manifest and the folder source, for the source's own checks.
    """
    code, run_dir, err = run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    status = {nb["name"]: nb.get("error") or nb["status"] for nb in manifest["notebooks"]}
    assert status == {nb.name: "ok" for nb in NOTEBOOKS}, (status, err[-2000:])
    assert code == 0 and manifest["inputs"]["unchanged"] is True
    got = run_files(run_dir)
    assert sorted(got) == sorted(SAMPLE_DIGESTS)
    assert {k for k in got if got[k] != SAMPLE_DIGESTS[k]} == set()
    folder = load_source(sample_dir)
    for name, q in folder.quarantine.items():
        if len(q):
            write_export(q, scratch / "quarantine" / f"{name}.csv")
    assert len(digests(scratch / "quarantine")) == 2
    assert digests(run_dir / "quarantine") == digests(scratch / "quarantine")
    return manifest, folder


def test_sample_run_is_byte_identical(sample_series_run):
    """The session's run of the series on the sample (conftest.py, with this key) writes the
    recorded bytes: same inputs and seed, same exports and headline files, run after run."""
    code, latest, _ = sample_series_run
    assert code == 0
    assert run_files(latest.resolve()) == SAMPLE_DIGESTS


def test_synth_20000_seed_7_run_is_byte_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("CX_PSEUDONYM_KEY", KEY)
    generate(20_000, 7, tmp_path / "data")
    assert run_digests(tmp_path / "data", tmp_path / "out") == SYNTH_20000_SEED_7_DIGESTS
