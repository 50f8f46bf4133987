# SPDX-License-Identifier: GPL-3.0-or-later
"""Scene settings shown in the Gestures panel, and the (unsaved) progress of a running job."""

import zlib

import bpy

from .. import compat
from ..registration import registrar


def _is_armature(_self, obj):
    return obj.type == "ARMATURE"


# Where a poll on an ID pointer is safe (not 4.2, see compat): the list shows armatures only;
# elsewhere it shows every object and Generate refuses a target that is not an armature.
_TARGET_POLL = compat.armature_pointer_poll(_is_armature)


def _setting(prop, name: str, description: str, **limits):
    """A Generate setting that the Gestures panel shows and the operators take: a factory of
    ``prop`` (a bpy.props function) whose argument ends the description (what an operator uses
    when it is not given, or more about the setting)."""

    def make(more: str = ""):
        return prop(name=name, description=description + more, **limits)

    return make


#: Generate's Seed.
seed_property = _setting(
    bpy.props.IntProperty, "Seed",
    "Random seed: the same seed gives the same gestures for the same audio",
    default=0, min=0)

#: Generate's Intensity.
intensity_property = _setting(
    bpy.props.FloatProperty, "Intensity",
    "How large and lively the gestures are: 1 as the model samples them, 0.5 calmer, 1.5 livelier",
    default=1.0, min=0.01, max=3.0, soft_min=0.25, soft_max=2.0, step=5)

#: Generate's Sync; its default is core.generate.DEFAULT_SYNC.
sync_property = _setting(
    bpy.props.FloatProperty, "Sync",
    "How far the gestures' beats are moved in time onto the speech's onsets: 0 the motion's own "
    "timing, 1 up to a third of a second (measured to follow the speech better)",
    default=1.0, min=0.0, max=3.0, soft_max=1.0, step=10)


DEFAULT_SPEAKER = "DEFAULT"
_speaker_items: dict = {}  # (speakers, default) -> items: Blender needs a dynamic enum's strings kept alive


def _speaker_number(name: str) -> int:
    """A speaker's enum value, from its name: a saved choice keeps naming the same speaker when
    the model changes (0 is the model's default)."""
    return zlib.crc32(name.encode()) % 0x7FFFFFFE + 1


def _speaker_enum_items(_self, context):
    from ..jobs import model

    names, default = model.speakers(context)
    items = _speaker_items.get((names, default))
    if items is None:
        items = [(DEFAULT_SPEAKER, f"Default ({default})" if default else "Default",
                  "The speaker the model recommends (its default_speaker)", 0)]
        items += [(s, f"Speaker {s}", f"Gestures in the style of speaker {s}: drawn from that "
                   "speaker's recorded motion", _speaker_number(s)) for s in names]
        _speaker_items.clear()
        _speaker_items[(names, default)] = items
    return items


def chosen_speaker(settings, context=None) -> str | None:
    """The Gestures panel's Speaker for ``pipeline.prepare``: None for the model's default, also
    when the saved choice is not a speaker of the model now in use (read from the stored
    number: Blender warns when an enum's value has no item)."""
    from ..jobs import model

    number = settings.get("speaker")  # None: never set, the default
    if not number:
        return None
    return next((s for s in model.speakers(context)[0] if _speaker_number(s) == number), None)


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
    sync: sync_property()
    speaker: bpy.props.EnumProperty(
        name="Speaker",
        description="Gesture in the style of one of the speakers the model was trained on "
        "(shown for models trained on several)",
        items=_speaker_enum_items,
        default=0,
    )


class A2GProgress(bpy.types.PropertyGroup):
    """Lives on the window manager: never saved, never part of undo."""

    running: bpy.props.BoolProperty(default=False)
    fraction: bpy.props.FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    stage: bpy.props.StringProperty(default="")


_classes = (A2GSettings, A2GProgress)

register, unregister = registrar(_classes, (
    (bpy.types.Scene, "a2g", bpy.props.PointerProperty(type=A2GSettings)),
    (bpy.types.WindowManager, "a2g_progress", bpy.props.PointerProperty(type=A2GProgress)),
))
