# SPDX-License-Identifier: GPL-3.0-or-later
"""Rigs whose keyed bones hang from constraint-driven parents (a Rigify control rig:
``upper_arm_fk.L`` under ``MCH-upper_arm_parent.L``, ``neck`` under ``MCH-ROT-neck``, ...).

:mod:`.core.retarget` computes each keyed bone's rotation from its parent through the rest
hierarchy; under such parents the keys must undo what the constraints do. Three tools:

- :func:`read_chain` reads the rig's constant relations once (parents, rest rotations,
  constraints and their evaluated influences) into a :class:`core.bone_constraints.BoneChain`,
  so the keys of every frame are solved in numpy (in the worker thread); None when a
  constraint there is not one ``core.bone_constraints`` reproduces.
- :func:`check` evaluates the rig on a few sample frames and measures how far the keyed bones
  are from where they should be (the numpy solution's proof).
- :func:`refine`, for rigs :func:`read_chain` cannot read (or that fail the check): the scene
  is evaluated frame by frame with the new keys, each such bone's key is recomputed from its
  parent's evaluated pose (``Q = M_b^T M_p P_p^T P_b`` for the wanted armature-space rotation
  ``P_b``), repeated until the keys stop changing (a few passes: one per level of constrained
  parents). Slow (tens of milliseconds a frame on a Rigify rig).

Rigs without constraints on the keyed bones' parents need none of it.
"""

from __future__ import annotations

import time

import numpy as np

from ..core.bone_constraints import ROTATION_FREE as _ROTATION_FREE

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


def read_chain(obj, keyed, why: list | None = None):
    """The relations of ``obj``'s bones that decide the armature-space rotation of ``keyed``
    (bone names, the key order), as a core.bone_constraints.BoneChain; None when one of the
    constraints there is not reproduced in numpy (then :func:`refine` is the way; ``why``: a
    list that gets the reason)."""
    import bpy

    from ..core.bone_constraints import COPY_WORLD, BoneChain, Constraint

    pbs, data = obj.pose.bones, obj.data.bones
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).pose.bones
    keyed_set = set(keyed)
    deps, found, parent = {}, {}, {}
    todo = list(keyed)
    while todo:
        name = todo.pop()
        if name in deps:
            continue
        pb = pbs[name]
        effects, cut = [], False
        if name not in keyed_set:
            for c, c_eval in reversed(list(zip(pb.constraints, evaluated[name].constraints, strict=True))):
                effect = _effect(obj, c, float(c_eval.influence), keyed_set)
                if effect is False:
                    if why is not None:
                        why.append(f"'{name}': {c.type} constraint '{c.name}'")
                    return None
                if effect is not None:
                    effects.insert(0, effect)
                    if effect[0] == COPY_WORLD and effect[2] >= 1.0:
                        cut = True  # it sets the rotation whatever the parent and the
                        break  #      constraints before it did
        elif any(_acts(c) and c.type not in _ROTATION_FREE for c in pb.constraints):
            if why is not None:
                why.append(f"keyed bone '{name}' has constraints")
            return None  # a keyed bone's own constraints: its key cannot be solved
        found[name] = effects
        parent[name] = pb.parent.name if pb.parent is not None and not cut else None
        deps[name] = ([parent[name]] if parent[name] else []) + [
            t for _, targets, _, _ in effects for t in targets]
        todo.extend(deps[name])
    order = _dependency_order(deps)
    if order is None:
        if why is not None:
            why.append("constraints that follow each other in a cycle")
        return None
    index = {n: i for i, n in enumerate(order)}
    return BoneChain(
        names=tuple(order),
        parent=np.array([index[parent[n]] if parent[n] else -1 for n in order], dtype=np.int64),
        rest=np.stack([_rotation(data[n].matrix_local) for n in order]),
        inherit=np.array([bool(data[n].use_inherit_rotation) for n in order]),
        pose=np.stack([_rotation(pbs[n].matrix_basis) for n in order]),
        constraints=tuple(tuple(Constraint(kind, tuple(index[t] for t in targets), influence, weights)
                                for kind, targets, influence, weights in found[n]) for n in order),
        keyed=np.array([index[n] for n in keyed], dtype=np.int64))


