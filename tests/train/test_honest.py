"""train/honest.py: the own-minus-mismatched beat consistency and its summary (numpy)."""

from __future__ import annotations

import math

import numpy as np

from core.features import FPS
from train.honest import CLIP_S, SHORT_CLIP_S, SHORT_TRIM_S, bc_own_minus_mismatched, bc_short, summarise


def _moving_with_stops_at(stops_s: np.ndarray, n_frames: int) -> np.ndarray:
    """Positions (T, 22, 3) in cm: every joint moves at a steady speed except for a brief slow
    down at each of ``stops_s`` (speed minima: the motion beats BC looks for)."""
    t = np.arange(n_frames) / FPS
    speed = 1.0 - 0.5 * np.exp(-0.5 * ((t[:, None] - stops_s[None, :]) / 0.05) ** 2).max(axis=1)
    x = np.cumsum(speed) / FPS * 30.0
    p = np.zeros((n_frames, 22, 3))
    p[:, :, 0] = x[:, None]
    return p


def test_motion_whose_beats_sit_on_its_own_onsets_scores_above_the_mismatched_audio():
    rng = np.random.default_rng(0)
    length = int(CLIP_S * FPS)
    # onsets 0.6-0.9 s apart (a speed minimum must undercut 7 frames each side), different per clip
    onsets = [2.3 + np.cumsum(rng.uniform(0.6, 0.9, 9)) for _ in range(4)]
    stops = np.concatenate([on + k * CLIP_S for k, on in enumerate(onsets)])
    positions = _moving_with_stops_at(stops, 4 * length)
    diffs = bc_own_minus_mismatched(positions, onsets)
    assert len(diffs) == 4 and all(d > 0.05 for d in diffs)
    shuffled = bc_own_minus_mismatched(positions, onsets[1:] + onsets[:1])  # every clip with other audio
    assert np.mean(shuffled) < 0


def test_summarise_gives_mean_standard_error_and_t():
    s = summarise([1.0, 2.0, 3.0, math.nan])
    assert s["n"] == 3 and s["mean"] == 2.0
    assert abs(s["se"] - 1.0 / math.sqrt(3)) < 1e-12 and abs(s["t"] - 2.0 * math.sqrt(3)) < 1e-9
    assert math.isnan(summarise([1.0])["mean"])


def test_the_3_s_variant_scores_beats_on_their_own_onsets_above_the_mismatched_audio():
    rng = np.random.default_rng(1)
    length = int(SHORT_CLIP_S * FPS)
    # onsets 0.6-0.9 s apart inside the kept 2 s of each 3 s clip, different per clip
    onsets = [SHORT_TRIM_S + 0.2 + np.cumsum(rng.uniform(0.6, 0.9, 2)) for _ in range(6)]
    stops = np.concatenate([on + k * SHORT_CLIP_S for k, on in enumerate(onsets)])
    positions = _moving_with_stops_at(stops, 6 * length)
    diffs = bc_short(positions, onsets)
    assert len(diffs) == 6 and all(d > 0.05 for d in diffs)
    shuffled = bc_short(positions, onsets[1:] + onsets[:1])
    assert np.mean(shuffled) < 0
    # the 12 s measure on the same motion has no whole clip to score
    assert bc_own_minus_mismatched(positions, []) == []
