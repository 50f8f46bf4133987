"""Resample Range runs as Generate runs: a background job with progress, Esc cancels and
nothing is half-written (real bpy; headless Blender sends no events, so the modal handler is
driven here with the events a window would send)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import bpy
import numpy as np
import pytest

from .conftest import mod, speech_like, write_wav
from .test_directing import state


@pytest.fixture()
def take(addon, tmp_path):
    """A generated take on the character, 6 s of speech at 30 fps."""
    assert bpy.ops.a2g.add_character() == {"FINISHED"}
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.a2g.audio_source = "FILE"
    scene.a2g.audio_file = str(write_wav(tmp_path / "speech.wav", speech_like(6.0, seed=2)))
    assert bpy.ops.a2g.generate(seed=5) == {"FINISHED"}
    return bpy.context.active_object


def _job(rig):
    return mod("jobs.resample").prepare(bpy.context, rig, 40, 100, 7)


def test_worker_reports_progress_and_matches_the_synchronous_result(take):
    resample, operators = mod("jobs.resample"), mod("jobs.operators")
    job = _job(take)
    seen = []
    worker = operators._Worker(job, resample.compute)
    worker._progress = seen.append
    worker.start()
    worker.join()
    assert worker.error is None and worker.result is not None
    assert seen == sorted(seen) and len(seen) >= 4 and 0 < seen[0] and seen[-1] < 1
    np.testing.assert_array_equal(worker.result.quats, resample.compute(job).quats)


def test_cancel_between_stages_writes_nothing(take):
    """Esc while the model runs: the worker stops at the next stage, nothing is written."""
    resample, operators = mod("jobs.resample"), mod("jobs.operators")
    before = state()
    worker = operators._Worker(_job(take), resample.compute)

    def progress(fraction):  # the user presses Esc as soon as the first replay is done
        worker.fraction = fraction
        if fraction >= 0.5:
            worker.cancel_event.set()

    worker._progress = progress
    worker.start()
    worker.join()
    assert worker.result is None and worker.error is None
    assert 0.5 <= worker.fraction < 0.9
    assert state() == before


class Event(SimpleNamespace):
    pass


def _driver(job, compute, done):
    """The modal half of A2G_OT_resample_range, run outside Blender's event loop: the same
    BackgroundJob.modal and _done, with the worker started as _start_job starts it."""
    operators, directing_ops = mod("jobs.operators"), mod("jobs.directing_ops")
    op_cls = directing_ops.A2G_OT_resample_range
    reports = []

    class Driver(operators.BackgroundJob):
        _stage = op_cls._stage
        _cancelled = op_cls._cancelled
        _done = done or op_cls._done

        def report(self, kind, text):
            reports.append((set(kind), text))

    drv = Driver()
    drv._start = time.perf_counter()
    drv._worker = operators._active_worker = operators._Worker(job, compute)
    wm = bpy.context.window_manager
    wm.a2g_progress.running = True
    drv._timer = wm.event_timer_add(0.1, window=None)
    drv._worker.start()
    return drv, reports


def test_modal_esc_cancels_cleanly(take):
    resample = mod("jobs.resample")
    release = threading.Event()

    def slow_compute(job, progress=None, cancelled=None):
        def waiting_progress(fraction):
            progress(fraction)
            release.wait(10)  # the model is still running when Esc comes

        return resample.compute(job, waiting_progress, cancelled)

    before = state()
    drv, reports = _driver(_job(take), slow_compute, None)
    context = bpy.context
    assert drv.modal(context, Event(type="TIMER", value="NOTHING")) == {"PASS_THROUGH"}
    assert mod("jobs.operators").is_running(context)
    assert bpy.ops.a2g.resample_range.poll() is False  # one job at a time
    assert drv.modal(context, Event(type="ESC", value="PRESS")) == {"CANCELLED"}
    release.set()
    drv._worker.join()
    assert drv._worker.result is None  # stopped at the next stage
    assert reports == [({"WARNING"}, "Resample Range cancelled: nothing was changed")]
    assert not context.window_manager.a2g_progress.running
    assert not mod("jobs.operators").is_running(context)
    assert state() == before


def test_a_cancelled_job_still_computing_blocks_a_new_one_until_it_stops(take):
    """Esc while the worker is inside a stage: the modal half ends at once, but the worker stays
    the active one until it stops, so no new job (Generate, Resample Range) overlaps it."""
    resample, operators = mod("jobs.resample"), mod("jobs.operators")
    release = threading.Event()

    def stuck_compute(job, progress=None, cancelled=None):
        release.wait(10)  # inside a long stage when Esc comes
        return resample.compute(job, progress, cancelled)

    before = state()
    drv, reports = _driver(_job(take), stuck_compute, None)
    context = bpy.context
    assert drv.modal(context, Event(type="ESC", value="PRESS")) == {"CANCELLED"}
    assert not context.window_manager.a2g_progress.running
    assert operators.is_running(context)  # the cancelled worker has not stopped yet
    assert bpy.ops.a2g.generate.poll() is False and bpy.ops.a2g.resample_range.poll() is False
    assert operators.generate_blocker(context) == operators.STOPPING
    release.set()
    drv._worker.join()
    assert drv._worker.result is None  # it saw the cancel and stopped
    assert not operators.is_running(context)
    assert bpy.ops.a2g.generate.poll() is True
    assert state() == before


def test_modal_finishes_and_writes_the_range(take):
    resample = mod("jobs.resample")
    job = _job(take)
    expected = resample.compute(job).quats
    drv, reports = _driver(job, resample.compute, None)
    drv._worker.join()
    assert drv.modal(bpy.context, Event(type="TIMER", value="NOTHING")) == {"FINISHED"}
    assert reports and reports[0][0] == {"INFO"} and "Resampled frames 40-100" in reports[0][1]
    _frames, quats = mod("rigio.keying").read_bone_quaternions(
        take, take.animation_data.action, job.rig.bone_names)
    np.testing.assert_allclose(quats[39:100], expected, atol=1e-6)


def test_keys_edited_while_resampling_are_not_overwritten(take):
    resample = mod("jobs.resample")
    job = _job(take)
    result = resample.compute(job)
    fc = next(iter(mod("compat").fcurves_of(take.animation_data.action, take)))
    fc.keyframe_points[50].co.y += 0.1  # the user edits while the job runs
    fc.update()
    edited = state()
    with pytest.raises(mod("core.directing").DirectingError, match="edited while resampling"):
        resample.apply(result)
    assert state() == edited


# ---- Generate on a rig whose keys are fitted frame by frame (a constraint not read in numpy) ----
def _tracked(name="Mixamo"):
    from .test_retarget import _mechanism_parent, mixamo_fbx

    rig = mixamo_fbx(name)
    _mechanism_parent(rig, "mixamorig:Neck", "mixamorig:Spine2", "DAMPED_TRACK", "mixamorig:LeftHand")
    return rig


@pytest.fixture()
def tracked_rig(addon, tmp_path):
    """A Mixamo-like rig whose neck hangs from a bone that tracks the left hand (DAMPED_TRACK:
    not reproduced in numpy, so its keys are refined against the evaluated rig), with the
    user's own action on it, and 3 s of speech."""
    rig = _tracked()
    own = bpy.data.actions.new("my pose")
    mod("compat").assign_action(rig, own)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = 30, 1.0, 1
    scene.a2g.audio_source = "FILE"
    scene.a2g.audio_file = str(write_wav(tmp_path / "speech.wav", speech_like(3.0, seed=4)))
    return rig


