"""Directing the gestures (issue #6, paper sec. 5.6) with the real bpy module: pins, Resample
Range, takes, and bad input.

Behaviour (exactness against core.generate, keys outside a range bit-identical, undo, takes,
validation) runs with the random-weights test model. The quality figures (how closely the
result follows a pin, in cm, and the peak joint speed at seams against the speed elsewhere)
are computed with the bundled model: asserted against thresholds meant for a trained model
when models/*.json exists, otherwise measured with random weights and reported in the skip
reason (random weights cannot follow a pin).
"""

from __future__ import annotations

import hashlib
import json

import bpy
import numpy as np
import pytest

from core.features import features_for_motion
from core.generate import FADE_FRAMES, Pin, ResampleRange, generate
from core.model_file import load_model
from core.rotations import quat_to_matrix
from core.scene_motion import to_scene_quaternions
from core.skeleton import BODY_JOINT_NAMES
from core.smplx_npz import read_smplx_npz
from core.timeline import sample_rotations
from tests.quality import position_error_cm, seam_speeds

from .conftest import MODULE_NAME, ROOT, FakeLayout, add_sound_strip, has_aud, mod, speech_like, write_wav

RATE = 16000
EXCERPTS = ROOT / "tests" / "data" / "beat2_excerpt"
TRAINED = sorted((ROOT / "models").glob("*.json"))
WAITS = "hold for a trained model only (models/*.json)"

# Thresholds for a trained model (provisional until measured with it; see the module docstring).
PIN_ERROR_CM = 8.0  # mean joint-position error inside a pin, its first/last 8 frames left out
PIN_VS_FREE = 0.5  # ... and at most this fraction of an unpinned take's distance to the clip
SEAM_RATIO = 1.5  # peak joint speed within 4 frames of a seam / peak speed elsewhere


# ---- fixtures and helpers --------------------------------------------------------------------
@pytest.fixture()
def speech(tmp_path):
    """6 s of speech-like sound (180 frames at 30 fps), played from frame 1."""
    path = write_wav(tmp_path / "speech.wav", speech_like(6.0, seed=2))
    use_file(path)
    return path


def use_file(path, start: int = 1, fps: int = 30):
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    scene.frame_start = start
    scene.a2g.audio_source, scene.a2g.audio_file = "FILE", str(path)


def clip_motion(name="2_scott_0_2_2_excerpt.npz") -> np.ndarray:
    """Real motion capture (BEAT2): body local rotations (T, 22, 3, 3) at 30 fps."""
    return read_smplx_npz(EXCERPTS / name).local_rot[:, :22].astype(np.float64)


def motion_action(rig, name: str, local, first: int = 1, fps: float = 30.0):
    """An action keying ``local`` (30 fps) as bone quaternions from scene frame ``first``, not
    assigned to anything (as a liked take or an imported .npz would be)."""
    compat, keying = mod("compat"), mod("rigio.keying")
    n = int(round((local.shape[0] - 1) * fps / 30.0)) + 1
    quats = to_scene_quaternions(local, first, first + n, fps, None)
    action = bpy.data.actions.new(name)
    anim = rig.animation_data_create()
    previous = anim.action
    compat.assign_action(rig, action)
    keying.write_bone_quaternions(rig, action, BODY_JOINT_NAMES, np.arange(first, first + n), quats)
    anim.action = previous
    return action


def armature():
    """The character, looked up again (undo replaces every datablock)."""
    return bpy.data.objects["SMPL-X"]


def keys(rig, action=None):
    action = action or rig.animation_data.action
    return mod("rigio.keying").read_bone_quaternions(rig, action, BODY_JOINT_NAMES)


def key_arrays(action, rig) -> dict:
    """Every key (frame, value) of every F-curve of ``action``, exactly as stored."""
    out = {}
    for fc in mod("compat").fcurves_of(action, rig):
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co.reshape(-1, 2)
    return out


def state() -> dict:
    """Everything directing could touch, keys included, as plain values."""
    s = {"actions": {}, "anim": {}, "scene": []}
    for a in bpy.data.actions:
        curves = {}
        for o in bpy.data.objects:
            curves.update({k: v.tobytes() for k, v in key_arrays(a, o).items()})
        s["actions"][a.name] = (a.users, sorted((k, str(v)) for k, v in a.items()), curves)
    for o in bpy.data.objects:
        ad = o.animation_data
        if ad is not None:
            s["anim"][o.name] = (ad.action.name if ad.action else None, [
                (t.name, t.mute, [(st.name, st.action.name if st.action else None, st.frame_start,
                                   st.frame_end, st.action_frame_start, st.action_frame_end,
                                   st.scale, st.repeat, st.mute) for st in t.strips])
                for t in ad.nla_tracks])
    sc = bpy.context.scene
    s["scene"] = (sc.frame_start, sc.frame_end, sc.frame_current, sc.use_preview_range,
                  [(m.name, m.frame, m.select) for m in sc.timeline_markers])
    return s


