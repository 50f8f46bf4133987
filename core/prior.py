"""Priors over sequences of the motion-specific code I: what ``core.generate`` decodes.

The decoder turns (S_A, I) into motion. Fed the code I_M that the motion encoder extracts from
real motion it reproduces real-looking motion; so the quality of sampled motion is decided by
how much the sampled code sequence looks like real I_M sequences. Real I_M varies strongly over
time (std about 1.5 per channel), is smooth (autocorrelation about 0.8 at 10 frames, 0 at 60)
and its channels are strongly correlated. Three priors, selected by name:

- ``"paper"``: Li et al.'s sampler. White noise with one training clip's per-channel mean and
  std of I_M, through the mapping net f_R (``core.generate``; needs no arrays here). Measured on
  BEAT2 its output varies about ten times less than real I_M: nearly average motion.
- ``"gaussian"``: a stationary Gaussian process fitted to the training I_M: mean ``mu``, full
  channel covariance ``L L^T`` and one temporal correlation shared by all whitened channels,
  realised as white noise convolved with ``kernel`` (``core.noise.filtered_noise``):
  ``I = mu + (kernel * eps) L^T``.
- ``"retrieval"``: audio-matched retrieval of real code segments (ours). The training I_M and
  the training audio's shared code S_A are stored (no left/right mirror: it puts the speaker's
  habitual hand on the other side). The output is built from segments of ``SEGMENT`` frames
  overlapping by ``FADE`` frames. For each segment the candidates are the stored segments
  (starting at every ``CANDIDATE_STRIDE``-th frame); a candidate's cost is the mean squared
  distance between its audio code and the target's over the segment (every
  ``DESCRIPTOR_STEP``-th frame) plus ``JOIN_WEIGHT`` times the mean squared code distance over
  the overlap with the previous segment (every ``JOIN_STEP``-th frame): segments are joined
  where their codes are close. The pick is the cheapest candidate after subtracting
  ``TEMPERATURE`` times Gumbel noise drawn from the seed's generator (one value per candidate,
  however the audio sounds): a draw from ``exp(-cost / TEMPERATURE)``, and a choice that a
  perturbation far below hearing cannot flip unless the two best are tied to within it (the
  old draw among the top-k in argpartition's order flipped on any change; issue #21 item 6).
  A stored segment used once in a take (and every candidate overlapping it) is not used again
  until all candidates are spent. The overlaps are cross-faded with smoothstep weights that sum
  to 1 (equal-power weights inflated the code's deviation where two close codes overlap).

``intensity`` (``core.generate``) scales the code's deviation from the prior's mean ``mu``:
``I = mu + intensity * (I - mu)`` (``scale_intensity``; 1 = as sampled), and then the motion's
deviation from its mean pose by ``sqrt(intensity)``.

Everything is numpy and deterministic given the generator.
"""

from __future__ import annotations

import numpy as np

from .errors import UserError
from .noise import filtered_noise

#: Prior names, in the order evaluations list them.
PRIORS = ("paper", "gaussian", "retrieval")

#: Arrays each prior reads from the model file (besides the network), ``prior_`` prefixed.
PRIOR_ARRAYS = {
    "gaussian": ("prior_mean", "prior_chol", "prior_kernel"),
    "retrieval": ("prior_mean", "prior_codes", "prior_shared", "prior_clip_ends"),
}

SEGMENT = 150  # frames per retrieved segment (5 s at 30 fps)
FADE = 20  # frames of overlap between consecutive segments
DESCRIPTOR_STEP = 4  # every 4th frame of S_A describes a segment's audio
CANDIDATE_STRIDE = 1  # stored segments start at every frame
JOIN_STEP = 2  # every 2nd frame of the overlap describes a join
JOIN_WEIGHT = 3.0  # weight of the code distance over a join against the audio distance
TEMPERATURE = 0.3  # Gumbel noise scale of a pick: P(candidate) ~ exp(-cost / TEMPERATURE)

