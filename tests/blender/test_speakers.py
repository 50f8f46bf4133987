"""Speakers as styles in Blender (issue #19): with a model whose retrieval library holds two
recordings labelled as two speakers, the speaker chosen in the Gestures panel, in
``a2g.generate(speaker=)`` and with the batch command's ``--speaker`` reaches the code prior
(the keys are core.generate's with that speaker, and differ between the speakers), is recorded
in the take's recipe and replayed by Resample Range; a one-speaker model shows no choice; an
unknown speaker gets one message naming the model's speakers and changes nothing."""

from __future__ import annotations

import contextlib
import io
import json
import types

import bpy
import numpy as np
import pytest

from core.config import ModelConfig
from core.features import features_for_motion
from core.generate import DEFAULT_SYNC, ResampleRange, generate
from core.model_file import load_model, random_model, save_model
from core.network import Network
from core.prior import fit_gaussian, retrieval_arrays
from core.rotations import matrix_to_sixd
from core.skeleton import BODY_JOINT_NAMES, model_joint_indices
from core.smplx_npz import read_smplx_npz
from core.timeline import sample_rotations

from .conftest import (
    MODULE_NAME,
    ROOT,
    FakeLayout,
    key_arrays,
    mod,
    recipe,
    resample_keeps_outside,
    scene_state,
    speech_like,
    use_file,
    write_wav,
)

EXCERPTS = ROOT / "tests" / "data" / "beat2_excerpt"
#: the two excerpts of BEAT2's scott, labelled as speakers 1 (300 frames) and 7 (180 frames)
LABELLED = (("1", "2_scott_0_1_1_excerpt", 11), ("7", "2_scott_0_2_2_excerpt", 12))


@pytest.fixture(scope="module")
def two_speaker_model(tmp_path_factory):
    """Random weights (the test model's) with the retrieval prior fitted, as train/priors.py
    fits it, to the two excerpts' motion codes, each clip labelled with its speaker as
    train/export.py labels them. The audio codes come from speech-like sound of each excerpt's
    length (the bpy 4.2 wheels cannot decode the excerpts' FLAC)."""
    m = random_model(ModelConfig(code_prior="retrieval"), seed=7)
    net = Network(m)
    codes, shared = [], []
    for _, name, seed in LABELLED:
        rot = read_smplx_npz(EXCERPTS / f"{name}.npz").local_rot[:, list(model_joint_indices(False))]
        sixd = matrix_to_sixd(rot).reshape(len(rot), -1).astype(np.float32)
        feats = features_for_motion(speech_like(len(rot) / 30.0, seed=seed)[:, 0])
        n = min(len(sixd), len(feats))
        codes.append(net.motion_encode(sixd[:n])[2])
        shared.append(net.audio_encode(net.normalise_features(feats[:n])))
    prior = fit_gaussian(codes)
    prior.update(retrieval_arrays(codes, shared))
    prior = {k: np.asarray(v, np.float32) for k, v in prior.items()}
    path = tmp_path_factory.mktemp("speakers") / "two_speakers.json"
    return save_model(path, m.weights, m.config, m.feature_mean, m.feature_std, m.code_mean, m.code_std,
                      metadata={"purpose": "tests", "speakers": ["1", "7"], "prior_clip_speakers": ["1", "7"],
                                "default_speaker": "1"}, prior=prior)


@pytest.fixture()
def speakers_rig(rig, two_speaker_model):
    bpy.context.preferences.addons[MODULE_NAME].preferences.model_path = str(two_speaker_model)
    return rig


def keys(rig):
    action = rig.animation_data.action
    return mod("rigio.keying").read_bone_quaternions(rig, action, list(BODY_JOINT_NAMES))[1]


def expected(model_file, wav, n_frames, seed, speaker, resamples=()):
    from core.audio import load_audio_16k_mono

    local = generate(Network(load_model(model_file)), features_for_motion(load_audio_16k_mono(wav)), seed,
                     resamples=resamples, layered=True, speaker=speaker, sync=DEFAULT_SYNC)
    return sample_rotations(local, 30.0, np.arange(n_frames) / 30.0)


