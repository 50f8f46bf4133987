"""train/honest.py: the own-minus-mismatched beat consistency and its summary (numpy)."""

from __future__ import annotations

import math
import types

import numpy as np

from core.features import FPS, SAMPLE_RATE
from train.honest import (
    CLIP_S,
    SHORT_CLIP_S,
    SHORT_TRIM_S,
    HeldOutData,
    bc_own_minus_mismatched,
    bc_short,
    real_bc,
    summarise,
)


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


def _clicks(times_s: np.ndarray, n_frames: int) -> np.ndarray:
    """Speech stand-in: short noise bursts at ``times_s`` (librosa finds an onset at each)."""
    rng = np.random.default_rng(2)
    audio = np.zeros(int(n_frames * SAMPLE_RATE / FPS), dtype=np.float32)
    for t in times_s:
        a = int(t * SAMPLE_RATE)
        audio[a:a + 800] += rng.normal(0, 0.5, min(800, audio.size - a)).astype(np.float32)
    return audio


def test_the_negative_control_is_another_takes_motion_against_this_speech():
    """Two takes whose motion slows at their own speech's onsets: each scores above the
    mismatched audio with its own speech, and the other take's motion (which never heard it)
    scores less; real_bc reports both."""
    n = int(6 * SHORT_CLIP_S * FPS)
    rng = np.random.default_rng(3)
    onsets = [np.concatenate([k * SHORT_CLIP_S + SHORT_TRIM_S + 0.2 + np.cumsum(rng.uniform(0.6, 0.9, 2))
                              for k in range(6)]) for _ in range(2)]
    recs = [types.SimpleNamespace(audio=_clicks(on, n), n_frames=n) for on in onsets]
    data = HeldOutData(recs, [_moving_with_stops_at(on, n) for on in onsets], [], 0.15)
    real = real_bc(data)
    assert real["bc3"]["n"] == 12 and real["control_bc3"]["n"] == 12
    assert real["bc3"]["mean"] > 0.05
    assert real["control_bc3"]["mean"] < real["bc3"]["mean"] - 0.05