_WORLD = {"WORLD", "POSE"}


def _acts(c) -> bool:
    return not c.mute and getattr(c, "enabled", True) and c.influence > 0.0


def _effect(obj, c, influence: float, keyed=frozenset()):
    """A constraint as core.bone_constraints takes it: (kind, target bones, influence,
    weights); None when it leaves rotations alone; False when it is not reproduced. ``keyed``:
    the bones that get keys."""
    from ..core import bone_constraints as bc

    if c.mute or not getattr(c, "enabled", True) or influence <= 0.0 or c.type in _ROTATION_FREE:
        return None
    if c.type == "ARMATURE":
        targets = [(t.subtarget, float(t.weight)) for t in c.targets if t.weight > 0.0]
        if any(t.target != obj or not t.subtarget for t in c.targets) or c.use_bone_envelopes \
                or (c.use_deform_preserve_volume and len(targets) > 1):
            return False
        return (bc.ARMATURE, tuple(t for t, _ in targets), influence, tuple(w for _, w in targets))
    if c.type not in ("COPY_ROTATION", "COPY_TRANSFORMS"):
        return False
    if getattr(c, "target", None) != obj or not getattr(c, "subtarget", ""):
        return False
    local = c.owner_space == "LOCAL" and c.target_space == "LOCAL"
    if local and c.subtarget not in keyed and _at_rest(obj, c.subtarget):
        # a still target at rest: the owner's rest, or nothing for a mix with its rotation
        full = c.type == "COPY_TRANSFORMS" or (c.use_x and c.use_y and c.use_z and not (
            c.invert_x or c.invert_y or c.invert_z))
        if getattr(c, "mix_mode", "REPLACE") == "REPLACE":
            return (bc.COPY_LOCAL, (), influence, ()) if full else False
        return None
    if getattr(c, "mix_mode", "REPLACE") != "REPLACE":
        return False
    if c.type == "COPY_ROTATION" and (not (c.use_x and c.use_y and c.use_z)
                                      or c.invert_x or c.invert_y or c.invert_z or c.use_offset):
        return False
    if c.owner_space in _WORLD and c.target_space in _WORLD:
        return (bc.COPY_WORLD, (c.subtarget,), influence, ())
    if c.owner_space == "LOCAL" and c.target_space == "LOCAL":
        return (bc.COPY_LOCAL, (c.subtarget,), influence, ())
    return False


def _at_rest(obj, name: str) -> bool:
    """``name`` never moves from its rest in its parent: no keys or drivers can reach it here
    (the sample check tells), no acting constraint, identity pose rotation."""
    pb = obj.pose.bones[name]
    return not any(_acts(c) and c.type not in _ROTATION_FREE for c in pb.constraints) and bool(
        np.allclose(_rotation(pb.matrix_basis), np.eye(3), atol=1e-9))


def _dependency_order(deps) -> list[str] | None:
    """Names with each after everything it depends on; None for a cycle."""
    order, state = [], {}
    for start in sorted(deps):
        stack = [(start, iter(deps[start]))]
        if state.get(start):
            continue
        state[start] = 1
        while stack:
            name, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[name] = 2
                order.append(name)
            elif state.get(nxt) == 1:
                return None
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(deps[nxt])))
    return order


#: frames of a take the rig is evaluated at to check the numpy keys (spread evenly)
CHECK_FRAMES = 12
#: largest angle (degrees) a keyed bone may show away from its wanted rotation there
CHECK_TOLERANCE_DEG = 0.1


