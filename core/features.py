"""Log-mel speech features in numpy (the audio encoder's input).

Numpy only: this module is copied into the Blender extension and must never import bpy,
torch, scipy or librosa.

Features
--------
``log_mel(audio)`` takes mono float audio at ``SAMPLE_RATE`` = 16 kHz, shape ``(n,)``, and
returns ``(n_feature_frames(n), N_MELS)`` float32 log-mel energies in dB. It reproduces

    librosa.power_to_db(librosa.feature.melspectrogram(
        y=audio, sr=16000, n_fft=2048, hop_length=533, n_mels=64))

(librosa 0.11 defaults: periodic Hann window of N_FFT samples, ``center=True`` with zero
("constant") padding of N_FFT // 2 samples on each side, power 2, Slaney mel scale with
Slaney area normalisation, fmin 0, fmax 8 kHz, ``power_to_db`` with ref 1.0, amin 1e-10 and
top_db 80) to well under 1e-3 dB. Internally float64; frames are processed in chunks so
memory stays bounded (about 15 MB of temporaries whatever the length of the audio).

Frame counts (n = number of audio samples at 16 kHz)
-----------------------------------------------------
- Feature frames: ``n_feature_frames(n) = 1 + n // HOP_LENGTH`` (librosa, center=True).
  Feature frame k is centred on sample ``k * HOP_LENGTH`` (time ``k * 533 / 16000`` s).
- Motion frames: ``n_motion_frames(n) = ceil(n * FPS / SAMPLE_RATE)``, the number of 30 fps
  frame times ``k / 30`` that lie inside the audio (``k / 30 < n / 16000``). 0 samples give
  0 motion frames.
- The model consumes one feature frame per motion frame: ``features_for_motion(audio)``
  samples the log-mel sequence at the motion frame times. Motion frame k is at sample
  ``k * 16000 / 30`` = feature position ``k * 16000 / (30 * 533) = k * 1.000625``; the features
  there are linearly interpolated between the two nearest feature frames. Without this, the hop
  being 1/3 sample short of 1/30 s would make feature frame k sit ``k / 1600`` motion frames
  early (about 1 frame per minute, 10 frames after 10 minutes), and gestures would drift off the
  speech on long recordings. ``n_feature_frames(n) >= n_motion_frames(n)`` for every n and the
  last motion frame's position never passes the last feature frame, so no padding is needed.
  The training pipeline calls the same function, so training and inference cannot drift.

Degenerate input (defined, finite results)
------------------------------------------
- 0 or very few samples: the signal is zero-padded like librosa, giving 1 + n // 533 frames
  (1 frame for n < 533); ``features_for_motion`` gives ``(0, 64)`` for n = 0.
- Silent (all-zero) audio: every value is ``10 * log10(AMIN)`` = -100 dB.
- Clipped or loud audio (values at or beyond +-1): ordinary finite values (no clamping of the
  input; dB values may exceed 0).
- Non-finite samples (NaN, inf) raise ``ValueError``.
- Because of top_db, no value is more than 80 dB below the loudest value of the same call:
  the floor depends on the whole input (as in librosa), so features of a clip differ from
  features of the same samples inside a longer recording wherever that floor is reached.
"""

from __future__ import annotations

import numpy as np

from .parallel import for_each_span

SAMPLE_RATE = 16000  # Hz, the model's audio rate
FPS = 30  # motion frames per second
HOP_LENGTH = 533  # samples between feature frames (16000 / 30 rounded down)
N_FFT = 2048  # FFT size and window length (samples)
N_MELS = 64  # mel bands
FMIN = 0.0  # Hz, lowest mel edge
FMAX = SAMPLE_RATE / 2.0  # Hz, highest mel edge (Nyquist)
AMIN = 1e-10  # power floor before the log (power_to_db amin)
TOP_DB = 80.0  # dynamic range kept below the maximum (power_to_db top_db)

# Frames per chunk: keeps the temporary float64/complex128 buffers near 10 MB (and fast).
DEFAULT_CHUNK_FRAMES = 256

_mel_cache: dict = {}
_window_cache: dict = {}


def n_feature_frames(n_samples: int) -> int:
    """Number of log-mel frames for ``n_samples`` samples: ``1 + n_samples // HOP_LENGTH``."""
    n_samples = _check_count(n_samples)
    return 1 + n_samples // HOP_LENGTH


