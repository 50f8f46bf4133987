# SPDX-License-Identifier: GPL-3.0-or-later
"""Operators for directing the gestures: Pin Action Here, Resample Range, Use Take.

Thin: the work is in :mod:`.pins`, :mod:`.resample` and :mod:`.takes`. Each operator is one
undo step and changes nothing when it reports an error.
"""

from __future__ import annotations

import time

import bpy

from ..core.errors import UserError, message_for
from ..registration import registrar
from .operators import BackgroundJob, armature_blocker, poll_with_reason


def target_blocker(context) -> str | None:
    """Why there is no armature to direct now (None when there is one)."""
    return armature_blocker(context)


def resample_blocker(context) -> str | None:
    """Why Resample Range cannot run now (shown in the panel and as the poll message)."""
    from .pipeline import target_armature
    from .resample import take_blocker

    return target_blocker(context) or take_blocker(target_armature(context))


def _target_and_action(op, context, missing: str):
    """The target armature and the action named by ``op.action`` (None, ``missing`` reported,
    when there is no such action)."""
    from .pipeline import target_armature

    action = bpy.data.actions.get(op.action)
    if action is None:
        op.report({"ERROR"}, missing)
    return target_armature(context), action


class A2G_OT_pin_action(bpy.types.Operator):
    bl_idname = "a2g.pin_action"
    bl_label = "Pin Action Here"
    bl_description = ("Pin an action's motion at the current frame: Generate and Resample make "
                      "the gestures follow it there (a strip on the muted 'A2G Pins' NLA track; "
                      "move, trim or mute it in the NLA editor)")
    bl_options = {"REGISTER", "UNDO"}

    action: bpy.props.StringProperty(name="Action", description="Name of the action to pin")
    frame_start: bpy.props.IntProperty(
        name="Start Frame", description="Scene frame where the pin starts. Unset: the current frame")
    action_frame_start: bpy.props.FloatProperty(
        name="Action Start", description="First frame of the action to pin. Unset: its first key")
    action_frame_end: bpy.props.FloatProperty(
        name="Action End", description="Last frame of the action to pin. Unset: its last key")

    @classmethod
    def poll(cls, context):
        return poll_with_reason(cls, target_blocker(context))

    def execute(self, context):
        from .pins import add_pin

        obj, action = _target_and_action(self, context, f"No action named '{self.action}': choose "
                                         "the action to pin" if self.action else "Choose the action to pin")
        if action is None:
            return {"CANCELLED"}
        if not self.properties.is_property_set("frame_start"):
            self.frame_start = context.scene.frame_current
        is_set = self.properties.is_property_set
        try:
            strip = add_pin(obj, action, self.frame_start,
                            self.action_frame_start if is_set("action_frame_start") else None,
                            self.action_frame_end if is_set("action_frame_end") else None)
        except UserError as exc:
            self.report({"ERROR"}, message_for(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Pinned '{action.name}' at frames {strip.frame_start:g}-"
                              f"{strip.frame_end:g} of '{obj.name}': generate or resample to use it")
        return {"FINISHED"}


class A2G_OT_resample_range(BackgroundJob, bpy.types.Operator):
    bl_idname = "a2g.resample_range"
    bl_label = "Resample Range"
    bl_description = ("New gestures on a stretch of the active take only: the selected markers, "
                      "else the preview range. Keys outside it stay as they are (Esc cancels)")
    bl_options = {"REGISTER", "UNDO"}
    _stage = "Resampling"
    _cancelled = "Resample Range cancelled: nothing was changed"

    frame_start: bpy.props.IntProperty(
        name="Start Frame", description="First frame to resample. Unset: the first selected "
        "marker, else the preview range's start")
    frame_end: bpy.props.IntProperty(
        name="End Frame", description="Last frame to resample. Unset: the last selected marker, "
        "else the preview range's end")
    seed: bpy.props.IntProperty(
        name="Seed", min=0, description="Random seed of the new motion. Unset: a new one each "
        "time (repeatable: the same history gives the same seeds)")

    @classmethod
    def poll(cls, context):
        return poll_with_reason(cls, resample_blocker(context))

    def _prepare(self, context):
        from . import resample
        from .pipeline import target_armature

        is_set = self.properties.is_property_set
        job = resample.prepare(context, target_armature(context),
                               self.frame_start if is_set("frame_start") else None,
                               self.frame_end if is_set("frame_end") else None,
                               self.seed if is_set("seed") else None)
        # remember what is done, so Redo (F9) repeats it exactly
        self.frame_start, self.frame_end, self.seed = job.asked.frame_start, job.asked.frame_end, job.seed
        return job

    # ---- synchronous: headless, scripts, redo -------------------------------------------
    def execute(self, context):
        from . import resample

        self._start = time.perf_counter()
        try:
            job = self._prepare(context)
            result = resample.compute(job)
        except Exception as exc:  # bad input (UserError) or a failure: as the modal path reports it
            self.report({"ERROR"}, message_for(exc, self._stage))
            return {"CANCELLED"}
        return self._done(context, result)

    # ---- interactive: BackgroundJob.invoke with this worker computation ----------------
    def _worker_compute(self):
        from . import resample

        return resample.compute

    def _done(self, context, result):
        from ..rigio.writable import leaves_no_trace
        from . import resample

        try:
            with leaves_no_trace(result.job.armature, keys=True):  # a failure: keys as they were
                action = resample.apply(result)
        except Exception as exc:
            self.report({"ERROR"}, message_for(exc, self._stage))
            return {"CANCELLED"}
        job = result.job
        span = job.span
        notes = []
        if span.clipped:
            notes.append(f"cut to the audio from {job.asked.describe()}")
        if not result.replayed:
            notes.append("the keys there had changed since generation, so the new motion is "
                         "faded into them")
        self.report({"INFO"}, f"Resampled frames {span.frame_start}-{span.frame_end} of "
                              f"'{action.name}' with seed {job.seed} "
                              f"({time.perf_counter() - self._start:.1f} s)"
                              + (f"; {'; '.join(notes)}" if notes else ""))
        return {"FINISHED"}


class A2G_OT_use_take(bpy.types.Operator):
    bl_idname = "a2g.use_take"
    bl_label = "Use Take"
    bl_description = "Make this take the armature's active action"
    bl_options = {"REGISTER", "UNDO"}

    action: bpy.props.StringProperty(name="Take", description="Name of the take's action")

    @classmethod
    def poll(cls, context):
        return poll_with_reason(cls, target_blocker(context))

    def execute(self, context):
        from .takes import use_take

        obj, action = _target_and_action(self, context, f"No take named '{self.action}'")
        if action is None:
            return {"CANCELLED"}
        try:
            use_take(obj, action)
        except UserError as exc:
            self.report({"ERROR"}, message_for(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"'{obj.name}' now plays '{action.name}'")
        return {"FINISHED"}


_classes = (A2G_OT_pin_action, A2G_OT_resample_range, A2G_OT_use_take)

register, unregister = registrar(_classes)
