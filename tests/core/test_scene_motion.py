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