def refused(op, match: str, **kw):
    """Run ``op``; it must fail with ``match`` in the message and change nothing."""
    before = state()
    with pytest.raises(RuntimeError, match=match):
        op(**kw)
    assert state() == before


def recipe(rig):
    return json.loads(rig.animation_data.action["a2g_recipe"])


def expected_keys(model_path, wav, first, end, fps, seed, pins=(), resamples=()):
    """core.generate's output for a file played from ``first``, sampled at the scene frames."""
    from core.audio import load_audio_16k_mono

    local = generate(load_model(model_path), features_for_motion(load_audio_16k_mono(wav)), seed,
                     pins, resamples, layered=True)
    return sample_rotations(local, 30.0, np.arange(end - first) / fps)


def assert_same_rotations(got, want, atol=1e-5):
    dots = np.abs(np.sum(got * want, axis=-1))
    assert got.shape == want.shape
    assert np.all(dots > 1 - atol), f"max angle error {np.degrees(2 * np.arccos(dots.min())):.4f} deg"


def local_rotations(quats) -> np.ndarray:
    """Bone quaternions of the add-on's own rig (bones built the SMPL-X way) -> local matrices."""
    q = np.asarray(quats, dtype=np.float64)
    return quat_to_matrix(q / np.linalg.norm(q, axis=-1, keepdims=True))


def set_markers(scene, *frames, select=True):
    for f in frames:
        scene.timeline_markers.new(f"F_{f}", frame=f).select = select


# ---- pins: adding them ---------------------------------------------------------------------------
def test_pin_action_here(rig):
    clip = motion_action(rig, "clip", clip_motion())  # keys on frames 1-180
    scene = bpy.context.scene
    scene.frame_current = 40
    assert bpy.ops.a2g.pin_action(action="clip") == {"FINISHED"}
    tracks = [t for t in rig.animation_data.nla_tracks if t.name == "A2G Pins"]
    assert len(tracks) == 1 and tracks[0].mute
    (strip,) = tracks[0].strips
    assert (strip.action, strip.frame_start, strip.frame_end) == (clip, 40.0, 219.0)
    assert rig.animation_data.action is None  # the pin plays nothing by itself

    # part of an action, at a given frame
    assert bpy.ops.a2g.pin_action(action="clip", frame_start=300, action_frame_start=11,
                                  action_frame_end=70) == {"FINISHED"}
    strip = mod("jobs.pins").pin_strips(rig)[-1]
    assert (strip.frame_start, strip.frame_end, strip.action_frame_start, strip.action_frame_end) == \
        (300.0, 359.0, 11.0, 70.0)
    # a trimmed pin that fits between two pins, although the whole action would not
    assert bpy.ops.a2g.pin_action(action="clip", frame_start=225, action_frame_start=1,
                                  action_frame_end=60) == {"FINISHED"}
    assert [(s.frame_start, s.frame_end) for s in mod("jobs.pins").pin_strips(rig)] == \
        [(40.0, 219.0), (225.0, 284.0), (300.0, 359.0)]
    assert all(t.mute for t in rig.animation_data.nla_tracks)


def test_pin_action_refusals(rig):
    motion_action(rig, "clip", clip_motion())
    bpy.context.scene.frame_current = 40
    assert bpy.ops.a2g.pin_action(action="clip") == {"FINISHED"}
    refused(bpy.ops.a2g.pin_action, r"would overlap pin 'clip' \(frames 40-219\)",
            action="clip", frame_start=100)
    refused(bpy.ops.a2g.pin_action, "No action named 'nothing'", action="nothing")
    refused(bpy.ops.a2g.pin_action, "Choose the action to pin", action="")
    refused(bpy.ops.a2g.pin_action, "does not rotate any SMPL-X body bone",
            action=location_only_action().name, frame_start=500)
    refused(bpy.ops.a2g.pin_action, "must end after it starts", action="clip", frame_start=500,
            action_frame_start=30, action_frame_end=30)


