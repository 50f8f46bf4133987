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
    pose = quat_multiply(quat_multiply(quat_conjugate(a)[None], q), a[None])  # to_scene_quaternions' change of frame
    back = pose_to_local_quats(pose, a)
    np.testing.assert_allclose(np.abs(np.sum(back * q, -1)), 1.0, atol=1e-12)
    np.testing.assert_allclose(pose_to_local_quats(q), q, atol=1e-12)
