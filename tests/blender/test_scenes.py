"""Scenes artists really have (issue 21), with real bpy and the built extension: NLA tweak mode,
linked rigs, layered user actions, sound strips in meta strips, bad bone-map presets, Y-up BVH,
the report's time, and a failed Generate leaving no trace."""

from __future__ import annotations

import contextlib
import io
import re
import time

import bpy
import numpy as np
import pytest

from .conftest import ROOT, add_sound_strip, mod, needs_aud, scene_state, speech_like, write_wav

FRAMES = (1, 30, 60, 90, 120)
BUNDLED = ROOT / "models" / "audio2gestures-beat2-scott.json"


def _keyed(rig, name: str, values) -> bpy.types.Action:
    """An action keying the pelvis's location y at frames 1, 60, 120 (and the left shoulder,
    a body bone the gestures replace), assigned to ``rig``."""
    anim = rig.animation_data or rig.animation_data_create()
    anim.action = None
    pelvis, arm = rig.pose.bones["pelvis"], rig.pose.bones["left_shoulder"]
    for frame, y in zip((1, 60, 120), values, strict=True):
        pelvis.location = (0.0, y, 0.0)
        pelvis.keyframe_insert("location", frame=frame)
        arm.rotation_quaternion = (1.0, 0.0, y / 100, 0.0)
        arm.keyframe_insert("rotation_quaternion", frame=frame)
    action = anim.action
    action.name = name
    return action


def _base_track(rig) -> None:
    """A base NLA track: the pelvis goes 0 -> 20 -> 40 (y)."""
    base = _keyed(rig, "base", (0.0, 20.0, 40.0))
    slot = getattr(rig.animation_data, "action_slot", None)
    rig.animation_data.action = None
    track = rig.animation_data.nla_tracks.new()
    track.name = "Base"
    strip = track.strips.new("base", 1, base)
    mod("compat").set_strip_slot(strip, slot)


def _layered_user_action(rig):
    """The issue's case: the user's action (pelvis 20 -> 0 -> -20) layered ADD at 0.5 over
    the base track: the pelvis plays 10 -> 20 -> 30."""
    _base_track(rig)
    mine = _keyed(rig, "mine", (20.0, 0.0, -20.0))
    rig.animation_data.action_blend_type = "ADD"
    rig.animation_data.action_influence = 0.5
    return mine


def hips(rig) -> list[float]:
    scene = bpy.context.scene
    out = []
    for f in FRAMES:
        scene.frame_set(f)
        out.append(round(rig.pose.bones["pelvis"].location.y, 5))
    scene.frame_set(1)
    return out


def arm_pose(rig) -> np.ndarray:
    """The evaluated body rotations at FRAMES (every bone the gestures key)."""
    scene = bpy.context.scene
    names = list(mod("rigio.rig").body_rig(rig).bone_names)
    out = []
    for f in FRAMES:
        scene.frame_set(f)
        out.append([tuple(rig.pose.bones[n].rotation_quaternion) for n in names])
    scene.frame_set(1)
    return np.array(out)


def _same_quats(a, b, atol=1e-5):
    d = np.minimum(np.abs(a - b).max(-1), np.abs(a + b).max(-1))
    assert d.max() < atol, d.max()


def _actions():
    return sorted((a.name, a.users) for a in bpy.data.actions)


# ---- 1. NLA tweak mode -------------------------------------------------------------------------
def _tweak(rig):
    anim = rig.animation_data
    track = anim.nla_tracks["Base"]
    track.select = True
    track.strips[0].select = True
    anim.use_tweak_mode = True
    assert anim.use_tweak_mode and anim.action.name == "base"