def location_only_action(name="no body"):
    """An action that moves the pelvis (frames 1-20) but rotates no bone."""
    action = bpy.data.actions.new(name)
    path = 'pose.bones["pelvis"].location'
    if "slots" in action.bl_rna.properties:  # 4.4+: layer -> keyframe strip -> channel bag
        slot = action.slots.new(id_type="OBJECT", name="x")
        bag = action.layers.new("Layer").strips.new(type="KEYFRAME").channelbag(slot, ensure=True)
        fc = bag.fcurves.new(path, index=0)
    else:
        fc = action.fcurves.new(path, index=0)
    fc.keyframe_points.insert(1, 0.0)
    fc.keyframe_points.insert(20, 0.3)
    return action


# ---- pins: timing as Blender plays the strip -----------------------------------------------------
@pytest.mark.parametrize("scale, repeat, reverse", [(1.0, 1.0, False), (1.5, 2.0, False),
                                                     (0.75, 1.5, True)])
def test_pins_sample_the_strip_as_blender_plays_it(rig, scale, repeat, reverse):
    """The motion a pin gives the model equals Blender's own NLA evaluation of the strip at
    the model's frame times (24 fps scene: model frames fall between scene frames)."""
    scene = bpy.context.scene
    scene.render.fps = 24
    motion_action(rig, "clip", clip_motion(), fps=24.0)
    assert bpy.ops.a2g.pin_action(action="clip", frame_start=30, action_frame_start=21,
                                  action_frame_end=90) == {"FINISHED"}
    strip = mod("jobs.pins").pin_strips(rig)[0]
    strip.scale, strip.repeat, strip.use_reverse = scale, repeat, reverse
    timeline = mod("core.directing").Timeline(first=5, end=400, fps=24.0, n_model=494)
    body = mod("rigio.rig").body_rig(rig)
    (pin,) = mod("jobs.pins").read_pins(rig, body, timeline)
    span = mod("core.directing").pin_span("clip", strip.frame_start, strip.frame_end, timeline)
    assert (pin.start, pin.end) == (span.start, span.end)

    anim = rig.animation_data
    anim.nla_tracks["A2G Pins"].mute = False  # let Blender play the strip
    # Unmuting through RNA does not rebuild the depsgraph's relations (a muted-only NLA is not
    # time-dependent); adding a track does.
    anim.nla_tracks.remove(anim.nla_tracks.new())
    bones = [rig.pose.bones[n] for n in BODY_JOINT_NAMES]
    worst = 1.0
    for k in range(pin.start, pin.end, 5):
        frame = timeline.scene_frames(k, k + 1)[0]
        scene.frame_set(int(np.floor(frame)), subframe=float(frame - np.floor(frame)))
        played = local_rotations([tuple(b.rotation_quaternion) for b in bones])
        dots = np.abs(np.sum(_quats(played) * _quats(pin.rotations[k - pin.start]), axis=-1))
        worst = min(worst, dots.min())
    assert worst > 1 - 1e-5, f"max angle {np.degrees(2 * np.arccos(worst)):.4f} deg"


def _quats(m):
    from core.rotations import matrix_to_quat

    return matrix_to_quat(np.asarray(m, dtype=np.float64))


# ---- pins: generation follows them ---------------------------------------------------------------
def test_generate_uses_every_unmuted_pin(rig, speech, model_file):
    local = clip_motion()
    motion_action(rig, "clip", local)
    assert bpy.ops.a2g.pin_action(action="clip", frame_start=31, action_frame_start=11,
                                  action_frame_end=50) == {"FINISHED"}
    assert bpy.ops.a2g.pin_action(action="clip", frame_start=120, action_frame_start=101,
                                  action_frame_end=130) == {"FINISHED"}
    muted = mod("jobs.pins").pin_strips(rig)[1]
    muted.mute = True  # a muted pin is left out
    assert bpy.ops.a2g.generate(seed=4) == {"FINISHED"}
    frames, got = keys(rig)
    np.testing.assert_array_equal(frames, np.arange(1, 181))
    pin_motion = local_rotations(keys(rig, bpy.data.actions["clip"])[1])
    pin = Pin(30, 70, pin_motion[10:50].astype(np.float32))  # frames 31-70 = model 30-69
    assert_same_rotations(got, expected_keys(model_file, speech, 1, 181, 30.0, 4, pins=[pin]))
    free = expected_keys(model_file, speech, 1, 181, 30.0, 4)
    assert np.abs(got[30:70] - free[30:70]).max() > 1e-2  # the pin changed the motion
    assert_same_rotations(got[150:], free[150:], atol=1e-6)  # far from it, nothing changed


