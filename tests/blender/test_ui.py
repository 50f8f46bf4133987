"""The panel's draw code and the interactive job's pieces, as far as headless Blender allows.

Panels cannot be drawn without a window and modal operators get no events, so the panel's
``draw`` runs against a recording stand-in for ``UILayout``, and the worker thread behind the
modal operator (progress, Esc) is driven directly.
"""

import threading
import types

import bpy
import pytest

from .conftest import MODULE_NAME, FakeLayout, add_sound_strip, needs_aud, scene_state, speech_like, write_wav


def draw_panel():
    layout = FakeLayout()
    bpy.types.A2G_PT_gestures.draw(types.SimpleNamespace(layout=layout), bpy.context)
    return layout.log


def labels(log):
    return [entry[1] for entry in log if entry[0] == "label"]


def drawn(log):
    """What was drawn, without the operators' texts and properties: ("operator", idname), ..."""
    return {entry[:2] for entry in log}


def test_panel_shows_why_generate_is_disabled(addon):
    log = draw_panel()
    assert ("operator", "a2g.generate") in drawn(log) and ("operator", "a2g.add_character") in drawn(log)
    assert {("prop", n) for n in ("target", "audio_source", "seed", "intensity", "sync")} <= drawn(log)
    assert "Select an SMPL-X armature, or set Target in the Gestures panel" in labels(log)
    assert "No sound strips: add one in the Video Sequencer" in labels(log)


@needs_aud
def test_panel_names_the_strips_and_the_target(addon, tmp_path):
    bpy.ops.a2g.add_character()
    add_sound_strip(bpy.context.scene, write_wav(tmp_path / "s.wav", speech_like(1.0)), 1)
    log = draw_panel()
    assert "Active: SMPL-X" in labels(log)
    assert any(t.endswith(": speech") for t in labels(log))
    assert not any("SMPL-X armature" in t for t in labels(log))


def test_panel_draws_progress_while_running(addon):
    operators = __import__(f"{MODULE_NAME}.jobs.operators", fromlist=["operators"])
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    progress = bpy.context.window_manager.a2g_progress
    progress.running, progress.fraction, progress.stage = True, 0.4, "Generating gestures"
    operators._active_worker = worker
    try:
        log = draw_panel()
    finally:
        release.set()
        worker.join()
        operators._active_worker = None
        progress.running = False
    assert ("progress", "Generating gestures 40%") in drawn(log)
    assert "Esc cancels" in labels(log)


@pytest.fixture()
def job(addon, tmp_path):
    pipeline = __import__(f"{MODULE_NAME}.jobs.pipeline", fromlist=["pipeline"])
    bpy.ops.a2g.add_character()
    scene = bpy.context.scene
    scene.a2g.audio_source = "FILE"
    scene.a2g.audio_file = str(write_wav(tmp_path / "s.wav", speech_like(2.0)))
    return pipeline, pipeline.prepare(bpy.context, bpy.context.active_object, 3)


def test_worker_reports_progress_then_result(job):
    pipeline, job = job
    operators = __import__(f"{MODULE_NAME}.jobs.operators", fromlist=["operators"])
    seen = []
    worker = operators._Worker(job)
    worker._progress = lambda f: seen.append(f)  # noqa: B023
    worker.start()
    worker.join()
    assert worker.error is None and worker.result is not None
    assert seen == sorted(seen) and 0 < seen[0] and seen[-1] < 1
    before = scene_state()
    action = pipeline.apply(worker.result)  # what the modal operator does when it ends
    assert scene_state() != before and action.get("a2g_generated")


def test_esc_is_heard_inside_a_take(job):
    """The worker's cancel flag is polled between compute's stages and inside core.generate
    (between its stages), so Esc stops a long take part way through."""
    pipeline, job = job
    polls = []
    pipeline.compute(job, cancelled=lambda: polls.append(1) is None and False)
    # two stages before the takes and one after each; core.generate checks 4 times in each
    assert len(polls) == 2 + job.count * (1 + 4)
    seen = []

    def cancel_inside_generate():
        seen.append(1)
        return len(seen) == 4  # core.generate's second check: after the audio code

    with pytest.raises(pipeline.Cancelled):
        pipeline.compute(job, cancelled=cancel_inside_generate)
    assert len(seen) == 4


def test_cancelled_worker_writes_nothing(job):
    """Esc: a cancelled worker has no result, and the modal operator ends without writing,
    even when the worker had already finished (the next timer tick would have applied it)."""
    _pipeline, job = job
    operators = __import__(f"{MODULE_NAME}.jobs.operators", fromlist=["operators"])
    generate = operators.A2G_OT_generate
    before = scene_state()
    worker = operators._Worker(job)
    worker.cancel_event.set()  # Esc before the computation
    worker.start()
    worker.join()
    assert worker.result is None and worker.error is None
    assert scene_state() == before

    def operator(worker, reports):  # the modal operator's state while its job runs
        op = types.SimpleNamespace(_worker=worker, _start=0.0, _stage=generate._stage,
                                   _cancelled=generate._cancelled,
                                   report=lambda kind, text: reports.append(text),
                                   _finish=lambda context: reports.append("finished"))
        op._apply = lambda result, seconds: generate._apply(op, result, seconds)
        op._done = lambda context, result: generate._done(op, context, result)
        op._refining = None  # no frame-by-frame fitting for this rig (an SMPL-X character)
        op._refinement = lambda context, result: generate._refinement(op, context, result)
        op._show = lambda context, fraction: generate._show(op, context, fraction)
        return op

    done = operators._Worker(job)
    done.start()
    done.join()
    assert done.result is not None
    reports = []
    esc = types.SimpleNamespace(type="ESC", value="PRESS")
    assert generate.modal(operator(done, reports), bpy.context, esc) == {"CANCELLED"}
    assert done.cancel_event.is_set()
    assert reports == ["finished", "Gesture generation cancelled: nothing was changed"]
    assert scene_state() == before
    # the same finished worker on a timer tick instead of Esc: its motion is written
    reports = []
    tick = types.SimpleNamespace(type="TIMER", value="NOTHING")
    assert generate.modal(operator(done, reports), bpy.context, tick) == {"FINISHED"}
    assert scene_state() != before and reports[0] == "finished"
