"""a2g.import_npz: an AMASS/BEAT2 SMPL-X .npz becomes one action on an SMPL-X armature, or on
any humanoid rig through its bone map."""

from __future__ import annotations

import importlib
from pathlib import Path

import bpy
import numpy as np
import pytest

from core.rotations import matrix_to_quat
from core.skeleton import JOINT_INDEX, JOINT_NAMES
from core.smplx_npz import read_smplx_npz, write_smplx_npz
from core.timeline import sample_rotations

from .conftest import MODULE_NAME, ROOT, scene_state

EXCERPT = ROOT / "tests" / "data" / "beat2_excerpt" / "2_scott_0_1_1_excerpt.npz"


@pytest.fixture()
def npz_import(addon):
    """The add-on's npz_import module, its operator registered (by the add-on, or here)."""
    module = importlib.import_module(f"{MODULE_NAME}.rigio.npz_import")
    registered_here = "import_npz" not in dir(bpy.ops.a2g)
    if registered_here:
        module.register()
    yield module
    if registered_here:
        module.unregister()


@pytest.fixture()
def character(npz_import):
    assert bpy.ops.a2g.add_character() == {"FINISHED"}
    return bpy.context.active_object


def _keying():
    return importlib.import_module(f"{MODULE_NAME}.rigio.keying")


def _compat():
    return importlib.import_module(f"{MODULE_NAME}.compat")


def _keys(arm, bones=JOINT_NAMES):
    return _keying().read_bone_quaternions(arm, arm.animation_data.action, list(bones))


def _same_rotation(qa, qb, atol=1e-5):
    dot = np.abs(np.sum(np.asarray(qa, np.float64) * np.asarray(qb, np.float64), axis=-1))
    np.testing.assert_allclose(dot, 1.0, atol=atol)


def _location_keys(arm):
    compat = _compat()
    curves = {(fc.data_path, fc.array_index): fc
              for fc in compat.fcurves_of(arm.animation_data.action, arm)}
    out = []
    for i in range(3):
        fc = curves[('pose.bones["pelvis"].location', i)]
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out.append(co.reshape(-1, 2)[:, 1])
    return np.stack(out, -1)


def test_operator_is_one_undo_step(npz_import):
    assert {"REGISTER", "UNDO"} <= set(npz_import.A2G_OT_import_npz.bl_options)


def test_imports_beat2_all_55_joints_at_30_fps(character):
    arm = character
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = 30, 1.0
    assert bpy.ops.a2g.import_npz(filepath=str(EXCERPT)) == {"FINISHED"}
    action = arm.animation_data.action
    assert action is not None and action.name == EXCERPT.stem
    assert not action.get("a2g_generated", False)
    motion = read_smplx_npz(EXCERPT)
    frames, quats = _keys(arm)
    np.testing.assert_array_equal(frames, np.arange(1, 301))
    # our character's bones are built the SMPL-X way: bone quaternion == SMPL-X local rotation
    _same_rotation(quats, matrix_to_quat(motion.local_rot))
    # continuous: no hemisphere flips between frames
    assert np.all(np.sum(quats[1:] * quats[:-1], axis=-1) > 0)
    assert all(arm.pose.bones[n].rotation_mode == "QUATERNION" for n in JOINT_NAMES)
    # pelvis translation relative to the first frame, in the bone frame (== SMPL-X axes here)
    np.testing.assert_allclose(_location_keys(arm), motion.trans - motion.trans[0], atol=1e-5)
    assert bpy.context.scene.frame_end >= 300


def test_resamples_to_the_scene_frame_rate(character):
    arm = character
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = 24, 1.0, 10
    assert bpy.ops.a2g.import_npz(filepath=str(EXCERPT)) == {"FINISHED"}
    motion = read_smplx_npz(EXCERPT)
    names = ["pelvis", "left_elbow", "right_index2"]
    frames, quats = _keys(arm, names)
    n = int(np.ceil(300 * 24 / 30))
    np.testing.assert_array_equal(frames, np.arange(10, 10 + n))
    idx = [JOINT_INDEX[name] for name in names]
    expected = sample_rotations(motion.local_rot[:, idx], 30.0, np.arange(n) / 24.0)
    _same_rotation(quats, expected, atol=2e-5)


