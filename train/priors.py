"""Fit the code priors of ``core/prior.py`` to a trained model's codes of the training data.

Runs the exported numpy network (``core.network``), so what is fitted is exactly what the
runtime decodes. For every recording, the training part and its left/right mirror are encoded
whole (the nets are fully convolutional): I_M is the motion encoder's posterior mean; S_A is
the audio encoder's code of the same frames (the mirror shares the audio).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from core.network import Network
from core.prior import fit_gaussian, retrieval_arrays
from train.data import FeatureStats, Recording, mirror_motion


def training_codes(net: Network, recordings: Iterable[Recording], stats: FeatureStats,
                   val_fraction: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(codes, shared)``: per clip (each training part, then its mirror) I_M ``(T, d)`` and
    S_A ``(T, shared_dim)``."""
    codes, shared = [], []
    for rec in recordings:
        n = rec.n_train(val_fraction)
        if n < 2:
            continue
        s_a = net.audio_encode(stats.normalise(rec.features[:n]))
        for motion in (rec.motion[:n], mirror_motion(rec.motion[:n])):
            codes.append(net.motion_encode(motion)[2])
            shared.append(s_a)
    if not codes:
        raise ValueError("no training frames to fit the code priors on")
    return codes, shared


def fit_prior_arrays(net: Network, recordings: Iterable[Recording], stats: FeatureStats,
                     val_fraction: float) -> dict[str, np.ndarray]:
    """Every prior's arrays (``core.prior.PRIOR_ARRAYS``) for ``net``; {} without a
    motion-specific code."""
    if net.config.specific_dim == 0:
        return {}
    codes, shared = training_codes(net, recordings, stats, val_fraction)
    arrays = fit_gaussian(codes)
    arrays.update(retrieval_arrays(codes, shared))
    return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
