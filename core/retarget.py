"""Retargeting SMPL-X motion onto an artist's humanoid rig, and back (numpy only, no bpy).

The target is described by its bones' rest matrices in armature space (Blender's
``bone.matrix_local``: rotation with the bone along +Y, head in the last column), their
parents, the armature object's world matrix and a bone map (:mod:`core.bone_map`).

Forward (:func:`to_target`): for SMPL-X global rotation ``G_j`` (its rest frames are all the
identity, so ``G_j`` is also the joint's rotation away from rest), the target's bones get the
armature-space rotation

    P_b = D_j @ C_b @ M_b,     D_j = A @ G_j @ A^T

- ``A`` turns SMPL-X axes (Y up, facing +Z) into the target's armature axes: built from the
  world up axis seen through the armature object's rotation (its scale is ignored) and the
  target's own left-right shoulder line, so an FBX import rotated 90 degrees about X and
  scaled 0.01, a Z-up rig or a character turned to face elsewhere all get the same motion
  relative to their body.
- ``C_b`` aligns the target's rest to SMPL-X's for limbs (collars, arms, hands, legs, feet,
  fingers): the smallest rotation taking the bone's rest direction (its head to the head of
  the next mapped joint, else its +Y axis) onto the SMPL-X bone's rest direction, so an A-pose
  arm and a T-pose arm both end up pointing where the SMPL-X arm points; a hand with index and
  pinky mapped is aligned as a whole frame (palm plane too). Bone rolls do not matter: the
  alignment works on whole rest matrices. Torso joints (pelvis, spine, neck, head) are not
  aligned, so the torso leans as SMPL-X's does relative to its own rest.
- A chain of n bones mapped to one joint (extra spine/neck bones) shares the joint's local
  rotation ``L``: bone k of n gets ``D_parent @ L^(k/n)``, so the last carries the whole.

Pose-bone rotations are then ``Q_b = M_b^T M_a P_a^T P_b`` (``a`` the parent bone; bones that
are not mapped keep their rest pose and are never keyed). Rotations only: proportions and
bone lengths do not matter and no location is keyed.

Inverse (:func:`to_smplx`): the target's pose-bone rotations back to SMPL-X local rotations
(``G_j = A^T P_b C_b^T M_b^T A`` for the bone carrying joint j), used for pins made from the
target rig's own actions. ``to_smplx(to_target(x)) == x`` for every mapped joint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import UserError
from .rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quat,
    quat_make_continuous,
    quat_to_matrix,
)
from .skeleton import JOINT_INDEX, JOINT_NAMES, PARENTS, joint_set, rest_joints


class RetargetError(UserError):
    """The rig's rest pose cannot be used; the message says why."""


#: limb joints aligned to SMPL-X's rest: joint -> the joint its bone points at (None: the
#: bone's own axis against the SMPL-X parent-to-joint direction)
DIRECTION_CHILD: dict[str, str | None] = {}
for _s in ("left", "right"):
    DIRECTION_CHILD.update({
        f"{_s}_collar": f"{_s}_shoulder", f"{_s}_shoulder": f"{_s}_elbow",
        f"{_s}_elbow": f"{_s}_wrist", f"{_s}_wrist": f"{_s}_middle1",
        f"{_s}_hip": f"{_s}_knee", f"{_s}_knee": f"{_s}_ankle", f"{_s}_ankle": f"{_s}_foot",
    })
    for _f in ("index", "middle", "pinky", "ring", "thumb"):
        DIRECTION_CHILD[f"{_s}_{_f}1"] = f"{_s}_{_f}2"
        DIRECTION_CHILD[f"{_s}_{_f}2"] = f"{_s}_{_f}3"
        DIRECTION_CHILD[f"{_s}_{_f}3"] = None


@dataclass(frozen=True)
class TargetRig:
    """The target armature at rest. ``rest`` (B, 4, 4): ``bone.matrix_local`` of each bone;
    ``parents`` (B,): index of each bone's parent in ``bone_names`` or -1; ``object_matrix``
    (4, 4): the armature object's world matrix."""

    bone_names: tuple[str, ...]
    parents: tuple[int, ...]
    rest: np.ndarray
    object_matrix: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self):
        rest = np.asarray(self.rest, dtype=np.float64)
        if rest.shape != (len(self.bone_names), 4, 4):
            raise ValueError(f"rest must be ({len(self.bone_names)}, 4, 4), got {rest.shape}")
        object.__setattr__(self, "rest", rest)
        om = np.eye(4) if self.object_matrix is None else np.asarray(self.object_matrix, float)
        object.__setattr__(self, "object_matrix", om)


