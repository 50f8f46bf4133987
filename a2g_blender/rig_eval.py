# SPDX-License-Identifier: GPL-3.0-or-later
"""Keys corrected against the evaluated rig, for rigs whose bones follow constraints.

:mod:`.core.retarget` computes each keyed bone's rotation from its parent through the rest
hierarchy. On rigs where a keyed bone's parent is a mechanism bone driven by constraints
(a Rigify control rig: ``upper_arm_fk.L`` under ``MCH-upper_arm_parent.L``, ``neck`` under
``MCH-ROT-neck``, ...), the parent's real pose is only known by evaluating the rig. Here the
scene is evaluated frame by frame with the new keys, each such bone's key is recomputed from
its parent's evaluated pose (``Q = M_b^T M_p P_p^T P_b`` for the wanted armature-space
rotation ``P_b``), and this is repeated until the keys stop changing (a few passes: one per
level of constrained parents). Rigs without constraints on the keyed bones' parents skip it.
"""

from __future__ import annotations

import numpy as np

MAX_PASSES = 6
TOLERANCE_DEG = 0.01


def constrained_bones(obj, keyed) -> list[str]:
    """Keyed bones whose parent is not keyed and whose parent chain (up to a keyed bone or
    the root) has constraints that act."""
    keyed_set = set(keyed)
    out = []
    for name in keyed:
        p = obj.pose.bones[name].parent
        if p is None or p.name in keyed_set:
            continue
        while p is not None and p.name not in keyed_set:
            if any(not c.mute and c.influence > 0.0 for c in p.constraints):
                out.append(name)
                break
            p = p.parent
    return out


def _rotation(m) -> np.ndarray:
    from .core.retarget import rotation_part

    return rotation_part(np.array(m))


def refine(obj, action, body, frames, quats) -> int:
    """Correct the keys of ``body``'s constrained bones on ``action`` at ``frames`` (N,),
    whose first-pass keys ``quats`` (N, K, 4) were written from the rest hierarchy. The
    action must be the one ``obj`` plays. Returns the number of passes made."""
    import bpy

    from .compat import fcurves_of
    from .core.retarget import key_under_parent, pose_globals
    from .core.timeline import key_indices
    from .keying import quaternion_path

    rt = body.retarget
    bones = constrained_bones(obj, body.bone_names)
    if rt is None or not bones:
        return 0
    frames = np.asarray(frames, dtype=np.float64)
    glob, _ = pose_globals(rt, quats)
    slot = {n: k for k, n in enumerate(body.bone_names)}
    wanted = {b: glob[:, int(rt.key_index[slot[b]])] for b in bones}
    data = obj.data.bones
    pbs = obj.pose.bones
    rest = {b: _rotation(data[b].matrix_local) for b in bones}
    parent = {b: pbs[b].parent.name for b in bones}
    parent_rest = {b: _rotation(data[parent[b]].matrix_local) for b in bones}
    by_path = {(fc.data_path, fc.array_index): fc for fc in fcurves_of(action, obj)}
    curves = {b: [by_path[(quaternion_path(b), i)] for i in range(4)] for b in bones}
    index = {}
    for b in bones:
        co = np.empty(2 * len(curves[b][0].keyframe_points), dtype=np.float32)
        curves[b][0].keyframe_points.foreach_get("co", co)
        index[b] = key_indices(co[0::2], frames)
    current = {b: quats[:, slot[b]].copy() for b in bones}
    scene = bpy.context.scene
    frame_was, subframe_was = scene.frame_current, scene.frame_subframe
    n = frames.size
    passes = 0
    try:
        while passes < MAX_PASSES:
            passes += 1
            poses = {b: np.empty((n, 3, 3)) for b in bones}
            for t, f in enumerate(frames):
                scene.frame_set(int(round(f)))
                for b in bones:
                    poses[b][t] = _rotation(pbs[parent[b]].matrix)
            change = 0.0
            for b in bones:
                q, moved = key_under_parent(rest[b], parent_rest[b], poses[b], wanted[b], current[b])
                change = max(change, moved)
                current[b] = q
                for i, fc in enumerate(curves[b]):
                    co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
                    fc.keyframe_points.foreach_get("co", co)
                    co = co.reshape(-1, 2)
                    co[index[b], 1] = q[:, i]
                    fc.keyframe_points.foreach_set("co", co.ravel())
                    fc.update()
            if change < TOLERANCE_DEG:
                break
    finally:
        scene.frame_set(frame_was, subframe=subframe_was)
    return passes


def evaluated_rotations(obj, action, slot, frames, bones) -> np.ndarray:
    """Armature-space rotations (N, len(bones), 3, 3) of ``bones`` as the rig shows them when
    ``obj`` plays ``action`` (its ``slot``; None: the first) at action ``frames`` (N,),
    constraints, drivers and IK included. ``obj``'s action, slot and the scene frame are put
    back afterwards."""
    import math

    import bpy

    scene = bpy.context.scene
    anim = obj.animation_data
    slotted = "action_slot" in anim.bl_rna.properties
    previous = anim.action
    previous_slot = anim.action_slot if slotted else None
    frame_was, subframe_was = scene.frame_current, scene.frame_subframe
    pbs = obj.pose.bones
    out = np.empty((len(frames), len(bones), 3, 3))
    try:
        anim.action = action
        if slotted:
            use = slot if slot is not None else (action.slots[0] if len(action.slots) else None)
            if use is not None:
                anim.action_slot = use
        for t, f in enumerate(frames):
            whole = math.floor(float(f))
            scene.frame_set(int(whole), subframe=float(f) - whole)
            for k, b in enumerate(bones):
                out[t, k] = _rotation(pbs[b].matrix)
    finally:
        anim.action = previous
        if slotted and previous is not None and previous_slot is not None:
            anim.action_slot = previous_slot
        scene.frame_set(frame_was, subframe=subframe_was)
    return out
