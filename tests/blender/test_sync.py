"""Sync (issue #18): Generate's ``sync`` (core.generate's beat warp) is keyed as core.generate
makes it, stored in the take's recipe, replayed by Resample Range (bit-identical outside; a
recipe written before sync was recorded replays with sync 0, the timing it was made with),
taken from the Gestures panel, whose default is core.generate.DEFAULT_SYNC."""

from __future__ import annotations

import json

import bpy
import numpy as np
import pytest

from core.generate import DEFAULT_SYNC, ResampleRange

from .conftest import mod, recipe, resample_keeps_outside, speech_like, use_file, write_wav
from .test_intensity import assert_same_rotations, keys


def expected(model_file, wav, n_frames, seed, sync, resamples=()):
    from core.audio import load_audio_16k_mono
    from core.features import features_for_motion
    from core.generate import generate
    from core.model_file import load_model
    from core.timeline import sample_rotations

    local = generate(load_model(model_file), features_for_motion(load_audio_16k_mono(wav)), seed,
                     resamples=resamples, layered=True, sync=sync)
    return sample_rotations(local, 30.0, np.arange(n_frames) / 30.0)


def test_sync_is_keyed_stored_and_replayed_by_resample(rig, tmp_path, model_file):
    wav = write_wav(tmp_path / "speech.wav", speech_like(6.0, seed=4))  # frames 1-180
    use_file(wav)
    assert bpy.ops.a2g.generate(seed=3, sync=0.5) == {"FINISHED"}
    assert recipe(rig)["sync"] == 0.5
    _, got = keys(rig)
    assert_same_rotations(got, expected(model_file, wav, 180, 3, 0.5))
    assert np.abs(got - expected(model_file, wav, 180, 3, 0.0)).max() > 1e-3  # the warp moved it

    resample_keeps_outside(rig, 61, 120, seed=9)
    assert recipe(rig)["sync"] == 0.5 and recipe(rig)["resamples"] == [[60, 120, 9]]
    _, got = keys(rig)
    assert_same_rotations(got, expected(model_file, wav, 180, 3, 0.5, [ResampleRange(60, 120, 9)]))


def test_panel_sync_is_used_and_defaults_to_core_s(rig, tmp_path, model_file):
    prop = bpy.context.scene.a2g.bl_rna.properties["sync"]
    assert (prop.default, prop.hard_min, prop.soft_max, prop.hard_max) == (DEFAULT_SYNC, 0.0, 1.0, 3.0)
    wav = write_wav(tmp_path / "speech.wav", speech_like(4.0, seed=4))
    use_file(wav)
    assert bpy.context.scene.a2g.sync == DEFAULT_SYNC
    bpy.context.scene.a2g.sync = 0.0
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    assert recipe(rig)["sync"] == 0.0
    _, got = keys(rig)
    assert_same_rotations(got, expected(model_file, wav, 120, 1, 0.0))
    # a take whose recipe predates sync was made with core.generate's sync 0: Resample Range
    # replays it so, whatever the panel says now
    old = recipe(rig)
    del old["sync"]
    rig.animation_data.action["a2g_recipe"] = json.dumps(old)
    bpy.context.scene.a2g.sync = 1.0
    resample_keeps_outside(rig, 31, 90, seed=5)
    _, got = keys(rig)
    assert_same_rotations(got, expected(model_file, wav, 120, 1, 0.0, [ResampleRange(30, 90, 5)]))


def test_bad_sync_is_refused_by_prepare(rig, tmp_path):
    use_file(write_wav(tmp_path / "speech.wav", speech_like(2.0, seed=4)))
    pipeline = mod("jobs.pipeline")
    for bad in (-0.5, 3.5, float("nan")):
        with pytest.raises(mod("core.errors").UserError, match="Sync must be at least 0 and at most 3"):
            pipeline.prepare(bpy.context, rig, 0, sync=bad)
