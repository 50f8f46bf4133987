"""The same bad audio gets the same answer on every path and every Blender version.

Run on 5.0, 4.5 and 4.2 (``make test`` runs tests/blender in each venv): the messages are
asserted word for word, so a version that decodes differently (``aud`` on 4.5/5.0, the numpy
WAV reader on 4.2) fails here rather than silently using half a file.
"""

from __future__ import annotations

import contextlib
import importlib
import io

import bpy
import numpy as np
import pytest

from .conftest import MODULE_NAME, add_sound_strip, needs_aud, scene_state, speech_like, write_wav


def _generate_message(**settings) -> str:
    """Run Generate, which must refuse and change nothing; return its message."""
    scene = bpy.context.scene
    for key, value in settings.items():
        setattr(scene.a2g, key, value)
    before = scene_state()
    with pytest.raises(RuntimeError) as err:
        bpy.ops.a2g.generate()
    assert scene_state() == before
    return str(err.value).replace("Error: ", "", 1).strip()


def _batch_message(path, model_file, tmp_path) -> str:
    """Run the batch command on ``path``: it must fail that input and write nothing."""
    batch = importlib.import_module(f"{MODULE_NAME}.cli.batch")
    out_dir = tmp_path / "out"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = batch.main(["generate", str(path), "--output-dir", str(out_dir),
                           "--model", str(model_file)])
    assert code == 1, err.getvalue()
    assert not out_dir.exists() or not any(out_dir.iterdir())
    lines = [ln for ln in err.getvalue().splitlines() if "FAILED" in ln]
    assert len(lines) == 1, err.getvalue()
    return lines[0].split("FAILED: ", 1)[1]


def _truncated(tmp_path):
    full = write_wav(tmp_path / "full.wav", speech_like(2.0))
    raw = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(raw[: len(raw) // 2])
    declared = len(raw) - 44  # the stdlib writer's 44-byte header
    present = len(raw) // 2 - 44
    return cut, (f"{cut}: truncated WAV file (its header declares {declared} bytes of audio, "
                 f"only {present} are in the file): the file was cut short; export or copy it "
                 "again")


def test_truncated_wav_is_refused_with_one_message(rig, model_file, tmp_path):
    cut, expected = _truncated(tmp_path)
    assert _generate_message(audio_source="FILE", audio_file=str(cut)) == expected
    assert _batch_message(cut, model_file, tmp_path) == expected


@needs_aud
def test_truncated_wav_as_sound_strip(rig, tmp_path):
    cut, expected = _truncated(tmp_path)
    add_sound_strip(bpy.context.scene, cut, 1)  # Blender itself plays the half that is there
    assert _generate_message(audio_source="STRIPS") == f"Sound strip 'speech': {expected}"


def test_empty_file_says_it_is_empty(rig, model_file, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    expected = f"{empty}: the file is empty (0 bytes); choose a sound file with speech in it"
    assert _generate_message(audio_source="FILE", audio_file=str(empty)) == expected
    assert _batch_message(empty, model_file, tmp_path) == expected


SHORT = ("the audio is too short (0.490 s, 7840 samples at 16000 Hz); at least 0.5 s of speech "
         "is needed")


def test_short_clip_one_rule_for_files_and_batch(rig, model_file, tmp_path):
    clip = write_wav(tmp_path / "short.wav", speech_like(0.49))
    assert _generate_message(audio_source="FILE", audio_file=str(clip)) == f"short.wav: {SHORT}"
    assert _batch_message(clip, model_file, tmp_path) == f"short.wav: {SHORT}"


@needs_aud
def test_short_clip_one_rule_for_sound_strips(rig, tmp_path):
    """Blender rounds the strip up to whole frames (15 at 30 fps = 0.5 s): still refused,
    with the file's own length."""
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    strip = add_sound_strip(scene, write_wav(tmp_path / "short.wav", speech_like(0.49)), 1)
    assert strip.frame_final_duration * 1.0 / 30 >= 0.5  # what Blender made of it
    assert _generate_message(audio_source="STRIPS") == f"sound strip(s) speech: {SHORT}"


def test_long_enough_clip_is_used(rig, tmp_path):
    clip = write_wav(tmp_path / "ok.wav", speech_like(0.5))
    bpy.context.scene.a2g.audio_source = "FILE"
    bpy.context.scene.a2g.audio_file = str(clip)
    assert bpy.ops.a2g.generate() == {"FINISHED"}
    assert np.isfinite(rig.animation_data.action.frame_range[1])
