# SPDX-License-Identifier: GPL-3.0-or-later
"""Scene settings shown in the Gestures panel, and the (unsaved) progress of a running job."""

import bpy

from .. import compat


def _is_armature(_self, obj):
    return obj.type == "ARMATURE"


# Where a poll on an ID pointer is safe (not 4.2, see compat): the list shows armatures only;
# elsewhere it shows every object and Generate refuses a target that is not an armature.
_TARGET_POLL = compat.armature_pointer_poll(_is_armature)


def seed_property(unset: str = ""):
    """Generate's Seed (``unset``: what an operator uses when it is not given)."""
    return bpy.props.IntProperty(
        name="Seed",
        description="Random seed: the same seed gives the same gestures for the same audio" + unset,
        default=0,
        min=0,
    )


def intensity_property(more: str = ""):
    """Generate's Intensity (``more`` ends the description)."""
    return bpy.props.FloatProperty(
        name="Intensity",
        description="How large and lively the gestures are: 1 as the model samples them, 0.5 "
        "calmer, 1.5 livelier" + more,
        default=1.0,
        min=0.01,
        max=3.0,
        soft_min=0.25,
        soft_max=2.0,
        step=5,
    )


class A2GSettings(bpy.types.PropertyGroup):
    target: bpy.props.PointerProperty(
        name="Target",
        description="Armature to animate. Empty: the active armature",
        type=bpy.types.Object,
        **_TARGET_POLL,
    )
    audio_source: bpy.props.EnumProperty(
        name="Audio",
        description="Where the speech comes from",
        items=(
            ("STRIPS", "Sound Strips",
             "The selected sound strips in the Video Sequencer, else all unmuted sound strips; "
             "the motion lands where they play"),
            ("FILE", "Audio File", "An audio file, played from the scene's start frame"),
        ),
        default="STRIPS",
    )
    audio_file: bpy.props.StringProperty(
        name="Audio File",
        description="Speech recording (WAV, FLAC, OGG, MP3, ...); the motion starts at the "
        "scene's start frame",
        subtype="FILE_PATH",
    )
    seed: seed_property()
    intensity: intensity_property(" (scales the motion code's deviation from its mean)")


class A2GProgress(bpy.types.PropertyGroup):
    """Lives on the window manager: never saved, never part of undo."""

    running: bpy.props.BoolProperty(default=False)
    fraction: bpy.props.FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    stage: bpy.props.StringProperty(default="")


_classes = (A2GSettings, A2GProgress)


def register():
    for cls in _classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.a2g = bpy.props.PointerProperty(type=A2GSettings)
    bpy.types.WindowManager.a2g_progress = bpy.props.PointerProperty(type=A2GProgress)


def unregister():
    del bpy.types.WindowManager.a2g_progress
    del bpy.types.Scene.a2g
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