def test_tweak_mode_is_refused_with_the_way_out_and_nothing_changes(rig, speech_4s, model_file):
    _base_track(rig)
    _tweak(rig)
    plays = hips(rig)  # evaluates the scene (frame 1)
    before, actions = scene_state(), _actions()
    reason = mod("jobs.operators").generate_blocker(bpy.context)
    assert "NLA tweak mode (editing 'base')" in reason and "Tab in the NLA editor" in reason, reason
    assert not bpy.ops.a2g.generate.poll()
    with pytest.raises(RuntimeError, match="poll"):
        bpy.ops.a2g.generate(seed=1)
    # scripts and the batch command go through prepare: refused there too, before any work
    with pytest.raises(mod("rigio.writable").NotWritableError, match="NLA tweak mode"):
        mod("jobs.pipeline").prepare(bpy.context, rig, 1)
    assert scene_state() == before and hips(rig) == plays and _actions() == actions
    assert rig.animation_data.use_tweak_mode
    # Resample Range and Pin Action Here are refused the same way
    assert "NLA tweak mode" in mod("jobs.directing_ops").target_blocker(bpy.context)
    rig.animation_data.use_tweak_mode = False
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}


def test_a_failed_generate_leaves_no_trace(rig, speech_4s, monkeypatch):
    """Whatever fails while the keys are written, the scene evaluates as before, with the same
    NLA stack and no orphan data; here with the user's layered action and a previous take."""
    assert bpy.ops.a2g.generate(seed=1, count=2) == {"FINISHED"}
    rig.animation_data.action = None  # take 1 stays on its muted take track
    mine = _layered_user_action(rig)
    assert rig.animation_data.action == mine
    plays, pose = hips(rig), arm_pose(rig)  # evaluates the scene (frame 1)
    before, actions = scene_state(), _actions()
    tracks = [(t.name, t.mute, len(t.strips)) for t in rig.animation_data.nla_tracks]

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(mod("rigio.keying"), "write_bone_quaternions", broken)
    with pytest.raises(RuntimeError, match="Generating gestures failed: RuntimeError: disk full"):
        bpy.ops.a2g.generate(seed=2)  # headless, an ERROR report raises
    assert scene_state() == before
    assert [(t.name, t.mute, len(t.strips)) for t in rig.animation_data.nla_tracks] == tracks
    assert hips(rig) == plays
    _same_quats(arm_pose(rig), pose, atol=1e-7)
    assert _actions() == actions  # nothing new, nothing orphaned, nothing removed
    anim = rig.animation_data
    assert (anim.action_blend_type, anim.action_influence) == ("ADD", 0.5)
    monkeypatch.undo()
    assert bpy.ops.a2g.generate(seed=2) == {"FINISHED"}  # and it works once nothing fails


def test_a_failed_resample_leaves_the_keys_as_they_were(rig, speech_4s, monkeypatch):
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    action = rig.animation_data.action
    compat = mod("compat")

    def keys():
        out = {}
        for fc in compat.fcurves_of(action, rig):
            for name in ("co", "handle_left", "handle_right"):
                a = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
                fc.keyframe_points.foreach_get(name, a)
                out[(fc.data_path, fc.array_index, name)] = a.tobytes()
        return out

    def marks():
        return {k: (v.to_list() if hasattr(v, "to_list") else v) for k, v in action.items()}

    before, marked, actions = keys(), marks(), _actions()

    def broken(*args, **kwargs):  # fails after the range's keys were written
        raise RuntimeError("disk full")

    monkeypatch.setattr(mod("jobs.takes"), "write_recipe", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        bpy.ops.a2g.resample_range(frame_start=30, frame_end=80, seed=4)
    assert keys() == before
    assert marks() == marked and _actions() == actions
    monkeypatch.undo()
    assert bpy.ops.a2g.resample_range(frame_start=30, frame_end=80, seed=4) == {"FINISHED"}
    assert keys() != before


# ---- 2. linked rigs ----------------------------------------------------------------------------
def _link_rig(tmp_path):
    """A character saved in lib.blend, linked (not overridden) into a new file."""
    assert bpy.ops.a2g.add_character() == {"FINISHED"}
    lib = tmp_path / "lib.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(lib))
    bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)
    with bpy.data.libraries.load(str(lib), link=True) as (src, dst):
        dst.objects = [n for n in src.objects if n == "SMPL-X"]
    rig = dst.objects[0]
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    return rig, lib


