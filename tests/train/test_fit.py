"""The training loop: loss goes down, checkpoints resume, the exported model file loads."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from core.generate import generate  # noqa: E402
from core.model_file import PRIOR_NAMES, load_model  # noqa: E402
from core.prior import PRIORS  # noqa: E402
from tests.train.conftest import TINY  # noqa: E402
from train.__main__ import main  # noqa: E402
from train.checkpoint import CHECKPOINT_NAME, load_checkpoint  # noqa: E402
from train.config import TrainConfig  # noqa: E402
from train.export import DEFAULT_PRIOR, MODEL_NAME, export_checkpoint  # noqa: E402
from train.fit import LOG_NAME, fit, read_log  # noqa: E402


def _config(excerpt, out, **overrides) -> TrainConfig:
    settings = dict(data_dir=str(excerpt), out_dir=str(out), crop_frames=24, batch_size=4, steps=30, lr=3e-3,
                    log_every=5, val_every=15, ckpt_every=15)
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short run of the full variant on the committed excerpt (shared by the tests below)."""
    from tests.train.conftest import EXCERPT

    out = tmp_path_factory.mktemp("run")
    torch.set_num_threads(1)
    model = fit(_config(EXCERPT, out), TINY)
    return out, model


def test_a_few_steps_reduce_the_loss(trained):
    out, _ = trained
    train = [r for r in read_log(out / LOG_NAME) if r["split"] == "train"]
    val = [r for r in read_log(out / LOG_NAME) if r["split"] == "val"]
    assert [r["step"] for r in train] == [5, 10, 15, 20, 25, 30]
    assert [r["step"] for r in val] == [15, 30]
    assert train[-1]["total"] < 0.8 * train[0]["total"]
    assert val[-1]["a2m_pos"] < val[0]["a2m_pos"]
    for name in ("std_S_A", "std_S_M", "std_I_M", "std_I_R", "steps_per_s", "kl_weight", "diversity"):
        assert name in train[-1]


def test_checkpoint_holds_everything_and_resumes(trained, tmp_path, excerpt):
    out, model = trained
    state = load_checkpoint(out / CHECKPOINT_NAME)
    assert state["step"] == 30
    assert state["train_config"]["variant"] == "full" and state["model_config"] == TINY.to_dict()
    assert state["feature_mean"].shape == (64,) and state["optimizer"]["state"]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(state["model"][name], value)

    run = tmp_path / "resumed"
    run.mkdir()
    (run / CHECKPOINT_NAME).write_bytes((out / CHECKPOINT_NAME).read_bytes())
    with pytest.raises(FileExistsError, match="--resume"):
        fit(_config(excerpt, run, steps=35), TINY)
    resumed = fit(_config(excerpt, run, steps=35), TINY, resume=True)
    assert load_checkpoint(run / CHECKPOINT_NAME)["step"] == 35
    records = read_log(run / LOG_NAME)
    assert records[0]["split"] == "meta" and records[0]["resumed"] and records[0]["step"] == 30
    assert [r["step"] for r in records if r["split"] == "train"] == [35]
    assert not torch.equal(resumed.decoder.fc2.weight, model.decoder.fc2.weight)


def test_exported_model_file_loads_and_generates(trained, excerpt, tmp_path):
    out, model = trained
    loaded = load_model(out / MODEL_NAME)
    # the default prior is exported
    assert loaded.config == dataclasses.replace(TINY, code_prior=DEFAULT_PRIOR)
    assert set(loaded.prior) == set(PRIOR_NAMES)  # every prior's arrays are in the file
    assert loaded.metadata["variant"] == "full" and loaded.metadata["steps"] == 30
    # per-clip I_M statistics of the training crops (each also mirrored): (N, 16)
    assert loaded.code_mean.shape == loaded.code_std.shape and loaded.code_mean.shape[1] == 16
    assert loaded.code_mean.shape[0] >= 2 and (loaded.code_std > 0).all()
    state = load_checkpoint(out / CHECKPOINT_NAME)
    np.testing.assert_allclose(loaded.feature_mean, state["feature_mean"].numpy())
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.weights[name], value.numpy())
    features = np.random.default_rng(0).normal(-30, 15, (50, 64))
    for prior in PRIORS:
        rotations = generate(loaded, features, seed=1, prior=prior)
        assert rotations.shape == (50, 22, 3, 3) and np.isfinite(rotations).all()

    again = load_model(export_checkpoint(out / CHECKPOINT_NAME, excerpt, tmp_path / "again.json"))
    np.testing.assert_allclose(again.code_mean, loaded.code_mean, atol=1e-6)


@pytest.mark.parametrize("variant", ["baseline", "regression"])
def test_one_to_one_variants_export_without_a_specific_code(variant, excerpt, tmp_path):
    fit(_config(excerpt, tmp_path, variant=variant, steps=2, log_every=1, val_every=2, ckpt_every=2), TINY)
    loaded = load_model(tmp_path / MODEL_NAME)
    assert loaded.config.specific_dim == 0 and loaded.code_mean.shape[1] == 0
    assert loaded.metadata["variant"] == variant