MAX_LAG = 90  # frames: longest lag of the fitted temporal correlation (3 s)


class PriorError(UserError):
    """A prior cannot be used with this model (unknown name, arrays missing)."""


def available_priors(arrays: dict[str, np.ndarray]) -> tuple[str, ...]:
    """The priors a model can sample with: ``paper`` always (its mapping net, or the noise
    itself without one), the others when their arrays are present."""
    return ("paper",) + tuple(p for p in PRIORS[1:] if all(n in arrays for n in PRIOR_ARRAYS[p]))


# ---- fitting (at export; numpy, so tests need no torch) -----------------------------------------
def fit_gaussian(codes: list[np.ndarray], max_lag: int = MAX_LAG) -> dict[str, np.ndarray]:
    """``prior_mean (d,)``, ``prior_chol (d, d)``, ``prior_kernel (2 * max_lag + 1,)`` from
    code sequences ``[(T_i, d)]`` (each at least 2 frames).

    The temporal correlation is the average autocorrelation of the whitened channels up to
    ``max_lag`` frames, tapered to 0 there (a Hann taper keeps it a valid correlation); the
    kernel is its spectral square root, so white noise convolved with it has that correlation.
    """
    seqs = [np.asarray(c, dtype=np.float64) for c in codes if len(c) >= 2]
    if not seqs:
        raise PriorError("fit_gaussian needs at least one code sequence of 2 frames or more")
    allc = np.concatenate(seqs)
    mean = allc.mean(0)
    cov = np.cov(allc, rowvar=False) + 1e-6 * np.eye(allc.shape[1])
    chol = np.linalg.cholesky(cov)
    inv = np.linalg.inv(chol)
    acf = np.zeros(max_lag + 1)
    weight = np.zeros(max_lag + 1)
    for s in seqs:
        z = (s - mean) @ inv.T  # whitened, (T, d)
        n = len(z)
        for lag in range(min(max_lag, n - 1) + 1):
            acf[lag] += np.sum(z[: n - lag] * z[lag:])
            weight[lag] += (n - lag) * z.shape[1]
    acf = np.where(weight > 0, acf / np.maximum(weight, 1), 0.0)
    acf /= acf[0]
    acf *= 0.5 * (1.0 + np.cos(np.pi * np.arange(max_lag + 1) / (max_lag + 1)))  # Hann taper
    return {"prior_mean": mean, "prior_chol": chol, "prior_kernel": kernel_for_correlation(acf)}


def kernel_for_correlation(acf: np.ndarray) -> np.ndarray:
    """Symmetric kernel (2L + 1,) with unit L2 norm whose autocorrelation approximates
    ``acf[0..L]`` (the square root of its power spectrum; negative spectrum clipped)."""
    acf = np.asarray(acf, dtype=np.float64)
    lag = len(acf) - 1
    n = 8 * (lag + 1)
    full = np.zeros(n)
    full[: lag + 1] = acf
    full[n - lag:] = acf[1:][::-1]
    power = np.clip(np.fft.rfft(full).real, 0.0, None)
    h = np.fft.irfft(np.sqrt(power), n)
    kernel = np.concatenate([h[n - lag:], h[: lag + 1]])  # centred at index lag
    return kernel / np.sqrt(np.sum(kernel * kernel))


def retrieval_arrays(codes: list[np.ndarray], shared: list[np.ndarray]) -> dict[str, np.ndarray]:
    """``prior_codes (N, d)``, ``prior_shared (N, shared_dim)``, ``prior_clip_ends (C,)`` from
    per-clip code and audio-code sequences of equal lengths (clips too short for one segment are
    left out), plus ``prior_mean``."""
    keep = [(c, s) for c, s in zip(codes, shared, strict=True) if len(c) >= SEGMENT]
    for c, s in keep:
        if len(c) != len(s):
            raise PriorError(f"retrieval_arrays: a clip has {len(c)} code frames but {len(s)} audio frames")
    if not keep:
        raise PriorError(f"retrieval needs at least one clip of {SEGMENT} frames or more")
    all_codes = np.concatenate([c for c, _ in keep])
    return {
        "prior_mean": all_codes.mean(0),
        "prior_codes": all_codes,
        "prior_shared": np.concatenate([s for _, s in keep]),
        "prior_clip_ends": np.cumsum([len(c) for c, _ in keep]).astype(np.float64),
    }