def test_bad_pins_are_refused_and_change_nothing(rig, speech):
    clip = motion_action(rig, "clip", clip_motion())
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    pins = mod("jobs.pins")
    # a pin past the end of the audio (frames 1-180)
    assert bpy.ops.a2g.pin_action(action="clip", frame_start=170, action_frame_start=1,
                                  action_frame_end=40) == {"FINISHED"}
    refused(bpy.ops.a2g.generate, r"Pin 'clip' \(frames 170-209\) extends past the audio "
            r"\(frames 1-180\)")
    pins.pin_strips(rig)[0].mute = True
    # two pin tracks whose strips overlap
    assert bpy.ops.a2g.pin_action(action="clip", frame_start=20, action_frame_start=1,
                                  action_frame_end=40) == {"FINISHED"}
    track = rig.animation_data.nla_tracks.new()
    track.name, track.mute = "A2G Pins", True
    track.strips.new("second", 50, clip).action_frame_end = 30
    refused(bpy.ops.a2g.generate, r"Pins 'clip[.0-9]*' \(frames 20-59\) and 'second' "
            r"\(frames 50-79\) overlap")
    track.strips[0].mute = True
    # a pin whose action rotates no body bone
    track.strips.new("no body", 100, location_only_action())
    refused(bpy.ops.a2g.generate, "Pin 'no body': Action 'no body' does not rotate any SMPL-X body")
    track.strips[-1].mute = True
    # a pin wholly outside the audio
    track.strips.new("late", 400, clip)
    refused(bpy.ops.a2g.generate, "Pin 'late' .* lies outside the audio")
    track.strips[-1].mute = True
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}  # every bad pin muted: fine again


def test_pin_quality_numbers(rig, tmp_path, addon, record_property):
    """How closely the result follows a pinned clip of real motion capture, and the seams."""
    if TRAINED:
        bpy.context.preferences.addons[MODULE_NAME].preferences.model_path = ""  # bundled
    wav = real_speech(tmp_path)
    local = clip_motion()  # 180 frames of another take
    motion_action(rig, "clip", local)
    assert bpy.ops.a2g.pin_action(action="clip", frame_start=101, action_frame_start=31,
                                  action_frame_end=120) == {"FINISHED"}  # scene 101-190
    use_file(wav)
    assert bpy.ops.a2g.generate(seed=0) == {"FINISHED"}
    pinned = local_rotations(keys(rig)[1])
    mod("jobs.pins").pin_strips(rig)[0].mute = True
    assert bpy.ops.a2g.generate(seed=0) == {"FINISHED"}
    free = local_rotations(keys(rig)[1])
    a, b = 100, 190  # key indices of frames 101-190
    clip = local[30:120]
    f = FADE_FRAMES
    inside = position_error_cm(pinned[a + f:b - f], clip[f:-f])
    whole = position_error_cm(pinned[a:b], clip)
    unpinned = position_error_cm(free[a + f:b - f], clip[f:-f])
    seams = seam_speeds(pinned, [a, b], fps=30.0)
    figures = (f"pin error {inside:.1f} cm inside ({whole:.1f} cm over the whole pin; an unpinned "
               f"take is {unpinned:.1f} cm from the clip); seam peak {seams.seam_peak:.0f} cm/s vs "
               f"{seams.elsewhere_peak:.0f} cm/s peak elsewhere (ratio {seams.ratio:.2f}, "
               f"95th percentile elsewhere {seams.elsewhere_p95:.0f} cm/s)")
    record_property("pin_quality", figures)
    print(figures)
    if not TRAINED:
        pytest.skip(f"random weights: {figures}; the thresholds (< {PIN_ERROR_CM} cm, < "
                    f"{PIN_VS_FREE} x unpinned, seam ratio < {SEAM_RATIO}) {WAITS}")
    assert inside < PIN_ERROR_CM, figures
    assert inside < PIN_VS_FREE * unpinned, figures
    assert seams.ratio < SEAM_RATIO, figures


def real_speech(tmp_path):
    """The BEAT2 excerpt's speech as WAV (needs aud to decode FLAC), else speech-like sound."""
    if has_aud():
        import aud

        data = np.asarray(aud.Sound(str(EXCERPTS / "2_scott_0_1_1_excerpt.flac")).data())
        return write_wav(tmp_path / "real.wav", data.mean(axis=1) if data.ndim == 2 else data)
    return write_wav(tmp_path / "real.wav", speech_like(10.0, seed=5))


