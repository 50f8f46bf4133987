import numpy as np
import pytest

from core import skeleton as sk
from core.fk import check_parents, forward_kinematics
from core.rotations import axis_angle_to_matrix


def identity(*shape):
    return np.broadcast_to(np.eye(3), shape + (3, 3)).copy()


@pytest.mark.parametrize("n", [22, 55])
def test_rest_pose_gives_rest_joints(n):
    j = sk.rest_joints()[:n]
    pos, glob = forward_kinematics(identity(n), sk.rest_offsets()[:n], sk.PARENTS[:n])
    np.testing.assert_allclose(pos, j, atol=1e-12)
    np.testing.assert_allclose(glob, identity(n), atol=0)


def test_elbow_bend_moves_wrist_by_hand_computation():
    off = sk.body_rest_offsets()
    j = sk.rest_joints()[:22]
    R = identity(22)
    R[18] = axis_angle_to_matrix(np.array([0.0, np.pi / 2, 0.0]))  # left elbow, 90 deg about +y
    pos, glob = forward_kinematics(R, off, sk.BODY_PARENTS)
    # by hand: Ry(90) maps (x, y, z) -> (z, y, -x)
    fx, fy, fz = j[20] - j[18]
    expected = j[18] + np.array([fz, fy, -fx])
    np.testing.assert_allclose(pos[20], expected, atol=1e-12)
    np.testing.assert_allclose(pos[:20], j[:20], atol=1e-12)  # nothing else moved
    np.testing.assert_allclose(pos[21], j[21], atol=1e-12)
    np.testing.assert_allclose(glob[20], R[18], atol=0)
    # T-pose: the left forearm points along +x (~25 cm); Ry(90) turns it to -z
    assert fx > 0.2 and pos[20, 2] - pos[18, 2] < -0.2
    np.testing.assert_allclose(pos[20, 0], j[18, 0] + fz, atol=1e-12)


def test_root_rotation_and_translation():
    off = sk.body_rest_offsets()
    j = sk.rest_joints()[:22]
    R = identity(22)
    Rroot = axis_angle_to_matrix(np.array([0.0, 0.0, 0.3]))
    R[0] = Rroot
    t = np.array([0.5, -1.0, 2.0])
    pos, glob = forward_kinematics(R, off, sk.BODY_PARENTS, root_translation=t)
    # the root rotates about the pelvis, then the whole body is translated
    np.testing.assert_allclose(pos, (j - j[0]) @ Rroot.T + j[0] + t, atol=1e-12)
    np.testing.assert_allclose(glob, np.broadcast_to(Rroot, (22, 3, 3)), atol=1e-15)


def test_bone_lengths_preserved_under_random_poses():
    rng = np.random.default_rng(0)
    R = axis_angle_to_matrix(rng.standard_normal((8, 55, 3)))
    off = sk.rest_offsets()
    pos, glob = forward_kinematics(R, off, sk.PARENTS)
    par = np.asarray(sk.PARENTS)
    bones = np.linalg.norm(pos[:, 1:] - pos[:, par[1:]], axis=-1)
    np.testing.assert_allclose(
        bones, np.broadcast_to(np.linalg.norm(off[1:], axis=-1), bones.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(glob), 1.0, atol=1e-12)
    # global = parent global @ local
    np.testing.assert_allclose(glob[:, 20], glob[:, 18] @ R[:, 20], atol=1e-12)


def test_batch_shapes_and_dtype():
    rng = np.random.default_rng(1)
    R = axis_angle_to_matrix(rng.standard_normal((2, 5, 22, 3)).astype(np.float32))
    t = rng.standard_normal((5, 3))
    pos, glob = forward_kinematics(R, sk.body_rest_offsets(), sk.BODY_PARENTS, root_translation=t)
    assert pos.shape == (2, 5, 22, 3) and glob.shape == (2, 5, 22, 3, 3)
    assert pos.dtype == np.float32 and glob.dtype == np.float32
    single, _ = forward_kinematics(R[1, 3].astype(np.float64), sk.body_rest_offsets(), sk.BODY_PARENTS, t[3])
    np.testing.assert_allclose(pos[1, 3], single, atol=1e-5)


def test_bad_inputs():
    off = sk.body_rest_offsets()
    with pytest.raises(ValueError, match="local_rot"):
        forward_kinematics(np.zeros((22, 3)), off, sk.BODY_PARENTS)
    with pytest.raises(ValueError, match="offsets"):
        forward_kinematics(identity(22), sk.rest_offsets(), sk.BODY_PARENTS)
    with pytest.raises(ValueError, match="entries"):
        forward_kinematics(identity(22), off, sk.PARENTS)
    with pytest.raises(ValueError, match="topologically"):
        check_parents([-1, 0, 3, 1])
    with pytest.raises(ValueError, match="root"):
        check_parents([0, 0])
    with pytest.raises(ValueError, match="root_translation"):
        forward_kinematics(identity(22), off, sk.BODY_PARENTS, root_translation=np.zeros(2))
