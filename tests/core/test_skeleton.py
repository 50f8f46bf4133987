import numpy as np
import pytest

from core import skeleton as sk
from core.rotations import axis_angle_to_matrix


def test_joint_names_and_parents_table():
    assert len(sk.JOINT_NAMES) == 55 and len(set(sk.JOINT_NAMES)) == 55
    assert sk.JOINT_NAMES[:3] == ("pelvis", "left_hip", "right_hip")
    assert sk.JOINT_NAMES[15] == "head" and sk.JOINT_NAMES[22] == "jaw"
    assert sk.JOINT_NAMES[23:25] == ("left_eye_smplhf", "right_eye_smplhf")
    assert sk.JOINT_NAMES[25:28] == ("left_index1", "left_index2", "left_index3")
    assert sk.JOINT_NAMES[31] == "left_pinky1" and sk.JOINT_NAMES[34] == "left_ring1"
    assert sk.JOINT_NAMES[37] == "left_thumb1" and sk.JOINT_NAMES[54] == "right_thumb3"
    expected = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15,
                15, 20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38, 21, 40, 41, 21,
                43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53]  # fmt: skip
    assert list(sk.PARENTS) == expected
    assert all(0 <= p < j for j, p in enumerate(sk.PARENTS) if j > 0)
    assert sk.NUM_BODY_JOINTS == 22
    assert sk.BODY_JOINT_NAMES == sk.JOINT_NAMES[:22] and sk.BODY_JOINT_NAMES[-1] == "right_wrist"
    assert sk.BODY_PARENTS == sk.PARENTS[:22]
    assert sk.JOINT_INDEX["right_wrist"] == 21


def test_mirror_tables():
    for perm, n in ((sk.MIRROR, 55), (sk.BODY_MIRROR, 22)):
        assert sorted(perm) == list(range(n))
        assert all(perm[perm[j]] == j for j in range(n))
    names = sk.JOINT_NAMES
    assert names[sk.MIRROR[names.index("left_elbow")]] == "right_elbow"
    assert names[sk.MIRROR[names.index("right_eye_smplhf")]] == "left_eye_smplhf"
    assert names[sk.MIRROR[names.index("left_ring3")]] == "right_ring3"
    assert sk.MIRROR[0] == 0 and sk.MIRROR[15] == 15 and sk.MIRROR[22] == 22
    # the mirror maps parent links to parent links
    par = np.asarray(sk.PARENTS)
    for j in range(1, 55):
        assert sk.MIRROR[par[j]] == par[sk.MIRROR[j]]


def test_rest_joints_values():
    j = sk.rest_joints()
    assert j.shape == (55, 3) and j.dtype == np.float64
    assert abs(j[0, 1] + 0.35) < 0.01  # pelvis at y ~ -0.35
    assert j[15, 1] > j[12, 1] > j[9, 1] > j[0, 1]  # head above neck above chest above pelvis
    assert j[16, 0] > 0.1 and j[17, 0] < -0.1  # left shoulder at +x
    assert j[10, 1] < -1.0  # feet about a metre below the origin
    assert abs(j[23, 0] - 0.031) < 0.005 and j[23, 2] > j[15, 2]  # eyes in front of the head
    # a copy every call
    j[0] = 99
    assert sk.rest_joints()[0, 0] != 99


def test_mirrored_rest_skeleton_close_to_rest():
    j = sk.rest_joints()
    m = sk.mirror_positions(j)
    assert np.abs(m - j).max() < 0.04
    np.testing.assert_allclose(sk.mirror_positions(m), j, atol=0)


def test_rest_offsets():
    j = sk.rest_joints()
    off = sk.rest_offsets()
    assert off.shape == (55, 3)
    np.testing.assert_allclose(off[0], j[0])
    np.testing.assert_allclose(off[18], j[18] - j[16])
    np.testing.assert_allclose(off[40], j[40] - j[21])
    body = sk.body_rest_offsets()
    assert body.shape == (22, 3)
    np.testing.assert_allclose(body, off[:22])
    np.testing.assert_allclose(sk.rest_offsets(j[:22]), off[:22])
    # forearm about 25 cm
    assert 0.2 < np.linalg.norm(off[20]) < 0.3
    with pytest.raises(ValueError, match="55, 3"):
        sk.rest_offsets(np.zeros((10, 3)))


def test_y_up_to_z_up():
    p = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(sk.y_up_to_z_up(p), [[1, -3, 2], [0, 0, 1]])
    np.testing.assert_allclose(sk.y_up_to_z_up(p), p @ sk.Y_UP_TO_Z_UP.T)
    np.testing.assert_allclose(sk.z_up_to_y_up(sk.y_up_to_z_up(p)), p)
    np.testing.assert_allclose(axis_angle_to_matrix(np.array([np.pi / 2, 0, 0])), sk.Y_UP_TO_Z_UP, atol=1e-15)
    q = sk.Y_UP_TO_Z_UP_QUAT
    np.testing.assert_allclose(q, [np.sqrt(0.5), np.sqrt(0.5), 0, 0])
    # a world rotation about +Y (up in SMPL-X) becomes one about +Z (up in Blender)
    Ry = axis_angle_to_matrix(np.array([0.0, 0.7, 0.0]))
    Rz = axis_angle_to_matrix(np.array([0.0, 0.0, 0.7]))
    np.testing.assert_allclose(sk.rotations_y_up_to_z_up(Ry), Rz, atol=1e-15)
    with pytest.raises(ValueError):
        sk.y_up_to_z_up(np.zeros((3, 2)))


