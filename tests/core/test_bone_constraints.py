"""core.bone_constraints: a rig's constraint-driven rotations in numpy, and the keys that undo them.

Blender's own evaluation of the same relations (a Rigify control rig) is compared in
tests/blender/test_retarget.py; here the maths is checked against hand-built cases.
"""

import numpy as np
import pytest

from core import bone_constraints as bc
from core.rotations import axis_angle_to_matrix, geodesic_angle, matrix_to_quat, quat_slerp, quat_to_matrix


def rot(rng, n=None):
    return axis_angle_to_matrix(rng.normal(size=(3,) if n is None else (n, 3)))


def chain_of(names, parent, constraints, keyed, rng, inherit=None, pose=None):
    n = len(names)
    return bc.BoneChain(
        names=tuple(names), parent=np.array(parent), rest=rot(rng, n),
        inherit=np.ones(n, bool) if inherit is None else np.array(inherit),
        pose=np.broadcast_to(np.eye(3), (n, 3, 3)).copy() if pose is None else pose,
        constraints=tuple(constraints), keyed=np.array(keyed))


def test_a_plain_hierarchy_is_blenders_parent_chain():
    rng = np.random.default_rng(1)
    ch = chain_of(["a", "b", "c"], [-1, 0, 1], [(), (), ()], [0, 2], rng)
    keys = rot(rng, 4 * 2).reshape(4, 2, 3, 3)
    pose = bc.evaluate(ch, keys)
    m = ch.rest
    np.testing.assert_allclose(pose[:, 0], m[0] @ keys[:, 0], atol=1e-12)
    np.testing.assert_allclose(pose[:, 1], pose[:, 0] @ m[0].T @ m[1], atol=1e-12)  # b at rest
    np.testing.assert_allclose(pose[:, 2], pose[:, 1] @ m[1].T @ m[2] @ keys[:, 1], atol=1e-12)


def test_no_inherit_rotation_ignores_the_parents_turn():
    rng = np.random.default_rng(2)
    ch = chain_of(["a", "b"], [-1, 0], [(), ()], [0, 1], rng, inherit=[True, False])
    keys = rot(rng, 6).reshape(3, 2, 3, 3)
    np.testing.assert_allclose(bc.evaluate(ch, keys)[:, 1], ch.rest[1] @ keys[:, 1], atol=1e-12)


def test_copy_world_at_half_influence_is_the_slerp_halfway():
    rng = np.random.default_rng(3)
    # t: keyed target; m: mechanism bone copying t's world rotation at 0.5; k: keyed under m
    ch = chain_of(["t", "m", "k"], [-1, -1, 1],
                  [(), (bc.Constraint(bc.COPY_WORLD, (0,), 0.5),), ()], [0, 2], rng)
    keys = rot(rng, 10).reshape(5, 2, 3, 3)
    pose = bc.evaluate(ch, keys)
    half = quat_to_matrix(quat_slerp(matrix_to_quat(np.broadcast_to(ch.rest[1], (5, 3, 3))),
                                     matrix_to_quat(pose[:, 0]), 0.5))
    np.testing.assert_allclose(pose[:, 1], half, atol=1e-9)


def test_copy_local_takes_the_targets_turn_from_its_own_rest():
    rng = np.random.default_rng(4)
    # r keyed root; t keyed child of r; m child of r copying t's local rotation (influence 1)
    ch = chain_of(["r", "t", "m"], [-1, 0, 0],
                  [(), (), (bc.Constraint(bc.COPY_LOCAL, (1,), 1.0),)], [0, 1], rng)
    keys = rot(rng, 8).reshape(4, 2, 3, 3)
    pose = bc.evaluate(ch, keys)
    base_m = pose[:, 0] @ ch.rest[0].T @ ch.rest[2]
    np.testing.assert_allclose(pose[:, 2], base_m @ keys[:, 1], atol=1e-12)
    at_rest = chain_of(["r", "m"], [-1, 0], [(), (bc.Constraint(bc.COPY_LOCAL, (), 1.0),)], [0], rng,
                       pose=np.stack([np.eye(3), rot(rng)]))  # m's own turn is replaced by rest
    p = bc.evaluate(at_rest, keys[:, :1])
    np.testing.assert_allclose(p[:, 1], p[:, 0] @ at_rest.rest[0].T @ at_rest.rest[1], atol=1e-12)


def test_armature_constraint_follows_its_targets_deformation():
    rng = np.random.default_rng(5)
    ch = chain_of(["t", "m"], [-1, -1], [(), (bc.Constraint(bc.ARMATURE, (0,), 1.0, (1.0,)),)], [0], rng)
    keys = rot(rng, 3)[:, None]
    pose = bc.evaluate(ch, keys)
    np.testing.assert_allclose(pose[:, 1], pose[:, 0] @ ch.rest[0].T @ ch.rest[1], atol=1e-9)


def test_solve_gives_the_keys_that_show_the_wanted_rotations_under_constraints():
    rng = np.random.default_rng(6)
    # a Rigify-like torso: keyed torso, chest; spine mechanism copying chest locally at 0.5
    # twice; a neck mechanism copying the torso's world rotation at 0.5; keyed neck and arm
    c = bc.Constraint
    names = ["torso", "chest", "mch_sp2", "sp2", "mch_sp3", "sp3", "mch_neck", "neck", "arm"]
    parent = [-1, 0, 0, 2, 3, 4, 5, 6, 5]
    cons = [(), (), (c(bc.COPY_LOCAL, (1,), 0.5),), (), (c(bc.COPY_LOCAL, (1,), 0.5),), (),
            (c(bc.COPY_WORLD, (0,), 0.5),), (), ()]
    ch = chain_of(names, parent, cons, [0, 1, 7, 8], rng)
    wanted = rot(rng, 40).reshape(10, 4, 3, 3)
    keys = bc.solve(ch, wanted)
    shown = bc.evaluate(ch, keys)[:, ch.keyed]
    assert np.degrees(geodesic_angle(shown, wanted)).max() < 1e-9
    # the naive keys (parents at rest relation, constraints ignored) miss them
    plain = chain_of(names, parent, [()] * len(names), [0, 1, 7, 8], np.random.default_rng(6))
    naive = bc.solve(plain, wanted)
    assert np.degrees(geodesic_angle(bc.evaluate(ch, naive)[:, ch.keyed], wanted)).max() > 5.0


def test_chains_out_of_order_or_with_constrained_keyed_bones_are_refused():
    rng = np.random.default_rng(7)
    with pytest.raises(ValueError, match="comes before"):
        chain_of(["a", "b"], [1, -1], [(), ()], [0], rng)
    with pytest.raises(ValueError, match="comes before"):
        chain_of(["a", "b"], [-1, -1], [(bc.Constraint(bc.COPY_WORLD, (1,)),), ()], [1], rng)
    with pytest.raises(ValueError, match="keyed bones with constraints"):
        chain_of(["a", "b"], [-1, -1], [(), (bc.Constraint(bc.COPY_WORLD, (0,)),)], [1], rng)
    with pytest.raises(ValueError, match="unknown constraint kind"):
        bc.Constraint("IK", (0,))
    ch = chain_of(["a"], [-1], [()], [0], rng)
    with pytest.raises(ValueError, match="wanted must be"):
        bc.solve(ch, np.zeros((3, 2, 3, 3)))
