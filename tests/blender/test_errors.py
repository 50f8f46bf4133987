"""Bad input gets a clear message and leaves the scene exactly as it was."""

import threading

import bpy
import numpy as np
import pytest

from .conftest import MODULE_NAME, add_sound_strip, has_aud, needs_aud, scene_state, speech_like, write_wav


def refused(match: str, **kw):
    """Run Generate; it must fail with ``match`` in the message and change nothing."""
    before = scene_state()
    with pytest.raises(RuntimeError, match=match):
        bpy.ops.a2g.generate(**kw)
    assert scene_state() == before


def use_file(path):
    bpy.context.scene.a2g.audio_source = "FILE"
    bpy.context.scene.a2g.audio_file = str(path)


def test_missing_file(rig, tmp_path):
    use_file(tmp_path / "nowhere.wav")
    refused(r"nowhere\.wav: file not found")


def test_no_file_chosen(rig):
    use_file("")
    refused("No audio file chosen")


def test_unreadable_file(rig, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_bytes(b"this is not audio at all" * 20)
    use_file(bad)
    refused("not a readable sound file" if has_aud() else "not a WAV file")


def test_silent_audio(rig, tmp_path):
    use_file(write_wav(tmp_path / "silence.wav", np.zeros(32000, dtype=np.float32)))
    refused("silent")


def test_too_short_audio(rig, tmp_path):
    use_file(write_wav(tmp_path / "short.wav", speech_like(0.3)))
    refused(r"too short .*at least 0\.5 s")


def test_empty_audio(rig, tmp_path):
    use_file(write_wav(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32)))
    refused("empty")


def test_no_audio_at_all(rig):
    refused("No audio: add a sound strip")


@needs_aud
def test_only_muted_strips(rig, tmp_path):
    strip = add_sound_strip(bpy.context.scene, write_wav(tmp_path / "s.wav", speech_like(1.0)), 1)
    strip.mute = True
    strip.select = False
    refused("No audio")


@needs_aud
def test_strip_trimmed_to_under_half_a_second(rig, tmp_path):
    strip = add_sound_strip(bpy.context.scene, write_wav(tmp_path / "s.wav", speech_like(2.0)), 1)
    strip.frame_offset_end = strip.frame_final_duration - 5  # 5 frames = 0.21 s at 24 fps
    refused("too short")


def test_no_armature(addon, tmp_path):
    use_file(write_wav(tmp_path / "s.wav", speech_like(1.0)))
    refused("Select an SMPL-X armature")


def test_not_an_armature(addon, tmp_path):
    use_file(write_wav(tmp_path / "s.wav", speech_like(1.0)))
    bpy.ops.mesh.primitive_cube_add()
    refused("'Cube' is not an armature")


def test_armature_without_smplx_bones(addon, tmp_path):
    use_file(write_wav(tmp_path / "s.wav", speech_like(1.0)))
    arm = bpy.data.objects.new("Rig", bpy.data.armatures.new("Rig"))
    bpy.context.scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    for name, z in (("pelvis", 1.0), ("spine1", 1.1), ("Head", 1.6)):
        bone = arm.data.edit_bones.new(name)
        bone.head, bone.tail = (0, 0, z), (0, 0, z + 0.1)
    bpy.ops.object.mode_set(mode="OBJECT")
    # neither an SMPL-X rig nor another humanoid: the message names the missing body parts
    refused(r"'Rig' is not a humanoid rig the add-on recognises: no bone found for the spine, "
            r"left upper arm, .*right hand\. Set them in the Bone Map panel")


def test_missing_model(rig, tmp_path):
    use_file(write_wav(tmp_path / "s.wav", speech_like(1.0)))
    bpy.context.preferences.addons[MODULE_NAME].preferences.model_path = str(tmp_path / "none.json")
    refused(r"Cannot load the gesture model: .*none\.json.*not found")


def test_poll_while_running(rig, tmp_path):
    """While an interactive job's worker thread runs, Generate is disabled with a reason."""
    operators = __import__(f"{MODULE_NAME}.jobs.operators", fromlist=["operators"])
    use_file(write_wav(tmp_path / "s.wav", speech_like(1.0)))
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    bpy.context.window_manager.a2g_progress.running = True
    operators._active_worker = worker
    try:
        refused("being generated")
    finally:
        release.set()
        worker.join()
    assert bpy.ops.a2g.generate(seed=0) == {"FINISHED"}  # a finished worker blocks nothing
    operators._active_worker = None
    bpy.context.window_manager.a2g_progress.running = False


def test_target_that_is_not_an_armature(addon, tmp_path):
    use_file(write_wav(tmp_path / "s.wav", speech_like(1.0)))
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.active_object
    try:
        bpy.context.scene.a2g.target = cube
    except (TypeError, ValueError, RuntimeError):
        pytest.skip("this Blender refuses a non-armature Target already (pointer poll)")
    if bpy.context.scene.a2g.target is None:
        pytest.skip("this Blender refuses a non-armature Target already (pointer poll)")
    refused("'Cube' is not an armature")