def assert_same_rotations(got, want, atol=1e-5):
    dots = np.abs(np.sum(got * want, axis=-1))
    assert got.shape == want.shape
    assert np.all(dots > 1 - atol), f"max angle error {np.degrees(2 * np.arccos(min(dots.min(), 1))):.4f} deg"


def draw_panel():
    layout = FakeLayout()
    bpy.types.A2G_PT_gestures.draw(types.SimpleNamespace(layout=layout), bpy.context)
    return layout.log


def test_the_operators_speaker_reaches_the_prior(speakers_rig, two_speaker_model, tmp_path):
    rig = speakers_rig
    wav = write_wav(tmp_path / "speech.wav", speech_like(5.0, seed=2))  # frames 1-150
    use_file(wav)
    got = {}
    for speaker in ("7", "1"):
        assert bpy.ops.a2g.generate(seed=3, speaker=speaker) == {"FINISHED"}
        assert recipe(rig)["speaker"] == speaker
        got[speaker] = keys(rig)
        assert_same_rotations(got[speaker], expected(two_speaker_model, wav, 150, 3, speaker))
    assert np.abs(got["7"] - got["1"]).max() > 1e-2  # the speakers' styles differ
    assert bpy.ops.a2g.generate(seed=3) == {"FINISHED"}  # nothing chosen: the model's default, 1
    assert recipe(rig)["speaker"] == "1"
    np.testing.assert_array_equal(keys(rig), got["1"])


def test_the_panels_speaker_is_used_and_offered_only_for_several_speakers(speakers_rig, two_speaker_model,
                                                                          model_file, tmp_path):
    rig = speakers_rig
    wav = write_wav(tmp_path / "speech.wav", speech_like(3.0, seed=4))
    use_file(wav)
    settings = bpy.context.scene.a2g
    log = draw_panel()
    assert ("prop", "speaker") in log
    assert settings.speaker == "DEFAULT"
    settings.speaker = "7"
    generate_button = next(e for e in draw_panel() if e[:2] == ("operator", "a2g.generate"))
    assert generate_button[4].speaker == "7"
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}  # the panel's choice when the operator has none
    assert recipe(rig)["speaker"] == "7"
    assert_same_rotations(keys(rig), expected(two_speaker_model, wav, 90, 1, "7"))
    assert _enum_items(settings) == "('DEFAULT', '1', '7')"

    bpy.context.preferences.addons[MODULE_NAME].preferences.model_path = str(model_file)  # one speaker
    assert ("prop", "speaker") not in draw_panel()
    assert _enum_items(settings) == "('DEFAULT')"
    assert mod("ui.properties").chosen_speaker(settings) is None  # the saved "7" is not this model's
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}
    assert recipe(rig)["speaker"] is None


def _enum_items(settings) -> str:
    """The Speaker enum's identifiers as Blender offers them now (its refusal lists them)."""
    with pytest.raises(TypeError) as refused:
        settings.speaker = "no such speaker"
    return str(refused.value).rpartition(" not found in ")[2]


def test_an_unknown_speaker_names_the_models_speakers_and_changes_nothing(speakers_rig, model_file,
                                                                          tmp_path):
    use_file(write_wav(tmp_path / "speech.wav", speech_like(2.0, seed=4)))
    before = scene_state()
    with pytest.raises(RuntimeError, match=r"The model has no speaker '4'; its speakers: 1, 7"):
        bpy.ops.a2g.generate(seed=0, speaker="4")
    assert scene_state() == before
    bpy.context.preferences.addons[MODULE_NAME].preferences.model_path = str(model_file)
    with pytest.raises(RuntimeError, match="its speakers: none \\(it was trained without speaker labels\\)"):
        bpy.ops.a2g.generate(seed=0, speaker="7")
    assert scene_state() == before


def test_resample_range_replays_the_recorded_speaker(speakers_rig, two_speaker_model, tmp_path):
    rig = speakers_rig
    wav = write_wav(tmp_path / "speech.wav", speech_like(6.0, seed=2))  # frames 1-180
    use_file(wav)
    assert bpy.ops.a2g.generate(seed=3, speaker="7") == {"FINISHED"}
    bpy.context.scene.a2g.speaker = "1"  # the panel's choice now is not the take's
    resample_keeps_outside(rig, 61, 120, seed=9)
    r = recipe(rig)
    assert r["speaker"] == "7" and r["resamples"] == [[60, 120, 9]]
    got = keys(rig)
    ranges = [ResampleRange(60, 120, 9)]
    assert_same_rotations(got, expected(two_speaker_model, wav, 180, 3, "7", ranges))
    assert np.abs(got[65:115] - expected(two_speaker_model, wav, 180, 3, "1", ranges)[65:115]).max() > 1e-2


