"""BVH motion files: read and write (numpy only).

A BVH file holds a joint hierarchy (``ROOT``/``JOINT`` with an ``OFFSET`` from the parent and
``CHANNELS``; ``End Site`` tips) and a motion table (one row per frame, ``Frame Time`` seconds
apart). Every joint's rest frame is the file's world frame (no rest rotations); a joint's local
rotation is the product of its rotation channels in the order listed (``Zrotation Xrotation
Yrotation`` -> ``Rz @ Rx @ Ry``), angles in degrees. Offsets and positions are in the file's
unit (centimetres for Mixamo, Rokoko and Xsens exports, metres or inches elsewhere:
:func:`unit_scale` guesses it from the skeleton's size).

- :func:`read_bvh` -> :class:`BvhClip`; :func:`local_rotations`, :func:`world_rotations` and
  :func:`root_positions` decode its channels.
- :func:`write_bvh` writes rotations (``Zrotation Xrotation Yrotation``) and root positions;
  :func:`format_bvh` is the text of any :class:`BvhClip` (channels in their own order), so a
  parsed clip can be changed and written back (:mod:`core.bvh_y_up`).
- :func:`rest_heads` gives the rest-pose joint positions; :func:`bone_axes` a rest frame per
  joint with its +Y along the bone (Blender's convention, for :mod:`core.retarget`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError

ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
WRITE_ORDER = "ZXY"  # rotation channel order write_bvh uses


class BvhError(UserError):
    """A BVH file that cannot be read; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class BvhClip:
    """A parsed BVH file. Joints in file order (parents before children)."""

    names: tuple[str, ...]
    parents: tuple[int, ...]  # index of each joint's parent, -1 for the root
    offsets: np.ndarray  # (J, 3) from the parent's head, in the file's unit
    end_offsets: np.ndarray  # (J, 3) the End Site tip of a leaf joint, NaN where there is none
    channels: tuple[tuple[str, ...], ...]  # per joint, e.g. ("Xposition", ..., "Zrotation", ...)
    frame_time: float  # seconds per frame
    values: np.ndarray  # (T, C) the motion table, C = total channels

    @property
    def n_frames(self) -> int:
        return self.values.shape[0]

    @property
    def fps(self) -> float:
        """Frames per second; within 0.01 of a whole number it is that number (``Frame Time``
        is written with a few decimals: 0.0166667 is 60 fps)."""
        rate = 1.0 / self.frame_time
        return float(round(rate)) if abs(rate - round(rate)) < 0.01 else rate

    def columns(self, joint: int) -> range:
        """The motion table's columns of ``joint``'s channels."""
        start = sum(len(c) for c in self.channels[:joint])
        return range(start, start + len(self.channels[joint]))


