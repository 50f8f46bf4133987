"""Rhythm in numpy: where the speech has onsets, where a motion has its beats, and a small
time warp that moves the beats towards the onsets (``core.generate``'s ``sync``, off by default).

- ``onset_envelope(log_mel)``: spectral flux of the log-mel features (``core.features``): per
  frame, the mean over bands of the dB rise since the previous frame (rises only), as
  ``librosa.onset.onset_strength`` computes it on a mel spectrogram in dB (lag 1). A continuous
  function of the audio: a perturbation far below hearing moves it by far less than its own
  variation. ``onset_peaks``: the envelope above its local level, delayed to where librosa's
  onset_detect (which BC uses) marks onsets.
- ``motion_beats`` / ``motion_beat_envelope(rotations)``: the motion beats of EMAGE's beat
  consistency (BC): per upper-body joint (``UPPER_BODY``), the local minima of order
  ``BEAT_ORDER`` of the joint's speed normalised by its mean speed, kept where that normalised
  speed exceeds ``BEAT_THRESHOLD``; the envelope is the fraction of those joints with a beat at
  each frame, smoothed by a Gaussian of ``sigma`` frames.
- ``beat_warp``: where each frame reads the motion from (a shift of a few frames, changing
  slowly, 0 at fixed frames) so that beats meet onsets; ``resample_rows`` reads it there.

A stroke ends where the hands stop: a speed minimum. BC scores how close the speech's onsets
sit to such minima (sigma 0.3 s). ``UPPER_BODY``, ``BEAT_ORDER`` and ``BEAT_THRESHOLD`` are
also train/metrics.py's BC. Measured in models/MODEL_CARD.md: on held-out speech, 3 s clips, the
warp at sync 1 raised own-minus-mismatched BC by +0.0043 +- 0.0011 (t 3.7), so the add-on asks
for it (Sync 1); ``core.generate``'s own default stays 0.
"""

from __future__ import annotations

import numpy as np

from .noise import gaussian_window
from .skeleton import BODY_PARENTS, body_rest_offsets

#: SMPL-X upper-body joints of EMAGE's BC: spine1-3, neck, collars, head, shoulders, elbows, wrists.
UPPER_BODY = (3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)
BEAT_ORDER = 7  # frames each side a speed minimum must undercut (EMAGE: argrelextrema order 7)
BEAT_THRESHOLD = 0.3  # a minimum counts where the normalised speed exceeds this (EMAGE)
BEAT_SIGMA = 3  # frames: Gaussian smoothing of the motion beat envelope


def onset_envelope(log_mel: np.ndarray) -> np.ndarray:
    """Spectral flux ``(T,)`` float32 of raw log-mel features ``(T, n_mels)`` in dB: the mean
    over bands of ``max(0, X[t] - X[t - 1])`` (0 at the first frame)."""
    x = np.asarray(log_mel, dtype=np.float32)
    out = np.zeros(x.shape[0], dtype=np.float32)
    if x.shape[0] > 1:
        out[1:] = np.maximum(x[1:] - x[:-1], 0.0).mean(axis=1)
    return out


def _chain() -> list[int]:
    """The pelvis, the upper-body joints and every joint between them, parents first."""
    need = set()
    for j in UPPER_BODY:
        while j >= 0 and j not in need:
            need.add(j)
            j = BODY_PARENTS[j]
    return sorted(need)


#: Joints whose rotations decide the upper-body positions (the legs are left out).
CHAIN = tuple(_chain())


def upper_body_positions(rotations: np.ndarray) -> np.ndarray:
    """Upper-body joint positions ``(T, len(UPPER_BODY), 3)`` float32 (metres, core rest
    skeleton, pelvis at the origin) of local rotations ``(T, J, 3, 3)``: J >= 22 in SMPL-X order,
    or exactly ``len(CHAIN)`` joints in ``CHAIN`` order. The same as ``core.fk`` on these joints."""
    r = np.asarray(rotations, dtype=np.float32)
    if r.shape[1] != len(CHAIN):
        r = r[:, list(CHAIN)]
    offsets = body_rest_offsets().astype(np.float32)
    glob, pos = {}, {}
    for i, j in enumerate(CHAIN):
        parent = BODY_PARENTS[j]
        if parent < 0:
            glob[j], pos[j] = r[:, i], np.zeros((r.shape[0], 3), dtype=np.float32)
        else:
            glob[j] = glob[parent] @ r[:, i]
            pos[j] = pos[parent] + glob[parent] @ offsets[j]
    return np.stack([pos[j] for j in UPPER_BODY], axis=1)


