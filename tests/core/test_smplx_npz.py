"""core/smplx_npz.py: AMASS/BEAT2 SMPL-X .npz round trips, hand mean handling and every error."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from core.rotations import axis_angle_to_matrix, geodesic_angle
from core.skeleton import hand_mean
from core.smplx_npz import (
    HAND_SLICE,
    SmplxNpzError,
    local_rot_to_poses,
    poses_to_local_rot,
    read_smplx_npz,
    write_smplx_npz,
)

ROOT = Path(__file__).resolve().parents[2]
BEAT2 = ROOT.parent / "shared" / "data" / "beat2" / "2_scott_0_1_1.npz"
EXCERPT = ROOT / "tests" / "data" / "beat2_excerpt" / "2_scott_0_1_1_excerpt.npz"


def _random_rot(n, j=55, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    aa = rng.normal(size=(n, j, 3)) * 0.8
    return axis_angle_to_matrix(aa).astype(np.float32)


def _arrays(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _save(path, **arrays) -> Path:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _valid(n=4) -> dict[str, np.ndarray]:
    return {"poses": np.zeros((n, 165), np.float32), "trans": np.zeros((n, 3)),
            "mocap_frame_rate": np.array(30)}


# ---- round trips ----------------------------------------------------------------------------
def test_write_then_read_round_trips_rotations_and_metadata(tmp_path):
    rot = _random_rot(12)
    trans = np.random.default_rng(1).normal(size=(12, 3))
    path = write_smplx_npz(tmp_path / "clip.npz", rot, trans, fps=30)
    m = read_smplx_npz(path)
    assert m.local_rot.shape == (12, 55, 3, 3) and m.local_rot.dtype == np.float32
    assert np.degrees(geodesic_angle(m.local_rot, rot)).max() < 1e-3
    np.testing.assert_allclose(m.trans, trans)
    assert m.fps == 30.0 and m.n_frames == 12 and m.duration == pytest.approx(0.4)
    assert m.gender == "neutral" and m.model == "smplx2020"
    assert m.betas.shape == (300,) and not m.betas.any()
    assert m.expressions.shape == (12, 100)


def test_written_file_has_the_beat2_layout(tmp_path):
    path = write_smplx_npz(tmp_path / "clip.npz", _random_rot(5), fps=30)
    a = _arrays(path)
    assert set(a) == {"betas", "poses", "expressions", "trans", "model", "gender", "mocap_frame_rate"}
    assert a["poses"].shape == (5, 165) and a["poses"].dtype == np.float32
    assert a["trans"].shape == (5, 3)
    assert a["betas"].shape == (300,) and a["expressions"].shape == (5, 100)
    assert str(a["gender"]) == "neutral" and str(a["model"]) == "smplx2020"
    assert a["mocap_frame_rate"].dtype == np.int32 and int(a["mocap_frame_rate"]) == 30
    # and the keys have the same kinds as in a real BEAT2 file
    ref = _arrays(EXCERPT)
    for key in ref:
        assert a[key].dtype.kind == ref[key].dtype.kind, key


def test_fractional_frame_rate_is_kept(tmp_path):
    path = write_smplx_npz(tmp_path / "c.npz", _random_rot(3), fps=30 / 1.001)
    assert read_smplx_npz(path).fps == pytest.approx(30 / 1.001)


def test_hands_are_offsets_from_the_mean_hand():
    mean = hand_mean()
    assert mean.shape == (30, 3) and np.abs(mean).max() > 0.1
    rot = poses_to_local_rot(np.zeros((1, 165)))
    expected = axis_angle_to_matrix(mean)
    np.testing.assert_allclose(rot[0, HAND_SLICE], expected, atol=1e-6)
    np.testing.assert_allclose(rot[0, :25], np.broadcast_to(np.eye(3), (25, 3, 3)), atol=1e-7)
    flat = poses_to_local_rot(np.zeros((1, 165)), flat_hand_mean=True)
    np.testing.assert_allclose(flat[0], np.broadcast_to(np.eye(3), (55, 3, 3)), atol=1e-7)
    # relaxed hands write back as zero offsets
    np.testing.assert_allclose(local_rot_to_poses(rot), 0.0, atol=1e-6)


def test_body_only_motion_gets_rest_joints(tmp_path):
    rot = _random_rot(4, j=22)
    m = read_smplx_npz(write_smplx_npz(tmp_path / "b.npz", rot))
    assert np.degrees(geodesic_angle(m.local_rot[:, :22], rot)).max() < 1e-3
    np.testing.assert_allclose(m.local_rot[:, 22:], np.broadcast_to(np.eye(3), (4, 33, 3, 3)), atol=1e-5)


def test_overwrites_atomically_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "c.npz"
    write_smplx_npz(path, _random_rot(3))
    write_smplx_npz(path, _random_rot(5))
    assert read_smplx_npz(path).n_frames == 5
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


def test_reads_beat2_excerpt_in_repo():
    m = read_smplx_npz(EXCERPT)
    assert m.n_frames == 300 and m.fps == 30.0
    poses = _arrays(EXCERPT)["poses"]
    # the rotations reproduce the stored axis-angles (hands relative to the mean)
    np.testing.assert_allclose(local_rot_to_poses(m.local_rot), poses, atol=2e-4)


@pytest.mark.skipif(not BEAT2.exists(), reason="../shared/data/beat2 is not on this machine")
def test_reads_the_real_beat2_file():
    m = read_smplx_npz(BEAT2)
    assert m.local_rot.shape == (1906, 55, 3, 3)
    assert m.fps == 30.0 and m.trans.shape == (1906, 3) and m.betas.shape == (300,)
    assert m.expressions.shape == (1906, 100)
    assert m.gender == "neutral" and m.model == "smplx2020"
    det = np.linalg.det(m.local_rot.astype(np.float64))
    np.testing.assert_allclose(det, 1.0, atol=1e-4)
    assert 0.8 < float(np.median(m.trans[:, 1])) < 1.6  # Y up, pelvis height-ish


def test_accepts_t_55_3_poses_and_amass_framerate_key(tmp_path):
    aa = np.zeros((2, 55, 3), np.float32)
    path = _save(tmp_path / "a.npz", poses=aa, mocap_framerate=np.array(120.0))
    m = read_smplx_npz(path)
    assert m.fps == 120.0 and m.n_frames == 2 and not m.trans.any()
    assert m.expressions is None


def test_fps_argument_only_used_when_file_has_none(tmp_path):
    path = _save(tmp_path / "a.npz", poses=np.zeros((2, 165)))
    assert read_smplx_npz(path, fps=25).fps == 25.0
    assert read_smplx_npz(_save(tmp_path / "b.npz", **_valid()), fps=25).fps == 30.0


# ---- errors ---------------------------------------------------------------------------------
def _error(path, match, **kw):
    with pytest.raises(SmplxNpzError, match=match) as info:
        read_smplx_npz(path, **kw)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    _error(tmp_path / "nope.npz", "not found")


def test_folder(tmp_path):
    _error(tmp_path, "folder")


def test_not_an_npz(tmp_path):
    p = tmp_path / "x.npz"
    p.write_bytes(b"this is not a zip file at all")
    _error(p, "not an .npz")


def test_pickle_file_is_refused(tmp_path):
    p = tmp_path / "x.npz"
    p.write_bytes(pickle.dumps({"poses": np.zeros((2, 165))}))
    _error(p, "pickle")


def test_object_array_is_refused(tmp_path):
    arrays = _valid()
    arrays["gender"] = np.array([{"evil": 1}], dtype=object)
    with open(tmp_path / "x.npz", "wb") as f:
        np.savez(f, **arrays)
    _error(tmp_path / "x.npz", "pickle")


def test_single_npy_is_refused(tmp_path):
    p = tmp_path / "x.npz"
    with open(p, "wb") as f:
        np.save(f, np.zeros((2, 165)))
    _error(p, "single .npy")


def test_truncated_file(tmp_path):
    good = _save(tmp_path / "good.npz", **_valid(50))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _error(bad, "cannot read|corrupt|not an .npz")


def test_missing_poses_names_what_is_there(tmp_path):
    _error(_save(tmp_path / "x.npz", trans=np.zeros((2, 3))), "no 'poses'.*trans")


def test_missing_frame_rate(tmp_path):
    _error(_save(tmp_path / "x.npz", poses=np.zeros((2, 165))), "frame rate")


@pytest.mark.parametrize("shape, hint", [((3, 156), "SMPL\\+H"), ((3, 72), "SMPL,"), ((3, 160), "165"),
                                         ((165,), "165"), ((0, 165), "no frames")])
def test_wrong_pose_shapes(tmp_path, shape, hint):
    arrays = _valid()
    arrays["poses"] = np.zeros(shape, np.float32)
    arrays.pop("trans")
    _error(_save(tmp_path / "x.npz", **arrays), hint)


def test_trans_must_match_frames(tmp_path):
    arrays = _valid(4)
    arrays["trans"] = np.zeros((3, 3))
    _error(_save(tmp_path / "x.npz", **arrays), "'trans' has shape")


@pytest.mark.parametrize("key", ["poses", "trans"])
def test_non_finite_values(tmp_path, key):
    arrays = _valid(6)
    arrays[key] = arrays[key].astype(np.float64)
    arrays[key][4, 1] = np.nan
    _error(_save(tmp_path / "x.npz", **arrays), f"'{key}' has 1 non-finite.*frame 4")


def test_bad_frame_rate(tmp_path):
    arrays = _valid()
    arrays["mocap_frame_rate"] = np.array(0)
    _error(_save(tmp_path / "x.npz", **arrays), "positive")
    arrays["mocap_frame_rate"] = np.array("thirty")
    _error(_save(tmp_path / "y.npz", **arrays), "single number")


def test_non_numeric_poses(tmp_path):
    arrays = _valid()
    arrays["poses"] = np.array(["a"] * 165 * 2).reshape(2, 165)
    _error(_save(tmp_path / "x.npz", **arrays), "dtype")


def test_write_rejects_bad_input_and_writes_nothing(tmp_path):
    p = tmp_path / "x.npz"
    with pytest.raises(ValueError, match="local_rot"):
        write_smplx_npz(p, np.zeros((3, 30, 3, 3)))
    bad = _random_rot(3)
    bad[1, 2, 0, 0] = np.inf
    with pytest.raises(ValueError, match="finite"):
        write_smplx_npz(p, bad)
    with pytest.raises(ValueError, match="trans"):
        write_smplx_npz(p, _random_rot(3), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="fps"):
        write_smplx_npz(p, _random_rot(3), fps=0)
    assert not list(tmp_path.iterdir())


def test_written_file_has_normal_permissions(tmp_path):
    import os

    path = write_smplx_npz(tmp_path / "c.npz", _random_rot(2))
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_messages_name_the_file_as_the_caller_does(tmp_path):
    missing = tmp_path / "wave.npz"
    with pytest.raises(SmplxNpzError) as info:
        read_smplx_npz(missing, name=f"--pin 'wave.npz@45': {missing}")
    assert str(info.value) == f"--pin 'wave.npz@45': {missing}: file not found"
    holds = tmp_path / "other.npz"
    np.savez(holds, betas=np.zeros(10))
    with pytest.raises(SmplxNpzError) as info:
        read_smplx_npz(holds, name="the clip")
    assert str(info.value) == "the clip: no 'poses' array, so not an SMPL-X motion file (it holds: betas)"
    with pytest.raises(SmplxNpzError) as info:
        read_smplx_npz(holds)  # by default, the path
    assert str(info.value).startswith(f"{holds}: no 'poses' array")
