# SPDX-License-Identifier: GPL-3.0-or-later
"""Bulk keyframes: bone quaternions written and read in one go per F-curve.

Where the F-curves live (legacy or slotted actions) is :mod:`.compat`'s business. Keys are
written with ``keyframe_points.add`` + ``foreach_set("co", ...)`` + ``handles_recalc()`` (hundreds
of times faster than ``keyframe_insert``). The one writer of keys: generation, takes, the
batch command and .npz import write a rig's keys with :func:`write_rig_keys`; Resample Range
and the constrained rigs' refinement change keys in place with :func:`set_bone_quaternions`.
"""

from __future__ import annotations

import numpy as np

from .. import compat
from ..core.timeline import strictly_rising


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


def write_rig_keys(obj, action, body, frames, quats, written: list | None = None,
                   settle: bool = True) -> int:
    """A rig's keys (``body``: rig.BodyRig; ``quats`` (N, K, 4) of its keyed bones at ``frames``)
    on a new ``action`` that ``obj`` plays: the bone quaternions, a Rigify control rig's IK/FK
    switches keyed at FK, and, for bones under constraint-driven parents, the check against
    the evaluated rig (refined frame by frame only where it fails: :func:`rig_eval.settle`;
    ``settle`` False: the keys were fitted to the rig already, :class:`rig_eval.Refinement`).
    ``written``: as :func:`write_bone_quaternions`. Returns the number of rotation keys."""
    for name in body.non_quaternion:
        obj.pose.bones[name].rotation_mode = "QUATERNION"
    n = write_bone_quaternions(obj, action, body.bone_names, frames, quats, written)
    if body.controls is not None and len(frames):  # a Rigify control rig: its limbs at FK
        from . import rigify

        rigify.key_fk(obj, action, body.controls, float(frames[0]))
    if body.constrained and settle:
        from .rig_eval import settle as fit

        fit(obj, action, body, frames, quats)
    return n


def bone_fcurves(obj, action, bone_names) -> dict:
    """``{(b, i): F-curve}`` of ``rotation_quaternion[i]`` of each bone ``bone_names[b]`` that
    ``action`` keys (those it lacks are left out)."""
    by_path = {(fc.data_path, fc.array_index): fc for fc in compat.fcurves_of(action, obj)}
    out = {}
    for b, bone in enumerate(bone_names):
        for i in range(4):
            fc = by_path.get((quaternion_path(bone), i))
            if fc is not None:
                out[(b, i)] = fc
    return out


def key_coordinates(fc) -> np.ndarray:
    """(frame, value) of every key of ``fc``: (n, 2) float32, as Blender holds them."""
    co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    return co.reshape(-1, 2)


def set_bone_quaternions(obj, action, bone_names, frames, quats) -> None:
    """Change the values of existing keys of ``bone_names`` on ``action`` at ``frames`` (N,)
    to ``quats`` (N, len(bone_names), 4), in bulk; every other key stays as it is. Every bone's
    four channels must have a key on each of the frames (KeyError otherwise)."""
    from ..core.timeline import key_indices

    frames = np.asarray(frames, dtype=np.float64)
    curves = bone_fcurves(obj, action, bone_names)
    for b, bone in enumerate(bone_names):
        for i in range(4):
            fc = curves[(b, i)]
            co = key_coordinates(fc)
            at = key_indices(co[:, 0], frames)
            if np.any(at >= len(co)) or np.any(np.abs(co[np.minimum(at, len(co) - 1), 0] - frames) > 1e-3):
                raise KeyError(f"'{bone}' has no key on some of frames {frames[0]:g}-{frames[-1]:g}")
            co[at, 1] = quats[:, b, i]
            fc.keyframe_points.foreach_set("co", co.ravel())
            fc.update()


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