def test_plain_linked_rig_is_refused_with_the_way_out(addon, tmp_path):
    rig, lib = _link_rig(tmp_path)
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 30, 1, 120
    path = write_wav(tmp_path / "speech.wav", speech_like(4.0, seed=3))
    scene.a2g.audio_source, scene.a2g.audio_file = "FILE", str(path)
    assert rig.library is not None
    reason = mod("jobs.operators").generate_blocker(bpy.context)
    assert "'SMPL-X' is linked from 'lib.blend'" in reason, reason
    assert "Object > Library Override > Make" in reason
    assert not bpy.ops.a2g.generate.poll()
    with pytest.raises(mod("rigio.writable").NotWritableError, match="Library Override"):
        mod("jobs.pipeline").prepare(bpy.context, rig, 1)
    assert rig.animation_data is None and len(bpy.data.actions) == 0

    # the way out works: the override keeps its gestures through save and reload
    override = rig.override_create(remap_local_usages=True)
    bpy.context.view_layer.objects.active = override
    assert mod("jobs.operators").generate_blocker(bpy.context) is None
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    n_curves = len(mod("compat").fcurves_of(override.animation_data.action, override))
    assert n_curves >= 88  # 22 bones x 4 channels
    saved = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(saved))
    bpy.ops.wm.open_mainfile(filepath=str(saved), load_ui=False)
    back = next(o for o in bpy.data.objects if o.name == "SMPL-X" and o.override_library is not None)
    assert len(mod("compat").fcurves_of(back.animation_data.action, back)) == n_curves
    assert lib.stat().st_size > 0


# ---- 3. the user's layering --------------------------------------------------------------------
def _plain_take(tmp_path, seed: int) -> np.ndarray:
    """The body pose at FRAMES of take ``seed`` generated on a fresh, unanimated character."""
    assert bpy.ops.a2g.add_character() == {"FINISHED"}
    plain = bpy.context.active_object
    assert bpy.ops.a2g.generate(seed=seed) == {"FINISHED"}
    pose = arm_pose(plain)
    bpy.data.objects.remove(plain)
    return pose


def test_layered_user_action_keeps_its_layering_and_the_gestures_play_as_generated(rig, speech_4s, tmp_path):
    mine = _layered_user_action(rig)
    plays = hips(rig)
    assert (plays[0], plays[2], plays[-1]) == (10.0, 20.0, 30.0), plays  # base + half of mine
    bpy.context.view_layer.objects.active = rig
    assert bpy.ops.a2g.generate(seed=4) == {"FINISHED"}
    anim = rig.animation_data
    under = anim.nla_tracks["Your Animation"]
    strip = under.strips[0]
    assert strip.action == mine
    assert (strip.blend_type, round(strip.influence, 6), strip.extrapolation) == ("ADD", 0.5, "HOLD")
    assert hips(rig) == plays  # the user's channels play exactly as before
    assert (anim.action_blend_type, anim.action_influence) == ("REPLACE", 1.0)
    gestures = arm_pose(rig)
    # unlinking the gestures: the user's layering plays as it did
    anim.action = None
    assert hips(rig) == plays
    anim.action = bpy.data.actions["speech gestures"]
    # the gestures play as the same take on a plain rig
    bpy.context.scene.a2g.target = None
    plain = _plain_take(tmp_path, 4)
    _same_quats(gestures, plain)


@pytest.mark.parametrize("extrapolation", ["NOTHING", "HOLD_FORWARD"])
def test_users_extrapolation_is_kept(rig, speech_4s, extrapolation):
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 200
    _base_track(rig)
    mine = _keyed(rig, "mine", (20.0, 0.0, -20.0))
    for fc in mod("compat").fcurves_of(mine, rig):  # keys at 30..90 only: the ends show
        for k in fc.keyframe_points:
            k.co.x = 30 + (k.co.x - 1) / 2
            k.handle_left.x, k.handle_right.x = k.co.x - 5, k.co.x + 5
    rig.animation_data.action_extrapolation = extrapolation
    rig.animation_data.action_influence = 0.7

    def plays():
        out = []
        for f in (1, 20, 30, 60, 90, 100, 180):
            scene.frame_set(f)
            out.append(round(rig.pose.bones["pelvis"].location.y, 5))
        return out

    before = plays()
    assert bpy.ops.a2g.generate(seed=4) == {"FINISHED"}
    assert plays() == before
    strip = rig.animation_data.nla_tracks["Your Animation"].strips[0]
    assert strip.extrapolation == extrapolation and round(strip.influence, 6) == 0.7


