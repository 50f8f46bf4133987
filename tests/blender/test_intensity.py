"""Intensity (issue #10): Generate's ``intensity`` is keyed as core.generate makes it, stored in
the take's recipe, replayed by Resample Range, taken from the Gestures panel, and with the
bundled model the arm keys swing further at 1.5 than at 1 than at 0.5."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from core.audio import load_audio_16k_mono
from core.features import features_for_motion
from core.generate import DEFAULT_SYNC, ResampleRange, generate
from core.model_file import load_model
from core.skeleton import BODY_JOINT_NAMES
from core.timeline import sample_rotations

from .conftest import (
    MODULE_NAME,
    ROOT,
    has_aud,
    mod,
    recipe,
    resample_keeps_outside,
    speech_like,
    use_file,
    write_wav,
)

EXCERPT_AUDIO = ROOT / "tests" / "data" / "beat2_excerpt" / "2_scott_0_1_1_excerpt.flac"
BUNDLED = sorted((ROOT / "models").glob("*.json"))
ARM_BONES = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow")  # upper arms, forearms


def keys(rig, names=BODY_JOINT_NAMES):
    return mod("rigio.keying").read_bone_quaternions(rig, rig.animation_data.action, list(names))


def expected(model_file, wav, n_frames, seed, intensity, resamples=()):
    local = generate(load_model(model_file), features_for_motion(load_audio_16k_mono(wav)), seed,
                     resamples=resamples, layered=True, intensity=intensity,
                     sync=DEFAULT_SYNC)  # the panel's Sync
    return sample_rotations(local, 30.0, np.arange(n_frames) / 30.0)


def assert_same_rotations(got, want, atol=1e-5):
    dots = np.abs(np.sum(got * want, axis=-1))
    assert got.shape == want.shape
    assert np.all(dots > 1 - atol), f"max angle error {np.degrees(2 * np.arccos(min(dots.min(), 1))):.4f} deg"


def test_intensity_is_keyed_stored_and_replayed_by_resample(rig, tmp_path, model_file):
    wav = write_wav(tmp_path / "speech.wav", speech_like(6.0, seed=2))  # frames 1-180
    use_file(wav)
    assert bpy.ops.a2g.generate(seed=3, intensity=1.5) == {"FINISHED"}
    assert recipe(rig)["intensity"] == 1.5
    assert recipe(rig)["prior"] == load_model(model_file).config.code_prior
    _, got = keys(rig)
    assert_same_rotations(got, expected(model_file, wav, 180, 3, 1.5))
    assert np.abs(got - expected(model_file, wav, 180, 3, 1.0)).max() > 1e-2  # not the default

    before = resample_keeps_outside(rig, 61, 120, seed=9)
    assert recipe(rig)["intensity"] == 1.5 and recipe(rig)["resamples"] == [[60, 120, 9]]
    _, got = keys(rig)
    # inside: what a fresh generation at that intensity with that range gives
    assert_same_rotations(got, expected(model_file, wav, 180, 3, 1.5, [ResampleRange(60, 120, 9)]))
    assert np.abs(got[65:115] - np.stack([before[(mod("rigio.keying").quaternion_path(n), i)][:, 1]
                                          for n in BODY_JOINT_NAMES for i in range(4)],
                                         -1).reshape(-1, 22, 4)[65:115]).max() > 1e-2


def test_panel_intensity_is_used_when_the_operator_has_none(rig, tmp_path, model_file):
    wav = write_wav(tmp_path / "speech.wav", speech_like(2.0, seed=4))
    use_file(wav)
    bpy.context.scene.a2g.intensity = 0.5
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    assert recipe(rig)["intensity"] == 0.5
    _, got = keys(rig)
    assert_same_rotations(got, expected(model_file, wav, 60, 1, 0.5))
    prop = bpy.context.scene.a2g.bl_rna.properties["intensity"]
    assert (prop.default, prop.soft_min, prop.soft_max, prop.hard_max) == (1.0, 0.25, 2.0, 3.0)
    assert 0 < prop.hard_min < 0.25


def test_bad_intensity_is_refused_by_prepare(rig, tmp_path):
    use_file(write_wav(tmp_path / "speech.wav", speech_like(2.0, seed=4)))
    pipeline = mod("jobs.pipeline")
    for bad in (0.0, -1.0, 3.5, float("nan")):
        with pytest.raises(mod("core.errors").UserError, match="Intensity must be above 0 and at most 3"):
            pipeline.prepare(bpy.context, rig, 0, intensity=bad)


def arm_spread_deg(quats) -> float:
    """Mean over the upper-arm and forearm bones of the RMS angle (degrees) of their keys from
    the bone's mean rotation over time: how far the arms swing."""
    spreads = []
    for q in np.moveaxis(np.asarray(quats, dtype=np.float64), 1, 0):  # (N, 4) per bone
        q = q * np.where(np.sum(q * q[:1], -1, keepdims=True) < 0, -1.0, 1.0)
        mean = q.mean(0) / np.linalg.norm(q.mean(0))
        angle = 2 * np.arccos(np.clip(np.abs(q @ mean), 0.0, 1.0))
        spreads.append(np.sqrt(np.mean(angle ** 2)))
    return float(np.degrees(np.mean(spreads)))


@pytest.mark.skipif(not BUNDLED, reason="no bundled model in models/")
def test_bundled_model_arms_swing_more_with_intensity(rig, tmp_path, record_property):
    bpy.context.preferences.addons[MODULE_NAME].preferences.model_path = ""  # the bundled model
    if has_aud():  # real speech (BEAT2 excerpt)
        import aud

        data = np.asarray(aud.Sound(str(EXCERPT_AUDIO)).data())
        wav = write_wav(tmp_path / "real.wav", data.mean(axis=1) if data.ndim == 2 else data)
    else:
        wav = write_wav(tmp_path / "real.wav", speech_like(10.0, seed=5))
    use_file(wav)
    spread, speed = {}, {}
    for intensity in (0.5, 1.0, 1.5):
        spread[intensity], speed[intensity] = [], []
        for seed in (0, 1):
            assert bpy.ops.a2g.generate(seed=seed, intensity=intensity) == {"FINISHED"}
            q = keys(rig, ARM_BONES)[1]
            spread[intensity].append(arm_spread_deg(q))
            dots = np.clip(np.abs(np.sum(q[1:] * q[:-1], -1)), 0, 1)  # frame-to-frame angle
            speed[intensity].append(float(np.degrees(2 * np.arccos(dots)).mean() * 30))
    figures = {k: round(float(np.mean(v)), 2) for k, v in spread.items()}
    speeds = {k: round(float(np.mean(v)), 1) for k, v in speed.items()}
    record_property("arm_key_spread_deg", figures)
    record_property("arm_key_speed_deg_per_s", speeds)
    print(f"arm key spread (deg) by intensity: {figures}; mean angular speed (deg/s): {speeds}")
    assert figures[0.5] < figures[1.0] < figures[1.5], figures
    assert figures[1.5] > 1.5 * figures[0.5], figures  # visibly livelier, not a rounding change
