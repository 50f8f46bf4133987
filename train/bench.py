"""Training throughput: optimizer steps per second of the real training step (forward of every
loss term, backward, Adam) on synthetic batches, on the CPU and on CUDA when present.

    python -m train bench [--batch-size 32] [--crop-frames 128] [--steps 10] [--variant full]
"""

from __future__ import annotations

import time

import numpy as np
import torch

from core.rotations import axis_angle_to_matrix, matrix_to_sixd
from train.config import TrainConfig
from train.losses import TrainingStep
from train.model import Audio2Gestures

WARMUP_STEPS = 2


def synthetic_batch(batch_size: int, crop_frames: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random rotations as 6D ``(B, T, 132)`` and N(0, 1) features ``(B, T, 64)``."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, crop_frames)[None, :, None, None]
    shape = (batch_size, 1, 22, 3)
    aa = 0.3 * np.sin(2 * np.pi * (t * rng.uniform(0.5, 2, shape) + rng.random(shape)))
    motion = matrix_to_sixd(axis_angle_to_matrix(aa)).reshape(batch_size, crop_frames, -1)
    features = rng.standard_normal((batch_size, crop_frames, 64))
    return torch.tensor(motion, dtype=torch.float32), torch.tensor(features, dtype=torch.float32)


def steps_per_second(device: torch.device, batch_size: int = 32, crop_frames: int = 128, steps: int = 10,
                     variant: str = "full", amp: bool = True, clock=time.perf_counter) -> float:
    """Time ``steps`` training steps after ``WARMUP_STEPS`` warm-up steps (``clock``: seconds)."""
    config = TrainConfig(variant=variant, batch_size=batch_size, crop_frames=crop_frames)
    torch.manual_seed(0)
    model = Audio2Gestures(config.model_config()).to(device)
    step_module = TrainingStep(model, config).to(device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    motion, features = (x.to(device) for x in synthetic_batch(batch_size, crop_frames))
    use_amp = amp and device.type == "cuda"

    def one_step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            total, _ = step_module(motion, features, config.w_kl, config.w_diversity)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    for _ in range(WARMUP_STEPS):
        one_step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = clock()
    for _ in range(steps):
        one_step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps / (clock() - start)


def bench(batch_size: int = 32, crop_frames: int = 128, steps: int = 10, variant: str = "full",
          threads: int | None = None) -> dict[str, float]:
    """Print and return steps/s per device."""
    if threads:
        torch.set_num_threads(threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    results = {}
    for device in devices:
        sps = steps_per_second(device, batch_size, crop_frames, steps, variant)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
            f"cpu ({torch.get_num_threads()} threads)"
        extra = ", bf16 autocast" if device.type == "cuda" else ""
        print(f"{name}: {sps:.2f} training steps/s (variant {variant}, batch {batch_size} x {crop_frames} "
              f"frames{extra})")
        results[str(device)] = sps
    return results
