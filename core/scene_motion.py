"""From the model's 30 fps local rotations to bone quaternions at scene frames, and back.

SMPL-X local rotations become pose-bone quaternions by the per-bone change of frame of
smplx.md: ``q_pose = conj(qL) * (qC * q * conj(qC)) * qL`` with ``qL`` the bone's rest
orientation in armature space and ``qC`` the rotation taking SMPL-X axes to armature axes
(+90 degrees about X for a Z-up armature). For bones built the SMPL-X way (pointing +Z,
roll 0) ``qL == qC`` and the quaternion passes through unchanged. :func:`pose_to_local_quats`
is the inverse change of frame (pins and .npz export read bone quaternions back).
"""

from __future__ import annotations

import numpy as np

from .rotations import quat_conjugate, quat_make_continuous, quat_multiply, quat_normalize, quat_to_matrix
from .timeline import MODEL_FPS, sample_rotations


def frame_change(rest_quats, up_quat) -> np.ndarray:
    """Per-bone ``a = conj(qC) * qL`` (J, 4) so that ``q_pose = conj(a) * q * a``."""
    rest = np.asarray(rest_quats, dtype=np.float64)
    return quat_multiply(quat_conjugate(np.asarray(up_quat, dtype=np.float64))[None], rest)


def to_scene_quaternions(local_rot, first: int, end: int, fps: float, change=None) -> np.ndarray:
    """Bone quaternions (end - first, J, 4) at scene frames ``first .. end - 1``.

    ``local_rot`` (T, J, 3, 3): the model's output, frame k at k / 30 s after scene frame
    ``first``; scene frame F is at (F - first) / fps s (``fps = render.fps / fps_base``).
    ``change`` (J, 4) from :func:`frame_change`, or None for SMPL-X-built bones.
    The result is continuous over time (one hemisphere frame to frame) per bone.
    """
    times = np.arange(end - first, dtype=np.float64) / float(fps)
    q = sample_rotations(np.asarray(local_rot, dtype=np.float64), MODEL_FPS, times)
    if change is not None:  # conj(a) * q * a: w stays, the vector part turns by conj(a)
        turn = quat_to_matrix(np.asarray(change, dtype=np.float64))  # (J, 3, 3)
        vec = np.matmul(np.ascontiguousarray(np.swapaxes(q[..., 1:], 0, 1)), turn)  # (J, T, 3)
        q = np.concatenate([q[..., :1], np.swapaxes(vec, 0, 1)], axis=-1)
        q = quat_make_continuous(q, axis=0)
    if q.shape[0]:
        q = q * np.where(q[:1, :, :1] < 0, -1.0, 1.0)  # start each bone with w >= 0
    return q


def pose_to_local_quats(pose_quats, change=None) -> np.ndarray:
    """Bone quaternions (n, J, 4) -> SMPL-X local quaternions: the inverse of
    :func:`to_scene_quaternions`' change of frame (``q = a * q_pose * conj(a)``)."""
    q = quat_normalize(np.asarray(pose_quats, dtype=np.float64))
    if change is None:
        return q
    a = np.asarray(change, dtype=np.float64)[None]
    conj = a * np.array([1.0, -1.0, -1.0, -1.0])
    return quat_multiply(quat_multiply(a, q), conj)


#: Pelvis displacements below this (metres) count as "the pelvis never moves".
STILL_PELVIS_M = 1e-4


def clip_to_scene_quaternions(local_rot, clip_fps: float, n_out: int, fps: float, change=None) -> np.ndarray:
    """Bone quaternions (n_out, J, 4) at scene frames 0 .. n_out - 1 (``fps``) of a clip of
    local rotations (T, J, 3, 3) recorded at ``clip_fps`` (an imported .npz)."""
    # to_scene_quaternions samples a MODEL_FPS source; a clip at clip_fps played on a scene at
    # fps samples exactly like a MODEL_FPS clip on a scene at fps * MODEL_FPS / clip_fps.
    return to_scene_quaternions(local_rot, 0, n_out, fps * MODEL_FPS / clip_fps, change)


def pelvis_locations(trans, clip_fps: float, n_out: int, fps: float, up, pelvis_rest):
    """Pelvis bone ``location`` (n_out, 3) at scene frames 0 .. n_out - 1 for a clip's SMPL-X
    translation ``trans`` (T, 3) (Y up, metres) at ``clip_fps``; None when the pelvis stays
    within :data:`STILL_PELVIS_M`. ``up`` (3, 3): SMPL-X axes -> armature axes; ``pelvis_rest``
    (3, 3): armature axes -> the pelvis bone's rest frame."""
    trans = np.asarray(trans, dtype=np.float64)
    delta = trans - trans[:1]
    if float(np.abs(delta).max(initial=0.0)) < STILL_PELVIS_M:
        return None
    src = np.arange(trans.shape[0]) / clip_fps
    times = np.arange(n_out) / fps
    moved = np.stack([np.interp(times, src, delta[:, i]) for i in range(3)], -1)
    # armature-space displacement -> the pelvis bone's rest frame (pose location space)
    return moved @ np.asarray(up).T @ np.asarray(pelvis_rest)