def test_mirror_rotations():
    rng = np.random.default_rng(0)
    for n in (22, 55):
        R = axis_angle_to_matrix(rng.standard_normal((4, n, 3)) * 0.5)
        M = sk.mirror_rotations(R)
        assert M.shape == R.shape
        np.testing.assert_allclose(sk.mirror_rotations(M), R, atol=0)
        D = np.diag([-1.0, 1.0, 1.0])
        perm = sk.MIRROR if n == 55 else sk.BODY_MIRROR
        np.testing.assert_allclose(M[:, 18], D @ R[:, perm[18]] @ D, atol=1e-15)
        np.testing.assert_allclose(np.linalg.det(M), 1.0, atol=1e-12)
    # turning the head to the left (about +y) becomes turning it to the right
    R = np.broadcast_to(np.eye(3), (22, 3, 3)).copy()
    R[15] = axis_angle_to_matrix(np.array([0.0, 0.5, 0.0]))
    np.testing.assert_allclose(
        sk.mirror_rotations(R)[15], axis_angle_to_matrix(np.array([0.0, -0.5, 0.0])), atol=1e-15
    )
    # raising the left arm about z becomes raising the right arm about -z
    R = np.broadcast_to(np.eye(3), (55, 3, 3)).copy()
    R[16] = axis_angle_to_matrix(np.array([0.0, 0.0, 0.8]))
    Mr = sk.mirror_rotations(R)
    np.testing.assert_allclose(Mr[17], axis_angle_to_matrix(np.array([0.0, 0.0, -0.8])), atol=1e-15)
    np.testing.assert_allclose(Mr[16], np.eye(3), atol=0)
    with pytest.raises(ValueError, match="22, 52 or 55"):
        sk.mirror_rotations(np.zeros((10, 3, 3)))


def test_mirror_pose_matches_mirrored_positions():
    from core.fk import forward_kinematics

    # a symmetric skeleton: FK of the mirrored pose = mirrored FK positions
    j = sk.rest_joints()
    sym = 0.5 * (j + sk.mirror_positions(j))
    off = sk.rest_offsets(sym)
    rng = np.random.default_rng(1)
    R = axis_angle_to_matrix(rng.standard_normal((3, 55, 3)) * 0.4)
    p, _ = forward_kinematics(R, off, sk.PARENTS)
    pm, _ = forward_kinematics(sk.mirror_rotations(R), off, sk.PARENTS)
    np.testing.assert_allclose(pm, sk.mirror_positions(p), atol=1e-12)


def test_mannequin_asset_loader():
    d = sk.load_mannequin_asset()
    assert set(d) >= {"rest_joints", "mesh_vertices", "mesh_faces", "skin_joints", "skin_weights"}
    np.testing.assert_allclose(d["rest_joints"], sk.rest_joints(), atol=0)


def test_model_columns():
    from core.skeleton import HAND_JOINTS, model_columns

    assert model_columns(range(22), hands=False) == tuple(range(22))
    assert model_columns([0, 21, 25, 54], hands=True) == (0, 21, 22, 51)
    assert model_columns(HAND_JOINTS, hands=True) == tuple(range(22, 52))
    with pytest.raises(ValueError, match="left_index1"):
        model_columns([25], hands=False)
    with pytest.raises(ValueError, match="jaw"):
        model_columns([22], hands=True)


def test_relax_missing_fingers():
    from core.rotations import axis_angle_to_matrix
    from core.skeleton import hand_mean, relax_missing_fingers

    rng = np.random.default_rng(0)
    rot = axis_angle_to_matrix(rng.normal(size=(4, 52, 3)) * 0.3).astype(np.float32)
    present = list(range(22)) + list(range(25, 40))  # the left hand keyed, the right one not
    out = relax_missing_fingers(rot, present)
    np.testing.assert_array_equal(out[:, :37], rot[:, :37])  # body and left hand untouched
    mean = axis_angle_to_matrix(hand_mean()[15:]).astype(np.float32)
    np.testing.assert_allclose(out[:, 37:], np.broadcast_to(mean, (4, 15, 3, 3)), atol=1e-6)
    assert out.dtype == rot.dtype and not np.shares_memory(out, rot)
    body = rot[:, :22]
    assert relax_missing_fingers(body, []) is body  # body-only motion passes through
    with pytest.raises(ValueError, match="22 or 52"):
        relax_missing_fingers(rot[:, :30], [])
