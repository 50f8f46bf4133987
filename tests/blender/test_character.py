"""Add SMPL-X Character: 55 named bones built the SMPL-X way, the mannequin bound to them."""


import bpy
import numpy as np
import pytest

from core.fk import forward_kinematics
from core.rotations import axis_angle_to_matrix, axis_angle_to_quat
from core.skeleton import (
    BODY_JOINT_NAMES,
    JOINT_NAMES,
    PARENTS,
    load_mannequin_asset,
    rest_offsets,
    y_up_to_z_up,
)


@pytest.fixture()
def character(addon):
    assert bpy.ops.a2g.add_character() == {"FINISHED"}
    arm = bpy.context.active_object
    mesh = next(o for o in bpy.data.objects if o.type == "MESH")
    return arm, mesh


def test_armature_bones_names_and_frames(character):
    arm, _mesh = character
    assert arm.type == "ARMATURE" and bpy.context.view_layer.objects.active == arm
    bones = arm.data.bones
    assert len(bones) == 55
    assert {b.name for b in bones} == set(JOINT_NAMES)
    assert all(pb.rotation_mode == "QUATERNION" for pb in arm.pose.bones)
    for j, name in enumerate(JOINT_NAMES):
        parent = bones[name].parent
        assert (parent.name if parent else None) == (JOINT_NAMES[PARENTS[j]] if PARENTS[j] >= 0 else None)
    # heads at the SMPL-X rest joints converted to Z up; every bone points +Z with roll 0,
    # i.e. its rest frame is the +90 degree rotation about X (the SMPL-X axes in Blender)
    asset = load_mannequin_asset()
    expected = y_up_to_z_up(asset["rest_joints"].astype(np.float64))
    heads = np.array([tuple(bones[n].head_local) for n in JOINT_NAMES])
    np.testing.assert_allclose(heads, expected, atol=1e-5)
    rx90 = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], dtype=float)
    for name in JOINT_NAMES:
        np.testing.assert_allclose(np.array(bones[name].matrix_local.to_3x3()), rx90, atol=1e-5)
    # feet on the ground (metres, Z up)
    lowest = float(asset["mesh_vertices"][:, 1].min())
    assert arm.location.z == pytest.approx(-lowest, abs=1e-4)


def test_mesh_skinned_and_bound(character):
    arm, mesh = character
    asset = load_mannequin_asset()
    assert mesh.parent == arm
    mods = [m for m in mesh.modifiers if m.type == "ARMATURE"]
    assert len(mods) == 1 and mods[0].object == arm
    assert len(mesh.data.vertices) == len(asset["mesh_vertices"])
    assert len(mesh.data.polygons) == len(asset["mesh_faces"])
    assert [g.name for g in mesh.vertex_groups] == list(JOINT_NAMES)
    co = np.empty(3 * len(mesh.data.vertices), dtype=np.float32)
    mesh.data.vertices.foreach_get("co", co)
    np.testing.assert_allclose(co.reshape(-1, 3), y_up_to_z_up(asset["mesh_vertices"]), atol=1e-6)
    rng = np.random.default_rng(0)
    for v in rng.choice(len(asset["mesh_vertices"]), 200, replace=False):
        got = {mesh.vertex_groups[g.group].name: g.weight for g in mesh.data.vertices[v].groups}
        want = {}
        for j, w in zip(asset["skin_joints"][v], asset["skin_weights"][v], strict=True):
            if w > 0:
                want[JOINT_NAMES[j]] = want.get(JOINT_NAMES[j], 0.0) + float(w)
        assert got.keys() == want.keys()
        for k in want:
            assert got[k] == pytest.approx(want[k], abs=1e-6)


def test_smplx_axis_angle_is_the_bone_quaternion(character):
    """Posing bones with SMPL-X axis-angles as quaternions matches SMPL-X forward kinematics."""
    arm, _mesh = character
    rng = np.random.default_rng(1)
    aa = rng.normal(scale=0.5, size=(22, 3))
    for j, name in enumerate(BODY_JOINT_NAMES):
        arm.pose.bones[name].rotation_quaternion = tuple(axis_angle_to_quat(aa[j]))
    bpy.context.view_layer.update()
    offsets = rest_offsets()[:22]
    positions, _ = forward_kinematics(axis_angle_to_matrix(aa), offsets, PARENTS[:22])
    expected = y_up_to_z_up(positions) + np.array(arm.location)
    got = np.array([tuple(arm.matrix_world @ arm.pose.bones[n].head) for n in BODY_JOINT_NAMES])
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_poll_reason_outside_object_mode(character):
    arm, _mesh = character
    bpy.ops.object.mode_set(mode="POSE")
    with pytest.raises(RuntimeError, match="Object Mode"):
        bpy.ops.a2g.add_character()
    bpy.ops.object.mode_set(mode="OBJECT")
