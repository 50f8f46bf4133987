# SPDX-License-Identifier: GPL-3.0-or-later
"""Operators: Add SMPL-X Character, Generate Gestures. Thin: the work is in pipeline/character."""

from __future__ import annotations

import threading
import time

import bpy

from ..core.errors import message_for
from ..ui.properties import chosen_speaker, intensity_property, seed_property, sync_property

_active_worker = None  # the last interactive job's worker thread (cancelled ones too)
STOPPING = "The cancelled job is stopping: wait a moment"


_active_refinement = None  # the interactive job's rig_eval.Refinement, while it steps
_STALE_S = 5.0  # a refinement not stepped for this long lost its modal handler (a file loaded)


def is_running(context) -> bool:
    """An interactive generation is under way, or a cancelled one is still stopping: its
    worker thread is still computing (or its keys are being fitted to the rig frame by frame),
    so no new job may start beside it.

    Checked on the thread itself (and on the refinement's last step), so a job whose modal
    handler vanished (a file loaded meanwhile) cannot leave Generate disabled for good.
    """
    worker, refining = _active_worker, _active_refinement
    if refining is not None and time.monotonic() - refining.last_step < _STALE_S:
        return True
    return worker is not None and worker.is_alive()


def armature_blocker(context, purpose: str = "") -> str | None:
    """Why no operator can work on the target armature now (None when one can); ``purpose``
    ends the mode hint, e.g. " to generate gestures"."""
    from .pipeline import target_armature

    if context.scene is None:
        return "No scene"
    if is_running(context):
        if not context.window_manager.a2g_progress.running:
            return STOPPING
        return "Gestures are being generated or resampled: wait, or press Esc to cancel"
    if context.mode not in {"OBJECT", "POSE"}:
        return f"Switch to Object or Pose Mode{purpose}"
    obj = target_armature(context)
    if obj is None:
        return "Select an SMPL-X armature, or set Target in the Gestures panel"
    if obj.type != "ARMATURE":
        return f"'{obj.name}' is not an armature: select an SMPL-X armature"
    from ..rigio.writable import animation_blocker

    return animation_blocker(obj, purpose)  # NLA tweak mode, linked without a library override


def poll_with_reason(cls, reason: str | None) -> bool:
    """An operator's poll: True when nothing blocks it, else False with ``reason`` shown."""
    if reason:
        cls.poll_message_set(reason)
        return False
    return True


def generate_blocker(context) -> str | None:
    """Why Generate Gestures cannot run now (shown in the panel and as the poll message)."""
    return armature_blocker(context, " to generate gestures")


class A2G_OT_add_character(bpy.types.Operator):
    bl_idname = "a2g.add_character"
    bl_label = "Add SMPL-X Character"
    bl_description = ("Add a 55-bone SMPL-X armature (Z up, metres) with the skinned mannequin "
                      "mesh bound to it, at the 3D cursor")
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if context.scene is None:
            return False
        if context.mode != "OBJECT":
            cls.poll_message_set("Switch to Object Mode to add a character")
            return False
        return True

    def execute(self, context):
        from ..rigio.character import add_character

        start = time.perf_counter()
        arm, mesh = add_character(context)
        self.report({"INFO"}, f"Added '{arm.name}' ({len(arm.data.bones)} bones) and "
                              f"'{mesh.name}' in {time.perf_counter() - start:.2f} s")
        return {"FINISHED"}


class _Worker(threading.Thread):
    """Runs a numpy-only ``compute(job, progress=, cancelled=)`` (no bpy) off the main thread:
    :func:`.pipeline.compute` unless another is given (Resample Range's)."""

    def __init__(self, job, compute=None):
        super().__init__(daemon=True)
        self.job = job
        self.compute = compute
        self.fraction = 0.0
        self.result = None
        self.error = None
        self.cancel_event = threading.Event()

    def run(self):
        from .pipeline import Cancelled, compute

        try:
            self.result = (self.compute or compute)(self.job, progress=self._progress,
                                                    cancelled=self.cancel_event.is_set)
        except Cancelled:
            pass
        except Exception as exc:  # reported on the main thread
            self.error = exc

    def _progress(self, fraction):
        self.fraction = fraction