# ---- 4. sound strips in meta strips ------------------------------------------------------------
def _meta(scene, strips, name="dialogue"):
    """Group ``strips`` in a meta strip (as Strip > Make Meta Strip does), covering them."""
    top = mod("compat").sequencer_strips(scene)
    first = min(s.frame_final_start for s in strips)
    end = max(s.frame_final_end for s in strips)
    meta = top.new_meta(name, 1 + max(s.channel for s in strips), first)
    for s in strips:
        s.move_to_meta(meta)
    meta.frame_final_duration = end - first
    return meta


@needs_aud
def test_sound_strip_in_a_meta_strip_is_heard(rig, speech_4s):
    scene = bpy.context.scene
    scene.a2g.audio_source = "STRIPS"
    strip = add_sound_strip(scene, speech_4s, 11)
    alone = mod("jobs.audio_source").gather(scene, scene.a2g)
    meta = _meta(scene, [strip])
    assert [s.name for s in mod("compat").sequencer_strips(scene)] == ["dialogue"]
    heard = mod("jobs.audio_source").gather(scene, scene.a2g)
    assert (heard.first, heard.end) == (alone.first, alone.end) == (11, 131)
    np.testing.assert_array_equal(heard.samples, alone.samples)
    # the meta moved: what it holds moves with it
    meta.frame_start += 20
    heard = mod("jobs.audio_source").gather(scene, scene.a2g)
    assert (heard.first, heard.end) == (31, 151)
    np.testing.assert_array_equal(heard.samples, alone.samples)
    # the meta's own trims cut what is heard
    meta.frame_offset_start = 15
    heard = mod("jobs.audio_source").gather(scene, scene.a2g)
    assert (heard.first, heard.end) == (46, 151)
    np.testing.assert_array_equal(heard.samples, alone.samples[8000:])  # 15 frames = 0.5 s
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    assert tuple(rig.animation_data.action["a2g_frames"]) == (46, 151)
    # a take made from it can be resampled (the recipe finds the strip inside the meta)
    assert bpy.ops.a2g.resample_range(frame_start=60, frame_end=90, seed=2) == {"FINISHED"}
    # the meta muted (nothing selected): not heard
    meta.mute, meta.select, strip.select = True, False, False
    with pytest.raises(mod("core.audio").AudioError, match="No audio"):
        mod("jobs.audio_source").gather(scene, scene.a2g)
    # selected, it is chosen (the sequencer selects the meta, not what lies inside)
    meta.mute = False
    other = add_sound_strip(scene, speech_4s, 300, name="other", channel=5)
    other.select, meta.select, strip.select = False, True, False
    assert [s.name for s in mod("jobs.audio_source").chosen_strips(scene)] == ["speech"]
    meta.select = False
    assert [s.name for s in mod("jobs.audio_source").chosen_strips(scene)] == ["speech", "other"]
    meta.mute = True
    assert [s.name for s in mod("jobs.audio_source").chosen_strips(scene)] == ["other"]


# ---- 5. bad bone-map presets in the panel and on the command line ------------------------------
BAD_PRESETS = {
    "binary.json": b"\x89PNG\r\n\x1a\n\xff\xfe" + bytes(200),
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "deep_object.json": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
}


@pytest.mark.parametrize("name", sorted(BAD_PRESETS))
def test_bad_preset_gets_one_plain_message_in_the_panel(rig, tmp_path, name, capfd):
    path = tmp_path / name
    path.write_bytes(BAD_PRESETS[name])
    capfd.readouterr()
    with pytest.raises(RuntimeError) as info:  # headless, an ERROR report raises
        bpy.ops.a2g.bone_map_load(filepath=str(path))
    message = str(info.value)
    assert "Traceback" not in message and "Error:" in message
    assert "Cannot read the bone-map preset" in message or "is not a bone-map preset" in message
    assert "UnicodeDecodeError" not in message and "RecursionError" not in message
    assert len(rig.a2g_bone_map) == 0