def test_round_trip_through_write_smplx_npz(character, tmp_path):
    arm = character
    bpy.context.scene.render.fps = 30
    rng = np.random.default_rng(3)
    from core.rotations import axis_angle_to_matrix

    rot = axis_angle_to_matrix(rng.normal(size=(20, 55, 3)) * 0.5).astype(np.float32)
    path = write_smplx_npz(tmp_path / "clip.npz", rot, np.zeros((20, 3)), fps=30)
    assert bpy.ops.a2g.import_npz(filepath=str(path)) == {"FINISHED"}
    _frames, quats = _keys(arm)
    _same_rotation(quats, matrix_to_quat(rot), atol=1e-5)
    # a pelvis that never moves gets no location keys
    curves = _compat().fcurves_of(arm.animation_data.action, arm)
    assert not any(fc.data_path.endswith(".location") for fc in curves)


def test_users_own_action_is_stashed_not_lost(character):
    arm = character
    own = bpy.data.actions.new("my walk")
    _compat().assign_action(arm, own)
    assert bpy.ops.a2g.import_npz(filepath=str(EXCERPT)) == {"FINISHED"}
    assert arm.animation_data.action.name == EXCERPT.stem
    assert any(s.action == own for t in arm.animation_data.nla_tracks for s in t.strips)


def _bad_files(tmp_path) -> dict[str, tuple[Path, str]]:
    not_npz = tmp_path / "speech.npz"
    not_npz.write_bytes(b"RIFF....WAVEfmt not an npz")
    wrong = tmp_path / "smplh.npz"
    np.savez(wrong, poses=np.zeros((4, 156), np.float32), mocap_framerate=np.array(60.0))
    nan = tmp_path / "nan.npz"
    poses = np.zeros((4, 165), np.float32)
    poses[2, 7] = np.nan
    np.savez(nan, poses=poses, mocap_frame_rate=np.array(30))
    return {
        "missing": (tmp_path / "nope.npz", "file not found"),
        "not npz": (not_npz, "not an .npz"),
        "smpl+h": (wrong, "SMPL\\+H"),
        "nan": (nan, "non-finite"),
    }


def test_bad_files_fail_clearly_and_change_nothing(character, tmp_path):
    arm = character
    own = bpy.data.actions.new("my walk")
    _compat().assign_action(arm, own)
    before = scene_state()
    for _case, (path, message) in _bad_files(tmp_path).items():
        with pytest.raises(RuntimeError, match=message):
            bpy.ops.a2g.import_npz(filepath=str(path))
        assert scene_state() == before
    assert arm.animation_data.action == own


def test_not_a_humanoid_armature(npz_import):
    bpy.ops.object.armature_add()
    before = scene_state()
    with pytest.raises(RuntimeError, match="humanoid"):
        bpy.ops.a2g.import_npz(filepath=str(EXCERPT))
    assert scene_state() == before


def test_any_humanoid_rig_gets_the_motion_retargeted_and_exports_it_back(npz_import, tmp_path):
    """A Mixamo rig as an FBX import lands: the clip is keyed on its bones through its bone map
    (core.rig_keys.to_keys, as Generate keys it), and its keys export back to the clip's SMPL-X
    rotations (core.rig_keys.from_keys) for every joint the rig maps."""
    from core.rotations import geodesic_angle

    from .test_retarget import mixamo_fbx

    target = mixamo_fbx()
    bpy.context.scene.render.fps, bpy.context.scene.frame_start = 30, 1
    assert bpy.ops.a2g.import_npz(filepath=str(EXCERPT)) == {"FINISHED"}
    action = target.animation_data.action
    rig = importlib.import_module(f"{MODULE_NAME}.rigio.rig")
    body = rig.body_rig(target, 55)
    frames, keys = importlib.import_module(f"{MODULE_NAME}.rigio.keying").read_bone_quaternions(
        target, action, body.bone_names)
    motion = read_smplx_npz(EXCERPT)
    assert frames[0] == 1 and len(frames) == motion.n_frames  # a 30 fps clip on a 30 fps scene
    assert "mixamorig:LeftHandIndex1" in body.bone_names  # the fingers too
    assert not any(fc.data_path.endswith("location") for fc in _compat().fcurves_of(action, target))
    path = tmp_path / "back.npz"
    npz_import.write_motion_npz(path, target, body, keys, 30.0)
    back = read_smplx_npz(path).local_rot
    mapped = sorted({int(j) for j in body.joints if all(a in body.joints for a in _ancestors(int(j)))})
    angle = np.degrees(geodesic_angle(back[:, mapped], motion.local_rot[:, mapped]))
    assert len(mapped) >= 40 and angle.max() < 0.05  # float32 keys