# ---- Resample Range ------------------------------------------------------------------------------
def test_resample_markers_rewrite_only_inside(rig, speech, model_file):
    scene = bpy.context.scene
    assert bpy.ops.a2g.generate(seed=3) == {"FINISHED"}
    action = rig.animation_data.action
    before = key_arrays(action, rig)
    set_markers(scene, 61, 120)
    set_markers(scene, 150, select=False)
    assert bpy.ops.a2g.resample_range() == {"FINISHED"}
    after = key_arrays(action, rig)
    assert before.keys() == after.keys()
    for path, co in after.items():
        frames = co[:, 0]
        out = (frames < 61) | (frames > 120)
        np.testing.assert_array_equal(co[out], before[path][out])  # bit-identical
        np.testing.assert_array_equal(frames, before[path][:, 0])
    rec = recipe(rig)
    (a, b, seed), = rec["resamples"]
    assert (a, b) == (60, 120)
    _, got = keys(rig)
    want = expected_keys(model_file, speech, 1, 181, 30.0, 3, resamples=[ResampleRange(a, b, seed)])
    assert_same_rotations(got, want)
    old = np.stack([before[(mod("rigio.keying").quaternion_path(n), i)][:, 1] for n in BODY_JOINT_NAMES
                    for i in range(4)], -1).reshape(-1, 22, 4)
    assert np.abs(got[70:110] - old[70:110]).max() > 1e-2  # new motion inside
    # the preview range when no two markers are selected
    for m in scene.timeline_markers:
        m.select = False
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = 20, 40
    assert bpy.ops.a2g.resample_range(seed=11) == {"FINISHED"}
    assert recipe(rig)["resamples"][-1] == [19, 40, 11]


def test_resample_at_24_fps_and_seams(rig, speech, model_file, record_property):
    use_file(speech, start=10, fps=24)  # 6 s: frames 10-153
    assert bpy.ops.a2g.generate(seed=2) == {"FINISHED"}
    action = rig.animation_data.action
    before = key_arrays(action, rig)
    assert bpy.ops.a2g.resample_range(frame_start=50, frame_end=90, seed=8) == {"FINISHED"}
    after = key_arrays(action, rig)
    for path, co in after.items():
        out = (co[:, 0] < 50) | (co[:, 0] > 90)
        np.testing.assert_array_equal(co[out], before[path][out])
    (a, b, seed), = recipe(rig)["resamples"]
    frames, got = keys(rig)
    want = expected_keys(model_file, speech, 10, 154, 24.0, 2, resamples=[ResampleRange(a, b, 8)])
    assert_same_rotations(got, want)
    seams = seam_speeds(local_rotations(got), [50 - 10, 91 - 10], fps=24.0)
    figures = (f"resample seams: peak {seams.seam_peak:.0f} cm/s vs {seams.elsewhere_peak:.0f} cm/s "
               f"peak elsewhere (ratio {seams.ratio:.2f}, p95 elsewhere {seams.elsewhere_p95:.0f})")
    record_property("resample_seams", figures)
    print(figures)
    # Holds for random weights too: the cross-fade makes the seams no faster than the motion.
    assert seams.ratio < SEAM_RATIO, figures


def test_resample_repeatable_one_undo_step_each(rig, speech):
    """Each press is one undo step ("EXEC_DEFAULT", True: push undo as the UI does)."""
    assert bpy.ops.a2g.generate(seed=5) == {"FINISHED"}
    bpy.ops.ed.undo_push(message="generated")
    s0 = state()
    assert bpy.ops.a2g.resample_range("EXEC_DEFAULT", True, frame_start=40, frame_end=100) == {"FINISHED"}
    s1 = state()
    k1 = keys(rig)[1]
    assert bpy.ops.a2g.resample_range("EXEC_DEFAULT", True, frame_start=40, frame_end=100) == {"FINISHED"}
    k2 = keys(rig)[1]
    assert np.abs(k1[50:90] - k2[50:90]).max() > 1e-2  # pressed again: another draw
    assert len(recipe(armature())["resamples"]) == 2
    bpy.ops.ed.undo()
    assert state() == s1
    bpy.ops.ed.undo()
    assert state() == s0
    # the same history gives the same seeds and keys
    assert bpy.ops.a2g.resample_range(frame_start=40, frame_end=100) == {"FINISHED"}
    np.testing.assert_array_equal(keys(armature())[1], k1)
    # an overlapping later range keeps what the first made outside itself
    assert bpy.ops.a2g.resample_range(frame_start=80, frame_end=140, seed=1) == {"FINISHED"}
    k3 = keys(armature())[1]
    np.testing.assert_array_equal(k3[:79], k1[:79])


