"""Hands (issue #10): a model with the 30 SMPL-X finger joints keys the fingers too (Generate,
takes, Resample Range, pins, the .npz export), on SMPL-X rigs through the per-bone change of
frame and on retargeted rigs through their finger map; a rig without finger bones gets the
body only, and a body-only model never keys a finger."""

from __future__ import annotations

import contextlib
import io

import bpy
import numpy as np
import pytest

from core.audio import load_audio_16k_mono
from core.config import ModelConfig
from core.features import features_for_motion
from core.generate import ResampleRange, generate
from core.model_file import load_model, random_model, save_model
from core.rotations import axis_angle_to_matrix, matrix_to_quat, quat_conjugate, quat_multiply
from core.skeleton import BODY_JOINT_NAMES, HAND_JOINTS, JOINT_NAMES, hand_mean
from core.smplx_npz import read_smplx_npz
from core.timeline import sample_rotations

from .conftest import MODULE_NAME, mod, speech_like, write_wav
from .test_retarget import mixamo_fbx
from .test_rigs import build_rig, world_deltas

FINGER_NAMES = tuple(JOINT_NAMES[j] for j in HAND_JOINTS)
HANDS_NAMES = BODY_JOINT_NAMES + FINGER_NAMES  # the model's 52 joints, in its order


@pytest.fixture(scope="module")
def hands_model_file(tmp_path_factory):
    m = random_model(ModelConfig(hands=True, n_joints=52), seed=11)
    path = tmp_path_factory.mktemp("hands-model") / "random_hands_model.json"
    return save_model(path, m.weights, m.config, m.feature_mean, m.feature_std, m.code_mean,
                      m.code_std, metadata={"purpose": "tests"}, prior=m.prior)


@pytest.fixture()
def hands(addon, hands_model_file, tmp_path):
    """The hands model as the add-on's model, and 3 s of speech from frame 1 at 30 fps."""
    bpy.context.preferences.addons[MODULE_NAME].preferences.model_path = str(hands_model_file)
    wav = write_wav(tmp_path / "speech.wav", speech_like(3.0, seed=6))
    use_file(wav)
    return hands_model_file, wav


def use_file(path):
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = 30, 1.0, 1
    scene.a2g.audio_source, scene.a2g.audio_file = "FILE", str(path)


def character():
    assert bpy.ops.a2g.add_character() == {"FINISHED"}
    return bpy.context.active_object


def model_output(model_file, wav, seed, n_frames, resamples=()):
    """core.generate's output at the scene's 30 fps frames, as quaternions (n, J, 4)."""
    local = generate(load_model(model_file), features_for_motion(load_audio_16k_mono(wav)), seed,
                     resamples=resamples, layered=True)
    return sample_rotations(local, 30.0, np.arange(n_frames) / 30.0)


def keyed_bones(obj, action=None) -> set:
    action = action or obj.animation_data.action
    out = set()
    for fc in mod("compat").fcurves_of(action, obj):
        if fc.data_path.startswith('pose.bones["'):
            out.add(fc.data_path.split('"')[1])
    return out


def keys(obj, names, action=None):
    return mod("rigio.keying").read_bone_quaternions(obj, action or obj.animation_data.action, list(names))


def assert_same_rotations(got, want, atol=1e-5):
    dots = np.abs(np.sum(np.asarray(got, np.float64) * np.asarray(want, np.float64), axis=-1))
    assert got.shape == want.shape
    assert np.all(dots > 1 - atol), f"max angle error {np.degrees(2 * np.arccos(min(dots.min(), 1))):.4f} deg"


def through_change(q, change):
    """SMPL-X local quaternions (n, J, 4) -> pose-bone quaternions: conj(a) q a."""
    if change is None:
        return q
    a = np.asarray(change, dtype=np.float64)[None]
    return quat_multiply(quat_multiply(quat_conjugate(a), q), a)


def drop_bones(obj, names):
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    eb = obj.data.edit_bones
    for name in names:
        eb.remove(eb[name])
    bpy.ops.object.mode_set(mode="OBJECT")


