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
from .skeleton import NUM_JOINTS, Y_UP_TO_Z_UP_QUAT
from .timeline import MODEL_FPS, sample_rotations


def rest_up_axis(pelvis_head, head_head) -> tuple[str, np.ndarray]:
    """The armature-space up axis of a rest pose whose pelvis and head joints stand at
    ``pelvis_head`` and ``head_head`` (3,): ("Z" or "Y", qC), qC (4,) the quaternion taking
    SMPL-X axes to armature axes (the identity for a Y-up armature)."""
    v = np.asarray(head_head, dtype=np.float64) - np.asarray(pelvis_head, dtype=np.float64)
    if abs(v[1]) > abs(v[2]):  # a Y-up armature: SMPL-X axes as they are
        return "Y", np.array([1.0, 0.0, 0.0, 0.0])
    return "Z", np.asarray(Y_UP_TO_Z_UP_QUAT, dtype=np.float64)


def frame_change(rest_quats, up_quat) -> np.ndarray:
    """Per-bone ``a = conj(qC) * qL`` (J, 4) so that ``q_pose = conj(a) * q * a``."""
    rest = np.asarray(rest_quats, dtype=np.float64)
    return quat_multiply(quat_conjugate(np.asarray(up_quat, dtype=np.float64))[None], rest)


#: A change of frame within this of the identity (every bone built the SMPL-X way) is skipped.
IDENTITY_CHANGE_ATOL = 1e-5


def rig_frame_change(rest_quats, up_quat) -> np.ndarray | None:
    """:func:`frame_change` of a rig's bones with rest orientations ``rest_quats`` (J, 4), each
    in the hemisphere w >= 0; None when every bone's change is the identity (within
    :data:`IDENTITY_CHANGE_ATOL`: the quaternions pass through unchanged)."""
    change = frame_change(rest_quats, up_quat)
    change *= np.where(change[:, :1] < 0, -1.0, 1.0)
    if np.allclose(change, np.array([1.0, 0.0, 0.0, 0.0]), atol=IDENTITY_CHANGE_ATOL):
        return None
    return change


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


def pose_to_smplx_rotations(bone_quats, change=None, n_joints: int = NUM_JOINTS, joints=()) -> np.ndarray:
    """Bone quaternions (N, J, 4) -> SMPL-X local rotations (N, n_joints, 3, 3) float32.

    The inverse of the change of frame (:func:`pose_to_local_quats`); ``change`` (J, 4) or None
    for SMPL-X-built bones. ``joints``: the SMPL-X joint of each bone (default: the first J);
    the other joints are left at rest (identity).
    """
    q = pose_to_local_quats(bone_quats, change)
    out = np.broadcast_to(np.eye(3, dtype=np.float32), (q.shape[0], n_joints, 3, 3)).copy()
    out[:, list(joints) if len(joints) else slice(0, q.shape[1])] = quat_to_matrix(q)
    return out


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
