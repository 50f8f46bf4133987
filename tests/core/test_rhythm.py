"""core/rhythm.py: onset and beat envelopes, the beat warp; generate's sync option."""

import numpy as np
import pytest

from core.errors import UserError
from core.fk import forward_kinematics
from core.generate import DEFAULT_SYNC, MAX_SYNC, WARP_SHIFT, ResampleRange, check_sync, generate
from core.rhythm import (
    UPPER_BODY,
    WARP_BLOCK,
    WARP_WINDOW,
    beat_warp,
    motion_beats,
    onset_envelope,
    resample_rows,
    upper_body_positions,
)
from core.rotations import sixd_to_matrix
from core.skeleton import BODY_PARENTS, body_rest_offsets


def test_onset_envelope_is_the_mean_rise_of_the_log_mel():
    x = np.zeros((5, 4), np.float32)
    x[2] = [4, 4, 0, 0]  # a rise of 4 dB in half the bands, then a fall
    np.testing.assert_allclose(onset_envelope(x), [0, 0, 2, 0, 0])


def test_upper_body_positions_match_forward_kinematics():
    rot = sixd_to_matrix(np.random.default_rng(0).standard_normal((20, 22, 6))).astype(np.float32)
    full = forward_kinematics(rot.astype(np.float64), body_rest_offsets(), BODY_PARENTS)[0]
    expected = full[:, list(UPPER_BODY)] - full[:, :1]  # pelvis at the origin
    np.testing.assert_allclose(upper_body_positions(rot), expected, atol=1e-5)


def test_motion_beats_are_strict_speed_minima_above_the_threshold():
    t = np.arange(120)
    x = np.sin(2 * np.pi * t / 30.0) * 0.1  # speed |cos|: minima every 15 frames, but 0 there
    still = np.zeros((120, 1, 3))
    still[:, 0, 0] = x
    assert not motion_beats(still).any()  # minima at zero speed are pauses, not beats
    moving = still.copy()
    moving[:, 0, 1] = 0.02 * t + 0.01 * np.sin(2 * np.pi * t / 20.0)  # never stops; dips every 20 frames
    beats = np.flatnonzero(motion_beats(moving)[:, 0])
    assert len(beats) >= 4 and np.all(np.diff(beats) >= 8)


def test_beat_warp_moves_beats_onto_onsets_within_its_limits():
    n = 300
    onsets = np.zeros(n, np.float32)
    onsets[::40] = 10.0  # a clear onset every 40 frames
    beats = np.zeros(n, np.float32)
    beats[6::40] = 1.0  # each beat 6 frames late (after the 2-frame onset lag: 4 frames)
    src = beat_warp(onsets, beats, 8)
    shift = src - np.arange(n)
    assert np.abs(shift).max() <= 8 + 1e-9
    assert np.all(np.diff(src) > 0)  # monotone: the motion never plays backwards
    assert np.abs(np.diff(shift)).max() <= 1.0 / WARP_BLOCK + 1e-6
    moved = [k for k in range(42, n - 40, 40) if abs(k % WARP_WINDOW) > 12]
    assert np.mean([shift[k + 2] for k in moved]) > 1.0  # reads ahead: the late beats come earlier
    np.testing.assert_array_equal(beat_warp(onsets, beats, 0), np.arange(n))
    keep = np.zeros(n, bool)
    keep[100:140] = True
    assert np.all((beat_warp(onsets, beats, 8, keep) - np.arange(n))[keep] == 0)


def test_resample_rows_interpolates_linearly():
    x = np.arange(10, dtype=np.float32)[:, None] * [1, 2]
    np.testing.assert_allclose(resample_rows(x, np.array([0.5, 3.25, 9.0])), [[0.5, 1], [3.25, 6.5], [9, 18]])


def test_sync_keeps_seeds_resample_ranges_and_validation(net, feats):
    a = generate(net, feats, 3, sync=1.0)
    np.testing.assert_array_equal(a, generate(net, feats, 3, sync=1.0))  # deterministic per seed
    assert np.abs(a - generate(net, feats, 4, sync=1.0)).max() > 1e-3
    assert WARP_SHIFT >= 1
    r = generate(net, feats, 3, sync=1.0, resamples=[ResampleRange(60, 140, 9)])
    np.testing.assert_array_equal(r[:60], a[:60])  # outside the range: bit-identical
    np.testing.assert_array_equal(r[140:], a[140:])
    assert np.abs(r[70:130] - a[70:130]).max() > 1e-3
    np.testing.assert_array_equal(generate(net, feats, 3, sync=0.0), generate(net, feats, 3))
    for bad in (-0.1, 3.5, float("nan"), True):
        with pytest.raises(ValueError, match="sync"):
            generate(net, feats, 3, sync=bad)


def test_check_sync_accepts_the_range_and_names_the_setting():
    assert check_sync(0) == 0.0 and check_sync(DEFAULT_SYNC) == 1.0 and check_sync(MAX_SYNC) == MAX_SYNC
    for bad in (-0.1, MAX_SYNC + 0.5, float("nan"), float("inf")):
        with pytest.raises(UserError, match=r"--sync must be at least 0 and at most 3 .*got"):
            check_sync(bad, "--sync")