def check(obj, chain, frames, quats, count: int = CHECK_FRAMES) -> float:
    """Evaluate ``obj`` (playing the action just keyed with ``quats`` (N, K, 4) at ``frames``
    (N,), keyed bones in ``chain.keyed``'s order) on ``count`` frames spread over the take; the
    largest angle in degrees between a keyed bone's rotation as Blender shows it and as
    core.bone_constraints computes it from the same keys."""
    import bpy

    from ..core.bone_constraints import evaluate
    from ..core.rotations import geodesic_angle, quat_to_matrix

    frames = np.asarray(frames, dtype=np.float64)
    if frames.size == 0:
        return 0.0
    pick = np.unique(np.linspace(0, frames.size - 1, min(count, frames.size)).round().astype(int))
    keys = quat_to_matrix(np.asarray(quats, dtype=np.float64)[pick])
    expected = evaluate(chain, keys)[:, chain.keyed]
    scene = bpy.context.scene
    frame_was, subframe_was = scene.frame_current, scene.frame_subframe
    pbs = [obj.pose.bones[chain.names[int(i)]] for i in chain.keyed]
    shown = np.empty_like(expected)
    try:
        for t, f in enumerate(frames[pick]):
            scene.frame_set(int(round(f)))
            for k, pb in enumerate(pbs):
                shown[t, k] = _rotation(pb.matrix)
    finally:
        scene.frame_set(frame_was, subframe=subframe_was)
    return float(np.degrees(geodesic_angle(shown, expected)).max())


def _rotation(m) -> np.ndarray:
    from ..core.retarget import rotation_part

    return rotation_part(np.array(m))


def settle(obj, action, body, frames, quats) -> dict:
    """Make sure the keys ``quats`` (N, K, 4) just written at ``frames`` on ``action`` (the one
    ``obj`` plays) show ``body``'s wanted rotations on a rig with constraint-driven parents.

    Keys solved in numpy (``body.chain``) are checked on :data:`CHECK_FRAMES` sample frames;
    only when that check fails, or the rig could not be read, are they refined frame by frame
    (:func:`refine`). Returns what was done: ``{"checked": largest angle or None, "passes": n}``.
    """
    from ..core.bone_constraints import evaluate
    from ..core.rotations import quat_to_matrix

    if not body.constrained or body.retarget is None:
        return {"checked": None, "passes": 0}
    if body.chain is None:
        return {"checked": None, "passes": refine(obj, action, body, frames, quats)}
    worst = check(obj, body.chain, frames, quats)
    if worst <= CHECK_TOLERANCE_DEG:
        return {"checked": worst, "passes": 0}
    wanted = evaluate(body.chain, quat_to_matrix(np.asarray(quats, dtype=np.float64)))[:, body.chain.keyed]
    return {"checked": worst, "passes": refine(obj, action, body, frames, quats, wanted)}


def refine(obj, action, body, frames, quats, wanted=None) -> int:
    """Correct the keys of ``body``'s constrained bones on ``action`` at ``frames`` (N,),
    whose keys ``quats`` (N, K, 4) were written (from the rest hierarchy, unless the
    armature-space rotations the keyed bones must show are given: ``wanted`` (N, K, 3, 3)).
    The action must be the one ``obj`` plays. Returns the number of passes made."""
    steps = refine_steps(obj, action, body, frames, quats, wanted)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


#: frames evaluated between two progress reports of :func:`refine_steps` (0.1-0.6 s on a Rigify
#: rig, so Esc answers promptly)
REFINE_CHUNK = 8


def refine_steps(obj, action, body, frames, quats, wanted=None):
    """:func:`refine` as a generator: yields the fraction done (0..1) after every
    :data:`REFINE_CHUNK` evaluated frames, so a caller can report progress and stop it (the
    scene frame is put back either way); returns the number of passes. Each pass writes its
    keys (keying.set_bone_quaternions) once all its frames are evaluated."""
    import bpy

    from ..core.retarget import key_under_parent, pose_globals
    from .keying import set_bone_quaternions

    rt = body.retarget
    bones = constrained_bones(obj, body.bone_names)
    if rt is None or not bones:
        return 0
    frames = np.asarray(frames, dtype=np.float64)
    slot = {n: k for k, n in enumerate(body.bone_names)}
    if wanted is None:
        wanted = pose_globals(rt, quats)[0][:, rt.key_index]
    wanted = {b: wanted[:, slot[b]] for b in bones}
    data = obj.data.bones
    pbs = obj.pose.bones
    rest = {b: _rotation(data[b].matrix_local) for b in bones}
    parent = {b: pbs[b].parent.name for b in bones}
    parent_rest = {b: _rotation(data[parent[b]].matrix_local) for b in bones}
    current = {b: np.asarray(quats)[:, slot[b]].copy() for b in bones}
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
                if (t + 1) % REFINE_CHUNK == 0:
                    yield min(0.99, (passes - 1 + (t + 1) / n) / MAX_PASSES)
            change = 0.0
            for b in bones:
                q, moved = key_under_parent(rest[b], parent_rest[b], poses[b], wanted[b], current[b])
                change = max(change, moved)
                current[b] = q
            set_bone_quaternions(obj, action, bones, frames, np.stack([current[b] for b in bones], 1))
            if change < TOLERANCE_DEG:
                break
    finally:
        scene.frame_set(frame_was, subframe=subframe_was)
    return passes


