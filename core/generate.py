"""Sampling API: speech features + seed (+ pins, resample ranges) -> local joint rotations.

numpy only; this is what the Blender extension calls. See docs/DESIGN.md, "Sampling".

Given raw log-mel features ``(T, n_mels)`` at 30 fps and an integer seed::

    rng = numpy.random.default_rng(seed)
    k = rng.integers(N)                                      # a training clip's code statistics
    noise = code_mean[k] + code_std[k] * unit_noise(rng, T, d, sigma)  # core/noise.py; sigma =
                                                             # config.noise_smoothing (0: white)
    mu, logvar = mapping(noise)                              # f_R (skipped if use_mapping=False:
    I = mu + exp(0.5 * logvar) * rng.standard_normal((T, d)) #  then I = noise)
    I[pin.start:pin.end] = motion_encoder(pin 6D).specific_mean   for each pin (paper sec. 5.6),
                                         blended in over FADE_FRAMES at its edges
    S_A = audio_encoder((features - feature_mean) / feature_std)
    sixd = low_pass_in_time(decoder(S_A, I), config.output_smoothing)  # 0: no filter (_decode)
    sixd = sixd read at t + shift(t) when sync > 0             # beats onto onsets (_on_beat;
                                                             #  off by default)
    rotations = sixd_to_matrix(sixd)                         # (T, n_joints, 3, 3)

A ``ResampleRange(start, end, seed)`` redraws the code on [start, end) only, from
``default_rng(range.seed)`` (same draw order as above, for end - start frames; the mapping net
sees the base noise just outside the range as context). The decoder is re-run over the range
(with its receptive-field halo, so the result equals a full decode there) and the new motion is
spliced into [start, end), cross-faded (quaternion slerp, smoothstep weights) over up to
``FADE_FRAMES`` frames inside each edge. Output outside [start, end) is bit-identical to the
output without that range. Several ranges must not overlap; each is computed against the base
code, so each one's "outside is untouched" property holds independently. Pinned frames keep
their pinned code even inside a resample range.

With ``layered=True`` ranges may overlap: they are applied in the order given, each spliced into
the output of the ones before it (its code still drawn against the base code). This is how an
edit history replays: resampling a stretch that overlaps an earlier resample redraws it again,
and the output outside the latest range stays what the earlier ranges made it. Without overlaps
``layered`` changes nothing.

Same inputs + seed (+ pins, ranges) -> identical output.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .errors import UserError
from .model_file import LoadedModel
from .network import SPLIT_FRAMES, Network
from .noise import gaussian_window, unit_noise
from .parallel import for_each_span, one_blas_thread
from .prior import PRIORS, scale_intensity
from .rhythm import CHAIN, beat_warp, motion_beat_envelope, onset_envelope, resample_rows
from .rotations import (
    matrix_to_quat,
    matrix_to_sixd,
    quat_slerp,
    quat_to_matrix,
    sixd_to_matrix,
)
from .skeleton import NUM_BODY_JOINTS
from .speakers import check_speaker

#: Maximum cross-fade length (frames, 30 fps) inside each edge of a resample range.
FADE_FRAMES = 8
#: Frames a motion beat may move towards a speech onset at sync 1 (``_on_beat``).
WARP_SHIFT = 10
#: Largest accepted ``sync``.
MAX_SYNC = 3.0
#: The add-on's Sync (panel, ``a2g.generate``, batch ``--sync``): on the held-out protocol it
#: raised own-minus-mismatched beat consistency on 3 s clips by +0.0043 +- 0.0011 (t 3.7, paired
#: over clips x seeds) with realism, arm movement and jerk unchanged (models/MODEL_CARD.md).
#: ``generate``'s own default stays 0, so a call that names no sync keeps its old motion.
DEFAULT_SYNC = 1.0
#: Largest accepted ``intensity`` (the code's deviation from its mean, scaled).
MAX_INTENSITY = 3.0



def check_intensity(intensity, label: str = "Intensity") -> float:
    """``intensity`` as a float; a :class:`~core.errors.UserError` naming it ``label`` (the
    panel's "Intensity", the batch command's "--intensity") unless it is a number in
    (0, :data:`MAX_INTENSITY`]. The one wording of this check for the user."""
    value = float(intensity)
    if not (math.isfinite(value) and 0.0 < value <= MAX_INTENSITY):
        raise UserError(f"{label} must be above 0 and at most {MAX_INTENSITY:g} (1: as the model "
                        f"samples, 0.5: calmer, 1.5: livelier), got {value:g}")
    return value


def check_sync(sync, label: str = "Sync") -> float:
    """``sync`` as a float; a :class:`~core.errors.UserError` naming it ``label`` (the panel's
    "Sync", the batch command's "--sync") unless it is a number in [0, :data:`MAX_SYNC`]."""
    value = float(sync)
    if not (math.isfinite(value) and 0.0 <= value <= MAX_SYNC):
        raise UserError(f"{label} must be at least 0 and at most {MAX_SYNC:g} (0: the motion's own "
                        f"timing, 1: its beats moved onto the speech's onsets), got {value:g}")
    return value


_CONVERT_CHUNK = 1024  # frames per 6D -> matrix conversion (bounds float64 temporaries, cache-friendly)


@dataclass(frozen=True, eq=False)
class Pin:
    """Make frames [start, end) follow a reference motion's style (paper sec. 5.6).

    rotations: ``(end - start, n_joints, 3, 3)`` local rotation matrices of the reference clip
    (same joints and conventions as the output). Its motion-specific code mean replaces the
    sampled code over those frames; the decoder makes the transitions.
    """

    start: int
    end: int
    rotations: np.ndarray

    def __post_init__(self) -> None:
        _check_span("Pin", self.start, self.end)
        r = np.asarray(self.rotations)
        if r.ndim != 4 or r.shape[0] != self.end - self.start or r.shape[2:] != (3, 3):
            raise ValueError(
                f"Pin [{self.start}, {self.end}): rotations must have shape "
                f"({self.end - self.start}, n_joints, 3, 3), got {r.shape}"
            )
        if not np.issubdtype(r.dtype, np.number) or not np.all(np.isfinite(r)):
            raise ValueError(f"Pin [{self.start}, {self.end}): rotations must be finite numbers")
        object.__setattr__(self, "rotations", r)


@dataclass(frozen=True)
class ResampleRange:
    """Redraw the motion on frames [start, end) with its own ``seed``; the rest is untouched."""

    start: int
    end: int
    seed: int

    def __post_init__(self) -> None:
        _check_span("ResampleRange", self.start, self.end)
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"ResampleRange [{self.start}, {self.end}): seed must be an int >= 0, "
                             f"got {self.seed!r}")


