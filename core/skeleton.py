"""SMPL-X joint table, body subset, left/right mirror and the licence-clean rest skeleton.

Joint order is SMPL-X order (55 joints); the Audio2Gestures model uses the first 22 (pelvis
and the 21 body joints). Positions are SMPL-X world: Y up, metres. Blender is Z up; convert
points with :func:`y_up_to_z_up` and rotations with :data:`Y_UP_TO_Z_UP`
(``R_zup = C @ R_yup @ C.T``).

The rest skeleton comes from ``core/assets/mannequin.npz`` (derived from mannequin-x 0.3.0,
Apache-2.0; see core/assets/NOTICE.md). No SMPL-X model file is used.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

__all__ = [
    "JOINT_NAMES",
    "PARENTS",
    "NUM_JOINTS",
    "NUM_BODY_JOINTS",
    "BODY_JOINT_NAMES",
    "BODY_PARENTS",
    "MIRROR",
    "BODY_MIRROR",
    "HAND_JOINTS",
    "JointSet",
    "BODY",
    "BODY_HANDS",
    "FULL",
    "JOINT_SETS",
    "joint_set",
    "model_joint_indices",
    "model_columns",
    "relax_missing_fingers",
    "subset_parents",
    "JOINT_INDEX",
    "Y_UP_TO_Z_UP",
    "Z_UP_TO_Y_UP",
    "Y_UP_TO_Z_UP_QUAT",
    "MIRROR_MATRIX",
    "ASSET_PATH",
    "load_mannequin_asset",
    "rest_joints",
    "rest_offsets",
    "body_rest_offsets",
    "y_up_to_z_up",
    "z_up_to_y_up",
    "rotations_y_up_to_z_up",
    "mirror_rotations",
    "mirror_positions",
]

_FINGERS = ("index", "middle", "pinky", "ring", "thumb")  # SMPL-X order: pinky before ring

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw",
    "left_eye_smplhf", "right_eye_smplhf",
) + tuple(
    f"{side}_{finger}{k}" for side in ("left", "right") for finger in _FINGERS for k in (1, 2, 3)
)  # fmt: skip

PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)  # fmt: skip

NUM_JOINTS = 55
NUM_BODY_JOINTS = 22
BODY_JOINT_NAMES: tuple[str, ...] = JOINT_NAMES[:NUM_BODY_JOINTS]
BODY_PARENTS: tuple[int, ...] = PARENTS[:NUM_BODY_JOINTS]
JOINT_INDEX: dict[str, int] = {n: i for i, n in enumerate(JOINT_NAMES)}


def _mirror_name(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name


#: MIRROR[j] is the joint that j maps to under a left/right mirror (an involution).
MIRROR: tuple[int, ...] = tuple(JOINT_INDEX[_mirror_name(n)] for n in JOINT_NAMES)
BODY_MIRROR: tuple[int, ...] = MIRROR[:NUM_BODY_JOINTS]

#: The 30 finger joints (left hand 15, then right hand 15), SMPL-X indices 25-54.
HAND_JOINTS: tuple[int, ...] = tuple(range(25, NUM_JOINTS))


@dataclass(frozen=True)
class JointSet:
    """A named table of SMPL-X joints in a fixed order: the joints a motion has, column by
    column (as smplx keeps its joint tables). Pass these rather than counts and flags."""

    name: str
    joints: tuple[int, ...]  # SMPL-X index of each column

    def __len__(self) -> int:
        return len(self.joints)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(JOINT_NAMES[j] for j in self.joints)

    @property
    def hands(self) -> bool:
        """The set has finger joints."""
        return any(j in _HAND_SET for j in self.joints)

    def columns(self, joints) -> tuple[int, ...]:
        """The columns of SMPL-X joints ``joints`` in this set; ValueError for one it lacks."""
        where = {j: k for k, j in enumerate(self.joints)}
        try:
            return tuple(where[int(j)] for j in joints)
        except KeyError as exc:
            raise ValueError(f"the {self.name} joint set has no joint "
                             f"{JOINT_NAMES[exc.args[0]]}") from None


_HAND_SET = frozenset(HAND_JOINTS)
#: the joints a body-only model drives: pelvis and the 21 body joints
BODY = JointSet("body", tuple(range(NUM_BODY_JOINTS)))
#: a model with hands: the body, then the 30 finger joints (jaw and eyes are never driven)
BODY_HANDS = JointSet("body + hands", BODY.joints + HAND_JOINTS)
#: every SMPL-X joint (motion files: AMASS, BEAT2)
FULL = JointSet("full SMPL-X", tuple(range(NUM_JOINTS)))
JOINT_SETS: tuple[JointSet, ...] = (BODY, BODY_HANDS, FULL)


def joint_set(which) -> JointSet:
    """The joint set ``which`` names: a :class:`JointSet` as it is, or a motion's joint count
    (22, 52 or 55); ValueError otherwise."""
    if isinstance(which, JointSet):
        return which
    for s in JOINT_SETS:
        if len(s) == int(which):
            return s
    raise ValueError(f"a motion has 22, 52 or 55 SMPL-X joints, not {which}")


def model_joint_indices(hands: bool = False) -> tuple[int, ...]:
    """SMPL-X indices of the joints a model drives, in the model's order: the 22 body joints,
    then with ``hands`` the 30 finger joints (52 in all). Jaw and eyes are never driven."""
    return (BODY_HANDS if hands else BODY).joints


def model_columns(joints, hands: bool) -> tuple[int, ...]:
    """For SMPL-X joint indices ``joints``, their columns in a model's output (the order of
    :func:`model_joint_indices`); ValueError for a joint the model does not drive."""
    where = {j: k for k, j in enumerate(model_joint_indices(hands))}
    try:
        return tuple(where[int(j)] for j in joints)
    except KeyError as exc:
        raise ValueError(f"model_columns: the model does not drive joint "
                         f"{JOINT_NAMES[exc.args[0]]}") from None


def relax_missing_fingers(local_rot, present) -> np.ndarray:
    """Model-order local rotations (T, 52, 3, 3) with every finger joint whose SMPL-X index is
    not in ``present`` set to the relaxed mean hand (:func:`hand_mean`), e.g. for a pinned
    action that keys no fingers. Body-only (T, 22, 3, 3) motion is returned as it is."""
    rot = np.asarray(local_rot)
    if rot.shape[1] == NUM_BODY_JOINTS:
        return rot
    if rot.shape[1] != NUM_BODY_JOINTS + len(HAND_JOINTS):
        raise ValueError(f"relax_missing_fingers: expected 22 or 52 joints, got {rot.shape[1]}")
    from .rotations import axis_angle_to_matrix

    have = {int(j) for j in present}
    missing = [k for k, j in enumerate(HAND_JOINTS) if j not in have]
    if not missing:
        return rot
    out = rot.copy()
    mean = axis_angle_to_matrix(hand_mean()[missing]).astype(out.dtype)
    out[:, [NUM_BODY_JOINTS + k for k in missing]] = mean[None]
    return out


def subset_parents(indices) -> tuple[int, ...]:
    """Parents of a joint subset, as positions in ``indices`` (-1 for the root). Every parent
    of a joint in the subset must be in it (true of :func:`model_joint_indices`)."""
    indices = tuple(int(i) for i in indices)
    where = {j: k for k, j in enumerate(indices)}
    out = []
    for j in indices:
        p = PARENTS[j]
        if p != -1 and p not in where:
            raise ValueError(f"subset_parents: joint {JOINT_NAMES[j]} needs its parent {JOINT_NAMES[p]}")
        out.append(-1 if p == -1 else where[p])
    return tuple(out)

#: Reflection across the x = 0 plane (SMPL-X: +x is the body's left).
MIRROR_MATRIX = np.diag([-1.0, 1.0, 1.0])
MIRROR_MATRIX.setflags(write=False)

#: Y-up (SMPL-X) to Z-up (Blender): +90 degrees about X, (x, y, z) -> (x, -z, y).
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
Y_UP_TO_Z_UP.setflags(write=False)
Z_UP_TO_Y_UP = Y_UP_TO_Z_UP.T.copy()
Z_UP_TO_Y_UP.setflags(write=False)
#: The same rotation as a quaternion (w, x, y, z).
Y_UP_TO_Z_UP_QUAT = np.array([np.sqrt(0.5), np.sqrt(0.5), 0.0, 0.0])
Y_UP_TO_Z_UP_QUAT.setflags(write=False)

ASSET_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "mannequin.npz")


@functools.lru_cache(maxsize=1)
def _load_asset() -> dict[str, np.ndarray]:
    if not os.path.exists(ASSET_PATH):
        raise FileNotFoundError(
            f"mannequin asset missing: {ASSET_PATH} (generate it with tools/make_mannequin_asset.py)"
        )
    with np.load(ASSET_PATH, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    names = tuple(str(n) for n in data["joint_names"])
    if names != JOINT_NAMES:
        raise ValueError(f"{ASSET_PATH}: joint_names do not match SMPL-X order")
    for v in data.values():
        v.setflags(write=False)
    return data


def load_mannequin_asset() -> dict[str, np.ndarray]:
    """All arrays of core/assets/mannequin.npz as a dict of (writable) copies.

    Keys: ``joint_names`` (55,), ``parents`` (55,) int32, ``rest_joints`` (55, 3) float32,
    ``mesh_vertices`` (V, 3) float32 (Y up, rest pose with every local rotation identity),
    ``mesh_faces`` (F, 3) int32, ``skin_joints`` (V, 4) int16 (SMPL-X joint indices),
    ``skin_weights`` (V, 4) float32 (rows sum to 1), ``hand_mean`` (30, 3) float32 (the
    relaxed mean hand pose, axis-angle, left 15 finger joints then right 15).
    """
    return {k: v.copy() for k, v in _load_asset().items()}


def hand_mean() -> np.ndarray:
    """The relaxed mean hand pose (30, 3) axis-angle (left 15 finger joints, then right 15).

    AMASS/BEAT2 files stored with ``flat_hand_mean=False`` hold finger rotations as offsets
    from this pose: zero hand values mean "relaxed hand".
    """
    asset = _load_asset()
    if "hand_mean" not in asset:
        raise ValueError(f"{ASSET_PATH} has no 'hand_mean' (30, 3): regenerate it with "
                         "tools/make_mannequin_asset.py (mannequin-x smplx_calibration.npz)")
    mean = np.array(asset["hand_mean"], dtype=np.float64)
    if mean.shape != (30, 3):
        raise ValueError(f"{ASSET_PATH}: 'hand_mean' has shape {mean.shape}, expected (30, 3)")
    return mean


def rest_joints() -> np.ndarray:
    """Neutral rest joint positions (55, 3) float64, SMPL-X order, Y up, metres."""
    return _load_asset()["rest_joints"].astype(np.float64)


def rest_offsets(joints=None) -> np.ndarray:
    """Offset of each joint from its parent, (J, 3) float64.

    ``joints``: (J, 3) rest positions with J = 55 (or 22 for the body subset); defaults to
    :func:`rest_joints`. Row 0 (the root) holds the absolute pelvis position.
    """
    j = rest_joints() if joints is None else np.asarray(joints, dtype=np.float64)
    if j.ndim != 2 or j.shape[1] != 3 or j.shape[0] not in (NUM_JOINTS, NUM_BODY_JOINTS):
        raise ValueError(f"rest_offsets: expected joints of shape (55, 3) or (22, 3), got {j.shape}")
    parents = np.asarray(PARENTS[: j.shape[0]])
    off = j - j[np.maximum(parents, 0)]
    off[0] = j[0]
    return off


def body_rest_offsets() -> np.ndarray:
    """Rest offsets (22, 3) float64 of the body joints 0-21 (see :func:`rest_offsets`)."""
    return rest_offsets()[:NUM_BODY_JOINTS]


def y_up_to_z_up(points) -> np.ndarray:
    """Points (..., 3) from SMPL-X Y-up to Blender Z-up: (x, y, z) -> (x, -z, y)."""
    p = np.asarray(points)
    if p.ndim < 1 or p.shape[-1] != 3:
        raise ValueError(f"y_up_to_z_up: expected shape (..., 3), got {p.shape}")
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], -1)


def z_up_to_y_up(points) -> np.ndarray:
    """Inverse of :func:`y_up_to_z_up`: (x, y, z) -> (x, z, -y)."""
    p = np.asarray(points)
    if p.ndim < 1 or p.shape[-1] != 3:
        raise ValueError(f"z_up_to_y_up: expected shape (..., 3), got {p.shape}")
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1)


def rotations_y_up_to_z_up(rot) -> np.ndarray:
    """World-frame rotation matrices (..., 3, 3) from Y-up to Z-up: C @ R @ C.T.

    Only for rotations expressed in the world frame (e.g. the root's global orientation);
    local joint rotations are unchanged when bones are built as in smplx.md.
    """
    r = np.asarray(rot)
    if r.ndim < 2 or r.shape[-2:] != (3, 3):
        raise ValueError(f"rotations_y_up_to_z_up: expected shape (..., 3, 3), got {r.shape}")
    c = Y_UP_TO_Z_UP.astype(r.dtype if r.dtype in (np.float32, np.float64) else np.float64)
    return c @ r @ c.T


def _mirror_perm(n: int, fn: str) -> np.ndarray:
    if n == NUM_JOINTS:
        return np.asarray(MIRROR)
    if n in (NUM_BODY_JOINTS, NUM_BODY_JOINTS + len(HAND_JOINTS)):  # model joints, with or without hands
        indices = model_joint_indices(hands=n > NUM_BODY_JOINTS)
        where = {j: k for k, j in enumerate(indices)}
        return np.asarray([where[MIRROR[j]] for j in indices])
    raise ValueError(f"{fn}: joint axis must have 22, 52 or 55 joints, got {n}")


def mirror_rotations(local_rot) -> np.ndarray:
    """Left/right mirror of local rotation matrices (..., J, 3, 3), J = 22, 52 (the model's
    body + finger joints, :func:`model_joint_indices`) or 55.

    Swaps the left/right joint pairs and reflects across the x = 0 plane:
    R'_j = M R_{mirror(j)} M with M = diag(-1, 1, 1). Applying it twice is the identity.
    Pair with :func:`mirror_positions` for the root translation.
    """
    r = np.asarray(local_rot)
    if r.ndim < 3 or r.shape[-2:] != (3, 3):
        raise ValueError(f"mirror_rotations: expected shape (..., J, 3, 3), got {r.shape}")
    out = r[..., _mirror_perm(r.shape[-3], "mirror_rotations"), :, :].copy()
    # M R M negates the entries with exactly one index equal to 0.
    out[..., 0, 1:] *= -1
    out[..., 1:, 0] *= -1
    return out


def mirror_positions(points, swap_joints: bool = True) -> np.ndarray:
    """Mirror positions (..., 3) across x = 0; with ``swap_joints`` the axis -2 must be
    a 22- or 55-joint axis and left/right joints are swapped as well."""
    p = np.asarray(points)
    if p.ndim < 1 or p.shape[-1] != 3:
        raise ValueError(f"mirror_positions: expected shape (..., 3), got {p.shape}")
    if swap_joints:
        if p.ndim < 2:
            raise ValueError(f"mirror_positions: expected shape (..., J, 3), got {p.shape}")
        p = p[..., _mirror_perm(p.shape[-2], "mirror_positions"), :]
    out = p.copy()
    out[..., 0] *= -1
    return out
