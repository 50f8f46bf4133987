# SPDX-License-Identifier: GPL-3.0-or-later
"""The target armature: SMPL-X rigs (ours, the official SMPL-X add-on's and Meshcapade's) and
any other humanoid rig (Mixamo, Rigify, Unreal mannequin, VRoid, Character Creator, ...).

SMPL-X rigs are found by bone name and get the per-bone change of frame of :mod:`.core.scene_motion`.
Other rigs get a bone map (:mod:`.core.bone_map`: the artist's own, set in the Bone Map
panel and stored on the armature object, else detected from the bone names) and the
retargeting of :mod:`.core.retarget`, fed with the bones' rest matrices read here. Bones are
found by name (``obj.data.bones`` is in hierarchy order, not SMPL-X order). The eyes are
spelled ``left_eye_smplhf`` (official) or ``left_eye`` (Meshcapade); an extra ``root`` bone
above ``pelvis`` is fine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import UserError
from ..core.skeleton import BODY, BODY_JOINT_NAMES, JOINT_NAMES

#: Other spellings of SMPL-X joint names used by existing Blender SMPL-X add-ons.
ALIASES: dict[str, tuple[str, ...]] = {
    "left_eye_smplhf": ("left_eye",),
    "right_eye_smplhf": ("right_eye",),
}

class RigError(UserError):
    """The armature cannot take SMPL-X motion; the message says why."""


@dataclass(frozen=True)
class BodyRig:
    """What generation needs to know about a target armature."""

    bone_names: tuple[str, ...]  # the bones that get keys (SMPL-X rigs: the 22 body bones, and
    #                               the finger bones it has when the model has hands)
    change: np.ndarray | None  # (K, 4) per-bone change of frame, None when not needed
    up_axis: str  # "Z" or "Y": the armature-space up axis of the rest pose
    non_quaternion: tuple[str, ...]  # keyed bones whose rotation mode is not QUATERNION
    retarget: object = None  # core.retarget.Retarget for rigs that are not SMPL-X rigs
    scheme: str = "smplx"  # how the bone map was found (core.bone_map.SCHEME_TITLES)
    controls: object = None  # rigify.ControlRig when the keys go on Rigify's FK controls
    constrained: tuple[str, ...] = ()  # keyed bones under constraint-driven parents (rig_eval)
    model_set: object = BODY  # core.skeleton.JointSet of the model's motion (BODY, BODY_HANDS)
    joints: tuple[int, ...] = ()  # the SMPL-X joint each keyed bone plays (bone_names' order)
    columns: tuple[int, ...] = ()  # SMPL-X rigs: each keyed bone's column in the model's output
    chain: object = None  # core.bone_constraints.BoneChain: those keys solved in numpy (rig_eval)

    @property
    def model_joints(self) -> int:
        """How many joints the model's motion has (its joint set's size)."""
        return len(self.model_set)

    @property
    def key_target(self):
        """What the keys mean, as core.rig_keys converts them both ways."""
        from ..core.rig_keys import KeyTarget

        columns = tuple(self.columns) if self.columns else tuple(range(len(self.bone_names)))
        return KeyTarget(tuple(self.joints), None if self.retarget is not None else columns,
                         self.change, self.retarget, self.chain)


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
    from ..core.scene_motion import rest_up_axis as up_axis_of

    return up_axis_of(tuple(bones["pelvis"].head_local), tuple(bones["head"].head_local))


def _check_object(obj) -> None:
    if obj is None:
        raise RigError("No target armature: select an armature or set Target in the Gestures panel")
    if obj.type != "ARMATURE":
        raise RigError(f"'{obj.name}' is a {obj.type.lower()}, not an armature")
    if obj.mode == "EDIT":
        raise RigError(f"Armature '{obj.name}' is in Edit Mode: switch to Object or Pose Mode "
                       "(its bones' rest pose is only known outside Edit Mode)")


def is_smplx_rig(obj) -> bool:
    return not missing_body_bones(obj.data.bones)


def body_rig(obj, joints=None) -> BodyRig:
    """Inspect ``obj`` as a generation target; raises a ``UserError`` naming the problem
    (:class:`RigError`; ``BoneMapError``, ``RetargetError`` for a retargeted rig).

    SMPL-X rigs (all 22 body bones by SMPL-X name, no bone map set by the artist) keep the
    change of frame; any other humanoid is retargeted through its bone map. ``joints``: the
    model's joint set (core.skeleton.BODY, BODY_HANDS; or its joint count), BODY by default.
    """
    _check_object(obj)
    if not stored_map(obj) and is_smplx_rig(obj):
        return smplx_body_rig(obj, joints)
    return retarget_rig(obj, joints)


def smplx_body_rig(obj, joints=None) -> BodyRig:
    """An SMPL-X rig as a target (bones named as SMPL-X joints); :class:`RigError` otherwise.

    The 22 body bones get keys; with a model that has hands (``joints`` BODY_HANDS) the rig's
    finger bones too (a rig without them gets the body only). Jaw and eyes never get keys.
    """
    from ..core.scene_motion import rig_frame_change
    from ..core.skeleton import joint_set

    model = joint_set(BODY if joints is None else joints)
    _check_object(obj)
    bones = obj.data.bones
    missing = missing_body_bones(bones)
    if missing:
        raise RigError(
            f"Armature '{obj.name}' is not an SMPL-X rig: missing bone(s) {', '.join(missing)}"
        )
    up_axis, up = rest_up_axis(bones)
    keyed = tuple(j for j in model.joints if j < len(BODY_JOINT_NAMES) or JOINT_NAMES[j] in bones)
    names = tuple(JOINT_NAMES[j] for j in keyed)
    rest = np.array([tuple(bones[n].matrix_local.to_quaternion()) for n in names])
    change = rig_frame_change(rest, up)
    pose_bones = obj.pose.bones
    non_quat = tuple(n for n in names if pose_bones[n].rotation_mode != "QUATERNION")
    return BodyRig(names, change, up_axis, non_quat, model_set=model, joints=keyed,
                   columns=model.columns(keyed))


# ---- any humanoid: bone map + retargeting ----------------------------------------------------
def stored_map(obj):
    """The bone map the artist set on ``obj`` (its Bone Map panel entries, stored on the
    object as ``obj.a2g_bone_map``), as a core.bone_map.BoneMap; None when none is set."""
    from ..core.bone_map import BoneMap

    items = getattr(obj, "a2g_bone_map", None) if obj is not None else None
    joints = {}
    for item in items or ():
        if item.bone:
            extra = tuple(b.strip() for b in item.extra.split(",") if b.strip())
            joints[item.joint] = (item.bone, *extra)
    return BoneMap(joints, "custom") if joints else None


def store_map(obj, bone_map) -> None:
    """Set ``obj``'s Bone Map entries to ``bone_map`` (every SMPL-X joint gets an entry)."""
    from ..core.bone_map import MAPPABLE

    items = obj.a2g_bone_map
    items.clear()
    for joint in MAPPABLE:
        item = items.add()
        item.joint = joint
        chain = bone_map.joints.get(joint, ()) if bone_map is not None else ()
        item.bone = chain[0] if chain else ""
        item.extra = ", ".join(chain[1:])