def generate(
    model: Network | LoadedModel,
    features,
    seed: int,
    pins=(),
    resamples=(),
    layered: bool = False,
    prior: str | None = None,
    intensity: float = 1.0,
    sync: float = 0.0,
    speaker: str | None = None,
    check_cancel=None,
) -> np.ndarray:
    """Generate gestures for one utterance.

    model: a ``Network`` (reuse it across calls) or a ``LoadedModel``.
    features: raw log-mel ``(T, n_mels)``, one frame per 30 fps motion frame, T >= 1.
    seed: int >= 0. pins: ``Pin`` s (non-overlapping). resamples: ``ResampleRange`` s
    (non-overlapping unless ``layered``, then applied in order). All spans must lie inside
    [0, T). prior: the code prior (core/prior.py; None = the model's ``config.code_prior``).
    intensity: in (0, 3]: how lively the motion is (1 = as sampled). It scales the sampled
    code's deviation from the prior's mean by ``intensity`` (pinned frames keep their
    reference's code) and then each joint's rotation away from the take's mean pose by
    ``sqrt(intensity)`` (``scale_about``; the fingers also by ``config.finger_gain``);
    measured on BEAT2 in models/MODEL_CARD.md.
    sync: in [0, 3]: how far the motion's beats may be moved in time towards the speech's
    onsets (``WARP_SHIFT * sync`` frames, ``_on_beat``; 0, the default: not at all). Measured
    in models/MODEL_CARD.md: on held-out speech sync 1 raised own-minus-mismatched beat
    consistency on 3 s clips by +0.0043 +- 0.0011 (t 3.7); the add-on asks for
    :data:`DEFAULT_SYNC`, this function's default stays 0 (old calls keep their motion).
    speaker: a speaker of a model trained on several (core/speakers.py: the retrieval prior
    then draws from that speaker's real motion only); None: the model's ``default_speaker``
    (its whole library when it records none). ``SpeakerError`` for one it does not know.
    check_cancel: None or a function of no arguments, called between the stages (audio code,
    sampling, decoding, timing, each resample range); an exception it raises stops the
    generation and propagates (the extension's Esc). It does not change the result.
    Returns local rotation matrices ``(T, n_joints, 3, 3)`` float32 at 30 fps.
    Raises ValueError on invalid input.
    """
    net = model if isinstance(model, Network) else Network(model)
    c = net.config
    feats = np.asarray(features)
    if feats.ndim != 2 or feats.shape[1] != c.n_mels or feats.shape[0] < 1:
        raise ValueError(f"features must have shape (T >= 1, {c.n_mels}), got {feats.shape}")
    if not np.issubdtype(feats.dtype, np.number) or not np.all(np.isfinite(feats)):
        raise ValueError("features must be finite numbers (no NaN or inf)")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    T = feats.shape[0]
    pins = _check_spans("pin", pins, Pin, T)
    resamples = _check_spans("resample range", resamples, ResampleRange, T, allow_overlap=layered)
    for p in pins:
        if p.rotations.shape[1] != c.n_joints:
            raise ValueError(f"Pin [{p.start}, {p.end}): rotations have {p.rotations.shape[1]} joints, "
                             f"the model uses {c.n_joints}")
    if pins and c.specific_dim == 0:
        raise ValueError("this model has no motion-specific code (specific_dim = 0): pins need one")
    if isinstance(intensity, bool) or not isinstance(intensity, numbers.Real) or not (
            np.isfinite(intensity) and 0.0 < intensity <= MAX_INTENSITY):
        raise ValueError(f"intensity must be a number in (0, {MAX_INTENSITY}], got {intensity!r}")
    if isinstance(sync, bool) or not isinstance(sync, numbers.Real) or not (
            np.isfinite(sync) and 0.0 <= sync <= MAX_SYNC):
        raise ValueError(f"sync must be a number in [0, {MAX_SYNC:g}], got {sync!r}")
    if check_cancel is not None and not callable(check_cancel):
        raise ValueError(f"check_cancel must be None or a function, got {check_cancel!r}")
    speaker = check_speaker(net.metadata, speaker)
    sampler = _Sampler(net, c.code_prior if prior is None else prior, float(intensity), float(sync), speaker)
    # long inputs: the nets split their work over the cores themselves (core/network.py)
    with one_blas_thread(T >= SPLIT_FRAMES):
        return _generate(net, sampler, feats, int(seed), pins, resamples, intensity,
                         check_cancel or _no_check)