def n_motion_frames(n_samples: int) -> int:
    """Number of 30 fps motion frames covered by ``n_samples`` samples at 16 kHz.

    ``ceil(n_samples * FPS / SAMPLE_RATE)`` in exact integer arithmetic: the count of frame
    times ``k / FPS`` (k = 0, 1, ...) strictly before the end of the audio.
    """
    n_samples = _check_count(n_samples)
    return -(-n_samples * FPS // SAMPLE_RATE)


def _check_count(n_samples) -> int:
    n = int(n_samples)
    if n != n_samples or n < 0:
        raise ValueError(f"sample count must be a non-negative integer, got {n_samples!r}")
    return n


def hz_to_mel(freq):
    """Slaney mel scale (librosa htk=False): linear below 1 kHz, logarithmic above.

    ``freq`` in Hz (scalar or array) -> mel (float64).
    """
    freq = np.asarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    mel = freq / f_sp
    log_part = freq >= min_log_hz
    safe = np.where(log_part, freq, min_log_hz)
    return np.where(log_part, min_log_mel + np.log(safe / min_log_hz) / logstep, mel)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel` (Slaney scale): mel -> Hz (float64)."""
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    hz = f_sp * mel
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), hz)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = FMIN, fmax: float | None = None) -> np.ndarray:
    """Triangular mel filterbank, Slaney scale and Slaney (area) normalisation.

    Returns ``(n_mels, n_fft // 2 + 1)`` float64 weights mapping a power spectrum (rfft bins)
    to mel band energies. Band i rises linearly from edge i to edge i + 1 and falls to edge
    i + 2, where the n_mels + 2 edges are equally spaced in mel between fmin and fmax; each
    triangle is scaled by ``2 / (edge[i + 2] - edge[i])`` (Hz) so bands have equal area.
    """
    if fmax is None:
        fmax = sr / 2.0
    key = (sr, n_fft, n_mels, float(fmin), float(fmax))
    if key in _mel_cache:
        return _mel_cache[key]
    fft_hz = np.arange(n_fft // 2 + 1, dtype=np.float64) * (sr / n_fft)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges_hz)  # (n_mels + 1,)
    dist = edges_hz[:, None] - fft_hz[None, :]  # (n_mels + 2, n_bins)
    rising = -dist[:-2] / widths[:-1, None]
    falling = dist[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    weights.setflags(write=False)
    _mel_cache[key] = weights
    return weights


def hann_window(n: int = N_FFT) -> np.ndarray:
    """Periodic Hann window of n samples (float64), as used for spectral analysis."""
    if n not in _window_cache:
        w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
        w.setflags(write=False)
        _window_cache[n] = w
    return _window_cache[n]


def _as_mono(audio) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono with shape (n,), got shape {audio.shape}; "
                         "mix down with core.audio.to_mono first")
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"audio must be floating point in [-1, 1], got dtype {audio.dtype}")
    if not np.all(np.isfinite(audio)):
        raise ValueError("audio contains NaN or infinite samples")
    return audio


def mel_power(audio, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> np.ndarray:
    """Mel power spectrogram: ``(n_feature_frames(n), N_MELS)`` float64 (linear power).

    Frame k is the periodic-Hann-windowed N_FFT samples centred on sample k * HOP_LENGTH of
    the zero-padded signal; its power spectrum ``|rfft|^2`` is mapped by
    :func:`mel_filterbank`. Frames are computed ``chunk_frames`` at a time (a strided view
    of a float64 copy of only the samples that chunk needs), so memory is bounded.
    """
    audio = _as_mono(audio)
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    n = audio.shape[0]
    n_frames = n_feature_frames(n)
    fb_t = np.ascontiguousarray(mel_filterbank().T)  # (n_bins, n_mels)
    window = hann_window(N_FFT)
    half = N_FFT // 2
    out = np.empty((n_frames, N_MELS), dtype=np.float64)

    def chunk(f0: int, f1: int) -> None:
        # Samples of the padded signal used by frames f0..f1-1, in original coordinates.
        s0 = f0 * HOP_LENGTH - half
        s1 = (f1 - 1) * HOP_LENGTH + half
        seg = np.zeros(s1 - s0, dtype=np.float64)
        a, b = max(s0, 0), min(s1, n)
        if b > a:
            seg[a - s0:b - s0] = audio[a:b]
        frames = np.lib.stride_tricks.sliding_window_view(seg, N_FFT)[::HOP_LENGTH]
        spec = np.fft.rfft(frames * window, axis=1)
        power = spec.real ** 2
        power += spec.imag ** 2
        np.dot(power, fb_t, out=out[f0:f1])

    for_each_span(chunk, n_frames, chunk_frames)  # chunks on the cores, each its own rows
    return out


def power_to_db(power: np.ndarray, amin: float = AMIN, top_db: float | None = TOP_DB):
    """``10 * log10(max(power, amin))``, then floored at ``max - top_db`` (ref = 1.0).

    Same shape as ``power``, float64. Finite for any finite non-negative input.
    """
    db = 10.0 * np.log10(np.maximum(power, amin))
    if top_db is not None and db.size:
        np.maximum(db, db.max() - top_db, out=db)
    return db


def log_mel(audio, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> np.ndarray:
    """Log-mel features in dB: mono float audio at 16 kHz ``(n,)`` -> ``(1 + n // 533, 64)``
    float32.

    Matches ``librosa.power_to_db(librosa.feature.melspectrogram(y=audio, sr=16000,
    n_fft=2048, hop_length=533, n_mels=64)).T`` (see the module docstring). The result does
    not depend on ``chunk_frames`` (a memory/speed knob).
    """
    return power_to_db(mel_power(audio, chunk_frames)).astype(np.float32)


def features_for_motion(audio, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> np.ndarray:
    """Features aligned to the motion frames: ``(n_motion_frames(n), 64)`` float32.

    ``log_mel(audio)`` sampled at the 30 fps motion frame times by linear interpolation
    between neighbouring feature frames (see the module docstring).
    """
    audio = _as_mono(audio)
    n_mot = n_motion_frames(audio.shape[0])
    feats = log_mel(audio, chunk_frames)
    return interpolate_to_motion_frames(feats, n_mot)


def interpolate_to_motion_frames(feats: np.ndarray, n_motion: int) -> np.ndarray:
    """Sample ``(n_feature_frames, C)`` features at motion frames ``0..n_motion-1``."""
    if n_motion == 0:
        return np.zeros((0, feats.shape[1]), dtype=np.float32)
    # position of motion frame k on the feature-frame axis, in exact rational arithmetic
    k = np.arange(n_motion, dtype=np.int64)
    numerator = k * SAMPLE_RATE  # position = numerator / (FPS * HOP_LENGTH)
    denominator = FPS * HOP_LENGTH
    lower = np.minimum(numerator // denominator, feats.shape[0] - 1)
    upper = np.minimum(lower + 1, feats.shape[0] - 1)
    frac = ((numerator - lower * denominator) / denominator).astype(np.float64)[:, None]
    frac = np.minimum(frac, 1.0)
    out = feats[lower] * (1.0 - frac) + feats[upper] * frac
    return out.astype(np.float32)