# ---- SMPL-X rigs -------------------------------------------------------------------------------
def test_smplx_character_keys_the_fingers_the_model_makes(hands):
    model_file, wav = hands
    ours = character()
    assert bpy.ops.a2g.generate(seed=4) == {"FINISHED"}
    assert keyed_bones(ours) == set(HANDS_NAMES)  # body and the 30 fingers; jaw and eyes never
    frames, got = keys(ours, HANDS_NAMES)
    np.testing.assert_array_equal(frames, np.arange(1, 91))
    body = mod("rigio.rig").body_rig(ours, 52)
    want = through_change(model_output(model_file, wav, 4, 90), body.change)
    assert_same_rotations(got, want)
    assert np.abs(got[:, 22:] - got[:1, 22:]).max() > 1e-2  # the fingers move

    # an SMPL-X rig of another add-on (root bone, arbitrary rolls, Euler modes): a real change
    # of frame per bone, and its fingers turn in the world exactly as ours do
    theirs = build_rig("Theirs", "official")
    bpy.context.view_layer.objects.active = theirs
    assert bpy.ops.a2g.generate(seed=4) == {"FINISHED"}
    assert keyed_bones(theirs) == set(HANDS_NAMES)
    change = mod("rigio.rig").body_rig(theirs, 52).change
    assert change is not None and np.abs(np.abs(change[22:, 0]) - 1).max() > 0.05
    _, got = keys(theirs, HANDS_NAMES)
    assert_same_rotations(got, through_change(model_output(model_file, wav, 4, 90), change))
    assert all(theirs.pose.bones[n].rotation_mode == "QUATERNION" for n in HANDS_NAMES)
    for frame in (5, 40):
        bpy.context.scene.frame_set(frame)
        np.testing.assert_allclose(world_deltas(theirs, FINGER_NAMES), world_deltas(ours, FINGER_NAMES),
                                   atol=2e-4)


def test_takes_and_resample_range_key_the_fingers(hands):
    model_file, wav = hands
    ours = character()
    bpy.context.scene.a2g_directing.takes = 2
    assert bpy.ops.a2g.generate(seed=2) == {"FINISHED"}
    takes = mod("jobs.takes").takes_of(ours)
    assert len(takes) == 2 and all(keyed_bones(ours, t) == set(HANDS_NAMES) for t in takes)
    for seed, take in zip((2, 3), takes, strict=True):
        assert_same_rotations(keys(ours, HANDS_NAMES, take)[1], model_output(model_file, wav, seed, 90))

    bpy.context.scene.a2g_directing.takes = 1
    assert bpy.ops.a2g.generate(seed=2) == {"FINISHED"}
    frames, before = keys(ours, HANDS_NAMES)
    assert bpy.ops.a2g.resample_range(frame_start=31, frame_end=60, seed=9) == {"FINISHED"}
    frames2, after = keys(ours, HANDS_NAMES)
    np.testing.assert_array_equal(frames, frames2)
    outside = (frames < 31) | (frames > 60)
    np.testing.assert_array_equal(after[outside], before[outside])  # bit-identical, fingers too
    assert np.abs(after[35:55, 22:] - before[35:55, 22:]).max() > 1e-2  # new fingers inside
    assert_same_rotations(after, model_output(model_file, wav, 2, 90, [ResampleRange(30, 60, 9)]))


def test_pins_read_the_fingers_and_relax_the_missing_ones(hands):
    model_file, wav = hands
    ours = character()
    assert bpy.ops.a2g.generate(seed=7) == {"FINISHED"}
    liked = ours.animation_data.action
    liked.name, liked.use_fake_user = "liked", True
    assert bpy.ops.a2g.pin_action(action="liked", frame_start=21, action_frame_start=21,
                                  action_frame_end=40) == {"FINISHED"}
    body = mod("rigio.rig").body_rig(ours, 52)
    heard = mod("jobs.audio_source").gather(bpy.context.scene, bpy.context.scene.a2g)
    (pin,) = mod("jobs.pins").read_pins(ours, body, mod("jobs.pins").timeline_for(heard, 30.0))
    assert pin.rotations.shape == (20, 52, 3, 3)
    # the pin is the motion the take was made from, fingers included
    want = model_output(model_file, wav, 7, 90)[20:40]
    assert_same_rotations(matrix_to_quat(pin.rotations.astype(np.float64)), want)

    # an action that rotates only the body: its fingers are the relaxed mean hand, not flat
    body_only = bpy.data.actions.new("body only")
    keying = mod("rigio.keying")
    anim = ours.animation_data
    previous = anim.action
    mod("compat").assign_action(ours, body_only)
    keying.write_bone_quaternions(ours, body_only, BODY_JOINT_NAMES, np.arange(1, 21),
                                  keys(ours, BODY_JOINT_NAMES, liked)[1][:20])
    anim.action = previous
    assert bpy.ops.a2g.pin_action(action="body only", frame_start=61) == {"FINISHED"}
    pins = mod("jobs.pins").read_pins(ours, body, mod("jobs.pins").timeline_for(heard, 30.0))
    mean = axis_angle_to_matrix(hand_mean())
    np.testing.assert_allclose(pins[1].rotations[:, 22:], np.broadcast_to(mean, (20, 30, 3, 3)),
                               atol=1e-6)
    assert bpy.ops.a2g.generate(seed=1) == {"FINISHED"}  # generation takes both pins