def test_resample_fades_into_keys_changed_since(rig, speech):
    """A pin added after generating: the replay no longer matches the keys around it, so the
    new motion is faded into the keys that are there (and the pin is honoured inside)."""
    motion_action(rig, "clip", clip_motion())
    assert bpy.ops.a2g.generate(seed=6) == {"FINISHED"}
    action = rig.animation_data.action
    before = key_arrays(action, rig)
    old = keys(rig)[1]
    assert bpy.ops.a2g.pin_action(action="clip", frame_start=70, action_frame_start=1,
                                  action_frame_end=20) == {"FINISHED"}
    assert bpy.ops.a2g.resample_range(frame_start=50, frame_end=110, seed=3) == {"FINISHED"}
    for path, co in key_arrays(action, rig).items():
        out = (co[:, 0] < 50) | (co[:, 0] > 110)
        np.testing.assert_array_equal(co[out], before[path][out])
    new = keys(rig)[1]
    step = np.abs(np.diff(new[45:116], axis=0)).max()
    old_step = np.abs(np.diff(old, axis=0)).max()
    assert step <= old_step * 1.5  # no jump at the seams
    assert np.abs(new[60:100] - old[60:100]).max() > 1e-2


@pytest.mark.parametrize("kw, match", [
    (dict(frame_start=60, frame_end=60), "zero-length"),
    (dict(frame_start=90, frame_end=60), "reversed"),
    (dict(frame_start=300, frame_end=400), "outside the audio"),
    (dict(), "No range to resample"),
])
def test_bad_ranges_are_refused(rig, speech, kw, match):
    assert bpy.ops.a2g.generate(seed=0) == {"FINISHED"}
    bpy.context.scene.use_preview_range = False
    refused(bpy.ops.a2g.resample_range, match, **kw)


def test_resample_needs_a_generated_take(rig, speech):
    with pytest.raises(RuntimeError, match="has no action: generate gestures first"):
        bpy.ops.a2g.resample_range(frame_start=1, frame_end=20)
    motion_action(rig, "mine", clip_motion())
    mod("compat").assign_action(rig, bpy.data.actions["mine"])
    with pytest.raises(RuntimeError, match="was not generated by Audio2Gestures"):
        bpy.ops.a2g.resample_range(frame_start=1, frame_end=20)


def test_resample_refuses_changed_audio(rig, tmp_path):
    path = write_wav(tmp_path / "take.wav", speech_like(4.0, seed=1))
    use_file(path)
    assert bpy.ops.a2g.generate(seed=0) == {"FINISHED"}
    write_wav(path, speech_like(4.0, seed=9))  # the recording was replaced
    refused(bpy.ops.a2g.resample_range, "The audio of this take changed", frame_start=20,
            frame_end=60)


def _fingerprint_as(rig, digest: str) -> None:
    """Give the active take's recipe another audio fingerprint (as another decoder, or an older
    version of the extension, wrote it)."""
    rec = recipe(rig)
    rec["audio"]["digest"] = digest
    rig.animation_data.action["a2g_recipe"] = json.dumps(rec, sort_keys=True)


def test_resample_accepts_the_audio_decoded_slightly_differently(rig, tmp_path):
    """A take fingerprinted from samples 1e-5 off (another decoder of the same file: aud's WAV
    decode and core.audio's differ by that much) is the same sound; a new recording is not."""
    path = write_wav(tmp_path / "take.wav", speech_like(4.0, seed=1))
    use_file(path)
    assert bpy.ops.a2g.generate(seed=0) == {"FINISHED"}
    samples = mod("jobs.audio_source").decode(str(path))
    off = samples + np.float32(1e-5) * np.random.default_rng(0).uniform(-1, 1, samples.size)
    _fingerprint_as(rig, mod("core.directing").audio_digest(off.astype(np.float32)))
    assert bpy.ops.a2g.resample_range(frame_start=20, frame_end=60) == {"FINISHED"}
    write_wav(path, speech_like(4.0, seed=9))  # the recording was replaced
    refused(bpy.ops.a2g.resample_range, "The audio of this take changed", frame_start=20,
            frame_end=60)


def _old_decode(path) -> np.ndarray:
    """The samples a recipe fingerprinted before: Blender's aud decode (of a 16 kHz mono file:
    its samples as they are), else (the 4.2 wheels, no aud) core.audio's."""
    if has_aud():
        import aud

        return np.asarray(aud.Sound(str(path)).data(), dtype=np.float32).reshape(-1)
    from core.audio import load_audio_16k_mono

    return load_audio_16k_mono(path)


def _sha1(samples) -> str:
    """What recipes held before: the sha1 of the float32 samples, 16 hex digits."""
    return hashlib.sha1(np.ascontiguousarray(samples, dtype=np.float32).tobytes()).hexdigest()[:16]