# ---- reading -----------------------------------------------------------------------------------
def read_bvh(path) -> BvhClip:
    """Parse the BVH file at ``path``; :class:`BvhError` naming it when it cannot."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BvhError(f"{path}: cannot read the BVH file: {exc.strerror}") from None
    return parse_bvh(text, str(path))


def parse_bvh(text: str, name: str = "the BVH file") -> BvhClip:
    """Parse BVH ``text`` (``name`` labels errors)."""
    lines = text.splitlines()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    ends: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    stack: list[int] = []  # open joints (-2 marks an End Site block)
    pending: int | None = None  # a joint or End Site whose "{" comes next
    i = 0

    def fail(msg: str, line: int) -> BvhError:
        return BvhError(f"{name}, line {line + 1}: {msg}")

    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or lines[i].strip().upper() != "HIERARCHY":
        raise BvhError(f"{name}: not a BVH file (it does not start with HIERARCHY)")
    i += 1
    while i < len(lines):
        words = lines[i].split()
        if not words:
            i += 1
            continue
        key = words[0].upper()
        if key in ("ROOT", "JOINT"):
            if key == "ROOT" and (names or stack):
                raise fail("a second ROOT; only one skeleton per file is supported", i)
            if key == "JOINT" and not stack:
                raise fail("JOINT outside of ROOT", i)
            joint_name = lines[i].strip()[len(words[0]):].strip()
            if not joint_name:
                raise fail(f"{words[0]} without a name", i)
            names.append(joint_name)
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            ends.append([np.nan] * 3)
            channels.append(())
            pending = len(names) - 1
        elif key == "END":
            if not stack or stack[-1] < 0:
                raise fail("End Site outside of a joint", i)
            pending = -2
        elif key == "{":
            if pending is None:
                raise fail("'{' without a joint", i)
            stack.append(pending)
            pending = None
        elif key == "}":
            if not stack:
                raise fail("'}' without an open joint", i)
            stack.pop()
        elif key == "OFFSET":
            if not stack or len(words) < 4:
                raise fail("OFFSET needs three numbers inside a joint", i)
            try:
                value = [float(w) for w in words[1:4]]
            except ValueError:
                raise fail(f"OFFSET has a value that is not a number: {' '.join(words[1:4])}", i) from None
            if stack[-1] == -2:
                ends[stack[-2]] = value
            else:
                offsets[stack[-1]] = value
        elif key == "CHANNELS":
            if not stack or stack[-1] < 0:
                raise fail("CHANNELS outside of a joint", i)
            try:
                count = int(words[1])
            except (IndexError, ValueError):
                raise fail("CHANNELS needs a count", i) from None
            kinds = tuple(words[2:2 + count])
            known = {c.upper(): c for c in ROTATION_CHANNELS + POSITION_CHANNELS}
            if len(kinds) != count or any(k.upper() not in known for k in kinds):
                raise fail(f"CHANNELS {count} {' '.join(words[2:])}: expected {count} of "
                           f"{', '.join(ROTATION_CHANNELS + POSITION_CHANNELS)}", i)
            channels[stack[-1]] = tuple(known[k.upper()] for k in kinds)
        elif key == "MOTION":
            break
        else:
            raise fail(f"unexpected {words[0]!r} in the hierarchy", i)
        i += 1
    if not names:
        raise BvhError(f"{name}: no ROOT joint in the hierarchy")
    if stack or i >= len(lines):
        raise BvhError(f"{name}: the hierarchy is not closed or there is no MOTION section")
    n_frames, frame_time, i = _motion_header(lines, i + 1, name)
    n_channels = sum(len(c) for c in channels)
    body = "\n".join(lines[i:])
    with warnings.catch_warnings():  # numpy warns where it stops at a value that is no number
        warnings.simplefilter("ignore", DeprecationWarning)
        values = np.fromstring(body, dtype=np.float64, sep=" ")  # one pass, no list of strings
    if values.size < n_frames * n_channels and values.size < len(body.split()):  # (split: errors only)
        raise BvhError(f"{name}: the motion table holds a value that is not a number")
    if n_channels == 0 or values.size < n_frames * n_channels:
        raise BvhError(f"{name}: {n_frames} frames of {n_channels} channels announced, but the motion "
                       f"table holds {values.size} values")
    values = values[: n_frames * n_channels].reshape(n_frames, n_channels)
    if not np.isfinite(values).all():
        raise BvhError(f"{name}: the motion table holds values that are not finite")
    return BvhClip(tuple(names), tuple(parents), np.array(offsets, dtype=np.float64),
                   np.array(ends, dtype=np.float64), tuple(channels), frame_time, values)


def _motion_header(lines: list[str], i: int, name: str) -> tuple[int, float, int]:
    n_frames = frame_time = None
    while i < len(lines) and (n_frames is None or frame_time is None):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        head, _, value = line.partition(":")
        try:
            if head.strip().lower() == "frames":
                n_frames = int(value)
            elif head.strip().lower() == "frame time":
                frame_time = float(value)
            else:
                break
        except ValueError:
            break
    if n_frames is None or frame_time is None or n_frames < 0 or not frame_time > 0:
        raise BvhError(f"{name}: the MOTION section needs 'Frames: N' and 'Frame Time: seconds' (> 0)")
    return n_frames, frame_time, i


# ---- decoding ----------------------------------------------------------------------------------
_AXES = {"X": 0, "Y": 1, "Z": 2}


def euler_to_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """``(..., k)`` angles in degrees, in channel ``order`` (k axis letters, e.g. "ZXY": the first
    channel is the Z angle) -> ``(..., 3, 3)`` rotation matrices ``R_first @ R_second @ ...``
    (BVH's rule)."""
    angles = np.radians(np.asarray(angles_deg, dtype=np.float64))
    out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for col, axis in enumerate(order):
        a = _AXES[axis]
        b, c = (a + 1) % 3, (a + 2) % 3  # cyclic: the right-handed rotation about the axis
        cos, sin = np.cos(angles[..., col]), np.sin(angles[..., col])
        r = np.zeros(angles.shape[:-1] + (3, 3))
        r[..., a, a] = 1.0
        r[..., b, b] = cos
        r[..., c, c] = cos
        r[..., b, c] = -sin
        r[..., c, b] = sin
        out = out @ r
    return out


def matrix_to_euler(matrices: np.ndarray, order: str) -> np.ndarray:
    """Inverse of :func:`euler_to_matrix` for three axes: ``(..., 3, 3)`` -> ``(..., 3)``
    degrees in channel ``order``, the middle angle within [-90, 90]."""
    i, j, k = (_AXES[a] for a in order)
    even = (j - i) % 3 == 1  # XYZ, YZX, ZXY
    e = 1.0 if even else -1.0
    m = np.asarray(matrices, dtype=np.float64)
    middle = np.arcsin(np.clip(e * m[..., i, k], -1.0, 1.0))
    first = np.arctan2(-e * m[..., j, k], m[..., k, k])
    last = np.arctan2(-e * m[..., i, j], m[..., i, i])
    return np.degrees(np.stack([first, middle, last], axis=-1))


def local_rotations(clip: BvhClip) -> np.ndarray:
    """(T, J, 3, 3): each joint's rotation relative to its parent (the product of its rotation
    channels in the listed order; identity for a joint without rotation channels)."""
    out = np.broadcast_to(np.eye(3), (clip.n_frames, len(clip.names), 3, 3)).copy()
    for j, kinds in enumerate(clip.channels):
        rot = [(kind[0], col) for kind, col in zip(kinds, clip.columns(j), strict=True)
               if kind in ROTATION_CHANNELS]
        if rot:
            out[:, j] = euler_to_matrix(clip.values[:, [c for _, c in rot]], "".join(a for a, _ in rot))
    return out


def world_rotations(clip: BvhClip, local=None) -> np.ndarray:
    """(T, J, 3, 3): each joint's rotation in the file's world frame (parent's times local)."""
    local = local_rotations(clip) if local is None else local
    out = np.empty_like(local)
    for j, p in enumerate(clip.parents):
        out[:, j] = local[:, j] if p < 0 else out[:, p] @ local[:, j]
    return out


def root_positions(clip: BvhClip) -> np.ndarray:
    """(T, 3): the root joint's position in the file's unit (its offset where it has no position
    channels)."""
    pos = np.broadcast_to(clip.offsets[0], (clip.n_frames, 3)).copy()
    for kind, col in zip(clip.channels[0], clip.columns(0), strict=True):
        if kind in POSITION_CHANNELS:
            pos[:, POSITION_CHANNELS.index(kind)] = clip.values[:, col]
    return pos


def rest_heads(clip: BvhClip) -> np.ndarray:
    """(J, 3): rest-pose joint positions (the offsets summed down the hierarchy), file unit."""
    heads = np.zeros((len(clip.names), 3))
    for j, p in enumerate(clip.parents):
        heads[j] = clip.offsets[j] + (heads[p] if p >= 0 else 0.0)
    return heads


def unit_scale(clip: BvhClip) -> float:
    """File unit -> metres, guessed from the skeleton's rest size: its largest extent (height,
    or arm span in a T-pose) over 10 units means centimetres (0.01), else metres (1)."""
    heads = rest_heads(clip)
    extent = float(np.max(heads.max(0) - heads.min(0)))
    return 0.01 if extent > 10.0 else 1.0


def _children(parents) -> list[list[int]]:
    """Each joint's children, in index order, from ``parents`` (-1 for the root)."""
    children: list[list[int]] = [[] for _ in parents]
    for j, p in enumerate(parents):
        if p >= 0:
            children[p].append(j)
    return children


def bone_axes(clip: BvhClip) -> np.ndarray:
    """(J, 3, 3): a rest frame per joint with its +Y column along the bone (towards its only
    child, the mean of several children, or its End Site; a zero-length bone takes its parent's
    direction). The other two axes are any perpendicular pair (the roll does not matter)."""
    n = len(clip.names)
    children = _children(clip.parents)
    out = np.empty((n, 3, 3))
    for j in range(n):
        if children[j]:
            d = np.mean([clip.offsets[c] for c in children[j]], axis=0)
        elif np.isfinite(clip.end_offsets[j]).all():
            d = clip.end_offsets[j]
        else:
            d = np.zeros(3)
        norm = np.linalg.norm(d)
        if norm < 1e-9:
            p = clip.parents[j]
            y = out[p][:, 1] if p >= 0 else np.array([0.0, 1.0, 0.0])
        else:
            y = d / norm
        helper = np.array([1.0, 0.0, 0.0]) if abs(y[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
        x = np.cross(y, helper)
        x /= np.linalg.norm(x)
        out[j] = np.stack([x, y, np.cross(x, y)], axis=1)
    return out


# ---- writing -----------------------------------------------------------------------------------
def format_bvh(clip: BvhClip) -> str:
    """The BVH text of ``clip``: its hierarchy (each joint's OFFSET, its CHANNELS in their own
    order, End Site tips where ``end_offsets`` has them) depth first, then its motion table."""
    n = len(clip.names)
    children = _children(clip.parents)
    roots = [j for j in range(n) if clip.parents[j] < 0]
    if len(roots) != 1:
        raise ValueError(f"format_bvh: expected one root joint, got {len(roots)}")
    out: list[str] = ["HIERARCHY"]
    order: list[int] = []  # joints in the order written (their channels' order in the table)

    def numbers(values) -> str:
        return " ".join(f"{v:.6f}" for v in values)

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        order.append(j)
        out.append(f"{pad}{'ROOT' if clip.parents[j] < 0 else 'JOINT'} {clip.names[j]}")
        out.append(pad + "{")
        out.append(f"{pad}  OFFSET {numbers(clip.offsets[j])}")
        out.append(f"{pad}  CHANNELS {len(clip.channels[j])} {' '.join(clip.channels[j])}".rstrip())
        for c in children[j]:
            emit(c, depth + 1)
        tip = np.asarray(clip.end_offsets[j], dtype=np.float64)
        if np.isfinite(tip).all():
            out.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET {numbers(tip)}", pad + "  }"])
        out.append(pad + "}")

    emit(roots[0], 0)
    columns = [c for j in order for c in clip.columns(j)]
    table = np.asarray(clip.values, dtype=np.float64)[:, columns]
    out += ["MOTION", f"Frames: {table.shape[0]}", f"Frame Time: {clip.frame_time:.8f}"]
    return "\n".join(out + [numbers(row) for row in table]) + "\n"


def write_bvh(path, names, parents, offsets, local_rot, root_pos, fps: float,
              end_offsets=None) -> Path:
    """Write a BVH file: joints ``names`` with ``parents`` (parents first) and ``offsets`` (J, 3),
    their local rotations ``local_rot`` (T, J, 3, 3) as ``Zrotation Xrotation Yrotation`` and
    the root's position ``root_pos`` (T, 3); ``end_offsets`` (J, 3, NaN for none) adds End
    Site tips to leaf joints (a leaf without one gets a zero tip). Written under a temporary
    name and renamed into place."""
    from .files import atomic_write

    offsets = np.asarray(offsets, dtype=np.float64)
    rot = np.asarray(local_rot, dtype=np.float64)
    n = len(names)
    if rot.shape[1:] != (n, 3, 3) or offsets.shape != (n, 3) or np.shape(root_pos) != (rot.shape[0], 3):
        raise ValueError(f"write_bvh: {n} joints need offsets ({n}, 3), rotations (T, {n}, 3, 3) and "
                         f"root positions (T, 3); got {offsets.shape}, {rot.shape}, {np.shape(root_pos)}")
    roots = [j for j in range(n) if parents[j] < 0]
    if len(roots) != 1:
        raise ValueError(f"write_bvh: expected one root joint, got {len(roots)}")
    is_parent = np.zeros(n, dtype=bool)
    is_parent[[p for p in parents if p >= 0]] = True
    tips = np.full((n, 3), np.nan) if end_offsets is None else np.array(end_offsets, dtype=np.float64)
    tips[is_parent] = np.nan
    tips[~is_parent & ~np.isfinite(tips).all(axis=1)] = 0.0
    rot_channels = tuple(f"{a}rotation" for a in WRITE_ORDER)
    channels = tuple(POSITION_CHANNELS + rot_channels if p < 0 else rot_channels for p in parents)
    angles = matrix_to_euler(rot, WRITE_ORDER)  # (T, J, 3)
    values = np.concatenate([np.asarray(root_pos, dtype=np.float64)[:, None, :], angles], axis=1)
    keep = [c for j in range(n) for c in ([0, j + 1] if parents[j] < 0 else [j + 1])]
    table = values[:, keep].reshape(rot.shape[0], -1)
    clip = BvhClip(tuple(names), tuple(int(p) for p in parents), offsets, tips, channels, 1.0 / float(fps),
                   table)
    data = format_bvh(clip).encode("utf-8")
    return atomic_write(os.fspath(path), lambda f: f.write(data))
