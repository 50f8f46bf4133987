"""core/bvh_y_up.py: a Blender-written (armature space, Z up) BVH turned into world space, Y up: every
joint lands where the armature's world transform and the Z-up -> Y-up turn put it, every frame."""

from __future__ import annotations

import numpy as np
import pytest

from core.bvh import BvhError, euler_to_matrix, matrix_to_euler
from core.bvh_y_up import Z_UP_TO_Y_UP, to_world_y_up

ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


@pytest.mark.parametrize("order", ORDERS)
def test_euler_round_trip(order):
    rng = np.random.default_rng(1)
    angles = rng.uniform(-170, 170, size=(200, 3))
    angles[:, 1] = rng.uniform(-89, 89, size=200)
    m = euler_to_matrix(angles, order)
    np.testing.assert_allclose(m @ np.swapaxes(m, 1, 2), np.broadcast_to(np.eye(3), m.shape), atol=1e-12)
    back = matrix_to_euler(m, order)
    np.testing.assert_allclose(back, angles, atol=1e-9)


def test_euler_channel_order_is_bvhs():
    """"Zrotation Xrotation Yrotation" = Rz @ Rx @ Ry."""
    m = euler_to_matrix(np.array([[30.0, 0, 0]]), "ZXY")[0]
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    np.testing.assert_allclose(m, [[c, -s, 0], [s, c, 0], [0, 0, 1]], atol=1e-12)


def _bvh(orders, frames):
    """A chain ROOT hips (6 channels) -> JOINT spine (3) -> JOINT head (3) -> End Site, as
    Blender's exporter lays it out; ``frames`` (n, 12) values."""
    o0, o1, o2 = orders
    text = f"""HIERARCHY
ROOT hips
{{
\tOFFSET 0.100000 0.200000 1.000000
\tCHANNELS 6 Xposition Yposition Zposition {o0[0]}rotation {o0[1]}rotation {o0[2]}rotation
\tJOINT spine
\t{{
\t\tOFFSET 0.000000 0.050000 0.300000
\t\tCHANNELS 3 {o1[0]}rotation {o1[1]}rotation {o1[2]}rotation
\t\tJOINT head
\t\t{{
\t\t\tOFFSET 0.000000 -0.020000 0.400000
\t\t\tCHANNELS 3 {o2[0]}rotation {o2[1]}rotation {o2[2]}rotation
\t\t\tEnd Site
\t\t\t{{
\t\t\t\tOFFSET 0.000000 0.000000 0.200000
\t\t\t}}
\t\t}}
\t}}
}}
MOTION
Frames: {len(frames)}
Frame Time: 0.033333
"""
    return text + "\n".join(" ".join(f"{v:.6f}" for v in row) for row in frames) + "\n"


def _fk(text):
    """World positions (n, 4, 3) of hips, spine, head and the end site, read the BVH way."""
    lines = text.splitlines()
    offsets = [np.array([float(v) for v in ln.split()[1:4]])
               for ln in lines if ln.strip().startswith("OFFSET")]
    orders = ["".join(w[0] for w in ln.split()[2:] if w.endswith("rotation"))
              for ln in lines if ln.strip().startswith("CHANNELS")]
    start = lines.index("MOTION") + 3
    data = np.array([[float(v) for v in ln.split()] for ln in lines[start:] if ln.strip()])
    n = len(data)
    rot = [euler_to_matrix(data[:, 3:6], orders[0]), euler_to_matrix(data[:, 6:9], orders[1]),
           euler_to_matrix(data[:, 9:12], orders[2])]
    pos = [data[:, 0:3]]
    glob = rot[0]
    for j in (1, 2, 3):
        pos.append(pos[-1] + np.einsum("nij,j->ni", glob, offsets[j]))
        if j < 3:
            glob = glob @ rot[j]
    return np.stack(pos, axis=1).reshape(n, 4, 3), offsets[0]


@pytest.mark.parametrize("orders", [("XYZ", "XYZ", "XYZ"), ("ZXY", "YZX", "XZY"), ("ZYX", "YXZ", "ZXY")])
@pytest.mark.parametrize("transform", ["identity", "mixamo", "turned, moved, mirrored"])
def test_joints_land_in_world_space_y_up(orders, transform):
    rng = np.random.default_rng(3)
    n = 40
    frames = np.concatenate([rng.normal(size=(n, 3)) * 0.1 + [0.1, 0.2, 1.0],
                             rng.uniform(-80, 80, size=(n, 9))], axis=1)
    text = _bvh(orders, frames)
    if transform == "identity":
        lin, t = np.eye(3), np.zeros(3)
    elif transform == "mixamo":  # FBX from Mixamo: turned 90 degrees about X, scaled 0.01
        lin, t = euler_to_matrix(np.array([[90.0, 0, 0]]), "XYZ")[0] * 0.01, np.zeros(3)
    else:
        lin = euler_to_matrix(np.array([[10.0, -20.0, 75.0]]), "ZXY")[0] @ np.diag([-1.5, 1.5, 1.5])
        t = np.array([2.0, -3.0, 0.5])
    before, _ = _fk(text)
    after, root_offset = _fk(to_world_y_up(text, lin, t))
    expected = (before @ lin.T + t) @ Z_UP_TO_Y_UP.T
    np.testing.assert_allclose(after, expected, atol=2e-5)
    np.testing.assert_allclose(root_offset, Z_UP_TO_Y_UP @ (lin @ [0.1, 0.2, 1.0] + t), atol=1e-6)


def test_standing_character_stands_up_y():
    """Blender's Z up: the head above the hips along Z; the file: along Y."""
    text = _bvh(("XYZ",) * 3, np.array([[0.1, 0.2, 1.0] + [0.0] * 9]))
    pos, _ = _fk(to_world_y_up(text))
    up = pos[0, 2] - pos[0, 0]
    assert up[1] > 0.6 and abs(up[2]) < 0.1


def test_angles_stay_continuous():
    n = 100
    frames = np.zeros((n, 12))
    frames[:, 3] = np.linspace(-170, 170, n)  # the hips turn smoothly through 0
    out = to_world_y_up(_bvh(("ZXY",) * 3, frames))
    data = np.array([[float(v) for v in ln.split()] for ln in out.splitlines()[-n:]])
    assert np.abs(np.diff(data[:, 3:], axis=0)).max() < 10.0


def test_not_a_bvh():
    with pytest.raises(BvhError, match="no MOTION section"):
        to_world_y_up("HIERARCHY\nROOT x\n")
