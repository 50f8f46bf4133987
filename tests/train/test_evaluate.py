"""Evaluation report and benchmark on tiny models (fast smoke tests with real assertions)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from core.prior import PRIORS  # noqa: E402
from tests.train.conftest import TINY  # noqa: E402
from train.bench import steps_per_second  # noqa: E402
from train.config import TrainConfig  # noqa: E402
from train.evaluate import evaluate  # noqa: E402
from train.fit import fit  # noqa: E402


def _run(excerpt, out, variant):
    config = TrainConfig(data_dir=str(excerpt), out_dir=str(out), variant=variant, crop_frames=16,
                         batch_size=2, steps=3, log_every=1, val_every=3, ckpt_every=3)
    fit(config, TINY)
    return out


def test_evaluate_writes_table_json_and_plots(excerpt, tmp_path):
    full = _run(excerpt, tmp_path / "full", "full")
    regression = _run(excerpt, tmp_path / "regression", "regression")
    report = evaluate(full, excerpt, tmp_path / "eval", baselines=[regression / "ckpt.pt"], n_samples=3,
                      val_fraction=0.5)
    text = report.read_text()
    for prior in PRIORS:  # the model gets a row per code prior; the one-to-one baseline has none
        assert f"| Audio2Gestures (full), 3 steps, {prior} prior |" in text
    assert "| regression (S2G without GAN), 3 steps |" in text
    assert "| ground truth |" in text and "PCK@0.2 m" in text
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    ours = results["models"]["Audio2Gestures (full), 3 steps, retrieval prior"]
    baseline = results["models"]["regression (S2G without GAN), 3 steps"]
    assert ours["l1"] > 0 and ours["l1_best"] <= ours["l1"] and 0 <= ours["pck"] <= ours["pck_best"] <= 1
    assert ours["multimodality"] > 0  # different seeds give different motions
    assert baseline["multimodality"] is None and baseline["one_to_one"]  # deterministic: no multimodality
    assert results["ground_truth"]["diversity"] > 0 and results["ground_truth"]["wrist_speed"] > 0
    pngs = {p.name for p in (tmp_path / "eval").glob("*.png")}
    expected = {"speed_onsets.png", "curves_audio2gestures__full___3_steps.png",
                "curves_regression__s2g_without_gan___3_steps.png"}
    assert expected <= pngs
    assert (tmp_path / "eval" / "models" / "regression.json").is_file()  # the checkpoint was exported
    # the unseen-speech table: the excerpt has no unpaired audio, so its validation audio stands in
    assert "**Unseen speech, in-sample reference** (the validation tails' audio" in text
    assert "| static mean pose |" in text
    # the held-out protocol (train/honest.py): a row per prior, and the real takes measured the same way
    assert "**Held out**" in text and "| real takes (their own motion) |" in text
    assert "(negative control) |" in text  # another take's real motion against this speech
    assert {"control_bc", "control_bc3"} <= set(results["held_out_real_bc"])
    held = results["models"]["Audio2Gestures (full), 3 steps, retrieval prior"]["held_out"]
    assert set(held) == {"0.0", "1.0"}  # the default prior also without and with beat sync
    assert "retrieval prior, sync 1 |" in text
    assert held["0.0"]["tails_window_ratio"] > 0 and held["0.0"]["bc_pooled"]["n"] == 0  # clips < 12 s
    assert "held_out" not in baseline  # one-to-one: no code prior to re-fit
    for prior in PRIORS:
        u = results["models"][f"Audio2Gestures (full), 3 steps, {prior} prior"]["unseen"]
        assert u["window_ratio"] > 0 and u["arm_movement"] > 0 and u["seed_l1"] > 0
        assert u["finger_deviation"] == 0.0  # a body-only model leaves the fingers at the mean hand
    at = results["models"]["Audio2Gestures (full), 3 steps, retrieval prior"]["unseen_intensity"]
    assert set(at) == {"0.5", "1.5"} and "retrieval prior, intensity 1.5 |" in text
    assert at["0.5"]["seed_l1"] < at["1.5"]["seed_l1"]  # calmer: the seeds' motions differ less
    gt = results["unseen_ground_truth"]
    assert np.isfinite(gt["static_window_ratio"]) and gt["finger_deviation"] > 1  # real fingers move
    assert baseline["unseen"]["seed_l1"] == 0.0  # one-to-one: seeds do not matter


def test_bench_measures_steps_per_second():
    """Steps over the clock's seconds around the timed steps (a clock that reads 10 s, then 11.5 s)."""
    readings = iter([10.0, 11.5])
    assert steps_per_second(torch.device("cpu"), batch_size=2, crop_frames=16, steps=3,
                            clock=lambda: next(readings)) == pytest.approx(2.0)
