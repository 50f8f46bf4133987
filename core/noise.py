"""The noise fed to the mapping net: per-frame Gaussian noise, optionally smoothed in time.

The paper draws the mapping net's input per frame from a Gaussian with one training clip's
per-channel mean and std of the motion-specific code I_M. Per-frame (white) noise has none of
I_M's temporal structure: I_M comes out of a convolutional encoder and changes slowly (measured
on BEAT2: autocorrelation 0.86 at 8 frames, 0.60 at 16 frames). With ``smoothing`` = sigma > 0
the white noise is convolved in time with a Gaussian kernel of that sigma (in frames), scaled so
every sample still has unit variance, which gives the noise an autocorrelation of
``exp(-lag^2 / (4 sigma^2))`` (sigma 11: 0.60 at 16 frames). ``smoothing`` = 0 is the paper's
white noise. Training (train/losses.py) and inference (core/generate.py) use this one kernel.
``gaussian_window`` is the one Gaussian of the code base: the output low-pass of
core/generate.py uses it too (normalised to unit sum there).
"""

from __future__ import annotations

import numpy as np


def gaussian_window(sigma: int) -> np.ndarray:
    """``exp(-t^2 / (2 sigma^2))`` for t = -4 sigma .. 4 sigma frames: (8 * sigma + 1,) float64."""
    t = np.arange(-4 * sigma, 4 * sigma + 1, dtype=np.float64)
    return np.exp(-0.5 * (t / sigma) ** 2)


def smoothing_kernel(sigma: int) -> np.ndarray:
    """Gaussian kernel (2 * 4 * sigma + 1,) float64 with unit L2 norm ((1,) = [1] for sigma 0)."""
    if sigma < 0:
        raise ValueError(f"noise smoothing sigma must be >= 0 frames, got {sigma}")
    if sigma == 0:
        return np.ones(1)
    k = gaussian_window(sigma)
    return k / np.sqrt(np.sum(k * k))


def unit_noise(rng: np.random.Generator, n: int, channels: int, sigma: int) -> np.ndarray:
    """(n, channels) float64 noise, unit variance per sample, smoothed in time with ``sigma``."""
    return filtered_noise(rng, n, channels, smoothing_kernel(sigma))


def filtered_noise(rng: np.random.Generator, n: int, channels: int, kernel: np.ndarray) -> np.ndarray:
    """(n, channels) float64: white noise convolved in time with ``kernel`` (K,) ('valid', so
    every output frame sees K white samples). A kernel of unit L2 norm keeps unit variance; its
    autocorrelation becomes the noise's (core/prior.py's Gaussian prior fits one)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    white = rng.standard_normal((n + kernel.size - 1, channels))
    if kernel.size == 1:
        return white
    # 'valid' convolution along time, all channels at once
    windows = np.lib.stride_tricks.sliding_window_view(white, kernel.size, axis=0)  # (n, C, K)
    return windows @ kernel[::-1]