def _no_check() -> None:
    return None


def _generate(net: Network, sampler, feats: np.ndarray, seed: int, pins, resamples,
              intensity: float, check) -> np.ndarray:
    """The body of :func:`generate`, on checked arguments; ``check()`` between stages."""
    c = net.config
    T = feats.shape[0]
    check()
    shared = net.audio_encode(net.normalise_features(feats))
    sampler.onsets = onset_envelope(feats)
    check()
    noise, code = sampler.sample(T, shared, np.random.default_rng(seed))
    pin_codes = [(p.start, p.end, _pin_code(net, p)) for p in pins]
    pin_spans = [(p.start, p.end) for p in pins]
    _apply_pins(code, pin_codes)
    check()
    decoded = _decode(net, shared, code)
    check()
    base = _on_beat(decoded, sampler, 0, T, pin_spans)
    out = _to_matrices(base, c.n_joints)
    pose_mean, gains = None, _pose_gains(c, intensity)
    if gains is not None:  # the motion's deviation from its mean pose, scaled per joint
        pose_mean = mean_pose(out)
        out = _scale_pose(out, pose_mean, gains)

    r_dec = c.receptive_radius("decoder") + 4 * c.output_smoothing  # decoder + output filter
    r_map = c.receptive_radius("mapping")
    for rr in resamples:
        check()
        a, b = rr.start, rr.end
        new_code = code.copy()
        new_code[a:b] = sampler.resample(noise, shared, a, b, r_map, np.random.default_rng(int(rr.seed)))
        _apply_pins(new_code, pin_codes)
        lo, hi = max(0, a - r_dec), min(T, b + r_dec)
        new = _decode(net, shared[lo:hi], new_code[lo:hi])[a - lo: b - lo]
        new = _to_matrices(_on_beat(new, sampler, a, b, pin_spans), c.n_joints)
        if pose_mean is not None:  # the base take's mean pose: the range scales like the rest
            new = _scale_pose(new, pose_mean, gains)
        out[a:b] = _crossfade(out[a:b], new)
    return out