@dataclass(frozen=True)
class Retarget:
    """A prepared retarget: which bones get keys and the fixed matrices of the maths."""

    keyed: tuple[str, ...]  # target bones that get rotation keys, parents first
    n_joints: int  # SMPL-X joints of the motion (22 body, or 55 with fingers)
    joint_bones: dict  # SMPL-X joint -> chain of bone names (those in use)
    names: tuple[str, ...]  # bones taking part (keyed ones and their ancestors), parents first
    parent: np.ndarray  # (R,) index into names, -1 root
    rest_rot: np.ndarray  # (R, 3, 3)
    heads: np.ndarray  # (R, 3) armature space
    key_index: np.ndarray  # (K,) index into names of each keyed bone
    key_joint: np.ndarray  # (K,) SMPL-X joint of each keyed bone
    key_frac: np.ndarray  # (K,) k / n of the bone in its joint's chain
    align: np.ndarray  # (K, 3, 3) C_b
    axes: np.ndarray  # (3, 3) A: SMPL-X axes -> armature axes
    world_rot: np.ndarray  # (3, 3) rotation of the armature object (no scale)


def _unit(v, what="vector"):
    n = np.linalg.norm(v)
    if n < 1e-9:
        raise RetargetError(f"The rig's rest pose has a zero-length {what}")
    return np.asarray(v, dtype=np.float64) / n


def rotation_between(a, b) -> np.ndarray:
    """The smallest rotation (3, 3) taking direction ``a`` onto direction ``b``."""
    a, b = _unit(a), _unit(b)
    c = float(np.dot(a, b))
    axis = np.cross(a, b)
    s = np.linalg.norm(axis)
    if s < 1e-9:
        if c > 0:
            return np.eye(3)
        perp = np.cross(a, [1.0, 0.0, 0.0])
        if np.linalg.norm(perp) < 1e-6:
            perp = np.cross(a, [0.0, 1.0, 0.0])
        return axis_angle_to_matrix(_unit(perp) * np.pi)
    return axis_angle_to_matrix(axis / s * np.arctan2(s, c))


def _frame(primary, secondary) -> np.ndarray:
    e1 = _unit(primary)
    e2 = np.asarray(secondary, float) - np.dot(secondary, e1) * e1
    e2 = _unit(e2, "palm width")
    return np.stack([e1, e2, np.cross(e1, e2)], axis=1)


def rotation_part(matrix) -> np.ndarray:
    """The rotation (3, 3) of a 3x3 or 4x4 matrix with scale (polar decomposition)."""
    m = np.asarray(matrix, dtype=np.float64)[:3, :3]
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


def body_axes(target: TargetRig, joint_bones, smplx_rest=None) -> np.ndarray:
    """``A`` (3, 3): SMPL-X axes -> the target's armature axes (up, then left-right)."""
    rest_s = rest_joints() if smplx_rest is None else np.asarray(smplx_rest, float)
    index = {n: i for i, n in enumerate(target.bone_names)}

    def head(joint):
        return target.rest[index[joint_bones[joint][0]], :3, 3]

    world = rotation_part(target.object_matrix)
    up = world.T @ np.array([0.0, 0.0, 1.0])
    top = "neck" if "neck" in joint_bones else "head"
    body_up = _unit(head(top) - head("pelvis"), "pelvis-to-neck distance")
    if np.dot(body_up, up) < np.cos(np.radians(45)):  # the rig lies in its object: trust it
        k = int(np.argmax(np.abs(body_up)))
        up = np.zeros(3)
        up[k] = np.sign(body_up[k])
    left = head("left_shoulder") - head("right_shoulder")
    left_s = rest_s[JOINT_INDEX["left_shoulder"]] - rest_s[JOINT_INDEX["right_shoulder"]]
    f_t = _frame(up, left)
    f_s = _frame(np.array([0.0, 1.0, 0.0]), left_s)
    return f_t @ f_s.T


