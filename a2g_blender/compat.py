# SPDX-License-Identifier: GPL-3.0-or-later
"""The one place that knows how Blender 4.2 to 5.0 differ; nothing else branches on versions.

- Sequencer: 4.2 has ``sequence_editor.sequences``/``sequences_all``, 5.0 ``strips``/``strips_all``
  (4.5 both; meta strips likewise); ``sound_offset`` exists from 4.5.
- Actions: 4.2 / 4.3 legacy ``action.fcurves`` (``fcurves.new(path, index=, action_group=)``);
  4.4+ slotted and layered: an object plays a slot, its F-curves live in that slot's channel bag
  (layer -> keyframe strip -> ``channelbag(slot, ensure=True)``; 5.0 also has
  ``bpy_extras.anim_utils.action_ensure_channelbag_for_slot``), groups made with
  ``channelbag.groups.new``. One slot rule: the slot the object plays, else the action's first
  slot for objects (``OBJECT`` or not yet bound, ``UNSPECIFIED``). NLA strips have an
  ``action_slot`` from 4.4.
- NLA: the tracks the extension keeps actions on (pins, takes, edited takes, the user's own).
- Materials and worlds: ``use_nodes`` must be set before 5.0 (always on, deprecated, there).
- Render output: 5.0 chooses ``image_settings.media_type`` before ``file_format``.
- Properties: a poll on an ID pointer crashes the bpy 4.2 module at exit (measured with 4.2.23).
- Command line: ``bpy.utils.register_cli_command`` (``blender -c``).
"""

from __future__ import annotations


def armature_pointer_poll(poll) -> dict:
    """Keyword arguments for an Object PointerProperty that lists armatures only (4.5+; see above)."""
    import bpy

    return {"poll": poll} if bpy.app.version >= (4, 5, 0) else {}


# ---- sequencer ---------------------------------------------------------------------------------
def sequencer_strips(scene, create: bool = False):
    """The top-level strips of ``scene``'s sequencer (``()`` when it has none and not ``create``)."""
    ed = scene.sequence_editor
    if ed is None:
        if not create:
            return ()
        ed = scene.sequence_editor_create()
    strips = getattr(ed, "strips", None)
    return ed.sequences if strips is None else strips


def all_sequencer_strips(scene):
    """Every strip of ``scene``'s sequencer, inside meta strips too (``()`` without an editor)."""
    ed = scene.sequence_editor
    if ed is None:
        return ()
    strips = getattr(ed, "strips_all", None)
    return ed.sequences_all if strips is None else strips


def meta_children(meta):
    """The strips directly inside a meta strip (5.0 ``strips``, 4.2 ``sequences``)."""
    strips = getattr(meta, "strips", None)
    return meta.sequences if strips is None else strips


def sound_offset(strip) -> float:
    """Seconds of the sound file skipped at the strip's start (0 before 4.5, which has none)."""
    return float(getattr(strip, "sound_offset", 0.0))


def is_retimed(strip) -> bool:
    """The strip has retiming keys (versions without retiming have none)."""
    return len(getattr(strip, "retiming_keys", ())) > 0


# ---- actions, slots and F-curves ---------------------------------------------------------------
def is_slotted(action) -> bool:
    """True for Blender 4.4+ slotted/layered actions."""
    return "slots" in action.bl_rna.properties


def object_slot(action, obj=None):
    """The slot of ``action`` holding ``obj``'s channels: the one ``obj`` plays when it plays
    ``action``, else the first slot for objects; None for legacy actions or when there is none."""
    if not is_slotted(action):
        return None
    anim = getattr(obj, "animation_data", None)
    if anim is not None and anim.action == action and anim.action_slot is not None:
        return anim.action_slot
    return next((s for s in action.slots if s.target_id_type in {"OBJECT", "UNSPECIFIED"}), None)


def strip_slot(strip):
    """The slot an NLA strip plays (4.4+), else None."""
    return getattr(strip, "action_slot", None)


def set_strip_slot(strip, slot) -> None:
    """Make an NLA strip play ``slot`` (nothing to do for None: legacy actions)."""
    if slot is not None and strip.action_slot != slot:
        strip.action_slot = slot


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
        slot = object_slot(action) or action.slots.new(id_type="OBJECT", name=obj.name)
        anim.action_slot = slot
    return slot


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


def fcurves_of(action, obj=None, slot=None):
    """The F-curves holding ``obj``'s channels in ``action`` (``slot``: that slot's instead),
    on any Blender version; an empty tuple when the action has none for it."""
    if not is_slotted(action):
        return action.fcurves
    slot = slot if slot is not None else object_slot(action, obj)
    if slot is None:
        return ()
    bag = _channelbag(action, slot, ensure=False)
    return bag.fcurves if bag is not None else ()


def fcurve_maker(obj, action):
    """A function ``new(data_path, index, group_name)`` that adds an F-curve to the channels
    ``obj`` plays from ``action`` (assigned, see :func:`assign_action`), in the named group
    (made on first use; none for an empty name)."""
    if not is_slotted(action):
        legacy = action.fcurves

        def new_legacy(path: str, index: int, group_name: str):
            return legacy.new(path, index=index, action_group=group_name)

        return new_legacy
    bag = _channelbag(action, obj.animation_data.action_slot, ensure=True)
    groups = {g.name: g for g in bag.groups}

    def new(path: str, index: int, group_name: str):
        fc = bag.fcurves.new(path, index=index)
        if not group_name:
            return fc
        group = groups.get(group_name)
        if group is None:
            group = groups[group_name] = bag.groups.new(group_name)
        fc.group = group
        return fc

    return new


# ---- NLA ---------------------------------------------------------------------------------------
def new_muted_track(obj, name: str):
    """A new muted NLA track called ``name`` on ``obj`` (animation data created if needed)."""
    anim = obj.animation_data or obj.animation_data_create()
    track = anim.nla_tracks.new()
    track.name = name
    track.mute = True
    return track


# ---- materials, worlds, render output ----------------------------------------------------------
def use_nodes(idblock) -> None:
    """Make a material or world use its node tree (always so in 5.0, where the flag is deprecated)."""
    import bpy

    if bpy.app.version < (5, 0, 0):
        idblock.use_nodes = True


def image_format_properties(image_settings) -> tuple[str, ...]:
    """The image settings that choose the output format, in the order they must be set."""
    return (("media_type",) if hasattr(image_settings, "media_type") else ()) + ("file_format",)


def set_output_format(image_settings, video: bool) -> None:
    """Render to H.264-ready FFMPEG video or to PNG stills (5.0: media type first)."""
    if hasattr(image_settings, "media_type"):
        image_settings.media_type = "VIDEO" if video else "IMAGE"
    image_settings.file_format = "FFMPEG" if video else "PNG"


# ---- command line ------------------------------------------------------------------------------
def register_cli_command(name: str, execute):
    """``blender -c name ...`` runs ``execute(argv)``; returns the handle (None where this Blender
    cannot register commands)."""
    import bpy

    if not hasattr(bpy.utils, "register_cli_command"):
        return None
    return bpy.utils.register_cli_command(name, execute)


def unregister_cli_command(handle) -> None:
    """Undo :func:`register_cli_command` (its handle, not None)."""
    import bpy

    bpy.utils.unregister_cli_command(handle)