def bone_parents(obj) -> dict:
    return {b.name: (b.parent.name if b.parent else None) for b in obj.data.bones}


def resolve_map(obj):
    """The bone map used for ``obj``: the stored one (checked), else the detected one; a
    :class:`core.bone_map.BoneMapError` naming ``obj`` when there is none to use."""
    from ..core.bone_map import check, detect

    names = [b.name for b in obj.data.bones]
    stored = stored_map(obj)
    if stored is not None:
        check(stored, names, obj.name)
        return stored
    return detect(names, bone_parents(obj), obj.name)


def target_of(obj, names=None):
    """The rest pose of ``obj``'s bones as a core.retarget.TargetRig (matrix_local per bone)."""
    from ..core.retarget import TargetRig

    bones = obj.data.bones
    names = [b.name for b in bones] if names is None else list(names)
    index = {n: i for i, n in enumerate(names)}
    rest = np.array([np.array(bones[n].matrix_local) for n in names], dtype=np.float64)
    parents = tuple(index.get(bones[n].parent.name, -1) if bones[n].parent else -1 for n in names)
    return TargetRig(tuple(names), parents, rest, np.array(obj.matrix_world, dtype=np.float64))


def retarget_rig(obj, joints=None) -> BodyRig:
    """A humanoid rig that is not an SMPL-X rig, as a target; a ``UserError`` naming ``obj``
    otherwise (:class:`RigError`, ``BoneMapError``, ``RetargetError``)."""
    from ..core.errors import about
    from ..core.retarget import build
    from ..core.skeleton import FULL, joint_set
    from . import rigify

    model = joint_set(BODY if joints is None else joints)
    _check_object(obj)
    bone_map = resolve_map(obj)
    controls = rigify.control_rig(obj, bone_map)
    with about(f"Armature '{obj.name}'"):  # the rest-pose checks, deep in the retargeting maths
        rt = build(target_of(obj), bone_map.joints, len(BODY if model == BODY else FULL))
    pose_bones = obj.pose.bones
    non_quat = tuple(n for n in rt.keyed if pose_bones[n].rotation_mode != "QUATERNION")
    from .rig_eval import constrained_bones, read_chain

    constrained = tuple(constrained_bones(obj, rt.keyed))
    chain = None
    if constrained:  # read with a Rigify rig's limbs at FK, as generation keys them
        with rigify.at_fk(obj, controls):
            chain = read_chain(obj, rt.keyed)
    return BodyRig(rt.keyed, None, "Z", non_quat, rt, bone_map.scheme, controls, constrained,
                   model, tuple(int(j) for j in rt.key_joint), chain=chain)


def scene_quaternions(body: BodyRig, local_rot, first: int, end: int, fps: float) -> np.ndarray:
    """Bone quaternions (end - first, len(body.bone_names), 4) at scene frames first .. end - 1
    for the model's 30 fps SMPL-X local rotations (T, J, 3, 3) (core.rig_keys.to_keys)."""
    from ..core.rig_keys import to_keys

    return to_keys(body.key_target, local_rot, first, end, fps)
