"""Style from the artist's clips (issue #22) in Blender: actions on a Mixamo-style rig in the
Style list give takes whose handedness follows the clips (bundled model, speech the clips never
had), the recipe records the style, a saved .blend replays its styled takes without the clips,
clips that cannot be used are refused with a message and nothing changes, and the batch command's
``--style`` takes SMPL-X .npz clips."""

from __future__ import annotations

import json

import bpy
import numpy as np
import pytest

from core.audio import load_audio_16k_mono
from core.skeleton import mirror_rotations, model_joint_indices
from core.smplx_npz import read_smplx_npz
from tests.core.test_style import right_minus_left_cm

from .conftest import MODULE_NAME, ROOT, mod, scene_state, speech_like, write_wav
from .test_batch import _run
from .test_retarget import mixamo_fbx

EXCERPT = ROOT / "tests" / "data" / "beat2_excerpt" / "2_scott_0_1_1_excerpt.npz"


def _use_audio(path):
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.frame_start = 1
    scene.a2g.audio_source, scene.a2g.audio_file = "FILE", str(path)


def _key_clip(arm, name, local_rot):
    """An action ``name`` on ``arm`` keyed with SMPL-X model-joint rotations (30 fps) through the
    extension's retargeting (as a clip the artist made for this rig would be); left unassigned."""
    body = mod("rigio.rig").body_rig(arm, local_rot.shape[1])
    n = local_rot.shape[0]
    quats = mod("rigio.rig").scene_quaternions(body, local_rot, 1, n + 1, 30.0)
    action = bpy.data.actions.new(name)
    mod("compat").assign_action(arm, action)
    frames = np.arange(1, n + 1, dtype=np.float64)
    mod("rigio.keying").write_bone_quaternions(arm, action, body.bone_names, frames, quats)
    arm.animation_data.action = None
    return action


def _generated_rotations(arm):
    """The generated take on ``arm`` read back into SMPL-X rotations, the way style clips are."""
    action = arm.animation_data.action
    return mod("jobs.style").action_clip(action, arm, 52, 30.0).rotations


@pytest.fixture()
def mixamo_talking(addon, tmp_path):
    """The bundled model, 8 s of the bundled speech (unseen by the clips), a Mixamo FBX-style rig
    as the Target with two actions: a real take's 10 s (right hand higher) and its mirror."""
    bpy.context.preferences.addons[MODULE_NAME].preferences.model_path = ""  # bundled
    samples = load_audio_16k_mono(ROOT / "samples" / "speech_sample.wav")
    _use_audio(write_wav(tmp_path / "talk.wav", samples[16000 * 2:16000 * 10]))
    arm = mixamo_fbx()
    bpy.context.scene.a2g.target = arm
    rot = read_smplx_npz(EXCERPT).local_rot[:, list(model_joint_indices(True))]
    _key_clip(arm, "Talking", rot)
    _key_clip(arm, "Talking mirrored", mirror_rotations(rot))
    return arm, rot


def _generate_with(names, seed=0):
    bpy.ops.a2g.style_bundled()
    for name in names:
        assert bpy.ops.a2g.style_add_action(action=name) == {"FINISHED"}
    assert bpy.ops.a2g.generate(seed=seed) == {"FINISHED"}


