import os

import numpy as np
import pytest

from core import skeleton as sk
from core.fk import forward_kinematics
from core.rotations import axis_angle_to_matrix

ASSETS = os.path.dirname(sk.ASSET_PATH)


@pytest.fixture(scope="module")
def asset():
    with np.load(sk.ASSET_PATH, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_arrays_shapes_and_dtypes(asset):
    expected = {
        "joint_names": ((55,), "U"),
        "parents": ((55,), np.int32),
        "rest_joints": ((55, 3), np.float32),
        "mesh_faces": ((None, 3), np.int32),
        "mesh_vertices": ((None, 3), np.float32),
        "skin_joints": ((None, 4), np.int16),
        "skin_weights": ((None, 4), np.float32),
        "hand_mean": ((30, 3), np.float32),
    }
    assert set(asset) == set(expected)
    for k, (shape, dtype) in expected.items():
        a = asset[k]
        assert a.dtype != object
        assert len(a.shape) == len(shape) and all(
            s is None or s == t for s, t in zip(shape, a.shape, strict=True)
        ), k
        if dtype == "U":
            assert a.dtype.kind == "U"
        else:
            assert a.dtype == dtype, k
    n_v = asset["mesh_vertices"].shape[0]
    assert n_v > 10000 and asset["skin_joints"].shape[0] == n_v and asset["skin_weights"].shape[0] == n_v
    assert tuple(asset["joint_names"]) == sk.JOINT_NAMES
    assert tuple(asset["parents"]) == sk.PARENTS
    assert os.path.getsize(sk.ASSET_PATH) < 2_000_000


def test_skin_weights_and_indices_valid(asset):
    w = asset["skin_weights"]
    assert np.all(w >= 0) and np.all(np.isfinite(w))
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    j = asset["skin_joints"]
    assert j.min() >= 0 and j.max() < 55
    used = np.unique(j[w > 0])
    assert not set(used.tolist()) & {22, 23, 24}  # no jaw / eye geometry in the mannequin
    assert {0, 15, 20, 21, 54}.issubset(set(used.tolist()))


def test_faces_valid(asset):
    f = asset["mesh_faces"]
    v = asset["mesh_vertices"]
    assert f.min() >= 0 and f.max() < v.shape[0]
    assert len(np.unique(f)) == v.shape[0]  # every vertex is used
    assert np.all((f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2]))


def test_rest_skeleton_and_mesh_geometry(asset):
    joints = asset["rest_joints"]
    assert abs(joints[0, 1] - (-0.35)) < 0.005  # pelvis at y ~ -0.35
    v = asset["mesh_vertices"]
    lo, hi = v.min(0), v.max(0)
    height = hi[1] - lo[1]
    assert 1.6 < height < 1.9  # a neutral adult in metres, Y up
    assert abs(lo[1] - joints[10:12, 1].min()) < 0.15  # soles near the feet joints
    assert hi[0] - lo[0] > 1.4  # T-pose arm span
    # eyes and jaw inside the head region, eyes symmetric about the midline
    head = v[np.any((asset["skin_joints"] == 15) & (asset["skin_weights"] > 0.5), axis=1)]
    for j in (22, 23, 24):
        assert np.all(joints[j] > head.min(0)) and np.all(joints[j] < head.max(0))
    assert abs(joints[23, 0] + joints[24, 0]) < 1e-4 and joints[23, 0] > 0.02


def test_skinning_follows_fk(asset):
    """Pose the mesh with FK + LBS: a bent left elbow moves only left-arm vertices rigidly."""
    joints = asset["rest_joints"].astype(np.float64)
    v = asset["mesh_vertices"].astype(np.float64)
    sj, sw = asset["skin_joints"].astype(np.int64), asset["skin_weights"].astype(np.float64)
    R = np.broadcast_to(np.eye(3), (55, 3, 3)).copy()
    R[18] = axis_angle_to_matrix(np.array([0.0, -1.2, 0.0]))
    pos, rot = forward_kinematics(R, sk.rest_offsets(joints), sk.PARENTS)
    moved = np.sum(
        (np.einsum("vkij,vkj->vki", rot[sj], v[:, None] - joints[sj]) + pos[sj]) * sw[..., None], 1
    )
    # vertices bound only to the left hand / forearm move rigidly with the wrist
    forearm = np.all((sj == 18) | (sw == 0), axis=1)
    rigid = (v[forearm] - joints[18]) @ R[18].T + joints[18]
    np.testing.assert_allclose(moved[forearm], rigid, atol=1e-9)
    assert forearm.sum() > 100
    # vertices with no weight on the left elbow subtree do not move
    subtree = [18, 20] + list(range(25, 40))
    still = ~np.any(np.isin(sj, subtree) & (sw > 0), axis=1)
    np.testing.assert_allclose(moved[still], v[still], atol=1e-12)


def test_licence_and_notice_present():
    lic = open(os.path.join(ASSETS, "LICENSE-mannequin-x.txt"), encoding="utf-8").read()
    assert "Apache License" in lic and "Version 2.0" in lic
    notice = open(os.path.join(ASSETS, "NOTICE.md"), encoding="utf-8").read()
    assert "mannequin-x" in notice and "0.3.0" in notice and "Boscolo Camiletto" in notice
