# SPDX-License-Identifier: GPL-3.0-or-later
"""Scene settings shown in the Gestures panel."""

import bpy


class A2GSettings(bpy.types.PropertyGroup):
    seed: bpy.props.IntProperty(
        name="Seed",
        description="Random seed: the same seed gives the same gestures for the same audio",
        default=0,
        min=0,
    )


def register():
    bpy.utils.register_class(A2GSettings)
    bpy.types.Scene.a2g = bpy.props.PointerProperty(type=A2GSettings)


def unregister():
    del bpy.types.Scene.a2g
    bpy.utils.unregister_class(A2GSettings)