def test_mixamo_actions_carry_handedness_and_a_saved_file_replays(mixamo_talking, tmp_path,
                                                                    record_property):
    arm, rot = mixamo_talking
    read = mod("jobs.style").action_clip(bpy.data.actions["Talking"], arm, 52, 30.0).rotations
    body = [j for j in range(22)]
    angle = np.degrees(np.arccos(np.clip((np.trace(np.swapaxes(read[:, body], -1, -2) @ rot[:, body],
                                                   axis1=-2, axis2=-1) - 1) / 2, -1, 1)))
    assert angle.max() < 0.5  # the rig's action reads back as the clip it was keyed from

    clip_diff = right_minus_left_cm(rot) - right_minus_left_cm(mirror_rotations(rot))
    _generate_with(["Talking"])
    right = right_minus_left_cm(_generated_rotations(arm))
    recipe = json.loads(arm.animation_data.action["a2g_recipe"])
    assert recipe["style_names"] == ["Talking"] and len(recipe["style"]) == 40
    assert recipe["prior"] == "retrieval"
    _generate_with(["Talking mirrored"])
    left = right_minus_left_cm(_generated_rotations(arm))
    carried = (right - left) / clip_diff
    print(f"Mixamo rig, panel: clips' difference {clip_diff:.1f} cm, generated {right:.1f} / {left:.1f} cm, "
          f"carried {carried:.2f}")
    record_property("handedness_carried", round(carried, 3))
    assert carried >= 0.5

    recipe = json.loads(arm.animation_data.action["a2g_recipe"])
    assert recipe["style_names"] == ["Talking mirrored"]
    assert any(t.name.startswith("A2G Style ") for t in bpy.data.texts)
    path, name = tmp_path / "styled.blend", arm.name
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    arm = bpy.data.objects[name]
    bpy.ops.a2g.style_bundled()  # the list emptied and the clips gone: the take still replays
    for name in ("Talking", "Talking mirrored"):
        if name in bpy.data.actions:
            bpy.data.actions.remove(bpy.data.actions[name])
    resample = mod("jobs.resample")
    job = resample.prepare(bpy.context, arm, 61, 120, 9)
    result = resample.compute(job)
    assert result.replayed  # the styled take's keys are exactly what its recipe makes
    before = _generated_rotations(arm)
    resample.apply(result)
    after = _generated_rotations(arm)
    np.testing.assert_array_equal(after[:55], before[:55])
    np.testing.assert_array_equal(after[125:], before[125:])
    assert np.abs(after[65:115] - before[65:115]).max() > 1e-3

    # a file without the library (stored text removed): the message says what to do
    for t in [t for t in bpy.data.texts if t.name.startswith("A2G Style ")]:
        bpy.data.texts.remove(t)
    with pytest.raises(Exception, match="style library of this take \\(Talking mirrored\\) is no longer"):
        resample.prepare(bpy.context, arm, 61, 120, 10)


