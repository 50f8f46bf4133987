import numpy as np
import pytest

from core import timeline as tl
from core.rotations import axis_angle_to_matrix, axis_angle_to_quat, geodesic_angle, quat_to_matrix


def smooth_motion(T, J=5, seed=0):
    """(T, J, 3, 3) smooth random motion sampled at 30 fps."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None, None] / 30.0
    freq = rng.uniform(0.2, 1.0, (1, J, 3))
    phase = rng.uniform(0, 2 * np.pi, (1, J, 3))
    return axis_angle_to_matrix(1.2 * np.sin(2 * np.pi * freq * t + phase))


def test_same_fps_is_identity():
    R = smooth_motion(40)
    q = tl.resample_rotations(R, 30, 30)
    assert q.shape == (40, 5, 4)
    np.testing.assert_allclose(quat_to_matrix(q), R, atol=1e-12)
    assert np.all(np.sum(q[1:] * q[:-1], -1) > 0)  # continuous


def test_quaternion_input_and_dtype():
    R = smooth_motion(20).astype(np.float32)
    q = tl.resample_rotations(R, 30, 24)
    assert q.dtype == np.float32 and q.shape == (16, 5, 4)
    q2 = tl.resample_rotations(q, 24, 24)
    np.testing.assert_allclose(q2, q, atol=1e-6)


def test_round_trip_30_24_30_close():
    R = smooth_motion(91)
    q24 = tl.resample_rotations(R, 30, 24)
    assert q24.shape[0] == 73  # ceil(91 * 24 / 30)
    q30 = tl.resample_rotations(q24, 24, 30, n_out=91)
    err = geodesic_angle(quat_to_matrix(q30), R)
    # up to ~7.5 rad/s and ~47 rad/s^2: two piecewise-slerp passes err by ~a h^2 / 8 each
    assert err.max() < 0.025 and err.mean() < 0.008  # radians
    assert err[::5].max() < 1e-9  # every 5th 30-fps frame (each 1/6 s) is a 24-fps frame


def test_constant_speed_rotation_resampled_exactly():
    axis = np.array([1.0, 2.0, -2.0]) / 3.0
    omega = 3.0  # rad/s, 0.1 rad per 30-fps frame
    T = 60
    R = axis_angle_to_matrix(axis * omega * (np.arange(T) / 30.0)[:, None])[:, None]  # (T, 1, 3, 3)
    for fps in (24.0, 30 / 1.001, 60.0, 25.0):
        n = int(np.floor((T - 1) * fps / 30.0)) + 1  # stay inside the source
        q = tl.resample_rotations(R, 30, fps, n_out=n)
        expected = axis_angle_to_quat(axis * omega * (np.arange(n) / fps)[:, None])[:, None]
        # compare up to sign (the sequence is made continuous, the expected one has w >= 0)
        dots = np.abs(np.sum(q * expected, -1))
        np.testing.assert_allclose(dots, 1.0, atol=1e-12)
        np.testing.assert_allclose(geodesic_angle(quat_to_matrix(q), quat_to_matrix(expected)), 0, atol=1e-7)


def test_long_rotation_continuous_and_tail_holds():
    # more than a full turn: quaternions must not flip between output frames
    angles = np.linspace(0, 6 * np.pi, 90)
    R = axis_angle_to_matrix(np.array([0, 0, 1.0]) * angles[:, None])[:, None]
    q = tl.resample_rotations(R, 30, 30 / 1.001)
    assert q.shape == (90, 1, 4)  # ceil(89.91)
    assert np.all(np.sum(q[1:] * q[:-1], -1) > 0.9)
    q_long = tl.resample_rotations(R, 30, 30, n_out=95)
    np.testing.assert_allclose(quat_to_matrix(q_long[90:]), np.broadcast_to(R[-1], (5, 1, 3, 3)), atol=1e-12)


def test_sample_rotations_midpoint():
    R = axis_angle_to_matrix(np.array([[[0, 0, 0.0]], [[0, 0, 1.0]]]))
    q = tl.sample_rotations(R, 30, [0.5 / 30])
    np.testing.assert_allclose(
        quat_to_matrix(q)[0, 0], axis_angle_to_matrix(np.array([0, 0, 0.5])), atol=1e-12
    )


def test_frame_time_helpers():
    assert tl.scene_fps(30, 1.001) == pytest.approx(29.97002997)
    assert tl.seconds_to_frame(1.0, 24) == 24.0
    assert tl.seconds_to_frame(2.0, 30, 1.001, frame_start=1) == pytest.approx(1 + 2 * 30 / 1.001)
    assert tl.frame_to_seconds(25, 24, frame_start=1) == 1.0
    frames = np.array([1.0, 31.0, 61.0])
    np.testing.assert_allclose(tl.frame_to_seconds(frames, 30, 1.001, 1), [0, 1.001, 2.002])
    np.testing.assert_allclose(
        tl.seconds_to_frame(tl.frame_to_seconds(frames, 30, 1.001, 1), 30, 1.001, 1), frames
    )
    assert tl.frame_count(1.0, 24) == 24
    assert tl.frame_count(1.01, 24) == 25
    assert tl.frame_count(10.01, 30, 1.001) == 300
    assert tl.MODEL_FPS == 30.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="fps"):
        tl.resample_rotations(smooth_motion(4), 30, 0)
    with pytest.raises(ValueError, match="fps_base"):
        tl.scene_fps(30, 0)
    with pytest.raises(ValueError, match=r"\(T, J, 3, 3\)"):
        tl.resample_rotations(np.zeros((4, 5, 3)), 30, 24)
    with pytest.raises(ValueError, match="n_out"):
        tl.resample_rotations(smooth_motion(4), 30, 24, n_out=-1)


def test_sampling_on_source_frames_equals_slerp_and_keeps_continuity():
    rng = np.random.default_rng(3)
    rot = axis_angle_to_matrix(np.cumsum(rng.standard_normal((40, 5, 3)) * 0.4, axis=0))
    q = tl.sample_rotations(rot, 30.0, np.arange(40) / 30.0)  # no interpolation needed
    slerped = tl.sample_rotations(rot, 30.0, np.arange(40) / 30.0 + 1e-7)  # interpolates
    np.testing.assert_allclose(q, slerped, atol=1e-5)
    assert np.all(np.sum(q[1:] * q[:-1], -1) >= 0.0)  # continuous
    # every other frame and backwards: still one hemisphere frame to frame, same rotations
    for times in (np.arange(0, 40, 2) / 30.0, np.arange(39, -1, -1) / 30.0):
        q = tl.sample_rotations(rot, 30.0, times)
        assert np.all(np.sum(q[1:] * q[:-1], -1) >= 0.0)
        frames = np.rint(times * 30).astype(int)
        angle = geodesic_angle(quat_to_matrix(q), rot[frames])
        assert float(angle.max()) < 1e-6


def test_key_indices_finds_the_key_on_each_frame_within_float32_rounding():
    keys = np.array([1.0, 2.0, 3.0000002, 4.0, 7.0], dtype=np.float32)
    np.testing.assert_array_equal(tl.key_indices(keys, [1.0, 3.0, 4.0, 7.0]), [0, 2, 3, 4])
    np.testing.assert_array_equal(tl.key_indices(keys, [2.9995, 5.0, 8.0]), [2, 4, 5])  # next key, or K


def test_strictly_rising_key_frames():
    from core.timeline import strictly_rising

    assert strictly_rising(np.arange(1.0, 6.0)) and strictly_rising([]) and strictly_rising([3.0])
    assert not strictly_rising([1.0, 2.0, 2.0, 3.0])  # a repeated frame
    assert not strictly_rising(np.array([1.0, 3.0, 2.0], dtype=np.float32))
