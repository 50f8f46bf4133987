"""Nothing the user made is lost: their animation keeps playing under the gestures, and takes
edited by hand survive generating again (real bpy, the built extension)."""

from __future__ import annotations

import contextlib
import io

import bpy
import numpy as np

from .conftest import mod, speech_like, write_wav


def armature():
    return bpy.data.objects["SMPL-X"]  # looked up again: undo replaces every datablock


def users_action(rig):
    """The user's own animation: the object walks (a Cycles modifier loops it), the pelvis
    sways, a custom property blinks, a finger curls; plus a body-bone rotation the gestures
    will replace."""
    action = bpy.data.actions.new("my walk")
    mod("compat").assign_action(rig, action)
    rig["blink"] = 0.0
    pelvis, finger, arm = (rig.pose.bones[n] for n in ("pelvis", "left_index1", "left_shoulder"))
    for frame, x in ((1, 0.0), (13, 0.6), (25, 0.0)):
        rig.location = (x, 2 * x, 0.0)
        rig.keyframe_insert("location", frame=frame)
        rig["blink"] = x
        rig.keyframe_insert('["blink"]', frame=frame)
        pelvis.location = (0.0, x / 3, 0.0)
        pelvis.keyframe_insert("location", frame=frame)
        finger.rotation_quaternion = (1.0, x, 0.0, 0.0)
        finger.keyframe_insert("rotation_quaternion", frame=frame)
        arm.rotation_quaternion = (1.0, 0.0, x, 0.0)
        arm.keyframe_insert("rotation_quaternion", frame=frame)
    for fc in mod("compat").fcurves_of(action, rig):
        if not fc.data_path.startswith('pose.bones["left_shoulder"]'):
            fc.modifiers.new("CYCLES")  # the walk loops over the whole scene
    return action


def curves(action, rig) -> dict:
    """Every key of every F-curve, exactly as stored."""
    out = {}
    for fc in mod("compat").fcurves_of(action, rig):
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co.tobytes()
    return out


FRAMES = (1, 7, 20, 44, 101, 120)


def evaluated(rig) -> dict:
    """What the user's channels play at FRAMES (the scene evaluated there)."""
    scene = bpy.context.scene
    out = {}
    for f in FRAMES:
        scene.frame_set(f)
        out[f] = (tuple(rig.location), float(rig["blink"]),
                  tuple(rig.pose.bones["pelvis"].location),
                  tuple(rig.pose.bones["left_index1"].rotation_quaternion))
    scene.frame_set(1)
    return out


def shoulder(rig, frame: int):
    bpy.context.scene.frame_set(frame)
    return np.array(rig.pose.bones["left_shoulder"].rotation_quaternion)


def assert_plays_like(rig, expected: dict) -> None:
    got = evaluated(rig)
    for f in FRAMES:
        np.testing.assert_allclose(np.concatenate([np.ravel(v) for v in got[f]]),
                                   np.concatenate([np.ravel(v) for v in expected[f]]),
                                   atol=1e-6, err_msg=f"frame {f}")


