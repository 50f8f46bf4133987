"""core.features against librosa on real speech, frame counts, degenerate input, chunking."""

import math
from pathlib import Path

import numpy as np
import pytest

from core import features as F

BEAT2 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "beat2"
WAVS = ["2_scott_0_1_1.wav", "2_scott_0_2_2.wav"]  # float32 and PCM16, 16 kHz mono

needs_beat2 = pytest.mark.skipif(
    not all((BEAT2 / w).exists() for w in WAVS),
    reason=f"BEAT2 sample WAVs not found in {BEAT2} (the repo's sibling ../shared folder)")


def _librosa_log_mel(y):
    librosa = pytest.importorskip("librosa")
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=2048, hop_length=533, n_mels=64)
    return librosa.power_to_db(mel).T


def _speech(name):
    sf = pytest.importorskip("soundfile")
    y, sr = sf.read(BEAT2 / name, dtype="float32")
    assert sr == F.SAMPLE_RATE and y.ndim == 1
    return y


def test_constants():
    assert (F.SAMPLE_RATE, F.FPS, F.HOP_LENGTH, F.N_FFT, F.N_MELS) == (16000, 30, 533, 2048, 64)


@needs_beat2
@pytest.mark.parametrize("name", WAVS)
def test_log_mel_matches_librosa_on_speech(name):
    y = _speech(name)
    ours = F.log_mel(y)
    ref = _librosa_log_mel(y)
    assert ours.dtype == np.float32
    assert ours.shape == ref.shape == (F.n_feature_frames(len(y)), 64)
    assert np.abs(ours - ref).max() < 1e-3
    # Real speech spans the whole 80 dB range: the comparison is not trivially on the floor.
    assert ours.max() - ours.min() == pytest.approx(80.0, abs=1e-3)


def test_mel_filterbank_matches_librosa():
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(sr=16000, n_fft=2048, n_mels=64)
    ours = F.mel_filterbank()
    assert ours.shape == (64, 1025)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("n", [1, 100, 532, 533, 534, 1066, 2047, 2048, 2049, 16000, 16001])
def test_frame_counts_and_values_match_librosa(n):
    y = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    ref = _librosa_log_mel(y) if n >= 2048 else None
    ours = F.log_mel(y)
    assert ours.shape == (1 + n // 533, 64) == (F.n_feature_frames(n), 64)
    if ref is not None:  # librosa warns (but works) for n < n_fft; compare where it is quiet
        assert ref.shape == ours.shape
        assert np.abs(ours - ref).max() < 1e-3


def test_motion_frame_count_is_ceil_and_never_exceeds_feature_frames():
    for n in range(0, 40000, 7):
        m = F.n_motion_frames(n)
        assert m == math.ceil(n * 30 / 16000)
        assert F.n_feature_frames(n) >= m
    assert F.n_motion_frames(16000) == 30
    assert F.n_motion_frames(16001) == 31
    assert F.n_motion_frames(0) == 0
    assert F.n_motion_frames(16000 * 3600) == 108000
    assert F.n_feature_frames(16000 * 3600) >= 108000
    with pytest.raises(ValueError):
        F.n_motion_frames(-1)


def test_features_for_motion_samples_log_mel_at_motion_frame_times():
    y = (0.1 * np.random.default_rng(0).standard_normal(16000 * 70 + 123)).astype(np.float32)
    full = F.log_mel(y)
    mot = F.features_for_motion(y)
    assert mot.shape == (F.n_motion_frames(len(y)), 64) == (math.ceil(len(y) * 30 / 16000), 64)
    # motion frame k is at k/30 s = feature position k * 16000 / (30 * 533)
    positions = np.arange(len(mot)) * 16000 / (30 * 533)
    expected = np.stack([np.interp(positions, np.arange(len(full)), full[:, b]) for b in range(64)], axis=1)
    np.testing.assert_allclose(mot, expected, atol=1e-4)
    np.testing.assert_array_equal(mot[0], full[0])
    # after 70 s the motion frame sits between feature frames 2101 and 2102 (drift corrected)
    assert positions[2100] > 2101
    assert F.features_for_motion(np.zeros(0, np.float32)).shape == (0, 64)


@pytest.mark.parametrize("n", [0, 1, 2, 531])
def test_very_short_audio_is_finite(n):
    y = (0.5 * np.random.default_rng(1).standard_normal(n)).astype(np.float32)
    out = F.log_mel(y)
    assert out.shape == (1, 64)
    assert np.all(np.isfinite(out))


def test_silent_audio_is_the_floor():
    out = F.log_mel(np.zeros(16000, np.float32))
    assert out.shape == (31, 64)
    np.testing.assert_array_equal(out, np.float32(-100.0))


def test_clipped_audio_is_finite_and_matches_librosa():
    t = np.arange(16000 * 2) / 16000.0
    y = np.clip(3.0 * np.sin(2 * np.pi * 220.0 * t), -1.0, 1.0).astype(np.float32)
    y[:5000] = 1.0  # a stretch of DC at full scale
    ours = F.log_mel(y)
    assert np.all(np.isfinite(ours))
    assert np.abs(ours - _librosa_log_mel(y)).max() < 1e-3
    over = F.log_mel(np.full(5000, 4.0, np.float32))  # beyond full scale: still finite
    assert np.all(np.isfinite(over))


def test_non_finite_or_bad_input_raises():
    y = np.zeros(4000, np.float32)
    y[100] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        F.log_mel(y)
    with pytest.raises(ValueError, match="mono"):
        F.log_mel(np.zeros((4000, 2), np.float32))
    with pytest.raises(ValueError, match="floating"):
        F.log_mel(np.zeros(4000, np.int16))


@needs_beat2
def test_chunked_equals_one_shot_on_long_input():
    y = np.concatenate([_speech(w) for w in WAVS])  # about 126 s
    one_shot = F.mel_power(y, chunk_frames=F.n_feature_frames(len(y)))
    for chunk in (1, 7, 256):
        np.testing.assert_allclose(F.mel_power(y, chunk_frames=chunk), one_shot,
                                   rtol=1e-12, atol=1e-20)
    np.testing.assert_allclose(F.log_mel(y, chunk_frames=33), F.log_mel(y, chunk_frames=10**6),
                               rtol=0, atol=1e-5)
