"""Segmentation on the bundled sample: planted latent segments recovered; transactions-only runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from cxlib import segment as S
from cxlib.contract import load_source
from cxlib.features import customer_features

SEED = 42
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_segmentation.ipynb"


@pytest.fixture(scope="module")
def sample(sample_dir):
    data = load_source(sample_dir, tables=("transactions",))
    truth = pd.read_csv(
        sample_dir / "truth" / "customers.csv",
        usecols=["customer_id", "master_id", "latent_segment"],
        dtype="str",
    )
    return data, truth


@pytest.fixture(scope="module")
def record_clusters(sample):
    data, _ = sample
    features = customer_features(data.tables["transactions"], data.as_of_date)
    segmenter = S.BehaviouralSegmenter(k_range=range(3, 9), random_state=SEED).fit(features)
    return features, segmenter


def test_clusters_recover_planted_latent_segments(sample, record_clusters):
    _, truth = sample
    features, segmenter = record_clusters
    y = truth.set_index("customer_id")["latent_segment"].reindex(features.index)
    known = y.notna().to_numpy()  # orphan ids (a planted defect) have no truth
    assert known.mean() > 0.9
    ari = adjusted_rand_score(y[known], segmenter.labels_[known])
    assert ari >= 0.70, f"ARI {ari:.3f} below 0.70"


def test_chosen_k_is_five(record_clusters):
    _, segmenter = record_clusters
    assert segmenter.k_ == 5, segmenter.selection_.to_string()


def test_planted_segments_are_clearly_better_than_the_null(record_clusters):
    """The planted segments beat the shuffled-columns reference by a wide margin."""
    _, segmenter = record_clusters
    assert segmenter.has_structure_
    chosen = segmenter.selection_.loc[segmenter.selection_["chosen"]].iloc[0]
    assert chosen["silhouette_gain"] >= 0.15, chosen.to_string()
    assert chosen["silhouette"] >= 4 * chosen["null_silhouette"], chosen.to_string()


def _shuffle_columns(features: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every behavioural column permuted independently: same distributions, no joint structure."""
    rng = np.random.default_rng(seed)
    out = features.copy()
    for column in S.behaviour_columns(features):
        out[column] = rng.permutation(out[column].to_numpy())
    return out


def test_no_segments_named_without_joint_structure(sample, monkeypatch):
    """Issue #20: with each behavioural column permuted independently, the report says there
    are no distinct behavioural segments, shows RFM only and exports an empty ``cluster``."""
    data, _ = sample
    real = S._run.customer_features
    calls = []

    def shuffled(*args, **kwargs):
        calls.append(1)
        features = real(*args, **kwargs)
        return _shuffle_columns(features, SEED) if len(calls) == 1 else features

    monkeypatch.setattr(S._run, "customer_features", shuffled)
    result = S.run_segmentation(data, as_of_date=data.as_of_date, seed=SEED, n_bootstrap=5)
    assert not result.has_segments
    chosen = result.segmenter.selection_.loc[result.segmenter.selection_["chosen"]].iloc[0]
    assert chosen["silhouette"] < result.segmenter.min_silhouette_ratio * chosen["null_silhouette"]
    export = result.exports()["segments.csv"]
    assert len(export) == len(result.features)
    assert export["cluster"].isna().all() and export["cluster_name"].isna().all()
    assert export["rfm_segment"].notna().all()
    text = " ".join(f.text for f in result.findings())
    assert "no distinct behavioural segments" in text
    headlines = [f.text for f in result.findings() if f.headline]
    assert any("no distinct behavioural segments" in h for h in headlines)
    assert "shuffled" in result.k_choice()
    assert result.profile is None and result.stability is None


def test_people_mode_recovers_latent_segments(sample):
    """With a (here: perfect) single customer view, people are segmented, not records."""
    data, truth = sample
    master_map = truth[["customer_id", "master_id"]]
    tx = S.to_people(data.tables["transactions"], master_map)
    features = customer_features(tx, data.as_of_date)
    assert features.index.isin(set(truth["master_id"])).mean() > 0.9
    labels = S.BehaviouralSegmenter(k_range=[5], random_state=SEED, n_stability=2).fit_predict(
        features
    )
    y = truth.drop_duplicates("master_id").set_index("master_id")["latent_segment"]
    y = y.reindex(features.index)
    known = y.notna().to_numpy()
    assert adjusted_rand_score(y[known], labels[known]) >= 0.70


def test_notebook_runs_on_transactions_only_folder(sample_dir, tmp_path):
    papermill = pytest.importorskip("papermill")
    src = tmp_path / "data"
    src.mkdir()
    shutil.copy(sample_dir / "transactions.csv", src / "transactions.csv")
    out = tmp_path / "out"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "02.ipynb"),
        parameters={"data_dir": str(src), "output_dir": str(out), "n_bootstrap": 5},
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
        kernel_name="python3",
    )
    export = pd.read_csv(out / "exports" / "segments.csv")
    assert list(export.columns) == list(S.EXPORT_COLUMNS)
    assert export["customer_id"].is_unique
    assert export["cluster_name"].notna().all()
    assert (out / "headlines" / "02_segmentation.json").exists()
    executed = nbformat.read(tmp_path / "02.ipynb", as_version=4)
    text = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/markdown", ""))
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    assert "customer records" in text
    assert "no consent information" in text
