# SPDX-License-Identifier: GPL-3.0-or-later
"""Audio2Gestures for Blender: speech -> co-speech body gestures on SMPL-X characters.

Thin bpy glue; the work is done by the bundled numpy runtime in `.core`. The rooms:
`ui` (panels, settings), `jobs` (operators and the jobs behind them), `rigio` (rigs and their
keys), `cli` (the batch command); `compat` is the Blender-version layer they share.
"""

from .cli import batch
from .jobs import directing_ops, operators
from .rigio import npz_import
from .ui import bone_map_ui, directing_panel, panel, preferences, properties, style_panel

_modules = (preferences, properties, operators, npz_import, panel, style_panel, bone_map_ui,
            directing_ops, directing_panel, batch)


def register():
    for module in _modules:
        module.register()


def unregister():
    for module in reversed(_modules):
        module.unregister()