def test_unusable_clips_are_refused_and_change_nothing(rig, tmp_path):
    _use_audio(write_wav(tmp_path / "speech.wav", speech_like(2.0, seed=3)))
    rot = read_smplx_npz(EXCERPT).local_rot[:, :22]
    _key_clip(rig, "Blink", rot[:40])  # 1.3 s
    other = bpy.data.objects.new("Prop", bpy.data.armatures.new("Prop"))
    bpy.context.scene.collection.objects.link(other)
    bpy.context.view_layer.objects.active = other
    bpy.ops.object.mode_set(mode="EDIT")
    for i, name in enumerate(("Bone", "Bone.001", "Bone.002")):
        b = other.data.edit_bones.new(name)
        b.head, b.tail = (0, 0, i), (0, 0, i + 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    bpy.context.view_layer.objects.active = rig
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    cases = [
        (lambda: bpy.ops.a2g.style_add_action(action="Blink"), "'Blink' is 1.33 s long.*at least 2 s"),
        (lambda: bpy.ops.a2g.style_add_file(filepath=str(tmp_path / "junk.npz")), "junk.npz"),
    ]
    for add, message in cases:
        bpy.ops.a2g.style_bundled()
        assert add() == {"FINISHED"}
        state = scene_state()
        with pytest.raises(RuntimeError, match=message):
            bpy.ops.a2g.generate(seed=0)
        assert scene_state() == state
    bpy.ops.a2g.style_bundled()
    bpy.ops.a2g.style_add_action(action="Blink")
    bpy.context.scene.a2g_style.clips[0].armature = other  # a rig with no bone map
    with pytest.raises(RuntimeError, match="Prop"):
        bpy.ops.a2g.generate(seed=0)


def test_batch_style_takes_npz_clips_and_records_them(addon, model_file, tmp_path):
    batch = mod("cli.batch")
    wav = write_wav(tmp_path / "speech.wav", speech_like(2.0, seed=5))
    code, out, err = _run(batch, ["generate", wav, "--output-dir", tmp_path / "out", "--model", model_file,
                                  "--style", EXCERPT])
    assert code == 0, err
    assert f"style from {EXCERPT.name} (10.0 s of motion" in out  # the report names the style
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out" / "speech.blend"), load_ui=False)
    arm = [o for o in bpy.data.objects if o.type == "ARMATURE"][0]
    recipe = json.loads(arm.animation_data.action["a2g_recipe"])
    assert recipe["style_names"] == [EXCERPT.name] and recipe["style"]
    assert [c.name for c in bpy.context.scene.a2g_style.clips] == [EXCERPT.name]
    import shutil

    shutil.copy(EXCERPT, tmp_path / "take.npz")  # a capture session: the take's speech beside it
    assert mod("jobs.style").file_clip(tmp_path / "take.npz").features is None
    write_wav(tmp_path / "take.wav", speech_like(10.0, seed=6))
    heard = mod("jobs.style").file_clip(tmp_path / "take.npz")
    assert heard.features is not None and heard.features.shape[0] == 300  # matched by its audio
    for bad, message in (([tmp_path / "none.npz"], "file not found"),
                         ([tmp_path / "take.bvh"], "file not found"),
                         (["Talking"], "needs --blend")):
        code, _, err = _run(batch, ["generate", wav, "--output-dir", tmp_path / "bad", "--model", model_file,
                                    "--style", *bad])
        assert code != 0 and message in err, err


def test_batch_style_handedness_with_the_bundled_model(addon, tmp_path, record_property):
    """The issue's criterion as the batch command runs it: a real take (right hand higher) and
    the same take mirrored, each passed as ``--style CLIP.npz``, on speech neither clip had."""
    from core.smplx_npz import write_smplx_npz

    batch = mod("cli.batch")
    model = sorted((ROOT / "models").glob("*.json"))[0]
    samples = load_audio_16k_mono(ROOT / "samples" / "speech_sample.wav")
    wav = write_wav(tmp_path / "talk.wav", samples[16000 * 2:16000 * 10])
    take = read_smplx_npz(EXCERPT)
    mirrored = write_smplx_npz(tmp_path / "mirrored.npz", mirror_rotations(take.local_rot), fps=take.fps)
    rot = take.local_rot[:, list(model_joint_indices(True))]
    clip_diff = right_minus_left_cm(rot) - right_minus_left_cm(mirror_rotations(rot))
    heights = []
    for clip, stem in ((EXCERPT, "right"), (mirrored, "left")):
        code, _, err = _run(batch, ["generate", wav, "--output-dir", tmp_path / "out", "--model", model,
                                    "--style", clip, "--name", stem, "--fps", "30"])
        assert code == 0, err
        bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out" / f"{stem}.blend"), load_ui=False)
        arm = [o for o in bpy.data.objects if o.type == "ARMATURE"][0]
        heights.append(right_minus_left_cm(_generated_rotations(arm)))
    carried = (heights[0] - heights[1]) / clip_diff
    print(f"batch --style: clips' difference {clip_diff:.1f} cm, generated {heights[0]:.1f} / "
          f"{heights[1]:.1f} cm, carried {carried:.2f}")
    record_property("handedness_carried", round(carried, 3))
    assert carried >= 0.5


def test_takes_and_their_resamples_keep_the_style(rig, tmp_path, model_file):
    _use_audio(write_wav(tmp_path / "speech.wav", speech_like(6.0, seed=7)))
    bpy.ops.a2g.style_add_file(filepath=str(EXCERPT))
    bpy.context.scene.a2g_directing.takes = 2
    assert bpy.ops.a2g.generate(seed=4) == {"FINISHED"}
    made = [a for a in bpy.data.actions if "a2g_recipe" in a]
    recipes = [json.loads(a["a2g_recipe"]) for a in made]
    assert len(made) == 2 and {r["take"] for r in recipes} == {1, 2}
    assert all(r["style_names"] == [EXCERPT.name] and r["style"] == recipes[0]["style"] for r in recipes)
    assert bpy.ops.a2g.resample_range(frame_start=61, frame_end=120, seed=9) == {"FINISHED"}
    recipe = json.loads(rig.animation_data.action["a2g_recipe"])
    assert recipe["style"] == recipes[0]["style"] and recipe["resamples"] == [[60, 120, 9]]
