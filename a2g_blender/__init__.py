# SPDX-License-Identifier: GPL-3.0-or-later
"""Audio2Gestures for Blender: speech -> co-speech body gestures on SMPL-X characters.

Thin bpy glue; the work is done by the bundled numpy runtime in `.core`.
"""

from . import (
    batch,
    bone_map_ui,
    directing_ops,
    directing_panel,
    npz_import,
    operators,
    panel,
    preferences,
    properties,
    style_panel,
)

_modules = (preferences, properties, operators, npz_import, panel, style_panel, bone_map_ui,
            directing_ops, directing_panel, batch)


def register():
    for module in _modules:
        module.register()


def unregister():
    for module in reversed(_modules):
        module.unregister()
