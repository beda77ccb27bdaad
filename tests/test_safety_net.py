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

Re-recorded on 2026-12-08 for the category-share fix (CHANGELOG "Fixed: category shares count a
basket's lines"): a purchase's category was its first line's; the shares now count the lines,
with the new ``n_lines_total``, and a segment named by its category when that sets it apart
most. Segmentation and churn change, hence ``segments.csv``, ``churn_scores.csv``, the uplift
files that carry the segments, notebook 06's plan and the headlines of 02, 03, 04 and 06; the
cross-sell's combined model also reads a linear item model (EASE) now, in ``cross_sell.csv``.
The journeys' files are unchanged by the journey build's new scan (same commit range).
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
    "exports/churn_scores.csv": "9b508e6a8114b8fc6847697713cdc4b386abb74bde8cb14fb13f369669326d6c",
    "exports/cross_sell.csv": "722668b2ecab9cfaea4c110334894f3144bb20250ac66c990ede6bd4f85fb4d6",
    "exports/customer_master_map.csv": "d8184fef68ec2a45b9e239d890534f7174f9ce65a63e0fe9d9757d1d0cb04339",
    "exports/data_quality.csv": "a2222b396ed6b5933fa507a6b3c6f6f5360f412076a467fb9b423dad66d9a8f6",
    "exports/journey_priorities.csv": "8245d63ec1dab32c63ed7ce49331cbb60601f77cce91fd0dfc7c2e8de1b6b93f",
    "exports/next_best_action.csv": "1c560885cdae36fcf458bbbb104eabe3bc63e82ee742d5cca2219744227dfbe8",
    "exports/segments.csv": "cc0ba92074a84b914f77e6d399120f204b5ee4fe0647dea0a7773b287e20656b",
    "exports/uplift_covariates.csv": "f469930dad72d96a10053dd702be1518158c40e68a5b8c782b05de4e97536522",
    "exports/uplift_readout.csv": "0564fc88fe27048dd53434f1a92f9b9b7f0b3666c564657af414fdba6da3213f",
    "exports/uplift_scores.csv": "15140ab34f340cee7162c15fc583f1861495e0bf94b4e599f59f25889d512d7a",
    "exports/uplift_targeting.csv": "2208047908fa2e58633eeeb0a930c1cd26a91cbaa898d21ee3e7b40330dd0c96",
    "headlines/01_data_audit.json": "1766057027258bcbb6bb3536a52e10d8c3217e7e68eac905d3df7197c81b01db",
    "headlines/02_segmentation.json": "5c6bdcc0882162efe8f1ee4dbc14703e8122c3548ae03d9b178a1c8d3fd428a2",
    "headlines/03_churn.json": "945ec792652b5be0dc9d04ed7735a0603dc7d608c3286a52bcd61ed2ddf013a4",
    "headlines/04_campaign_uplift.json": "36ef9b735371b42669d71d7679c179fd3ada8fa93f24949946c26378cdbdf1a0",
    "headlines/05_journey_prioritisation.json": "cf59af61d11d797b90d8b14a769252e86b20c59e38e4093cd514305da48e9009",
    "headlines/06_next_best_action.json": "801c6077157bf019b4b5d017137c3ef0c5a71a064a3a1d52af11ad08bbc03a42",
}

SYNTH_20000_SEED_7_DIGESTS = {
    "exports/attribution.csv": "8b4d31e29286322ef85309d68cc89631b00408b671af5c69d2b2b2c7878cd2ab",
    "exports/campaign_touchpoints.csv": "76d075bd187c278a9c1a356c172f3ce8a43c7a71ea46337cb88fa6af6ec91b8d",
    "exports/churn_scores.csv": "948052419f3484e75c284b00ab28abdee56e4cb85db67458d5d27a7449cbf150",
    "exports/cross_sell.csv": "cecb1761708f58129360df0a4ba28d8fbe9c54fb30291820ea1e88f07e6e26bc",
    "exports/customer_master_map.csv": "759dd0aec61b46efff92961a718d13bc82e4d18d4aae46964bb62c722a9e7d49",
    "exports/data_quality.csv": "38ed9cba51fff54df07a0f2dbbdfc465b2275d55cd9c9464511f1fc11aaa6aff",
    "exports/journey_priorities.csv": "02e3f72e358e5244044daefde957243616d05845ceab189e3109a1ffa6ab3862",
    "exports/next_best_action.csv": "ac3b20f9e94619339bad8906bdeda380231e4a5685c23efc668f45123171bf4d",
    "exports/segments.csv": "7490f2c509e4c4a8d121b4eef7380650ecf695804e2c8417d3e602297233fee0",
    "exports/uplift_covariates.csv": "f469930dad72d96a10053dd702be1518158c40e68a5b8c782b05de4e97536522",
    "exports/uplift_readout.csv": "95401817df120480f182224a6da4f6417690b8a019b8389e1e2f7e94b718ddda",
    "exports/uplift_scores.csv": "4b9594bdbe28c01d3d2dd178942171e9854adf251a4795cf3c0e8f640848dd8b",
    "exports/uplift_targeting.csv": "6e6bb310e33b3af2072cce192d1b8113482a04ed9b8b25ac0921ba836f66f66d",
    "headlines/01_data_audit.json": "fb073cec3afb472bc60e42d21b4c7ccf09b8fad252856396e3399cebcef9ce8b",
    "headlines/02_segmentation.json": "d8de031fcb6c33dda6c1c18c1c75ad61195e6b329b7f59463c29e3ce5cc099b9",
    "headlines/03_churn.json": "b42853cdb5a37c9637aee9e6ee533a3fa0c002a7c511de04f53fce4648dc598e",
    "headlines/04_campaign_uplift.json": "78be8617efb4897b834bbb2bc1b2bdb4a382e2d3a82b7239e6adeb4ed1d31de5",
    "headlines/05_journey_prioritisation.json": "15f5f2428c304141121f8753c61faffb314977f50f2184b38d0eee8fc22458f3",
    "headlines/06_next_best_action.json": "8cbdb3c889e56780ef00a50b2ae338cb94fc51d2044588b054e873a75e445dc0",
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