def test_cli_fit_runs_the_real_architecture(excerpt, tmp_path):
    out = tmp_path / "cli"
    main(["fit", "--data", str(excerpt), "--out", str(out), "--steps", "2", "--batch-size", "2",
          "--crop-frames", "16", "--log-every", "1", "--variant", "mapping", "--no-amp"])
    state = load_checkpoint(out / CHECKPOINT_NAME)
    assert state["train_config"]["variant"] == "mapping" and state["train_config"]["amp"] is False
    assert state["model_config"]["audio_channels"] == [128, 128, 96, 96, 64]
    assert state["model_config"]["use_mapping"] is True
    assert load_model(out / MODEL_NAME).config.use_mapping
    # --resume keeps the run's own settings; only what is given changes
    main(["fit", "--out", str(out), "--resume", "--steps", "3"])
    state = load_checkpoint(out / CHECKPOINT_NAME)
    assert state["step"] == 3 and state["train_config"]["steps"] == 3
    assert state["train_config"]["variant"] == "mapping" and state["train_config"]["crop_frames"] == 16


def test_collapsed_codes_are_flagged():
    from train.fit import collapsed_codes

    terms = {"std_I_M": torch.tensor(1e-3), "std_S_A": torch.tensor(1.2), "a2m_pos": torch.tensor(0.0)}
    assert collapsed_codes(terms) == {"std_I_M"}


def test_hands_grow_from_a_body_model_and_generate_fingers(trained, excerpt, tmp_path):
    """--hands --init-from a 22-joint model file: the body weights are copied, the fingers start
    at the relaxed mean hand (new input columns zero, new output rows zero with the mean hand as
    bias), training runs with a finger rotation loss, and the exported model outputs 52 joints."""
    from core.network import Network
    from train.fit import relaxed_hand_sixd
    from train.model import Audio2Gestures

    body_out, body = trained
    grown = Audio2Gestures(dataclasses.replace(TINY, hands=True, n_joints=52))
    from train.fit import init_weights_from

    init_weights_from(grown, body_out / MODEL_NAME)
    w_in = grown.motion_encoder.blocks[0].conv1.weight
    torch.testing.assert_close(w_in[:, :132], body.motion_encoder.blocks[0].conv1.weight)
    assert torch.count_nonzero(w_in[:, 132:]) == 0
    torch.testing.assert_close(grown.decoder.fc2.bias[132:], torch.from_numpy(relaxed_hand_sixd()))
    assert torch.count_nonzero(grown.decoder.fc2.weight[132:]) == 0
    torch.testing.assert_close(grown.decoder.fc2.weight[:132], body.decoder.fc2.weight)

    out = tmp_path / "hands"
    fit(_config(excerpt, out, steps=6, log_every=3, val_every=6, ckpt_every=6, hands=True,
                init_from=str(body_out / MODEL_NAME)), TINY)
    train = [r for r in read_log(out / LOG_NAME) if r["split"] == "train"]
    assert {"recon_hand_rot", "a2m_hand_rot", "a2x_hand_rot"} <= set(train[-1])
    assert 0 < train[-1]["recon_hand_rot"] < 1.0  # radians: started near the relaxed hand, not random
    loaded = load_model(out / MODEL_NAME)
    assert loaded.config.hands and loaded.config.n_joints == 52
    assert 1.0 <= loaded.config.finger_gain <= 3.0  # fitted at export (train.priors.fit_finger_gain)
    rotations = generate(Network(loaded), np.random.default_rng(0).normal(-30, 15, (60, 64)), seed=1)
    assert rotations.shape == (60, 52, 3, 3) and np.isfinite(rotations).all()


def test_init_from_refuses_another_architecture(trained, tmp_path):
    from train.fit import init_weights_from
    from train.model import Audio2Gestures

    body_out, _ = trained
    other = Audio2Gestures(dataclasses.replace(TINY, shared_dim=8))
    with pytest.raises(ValueError, match="in more than the joints"):
        init_weights_from(other, body_out / MODEL_NAME)


def test_a_killed_run_resumes_from_its_last_checkpoint(excerpt, tmp_path):
    """SIGKILL in the middle of training (no clean-up runs), then --resume finishes the run."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    out = tmp_path / "killed"
    settings = dict(data_dir=str(excerpt), out_dir=str(out), crop_frames=16, batch_size=2, log_every=1,
                    val_every=1000, ckpt_every=3, cache_dir=str(tmp_path / "cache"))
    script = ("import torch; torch.set_num_threads(1)\n"
              "from tests.train.conftest import TINY\nfrom train.config import TrainConfig\n"
              "from train.fit import fit\n"
              f"fit(TrainConfig(steps=100000, **{settings!r}), TINY)\n")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / CHECKPOINT_NAME).is_file() or load_checkpoint(out / CHECKPOINT_NAME)["step"] < 6:
            assert proc.poll() is None and time.monotonic() < deadline, "the run did not checkpoint"
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    killed_at = load_checkpoint(out / CHECKPOINT_NAME)["step"]
    assert killed_at >= 6 and killed_at % 3 == 0
    # (ckpt.pt was read above: a kill during a save leaves at most a stray temporary file, never
    # a half-written checkpoint)
    fit(TrainConfig(steps=killed_at + 2, **settings), TINY, resume=True)
    assert load_checkpoint(out / CHECKPOINT_NAME)["step"] == killed_at + 2
    steps = [r["step"] for r in read_log(out / LOG_NAME) if r["split"] == "train"]
    assert steps[-2:] == [killed_at + 1, killed_at + 2]
    assert load_model(out / MODEL_NAME).metadata["steps"] == killed_at + 2
