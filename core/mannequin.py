"""The mannequin character made ready for Blender (numpy only): its bones' display lengths
and its skin weights as vertex groups (vertices of equal weight together, so each group is
filled in a few bulk calls)."""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_BONE_LENGTH", "MAX_BONE_LENGTH", "bone_lengths", "bone_tails", "vertex_groups"]

#: Display lengths of the character's bones are clamped to this range (metres).
MIN_BONE_LENGTH, MAX_BONE_LENGTH = 0.02, 0.3


def bone_lengths(joints, parents) -> np.ndarray:
    """A display length (J,) per bone of rest ``joints`` (J, 3) with ``parents`` (J,): the
    distance to its first child, half the parent's length for leaf bones (0.1 for a lone
    root), clamped to :data:`MIN_BONE_LENGTH` .. :data:`MAX_BONE_LENGTH`."""
    joints = np.asarray(joints)
    n = len(parents)
    lengths = np.zeros(n)
    for j in range(n):
        children = [c for c in range(n) if parents[c] == j]
        if children:
            lengths[j] = np.linalg.norm(joints[children[0]] - joints[j])
    for j in range(n):
        if lengths[j] == 0.0:
            lengths[j] = 0.5 * lengths[parents[j]] if parents[j] >= 0 else 0.1
    return np.clip(lengths, MIN_BONE_LENGTH, MAX_BONE_LENGTH)


def bone_tails(joints, parents) -> np.ndarray:
    """The tail (J, 3) of each bone with its head on rest ``joints`` (J, 3) (Z up): every bone
    points +Z, :func:`bone_lengths` long (so its local frame is the SMPL-X joint frame)."""
    joints = np.asarray(joints, dtype=np.float64)
    tails = joints.copy()
    tails[:, 2] += bone_lengths(joints, parents)
    return tails


def vertex_groups(skin_joints, skin_weights, n_joints: int) -> list[list[tuple[float, list[int]]]]:
    """Per joint 0 .. n_joints - 1, its vertices grouped by weight: a list of (weight, vertex
    indices), weights ascending, vertices in index order. ``skin_joints``, ``skin_weights``
    (V, S): each vertex's S influencing joints and their weights; zero weights are left out."""
    skin_joints = np.asarray(skin_joints)
    skin_weights = np.asarray(skin_weights)
    out = []
    for j in range(n_joints):
        rows, slots = np.nonzero((skin_joints == j) & (skin_weights > 0))
        if rows.size == 0:
            out.append([])
            continue
        weights = skin_weights[rows, slots]
        order = np.argsort(weights, kind="stable")
        values, starts = np.unique(weights[order], return_index=True)
        out.append([(value, idx.tolist()) for value, idx in
                    zip(values.tolist(), np.split(rows[order], starts[1:]), strict=True)])
    return out
