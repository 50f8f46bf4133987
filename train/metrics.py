"""Gesture metrics in numpy, on joint positions ``(T, J, 3)`` (or batches of them).

Distances come out in the units of the input positions; ``train/evaluate.py`` passes
centimetres (the training unit) and states every unit and setting next to its numbers.

- ``l1_error``: paper Eq. 13, the L1 norm of each joint's position error (summed over x, y, z),
  averaged over frames and joints.
- ``pck``: paper Eq. 14, the fraction of joints whose Euclidean error is below ``threshold``.
  The paper's delta = 0.2 is in its data's units; its L1 of 7.84 only fits a centimetre-like
  L1 with delta in metres, so we use delta = 0.2 m = 20 cm (pass ``threshold=20`` for cm).
- ``diversity``: paper Eq. 15, mean L1 (as Eq. 13) between all pairs of non-overlapping
  50-frame clips of one motion. We average over the N (N - 1) / 2 pairs; the paper's
  normaliser 1 / (N ceil(N / 2)) differs from that by a factor of about (N - 1) / N.
- ``multimodality``: paper Eq. 16, mean L1 (as Eq. 13) between all pairs of N motions
  generated for the same audio (the paper uses N = 20), same pair average.
- ``fgd``: Frechet distance between Gaussian fits of raw pose windows (no learned feature
  extractor, as genea_numerical_evaluations allows): windows of ``window`` frames taken every
  ``stride`` frames, keeping every ``frame_step``-th frame, flattened.
- ``beat_consistency``: EMAGE's BC (CVPR 2024) - audio onsets from ``librosa.onset.onset_detect``
  (hop 512 at 16 kHz); motion beats per upper-body joint are local minima (order 7) of its
  speed normalised by that joint's mean speed, kept where the normalised speed exceeds 0.3;
  each onset scores exp(-d^2 / (2 sigma^2)) with d its distance to the nearest beat of the
  joint (sigma 0.3 s), averaged over onsets, then over the 13 upper-body joints (a joint
  without beats scores 0); onsets and beats in the first and last ``trim_s`` = 2 s are masked.
- ``mean_jerk`` / ``mean_acceleration`` (jitter) and ``mean_speed`` (arm motion: wrists).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import argrelextrema

# EMAGE's BC joint set and motion-beat rule, one definition with the runtime's beat warp:
# SMPL-X upper-body joints (spine1-3, neck, collars, head, shoulders, elbows, wrists), speed
# minima of order 7 above 0.3 x the mean speed
from core.rhythm import BEAT_ORDER, BEAT_THRESHOLD, UPPER_BODY

#: Left and right wrist (SMPL-X indices).
WRISTS = (20, 21)

DIVERSITY_CLIP_FRAMES = 50
PCK_THRESHOLD_M = 0.2
FGD_WINDOW, FGD_STRIDE, FGD_FRAME_STEP = 32, 8, 4
BC_SIGMA_S, BC_TRIM_S, BC_HOP = 0.3, 2.0, 512
BC_ORDER, BC_SPEED_THRESHOLD = BEAT_ORDER, BEAT_THRESHOLD


def _positions(x, name: str, ndim: int = 3) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != ndim or a.shape[-1] != 3:
        raise ValueError(f"{name}: expected positions of shape {'(N, ' if ndim == 4 else '('}T, J, 3), "
                         f"got {a.shape}")
    return a


def _same_shape(pred: np.ndarray, target: np.ndarray, name: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"{name}: prediction {pred.shape} and target {target.shape} differ in shape")


def l1_error(pred, target) -> float:
    """Paper Eq. 13: mean over frames and joints of sum_xyz |pred - target|."""
    p, t = _positions(pred, "l1_error"), _positions(target, "l1_error")
    _same_shape(p, t, "l1_error")
    return float(np.abs(p - t).sum(-1).mean())


def pck(pred, target, threshold: float) -> float:
    """Paper Eq. 14: fraction of (frame, joint) with ||pred - target||_2 < threshold
    (threshold in the positions' units)."""
    p, t = _positions(pred, "pck"), _positions(target, "pck")
    _same_shape(p, t, "pck")
    return float((np.linalg.norm(p - t, axis=-1) < threshold).mean())


def _mean_pairwise_l1(items: np.ndarray) -> float:
    """Mean over pairs a < b of Eq. 13's L1 between items[a] and items[b] ((N, T, J, 3))."""
    n = items.shape[0]
    flat = items.reshape(n, -1, 3)
    total, pairs = 0.0, 0
    for a in range(n - 1):
        # (n - a - 1, T*J) L1 per joint, then mean over frames and joints
        total += np.abs(flat[a + 1:] - flat[a]).sum(-1).mean(-1).sum()
        pairs += n - a - 1
    return float(total / pairs)


def diversity(positions, clip_frames: int = DIVERSITY_CLIP_FRAMES) -> float:
    """Paper Eq. 15: split one motion into non-overlapping ``clip_frames`` clips (the tail that
    does not fill a clip is dropped) and average Eq. 13's L1 over all clip pairs."""
    p = _positions(positions, "diversity")
    n = p.shape[0] // clip_frames
    if n < 2:
        raise ValueError(f"diversity needs at least 2 clips of {clip_frames} frames, got {p.shape[0]} frames")
    return _mean_pairwise_l1(p[: n * clip_frames].reshape(n, clip_frames, *p.shape[1:]))


def multimodality(samples) -> float:
    """Paper Eq. 16: mean Eq. 13 L1 over all pairs of motions ``(N, T, J, 3)`` generated for the
    same audio."""
    s = _positions(samples, "multimodality", ndim=4)
    if s.shape[0] < 2:
        raise ValueError(f"multimodality needs at least 2 samples, got {s.shape[0]}")
    return _mean_pairwise_l1(s)


def pose_windows(positions, window: int = FGD_WINDOW, stride: int = FGD_STRIDE,
                 frame_step: int = FGD_FRAME_STEP) -> np.ndarray:
    """Raw pose-window features for FGD: ``(n_windows, ceil(window / frame_step) * J * 3)``."""
    p = _positions(positions, "pose_windows")
    if p.shape[0] < window:
        return np.zeros((0, len(range(0, window, frame_step)) * p.shape[1] * 3))
    starts = range(0, p.shape[0] - window + 1, stride)
    return np.stack([p[s:s + window:frame_step].reshape(-1) for s in starts])


def frechet_distance(features_a, features_b) -> float:
    """Frechet distance between Gaussian fits of two feature sets ``(n, d)``:
    ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2)``.

    The trace of the matrix square root is computed from the eigenvalues of the symmetric
    ``S_a^1/2 S_b S_a^1/2`` (clipped at 0), which stays real and stable for the rank-deficient
    covariances that few windows give.
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"frechet_distance: expected (n, d) feature sets of equal d, "
                         f"got {a.shape}, {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"frechet_distance needs at least 2 samples per set, "
                         f"got {a.shape[0]} and {b.shape[0]}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(cov_a)
    sqrt_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    inner = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    tr_sqrt = np.sqrt(np.clip(inner, 0.0, None)).sum()
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * tr_sqrt)
    return max(value, 0.0)


def fgd(real, generated, window: int = FGD_WINDOW, stride: int = FGD_STRIDE,
        frame_step: int = FGD_FRAME_STEP) -> float:
    """FGD on raw pose windows: ``real`` and ``generated`` are lists of ``(T, J, 3)`` motions
    (or single arrays); windows are pooled per set."""
    def windows(motions):
        motions = [motions] if isinstance(motions, np.ndarray) and motions.ndim == 3 else motions
        return np.concatenate([pose_windows(m, window, stride, frame_step) for m in motions])
    return frechet_distance(windows(real), windows(generated))


def joint_speed(positions, fps: float) -> np.ndarray:
    """Per-joint speed ``(T, J)`` in units per second, central differences (one-sided at the
    ends), as EMAGE computes it."""
    p = _positions(positions, "joint_speed")
    if p.shape[0] < 2:
        return np.zeros(p.shape[:2])
    return np.linalg.norm(np.gradient(p, 1.0 / fps, axis=0), axis=-1)


def audio_onsets(audio, sample_rate: int = 16000, hop_length: int = BC_HOP) -> np.ndarray:
    """Onset times in seconds from ``librosa.onset.onset_detect`` (EMAGE's settings)."""
    import librosa  # heavy import, only needed here

    y = np.asarray(audio, dtype=np.float32)
    return librosa.onset.onset_detect(y=y, sr=sample_rate, hop_length=hop_length, units="time")


def motion_beats(positions, fps: float, joints=UPPER_BODY, mean_speed=None, order: int = BC_ORDER,
                 threshold: float = BC_SPEED_THRESHOLD) -> list[np.ndarray]:
    """Motion beat times (s) per joint in ``joints``: local minima of order ``order`` of the speed
    normalised by ``mean_speed`` (per joint, shape (J,); default the motion's own mean speed),
    kept where the normalised speed exceeds ``threshold``."""
    speed = joint_speed(positions, fps)
    ref = speed.mean(0) if mean_speed is None else np.asarray(mean_speed, dtype=np.float64)
    norm = speed / np.maximum(ref, 1e-9)
    beats = []
    for j in joints:
        idx = argrelextrema(norm[:, j], np.less, order=order)[0]
        beats.append(idx[norm[idx, j] > threshold] / fps)
    return beats


def beat_consistency(onsets, beats: list[np.ndarray], duration_s: float, sigma: float = BC_SIGMA_S,
                     trim_s: float = BC_TRIM_S) -> float:
    """EMAGE's BC from audio ``onsets`` (s) and per-joint motion ``beats`` (s) of a clip of
    ``duration_s`` seconds; higher means motion beats sit closer to audio onsets."""
    def keep(times):
        times = np.asarray(times, dtype=np.float64)
        return times[(times >= trim_s) & (times <= duration_s - trim_s)]

    a = keep(onsets)
    if a.size == 0:
        raise ValueError("beat_consistency: no audio onsets left after masking the first/last "
                         f"{trim_s} s of a {duration_s:.2f} s clip")
    scores = []
    for joint_beats in beats:
        b = keep(joint_beats)
        if b.size == 0:
            scores.append(0.0)
            continue
        nearest = np.abs(a[:, None] - b[None, :]).min(1)
        scores.append(float(np.exp(-nearest ** 2 / (2.0 * sigma ** 2)).mean()))
    return float(np.mean(scores))


def mean_acceleration(positions, fps: float) -> float:
    """Mean norm of the second difference of joint positions, units per s^2."""
    p = _positions(positions, "mean_acceleration")
    if p.shape[0] < 3:
        raise ValueError("mean_acceleration needs at least 3 frames")
    return float(np.linalg.norm(np.diff(p, 2, axis=0), axis=-1).mean() * fps ** 2)


def mean_jerk(positions, fps: float) -> float:
    """Jitter: mean norm of the third difference of joint positions, units per s^3."""
    p = _positions(positions, "mean_jerk")
    if p.shape[0] < 4:
        raise ValueError("mean_jerk needs at least 4 frames")
    return float(np.linalg.norm(np.diff(p, 3, axis=0), axis=-1).mean() * fps ** 3)


def mean_speed(positions, fps: float, joints=WRISTS) -> float:
    """Arm motion amount: mean speed of ``joints`` (default both wrists), units per s."""
    p = _positions(positions, "mean_speed")
    if p.shape[0] < 2:
        raise ValueError("mean_speed needs at least 2 frames")
    return float(np.linalg.norm(np.diff(p[:, list(joints)], axis=0), axis=-1).mean() * fps)


#: Motion-window statistics distance: windows of 34 frames every 4 frames, every 4th frame
#: kept, of the upper-body joints' positions.
WINDOW_FRAMES, WINDOW_STRIDE, WINDOW_FRAME_STEP = 34, 4, 4


def motion_windows(motions, joints=UPPER_BODY) -> np.ndarray:
    """The position windows (``pose_windows``: WINDOW_FRAMES frames every WINDOW_STRIDE, every
    WINDOW_FRAME_STEP-th frame kept) of ``joints`` of a ``(T, J, 3)`` motion or a list of them,
    stacked."""
    motions = [motions] if isinstance(motions, np.ndarray) and motions.ndim == 3 else motions
    return np.concatenate([pose_windows(np.asarray(m)[:, list(joints)], WINDOW_FRAMES, WINDOW_STRIDE,
                                        WINDOW_FRAME_STEP) for m in motions])


def window_distance(a, b, joints=UPPER_BODY) -> float:
    """Frechet distance between the Gaussian fits of upper-body position windows of two sets of
    motions (each a ``(T, J, 3)`` array or a list of them; J = 22 SMPL-X body joints)."""
    return frechet_distance(motion_windows(a, joints), motion_windows(b, joints))


def window_distance_ratio(generated, real_takes) -> float:
    """How far generated motion's window statistics are from real motion, in units of how far
    two real takes are from each other: the mean over the real takes of
    ``window_distance(generated, take)``, divided by the mean distance between pairs of takes
    (1 = as close as another real take; a static pose scores about 3 on BEAT2)."""
    takes = list(real_takes)
    if len(takes) < 2:
        raise ValueError("window_distance_ratio needs at least two real takes")
    real = [window_distance(takes[i], takes[j]) for i in range(len(takes)) for j in range(i + 1, len(takes))]
    return float(np.mean([window_distance(generated, t) for t in takes]) / np.mean(real))


def rotation_spread_deg(rotations) -> float:
    """How much joints move: the mean angle (degrees) of local rotations ``(T, J, 3, 3)`` from
    each joint's own mean pose over the clip (``core.generate.mean_pose``), over frames and
    joints."""
    from core.generate import mean_pose
    from core.rotations import geodesic_angle

    r = np.asarray(rotations, dtype=np.float64)
    return float(np.degrees(geodesic_angle(r, mean_pose(r)[None])).mean())
