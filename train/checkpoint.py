"""Training checkpoints: ``<out_dir>/ckpt.pt``, written whole or not at all, read without unpickling.

A checkpoint holds the model and optimizer state, the step, the TrainConfig, the ModelConfig and
the feature mean/std (tensors and plain types only: ``torch.load(..., weights_only=True)`` reads it).
"""

from __future__ import annotations

from pathlib import Path

import torch

from core.config import ModelConfig
from core.files import atomic_write
from train.config import TrainConfig
from train.data import FeatureStats
from train.model import Audio2Gestures

CHECKPOINT_NAME = "ckpt.pt"
CHECKPOINT_FORMAT = "audio2gestures-train-checkpoint"


def save_checkpoint(path: Path, model: Audio2Gestures, optimizer: torch.optim.Optimizer, step: int,
                    config: TrainConfig, stats: FeatureStats) -> None:
    """Write the checkpoint atomically (a crash never leaves a half-written ``ckpt.pt``)."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "train_config": config.to_dict(),
        "model_config": model.config.to_dict(),
        "feature_mean": torch.from_numpy(stats.mean),
        "feature_std": torch.from_numpy(stats.std),
    }
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by ``save_checkpoint`` (no arbitrary unpickling)."""
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not an Audio2Gestures training checkpoint")
    return state


def model_from_checkpoint(state: dict) -> tuple[Audio2Gestures, TrainConfig, FeatureStats]:
    """Rebuild the trained model (CPU), its TrainConfig and its feature statistics."""
    model = Audio2Gestures(ModelConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model"])
    stats = FeatureStats(state["feature_mean"].numpy(), state["feature_std"].numpy())
    return model, TrainConfig.from_dict(state["train_config"]), stats