def _generate_driver(job):
    operators = mod("jobs.operators")
    reports = []

    class Driver(operators.BackgroundJob):
        _stage = operators.A2G_OT_generate._stage
        _cancelled = operators.A2G_OT_generate._cancelled
        _apply = operators.A2G_OT_generate._apply

        def _done(self, context, result):
            self.result = result
            self._apply(result, self._start)
            return {"FINISHED"}

        def report(self, kind, text):
            reports.append((set(kind), text))

    drv = Driver()
    drv._start = time.perf_counter()
    drv._worker = operators._active_worker = operators._Worker(job)
    wm = bpy.context.window_manager
    wm.a2g_progress.running = True
    drv._timer = wm.event_timer_add(0.1, window=None)
    drv._worker.start()
    drv._worker.join()
    return drv, reports


def test_keys_fitted_frame_by_frame_run_in_the_job_with_progress_and_esc(tracked_rig):
    """The frame-by-frame fitting runs in the modal job, a step a timer tick, with progress;
    Esc there leaves everything as it was (the user's action back on the rig, no new action)."""
    pipeline, operators = mod("jobs.pipeline"), mod("jobs.operators")
    context = bpy.context
    assert mod("rigio.rig_eval").needs_refinement(mod("rigio.rig").body_rig(tracked_rig))
    before = state()
    drv, reports = _generate_driver(pipeline.prepare(context, tracked_rig, 3))
    tick = Event(type="TIMER", value="NOTHING")
    assert drv.modal(context, tick) == {"PASS_THROUGH"}  # the worker is done: fitting begins
    assert context.window_manager.a2g_progress.stage == "Fitting the keys to the rig"
    assert drv.modal(context, tick) == {"PASS_THROUGH"}
    assert 0.0 < context.window_manager.a2g_progress.fraction < 1.0
    assert operators.is_running(context) and bpy.ops.a2g.generate.poll() is False
    assert drv.modal(context, Event(type="ESC", value="PRESS")) == {"CANCELLED"}
    assert reports == [({"WARNING"}, "Gesture generation cancelled: nothing was changed")]
    assert not operators.is_running(context)
    assert state() == before

    # to the end: the keys written are the ones the synchronous path fits
    drv, reports = _generate_driver(pipeline.prepare(context, tracked_rig, 3))
    fractions = []
    for _ in range(10000):
        done = drv.modal(context, tick)
        if done != {"PASS_THROUGH"}:
            break
        fractions.append(context.window_manager.a2g_progress.fraction)
    assert done == {"FINISHED"} and drv.result.settled
    assert fractions == sorted(fractions) and len(fractions) > 5
    body = drv.result.job.rig
    keying = mod("rigio.keying")
    _, modal_keys = keying.read_bone_quaternions(tracked_rig, tracked_rig.animation_data.action,
                                                 body.bone_names)
    assert bpy.ops.a2g.generate(seed=3) == {"FINISHED"}  # synchronous: fitted in apply
    _, sync_keys = keying.read_bone_quaternions(tracked_rig, tracked_rig.animation_data.action,
                                                body.bone_names)
    from core.rotations import geodesic_angle, quat_to_matrix

    angle = np.degrees(geodesic_angle(quat_to_matrix(modal_keys.astype(np.float64)),
                                      quat_to_matrix(sync_keys.astype(np.float64))))
    assert angle.max() < 0.1  # both converged to 0.01 deg a pass, from other starting keys
    assert mod("rigio.rig_eval").Refinement.NAME not in bpy.data.actions


