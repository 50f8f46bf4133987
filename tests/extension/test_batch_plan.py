"""a2g_blender/cli/batch_plan.py: the batch command's arguments and plan, without Blender."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.smplx_npz import write_smplx_npz

from .conftest import PACKAGE, ROOT, plain_module

plan_mod = plain_module("cli.batch_plan")
UserError = plan_mod.UserError


def _args(*argv):
    return plan_mod.parse_args(["generate", *map(str, argv)])


def _wav(path: Path) -> Path:
    path.write_bytes(b"RIFF")  # planning never reads the audio
    return path


def test_imports_no_bpy():
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
            "from tests.extension.conftest import plain_module; plain_module('cli.batch_plan'); "
            "assert 'bpy' not in sys.modules, 'batch_plan imported bpy'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert plan_mod.__name__ == f"{PACKAGE}.cli.batch_plan"


def test_defaults(tmp_path):
    args = _args(_wav(tmp_path / "a.wav"))
    assert (args.seed, args.variants, args.output_dir, args.overwrite) == (0, 1, Path("."), False)
    assert args.preview_size == (640, 360) and args.bone_map_preset is None
    assert not (args.npz or args.bvh or args.fbx or args.preview)


@pytest.mark.parametrize("argv, message", [
    ([], "a command is needed"),
    (["frobnicate"], "invalid choice"),
    (["generate"], "required"),
    (["generate", "a.wav", "--variants", "0"], "--variants must be >= 1"),
    (["generate", "a.wav", "--seed", "-1"], "--seed must be >= 0"),
    (["generate", "a.wav", "--fps", "0"], "--fps must be a positive frame rate"),
    (["generate", "a.wav", "--intensity", "0"], "--intensity must be above 0"),
    (["generate", "a.wav", "b.wav", "--name", "x"], "--name needs exactly one input"),
    (["generate", "a.wav", "--name", "sub/x"], "--name must be a plain file stem"),
    (["generate", "a.wav", "--preview-size", "100"], "--preview-size"),
    (["generate", "a.wav", "--blend", "none.blend"], "--blend: none.blend: file not found"),
    (["generate", "a.wav", "--armature", "Hero"], "give --blend too"),
])
def test_bad_arguments_name_the_option(tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=message):
        plan_mod.parse_args(argv)


def test_bad_files_and_sizes_are_named_with_their_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wav = _wav(tmp_path / "a.wav")
    with pytest.raises(UserError) as info:
        _args(wav, "--preview-size", "100")
    assert str(info.value) == "--preview-size '100' is not a size: give WIDTHxHEIGHT in pixels, e.g. 1280x720"
    with pytest.raises(UserError) as info:
        _args(wav, "--preview-size", "641x360")
    assert str(info.value) == ("--preview-size '641x360': H.264 video needs an even width and height, "
                               "e.g. 1280x720")
    with pytest.raises(UserError) as info:
        plan_mod.parse_pin("none.npz@3")
    assert str(info.value) == "--pin 'none.npz@3': none.npz: file not found"
    (tmp_path / "x.blend").write_bytes(b"")
    base = ["--blend", "x.blend", "--armature", "Hero", "--bone-map"]
    with pytest.raises(UserError) as info:
        _args(wav, *base, "none.json")
    assert str(info.value).startswith("Cannot read the bone-map preset --bone-map 'none.json': ")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UserError, match=r"^--bone-map 'bad.json' is not a bone-map preset \(not JSON: "):
        _args(wav, *base, "bad.json")


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as done:
        plan_mod.parse_args(["generate", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--output-dir", "--variants", "--pin", "--fps", "--blend", "--model", "--overwrite",
                   "--npz", "--bvh", "--fbx", "--preview", "--preview-size", "--intensity"):
        assert option in text, option


def test_collect_inputs_expands_folders_in_order(tmp_path):
    speeches = tmp_path / "speeches"
    speeches.mkdir()
    for name in ("b.wav", "a.FLAC", "notes.txt"):
        _wav(speeches / name)
    (tmp_path / "empty").mkdir()
    found = plan_mod.collect_inputs([speeches, tmp_path / "empty", tmp_path / "gone.wav"])
    assert [(p.name, problem) for p, problem in found] == [
        ("a.FLAC", None), ("b.wav", None),
        ("empty", f"folder has no audio files ({', '.join(plan_mod.AUDIO_EXTENSIONS)})"),
        ("gone.wav", "file not found")]


def test_plan_names_outputs_per_seed(tmp_path):
    a = _wav(tmp_path / "talk.wav")
    args = _args(a, "--variants", 2, "--seed", 5, "--npz", "--preview", "--output-dir", tmp_path / "out")
    planned = plan_mod.plan(plan_mod.collect_inputs(args.inputs), args)
    assert [(item.stem, item.seed, problem) for item, _, problem in planned] == [
        ("talk_seed5", 5, None), ("talk_seed6", 6, None)]
    first = planned[0][0]
    assert {k: p.name for k, p in first.outputs.items()} == {
        "blend": "talk_seed5.blend", "npz": "talk_seed5.npz",
        "preview_png": "talk_seed5_preview.png", "preview_mp4": "talk_seed5_preview.mp4"}
    assert all(p.parent == tmp_path / "out" for p in first.outputs.values())


def test_plan_refuses_outputs_that_replace_each_other(tmp_path):
    upper, lower = tmp_path / "x" / "talk.WAV", tmp_path / "y" / "talk.wav"
    for p in (upper, lower):
        p.parent.mkdir()
        _wav(p)
    args = _args(upper, lower, "--output-dir", tmp_path / "out")
    (first, _, ok), (second, audio, problem) = plan_mod.plan(plan_mod.collect_inputs(args.inputs), args)
    assert first.stem == "talk" and ok is None
    assert second is None and audio == lower and "would replace those of talk.WAV" in problem


def test_check_outputs_refuses_existing_files_unless_overwrite(tmp_path):
    a = _wav(tmp_path / "talk.wav")
    (tmp_path / "talk.blend").write_bytes(b"old")
    args = _args(a, "--output-dir", tmp_path)
    (item, _, _), = plan_mod.plan(plan_mod.collect_inputs(args.inputs), args)
    with pytest.raises(UserError, match="talk.blend already exists .*--overwrite"):
        plan_mod.check_outputs(item, args)
    plan_mod.check_outputs(item, _args(a, "--output-dir", tmp_path, "--overwrite"))
    assert (tmp_path / "talk.blend").read_bytes() == b"old"  # checking writes nothing


def test_parse_pin(tmp_path):
    clip = write_smplx_npz(tmp_path / "wave.npz", np.broadcast_to(np.eye(3, dtype=np.float32), (4, 55, 3, 3)),
                           fps=30)
    at_frame = plan_mod.parse_pin(f"{clip}@45")
    assert (at_frame.path, at_frame.frame, at_frame.seconds) == (clip, 45, None)
    at_time = plan_mod.parse_pin(f"{clip}@1.5s")
    assert at_time.seconds == 1.5 and at_time.scene_frame(first=10, fps=24.0) == 46
    assert at_frame.scene_frame(first=10, fps=24.0) == 45
    for spec, message in [("clip.npz", "CLIP.npz@FRAME"), (f"{clip}@soon", "not a frame number"),
                          (f"{clip}@-1s", "not a frame number"),
                          (f"{tmp_path}/no.npz@3", "no.npz.*not found")]:
        with pytest.raises(UserError, match=message):
            plan_mod.parse_pin(spec)