def build(target: TargetRig, joint_bones: dict, n_joints: int = 22, smplx_rest=None) -> Retarget:
    """Prepare retargeting of ``n_joints`` SMPL-X joints (22, or 55 with the hands) onto
    ``target`` with ``joint_bones`` (``{joint: (bone, ...)}``, essential joints mapped)."""
    rest_s = rest_joints() if smplx_rest is None else np.asarray(smplx_rest, float)
    index = {n: i for i, n in enumerate(target.bone_names)}
    for joint, chain in joint_bones.items():
        for b in chain:
            if b not in index:
                raise RetargetError(f"The bone map names '{b}' ({joint}), which the rig lacks")
    axes = body_axes(target, joint_bones, rest_s)
    used = {j: tuple(c) for j, c in joint_bones.items()
            if c and j in JOINT_INDEX and JOINT_INDEX[j] < n_joints}
    # bones taking part: keyed bones and all their ancestors, parents first
    keep = set()
    for chain in used.values():
        for b in chain:
            i = index[b]
            while i >= 0 and i not in keep:
                keep.add(i)
                i = target.parents[i]
    order = _parents_first(sorted(keep), target.parents)
    pos = {i: k for k, i in enumerate(order)}
    names = tuple(target.bone_names[i] for i in order)
    parent = np.array([pos.get(target.parents[i], -1) for i in order], dtype=np.int64)
    rest = target.rest[order]
    rest_rot = np.stack([rotation_part(m) for m in rest]) if len(order) else np.zeros((0, 3, 3))
    heads = rest[:, :3, 3].copy()

    bone_joint = {}
    for joint, chain in used.items():
        for k, b in enumerate(chain):
            bone_joint[b] = (JOINT_INDEX[joint], (k + 1) / len(chain))
    keyed_idx = [k for k, n in enumerate(names) if n in bone_joint]
    align = np.stack([_alignment(names[k], bone_joint[names[k]][0], joint_bones, index, target,
                                 rest_s, axes) for k in keyed_idx])
    return Retarget(
        keyed=tuple(names[k] for k in keyed_idx), n_joints=int(n_joints), joint_bones=used,
        names=names, parent=parent, rest_rot=rest_rot, heads=heads,
        key_index=np.array(keyed_idx, dtype=np.int64),
        key_joint=np.array([bone_joint[names[k]][0] for k in keyed_idx], dtype=np.int64),
        key_frac=np.array([bone_joint[names[k]][1] for k in keyed_idx]),
        align=align, axes=axes, world_rot=rotation_part(target.object_matrix))


def _parents_first(indices, parents) -> list[int]:
    keep = set(indices)
    depth = {}
    for i in indices:
        d, p = 0, parents[i]
        while p >= 0:
            d, p = d + 1, parents[p]
        depth[i] = d
    return sorted(keep, key=lambda i: (depth[i], i))


def _alignment(bone, j, joint_bones, index, target, rest_s, axes) -> np.ndarray:
    joint = JOINT_NAMES[j]
    if joint not in DIRECTION_CHILD or joint_bones[joint][-1] != bone:
        return np.eye(3)
    m = target.rest[index[bone]]
    child = DIRECTION_CHILD[joint]
    if child is not None and joint_bones.get(child):
        d_t = target.rest[index[joint_bones[child][0]], :3, 3] - m[:3, 3]
    else:
        d_t = rotation_part(m)[:, 1]
    if child is not None:
        d_s = rest_s[JOINT_INDEX[child]] - rest_s[j]
    else:
        d_s = rest_s[j] - rest_s[PARENTS[j]]
    d_s = axes @ d_s
    if np.linalg.norm(d_t) < 1e-9:
        d_t = rotation_part(m)[:, 1]
    side = joint.split("_")[0]
    if joint.endswith("_wrist") and joint_bones.get(f"{side}_index1") and joint_bones.get(f"{side}_pinky1"):
        s_t = (target.rest[index[joint_bones[f"{side}_index1"][0]], :3, 3]
               - target.rest[index[joint_bones[f"{side}_pinky1"][0]], :3, 3])
        s_s = axes @ (rest_s[JOINT_INDEX[f"{side}_index1"]] - rest_s[JOINT_INDEX[f"{side}_pinky1"]])
        try:
            return _frame(d_s, s_s) @ _frame(d_t, s_t).T
        except RetargetError:
            pass
    return rotation_between(d_t, d_s)


# ---- SMPL-X side -------------------------------------------------------------------------------
def model_joint_indices(n_joints: int) -> tuple[int, ...]:
    """SMPL-X indices of a model's joints: 22 (the body), 52 (body, then the 30 finger joints,
    SMPL-X 25-54), or all 55: the joint table ``core.skeleton.joint_set(n_joints)``."""
    return joint_set(n_joints).joints


def to_smplx_order(local_rot) -> np.ndarray:
    """(T, J, 3, 3) rotations of a model's J joints -> (T, 55, 3, 3) in SMPL-X order (joints the
    model lacks at identity); 22-joint motion passes through."""
    local = np.asarray(local_rot, dtype=np.float64)
    if local.shape[1] in (22, 55):
        return local
    out = np.broadcast_to(np.eye(3), (local.shape[0], 55, 3, 3)).copy()
    out[:, list(model_joint_indices(local.shape[1]))] = local
    return out