def test_resample_range_fits_its_keys_in_the_job_too(tracked_rig):
    """Resample Range on such a rig: the range's keys are fitted in the modal job (Esc there
    changes nothing), and the keys it writes are the synchronous Resample Range's."""
    context = bpy.context
    twin = _tracked("Twin")  # the same rig, resampled synchronously for comparison
    for rig in (tracked_rig, twin):
        pipeline = mod("jobs.pipeline")
        pipeline.apply(pipeline.compute(pipeline.prepare(context, rig, 3)))
    resample = mod("jobs.resample")
    before = state()
    tick = Event(type="TIMER", value="NOTHING")
    drv, reports = _driver(resample.prepare(context, tracked_rig, 20, 40, 9), resample.compute, None)
    drv._worker.join()
    assert drv.modal(context, tick) == {"PASS_THROUGH"}
    assert context.window_manager.a2g_progress.stage == "Fitting the keys to the rig"
    assert drv.modal(context, Event(type="ESC", value="PRESS")) == {"CANCELLED"}
    assert state() == before
    drv, reports = _driver(resample.prepare(context, tracked_rig, 20, 40, 9), resample.compute, None)
    drv._worker.join()
    for _ in range(10000):
        done = drv.modal(context, tick)
        if done != {"PASS_THROUGH"}:
            break
    assert done == {"FINISHED"}, reports
    resample.run(context, twin, 20, 40, 9)
    names = mod("rigio.rig").body_rig(twin).bone_names
    keying = mod("rigio.keying")
    a = keying.read_bone_quaternions(tracked_rig, tracked_rig.animation_data.action, names)[1]
    b = keying.read_bone_quaternions(twin, twin.animation_data.action, names)[1]
    from core.rotations import geodesic_angle, quat_to_matrix

    angle = np.degrees(geodesic_angle(quat_to_matrix(a.astype(np.float64)),
                                      quat_to_matrix(b.astype(np.float64))))
    assert angle.max() < 0.1
