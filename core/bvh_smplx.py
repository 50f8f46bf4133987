"""BVH motion -> SMPL-X local rotations, through the rest pose (numpy only).

Any humanoid BVH (Trinity, ZEGGS, Mixamo-named, Rokoko or Xsens exports): its joints are
mapped to SMPL-X joints by :func:`core.bone_map.detect` (the extension's own detection) or a
given bone map (``--bone-map preset.json``), and its rotations are carried over by the
extension's retargeting maths run the other way (:func:`core.retarget.smplx_from_pose`):

- the BVH skeleton becomes a :class:`core.retarget.TargetRig` whose rest matrices put each
  joint's +Y along its bone (:func:`core.bvh.bone_axes`), heads at the rest offsets;
- a joint's armature-space pose rotation is ``P_b = W_b @ M_b`` (``W_b`` its BVH world
  rotation, identity at rest);
- :func:`core.retarget.smplx_from_pose` removes the rest-pose alignment ``C_b`` (so a T-pose
  or A-pose rest, any bone axes, cm or m give the same SMPL-X motion) and the axes ``A``
  (Y-up or Z-up files).

Fingers come across where the BVH has them mapped; missing fingers are set to the relaxed
mean hand (``core.skeleton.hand_mean``), jaw and eyes to rest. The root's position becomes
``trans`` (metres, SMPL-X axes: Y up), placed so the pelvis follows the BVH's root.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import bone_map as bone_maps
from .bvh import BvhClip, bone_axes, local_rotations, rest_heads, root_positions, unit_scale, world_rotations
from .retarget import TargetRig, build, smplx_from_pose
from .rotations import axis_angle_to_matrix
from .skeleton import HAND_JOINTS, JOINT_INDEX, JOINT_NAMES, hand_mean, rest_joints

N_SMPLX = len(JOINT_NAMES)


@dataclass(frozen=True)
class BvhAsSmplx:
    """A BVH clip as SMPL-X motion: ``local_rot (T, 55, 3, 3)`` (fingers absolute, i.e. the mean
    hand already applied, as :func:`core.smplx_npz.read_smplx_npz` gives them), ``trans (T, 3)``
    metres Y up, ``fps`` the file's rate, the ``bone_map`` used, ``fingers`` whether any finger
    joint was mapped, and ``unit`` the file's unit in metres."""

    local_rot: np.ndarray
    trans: np.ndarray
    fps: float
    bone_map: bone_maps.BoneMap
    fingers: bool
    unit: float

    @property
    def n_frames(self) -> int:
        return self.local_rot.shape[0]


def target_rig(clip: BvhClip) -> TargetRig:
    """The BVH skeleton at rest as a :class:`core.retarget.TargetRig` (file units, file axes)."""
    rest = np.broadcast_to(np.eye(4), (len(clip.names), 4, 4)).copy()
    rest[:, :3, :3] = bone_axes(clip)
    rest[:, :3, 3] = rest_heads(clip)
    return TargetRig(tuple(clip.names), tuple(clip.parents), rest)


def detect_bone_map(clip: BvhClip, name: str | None = None) -> bone_maps.BoneMap:
    """The bone map of the BVH's joints (:func:`core.bone_map.detect`, as the extension does)."""
    parents = {n: (clip.names[p] if p >= 0 else None) for n, p in zip(clip.names, clip.parents, strict=True)}
    return bone_maps.detect(clip.names, parents, name)


def bvh_to_smplx(clip: BvhClip, bone_map: bone_maps.BoneMap | None = None,
                 name: str | None = None) -> BvhAsSmplx:
    """Convert ``clip`` (``name`` labels errors) with ``bone_map`` (default: detected)."""
    bm = detect_bone_map(clip, name) if bone_map is None else bone_map
    bone_maps.check(bm, clip.names, name)
    target = target_rig(clip)
    rt = build(target, bm.joints, n_joints=N_SMPLX)
    world = world_rotations(clip, local_rotations(clip))
    index = {n: i for i, n in enumerate(clip.names)}
    keyed = np.array([index[b] for b in rt.keyed], dtype=np.int64)
    pose = world[:, keyed] @ target.rest[keyed, :3, :3]  # P_b = W_b @ M_b
    local = smplx_from_pose(rt, pose, N_SMPLX)
    mapped = {JOINT_INDEX[j] for j, chain in rt.joint_bones.items() if chain}
    missing = [k for k, j in enumerate(HAND_JOINTS) if j not in mapped]
    if missing:
        local[:, [HAND_JOINTS[k] for k in missing]] = axis_angle_to_matrix(hand_mean()[missing])[None]
    for j in (JOINT_INDEX["jaw"], JOINT_INDEX["left_eye_smplhf"], JOINT_INDEX["right_eye_smplhf"]):
        if j not in mapped:
            local[:, j] = np.eye(3)
    scale = unit_scale(clip)
    trans = (root_positions(clip) * scale) @ rt.axes - rest_joints()[0]  # A^T p for each row
    return BvhAsSmplx(local.astype(np.float64), trans, clip.fps, bm,
                      any(HAND_JOINTS[k] in mapped for k in range(len(HAND_JOINTS))), scale)
