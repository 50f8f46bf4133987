"""core/mannequin.py: the character's bone display lengths and vertex groups."""

from __future__ import annotations

import numpy as np

from core.mannequin import MAX_BONE_LENGTH, MIN_BONE_LENGTH, bone_lengths, bone_tails, vertex_groups


def _chain():
    # root -> a (0.2 up) -> leaf (0.5 away: clamped), and a second child b of root (ignored:
    # the first child decides) with a tiny leaf
    joints = np.array([[0, 0, 0], [0, 0, 0.2], [0, 0.5, 0.2], [0.1, 0, 0], [0.1, 0, 0.001]], float)
    parents = (-1, 0, 1, 0, 3)
    return joints, parents


def test_bone_lengths_first_child_then_half_the_parent_clamped():
    joints, parents = _chain()
    lengths = bone_lengths(joints, parents)
    np.testing.assert_allclose(lengths, [0.2, MAX_BONE_LENGTH, 0.25, MIN_BONE_LENGTH, MIN_BONE_LENGTH])


def test_a_lone_root_is_a_tenth_of_a_metre():
    np.testing.assert_allclose(bone_lengths(np.zeros((1, 3)), (-1,)), [0.1])


def test_bone_tails_point_up_by_the_length():
    joints, parents = _chain()
    tails = bone_tails(joints, parents)
    np.testing.assert_allclose(tails[:, :2], joints[:, :2])
    np.testing.assert_allclose(tails[:, 2] - joints[:, 2], bone_lengths(joints, parents))


def test_vertex_groups_gather_equal_weights_and_skip_zeros():
    skin_joints = np.array([[0, 1], [1, 0], [0, 2], [1, 2]])
    skin_weights = np.array([[0.5, 0.5], [0.75, 0.25], [1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    groups = vertex_groups(skin_joints, skin_weights, 4)
    assert groups == [
        [(0.25, [1]), (0.5, [0]), (1.0, [2])],
        [(0.5, [0, 3]), (0.75, [1])],
        [(0.5, [3])],  # vertex 2's zero weight on joint 2 is left out
        [],
    ]
