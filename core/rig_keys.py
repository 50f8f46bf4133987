"""SMPL-X rotations <-> a rig's key values, both ways, for every kind of rig (numpy only).

The one place where model (or clip) rotations become the pose-bone quaternions a rig is keyed
with, and where a rig's keys become SMPL-X rotations again (pins, ``.npz`` export, any rig):

- SMPL-X rigs (bones named as SMPL-X joints): the per-bone change of frame of
  :mod:`core.scene_motion` (``change``; None when the bones are built the SMPL-X way);
- any other humanoid: the retargeting of :mod:`core.retarget` (``retarget``);
- rigs whose keyed bones hang from constraint-driven parents (a Rigify control rig's FK
  controls): the retargeting's wanted armature-space rotations, then the keys that give them
  under the rig's constraint chain, :mod:`core.bone_constraints` (``chain``).

:class:`KeyTarget` says which of these a rig takes; ``a2g_blender/rigio/rig.py`` reads it from the
armature once. :func:`to_keys` is the forward direction, :func:`from_keys` its inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rotations import matrix_to_quat, quat_make_continuous, quat_to_matrix
from .skeleton import NUM_JOINTS
from .timeline import MODEL_FPS


@dataclass(frozen=True)
class KeyTarget:
    """What a rig's keys mean, read from the armature once.

    ``joints``: the SMPL-X joint each keyed bone plays (key order). SMPL-X rigs: ``columns``,
    each keyed bone's column in the motion given to :func:`to_keys` (None: the SMPL-X index
    itself, a 55-joint motion) and ``change`` (K, 4) or None. Other rigs: ``retarget``
    (core.retarget.Retarget), with ``chain`` (core.bone_constraints.BoneChain) when keyed
    bones hang from constraint-driven parents."""

    joints: tuple[int, ...]
    columns: tuple[int, ...] | None = None
    change: np.ndarray | None = None
    retarget: object = None
    chain: object = None


def _hemisphere(q: np.ndarray) -> np.ndarray:
    """Continuous over time, each bone starting with w >= 0."""
    q = quat_make_continuous(q, axis=0)
    return q * np.where(q[:1, :, :1] < 0, -1.0, 1.0) if q.shape[0] else q


def to_keys(target: KeyTarget, local_rot, first: int, end: int, fps: float,
            source_fps: float = MODEL_FPS) -> np.ndarray:
    """Pose-bone quaternions (end - first, K, 4) (w, x, y, z) of the keyed bones at scene frames
    ``first .. end - 1`` (``fps``) for SMPL-X local rotations ``local_rot`` (T, J, 3, 3): frame k
    at k / ``source_fps`` seconds after scene frame ``first`` (the model's 30 fps output, or an
    imported clip at its own rate). Continuous over time, each bone starting with w >= 0."""
    from .scene_motion import to_scene_quaternions
    from .timeline import resample_rotations

    local = np.asarray(local_rot)
    scene_fps = float(fps) * MODEL_FPS / float(source_fps)  # sampled as a MODEL_FPS source
    if target.retarget is None:
        if target.columns is not None and tuple(target.columns) != tuple(range(local.shape[1])):
            local = local[:, list(target.columns)]
        elif target.columns is None:
            local = local[:, list(target.joints)]
        return to_scene_quaternions(local, first, end, scene_fps, target.change)
    from .retarget import target_poses, to_target

    q = resample_rotations(np.asarray(local, dtype=np.float64), MODEL_FPS, scene_fps, end - first)
    if target.chain is None:
        return to_target(target.retarget, quat_to_matrix(q))
    from .bone_constraints import solve

    wanted = target_poses(target.retarget, quat_to_matrix(q))
    return _hemisphere(matrix_to_quat(solve(target.chain, wanted)))


def from_keys(target: KeyTarget, quats, n_joints: int = NUM_JOINTS) -> np.ndarray:
    """SMPL-X local rotations (N, n_joints, 3, 3) float64 of the keys ``quats`` (N, K, 4):
    the inverse of :func:`to_keys` at each frame. Joints no keyed bone plays are at rest
    (identity local rotation) on SMPL-X rigs, and follow their parent on retargeted ones."""
    quats = np.asarray(quats, dtype=np.float64)
    if target.retarget is None:
        from .scene_motion import pose_to_smplx_rotations

        return pose_to_smplx_rotations(quats, target.change, n_joints, target.joints).astype(np.float64)
    from .retarget import smplx_from_pose, to_smplx

    rt = target.retarget
    joints = min(int(n_joints), max(rt.n_joints, 22))
    if target.chain is None:
        local = to_smplx(rt, quats, joints)
    else:
        from .bone_constraints import evaluate

        shown = evaluate(target.chain, quat_to_matrix(quats))[:, target.chain.keyed]
        local = smplx_from_pose(rt, shown, joints)
    if joints == n_joints:
        return local
    out = np.broadcast_to(np.eye(3), (quats.shape[0], int(n_joints), 3, 3)).copy()
    out[:, :joints] = local
    return out
