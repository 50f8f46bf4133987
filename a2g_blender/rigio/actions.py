# SPDX-License-Identifier: GPL-3.0-or-later
"""Generated actions: marking them, and swapping a new one onto an armature.

What happens to the armature's animation when a new generated action arrives:

- **The user's own action keeps playing underneath.** It is pushed down onto an unmuted NLA
  track ``Your Animation`` (layered as the user had it: blend type, influence, extrapolation;
  held, it covers the scene and the generated frames), the way the Action Editor's *Push Down*
  does; the generated action then plays on top (Replace, full influence). The generated action becomes the
  active action and keys only the body bones' rotations, so everything else (object
  location, pelvis translation, fingers, face, custom properties) still evaluates from the
  user's keys. Those keys are never edited.
- **An unedited generated action** (its keys are still those it was made with: the digest
  :data:`KEYS` written by :func:`seal`) is removed once nothing uses it.
- **A generated action edited by hand** since (keys moved, added or deleted) is never removed:
  it is renamed "... (edited)", stops being marked as generated (so it is the user's from now
  on) and kept on its own muted NLA track ``A2G Edited Takes``; the caller reports it.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from .. import compat
from . import keying

GENERATED = "a2g_generated"
KEYS = "a2g_keys"  # sha1 of the action's F-curves as generation or Resample left them
EDITED = "a2g_edited"  # a generated action kept because it was edited by hand
USER_TRACK = "Your Animation"
EDITED_TRACK = "A2G Edited Takes"


def is_generated(action) -> bool:
    return action is not None and bool(action.get(GENERATED, False))


# ---- edits -------------------------------------------------------------------------------------
def keys_digest(obj, action) -> str:
    """A fingerprint of every key of ``action``'s channels for ``obj`` (paths and values)."""
    curves = []
    for fc in compat.fcurves_of(action, obj):
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        curves.append((fc.data_path, fc.array_index, co))
    return digest_of(curves)


def digest_of(curves) -> str:
    """:func:`keys_digest` of F-curves given as ``(data_path, array_index, co)``, ``co`` the
    float32 (frame, value) pairs of their keys in key order, as ``foreach_get("co")`` reads them."""
    digest = hashlib.sha1()
    for path, index, co in sorted(curves, key=lambda c: (c[0], c[1])):
        digest.update(f"{path}[{index}]:{co.size}".encode())
        digest.update(np.ascontiguousarray(co, dtype=np.float32).tobytes())
    return digest.hexdigest()


def seal(obj, action, written=None) -> None:
    """Record ``action``'s keys as generated (after generation or Resample wrote them).

    ``written``: every F-curve of the action as :func:`digest_of` takes them, when the caller
    knows them exactly (it wrote them all with :func:`.keying.write_bone_quaternions` and
    changed nothing since); this spares reading a million keys back. Else they are read."""
    action[KEYS] = digest_of(written) if written is not None else keys_digest(obj, action)


def is_edited(obj, action) -> bool:
    """A generated action whose keys changed since :func:`seal` (False when never sealed)."""
    sealed = action.get(KEYS) if is_generated(action) else None
    return isinstance(sealed, str) and sealed != keys_digest(obj, action)


def keep_edited(obj, action) -> str:
    """Keep an edited generated action as the user's: renamed "... (edited)", unmarked as
    generated or as a take, on its own muted ``A2G Edited Takes`` track. Returns its name."""
    from ..jobs.takes import TAKE

    if not action.get(EDITED):
        for key in (GENERATED, KEYS, TAKE):
            if key in action:
                del action[key]
        action[EDITED] = True
        action.name = f"{action.name} (edited)"
    if not _on_track(obj, action, EDITED_TRACK):
        track = compat.new_muted_track(obj, EDITED_TRACK)
        track.strips.new(action.name, int(math.floor(action.frame_range[0])), action)
    return action.name


def kept_message(kept) -> str:
    """The sentence that tells the user which edited takes generating kept ("" for none):
    Generate's report and the batch command's line say it in these words."""
    if not kept:
        return ""
    return (f"Kept {len(kept)} take(s) you had edited, not replaced: "
            f"{', '.join(repr(n) for n in kept)} (muted NLA track '{EDITED_TRACK}').")