def test_users_channels_keep_playing_after_generate_resample_and_takes(rig, speech_4s):
    mine = users_action(rig)
    keys_before = curves(mine, rig)
    plays = evaluated(rig)
    assert plays[44][0] != plays[1][0]  # the walk really moves at frame 44 (the cycle)

    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    gen = rig.animation_data.action
    assert gen.get("a2g_generated") and gen != mine
    assert curves(mine, rig) == keys_before  # bit-identical
    assert_plays_like(rig, plays)
    # the gestures do drive the body bones the user had keyed too
    np.testing.assert_allclose(shoulder(rig, 20), keys_of(rig, gen, "left_shoulder", 20), atol=1e-6)
    under = [t for t in rig.animation_data.nla_tracks if t.name == "Your Animation"]
    assert len(under) == 1 and not under[0].mute and under[0].strips[0].action == mine
    # the generated action keys body rotations only
    assert {fc.data_path.rsplit(".", 1)[1] for fc in mod("compat").fcurves_of(gen, rig)} == \
        {"rotation_quaternion"}

    assert bpy.ops.a2g.resample_range(frame_start=30, frame_end=80, seed=4) == {"FINISHED"}
    assert curves(mine, rig) == keys_before
    assert_plays_like(rig, plays)

    assert bpy.ops.a2g.generate(seed=2, count=3) == {"FINISHED"}
    assert_plays_like(rig, plays)
    assert bpy.ops.a2g.use_take(action="speech take 3") == {"FINISHED"}
    assert_plays_like(rig, plays)
    assert bpy.ops.a2g.generate(seed=3) == {"FINISHED"}  # and again: still one layer under
    assert_plays_like(rig, plays)
    assert [t.name for t in rig.animation_data.nla_tracks].count("Your Animation") == 1
    assert curves(bpy.data.actions["my walk"], rig) == keys_before


def keys_of(rig, action, bone: str, frame: int) -> np.ndarray:
    _frames, quats = mod("rigio.keying").read_bone_quaternions(rig, action, [bone])
    q = quats[list(_frames).index(frame), 0]
    return q


def test_one_undo_step_restores_the_users_action(rig, speech_4s):
    mine = users_action(rig)
    keys_before = curves(mine, rig)
    plays = evaluated(rig)
    bpy.ops.ed.undo_push(message="before generate")
    assert bpy.ops.a2g.generate("EXEC_DEFAULT", True, seed=1) == {"FINISHED"}
    bpy.ops.ed.undo()
    rig = armature()
    assert rig.animation_data.action.name == "my walk"
    assert [t.name for t in rig.animation_data.nla_tracks] == []
    assert curves(rig.animation_data.action, rig) == keys_before
    assert_plays_like(rig, plays)
    assert not any(a.get("a2g_generated") for a in bpy.data.actions)


def _edit(rig, action):
    """Move one key of the left elbow by hand (as dragging it in the Graph Editor would)."""
    fc = next(fc for fc in mod("compat").fcurves_of(action, rig)
              if fc.data_path == 'pose.bones["left_elbow"].rotation_quaternion' and fc.array_index == 1)
    fc.keyframe_points[10].co.y += 0.25
    fc.update()


def test_edited_take_survives_generate(rig, speech_4s):
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    edited = rig.animation_data.action
    _edit(rig, edited)
    keys_edited = curves(edited, rig)
    assert bpy.ops.a2g.generate(seed=2) == {"FINISHED"}
    kept = bpy.data.actions.get("speech gestures (edited)")
    assert kept is not None, [a.name for a in bpy.data.actions]
    assert curves(kept, rig) == keys_edited
    assert not kept.get("a2g_generated")  # the user's now: never removed automatically
    track = [t for t in rig.animation_data.nla_tracks if any(s.action == kept for s in t.strips)]
    assert len(track) == 1 and track[0].mute and track[0].name == "A2G Edited Takes"
    assert rig.animation_data.action.name == "speech gestures"
    assert rig.animation_data.action["a2g_seed"] == 2
    # generating again: the new, unedited action is replaced; the edited one stays
    assert bpy.ops.a2g.generate(seed=3) == {"FINISHED"}
    assert sorted(a.name for a in bpy.data.actions) == ["speech gestures", "speech gestures (edited)"]
    assert curves(bpy.data.actions["speech gestures (edited)"], rig) == keys_edited


