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

import math

import numpy as np

from .bvh import BvhError, euler_to_matrix, matrix_to_euler

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


def to_world_y_up(text: str, linear=None, translation=None) -> str:
    """The BVH ``text`` (as Blender's exporter writes it: armature space, Z up) in world space
    turned Y up; ``linear`` (3x3) and ``translation`` (3,) the armature object's world
    transform (identity and zero by default). :class:`BvhError` when the text is not a BVH."""
    lin = np.eye(3) if linear is None else np.asarray(linear, dtype=np.float64).reshape(3, 3)
    shift = np.zeros(3) if translation is None else np.asarray(translation, dtype=np.float64).reshape(3)
    to_y = Z_UP_TO_Y_UP @ lin
    q = Z_UP_TO_Y_UP @ _polar_rotation(lin)
    lines = text.splitlines()
    try:
        motion_at = next(i for i, ln in enumerate(lines) if ln.strip() == "MOTION")
    except StopIteration:
        raise BvhError("not a BVH file (no MOTION section)") from None
    out = []
    # hierarchy: offsets turned; channel layout collected in file order. The object's location
    # goes to the ROOT alone (its OFFSET and position channels: the importer places every
    # other joint from it)
    layout = []  # per joint: (first column, channel names, is the ROOT)
    column = 0
    blocks: list[list] = []  # open ROOT / JOINT / End Site blocks: [kind]
    for line in lines[:motion_at]:
        words = line.split()
        head = words[0] if words else ""
        indent = line[:len(line) - len(line.lstrip())]
        if head in ("ROOT", "JOINT") or line.strip() == "End Site":
            blocks.append([head if head != "End" else "End Site"])
            out.append(line)
        elif head == "OFFSET":
            try:
                p = to_y @ np.array([float(v) for v in words[1:4]])
            except ValueError:
                raise BvhError(f"not a BVH offset: {line.strip()!r}") from None
            if blocks and blocks[-1][0] == "ROOT":
                p = p + Z_UP_TO_Y_UP @ shift
            out.append(f"{indent}OFFSET {p[0]:.6f} {p[1]:.6f} {p[2]:.6f}")
        elif head == "CHANNELS":
            n = int(words[1])
            layout.append((column, words[2:2 + n], bool(blocks) and blocks[-1][0] == "ROOT"))
            column += n
            out.append(line)
        else:
            if head == "}" and blocks:
                blocks.pop()
            out.append(line)
    frames_lines = lines[motion_at:]
    header = []
    rows = []
    for line in frames_lines:
        if not rows and (not line.strip() or line.strip() == "MOTION" or ":" in line):
            header.append(line)
        elif line.strip():
            rows.append([float(v) for v in line.split()])
    if not rows:
        return "\n".join(out + header) + "\n"
    data = np.array(rows, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != column:
        raise BvhError(f"a BVH whose frames have {data.shape[-1]} values for {column} channels")
    for first, names, absolute in layout:
        pos = [n for n in names if n.endswith("position")]
        rot = [n for n in names if n.endswith("rotation")]
        if len(pos) == 3:
            cols = [first + names.index(f"{a}position") for a in "XYZ"]
            p = data[:, cols] @ to_y.T
            if absolute:
                p = p + Z_UP_TO_Y_UP @ shift
            data[:, cols] = p
        if len(rot) == 3:
            order = "".join(n[0] for n in rot)
            cols = [first + names.index(n) for n in rot]
            r = euler_to_matrix(data[:, cols], order)
            data[:, cols] = _continuous(matrix_to_euler(q @ r @ q.T, order))
    body = [" ".join(f"{v:.6f}" for v in row) for row in data]
    return "\n".join(out + header + body) + "\n"

