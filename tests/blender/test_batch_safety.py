"""The batch command never loses a previous result, and says what is wrong with the output
folder before doing any work (real bpy, the built extension)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import bpy
import pytest

from .conftest import ROOT, has_aud, mod, speech_like, write_wav


@pytest.fixture()
def batch(installed_addon):
    return mod("cli.batch")


@pytest.fixture()
def speech(tmp_path):
    return write_wav(tmp_path / "talk.wav", speech_like(1.5, seed=4))


def run(batch, argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = batch.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def snapshot(folder) -> dict:
    """Every file in ``folder`` (hidden ones too), name -> bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture()
def first_run(batch, speech, model_file, tmp_path):
    out_dir = tmp_path / "out"
    code, _, err = run(batch, ["generate", speech, "--output-dir", out_dir, "--model", model_file,
                               "--npz", "--seed", "1"])
    assert code == 0, err
    before = snapshot(out_dir)
    assert sorted(before) == ["talk.blend", "talk.npz"]
    return out_dir, before


def test_failed_overwrite_keeps_old_outputs_byte_identical(batch, speech, model_file, first_run):
    """The issue's case: the .bvh cannot be written because a folder has its name."""
    out_dir, before = first_run
    (out_dir / "talk.bvh").mkdir()
    code, out, err = run(batch, ["generate", speech, "--output-dir", out_dir, "--model", model_file,
                                 "--npz", "--bvh", "--overwrite", "--seed", "2"])
    assert code == 1
    assert "talk.bvh is a folder, not a file: remove or rename it" in err, err
    assert "Traceback" not in err + out
    assert snapshot(out_dir) == before  # byte-identical, and no temporary file left


def test_export_failing_midway_keeps_old_outputs_byte_identical(batch, speech, model_file,
                                                                first_run, monkeypatch):
    """Any export failing after others were written: the old set stays, nothing half-new."""
    out_dir, before = first_run

    def broken_bvh(context, obj, path, first, last):
        path.write_bytes(b"HIERARCHY half a file")  # it got that far, then failed
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(mod("cli.batch_scene"), "export_bvh", broken_bvh)  # write_outputs calls it there
    code, _, err = run(batch, ["generate", speech, "--output-dir", out_dir, "--model", model_file,
                               "--npz", "--bvh", "--overwrite", "--seed", "2"])
    assert code == 1 and "No space left on device" in err, err
    assert f"'{out_dir / 'talk.bvh'}'" in err and "partial" not in err, err  # the file it is about
    assert snapshot(out_dir) == before


def test_successful_overwrite_replaces_every_output(batch, speech, model_file, first_run):
    out_dir, before = first_run
    code, _, err = run(batch, ["generate", speech, "--output-dir", out_dir, "--model", model_file,
                               "--npz", "--bvh", "--overwrite", "--seed", "2"])
    assert code == 0, err
    after = snapshot(out_dir)
    assert sorted(after) == ["talk.blend", "talk.bvh", "talk.npz"]  # no .blend1, no temporaries
    assert after["talk.npz"] != before["talk.npz"]  # seed 2's motion


TEMPORARY = b".talk.partial-"  # how output_set names talk's temporary files (the bytes "partial"
#                                 alone are in every 4.2 .blend: a struct member's name)


def assert_plays(speech) -> None:
    """The open file's sound strip (none where this bpy has no aud) finds ``speech`` from where
    the file was saved."""
    if has_aud():
        (sound,) = bpy.data.sounds
        assert os.path.samefile(bpy.path.abspath(sound.filepath), speech)
    else:
        assert len(bpy.data.sounds) == 0


