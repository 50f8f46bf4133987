# SPDX-License-Identifier: GPL-3.0-or-later
"""The Gestures panel's *Style* section: the list of clips the gestures' mannerisms are drawn
from (actions on any humanoid rig, SMPL-X .npz files), and *Use Bundled Style* to go back.
What the list becomes is in :mod:`.style`."""

import bpy

from ..registration import registrar
from .panel import ClosedSection


def _is_armature(_self, obj):
    return obj.type == "ARMATURE"


class A2GStyleClip(bpy.types.PropertyGroup):
    kind: bpy.props.EnumProperty(
        name="Kind",
        items=(("ACTION", "Action", "An action in this file, on any humanoid rig"),
               ("FILE", "File", "An SMPL-X .npz file (AMASS/BEAT2 layout) or a humanoid BVH")),
        default="ACTION",
    )
    action: bpy.props.PointerProperty(name="Action", type=bpy.types.Action,
                                      description="The clip's motion")
    armature: bpy.props.PointerProperty(
        name="Rig", type=bpy.types.Object,
        description="The armature the action was made for (its bone map reads it). Empty: the Target",
    )
    filepath: bpy.props.StringProperty(
        name="File", subtype="FILE_PATH",
        description="SMPL-X .npz or BVH; a WAV of the same stem beside it is its speech",
    )


class A2GStyle(bpy.types.PropertyGroup):
    clips: bpy.props.CollectionProperty(type=A2GStyleClip)
    index: bpy.props.IntProperty(name="Clip", default=0, min=0)


class A2G_UL_style_clips(bpy.types.UIList):
    def draw_item(self, _context, layout, _data, item, _icon, _active, _prop):
        if item.kind == "FILE":
            layout.label(text=item.name or bpy.path.basename(item.filepath), icon="FILE")
        else:
            layout.prop(item, "action", text="", icon="ACTION")


def _add_clip(context, kind: str, name: str):
    """A new clip of ``kind`` named ``name`` at the end of the Style list, selected."""
    style = context.scene.a2g_style
    item = style.clips.add()
    item.kind, item.name = kind, name
    style.index = len(style.clips) - 1
    return item


class A2G_OT_style_add_action(bpy.types.Operator):
    """Add an action of this file to the Style clips (the active armature's, or the chosen one)"""

    bl_idname = "a2g.style_add_action"
    bl_label = "Add Action"
    bl_options = {"REGISTER", "UNDO"}

    action: bpy.props.StringProperty(name="Action", description="Name of the action (empty: the "
                                     "active armature's current action)")

    def execute(self, context):
        obj = context.active_object
        name = self.action or (obj.animation_data.action.name if obj is not None and obj.animation_data
                               and obj.animation_data.action else "")
        action = bpy.data.actions.get(name)
        if action is None:
            self.report({"ERROR"}, "No action to add: give an action's name, or select an armature "
                        "playing the action")
            return {"CANCELLED"}
        item = _add_clip(context, "ACTION", action.name)
        item.action = action
        if obj is not None and obj.type == "ARMATURE" and obj != context.scene.a2g.target:
            item.armature = obj
        return {"FINISHED"}


class A2G_OT_style_add_file(bpy.types.Operator):
    """Add an SMPL-X .npz or BVH motion file to the Style clips"""

    bl_idname = "a2g.style_add_file"
    bl_label = "Add File"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(subtype="FILE_PATH")
    filter_glob: bpy.props.StringProperty(default="*.npz;*.bvh", options={"HIDDEN"})

    def invoke(self, context, _event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        if not self.filepath.lower().endswith((".npz", ".bvh")):
            self.report({"ERROR"}, f"'{bpy.path.basename(self.filepath)}' is not an SMPL-X .npz or a "
                        ".bvh file")
            return {"CANCELLED"}
        _add_clip(context, "FILE", bpy.path.basename(self.filepath)).filepath = self.filepath
        return {"FINISHED"}


class A2G_OT_style_remove(bpy.types.Operator):
    """Remove the selected clip from the Style clips"""

    bl_idname = "a2g.style_remove"
    bl_label = "Remove Clip"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return len(context.scene.a2g_style.clips) > 0

    def execute(self, context):
        style = context.scene.a2g_style
        style.clips.remove(min(style.index, len(style.clips) - 1))
        style.index = max(0, min(style.index, len(style.clips) - 1))
        return {"FINISHED"}


class A2G_OT_style_bundled(bpy.types.Operator):
    """Draw the gestures' mannerisms from the model's bundled style again (empties the list)"""

    bl_idname = "a2g.style_bundled"
    bl_label = "Use Bundled Style"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        context.scene.a2g_style.clips.clear()
        context.scene.a2g_style.index = 0
        return {"FINISHED"}


def draw_style(layout, style) -> None:
    """The Style section: the clip list (``style``: scene.a2g_style) with its Add Action / Add
    File / Remove buttons, the selected clip's rig or file, and Use Bundled Style."""
    if not len(style.clips):
        layout.label(text="Bundled style (the model's speaker)", icon="INFO")
    row = layout.row()
    row.template_list("A2G_UL_style_clips", "", style, "clips", style, "index", rows=3)
    col = row.column(align=True)
    col.operator("a2g.style_add_action", text="", icon="ACTION")
    col.operator("a2g.style_add_file", text="", icon="FILE")
    col.operator("a2g.style_remove", text="", icon="REMOVE")
    if 0 <= style.index < len(style.clips):
        item = style.clips[style.index]
        if item.kind == "ACTION":
            layout.prop(item, "armature")
        else:
            layout.prop(item, "filepath", text="")
    if len(style.clips):
        layout.operator("a2g.style_bundled", icon="LOOP_BACK")


class A2G_PT_style(ClosedSection, bpy.types.Panel):
    bl_idname = "A2G_PT_style"
    bl_label = "Style"

    def draw(self, context):
        draw_style(self.layout, context.scene.a2g_style)


_classes = (A2GStyleClip, A2GStyle, A2G_UL_style_clips, A2G_OT_style_add_action, A2G_OT_style_add_file,
            A2G_OT_style_remove, A2G_OT_style_bundled, A2G_PT_style)

register, unregister = registrar(
    _classes, ((bpy.types.Scene, "a2g_style", bpy.props.PointerProperty(type=A2GStyle)),))
