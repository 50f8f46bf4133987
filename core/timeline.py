"""Model frames (30 fps) <-> scene frames, and rotation resampling by quaternion slerp.

Blender's scene frame rate is ``render.fps / render.fps_base`` (29.97 fps is fps = 30,
fps_base = 1.001). Frame ``frame_start`` is at time 0; frame f is at
``(f - frame_start) * fps_base / fps`` seconds. Frames may be fractional.

Motion frame i of a clip sampled at ``fps`` is at time ``i / fps`` seconds.
"""

from __future__ import annotations

import math

import numpy as np

from .features import FPS
from .rotations import matrix_to_quat, quat_make_continuous, quat_normalize, quat_slerp

__all__ = [
    "MODEL_FPS",
    "scene_fps",
    "seconds_to_frame",
    "frame_to_seconds",
    "frame_count",
    "key_indices",
    "sample_rotations",
    "resample_rotations",
]

MODEL_FPS = float(FPS)  # the model's frame rate (core.features.FPS)


def _check_rate(fps, fps_base=1.0) -> float:
    fps, fps_base = float(fps), float(fps_base)
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    if not (math.isfinite(fps_base) and fps_base > 0):
        raise ValueError(f"fps_base must be a positive number, got {fps_base}")
    return fps / fps_base


def scene_fps(fps, fps_base=1.0) -> float:
    """Effective frame rate ``fps / fps_base`` (Blender's render.fps, render.fps_base)."""
    return _check_rate(fps, fps_base)


def seconds_to_frame(seconds, fps, fps_base=1.0, frame_start=0.0):
    """Scene frame (float, or float array) at time ``seconds``: frame_start + seconds * fps / fps_base."""
    rate = _check_rate(fps, fps_base)
    if np.ndim(seconds):
        return frame_start + np.asarray(seconds, dtype=np.float64) * rate
    return frame_start + float(seconds) * rate


def frame_to_seconds(frame, fps, fps_base=1.0, frame_start=0.0):
    """Time in seconds of a scene frame: (frame - frame_start) * fps_base / fps."""
    rate = _check_rate(fps, fps_base)
    if np.ndim(frame):
        return (np.asarray(frame, dtype=np.float64) - frame_start) / rate
    return (float(frame) - frame_start) / rate


def frame_count(seconds, fps, fps_base=1.0) -> int:
    """Number of whole frames needed to cover ``seconds`` (ceil, tolerant to round-off)."""
    rate = _check_rate(fps, fps_base)
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    return int(math.ceil(float(seconds) * rate - 1e-9))


#: Keys this close to a frame (in frames) stand on it (F-curve frames are float32).
KEY_FRAME_TOLERANCE = 1e-3


def strictly_rising(key_frames) -> bool:
    """Whether key frames (N,) rise strictly (fewer than two do): keys written in this order
    need no sorting."""
    f = np.asarray(key_frames)
    return bool(f.size < 2 or np.all(np.diff(f) > 0))


def key_indices(key_frames, frames) -> np.ndarray:
    """For each of ``frames`` (N,), the index into the sorted ``key_frames`` (K,) of the key on
    that frame (within :data:`KEY_FRAME_TOLERANCE`), else of the first key after it (K when none
    is)."""
    return np.searchsorted(np.asarray(key_frames, dtype=np.float64),
                           np.asarray(frames, dtype=np.float64) - KEY_FRAME_TOLERANCE)


def _to_quats(rot) -> tuple[np.ndarray, np.dtype]:
    a = np.asarray(rot)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if a.ndim >= 3 and a.shape[-2:] == (3, 3):
        q = matrix_to_quat(a)
    elif a.ndim >= 2 and a.shape[-1] == 4:
        q = quat_normalize(a)
    else:
        raise ValueError(
            f"expected rotation matrices (T, J, 3, 3) or quaternions (T, J, 4), got shape {a.shape}"
        )
    if q.shape[0] == 0:
        raise ValueError("need at least one frame to resample")
    return q, a.dtype


def sample_rotations(rot, src_fps, times) -> np.ndarray:
    """Sample a rotation sequence at arbitrary times by per-joint quaternion slerp.

    Args:
        rot: (T, J, 3, 3) rotation matrices or (T, J, 4) quaternions (w, x, y, z); any
            middle dims work (T, ..., 3, 3) / (T, ..., 4). Frame i is at time i / src_fps.
        src_fps: frame rate of ``rot``.
        times: (N,) times in seconds; times outside [0, (T-1)/src_fps] hold the end pose.

    Returns:
        (N, J, 4) unit quaternions (w, x, y, z), continuous over time (consecutive ones in
        the same hemisphere), in the dtype of ``rot`` (float32/float64).
    """
    q, dt = _to_quats(rot)
    rate = _check_rate(src_fps)
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"times must be a 1-D array, got shape {t.shape}")
    q = quat_make_continuous(q.astype(np.float64), axis=0)
    n_src = q.shape[0]
    u = np.clip(t * rate, 0.0, n_src - 1.0)
    near = np.round(u)
    u = np.where(np.abs(u - near) < 1e-9, near, u)  # snap round-off onto source frames
    i0 = np.minimum(np.floor(u).astype(np.int64), n_src - 1)
    i1 = np.minimum(i0 + 1, n_src - 1)
    frac = (u - i0).reshape((-1,) + (1,) * (q.ndim - 2))
    if not frac.any():  # every time on a source frame (a 30 fps scene): no interpolation
        out = q[i0]
        steps = np.diff(i0)
        if steps.size and (steps.min() < 0 or steps.max() > 1):  # else continuous already
            out = quat_make_continuous(out, axis=0)
        return out.astype(dt, copy=False)
    out = quat_slerp(q[i0], q[i1], frac)
    if out.shape[0] > 1:
        out = quat_make_continuous(out, axis=0)
    return out.astype(dt, copy=False)


def resample_rotations(rot, src_fps, dst_fps, n_out: int | None = None) -> np.ndarray:
    """Resample a rotation sequence from ``src_fps`` to ``dst_fps`` by quaternion slerp.

    Output frame k is at time k / dst_fps (both sequences start at time 0), e.g. the
    model's 30 fps motion to a scene at 24 or 29.97 (= 30 / 1.001) fps.

    Args:
        rot: (T, J, 3, 3) rotation matrices or (T, J, 4) quaternions (w, x, y, z).
        src_fps, dst_fps: frame rates (floats; pass ``fps / fps_base`` for a scene).
        n_out: number of output frames; default ``ceil(T * dst_fps / src_fps)``, i.e. the
            output covers the T / src_fps seconds of the input (the tail holds the last pose).

    Returns:
        (n_out, J, 4) unit quaternions (w, x, y, z), continuous over time, dtype of ``rot``.
    """
    src = _check_rate(src_fps)
    dst = _check_rate(dst_fps)
    n_src = np.shape(rot)[0] if np.ndim(rot) else 0
    if n_out is None:
        n_out = max(1, int(math.ceil(n_src * dst / src - 1e-9)))
    if int(n_out) != n_out or n_out < 0:
        raise ValueError(f"n_out must be a non-negative integer, got {n_out}")
    return sample_rotations(rot, src, np.arange(int(n_out)) / dst)