def test_what_the_user_sees_names_only_the_final_files(batch, speech, model_file, tmp_path):
    """The outputs are written under temporary names, but no message, no output file and no
    path Blender keeps names one: the printed lines (Blender's "Saved" report, the exporters'
    messages), the FBX's record of its .blend, the session's file, the reopened .blend."""
    out_dir = tmp_path / "out"
    code, out, err = run(batch, ["generate", speech, "--output-dir", out_dir, "--model", model_file,
                                 "--npz", "--bvh", "--fbx", "--preview", "--preview-size", "64x36",
                                 "--fps", "8"])
    assert code == 0, err
    assert "partial" not in out + err, out + err
    assert f"{out_dir / 'talk.bvh'}" in out  # the BVH exporter's "Exported" line, named as it ends up
    assert "partial" not in bpy.data.filepath  # the session is no file that was renamed away
    names = ["talk.blend", "talk.bvh", "talk.fbx", "talk.npz", "talk_preview.mp4", "talk_preview.png"]
    assert sorted(snapshot(out_dir)) == names
    for name, data in snapshot(out_dir).items():
        assert TEMPORARY not in data, name
    bpy.ops.wm.open_mainfile(filepath=str(out_dir / "talk.blend"), load_ui=False)
    assert bpy.data.filepath == str(out_dir / "talk.blend")
    assert_plays(speech)


def test_a_whole_run_prints_no_temporary_name(installed_addon, speech, model_file, tmp_path):
    """Everything the process prints, Blender's own C-level logs included (tools/a2g_batch.py
    in a Python of its own)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "a2g_batch.py"), "generate", str(speech), "--output-dir",
         str(tmp_path / "out"), "--model", str(model_file), "--npz", "--bvh", "--fbx"],
        capture_output=True, text=True, env=dict(os.environ), timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[1/1] talk.wav -> out/talk.blend, out/talk.npz, out/talk.bvh, out/talk.fbx" in proc.stdout
    assert "partial" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_blend_run_names_only_the_final_files(batch, speech, model_file, tmp_path):
    """With --blend: the session stays the base scene; the saved result plays the speech."""
    bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)
    base = tmp_path / "stage" / "stage.blend"
    base.parent.mkdir()
    bpy.ops.wm.save_as_mainfile(filepath=str(base))
    out_dir = tmp_path / "out"
    code, out, err = run(batch, ["generate", speech, "--output-dir", out_dir, "--model", model_file,
                                 "--blend", base, "--fbx"])
    assert code == 0, err
    assert "partial" not in out + err, out + err
    assert bpy.data.filepath == str(base)
    assert TEMPORARY not in (out_dir / "talk.fbx").read_bytes()
    bpy.ops.wm.open_mainfile(filepath=str(out_dir / "talk.blend"), load_ui=False)
    assert_plays(speech)


def _no_generation(batch, monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(batch, "generate_in_scene", lambda *a, **k: calls.append(a))
    return calls


def test_output_dir_that_is_a_file_fails_before_any_generation(batch, speech, model_file,
                                                               tmp_path, monkeypatch):
    calls = _no_generation(batch, monkeypatch)
    target = tmp_path / "results"
    target.write_text("not a folder")
    code, out, err = run(batch, ["generate", speech, speech.parent, "--output-dir", target,
                                 "--model", model_file])
    assert code == 2 and calls == []
    assert err.strip() == (f"--output-dir {target} is a file, not a folder: choose a folder for "
                           "the outputs")
    assert out == "" and target.read_text() == "not a folder"


def test_output_dir_that_cannot_be_created(batch, speech, model_file, tmp_path, monkeypatch):
    calls = _no_generation(batch, monkeypatch)
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "sub" / "out"
    code, _, err = run(batch, ["generate", speech, "--output-dir", target, "--model", model_file])
    assert code == 2 and calls == []
    assert err.strip() == (f"--output-dir {target} cannot be created: {tmp_path / 'file'} is a "
                           "file, not a folder; choose another folder for the outputs")


def test_output_dir_that_cannot_be_written(batch, speech, model_file, tmp_path, monkeypatch):
    calls = _no_generation(batch, monkeypatch)
    target = tmp_path / "readonly"
    target.mkdir()
    target.chmod(0o555)
    try:
        if os.access(target, os.W_OK):  # root ignores permissions: use a folder nobody can write
            target = "/proc/a2g-out"
        code, _, err = run(batch, ["generate", speech, "--output-dir", target, "--model", model_file])
    finally:
        (tmp_path / "readonly").chmod(0o755)
    assert code == 2 and calls == []
    assert err.startswith(f"--output-dir {target} ") and "choose a folder you can write to" in err, err
    assert "Traceback" not in err and "Errno" not in err