def _ancestors(j):
    from core.skeleton import PARENTS

    out = []
    while PARENTS[j] >= 0:
        j = PARENTS[j]
        out.append(j)
    return out


def test_poll_needs_an_armature(npz_import):
    bpy.ops.mesh.primitive_cube_add()
    with pytest.raises(RuntimeError, match="poll"):
        bpy.ops.a2g.import_npz(filepath=str(EXCERPT))


def test_connected_pelvis_gets_no_translation(npz_import):
    motion = read_smplx_npz(EXCERPT)
    frames = npz_import.ArmatureFrames((0,), ("pelvis",), np.array([[1.0, 0, 0, 0]]), np.eye(3),
                                       np.eye(3), pelvis_can_move=False)
    assert npz_import.pelvis_locations(motion, frames, 10, 30.0) is None
    moving = npz_import.ArmatureFrames((0,), ("pelvis",), np.array([[1.0, 0, 0, 0]]), np.eye(3),
                                       np.eye(3), pelvis_can_move=True)
    loc = npz_import.pelvis_locations(motion, moving, 10, 30.0)
    np.testing.assert_allclose(loc, motion.trans[:10] - motion.trans[0], atol=1e-9)


def _rig_with_other_bone_frames():
    """An SMPL-X-named armature whose bones point in random directions with random rolls."""
    from core.skeleton import PARENTS, rest_joints, y_up_to_z_up

    joints = y_up_to_z_up(rest_joints())
    obj = bpy.data.objects.new("Other rig", bpy.data.armatures.new("Other rig"))
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    rng = np.random.default_rng(11)
    edit = []
    for j, name in enumerate(JOINT_NAMES):
        eb = obj.data.edit_bones.new(name)
        direction = rng.normal(size=3)
        eb.head = joints[j]
        eb.tail = joints[j] + 0.05 * direction / np.linalg.norm(direction)
        eb.roll = float(rng.uniform(-np.pi, np.pi))
        if PARENTS[j] >= 0:
            eb.parent = edit[PARENTS[j]]
        edit.append(eb)
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def _armature_space_pose(obj, frame):
    """Per bone: rotation from rest to posed in armature space, and the head's displacement."""
    bpy.context.scene.frame_set(frame)
    rot, moved = [], []
    for name in JOINT_NAMES:
        pb, bone = obj.pose.bones[name], obj.data.bones[name]
        rot.append(np.array(pb.matrix.to_3x3()) @ np.array(bone.matrix_local.to_3x3()).T)
        moved.append(np.array(pb.head) - np.array(bone.head_local))
    return np.array(rot), np.array(moved)


def test_bones_with_other_rest_frames_get_the_same_motion(character):
    ours = character
    bpy.context.scene.render.fps = 30
    assert bpy.ops.a2g.import_npz(filepath=str(EXCERPT)) == {"FINISHED"}
    other = _rig_with_other_bone_frames()
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj == other)
    assert bpy.ops.a2g.import_npz(filepath=str(EXCERPT)) == {"FINISHED"}
    assert other.animation_data.action is not None
    for frame in (1, 77, 300):
        rot_a, moved_a = _armature_space_pose(ours, frame)
        rot_b, moved_b = _armature_space_pose(other, frame)
        np.testing.assert_allclose(rot_b, rot_a, atol=2e-5)
        np.testing.assert_allclose(moved_b, moved_a, atol=1e-5)
    assert np.abs(moved_a[0]).max() > 1e-3  # the pelvis did move
