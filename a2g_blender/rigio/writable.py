# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether an armature's animation can be written now, and leaving no trace when writing fails.

- :func:`animation_blocker`: why the extension must not write an armature's animation (None
  when it may): the armature is in NLA tweak mode (its active action is the strip being edited
  and cannot be replaced), or it is linked from another .blend without a library override
  (keys put on it are not saved: after reload they are gone). :func:`check_writable` raises it
  as a :class:`~.core.errors.UserError`, so Generate, Resample and the batch command refuse
  before anything is computed, and the panels show the same sentence.
- :func:`leaves_no_trace`: around a step that writes animation (Generate's apply, Resample's):
  when it raises, the NLA tracks and actions it made are removed and the armature's active
  action, slot and layering (blend type, influence, extrapolation) are set back, so the scene
  evaluates as before.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

from ..core.errors import UserError

_LAYERING = ("action_blend_type", "action_influence", "action_extrapolation")


class NotWritableError(UserError):
    """The armature's animation cannot be written now (tweak mode, linked without override)."""


def _library_name(obj) -> str:
    library = obj.library
    return os.path.basename(library.filepath) or library.name


def animation_blocker(obj, purpose: str = " to generate gestures") -> str | None:
    """Why ``obj``'s animation must not be written now; None when it may. ``purpose`` ends the
    sentence's remedy (e.g. " to generate gestures")."""
    if obj is None:
        return None
    if obj.library is not None and obj.override_library is None:
        return (f"'{obj.name}' is linked from '{_library_name(obj)}': keys put on it would not be "
                f"saved. Make a library override first (Object > Library Override > Make), then "
                f"select the override{purpose}")
    anim = obj.animation_data
    if anim is not None and anim.use_tweak_mode:
        edited = anim.action.name if anim.action is not None else "a strip"
        return (f"'{obj.name}' is in NLA tweak mode (editing '{edited}'): exit it first (Tab in "
                f"the NLA editor){purpose}")
    return None


def check_writable(obj, purpose: str = " to generate gestures") -> None:
    """Raise :class:`NotWritableError` with :func:`animation_blocker`'s reason, if any."""
    reason = animation_blocker(obj, purpose)
    if reason:
        raise NotWritableError(reason)


# what keeping an edit (actions.keep_edited) and resampling (takes.write_recipe, seal) change
_MARKS = ("a2g_generated", "a2g_keys", "a2g_edited", "a2g_take", "a2g_recipe", "a2g_resamples")
_KEY_ARRAYS = ("co", "handle_left", "handle_right")
_deferred: list[list] = []  # per open leaves_no_trace: (anim data, track, name) to remove on success


def remove_track(anim, track) -> None:
    """Remove an NLA track; inside :func:`leaves_no_trace`, only once its block has succeeded
    (until then it stays where it is, so a failure finds the stack as it was)."""
    if _deferred:
        _deferred[-1].append((anim, track, track.name))
        track.name = f"{track.name} (replaced)"  # the new tracks take the plain name
    else:
        anim.nla_tracks.remove(track)


