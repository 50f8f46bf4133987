"""Rigs made by other SMPL-X add-ons: same motion in the world, whatever their bone frames."""

import bpy
import numpy as np
import pytest

from core.skeleton import BODY_JOINT_NAMES, JOINT_NAMES, PARENTS, rest_joints, y_up_to_z_up

from .conftest import speech_like, write_wav


def build_rig(name, style):
    """An armature like the official ('official': root bone, left_eye_smplhf, Z up) or the
    Meshcapade add-on ('meshcapade': left_eye) with bones pointing at their first child and
    arbitrary rolls, or one whose armature space is Y up ('y_up', object rotated 90 deg)."""
    rng = np.random.default_rng(len(style))
    joints = rest_joints()
    if style != "y_up":
        joints = y_up_to_z_up(joints)
    arm = bpy.data.objects.new(name, bpy.data.armatures.new(name))
    bpy.context.scene.collection.objects.link(arm)
    arm.location = (2.0, 0.5, 1.3)
    if style == "y_up":
        arm.rotation_euler = (np.pi / 2, 0.0, 0.0)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    edit = {}
    root = None
    if style == "official":
        root = arm.data.edit_bones.new("root")
        root.head, root.tail = (0, 0, 0), (0, 0.2, 0)
    for j, joint in enumerate(JOINT_NAMES):
        name = joint.replace("_smplhf", "") if style == "meshcapade" else joint
        bone = arm.data.edit_bones.new(name)
        children = [c for c in range(len(PARENTS)) if PARENTS[c] == j]
        direction = (joints[children[0]] - joints[j]) if children else rng.normal(size=3)
        direction = direction / (np.linalg.norm(direction) + 1e-9) * 0.05
        bone.head, bone.tail = joints[j], joints[j] + direction
        bone.roll = float(rng.uniform(-np.pi, np.pi))
        bone.parent = edit[PARENTS[j]] if PARENTS[j] >= 0 else root
        edit[j] = bone
    bpy.ops.object.mode_set(mode="OBJECT")
    for pb in arm.pose.bones:  # other add-ons may leave Euler modes
        pb.rotation_mode = "XYZ"
    return arm


def world_deltas(arm, names):
    """World rotation of each bone relative to its rest (3x3), after evaluation."""
    out = []
    mw = arm.matrix_world
    for n in names:
        posed = (mw @ arm.pose.bones[n].matrix).to_3x3().normalized()
        rest = (mw @ arm.data.bones[n].matrix_local).to_3x3().normalized()
        out.append(np.array(posed @ rest.inverted()))
    return np.array(out)


@pytest.mark.parametrize("style", ["official", "meshcapade", "y_up"])
def test_foreign_rig_moves_like_the_smplx_character(addon, tmp_path, style):
    scene = bpy.context.scene
    scene.a2g.audio_source = "FILE"
    scene.a2g.audio_file = str(write_wav(tmp_path / "s.wav", speech_like(1.5, seed=2)))

    assert bpy.ops.a2g.add_character() == {"FINISHED"}
    ours = bpy.context.active_object
    assert bpy.ops.a2g.generate(seed=6) == {"FINISHED"}

    theirs = build_rig("Theirs", style)
    bpy.context.view_layer.objects.active = theirs
    assert bpy.ops.a2g.generate(seed=6) == {"FINISHED"}
    assert all(theirs.pose.bones[n].rotation_mode == "QUATERNION" for n in BODY_JOINT_NAMES)
    assert ours.animation_data.action != theirs.animation_data.action

    for frame in (3, 20):
        scene.frame_set(frame)
        a = world_deltas(ours, BODY_JOINT_NAMES)
        b = world_deltas(theirs, BODY_JOINT_NAMES)
        # a Y-up armature rotated +90 degrees about X has the same world as ours
        np.testing.assert_allclose(b, a, atol=2e-4)
        assert np.abs(a - np.eye(3)).max() > 0.05  # the pose really moves