@pytest.mark.parametrize("name", sorted(BAD_PRESETS))
def test_bad_preset_gets_one_plain_message_on_the_command_line(rig, speech_4s, model_file, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(BAD_PRESETS[name])
    blend = tmp_path / "base.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = mod("cli.batch").main(["generate", str(speech_4s), "--blend", str(blend), "--armature",
                                      "SMPL-X", "--bone-map", str(path), "--output-dir",
                                      str(tmp_path / "out"), "--model", str(model_file)])
    assert code == 2, err.getvalue()
    text = err.getvalue()
    assert "--bone-map" in text and "Traceback" not in text, text
    assert len([ln for ln in text.splitlines() if ln.strip()]) <= 2, text


# ---- 7. BVH stands up in Blender's default import ---------------------------------------------
def _world_heads(obj, names, frame):
    bpy.context.scene.frame_set(frame)
    bpy.context.view_layer.update()
    return {n: np.array(obj.matrix_world @ obj.pose.bones[n].head) for n in names}


@pytest.mark.parametrize("character", ["smplx", "mixamo"])
def test_exported_bvh_stands_up_in_blenders_default_import(addon, speech_4s, tmp_path, character):
    from .test_retarget import mixamo_fbx

    if character == "smplx":
        assert bpy.ops.a2g.add_character() == {"FINISHED"}
        obj = bpy.context.active_object
        obj.location = (1.0, 2.0, 0.3)
        pelvis, head, hand = "pelvis", "head", "left_wrist"
    else:  # an FBX from Mixamo: turned 90 degrees about X and scaled 0.01, Y up inside
        obj = mixamo_fbx("Hero")
        pelvis, head, hand = "mixamorig:Hips", "mixamorig:Head", "mixamorig:LeftHand"
    name = obj.name
    blend = tmp_path / "base.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    out = tmp_path / "out"
    extra = ["--armature", name] if character == "mixamo" else []
    # the bundled (trained) model: its takes stand, so "the head above the pelvis" holds on every
    # frame of the original too (a random-weight model tumbles the pelvis)
    code = mod("cli.batch").main(["generate", str(speech_4s), "--blend", str(blend), *extra, "--model",
                              str(BUNDLED), "--output-dir", str(out), "--seed", "3", "--bvh"])
    assert code == 0
    bpy.ops.wm.open_mainfile(filepath=str(out / "speech.blend"), load_ui=False)
    original = bpy.data.objects[name]
    names = (pelvis, head, hand)
    frames = (1, 40, 80, 120)
    expected = {f: _world_heads(original, names, f) for f in frames}
    bpy.context.scene.frame_set(1)
    assert bpy.ops.import_anim.bvh(filepath=str(out / "speech.bvh")) == {"FINISHED"}  # its defaults
    imported = bpy.context.active_object
    assert imported.type == "ARMATURE" and imported != original
    rest = {n: imported.matrix_world @ imported.data.bones[n].head_local for n in names}
    up = np.array(rest[head] - rest[pelvis])
    assert up[2] > 0.9 * np.linalg.norm(up), up  # standing in its rest pose
    for f in frames:
        got = _world_heads(imported, names, f)
        up = got[head] - got[pelvis]
        assert up[2] > 0.8 * np.linalg.norm(up), (f, up)  # the head above the pelvis along +Z
        for n in names:  # round trip: every joint where the exported character had it
            np.testing.assert_allclose(got[n], expected[f][n], atol=2e-3, err_msg=f"{n} at frame {f}")


# ---- 8. the report's time is the whole run's ---------------------------------------------------
def test_report_time_includes_writing_the_keys(rig, speech_4s, monkeypatch, capfd):
    pipeline = mod("jobs.pipeline")
    real_apply = pipeline.apply

    def slow_apply(*args, **kwargs):  # as Rigify's controls take (minutes, in the issue)
        time.sleep(1.5)
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(pipeline, "apply", slow_apply)
    capfd.readouterr()
    start = time.perf_counter()
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    wall = time.perf_counter() - start
    reported = float(re.search(r"\((\d+\.\d) s\)", capfd.readouterr().out).group(1))
    assert 1.5 <= reported <= wall + 0.05, (reported, wall)
