"""Print timings and peak memory of the numpy audio front end (core.audio, core.features).

For 10 s, 3 min and 10 min of synthetic speech-like audio (and the real BEAT2 WAVs when
../shared/data/beat2 is present): decode (read_wav of a 44.1 kHz PCM16 WAV), resample
44.1 kHz -> 16 kHz, and log-mel at 16 kHz. Times are the best of a few runs (wall clock,
single call); peak memory is the tracemalloc peak of one extra call (numpy buffers are
traced): the temporaries plus the returned arrays, not the input. Asserts nothing.

    .venv/bin/python benchmarks/bench_features.py [--quick]
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import audio, features  # noqa: E402

BEAT2 = ROOT.parent / "shared" / "data" / "beat2"


def speech_like(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Noise shaped like speech: 1/f-ish spectrum, 4 Hz syllable envelope, pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    white = rng.standard_normal(n).astype(np.float32)
    pinkish = np.cumsum(white, dtype=np.float64)
    pinkish -= np.convolve(pinkish, np.ones(64) / 64, mode="same")  # remove drift (highpass)
    t = np.arange(n) / rate
    env = np.abs(np.sin(2 * np.pi * 2.0 * t)) * (np.sin(2 * np.pi * 0.2 * t) > -0.3)
    x = pinkish * env
    return (0.3 * x / (np.abs(x).max() + 1e-12)).astype(np.float32)


def write_pcm16(path: Path, x: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def timed(fn, *args, repeat: int = 3):
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, result


def peak_mb(fn, *args) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 2**20


def row(label: str, seconds: float, fn, *args, repeat: int = 3):
    dt, result = timed(fn, *args, repeat=repeat)
    mb = peak_mb(fn, *args)
    print(f"  {label:<28} {seconds:7.1f} s audio  {dt * 1000:9.1f} ms  "
          f"({seconds / dt:7.0f}x real time)  peak {mb:7.1f} MiB")
    return result


def main() -> None:
    quick = "--quick" in sys.argv
    lengths = [10.0, 180.0] if quick else [10.0, 180.0, 600.0]
    print(f"numpy {np.__version__}; log-mel: hop {features.HOP_LENGTH}, n_fft {features.N_FFT},"
          f" {features.N_MELS} mels; chunk {features.DEFAULT_CHUNK_FRAMES} frames")
    features.log_mel(np.zeros(16000, np.float32))  # warm caches (filterbank, window)
    audio.resample(np.zeros(44100, np.float32), 44100, 16000)
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in lengths:
            print(f"synthetic speech-like audio, {seconds:g} s:")
            x44 = speech_like(seconds, 44100)
            path = Path(tmp) / f"s{int(seconds)}.wav"
            write_pcm16(path, x44, 44100)
            row("decode read_wav (44.1k)", seconds, audio.read_wav, path)
            y16 = row("resample 44.1k -> 16k", seconds, audio.resample, x44, 44100, 16000)
            feats = row("log_mel (16k)", seconds, features.log_mel, y16)
            print(f"  -> {y16.shape[0]} samples at 16 kHz, features {feats.shape}")
            path.unlink()
    if BEAT2.is_dir():
        for wav in sorted(BEAT2.glob("*.wav")):
            samples, rate = audio.read_wav(wav)
            seconds = samples.shape[0] / rate
            print(f"{wav.name} ({rate} Hz, {seconds:.1f} s):")
            row("decode read_wav", seconds, audio.read_wav, wav)
            y = audio.to_mono(samples)
            row("resample 16k -> 44.1k", seconds, audio.resample, y, 16000, 44100)
            row("log_mel", seconds, features.log_mel, y)
    else:
        print(f"(BEAT2 WAVs not found in {BEAT2}: real-speech rows skipped)")


if __name__ == "__main__":
    main()