def retire(obj, action, kept: list | None = None, edited: bool | None = None) -> None:
    """A generated action being replaced: kept when edited (its name appended to ``kept``),
    else removed once unused. A user's own action is left alone. ``edited``: what
    :func:`is_edited` said of it a moment ago (None: ask it now; reading every key twice
    costs as much as writing them)."""
    import bpy

    if not is_generated(action):
        return
    if is_edited(obj, action) if edited is None else edited:
        name = keep_edited(obj, action)
        if kept is not None:
            kept.append(name)
    elif action.users == 0 and not action.use_fake_user:
        bpy.data.actions.remove(action)


# ---- tracks ------------------------------------------------------------------------------------
def _on_track(obj, action, name: str) -> bool:
    anim = obj.animation_data
    return anim is not None and any(
        strip.action == action for track in anim.nla_tracks
        if track.name == name or track.name.startswith(name + ".") for strip in track.strips
    )


def push_down(obj, action, cover=None) -> None:
    """Keep the user's ``action`` playing under whatever becomes the active action: a strip
    on a new unmuted ``Your Animation`` track, in action time = scene time (scale 1), layered
    as the user had it (:func:`_layering`): blend type, influence and extrapolation. Held both
    ways (the default), it spans the action's own frames, the scene's and ``cover`` = (first,
    last) scene frames, so its F-curves (and their modifiers, cycles included) evaluate there as
    they did when active; otherwise it spans the action's frames, as the active action did."""
    anim = obj.animation_data
    if _on_track(obj, action, USER_TRACK):
        return
    active = anim.action == action
    blend, influence, extrapolation = _layering(anim) if active else ("REPLACE", 1.0, "HOLD")
    lo, hi = (float(v) for v in action.frame_range)
    if extrapolation == "HOLD":
        for scene in tuple(getattr(obj, "users_scene", ()))[:1]:
            lo, hi = min(lo, scene.frame_start), max(hi, scene.frame_end)
        if cover is not None:
            lo, hi = min(lo, float(cover[0])), max(hi, float(cover[1]))
        lo, hi = math.floor(lo), max(math.ceil(hi), math.floor(lo) + 1)
    slot = compat.object_slot(action, obj) if active else None
    track = anim.nla_tracks.new()
    track.name = USER_TRACK
    strip = track.strips.new(action.name, math.floor(lo), action)
    compat.set_strip_slot(strip, slot)
    if extrapolation == "HOLD":
        # measured (5.0, 4.5, 4.2): in this order the strip maps scene frame f to action frame f
        strip.action_frame_start = lo
        strip.action_frame_end = hi
    strip.blend_type = blend
    strip.extrapolation = extrapolation
    if influence != 1.0:
        # a strip's influence counts only when animated (measured: ADD at 0.5 otherwise adds in
        # full); turning that on keys the value it has then: one key holds it, as the animation
        # data's influence did
        strip.influence = influence
        strip.use_animated_influence = True


def _layering(anim) -> tuple[str, float, str]:
    """How the active action is layered over the NLA: (blend type, influence, extrapolation)."""
    return anim.action_blend_type, float(anim.action_influence), anim.action_extrapolation


def play_on_top(anim) -> None:
    """The generated action, just assigned, plays as generated: replacing what lies beneath
    at full influence, held both ways (whatever the user's action was layered with; that
    layering went down with it, :func:`push_down`)."""
    anim.action_blend_type = "REPLACE"
    anim.action_influence = 1.0
    anim.action_extrapolation = "HOLD"


# ---- replacing the active action ---------------------------------------------------------------
def replace_action(obj, name: str, metadata: dict, kept: list | None = None, cover=None):
    """Create a new marked action named ``name``, assign it to ``obj`` and return it.

    The previously assigned action is pushed down to keep playing underneath when it is the
    user's own (:func:`push_down`; ``cover`` = the scene frames the new action will key),
    kept when it is a generated action edited by hand (its new name appended to ``kept``),
    else removed once unused.
    """
    anim = obj.animation_data
    old = anim.action if anim is not None else None
    action = keying.new_action(name)
    action[GENERATED] = True
    for key, value in metadata.items():
        action[key] = value
    edited = False
    if old is not None:
        edited = is_generated(old) and is_edited(obj, old)
        if edited:
            name_kept = keep_edited(obj, old)
            if kept is not None:
                kept.append(name_kept)
        elif not is_generated(old) and not old.get(EDITED):
            push_down(obj, old, cover)
    compat.assign_action(obj, action)
    play_on_top(obj.animation_data)
    if old is not None:
        retire(obj, old, kept, edited)
    action.name = name  # takes the plain name once the old one is gone
    return action
