# SPDX-License-Identifier: GPL-3.0-or-later
"""Bulk keyframes on Blender 4.2 to 5.0: one place that knows how actions store F-curves.

- 4.2 / 4.3: legacy actions, ``action.fcurves.new(path, index=, action_group=)``.
- 4.4 / 4.5: slotted actions; the portable path is layer -> keyframe strip -> channel bag
  (``strip.channelbag(slot, ensure=True)``), groups made with ``channelbag.groups.new``.
- 5.0: slotted only; ``bpy_extras.anim_utils.action_ensure_channelbag_for_slot``.

Keys are written with ``keyframe_points.add`` + ``foreach_set("co", ...)`` + ``fc.update()``
(hundreds of times faster than ``keyframe_insert``). Used by generation, batch, pinning and
resampling features alike.
"""

from __future__ import annotations

import numpy as np


def is_slotted(action) -> bool:
    """True for Blender 4.4+ slotted/layered actions."""
    return "slots" in action.bl_rna.properties


def new_action(name: str):
    import bpy

    return bpy.data.actions.new(name)


def assign_action(obj, action):
    """Assign ``action`` to ``obj`` (creating animation data and, if slotted, a slot).

    Returns the slot used (None for legacy actions).
    """
    anim = obj.animation_data or obj.animation_data_create()
    anim.action = action
    if not is_slotted(action):
        return None
    slot = anim.action_slot
    if slot is None:
        slot = _find_slot(action, obj) or action.slots.new(id_type="OBJECT", name=obj.name)
        anim.action_slot = slot
    return slot


def _find_slot(action, obj):
    for slot in action.slots:
        if slot.target_id_type == "OBJECT":
            return slot
    return None


def _channelbag(action, slot, ensure: bool):
    """The channel bag of ``slot`` in ``action`` (4.4+), or None when absent and not ensured."""
    try:
        from bpy_extras.anim_utils import action_ensure_channelbag_for_slot
    except ImportError:  # 4.4 / 4.5
        action_ensure_channelbag_for_slot = None
    if ensure and action_ensure_channelbag_for_slot is not None:
        return action_ensure_channelbag_for_slot(action, slot)
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot)
            if bag is not None:
                return bag
    if not ensure:
        return None
    layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
    strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True)


def fcurves_of(action, obj=None):
    """The F-curve collection holding ``obj``'s channels in ``action`` (any Blender version).

    For slotted actions the slot is the one ``obj`` uses (or the first slot); returns an
    empty tuple when the action has no channels for it.
    """
    if not is_slotted(action):
        return action.fcurves
    slot = None
    if obj is not None and obj.animation_data and obj.animation_data.action == action:
        slot = obj.animation_data.action_slot
    if slot is None:
        slot = _find_slot(action, obj) if len(action.slots) else None
    if slot is None:
        return ()
    bag = _channelbag(action, slot, ensure=False)
    return bag.fcurves if bag is not None else ()


def quaternion_path(bone_name: str) -> str:
    return f'pose.bones["{_escape(bone_name)}"].rotation_quaternion'


def _escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def write_bone_quaternions(obj, action, bone_names, frames, quats) -> int:
    """Key ``rotation_quaternion`` of each bone at ``frames`` in one go.

    ``action`` must be assigned to ``obj`` (see :func:`assign_action`) and have no F-curves
    for these channels yet. ``frames`` (N,), ``quats`` (N, len(bone_names), 4) (w, x, y, z).
    Returns the number of keys written.
    """
    frames = np.asarray(frames, dtype=np.float64)
    quats = np.asarray(quats, dtype=np.float64)
    n, n_bones = frames.shape[0], len(bone_names)
    if quats.shape != (n, n_bones, 4):
        raise ValueError(f"quats must be ({n}, {n_bones}, 4), got {quats.shape}")
    slotted = is_slotted(action)
    if slotted:
        bag = _channelbag(action, obj.animation_data.action_slot, ensure=True)
        fcurves = bag.fcurves
        groups = {g.name: g for g in bag.groups}
    else:
        fcurves = action.fcurves
    co = np.empty((n, 2), dtype=np.float32)
    co[:, 0] = frames
    for b, bone in enumerate(bone_names):
        path = quaternion_path(bone)
        if slotted:
            group = groups.get(bone) or bag.groups.new(bone)
            groups[bone] = group
        for i in range(4):
            if slotted:
                fc = fcurves.new(path, index=i)
                fc.group = group
            else:
                fc = fcurves.new(path, index=i, action_group=bone)
            fc.keyframe_points.add(n)
            co[:, 1] = quats[:, b, i]
            fc.keyframe_points.foreach_set("co", co.ravel())
            fc.update()
    return n * n_bones * 4


def read_bone_quaternions(obj, action, bone_names):
    """Read back keys written by :func:`write_bone_quaternions`.

    Returns ``(frames (N,), quats (N, len(bone_names), 4))`` from the w-channel's frames.
    """
    curves = {(fc.data_path, fc.array_index): fc for fc in fcurves_of(action, obj)}
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
    if is_slotted(action):
        bag = _channelbag(action, obj.animation_data.action_slot, ensure=True)
        fc = bag.fcurves.new(data_path, index=0)
        if group:
            fc.group = next((g for g in bag.groups if g.name == group), None) or bag.groups.new(group)
    else:
        fc = action.fcurves.new(data_path, index=0, action_group=group)
    fc.keyframe_points.add(frames.size)
    fc.keyframe_points.foreach_set("co", co.ravel())
    fc.update()