def needs_refinement(body) -> bool:
    """``body``'s keys can only be fitted to the rig frame by frame (constrained bones, and a
    constraint chain :func:`read_chain` could not read)."""
    return bool(body.constrained) and body.retarget is not None and body.chain is None


class Refinement:
    """:func:`refine` for a job's takes, a step at a time, before anything is written: each
    take's keys go on a temporary action that ``obj`` plays meanwhile, are refined against the
    evaluated rig, and read back; :meth:`close` gives ``obj`` its own action (and slot) back and
    removes the temporary one, whether it finished or was cancelled. ``step()`` returns the
    fraction done (0..1), None once every take is refined (then ``quats`` holds them)."""

    NAME = "A2G refining (temporary)"

    def __init__(self, obj, body, frames, takes):
        self.obj, self.body = obj, body
        self.frames = np.asarray(frames, dtype=np.float64)
        self.takes = [np.asarray(q, dtype=np.float64) for q in takes]
        self.quats = []
        anim = obj.animation_data or obj.animation_data_create()
        self._was = (anim.action, getattr(anim, "action_slot", None))
        self._modes = {n: obj.pose.bones[n].rotation_mode for n in body.non_quaternion}
        self._action = None
        self._steps = None
        self.last_step = time.monotonic()  # when it last made progress (operators.is_running)

    def _start(self, quats):
        import bpy

        from .. import compat
        from . import keying, rigify

        self._remove()
        for name in self._modes:  # the keys are quaternions (apply switches these bones too)
            self.obj.pose.bones[name].rotation_mode = "QUATERNION"
        self._action = bpy.data.actions.new(self.NAME)
        compat.assign_action(self.obj, self._action)
        keying.write_bone_quaternions(self.obj, self._action, self.body.bone_names, self.frames, quats)
        if self.body.controls is not None and self.frames.size:
            rigify.key_fk(self.obj, self._action, self.body.controls, float(self.frames[0]))
        self._steps = refine_steps(self.obj, self._action, self.body, self.frames, quats)

    def step(self):
        from .keying import read_bone_quaternions

        if len(self.quats) == len(self.takes):
            return None
        if self._steps is None:
            self._start(self.takes[len(self.quats)])
        try:
            within = next(self._steps)
        except StopIteration:
            self._steps = None
            self.quats.append(read_bone_quaternions(self.obj, self._action, self.body.bone_names)[1]
                              .astype(np.float64))
            within = 0.0
            if len(self.quats) == len(self.takes):
                self.close()
                return None
        return (len(self.quats) + within) / len(self.takes)

    def _remove(self):
        import bpy

        if self._action is not None:
            bpy.data.actions.remove(self._action)
            self._action = None

    def close(self):
        """Stop (the scene frame comes back), give ``obj`` its own action back, remove ours."""
        if self._steps is not None:
            self._steps.close()
            self._steps = None
        anim = self.obj.animation_data
        action, slot = self._was
        if anim is not None:
            anim.action = action
            if action is not None and slot is not None and hasattr(anim, "action_slot"):
                anim.action_slot = slot
        for name, mode in self._modes.items():
            self.obj.pose.bones[name].rotation_mode = mode
        self._remove()


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