def motion_beats(positions: np.ndarray, order: int = BEAT_ORDER,
                 threshold: float = BEAT_THRESHOLD) -> np.ndarray:
    """Boolean ``(T, J)``: frames where joint j's speed (central differences, normalised by its
    mean) is a strict local minimum over ``order`` frames each side and above ``threshold``."""
    p = np.asarray(positions, dtype=np.float64)
    T = p.shape[0]
    if T < 2 * order + 1:
        return np.zeros(p.shape[:2], dtype=bool)
    speed = np.linalg.norm(np.gradient(p, axis=0), axis=-1)  # (T, J), per frame
    norm = speed / np.maximum(speed.mean(axis=0), 1e-12)
    beat = norm > threshold
    for k in range(1, order + 1):  # strictly below every neighbour within order (edges: those that exist)
        beat[k:] &= norm[k:] < norm[:-k]
        beat[:-k] &= norm[:-k] < norm[k:]
    return beat


def motion_beat_envelope(rotations: np.ndarray, sigma: float = BEAT_SIGMA) -> np.ndarray:
    """``(T,)`` float32: the fraction of upper-body joints with a motion beat at each frame
    (``motion_beats``), smoothed by a Gaussian of ``sigma`` frames."""
    beats = motion_beats(upper_body_positions(rotations)).mean(axis=1)
    return smooth(beats, sigma)


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """``x (T,)`` convolved with a unit-sum Gaussian of ``sigma`` frames (edges held), float32."""
    x = np.asarray(x, dtype=np.float64)
    if sigma <= 0 or x.size < 2:
        return x.astype(np.float32)
    kernel = gaussian_window(sigma)
    kernel = kernel / kernel.sum()
    r = kernel.size // 2
    padded = np.pad(x, r, mode="edge")
    return np.convolve(padded, kernel, mode="valid").astype(np.float32)



WARP_SIGMA = 3  # frames: both envelopes smoothed for the warp (BC scores within about 0.3 s)
WARP_BLOCK = 4  # frames per step of the warp's path: its shift changes by at most 1 frame a block
WARP_WINDOW = 90  # frames: the warp returns to shift 0 at every multiple of this (3 s)
WARP_PENALTY = 0.02  # cost of each 1-frame change of the shift (against onset x beat products)
ONSET_LAG = 2  # frames from a flux rise to where librosa's onset_detect marks it (measured on BEAT2)
ONSET_BASELINE = 15  # frames of the moving average subtracted from the onset envelope