def smplx_globals(local_rot, n_joints: int = 55) -> np.ndarray:
    """Global rotations (T, 55, 3, 3) from local rotations (T, J, 3, 3), J <= 55 (joints past
    J at identity local rotation)."""
    local = np.asarray(local_rot, dtype=np.float64)
    t, j = local.shape[0], local.shape[1]
    g = np.empty((t, n_joints, 3, 3))
    for k in range(n_joints):
        r = local[:, k] if k < j else np.broadcast_to(np.eye(3), (t, 3, 3))
        p = PARENTS[k]
        g[:, k] = r if p < 0 else g[:, p] @ r
    return g


def _power(r, frac: float) -> np.ndarray:
    if frac == 1.0:
        return r
    return axis_angle_to_matrix(matrix_to_axis_angle(r) * frac)


# ---- forward -----------------------------------------------------------------------------------
def target_rotations(rt: Retarget, local_rot) -> np.ndarray:
    """Pose-bone rotation matrices (T, K, 3, 3) of ``rt.keyed`` for SMPL-X ``local_rot``."""
    return _forward(rt, local_rot)[1]


def target_poses(rt: Retarget, local_rot) -> np.ndarray:
    """Armature-space rotations (T, K, 3, 3) the keyed bones ``rt.keyed`` must show for SMPL-X
    ``local_rot`` (``P_b``; what core.bone_constraints.solve takes for constrained rigs)."""
    glob = _forward(rt, local_rot)[0]
    return glob[:, rt.key_index]


def _forward(rt: Retarget, local_rot) -> tuple[np.ndarray, np.ndarray]:
    """(armature-space rotations (T, R, 3, 3) of ``rt.names``, pose-bone rotations (T, K, 3, 3)
    of ``rt.keyed``) for SMPL-X ``local_rot``."""
    g = smplx_globals(to_smplx_order(local_rot), max(rt.n_joints, 22))
    a = rt.axes
    d = a @ g @ a.T  # (T, J, 3, 3) armature space
    t = d.shape[0]
    n = len(rt.names)
    glob = np.empty((t, n, 3, 3))
    out = np.empty((t, len(rt.keyed), 3, 3))
    slot = {int(i): k for k, i in enumerate(rt.key_index)}
    for i in range(n):
        m = rt.rest_rot[i]
        p = rt.parent[i]
        if i in slot:
            k = slot[i]
            j = int(rt.key_joint[k])
            frac = float(rt.key_frac[k])
            if frac == 1.0:
                rot = d[:, j]
            else:
                dp = d[:, PARENTS[j]] if PARENTS[j] >= 0 else np.broadcast_to(np.eye(3), d[:, j].shape)
                rot = dp @ _power(np.swapaxes(dp, -1, -2) @ d[:, j], frac)
            glob[:, i] = rot @ rt.align[k] @ m
            if p < 0:
                out[:, k] = m.T @ glob[:, i]
            else:
                out[:, k] = m.T @ rt.rest_rot[p] @ np.swapaxes(glob[:, p], -1, -2) @ glob[:, i]
        else:
            glob[:, i] = m if p < 0 else glob[:, p] @ rt.rest_rot[p].T @ m
    return glob, out


def to_target(rt: Retarget, local_rot) -> np.ndarray:
    """Pose-bone quaternions (T, K, 4) (w, x, y, z) of ``rt.keyed``, continuous in time and
    starting with w >= 0, for SMPL-X local rotations ``local_rot`` (T, J, 3, 3)."""
    q = matrix_to_quat(target_rotations(rt, local_rot))
    q = quat_make_continuous(q, axis=0)
    if q.shape[0]:
        q = q * np.where(q[:1, :, :1] < 0, -1.0, 1.0)
    return q


# ---- inverse -----------------------------------------------------------------------------------
def pose_globals(rt: Retarget, quats) -> tuple[np.ndarray, np.ndarray]:
    """Armature-space rotations (T, R, 3, 3) and head positions (T, R, 3) of ``rt.names`` for
    pose-bone quaternions ``quats`` (T, K, 4) of ``rt.keyed`` (others at rest)."""
    q = np.asarray(quats, dtype=np.float64)
    local = quat_to_matrix(q / np.linalg.norm(q, axis=-1, keepdims=True))
    t = q.shape[0]
    slot = {int(i): k for k, i in enumerate(rt.key_index)}
    n = len(rt.names)
    glob = np.empty((t, n, 3, 3))
    pos = np.empty((t, n, 3))
    for i in range(n):
        m = rt.rest_rot[i]
        p = rt.parent[i]
        base = m if p < 0 else glob[:, p] @ rt.rest_rot[p].T @ m
        glob[:, i] = base @ local[:, slot[i]] if i in slot else base
        if p < 0:
            pos[:, i] = rt.heads[i]
        else:
            off = rt.rest_rot[p].T @ (rt.heads[i] - rt.heads[p])
            pos[:, i] = pos[:, p] + (glob[:, p] @ off[:, None])[..., 0]
    return glob, pos


