"""BEAT2 as published: train_test_split.csv decides train / val / test rows, --speakers and
--additional select them; the exported model names its recordings; evaluate uses the test rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from core.model_file import load_model  # noqa: E402
from tests.train.conftest import TINY  # noqa: E402
from train.__main__ import main  # noqa: E402
from train.config import TrainConfig  # noqa: E402
from train.data import DataError, find_pairs  # noqa: E402
from train.evaluate import evaluate  # noqa: E402
from train.export import MODEL_NAME  # noqa: E402
from train.fit import LOG_NAME, fit, read_log  # noqa: E402


def _roles(pairs):
    return {p.name: p.role for p in pairs}


def test_split_rows_of_the_chosen_speakers(beat2_tree):
    assert _roles(find_pairs(beat2_tree, "2")) == {"2_scott_0_1_1": "train", "2_scott_0_2_2": "val"}
    assert _roles(find_pairs(beat2_tree, "2", additional=True)) == {
        "2_scott_0_1_1": "train", "2_scott_0_2_2": "val", "2_scott_0_4_4": "train"}
    assert _roles(find_pairs(beat2_tree, "2", rows="test")) == {"2_scott_0_3_3": "test"}
    everyone = find_pairs(beat2_tree)  # "all" by default
    assert _roles(everyone) == {"2_scott_0_1_1": "train", "2_scott_0_2_2": "val", "4_lawrence_0_1_1": "train"}
    assert _roles(find_pairs(beat2_tree, "2,4")) == _roles(everyone)
    assert {p.speaker for p in everyone} == {"2", "4"}
    pair = find_pairs(beat2_tree, "4")[0]
    assert pair.motion_path == beat2_tree / "smplxflame_30" / "4_lawrence_0_1_1.npz"
    assert pair.audio_path == beat2_tree / "wave16k" / "4_lawrence_0_1_1.wav"
    # the folder above beat_english_v2.0.0 works too
    assert _roles(find_pairs(beat2_tree.parent, "2")) == _roles(find_pairs(beat2_tree, "2"))
    with pytest.raises(DataError, match="no train or val rows of speaker"):
        find_pairs(beat2_tree, "7")


def test_missing_files_are_named_with_the_way_out(beat2_tree, tmp_path):
    import shutil

    tree = tmp_path / "beat_english_v2.0.0"
    shutil.copytree(beat2_tree, tree)
    (tree / "wave16k" / "4_lawrence_0_1_1.wav").unlink()
    with pytest.raises(DataError, match=r"wave16k/4_lawrence_0_1_1.wav.*--speakers"):
        find_pairs(tree)
    assert len(find_pairs(tree, "2")) == 2  # the speaker that is complete still trains


def test_fit_trains_on_the_split_rows_and_names_them(beat2_tree, tmp_path):
    out = tmp_path / "run"
    config = TrainConfig(data_dir=str(beat2_tree), out_dir=str(out), speakers="2", crop_frames=16,
                         batch_size=2, steps=3, log_every=1, val_every=3, ckpt_every=3)
    fit(config, TINY)
    meta = load_model(out / MODEL_NAME).metadata
    assert meta["train_recordings"] == ["2_scott_0_1_1"] and meta["val_recordings"] == ["2_scott_0_2_2"]
    assert meta["speakers"] == ["2"]
    log = read_log(out / LOG_NAME)
    assert log[0]["train_recordings"] == ["2_scott_0_1_1"] and log[0]["val_recordings"] == ["2_scott_0_2_2"]
    # validation crops come from the val row only: a val loss was logged
    assert [r["step"] for r in log if r["split"] == "val"] == [3]

    report = evaluate(out, beat2_tree, tmp_path / "eval", n_samples=2, priors=["paper"], intensities=[])
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert "test rows" in report.read_text()
    assert "2_scott_0_3_3" in report.read_text() and "lawrence" not in report.read_text()
    assert "**Held out**" in report.read_text()  # the held-out protocol ran on the test row
    assert results["models"]

    # re-exporting a model file (train export --checkpoint model.json) names the recordings too
    main(["export", "--checkpoint", str(out / MODEL_NAME), "--data", str(beat2_tree), "--out",
          str(tmp_path / "again.json")])
    again = load_model(tmp_path / "again.json").metadata
    assert again["train_recordings"] == ["2_scott_0_1_1"] and again["val_recordings"] == ["2_scott_0_2_2"]


def test_cli_speakers_and_additional(beat2_tree, tmp_path):
    out = tmp_path / "cli"
    main(["fit", "--data", str(beat2_tree), "--out", str(out), "--speakers", "2", "--additional",
          "--steps", "1", "--batch-size", "2", "--crop-frames", "16", "--log-every", "1"])
    meta = read_log(out / LOG_NAME)[0]
    assert meta["train_recordings"] == ["2_scott_0_1_1", "2_scott_0_4_4"]
    assert meta["train_config"]["speakers"] == "2" and meta["train_config"]["additional"] is True


def test_a_flat_folder_still_splits_each_recording_by_time(excerpt):
    pairs = find_pairs(excerpt)
    assert {p.role for p in pairs} == {"split"}
    assert [p.name for p in find_pairs(excerpt, rows="test")] == [p.name for p in pairs]



def test_streaming_shards_hold_training_rows_only(beat2_tree):
    """Two ranks' streaming shards: with the validation row among the recordings, rank 1's shard
    would be that row alone (no crops: an error); training_pairs leaves it out."""
    from train.data import FeatureStats, StreamingCrops, training_pairs

    pairs = find_pairs(beat2_tree, "2,4")
    assert [p.name for p in training_pairs(pairs)] == ["2_scott_0_1_1", "4_lawrence_0_1_1"]
    stats = FeatureStats(np.zeros(64, np.float32), np.ones(64, np.float32))
    with pytest.raises(DataError, match="no recording in this shard"):
        next(iter(StreamingCrops(pairs, stats, 16, 0.15, rank=1, world_size=2, buffer_size=1)))
    for rank in (0, 1):
        shard = StreamingCrops(training_pairs(pairs), stats, 16, 0.15, rank=rank, world_size=2, buffer_size=1)
        motion, feats = next(iter(shard))
        assert motion.shape == (16, 132) and feats.shape == (16, 64)
