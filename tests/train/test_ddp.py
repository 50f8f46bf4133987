"""DistributedDataParallel on two CPU processes (gloo): both ranks end with identical weights."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from tests.train.conftest import EXCERPT, TINY  # noqa: E402
from train.checkpoint import CHECKPOINT_NAME, load_checkpoint  # noqa: E402
from train.config import TrainConfig  # noqa: E402
from train.data import FeatureStats, find_pairs, load_recording  # noqa: E402
from train.fit import LOG_NAME, fit, read_log  # noqa: E402

WORLD_SIZE = 2
STEPS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out: str, results: str) -> None:
    """One torchrun-style process: the rank comes from the environment, as under torchrun."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD_SIZE))
    torch.set_num_threads(1)
    config = TrainConfig(data_dir=str(EXCERPT), out_dir=out, crop_frames=16, batch_size=2, steps=STEPS,
                         log_every=1, val_every=STEPS, ckpt_every=STEPS, data_mode="stream", lr=1e-3)
    model = fit(config, TINY)
    assert not dist.is_initialized()  # fit ends the process group it started
    torch.save(model.state_dict(), Path(results) / f"rank{rank}.pt")


def test_two_gloo_ranks_end_with_identical_weights(tmp_path):
    out, results = tmp_path / "run", tmp_path / "results"
    results.mkdir()
    mp.spawn(_worker, args=(_free_port(), str(out), str(results)), nprocs=WORLD_SIZE, join=True)

    states = [torch.load(results / f"rank{r}.pt", weights_only=True) for r in range(WORLD_SIZE)]
    for name, value in states[0].items():
        torch.testing.assert_close(states[1][name], value, rtol=0, atol=0, msg=name)
    ckpt = load_checkpoint(out / CHECKPOINT_NAME)
    assert ckpt["step"] == STEPS
    for name, value in states[0].items():
        torch.testing.assert_close(ckpt["model"][name], value, rtol=0, atol=0)
    # the model moved away from its initial weights
    torch.manual_seed(TrainConfig().seed)
    from train.model import Audio2Gestures

    assert not torch.equal(Audio2Gestures(TINY).decoder.fc2.weight, states[0]["decoder.fc2.weight"])
    # feature statistics were summed over both ranks' shards: they equal the single-process ones
    recordings = [load_recording(p) for p in find_pairs(EXCERPT)]
    np.testing.assert_allclose(ckpt["feature_mean"].numpy(),
                               FeatureStats.from_recordings(recordings, 0.15).mean, rtol=1e-5)
    # only rank 0 logged: one meta record, one train record per step
    records = read_log(out / LOG_NAME)
    assert [r["split"] for r in records].count("meta") == 1
    assert [r["step"] for r in records if r["split"] == "train"] == list(range(1, STEPS + 1))
    assert records[0]["world_size"] == WORLD_SIZE


def _failing_worker(rank: int, port: int, out: str, results: str) -> None:
    """Rank 1's loss turns NaN: both ranks must stop with the reason, none left waiting."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD_SIZE))
    torch.set_num_threads(1)
    import train.fit as fit_module

    if rank == 1:
        class NanStep(fit_module.TrainingStep):
            def forward(self, *args, **kwargs):
                total, terms = super().forward(*args, **kwargs)
                return total * float("nan"), terms

        fit_module.TrainingStep = NanStep
    config = TrainConfig(data_dir=str(EXCERPT), out_dir=out, crop_frames=16, batch_size=2, steps=50,
                         log_every=1, val_every=50, ckpt_every=50, data_mode="stream", ddp_timeout_s=60)
    try:
        fit_module.fit(config, TINY)
        message = "finished"
    except FloatingPointError as exc:
        message = str(exc)
    (Path(results) / f"rank{rank}.txt").write_text(message)


def test_a_rank_whose_loss_fails_stops_every_rank_with_the_reason(tmp_path):
    import time

    results = tmp_path / "results"
    results.mkdir()
    context = mp.spawn(_failing_worker, args=(_free_port(), str(tmp_path / "run"), str(results)),
                       nprocs=WORLD_SIZE, join=False)
    deadline = time.monotonic() + 120
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for p in context.processes:
                p.kill()
            pytest.fail("a rank was left waiting")
    for rank in range(WORLD_SIZE):
        message = (results / f"rank{rank}.txt").read_text()
        assert message.startswith("step 1: the loss is not finite on rank(s) [1] (nan)"), message
