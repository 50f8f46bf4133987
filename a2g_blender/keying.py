# SPDX-License-Identifier: GPL-3.0-or-later
"""Bulk keyframes: bone quaternions written and read in one go per F-curve.

Where the F-curves live (legacy or slotted actions) is :mod:`.compat`'s business. Keys are
written with ``keyframe_points.add`` + ``foreach_set("co", ...)`` + ``handles_recalc()`` (hundreds
of times faster than ``keyframe_insert``). Used by generation, batch, pinning and
resampling features alike.
"""

from __future__ import annotations

import numpy as np

from . import compat
from .core.timeline import strictly_rising


def new_action(name: str):
    import bpy

    return bpy.data.actions.new(name)


def quaternion_path(bone_name: str) -> str:
    return f'pose.bones["{_escape(bone_name)}"].rotation_quaternion'


def _escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def write_bone_quaternions(obj, action, bone_names, frames, quats, written: list | None = None) -> int:
    """Key ``rotation_quaternion`` of each bone at ``frames`` in one go.

    ``action`` must be assigned to ``obj`` (see ``compat.assign_action``) and have no F-curves
    for these channels yet. ``frames`` (N,), ``quats`` (N, len(bone_names), 4) (w, x, y, z).
    ``written``: a list that gets ``(data_path, array_index, co)`` of each new F-curve, its
    keys as Blender holds them (for ``actions.seal``; rising frames only). Returns the number
    of keys written.
    """
    frames = np.asarray(frames, dtype=np.float64)
    quats = np.asarray(quats, dtype=np.float64)
    n, n_bones = frames.shape[0], len(bone_names)
    if quats.shape != (n, n_bones, 4):
        raise ValueError(f"quats must be ({n}, {n_bones}, 4), got {quats.shape}")
    new_fcurve = compat.fcurve_maker(obj, action)
    co = np.empty((n, 2), dtype=np.float32)
    co[:, 0] = frames
    rising = strictly_rising(co[:, 0])
    if written is not None and not rising:  # update() would sort the keys out of this order
        raise ValueError("write_bone_quaternions: 'written' needs frames that rise strictly")
    finish = _finisher(rising)
    for b, bone in enumerate(bone_names):
        path = quaternion_path(bone)
        for i in range(4):
            fc = new_fcurve(path, i, bone)
            fc.keyframe_points.add(n)
            co[:, 1] = quats[:, b, i]
            fc.keyframe_points.foreach_set("co", co.ravel())
            finish(fc)
            if written is not None:
                written.append((path, i, co.ravel().copy()))
    return n * n_bones * 4


def _finisher(rising: bool):
    """What a new F-curve needs after its keys are set: ``update()`` (sort, then handles), or
    only the handles when the keys' frames already rise strictly (as generated frames do):
    the same handles, measured on 5.0 and 4.2, without the sort's cost."""
    if rising:
        return lambda fc: fc.keyframe_points.handles_recalc()
    return lambda fc: fc.update()


def read_bone_quaternions(obj, action, bone_names):
    """Read back keys written by :func:`write_bone_quaternions`.

    Returns ``(frames (N,), quats (N, len(bone_names), 4))`` from the w-channel's frames.
    """
    curves = {(fc.data_path, fc.array_index): fc for fc in compat.fcurves_of(action, obj)}
    frames = None
    out = []
    for bone in bone_names:
        chans = []
        for i in range(4):
            fc = curves[(quaternion_path(bone), i)]
            co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
            fc.keyframe_points.foreach_get("co", co)
            co = co.reshape(-1, 2)
            if frames is None:
                frames = co[:, 0].astype(np.float64)
            chans.append(co[:, 1])
        out.append(np.stack(chans, -1))
    return frames, np.stack(out, 1)


def write_property_keys(obj, action, data_path: str, frames, values, group: str = "") -> None:
    """Key one scalar channel (``data_path``, index 0) at ``frames`` with ``values`` in bulk;
    ``action`` assigned to ``obj``, no F-curve for that channel yet."""
    frames = np.asarray(frames, dtype=np.float64)
    co = np.empty((frames.size, 2), dtype=np.float32)
    co[:, 0] = frames
    co[:, 1] = np.asarray(values, dtype=np.float64)
    fc = compat.fcurve_maker(obj, action)(data_path, 0, group)
    fc.keyframe_points.add(frames.size)
    fc.keyframe_points.foreach_set("co", co.ravel())
    _finisher(strictly_rising(co[:, 0]))(fc)