class BackgroundJob:
    """The interactive half of an operator whose work runs in a :class:`_Worker`: a modal
    timer updates the progress bar, Esc cancels (the worker's result is dropped, nothing is
    written), and when the worker is done ``self._done(context, result)`` writes it on the
    main thread. One job at a time (:func:`is_running`)."""

    _stage = "Working"  # the progress bar's label
    _cancelled = "Cancelled: nothing was changed"

    def _worker_compute(self):
        """The numpy-only computation the worker runs (None: ``pipeline.compute``)."""
        return None

    def _refinement(self, context, result):
        """What must still touch Blender frame by frame before ``result`` is written (an object
        whose ``step()`` returns the fraction done, None when finished, and ``close()`` stops
        it), stepped by the modal timer with progress and Esc; None: nothing. The result says
        (``result.refinement()``: pipeline.Result, resample.ResampleResult)."""
        make = getattr(result, "refinement", None)
        return make() if make is not None else None

    def _refined(self, result, refinement):
        """``result`` once ``refinement`` is done."""
        return result.refined(refinement)

    def invoke(self, context, event):
        """Interactive: prepare here, compute in a worker thread, Esc cancels (headless or
        without a window: :meth:`execute`, synchronously)."""
        if bpy.app.background or context.window is None:
            return self.execute(context)
        self._start = time.perf_counter()  # the report's time is the whole run's, prepare included
        try:
            job = self._prepare(context)
        except Exception as exc:  # bad input (UserError) or a failure: as the modal path reports it
            self.report({"ERROR"}, message_for(exc, self._stage))
            return {"CANCELLED"}
        return self._start_job(context, job, self._worker_compute())

    def _start_job(self, context, job, compute=None):
        global _active_worker
        if not hasattr(self, "_start"):
            self._start = time.perf_counter()
        self._worker = _active_worker = _Worker(job, compute)
        wm = context.window_manager
        progress = wm.a2g_progress
        progress.running, progress.fraction, progress.stage = True, 0.0, self._stage
        wm.progress_begin(0, 100)
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        self._worker.start()
        return {"RUNNING_MODAL"}

    _refining = None  # the refinement being stepped, once the worker is done

    def modal(self, context, event):
        worker = self._worker
        if event.type == "ESC" and event.value == "PRESS":
            worker.cancel_event.set()
            self._finish(context)
            self.report({"WARNING"}, self._cancelled)
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if self._refining is not None:
            return self._step_refinement(context)
        self._show(context, worker.fraction)
        if worker.is_alive():
            return {"PASS_THROUGH"}
        try:
            if worker.error is not None:
                raise worker.error
            refining = self._refinement(context, worker.result)
        except Exception as exc:
            self._finish(context)
            self.report({"ERROR"}, message_for(exc, self._stage))
            return {"CANCELLED"}
        if refining is None:
            self._finish(context)
            return self._done(context, worker.result)
        global _active_refinement
        self._result, self._refining = worker.result, refining
        refining.last_step = time.monotonic()
        _active_refinement = refining
        context.window_manager.a2g_progress.stage = "Fitting the keys to the rig"
        self._show(context, 0.0)
        return {"PASS_THROUGH"}

    def _step_refinement(self, context):
        refining = self._refining
        try:
            fraction = refining.step()
        except Exception as exc:
            self._finish(context)
            self.report({"ERROR"}, message_for(exc, self._stage))
            return {"CANCELLED"}
        refining.last_step = time.monotonic()
        if fraction is not None:
            self._show(context, fraction)
            return {"PASS_THROUGH"}
        self._finish(context)
        return self._done(context, self._refined(self._result, refining))

    def _show(self, context, fraction):
        wm = context.window_manager
        wm.a2g_progress.fraction = fraction
        wm.progress_update(int(100 * fraction))
        _redraw_sidebars(context)

    def _done(self, context, result):  # pragma: no cover - overridden
        raise NotImplementedError

    def _finish(self, context):
        """The modal half ends. A cancelled worker that is still computing stays the active
        one until it stops (it polls the cancel event between and inside its stages), so a new
        job never overlaps it; its result is dropped."""
        global _active_worker, _active_refinement
        if _active_worker is self._worker and not self._worker.is_alive():
            _active_worker = None
        if self._refining is not None:  # stopped (Esc, an error) or done: nothing left behind
            self._refining.close()
            if _active_refinement is self._refining:
                _active_refinement = None
            self._refining = None
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        wm.a2g_progress.running = False
        wm.a2g_progress.fraction = 0.0
        _redraw_sidebars(context)


