"""The batch command (batch.main): audio files in, .blend + exports out, failures isolated."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest

from core.audio import resample
from core.rotations import matrix_to_quat
from core.skeleton import BODY_JOINT_NAMES, JOINT_NAMES
from core.smplx_npz import read_smplx_npz

from .conftest import MODULE_NAME, ROOT

sf = pytest.importorskip("soundfile", reason="soundfile writes the FLAC/OGG test audio")

SPEECH = ROOT / "samples" / "speech_sample.wav"
EXCERPT = ROOT / "tests" / "data" / "beat2_excerpt" / "2_scott_0_1_1_excerpt.npz"


def _module(name):
    return importlib.import_module(f"{MODULE_NAME}.{name}")


def _speech(start_s: float, seconds: float) -> np.ndarray:
    x, rate = sf.read(str(SPEECH), dtype="float32")
    assert rate == 16000
    return x[int(start_s * rate): int((start_s + seconds) * rate)]


#: Blender's own decoder; the bpy 4.2 wheels are built without it and read WAV only.
try:
    import aud  # noqa: F401

    HAS_AUD = True
except ImportError:
    HAS_AUD = False


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> dict[str, Path]:
    """Real speech in two formats (two WAV flavours where Blender has no decoder), plus a
    corrupt file."""
    d = tmp_path_factory.mktemp("audio")
    a = _speech(2.0, 1.2)
    stereo = resample(np.stack([a, 0.5 * a], 1), 16000, 44100)
    sf.write(d / "speech44k.wav", stereo, 44100, subtype="PCM_16")  # WAV 44.1 kHz stereo
    b = resample(_speech(5.0, 1.0), 16000, 22050)
    if HAS_AUD:  # OGG Vorbis 22.05 kHz mono
        second = d / "speech22k.ogg"
        sf.write(second, b, 22050, format="OGG", subtype="VORBIS")
    else:  # float32 WAV 22.05 kHz mono
        second = d / "speech22k.wav"
        sf.write(second, b, 22050, subtype="FLOAT")
    (d / "broken.ogg").write_bytes(b"OggS" + bytes(range(256)) * 8)
    return {"wav": d / "speech44k.wav", "second": second, "bad": d / "broken.ogg"}


@pytest.fixture(scope="module")
def batch(installed_addon):
    return _module("cli.batch")


def _run(batch, argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = batch.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def _open(path):
    bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    return bpy.context.scene


def _armature():
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert len(arms) == 1
    return arms[0]


def _body_keys(arm):
    keying = _module("rigio.keying")
    return keying.read_bone_quaternions(arm, arm.animation_data.action, list(BODY_JOINT_NAMES))


def _same_rotation(qa, qb, atol=1e-5):
    dot = np.abs(np.sum(np.asarray(qa, np.float64) * np.asarray(qb, np.float64), axis=-1))
    np.testing.assert_allclose(dot, 1.0, atol=atol)


# ---- arguments -----------------------------------------------------------------------------------
def test_help_and_usage_errors(batch, model_file, audio, tmp_path):
    code, out, _ = _run(batch, ["--help"])
    assert code == 0 and "generate" in out
    code, out, _ = _run(batch, ["generate", "--help"])
    assert code == 0
    for option in ("--seed", "--intensity", "--variants", "--pin", "--fps", "--blend", "--output-dir",
                   "--overwrite",
                   "--npz", "--bvh", "--fbx", "--preview", "--preview-size", "--model", "--name"):
        assert option in out, option
    wav, second = audio["wav"], audio["second"]
    cases = [
        ([], "command"),
        (["frobnicate"], "invalid choice"),
        (["generate"], "required"),
        (["generate", wav, second, "--name", "x"], "--name needs exactly one input"),
        (["generate", wav, "--variants", "0"], "--variants"),
        (["generate", wav, "--seed", "-1"], "--seed"),
        (["generate", wav, "--intensity", "0"], "--intensity must be above 0 and at most 3"),
        (["generate", wav, "--intensity", "3.5"], "--intensity must be above 0 and at most 3"),
        (["generate", wav, "--intensity", "nan"], "--intensity must be above 0 and at most 3"),
        (["generate", wav, "--fps", "0"], "--fps"),
        (["generate", wav, "--preview-size", "640"], "--preview-size '640' is not a size"),
        (["generate", wav, "--preview-size", "641x360"], "even width and height"),
        (["generate", wav, "--preview-size", "20x20"], "width must be 64-4096"),
        (["generate", wav, "--blend", tmp_path / "none.blend"], "--blend"),
        (["generate", wav, "--model", tmp_path / "none.json"], "Cannot load the gesture model"),
        (["generate", wav, "--model", model_file, "--pin", "clip.npz"], "CLIP.npz@FRAME"),
        (["generate", wav, "--model", model_file, "--pin", f"{EXCERPT}@soon"], "not a frame number"),
        (["generate", wav, "--model", model_file, "--pin", f"{EXCERPT}@-1s"], "not a frame number"),
        (["generate", wav, "--model", model_file, "--pin", f"{tmp_path}/no.npz@3"], "not found"),
    ]
    for argv, message in cases:
        code, _out, err = _run(batch, argv + ["--output-dir", tmp_path / "out"] if argv[:1] == ["generate"]
                               and "--help" not in argv else argv)
        assert code == 2, (argv, err)
        assert message in err, (argv, err)
    assert not (tmp_path / "out").exists()


# ---- one run, two formats and a corrupt file, every export -----------------------------------------
@pytest.fixture(scope="module")
def run_all(batch, audio, model_file, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("batch-out")
    argv = ["generate", audio["wav"], audio["second"], audio["bad"], "--output-dir", out_dir,
            "--model", model_file, "--npz", "--bvh", "--fbx"]
    code, out, err = _run(batch, argv)
    bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)
    return code, out, err, out_dir


def test_corrupt_file_fails_alone(run_all, audio):
    code, out, err, _ = run_all
    assert code == 1
    assert "[3/3] broken.ogg: FAILED" in err
    assert ("not a readable sound file" if HAS_AUD else "not a WAV file") in err
    assert "[1/3] speech44k.wav -> " in out and f"[2/3] {audio['second'].name} -> " in out
    assert "2 of 3 done, 1 failed (broken.ogg)" in out


def test_outputs_for_each_good_file(run_all):
    _, _, _, out_dir = run_all
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == sorted(f"{stem}.{ext}" for stem in ("speech44k", "speech22k")
                           for ext in ("blend", "npz", "bvh", "fbx"))
    assert all((out_dir / n).stat().st_size > 1000 for n in names)


@pytest.mark.parametrize("stem, seconds", [("speech44k", 1.2), ("speech22k", 1.0)])
def test_blend_has_character_action_and_sound(run_all, audio, stem, seconds):
    _, _, _, out_dir = run_all
    scene = _open(out_dir / f"{stem}.blend")
    arm = _armature()
    assert scene.render.fps == 30 and scene.render.fps_base == 1.0
    n = math.ceil(seconds * 30 - 1e-9)
    assert (scene.frame_start, scene.frame_end) == (1, n)
    frames, quats = _body_keys(arm)
    np.testing.assert_array_equal(frames, np.arange(1, n + 1))
    assert np.abs(quats[:, :, 1:]).max() > 1e-3  # it moves
    action = arm.animation_data.action
    assert action["a2g_seed"] == 0
    src = audio["wav"] if stem == "speech44k" else audio["second"]
    if HAS_AUD:  # (the 4.2 wheels cannot add sound strips)
        strips = [s for s in scene.sequence_editor.strips_all if s.type == "SOUND"]
        assert len(strips) == 1 and strips[0].frame_final_start == 1
        assert Path(bpy.path.abspath(strips[0].sound.filepath)).resolve() == src.resolve()
    assert scene.a2g.audio_source == "FILE" and Path(scene.a2g.audio_file) == src.resolve()


def test_bvh_and_fbx_files(run_all):
    _, _, _, out_dir = run_all
    bvh = (out_dir / "speech44k.bvh").read_text()
    assert bvh.startswith("HIERARCHY") and "ROOT pelvis" in bvh
    assert "Frames: 36" in bvh
    assert bvh.count("JOINT ") == 54
    assert (out_dir / "speech44k.fbx").read_bytes()[:18] == b"Kaydara FBX Binary"


def test_npz_reads_back_with_the_same_rotations(run_all, addon):
    _, _, _, out_dir = run_all
    scene = _open(out_dir / "speech44k.blend")
    frames, keyed = _body_keys(_armature())
    npz = out_dir / "speech44k.npz"
    motion = read_smplx_npz(npz)
    assert motion.fps == 30.0 and motion.n_frames == len(frames)
    assert motion.gender == "neutral" and motion.betas.shape == (300,)
    _same_rotation(matrix_to_quat(motion.local_rot[:, :22]), keyed)
    # joints the model does not move stay at rest (the armature's rest pose)
    np.testing.assert_allclose(motion.local_rot[:, 22:], np.broadcast_to(np.eye(3), (len(frames), 33, 3, 3)),
                               atol=1e-5)
    # the character stands on the floor, as in BEAT2 (trans y = its lift)
    np.testing.assert_allclose(motion.trans, [[0.0, _armature().location.z, 0.0]] * len(frames), atol=1e-6)

    # ... and a2g.import_npz puts the same keys on a fresh character
    bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 30
    npz_import = _module("rigio.npz_import")
    registered_here = "import_npz" not in dir(bpy.ops.a2g)
    if registered_here:
        npz_import.register()
    try:
        assert bpy.ops.a2g.add_character() == {"FINISHED"}
        assert bpy.ops.a2g.import_npz(filepath=str(npz)) == {"FINISHED"}
    finally:
        if registered_here:
            npz_import.unregister()
    arm = bpy.context.active_object
    frames2, imported = _body_keys(arm)
    np.testing.assert_array_equal(frames2, frames)
    _same_rotation(imported, keyed, atol=2e-6)
    keying = _module("rigio.keying")
    hands = keying.read_bone_quaternions(arm, arm.animation_data.action, list(JOINT_NAMES[22:]))[1]
    _same_rotation(hands, np.array([1.0, 0, 0, 0]))


# ---- overwriting ---------------------------------------------------------------------------------
def test_never_overwrites_without_flag(batch, audio, model_file, tmp_path):
    out = tmp_path / "out"
    argv = ["generate", audio["second"], "--output-dir", out, "--model", model_file, "--npz"]
    assert _run(batch, argv)[0] == 0
    blend, npz = out / "speech22k.blend", out / "speech22k.npz"
    stamps = {p: p.stat().st_mtime_ns for p in (blend, npz)}
    code, _, err = _run(batch, argv)
    assert code == 1 and "already exist" in err and "--overwrite" in err
    assert {p: p.stat().st_mtime_ns for p in (blend, npz)} == stamps
    # one output left over is enough to stop the whole file: nothing is written
    blend.unlink()
    code, _, err = _run(batch, argv)
    assert code == 1 and "speech22k.npz already exists" in err
    assert not blend.exists() and npz.stat().st_mtime_ns == stamps[npz]
    code, out_text, _ = _run(batch, argv + ["--overwrite"])
    assert code == 0 and blend.exists() and npz.stat().st_mtime_ns != stamps[npz]
    stamp = blend.stat().st_mtime_ns
    assert _run(batch, argv + ["--overwrite"])[0] == 0
    assert blend.stat().st_mtime_ns != stamp
    assert sorted(p.name for p in out.iterdir()) == ["speech22k.blend", "speech22k.npz"]  # no .blend1


def test_same_stem_twice_in_one_run(batch, audio, model_file, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "talk.WAV").write_bytes(audio["wav"].read_bytes())
    (d / "talk.wav").write_bytes(audio["wav"].read_bytes())
    (d / "notes.txt").write_text("not audio")
    code, out, err = _run(batch, ["generate", d, "--output-dir", tmp_path / "out", "--model", model_file])
    assert code == 1
    assert "[1/2] talk.WAV -> " in out
    assert "[2/2] talk.wav: FAILED" in err and "would replace those of talk.WAV" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["talk.blend"]


# ---- options -------------------------------------------------------------------------------------
def test_name_variants_and_fps(batch, audio, model_file, tmp_path):
    out = tmp_path / "out"
    code, text, err = _run(batch, ["generate", audio["second"], "--output-dir", out, "--model", model_file,
                                   "--name", "talk", "--variants", "2", "--seed", "5", "--fps", "24",
                                   "--intensity", "1.5"])
    assert code == 0, err
    assert "2 of 2 done" in text
    assert sorted(p.name for p in out.iterdir()) == ["talk_seed5.blend", "talk_seed6.blend"]
    keys = {}
    for seed in (5, 6):
        scene = _open(out / f"talk_seed{seed}.blend")
        assert scene.render.fps == 24
        arm = _armature()
        assert arm.animation_data.action["a2g_seed"] == seed
        assert json.loads(arm.animation_data.action["a2g_recipe"])["intensity"] == 1.5
        assert scene.a2g.intensity == 1.5  # Generate in the saved file makes the same take
        frames, keys[seed] = _body_keys(arm)
        assert len(frames) == 24
    assert np.abs(keys[5] - keys[6]).max() > 1e-3  # another seed, other gestures


def test_fractional_fps(batch, audio, model_file, tmp_path):
    code, _, err = _run(batch, ["generate", audio["second"], "--output-dir", tmp_path, "--model", model_file,
                                "--fps", "29.97"])
    assert code == 0, err
    scene = _open(tmp_path / "speech22k.blend")
    assert scene.render.fps == 30 and scene.render.fps_base == pytest.approx(1.001)


def test_adds_to_a_base_blend(batch, addon, audio, model_file, tmp_path):
    bpy.ops.mesh.primitive_cube_add(location=(3, 0, 0))
    bpy.context.scene.render.fps = 25
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "empty_stage.blend"))
    assert bpy.ops.a2g.add_character() == {"FINISHED"}
    bpy.context.active_object.location.x = -2.0
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "stage.blend"))
    for base, stem in (("stage", "with_character"), ("empty_stage", "new_character")):
        code, _, err = _run(batch, ["generate", audio["second"], "--output-dir", tmp_path / "out",
                                    "--model", model_file, "--blend", tmp_path / f"{base}.blend",
                                    "--name", stem])
        assert code == 0, err
        scene = _open(tmp_path / "out" / f"{stem}.blend")
        assert "Cube" in bpy.data.objects and scene.render.fps == 25
        arm = _armature()  # exactly one: the base's own, or the one added
        assert arm.animation_data.action is not None
        assert arm.location.x == pytest.approx(-2.0 if base == "stage" else 0.0)
        assert len(_body_keys(arm)[0]) == 25


def test_pin(batch, audio, model_file, tmp_path):
    spec = batch.parse_pin(f"{EXCERPT}@1.5s")
    assert (spec.frame, spec.seconds, spec.path) == (None, 1.5, EXCERPT)
    assert spec.scene_frame(first=1, fps=24) == 37
    assert batch.parse_pin(f"{EXCERPT}@12").scene_frame(1, 30) == 12
    common = ["generate", audio["second"], "--model", model_file, "--seed", "3"]
    code, _, err = _run(batch, common + ["--output-dir", tmp_path / "free"])
    assert code == 0, err
    code, _, err = _run(batch, common + ["--output-dir", tmp_path / "pinned", "--pin", f"{EXCERPT}@10"])
    assert code == 0, err
    _open(tmp_path / "free" / "speech22k.blend")
    free = _body_keys(_armature())[1]
    _open(tmp_path / "pinned" / "speech22k.blend")
    arm = _armature()
    pinned = _body_keys(arm)[1]
    tracks = [t for t in arm.animation_data.nla_tracks if t.name.startswith("A2G Pins")]
    assert len(tracks) == 1 and tracks[0].mute
    (strip,) = tracks[0].strips
    assert strip.action.name == EXCERPT.stem
    assert (strip.frame_start, strip.frame_end) == (10, 30)  # trimmed to the audio (frames 1-30)
    assert not arm.animation_data.action.get("a2g_source")  # the take is the generated action
    assert np.abs(pinned - free).max() > 1e-3  # the pin changed the gestures
    # a pin after the end of the audio fails that file only
    code, _, err = _run(batch, common + ["--output-dir", tmp_path / "late", "--pin", f"{EXCERPT}@31"])
    assert code == 1 and "lies outside the audio (frames 1-30)" in err
    assert not (tmp_path / "late").exists()


def test_preview(batch, audio, model_file, tmp_path):
    code, _, err = _run(batch, ["generate", audio["second"], "--output-dir", tmp_path, "--model", model_file,
                                "--preview", "--fps", "8", "--preview-size", "96x54"])
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "speech22k.blend", "speech22k_preview.mp4", "speech22k_preview.png"]
    png = (tmp_path / "speech22k_preview.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (6 * 96, 54)  # six stills of --preview-size
    video = (tmp_path / "speech22k_preview.mp4").read_bytes()
    assert b"avc1" in video  # H.264
    if HAS_AUD:
        assert b"mp4a" in video  # with the speech (AAC), from the sound strip


# ---- the other entry points ------------------------------------------------------------------------
def test_cli_command_registers(batch):
    assert batch._cli_handle is not None  # enabling the extension registered `blender -c audio2gestures`
    batch.unregister()
    try:
        assert batch._cli_handle is None
    finally:
        batch.register()  # as the enabled extension has it
    assert batch._cli_handle is not None


def _script():
    spec = importlib.util.spec_from_file_location("a2g_batch_script", ROOT / "tools" / "a2g_batch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_arguments():
    script = _script()
    argv = ["blender", "-b", "x.blend", "-P", "a2g_batch.py", "--", "generate", "a.wav"]
    assert script.script_args(argv) == [
        "generate", "a.wav"]
    assert script.script_args(["tools/a2g_batch.py", "generate", "a.wav"]) == ["generate", "a.wav"]
    assert script.find_extension() == MODULE_NAME


def test_script_runs_with_plain_python(installed_addon, audio, model_file, tmp_path):
    env = dict(os.environ)  # the test session's Blender user folders, with the extension installed
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "a2g_batch.py"), "generate", str(audio["wav"]),
         "--output-dir", str(tmp_path), "--model", str(model_file), "--name", "scripted"],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[1/1] speech44k.wav -> scripted.blend" in proc.stdout
    assert (tmp_path / "scripted.blend").stat().st_size > 1000
