"""core/scene_motion.py: model rotations <-> pose-bone quaternions at scene frames."""

from __future__ import annotations

import numpy as np

from core.rotations import quat_conjugate, quat_multiply
from core.scene_motion import pose_to_local_quats


def test_pose_to_local_undoes_the_bone_change_of_frame():
    rng = np.random.default_rng(2)
    q = rng.standard_normal((4, 22, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    a = rng.standard_normal((22, 4))
    a /= np.linalg.norm(a, axis=-1, keepdims=True)
    # to_scene_quaternions' change of frame
    pose = quat_multiply(quat_multiply(quat_conjugate(a)[None], q), a[None])
    back = pose_to_local_quats(pose, a)
    np.testing.assert_allclose(np.abs(np.sum(back * q, -1)), 1.0, atol=1e-12)
    np.testing.assert_allclose(pose_to_local_quats(q), q, atol=1e-12)


def test_clip_at_its_own_rate_lands_on_scene_frames():
    from core.rotations import axis_angle_to_matrix
    from core.scene_motion import clip_to_scene_quaternions, to_scene_quaternions

    aa = np.zeros((61, 2, 3))
    aa[:, 0, 2] = np.linspace(0.0, 1.2, 61)  # 2 s at 30 fps
    clip = axis_angle_to_matrix(aa)
    at_60 = clip_to_scene_quaternions(clip[::2], 15.0, 61, 30.0)  # the same motion recorded at 15 fps
    np.testing.assert_allclose(at_60, to_scene_quaternions(clip, 0, 61, 30.0), atol=1e-9)


def test_pelvis_locations_follow_the_clip_and_stay_none_when_still():
    from core.scene_motion import STILL_PELVIS_M, pelvis_locations

    trans = np.zeros((31, 3))
    assert pelvis_locations(trans + STILL_PELVIS_M / 2, 30.0, 31, 30.0, np.eye(3), np.eye(3)) is None
    trans[:, 0] = np.linspace(0.0, 1.0, 31)
    moved = pelvis_locations(trans, 30.0, 61, 60.0, np.eye(3), np.eye(3))
    np.testing.assert_allclose(moved[:, 0], np.clip(np.arange(61) / 60.0, 0, 1.0), atol=1e-12)
    swap = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(pelvis_locations(trans, 30.0, 31, 30.0, swap, np.eye(3))[:, 1], trans[:, 0])


def test_rest_up_axis_from_pelvis_to_head():
    from core.scene_motion import rest_up_axis
    from core.skeleton import Y_UP_TO_Z_UP_QUAT

    axis, up = rest_up_axis((0.0, 0.1, 0.9), (0.02, 0.05, 1.5))  # a Z-up rig, head leaning
    assert axis == "Z"
    np.testing.assert_array_equal(up, Y_UP_TO_Z_UP_QUAT)
    axis, up = rest_up_axis((0.0, 0.9, 0.0), (0.0, 1.5, 0.2))  # a Y-up rig
    assert axis == "Y"
    np.testing.assert_array_equal(up, [1.0, 0.0, 0.0, 0.0])


def test_rig_frame_change_is_none_for_bones_built_the_smplx_way():
    from core.scene_motion import rig_frame_change
    from core.skeleton import Y_UP_TO_Z_UP_QUAT

    up = np.asarray(Y_UP_TO_Z_UP_QUAT)
    assert rig_frame_change(np.tile(up, (22, 1)), up) is None
    assert rig_frame_change(np.tile(-up, (22, 1)), up) is None  # either sign of the rest


def test_rig_frame_change_keeps_w_positive_and_the_rotation():
    from core.scene_motion import frame_change, rig_frame_change

    rest = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [-np.sqrt(0.5), 0.0, np.sqrt(0.5), 0.0]])
    change = rig_frame_change(rest, [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(change, [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0],
                                        [np.sqrt(0.5), 0.0, -np.sqrt(0.5), 0.0]])
    np.testing.assert_allclose(np.abs(change), np.abs(frame_change(rest, [1.0, 0.0, 0.0, 0.0])))


def test_pose_to_smplx_rotations_inverts_the_change_of_frame():
    from core.rotations import axis_angle_to_matrix, matrix_to_quat, quat_normalize
    from core.scene_motion import pose_to_smplx_rotations

    rng = np.random.default_rng(5)
    rot = axis_angle_to_matrix(rng.normal(size=(6, 22, 3))).astype(np.float32)
    change = quat_normalize(rng.normal(size=(22, 4)))
    q = matrix_to_quat(rot.astype(np.float64))
    pose = quat_multiply(quat_multiply(quat_conjugate(change)[None], q), change[None])
    back = pose_to_smplx_rotations(pose, change)
    assert back.shape == (6, 55, 3, 3)
    np.testing.assert_allclose(back[:, :22], rot, atol=1e-5)
    np.testing.assert_allclose(back[:, 22:], np.broadcast_to(np.eye(3), (6, 33, 3, 3)))


def test_pose_to_smplx_rotations_puts_each_bone_on_its_joint():
    from core.rotations import axis_angle_to_matrix, axis_angle_to_quat
    from core.scene_motion import pose_to_smplx_rotations

    aa = np.array([[[0.3, 0.0, 0.0], [0.0, -0.7, 0.0]]])
    back = pose_to_smplx_rotations(axis_angle_to_quat(aa), None, joints=(30, 4))
    assert back.dtype == np.float32 and back.shape == (1, 55, 3, 3)
    np.testing.assert_allclose(back[0, [30, 4]], axis_angle_to_matrix(aa[0]), atol=1e-6)
    others = [j for j in range(55) if j not in (30, 4)]
    np.testing.assert_array_equal(back[0, others], np.broadcast_to(np.eye(3), (53, 3, 3)))
