"""BVH files: reading any channel order and unit, writing, and the conversion to SMPL-X through
the rest pose (core.bvh, core.bvh_smplx)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.bone_map import BoneMap, BoneMapError
from core.bvh import BvhError, local_rotations, parse_bvh, read_bvh, root_positions, unit_scale
from core.bvh_smplx import bvh_to_smplx
from core.retarget import direction_angles, smplx_world_positions
from core.rotations import axis_angle_to_matrix, quat_to_matrix
from core.skeleton import HAND_JOINTS, JOINT_INDEX, hand_mean
from core.smplx_npz import read_smplx_npz
from core.timeline import resample_rotations
from tests.core.bvh_takes import ROKOKO, write_take

EXCERPT = Path(__file__).resolve().parents[1] / "data" / "beat2_excerpt" / "2_scott_0_1_1_excerpt.npz"
ARM_SPINE = [("pelvis", "spine1"), ("spine1", "spine2"), ("spine2", "spine3"), ("spine3", "neck")] + [
    (f"{s}_{a}", f"{s}_{b}") for s in ("left", "right")
    for a, b in (("collar", "shoulder"), ("shoulder", "elbow"), ("elbow", "wrist"))]
FINGERS = [(f"{s}_{f}{k}", f"{s}_{f}{k + 1}") for s in ("left", "right")
           for f in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2)]

SMALL = """HIERARCHY
ROOT Hips
{
  OFFSET 0 90 0
  CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
  JOINT Chest
  {
    OFFSET 0 20 0
    CHANNELS 3 Yrotation Zrotation Xrotation
    End Site
    {
      OFFSET 0 10 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
1 90 2 10 20 30 40 50 60
0 91 0 0 0 0 0 0 90
"""


def _rot(axis, deg):
    return axis_angle_to_matrix(np.asarray(axis, float) * np.radians(deg))


def test_channels_compose_in_the_listed_order():
    clip = parse_bvh(SMALL)
    assert clip.names == ("Hips", "Chest") and clip.parents == (-1, 0) and clip.fps == 30.0
    local = local_rotations(clip)
    x, y, z = np.eye(3)
    np.testing.assert_allclose(local[0, 0], _rot(x, 10) @ _rot(y, 20) @ _rot(z, 30), atol=1e-12)
    np.testing.assert_allclose(local[0, 1], _rot(y, 40) @ _rot(z, 50) @ _rot(x, 60), atol=1e-12)
    np.testing.assert_allclose(local[1, 1], _rot(x, 90), atol=1e-12)
    np.testing.assert_allclose(root_positions(clip), [[1, 90, 2], [0, 91, 0]])
    np.testing.assert_allclose(clip.end_offsets[1], [0, 10, 0])
    assert unit_scale(clip) == 0.01  # 120 units tall: centimetres


@pytest.mark.parametrize("text, message", [
    ("ROOT Hips\n", "does not start with HIERARCHY"),
    (SMALL.replace("CHANNELS 3 Yrotation", "CHANNELS 3 Wrotation"), "line 9: CHANNELS 3"),
    (SMALL.replace("Frames: 2", "Frames: 3"), "3 frames of 9 channels announced"),
    (SMALL.replace("0 91 0", "0 nine 0"), "not a number"),
    (SMALL.replace("Frame Time: 0.0333333", "Frame Time: 0"), "Frame Time"),
])
def test_bad_files_are_named_with_the_problem(text, message):
    with pytest.raises(BvhError, match=message):
        parse_bvh(text, "take.bvh")


def _errors(source, converted, pairs):
    pa, pb = smplx_world_positions(source), smplx_world_positions(converted)
    return np.concatenate([direction_angles(pa[:, JOINT_INDEX[b]] - pa[:, JOINT_INDEX[a]],
                                            pb[:, JOINT_INDEX[b]] - pb[:, JOINT_INDEX[a]]) for a, b in pairs])


@pytest.mark.parametrize("case", [
    dict(a_pose=40.0, scale=100.0, out_fps=60.0),  # Mixamo-named A-pose in centimetres at 60 fps
    dict(a_pose=40.0, scale=100.0, out_fps=50.0),  # ... at a rate that is no multiple of 30
    dict(a_pose=None, scale=1.0, out_fps=30.0,  # T-pose, metres, Z up
         to_armature=np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])),
])
def test_a_take_converts_back_to_the_source_motion(case, tmp_path):
    """The excerpt's motion, retargeted onto a rig with random bone rolls, an extra root and twist
    bones (core.retarget.to_target), written as BVH, comes back through the rest pose with its
    arm and spine directions (and fingers) within 3 degrees (median) and 8 degrees (95th pct)."""
    source = read_smplx_npz(EXCERPT).local_rot.astype(np.float64)
    path = write_take(tmp_path / "take.bvh", source, 30.0, **case)
    converted = bvh_to_smplx(read_bvh(path))
    assert converted.bone_map.scheme == "mixamo" and converted.fingers
    assert converted.fps == case["out_fps"] and converted.unit == 1.0 / case["scale"]
    back = quat_to_matrix(resample_rotations(converted.local_rot, converted.fps, 30.0, n_out=len(source)))
    arms = _errors(source, back, ARM_SPINE)
    fingers = _errors(source, back, FINGERS)
    print(f"{case}: arm/spine median {np.median(arms):.3f} p95 {np.percentile(arms, 95):.3f} deg; "
          f"fingers median {np.median(fingers):.3f} p95 {np.percentile(fingers, 95):.3f} deg")
    assert np.median(arms) < 3.0 and np.percentile(arms, 95) < 8.0
    assert np.median(fingers) < 3.0 and np.percentile(fingers, 95) < 8.0


def test_rokoko_fingers_are_detected(tmp_path):
    source = read_smplx_npz(EXCERPT).local_rot[:30].astype(np.float64)
    converted = bvh_to_smplx(read_bvh(write_take(tmp_path / "take.bvh", source, names=ROKOKO)))
    assert converted.bone_map.scheme == "rokoko" and converted.fingers
    assert converted.bone_map.joints["left_thumb1"] == ("LeftFinger1Metacarpal",)
    assert converted.bone_map.joints["right_index1"] == ("RightFinger2Proximal",)
    assert _errors(source, converted.local_rot, FINGERS + ARM_SPINE).max() < 0.01


def test_a_take_without_fingers_gets_relaxed_hands(tmp_path):
    source = read_smplx_npz(EXCERPT).local_rot[:20].astype(np.float64)
    converted = bvh_to_smplx(read_bvh(write_take(tmp_path / "take.bvh", source, fingers=False)))
    assert not converted.fingers
    relaxed = axis_angle_to_matrix(hand_mean())
    np.testing.assert_allclose(converted.local_rot[:, list(HAND_JOINTS)],
                               np.broadcast_to(relaxed, (20, 30, 3, 3)), atol=1e-9)
    assert _errors(source, converted.local_rot, ARM_SPINE).max() < 0.01


def test_odd_names_need_a_bone_map(tmp_path):
    clip = parse_bvh(SMALL)
    with pytest.raises(BoneMapError):
        bvh_to_smplx(clip, name="odd.bvh")
    with pytest.raises(BoneMapError, match="no such bone"):
        bvh_to_smplx(clip, BoneMap({"pelvis": ("Hips",), "spine1": ("Spine",)}), name="odd.bvh")
