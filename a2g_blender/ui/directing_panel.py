# SPDX-License-Identifier: GPL-3.0-or-later
"""The "Directing" sub-panel of the Gestures tab: takes, pins and Resample Range."""

from __future__ import annotations

import bpy

from ..registration import registrar
from .panel import SidebarPanel


def _has_body_channels(_self, action):
    from ..jobs.pins import has_body_channels, pin_bone_names
    from ..jobs.pipeline import target_armature

    try:
        names = pin_bone_names(target_armature(bpy.context))
    except Exception:  # no scene or context while Blender loads: the SMPL-X bones
        names = None
    return has_body_channels(action) if names is None else has_body_channels(action, names=names)


class A2GDirecting(bpy.types.PropertyGroup):
    pin_action: bpy.props.PointerProperty(
        name="Pin",
        description="Action to pin at the current frame (a take, or motion imported from an "
        "SMPL-X .npz)",
        type=bpy.types.Action,
        poll=_has_body_channels,
    )
    takes: bpy.props.IntProperty(
        name="Takes",
        description="How many takes Generate makes for the same audio (seeds Seed, Seed + 1, "
        "...). Generating again replaces the previous takes",
        default=1,
        min=1,
        soft_max=8,
        max=32,
    )


def _draw_takes(layout, obj) -> None:
    from ..jobs.takes import take_number, takes_of

    takes = takes_of(obj)
    if not takes:
        return
    active = obj.animation_data.action if obj.animation_data else None
    col = layout.column(align=True)
    col.label(text="Takes", icon="ACTION")
    for action in takes:
        row = col.row(align=True)
        op = row.operator("a2g.use_take", text=f"Take {take_number(action)}: {action.name}",
                          depress=action == active,
                          icon="RADIOBUT_ON" if action == active else "RADIOBUT_OFF")
        op.action = action.name


def _draw_pins(layout, context, obj, settings) -> None:
    from ..jobs.pins import pin_strips

    col = layout.column(align=True)
    col.label(text="Pins", icon="PINNED")
    col.prop(settings, "pin_action", text="")
    row = col.row(align=True)
    op = row.operator("a2g.pin_action", icon="PINNED")
    op.action = settings.pin_action.name if settings.pin_action else ""
    row.enabled = settings.pin_action is not None
    for strip in pin_strips(obj, include_muted=True)[:8]:
        text = f"{strip.name}: {strip.frame_start:g}-{strip.frame_end:g}"
        col.label(text=text + (" (muted)" if strip.mute else ""),
                  icon="HIDE_ON" if strip.mute else "DOT")


def _draw_resample(layout, context, obj) -> None:
    from ..core.directing import DirectingError
    from ..jobs.directing_ops import resample_blocker
    from ..jobs.resample import scene_default_range

    col = layout.column(align=True)
    col.label(text="Resample", icon="FILE_REFRESH")
    try:
        rng = scene_default_range(context.scene)
        col.label(text=rng.describe())
    except DirectingError:
        rng = None
        col.label(text="Select two markers or set a preview range", icon="INFO")
    col.operator("a2g.resample_range", icon="FILE_REFRESH")
    reason = resample_blocker(context)
    if reason:
        col.label(text=reason, icon="INFO")
        return
    active = obj.animation_data.action
    if rng is not None:
        op = col.operator("a2g.pin_action", text="Pin This Take Over Range", icon="PINNED")
        op.action = active.name
        op.frame_start = rng.frame_start
        op.action_frame_start, op.action_frame_end = rng.frame_start, rng.frame_end


class A2G_PT_directing(SidebarPanel, bpy.types.Panel):
    bl_idname = "A2G_PT_directing"
    bl_label = "Directing"
    bl_parent_id = "A2G_PT_gestures"

    def draw(self, context):
        from ..jobs.directing_ops import target_blocker
        from ..jobs.pipeline import target_armature

        layout = self.layout
        settings = context.scene.a2g_directing
        reason = target_blocker(context)
        if reason:
            layout.label(text=reason, icon="INFO")
            return
        obj = target_armature(context)
        _draw_takes(layout, obj)
        _draw_pins(layout, context, obj, settings)
        _draw_resample(layout, context, obj)


_classes = (A2GDirecting, A2G_PT_directing)

register, unregister = registrar(
    _classes, ((bpy.types.Scene, "a2g_directing", bpy.props.PointerProperty(type=A2GDirecting)),))
