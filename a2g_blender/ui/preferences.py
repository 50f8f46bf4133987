# SPDX-License-Identifier: GPL-3.0-or-later
"""Add-on preferences: which model file generates the gestures."""

import bpy

ADDON = __package__.rpartition(".")[0]  # the add-on's own module (this file is in its ui/)


class A2GPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON

    model_path: bpy.props.StringProperty(
        name="Model File",
        description="Exported Audio2Gestures model (.json beside its .npz). "
        "Empty: the model bundled with the add-on",
        subtype="FILE_PATH",
        default="",
    )

    def draw(self, context):
        from ..jobs import model

        layout = self.layout
        layout.prop(self, "model_path")
        path = model.model_path(context)
        layout.label(text=f"Using: {path}" if path else "No model found: choose a model file",
                     icon="FILE" if path else "ERROR")
        if not self.model_path:
            col = layout.column(align=True)
            col.label(text="The bundled model is for non-commercial use only: it is made from BEAT2",
                      icon="INFO")
            col.label(text="motion capture (CC BY-NC 4.0). For commercial work, train a model on data")
            col.label(text="you may use commercially and choose it as the Model File.")


def get(context=None):
    """This add-on's preferences (None while it is not enabled)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON)
    return addon.preferences if addon else None


def register():
    bpy.utils.register_class(A2GPreferences)


def unregister():
    bpy.utils.unregister_class(A2GPreferences)
