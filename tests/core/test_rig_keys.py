"""core.rig_keys: SMPL-X rotations -> a rig's keys -> SMPL-X rotations, for every kind of rig."""

import numpy as np

from core import bone_constraints as bc
from core import retarget as rt
from core.rig_keys import KeyTarget, from_keys, to_keys
from core.rotations import axis_angle_to_matrix, axis_angle_to_quat, geodesic_angle, quat_to_matrix
from tests.core.rigs import mixamo_fbx_rig, random_motion

T = 24


def worst(a, b) -> float:
    return float(np.degrees(geodesic_angle(a, b)).max())


def test_smplx_rig_with_a_change_of_frame_round_trips():
    rng = np.random.default_rng(0)
    joints = tuple(range(22))
    change = axis_angle_to_quat(rng.normal(size=(22, 3)))
    target = KeyTarget(joints, columns=joints, change=change)
    local = random_motion(T, 22)
    keys = to_keys(target, local, 5, 5 + T, 30.0)  # scene at the model's rate: frame for frame
    assert keys.shape == (T, 22, 4) and np.all(keys[0, :, 0] >= 0)
    back = from_keys(target, keys, 55)
    assert back.shape == (T, 55, 3, 3) and worst(back[:, :22], local) < 1e-4
    np.testing.assert_allclose(back[:, 22:], np.broadcast_to(np.eye(3), (T, 33, 3, 3)), atol=1e-7)


def test_a_clip_at_its_own_rate_lands_on_the_scenes_frames():
    joints = tuple(range(55))
    clip = random_motion(2 * T, 55, scale=0.2)  # 60 fps, played on a 30 fps scene
    keys = to_keys(KeyTarget(joints), clip, 0, T, 30.0, source_fps=60.0)
    back = from_keys(KeyTarget(joints), keys)
    assert worst(back, clip[::2]) < 1e-4  # SMPL-X rigs read back in float32


def test_retargeted_rig_round_trips_for_every_mapped_joint():
    rig, jb = mixamo_fbx_rig()
    r = rt.build(rig, jb, n_joints=22)
    target = KeyTarget(tuple(int(j) for j in r.key_joint), retarget=r)
    local = random_motion(T, 22, scale=0.4)
    keys = to_keys(target, local, 1, 1 + T, 30.0)
    np.testing.assert_allclose(keys, rt.to_target(r, local), atol=1e-12)  # the retargeting itself
    assert worst(from_keys(target, keys, 22), local) < 1e-6


def test_constrained_rig_keys_undo_the_constraints_and_round_trip():
    rig, jb = mixamo_fbx_rig()
    r = rt.build(rig, jb, n_joints=22)
    # a mechanism bone "MCH" (a still, turned bone) that the rig's root follows at half
    # influence: every keyed bone hangs from a constraint-driven parent
    n = len(r.names)
    mch_pose = axis_angle_to_matrix(np.array([0.3, -0.5, 0.2]))
    chain = bc.BoneChain(
        names=("MCH",) + r.names, parent=np.concatenate([[-1], np.where(r.parent < 0, -1, r.parent + 1)]),
        rest=np.concatenate([np.eye(3)[None], r.rest_rot]), inherit=np.ones(n + 1, bool),
        pose=np.concatenate([mch_pose[None], np.broadcast_to(np.eye(3), (n, 3, 3))]),
        constraints=((), (bc.Constraint(bc.COPY_WORLD, (0,), 0.5),)) + ((),) * (n - 1),
        keyed=r.key_index + 1)
    target = KeyTarget(tuple(int(j) for j in r.key_joint), retarget=r, chain=chain)
    local = random_motion(T, 22, scale=0.4)
    keys = to_keys(target, local, 1, 1 + T, 30.0)
    plain = rt.to_target(r, local)
    assert np.degrees(2 * np.arccos(np.clip(np.abs(np.sum(keys * plain, -1)), 0, 1))).max() > 5.0
    shown = bc.evaluate(chain, quat_to_matrix(keys))
    assert worst(shown[:, chain.keyed], rt.target_poses(r, local)) < 1e-6  # the wanted pose
    assert worst(from_keys(target, keys, 22), local) < 1e-6
    assert from_keys(target, keys).shape == (T, 55, 3, 3)
