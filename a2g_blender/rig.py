# SPDX-License-Identifier: GPL-3.0-or-later
"""Recognise SMPL-X armatures: ours, the official SMPL-X add-on's and Meshcapade's.

Bones are found by name (``obj.data.bones`` is in hierarchy order, not SMPL-X order). The
eyes are spelled ``left_eye_smplhf`` (official) or ``left_eye`` (Meshcapade); an extra
``root`` bone above ``pelvis`` is fine. Bones with other rest orientations get the per-bone
change of frame of :mod:`.motion`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core.errors import UserError
from .core.skeleton import BODY_JOINT_NAMES, JOINT_NAMES, Y_UP_TO_Z_UP_QUAT

#: Other spellings of SMPL-X joint names used by existing Blender SMPL-X add-ons.
ALIASES: dict[str, tuple[str, ...]] = {
    "left_eye_smplhf": ("left_eye",),
    "right_eye_smplhf": ("right_eye",),
}

_IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


class RigError(UserError):
    """The armature cannot take SMPL-X motion; the message says why."""


@dataclass(frozen=True)
class BodyRig:
    """What generation needs to know about a target armature."""

    bone_names: tuple[str, ...]  # the 22 body bones, SMPL-X order
    change: np.ndarray | None  # (22, 4) per-bone change of frame, None when not needed
    up_axis: str  # "Z" or "Y": the armature-space up axis of the rest pose
    non_quaternion: tuple[str, ...]  # body bones whose rotation mode is not QUATERNION


def bone_name_map(bones) -> dict[str, str]:
    """SMPL-X joint name -> bone name, for every joint the armature has (any spelling)."""
    out = {}
    for joint in JOINT_NAMES:
        for name in (joint, *ALIASES.get(joint, ())):
            if name in bones:
                out[joint] = name
                break
    return out


def missing_body_bones(bones) -> list[str]:
    """Body (22) joint names the armature's bones lack."""
    return [n for n in BODY_JOINT_NAMES if n not in bones]


def rest_up_axis(bones) -> tuple[str, np.ndarray]:
    """Armature-space up axis of the rest pose, from pelvis to head: ("Z" or "Y", qC), qC the
    quaternion taking SMPL-X axes to armature axes."""
    v = np.asarray(bones["head"].head_local) - np.asarray(bones["pelvis"].head_local)
    if abs(v[1]) > abs(v[2]):  # a Y-up armature: SMPL-X axes as they are
        return "Y", _IDENTITY.copy()
    return "Z", np.asarray(Y_UP_TO_Z_UP_QUAT, dtype=np.float64)


def body_rig(obj) -> BodyRig:
    """Inspect ``obj`` as a generation target; raises :class:`RigError` naming the problem."""
    from .motion import frame_change

    if obj is None:
        raise RigError("No target armature: select an armature or set Target in the Gestures panel")
    if obj.type != "ARMATURE":
        raise RigError(f"'{obj.name}' is a {obj.type.lower()}, not an armature")
    bones = obj.data.bones
    missing = missing_body_bones(bones)
    if missing:
        raise RigError(
            f"Armature '{obj.name}' is not an SMPL-X rig: missing bone(s) {', '.join(missing)}"
        )
    up_axis, up = rest_up_axis(bones)
    rest = np.array([tuple(bones[n].matrix_local.to_quaternion()) for n in BODY_JOINT_NAMES])
    change = frame_change(rest, up)
    change *= np.where(change[:, :1] < 0, -1.0, 1.0)
    if np.allclose(change, _IDENTITY, atol=1e-5):
        change = None
    pose_bones = obj.pose.bones
    non_quat = tuple(n for n in BODY_JOINT_NAMES if pose_bones[n].rotation_mode != "QUATERNION")
    return BodyRig(BODY_JOINT_NAMES, change, up_axis, non_quat)
