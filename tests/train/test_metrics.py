"""Metrics on hand-made inputs whose values are known."""

from __future__ import annotations

import numpy as np
import pytest

from train import metrics


def _random_motion(t=120, seed=0):
    return np.random.default_rng(seed).standard_normal((t, 22, 3))


def test_l1_and_pck_of_a_constant_offset():
    gt = _random_motion()
    pred = gt + np.array([1.0, -1.0, 0.0])
    assert metrics.l1_error(pred, gt) == pytest.approx(2.0)  # |1| + |-1| + |0| per joint
    assert metrics.pck(pred, gt, threshold=1.0) == 0.0  # distance sqrt(2) > 1
    assert metrics.pck(pred, gt, threshold=1.5) == 1.0
    with pytest.raises(ValueError, match="shape"):
        metrics.l1_error(pred[:10], gt)


def test_diversity_of_static_motion_is_zero_and_of_two_poses_known():
    static = np.repeat(_random_motion(1), 200, axis=0)
    assert metrics.diversity(static) == pytest.approx(0.0)
    two = np.concatenate([np.zeros((50, 22, 3)), np.ones((50, 22, 3))])
    assert metrics.diversity(two) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="2 clips"):
        metrics.diversity(static[:60])


def test_multimodality_of_identical_samples_is_zero():
    m = _random_motion()
    assert metrics.multimodality(np.stack([m, m, m])) == pytest.approx(0.0)
    assert metrics.multimodality(np.stack([m, m + 1.0])) == pytest.approx(3.0)


def test_fgd_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    motions = [_random_motion(200, seed) for seed in range(3)]
    assert metrics.fgd(motions, motions) == pytest.approx(0.0, abs=1e-6)
    shifted = [m + np.array([0.5, 0.0, 0.0]) for m in motions]
    dims = metrics.pose_windows(motions[0]).shape[1]
    # equal covariances: the distance is the squared shift of the means, 0.25 per x coordinate
    assert metrics.fgd(motions, shifted) == pytest.approx(0.25 * dims / 3, rel=1e-4)


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20000, 2))
    b = 2.0 * rng.standard_normal((20000, 2)) + 1.0
    # |mu|^2 = 2, traces 2 and 8, tr sqrt = 2 * 2: 2 + 2 + 8 - 8 = 4
    assert metrics.frechet_distance(a, b) == pytest.approx(4.0, rel=0.05)


def _swinging(t_s=10.0, fps=30):
    """Joints moving along x at speed 4 pi + 2 pi cos(2 pi t): never still, slowest at t = 0.5, 1.5, ...
    (normalised speed 0.5 there, above EMAGE's 0.3 threshold)."""
    t = np.arange(int(t_s * fps)) / fps
    x = 4 * np.pi * t + np.sin(2 * np.pi * t)
    return np.repeat(np.stack([x, 0 * x, 0 * x], -1)[:, None], 22, axis=1)


def test_motion_beats_are_the_speed_minima_above_the_threshold():
    beats = metrics.motion_beats(_swinging(), 30)
    assert len(beats) == len(metrics.UPPER_BODY)
    np.testing.assert_allclose(beats[0], 0.5 + np.arange(len(beats[0])), atol=1 / 30 + 1e-9)
    assert len(beats[0]) >= 8
    # minima where the joint (almost) stops are not beats: the speed must exceed 0.3 x its mean
    assert all(len(b) == 0 for b in metrics.motion_beats(_swinging(), 30, threshold=0.6))


def test_beat_consistency_rewards_onsets_on_beats():
    beats = metrics.motion_beats(_swinging(), 30)
    on_beats = np.arange(0.5, 10.0, 1.0)
    off_beats = on_beats + 0.5
    aligned = metrics.beat_consistency(on_beats, beats, duration_s=10.0)
    misaligned = metrics.beat_consistency(off_beats, beats, duration_s=10.0)
    assert aligned > 0.99
    assert misaligned == pytest.approx(np.exp(-0.5**2 / (2 * 0.3**2)), abs=0.02)
    with pytest.raises(ValueError, match="no audio onsets"):
        metrics.beat_consistency([0.5], beats, duration_s=10.0)


def test_jitter_and_arm_speed():
    fps = 30
    t = np.arange(60)[:, None, None] / fps
    linear = np.broadcast_to(t * np.array([1.0, 0.0, 0.0]), (60, 22, 3))  # 1 unit/s along x
    assert metrics.mean_jerk(linear, fps) == pytest.approx(0.0, abs=1e-9)
    assert metrics.mean_acceleration(linear, fps) == pytest.approx(0.0, abs=1e-9)
    assert metrics.mean_speed(linear, fps) == pytest.approx(1.0)
    assert metrics.mean_jerk(_random_motion(), fps) > 0.0


def test_audio_onsets_find_bursts():
    sr = 16000
    clicks = (0.5, 1.5, 2.5)
    audio = np.zeros(sr * 3, dtype=np.float32)
    rng = np.random.default_rng(0)
    for s in clicks:
        i = int(s * sr)
        audio[i:i + 4000] = rng.standard_normal(4000) * np.exp(-np.arange(4000) / 800) * 0.5
    onsets = metrics.audio_onsets(audio, sr)
    distance = np.abs(onsets[:, None] - np.array(clicks)[None, :])
    assert (distance.min(1) < 0.1).all()  # every onset belongs to a burst
    assert (distance.min(0) < 0.05).all()  # every burst has an onset