class A2G_OT_generate(BackgroundJob, bpy.types.Operator):
    bl_idname = "a2g.generate"
    bl_label = "Generate Gestures"
    bl_description = ("Generate co-speech body gestures from the speech and key them on the "
                      "target armature as a new action (Esc cancels)")
    bl_options = {"REGISTER", "UNDO"}
    _stage = "Generating gestures"
    _cancelled = "Gesture generation cancelled: nothing was changed"

    seed: seed_property(". Unset: the Gestures panel's seed")
    count: bpy.props.IntProperty(
        name="Takes",
        description="How many takes to make for the same audio (seeds Seed, Seed + 1, ...), "
        "each its own action; switch between them in the Directing panel. Unset: the "
        "Gestures panel's Takes",
        default=1,
        min=1,
        max=32,
    )
    intensity: intensity_property(". Unset: the Gestures panel's Intensity")
    sync: sync_property(". Unset: the Gestures panel's Sync")
    speaker: bpy.props.StringProperty(
        name="Speaker",
        description="Gesture in the style of this speaker of the model (trained on several). "
        "Empty: the model's default speaker. Unset: the Gestures panel's Speaker",
    )

    @classmethod
    def poll(cls, context):
        return poll_with_reason(cls, generate_blocker(context))

    # ---- shared -------------------------------------------------------------------------
    def _prepare(self, context):
        from .pipeline import prepare, target_armature

        if not self.properties.is_property_set("seed"):
            self.seed = context.scene.a2g.seed
        if not self.properties.is_property_set("count"):
            self.count = context.scene.a2g_directing.takes
        if not self.properties.is_property_set("intensity"):
            self.intensity = context.scene.a2g.intensity
        if not self.properties.is_property_set("sync"):
            self.sync = context.scene.a2g.sync
        if not self.properties.is_property_set("speaker"):
            self.speaker = chosen_speaker(context.scene.a2g, context) or ""
        return prepare(context, target_armature(context), self.seed, count=self.count,
                       intensity=self.intensity, speaker=self.speaker or None, sync=self.sync)

    def _apply(self, result, start: float):
        """Write ``result`` and report it; ``start``: when the run began (perf_counter), so the
        report's time is the whole run's, writing the keys (and Rigify's controls) included."""
        from ..rigio.actions import USER_TRACK, kept_message
        from ..rigio.writable import leaves_no_trace
        from .pipeline import apply

        kept = []
        with leaves_no_trace(result.job.armature):  # a failure leaves the scene as it was
            action = apply(result, kept)
        seconds = time.perf_counter() - start
        heard = result.job.heard
        takes = f" (take 1 of {1 + len(result.takes)})" if result.takes else ""
        pins = f", {len(result.job.pins)} pin(s)" if result.job.pins else ""
        speaker = f", speaker {result.job.speaker}" if result.job.speaker is not None else ""
        intensity = f", intensity {result.job.intensity:g}" if result.job.intensity != 1.0 else ""
        style = getattr(result.job, "style", None)
        intensity += f", {style.describe()}" if style is not None else ", bundled style"
        obj = bpy.data.objects.get(result.job.armature)
        under = obj is not None and any(t.name.startswith(USER_TRACK) and not t.mute
                                        for t in obj.animation_data.nla_tracks)
        notes = " Your own animation keeps playing underneath (NLA track "\
                f"'{USER_TRACK}') for every channel the gestures do not key." if under else ""
        if kept:
            notes += f" {kept_message(kept)}"
        self.report({"WARNING"} if kept else {"INFO"},
                    f"'{action.name}'{takes}: frames {heard.first}-{heard.end - 1} on "
                    f"'{result.job.armature}' from {heard.description}, seed "
                    f"{result.job.seed}{intensity}{speaker}{pins} ({seconds:.1f} s).{notes}")

    # ---- synchronous: headless, scripts, redo -------------------------------------------
    def execute(self, context):
        from .pipeline import compute

        start = time.perf_counter()
        wm = context.window_manager
        show = not bpy.app.background and context.window is not None
        try:
            job = self._prepare(context)
            if show:
                wm.progress_begin(0, 100)
            try:
                result = compute(job, progress=(lambda f: wm.progress_update(int(100 * f)))
                                 if show else None)
            finally:
                if show:
                    wm.progress_end()
            self._apply(result, start)
        except Exception as exc:  # bad input (UserError) or a failure: as the modal path reports it
            self.report({"ERROR"}, message_for(exc, self._stage))
            return {"CANCELLED"}
        return {"FINISHED"}

    # ---- interactive: BackgroundJob.invoke, then -------------------------------------
    def _done(self, context, result):
        try:
            self._apply(result, self._start)
        except Exception as exc:
            self.report({"ERROR"}, message_for(exc, self._stage))
            return {"CANCELLED"}
        return {"FINISHED"}


def _redraw_sidebars(context):
    screen = context.screen
    if screen is None:
        return
    for area in screen.areas:
        if area.type == "VIEW_3D":
            area.tag_redraw()


def _add_menu(self, context):
    self.layout.operator(A2G_OT_add_character.bl_idname, icon="OUTLINER_OB_ARMATURE")


_classes = (A2G_OT_add_character, A2G_OT_generate)


def register():
    for cls in _classes:
        bpy.utils.register_class(cls)
    bpy.types.VIEW3D_MT_armature_add.append(_add_menu)


def unregister():
    bpy.types.VIEW3D_MT_armature_add.remove(_add_menu)
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
