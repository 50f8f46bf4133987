"""Speech-like test audio, written as WAV with the standard library (tests and benchmarks)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def speech_like(seconds: float, rate: int = 16000, seed: int = 0, channels: int = 1) -> np.ndarray:
    """Syllable-like bursts of a voiced harmonic tone with noise: float32 (n, channels)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 3.1 * t + rng.uniform(0, 6)), 0, None) ** 2
    x = 0.2 * envelope * voice + 0.01 * rng.standard_normal(n)
    out = np.repeat(x[:, None], channels, axis=1)
    if channels > 1:
        out[:, 1:] *= 0.5
    return out.astype(np.float32)


def write_wav(path, samples, rate: int = 16000) -> Path:
    """Write float samples (n,) or (n, channels) as 16-bit PCM WAV."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return Path(path)
