"""Fit the code priors of ``core/prior.py`` to a trained model's codes of the training data.

Runs the exported numpy network (``core.network``), so what is fitted is exactly what the
runtime decodes. For every recording, the training part is encoded whole (the nets are fully
convolutional): I_M is the motion encoder's posterior mean; S_A is the audio encoder's code of
the same frames. No left/right mirror: measured against a take the prior never saw, the
mirrored clips put the speaker's habitual hand on the other side and moved the mean pose
(window statistics 2.18x the real-vs-real distance for the mirrored clips alone, 1.05x without
them; issue #18).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from core.generate import generate
from core.network import Network
from core.prior import fit_gaussian, retrieval_arrays
from core.skeleton import NUM_BODY_JOINTS
from train.data import FeatureStats, Recording, motion_to_rotations
from train.metrics import rotation_spread_deg

#: Bounds of the fitted finger gain (``ModelConfig.finger_gain``).
FINGER_GAIN_RANGE = (1.0, 3.0)


def training_codes(net: Network, recordings: Iterable[Recording], stats: FeatureStats,
                   val_fraction: float) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """``(codes, shared, motions)``: per clip (each recording's training part) I_M
    ``(T, d)``, S_A ``(T, shared_dim)`` and the motion itself ``(T, J * 6)``."""
    codes, shared, motions = [], [], []
    for rec in recordings:
        n = rec.n_train(val_fraction)
        if n < 2:
            continue
        codes.append(net.motion_encode(rec.motion[:n])[2])
        shared.append(net.audio_encode(stats.normalise(rec.features[:n])))
        motions.append(rec.motion[:n])
    if not codes:
        raise ValueError("no training frames to fit the code priors on")
    return codes, shared, motions


def fit_prior_arrays(net: Network, recordings: Iterable[Recording], stats: FeatureStats,
                     val_fraction: float) -> dict[str, np.ndarray]:
    """Every prior's arrays (``core.prior.PRIOR_ARRAYS``) for ``net``; {} without a
    motion-specific code."""
    if net.config.specific_dim == 0:
        return {}
    codes, shared, _ = training_codes(net, recordings, stats, val_fraction)
    arrays = fit_gaussian(codes)
    arrays.update(retrieval_arrays(codes, shared))
    return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}


def fit_finger_gain(net: Network, recordings: Iterable[Recording], stats: FeatureStats,
                    val_fraction: float, seeds: int = 3) -> float:
    """``ModelConfig.finger_gain``: how much more the real fingers move than the sampled ones.
    For each recording's training part, motion is generated from its speech with the model's
    default prior (seeds 0 .. ``seeds`` - 1, no gain); the gain is the ratio of the finger
    joints' ``rotation_spread_deg``, real over generated, frame-weighted, clipped to
    ``FINGER_GAIN_RANGE``. 1 for models without hands. ``net`` must carry its priors."""
    if not net.config.hands or net.config.specific_dim == 0:
        return 1.0
    if net.config.finger_gain != 1.0:
        raise ValueError("fit_finger_gain measures the model without a finger gain (finger_gain = 1)")
    real = generated = 0.0
    for rec in recordings:
        n = rec.n_train(val_fraction)
        if n < 2:
            continue
        real += n * rotation_spread_deg(motion_to_rotations(rec.motion[:n])[:, NUM_BODY_JOINTS:])
        for seed in range(seeds):
            out = generate(net, rec.features[:n], seed)
            generated += n * rotation_spread_deg(out[:, NUM_BODY_JOINTS:]) / seeds
    lo, hi = FINGER_GAIN_RANGE
    return float(np.clip(real / max(generated, 1e-9), lo, hi))
