"""Safety net of the one-path restructuring (issue #18): the same inputs and seed give the same
exports and headline files, byte for byte, as before the move.

The digests were recorded on commit af09ea2 (before any analysis moved) from ``cx run`` on
``data/sample`` and on ``cx synth --customers 20000 --seed 7``, with the pseudonymisation key
``cx-safety-net``. Floats in exports carry 10 significant digits
(:data:`cxlib.privacy.EXPORT_FLOAT_FORMAT`), so the bytes do not depend on the last bits of a
machine's floating point. A digest may change only where a change fixes a bug; the CHANGELOG then
says which and why, and the digest here is updated in the same commit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from file_digests import digests

from cxlib.cli import main
from cxlib.contract import SourceData, load_source
from cxlib.privacy import write_export
from cxlib.runner import NOTEBOOKS
from cxlib.synth import generate

pytestmark = pytest.mark.slow

KEY = "cx-safety-net"

SAMPLE_DIGESTS = {
    "exports/attribution.csv": "d96bfcb22fea171ce6480491f8defe9e9cb46d47a9f9532570480b5d527133c5",
    "exports/churn_scores.csv": "c58856b3894f502e1db1d06965df6cff6ca7bc8b12bb4ef2d77b241ebb67f715",
    "exports/customer_master_map.csv": "9345ffe8a1212b5911ca8beae583e2b122251dd21b9eea6d4dbd1b6ca43fc438",
    "exports/data_quality.csv": "dc06f25f6ee1bc7e91b95844ef132a871321aa553e638a02af2981699af55c16",
    "exports/journey_priorities.csv": "03136cb8423c2833bb5b9052d0f4ccc5545ce261be3bde5dda5ab3dbdbce1e39",
    "exports/segments.csv": "4866ce86a01f355519eef0e52f84becbaddf79aec4d915ae13ab060ca2cb5ae7",
    "exports/uplift_readout.csv": "ca8f2bd2161c45d3564b0ce4654bbf9702c04801a7463f1aea4cc0bf86db5780",
    "exports/uplift_scores.csv": "eb5e5ab17ed009d2c09b09214e96b75bc8116c21319112bdd692b8e67909a2a4",
    "headlines/01_data_audit.json": "bb6ba601bd9dd893c905f42019fa89cf03e2ccfbdf764ac2ec1d4e1b6bdcf110",
    "headlines/02_segmentation.json": "6a0d3bd8b3f30d19d8601d26ce41da48e7373e5c25fe45ae0fd191e9d9f1fc76",
    "headlines/03_churn.json": "f90cbbd9a8d8019150666b24d6dec7b0f1d1594dfbcdc7433300cf2d30420707",
    "headlines/04_campaign_uplift.json": "64472920b16a74eca06563060cf6148ff3d0b7d39e83e53ad5c86b81ed321d6a",
    "headlines/05_journey_prioritisation.json": "0b228f4ae54cc5054518dfdbfc6ca405135690fd47e31a8fc572ba02cb4bd788",
}

SYNTH_20000_SEED_7_DIGESTS = {
    "exports/attribution.csv": "ce4047f14bb87fe760f914a1515682e371b9ba1803a2c7dc7a59a3a2562300e2",
    "exports/churn_scores.csv": "04e7f72cc85424cdf2af1b9c022c7d4bb461364c41b493428df66f012e726e05",
    "exports/customer_master_map.csv": "d17668d9ebd60967c2d8ec86f1455b8297a51ad0b14f74ee2feb6ca27721fbd6",
    "exports/data_quality.csv": "baf847d23468faab17e18d4c34c6c87b71898c6661accf63b500d22c8fd152fe",
    "exports/journey_priorities.csv": "40e72d3736cc3482586cf9b39e32fdd4bb171e992942b501aa2af42771c89662",
    "exports/segments.csv": "c294e8301640aa044c7285bf0adddd784fbeb691594b6fbe0e902d3a5e1f2836",
    "exports/uplift_readout.csv": "bdfad6a6aa22bcd2fbf421b27d27f723ec9bc2720408aa1bea3e79fefebf1c94",
    "exports/uplift_scores.csv": "fa65684df3b7f528b6429b08ecc9b2ae8f5e70a5cf72238e543c50fac1c1ac03",
    "headlines/01_data_audit.json": "56ebdabadb1231c632437b44b10f6e5a543968ee1373a602103cab57958d43c1",
    "headlines/02_segmentation.json": "a0c546b9e3ca160e9bcf03b9f8efb5158e10a7da6acbb115c18bbe5674e17ce5",
    "headlines/03_churn.json": "33d40543f0b4a2b51a17496a0213136dbd93c4108415b30ed8987c230b475f5b",
    "headlines/04_campaign_uplift.json": "7637a11f8a94bd0d541f7dcf5487326a09cc9cc40f112892791e75fc6d28fa6a",
    "headlines/05_journey_prioritisation.json": "0355156468f818d9df3bdbc213dcb985fd2e1d476a81b8474770766efd8a667a",
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


def test_sample_run_is_byte_identical(sample_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CX_PSEUDONYM_KEY", KEY)
    assert run_digests(sample_dir, tmp_path / "out") == SAMPLE_DIGESTS


def test_synth_20000_seed_7_run_is_byte_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("CX_PSEUDONYM_KEY", KEY)
    generate(20_000, 7, tmp_path / "data")
    assert run_digests(tmp_path / "data", tmp_path / "out") == SYNTH_20000_SEED_7_DIGESTS
