import numpy as np
import pytest

from core import rotations as r


def random_axis_angle(rng, n, max_angle=np.pi):
    axis = rng.standard_normal((n, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    return axis * rng.uniform(0.0, max_angle, (n, 1))


def random_rotations(rng, n):
    return r.axis_angle_to_matrix(random_axis_angle(rng, n))


def rot_x(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def test_axis_angle_to_matrix_known_values():
    np.testing.assert_allclose(r.axis_angle_to_matrix(np.array([0.3, 0, 0])), rot_x(0.3), atol=1e-12)
    # 90 degrees about z maps x to y
    R = r.axis_angle_to_matrix(np.array([0, 0, np.pi / 2]))
    np.testing.assert_allclose(R @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(r.axis_angle_to_matrix(np.zeros(3)), np.eye(3), atol=0)


def test_matrix_axis_angle_round_trip_random():
    rng = np.random.default_rng(0)
    aa = random_axis_angle(rng, 1000, max_angle=np.pi - 1e-3)
    R = r.axis_angle_to_matrix(aa)
    np.testing.assert_allclose(r.matrix_to_axis_angle(R), aa, atol=1e-9)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)


@pytest.mark.parametrize("angle", [0.0, 1e-12, 1e-8, 1e-5, 1e-3])
def test_axis_angle_small_angles(angle):
    axis = np.array([0.48, -0.6, 0.64])
    aa = axis * angle
    back = r.matrix_to_axis_angle(r.axis_angle_to_matrix(aa))
    np.testing.assert_allclose(back, aa, atol=1e-15 + 1e-9 * angle)
    q = r.axis_angle_to_quat(aa)
    np.testing.assert_allclose(r.quat_to_axis_angle(q), aa, atol=1e-15 + 1e-9 * angle)


@pytest.mark.parametrize("delta", [0.0, 1e-9, 1e-6, 1e-3])
def test_axis_angle_near_pi(delta):
    axis = np.array([2.0, -1.0, 0.5]) / np.linalg.norm([2.0, -1.0, 0.5])
    angle = np.pi - delta
    R = r.axis_angle_to_matrix(axis * angle)
    back = r.matrix_to_axis_angle(R)
    # at exactly pi the sign of the axis is ambiguous: compare rotations and the angle
    np.testing.assert_allclose(np.linalg.norm(back), angle, atol=1e-7)
    np.testing.assert_allclose(r.axis_angle_to_matrix(back), R, atol=1e-7)
    if delta >= 1e-6:
        np.testing.assert_allclose(back, axis * angle, atol=1e-6)


def test_quat_matrix_round_trip_and_w_nonnegative():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((500, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    R = r.quat_to_matrix(q)
    q2 = r.matrix_to_quat(R)
    assert np.all(q2[:, 0] >= 0)
    q_canon = np.where(q[:, :1] < 0, -q, q)
    np.testing.assert_allclose(q2, q_canon, atol=1e-12)
    np.testing.assert_allclose(r.quat_to_matrix(q2), R, atol=1e-12)


def test_quat_conventions_blender_order():
    # (w, x, y, z): 90 degrees about z
    q = np.array([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(r.quat_to_matrix(q) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(r.axis_angle_to_quat(np.array([0, 0, np.pi / 2])), q, atol=1e-12)
    np.testing.assert_allclose(r.matrix_to_quat(np.eye(3)), [1, 0, 0, 0], atol=0)


def test_quat_at_pi_from_matrix():
    for axis in np.eye(3):
        R = r.axis_angle_to_matrix(axis * np.pi)
        q = r.matrix_to_quat(R)
        np.testing.assert_allclose(np.abs(q), np.concatenate([[0], axis]), atol=1e-12)


def test_axis_angle_quat_round_trip():
    rng = np.random.default_rng(2)
    aa = random_axis_angle(rng, 300, max_angle=np.pi - 1e-4)
    q = r.axis_angle_to_quat(aa)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-12)
    assert np.all(q[:, 0] >= 0)
    np.testing.assert_allclose(r.quat_to_axis_angle(q), aa, atol=1e-9)
    np.testing.assert_allclose(r.quat_to_matrix(q), r.axis_angle_to_matrix(aa), atol=1e-12)
    # angle > pi is wrapped
    aa_big = np.array([0.0, 0.0, 1.5 * np.pi])
    np.testing.assert_allclose(
        r.quat_to_axis_angle(r.axis_angle_to_quat(aa_big)), [0, 0, -0.5 * np.pi], atol=1e-12
    )


def test_sixd_layout_and_round_trip():
    rng = np.random.default_rng(3)
    R = random_rotations(rng, 200)
    d6 = r.matrix_to_sixd(R)
    assert d6.shape == (200, 6)
    np.testing.assert_array_equal(d6[:, 0:3], R[:, :, 0])  # [R00, R10, R20]
    np.testing.assert_array_equal(d6[:, 3:6], R[:, :, 1])  # [R01, R11, R21]
    np.testing.assert_allclose(r.sixd_to_matrix(d6), R, atol=1e-12)


def test_sixd_to_matrix_orthonormal_on_random_input():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((7, 11, 6)) * 3
    R = r.sixd_to_matrix(x)
    assert R.shape == (7, 11, 3, 3)
    np.testing.assert_allclose(np.swapaxes(R, -1, -2) @ R, np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    # first column is the normalised first 3-vector
    a1 = x[..., :3] / np.linalg.norm(x[..., :3], axis=-1, keepdims=True)
    np.testing.assert_allclose(R[..., :, 0], a1, atol=1e-12)


def test_quat_multiply_matches_matrix_product_and_conjugate():
    rng = np.random.default_rng(5)
    q1 = r.matrix_to_quat(random_rotations(rng, 100))
    q2 = r.matrix_to_quat(random_rotations(rng, 100))
    np.testing.assert_allclose(
        r.quat_to_matrix(r.quat_multiply(q1, q2)), r.quat_to_matrix(q1) @ r.quat_to_matrix(q2), atol=1e-12
    )
    ident = r.quat_multiply(q1, r.quat_conjugate(q1))
    np.testing.assert_allclose(ident, np.broadcast_to([1, 0, 0, 0], ident.shape), atol=1e-12)


def test_dtype_preserved_and_leading_shapes():
    rng = np.random.default_rng(6)
    aa = random_axis_angle(rng, 24).reshape(2, 3, 4, 3).astype(np.float32)
    R = r.axis_angle_to_matrix(aa)
    assert R.dtype == np.float32 and R.shape == (2, 3, 4, 3, 3)
    for fn, x in [
        (r.matrix_to_axis_angle, R),
        (r.matrix_to_quat, R),
        (r.matrix_to_sixd, R),
        (r.axis_angle_to_quat, aa),
    ]:
        assert fn(x).dtype == np.float32
    q = r.matrix_to_quat(R)
    assert q.shape == (2, 3, 4, 4)
    assert r.quat_to_matrix(q).dtype == np.float32
    assert r.quat_to_axis_angle(q).dtype == np.float32
    assert r.sixd_to_matrix(r.matrix_to_sixd(R)).dtype == np.float32
    assert r.quat_slerp(q, q, 0.5).dtype == np.float32
    assert r.geodesic_angle(R, R).dtype == np.float32
    assert r.axis_angle_to_matrix(aa.astype(np.float64)).dtype == np.float64
    np.testing.assert_allclose(r.matrix_to_axis_angle(R), aa, atol=2e-5)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        r.axis_angle_to_matrix(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="3, 3"):
        r.matrix_to_quat(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="6"):
        r.sixd_to_matrix(np.zeros(5))
    with pytest.raises(ValueError):
        r.quat_to_matrix(np.zeros(3))


def test_quat_make_continuous():
    rng = np.random.default_rng(7)
    # a smooth rotation sequence about a fixed axis, signs randomly flipped
    angles = np.linspace(0, 4 * np.pi, 200)
    aa = np.array([0.0, 1.0, 0.0]) * angles[:, None]
    q = np.concatenate([np.cos(angles / 2)[:, None], np.sin(angles / 2)[:, None] * [0, 1, 0]], -1)
    flips = rng.choice([-1.0, 1.0], size=(200, 1))
    qc = r.quat_make_continuous(q * flips)
    assert np.all(np.sum(qc[1:] * qc[:-1], -1) > 0)
    np.testing.assert_allclose(qc, q * flips[0], atol=1e-12)  # the first keeps its sign
    np.testing.assert_allclose(r.quat_to_matrix(qc), r.axis_angle_to_matrix(aa), atol=1e-12)
    # along axis 1 of a (J, T, 4) array
    q3 = np.stack([q * flips, -q * flips], 0)
    qc3 = r.quat_make_continuous(q3, axis=1)
    assert np.all(np.sum(qc3[:, 1:] * qc3[:, :-1], -1) > 0)


def test_slerp_endpoints_midpoint_and_identical():
    rng = np.random.default_rng(8)
    q0 = r.matrix_to_quat(random_rotations(rng, 50))
    q1 = r.matrix_to_quat(random_rotations(rng, 50))
    np.testing.assert_allclose(r.quat_slerp(q0, q1, 0.0), q0, atol=1e-12)
    end = r.quat_slerp(q0, q1, 1.0)
    np.testing.assert_allclose(r.quat_to_matrix(end), r.quat_to_matrix(q1), atol=1e-12)
    R0, R1 = r.quat_to_matrix(q0), r.quat_to_matrix(q1)
    mid = r.quat_to_matrix(r.quat_slerp(q0, q1, 0.5))
    full = r.geodesic_angle(R0, R1)
    np.testing.assert_allclose(r.geodesic_angle(R0, mid), full / 2, atol=1e-9)
    np.testing.assert_allclose(r.geodesic_angle(mid, R1), full / 2, atol=1e-9)
    # shortest path: q1 and -q1 give the same result
    np.testing.assert_allclose(r.quat_slerp(q0, -q1, 0.3), r.quat_slerp(q0, q1, 0.3), atol=1e-12)
    # identical inputs: no NaN
    same = r.quat_slerp(q0, q0, np.linspace(0, 1, 50))
    assert np.all(np.isfinite(same))
    np.testing.assert_allclose(same, q0, atol=1e-12)
    # known value: 90 degrees about z at t = 1/3 is 30 degrees
    qa = np.array([1.0, 0, 0, 0])
    qb = r.axis_angle_to_quat(np.array([0, 0, np.pi / 2]))
    np.testing.assert_allclose(
        r.quat_slerp(qa, qb, 1 / 3), r.axis_angle_to_quat(np.array([0, 0, np.pi / 6])), atol=1e-12
    )


def test_geodesic_angle_values():
    R = r.axis_angle_to_matrix(np.array([[0.0, 0.0, a] for a in (0.0, 1e-7, 0.5, np.pi - 1e-7, np.pi)]))
    ang = r.geodesic_angle(np.eye(3), R)
    np.testing.assert_allclose(ang, [0.0, 1e-7, 0.5, np.pi - 1e-7, np.pi], atol=1e-12)
    rng = np.random.default_rng(9)
    Ra, Rb = random_rotations(rng, 20), random_rotations(rng, 20)
    np.testing.assert_allclose(r.geodesic_angle(Ra, Rb), r.geodesic_angle(Rb, Ra), atol=1e-12)


# ---- Blender rotation channels ------------------------------------------------------------
@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_to_quat_matches_blender_order(order):
    rng = np.random.default_rng(1)
    angles = rng.uniform(-3, 3, (5, 3))
    basis = {"X": [1, 0, 0], "Y": [0, 1, 0], "Z": [0, 0, 1]}
    index = {"X": 0, "Y": 1, "Z": 2}
    for a, q in zip(angles, r.euler_to_quat(angles, order), strict=True):
        m = np.eye(3)
        for ax in order:  # first axis applied first: R = R_last ... R_first
            m = r.axis_angle_to_matrix(np.array(basis[ax]) * a[index[ax]]) @ m
        np.testing.assert_allclose(r.quat_to_matrix(q), m, atol=1e-12)


def test_axis_angle_channels():
    q = r.angle_axis_to_quat([[0.5, 0, 0, 2.0], [0.3, 0, 0, 0]])
    np.testing.assert_allclose(q[0], [np.cos(0.25), 0, 0, np.sin(0.25)], atol=1e-12)
    assert np.isclose(np.linalg.norm(q[1]), 1.0)


def test_matrix_to_quat_fast_w_pivot_path_is_bit_identical_to_shepperd():
    # small rotations take the w-pivot short path; mixed batches split between both paths
    rng = np.random.default_rng(7)
    small = r.axis_angle_to_matrix(rng.standard_normal((500, 3)) * 0.4)
    q = rng.standard_normal((500, 4))
    anywhere = r.quat_to_matrix(q / np.linalg.norm(q, axis=-1, keepdims=True))
    for m in (small, anywhere, np.concatenate([small, anywhere]).reshape(10, 100, 3, 3)):
        fast = r.matrix_to_quat(m)
        full = r._shepperd64(np.asarray(m, dtype=np.float64))
        np.testing.assert_array_equal(fast, full)
        assert fast.shape == m.shape[:-2] + (4,) and np.all(fast[..., 0] >= 0.0)
    assert r.matrix_to_quat(small[:0]).shape == (0, 4)


# ---- Blender's rotation channels as a pin reads them ------------------------------------------
def test_channel_quaternions_scales_quaternion_channels_to_unit_length():
    q = r.channel_quaternions("rotation_quaternion", [[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 3.0, 4.0]])
    np.testing.assert_allclose(q, [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.6, 0.8]])


def test_channel_quaternions_all_zero_channels_are_the_identity():
    q = r.channel_quaternions("rotation_quaternion", [[0.0, 0.0, 0.0, 0.0], [1e-10, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(q, [[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])


def test_channel_quaternions_euler_in_the_bones_order():
    h = np.sqrt(0.5)
    np.testing.assert_allclose(r.channel_quaternions("rotation_euler", [[np.pi / 2, 0.0, 0.0]]),
                               [[h, h, 0.0, 0.0]], atol=1e-12)
    # 90 degrees about X then 90 about Z (XYZ) differs from Z then X (ZYX)
    xyz = r.channel_quaternions("rotation_euler", [np.pi / 2, 0.0, np.pi / 2], "XYZ")
    zyx = r.channel_quaternions("rotation_euler", [np.pi / 2, 0.0, np.pi / 2], "ZYX")
    np.testing.assert_allclose(xyz, [0.5, 0.5, 0.5, 0.5], atol=1e-12)
    np.testing.assert_allclose(zyx, [0.5, 0.5, -0.5, 0.5], atol=1e-12)


def test_channel_quaternions_axis_angle_normalises_the_axis():
    q = r.channel_quaternions("rotation_axis_angle", [[np.pi, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(q, [[0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]], atol=1e-12)


def test_channel_quaternions_refuses_other_channels():
    with pytest.raises(ValueError, match="rotation_mode"):
        r.channel_quaternions("rotation_mode", [[0.0, 0.0, 0.0]])