def test_resample_accepts_a_take_fingerprinted_by_an_older_version(rig, tmp_path):
    path = write_wav(tmp_path / "take.wav", speech_like(4.0, seed=1))
    use_file(path)
    assert bpy.ops.a2g.generate(seed=0) == {"FINISHED"}
    _fingerprint_as(rig, _sha1(_old_decode(path)))
    assert bpy.ops.a2g.resample_range(frame_start=20, frame_end=60) == {"FINISHED"}
    write_wav(path, speech_like(4.0, seed=9))
    refused(bpy.ops.a2g.resample_range, "The audio of this take changed", frame_start=20,
            frame_end=60)


@pytest.mark.skipif(not has_aud(), reason="this bpy build has no aud (no sound strips)")
def test_resample_accepts_a_strip_take_fingerprinted_by_an_older_version(rig, tmp_path):
    path = write_wav(tmp_path / "take.wav", speech_like(4.0, seed=1))
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    strip = add_sound_strip(scene, path, 11)
    scene.a2g.audio_source = "STRIPS"
    assert bpy.ops.a2g.generate(seed=0) == {"FINISHED"}
    rec = recipe(rig)
    assert rec["audio"]["strips"] == [strip.name] and (rec["first"], rec["end"]) == (11, 131)
    old = _old_decode(path)  # heard from frame 11 to its end: the old mix was these samples
    _fingerprint_as(rig, _sha1(old))
    assert bpy.ops.a2g.resample_range(frame_start=30, frame_end=60) == {"FINISHED"}
    _fingerprint_as(rig, _sha1(old[::-1]))  # other samples: the audio changed
    refused(bpy.ops.a2g.resample_range, "The audio of this take changed", frame_start=30,
            frame_end=60)


# ---- takes ---------------------------------------------------------------------------------------
def test_takes(rig, speech, model_file):
    scene = bpy.context.scene
    scene.a2g_directing.takes = 3
    assert bpy.ops.a2g.generate(seed=10) == {"FINISHED"}
    takes = mod("jobs.takes")
    made = takes.takes_of(rig)
    assert [a.name for a in made] == ["speech take 1", "speech take 2", "speech take 3"]
    assert [a["a2g_seed"] for a in made] == [10, 11, 12]
    assert rig.animation_data.action == made[0]
    tracks = takes.take_tracks(rig)
    assert len(tracks) == 3 and all(t.mute for t in tracks)
    k = [keys(rig, a)[1] for a in made]
    assert np.abs(k[0] - k[1]).max() > 1e-2 and np.abs(k[1] - k[2]).max() > 1e-2
    assert_same_rotations(k[2], expected_keys(model_file, speech, 1, 181, 30.0, 12))

    assert bpy.ops.a2g.use_take(action="speech take 2") == {"FINISHED"}
    assert rig.animation_data.action == made[1]
    scene.frame_set(50)
    q = np.array(rig.pose.bones["left_elbow"].rotation_quaternion)
    assert abs(np.dot(q, k[1][49, BODY_JOINT_NAMES.index("left_elbow")])) > 1 - 1e-5
    # resampling changes the active take only
    assert bpy.ops.a2g.resample_range(frame_start=60, frame_end=100, seed=2) == {"FINISHED"}
    assert np.abs(keys(rig, made[1])[1] - k[1]).max() > 1e-2
    np.testing.assert_array_equal(keys(rig, made[0])[1], k[0])
    np.testing.assert_array_equal(keys(rig, made[2])[1], k[2])
    refused(bpy.ops.a2g.use_take, "No take named 'nothing'", action="nothing")
    motion_action(rig, "clip", clip_motion())
    refused(bpy.ops.a2g.use_take, "'clip' is not one of the takes of 'SMPL-X'", action="clip")

    # generating again replaces the takes (a pinned one is kept: the pin uses it)
    assert bpy.ops.a2g.pin_action(action="speech take 3", frame_start=1, action_frame_start=1,
                                  action_frame_end=30) == {"FINISHED"}
    assert bpy.ops.a2g.generate(seed=20, count=2) == {"FINISHED"}
    assert [(a.name, a["a2g_seed"]) for a in takes.takes_of(rig)] == \
        [("speech take 1", 20), ("speech take 2", 21)]
    assert sorted(a["a2g_seed"] for a in bpy.data.actions if a.get("a2g_generated")) == [12, 20, 21]
    assert bpy.data.actions["speech take 3"]["a2g_seed"] == 12  # the pinned one
    scene.a2g_directing.takes = 1
    assert bpy.ops.a2g.generate(seed=30) == {"FINISHED"}
    assert takes.takes_of(rig) == [] and rig.animation_data.action.name == "speech gestures"


