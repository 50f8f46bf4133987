# SPDX-License-Identifier: GPL-3.0-or-later
"""Generated actions: marking them, and swapping a new one onto an armature.

A generated action carries the custom property ``a2g_generated``. Generating again replaces
the armature's previous generated action (removed once nothing else uses it). A user's own
action is never edited or removed: when a generated action takes its place it is stashed on a
muted NLA track, the way Blender's Action Editor stashes an action it unlinks.
"""

from __future__ import annotations

from . import compat, keying

GENERATED = "a2g_generated"
STASH_TRACK = "[Action Stash]"


def is_generated(action) -> bool:
    return action is not None and bool(action.get(GENERATED, False))


def _used_by_nla(obj, action) -> bool:
    anim = obj.animation_data
    return anim is not None and any(
        strip.action == action for track in anim.nla_tracks for strip in track.strips
    )


def _stash(obj, action) -> None:
    """Keep a user's action alive on a muted NLA track (unless something else keeps it)."""
    if action.use_fake_user or action.users > 1 or _used_by_nla(obj, action):
        return
    track = compat.new_muted_track(obj, STASH_TRACK)
    track.strips.new(action.name, int(action.frame_range[0]), action)


def replace_action(obj, name: str, metadata: dict):
    """Create a new marked action named ``name``, assign it to ``obj`` and return it.

    The previously assigned action is removed when it was generated and is now unused, or
    stashed when it is the user's own.
    """
    import bpy

    anim = obj.animation_data
    old = anim.action if anim is not None else None
    action = keying.new_action(name)
    action[GENERATED] = True
    for key, value in metadata.items():
        action[key] = value
    if old is not None and not is_generated(old):
        _stash(obj, old)
    compat.assign_action(obj, action)
    if old is not None and is_generated(old) and old.users == 0:
        bpy.data.actions.remove(old)
    action.name = name  # takes the plain name once the old one is gone
    return action
