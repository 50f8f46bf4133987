# SPDX-License-Identifier: GPL-3.0-or-later
"""The batch command (``blender -c audio2gestures``): its plan (no bpy), scenes and outputs."""