def test_takes_one_undo_step(rig, speech):
    bpy.ops.ed.undo_push(message="before")
    before = state()
    assert bpy.ops.a2g.generate("EXEC_DEFAULT", True, seed=1, count=3) == {"FINISHED"}
    after = state()
    assert bpy.ops.a2g.use_take("EXEC_DEFAULT", True, action="speech take 3") == {"FINISHED"}
    assert armature().animation_data.action.name == "speech take 3"
    bpy.ops.ed.undo()
    assert state() == after
    assert armature().animation_data.action.name == "speech take 1"
    bpy.ops.ed.undo()
    assert state() == before


# ---- the Directing panel -------------------------------------------------------------------------
def draw_directing():
    log = []
    bpy.types.A2G_PT_directing.draw(type("Panel", (), {"layout": FakeLayout(log)})(), bpy.context)
    return log


def test_directing_panel(rig, speech):
    bpy.context.view_layer.objects.active = None
    log = draw_directing()
    assert ("label", "Select an SMPL-X armature, or set Target in the Gestures panel") in log
    bpy.context.view_layer.objects.active = rig
    motion_action(rig, "clip", clip_motion())
    bpy.context.scene.a2g_directing.pin_action = bpy.data.actions["clip"]
    assert bpy.ops.a2g.pin_action(action="clip", frame_start=20, action_frame_start=1,
                                  action_frame_end=30) == {"FINISHED"}
    assert bpy.ops.a2g.generate(seed=0, count=2) == {"FINISHED"}
    set_markers(bpy.context.scene, 60, 90)
    log = draw_directing()
    takes = [e for e in log if e[0] == "operator" and e[1] == "a2g.use_take"]
    assert [(e[2], e[3], e[4].action) for e in takes] == [
        ("Take 1: speech take 1", True, "speech take 1"), ("Take 2: speech take 2", False, "speech take 2")]
    pin_ops = [e[4] for e in log if e[0] == "operator" and e[1] == "a2g.pin_action"]
    assert pin_ops[0].action == "clip"
    assert (pin_ops[1].action, pin_ops[1].frame_start, pin_ops[1].action_frame_start,
            pin_ops[1].action_frame_end) == ("speech take 1", 60, 60, 90)  # "I like this here"
    assert ("label", "clip: 20-49") in log and ("label", "frames 60-90 (markers)") in log
    assert any(e[:2] == ("operator", "a2g.resample_range") for e in log)


# ---- the whole story -----------------------------------------------------------------------------
def test_artist_pins_imported_motion_auditions_takes_and_resamples(rig, speech, model_file):
    """Import a .npz clip, pin part of it, generate three takes, pick one, resample a stretch."""
    scene = bpy.context.scene
    assert bpy.ops.a2g.import_npz(filepath=str(EXCERPTS / "2_scott_0_2_2_excerpt.npz")) == {"FINISHED"}
    imported = rig.animation_data.action  # keys on frames 1-180
    scene.frame_current = 61
    assert bpy.ops.a2g.pin_action(action=imported.name, action_frame_start=31,
                                  action_frame_end=90) == {"FINISHED"}  # frames 61-120
    assert bpy.ops.a2g.generate(seed=7, count=3) == {"FINISHED"}
    takes = mod("jobs.takes").takes_of(rig)
    assert len(takes) == 3 and rig.animation_data.action == takes[0]
    assert imported.name in bpy.data.actions  # kept: the pin uses it
    pin = Pin(60, 120, local_rotations(keys(rig, imported)[1][30:90]).astype(np.float32))
    for take, seed in zip(takes, (7, 8, 9), strict=True):
        assert_same_rotations(keys(rig, take)[1],
                              expected_keys(model_file, speech, 1, 181, 30.0, seed, pins=[pin]))

    assert bpy.ops.a2g.use_take(action=takes[1].name) == {"FINISHED"}
    before = key_arrays(takes[1], rig)
    set_markers(scene, 130, 170)
    assert bpy.ops.a2g.resample_range() == {"FINISHED"}
    for path, co in key_arrays(takes[1], rig).items():
        out = (co[:, 0] < 130) | (co[:, 0] > 170)
        np.testing.assert_array_equal(co[out], before[path][out])
    (a, b, s), = recipe(rig)["resamples"]
    assert_same_rotations(keys(rig)[1], expected_keys(model_file, speech, 1, 181, 30.0, 8, pins=[pin],
                                                      resamples=[ResampleRange(a, b, s)]))
