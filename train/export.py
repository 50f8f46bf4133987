"""Export a trained torch ``Audio2Gestures`` to the numpy model file (core/model_file.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from core.model_file import save_model
from train.model import Audio2Gestures


def export_model(
    model: Audio2Gestures,
    json_path: str | os.PathLike,
    feature_mean,
    feature_std,
    code_mean,
    code_std,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``<name>.json`` + ``<name>.npz`` for ``model``; returns the json path.

    feature_mean, feature_std: ``(n_mels,)`` log-mel normalisation of the training set.
    code_mean, code_std: ``(N, specific_dim)`` per training clip, mean/std over time of I_M.
    Arrays may be numpy or torch tensors. Parameters are stored under their ``state_dict``
    names as float32; buffers (none today) are not exported.
    """
    weights = {
        name: p.detach().cpu().float().numpy().copy() for name, p in model.named_parameters()
    }
    return save_model(
        json_path,
        weights,
        model.config,
        _np(feature_mean),
        _np(feature_std),
        _np(code_mean),
        _np(code_std),
        metadata,
    )


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)
