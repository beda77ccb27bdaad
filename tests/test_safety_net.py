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
    "exports/attribution.csv": "d96bfcb22fea171ce6480491f8defe9e9cb46d47a9f9532570480b5d527133c5",
    "exports/campaign_touchpoints.csv": "eb1b50e5f498d7a748a96d28558e4b9cf42678c423d8b4ce419454a01649da89",
    "exports/churn_scores.csv": "05050b93dea0c09575f302cdb2dec1ac911b05e7b023d4875f747f02540318c5",
    "exports/cross_sell.csv": "56d0eaa5e5dc9a6e39c1884f159439bf66e6d2cd66d55318b098e5720cf91dff",
    "exports/customer_master_map.csv": "d8184fef68ec2a45b9e239d890534f7174f9ce65a63e0fe9d9757d1d0cb04339",
    "exports/data_quality.csv": "9984460e7785c537aea06d80a4d2e21fdf57bacf65d2186bd0930932756345fa",
    "exports/journey_priorities.csv": "07493a518f886a7edd77d8abc0337a7ae63726fb8034865daf2fc8574bd9c803",
    "exports/next_best_action.csv": "f51b58da1ae4e6c2540ad4de65b948fce61d392469fd244bfe109e88618dd6c3",
    "exports/segments.csv": "e8c048f45276fec556587dd25b35949f89befda36b74f763f9dbd9f7f0bd5eb2",
    "exports/uplift_covariates.csv": "f469930dad72d96a10053dd702be1518158c40e68a5b8c782b05de4e97536522",
    "exports/uplift_readout.csv": "ca8f2bd2161c45d3564b0ce4654bbf9702c04801a7463f1aea4cc0bf86db5780",
    "exports/uplift_scores.csv": "2fcd9afa7fd3aa0a3a58dec03432bdac648a29542f902243725d0879c63720e8",
    "exports/uplift_targeting.csv": "75a353bb8a23cc146ad8dc6dd88d0b3db5f74a36ebf2702b5edfdd1f483d8131",
    "headlines/01_data_audit.json": "117200b51ceb03f53bda61d6e3a20a27988a9792bd3083326d7e433a6e0e5e97",
    "headlines/02_segmentation.json": "6d744f3b56f042642d2d138bd46e06eb8e3a5e97fda04f19542fa4d88bd27d0f",
    "headlines/03_churn.json": "aafe6a19175a788fa8119fca79907f78ce8ed896dab51940a104479a11a2db11",
    "headlines/04_campaign_uplift.json": "28b15b4eb1b4f91e6c6be977c92148fd121bfdb8eec7a42ec0f2d03c07337d14",
    "headlines/05_journey_prioritisation.json": "ad2c1cf341ea5f3111d83e114e78da28901c26925b3c7ddd2c28282be0cd0bf8",
    "headlines/06_next_best_action.json": "1a124266100cb2b31a2303932cf0b0fdb5144a94a7eb3ebedb739baeaa3d5d97",
}

SYNTH_20000_SEED_7_DIGESTS = {
    "exports/attribution.csv": "ce4047f14bb87fe760f914a1515682e371b9ba1803a2c7dc7a59a3a2562300e2",
    "exports/campaign_touchpoints.csv": "7fcc0fb3b46012bda3bc664ec5dbb935b200131d909059676d0632112c3dfea0",
    "exports/churn_scores.csv": "c309be8e2cd41b6e03383db1fe326496d8e25ad32b5f2b44860bb756b3ceeb25",
    "exports/cross_sell.csv": "e7a161deff97a6e958d45388a6880391217f80da701e5780d9c24f28150fd567",
    "exports/customer_master_map.csv": "759dd0aec61b46efff92961a718d13bc82e4d18d4aae46964bb62c722a9e7d49",
    "exports/data_quality.csv": "97603a92bae5e12af2f23ae83a59e7296de6652314b490307bba5244d6bcfcc4",
    "exports/journey_priorities.csv": "e4d411df40d8b75a7330ec9d34dc4a639dda1546ad96854147510e630a4c0e72",
    "exports/segments.csv": "ec006eec98ea90ced6acee20a6bf8d498ffa9f38af18d7d83830363aa38ed504",
    "exports/uplift_covariates.csv": "f469930dad72d96a10053dd702be1518158c40e68a5b8c782b05de4e97536522",
    "exports/uplift_readout.csv": "bdfad6a6aa22bcd2fbf421b27d27f723ec9bc2720408aa1bea3e79fefebf1c94",
    "exports/uplift_scores.csv": "6afa82932d5551b2b2dd6b3fa0b3425418f94d7566cdef157111bd7176f0657c",
    "exports/uplift_targeting.csv": "1c7649dc645798fcd7b7c2e63fb1913cc206396d866414979c369b6049bf18e1",
    "headlines/01_data_audit.json": "939b2e5fb9bc2ead0667db05573a4a3511468ceb362cc67f71c28e1323761d61",
    "headlines/02_segmentation.json": "97ef4978eda9865371b7052b8ab4b4d7ee95ac87669927ec7525b56d31baf353",
    "headlines/03_churn.json": "5ea22a7ad45c280edc732e1faf290b181d0ef547bb761602630ba1220061157b",
    "headlines/04_campaign_uplift.json": "6e3cd66d491498b1f7c1a246d6e8d302c21ed53d1ee2fa1d1a402d76f16b9289",
    "headlines/05_journey_prioritisation.json": "414dc4e8143962a40177c425b02dc1486413b4e53ec62aca4a96ef1fc3d1ee2a",
    "headlines/06_next_best_action.json": "b6caa9c1e1c662294c11b574d2f830cbf9157fcbf1add73b2497b49dfdbb8227",
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