def test_edited_take_among_takes_survives_and_unedited_ones_go(rig, speech_4s):
    assert bpy.ops.a2g.generate(seed=1, count=3) == {"FINISHED"}
    take2 = bpy.data.actions["speech take 2"]
    _edit(rig, take2)  # edited while not the active take
    keys_edited = curves(take2, rig)
    resampled = bpy.data.actions["speech take 1"]
    assert bpy.ops.a2g.resample_range(frame_start=30, frame_end=60, seed=9) == {"FINISHED"}
    assert rig.animation_data.action == resampled  # resampled, not edited by hand

    assert bpy.ops.a2g.generate(seed=10, count=2) == {"FINISHED"}
    names = sorted(a.name for a in bpy.data.actions)
    assert names == ["speech take 1", "speech take 2", "speech take 2 (edited)"], names
    assert curves(bpy.data.actions["speech take 2 (edited)"], rig) == keys_edited
    assert [a["a2g_seed"] for a in mod("jobs.takes").takes_of(rig)] == [10, 11]


def test_keys_added_to_the_active_take_count_as_an_edit(rig, speech_4s):
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    rig.location = (0.0, 0.5, 0.0)
    rig.keyframe_insert("location", frame=30)  # keys the active action: the generated one
    assert bpy.ops.a2g.generate(seed=2) == {"FINISHED"}
    assert "speech gestures (edited)" in bpy.data.actions


def test_report_names_the_kept_take(rig, speech_4s, capfd):
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    _edit(rig, rig.animation_data.action)
    capfd.readouterr()
    assert bpy.ops.a2g.generate(seed=2) == {"FINISHED"}
    out = capfd.readouterr().out  # headless, reports are printed as "Warning: ..."
    assert "Warning: 'speech gestures'" in out, out
    assert KEPT in out, out


KEPT = ("Kept 1 take(s) you had edited, not replaced: 'speech gestures (edited)' (muted NLA "
        "track 'A2G Edited Takes').")


def test_batch_blend_run_keeps_and_reports_the_edited_take(rig, speech_4s, model_file, tmp_path):
    """`generate --blend` on a scene whose take was edited by hand: kept, and said so in the same
    words as Generate's report."""
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    _edit(rig, rig.animation_data.action)
    keys_edited = curves(rig.animation_data.action, rig)
    base = tmp_path / "edited.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(base))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = mod("cli.batch").main(["generate", str(speech_4s), "--blend", str(base), "--output-dir",
                                  str(tmp_path / "out"), "--model", str(model_file), "--seed", "2"])
    assert code == 0, err.getvalue()
    line = next(x for x in out.getvalue().splitlines() if x.startswith("[1/1] speech.wav -> "))
    assert line.endswith(f" {KEPT}"), line
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out" / "speech.blend"), load_ui=False)
    rig = armature()
    assert curves(bpy.data.actions["speech gestures (edited)"], rig) == keys_edited
    assert rig.animation_data.action.name == "speech gestures"
    assert rig.animation_data.action["a2g_seed"] == 2


def test_batch_reports_no_kept_take_when_none_was_edited(rig, speech_4s, model_file, tmp_path):
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    base = tmp_path / "unedited.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(base))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = mod("cli.batch").main(["generate", str(speech_4s), "--blend", str(base), "--output-dir",
                                  str(tmp_path / "out"), "--model", str(model_file), "--seed", "2"])
    assert code == 0 and "Kept" not in out.getvalue(), out.getvalue()


def test_unedited_generate_leaves_no_extra_tracks(rig, speech_4s):
    for seed in (1, 2):
        assert bpy.ops.a2g.generate(seed=seed) == {"FINISHED"}
    assert [a.name for a in bpy.data.actions] == ["speech gestures"]
    assert list(rig.animation_data.nla_tracks) == []


def test_longer_speech(rig, tmp_path):
    """The user's layer covers generated frames beyond the scene's end."""
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.frame_start, scene.frame_end = 1, 20
    path = write_wav(tmp_path / "long.wav", speech_like(6.0, seed=5))
    scene.a2g.audio_source, scene.a2g.audio_file = "FILE", str(path)
    mine = users_action(rig)
    scene.frame_set(170)
    walk = tuple(rig.location)
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    scene.frame_set(170)
    np.testing.assert_allclose(tuple(rig.location), walk, atol=1e-6)
    assert rig.animation_data.action != mine