def test_takes_record_and_replay_the_speaker(speakers_rig, two_speaker_model, tmp_path):
    rig = speakers_rig
    wav = write_wav(tmp_path / "speech.wav", speech_like(4.0, seed=5))  # frames 1-120
    use_file(wav)
    bpy.context.scene.a2g.speaker = "7"
    assert bpy.ops.a2g.generate(seed=3, count=2) == {"FINISHED"}
    takes = mod("jobs.takes").takes_of(rig)
    assert [json.loads(a["a2g_recipe"])["speaker"] for a in takes] == ["7", "7"]
    bpy.context.scene.a2g.speaker = "1"
    assert bpy.ops.a2g.use_take(action=takes[1].name) == {"FINISHED"}
    assert_same_rotations(keys(rig), expected(two_speaker_model, wav, 120, 4, "7"))  # take 2: seed 4
    assert bpy.ops.a2g.resample_range(frame_start=31, frame_end=90, seed=5) == {"FINISHED"}
    assert recipe(rig)["speaker"] == "7"
    ranges = [ResampleRange(30, 90, 5)]
    assert_same_rotations(keys(rig), expected(two_speaker_model, wav, 120, 4, "7", ranges))


def test_resample_refuses_a_take_whose_speaker_the_model_lost(speakers_rig, tmp_path):
    """The same model file name re-exported without speakers: Resample Range names the model's
    speakers and changes nothing."""
    rig = speakers_rig
    use_file(write_wav(tmp_path / "speech.wav", speech_like(3.0, seed=2)))
    assert bpy.ops.a2g.generate(seed=3, speaker="7") == {"FINISHED"}
    m = random_model(seed=7)
    (tmp_path / "other").mkdir()
    plain = save_model(tmp_path / "other" / "two_speakers.json", m.weights, m.config, m.feature_mean,
                       m.feature_std, m.code_mean, m.code_std, prior=m.prior)
    bpy.context.preferences.addons[MODULE_NAME].preferences.model_path = str(plain)
    before = key_arrays(rig), rig.animation_data.action["a2g_recipe"]
    with pytest.raises(RuntimeError, match=r"no speaker '7'; its speakers: none \(it was trained without"):
        bpy.ops.a2g.resample_range(frame_start=21, frame_end=60, seed=9)
    after = key_arrays(rig), rig.animation_data.action["a2g_recipe"]
    assert after[1] == before[1] and after[0].keys() == before[0].keys()
    for path, co in after[0].items():
        np.testing.assert_array_equal(co, before[0][path])


def _batch(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = mod("cli.batch").main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_batch_speaker(addon, two_speaker_model, model_file, tmp_path):
    wav = write_wav(tmp_path / "talk.wav", speech_like(3.0, seed=6))
    got = {}
    for speaker in ("7", "1"):
        code, out, err = _batch(["generate", wav, "--model", two_speaker_model, "--speaker", speaker,
                                 "--seed", 2, "--output-dir", tmp_path / speaker])
        assert code == 0, err
        bpy.ops.wm.open_mainfile(filepath=str(tmp_path / speaker / "talk.blend"), load_ui=False)
        arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
        assert recipe(arm)["speaker"] == speaker
        got[speaker] = keys(arm)
        assert_same_rotations(got[speaker], expected(two_speaker_model, wav, 90, 2, speaker))
    assert np.abs(got["7"] - got["1"]).max() > 1e-2

    unlabelled = "none (it was trained without speaker labels)"
    for model, known in ((two_speaker_model, "1, 7"), (model_file, unlabelled)):
        code, out, err = _batch(["generate", wav, "--model", model, "--speaker", "4",
                                 "--output-dir", tmp_path / "bad"])
        assert code == 2
        assert err.strip() == f"--speaker: The model has no speaker '4'; its speakers: {known}", err
        assert not (tmp_path / "bad").exists()
