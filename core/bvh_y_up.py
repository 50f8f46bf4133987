"""BVH files the way BVH readers expect them: Y up.

Blender's BVH exporter writes the armature's own space (Blender's Z up, the object's transform
left out), so every reader that takes Y as up (Blender's own importer with its defaults,
MotionBuilder, Unreal, bvhio) shows the character lying on its back. :func:`to_world_y_up`
rewrites such a file into the world's space, turned Y up as BEAT, Trinity and Mixamo BVHs are:
with ``linear`` (the armature object's 3x3) and ``translation`` (its location),

- every OFFSET ``p`` becomes ``C @ linear @ p`` (plus ``C @ translation`` for root joints),
- every root position channel likewise (positions of parentless joints are absolute),
- every joint's rotation ``R`` (from its Euler channels, in their order) becomes
  ``Q @ R @ Q.T`` with ``Q = C @ rotation(linear)``, written back in the same channel order,
  each frame's angles the equivalent nearest to the previous frame's (no 360-degree jumps).

``C`` turns Blender's Z up into Y up: ``(x, y, z) -> (x, z, -y)`` (the inverse of
docs/DESIGN.md's SMPL-X -> Blender). numpy only.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .bvh import euler_to_matrix, format_bvh, matrix_to_euler, parse_bvh

Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _continuous(angles: np.ndarray) -> np.ndarray:
    """Each frame's Euler angles (degrees) replaced by the equivalent (the same rotation: the
    other solution, whole turns added) nearest to the previous frame's."""
    out = angles.copy()
    for t in range(1, len(out)):
        prev = out[t - 1]
        best, cost = None, math.inf
        a, b, c = angles[t]
        for cand in (np.array([a, b, c]), np.array([a + 180.0, 180.0 - b, c + 180.0])):
            cand = cand - 360.0 * np.round((cand - prev) / 360.0)
            d = float(np.abs(cand - prev).sum())
            if d < cost:
                best, cost = cand, d
        out[t] = best
    return out


def _polar_rotation(linear: np.ndarray) -> np.ndarray:
    """The orthogonal part of ``linear`` (rotation, possibly with a mirror), scale left out."""
    u, _s, vt = np.linalg.svd(linear)
    return u @ vt


def to_world_y_up(text: str, linear=None, translation=None, name: str = "the exported BVH") -> str:
    """The BVH ``text`` (as Blender's exporter writes it: armature space, Z up) in world space
    turned Y up; ``linear`` (3x3) and ``translation`` (3,) the armature object's world
    transform (identity and zero by default). Read by :func:`core.bvh.parse_bvh` and written by
    :func:`core.bvh.format_bvh`; :class:`~core.bvh.BvhError` (naming ``name``) when the text is
    not a BVH."""
    clip = parse_bvh(text, name)
    lin = np.eye(3) if linear is None else np.asarray(linear, dtype=np.float64).reshape(3, 3)
    shift = np.zeros(3) if translation is None else np.asarray(translation, dtype=np.float64).reshape(3)
    to_y = Z_UP_TO_Y_UP @ lin
    q = Z_UP_TO_Y_UP @ _polar_rotation(lin)
    root_shift = Z_UP_TO_Y_UP @ shift  # the object's location goes to the ROOT alone: the
    # importer places every other joint from it
    roots = np.array([p < 0 for p in clip.parents])
    offsets = clip.offsets @ to_y.T
    offsets[roots] += root_shift
    values = clip.values.copy()
    for j, names in enumerate(clip.channels):
        first = clip.columns(j).start
        if all(f"{a}position" in names for a in "XYZ"):
            cols = [first + names.index(f"{a}position") for a in "XYZ"]
            values[:, cols] = values[:, cols] @ to_y.T + (root_shift if roots[j] else 0.0)
        rot = [c for c in names if c.endswith("rotation")]
        if len(rot) == 3:
            order = "".join(c[0] for c in rot)
            cols = [first + names.index(c) for c in rot]
            turned = q @ euler_to_matrix(values[:, cols], order) @ q.T
            values[:, cols] = _continuous(matrix_to_euler(turned, order))
    return format_bvh(dataclasses.replace(clip, offsets=offsets, end_offsets=clip.end_offsets @ to_y.T,
                                          values=values))
