"""Synthetic humanoid rigs for the retargeting tests: bone rest matrices the way Blender stores
them (``matrix_local``: bone along +Y, head in the last column), built from the SMPL-X rest
skeleton with chosen names, pose (T or A), rolls, units and armature object transform."""

from __future__ import annotations

import numpy as np

from core import skeleton as sk
from core.retarget import TargetRig
from core.rotations import axis_angle_to_matrix

MIXAMO = {
    "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck",
    "head": "Head", "left_collar": "LeftShoulder", "left_shoulder": "LeftArm",
    "left_elbow": "LeftForeArm", "left_wrist": "LeftHand", "right_collar": "RightShoulder",
    "right_shoulder": "RightArm", "right_elbow": "RightForeArm", "right_wrist": "RightHand",
    "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
    "left_foot": "LeftToeBase", "right_hip": "RightUpLeg", "right_knee": "RightLeg",
    "right_ankle": "RightFoot", "right_foot": "RightToeBase",
}
for _s, _S in (("left", "Left"), ("right", "Right")):
    for _f in ("index", "middle", "pinky", "ring", "thumb"):
        for _k in (1, 2, 3):
            MIXAMO[f"{_s}_{_f}{_k}"] = f"{_S}Hand{_f.capitalize()}{_k}"


def a_pose_joints(angle_deg: float = 35.0) -> np.ndarray:
    """SMPL-X rest joints (Y up) with both arms lowered by ``angle_deg`` at the shoulder."""
    j = sk.rest_joints().copy()
    for side, sign in (("left", -1.0), ("right", 1.0)):
        root = sk.JOINT_INDEX[f"{side}_shoulder"]
        r = axis_angle_to_matrix(np.array([0.0, 0.0, sign * np.radians(angle_deg)]))
        arm = [k for k in range(55) if _descends(k, root)]
        j[arm] = (j[arm] - j[root]) @ r.T + j[root]
    return j


def _descends(k, root):
    while k >= 0:
        if k == root:
            return True
        k = sk.PARENTS[k]
    return False


def _children(j):
    return [k for k in range(55) if sk.PARENTS[k] == j]


def _bone_matrix(head, direction, roll, up_hint) -> np.ndarray:
    y = direction / np.linalg.norm(direction)
    x = np.cross(y, up_hint)
    if np.linalg.norm(x) < 1e-6:
        x = np.cross(y, [1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    r = axis_angle_to_matrix(y * roll) @ np.stack([x, y, z], axis=1)
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = head
    return m


def build_rig(names=MIXAMO, joints=None, *, to_armature=None, scale=1.0, object_matrix=None,
              rolls=0.0, seed=0, extra_spine=False, root_bone=True, twist_bones=True,
              fingers=True):
    """A TargetRig and its bone map ``{joint: (bone,)}``.

    ``joints`` (55, 3) SMPL-X-order rest positions (Y up); ``to_armature`` (3, 3) maps them
    into armature axes, ``scale`` into armature units. ``rolls``: the spread of random bone
    rolls (radians). Extra bones: a root above the pelvis, a second neck bone, an unmapped
    twist bone under each upper arm, optionally a fourth spine bone (``extra_spine``).
    """
    rng = np.random.default_rng(seed)
    to_armature = np.eye(3) if to_armature is None else np.asarray(to_armature, float)
    joints = sk.rest_joints() if joints is None else np.asarray(joints, float)
    pts = (joints @ np.asarray(to_armature).T) * scale
    up_hint = np.asarray(to_armature) @ np.array([0.0, 0.0, 1.0])
    bones, parents, mats = [], [], []
    joint_bones = {}

    def add(name, parent, head, direction):
        bones.append(name)
        parents.append(bones.index(parent) if parent is not None else -1)
        mats.append(_bone_matrix(head, direction, rng.uniform(-rolls, rolls) if rolls else 0.0,
                                 up_hint))

    if root_bone:
        add("Root", None, pts[0] - up_hint * 0.9 * scale, up_hint)
    for j in range(55):
        joint = sk.JOINT_NAMES[j]
        if joint not in names or (not fingers and j >= 25):
            continue
        p = sk.PARENTS[j]
        while p >= 0 and sk.JOINT_NAMES[p] not in names:
            p = sk.PARENTS[p]
        parent = joint_bones[sk.JOINT_NAMES[p]][-1] if p >= 0 else ("Root" if root_bone else None)
        kids = [k for k in _children(j) if sk.JOINT_NAMES[k] in names]
        if joint.endswith("_wrist"):
            kids = [sk.JOINT_INDEX[joint.replace("wrist", "middle1")]]
        if joint == "spine3":
            kids = [sk.JOINT_INDEX["neck"]]
        if joint == "pelvis":
            kids = [sk.JOINT_INDEX["spine1"]]
        d = pts[kids[0]] - pts[j] if kids else pts[j] - pts[p]
        if joint == "spine3" and extra_spine:
            mid = 0.5 * (pts[j] + pts[kids[0]])
            add(names[joint], parent, pts[j], mid - pts[j])
            add(names[joint] + "_extra", names[joint], mid, pts[kids[0]] - mid)
            joint_bones[joint] = (names[joint], names[joint] + "_extra")
            continue
        add(names[joint], parent, pts[j], d)
        joint_bones[joint] = (names[joint],)
        if twist_bones and joint.endswith("_shoulder"):
            add(names[joint] + "Twist", names[joint], pts[j] + 0.5 * d, d)
    rig = TargetRig(tuple(bones), tuple(parents), np.stack(mats),
                    object_matrix if object_matrix is not None else np.eye(4))
    return rig, joint_bones


def mixamo_fbx_rig(rolls=np.pi, seed=0, a_pose=35.0, **kw):
    """Mixamo as an FBX import lands: Y-up centimetres inside an object rotated +90 degrees
    about X and scaled 0.01, arms in an A-pose, random rolls."""
    om = np.eye(4)
    om[:3, :3] = axis_angle_to_matrix(np.array([np.pi / 2, 0.0, 0.0])) * 0.01
    return build_rig(MIXAMO, a_pose_joints(a_pose) if a_pose else None, scale=100.0,
                     object_matrix=om, rolls=rolls, seed=seed, **kw)


def random_motion(n_frames=40, n_joints=55, scale=0.5, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    aa = rng.normal(0.0, scale, size=(n_frames, n_joints, 3))
    return axis_angle_to_matrix(aa)
