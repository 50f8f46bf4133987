"""core.retarget: SMPL-X motion onto rigs with other rests, rolls, units and object transforms."""

import numpy as np
import pytest

from core import retarget as rt
from core import skeleton as sk
from core.rotations import axis_angle_to_matrix, geodesic_angle, matrix_to_quat
from tests.core.rigs import MIXAMO, a_pose_joints, build_rig, mixamo_fbx_rig, random_motion

JI = sk.JOINT_INDEX
SEGMENTS = [("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
            ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
            ("left_wrist", "left_middle1"), ("left_index1", "left_index2"),
            ("left_hip", "left_knee"), ("right_knee", "right_ankle")]


def world_heads(rig, r, quats):
    _, pos = rt.pose_globals(r, quats)
    om = rig.object_matrix
    return pos @ om[:3, :3].T + om[:3, 3]


def segment_angles(rig, jb, r, quats, motion, segments=SEGMENTS, turn=None):
    turn = np.eye(3) if turn is None else turn
    wpos = world_heads(rig, r, quats)
    sp = rt.smplx_world_positions(motion) @ turn.T
    idx = {n: i for i, n in enumerate(r.names)}
    out = {}
    for a, b in segments:
        dt = wpos[:, idx[jb[b][0]]] - wpos[:, idx[jb[a][0]]]
        out[(a, b)] = rt.direction_angles(dt, sp[:, JI[b]] - sp[:, JI[a]])
    return out


def z_up_rig(**kw):
    return build_rig(MIXAMO, to_armature=sk.Y_UP_TO_Z_UP, **kw)


def test_smplx_built_rig_gets_the_smplx_rotations_unchanged():
    # bones along +Z with roll 0 at the Z-up joints: the SMPL-X add-ons' convention
    rig, jb = z_up_rig(root_bone=False, twist_bones=False)
    rest = rig.rest.copy()
    rest[:, :3, :3] = sk.Y_UP_TO_Z_UP  # every bone's matrix_local rotation is +90 deg about X
    rig = rt.TargetRig(rig.bone_names, rig.parents, rest)
    r = rt.build(rig, jb, n_joints=55)
    motion = random_motion()
    q = rt.to_target(r, motion)
    names = {b: j for j, (b,) in jb.items()}
    want = np.stack([matrix_to_quat(motion[:, JI[names[b]]]) for b in r.keyed], 1)
    # the bones' rest directions (head to child head) differ from +Z, so limbs get an alignment
    # C_b; with the rest heads on the SMPL-X joints that alignment is what turns +Z into the
    # SMPL-X bone direction. Torso joints are not aligned: their quaternions pass through.
    for k, b in enumerate(r.keyed):
        if names[b] in ("pelvis", "spine1", "spine2", "spine3", "neck", "head"):
            np.testing.assert_allclose(np.abs(np.sum(q[:, k] * want[:, k], -1)), 1.0, atol=1e-9)


def test_known_rotation_elbow_bend_on_t_pose_rig():
    rig, jb = z_up_rig(rolls=0.0)
    r = rt.build(rig, jb)
    motion = np.broadcast_to(np.eye(3), (1, 22, 3, 3)).copy()
    motion[0, JI["left_elbow"]] = axis_angle_to_matrix(np.array([0.0, np.pi / 2, 0.0]))
    q = rt.to_target(r, motion)
    k = r.keyed.index(jb["left_elbow"][0])
    # a 90 degree bend, and no other bone moves
    assert np.degrees(2 * np.arccos(min(1.0, abs(q[0, k, 0])))) == pytest.approx(90.0, abs=1e-6)
    others = np.delete(np.arange(len(r.keyed)), k)
    np.testing.assert_allclose(np.abs(q[0, others, 0]), 1.0, atol=1e-9)
    # SMPL-X: Ry(+90) at the left elbow swings the forearm (pointing +x) to -z in Y-up, i.e.
    # towards +y (backwards) in Blender's Z-up world
    ang = segment_angles(rig, jb, r, q, motion, [("left_elbow", "left_wrist")])
    assert ang[("left_elbow", "left_wrist")].max() < 1e-4
    wpos = world_heads(rig, r, q)
    idx = {n: i for i, n in enumerate(r.names)}
    fore = wpos[0, idx["LeftHand"]] - wpos[0, idx["LeftForeArm"]]
    assert fore[1] > 0.99 * np.linalg.norm(fore)


@pytest.mark.parametrize("a_pose", [0.0, 20.0, 45.0])
def test_a_pose_and_t_pose_rigs_point_their_arms_the_same_way(a_pose):
    rig, jb = z_up_rig(joints=a_pose_joints(a_pose) if a_pose else None, rolls=np.pi, seed=3)
    r = rt.build(rig, jb, n_joints=55)
    motion = random_motion(seed=5)
    q = rt.to_target(r, motion)
    for seg, ang in segment_angles(rig, jb, r, q, motion).items():
        assert ang.max() < 1e-4, seg
    # SMPL-X rest pose: the A-pose arm is raised onto the SMPL-X rest direction by the
    # smallest rotation, the angle between the two rest directions
    rest_q = rt.to_target(r, np.broadcast_to(np.eye(3), (1, 22, 3, 3)))
    k = r.keyed.index("LeftArm")
    j_a, j_t = a_pose_joints(a_pose), sk.rest_joints()
    want = rt.direction_angles(j_a[JI["left_elbow"]] - j_a[JI["left_shoulder"]],
                               j_t[JI["left_elbow"]] - j_t[JI["left_shoulder"]])
    assert want == pytest.approx(a_pose, abs=3.0)
    assert np.degrees(2 * np.arccos(min(1.0, abs(rest_q[0, k, 0])))) == pytest.approx(want, abs=1e-5)


def test_bone_rolls_do_not_change_where_bones_point():
    motion = random_motion(seed=7)
    heads = []
    for seed, rolls in ((0, 0.0), (1, np.pi), (2, np.pi)):
        rig, jb = z_up_rig(joints=a_pose_joints(30.0), rolls=rolls, seed=seed)
        r = rt.build(rig, jb, n_joints=55)
        heads.append(world_heads(rig, r, rt.to_target(r, motion)))
    np.testing.assert_allclose(heads[1], heads[0], atol=1e-9)
    np.testing.assert_allclose(heads[2], heads[0], atol=1e-9)


def test_fbx_import_rotated_and_scaled_object_matches_the_smplx_character():
    rig, jb = mixamo_fbx_rig(rolls=np.pi, seed=11)
    assert rig.object_matrix[0, 0] == pytest.approx(0.01)
    r = rt.build(rig, jb, n_joints=55)
    motion = random_motion(seed=13)
    q = rt.to_target(r, motion)
    for seg, ang in segment_angles(rig, jb, r, q, motion).items():
        assert ang.max() < 1e-4, seg
    # same motion on the same skeleton built Z-up in metres with an identity object
    rig2, jb2 = z_up_rig(joints=a_pose_joints(35.0), rolls=np.pi, seed=11)
    r2 = rt.build(rig2, jb2, n_joints=55)
    np.testing.assert_allclose(world_heads(rig, r, q), world_heads(rig2, r2, rt.to_target(r2, motion)),
                               atol=1e-9)


def test_character_turned_in_the_scene_gestures_relative_to_its_body():
    om = np.eye(4)
    turn = axis_angle_to_matrix(np.array([0.0, 0.0, np.radians(120.0)]))
    om[:3, :3] = turn * 2.0
    rig, jb = z_up_rig(rolls=1.0)
    rig = rt.TargetRig(rig.bone_names, rig.parents, rig.rest, om)
    r = rt.build(rig, jb, n_joints=55)
    motion = random_motion(seed=17)
    q = rt.to_target(r, motion)
    for seg, ang in segment_angles(rig, jb, r, q, motion, turn=turn).items():
        assert ang.max() < 1e-4, seg


def test_rig_lying_in_its_object_uses_its_own_up_axis():
    rig, jb = build_rig(MIXAMO)  # Y up inside an identity object: lies on its back
    r = rt.build(rig, jb)
    np.testing.assert_allclose(r.axes, np.eye(3), atol=1e-9)


def test_extra_spine_bone_shares_the_joint_rotation():
    rig, jb = z_up_rig(extra_spine=True)
    r = rt.build(rig, jb)
    assert jb["spine3"] == ("Spine2", "Spine2_extra")
    motion = np.broadcast_to(np.eye(3), (1, 22, 3, 3)).copy()
    motion[0, JI["spine3"]] = axis_angle_to_matrix(np.array([np.radians(40.0), 0.0, 0.0]))
    q = rt.to_target(r, motion)
    angles = {b: np.degrees(2 * np.arccos(min(1.0, abs(q[0, k, 0])))) for k, b in enumerate(r.keyed)}
    assert angles["Spine2"] == pytest.approx(20.0, abs=1e-6)
    assert angles["Spine2_extra"] == pytest.approx(20.0, abs=1e-6)
    assert angles["Neck"] == pytest.approx(0.0, abs=1e-6)  # above the chain nothing else turns


def test_unmapped_bones_are_not_keyed_and_stay_at_rest():
    rig, jb = mixamo_fbx_rig()
    r = rt.build(rig, jb, n_joints=55)
    assert "Root" not in r.keyed and "LeftArmTwist" not in r.keyed
    assert "Root" in r.names  # an ancestor: its rest is part of the maths
    # body-only motion keys no finger
    r22 = rt.build(rig, jb, n_joints=22)
    assert not any("Hand" in b and b[-1].isdigit() for b in r22.keyed)
    assert len(r22.keyed) == 22


@pytest.mark.parametrize("extra_spine", [False, True])
def test_round_trip_through_the_target_rig(extra_spine):
    rig, jb = mixamo_fbx_rig(rolls=np.pi, seed=23, extra_spine=extra_spine)
    r = rt.build(rig, jb, n_joints=55)
    motion = random_motion(seed=29)
    back = rt.to_smplx(r, rt.to_target(r, motion))
    mapped = [JI[j] for j in jb]
    err = np.degrees(geodesic_angle(rt.smplx_globals(back)[:, mapped],
                                    rt.smplx_globals(motion)[:, mapped]))
    assert err.max() < 1e-4


def test_rig_without_a_shoulder_line_is_refused():
    rig, jb = z_up_rig()
    rest = rig.rest.copy()
    rest[rig.bone_names.index("RightArm"), :3, 3] = rest[rig.bone_names.index("LeftArm"), :3, 3]
    with pytest.raises(rt.RetargetError, match="zero-length"):
        rt.build(rt.TargetRig(rig.bone_names, rig.parents, rest), jb)


def test_model_with_fingers_52_joints_drives_the_hands():
    rig, jb = mixamo_fbx_rig(rolls=1.0, seed=31)
    r = rt.build(rig, jb, n_joints=55)
    full = random_motion(seed=37)
    full[:, 22:25] = np.eye(3)  # no jaw or eyes in a 52-joint model
    idx = list(rt.model_joint_indices(52))
    assert idx[22] == 25 and len(idx) == 52
    np.testing.assert_allclose(rt.to_target(r, full[:, idx]), rt.to_target(r, full), atol=1e-12)
    assert "LeftHandIndex2" in r.keyed
    back = rt.to_smplx(r, rt.to_target(r, full[:, idx]), 55)[:, idx]
    err = np.degrees(geodesic_angle(rt.smplx_globals(rt.to_smplx_order(back)),
                                    rt.smplx_globals(full)))
    assert err[:, idx].max() < 1e-6
    with pytest.raises(ValueError, match="22, 52 or 55"):
        rt.model_joint_indices(30)


# ---- keys under constraint-driven parents (a2g_blender/rigio/rig_eval.py) ----------------------------
def test_key_under_parent_undoes_the_parents_evaluated_pose():
    from core.rotations import quat_to_matrix

    rng = np.random.default_rng(11)
    rest = axis_angle_to_matrix(rng.normal(size=3))
    parent_rest = axis_angle_to_matrix(rng.normal(size=3))
    parent_pose = axis_angle_to_matrix(rng.normal(size=(5, 3)))
    wanted = axis_angle_to_matrix(rng.normal(size=(5, 3)))
    q, moved = rt.key_under_parent(rest, parent_rest, parent_pose, wanted, np.tile([1.0, 0, 0, 0], (5, 1)))
    # the bone's armature-space pose under that parent: P_p M_p^T M_b Q
    shown = parent_pose @ parent_rest.T @ rest @ quat_to_matrix(q)
    np.testing.assert_allclose(shown, wanted, atol=1e-9)
    angle = np.degrees(geodesic_angle(np.eye(3), quat_to_matrix(q)))
    assert moved == pytest.approx(angle.max(), abs=1e-6)


def test_key_under_parent_stays_in_the_previous_keys_hemisphere_and_measures_the_change():
    from core.rotations import axis_angle_to_quat

    eye = np.broadcast_to(np.eye(3), (3, 3, 3))
    wanted = axis_angle_to_matrix(np.array([[0.0, 0.0, a] for a in np.radians([10.0, 20.0, 30.0])]))
    previous = -axis_angle_to_quat(np.array([[0.0, 0.0, a] for a in np.radians([10.0, 20.0, 25.0])]))
    q, moved = rt.key_under_parent(np.eye(3), np.eye(3), eye, wanted, previous)
    assert np.all(q[:, 0] < 0)  # the previous keys' sign, continuous
    np.testing.assert_allclose(q[:2], previous[:2], atol=1e-12)
    assert moved == pytest.approx(5.0, abs=1e-6)
    assert rt.key_under_parent(np.eye(3), np.eye(3), eye[:0], wanted[:0], previous[:0])[1] == 0.0
