"""Build core/assets/mannequin.npz from the mannequin-x 0.3.0 package (Apache-2.0).

mannequin-x needs numpy >= 2 while bpy needs numpy < 2, so run this in a throwaway venv:

    python3.11 -m venv /tmp/mqvenv
    /tmp/mqvenv/bin/pip install mannequin-x==0.3.0
    /tmp/mqvenv/bin/python tools/make_mannequin_asset.py

No SMPL-X model file is read or needed: everything comes from the mannequin-x package
(its calibrated skeleton ``smplx_calibration.npz`` and its skinned ``wooden`` mannequin).

What is written (all plain arrays, loadable with ``allow_pickle=False``):

- ``joint_names`` (55,) unicode, ``parents`` (55,) int32: SMPL-X order (core.skeleton).
- ``rest_joints`` (55, 3) float32, SMPL-X Y-up metres, neutral shape (10 betas = 0):
  mannequin-x ``smplx_calibration.npz`` ``joint_rest`` (54 joints, mannequin order) mapped
  to SMPL-X order: mannequin 0-21 are SMPL-X 0-21 (Torso/Spine/Chest = spine1/2/3,
  L_/R_Thorax = collars, L_/R_Toe = feet), mannequin 24-53 (fingers) are SMPL-X 25-54, and
  the zero-length L_Hand/R_Hand (22/23, at the wrists) are dropped. The mannequin has no
  jaw and no eyes; they are placed from the neutral head bounding box
  ``head_min_rest``/``head_max_rest`` of the calibration (lo, hi, size s = hi - lo,
  centre c = (lo + hi) / 2), see :func:`face_joints`:
    * jaw   = (c_x,               lo_y + 0.30 s_y, c_z + 0.20 s_z)
    * eyes  = (c_x +- 0.17 s_x,   lo_y + 0.50 s_y, hi_z - 0.12 s_z)   (left eye at +x)
  i.e. eyes at mid head height (the classical facial proportion), about 31 mm either side
  of the midline (half a typical 63 mm interpupillary distance) and about 29 mm behind the
  front of the head; the jaw pivot below and in front of the head centre. These are
  approximations for rotation pivots only (the mannequin mesh has no jaw or eye geometry).
- The skinned ``wooden`` mannequin (``Mannequin("wooden", flat_hand_mean=True)``, neutral
  shape) in the pose where every local rotation is identity (zero body pose, flat hands):
  ``mesh_vertices`` (V, 3) float32 (its rest vertices, ``_identity["skin_vertices"]``),
  ``mesh_faces`` (F, 3) int32, and its runtime binding after construction
  (``_skin_joint_indices``/``_skin_weights``: reduced to the 4 strongest influences,
  renormalised, rigid parts assigned wholly to one joint) as ``skin_joints`` (V, 4) int16
  SMPL-X joint indices (L_Hand/R_Hand -> left_wrist/right_wrist, which carry the same
  transform since the hand joints have zero length and are never rotated) and
  ``skin_weights`` (V, 4) float32.

Linear blend skinning with these arrays and core.fk on ``rest_joints`` reproduces
``Mannequin.vertices(pose)``; the script checks that on a random pose before writing.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from core.fk import forward_kinematics  # noqa: E402
from core.rotations import axis_angle_to_matrix  # noqa: E402
from core.skeleton import JOINT_NAMES, PARENTS  # noqa: E402

ASSETS = os.path.join(REPO, "core", "assets")
PACKAGE = "mannequin-x"
VERSION = "0.3.0"

# mannequin joint index (54) -> SMPL-X joint index (55)
MANNEQUIN_TO_SMPLX = np.array(list(range(22)) + [20, 21] + list(range(25, 55)), dtype=np.int64)
JAW, LEFT_EYE, RIGHT_EYE = 22, 23, 24


def face_joints(head_min: np.ndarray, head_max: np.ndarray) -> np.ndarray:
    """(3, 3) jaw, left eye, right eye positions from the head bounding box (Y up, +x left)."""
    lo, hi = np.asarray(head_min, np.float64), np.asarray(head_max, np.float64)
    s, c = hi - lo, 0.5 * (lo + hi)
    jaw = (c[0], lo[1] + 0.30 * s[1], c[2] + 0.20 * s[2])
    eye_y, eye_z = lo[1] + 0.50 * s[1], hi[2] - 0.12 * s[2]
    left = (c[0] + 0.17 * s[0], eye_y, eye_z)
    right = (c[0] - 0.17 * s[0], eye_y, eye_z)
    return np.array([jaw, left, right])


def lbs(vertices, rest_joints, skin_joints, skin_weights, positions, global_rot):
    """Linear blend skinning (V, 3) with FK results for one pose."""
    rel = vertices[:, None, :] - rest_joints[skin_joints]  # (V, 4, 3)
    moved = np.einsum("vkij,vkj->vki", global_rot[skin_joints], rel) + positions[skin_joints]
    return np.sum(moved * skin_weights[..., None], axis=1)


def main() -> None:
    from mannequin import Mannequin  # noqa: PLC0415 (only in the throwaway venv)

    version = importlib.metadata.version(PACKAGE)
    if version != VERSION:
        raise SystemExit(f"need {PACKAGE}=={VERSION}, found {version}")

    m = Mannequin("wooden", flat_hand_mean=True)  # neutral shape by default
    names = list(m._weights.joint_names)
    if len(names) != 54 or names[22:24] != ["L_Hand", "R_Hand"]:
        raise SystemExit(f"unexpected mannequin joints: {names}")
    parents_m = np.asarray(m._weights.parents)
    # the mapped parent table must be SMPL-X's (hands collapse onto the wrists)
    for jm, js in enumerate(MANNEQUIN_TO_SMPLX):
        if jm in (22, 23) or jm == 0:
            continue
        if MANNEQUIN_TO_SMPLX[parents_m[jm]] != PARENTS[js]:
            raise SystemExit(f"parent mismatch at mannequin joint {names[jm]}")

    cal = m._calibration
    joint_rest_m = np.asarray(cal.joint_rest, np.float64)  # (54, 3), betas = 0
    if not np.allclose(joint_rest_m[22], joint_rest_m[20]) or not np.allclose(
        joint_rest_m[23], joint_rest_m[21]
    ):
        raise SystemExit("L_Hand/R_Hand are expected to sit at the wrists")
    rest = np.zeros((55, 3))
    keep = [j for j in range(54) if j not in (22, 23)]
    rest[MANNEQUIN_TO_SMPLX[keep]] = joint_rest_m[keep]
    rest[[JAW, LEFT_EYE, RIGHT_EYE]] = face_joints(cal.head_min_rest, cal.head_max_rest)
    rest32 = rest.astype(np.float32)

    bind = np.asarray(m._identity["skin_bind_positions"], np.float64)
    print(f"skin bind joints vs calibration joint_rest: {np.abs(bind - joint_rest_m).max():.2e} m")

    verts = np.asarray(m._identity["skin_vertices"], np.float64)
    faces = np.asarray(m.faces).astype(np.int32)
    skin_m = np.asarray(m._skin_joint_indices)
    weights = np.asarray(m._skin_weights, np.float64)
    skin = MANNEQUIN_TO_SMPLX[skin_m].astype(np.int16)
    weights = weights / weights.sum(axis=1, keepdims=True)

    # check 1: the mannequin's rest pose is the all-identity pose
    rest_pose = m.rest_pose()
    err_rest = np.abs(m.vertices(rest_pose) - verts).max()
    print(f"rest-pose vertices vs stored vertices: {err_rest:.2e} m")

    # check 2: LBS with our FK reproduces Mannequin.vertices for a random pose
    rng = np.random.default_rng(0)
    pose = m.rest_pose()
    pose["body_pose"] = (0.4 * rng.standard_normal((21, 3))).astype(np.float32)
    pose["hand_pose"] = (0.3 * rng.standard_normal((30, 3))).astype(np.float32)
    pose["pelvis_rotation"] = (0.4 * rng.standard_normal(3)).astype(np.float32)
    pose["global_translation"] = np.array([0.1, -0.2, 0.3], np.float32)
    expected = np.asarray(m.vertices(pose), np.float64)
    aa = np.zeros((55, 3))
    aa[0] = pose["pelvis_rotation"]
    aa[1:22] = pose["body_pose"]
    aa[25:55] = pose["hand_pose"]
    rest_q = rest32.astype(np.float64)
    offsets = rest_q - rest_q[np.maximum(np.asarray(PARENTS), 0)]
    offsets[0] = rest_q[0]
    pos, rot = forward_kinematics(
        axis_angle_to_matrix(aa), offsets, PARENTS, root_translation=pose["global_translation"]
    )
    ours = lbs(verts.astype(np.float32).astype(np.float64), rest_q, skin, weights, pos, rot)
    err_pose = np.abs(ours - expected).max()
    print(f"random pose: max vertex error LBS+FK vs Mannequin.vertices: {err_pose:.2e} m")
    jt = m.joint_transforms(pose)[..., :3, 3]
    err_joints = np.abs(pos[MANNEQUIN_TO_SMPLX[keep]] - jt[keep]).max()
    print(f"random pose: max joint error FK vs Mannequin.joint_transforms: {err_joints:.2e} m")
    if max(err_rest, err_pose, err_joints) > 1e-4:
        raise SystemExit("verification failed; asset not written")

    os.makedirs(ASSETS, exist_ok=True)
    out = os.path.join(ASSETS, "mannequin.npz")
    np.savez_compressed(
        out,
        joint_names=np.array(JOINT_NAMES, dtype="<U32"),
        parents=np.array(PARENTS, dtype=np.int32),
        rest_joints=rest32,
        mesh_vertices=verts.astype(np.float32),
        mesh_faces=faces,
        skin_joints=skin,
        skin_weights=weights.astype(np.float32),
        hand_mean=np.asarray(cal.hand_mean, np.float32).reshape(30, 3),
    )
    print(f"wrote {out}: {os.path.getsize(out) / 1e6:.2f} MB, {len(verts)} vertices, {len(faces)} faces")
    print("pelvis", rest32[0], "jaw", rest32[JAW], "eyes", rest32[LEFT_EYE], rest32[RIGHT_EYE])

    dist = importlib.metadata.distribution(PACKAGE)
    lic = [f for f in dist.files or [] if f.name in ("LICENSE", "LICENSE.txt")]
    if not lic:
        raise SystemExit("licence file not found in the mannequin-x dist-info")
    text = lic[0].read_text()
    if "Apache License" not in text:
        raise SystemExit("unexpected licence text")
    with open(os.path.join(ASSETS, "LICENSE-mannequin-x.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote", os.path.join(ASSETS, "LICENSE-mannequin-x.txt"))


if __name__ == "__main__":
    main()