@contextmanager
def leaves_no_trace(obj_name: str, keys: bool = False):
    """Run the block so that, if it raises, the scene is as before: the NLA tracks it added go,
    the actions it made go, the actions it renamed or unmarked get their names and marks back,
    and the armature's action, slot and layering (blend type, influence, extrapolation) are
    set back. ``keys``: the active action's keys are edited in place (Resample Range): they
    are put back too, exactly.

    Nothing is deleted until the block has succeeded: tracks removed through
    :func:`remove_track` stay until then, and pre-existing actions get a fake user meanwhile,
    so replacing a generated action cannot remove it halfway; afterwards the generated ones
    the block left unused are removed, as :func:`.actions.retire` would have."""
    import bpy

    from .actions import is_generated

    obj = bpy.data.objects.get(obj_name)
    anim = obj.animation_data if obj is not None else None
    had_anim = anim is not None
    tracks = {t.as_pointer() for t in anim.nla_tracks} if anim is not None else set()
    state = None
    if anim is not None:
        state = (anim.action, getattr(anim, "action_slot", None),
                 {k: getattr(anim, k) for k in _LAYERING})
    saved_keys = _read_keys(obj, anim.action) if keys and anim is not None and anim.action else None
    actions = {a.as_pointer(): (a, a.name, {k: a[k] for k in _MARKS if k in a}, a.users)
               for a in bpy.data.actions}
    held = [a for a, *_ in actions.values() if a.library is None and not a.use_fake_user]
    for action in held:
        action.use_fake_user = True
    _deferred.append([])
    try:
        yield
    except BaseException:
        deferred = _deferred.pop()
        for action in held:
            action.use_fake_user = False
        _restore(obj_name, had_anim, state, tracks, actions)
        if saved_keys is not None:
            _write_keys(saved_keys)
        for _owner, track, name in deferred:
            track.name = name
        raise
    for owner, track, _name in _deferred.pop():
        owner.nla_tracks.remove(track)
    for action in held:
        action.use_fake_user = False
    removed = []
    for action in held:
        users = actions[action.as_pointer()][3]
        if users > 0 and action.users == 0 and is_generated(action):
            removed.append(action.name)
            bpy.data.actions.remove(action)
    _take_plain_names(obj_name, removed, set(actions))


def _read_keys(obj, action) -> list:
    """Every key of ``action``'s F-curves for ``obj``: (F-curve, {co, handles}) pairs."""
    import numpy as np

    from .. import compat

    out = []
    for fc in compat.fcurves_of(action, obj):
        n = len(fc.keyframe_points)
        arrays = {}
        for name in _KEY_ARRAYS:
            arrays[name] = np.empty(2 * n, dtype=np.float32)
            fc.keyframe_points.foreach_get(name, arrays[name])
        out.append((fc, arrays))
    return out


def _write_keys(saved: list) -> None:
    for fc, arrays in saved:
        if len(fc.keyframe_points) * 2 != arrays["co"].size:
            continue  # keys added or removed: not something Resample does
        fc.keyframe_points.foreach_set("co", arrays["co"])
        fc.update()
        for name in ("handle_left", "handle_right"):  # as they were, whatever update() computed
            fc.keyframe_points.foreach_set(name, arrays[name])


def _take_plain_names(obj_name: str, removed: list[str], before: set) -> None:
    """The actions made in the block take the names of those it replaced ("speech gestures",
    not "speech gestures.001"), and so do their strips."""
    import bpy

    made = [a for a in bpy.data.actions if a.as_pointer() not in before]
    obj = bpy.data.objects.get(obj_name)
    anim = obj.animation_data if obj is not None else None
    for name in removed:
        action = next((a for a in made if re.fullmatch(re.escape(name) + r"\.\d{3}", a.name)), None)
        if action is None or name in bpy.data.actions:
            continue
        old, action.name = action.name, name
        for track in anim.nla_tracks if anim is not None else ():
            for strip in track.strips:
                if strip.action == action and strip.name == old:
                    strip.name = name


def _restore(obj_name, had_anim, state, tracks, actions) -> None:
    import bpy

    obj = bpy.data.objects.get(obj_name)
    if obj is not None and obj.animation_data is not None:
        anim = obj.animation_data
        if anim.use_tweak_mode:
            anim.use_tweak_mode = False
        for track in [t for t in anim.nla_tracks if t.as_pointer() not in tracks]:
            anim.nla_tracks.remove(track)
        if state is None:
            anim.action = None
        else:
            action, slot, layering = state
            anim.action = action
            if slot is not None and getattr(anim, "action_slot", None) != slot:
                anim.action_slot = slot
            for key, value in layering.items():
                setattr(anim, key, value)
        if not had_anim and anim.action is None and len(anim.nla_tracks) == 0:
            obj.animation_data_clear()
    for action in [a for a in bpy.data.actions if a.as_pointer() not in actions]:
        bpy.data.actions.remove(action)
    for action, name, marks, _users in actions.values():
        for key in _MARKS:
            if key in marks:
                action[key] = marks[key]
            elif key in action:
                del action[key]
        if action.name != name:
            action.name = name