# ---- sampling -----------------------------------------------------------------------------------
def scale_intensity(code: np.ndarray, mean: np.ndarray, intensity: float) -> np.ndarray:
    """``mean + intensity * (code - mean)``, float32 (``code`` itself when intensity is 1)."""
    if intensity == 1.0:
        return code
    return (mean + float(intensity) * (code - mean)).astype(np.float32)


class GaussianPrior:
    """``prior_mean + (kernel * eps) @ prior_chol.T`` (see the module docstring)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.mean = np.asarray(arrays["prior_mean"], dtype=np.float64)
        self.chol = np.asarray(arrays["prior_chol"], dtype=np.float64)
        self.kernel = np.asarray(arrays["prior_kernel"], dtype=np.float64)

    def sample(self, n: int, rng: np.random.Generator, shared: np.ndarray | None = None,
               before: np.ndarray | None = None) -> np.ndarray:
        z = filtered_noise(rng, n, self.mean.size, self.kernel)
        return (self.mean + z @ self.chol.T).astype(np.float32)


class RetrievalPrior:
    """Audio-matched retrieval of stored real code segments (see the module docstring)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.mean = np.asarray(arrays["prior_mean"], dtype=np.float32)
        self.codes = np.asarray(arrays["prior_codes"], dtype=np.float32)
        shared = np.asarray(arrays["prior_shared"], dtype=np.float32)
        ends = np.asarray(arrays["prior_clip_ends"]).astype(np.int64)
        self.shared_mean = shared.mean(0)
        self.shared_scale = 1.0 / np.maximum(shared.std(0), 1e-6)
        self.code_scale = 1.0 / np.maximum(self.codes.std(0), 1e-6)
        starts = [np.arange(lo, hi - SEGMENT + 1, CANDIDATE_STRIDE)
                  for lo, hi in zip(np.concatenate([[0], ends[:-1]]), ends, strict=True)]
        self.starts = np.concatenate(starts)
        self.descriptors = self._describe(shared, self.starts)  # (M, D)
        self.desc_norm = np.sum(self.descriptors * self.descriptors, axis=1)
        self.z = z = (self.codes - self.mean) * self.code_scale  # z-scored codes: join distances
        self.heads = _windows(z, self.starts, FADE, JOIN_STEP)  # the fade-in stretch, (M, D_join)
        self.head_norm = np.sum(self.heads * self.heads, axis=1)
        self.firsts = z[self.starts]  # (M, d): joins onto a resample range's context
        self.first_norm = np.sum(self.firsts * self.firsts, axis=1)

    def _describe(self, shared: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Audio descriptors (len(starts), D): z-scored S_A at every DESCRIPTOR_STEP-th frame
        of each segment, divided by sqrt(D) (distances are per-dimension means)."""
        z = (shared - self.shared_mean) * self.shared_scale
        return _windows(z, starts, SEGMENT, DESCRIPTOR_STEP)

    def sample(self, n: int, rng: np.random.Generator, shared: np.ndarray,
               before: np.ndarray | None = None) -> np.ndarray:
        """Code ``(n, d)`` for target audio code ``shared (n, shared_dim)``. ``before``: the
        code frames just before this stretch (a resample range's context), joined smoothly."""
        shared = np.asarray(shared, dtype=np.float32)
        if shared.shape[0] != n:
            raise ValueError(f"retrieval: {n} frames asked for, {shared.shape[0]} audio frames given")
        hop = SEGMENT - FADE
        n_seg = max(1, int(np.ceil((n - FADE) / hop)))
        seg_starts = np.arange(n_seg) * hop
        # target audio descriptors (padded with the last frame past the end)
        padded = np.concatenate([shared, np.repeat(shared[-1:], SEGMENT, axis=0)])
        target = self._describe(padded, seg_starts)
        cost = (np.sum(target * target, axis=1)[:, None] + self.desc_norm[None, :]
                - 2.0 * target @ self.descriptors.T)  # (n_seg, M): mean squared S_A distance
        blocked = np.zeros(len(self.starts), dtype=bool)
        tail = first = None
        if before is not None and len(before):
            first = (np.asarray(before[-1], dtype=np.float32) - self.mean) * self.code_scale
        picks = []
        for k in range(n_seg):
            c = cost[k].copy()
            if tail is not None:  # mean squared code distance over the cross-fade: join where close
                c += JOIN_WEIGHT * (self.head_norm - 2.0 * (self.heads @ tail) + tail @ tail)
            elif first is not None:
                join = self.first_norm - 2.0 * (self.firsts @ first) + first @ first
                c += (JOIN_WEIGHT / first.size) * join
            gumbel = rng.gumbel(size=c.size)  # drawn whatever the audio: the seed decides the noise
            if blocked.all():
                blocked[:] = False  # every stored segment used: start again
            c[blocked] = np.inf
            choice = int(np.argmin(c - TEMPERATURE * gumbel))  # softmax(-c / T): a near-tie is rare
            start = int(self.starts[choice])
            picks.append(start)
            blocked |= np.abs(self.starts - start) < SEGMENT
            tail = _windows(self.z, np.array([start + hop]), FADE, JOIN_STEP)[0]  # its fade-out stretch
        return self._assemble(self.codes, picks, n)

    @staticmethod
    def _assemble(values: np.ndarray, picks: list[int], n: int) -> np.ndarray:
        """The picked stored segments of ``values (N, d)``, overlapping by FADE frames,
        cross-faded with weights that sum to 1 (the joins were chosen where the codes are close)."""
        hop = SEGMENT - FADE
        d = values.shape[1]
        mean = values.mean(axis=0)
        out = np.zeros(((len(picks) - 1) * hop + SEGMENT, d), dtype=np.float32)
        t = (np.arange(FADE, dtype=np.float32) + 0.5) / FADE
        rise = (t * t * (3.0 - 2.0 * t))[:, None]  # smoothstep; rise + fall = 1
        for i, start in enumerate(picks):
            seg = values[start:start + SEGMENT] - mean
            w = np.ones((SEGMENT, 1), dtype=np.float32)
            if i > 0:
                w[:FADE] = rise
            if i < len(picks) - 1:
                w[SEGMENT - FADE:] = 1.0 - rise
            a = i * hop
            out[a:a + SEGMENT] += w * seg
        return (mean + out[:n]).astype(np.float32)


def _windows(x: np.ndarray, starts: np.ndarray, length: int, step: int) -> np.ndarray:
    """Rows ``x[s : s + length : step]`` flattened, for each s in ``starts`` (frames past the end
    repeat the last), divided by sqrt(row size): squared distances are per-value means.
    ``(len(starts), ceil(length / step) * x.shape[1])`` float32."""
    frames = np.minimum(np.asarray(starts)[:, None] + np.arange(0, length, step), len(x) - 1)
    d = x[frames].reshape(len(frames), -1)
    return (d / np.sqrt(d.shape[1])).astype(np.float32)


def make_prior(name: str, arrays: dict[str, np.ndarray]):
    """The sampler object for ``name`` ("gaussian" or "retrieval") from the model's arrays."""
    if name not in PRIOR_ARRAYS:
        raise PriorError(f"unknown code prior {name!r}; choose one of {', '.join(PRIORS)}")
    missing = [a for a in PRIOR_ARRAYS[name] if a not in arrays]
    if missing:
        raise PriorError(f"this model file has no {name!r} prior (arrays {missing} missing): "
                         f"re-export it with train export, or choose the 'paper' prior")
    return GaussianPrior(arrays) if name == "gaussian" else RetrievalPrior(arrays)
