# SPDX-License-Identifier: GPL-3.0-or-later
"""The "Gestures" tab in the 3D Viewport sidebar."""

import bpy


def _audio_summary(context) -> tuple[str, str]:
    """(text, icon) saying which sound strips Generate will use."""
    from ..jobs.audio_source import chosen_strips, sound_strips

    strips = chosen_strips(context.scene)
    if not strips:
        if sound_strips(context.scene):
            return "All sound strips are muted", "ERROR"
        return "No sound strips: add one in the Video Sequencer", "ERROR"
    which = "Selected" if any(s.select for s in strips) else "All"
    names = ", ".join(s.name for s in strips[:3]) + (", ..." if len(strips) > 3 else "")
    return f"{which}: {names}", "SOUND"


class SidebarPanel:
    """Where the extension's panels are: the 3D Viewport's sidebar, its "Gestures" tab."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Gestures"


class ClosedSection(SidebarPanel):
    """A section of the Gestures panel that starts closed (Style, Bone Map)."""

    bl_parent_id = "A2G_PT_gestures"
    bl_options = {"DEFAULT_CLOSED"}


class A2G_PT_gestures(SidebarPanel, bpy.types.Panel):
    bl_idname = "A2G_PT_gestures"
    bl_label = "Audio2Gestures"

    def draw(self, context):
        from ..jobs.model import speakers
        from ..jobs.operators import STOPPING, generate_blocker, is_running
        from ..jobs.pipeline import target_armature
        from .properties import chosen_speaker

        layout = self.layout
        settings = context.scene.a2g
        progress = context.window_manager.a2g_progress
        running = is_running(context)

        col = layout.column()
        col.prop(settings, "target")
        if settings.target is None:
            obj = target_armature(context)
            if obj is not None and obj.type == "ARMATURE":
                col.label(text=f"Active: {obj.name}", icon="ARMATURE_DATA")

        col = layout.column()
        col.prop(settings, "audio_source", expand=True)
        if settings.audio_source == "FILE":
            col.prop(settings, "audio_file", text="")
        else:
            text, icon = _audio_summary(context)
            col.label(text=text, icon=icon)

        row = layout.row(align=True)
        row.prop(settings, "seed")
        row.prop(context.scene.a2g_directing, "takes")
        layout.prop(settings, "intensity", slider=True)
        layout.prop(settings, "sync", slider=True)
        if speakers(context)[0]:  # a model trained on several speakers: their styles
            layout.prop(settings, "speaker")

        if running and progress.running:
            layout.progress(factor=progress.fraction, type="BAR",
                            text=f"{progress.stage} {progress.fraction * 100:.0f}%")
            layout.label(text="Esc cancels", icon="CANCEL")
        elif running:  # cancelled, its worker not stopped yet
            layout.label(text=STOPPING, icon="CANCEL")
        row = layout.row()
        row.scale_y = 1.4
        op = row.operator("a2g.generate", icon="PLAY")
        op.seed = settings.seed
        op.intensity = settings.intensity
        op.sync = settings.sync
        op.speaker = chosen_speaker(settings, context) or ""
        reason = generate_blocker(context)
        if reason and not running:
            layout.label(text=reason, icon="INFO")

        layout.separator()
        layout.operator("a2g.add_character", icon="OUTLINER_OB_ARMATURE")


def register():
    bpy.utils.register_class(A2G_PT_gestures)


def unregister():
    bpy.utils.unregister_class(A2G_PT_gestures)