def onset_peaks(onsets: np.ndarray) -> np.ndarray:
    """The onset envelope above its local level: ``max(0, o - moving average of
    ONSET_BASELINE frames)``, delayed by ``ONSET_LAG`` frames (where librosa's onset_detect,
    which BC uses, puts the onset), divided by its mean (1 on average)."""
    o = np.asarray(onsets, dtype=np.float64)
    if o.size == 0:
        return o.astype(np.float32)
    k = np.ones(ONSET_BASELINE) / ONSET_BASELINE
    level = np.convolve(np.pad(o, ONSET_BASELINE // 2, mode="edge"), k, mode="valid")[: o.size]
    peaks = np.maximum(o - level, 0.0)
    peaks = np.concatenate([np.zeros(min(ONSET_LAG, o.size)), peaks[: max(o.size - ONSET_LAG, 0)]])
    return (peaks / max(float(peaks.mean()), 1e-9)).astype(np.float32)


def beat_warp(onsets: np.ndarray, beats: np.ndarray, max_shift: int,
              keep: np.ndarray | None = None, first_frame: int = 0) -> np.ndarray:
    """Where each output frame reads a motion from so that the motion's beats meet the speech's
    onsets: ``(n,)`` float64 source positions ``t + shift(t)``, with ``|shift| <= max_shift``
    frames, the shift changing by at most 1 frame per ``WARP_BLOCK`` frames (the motion plays
    at 2/3 to 4/3 of its speed), piecewise linear between block centres.

    ``onsets (n,)``: the speech's onset envelope (``onset_envelope``); ``beats (n,)``: the
    motion's beat envelope. The path maximises ``sum_t onset_peaks(t) * beats(t + shift(t))``
    minus ``WARP_PENALTY`` per 1-frame change of the shift (dynamic programming over blocks). A
    small change of the inputs moves the path only where two paths score nearly the same, and
    only until they meet again: no cascade. ``keep (n,)`` bool: frames whose timing must not
    change (shift 0 over the blocks that hold them); the first and last blocks keep theirs too,
    and so do the blocks at every ``WARP_WINDOW``-th frame of the take (``first_frame``: the
    take's frame of ``onsets[0]``), so a change of the motion moves the timing only within the
    windows it touches."""
    o = smooth(onset_peaks(onsets), WARP_SIGMA).astype(np.float64)
    b = smooth(beats, WARP_SIGMA).astype(np.float64)
    n = o.size
    t = np.arange(n, dtype=np.float64)
    if max_shift <= 0 or n < 2 * WARP_BLOCK:
        return t
    shifts = np.arange(-max_shift, max_shift + 1)
    src = np.clip(np.arange(n)[:, None] + shifts[None, :], 0, n - 1)
    score = o[:, None] * b[src]  # (n, S)
    n_blk = n // WARP_BLOCK
    gain = score[: n_blk * WARP_BLOCK].reshape(n_blk, WARP_BLOCK, -1).sum(axis=1)  # (n_blk, S)
    fixed = np.zeros(n_blk, dtype=bool)
    fixed[[0, -1]] = True
    frame = first_frame + np.arange(n_blk) * WARP_BLOCK
    fixed |= (frame % WARP_WINDOW) < WARP_BLOCK
    if keep is not None:
        k = np.asarray(keep, dtype=bool)[: n_blk * WARP_BLOCK].reshape(n_blk, WARP_BLOCK).any(axis=1)
        fixed |= k
    gain[fixed] = np.where(shifts == 0, gain[fixed], -np.inf)
    total = gain[0].copy()
    back = np.zeros((n_blk, shifts.size), dtype=np.int8)
    neg = np.full(1, -np.inf)
    for k in range(1, n_blk):
        stay = total
        down = np.concatenate([total[1:], neg])  # came from shift + 1
        up = np.concatenate([neg, total[:-1]])  # came from shift - 1
        best = np.maximum(stay, np.maximum(down - WARP_PENALTY, up - WARP_PENALTY))
        back[k] = np.where(best == stay, 0, np.where(best == down - WARP_PENALTY, 1, -1))
        total = best + gain[k]
    path = np.empty(n_blk, dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for k in range(n_blk - 1, 0, -1):
        path[k - 1] = path[k] + back[k, path[k]]
    centres = np.arange(n_blk) * WARP_BLOCK + (WARP_BLOCK - 1) / 2.0
    shift = smooth(np.interp(t, centres, shifts[path].astype(np.float64)), WARP_BLOCK).astype(np.float64)
    if keep is not None:
        shift[np.asarray(keep, dtype=bool)] = 0.0
    return np.clip(t + shift, 0.0, n - 1.0)


def resample_rows(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``x (n, d)`` read at fractional frame ``positions (m,)`` (linear interpolation), float32."""
    x = np.asarray(x)
    i = np.clip(np.floor(positions).astype(np.int64), 0, len(x) - 1)
    j = np.minimum(i + 1, len(x) - 1)
    f = (positions - i)[:, None].astype(np.float32)
    return ((1.0 - f) * x[i] + f * x[j]).astype(np.float32)