def test_npz_export_writes_the_generated_fingers(hands, tmp_path):
    model_file, wav = hands
    batch = mod("cli.batch")
    out = tmp_path / "out"
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = batch.main(["generate", str(wav), "--output-dir", str(out), "--model",
                           str(model_file), "--seed", "3", "--npz"])
    assert code == 0, err.getvalue()
    motion = read_smplx_npz(out / "speech.npz")  # hands stored as offsets from the mean hand
    want = model_output(model_file, wav, 3, 90)
    assert_same_rotations(matrix_to_quat(motion.local_rot[:, list(HAND_JOINTS)].astype(np.float64)),
                          want[:, 22:], atol=1e-5)
    assert_same_rotations(matrix_to_quat(motion.local_rot[:, :22].astype(np.float64)), want[:, :22])
    np.testing.assert_allclose(motion.local_rot[:, 22:25], np.broadcast_to(np.eye(3), (90, 3, 3, 3)),
                               atol=1e-6)  # jaw and eyes at rest
    raw = np.load(out / "speech.npz")["poses"].reshape(90, 55, 3)
    assert np.abs(raw[:, 25:] + hand_mean()).max() > 1e-2  # stored relative to the mean hand


def test_npz_export_of_a_rig_without_fingers_writes_the_models_fingers(hands, tmp_path):
    model_file, wav = hands
    theirs = build_rig("NoFingers", "official")
    drop_bones(theirs, FINGER_NAMES)
    pipeline = mod("jobs.pipeline")
    job = pipeline.prepare(bpy.context, theirs, 5)
    result = pipeline.compute(job)
    pipeline.apply(result)
    assert keyed_bones(theirs) == set(BODY_JOINT_NAMES)
    path = tmp_path / "fingerless.npz"
    mod("rigio.npz_import").write_motion_npz(path, theirs, job.rig, result.quats, 30.0, result.local)
    motion = read_smplx_npz(path)
    want = model_output(model_file, wav, 5, 90)
    assert_same_rotations(matrix_to_quat(motion.local_rot[:, :22].astype(np.float64)), want[:, :22])
    assert_same_rotations(matrix_to_quat(motion.local_rot[:, list(HAND_JOINTS)].astype(np.float64)),
                          want[:, 22:])


# ---- retargeted rigs, rigs without fingers, body-only models ----------------------------------
def test_mixamo_rig_with_fingers_gets_finger_keys(hands):
    target = mixamo_fbx()
    assert bpy.ops.a2g.generate(seed=5) == {"FINISHED"}
    body = mod("rigio.rig").body_rig(target, 52)
    fingers = [b for j, b in zip(body.joints, body.bone_names, strict=True) if j in HAND_JOINTS]
    assert len(fingers) == 30 and all("Hand" in b for b in fingers)
    assert set(fingers) <= keyed_bones(target)
    q = keys(target, fingers)[1]
    assert np.abs(q - q[:1]).max() > 1e-2  # the fingers move


def test_rigs_without_finger_bones_still_generate(hands):
    smplx_like = build_rig("NoFingers", "official")
    drop_bones(smplx_like, FINGER_NAMES)
    bpy.context.view_layer.objects.active = smplx_like
    assert bpy.ops.a2g.generate(seed=3) == {"FINISHED"}
    assert keyed_bones(smplx_like) == set(BODY_JOINT_NAMES)
    assert bpy.ops.a2g.resample_range(frame_start=20, frame_end=50, seed=1) == {"FINISHED"}

    mixamo = mixamo_fbx("Fingerless")
    drop_bones(mixamo, [b.name for b in mixamo.data.bones if "Hand" in b.name and b.name[-1].isdigit()])
    bpy.context.view_layer.objects.active = mixamo
    assert bpy.ops.a2g.generate(seed=3) == {"FINISHED"}
    assert not any("Hand" in b and b[-1].isdigit() for b in keyed_bones(mixamo))
    assert bpy.ops.a2g.resample_range(frame_start=20, frame_end=50, seed=1) == {"FINISHED"}


def test_body_only_model_keys_no_finger(addon, tmp_path):
    """The random test model has no hands: the user's own finger animation keeps playing."""
    use_file(write_wav(tmp_path / "speech.wav", speech_like(2.0, seed=1)))
    ours = character()
    own = bpy.data.actions.new("my fingers")
    mod("compat").assign_action(ours, own)
    finger = ours.pose.bones["left_index2"]
    finger.rotation_quaternion = (0.9, 0.0, 0.0, 0.43589)
    finger.keyframe_insert("rotation_quaternion", frame=1)
    assert bpy.ops.a2g.generate(seed=0) == {"FINISHED"}
    assert keyed_bones(ours) == set(BODY_JOINT_NAMES)
    assert ours.animation_data.action != own
    bpy.context.scene.frame_set(10)
    np.testing.assert_allclose(tuple(finger.rotation_quaternion), (0.9, 0.0, 0.0, 0.43589), atol=1e-5)

    target = mixamo_fbx()
    assert bpy.ops.a2g.generate(seed=0) == {"FINISHED"}
    assert not any("Hand" in b and b[-1].isdigit() for b in keyed_bones(target))
