# SPDX-License-Identifier: GPL-3.0-or-later
"""The "Gestures" tab in the 3D Viewport sidebar."""

import bpy


class A2G_PT_gestures(bpy.types.Panel):
    bl_idname = "A2G_PT_gestures"
    bl_label = "Audio2Gestures"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Gestures"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.a2g
        layout.prop(settings, "seed")


def register():
    bpy.utils.register_class(A2G_PT_gestures)


def unregister():
    bpy.utils.unregister_class(A2G_PT_gestures)