def _on_beat(sixd: np.ndarray, sampler, a: int, b: int, pins) -> np.ndarray:
    """Decoded frames [a, b) ``(b - a, C)`` played a little faster or slower here and there
    (``core.rhythm.beat_warp``, shifts up to ``WARP_SHIFT * sync`` frames) so that the
    motion's beats meet the speech's onsets; the edges of [a, b) and pinned frames keep their
    timing (shift 0), so a resample range leaves the rest of the take as it was."""
    max_shift = int(round(WARP_SHIFT * sampler.sync))
    n = sixd.shape[0]
    if max_shift <= 0 or n < 4 * WARP_SHIFT:
        return sixd
    body = sixd_to_matrix(sixd.reshape(n, -1, 6)[:, list(CHAIN)])  # the joints the beats need
    keep = np.zeros(n, dtype=bool)
    for p0, p1 in pins:
        keep[max(p0 - a, 0):max(min(p1 - a, n), 0)] = True
    warp = beat_warp(sampler.onsets[a:b], motion_beat_envelope(body), max_shift, keep, a)
    return resample_rows(sixd, warp)


# ---- sampling helpers --------------------------------------------------------------------------
class _Sampler:
    """Draws the motion-specific code with one prior at one intensity (module docstring)."""

    def __init__(self, net: Network, prior: str, intensity: float, sync: float = 0.0,
                 speaker: str | None = None) -> None:
        if prior not in PRIORS:
            raise ValueError(f"unknown code prior {prior!r}; choose one of {', '.join(PRIORS)}")
        self.net, self.intensity, self.sync = net, intensity, sync
        self.onsets = None  # the speech's onset envelope (T,), set by _generate
        # PriorError names what is missing; a speaker narrows the retrieval library (core/speakers.py)
        self.prior = None if prior == "paper" else net.code_prior(prior, speaker)
        if self.prior is not None:
            self.mean = self.prior.mean.astype(np.float32)
        else:  # the paper's I_R hardly varies and sits apart from I_M's mean: scale about its own
            self.mean = None  # mean over time (measured: about the prior mean, 1.5 moved less)

    def sample(self, T: int, shared: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(noise, code): the base draw for all T frames. ``noise`` is the mapping net's input
        (the paper's prior; None for the others); ``code`` is scaled by the intensity."""
        if self.prior is None:
            noise, code = _sample_code(self.net, T, rng)
        else:
            noise, code = None, self.prior.sample(T, rng, shared)
        self.base = code  # unscaled: a resample range's retrieval joins onto it
        self.centre = self.mean if self.mean is not None else code.mean(axis=0)
        return noise, scale_intensity(code, self.centre, self.intensity)

    def resample(self, noise, shared: np.ndarray, a: int, b: int, r_map: int,
                 rng: np.random.Generator) -> np.ndarray:
        """A new code for frames [a, b) (the base draw stays as it is elsewhere)."""
        if self.prior is None:
            code = _resample_code(self.net, noise, a, b, r_map, rng)
        else:
            code = self.prior.sample(b - a, rng, shared[a:b], before=self.base[max(0, a - 1):a])
        return scale_intensity(code, self.centre, self.intensity)


def _decode(net: Network, shared: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Decoder output (T, n_joints * 6), low-passed in time when ``output_smoothing`` > 0."""
    sixd = net.decode(shared, code)
    sigma = net.config.output_smoothing
    if sigma == 0 or sixd.shape[0] < 2:
        return sixd
    kernel = gaussian_window(sigma)
    kernel /= kernel.sum()
    padded = np.pad(sixd.astype(np.float64), ((4 * sigma, 4 * sigma), (0, 0)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel.size, axis=0)  # (T, C, K)
    return (windows @ kernel).astype(np.float32)


def _draw_noise(net: Network, n: int, rng: np.random.Generator) -> np.ndarray:
    """Noise (n, d) from one randomly chosen training clip's code statistics."""
    cm, cs = net.code_mean, net.code_std
    k = int(rng.integers(cm.shape[0]))
    unit = unit_noise(rng, n, cm.shape[1], net.config.noise_smoothing)
    return (cm[k] + cs[k] * unit).astype(np.float32)


def _sample_code(net: Network, T: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(noise, I_R), both (T, specific_dim) float32."""
    noise = _draw_noise(net, T, rng)
    if net.config.specific_dim == 0 or not net.config.use_mapping:
        return noise, noise.copy()
    mu, logvar = net.map_noise(noise)
    eps = rng.standard_normal(mu.shape)
    return noise, (mu + np.exp(0.5 * logvar) * eps).astype(np.float32)


def _resample_code(net, noise, a, b, r_map, rng) -> np.ndarray:
    """New I_R (b - a, d) for frames [a, b); the mapping net sees the base noise as context."""
    new_noise = _draw_noise(net, b - a, rng)
    if net.config.specific_dim == 0 or not net.config.use_mapping:
        return new_noise
    T = noise.shape[0]
    lo, hi = max(0, a - r_map), min(T, b + r_map)
    window = noise[lo:hi].copy()
    window[a - lo: b - lo] = new_noise
    mu, logvar = net.map_noise(window)
    mu, logvar = mu[a - lo: b - lo], logvar[a - lo: b - lo]
    eps = rng.standard_normal(mu.shape)
    return (mu + np.exp(0.5 * logvar) * eps).astype(np.float32)


def _pin_code(net: Network, pin: Pin) -> np.ndarray:
    """Motion-specific code mean (n, d) of the pin's reference motion (encoded on its own)."""
    n = pin.end - pin.start
    sixd = matrix_to_sixd(pin.rotations.astype(np.float32, copy=False)).reshape(n, -1)
    return net.motion_encode(sixd)[2]


def _apply_pins(code: np.ndarray, pin_codes) -> None:
    """Replace the code by each pin's I_M over the pin's frames, blending from the sampled code
    into the pin's over its first and last ``FADE_FRAMES`` frames (``fade_weights``), so the
    decoder sees no jump in the code at the pin's edges (a jump shows as a pop in the motion)."""
    for a, b, value in pin_codes:
        w = fade_weights(b - a)[:, None].astype(np.float32)
        code[a:b] = w * value + (1.0 - w) * code[a:b]


def _pose_gains(config, intensity: float):
    """Per-joint factors (J,) of the rotation away from the take's mean pose: sqrt(intensity)
    everywhere, times ``config.finger_gain`` on the finger joints; None when all are 1."""
    gains = np.full(config.n_joints, np.sqrt(intensity), dtype=np.float32)
    if config.hands:
        gains[NUM_BODY_JOINTS:] *= np.float32(config.finger_gain)
    return None if np.all(gains == 1.0) else gains


def _scale_pose(rotations: np.ndarray, mean: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """``scale_about`` on the joints whose gain is not 1; the others stay bit-identical."""
    out = rotations.copy()
    joints = np.flatnonzero(gains != 1.0)

    def span(s: int, e: int) -> None:
        out[s:e, joints] = scale_about(rotations[s:e, joints], mean[joints], gains[joints])

    for_each_span(span, rotations.shape[0], _CONVERT_CHUNK)  # frames on the cores
    return out


def mean_pose(rotations: np.ndarray) -> np.ndarray:
    """Per joint, the rotation nearest the mean of ``rotations (T, J, 3, 3)`` over time:
    ``(J, 3, 3)`` float64 (the polar factor of the mean matrix)."""
    u, _, vt = np.linalg.svd(np.asarray(rotations, dtype=np.float64).mean(axis=0))
    u[np.linalg.det(u @ vt) < 0, :, -1] *= -1.0  # only for degenerate means: keep a proper rotation
    return u @ vt


def scale_about(rotations: np.ndarray, mean: np.ndarray, factor) -> np.ndarray:
    """Each joint's rotation away from ``mean (J, 3, 3)`` scaled by ``factor`` (a number, or one
    per joint (J,)) in angle:
    ``mean @ exp(factor * log(mean^T @ R))``, float32 ``(T, J, 3, 3)``.

    Rodrigues on the relative rotation (axis k, angle t from its skew part and trace):
    ``cos(f t) I + sin(f t) [k]x + (1 - cos(f t)) k k^T``. Computed entry by entry on (T, J)
    arrays (float32), several times faster than 3x3 matrix products over many small matrices.
    A relative rotation of almost exactly 180 degrees (axis undefined from the skew part;
    never seen in gestures) is left unscaled."""
    m = np.asarray(mean, dtype=np.float32)
    R = np.asarray(rotations, dtype=np.float32)

    def rel(a: int, b: int) -> np.ndarray:  # (mean^T @ R)[a, b]
        return m[:, 0, a] * R[..., 0, b] + m[:, 1, a] * R[..., 1, b] + m[:, 2, a] * R[..., 2, b]

    r = [[rel(a, b) for b in range(3)] for a in range(3)]
    vx, vy, vz = 0.5 * (r[2][1] - r[1][2]), 0.5 * (r[0][2] - r[2][0]), 0.5 * (r[1][0] - r[0][1])
    sin = np.sqrt(vx * vx + vy * vy + vz * vz)
    cos = 0.5 * (r[0][0] + r[1][1] + r[2][2] - 1.0)
    angle = np.arctan2(sin, cos) * np.asarray(factor, dtype=np.float32)
    inv = 1.0 / np.maximum(sin, np.float32(1e-12))
    kx, ky, kz = vx * inv, vy * inv, vz * inv
    c, s = np.cos(angle), np.sin(angle)
    d = 1.0 - c
    scaled = [[c + d * kx * kx, d * kx * ky - s * kz, d * kx * kz + s * ky],
              [d * ky * kx + s * kz, c + d * ky * ky, d * ky * kz - s * kx],
              [d * kz * kx - s * ky, d * kz * ky + s * kx, c + d * kz * kz]]
    flipped = (sin < 1e-4) & (cos < 0.0)
    if flipped.any():
        for a in range(3):
            for b in range(3):
                scaled[a][b][flipped] = r[a][b][flipped]
    out = np.empty(R.shape, dtype=np.float32)
    for a in range(3):  # mean @ scaled
        for b in range(3):
            out[..., a, b] = m[:, a, 0] * scaled[0][b] + m[:, a, 1] * scaled[1][b] + m[:, a, 2] * scaled[2][b]
    return out


def _to_matrices(sixd: np.ndarray, n_joints: int) -> np.ndarray:
    """(T, n_joints * 6) -> (T, n_joints, 3, 3) float32, in chunks of frames."""
    T = sixd.shape[0]
    out = np.empty((T, n_joints, 3, 3), dtype=np.float32)

    def span(s: int, e: int) -> None:
        out[s:e] = sixd_to_matrix(sixd[s:e].reshape(e - s, n_joints, 6))

    for_each_span(span, T, _CONVERT_CHUNK)  # chunks of frames on the cores
    return out


def fade_weights(n: int, fade: int = FADE_FRAMES) -> np.ndarray:
    """Weights (n,) of the new motion across a resample range of n frames.

    Rises from near 0 to 1 over ``min(fade, ceil(n / 2))`` frames inside the start edge and
    falls back symmetrically inside the end edge (smoothstep of a linear ramp that reaches
    neither 0 nor 1 at the edge frames, so no frame repeats its neighbour outside).
    """
    f = min(fade, (n + 1) // 2)
    t = np.arange(n, dtype=np.float64)
    ramp = np.minimum(np.minimum((t + 1) / (f + 1), (n - t) / (f + 1)), 1.0)
    return ramp * ramp * (3.0 - 2.0 * ramp)


def _crossfade(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Blend (n, J, 3, 3) rotations from ``old`` to ``new`` and back, by ``fade_weights``."""
    w = fade_weights(old.shape[0])
    out = new.copy()
    partial = np.flatnonzero(w < 1.0)
    if partial.size:
        q = quat_slerp(matrix_to_quat(old[partial]), matrix_to_quat(new[partial]), w[partial, None])
        out[partial] = quat_to_matrix(q).astype(np.float32)
    return out


# ---- validation ------------------------------------------------------------------------------
def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_span(kind: str, start, end) -> None:
    if not _is_int(start) or not _is_int(end):
        raise ValueError(f"{kind}: start and end must be ints, got {start!r}, {end!r}")
    if start < 0:
        raise ValueError(f"{kind} [{start}, {end}): start must be >= 0")
    if end <= start:
        raise ValueError(f"{kind} [{start}, {end}): empty or reversed span (need end > start)")


def _check_spans(kind: str, items, cls, T: int, allow_overlap: bool = False) -> list:
    items = list(items)
    for it in items:
        if not isinstance(it, cls):
            raise ValueError(f"expected {cls.__name__} objects, got {type(it).__name__}")
        if it.end > T:
            raise ValueError(f"{kind} [{it.start}, {it.end}) ends after the last frame (T = {T})")
    if allow_overlap:
        return items
    ordered = sorted(items, key=lambda it: it.start)
    for prev, cur in zip(ordered, ordered[1:], strict=False):
        if cur.start < prev.end:
            raise ValueError(
                f"{kind}s overlap: [{prev.start}, {prev.end}) and [{cur.start}, {cur.end})"
            )
    return items