def to_smplx(rt: Retarget, quats, n_joints: int | None = None) -> np.ndarray:
    """SMPL-X local rotations (T, n_joints, 3, 3) of the target pose ``quats`` (T, K, 4) of
    ``rt.keyed``. Joints the map leaves out get the identity (their parent's rotation)."""
    glob, _ = pose_globals(rt, quats)
    return smplx_from_pose(rt, glob[:, rt.key_index], n_joints)


def smplx_from_pose(rt: Retarget, keyed_rot, n_joints: int | None = None) -> np.ndarray:
    """SMPL-X local rotations (T, n_joints, 3, 3) from the armature-space rotations
    (T, K, 3, 3) of ``rt.keyed`` (e.g. the evaluated pose of a rig with constraints)."""
    n_joints = rt.n_joints if n_joints is None else int(n_joints)
    keyed_rot = np.asarray(keyed_rot, dtype=np.float64)
    t = keyed_rot.shape[0]
    kslot = {n: k for k, n in enumerate(rt.keyed)}
    a = rt.axes
    g = np.empty((t, n_joints, 3, 3))
    for j in range(n_joints):
        chain = rt.joint_bones.get(JOINT_NAMES[j])
        if chain:
            k = kslot[chain[-1]]
            i = int(rt.key_index[k])
            d = keyed_rot[:, k] @ rt.rest_rot[i].T @ rt.align[k].T
            g[:, j] = a.T @ d @ a
        else:
            g[:, j] = g[:, PARENTS[j]] if PARENTS[j] >= 0 else np.eye(3)
    local = np.empty_like(g)
    for j in range(n_joints):
        p = PARENTS[j]
        local[:, j] = g[:, j] if p < 0 else np.swapaxes(g[:, p], -1, -2) @ g[:, j]
    return local


# ---- constrained rigs ----------------------------------------------------------------------------
def key_under_parent(rest, parent_rest, parent_pose, wanted, previous) -> tuple[np.ndarray, float]:
    """Keys for a bone whose parent's pose is only known from the evaluated rig (constraints).

    ``rest``, ``parent_rest`` (3, 3): the bone's and its parent's rest rotations ``M_b``, ``M_p``
    in armature space; ``parent_pose`` (N, 3, 3): the parent's evaluated armature-space rotations
    ``P_p``; ``wanted`` (N, 3, 3): the armature-space rotations ``P_b`` the bone must show;
    ``previous`` (N, 4): the keys it has now. Returns the pose-bone quaternions (N, 4)
    ``Q = M_b^T M_p P_p^T P_b``, continuous over time and in ``previous``' hemisphere at the
    first frame, and the largest angle between them and ``previous``, in degrees (0 for N = 0)."""
    previous = np.asarray(previous, dtype=np.float64)
    local = (np.asarray(rest).T @ np.asarray(parent_rest) @ np.swapaxes(parent_pose, -1, -2)
             @ np.asarray(wanted))
    q = quat_make_continuous(matrix_to_quat(local), axis=0)
    q *= np.where(np.sum(q[:1] * previous[:1], -1, keepdims=True) < 0, -1.0, 1.0)
    dots = np.clip(np.abs(np.sum(q * previous, -1)), 0.0, 1.0)
    return q, float(np.degrees(2 * np.arccos(dots)).max(initial=0.0))


# ---- measuring ---------------------------------------------------------------------------------
def smplx_world_positions(local_rot, smplx_rest=None) -> np.ndarray:
    """Joint positions (T, 55, 3) of the SMPL-X character (Blender world: Z up, metres)."""
    from .skeleton import Y_UP_TO_Z_UP

    rest_s = rest_joints() if smplx_rest is None else np.asarray(smplx_rest, float)
    g = smplx_globals(local_rot)
    pos = np.empty(g.shape[:2] + (3,))
    pos[:, 0] = rest_s[0]
    for j in range(1, 55):
        p = PARENTS[j]
        pos[:, j] = pos[:, p] + (g[:, p] @ (rest_s[j] - rest_s[p]))
    return pos @ Y_UP_TO_Z_UP.T


def direction_angles(a, b) -> np.ndarray:
    """Angles in degrees between direction vectors ``a`` and ``b`` (..., 3)."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(a * b, -1), -1.0, 1.0)))
